/* dlq.c — keelctl dlq list|show|redrive|purge for --queue (default
 * orders). Redrive and purge run in keeld's background; keelctl polls the
 * queue's DLQ depth for progress. */
#include "keelctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NO_PROGRESS_TIMEOUT_S = 15 };

static void dlq_path(const opts_t *o, const char *suffix, char *out, size_t cap)
{
    char *q = url_escape(o->queue);
    snprintf(out, cap, "/api/v1/admin/queues/%s/dlq%s", q ? q : "", suffix);
    free(q);
}

static int dlq_list(const opts_t *o)
{
    long limit = o->limit ? o->limit : 100;
    json_t *all = json_array(), *next = json_null();
    char *cursor = NULL;
    int rc = EXIT_OK;
    for (;;) {
        char suffix[1024], path[2048];
        snprintf(suffix, sizeof suffix, "?limit=%ld%s%s", limit, cursor ? "&cursor=" : "",
                 cursor ? cursor : "");
        free(cursor);
        cursor = NULL;
        dlq_path(o, suffix, path, sizeof path);
        reply_t r;
        if ((rc = client_call(o, "GET", path, NULL, &r)) != EXIT_OK)
            break;
        if (r.status != 200 || r.json == NULL) {
            rc = r.status == 200 ? EXIT_SERVER : report_failure(o, path, &r);
            reply_free(&r);
            break;
        }
        json_array_extend(all, json_object_get(r.json, "messages"));
        json_decref(next);
        next = json_incref(json_object_get(r.json, "next_cursor"));
        if (next == NULL)
            next = json_null();
        if (o->all && json_is_string(next))
            cursor = url_escape(json_string_value(next));
        reply_free(&r);
        if (cursor == NULL)
            break;
    }
    if (rc == EXIT_OK && o->json) {
        json_t *j =
            json_pack("{s:s, s:O, s:O}", "queue", o->queue, "messages", all, "next_cursor", next);
        print_json(j);
        json_decref(j);
    } else if (rc == EXIT_OK) {
        static const char *const head[] = {"MESSAGE_ID",  "ORDER_ID",         "RECEIVES",
                                           "FAILED_STEP", "DEAD_LETTERED_AT", "LAST_ERROR"};
        table_t *t = table_new(head, 6);
        json_t *m;
        size_t i;
        json_array_foreach(all, i, m)
        {
            char receives[32];
            const char *row[] = {jstr(m, "message_id"),
                                 jstr(json_object_get(m, "attributes"), "order_id"),
                                 jnum(m, "receive_count", receives, sizeof receives),
                                 jstr(m, "failed_step"),
                                 jstr(m, "dead_lettered_at"),
                                 jstr(m, "last_error")};
            table_row(t, row);
        }
        table_print(t);
        table_free(t);
        printf("%zu message(s) in the DLQ of '%s'%s\n", json_array_size(all), o->queue,
               json_is_string(next) ? " on this page (more: --all)" : "");
    }
    json_decref(all);
    json_decref(next);
    return rc;
}

/* GET .../dlq/ID into *out (200), else the exit code (quiet: no report). */
static int dlq_get(const opts_t *o, const char *id, bool quiet, reply_t *out)
{
    char *e = url_escape(id), suffix[512], path[1024];
    snprintf(suffix, sizeof suffix, "/%s", e ? e : "");
    free(e);
    dlq_path(o, suffix, path, sizeof path);
    int rc = client_call(o, "GET", path, NULL, out);
    if (rc != EXIT_OK)
        return rc;
    if (out->status == 200 && out->json != NULL)
        return EXIT_OK;
    rc = quiet ? exit_for_status(out->status) : report_failure(o, path, out);
    reply_free(out);
    return rc ? rc : EXIT_SERVER;
}

