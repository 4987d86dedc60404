/*
 * metrics.c — the metrics registry behind metrics.h.
 *
 * Registration and rendering take the registry mutex; updates never do.
 * A counter's or gauge's value (and a histogram's sum) is a double kept as
 * its IEEE-754 bit pattern in an _Atomic uint64_t and updated with a CAS
 * loop: lock-free wherever 64-bit atomics are, and free of the
 * floating-point-environment save/restore that C11 compound assignment on
 * _Atomic double implies.
 *
 * Metrics are never unregistered, so the lookup index is an append-only
 * open-addressing hash table, and every family and series also sits on a
 * list in registration order, which is the order they are rendered in.
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HISTOGRAM_BOUNDS 64
#define EXACT_INTEGER_LIMIT  9007199254740992.0 /* 2^53 */
#define NAME_START_CHARS     "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
#define NAME_CHARS           NAME_START_CHARS "0123456789"

/*
 * One index holds both families (key: the name) and series (key: name, '{',
 * labels sorted by name). Metric names cannot contain '{', so the two kinds
 * of key never collide. Keys are borrowed from the values they map to.
 */
typedef struct hash_index {
    const char **keys;
    void **values;
    size_t capacity; /* a power of two, or 0 */
    size_t count;
} hash_index_t;

/* Every series sharing a name: rendered under one HELP/TYPE pair. */
typedef struct metric_family {
    const char *name;
    const char *help; /* already escaped for the HELP line */
    metric_type_t type;
    size_t bound_count;
    keel_metric_t *first_series;
    keel_metric_t *last_series;
    struct metric_family *next;
    double bounds[]; /* histogram upper bounds, strictly ascending; name and help follow */
} metric_family_t;

struct keel_metric {
    const metric_family_t *family;
    const char *labels; /* as the caller wrote them, for rendering */
    const char *key;    /* see hash_index_t */
    keel_metric_t *next_in_family;
    _Atomic uint64_t value_bits; /* counter/gauge value, or histogram sum */
    /* Histograms: one non-cumulative count per bound plus one for +Inf;
     * key and labels follow. _count is derived from these when rendering,
     * so a render racing an observation never shows a +Inf bucket that
     * disagrees with _count. */
    _Atomic uint64_t bucket_counts[];
};

struct metrics_registry {
    pthread_mutex_t lock;
    hash_index_t index;
    metric_family_t *first_family;
    metric_family_t *last_family;
};

/* ---- hash index ---- */

static size_t index_slot(const hash_index_t *index, const char *key)
{
    uint64_t hash = 14695981039346656037u; /* FNV-1a */
    for (const char *c = key; *c; c++)
        hash = (hash ^ (unsigned char)*c) * 1099511628211u;
    size_t mask = index->capacity - 1;
    size_t slot = (size_t)hash & mask;
    while (index->keys[slot] && strcmp(index->keys[slot], key) != 0)
        slot = (slot + 1) & mask;
    return slot;
}

static void *index_find(const hash_index_t *index, const char *key)
{
    if (index->capacity == 0)
        return NULL;
    size_t slot = index_slot(index, key);
    return index->keys[slot] ? index->values[slot] : NULL;
}

/* Grows the index so that `more` inserts cannot fail; keeps load <= 1/2. */
static int index_reserve(hash_index_t *index, size_t more)
{
    size_t capacity = index->capacity ? index->capacity : 16;
    while ((index->count + more) * 2 > capacity)
        capacity *= 2;
    if (capacity == index->capacity)
        return 0;
    hash_index_t grown = {.capacity = capacity, .count = index->count};
    grown.keys = calloc(capacity, sizeof(*grown.keys));
    grown.values = calloc(capacity, sizeof(*grown.values));
    if (!grown.keys || !grown.values) {
        free(grown.keys);
        free(grown.values);
        return KEEL_ENOMEM;
    }
    for (size_t i = 0; i < index->capacity; i++) {
        if (!index->keys[i])
            continue;
        size_t slot = index_slot(&grown, index->keys[i]);
        grown.keys[slot] = index->keys[i];
        grown.values[slot] = index->values[i];
    }
    free(index->keys);
    free(index->values);
    *index = grown;
    return 0;
}

