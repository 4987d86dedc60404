/*
 * bench_validate — the validate plugin's order_parse() (parse with yajl
 * into a tree, normalise, check every rule, write canonical JSON and
 * msgpack) on the seed 004 order, one thread, beside the reference that
 * bench_json calls "yajl (stream into msgpack)": the bare minimum the
 * ingress could do with the same parser and no validation. The reference
 * converter is bench_json's, shared through bench_orders.h.
 *
 *   bench_validate <validate.so> [rounds] [baseline validate.so]
 *
 * Given a second build of the plugin (e.g. a copy of validate.so from
 * before a change), both are measured in the same run, interleaved, so a
 * noisy machine slows them alike and the ratio stays meaningful.
 */
#include "bench_orders.h"

#include <keel/harness.h>
#include <keel/validate.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double measure_yajl(long rounds)
{
    double start = now_s();
    for (long i = 0; i < rounds; i++) {
        msgpack_sbuffer_clear(&out);
        if (convert_yajl(order_json, sizeof order_json - 1) != 0) {
            fprintf(stderr, "bench_validate: reference parse failed\n");
            exit(1);
        }
    }
    return (double)rounds / (now_s() - start);
}

static double measure_validate(const keel_validate_api_t *api, void *ctx, long rounds)
{
    char id[KEEL_ID_LEN + 1] = "01JNQ0000000000000000000AB";
    double start = now_s();
    for (long i = 0; i < rounds; i++) {
        keel_order_t *order = NULL;
        if (api->order_parse(ctx, order_json, sizeof order_json - 1, id, &order) != 0 ||
            order->status != 0) {
            fprintf(stderr, "bench_validate: the seed order did not validate\n");
            exit(1);
        }
        api->order_free(ctx, order);
    }
    return (double)rounds / (now_s() - start);
}

static void print_line(const char *label, double per_s, double ref)
{
    printf("%-34s %10.0f orders/s %8.0f ns/order %8.1f MB/s", label, per_s, 1e9 / per_s,
           per_s * (double)(sizeof order_json - 1) / 1e6);
    if (ref > 0)
        printf("  (%.0f%% of the reference)", 100.0 * per_s / ref);
    printf("\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_validate <validate.so> [rounds] [baseline validate.so]\n");
        return 2;
    }
    long rounds = argc > 2 ? atol(argv[2]) : 300000;
    const char *baseline = argc > 3 ? argv[3] : NULL;
    keel_harness_t *h = keel_harness_new(NULL);
    keel_service_t svc, base_svc;
    if (h == NULL || keel_harness_add(h, "v", argv[1], NULL) != 0 ||
        (baseline != NULL && keel_harness_add(h, "base", baseline, NULL) != 0) ||
        keel_harness_start(h) != 0 ||
        keel_harness_service(h, "v", KEEL_VALIDATE_INTERFACE, KEEL_VALIDATE_VERSION, &svc) != 0 ||
        (baseline != NULL && keel_harness_service(h, "base", KEEL_VALIDATE_INTERFACE,
                                                  KEEL_VALIDATE_VERSION, &base_svc) != 0)) {
        fprintf(stderr, "bench_validate: cannot load %s%s%s\n", argv[1], baseline ? " or " : "",
                baseline ? baseline : "");
        keel_harness_free(h);
        return 1;
    }
    msgpack_sbuffer_init(&out);
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    /* Best of several passes; with a baseline, more and shorter passes,
     * alternating, so that both see the same bursts of noise. */
    int passes = baseline != NULL ? 12 : 3;
    long pass_rounds = baseline != NULL ? (rounds + 3) / 4 : rounds;
    double ref = 0, ours = 0, base = 0;
    for (int r = 0; r < passes; r++) {
        double a = measure_yajl(pass_rounds),
               b = measure_validate(svc.vtable, svc.ctx, pass_rounds);
        ref = a > ref ? a : ref;
        ours = b > ours ? b : ours;
        if (baseline != NULL) {
            double c = measure_validate(base_svc.vtable, base_svc.ctx, pass_rounds);
            base = c > base ? c : base;
        }
    }
    printf("\n== validate.order_parse on the seed 004 order (%zu bytes), %ld rounds, 1 thread\n",
           sizeof order_json - 1, rounds);
    print_line("yajl stream into msgpack (ref)", ref, 0);
    print_line("validate (parse+rules+canon+pack)", ours, ref);
    if (baseline != NULL) {
        print_line("validate, baseline build", base, ref);
        printf("speed-up over the baseline: %.2fx\n", ours / base);
    }
    printf("BENCH_RESULT validate.per_s=%.0f\nBENCH_RESULT validate.reference_per_s=%.0f\n", ours,
           ref);
    if (baseline != NULL)
        printf("BENCH_RESULT validate.baseline_per_s=%.0f\n", base);
    msgpack_sbuffer_destroy(&out);
    keel_harness_free(h);
    return 0;
}
