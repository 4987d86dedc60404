/* main.c — keelctl: options, help, and the read-only verbs (status,
 * queues, plugins). See `keelctl --help`. */
#include "keelctl.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: keelctl [options] VERB [ARGS...]\n"
    "\n"
    "Verbs:\n"
    "  status                        readiness and a summary of every queue\n"
    "  queues                        queue numbers: visible, in flight, delayed, DLQ, counters\n"
    "  plugins                       instances: module, version, health\n"
    "  dlq list                      DLQ messages of --queue (not consumed; --limit, --all)\n"
    "  dlq show ID                   one DLQ message: body, attributes, errors, timestamps\n"
    "  dlq redrive [ID...]           move DLQ messages back (all, or the listed ids; --rate N/s)\n"
    "  dlq purge                     delete every DLQ message (asks on a terminal; --yes)\n"
    "  orders get ID                 one order\n"
    "  orders list --customer C      a customer's orders, newest first (--limit N, --all)\n"
    "  submit FILE|-                 POST an order JSON file (or stdin)\n"
    "  backup DEST                   hot backup of the queue and store into the new directory\n"
    "                                DEST on keeld's machine (through the admin API)\n"
    "  restore SRC                   offline: copy backup SRC into --data-dir (keeld stopped)\n"
    "\n"
    "Options:\n"
    "  --url URL         keeld's URL (env KEEL_URL; default http://127.0.0.1:8080)\n"
    "  --api-key KEY     client key (env KEEL_API_KEY)\n"
    "  --admin-key KEY   admin key, for /api/v1/admin (env KEEL_ADMIN_KEY)\n"
    "  --json            print JSON (for scripts) instead of tables\n"
    "  -q, --queue Q     queue of the dlq verbs (default: orders)\n"
    "  --customer C      customer of `orders list`\n"
    "  --limit N         page size (orders: 1..100, default 20; dlq: 1..1000, default 100)\n"
    "  --all             follow every page\n"
    "  --rate N          redrive at most N messages per second\n"
    "  -y, --yes         do not ask (purge; restore over existing data)\n"
    "  --data-dir DIR    restore: keeld's data_dir (env KEEL_DATA_DIR; default ./var)\n"
    "  --timeout S       per-request timeout in seconds (default 30)\n"
    "  --no-progress     no progress bar (it is drawn only when stderr is a terminal)\n"
    "  -h, --help        this text;  --version  keelctl's version\n"
    "\n"
    "Exit codes:\n"
    "  0  ok\n"
    "  1  usage: bad command line, unreadable local file\n"
    "  2  not found (no such order, queue or DLQ message)\n"
    "  3  conflict or refused: HTTP 409, 401/403, confirmation declined or missing --yes,\n"
    "     restore while keeld uses the data directory\n"
    "  4  unavailable: keeld unreachable, timeout, 503/429, not ready\n"
    "  5  server error: other 5xx, unexpected answer, failed backup\n"
    "  6  rejected: the server refused the input (HTTP 400/413/415/422)\n";

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static bool parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

json_t *queue_stats(const opts_t *o, const char *queue, int *rc)
{
    reply_t r;
    *rc = client_call(o, "GET", "/api/v1/admin/queues", NULL, &r);
    if (*rc != EXIT_OK)
        return NULL;
    if (r.status != 200) {
        *rc = report_failure(o, "GET /api/v1/admin/queues", &r);
        reply_free(&r);
        return NULL;
    }
    json_t *found = NULL, *q;
    size_t i;
    json_array_foreach(json_object_get(r.json, "queues"), i, q)
    {
        if (strcmp(jstr(q, "name"), queue) == 0)
            found = json_incref(q);
    }
    reply_free(&r);
    if (found == NULL)
        *rc = fail_local(o, "not_found", EXIT_NOT_FOUND, "no queue named '%s'", queue);
    return found;
}