/* The caller has reserved room and checked that the key is absent. */
static void index_insert(hash_index_t *index, const char *key, void *value)
{
    size_t slot = index_slot(index, key);
    index->keys[slot] = key;
    index->values[slot] = value;
    index->count++;
}

/* ---- validation ---- */

/* Length of the identifier at s ([a-zA-Z_][a-zA-Z0-9_]*, plus ':' anywhere
 * for metric names), or 0 if there is none. */
static size_t identifier_length(const char *s, bool allow_colon)
{
    bool valid_start = *s && (strchr(NAME_START_CHARS, *s) || (allow_colon && *s == ':'));
    if (!valid_start)
        return 0;
    return strspn(s, allow_colon ? NAME_CHARS ":" : NAME_CHARS);
}

/* Scans an escaped label value that starts after its opening quote; on
 * success *length counts the bytes before the closing quote. */
static bool scan_label_value(const char *value, size_t *length)
{
    size_t i = 0;
    for (; value[i] != '"'; i++) {
        if (value[i] == '\0' || value[i] == '\n')
            return false;
        if (value[i] == '\\') {
            i++;
            if (value[i] != '"' && value[i] != '\\' && value[i] != 'n')
                return false;
        }
    }
    *length = i;
    return true;
}

/* One `name="value"` pair, pointing into the caller's label string. */
typedef struct label_pair {
    const char *text;
    size_t name_length;
    size_t text_length;
} label_pair_t;

static int compare_label_names(const void *a, const void *b)
{
    /* Comparing through the '=' after the shorter name tells a name from
     * its prefixes, since '=' is not a name character. */
    const label_pair_t *left = a, *right = b;
    size_t shorter =
        left->name_length < right->name_length ? left->name_length : right->name_length;
    return memcmp(left->text, right->text, shorter + 1);
}

/*
 * Validates `labels` and builds the series key (see hash_index_t). Sorting
 * makes `a="1",b="2"` and `b="2",a="1"` one series: two would be a
 * duplicate series in the exposition. Repeated label names are rejected,
 * and so is `le` on a histogram, because the renderer adds it.
 */
static int build_series_key(const char *name, const char *labels, bool is_histogram, char **key)
{
    size_t labels_length = strlen(labels), name_length = strlen(name), count = 0;
    /* The shortest pair, `a=""`, is 4 bytes plus a comma between pairs. */
    label_pair_t *pairs = malloc((labels_length / 5 + 1) * sizeof(*pairs));
    char *built = malloc(name_length + labels_length + 2);
    int rc = KEEL_ENOMEM;
    if (!pairs || !built)
        goto done;
    rc = KEEL_EINVAL;
    for (const char *cursor = labels; *cursor;) {
        size_t label_length = identifier_length(cursor, false), value_length;
        if (label_length == 0 || cursor[label_length] != '=' || cursor[label_length + 1] != '"' ||
            !scan_label_value(cursor + label_length + 2, &value_length))
            goto done;
        pairs[count] = (label_pair_t){cursor, label_length, label_length + value_length + 3};
        cursor += pairs[count++].text_length;
        if (*cursor == ',' && cursor[1] != '\0') /* a comma must introduce another pair */
            cursor++;
        else if (*cursor != '\0')
            goto done;
    }
    qsort(pairs, count, sizeof(*pairs), compare_label_names);
    char *end = built + name_length;
    memcpy(built, name, name_length);
    *end++ = '{';
    for (size_t i = 0; i < count; i++) {
        bool is_le = pairs[i].name_length == 2 && memcmp(pairs[i].text, "le", 2) == 0;
        if ((is_histogram && is_le) ||
            (i > 0 && compare_label_names(&pairs[i - 1], &pairs[i]) == 0))
            goto done;
        if (i > 0)
            *end++ = ',';
        memcpy(end, pairs[i].text, pairs[i].text_length);
        end += pairs[i].text_length;
    }
    *end = '\0';
    *key = built;
    built = NULL;
    rc = 0;
done:
    free(pairs);
    free(built);
    return rc;
}

