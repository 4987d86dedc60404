/*
 * tagger.c — a complete keel plugin, written to be copied.
 *
 * It subscribes to one topic (`input`), and republishes every message it
 * receives to another topic (`output`) with one extra attribute,
 * `tagged_by=<tag>`. The body and the other attributes are passed on
 * unchanged. It shows every part a real plugin has:
 *
 *   - a declared config table: keeld validates the instance's config
 *     against it before init() runs, and `keeld --describe-plugin` prints it;
 *   - init() reading config, subscribing, registering a metric;
 *   - a message handler that answers OK, RETRY or FAIL per message;
 *   - logging and a Prometheus counter;
 *   - destroy() freeing the instance context.
 *
 * It depends on <keel/keel.h> alone and links against nothing: every kernel
 * service arrives through the `host` table handed to init(). One .so can
 * run as several instances (several `plugins:` entries naming it), so all
 * state lives in the per-instance context, never in globals.
 *
 * Example instance (see README.md):
 *
 *     plugins:
 *       - name: tagger
 *         module: /path/to/tagger.so
 *         config:
 *           input: in
 *           output: out
 *           tag: my-service
 */
#include <keel/keel.h>

#include <string.h>

#define TAG_ATTRIBUTE "tagged_by"

/* The config keys this plugin accepts. keeld rejects any other key, a value
 * of the wrong type, and a config missing a REQUIRED key, with the file,
 * line and column, before init() is called: init() never sees a bad config.
 *
 * Declaring `input` and `output` as KEEL_CFG_TOPIC matters: a TOPIC value
 * grants this instance the right to publish to it. Without that grant,
 * host->publish() to `output` would fail with KEEL_EPERM. */
static const keel_config_key_t tagger_keys[] = {
    {.name = "input",
     .type = KEEL_CFG_TOPIC,
     .description = "topic to read messages from",
     .flags = KEEL_CFG_REQUIRED},
    {.name = "output",
     .type = KEEL_CFG_TOPIC,
     .description = "topic to republish tagged messages to",
     .flags = KEEL_CFG_REQUIRED},
    {.name = "tag",
     .type = KEEL_CFG_STRING,
     .default_value = "template",
     .description = "value of the '" TAG_ATTRIBUTE "' attribute added to each message"},
    {.name = NULL},
};

/* One instance's state. Written only in init(), read-only afterwards, so
 * the handlers, which may run concurrently on several worker threads, can
 * share it without a lock. */
struct tagger {
    keel_plugin_t *self;
    const keel_host_api_t *host;
    const char *output; /* owned by the host, valid until destroy() */
    const char *tag;    /* owned by the host, valid until destroy() */
    keel_metric_t *messages_total;
};

/*
 * The message handler. Runs on a kernel worker thread, possibly on several
 * at once for one instance (keel delivers in parallel), so it touches only
 * read-only state and thread-safe host functions. It must not block for
 * long: it holds a worker while it runs.
 *
 * `msg` and everything it points to are borrowed: valid until this function
 * returns. publish() copies what it sends, so building the outgoing message
 * from pointers into `msg` is fine.
 */
