/* jsoncheck.h — cheap checks run on a request body before parsing it. */
#ifndef KEEL_HTTP_JSONCHECK_H
#define KEEL_HTTP_JSONCHECK_H

#include <stdbool.h>
#include <stddef.h>

/** True when buf[len] is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
bool utf8_valid(const void *buf, size_t len);

/** True when no array/object in the JSON text buf[len] nests deeper than
 * max_depth (brackets inside strings do not count). Runs in O(len) without
 * recursion, so a 100,000-deep body cannot exhaust the stack of the parser
 * that comes after it. */
bool json_depth_ok(const char *buf, size_t len, int max_depth);

#endif
