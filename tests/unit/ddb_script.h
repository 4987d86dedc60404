/*
 * ddb_script.h — the DynamoDB transport tests' scripted server and client
 * fixture. The server (127.0.0.1, a thread per connection) answers each
 * request from a script: status, x-amzn-errortype, body and a
 * right/wrong/absent x-amz-crc32, or a reset, a delay, a truncated body,
 * and records what it was sent. The fixture's client has its backoff
 * sleeps recorded instead of slept, a fixed jitter (r = 0.75) and a
 * recording signer.
 */
#ifndef KEEL_TEST_DDB_SCRIPT_H
#define KEEL_TEST_DDB_SCRIPT_H

#include "client.h"

#include <keel/keel.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

/* ---- the scripted server --------------------------------------------------------------- */

typedef enum { ACT_RESPOND, ACT_RESET, ACT_DELAY, ACT_TRUNCATE } act_t;
typedef enum { CRC_RIGHT, CRC_WRONG, CRC_NONE } crc_mode_t;

typedef struct step {
    act_t act;
    int status;
    const char *etype_hdr; /* x-amzn-errortype value or NULL */
    const char *body;
    crc_mode_t crc;
    int delay_ms;
} step_t;

#define MAX_STEPS 32
#define MAX_RECS  64
#define MAX_CONNS 64

typedef struct req_rec {
    char target[128];
    char ctype[128];
    char host[128];
    char date[64];
    char auth[160];
    bool expect;
    bool accept_encoding;
    char body[512];
    int conn;
} req_rec_t;

typedef struct server {
    int lfd;
    int port;
    pthread_t acceptor;
    atomic_bool stop;
    pthread_mutex_t lock;
    step_t steps[MAX_STEPS];
    size_t nsteps, next;
    req_rec_t recs[MAX_RECS];
    size_t nreqs;
    int nconns;
    pthread_t conn_tid[MAX_CONNS];
    int conn_fd[MAX_CONNS];
} server_t;

typedef struct conn_arg {
    server_t *s;
    int idx;
} conn_arg_t;

static const char DEFAULT_BODY[] = "{\"TableNames\":[]}";

static inline bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static inline void header_value(const char *hdrs, const char *name, char *out, size_t n,
                                bool *present)
{
    size_t nl = strlen(name);
    const char *p = hdrs;
    out[0] = '\0';
    if (present)
        *present = false;
    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r");
            if (len >= n)
                len = n - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            if (present)
                *present = true;
            return;
        }
    }
}

static inline void sleep_ms_real(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline void *conn_main(void *arg)
{
    conn_arg_t *ca = arg;
    server_t *s = ca->s;
    int idx = ca->idx;
    free(ca);
    int fd = s->conn_fd[idx];
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);

    while (buf && !atomic_load(&s->stop)) {
        /* Read one request: headers, then Content-Length bytes. */
        char *eoh = NULL;
        while (!(eoh = (len ? strstr(buf, "\r\n\r\n") : NULL))) {
            ssize_t k = recv(fd, buf + len, cap - len, 0);
            if (k <= 0)
                goto out;
            len += (size_t)k;
            buf[len] = '\0';
        }
        size_t hlen = (size_t)(eoh - buf) + 4;
        char tmp[32];
        header_value(buf, "content-length", tmp, sizeof tmp, NULL);
        size_t blen = (size_t)strtoul(tmp, NULL, 10);
        while (len < hlen + blen) {
            ssize_t k = recv(fd, buf + len, cap - len, 0);
            if (k <= 0)
                goto out;
            len += (size_t)k;
            buf[len] = '\0';
        }
        char saved = buf[hlen];
        buf[hlen] = '\0';
        step_t st = {.act = ACT_RESPOND, .status = 200, .body = DEFAULT_BODY};
        pthread_mutex_lock(&s->lock);
        if (s->next < s->nsteps)
            st = s->steps[s->next++];
        if (s->nreqs < MAX_RECS) {
            req_rec_t *r = &s->recs[s->nreqs];
            header_value(buf, "x-amz-target", r->target, sizeof r->target, NULL);
            header_value(buf, "content-type", r->ctype, sizeof r->ctype, NULL);
            header_value(buf, "host", r->host, sizeof r->host, NULL);
            header_value(buf, "x-amz-date", r->date, sizeof r->date, NULL);
            header_value(buf, "authorization", r->auth, sizeof r->auth, NULL);
            header_value(buf, "expect", tmp, sizeof tmp, &r->expect);
            header_value(buf, "accept-encoding", tmp, sizeof tmp, &r->accept_encoding);
            size_t n = blen < sizeof r->body - 1 ? blen : sizeof r->body - 1;
            buf[hlen] = saved;
            memcpy(r->body, buf + hlen, n);
            r->body[n] = '\0';
            r->conn = idx;
        }
        s->nreqs++;
        pthread_mutex_unlock(&s->lock);
        buf[hlen] = saved;
        memmove(buf, buf + hlen + blen, len - hlen - blen);
        len -= hlen + blen;
        buf[len] = '\0';

        if (st.act == ACT_RESET) {
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            break;
        }
        if (st.act == ACT_DELAY)
            for (int waited = 0; waited < st.delay_ms && !atomic_load(&s->stop); waited += 5)
                sleep_ms_real(5);
        const char *body = st.body ? st.body : "";
        size_t bl = strlen(body);
        uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)body, (uInt)bl);
        char head[1024];
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 %d Scripted\r\nContent-Type: application/x-amz-json-1.0\r\n"
                         "Content-Length: %zu\r\nx-amzn-RequestId: R\r\n",
                         st.status, bl + (st.act == ACT_TRUNCATE ? 10 : 0));
        if (st.etype_hdr)
            n += snprintf(head + n, sizeof head - (size_t)n, "x-amzn-ErrorType: %s\r\n",
                          st.etype_hdr);
        if (st.crc != CRC_NONE)
            n += snprintf(head + n, sizeof head - (size_t)n, "X-Amz-Crc32: %u\r\n",
                          st.crc == CRC_RIGHT ? crc : crc ^ 0x5a5aU);
        n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
        if (!send_all(fd, head, (size_t)n) || !send_all(fd, body, bl))
            break;
        if (st.act == ACT_TRUNCATE)
            break;
    }
