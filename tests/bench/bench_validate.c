/*
 * bench_validate — the validate plugin's order_parse() (parse with yajl
 * into a tree, normalise, check every rule, write canonical JSON and
 * msgpack) on the seed 004 order, one thread, beside the reference that
 * bench_json calls "yajl (stream into msgpack)": the bare minimum the
 * ingress could do with the same parser and no validation. The reference
 * converter is bench_json's, shared through bench_orders.h.
 *
 *   bench_validate <validate.so> [rounds]
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_validate <validate.so> [rounds]\n");
        return 2;
    }
    long rounds = argc > 2 ? atol(argv[2]) : 300000;
    keel_harness_t *h = keel_harness_new(NULL);
    keel_service_t svc;
    if (h == NULL || keel_harness_add(h, "v", argv[1], NULL) != 0 || keel_harness_start(h) != 0 ||
        keel_harness_service(h, "v", KEEL_VALIDATE_INTERFACE, KEEL_VALIDATE_VERSION, &svc) != 0) {
        fprintf(stderr, "bench_validate: cannot load %s\n", argv[1]);
        keel_harness_free(h);
        return 1;
    }
    msgpack_sbuffer_init(&out);
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    double ref = 0, ours = 0;
    for (int r = 0; r < 3; r++) {
        double a = measure_yajl(rounds), b = measure_validate(svc.vtable, svc.ctx, rounds);
        ref = a > ref ? a : ref;
        ours = b > ours ? b : ours;
    }
    printf("\n== validate.order_parse on the seed 004 order (%zu bytes), %ld rounds, 1 thread\n",
           sizeof order_json - 1, rounds);
    printf("%-34s %10.0f orders/s %8.1f MB/s\n", "yajl stream into msgpack (ref)", ref,
           ref * (double)(sizeof order_json - 1) / 1e6);
    printf("%-34s %10.0f orders/s %8.1f MB/s  (%.0f%% of the reference)\n",
           "validate (parse+rules+canon+pack)", ours, ours * (double)(sizeof order_json - 1) / 1e6,
           100.0 * ours / ref);
    printf("BENCH_RESULT validate.per_s=%.0f\nBENCH_RESULT validate.reference_per_s=%.0f\n", ours,
           ref);
    msgpack_sbuffer_destroy(&out);
    keel_harness_free(h);
    return 0;
}
