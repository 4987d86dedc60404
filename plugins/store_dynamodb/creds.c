/* creds.c — AWS credentials (config, env, shared files, EC2 IMDSv2) and region. See creds.h. */
#include "creds.h"

#include "client.h"

#include <curl/curl.h>
#include <jansson.h>

#include <ctype.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define IMDS_MAX_BODY (64 * 1024)

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t err_len,
                                                          const char *fmt, ...)
{
    if (!err || !err_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static bool nonempty(const char *s)
{
    return s && *s;
}

static int copy_field(char *dst, size_t dst_len, const char *src)
{
    size_t n = strlen(src);
    if (n >= dst_len)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* Fills out with the three values; a NULL or empty token means none. */
static int fill(ddb_creds_t *out, const char *source, const char *ak, const char *sk,
                const char *token, int64_t expires_at, char *err, size_t err_len)
{
    if (copy_field(out->access_key, sizeof out->access_key, ak) != 0 ||
        copy_field(out->secret_key, sizeof out->secret_key, sk) != 0 ||
        copy_field(out->session_token, sizeof out->session_token, token ? token : "") != 0) {
        memset(out, 0, sizeof *out);
        set_err(err, err_len, "%s credentials: a key or token is too long", source);
        return DDB_CREDS_EINVAL;
    }
    out->expires_at = expires_at;
    snprintf(out->source, sizeof out->source, "%s", source);
    return 0;
}

/* ---- files ---- */

static int home_path(const char *rel, char *out, size_t out_len)
{
    const char *home = env_nonempty("HOME");
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (!home && getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res)
        home = res->pw_dir;
    if (!home)
        return -1;
    int n = snprintf(out, out_len, "%s/%s", home, rel);
    return n < 0 || (size_t)n >= out_len ? -1 : 0;
}

/* The file to use: explicit, else the environment variable, else ~/rel. */
static int pick_file(const char *explicit, const char *env, const char *rel, char *out,
                     size_t out_len)
{
    const char *p = nonempty(explicit) ? explicit : env_nonempty(env);
    if (p) {
        int n = snprintf(out, out_len, "%s", p);
        return n < 0 || (size_t)n >= out_len ? -1 : 0;
    }
    return home_path(rel, out, out_len);
}

static const char *pick_profile(const char *explicit)
{
    if (nonempty(explicit))
        return explicit;
    const char *p = env_nonempty("AWS_PROFILE");
    return p ? p : "default";
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Does the section header text (inside the brackets, trimmed) select profile? */
static bool section_matches(const char *name, bool config_style, const char *profile)
{
    if (!config_style)
        return strcmp(name, profile) == 0;
    if (strcmp(profile, "default") == 0 && strcmp(name, "default") == 0)
        return true;
    if (strncmp(name, "profile", 7) != 0 || (name[7] != ' ' && name[7] != '\t'))
        return false;
    const char *p = name + 7;
    while (*p == ' ' || *p == '\t')
        p++;
    return strcmp(p, profile) == 0;
}

typedef struct ini_query {
    const char *keys[3];
    char *values[3]; /* malloc'd, last occurrence wins */
    bool section_found;
    bool file_found;
} ini_query_t;

static void ini_query_free(ini_query_t *q)
{
    for (int i = 0; i < 3; i++) {
        if (q->values[i]) {
            memset(q->values[i], 0, strlen(q->values[i]));
            free(q->values[i]);
        }
        q->values[i] = NULL;
    }
}

/* Reads the keys of q from profile's section of path. Returns 0 or DDB_CREDS_ENOMEM. */
static int ini_read(const char *path, bool config_style, const char *profile, ini_query_t *q)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    q->file_found = true;
    char *line = NULL;
    size_t cap = 0;
    bool in_section = false, nested = false;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        bool indented = line[0] == ' ' || line[0] == '\t';
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            nested = false;
            if (!end) {
                in_section = false;
                continue;
            }
            *end = '\0';
            in_section = section_matches(trim(s + 1), config_style, profile);
            q->section_found |= in_section;
            continue;
        }
        if (indented && nested)
            continue; /* a nested setting ("s3 =\n  max_concurrent_requests = 10") */
        nested = false;
        char *eq = strchr(s, '=');
        if (!in_section || !eq)
            continue;
        *eq = '\0';
        char *key = trim(s), *value = eq + 1;
        for (char *c = value; *c; c++) {
            if ((*c == '#' || *c == ';') && c > value && (c[-1] == ' ' || c[-1] == '\t')) {
                *c = '\0';
                break;
            }
        }
        value = trim(value);
        if (*value == '\0') {
            nested = true;
            continue;
        }
        for (int i = 0; i < 3; i++) {
            if (q->keys[i] && strcasecmp(key, q->keys[i]) == 0) {
                char *v = strdup(value);
                if (!v) {
                    rc = DDB_CREDS_ENOMEM;
                    break;
                }
                free(q->values[i]);
                q->values[i] = v;
            }
        }
    }
    if (line)
        memset(line, 0, cap);
    free(line);
    fclose(f);
    return rc;
}

/* ---- IMDSv2 ---- */

typedef struct body {
    char data[IMDS_MAX_BODY + 1];
    size_t len;
    bool overflow;
} body_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    body_t *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > IMDS_MAX_BODY) {
        b->overflow = true;
        return 0;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* One request; returns 0 with *status set (any HTTP status), or -1 with err set when no HTTP
 * answer came (connection refused, timeout, ...). */
static int http(CURL *curl, const char *method, const char *url, const char *header,
                long timeout_ms, body_t *b, long *status, char *err, size_t err_len)
{
    struct curl_slist *hs = NULL, *tmp;
    if (header) {
        if (!(tmp = curl_slist_append(hs, header)))
            goto nomem;
        hs = tmp;
    }
    if (strcmp(method, "PUT") == 0) {
        if (!(tmp = curl_slist_append(hs, "Content-Type:")))
            goto nomem;
        hs = tmp;
    }
    b->len = 0;
    b->data[0] = '\0';
    b->overflow = false;
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*"); /* the metadata service is link-local */
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hs);
    if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode cc = curl_easy_perform(curl);
    curl_slist_free_all(hs);
    if (cc != CURLE_OK) {
        set_err(err, err_len, "IMDS %s %s: %s", method, url,
                b->overflow ? "response too large" : curl_easy_strerror(cc));
        return -1;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    return 0;
nomem:
    curl_slist_free_all(hs);
    set_err(err, err_len, "out of memory");
    return -1;
}

static bool valid_role(const char *r)
{
    if (!*r || strlen(r) > 64)
        return false;
    for (; *r; r++)
        if (!isalnum((unsigned char)*r) && !strchr("+=,.@_-", *r))
            return false;
    return true;
}

/* Returns 0, DDB_CREDS_ENOTFOUND (no answer from the endpoint), DDB_CREDS_EIMDS or
 * DDB_CREDS_ENOMEM. */
static int imds_fetch(const char *endpoint, long timeout_ms, ddb_creds_t *out, char *err,
                      size_t err_len)
{
    if (!ddb_curl_init()) {
        set_err(err, err_len, "IMDS: curl_global_init failed");
        return DDB_CREDS_EIMDS;
    }
    char base[512];
    size_t n = strlen(endpoint);
    while (n > 0 && endpoint[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof base - 128) {
        set_err(err, err_len, "IMDS endpoint \"%s\" is invalid", endpoint);
        return DDB_CREDS_EINVAL;
    }
    memcpy(base, endpoint, n);
    base[n] = '\0';

    body_t *b = malloc(sizeof *b);
    CURL *curl = curl_easy_init();
    if (!b || !curl) {
        free(b);
        if (curl)
            curl_easy_cleanup(curl);
        set_err(err, err_len, "out of memory");
        return DDB_CREDS_ENOMEM;
    }
    char url[1024], header[1024], token[512], role[128];
    long status = 0;
    int rc = DDB_CREDS_EIMDS;
    json_t *doc = NULL;

    snprintf(url, sizeof url, "%s/latest/api/token", base);
    snprintf(header, sizeof header, "X-aws-ec2-metadata-token-ttl-seconds: %d",
             DDB_IMDS_TOKEN_TTL_S);
    if (http(curl, "PUT", url, header, timeout_ms, b, &status, err, err_len) != 0) {
        rc = DDB_CREDS_ENOTFOUND;
        goto out;
    }
    if (status != 200 || b->len == 0 || b->len >= sizeof token ||
        strpbrk(b->data, "\r\n") != NULL) {
        set_err(err, err_len, "IMDS token request PUT %s: HTTP %ld%s", url, status,
                status == 200 ? " with an unusable token" : "");
        goto out;
    }
    memcpy(token, b->data, b->len + 1);
    snprintf(header, sizeof header, "X-aws-ec2-metadata-token: %s", token);

    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/", base);
    if (http(curl, "GET", url, header, timeout_ms, b, &status, err, err_len) != 0)
        goto out;
    if (status == 404) {
        set_err(err, err_len, "IMDS GET %s: HTTP 404 (no IAM role attached to the instance)", url);
        goto out;
    }
    if (status != 200) {
        set_err(err, err_len, "IMDS GET %s: HTTP %ld", url, status);
        goto out;
    }
    char *line = b->data + strspn(b->data, " \t\r\n");
    line[strcspn(line, "\r\n")] = '\0';
    char *r = line;
    while (*r && (r[strlen(r) - 1] == ' ' || r[strlen(r) - 1] == '\t'))
        r[strlen(r) - 1] = '\0';
    if (!valid_role(r)) {
        set_err(err, err_len, "IMDS GET %s: no usable role name in the answer", url);
        goto out;
    }
    snprintf(role, sizeof role, "%.*s", (int)sizeof role - 1, r); /* valid_role bounds it */

    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s", base, role);
    if (http(curl, "GET", url, header, timeout_ms, b, &status, err, err_len) != 0)
        goto out;
    if (status != 200) {
        set_err(err, err_len, "IMDS GET %s: HTTP %ld", url, status);
        goto out;
    }
    json_error_t jerr;
    doc = json_loadb(b->data, b->len, 0, &jerr);
    if (!json_is_object(doc)) {
        set_err(err, err_len, "IMDS credentials for role %s: not a JSON object (%s)", role,
                doc ? "wrong type" : jerr.text);
        goto out;
    }
    json_t *code = json_object_get(doc, "Code");
    if (code && (!json_is_string(code) || strcmp(json_string_value(code), "Success") != 0)) {
        set_err(err, err_len, "IMDS credentials for role %s: Code is %s", role,
                json_is_string(code) ? json_string_value(code) : "not a string");
        goto out;
    }
    const char *ak = json_string_value(json_object_get(doc, "AccessKeyId"));
    const char *sk = json_string_value(json_object_get(doc, "SecretAccessKey"));
    const char *tok = json_string_value(json_object_get(doc, "Token"));
    const char *exp = json_string_value(json_object_get(doc, "Expiration"));
    int64_t expires_at = 0;
    if (!nonempty(ak) || !nonempty(sk) || !nonempty(tok) || !exp) {
        set_err(err, err_len,
                "IMDS credentials for role %s: AccessKeyId, SecretAccessKey, Token or "
                "Expiration missing",
                role);
        goto out;
    }
    if (ddb_parse_rfc3339(exp, &expires_at) != 0 || expires_at <= 0) {
        set_err(err, err_len, "IMDS credentials for role %s: bad Expiration \"%s\"", role, exp);
        goto out;
    }
    rc = fill(out, "imds", ak, sk, tok, expires_at, err, err_len);
    if (rc != 0)
        rc = DDB_CREDS_EIMDS;

out:
    json_decref(doc);
    memset(token, 0, sizeof token);
    memset(header, 0, sizeof header);
    memset(b, 0, sizeof *b);
    free(b);
    curl_easy_cleanup(curl);
    return rc;
}

/* ---- resolution ---- */

static int from_profile(const char *path, bool config_style, const char *profile, ddb_creds_t *out,
                        char *err, size_t err_len, bool *found)
{
    ini_query_t q = {.keys = {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"}};
    *found = false;
    int rc = ini_read(path, config_style, profile, &q);
    if (rc == 0 && (q.values[0] || q.values[1])) {
        if (!q.values[0] || !q.values[1]) {
            set_err(err, err_len, "profile \"%s\" in %s has %s but no %s", profile, path,
                    q.values[0] ? "aws_access_key_id" : "aws_secret_access_key",
                    q.values[0] ? "aws_secret_access_key" : "aws_access_key_id");
            rc = DDB_CREDS_EINVAL;
        } else {
            rc = fill(out, "profile", q.values[0], q.values[1], q.values[2], 0, err, err_len);
            *found = rc == 0;
        }
    } else if (rc != 0) {
        set_err(err, err_len, "out of memory reading %s", path);
    }
    ini_query_free(&q);
    return rc;
}

int ddb_creds_resolve(const ddb_creds_config_t *cfg, ddb_creds_t *out, char *err, size_t err_len)
{
    static const ddb_creds_config_t none = {0};
    if (!out) {
        set_err(err, err_len, "no output");
        return DDB_CREDS_EINVAL;
    }
    memset(out, 0, sizeof *out);
    set_err(err, err_len, "%s", "");
    if (!cfg)
        cfg = &none;

    /* 1. config keys */
    if (nonempty(cfg->access_key) || nonempty(cfg->secret_key)) {
        if (!nonempty(cfg->access_key) || !nonempty(cfg->secret_key)) {
            set_err(err, err_len, "configured %s without %s",
                    nonempty(cfg->access_key) ? "access key" : "secret key",
                    nonempty(cfg->access_key) ? "secret key" : "access key");
            return DDB_CREDS_EINVAL;
        }
        return fill(out, "config", cfg->access_key, cfg->secret_key, cfg->session_token, 0, err,
                    err_len);
    }

    /* 2. environment */
    const char *eak = env_nonempty("AWS_ACCESS_KEY_ID");
    const char *esk = env_nonempty("AWS_SECRET_ACCESS_KEY");
    if (eak && esk)
        return fill(out, "env", eak, esk, env_nonempty("AWS_SESSION_TOKEN"), 0, err, err_len);

    /* 3. shared credentials file, then the config file */
    const char *profile = pick_profile(cfg->profile);
    char cred_path[1024] = "", conf_path[1024] = "";
    bool found = false;
    int rc;
    if (pick_file(cfg->credentials_file, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials",
                  cred_path, sizeof cred_path) == 0) {
        rc = from_profile(cred_path, false, profile, out, err, err_len, &found);
        if (rc != 0 || found)
            return rc;
    }
    if (pick_file(cfg->config_file, "AWS_CONFIG_FILE", ".aws/config", conf_path,
                  sizeof conf_path) == 0) {
        rc = from_profile(conf_path, true, profile, out, err, err_len, &found);
        if (rc != 0 || found)
            return rc;
    }

    /* 4. EC2 instance metadata */
    const char *disabled = getenv("AWS_EC2_METADATA_DISABLED");
    char imds_msg[512] = "IMDS disabled";
    if (!cfg->imds_disabled && !(disabled && strcasecmp(disabled, "true") == 0)) {
        const char *endpoint = nonempty(cfg->imds_endpoint)
                                   ? cfg->imds_endpoint
                                   : env_nonempty("AWS_EC2_METADATA_SERVICE_ENDPOINT");
        if (!endpoint)
            endpoint = DDB_IMDS_DEFAULT_ENDPOINT;
        long timeout =
            cfg->imds_timeout_ms > 0 ? cfg->imds_timeout_ms : DDB_IMDS_DEFAULT_TIMEOUT_MS;
        rc = imds_fetch(endpoint, timeout, out, imds_msg, sizeof imds_msg);
        if (rc == 0)
            return 0;
        if (rc != DDB_CREDS_ENOTFOUND) {
            set_err(err, err_len, "%s", imds_msg);
            return rc;
        }
    }
    set_err(err, err_len,
            "no AWS credentials found: none configured; AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "not both set; profile \"%s\" has no keys in %s or %s; %s",
            profile, cred_path[0] ? cred_path : "(no credentials file)",
            conf_path[0] ? conf_path : "(no config file)", imds_msg);
    return DDB_CREDS_ENOTFOUND;
}

bool ddb_creds_stale(const ddb_creds_t *c, int64_t now)
{
    if (!c || c->expires_at == 0)
        return false;
    return now >= c->expires_at - DDB_CREDS_REFRESH_MARGIN_S;
}

/* ---- region ---- */

static int use_region(const char *region, const char *from, char *out, size_t out_len, char *err,
                      size_t err_len)
{
    size_t n = strlen(region);
    bool ok = n > 0 && n < out_len;
    for (const char *p = region; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || *p == '-';
    if (!ok) {
        set_err(err, err_len, "invalid region \"%s\" from %s", region, from);
        if (out_len)
            out[0] = '\0';
        return DDB_CREDS_EINVAL;
    }
    memcpy(out, region, n + 1);
    return 0;
}

int ddb_region_resolve(const char *configured, const char *profile, const char *config_file,
                       char *out, size_t out_len, char *err, size_t err_len)
{
    if (!out || !out_len) {
        set_err(err, err_len, "no output");
        return DDB_CREDS_EINVAL;
    }
    out[0] = '\0';
    set_err(err, err_len, "%s", "");
    if (nonempty(configured))
        return use_region(configured, "the configuration", out, out_len, err, err_len);
    const char *e = env_nonempty("AWS_REGION");
    if (e)
        return use_region(e, "AWS_REGION", out, out_len, err, err_len);
    if ((e = env_nonempty("AWS_DEFAULT_REGION")))
        return use_region(e, "AWS_DEFAULT_REGION", out, out_len, err, err_len);

    const char *prof = pick_profile(profile);
    char path[1024];
    if (pick_file(config_file, "AWS_CONFIG_FILE", ".aws/config", path, sizeof path) != 0) {
        set_err(err, err_len,
                "no region: not configured, AWS_REGION and AWS_DEFAULT_REGION "
                "unset, no config file path");
        return DDB_CREDS_ENOTFOUND;
    }
    ini_query_t q = {.keys = {"region", NULL, NULL}};
    int rc = ini_read(path, true, prof, &q);
    if (rc == 0 && q.values[0]) {
        char from[1100];
        snprintf(from, sizeof from, "profile \"%s\" in %s", prof, path);
        rc = use_region(q.values[0], from, out, out_len, err, err_len);
    } else if (rc == 0) {
        set_err(err, err_len,
                "no region: not configured, AWS_REGION and AWS_DEFAULT_REGION unset, and no "
                "region for profile \"%s\" in %s%s",
                prof, path, q.file_found ? "" : " (file not found)");
        rc = DDB_CREDS_ENOTFOUND;
    } else {
        set_err(err, err_len, "out of memory reading %s", path);
    }
    ini_query_free(&q);
    return rc;
}

/* ---- RFC 3339 ---- */

static bool digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

int ddb_parse_rfc3339(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    if (!s || !out || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' ||
        !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2, &h) || s[13] != ':' ||
        !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return DDB_CREDS_EINVAL;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return DDB_CREDS_EINVAL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    int sign = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        sign = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2, &oh) && p[3] == ':' &&
               digits(p + 4, 2, &om) && oh < 24 && om < 60) {
        sign = *p == '+' ? 1 : -1;
    } else {
        return DDB_CREDS_EINVAL;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || sec > 60)
        return DDB_CREDS_EINVAL;
    /* Days from civil (proleptic Gregorian), no timegm/TZ dependence. */
    int64_t yy = y - (mo <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    *out = days * 86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
    return 0;
}
