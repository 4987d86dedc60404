/*
 * errors.h — what a DynamoDB answer means for the retry profile of
 * client.h: throttled, transient, or fatal with a keel status. Pure (no
 * curl handle, no threads): the transport (client.c) checks x-amz-crc32
 * first, then asks here.
 */
#ifndef STORE_DYNAMODB_ERRORS_H
#define STORE_DYNAMODB_ERRORS_H

#include <stddef.h>

enum ddb_class { DDB_OK, DDB_FATAL, DDB_THROTTLE, DDB_TRANSIENT, DDB_ABORTED };

/* An HTTP answer, and where to write what its error says. */
typedef struct ddb_answer {
    long http;
    const char *body; /* the response body, body[len] (not NUL-terminated) */
    size_t len;
    const char *header_etype; /* x-amzn-errortype, "" when absent */
    char *etype;              /* out: the error type's short name ("" on 2xx) */
    size_t etype_len;
    char *msg; /* out: the error's message; left as is when it has none */
    size_t msg_len;
} ddb_answer_t;

/* The class of an HTTP answer; *status (a KEEL_E* code) for DDB_FATAL.
 * A fatal answer without a message gets "HTTP <status>". */
enum ddb_class ddb_classify_answer(const ddb_answer_t *a, int *status);

/* The class of a transfer that got no HTTP answer (a CURLcode). */
enum ddb_class ddb_classify_curl(int curl_code);

#endif