out:
    free(buf);
    pthread_mutex_lock(&s->lock);
    s->conn_fd[idx] = -1;
    pthread_mutex_unlock(&s->lock);
    close(fd);
    return NULL;
}

static inline void *accept_main(void *arg)
{
    server_t *s = arg;
    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            if (atomic_load(&s->stop) || (errno != EINTR && errno != ECONNABORTED))
                return NULL;
            continue;
        }
        pthread_mutex_lock(&s->lock);
        if (atomic_load(&s->stop) || s->nconns >= MAX_CONNS) {
            pthread_mutex_unlock(&s->lock);
            close(fd);
            continue;
        }
        int idx = s->nconns++;
        s->conn_fd[idx] = fd;
        conn_arg_t *ca = malloc(sizeof *ca);
        ca->s = s;
        ca->idx = idx;
        if (pthread_create(&s->conn_tid[idx], NULL, conn_main, ca) != 0)
            abort();
        pthread_mutex_unlock(&s->lock);
    }
}

static inline server_t *server_start(const step_t *steps, size_t n)
{
    server_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    assert_true(n <= MAX_STEPS);
    if (n)
        memcpy(s->steps, steps, n * sizeof *steps);
    s->nsteps = n;
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->stop, false);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 64), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->acceptor, NULL, accept_main, s), 0);
    return s;
}

static inline void server_stop(server_t *s)
{
    atomic_store(&s->stop, true);
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->acceptor, NULL);
    close(s->lfd);
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->nconns; i++)
        if (s->conn_fd[i] >= 0)
            shutdown(s->conn_fd[i], SHUT_RDWR);
    int n = s->nconns;
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < n; i++)
        pthread_join(s->conn_tid[i], NULL);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- client fixture: recorded sleeps, fixed jitter, a recording signer ------------------- */

#define MAX_SLEEPS 16

typedef struct fixture {
    server_t *srv;
    ddb_client_t *c;
    char endpoint[64];
    char host[64];
    pthread_mutex_t lock;
    long sleeps[MAX_SLEEPS];
    int nsleeps;
    int nsign;
    bool sign_bad; /* host/target/body differed from what was expected */
    int sign_rc;
    char expect_target[128];
    char expect_body[512];
} fixture_t;

static inline uint64_t rand_075(void *arg)
{
    return UINT64_C(0xC000000000000000);
}

static inline void record_sleep(void *arg, long ms)
{
    fixture_t *f = arg;
    pthread_mutex_lock(&f->lock);
    if (f->nsleeps < MAX_SLEEPS)
        f->sleeps[f->nsleeps] = ms;
    f->nsleeps++;
    pthread_mutex_unlock(&f->lock);
}

