/*
 * config_read.c — typed reads of a validated config by path, falling back
 * to declared defaults, and the strict scalar conversions behind them.
 *
 * Conversions are strict (the whole text must parse, no surrounding
 * spaces, no silent wrap-around) so that a typo is a config error at
 * start-up rather than a surprising value at run time.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- scalar conversions ------------------------------------------------- */

/* Reads one or more decimal digits at *text, advancing it. Fails on no
 * digit or a value above `limit`. */
static int parse_digits(const char **text, uint64_t limit, uint64_t *out)
{
    const char *c = *text;
    uint64_t value = 0;
    if (*c < '0' || *c > '9')
        return KEEL_EINVAL;
    for (; *c >= '0' && *c <= '9'; c++) {
        uint64_t digit = (uint64_t)(*c - '0');
        if (value > (limit - digit) / 10)
            return KEEL_EINVAL;
        value = value * 10 + digit;
    }
    *text = c;
    *out = value;
    return 0;
}

int cfg_parse_int(const char *text, int64_t *out)
{
    if (text == NULL || out == NULL)
        return KEEL_EINVAL;
    bool negative = text[0] == '-';
    if (text[0] == '-' || text[0] == '+')
        text++;
    /* INT64_MIN's magnitude is one more than INT64_MAX's. */
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t magnitude;
    if (parse_digits(&text, limit, &magnitude) < 0 || *text != '\0')
        return KEEL_EINVAL;
    if (negative)
        *out = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
    else
        *out = (int64_t)magnitude;
    return 0;
}

int cfg_parse_double(const char *text, double *out)
{
    if (text == NULL || out == NULL || text[0] == '\0' || strchr(" \t\n\r\f\v", text[0]))
        return KEEL_EINVAL;
    char *end = NULL;
    double value = strtod(text, &end);
    if (*end != '\0' || !isfinite(value))
        return KEEL_EINVAL;
    *out = value;
    return 0;
}

int cfg_parse_bool(const char *text, bool *out)
{
    static const struct {
        const char *word;
        bool value;
    } words[] = {{"true", true},   {"yes", true}, {"on", true},
                 {"false", false}, {"no", false}, {"off", false}};
    if (text == NULL || out == NULL)
        return KEEL_EINVAL;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcasecmp(text, words[i].word) == 0) {
            *out = words[i].value;
            return 0;
        }
    }
    return KEEL_EINVAL;
}

typedef struct unit {
    const char *suffix;
    int64_t factor;
} unit_t;

/* A non-negative integer followed by one of `units` (the empty suffix
 * included where a bare number is allowed). */
static int parse_with_unit(const char *text, const unit_t *units, size_t unit_count, int64_t *out)
{
    if (text == NULL || out == NULL)
        return KEEL_EINVAL;
    uint64_t number;
    if (parse_digits(&text, INT64_MAX, &number) < 0)
        return KEEL_EINVAL;
    for (size_t i = 0; i < unit_count; i++) {
        if (strcmp(text, units[i].suffix) != 0)
            continue;
        if (number > (uint64_t)(INT64_MAX / units[i].factor))
            return KEEL_EINVAL;
        *out = (int64_t)number * units[i].factor;
        return 0;
    }
    return KEEL_EINVAL;
}

int cfg_parse_duration_ms(const char *text, int64_t *out)
{
    static const unit_t units[] = {
        {"", 1},          {"ms", 1},          {"s", 1000},
        {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 24 * 3600 * 1000},
    };
    return parse_with_unit(text, units, sizeof(units) / sizeof(units[0]), out);
}

int cfg_parse_size_bytes(const char *text, int64_t *out)
{
    static const unit_t units[] = {
        {"", 1},
        {"B", 1},
        {"KiB", INT64_C(1) << 10},
        {"MiB", INT64_C(1) << 20},
        {"GiB", INT64_C(1) << 30},
        {"TiB", INT64_C(1) << 40},
        {"KB", INT64_C(1000)},
        {"MB", INT64_C(1000000)},
        {"GB", INT64_C(1000000000)},
        {"TB", INT64_C(1000000000000)},
    };
    return parse_with_unit(text, units, sizeof(units) / sizeof(units[0]), out);
}

