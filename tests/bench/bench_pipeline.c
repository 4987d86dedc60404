/*
 * bench_pipeline — messages/s through a three-step pipeline of trivial
 * plugins (source → step → step → step) across the kernel's worker pool,
 * beside a plain in-process loop doing the same msgpack work by direct
 * function calls, measured in the same run. Prints both and the ratio.
 *
 *   bench_pipeline PLUGIN_SO [MESSAGES] [ROUNDS]
 */
#include "bench_work.h"

#include <keel/harness.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct bench_api {
    uint32_t struct_size;
    uint64_t (*finished)(void *ctx);
} bench_api_t;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double run_pipeline(const char *plugin, long messages)
{
    keel_harness_t *h = keel_harness_new(NULL);
    char source_cfg[128];
    snprintf(source_cfg, sizeof source_cfg, "role: source\noutput: p1\ncount: %ld\n", messages);
    if (h == NULL || keel_harness_add(h, "source", plugin, source_cfg) != 0 ||
        keel_harness_add(h, "step1", plugin, "input: p1\noutput: p2\n") != 0 ||
        keel_harness_add(h, "step2", plugin, "input: p2\noutput: p3\n") != 0 ||
        keel_harness_add(h, "step3", plugin, "input: p3\n") != 0) {
        fprintf(stderr, "bench_pipeline: cannot set up the harness\n");
        exit(1);
    }
    double start = now_s();
    if (keel_harness_start(h) != 0) {
        fprintf(stderr, "bench_pipeline: the pipeline did not start\n");
        exit(1);
    }
    keel_service_t svc;
    keel_harness_service(h, "step3", "bench", KEEL_VERSION(1, 0), &svc);
    const bench_api_t *api = svc.vtable;
    double deadline = start + 120;
    while (api->finished(svc.ctx) < (uint64_t)messages && now_s() < deadline) {
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
    double elapsed = now_s() - start;
    uint64_t done = api->finished(svc.ctx);
    keel_harness_free(h);
    if (done < (uint64_t)messages) {
        fprintf(stderr, "bench_pipeline: only %llu of %ld messages arrived\n",
                (unsigned long long)done, messages);
        exit(1);
    }
    return (double)messages / elapsed;
}

/* The same work by direct calls: make the message, then three steps, each
 * decoding and re-encoding into the next buffer. */
static double run_reference(long messages)
{
    bench_buffer_t a = {0}, b = {0};
    volatile uint64_t sink = 0;
    double start = now_s();
    for (long i = 0; i < messages; i++) {
        bench_make_message(&a, (uint64_t)i);
        bench_step_message(a.data, a.len, &b);
        bench_step_message(b.data, b.len, &a);
        bench_step_message(a.data, a.len, &b);
        sink += b.len;
    }
    double elapsed = now_s() - start;
    (void)sink;
    bench_buffer_free(&a);
    bench_buffer_free(&b);
    return (double)messages / elapsed;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_pipeline PLUGIN_SO [MESSAGES] [ROUNDS]\n");
        return 2;
    }
    long messages = argc > 2 ? atol(argv[2]) : 1000000;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    if (rounds < 1 || rounds > 15)
        rounds = 3;
    double pipeline[15], reference[15];
    for (int r = 0; r < rounds; r++) {
        reference[r] = run_reference(messages);
        pipeline[r] = run_pipeline(argv[1], messages);
        fprintf(stderr, "round %d: pipeline %.0f msg/s, reference %.0f msg/s\n", r + 1, pipeline[r],
                reference[r]);
    }
    qsort(pipeline, (size_t)rounds, sizeof(double), compare);
    qsort(reference, (size_t)rounds, sizeof(double), compare);
    double p = pipeline[rounds / 2], ref = reference[rounds / 2];
    printf("\n== kernel pipeline benchmark (%ld messages, median of %d rounds)\n", messages,
           rounds);
    printf("%-58s %12.0f msg/s\n", "keel: source -> 3 msgpack steps over the worker pool", p);
    printf("%-58s %12.0f msg/s\n", "reference: same msgpack work, plain function calls", ref);
    printf("%-58s %11.1f %%\n", "ratio keel / reference", 100.0 * p / ref);
    printf("BENCH_RESULT pipeline.msgs_per_s=%.0f\nBENCH_RESULT pipeline.reference_per_s=%.0f\n", p,
           ref);
    printf("target: >= 1,000,000 msg/s or >= 50%% of the reference: %s\n",
           p >= 1e6 || p >= 0.5 * ref ? "met" : "NOT met");
    return 0;
}