static void queue_table(json_t *queues)
{
    static const char *const head[] = {"QUEUE",    "VISIBLE", "IN_FLIGHT", "DELAYED",      "DLQ",
                                       "OLDEST_S", "SENT",    "DELETED",   "DEAD_LETTERED"};
    table_t *t = table_new(head, 9);
    json_t *q;
    size_t i;
    json_array_foreach(queues, i, q)
    {
        char b[9][32];
        json_t *c = json_object_get(q, "counters");
        const char *row[] = {jstr(q, "name"),
                             jnum(q, "visible", b[1], 32),
                             jnum(q, "in_flight", b[2], 32),
                             jnum(q, "delayed", b[3], 32),
                             jnum(q, "dlq_depth", b[4], 32),
                             jnum(q, "oldest_age_seconds", b[5], 32),
                             jnum(c, "sent", b[6], 32),
                             jnum(c, "deleted", b[7], 32),
                             jnum(c, "dead_lettered", b[8], 32)};
        table_row(t, row);
    }
    table_print(t);
    table_free(t);
}

int cmd_queues(const opts_t *o)
{
    reply_t r;
    int rc = client_call(o, "GET", "/api/v1/admin/queues", NULL, &r);
    if (rc != EXIT_OK)
        return rc;
    if (r.status != 200 || r.json == NULL) {
        rc = r.status == 200 ? EXIT_SERVER : report_failure(o, "GET /api/v1/admin/queues", &r);
        reply_free(&r);
        return rc;
    }
    if (o->json)
        print_json(r.json);
    else
        queue_table(json_object_get(r.json, "queues"));
    reply_free(&r);
    return EXIT_OK;
}

int cmd_status(const opts_t *o)
{
    reply_t ready, queues;
    /* Unreachable is an answer here ({"reachable": false}), not an error. */
    opts_t no_json = *o;
    no_json.json = false;
    int rc = client_call(&no_json, "GET", "/readyz", NULL, &ready);
    if (rc != EXIT_OK) {
        if (o->json)
            printf("{\"url\": \"%s\", \"reachable\": false}\n", o->url);
        return rc;
    }
    bool is_ready = ready.status == 200;
    rc = client_call(o, "GET", "/api/v1/admin/queues", NULL, &queues);
    if (rc != EXIT_OK) {
        reply_free(&ready);
        return rc;
    }
    if (o->json) {
        json_t *j = json_pack("{s:s, s:b, s:b, s:O?, s:O?}", "url", o->url, "reachable", 1, "ready",
                              is_ready, "readiness", ready.json, "queues",
                              queues.status == 200 ? json_object_get(queues.json, "queues") : NULL);
        print_json(j);
        json_decref(j);
    } else {
        printf("keeld at %s: %s", o->url, is_ready ? "ready" : "NOT READY");
        if (!is_ready)
            printf(" (%s)", jstr(ready.json, "reason"));
        printf("\n");
        if (queues.status == 200) {
            printf("\n");
            queue_table(json_object_get(queues.json, "queues"));
        }
    }
    if (queues.status != 200 && queues.status != 404) {
        opts_t quiet = *o;
        quiet.json = false;
        rc = report_failure(&quiet, "GET /api/v1/admin/queues", &queues);
    }
    if (!is_ready)
        rc = EXIT_UNAVAILABLE;
    reply_free(&ready);
    reply_free(&queues);
    return rc;
}

