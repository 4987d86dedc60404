/* mime.h — MIME types, ETags and HTTP dates for static files (pure). */
#ifndef KEEL_HTTP_MIME_H
#define KEEL_HTTP_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/** MIME type for a file name by its extension; application/octet-stream
 * when unknown. */
const char *mime_for_path(const char *path);

/** A strong ETag ("\"<ino>-<size>-<mtime ns>\"", hex) into out[cap]. */
void etag_format(char *out, size_t cap, uint64_t inode, uint64_t size, int64_t mtime_ns);

/** True when an If-None-Match value (a list, "*", weak tags allowed, as
 * RFC 9110 uses weak comparison for it) matches `etag`. */
bool etag_matches(const char *if_none_match, const char *etag);

/** IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into out[cap >= 30]. */
void http_date_format(time_t t, char *out, size_t cap);

/** Parses an IMF-fixdate; false when malformed. */
bool http_date_parse(const char *text, time_t *out);

/** The 304 decision: If-None-Match wins when present; otherwise
 * If-Modified-Since against the file's mtime (second resolution). */
bool http_not_modified(const char *if_none_match, const char *if_modified_since, const char *etag,
                       time_t mtime);

#endif
