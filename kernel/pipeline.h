/*
 * pipeline.h — the pipeline runner: for each configured pipeline, keeps
 * `concurrency` batches in flight, each received from a queue service and
 * passed through the step instances in order, then settled per message
 * (OK deletes, RETRY returns to the queue, FAIL dead-letters). A step that
 * errs, times out or leaves a message without a result fails the whole
 * batch: every message of it is retried, nothing is deleted.
 */
#ifndef KEEL_KERNEL_PIPELINE_H
#define KEEL_KERNEL_PIPELINE_H

#include <keel/keel.h>

typedef struct kernel kernel_t;

typedef struct pipeline_config {
    const char *name;
    const char *queue_instance;
    const char *source; /* queue name inside the instance */
    keel_plugin_t **steps;
    size_t step_count;
    unsigned batch_size;
    unsigned concurrency;
    uint64_t timeout_ms;
    uint32_t visibility_s; /* 0: the queue's default */
} pipeline_config_t;

typedef struct pipelines pipelines_t;

/* Looks up each pipeline's queue and starts its pollers. After every
 * instance started. Logs and returns KEEL_E* on failure. */
int pipelines_start(kernel_t *k, const pipeline_config_t *configs, size_t count, pipelines_t **out);
/* What pipelines_start() checks about the instances (after their init):
 * each queue service exists and has the source queue. 0 or KEEL_EFAILED
 * after logging why. */
int pipelines_check(kernel_t *k, const pipeline_config_t *configs, size_t count);

/* Stops receiving, waits (up to timeout_ms) for batches in flight to be
 * settled, frees. True when everything settled in time. NULL is ignored. */
bool pipelines_stop(pipelines_t *all, uint64_t timeout_ms);

/* Host API functions for steps (ABI 1.2). */
size_t pipeline_batch_count(const keel_batch_t *batch);
const keel_msg_t *pipeline_batch_message(const keel_batch_t *batch, size_t index);
uint32_t pipeline_batch_receive_count(const keel_batch_t *batch, size_t index);
int pipeline_batch_result(keel_batch_t *batch, size_t index, keel_result_t result,
                          const char *reason);
int pipeline_batch_set_body(keel_batch_t *batch, size_t index, const void *body, size_t len);
int pipeline_batch_set_attr(keel_batch_t *batch, size_t index, const char *key, const char *value);
int pipeline_batch_complete(keel_batch_t *batch);

#endif
