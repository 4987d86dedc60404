/* keelctl.h — internals of keelctl, the operator's command line: options,
 * the HTTP client, output (tables, JSON, progress) and the verbs. */
#ifndef KEELCTL_H
#define KEELCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Exit codes (documented in `keelctl --help`). */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 1,       /* bad command line, unreadable local file */
    EXIT_NOT_FOUND = 2,   /* 404: no such order, queue, DLQ message */
    EXIT_REFUSED = 3,     /* 409, 401/403, declined confirmation, keeld still running */
    EXIT_UNAVAILABLE = 4, /* cannot connect, timeout, 503/429, not ready */
    EXIT_SERVER = 5,      /* 5xx, an unexpected answer, a failed backup */
    EXIT_REJECTED = 6,    /* 400/413/415/422: the server rejected the input */
};

typedef struct opts {
    const char *url;
    const char *api_key, *admin_key;
    bool json, yes, all, progress;
    const char *queue;
    const char *customer;
    long limit;
    long rate;
    double timeout_s;
    const char *data_dir;
    char **args; /* positionals after the verb */
    int nargs;
} opts_t;

/* One HTTP answer. json is the parsed body when it is JSON. */
typedef struct reply {
    long status;
    char *body;
    size_t len;
    json_t *json;
} reply_t;

/* client.c */
/* Calls METHOD url+path with an optional JSON body. Admin paths use the
 * admin key (else the API key), others the API key (else the admin key).
 * Returns EXIT_OK when an answer came (any status), else prints why and
 * returns EXIT_UNAVAILABLE. */
int client_call(const opts_t *o, const char *method, const char *path, const char *body,
                reply_t *out);
void reply_free(reply_t *r);
/* Exit code for an HTTP status (2xx: EXIT_OK). */
int exit_for_status(long status);
/* Reports a non-2xx answer (stderr; with --json its body on stdout) and
 * returns its exit code. */
int report_failure(const opts_t *o, const char *what, const reply_t *r);
/* Percent-encodes one path segment or query value. Caller frees. */
char *url_escape(const char *text);

/* out.c */
typedef struct table table_t;
table_t *table_new(const char *const *headers, size_t columns);
void table_row(table_t *t, const char *const *cells);
void table_print(table_t *t);
void table_free(table_t *t);
void print_json(json_t *j);
/* An error found by keelctl itself (no answer to show): "keelctl: MESSAGE"
 * on stderr and, with --json, {"error": CODE, "message": MESSAGE} on
 * stdout, as the server's errors look. Returns exit_code. */
int fail_local(const opts_t *o, const char *code, int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Progress bar on stderr (only when enabled and stderr is a terminal). */
void progress(const opts_t *o, const char *label, double done, double total, const char *unit);
void progress_end(const opts_t *o);
/* Text of a JSON value for a table cell ("" for null). */
const char *jstr(json_t *obj, const char *key);
/* Number as text into buf. */
const char *jnum(json_t *obj, const char *key, char *buf, size_t cap);
void sleep_ms(long ms);
double now_s(void);

/* Verbs (each returns an exit code). */
int cmd_status(const opts_t *o);
int cmd_queues(const opts_t *o);
int cmd_plugins(const opts_t *o);
int cmd_dlq(const opts_t *o);
int cmd_orders(const opts_t *o);
int cmd_submit(const opts_t *o);
int cmd_backup(const opts_t *o);
int cmd_restore(const opts_t *o);

/* Fetches GET /api/v1/admin/queues and returns the entry of `queue`
 * (a new reference) or NULL after reporting; *rc gets the exit code. */
json_t *queue_stats(const opts_t *o, const char *queue, int *rc);

#endif
