/* creds.h — AWS credentials and region for the DynamoDB store.
 *
 * Credentials are resolved in this order, the first complete source winning:
 *   1. "config":  the keys given in ddb_creds_config_t (the plugin expands ${ENV} beforehand);
 *   2. "env":     AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 *   3. "profile": aws_access_key_id / aws_secret_access_key / aws_session_token of the profile
 *                 in the shared credentials file ([name]), else in the config file
 *                 ([profile name], or [default] / [profile default] for "default");
 *   4. "imds":    EC2 instance metadata, IMDSv2 only (token PUT, then the role and its
 *                 credentials with the token; no IMDSv1 fallback), with an expiry.
 * A half-configured source (only an access key or only a secret) in the config keys or a
 * profile is an error, not skipped; in the environment it is skipped, as the AWS SDKs do.
 *
 * INI files: "#" and ";" start comment lines, and inline comments when preceded by whitespace;
 * names, keys and values are trimmed; keys are case-insensitive; indented lines under a key with
 * an empty value (nested settings such as "s3 =") are ignored; when a section or key repeats,
 * the last value wins. A missing file counts as an empty one.
 *
 * ddb_creds_resolve() does blocking I/O (files, and HTTP to the metadata endpoint bounded by
 * imds_timeout_ms per request) and reads the environment: call it from a worker, not from an
 * event loop. It keeps no state and is safe to call from several threads (libcurl's global
 * init runs once, under pthread_once).
 */
#ifndef KEEL_DDB_CREDS_H
#define KEEL_DDB_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Negative return codes. */
#define DDB_CREDS_EINVAL    -1 /* bad argument or half-configured/oversized source */
#define DDB_CREDS_ENOTFOUND -2 /* no source had credentials (or no region was found) */
#define DDB_CREDS_EIMDS     -3 /* the metadata service answered, but not with credentials */
#define DDB_CREDS_ENOMEM    -4

#define DDB_IMDS_DEFAULT_ENDPOINT   "http://169.254.169.254"
#define DDB_IMDS_DEFAULT_TIMEOUT_MS 1000L
#define DDB_IMDS_TOKEN_TTL_S        21600
/* IMDS credentials count as stale this long before they expire. */
#define DDB_CREDS_REFRESH_MARGIN_S 300

typedef struct ddb_creds {
    char access_key[128];
    char secret_key[128];
    char session_token[2048];
    int64_t expires_at; /* unix seconds, 0 = never */
    char source[32];    /* "config", "env", "profile" or "imds" */
} ddb_creds_t;

typedef struct ddb_creds_config {
    const char *access_key, *secret_key, *session_token; /* from config, may be NULL */
    const char *profile;                                 /* NULL: AWS_PROFILE or "default" */
    const char *credentials_file; /* NULL: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials */
    const char *config_file;      /* NULL: AWS_CONFIG_FILE or ~/.aws/config */
    const char *imds_endpoint;    /* NULL: AWS_EC2_METADATA_SERVICE_ENDPOINT or the default */
    bool imds_disabled;           /* also AWS_EC2_METADATA_DISABLED=true */
    long imds_timeout_ms;         /* <= 0: DDB_IMDS_DEFAULT_TIMEOUT_MS */
} ddb_creds_config_t;

/* Resolves credentials into out (zeroed first). Returns 0, or a negative DDB_CREDS_* code with
 * a message in err; DDB_CREDS_ENOTFOUND's message lists what each source lacked. */
int ddb_creds_resolve(const ddb_creds_config_t *cfg, ddb_creds_t *out, char *err, size_t err_len);

/* True when c should be refreshed at time now: it expires (expires_at != 0) within
 * DDB_CREDS_REFRESH_MARGIN_S seconds, or already has. */
bool ddb_creds_stale(const ddb_creds_t *c, int64_t now);

/* Region: configured (non-empty), else AWS_REGION, else AWS_DEFAULT_REGION, else "region" in
 * the config file's profile section (profile NULL: AWS_PROFILE or "default"; config_file NULL:
 * AWS_CONFIG_FILE or ~/.aws/config). A region must be letters, digits and '-'. Returns 0,
 * DDB_CREDS_ENOTFOUND or DDB_CREDS_EINVAL (invalid or longer than out_len - 1). */
int ddb_region_resolve(const char *configured, const char *profile, const char *config_file,
                       char *out, size_t out_len, char *err, size_t err_len);

/* Parses an RFC 3339 timestamp ("2026-11-22T06:30:00Z", fractions and +hh:mm offsets allowed)
 * into unix seconds. Returns 0 or DDB_CREDS_EINVAL. */
int ddb_parse_rfc3339(const char *s, int64_t *out);

#endif /* KEEL_DDB_CREDS_H */
