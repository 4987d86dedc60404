/*
 * validate_impl.h — internals of the validate plugin, shared by its files:
 *
 *   arena.c      one bump allocator per result (order_free frees it whole)
 *   json_tree.c  yajl → a small tree in the arena, with depth/UTF-8/NUL checks
 *   normalise.c  both order shapes → canonical field slots (unknown/duplicate)
 *   rules.c      the configured rules → a typed order + every violation
 *   values.c     exact decimals, positive integers, RFC 3339 dates, ids
 *   canon.c      canonical JSON and msgpack of a typed order
 *   validate.c   plugin glue: config, service vtable, order_parse/order_free
 */
#ifndef KEEL_VALIDATE_IMPL_H
#define KEEL_VALIDATE_IMPL_H

#include <keel/validate.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- arena.c ---------------------------------------------------------- */

typedef struct arena arena_t;

arena_t *arena_new(void);
void arena_free(arena_t *a);
/* 8-byte aligned; NULL on allocation failure. */
void *arena_alloc(arena_t *a, size_t size);
/* Copies s[0..len) and a NUL. */
char *arena_strndup(arena_t *a, const char *s, size_t len);
char *arena_vprintf(arena_t *a, const char *fmt, va_list ap) KEEL_PRINTF(2, 0);
char *arena_printf(arena_t *a, const char *fmt, ...) KEEL_PRINTF(2, 3);
/* Grows a block of old_size bytes from this arena to size (in place when it
 * is the newest block and its chunk has room); NULL p allocates. The old
 * block stays valid until arena_free() either way. NULL on failure. */
void *arena_realloc(arena_t *a, void *p, size_t old_size, size_t size);

/* ---- json_tree.c ------------------------------------------------------ */

typedef enum jv_type {
    JV_NULL,
    JV_BOOL,
    JV_NUMBER,
    JV_STRING,
    JV_OBJECT,
    JV_ARRAY,
} jv_type_t;

typedef struct jv jv_t;
struct jv {
    jv_type_t type;
    bool boolean;
    /* Texts are not NUL-terminated: they point into the body when it holds
     * them as they are (valid only during order_parse) or into the arena. */
    const char *key; /* member name when the parent is an object */
    size_t key_len;
    const char *text; /* STRING (decoded) or NUMBER (as written) */
    size_t len;
    bool raw;    /* STRING: sent without escapes, so no " \ or control character */
    jv_t *first; /* OBJECT / ARRAY children, in document order */
    jv_t *last;
    size_t count;
    jv_t *next;
};

/* Why a body is not a JSON object we can read (status KEEL_EINVAL). */
typedef struct json_failure {
    const char *code; /* "malformed_json", "depth", "utf8", "format", "length" */
    char *message;    /* in the arena */
} json_failure_t;

/* Parses `text` into *root (an object). Returns 0, 1 with *why filled (the
 * body is refused), or KEEL_ENOMEM. */
int json_tree_parse(arena_t *a, const char *text, size_t len, unsigned max_depth, jv_t **root,
                    json_failure_t *why);
const char *jv_type_name(jv_type_t type);

/* ---- the instance config, immutable after init ------------------------- */

typedef struct validate_ctx {
    const keel_host_api_t *host;
    unsigned max_depth;
    size_t max_items;
    int64_t max_quantity;
    size_t max_id_length;
    size_t max_string_length;
    unsigned max_decimals; /* accepted on input */
    unsigned out_decimals; /* written: max(2, max_decimals) */
    int64_t scale;         /* 10^out_decimals: money is held as int64 units of 1/scale */
    int64_t max_amount;    /* in units */
    bool check_total;
    bool allow_unknown_fields;
} validate_ctx_t;

/* ---- one result: the public order, its errors, its arena --------------- */

typedef struct vresult {
    keel_order_t pub; /* first: order_free() casts back */
    arena_t *arena;
    keel_validation_error_t *errors;
    size_t error_count;
    size_t error_cap;
    bool oom;
} vresult_t;

