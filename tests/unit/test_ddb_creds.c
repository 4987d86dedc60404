/* Credentials and region resolution tests: each source and its precedence (config keys, env,
 * shared credentials/config files, EC2 IMDSv2 against a fake metadata server on 127.0.0.1),
 * INI parsing details, staleness/refresh, IMDS failures and the "nothing found" error. Every
 * test runs with the AWS_* environment cleared and HOME pointing at an empty temp dir. */
#include "creds.h"

#include <curl/curl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define IMDS_TOKEN "AQAEAFakeImdsToken=="
#define ROLE       "keel-order-role"

/* ---- environment and files ---- */

static char tmpdir[256];

static const char *aws_vars[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_DISABLED",
};

static int setup(void **state)
{
    for (size_t i = 0; i < sizeof aws_vars / sizeof *aws_vars; i++)
        unsetenv(aws_vars[i]);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/keel-ddb-creds-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    setenv("HOME", tmpdir, 1);
    return 0;
}

static int teardown(void **state)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to tmpdir/name (creating tmpdir/.aws if asked for) and returns the path. */
static const char *write_file(const char *name, const char *text)
{
    static char paths[4][512];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    if (strncmp(name, ".aws/", 5) == 0) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/.aws", tmpdir);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
        assert_int_equal(system(cmd), 0);
    }
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* ---- a fake EC2 metadata service ---- */

typedef struct fake_imds {
    int fd;
    int port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;
    /* behaviour */
    bool refuse_token; /* the token PUT answers 403 */
    bool no_role;      /* the role list answers 404 */
    char creds_body[2048];
    /* observations */
    int token_puts, gets, missing_ttl, missing_token;
    char ttl[32];
} fake_imds_t;

static const char *find_header(char *req, const char *name, char *out, size_t out_len)
{
    size_t n = strlen(name);
    for (char *line = strstr(req, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        char *l = line + 2;
        if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
            char *v = l + n + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            if (len >= out_len)
                len = out_len - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return out;
        }
    }
    return NULL;
}

static void respond(int c, int status, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, strlen(body));
    if (write(c, head, (size_t)n) < 0 || write(c, body, strlen(body)) < 0)
        return;
}

