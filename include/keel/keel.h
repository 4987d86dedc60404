/*
 * keel.h — the keel plugin SDK. This header is the whole contract between
 * keel's kernel (`keeld`) and a plugin; read it once, top to bottom.
 *
 * It depends on the C standard library alone and may be included from C11
 * or C++. Plugins never link against kernel symbols: everything the kernel
 * offers arrives as the function table `keel_host_api_t` handed to init().
 *
 * ---------------------------------------------------------------------------
 * 1. The model
 * ---------------------------------------------------------------------------
 * A plugin is a shared object (`.so`) exporting one symbol,
 * `keel_plugin_entry`, that returns a `keel_plugin_descriptor_t`. Write it
 * with KEEL_PLUGIN_DECLARE() (section 5) and you cannot get the magic,
 * ABI version or struct size wrong.
 *
 * The config file names *instances*: one `.so` may run as several
 * instances, each with its own name, config and context pointer. Per
 * instance the kernel calls, in order:
 *
 *     init(self, host, &ctx)   main thread; read config, subscribe to
 *                              topics, provide services, allocate ctx.
 *     start(ctx)               main thread, after every instance's init;
 *                              begin producing work (listen, arm timers).
 *     ... handlers, timers, work items run on kernel threads ...
 *     stop(ctx)                main thread; stop producing new work.
 *     destroy(ctx)             main thread, after every stop() returned and
 *                              every in-flight delivery and work item ended.
 *
 * Instances are initialised and started in dependency order (an instance
 * whose config refers to another instance comes after it), then in config
 * order; stop and destroy run in the reverse order. A failing init() or
 * start() stops start-up: the kernel logs the instance name and the error,
 * stops and destroys what it had started, and keeld exits non-zero.
 *
 * Plugins talk to each other only through the kernel:
 *   - messages published on topics (section 3), delivered to every handler
 *     subscribed to that topic, each on a worker thread;
 *   - services (section 6.4): a named, versioned struct of function pointers
 *     one instance provides and others look up by instance name. This is how
 *     a backend is swapped by config: the consumer names an instance, never
 *     a module.
 *
 * Least privilege: an instance may publish only to topics and look up only
 * instances it was granted. Grants come from its config: every value of a
 * key declared KEEL_CFG_TOPIC is a topic it may publish to, every value of
 * a key declared KEEL_CFG_INSTANCE an instance it may use, plus the
 * explicit lists `allow: {publish: [...], services: [...]}` in the
 * instance's config entry. Anything else fails with KEEL_EPERM and a log
 * line naming the instance and what it asked for.
 *
 * ---------------------------------------------------------------------------
 * 2. Threads
 * ---------------------------------------------------------------------------
 *  - main thread: init, start, stop, destroy, health.
 *  - worker threads (a pool, `kernel.worker_threads`): message handlers and
 *    submitted work items. Handlers of one instance may run concurrently on
 *    several workers: protect shared state in ctx.
 *  - the timer thread: timer callbacks. Keep them short (submit() anything
 *    slow); they never run concurrently with each other.
 * Every host function says which threads may call it. "Any thread" includes
 * threads the plugin created itself; such threads must be joined in stop().
 * A handler must not block for long: it holds a worker.
 *
 * ---------------------------------------------------------------------------
 * 3. Ownership
 * ---------------------------------------------------------------------------
 *  - Pointers the host passes to a callback are borrowed: valid until that
 *    callback returns (for KEEL_ASYNC deliveries, until complete()).
 *  - Pointers a plugin passes to the host are borrowed for the duration of
 *    the call; the host copies what it keeps (publish copies the message).
 *    Exceptions are named: vtables and contexts given to service_provide()
 *    and the config key table must live until destroy().
 *  - Memory the host returns to the plugin for the plugin to free (e.g.
 *    metrics_render) is released with host->free().
 *  - Strings returned by config getters belong to the host and live until
 *    destroy().
 */
#ifndef KEEL_KEEL_H
#define KEEL_KEEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ===========================================================================
 * 4. Versions, results and errors
 * ======================================================================== */

