/*
 * kernel.h — the kernel context: configure from a config document, start
 * every plugin instance, run, stop gracefully. Used by keeld's main, by the
 * in-process test harness and by the runtime tests.
 */
#ifndef KEEL_KERNEL_KERNEL_H
#define KEEL_KERNEL_KERNEL_H

#include "config.h"
#include "log.h"

#include <keel/keel.h>

typedef struct kernel kernel_t;

kernel_t *kernel_new(void);
/* Stops the kernel if it runs, then frees it. Returns false when a stop
 * timed out with plugin code still running: then nothing is freed (the
 * caller should not free what plugins may still use either). NULL: true. */
bool kernel_free(kernel_t *k);

/* Where keeld lives: modules named without a path are looked up in
 * <exe_dir>/../lib/keel/plugins unless kernel.plugin_dir says otherwise. */
int kernel_set_exe_dir(kernel_t *k, const char *exe_dir);

/* Makes `module` resolvable without a .so (a plugin linked in). Before
 * kernel_configure(). 0, KEEL_EEXIST or KEEL_ENOMEM. */
int kernel_add_builtin(kernel_t *k, const char *module, keel_plugin_entry_fn entry);

/*
 * Validates the whole config and loads every module. Takes ownership of
 * doc in every case. Every problem is added to errs with its location;
 * returns 0 or KEEL_EINVAL. Nothing is initialised yet.
 */
int kernel_configure(kernel_t *k, cfg_doc_t *doc, cfg_errors_t *errs);

/*
 * Applies logging settings, creates the data dir, starts the worker pool
 * and the timer thread, then inits and starts every instance in dependency
 * order. On failure, logs why, unwinds what was started and returns the
 * error (KEEL_EFAILED for a plugin failure).
 */
int kernel_start(kernel_t *k);

/*
 * keeld --check-config: runs every instance's init, as kernel_start()
 * would, so that the plugins' own checks run too (ranges, names, the
 * other instances they use, the files they read), then destroys them.
 * Data goes to `scratch_dir` (a fresh directory the caller removes), logs
 * (warnings and errors) to stderr. Nothing is started: no listener, no
 * pipeline. 0, or KEEL_EFAILED after a plugin logged why.
 */
int kernel_check(kernel_t *k, const char *scratch_dir);

/*
 * Graceful stop: stop() every started instance in reverse order, wait for
 * in-flight deliveries and work (up to kernel.shutdown_timeout), join the
 * threads, destroy() every instance. Returns 0, or KEEL_ETIMEDOUT when work
 * was still running at the deadline (instances are then not destroyed).
 * Idempotent.
 */
int kernel_stop(kernel_t *k);

logger_t *kernel_logger(kernel_t *k);
int kernel_reopen_logs(kernel_t *k);

/* Resolves a module name to the .so path that would be loaded, into out.
 * 0 or KEEL_ENOTFOUND (message in out). Usable before kernel_configure(). */
int kernel_module_path(kernel_t *k, const char *plugin_dir, const char *module, char *out,
                       size_t out_len);

/* Test and harness hooks. */
void kernel_set_clock(kernel_t *k, uint64_t now_ms); /* 0 = the real clock */
uint64_t kernel_now_ms(kernel_t *k);
/* Subscribes on behalf of the embedding program; before kernel_start(). */
int kernel_subscribe(kernel_t *k, const char *topic, keel_handler_fn fn, void *arg);
/* Publishes on behalf of the embedding program (no grant check). */
int kernel_publish(kernel_t *k, const keel_msg_t *msg, keel_publish_done_fn done, void *done_arg);
int kernel_service_lookup(kernel_t *k, const char *instance, const char *interface,
                          uint32_t version, keel_service_t *out);
size_t kernel_instance_count(const kernel_t *k);
/* See host->readiness. */
int kernel_readiness(kernel_t *k, char *why, size_t why_len);
/* The host API's instance_info (see keel.h). */
int kernel_instance_info(kernel_t *k, size_t index, keel_instance_info_t *out);

#endif