/* Records a violation at "parent[index].field" (parent/field may be NULL,
 * index < 0 for none). Allocation failure sets r->oom. */
void vr_error(vresult_t *r, const char *parent, long index, const char *field, const char *code,
              const char *fmt, ...) KEEL_PRINTF(6, 7);

/* ---- normalise.c -------------------------------------------------------- */

enum {
    F_ORDER_ID,
    F_CUSTOMER_ID,
    F_ORDER_DATE,
    F_PAYMENT_METHOD,
    F_AMOUNT,
    F_ITEMS,
    F_SHIPPING,
    F_ORDER_COUNT
};
enum { I_PRODUCT_ID, I_NAME, I_QUANTITY, I_PRICE, I_COUNT };
enum { A_STREET, A_CITY, A_STATE, A_ZIP_CODE, A_COUNT };

typedef enum shape_kind { SHAPE_ORDER, SHAPE_ITEM, SHAPE_ADDRESS } shape_kind_t;

/* Fills slots[] (by the enums above) with the members of `object`,
 * reporting duplicates and (unless allowed) unknown members at parent/index. */
void normalise_object(vresult_t *r, const validate_ctx_t *ctx, const jv_t *object,
                      shape_kind_t kind, const char *parent, long index, const jv_t **slots);
/* The canonical name of slot `slot` of `kind`. */
const char *normalise_name(shape_kind_t kind, int slot);

/* ---- the typed, valid order ------------------------------------------- */

typedef struct vstr {
    const char *s; /* NULL: absent; not NUL-terminated (see jv_t) */
    size_t len;
    bool plain; /* known to need no escaping in JSON */
} vstr_t;

typedef struct order_item {
    vstr_t product_id;
    vstr_t name;
    int64_t quantity;
    int64_t price; /* units */
} order_item_t;

typedef struct order {
    vstr_t order_id;
    vstr_t customer_id;
    vstr_t order_date;
    vstr_t payment_method;
    bool has_amount;
    int64_t amount;
    order_item_t *items;
    size_t item_count;
    bool has_address;
    vstr_t address[A_COUNT];
} order_t;

/* ---- rules.c ------------------------------------------------------------ */

/* Checks `root` against the rules; fills *order and adds every violation.
 * assign_id is used when the order has no order_id. */
void rules_check(vresult_t *r, const validate_ctx_t *ctx, const jv_t *root, const char *assign_id,
                 order_t *order);

/* ---- values.c ----------------------------------------------------------- */

typedef enum value_status {
    VALUE_OK,
    VALUE_TYPE,     /* exponent or fraction where none is allowed */
    VALUE_NEGATIVE, /* below zero (or not positive for quantities) */
    VALUE_DECIMALS, /* more decimals than allowed */
    VALUE_RANGE,    /* does not fit */
} value_status_t;

/* Decimal text (a JSON number as written) → units of 10^-out_decimals. */
value_status_t value_decimal(const char *text, size_t len, unsigned max_decimals,
                             unsigned out_decimals, int64_t *units);
/* A JSON number that must be an integer ≥ 1. */
value_status_t value_positive_int(const char *text, size_t len, int64_t *out);
/* Writes units as "I.FF" (out_decimals decimals) into buf (≥ 32 bytes). */
size_t value_format_money(int64_t units, unsigned out_decimals, char *buf);
bool value_is_rfc3339(const char *s, size_t len);
/* Index of the first character outside [A-Za-z0-9._:-], or len. */
size_t value_id_bad_char(const char *s, size_t len);
/* Code points in valid UTF-8. */
size_t value_utf8_length(const char *s, size_t len);

/* ---- canon.c ------------------------------------------------------------ */

/* Sets r->pub.canonical_json/len and msgpack/len. Returns 0 or KEEL_ENOMEM. */
int canon_write(vresult_t *r, const validate_ctx_t *ctx, const order_t *order);

#endif /* KEEL_VALIDATE_IMPL_H */