/** Value of keel_plugin_descriptor_t.magic: the bytes "KEEL". */
#define KEEL_PLUGIN_MAGIC 0x4B45454CU

/**
 * ABI version this header describes. The kernel refuses a plugin whose major
 * differs or whose minor is newer than its own; an older minor loads, and
 * the kernel reads no descriptor field the plugin's minor did not have.
 *
 *  1.0  descriptor up to `destroy`; host API up to `strerror`.
 *  1.1  appended descriptor `health`; host API `metrics_render`.
 *  1.2  appended descriptor `step` (pipeline steps); host API `batch_*`
 *       and `readiness`.
 *  1.3  appended host API `batch_set_attr`; error KEEL_EAGAIN.
 *  1.4  appended host API `instance_info` and `version` (operators' tools).
 *  1.5  appended descriptor `drain` (refuse outside work once a stop begins).
 */
#define KEEL_ABI_MAJOR 1
#define KEEL_ABI_MINOR 5

/** Packs a service interface version: same major required, minor >= asked. */
#define KEEL_VERSION(major, minor) (((uint32_t)(major) << 16) | (uint32_t)(minor))
#define KEEL_VERSION_MAJOR(v)      ((uint32_t)(v) >> 16)
#define KEEL_VERSION_MINOR(v)      ((uint32_t)(v)&0xFFFFU)

/**
 * What a handler says about one message.
 *  KEEL_OK     done; the message may be forgotten.
 *  KEEL_RETRY  transient failure; try again later.
 *  KEEL_FAIL   permanent failure; do not retry (a queue dead-letters it).
 *  KEEL_ASYNC  (handlers only) the plugin keeps the delivery and will call
 *              host->complete() exactly once, from any thread.
 */
typedef enum keel_result {
    KEEL_OK = 0,
    KEEL_RETRY = 1,
    KEEL_FAIL = 2,
    KEEL_ASYNC = 3,
} keel_result_t;

/**
 * Error codes. Host functions return 0 on success or one of these
 * (negative). host->strerror() names them.
 */
enum keel_error {
    KEEL_EINVAL = -1,    /* an argument is invalid (NULL, empty, malformed) */
    KEEL_ENOMEM = -2,    /* out of memory */
    KEEL_ENOTFOUND = -3, /* no such key, topic route, instance or service */
    KEEL_EPERM = -4,     /* the instance was not granted this */
    KEEL_EEXIST = -5,    /* already exists (duplicate provide/subscribe) */
    KEEL_ESTATE = -6,    /* not allowed in this lifecycle phase */
    KEEL_EVERSION = -7,  /* incompatible interface version */
    KEEL_ETYPE = -8,     /* config value has another type */
    KEEL_ESHUTDOWN = -9, /* the kernel is shutting down */
    KEEL_EFULL = -10,    /* capacity reached; back off and retry */
    KEEL_EUNAVAIL = -11, /* a backend is unavailable; retry later */
    KEEL_ETIMEDOUT = -12,
    KEEL_ESTALE = -13,    /* a token or handle no longer matches */
    KEEL_EIO = -14,       /* input/output error */
    KEEL_EFAILED = -15,   /* the plugin reported a failure (see its log) */
    KEEL_ECONFLICT = -16, /* exists with other content (store put: HTTP 409) */
    KEEL_EAGAIN = -17     /* (1.3) cannot answer without waiting: use the async call */
};

/** Log levels, most severe first. */
typedef enum keel_log_level {
    KEEL_LOG_ERROR = 0,
    KEEL_LOG_WARN = 1,
    KEEL_LOG_INFO = 2,
    KEEL_LOG_DEBUG = 3,
} keel_log_level_t;

/* ===========================================================================
 * 5. Messages
 * ======================================================================== */

/** One message attribute: a string pair (like SQS message attributes). */
typedef struct keel_attr {
    const char *key;
    const char *value;
} keel_attr_t;