static int dlq_show(const opts_t *o)
{
    if (o->nargs != 2) {
        fprintf(stderr, "usage: keelctl dlq show ID [--queue Q]\n");
        return EXIT_USAGE;
    }
    reply_t r;
    int rc = dlq_get(o, o->args[1], false, &r);
    if (rc != EXIT_OK)
        return rc;
    if (o->json) {
        print_json(r.json);
    } else {
        static const char *const keys[] = {
            "message_id",       "receive_count", "failed_step",       "first_error",
            "last_error",       "sent_at",       "first_received_at", "last_received_at",
            "dead_lettered_at", "body_encoding"};
        printf("%-18s %s\n", "queue", o->queue);
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            char num[32];
            const char *v = jstr(r.json, keys[i]);
            if (*v == '\0')
                v = jnum(r.json, keys[i], num, sizeof num);
            printf("%-18s %s\n", keys[i], v);
        }
        const char *key;
        json_t *value;
        printf("attributes\n");
        json_object_foreach(json_object_get(r.json, "attributes"), key, value)
            printf("  %-16s %s\n", key, json_string_value(value) ? json_string_value(value) : "");
        printf("body\n%s\n", jstr(r.json, "body"));
    }
    reply_free(&r);
    return EXIT_OK;
}

/* How far a redrive or a purge got from `start`: the queue's `counter`
 * (counters.redriven for a redrive: a redriven message that fails straight
 * back into the DLQ moved all the same) or, when counter is NULL, the fall
 * of the DLQ depth. */
static long progress_of(json_t *q, const char *counter, long start)
{
    if (counter != NULL)
        return (long)json_integer_value(json_object_get(json_object_get(q, "counters"), counter)) -
               start;
    return start - (long)json_integer_value(json_object_get(q, "dlq_depth"));
}

/* Polls the queue until `expected` moved (progress_of), or nothing moves
 * for a while; returns how many moved. */
static long watch(const opts_t *o, const char *label, const char *counter, long start,
                  long expected, int *rc)
{
    /* The caller prints the one JSON answer (how far it got); a failed poll
     * is said on stderr only. */
    opts_t quiet = *o;
    quiet.json = false;
    long moved = 0, last = -1;
    double last_change = now_s();
    *rc = EXIT_OK;
    while (moved < expected) {
        json_t *q = queue_stats(&quiet, o->queue, rc);
        if (q == NULL)
            break;
        moved = progress_of(q, counter, start);
        json_decref(q);
        if (moved < 0)
            moved = 0;
        progress(o, label, (double)moved, (double)expected, "messages");
        if (moved != last) {
            last = moved;
            last_change = now_s();
        } else if (now_s() - last_change > NO_PROGRESS_TIMEOUT_S) {
            break;
        }
        if (moved < expected)
            sleep_ms(200);
    }
    progress_end(o);
    return moved;
}