/* ---- paths -------------------------------------------------------------- */

typedef struct segment {
    const char *name;
    size_t name_length;
    bool has_index;
    size_t index;
    const char *next; /* after this segment's '.', or NULL at the end */
} segment_t;

/* Parses "name" or "name[index]" at text, then '.' or the end. */
static int parse_segment(const char *text, segment_t *segment)
{
    size_t length = strcspn(text, ".[]");
    if (length == 0)
        return KEEL_EINVAL;
    *segment = (segment_t){.name = text, .name_length = length};
    text += length;
    if (*text == '[') {
        text++;
        uint64_t index;
        if (parse_digits(&text, SIZE_MAX, &index) < 0 || *text != ']')
            return KEEL_EINVAL;
        segment->has_index = true;
        segment->index = (size_t)index;
        text++;
    }
    if (*text == '\0')
        return 0;
    if (*text != '.' || text[1] == '\0')
        return KEEL_EINVAL;
    segment->next = text + 1;
    return 0;
}

static int check_path_syntax(const char *path)
{
    segment_t segment = {.next = path};
    while (segment.next != NULL)
        if (parse_segment(segment.next, &segment) < 0)
            return KEEL_EINVAL;
    return 0;
}

static const keel_config_key_t *find_segment_key(const keel_config_key_t *keys,
                                                 const segment_t *segment)
{
    for (const keel_config_key_t *key = keys; key && key->name; key++)
        if (strlen(key->name) == segment->name_length &&
            memcmp(key->name, segment->name, segment->name_length) == 0)
            return key;
    return NULL;
}

/* Where a path leads: the value's node (NULL when absent), its type (the
 * element type for "list[i]") and the default that applies if absent. */
typedef struct resolved {
    keel_config_type_t type;
    const cfg_node_t *node;
    const char *default_value;
} resolved_t;

static int resolve(const cfg_node_t *map, const keel_config_key_t *keys, const char *path,
                   resolved_t *out)
{
    if (path == NULL || out == NULL || check_path_syntax(path) < 0)
        return KEEL_EINVAL;
    /* Defaults apply inside absent sections, but not inside list elements
     * that do not exist: "queues[7].name" has no value to default. */
    bool defaults_apply = true;
    segment_t segment = {.next = path};
    while (segment.next != NULL) {
        parse_segment(segment.next, &segment);
        const keel_config_key_t *key = find_segment_key(keys, &segment);
        if (key == NULL)
            return KEEL_ENOTFOUND;
        const cfg_node_t *node = cfg_map_get(map, key->name);
        keel_config_type_t type = key->type;
        const char *default_value = key->default_value;
        if (segment.has_index) {
            if (type != KEEL_CFG_STRING_LIST && type != KEEL_CFG_SECTION_LIST)
                return KEEL_ETYPE;
            node = cfg_seq_at(node, segment.index);
            defaults_apply = defaults_apply && node != NULL;
            type = type == KEEL_CFG_STRING_LIST ? KEEL_CFG_STRING : KEEL_CFG_SECTION;
            default_value = NULL;
        }
        if (segment.next == NULL) {
            *out = (resolved_t){type, node, defaults_apply ? default_value : NULL};
            return 0;
        }
        if (type != KEEL_CFG_SECTION)
            return KEEL_ETYPE;
        map = node;
        keys = key->fields;
    }
    return KEEL_EINVAL;
}

/* The scalar text at a resolved path, or its default. */
static int resolved_text(const resolved_t *value, const char **text)
{
    cfg_kind_t kind = cfg_node_kind(value->node);
    if (kind == CFG_SCALAR) {
        *text = cfg_node_scalar(value->node);
        return 0;
    }
    if (kind != CFG_NULL)
        return KEEL_ETYPE;
    if (value->default_value == NULL)
        return KEEL_ENOTFOUND;
    *text = value->default_value;
    return 0;
}

/* ---- typed reads -------------------------------------------------------- */