/**
 * A message. The body is opaque bytes: the kernel never decodes it (keel's
 * own plugins use msgpack on the bus; orders travel through the queue as
 * their canonical JSON, see validate.h). Topics are exact-match names such
 * as "orders.accepted".
 *
 * When publishing, `id` may be NULL: the kernel assigns a sortable unique
 * id (26 characters, see new_id()). Everything is copied by publish().
 * In a handler, every pointer is borrowed (section 3).
 */
typedef struct keel_msg {
    const char *id;
    const char *topic;
    const keel_attr_t *attrs;
    size_t attr_count;
    const void *body;
    size_t body_len;
} keel_msg_t;

/** Length of an id from new_id(), without its NUL. */
#define KEEL_ID_LEN 26

/** Opaque handle of one message delivered to one handler. */
typedef struct keel_delivery keel_delivery_t;

/**
 * Message handler, registered with subscribe(). Runs on a worker thread.
 * `arg` is what was given to subscribe(). Return OK, RETRY or FAIL, or
 * ASYNC to finish later with complete(); anything else counts as FAIL.
 * A reason for RETRY/FAIL can be attached with delivery_error().
 */
typedef keel_result_t (*keel_handler_fn)(void *arg, const keel_msg_t *msg,
                                         keel_delivery_t *delivery);

/**
 * Called once every handler of a published message has finished, on the
 * worker thread that finished last (or on the publishing thread if the
 * topic had no subscriber; then result is KEEL_FAIL and error says so).
 * `result` is the worst of the handlers' results (FAIL > RETRY > OK);
 * `error` is the reason attached with it, or NULL. Borrowed.
 */
typedef void (*keel_publish_done_fn)(void *arg, keel_result_t result, const char *error);

/* ===========================================================================
 * 6. Config keys
 * ======================================================================== */

/**
 * Types of config values. The kernel checks every value against its
 * declared type before init(), with `file:line:column` in the error.
 *  STRING       a scalar.
 *  INT          a 64-bit integer.
 *  DOUBLE       a number.
 *  BOOL         true/false.
 *  DURATION     "250ms", "60s", "5m", "2h", "4d" or a bare integer of
 *               milliseconds; read with config_int() as milliseconds.
 *  SIZE         "512", "64KiB", "256KiB", "1MiB", "2GiB" (also KB/MB/GB
 *               as powers of 1000); read with config_int() as bytes.
 *  STRING_LIST  a sequence of scalars; read with config_count() and
 *               "key[i]" paths.
 *  INSTANCE     the name of another instance in the same config; must
 *               exist, grants service lookups on it, and orders start-up.
 *  TOPIC        a topic name; grants publishing to it.
 *  SECTION      a mapping whose keys are declared by `fields`.
 *  SECTION_LIST a sequence of such mappings.
 */
typedef enum keel_config_type {
    KEEL_CFG_STRING = 1,
    KEEL_CFG_INT,
    KEEL_CFG_DOUBLE,
    KEEL_CFG_BOOL,
    KEEL_CFG_DURATION,
    KEEL_CFG_SIZE,
    KEEL_CFG_STRING_LIST,
    KEEL_CFG_INSTANCE,
    KEEL_CFG_TOPIC,
    KEEL_CFG_SECTION,
    KEEL_CFG_SECTION_LIST,
} keel_config_type_t;

/** Flags of a config key. */
#define KEEL_CFG_REQUIRED 0x1U /* no default; the config must set it */

/**
 * One declared config key. A table of them ends with an entry whose name is
 * NULL. `default_value` is written as it would be in YAML ("60s", "true",
 * "5") and used when the key is absent; NULL means no default. For SECTION
 * and SECTION_LIST, `fields` is the nested table. The table must live as
 * long as the plugin is loaded (a static array).
 */
typedef struct keel_config_key {
    const char *name;
    keel_config_type_t type;
    const char *default_value;
    const char *description;
    unsigned flags;
    const struct keel_config_key *fields;
} keel_config_key_t;

/* ===========================================================================
 * 7. The plugin descriptor
 * ======================================================================== */

typedef struct keel_plugin keel_plugin_t; /* one instance, owned by the host */
typedef struct keel_host_api keel_host_api_t;

