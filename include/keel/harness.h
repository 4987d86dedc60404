/*
 * harness.h — run plugins in-process, without keeld, to unit-test them.
 *
 * The harness is the real kernel (config validation, loader, worker pool,
 * timers, grants) driven from a test: load your .so as one or more
 * instances, start them, publish messages to them, capture what they
 * publish, and look up the services they provide.
 *
 * Link with the `keel-harness` library: CMake `Keel::harness`, or
 * `pkg-config --cflags --libs keel-harness`. Depends on the C standard
 * library and keel.h alone.
 *
 * Threads: call every function from the test's thread (the one that called
 * keel_harness_new()); handlers still run on the kernel's worker threads.
 *
 *     keel_harness_t *h = keel_harness_new(NULL);
 *     keel_harness_add(h, "echo", "./echo.so", "reply_to: echoed\n");
 *     keel_harness_capture(h, "echoed");
 *     keel_harness_start(h);
 *     keel_harness_publish(h, "ping", body, len, &result, NULL, 0);
 *     keel_harness_wait(h, "echoed", 1, 5000);
 *     const keel_msg_t *m = keel_harness_captured(h, "echoed", 0);
 *     keel_harness_free(h);
 */
#ifndef KEEL_HARNESS_H
#define KEEL_HARNESS_H

#include <keel/keel.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct keel_harness keel_harness_t;

/**
 * Creates a harness. `data_dir` is the kernel data directory the plugins
 * see; NULL makes a fresh temporary directory that keel_harness_free()
 * removes. Returns NULL when out of memory or the directory can't be made.
 */
keel_harness_t *keel_harness_new(const char *data_dir);

/**
 * Adds an instance named `instance` of the plugin at `module_path` (a .so
 * file path), configured by `config_yaml` (the YAML of its `config:`
 * mapping; NULL for none). Before keel_harness_start() only.
 * Errors: KEEL_EINVAL, KEEL_ESTATE (already started), KEEL_ENOMEM.
 */
int keel_harness_add(keel_harness_t *h, const char *instance, const char *module_path,
                     const char *config_yaml);

/**
 * Adds a pipeline named `name` (see keeld's `pipelines:` config), its keys
 * given as YAML: "queue: q\nsteps: [a, b]\nbatch_size: 5\n". Before
 * keel_harness_start() only. Errors: KEEL_EINVAL, KEEL_ESTATE, KEEL_ENOMEM.
 */
int keel_harness_add_pipeline(keel_harness_t *h, const char *name, const char *pipeline_yaml);

/**
 * Captures every message published to `topic`: the harness subscribes to
 * it and answers `result` (KEEL_OK, KEEL_RETRY or KEEL_FAIL). Before
 * keel_harness_start() only. Errors: KEEL_EINVAL, KEEL_ESTATE, KEEL_ENOMEM.
 */
int keel_harness_capture(keel_harness_t *h, const char *topic, keel_result_t result);

/**
 * Validates the config exactly as keeld would, loads the plugins, then
 * inits and starts every instance. Errors are printed to stderr with
 * their location. Returns 0, or KEEL_EINVAL (bad config), KEEL_EFAILED
 * (a plugin failed to load, init or start), KEEL_ESTATE.
 */
int keel_harness_start(keel_harness_t *h);

/**
 * Publishes a message with `body` (msgpack, copied) to `topic` and waits
 * until every subscribed handler has finished. *result (may be NULL)
 * receives the worst result; `error` (may be NULL) receives the attached
 * reason, truncated to error_len. Returns 0, KEEL_ENOTFOUND (no
 * subscriber), KEEL_ESTATE (not started), KEEL_ETIMEDOUT (handlers did
 * not finish within 30 s) or KEEL_ENOMEM.
 */
int keel_harness_publish(keel_harness_t *h, const char *topic, const void *body, size_t body_len,
                         keel_result_t *result, char *error, size_t error_len);

/**
 * Waits until at least `count` messages were captured on `topic` or
 * `timeout_ms` passed. Returns how many were captured.
 */
size_t keel_harness_wait(keel_harness_t *h, const char *topic, size_t count, uint64_t timeout_ms);

/**
 * The index-th message captured on `topic`, or NULL. Borrowed: valid until
 * keel_harness_free().
 */
const keel_msg_t *keel_harness_captured(keel_harness_t *h, const char *topic, size_t index);

/**
 * Looks up a service provided by an instance. After keel_harness_start().
 * Errors as host->service_lookup(), plus KEEL_ESTATE.
 */
int keel_harness_service(keel_harness_t *h, const char *instance, const char *interface,
                         uint32_t version, keel_service_t *out);

/**
 * Readiness as host->readiness() reports it: 0 when every started
 * instance's health callback answers 0, else the first failure, with
 * "<instance>: <reason>" in why (may be NULL).
 */
int keel_harness_ready(keel_harness_t *h, char *why, size_t why_len);

/**
 * Sets the clock plugins see through host->now_ms() (milliseconds since
 * the epoch). Until the first call, the real clock is used.
 */
void keel_harness_set_time(keel_harness_t *h, uint64_t now_ms);

/** Stops and destroys every instance, then frees the harness. NULL ok. */
void keel_harness_free(keel_harness_t *h);

#ifdef __cplusplus
}
#endif

#endif /* KEEL_HARNESS_H */
