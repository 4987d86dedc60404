/* mime.c — see mime.h. */
#include "mime.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *ext;
    const char *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
};

const char *mime_for_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot != NULL && dot[1] != '\0')
        for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
            if (strcasecmp(dot + 1, mime_types[i].ext) == 0)
                return mime_types[i].type;
    return "application/octet-stream";
}

void etag_format(char *out, size_t cap, uint64_t inode, uint64_t size, int64_t mtime_ns)
{
    snprintf(out, cap, "\"%llx-%llx-%llx\"", (unsigned long long)inode, (unsigned long long)size,
             (unsigned long long)mtime_ns);
}

bool etag_matches(const char *if_none_match, const char *etag)
{
    const char *p = if_none_match;
    size_t etag_len = strlen(etag);
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        const char *end = p;
        if (*end == '"') {
            end = strchr(end + 1, '"');
            if (end == NULL)
                return false;
            end++;
        } else {
            while (*end != '\0' && *end != ',')
                end++;
        }
        if ((size_t)(end - p) == etag_len && memcmp(p, etag, etag_len) == 0)
            return true;
        p = end;
    }
    return false;
}

static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void http_date_format(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

bool http_date_parse(const char *text, time_t *out)
{
    char day[4], mon[4], zone[4];
    int mday, year, hour, min, sec, used = 0;
    if (sscanf(text, "%3s, %d %3s %d %d:%d:%d %3s%n", day, &mday, mon, &year, &hour, &min, &sec,
               zone, &used) != 8 ||
        text[used] != '\0' || strcmp(zone, "GMT") != 0)
        return false;
    int month = -1;
    for (int i = 0; i < 12; i++)
        if (strcmp(mon, months[i]) == 0)
            month = i;
    if (month < 0 || mday < 1 || mday > 31 || hour > 23 || min > 59 || sec > 60 || year < 1970)
        return false;
    struct tm tm = {.tm_sec = sec,
                    .tm_min = min,
                    .tm_hour = hour,
                    .tm_mday = mday,
                    .tm_mon = month,
                    .tm_year = year - 1900};
    *out = timegm(&tm);
    return true;
}

bool http_not_modified(const char *if_none_match, const char *if_modified_since, const char *etag,
                       time_t mtime)
{
    if (if_none_match != NULL)
        return etag_matches(if_none_match, etag);
    time_t since;
    if (if_modified_since != NULL && http_date_parse(if_modified_since, &since))
        return mtime <= since;
    return false;
}