/**
 * A batch of queue messages handed to a pipeline step (see `step` below
 * and the batch_* host functions). Owned by the host.
 */
typedef struct keel_batch keel_batch_t;

/**
 * What a plugin exports. Fill it with KEEL_PLUGIN_DECLARE(); the first four
 * fields are set by the macro. Fields may only ever be appended.
 */
typedef struct keel_plugin_descriptor {
    uint32_t magic;       /* KEEL_PLUGIN_MAGIC */
    uint16_t abi_major;   /* KEEL_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;   /* KEEL_ABI_MINOR the plugin was built with */
    uint32_t struct_size; /* sizeof(keel_plugin_descriptor_t) at build */

    const char *name;                     /* module name, e.g. "queue_lmdb" (required) */
    const char *version;                  /* the plugin's own version, e.g. "1.2.0" */
    const char *description;              /* one line, shown by --describe-plugin */
    const keel_config_key_t *config_keys; /* NULL-name terminated; may be NULL */

    /**
     * Required. Main thread. Read config, subscribe, provide services and
     * allocate the instance context, stored in *ctx (may stay NULL).
     * `self` and `host` stay valid until destroy() returns. Return 0, or a
     * negative KEEL_E* code after logging why with host->log().
     */
    int (*init)(keel_plugin_t *self, const keel_host_api_t *host, void **ctx);

    /** Optional. Main thread, after all inits. Return 0 or KEEL_E*. */
    int (*start)(void *ctx);

    /**
     * Optional. Main thread. Stop producing work: close listeners, join
     * threads you created. The kernel cancels your timers itself.
     * Handlers and work items may still run after stop() returns until
     * every in-flight delivery is finished; destroy() comes after.
     */
    void (*stop)(void *ctx);

    /** Required. Main thread. Free ctx. Nothing of yours runs any more. */
    void (*destroy)(void *ctx);

    /* ---- appended in ABI 1.1 ---- */

    /**
     * Optional. Readiness probe (e.g. "backend reachable"). Main or worker
     * thread, concurrently with handlers. Return 0 when ready, else a
     * KEEL_E* code, writing a short reason into why[why_len].
     */
    int (*health)(void *ctx, char *why, size_t why_len);

    /* ---- appended in ABI 1.2 ---- */

    /**
     * Optional: makes the plugin usable as a step of a pipeline (config
     * `pipelines:`), which feeds it batches of messages received from a
     * queue, like a Lambda function behind SQS. Worker thread; batches of
     * one instance may run concurrently.
     *
     * Read the messages with host->batch_count() and batch_message(), and
     * give every message a result with batch_result(): KEEL_OK passes it to
     * the next step (after the last step, it is deleted from the queue),
     * KEEL_RETRY returns it to the queue for a later attempt, KEEL_FAIL
     * moves it to the dead-letter queue now. Then return KEEL_OK; or return
     * KEEL_ASYNC and call host->batch_complete() later, from any thread.
     *
     * The whole batch fails, and nothing of it is deleted, when the step
     * returns anything else, leaves a message without a result, or does
     * not finish within the pipeline's timeout.
     */
    int (*step)(void *ctx, keel_batch_t *batch);

    /* ---- appended in ABI 1.5 ---- */

    /**
     * Optional. Main thread, once, when a stop begins (SIGTERM): before the
     * pipelines finish their batches and before any stop(). From now on
     * refuse new work from outside (an ingress answers 503 "shutting
     * down"), but keep serving what other instances ask and the requests
     * already in flight: stop() follows once the pipelines are done. Must
     * not block.
     */
    void (*drain)(void *ctx);
} keel_plugin_descriptor_t;

#if defined(_WIN32)
#define KEEL_EXPORT __declspec(dllexport)
#elif defined(__GNUC__)
#define KEEL_EXPORT __attribute__((visibility("default")))
#else
#define KEEL_EXPORT
#endif

/** Name of the one symbol a plugin exports. */
#define KEEL_PLUGIN_ENTRY_SYMBOL "keel_plugin_entry"