static keel_result_t tagger_handle(void *arg, const keel_msg_t *msg, keel_delivery_t *delivery)
{
    struct tagger *tagger = arg;
    const keel_host_api_t *host = tagger->host;

    /* A message that can never succeed is a permanent failure: FAIL, with
     * a reason. A queue upstream moves it to its dead-letter queue at once
     * instead of redelivering it. */
    if (msg->body_len == 0) {
        host->delivery_error(delivery, "empty body: nothing to tag");
        host->log(tagger->self, KEEL_LOG_WARN, "message %s on %s has an empty body; failing it",
                  msg->id ? msg->id : "(no id)", msg->topic);
        return KEEL_FAIL;
    }

    /* The incoming attributes plus ours. Memory from the host allocator;
     * freed before returning since publish() copies it. */
    keel_attr_t *attrs = host->calloc(msg->attr_count + 1, sizeof(*attrs));
    if (attrs == NULL) {
        host->delivery_error(delivery, "out of memory");
        return KEEL_RETRY;
    }
    size_t count = 0;
    for (size_t i = 0; i < msg->attr_count; i++) {
        /* Replace an earlier tag rather than carry two with one key. */
        if (strcmp(msg->attrs[i].key, TAG_ATTRIBUTE) != 0) {
            attrs[count++] = msg->attrs[i];
        }
    }
    attrs[count++] = (keel_attr_t){.key = TAG_ATTRIBUTE, .value = tagger->tag};

    const keel_msg_t out = {
        .id = NULL, /* the kernel assigns a fresh id */
        .topic = tagger->output,
        .attrs = attrs,
        .attr_count = count,
        .body = msg->body,
        .body_len = msg->body_len,
    };
    /* No completion callback: we only need to know the kernel accepted the
     * message. Without one, publishing to a topic nobody subscribes to fails
     * with KEEL_ENOTFOUND instead of dropping the message silently. */
    int err = host->publish(tagger->self, &out, NULL, NULL);
    host->free(attrs);

    if (err != 0) {
        /* Probably transient (no subscriber yet, shutting down, memory):
         * RETRY lets a queue upstream deliver the message again later. */
        host->delivery_error(delivery, host->strerror(err));
        host->log(tagger->self, KEEL_LOG_WARN, "publishing to %s failed: %s; will retry",
                  tagger->output, host->strerror(err));
        return KEEL_RETRY;
    }

    /* log_enabled() avoids formatting a line per message that nobody reads. */
    if (host->log_enabled(tagger->self, KEEL_LOG_DEBUG)) {
        host->log(tagger->self, KEEL_LOG_DEBUG, "tagged message %s from %s to %s",
                  msg->id ? msg->id : "(no id)", msg->topic, tagger->output);
    }
    host->metric_add(tagger->messages_total, 1); /* thread-safe */
    return KEEL_OK;
}

/*
 * Runs on the main thread, once per instance, before any message flows.
 * Everything that can fail at start-up belongs here, so that a bad
 * deployment stops keeld at once instead of failing message by message.
 * On error: log why, free what was taken, return a KEEL_E* code (keeld then
 * exits non-zero, naming this instance).
 */
static int tagger_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    struct tagger *tagger = host->calloc(1, sizeof(*tagger));
    if (tagger == NULL) {
        return KEEL_ENOMEM;
    }
    tagger->self = self;
    tagger->host = host;

    /* The kernel validated the config against tagger_keys: the required
     * keys are there and `tag` falls back to its default. Errors here would
     * mean the key table and this code disagree. */
    const char *input = NULL;
    int err = host->config_string(self, "input", &input);
    if (err == 0) {
        err = host->config_string(self, "output", &tagger->output);
    }
    if (err == 0) {
        err = host->config_string(self, "tag", &tagger->tag);
    }
    if (err != 0) {
        host->log(self, KEEL_LOG_ERROR, "reading config: %s", host->strerror(err));
        goto fail;
    }

    err = host->metric_counter(self, "keel_template_messages_total",
                               "Messages tagged and republished.", NULL, &tagger->messages_total);
    if (err != 0) {
        host->log(self, KEEL_LOG_ERROR, "registering metric: %s", host->strerror(err));
        goto fail;
    }

    /* Subscriptions are only allowed during init(). */
    err = host->subscribe(self, input, tagger_handle, tagger);
    if (err != 0) {
        host->log(self, KEEL_LOG_ERROR, "subscribing to %s: %s", input, host->strerror(err));
        goto fail;
    }

    host->log(self, KEEL_LOG_INFO, "tagging messages from %s to %s with %s=%s", input,
              tagger->output, TAG_ATTRIBUTE, tagger->tag);
    *ctx = tagger;
    return 0;

fail:
    host->free(tagger);
    return err;
}

/* Runs on the main thread after stop() and after every delivery to this
 * instance has finished: no handler can be using the context any more. */
static void tagger_destroy(void *ctx)
{
    struct tagger *tagger = ctx;
    tagger->host->free(tagger);
}

/* The one exported symbol. start() and stop() are optional and not needed:
 * this plugin produces work only in reaction to messages. */
KEEL_PLUGIN_DECLARE(.name = "tagger", .version = "0.1.0",
                    .description = "republishes messages with a tagged_by attribute",
                    .config_keys = tagger_keys, .init = tagger_init, .destroy = tagger_destroy);