static inline int test_sign(void *arg, const char *host, const char *target, const char *body,
                            size_t len, int (*add)(void *list, const char *line), void *list)
{
    fixture_t *f = arg;
    char line[160];
    pthread_mutex_lock(&f->lock);
    int n = ++f->nsign;
    if (strcmp(host, f->host) != 0 ||
        (f->expect_target[0] && strcmp(target, f->expect_target) != 0) ||
        (f->expect_body[0] && (len != strlen(f->expect_body) || memcmp(body, f->expect_body, len))))
        f->sign_bad = true;
    int rc = f->sign_rc;
    pthread_mutex_unlock(&f->lock);
    if (rc)
        return rc;
    snprintf(line, sizeof line, "X-Amz-Date: 20261122T0000%02dZ", n % 60);
    if (add(list, line) != 0)
        return KEEL_ENOMEM;
    return add(list, "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/dynamodb/"
                     "aws4_request, SignedHeaders=host;x-amz-date, Signature=00");
}

static inline fixture_t *fixture_new(const step_t *steps, size_t n, ddb_client_config_t *over)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->lock, NULL);
    f->srv = server_start(steps, n);
    snprintf(f->endpoint, sizeof f->endpoint, "http://127.0.0.1:%d", f->srv->port);
    snprintf(f->host, sizeof f->host, "127.0.0.1:%d", f->srv->port);
    ddb_client_config_t cfg = over ? *over : (ddb_client_config_t){0};
    cfg.endpoint = f->endpoint;
    if (!cfg.threads)
        cfg.threads = 2;
    if (!cfg.request_timeout_ms)
        cfg.request_timeout_ms = 5000;
    if (!cfg.sign) {
        cfg.sign = test_sign;
        cfg.sign_arg = f;
    }
    if (!cfg.rand64)
        cfg.rand64 = rand_075;
    if (!cfg.sleep_ms) {
        cfg.sleep_ms = record_sleep;
        cfg.sleep_arg = f;
    }
    char err[128];
    int rc = ddb_client_new(&cfg, &f->c, err, sizeof err);
    if (rc)
        fail_msg("ddb_client_new: %d %s", rc, err);
    return f;
}

static inline void fixture_free(fixture_t *f)
{
    ddb_client_free(f->c);
    server_stop(f->srv);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* A synchronous call: done copies the response. */
typedef struct result {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int ndone;
    int status;
    long http;
    unsigned attempts;
    char etype[128];
    char message[512];
    char body[1024];
    size_t body_len;
} result_t;

static inline void on_done(void *arg, const ddb_response_t *r)
{
    result_t *res = arg;
    pthread_mutex_lock(&res->lock);
    res->status = r->status;
    res->http = r->http_status;
    res->attempts = r->attempts;
    snprintf(res->etype, sizeof res->etype, "%s", r->error_type);
    snprintf(res->message, sizeof res->message, "%s", r->message);
    snprintf(res->body, sizeof res->body, "%.*s", (int)r->body_len, r->body);
    res->body_len = r->body_len;
    res->ndone++;
    pthread_cond_broadcast(&res->cond);
    pthread_mutex_unlock(&res->lock);
}

static inline void result_init(result_t *res)
{
    memset(res, 0, sizeof *res);
    pthread_mutex_init(&res->lock, NULL);
    pthread_cond_init(&res->cond, NULL);
}

static inline void result_wait(result_t *res, int n)
{
    pthread_mutex_lock(&res->lock);
    while (res->ndone < n)
        pthread_cond_wait(&res->cond, &res->lock);
    pthread_mutex_unlock(&res->lock);
}

static inline void result_destroy(result_t *res)
{
    pthread_cond_destroy(&res->cond);
    pthread_mutex_destroy(&res->lock);
}

static inline void call_sync(fixture_t *f, const char *op, const char *body, result_t *res)
{
    result_init(res);
    pthread_mutex_lock(&f->lock);
    snprintf(f->expect_target, sizeof f->expect_target, "DynamoDB_20120810.%s", op);
    snprintf(f->expect_body, sizeof f->expect_body, "%s", body);
    pthread_mutex_unlock(&f->lock);
    assert_int_equal(ddb_call(f->c, op, body, strlen(body), on_done, res), 0);
    result_wait(res, 1);
    assert_int_equal(res->ndone, 1);
}

static inline ddb_client_metrics_t metrics(fixture_t *f)
{
    ddb_client_metrics_t m;
    ddb_client_metrics(f->c, &m);
    return m;
}

static inline int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define OK_STEP                                                                                    \
    {                                                                                              \
        .act = ACT_RESPOND, .status = 200, .body = "{\"Item\":{}}", .crc = CRC_RIGHT               \
    }

#define ERR_STEP(code, type, msg)                                                                  \
    {                                                                                              \
        .act = ACT_RESPOND, .status = (code),                                                      \
        .body =                                                                                    \
            "{\"__type\":\"com.amazonaws.dynamodb.v20120810#" type "\",\"message\":\"" msg "\"}",  \
        .crc = CRC_RIGHT                                                                           \
    }

#endif