/** Type of the entry symbol. */
typedef const keel_plugin_descriptor_t *(*keel_plugin_entry_fn)(void);

/**
 * Declares the plugin. Use once per .so, at file scope, with designated
 * initialisers for the other fields (C99 and later; from C++ this needs
 * C++20, and -Wextra there asks for every field: list them all, or fill a
 * descriptor by hand as KEEL_PLUGIN_DECLARE does):
 *
 *     KEEL_PLUGIN_DECLARE(.name = "echo", .version = "1.0.0",
 *                         .description = "answers every message",
 *                         .config_keys = echo_keys,
 *                         .init = echo_init, .destroy = echo_destroy);
 */
#ifdef __cplusplus
#define KEEL_PLUGIN_EXTERN_C extern "C"
#else
#define KEEL_PLUGIN_EXTERN_C
#endif
/* The trailing forward declaration takes the user's semicolon, so that
 * `KEEL_PLUGIN_DECLARE(...);` is valid even under -pedantic. */
#define KEEL_PLUGIN_DECLARE(...)                                                                   \
    KEEL_PLUGIN_EXTERN_C KEEL_EXPORT const keel_plugin_descriptor_t *keel_plugin_entry(void);      \
    KEEL_PLUGIN_EXTERN_C KEEL_EXPORT const keel_plugin_descriptor_t *keel_plugin_entry(void)       \
    {                                                                                              \
        static const keel_plugin_descriptor_t descriptor = {                                       \
            .magic = KEEL_PLUGIN_MAGIC,                                                            \
            .abi_major = KEEL_ABI_MAJOR,                                                           \
            .abi_minor = KEEL_ABI_MINOR,                                                           \
            .struct_size = (uint32_t)sizeof(keel_plugin_descriptor_t),                             \
            __VA_ARGS__};                                                                          \
        return &descriptor;                                                                        \
    }                                                                                              \
    struct keel_plugin_declare_needs_a_semicolon

/* ===========================================================================
 * 8. The host API
 * ======================================================================== */

/** A service found by service_lookup(). Borrowed; valid until destroy(). */
typedef struct keel_service {
    const void *vtable; /* the provider's struct of function pointers */
    void *ctx;          /* the provider's context: pass it to each function */
    uint32_t version;   /* KEEL_VERSION(major, minor) the provider offers */
} keel_service_t;

typedef struct keel_timer keel_timer_t;   /* opaque; owned by the host */
typedef struct keel_metric keel_metric_t; /* opaque; owned by the host */

/** Timer callback. Runs on the timer thread. */
typedef void (*keel_timer_fn)(void *arg);

/** Work item. Runs once on a worker thread. */
typedef void (*keel_work_fn)(void *arg);

#if defined(__GNUC__)
#define KEEL_PRINTF(fmt_index, args_index) __attribute__((format(printf, fmt_index, args_index)))
#else
#define KEEL_PRINTF(fmt_index, args_index)
#endif

/**
 * True when `table` (a pointer to a struct whose first member is its
 * uint32_t size, such as keel_host_api_t or a service vtable) is large
 * enough to hold `field` and the field is set. Use it for functions newer
 * than the minor you require.
 */
#define KEEL_HAS(table, type, field)                                                               \
    ((table)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field) &&                 \
     (table)->field != NULL)

/** One instance of the running configuration, as instance_info() tells it. */
typedef struct keel_instance_info {
    const char *name;    /* the instance name from the config */
    const char *module;  /* the plugin's descriptor name */
    const char *version; /* the plugin's own version; "" when it declares none */
    bool started;        /* start() returned 0 and stop() has not run */
    bool has_health;     /* the plugin has a `health` callback */
    int health;          /* 0, or what `health` answered (0 without one) */
    char why[256];       /* the health callback's reason when health != 0 */
} keel_instance_info_t;

struct keel_host_api {
    uint32_t struct_size; /* sizeof(keel_host_api_t) in the host */
    uint16_t abi_major;   /* the host's KEEL_ABI_MAJOR */
    uint16_t abi_minor;   /* the host's KEEL_ABI_MINOR */

