/*
 * log.h — the kernel's logger: one line per call, text or JSON, each line
 * naming the plugin instance it comes from. Lines are written with a single
 * write(2) so concurrent writers never interleave within a line.
 */
#ifndef KEEL_KERNEL_LOG_H
#define KEEL_KERNEL_LOG_H

#include <keel/keel.h>
#include <stdatomic.h>

typedef enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON } log_format_t;

typedef struct logger {
    atomic_int fd;    /* stderr, or the log file (replaced by logger_reopen) */
    char *path;       /* NULL when logging to stderr */
    atomic_int level; /* lines above this level are dropped */
    log_format_t format;
} logger_t;

/* Starts logging to stderr at INFO, text. */
void logger_init(logger_t *log);
/* Switches to `path` (NULL = stderr). 0 or KEEL_EIO (errno kept). */
int logger_open(logger_t *log, const char *path, keel_log_level_t level, log_format_t format);
/* Reopens the log file (after rotation). No-op on stderr. Async-signal
 * unsafe: call from the main loop, not from a signal handler. */
int logger_reopen(logger_t *log);
void logger_close(logger_t *log);

bool logger_enabled(const logger_t *log, keel_log_level_t level);
/* `source` is the instance name, or "keel" for the kernel itself. */
void logger_write(logger_t *log, keel_log_level_t level, const char *source, const char *fmt, ...)
    KEEL_PRINTF(4, 5);
void logger_vwrite(logger_t *log, keel_log_level_t level, const char *source, const char *fmt,
                   va_list args) KEEL_PRINTF(4, 0);

/* "error", "warn", "info", "debug" <-> levels. 0 or KEEL_EINVAL. */
int log_level_parse(const char *text, keel_log_level_t *out);
const char *log_level_name(keel_log_level_t level);

#endif
