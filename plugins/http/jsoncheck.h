/* jsoncheck.h — cheap checks run on a request body before parsing it. */
#ifndef KEEL_HTTP_JSONCHECK_H
#define KEEL_HTTP_JSONCHECK_H

#include <stdbool.h>
#include <stddef.h>

/** True when buf[len] is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
bool utf8_valid(const void *buf, size_t len);

typedef enum json_check {
    JSON_CHECK_OK,
    JSON_CHECK_UTF8,  /* not well-formed UTF-8 (as utf8_valid) */
    JSON_CHECK_NUL,   /* a NUL byte */
    JSON_CHECK_DEPTH, /* an array/object nests deeper than max_depth */
} json_check_t;

/** One pass over the JSON text buf[len]: the first of UTF-8, NUL and depth
 * (in that order) that fails, or JSON_CHECK_OK. Brackets inside strings do
 * not count towards the depth. Runs in O(len) without recursion, so a
 * 100,000-deep body cannot exhaust the stack of the parser that comes
 * after it. */
json_check_t json_body_check(const char *buf, size_t len, int max_depth);

#endif