    /* ---- 8.1 Config (any thread). Paths: "key", "section.key",
     * "list[2]", "list[2].key". Absent keys read their declared default.
     * Errors: KEEL_ENOTFOUND (undeclared or absent without default),
     * KEEL_ETYPE (declared with another type), KEEL_EINVAL (bad path). */

    /** STRING, TOPIC, INSTANCE or list element. *out lives until destroy(). */
    int (*config_string)(keel_plugin_t *self, const char *path, const char **out);
    /** INT, DURATION (ms) or SIZE (bytes). */
    int (*config_int)(keel_plugin_t *self, const char *path, int64_t *out);
    /** DOUBLE (an INT reads as DOUBLE too). */
    int (*config_double)(keel_plugin_t *self, const char *path, double *out);
    /** BOOL. */
    int (*config_bool)(keel_plugin_t *self, const char *path, bool *out);
    /** Element count of a STRING_LIST or SECTION_LIST (0 when absent). */
    int (*config_count)(keel_plugin_t *self, const char *path, size_t *out);
    /** True when the config sets `path` explicitly (not a default). */
    bool (*config_is_set)(keel_plugin_t *self, const char *path);

    /** This instance's name from the config. Any thread. */
    const char *(*instance_name)(keel_plugin_t *self);
    /** The kernel's data directory (kernel.data_dir), created at start-up.
     * Any thread. Keep your files under "<data_dir>/<instance name>". */
    const char *(*data_dir)(keel_plugin_t *self);

    /* ---- 8.2 Logging (any thread). One line per call; the kernel adds
     * time, level and instance name and writes text or JSON per config. */
    void (*log)(keel_plugin_t *self, keel_log_level_t level, const char *fmt, ...)
        KEEL_PRINTF(3, 4);
    /** True when `level` would be written; skip expensive formatting. */
    bool (*log_enabled)(keel_plugin_t *self, keel_log_level_t level);

    /* ---- 8.3 Memory (any thread). The host allocator; use it for anything
     * the host frees or returns. Never returns NULL for size 0 requests. */
    void *(*alloc)(size_t size);
    void *(*calloc)(size_t count, size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);

    /* ---- 8.4 Messages */

    /**
     * Subscribes `fn(arg, ...)` to an exact topic. init() only.
     * Errors: KEEL_EINVAL, KEEL_ESTATE (after init), KEEL_EEXIST (this
     * instance already subscribed this fn to the topic), KEEL_ENOMEM.
     */
    int (*subscribe)(keel_plugin_t *self, const char *topic, keel_handler_fn fn, void *arg);

    /**
     * Publishes a copy of `msg` to every handler subscribed to msg->topic.
     * Returns at once; handlers run on worker threads. When `done` is not
     * NULL, done(done_arg, result, error) is called once (see
     * keel_publish_done_fn); it is not called when publish() fails.
     * Any thread, from start() on; in destroy() it fails (KEEL_ESHUTDOWN).
     * Errors: KEEL_EINVAL, KEEL_EPERM (topic not granted), KEEL_ENOTFOUND
     * (no subscriber and done == NULL: the message would be lost),
     * KEEL_ESHUTDOWN, KEEL_ENOMEM.
     */
    int (*publish)(keel_plugin_t *self, const keel_msg_t *msg, keel_publish_done_fn done,
                   void *done_arg);

    /**
     * Finishes a delivery whose handler returned KEEL_ASYNC, with OK, RETRY
     * or FAIL. Any thread; exactly once; `delivery` is invalid afterwards.
     * Errors: KEEL_EINVAL (NULL or result out of range: counted as FAIL).
     */
    int (*complete)(keel_delivery_t *delivery, keel_result_t result);

    /**
     * Attaches a reason to a delivery's RETRY/FAIL (copied; the last call
     * wins). From the handler, or before complete() for ASYNC.
     */
    void (*delivery_error)(keel_delivery_t *delivery, const char *reason);

