/* urlpath.h — percent-decoding of request paths with traversal checks. */
#ifndef KEEL_HTTP_URLPATH_H
#define KEEL_HTTP_URLPATH_H

#include <stddef.h>

enum {
    URLPATH_OK = 0,
    URLPATH_BAD = -1,       /* malformed escape, NUL, control char, encoded '/' or '\' */
    URLPATH_TRAVERSAL = -2, /* a ".." segment (raw or encoded) */
    URLPATH_TOO_LONG = -3,
};

/**
 * Decodes the raw path `raw` (must start with '/') into out[cap]. Refuses
 * anything that could name a file outside the served directory: ".."
 * segments after decoding, encoded slashes and backslashes (which would
 * change the segment structure), raw backslashes, NUL and control bytes.
 */
int urlpath_decode(const char *raw, char *out, size_t cap);

#endif
