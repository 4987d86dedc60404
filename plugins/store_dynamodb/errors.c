/* errors.c — see errors.h: DynamoDB's error types, as the AWS SDKs
 * classify them for retries. */
#include "errors.h"

#include <keel/keel.h>

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* "ns#Name:extra" -> "Name". */
static void cut_error_type(const char *raw, char *out, size_t n)
{
    size_t len = strcspn(raw, ":");
    const char *start = raw;
    for (size_t i = 0; i < len; i++)
        if (raw[i] == '#')
            start = raw + i + 1;
    len -= (size_t)(start - raw);
    while (len && isspace((unsigned char)*start)) {
        start++;
        len--;
    }
    while (len && isspace((unsigned char)start[len - 1]))
        len--;
    if (len >= n)
        len = n - 1;
    memcpy(out, start, len);
    out[len] = '\0';
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static const char *const throttle_types[] = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TransactionInProgressException",
    NULL,
};

static const char *const transient_types[] = {
    "InternalServerError", "InternalFailure", "ServiceUnavailable", "RequestTimeTooSkewed", NULL,
};

static const char *const perm_types[] = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "IncompleteSignature",
    "IncompleteSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    NULL,
};

/* Reads __type / message from a JSON error body; the header's type wins. */
static void parse_error_body(const ddb_answer_t *a)
{
    char raw[128] = ""; /* longer types are cut, as the header buffer cuts them */
    json_t *j = a->len ? json_loadb(a->body, a->len, 0, NULL) : NULL;
    if (json_is_object(j)) {
        const char *t = json_string_value(json_object_get(j, "__type"));
        const char *m = json_string_value(json_object_get(j, "message"));
        if (!m)
            m = json_string_value(json_object_get(j, "Message"));
        if (t)
            snprintf(raw, sizeof raw, "%s", t);
        if (m)
            snprintf(a->msg, a->msg_len, "%s", m);
    }
    json_decref(j);
    cut_error_type(a->header_etype[0] ? a->header_etype : raw, a->etype, a->etype_len);
}

static int fatal_status(const char *etype, long http)
{
    if (strcmp(etype, "ConditionalCheckFailedException") == 0 ||
        strcmp(etype, "TransactionCanceledException") == 0)
        return KEEL_ECONFLICT;
    if (strcmp(etype, "ValidationException") == 0 || strcmp(etype, "SerializationException") == 0)
        return KEEL_EINVAL;
    if (strcmp(etype, "ResourceNotFoundException") == 0)
        return KEEL_ENOTFOUND;
    if (strcmp(etype, "ResourceInUseException") == 0)
        return KEEL_EEXIST;
    if (strcmp(etype, "ItemCollectionSizeLimitExceededException") == 0)
        return KEEL_EFULL;
    if (in_list(etype, perm_types))
        return KEEL_EPERM;
    if (http >= 400 && http < 500)
        return KEEL_EINVAL;
    return KEEL_EIO;
}

enum ddb_class ddb_classify_answer(const ddb_answer_t *a, int *status)
{
    if (a->http >= 200 && a->http < 300)
        return DDB_OK;
    parse_error_body(a);
    if (a->http == 429 || in_list(a->etype, throttle_types))
        return DDB_THROTTLE;
    if (a->http == 500 || a->http == 502 || a->http == 503 || a->http == 504 ||
        in_list(a->etype, transient_types))
        return DDB_TRANSIENT;
    if (strcmp(a->etype, "InvalidSignatureException") == 0 &&
        strstr(a->msg, "Signature expired") != NULL)
        return DDB_TRANSIENT; /* clock skew */
    if (!a->msg[0])
        snprintf(a->msg, a->msg_len, "HTTP %ld", a->http);
    *status = fatal_status(a->etype, a->http);
    return DDB_FATAL;
}

enum ddb_class ddb_classify_curl(int curl_code)
{
    switch ((CURLcode)curl_code) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return DDB_TRANSIENT;
    case CURLE_ABORTED_BY_CALLBACK:
        return DDB_ABORTED;
    default:
        return DDB_FATAL;
    }
}
