/* log.c — see log.h. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { LINE_MAX_BYTES = 8192 };

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void logger_init(logger_t *log)
{
    atomic_init(&log->fd, STDERR_FILENO);
    log->path = NULL;
    atomic_init(&log->level, KEEL_LOG_INFO);
    log->format = LOG_FORMAT_TEXT;
}

static int open_log_file(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

int logger_open(logger_t *log, const char *path, keel_log_level_t level, log_format_t format)
{
    atomic_store(&log->level, level);
    log->format = format;
    if (path == NULL)
        return 0;
    int fd = open_log_file(path);
    if (fd < 0)
        return KEEL_EIO;
    char *copy = strdup(path);
    if (copy == NULL) {
        close(fd);
        return KEEL_ENOMEM;
    }
    free(log->path);
    log->path = copy;
    int old = atomic_exchange(&log->fd, fd);
    if (old != STDERR_FILENO)
        close(old);
    return 0;
}

int logger_reopen(logger_t *log)
{
    if (log->path == NULL)
        return 0;
    int fd = open_log_file(log->path);
    if (fd < 0)
        return KEEL_EIO;
    /* dup2 swaps the file under the same descriptor number atomically, so
     * writers on other threads never see a closed descriptor. */
    int current = atomic_load(&log->fd);
    if (dup2(fd, current) < 0) {
        close(fd);
        return KEEL_EIO;
    }
    close(fd);
    return 0;
}

void logger_close(logger_t *log)
{
    int fd = atomic_exchange(&log->fd, STDERR_FILENO);
    if (fd != STDERR_FILENO)
        close(fd);
    free(log->path);
    log->path = NULL;
}

bool logger_enabled(const logger_t *log, keel_log_level_t level)
{
    return (int)level <= atomic_load(&log->level);
}

static size_t format_timestamp(char *out, size_t len)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    int extra = snprintf(out + n, len - n, ".%03ldZ", now.tv_nsec / 1000000L);
    return n + (extra > 0 ? (size_t)extra : 0);
}

/* Appends `text` JSON-escaped into buf[*pos..cap). Truncates silently. */
static void append_json_string(char *buf, size_t cap, size_t *pos, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p && *pos + 7 < cap; p++) {
        switch (*p) {
        case '"':
        case '\\':
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = (char)*p;
            break;
        case '\n':
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = 'n';
            break;
        case '\t':
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = 't';
            break;
        default:
            if (*p < 0x20)
                *pos += (size_t)snprintf(buf + *pos, cap - *pos, "\\u%04x", *p);
            else
                buf[(*pos)++] = (char)*p;
        }
    }
}

void logger_vwrite(logger_t *log, keel_log_level_t level, const char *source, const char *fmt,
                   va_list args)
{
    if (!logger_enabled(log, level))
        return;
    char message[LINE_MAX_BYTES / 2];
    vsnprintf(message, sizeof message, fmt, args);
    char stamp[40];
    format_timestamp(stamp, sizeof stamp);
    const char *name = level_names[level];

    char line[LINE_MAX_BYTES];
    size_t pos = 0;
    if (log->format == LOG_FORMAT_JSON) {
        pos = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"source\":\"",
                               stamp, name);
        append_json_string(line, sizeof line, &pos, source);
        pos += (size_t)snprintf(line + pos, sizeof line - pos, "\",\"msg\":\"");
        append_json_string(line, sizeof line, &pos, message);
        pos += (size_t)snprintf(line + pos, sizeof line - pos, "\"}\n");
    } else {
        int n = snprintf(line, sizeof line, "%s %-5s [%s] %s\n", stamp, name, source, message);
        pos = n < 0 ? 0 : (size_t)n;
    }
    if (pos >= sizeof line) {
        pos = sizeof line - 1;
        line[pos - 1] = '\n';
    }
    ssize_t ignored = write(atomic_load(&log->fd), line, pos);
    (void)ignored; /* nowhere left to report a failing log write */
}

void logger_write(logger_t *log, keel_log_level_t level, const char *source, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    logger_vwrite(log, level, source, fmt, args);
    va_end(args);
}

int log_level_parse(const char *text, keel_log_level_t *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcasecmp(text, level_names[i]) == 0) {
            *out = (keel_log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(text, "warning") == 0) {
        *out = KEEL_LOG_WARN;
        return 0;
    }
    return KEEL_EINVAL;
}

const char *log_level_name(keel_log_level_t level)
{
    return (unsigned)level < 4 ? level_names[level] : "?";
}
