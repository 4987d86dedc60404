/* urlpath.c — see urlpath.h. */
#include "urlpath.h"
#include "parse.h"

#include <string.h>

int urlpath_decode(const char *raw, char *out, size_t cap)
{
    if (raw == NULL || raw[0] != '/' || cap == 0)
        return URLPATH_BAD;
    size_t n = 0;
    for (const char *p = raw; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%') {
            int hi = http_hex_digit(p[1]);
            int lo = hi < 0 ? -1 : http_hex_digit(p[2]);
            if (lo < 0)
                return URLPATH_BAD;
            c = (unsigned char)(hi * 16 + lo);
            p += 2;
            if (c == '/' || c == '\\')
                return URLPATH_BAD;
        } else if (c == '\\') {
            return URLPATH_BAD;
        }
        if (c < 0x20 || c == 0x7f)
            return URLPATH_BAD;
        if (n + 1 >= cap)
            return URLPATH_TOO_LONG;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    /* Check segments of the decoded path. */
    for (const char *seg = out; *seg != '\0';) {
        seg++; /* skip '/' */
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 2 && seg[0] == '.' && seg[1] == '.')
            return URLPATH_TRAVERSAL;
        if (end == NULL)
            break;
        seg = end;
    }
    return URLPATH_OK;
}
