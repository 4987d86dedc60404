/* cors.h — CORS decisions (pure). */
#ifndef KEEL_HTTP_CORS_H
#define KEEL_HTTP_CORS_H

#include <stdbool.h>
#include <stddef.h>

/** True when `origin` is listed (exact, case-insensitive) or "*" is. */
bool cors_origin_allowed(const char *const *origins, size_t count, const char *origin);

/** True when `method` is one of the comma-separated `methods`. */
bool cors_method_allowed(const char *methods, const char *method);

#endif
