/*
 * validate.h — the "validate" service: turns an order as a client sent it
 * (JSON, in the snake_case or the camelCase shape of SPEC §3) into the one
 * canonical order keel stores and queues, and checks it against the rules
 * in the provider's config. The built-in provider is the `validate` plugin.
 *
 *     keel_order_t *order = NULL;
 *     char id[KEEL_ID_LEN + 1];
 *     host->new_id(id);
 *     v->order_parse(svc.ctx, body, body_len, id, &order);
 *     switch (order->status) {
 *     case 0:            ... enqueue order->msgpack, answer 202 ...
 *     case KEEL_EINVAL:  ... 400 malformed (order->errors[0] says why) ...
 *     case KEEL_EFAILED: ... 422 with every order->errors[i] as details ...
 *     }
 *     v->order_free(svc.ctx, order);
 *
 * The canonical order uses these snake_case names (camelCase inputs map to
 * them; `totalAmount` and `total_amount` both become `amount`):
 *
 *   order_id, customer_id, order_date, payment_method, amount,
 *   items[] {product_id, name, quantity, price},
 *   shipping_address {street, city, state, zip_code}
 *
 * Money (amount, price) is exact: parsed as decimal text, never as floating
 * point, and written with exactly the provider's decimals (the validate
 * plugin's max_decimals, default two: "19.90"). The canonical JSON
 * has sorted keys and no whitespace, so two requests for the same order give
 * byte-identical canonical JSON: hash it for idempotency.
 *
 * Threads: any thread, concurrently; order_parse() is synchronous and does
 * no I/O (it may run on an event loop).
 *
 * EXPERIMENTAL until a second provider passes the same tests: functions may
 * still change before 1.0 is frozen.
 */
#ifndef KEEL_VALIDATE_H
#define KEEL_VALIDATE_H

#include <keel/keel.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KEEL_VALIDATE_INTERFACE "validate"
#define KEEL_VALIDATE_VERSION   KEEL_VERSION(1, 0)

/** One rule violation. Strings are owned by the order. */
typedef struct keel_validation_error {
    const char *path;    /* field path in the canonical names: "items[1].quantity"
                            ("" for the whole body) */
    const char *code;    /* stable, for programs: "required", "type", "range",
                            "length", "decimals", "count", "total_mismatch",
                            "unknown_field", "duplicate_field", "format",
                            "malformed_json", "depth", "utf8" */
    const char *message; /* for people: "must be a positive integer, got 0" */
} keel_validation_error_t;

/** The outcome of order_parse(). Free with order_free(). */
typedef struct keel_order {
    /** 0: valid. KEEL_EINVAL: not a JSON object (malformed, too deep,
     * invalid UTF-8): answer 400. KEEL_EFAILED: well-formed but breaks the
     * rules: answer 422. errors[] says why in both cases. */
    int status;
    size_t error_count;
    const keel_validation_error_t *errors;

    /* Set when status is 0: */
    const char *order_id; /* the client's, or the one assigned */
    bool id_assigned;     /* the client sent none */
    const char *customer_id;
    const char *canonical_json; /* NUL-terminated; canonical_len without it */
    size_t canonical_len;
    const void *msgpack; /* the same order as a msgpack map, for the queue */
    size_t msgpack_len;
} keel_order_t;

typedef struct keel_validate_api {
    uint32_t struct_size;

    /**
     * Parses, normalises and validates one order. `json` is the request
     * body (not necessarily NUL-terminated). When the order carries no id,
     * `assign_id` (e.g. from host->new_id()) becomes its order_id; NULL
     * makes a missing id a "required" violation.
     * Returns 0 with *out set (read (*out)->status), or KEEL_EINVAL (NULL
     * argument), KEEL_ENOMEM.
     */
    int (*order_parse)(void *ctx, const void *json, size_t len, const char *assign_id,
                       keel_order_t **out);

    /** Frees an order from order_parse(). NULL is ignored. */
    void (*order_free)(void *ctx, keel_order_t *order);
} keel_validate_api_t;

#ifdef __cplusplus
}
#endif

#endif /* KEEL_VALIDATE_H */