static int dlq_redrive(const opts_t *o)
{
    int rc;
    json_t *q = queue_stats(o, o->queue, &rc);
    if (q == NULL)
        return rc;
    long start = (long)json_integer_value(json_object_get(q, "dlq_depth"));
    long redriven = progress_of(q, "redriven", 0);
    json_decref(q);
    json_t *body = json_object();
    long expected = start;
    if (o->nargs > 1) {
        json_t *ids = json_array();
        expected = 0;
        for (int i = 1; i < o->nargs; i++) {
            reply_t r;
            int one = dlq_get(o, o->args[i], true, &r);
            if (one == EXIT_NOT_FOUND) {
                fprintf(stderr, "keelctl: '%s' is not in the DLQ of '%s'; skipped\n", o->args[i],
                        o->queue);
                continue;
            }
            if (one != EXIT_OK) {
                json_decref(ids);
                json_decref(body);
                return one;
            }
            reply_free(&r);
            json_array_append_new(ids, json_string(o->args[i]));
            expected++;
        }
        if (expected == 0) {
            json_decref(ids);
            json_decref(body);
            return fail_local(o, "not_found", EXIT_NOT_FOUND,
                              "none of the ids is in the DLQ of '%s'", o->queue);
        }
        json_object_set_new(body, "ids", ids);
    }
    if (o->rate > 0)
        json_object_set_new(body, "rate_per_second", json_integer(o->rate));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    char path[1024];
    dlq_path(o, "/redrive", path, sizeof path);
    reply_t r;
    rc = client_call(o, "POST", path, text ? text : "{}", &r);
    free(text);
    if (rc != EXIT_OK)
        return rc;
    long moved;
    if (r.status == 200) {
        moved = (long)json_integer_value(json_object_get(r.json, "moved"));
        progress(o, "redrive", (double)moved, (double)(expected ? expected : moved), "messages");
        progress_end(o);
    } else if (r.status == 202) {
        moved = watch(o, "redrive", "redriven", redriven, expected, &rc);
    } else {
        rc = report_failure(o, path, &r);
        reply_free(&r);
        return rc;
    }
    reply_free(&r);
    if (o->json)
        printf("{\"queue\": \"%s\", \"moved\": %ld, \"finished\": %s}\n", o->queue, moved,
               moved >= expected ? "true" : "false");
    else
        printf("redrove %ld message(s) of the DLQ of '%s'%s\n", moved, o->queue,
               moved >= expected ? "" : " so far (still running in keeld)");
    return rc;
}

static bool confirmed(const opts_t *o, long depth)
{
    if (o->yes)
        return true;
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr,
                "keelctl: refusing to purge the DLQ of '%s' without --yes (stdin is not "
                "a terminal)\n",
                o->queue);
        return false;
    }
    fprintf(stderr, "Delete all %ld message(s) of the DLQ of '%s' for good? [y/N] ", depth,
            o->queue);
    char line[16];
    if (fgets(line, sizeof line, stdin) == NULL)
        return false;
    return line[0] == 'y' || line[0] == 'Y';
}

static int dlq_purge(const opts_t *o)
{
    int rc;
    json_t *q = queue_stats(o, o->queue, &rc);
    if (q == NULL)
        return rc;
    long start = (long)json_integer_value(json_object_get(q, "dlq_depth"));
    json_decref(q);
    if (!confirmed(o, start)) {
        if (o->json)
            printf("{\"queue\": \"%s\", \"purged\": false, \"error\": \"refused\"}\n", o->queue);
        return EXIT_REFUSED;
    }
    char path[1024];
    dlq_path(o, "", path, sizeof path);
    reply_t r;
    if ((rc = client_call(o, "DELETE", path, NULL, &r)) != EXIT_OK)
        return rc;
    long deleted;
    if (r.status == 200) {
        deleted = (long)json_integer_value(json_object_get(r.json, "deleted"));
    } else if (r.status == 202) {
        deleted = watch(o, "purge", NULL, start, start, &rc);
    } else {
        rc = report_failure(o, path, &r);
        reply_free(&r);
        return rc;
    }
    reply_free(&r);
    if (o->json)
        printf("{\"queue\": \"%s\", \"purged\": true, \"deleted\": %ld}\n", o->queue, deleted);
    else
        printf("deleted %ld message(s) from the DLQ of '%s'\n", deleted, o->queue);
    return rc;
}

int cmd_dlq(const opts_t *o)
{
    const char *sub = o->nargs > 0 ? o->args[0] : "";
    if (strcmp(sub, "list") == 0 && o->nargs == 1)
        return dlq_list(o);
    if (strcmp(sub, "show") == 0)
        return dlq_show(o);
    if (strcmp(sub, "redrive") == 0)
        return dlq_redrive(o);
    if (strcmp(sub, "purge") == 0 && o->nargs == 1)
        return dlq_purge(o);
    fprintf(stderr, "usage: keelctl [--queue Q] dlq list | show ID | redrive [ID...] [--rate N] | "
                    "purge [--yes]\n");
    return EXIT_USAGE;
}