int cfg_read_string(const cfg_node_t *map, const keel_config_key_t *keys, const char *path,
                    const char **out)
{
    if (out == NULL)
        return KEEL_EINVAL;
    resolved_t value;
    int rc = resolve(map, keys, path, &value);
    if (rc < 0)
        return rc;
    if (value.type != KEEL_CFG_STRING && value.type != KEEL_CFG_TOPIC &&
        value.type != KEEL_CFG_INSTANCE)
        return KEEL_ETYPE;
    return resolved_text(&value, out);
}

int cfg_read_int(const cfg_node_t *map, const keel_config_key_t *keys, const char *path,
                 int64_t *out)
{
    if (out == NULL)
        return KEEL_EINVAL;
    resolved_t value;
    const char *text;
    int rc = resolve(map, keys, path, &value);
    if (rc < 0)
        return rc;
    int (*parse)(const char *, int64_t *);
    switch (value.type) {
    case KEEL_CFG_INT:
        parse = cfg_parse_int;
        break;
    case KEEL_CFG_DURATION:
        parse = cfg_parse_duration_ms;
        break;
    case KEEL_CFG_SIZE:
        parse = cfg_parse_size_bytes;
        break;
    default:
        return KEEL_ETYPE;
    }
    rc = resolved_text(&value, &text);
    if (rc < 0)
        return rc;
    return parse(text, out) == 0 ? 0 : KEEL_ETYPE;
}

int cfg_read_double(const cfg_node_t *map, const keel_config_key_t *keys, const char *path,
                    double *out)
{
    if (out == NULL)
        return KEEL_EINVAL;
    resolved_t value;
    const char *text;
    int rc = resolve(map, keys, path, &value);
    if (rc < 0)
        return rc;
    if (value.type != KEEL_CFG_DOUBLE && value.type != KEEL_CFG_INT)
        return KEEL_ETYPE;
    rc = resolved_text(&value, &text);
    if (rc < 0)
        return rc;
    if (value.type == KEEL_CFG_DOUBLE)
        return cfg_parse_double(text, out) == 0 ? 0 : KEEL_ETYPE;
    int64_t integer;
    if (cfg_parse_int(text, &integer) < 0)
        return KEEL_ETYPE;
    *out = (double)integer;
    return 0;
}

int cfg_read_bool(const cfg_node_t *map, const keel_config_key_t *keys, const char *path, bool *out)
{
    if (out == NULL)
        return KEEL_EINVAL;
    resolved_t value;
    const char *text;
    int rc = resolve(map, keys, path, &value);
    if (rc < 0)
        return rc;
    if (value.type != KEEL_CFG_BOOL)
        return KEEL_ETYPE;
    rc = resolved_text(&value, &text);
    if (rc < 0)
        return rc;
    return cfg_parse_bool(text, out) == 0 ? 0 : KEEL_ETYPE;
}

int cfg_read_count(const cfg_node_t *map, const keel_config_key_t *keys, const char *path,
                   size_t *out)
{
    if (out == NULL)
        return KEEL_EINVAL;
    resolved_t value;
    int rc = resolve(map, keys, path, &value);
    if (rc < 0)
        return rc;
    if (value.type != KEEL_CFG_STRING_LIST && value.type != KEEL_CFG_SECTION_LIST)
        return KEEL_ETYPE;
    cfg_kind_t kind = cfg_node_kind(value.node);
    if (kind != CFG_SEQ && kind != CFG_NULL)
        return KEEL_ETYPE;
    *out = cfg_seq_len(value.node);
    return 0;
}

bool cfg_is_set(const cfg_node_t *map, const keel_config_key_t *keys, const char *path)
{
    resolved_t value;
    return resolve(map, keys, path, &value) == 0 && value.node != NULL;
}

/* Length of the valid UTF-8 sequence at s (no overlongs, surrogates or
 * code points above U+10FFFF), or 0. s is NUL-terminated. */
size_t cfg_utf8_sequence_length(const unsigned char *s)
{
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        need = 1;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        need = 2;
        lo = s[0] == 0xE0 ? 0xA0 : 0x80;
        hi = s[0] == 0xED ? 0x9F : 0xBF;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        need = 3;
        lo = s[0] == 0xF0 ? 0x90 : 0x80;
        hi = s[0] == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi) /* also stops at the NUL */
        return 0;
    for (size_t k = 2; k <= need; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    return need + 1;
}