static bool are_valid_bounds(const double *bounds, size_t bound_count)
{
    if (bound_count > MAX_HISTOGRAM_BOUNDS || (bound_count > 0 && !bounds))
        return false;
    for (size_t i = 0; i < bound_count; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i])))
            return false;
    }
    return true;
}

/* ---- registry ---- */

metrics_registry_t *metrics_new(void)
{
    metrics_registry_t *reg = calloc(1, sizeof(*reg));
    if (reg && pthread_mutex_init(&reg->lock, NULL) != 0) {
        free(reg);
        return NULL;
    }
    return reg;
}

void metrics_free(metrics_registry_t *reg)
{
    if (!reg)
        return;
    for (metric_family_t *family = reg->first_family, *next_family; family; family = next_family) {
        next_family = family->next;
        for (keel_metric_t *series = family->first_series, *next; series; series = next) {
            next = series->next_in_family;
            free(series);
        }
        free(family);
    }
    free(reg->index.keys);
    free(reg->index.values);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

/* One allocation: the struct, its bounds, its name, its escaped help. */
static metric_family_t *new_family(metric_type_t type, const char *name, const char *help,
                                   const double *bounds, size_t bound_count)
{
    size_t name_size = strlen(name) + 1;
    /* HELP escapes backslash and newline, each into two bytes. */
    metric_family_t *family = calloc(1, sizeof(*family) + bound_count * sizeof(*bounds) +
                                            name_size + 2 * strlen(help) + 1);
    if (!family)
        return NULL;
    family->type = type;
    family->bound_count = bound_count;
    if (bound_count > 0)
        memcpy(family->bounds, bounds, bound_count * sizeof(*bounds));
    char *strings = (char *)(family->bounds + bound_count);
    family->name = memcpy(strings, name, name_size);
    char *escaped = strings + name_size;
    family->help = escaped;
    for (const char *c = help; *c; c++) {
        if (*c == '\\' || *c == '\n')
            *escaped++ = '\\';
        *escaped++ = *c == '\n' ? 'n' : *c;
    }
    return family;
}

static bool family_matches(const metric_family_t *family, metric_type_t type, const double *bounds,
                           size_t bound_count)
{
    /* Counters and gauges always have bound_count 0. */
    if (family->type != type || family->bound_count != bound_count)
        return false;
    for (size_t i = 0; i < bound_count; i++) {
        if (family->bounds[i] != bounds[i])
            return false;
    }
    return true;
}

/* One allocation: the struct, its bucket counts, its key, its labels. */
static keel_metric_t *new_series(const metric_family_t *family, const char *key, const char *labels)
{
    size_t bucket_count = family->type == METRIC_HISTOGRAM ? family->bound_count + 1 : 0;
    size_t key_size = strlen(key) + 1, labels_size = strlen(labels) + 1;
    keel_metric_t *series = calloc(1, sizeof(*series) + bucket_count * sizeof(_Atomic uint64_t) +
                                          key_size + labels_size);
    if (!series)
        return NULL;
    char *strings = (char *)(series->bucket_counts + bucket_count);
    series->family = family;
    series->key = memcpy(strings, key, key_size);
    series->labels = memcpy(strings + key_size, labels, labels_size);
    atomic_init(&series->value_bits, 0); /* the bit pattern of +0.0 */
    for (size_t i = 0; i < bucket_count; i++)
        atomic_init(&series->bucket_counts[i], 0);
    return series;
}

/* Called with the lock held. A new family is linked only with its first series. */
static int find_or_add_series(metrics_registry_t *reg, metric_type_t type, const char *name,
                              const char *help, const char *labels, const double *bounds,
                              size_t bound_count, const char *key, keel_metric_t **out)
{
    metric_family_t *family = index_find(&reg->index, name);
    if (family && !family_matches(family, type, bounds, bound_count))
        return KEEL_EINVAL;
    if ((*out = index_find(&reg->index, key)) != NULL)
        return 0;
    /* Reserve first, so nothing can fail once we start linking. */
    if (index_reserve(&reg->index, 2) != 0)
        return KEEL_ENOMEM;
    metric_family_t *created = NULL;
    if (!family && !(family = created = new_family(type, name, help, bounds, bound_count)))
        return KEEL_ENOMEM;
    keel_metric_t *series = new_series(family, key, labels);
    if (!series) {
        free(created);
        return KEEL_ENOMEM;
    }
    if (created) {
        index_insert(&reg->index, created->name, created);
        if (reg->last_family)
            reg->last_family->next = created;
        else
            reg->first_family = created;
        reg->last_family = created;
    }
    index_insert(&reg->index, series->key, series);
    if (family->last_series)
        family->last_series->next_in_family = series;
    else
        family->first_series = series;
    family->last_series = series;
    *out = series;
    return 0;
}

int metrics_register(metrics_registry_t *reg, metric_type_t type, const char *name,
                     const char *help, const char *labels, const double *bounds, size_t bound_count,
                     keel_metric_t **out)
{
    if (!reg || !out || !name || !*name || identifier_length(name, true) != strlen(name))
        return KEEL_EINVAL;
    if (type != METRIC_COUNTER && type != METRIC_GAUGE && type != METRIC_HISTOGRAM)
        return KEEL_EINVAL;
    /* Bounds on a counter or gauge are a caller mix-up, not something to drop. */
    if (type == METRIC_HISTOGRAM ? !are_valid_bounds(bounds, bound_count) : bound_count != 0)
        return KEEL_EINVAL;
    labels = labels ? labels : "";
    char *key = NULL;
    int rc = build_series_key(name, labels, type == METRIC_HISTOGRAM, &key);
    if (rc != 0)
        return rc;
    keel_metric_t *series = NULL;
    pthread_mutex_lock(&reg->lock);
    rc = find_or_add_series(reg, type, name, help ? help : "", labels, bounds, bound_count, key,
                            &series);
    pthread_mutex_unlock(&reg->lock);
    free(key);
    if (rc == 0)
        *out = series;
    return rc;
}

/* ---- lock-free updates ---- */

static uint64_t double_to_bits(double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof(bits));
    return bits;
}