    /** Writes a new sortable unique id (KEEL_ID_LEN chars + NUL) to out.
     * Any thread. Ids sort by creation time (to within a few
     * milliseconds; strictly, for ids made by one thread). */
    void (*new_id)(char out[KEEL_ID_LEN + 1]);

    /* ---- 8.5 Services */

    /**
     * Offers `vtable` (a struct of function pointers whose first member is
     * `uint32_t struct_size`) under `interface` ("queue", "store", ...) at
     * `version` (KEEL_VERSION). Other instances call its functions with
     * `svc_ctx`. Both pointers must live until destroy(). init() only.
     * Errors: KEEL_EINVAL, KEEL_ESTATE, KEEL_EEXIST, KEEL_ENOMEM.
     */
    int (*service_provide)(keel_plugin_t *self, const char *interface, uint32_t version,
                           const void *vtable, void *svc_ctx);

    /**
     * Finds the `interface` provided by instance `instance`, requiring the
     * same major as `version` and at least its minor. Main thread from
     * init() on (in init(), only instances this one depends on are ready);
     * any thread after start.
     * Errors: KEEL_EINVAL, KEEL_EPERM (instance not granted),
     * KEEL_ENOTFOUND (no such instance or it does not provide it),
     * KEEL_EVERSION.
     */
    int (*service_lookup)(keel_plugin_t *self, const char *instance, const char *interface,
                          uint32_t version, keel_service_t *out);

    /* ---- 8.6 Timers and work */

    /**
     * Calls fn(arg) on the timer thread after `delay_ms`, then every
     * `interval_ms` if it is not 0. Any thread, from start() on. The timer
     * is owned by the host; *out (may be NULL) lets you cancel it. After
     * your stop() the kernel cancels your timers; handles stay valid (a
     * cancel is then a no-op) until destroy() returns.
     * Errors: KEEL_EINVAL (also: delays over 100 years), KEEL_ESTATE (before
     * start()), KEEL_ESHUTDOWN (after stop()), KEEL_ENOMEM.
     */
    int (*timer_add)(keel_plugin_t *self, uint64_t delay_ms, uint64_t interval_ms, keel_timer_fn fn,
                     void *arg, keel_timer_t **out);

    /** Cancels a timer; once this returns, its callback is not running and
     * will not run. Any thread except from that timer's own callback, where
     * it only prevents later runs. NULL is ignored. */
    void (*timer_cancel)(keel_timer_t *timer);

    /**
     * Runs fn(arg) once on a worker thread. Any thread, from init() until
     * destroy(). Errors: KEEL_EINVAL, KEEL_ESHUTDOWN (after the pool
     * drained), KEEL_ENOMEM.
     */
    int (*submit)(keel_plugin_t *self, keel_work_fn fn, void *arg);

    /** Wall-clock milliseconds since the Unix epoch. Tests may inject a
     * clock into the kernel; use this, not time(), for anything a test
     * must control. Any thread. */
    uint64_t (*now_ms)(keel_plugin_t *self);

    /* ---- 8.7 Metrics (register from init(); update from any thread).
     * Names follow Prometheus: "keel_<what>_<unit>" (counters end in
     * "_total"). `labels` is NULL or a Prometheus label list without
     * braces, e.g. "queue=\"orders\""; the kernel adds instance="<name>".
     * The same name+labels returns the same metric.
     * Errors: KEEL_EINVAL (bad name or labels, or the name exists with
     * another type), KEEL_ENOMEM. */
    int (*metric_counter)(keel_plugin_t *self, const char *name, const char *help,
                          const char *labels, keel_metric_t **out);
    int (*metric_gauge)(keel_plugin_t *self, const char *name, const char *help, const char *labels,
                        keel_metric_t **out);
    /** `bounds` are the upper bounds of the buckets, ascending, copied. */
    int (*metric_histogram)(keel_plugin_t *self, const char *name, const char *help,
                            const char *labels, const double *bounds, size_t bound_count,
                            keel_metric_t **out);
    /** Adds to a counter (value >= 0) or a gauge. */
    void (*metric_add)(keel_metric_t *metric, double value);
    /** Sets a gauge. */
    void (*metric_set)(keel_metric_t *metric, double value);
    /** Records one observation in a histogram. */
    void (*metric_observe)(keel_metric_t *metric, double value);