static void handle(fake_imds_t *s, int c)
{
    char req[8192];
    size_t len = 0;
    while (len < sizeof req - 1) {
        ssize_t r = read(c, req + len, sizeof req - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[len] = '\0';
    char method[16] = "", path[512] = "", hv[512];
    if (sscanf(req, "%15s %511s", method, path) != 2) {
        respond(c, 400, "bad request");
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (strcmp(method, "PUT") == 0 && strcmp(path, "/latest/api/token") == 0) {
        s->token_puts++;
        const char *ttl = find_header(req, "X-aws-ec2-metadata-token-ttl-seconds", hv, sizeof hv);
        if (!ttl || atoi(ttl) < 1 || atoi(ttl) > 21600) {
            s->missing_ttl++;
            respond(c, 400, "missing or invalid ttl");
        } else if (s->refuse_token) {
            snprintf(s->ttl, sizeof s->ttl, "%s", ttl);
            respond(c, 403, "Forbidden");
        } else {
            snprintf(s->ttl, sizeof s->ttl, "%s", ttl);
            respond(c, 200, IMDS_TOKEN);
        }
    } else if (strcmp(method, "GET") == 0) {
        s->gets++;
        const char *tok = find_header(req, "X-aws-ec2-metadata-token", hv, sizeof hv);
        if (!tok || strcmp(tok, IMDS_TOKEN) != 0) {
            s->missing_token++;
            respond(c, 401, "Unauthorized");
        } else if (strcmp(path, "/latest/meta-data/iam/security-credentials/") == 0) {
            respond(c, s->no_role ? 404 : 200, s->no_role ? "Not Found" : ROLE "\n");
        } else if (strcmp(path, "/latest/meta-data/iam/security-credentials/" ROLE) == 0) {
            respond(c, 200, s->creds_body);
        } else {
            respond(c, 404, "Not Found");
        }
    } else {
        respond(c, 405, "Method Not Allowed");
    }
    pthread_mutex_unlock(&s->lock);
}

static void *serve(void *arg)
{
    fake_imds_t *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        handle(s, c);
        close(c);
    }
    return NULL;
}

static int listen_local(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void format_rfc3339(int64_t t, char *out, size_t out_len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, out_len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fake_set_creds(fake_imds_t *s, const char *akid, int64_t expires)
{
    char exp[64];
    format_rfc3339(expires, exp, sizeof exp);
    pthread_mutex_lock(&s->lock);
    snprintf(s->creds_body, sizeof s->creds_body,
             "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2026-11-22T06:00:00Z\",\n"
             "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"%s\",\n"
             "  \"SecretAccessKey\" : \"imds/secret+%s\",\n  \"Token\" : \"IQoJ%s//token==\",\n"
             "  \"Expiration\" : \"%s\"\n}",
             akid, akid, akid, exp);
    pthread_mutex_unlock(&s->lock);
}

static fake_imds_t *fake_start(void)
{
    fake_imds_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->stop, false);
    s->fd = listen_local(&s->port);
    fake_set_creds(s, "ASIAIMDSONE", (int64_t)time(NULL) + 3600);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
    return s;
}

static void fake_stop(fake_imds_t *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const char *fake_url(fake_imds_t *s)
{
    static char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s->port);
    return url;
}

/* A config that finds no files (HOME is empty) and uses the fake server. */
static ddb_creds_config_t imds_cfg(fake_imds_t *s)
{
    ddb_creds_config_t cfg = {0};
    cfg.imds_endpoint = s ? fake_url(s) : NULL;
    cfg.imds_timeout_ms = 2000;
    return cfg;
}

static void resolve_ok(const ddb_creds_config_t *cfg, ddb_creds_t *c, const char *source)
{
    char err[1024] = "";
    int rc = ddb_creds_resolve(cfg, c, err, sizeof err);
    if (rc != 0)
        fail_msg("ddb_creds_resolve: %d %s", rc, err);
    assert_string_equal(c->source, source);
}

static int resolve_err(const ddb_creds_config_t *cfg, char *err, size_t err_len)
{
    ddb_creds_t c;
    int rc = ddb_creds_resolve(cfg, &c, err, err_len);
    assert_int_not_equal(rc, 0);
    assert_string_equal(c.access_key, "");
    assert_string_equal(c.source, "");
    return rc;
}

/* ---- sources and precedence ---- */

static const char *credentials_text =
    "# shared credentials\n"
    "[default]\n"
    "aws_access_key_id = AKIDDEFAULT\n"
    "aws_secret_access_key=secretdefault\n"
    "\n"
    "  ; indented comment\n"
    "[work]   \n"
    "   AWS_ACCESS_KEY_ID   =   AKIDWORK   ; inline comment\n"
    "aws_secret_access_key = secret/work+x#not-a-comment # a comment\n"
    "aws_session_token\t=\ttokenwork\n"
    "[profile other]\n"
    "aws_access_key_id = AKIDWRONG\n"
    "aws_secret_access_key = wrong\n"
    "[  spaced  ]\n"
    "aws_access_key_id = AKIDSPACED\n"
    "aws_secret_access_key = spaced\n"
    "[half]\n"
    "aws_access_key_id = AKIDHALF\n";

static void test_config_keys_first(void **state)
{
    write_file(".aws/credentials", credentials_text);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
    ddb_creds_config_t cfg = imds_cfg(NULL);
    cfg.access_key = "AKIDCONF";
    cfg.secret_key = "secretconf";
    cfg.session_token = "tokconf";
    ddb_creds_t c;
    resolve_ok(&cfg, &c, "config");
    assert_string_equal(c.access_key, "AKIDCONF");
    assert_string_equal(c.secret_key, "secretconf");
    assert_string_equal(c.session_token, "tokconf");
    assert_int_equal(c.expires_at, 0);
    assert_false(ddb_creds_stale(&c, INT64_MAX));

    cfg.session_token = "";
    resolve_ok(&cfg, &c, "config");
    assert_string_equal(c.session_token, "");

    /* Half-configured is an error, not a fallback to env. */
    char err[512];
    cfg.secret_key = NULL;
    assert_int_equal(resolve_err(&cfg, err, sizeof err), DDB_CREDS_EINVAL);
    assert_non_null(strstr(err, "access key without secret key"));
    cfg.access_key = "";
    cfg.secret_key = "s";
    assert_int_equal(resolve_err(&cfg, err, sizeof err), DDB_CREDS_EINVAL);
    /* Too long. */
    char big[300];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cfg.access_key = big;
    assert_int_equal(resolve_err(&cfg, err, sizeof err), DDB_CREDS_EINVAL);
    assert_non_null(strstr(err, "too long"));
}

static void test_env_second(void **state)
{
    write_file(".aws/credentials", credentials_text);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
    ddb_creds_config_t cfg = imds_cfg(NULL);
    ddb_creds_t c;
    resolve_ok(&cfg, &c, "env");
    assert_string_equal(c.access_key, "AKIDENV");
    assert_string_equal(c.secret_key, "secretenv");
    assert_string_equal(c.session_token, "");
    setenv("AWS_SESSION_TOKEN", "tokenv", 1);
    resolve_ok(&cfg, &c, "env");
    assert_string_equal(c.session_token, "tokenv");
    /* Only one of the pair: skipped, the profile is next. */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    resolve_ok(&cfg, &c, "profile");
    assert_string_equal(c.access_key, "AKIDDEFAULT");
    setenv("AWS_SECRET_ACCESS_KEY", "", 1);
    resolve_ok(&cfg, &c, "profile");
}

static void test_profile_credentials_file(void **state)
{
    const char *path = write_file("creds.ini", credentials_text);
    ddb_creds_config_t cfg = imds_cfg(NULL);
    cfg.credentials_file = path;
    ddb_creds_t c;
    resolve_ok(&cfg, &c, "profile");
    assert_string_equal(c.access_key, "AKIDDEFAULT");
    assert_string_equal(c.secret_key, "secretdefault");
    assert_string_equal(c.session_token, "");
    assert_int_equal(c.expires_at, 0);

    cfg.profile = "work";
    resolve_ok(&cfg, &c, "profile");
    assert_string_equal(c.access_key, "AKIDWORK");
    assert_string_equal(c.secret_key, "secret/work+x#not-a-comment");
    assert_string_equal(c.session_token, "tokenwork");

    cfg.profile = "spaced";
    resolve_ok(&cfg, &c, "profile");
    assert_string_equal(c.access_key, "AKIDSPACED");

    /* AWS_PROFILE when the config names none; the config's profile wins over it. */
    cfg.profile = NULL;
    setenv("AWS_PROFILE", "work", 1);
    resolve_ok(&cfg, &c, "profile");
    assert_string_equal(c.access_key, "AKIDWORK");
    cfg.profile = "default";
    resolve_ok(&cfg, &c, "profile");
    assert_string_equal(c.access_key, "AKIDDEFAULT");

    /* AWS_SHARED_CREDENTIALS_FILE when the config names no file. */
    cfg.credentials_file = NULL;
    cfg.profile = NULL;
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    resolve_ok(&cfg, &c, "profile");
    assert_string_equal(c.access_key, "AKIDWORK");

    /* "[profile other]" is not profile "other" in a credentials file. */
    ddb_creds_config_t none = imds_cfg(NULL);
    none.imds_disabled = true;
    none.credentials_file = path;
    none.profile = "other";
    char err[1024];
    assert_int_equal(resolve_err(&none, err, sizeof err), DDB_CREDS_ENOTFOUND);

    /* A half profile is an error. */
    none.profile = "half";
    assert_int_equal(resolve_err(&none, err, sizeof err), DDB_CREDS_EINVAL);
    assert_non_null(strstr(err, "has aws_access_key_id but no aws_secret_access_key"));
}

static void test_profile_home_default_file(void **state)
{
    write_file(".aws/credentials", "[default]\naws_access_key_id=AKIDHOME\n"
                                   "aws_secret_access_key=home\n");
    ddb_creds_config_t cfg = imds_cfg(NULL);
    ddb_creds_t c;
    resolve_ok(&cfg, &c, "profile");
    assert_string_equal(c.access_key, "AKIDHOME");
}

static void test_profile_config_file(void **state)
{
    const char *conf = write_file("config.ini", "[default]\n"
                                                "region = eu-west-1\n"
                                                "aws_access_key_id = AKIDCONFDEFAULT\n"
                                                "aws_secret_access_key = confdefault\n"
                                                "[work]\n"
                                                "aws_access_key_id = AKIDNOTAPROFILE\n"
                                                "aws_secret_access_key = no\n"
                                                "[profile work]\n"
                                                "s3 =\n"
                                                "    aws_access_key_id = AKIDNESTED\n"
                                                "    max_concurrent_requests = 20\n"
                                                "aws_access_key_id = AKIDCONFWORK\n"
                                                "aws_secret_access_key = confwork\n"
                                                "[profile  prod ]\n"
                                                "aws_access_key_id = AKIDPROD1\n"
                                                "aws_secret_access_key = prod\n"
                                                "[profile prod]\n"
                                                "aws_access_key_id = AKIDPROD2\n");
    const char *creds = write_file("creds.ini", "[work]\naws_access_key_id = AKIDCREDSWORK\n"
                                                "aws_secret_access_key = credswork\n");
    ddb_creds_config_t cfg = imds_cfg(NULL);
    cfg.config_file = conf;
    cfg.credentials_file = creds;
    ddb_creds_t c;
    /* The credentials file wins for the same profile... */
    cfg.profile = "work";
    resolve_ok(&cfg, &c, "profile");
    assert_string_equal(c.access_key, "AKIDCREDSWORK");
    /* ...the config file is used when it has nothing. */
    cfg.profile = NULL;
    resolve_ok(&cfg, &c, "profile");
    assert_string_equal(c.access_key, "AKIDCONFDEFAULT");
    cfg.credentials_file = "/nonexistent/credentials";
    cfg.profile = "work";
    resolve_ok(&cfg, &c, "profile");
    assert_string_equal(c.access_key, "AKIDCONFWORK"); /* not the nested s3 one */
    /* Repeated sections: the last value wins. */
    cfg.profile = "prod";
    resolve_ok(&cfg, &c, "profile");
    assert_string_equal(c.access_key, "AKIDPROD2");
    assert_string_equal(c.secret_key, "prod");
    /* AWS_CONFIG_FILE. */
    cfg.config_file = NULL;
    cfg.profile = "work";
    setenv("AWS_CONFIG_FILE", conf, 1);
    resolve_ok(&cfg, &c, "profile");
    assert_string_equal(c.access_key, "AKIDCONFWORK");
}

/* ---- IMDSv2 ---- */

static void test_fake_server_enforces_headers(void **state)
{
    fake_imds_t *s = fake_start();
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    char url[128];
    long status = 0;
    FILE *null = fopen("/dev/null", "w");
    /* GET without a token. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/latest/meta-data/iam/security-credentials/",
             s->port);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, null);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 401);
    /* PUT without a TTL. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/latest/api/token", s->port);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 400);
    curl_easy_cleanup(curl);
    fclose(null);
    assert_int_equal(s->missing_token, 1);
    assert_int_equal(s->missing_ttl, 1);
    fake_stop(s);
}

static void test_imds_token_flow(void **state)
{
    fake_imds_t *s = fake_start();
    int64_t exp = (int64_t)time(NULL) + 3600;
    fake_set_creds(s, "ASIAIMDSONE", exp);
    ddb_creds_config_t cfg = imds_cfg(s);
    ddb_creds_t c;
    resolve_ok(&cfg, &c, "imds");
    assert_string_equal(c.access_key, "ASIAIMDSONE");
    assert_string_equal(c.secret_key, "imds/secret+ASIAIMDSONE");
    assert_string_equal(c.session_token, "IQoJASIAIMDSONE//token==");
    assert_int_equal(c.expires_at, exp);
    assert_int_equal(s->token_puts, 1);
    assert_int_equal(s->gets, 2);
    assert_int_equal(s->missing_ttl, 0);
    assert_int_equal(s->missing_token, 0);
    assert_string_equal(s->ttl, "21600");

    /* The endpoint from the environment, and a profile still comes first. */
    cfg.imds_endpoint = NULL;
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake_url(s), 1);
    resolve_ok(&cfg, &c, "imds");
    assert_int_equal(s->token_puts, 2);
    write_file(".aws/credentials", "[default]\naws_access_key_id=AKIDP\naws_secret_access_key=p\n");
    resolve_ok(&cfg, &c, "profile");
    assert_int_equal(s->token_puts, 2);
    fake_stop(s);
}

static void test_imds_stale_and_refresh(void **state)
{
    fake_imds_t *s = fake_start();
    int64_t now = (int64_t)time(NULL);
    fake_set_creds(s, "ASIAFIRST", now + 3600);
    ddb_creds_config_t cfg = imds_cfg(s);
    ddb_creds_t c;
    resolve_ok(&cfg, &c, "imds");
    assert_false(ddb_creds_stale(&c, now));
    assert_false(ddb_creds_stale(&c, c.expires_at - 301));
    assert_true(ddb_creds_stale(&c, c.expires_at - 300));
    assert_true(ddb_creds_stale(&c, c.expires_at + 10));

    /* The instance rotated its credentials: a refresh picks them up. */
    fake_set_creds(s, "ASIASECOND", now + 7200);
    ddb_creds_t fresh;
    resolve_ok(&cfg, &fresh, "imds");
    assert_string_equal(fresh.access_key, "ASIASECOND");
    assert_int_equal(fresh.expires_at, now + 7200);
    assert_false(ddb_creds_stale(&fresh, now + 3600));

    /* Credentials handed out close to their expiry are stale at once. */
    fake_set_creds(s, "ASIASHORT", now + 120);
    resolve_ok(&cfg, &c, "imds");
    assert_true(ddb_creds_stale(&c, now));
    fake_stop(s);

    ddb_creds_t never = {.expires_at = 0};
    assert_false(ddb_creds_stale(&never, INT64_MAX));
    assert_false(ddb_creds_stale(NULL, 0));
}

static void test_imds_failures(void **state)
{
    fake_imds_t *s = fake_start();
    ddb_creds_config_t cfg = imds_cfg(s);
    char err[1024];

    s->refuse_token = true;
    assert_int_equal(resolve_err(&cfg, err, sizeof err), DDB_CREDS_EIMDS);
    assert_non_null(strstr(err, "token"));
    assert_non_null(strstr(err, "HTTP 403"));
    assert_int_equal(s->gets, 0); /* no IMDSv1 fallback */
    s->refuse_token = false;

    s->no_role = true;
    assert_int_equal(resolve_err(&cfg, err, sizeof err), DDB_CREDS_EIMDS);
    assert_non_null(strstr(err, "no IAM role"));
    s->no_role = false;

    const char *bodies[] = {
        "not json",
        "[]",
        "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"AccessKeyId\":\"A\","
        "\"SecretAccessKey\":\"S\",\"Token\":\"T\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Token\":\"T\",\"Expiration\":\"soon\"}",
        "{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"S\",\"Token\":\"T\","
        "\"Expiration\":\"2030-01-01T00:00:00Z\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        pthread_mutex_lock(&s->lock);
        snprintf(s->creds_body, sizeof s->creds_body, "%s", bodies[i]);
        pthread_mutex_unlock(&s->lock);
        assert_int_equal(resolve_err(&cfg, err, sizeof err), DDB_CREDS_EIMDS);
        assert_non_null(strstr(err, ROLE));
    }
    assert_int_equal(s->missing_token, 0);
    fake_stop(s);
}

static void test_imds_disabled(void **state)
{
    fake_imds_t *s = fake_start();
    ddb_creds_config_t cfg = imds_cfg(s);
    char err[1024];
    cfg.imds_disabled = true;
    assert_int_equal(resolve_err(&cfg, err, sizeof err), DDB_CREDS_ENOTFOUND);
    assert_non_null(strstr(err, "IMDS disabled"));
    cfg.imds_disabled = false;
    setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
    assert_int_equal(resolve_err(&cfg, err, sizeof err), DDB_CREDS_ENOTFOUND);
    assert_non_null(strstr(err, "IMDS disabled"));
    assert_int_equal(s->token_puts + s->gets, 0);
    setenv("AWS_EC2_METADATA_DISABLED", "false", 1);
    ddb_creds_t c;
    resolve_ok(&cfg, &c, "imds");
    fake_stop(s);
}

static void test_nothing_found(void **state)
{
    /* A port that refuses connections. */
    int port;
    int fd = listen_local(&port);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    ddb_creds_config_t cfg = {0};
    cfg.imds_endpoint = url;
    cfg.imds_timeout_ms = 500;
    cfg.profile = "ghost";
    char err[1024];
    assert_int_equal(resolve_err(&cfg, err, sizeof err), DDB_CREDS_ENOTFOUND);
    print_message("  error: %s\n", err);
    assert_non_null(strstr(err, "no AWS credentials found"));
    assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
    assert_non_null(strstr(err, "profile \"ghost\""));
    assert_non_null(strstr(err, ".aws/credentials"));
    assert_non_null(strstr(err, url));
}

/* ---- region ---- */

static void test_region(void **state)
{
    const char *conf = write_file("config.ini", "[default]\nregion = eu-central-1\n"
                                                "[profile work] ; comment\nregion=ap-south-1\n"
                                                "[profile bad]\nregion = us east\n");
    char r[32], err[512];
    assert_int_equal(ddb_region_resolve("us-west-2", NULL, conf, r, sizeof r, err, sizeof err), 0);
    assert_string_equal(r, "us-west-2");
    setenv("AWS_DEFAULT_REGION", "sa-east-1", 1);
    assert_int_equal(ddb_region_resolve(NULL, NULL, conf, r, sizeof r, err, sizeof err), 0);
    assert_string_equal(r, "sa-east-1");
    setenv("AWS_REGION", "ca-central-1", 1);
    assert_int_equal(ddb_region_resolve("", NULL, conf, r, sizeof r, err, sizeof err), 0);
    assert_string_equal(r, "ca-central-1");
    assert_int_equal(ddb_region_resolve("us-west-2", NULL, conf, r, sizeof r, err, sizeof err), 0);
    assert_string_equal(r, "us-west-2");
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");

    assert_int_equal(ddb_region_resolve(NULL, NULL, conf, r, sizeof r, err, sizeof err), 0);
    assert_string_equal(r, "eu-central-1");
    assert_int_equal(ddb_region_resolve(NULL, "work", conf, r, sizeof r, err, sizeof err), 0);
    assert_string_equal(r, "ap-south-1");
    setenv("AWS_PROFILE", "work", 1);
    setenv("AWS_CONFIG_FILE", conf, 1);
    assert_int_equal(ddb_region_resolve(NULL, NULL, NULL, r, sizeof r, err, sizeof err), 0);
    assert_string_equal(r, "ap-south-1");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_CONFIG_FILE");

    assert_int_equal(ddb_region_resolve(NULL, "bad", conf, r, sizeof r, err, sizeof err),
                     DDB_CREDS_EINVAL);
    assert_non_null(strstr(err, "invalid region"));
    assert_int_equal(ddb_region_resolve(NULL, "none", conf, r, sizeof r, err, sizeof err),
                     DDB_CREDS_ENOTFOUND);
    assert_non_null(strstr(err, "profile \"none\""));
    /* ~/.aws/config (absent here), then present. */
    assert_int_equal(ddb_region_resolve(NULL, NULL, NULL, r, sizeof r, err, sizeof err),
                     DDB_CREDS_ENOTFOUND);
    assert_non_null(strstr(err, "file not found"));
    write_file(".aws/config", "[default]\nregion=us-east-2\n");
    assert_int_equal(ddb_region_resolve(NULL, NULL, NULL, r, sizeof r, err, sizeof err), 0);
    assert_string_equal(r, "us-east-2");
    /* Too small an output. */
    char tiny[5];
    assert_int_equal(
        ddb_region_resolve("us-east-1", NULL, NULL, tiny, sizeof tiny, err, sizeof err),
        DDB_CREDS_EINVAL);
}

static void test_rfc3339(void **state)
{
    int64_t t;
    assert_int_equal(ddb_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(ddb_parse_rfc3339("2015-08-30T12:36:00Z", &t), 0);
    assert_int_equal(t, 1440938160);
    assert_int_equal(ddb_parse_rfc3339("2024-02-29T12:00:00.123Z", &t), 0);
    assert_int_equal(t, 1709208000);
    assert_int_equal(ddb_parse_rfc3339("2024-02-29T14:30:00+02:30", &t), 0);
    assert_int_equal(t, 1709208000);
    assert_int_equal(ddb_parse_rfc3339("2024-02-29t10:00:00-02:00", &t), 0);
    assert_int_equal(t, 1709208000);
    const char *bad[] = {"",
                         "2024-02-29",
                         "2023-02-29T00:00:00Z",
                         "2024-13-01T00:00:00Z",
                         "2024-01-01T24:00:00Z",
                         "2024-01-01T00:00:00",
                         "2024-01-01T00:00:00.Z",
                         "2024-01-01T00:00:00+0200",
                         "2024-01-01T00:00:00Zjunk"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(ddb_parse_rfc3339(bad[i], &t), DDB_CREDS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_keys_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_second, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_credentials_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_home_default_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_config_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fake_server_enforces_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_token_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_stale_and_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_region, setup, teardown),
        cmocka_unit_test(test_rfc3339),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