static double bits_to_double(uint64_t bits)
{
    double value;
    memcpy(&value, &bits, sizeof(value));
    return value;
}

static void atomic_add_double(_Atomic uint64_t *bits, double delta)
{
    uint64_t expected = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &expected,
                                                  double_to_bits(bits_to_double(expected) + delta),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* Counters only go up (so negative and NaN deltas are dropped); gauges
 * take any delta, as keel.h's metric_add promises. */
void metrics_add(keel_metric_t *metric, double value)
{
    if (!metric)
        return;
    metric_type_t type = metric->family->type;
    if (type == METRIC_GAUGE || (type == METRIC_COUNTER && value >= 0))
        atomic_add_double(&metric->value_bits, value);
}

void metrics_set(keel_metric_t *metric, double value)
{
    if (metric && metric->family->type == METRIC_GAUGE)
        atomic_store_explicit(&metric->value_bits, double_to_bits(value), memory_order_relaxed);
}

void metrics_observe(keel_metric_t *metric, double value)
{
    if (!metric || metric->family->type != METRIC_HISTOGRAM)
        return;
    /* Upper bounds are inclusive; NaN fails every comparison and lands in
     * +Inf. With at most 64 bounds a linear scan is cheap. */
    const metric_family_t *family = metric->family;
    size_t bucket = 0;
    while (bucket < family->bound_count && !(value <= family->bounds[bucket]))
        bucket++;
    atomic_fetch_add_explicit(&metric->bucket_counts[bucket], 1, memory_order_relaxed);
    atomic_add_double(&metric->value_bits, value);
}

/* For a histogram: the sum of its observations. */
double metrics_value(const keel_metric_t *metric)
{
    if (!metric)
        return 0.0;
    return bits_to_double(atomic_load_explicit(&metric->value_bits, memory_order_relaxed));
}

/* ---- rendering ---- */

typedef struct text_buffer {
    char *data;
    size_t length;
    size_t capacity;
    bool out_of_memory; /* sticky: later appends are no-ops */
} text_buffer_t;

static void KEEL_PRINTF(2, 3) append_format(text_buffer_t *text, const char *format, ...)
{
    while (!text->out_of_memory) {
        size_t room = text->capacity - text->length;
        va_list args;
        va_start(args, format);
        int needed = vsnprintf(text->data + text->length, room, format, args);
        va_end(args);
        if (needed >= 0 && (size_t)needed < room) {
            text->length += (size_t)needed;
            return;
        }
        size_t capacity = text->capacity * 2 + (needed > 0 ? (size_t)needed : 0);
        char *grown = needed < 0 ? NULL : realloc(text->data, capacity);
        if (!grown) {
            text->out_of_memory = true;
            return;
        }
        text->data = grown;
        text->capacity = capacity;
    }
}

/* Integral values print as integers; others as the shortest %g that reads
 * back to the same double (at most 17 digits), so a bound of 0.005 is
 * le="0.005" as other Prometheus clients write it, not 0.0050000000000000001. */
static const char *format_number(double value, char formatted[32])
{
    if (isnan(value))
        return "NaN";
    if (isinf(value))
        return value > 0 ? "+Inf" : "-Inf";
    if (value == trunc(value) && fabs(value) < EXACT_INTEGER_LIMIT) {
        snprintf(formatted, 32, "%" PRId64, (int64_t)value);
        return formatted;
    }
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(formatted, 32, "%.*g", digits, value);
        if (strtod(formatted, NULL) == value)
            break;
    }
    return formatted;
}