    /** Name of a KEEL_E* code ("KEEL_EPERM: not permitted"). Any thread. */
    const char *(*strerror)(int err);

    /* ---- appended in ABI 1.1 ---- */

    /**
     * Renders every registered metric in the Prometheus text format into
     * a NUL-terminated buffer allocated with host->alloc; the caller frees
     * it with host->free. Any thread. Errors: KEEL_ENOMEM.
     */
    int (*metrics_render)(keel_plugin_t *self, char **out, size_t *len);

    /* ---- appended in ABI 1.2: pipeline batches (see descriptor `step`).
     * Callable by the step that received the batch, from any thread, until
     * the step returned (or, for KEEL_ASYNC, until batch_complete()). */

    /** Number of messages in the batch. */
    size_t (*batch_count)(const keel_batch_t *batch);

    /**
     * The index-th message: id is the queue message id, topic the pipeline
     * name, attrs and body as sent (or as replaced by an earlier step with
     * batch_set_body). Borrowed. NULL when index is out of range.
     */
    const keel_msg_t *(*batch_message)(const keel_batch_t *batch, size_t index);

    /** How many times the queue has delivered this message (1 = first). */
    uint32_t (*batch_receive_count)(const keel_batch_t *batch, size_t index);

    /**
     * Sets the result of the index-th message (the last call wins), with a
     * reason for RETRY/FAIL (copied; may be NULL). Errors: KEEL_EINVAL.
     */
    int (*batch_result)(keel_batch_t *batch, size_t index, keel_result_t result,
                        const char *reason);

    /**
     * Replaces the body the next steps see for the index-th message
     * (copied). The queued message itself is not changed: a retry starts
     * from the original. Errors: KEEL_EINVAL, KEEL_ENOMEM.
     */
    int (*batch_set_body)(keel_batch_t *batch, size_t index, const void *body, size_t len);

    /**
     * Finishes a batch whose step returned KEEL_ASYNC. Exactly once; the
     * batch is invalid afterwards. Errors: KEEL_EINVAL.
     */
    int (*batch_complete)(keel_batch_t *batch);

    /**
     * Readiness of the whole process, for probes such as /readyz: 0 when
     * the kernel runs and every started instance's `health` callback (if
     * any) answers 0. Otherwise a KEEL_E* code (KEEL_ESTATE while starting
     * or stopping) with "<instance>: <reason>" written to why[why_len].
     * Calls other instances' health callbacks: any thread but the main
     * one, and not from inside a health callback.
     */
    int (*readiness)(keel_plugin_t *self, char *why, size_t why_len);

    /* ---- appended in ABI 1.3 ---- */

    /**
     * Sets the attribute `key` of the index-th message to `value` (both
     * copied) for the next steps, replacing an attribute of that key: how a
     * step hands a result on (the confirm step passes the confirmation
     * number this way). Like batch_set_body, the queued message is not
     * changed, and what batch_message() returned for that message before
     * is invalid afterwards. Callable while the step runs (not after it returned or
     * completed). Errors: KEEL_EINVAL, KEEL_ESTATE, KEEL_ENOMEM.
     */
    int (*batch_set_attr)(keel_batch_t *batch, size_t index, const char *key, const char *value);

    /* ---- appended in ABI 1.4 ---- */

    /**
     * Describes the index-th instance of the configuration (config order),
     * for operators' tools (the admin API's plugin list). Strings are
     * borrowed from the kernel and live until destroy(). Calls the
     * instance's health callback when it is started: same thread rules as
     * readiness(). 0; KEEL_ENOTFOUND past the last instance; KEEL_EINVAL.
     */
    int (*instance_info)(keel_plugin_t *self, size_t index, keel_instance_info_t *out);

    /** keeld's own version ("0.1.0"). Any thread; static storage. */
    const char *(*version)(void);
};

#ifdef __cplusplus
}
#endif

#endif /* KEEL_KEEL_H */