int cmd_plugins(const opts_t *o)
{
    reply_t r;
    int rc = client_call(o, "GET", "/api/v1/admin/plugins", NULL, &r);
    if (rc != EXIT_OK)
        return rc;
    if (r.status != 200 || r.json == NULL) {
        rc = r.status == 200 ? EXIT_SERVER : report_failure(o, "GET /api/v1/admin/plugins", &r);
        reply_free(&r);
        return rc;
    }
    if (o->json) {
        print_json(r.json);
    } else {
        printf("keeld %s\n\n", jstr(r.json, "keel_version"));
        static const char *const head[] = {"INSTANCE", "MODULE", "VERSION", "HEALTH", "REASON"};
        table_t *t = table_new(head, 5);
        json_t *p;
        size_t i;
        json_array_foreach(json_object_get(r.json, "plugins"), i, p)
        {
            const char *row[] = {jstr(p, "name"), jstr(p, "module"), jstr(p, "version"),
                                 jstr(p, "health"), jstr(p, "reason")};
            table_row(t, row);
        }
        table_print(t);
        table_free(t);
    }
    reply_free(&r);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    opts_t o = {
        .url = env_or("KEEL_URL", "http://127.0.0.1:8080"),
        .api_key = env_or("KEEL_API_KEY", NULL),
        .admin_key = env_or("KEEL_ADMIN_KEY", NULL),
        .queue = "orders",
        .progress = true,
        .timeout_s = 30,
        .data_dir = env_or("KEEL_DATA_DIR", "./var"),
    };
    enum {
        OPT_URL = 256,
        OPT_API_KEY,
        OPT_ADMIN_KEY,
        OPT_JSON,
        OPT_CUSTOMER,
        OPT_LIMIT,
        OPT_ALL,
        OPT_RATE,
        OPT_DATA_DIR,
        OPT_TIMEOUT,
        OPT_NO_PROGRESS,
        OPT_VERSION
    };
    static const struct option options[] = {
        {"url", required_argument, NULL, OPT_URL},
        {"api-key", required_argument, NULL, OPT_API_KEY},
        {"admin-key", required_argument, NULL, OPT_ADMIN_KEY},
        {"json", no_argument, NULL, OPT_JSON},
        {"queue", required_argument, NULL, 'q'},
        {"customer", required_argument, NULL, OPT_CUSTOMER},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"all", no_argument, NULL, OPT_ALL},
        {"rate", required_argument, NULL, OPT_RATE},
        {"yes", no_argument, NULL, 'y'},
        {"data-dir", required_argument, NULL, OPT_DATA_DIR},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int c;
    long timeout = 30;
    while ((c = getopt_long(argc, argv, "q:yh", options, NULL)) != -1) {
        switch (c) {
        case OPT_URL:
            o.url = optarg;
            break;
        case OPT_API_KEY:
            o.api_key = optarg;
            break;
        case OPT_ADMIN_KEY:
            o.admin_key = optarg;
            break;
        case OPT_JSON:
            o.json = true;
            break;
        case 'q':
            o.queue = optarg;
            break;
        case OPT_CUSTOMER:
            o.customer = optarg;
            break;
        case OPT_LIMIT:
            if (!parse_long(optarg, 1, 1000, &o.limit)) {
                fprintf(stderr, "keelctl: --limit must be an integer from 1 to 1000\n");
                return EXIT_USAGE;
            }
            break;
        case OPT_ALL:
            o.all = true;
            break;
        case OPT_RATE:
            if (!parse_long(optarg, 0, 100000, &o.rate)) {
                fprintf(stderr, "keelctl: --rate must be an integer from 0 to 100000\n");
                return EXIT_USAGE;
            }
            break;
        case 'y':
            o.yes = true;
            break;
        case OPT_DATA_DIR:
            o.data_dir = optarg;
            break;
        case OPT_TIMEOUT:
            if (!parse_long(optarg, 1, 3600, &timeout)) {
                fprintf(stderr, "keelctl: --timeout must be 1..3600 seconds\n");
                return EXIT_USAGE;
            }
            o.timeout_s = (double)timeout;
            break;
        case OPT_NO_PROGRESS:
            o.progress = false;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        case OPT_VERSION:
            printf("keelctl %s\n", KEEL_VERSION_STRING);
            return EXIT_OK;
        default:
            fputs(usage_text, stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *verb = argv[optind];
    o.args = argv + optind + 1;
    o.nargs = argc - optind - 1;
    static const struct {
        const char *name;
        int (*run)(const opts_t *o);
    } verbs[] = {
        {"status", cmd_status}, {"queues", cmd_queues},   {"plugins", cmd_plugins},
        {"dlq", cmd_dlq},       {"orders", cmd_orders},   {"submit", cmd_submit},
        {"backup", cmd_backup}, {"restore", cmd_restore},
    };
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        if (strcmp(verb, verbs[i].name) != 0)
            continue;
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = verbs[i].run(&o);
        curl_global_cleanup();
        return rc;
    }
    fprintf(stderr, "keelctl: unknown verb '%s' (see keelctl --help)\n", verb);
    return EXIT_USAGE;
}