/* `name<suffix>{labels,extra_label} value`; extra_label (le) goes last. */
static void append_sample(text_buffer_t *text, const char *name, const char *suffix,
                          const char *labels, const char *extra_label, const char *value)
{
    if (!*labels && !*extra_label) {
        append_format(text, "%s%s %s\n", name, suffix, value);
        return;
    }
    const char *separator = *labels && *extra_label ? "," : "";
    append_format(text, "%s%s{%s%s%s} %s\n", name, suffix, labels, separator, extra_label, value);
}

static void render_histogram_series(text_buffer_t *text, const keel_metric_t *series)
{
    const metric_family_t *family = series->family;
    char le_label[48], number[32], count[24];
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= family->bound_count; i++) {
        cumulative += atomic_load_explicit(&series->bucket_counts[i], memory_order_relaxed);
        bool is_inf = i == family->bound_count;
        snprintf(le_label, sizeof(le_label), "le=\"%s\"",
                 is_inf ? "+Inf" : format_number(family->bounds[i], number));
        snprintf(count, sizeof(count), "%" PRIu64, cumulative);
        append_sample(text, family->name, "_bucket", series->labels, le_label, count);
    }
    append_sample(text, family->name, "_sum", series->labels, "",
                  format_number(metrics_value(series), number));
    append_sample(text, family->name, "_count", series->labels, "", count);
}

static void render_family(text_buffer_t *text, const metric_family_t *family)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    /* An empty HELP line says nothing, and the format does not require one. */
    if (*family->help)
        append_format(text, "# HELP %s %s\n", family->name, family->help);
    append_format(text, "# TYPE %s %s\n", family->name, type_names[family->type]);
    for (const keel_metric_t *series = family->first_series; series;
         series = series->next_in_family) {
        char number[32];
        if (family->type == METRIC_HISTOGRAM)
            render_histogram_series(text, series);
        else
            append_sample(text, family->name, "", series->labels, "",
                          format_number(metrics_value(series), number));
    }
}

int metrics_render(metrics_registry_t *reg, char **out, size_t *len)
{
    if (!reg || !out)
        return KEEL_EINVAL;
    text_buffer_t text = {.data = malloc(4096), .capacity = 4096};
    if (!text.data)
        return KEEL_ENOMEM;
    text.data[0] = '\0'; /* an empty registry renders as "" */
    pthread_mutex_lock(&reg->lock);
    for (const metric_family_t *family = reg->first_family; family; family = family->next)
        render_family(&text, family);
    pthread_mutex_unlock(&reg->lock);
    if (text.out_of_memory) {
        free(text.data);
        return KEEL_ENOMEM;
    }
    *out = text.data;
    if (len)
        *len = text.length;
    return 0;
}
