/*
 * config_schema.c — config errors and messages: the cfg_errors_* list,
 * checking a config map against a keel_config_key_t table, checking the
 * tables plugins declare, walking references for grants, and printing
 * tables for --describe-plugin.
 *
 * Messages follow "<file>:<line>:<column>: <context>: <what>" and say what
 * would be accepted, because a user fixing a config reads nothing else.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ------------------------------------------------------------- */

void cfg_errors_init(cfg_errors_t *errs)
{
    errs->items = NULL;
    errs->count = 0;
    errs->capacity = 0;
}

void cfg_errors_free(cfg_errors_t *errs)
{
    for (size_t i = 0; i < errs->count; i++)
        free(errs->items[i]);
    free(errs->items);
    cfg_errors_init(errs);
}

static char *format_message(const char *fmt, va_list args) KEEL_PRINTF(1, 0);

static char *format_message(const char *fmt, va_list args)
{
    va_list copy;
    va_copy(copy, args);
    int length = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (length < 0)
        return NULL;
    char *text = malloc((size_t)length + 1);
    if (text != NULL)
        vsnprintf(text, (size_t)length + 1, fmt, args);
    return text;
}

static void errors_push(cfg_errors_t *errs, char *message)
{
    if (message == NULL)
        return; /* out of memory: the caller still knows it failed */
    if (errs->count == errs->capacity) {
        size_t capacity = errs->capacity ? errs->capacity * 2 : 8;
        char **items = realloc(errs->items, capacity * sizeof(*items));
        if (items == NULL) {
            free(message);
            return;
        }
        errs->items = items;
        errs->capacity = capacity;
    }
    errs->items[errs->count++] = message;
}

void cfg_errors_add(cfg_errors_t *errs, const cfg_node_t *node, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *what = format_message(fmt, args);
    va_end(args);
    if (what == NULL || node == NULL) {
        errors_push(errs, what);
        return;
    }
    const char *file = cfg_node_file(node);
    int line = cfg_node_line(node), column = cfg_node_column(node);
    int length = snprintf(NULL, 0, "%s:%d:%d: %s", file, line, column, what);
    char *message = length < 0 ? NULL : malloc((size_t)length + 1);
    if (message != NULL)
        snprintf(message, (size_t)length + 1, "%s:%d:%d: %s", file, line, column, what);
    free(what);
    errors_push(errs, message);
}

void cfg_errors_print(const cfg_errors_t *errs, FILE *out)
{
    for (size_t i = 0; i < errs->count; i++)
        fprintf(out, "%s\n", errs->items[i]);
}

/* Deep enough for any real table; stops a table whose fields point back
 * at itself from recursing forever. */
enum { MAX_SECTION_DEPTH = 16, MAX_SHOWN_VALUE = 60 };

const char *cfg_type_name(keel_config_type_t type)
{
    switch (type) {
    case KEEL_CFG_STRING:
        return "string";
    case KEEL_CFG_INT:
        return "int";
    case KEEL_CFG_DOUBLE:
        return "double";
    case KEEL_CFG_BOOL:
        return "bool";
    case KEEL_CFG_DURATION:
        return "duration";
    case KEEL_CFG_SIZE:
        return "size";
    case KEEL_CFG_STRING_LIST:
        return "string list";
    case KEEL_CFG_INSTANCE:
        return "instance";
    case KEEL_CFG_TOPIC:
        return "topic";
    case KEEL_CFG_SECTION:
        return "section";
    case KEEL_CFG_SECTION_LIST:
        return "section list";
    }
    return "unknown";
}

static bool is_section_type(keel_config_type_t type)
{
    return type == KEEL_CFG_SECTION || type == KEEL_CFG_SECTION_LIST;
}

static bool is_known_type(keel_config_type_t type)
{
    return type >= KEEL_CFG_STRING && type <= KEEL_CFG_SECTION_LIST;
}

static bool topic_is_valid(const char *text)
{
    if (text[0] == '\0')
        return false;
    for (const char *c = text; *c != '\0'; c++)
        if (isspace((unsigned char)*c))
            return false;
    return true;
}

/* Whether scalar text is a valid value of a scalar-valued type. */
static bool scalar_fits(keel_config_type_t type, const char *text)
{
    int64_t integer;
    double real;
    bool flag;
    switch (type) {
    case KEEL_CFG_STRING:
    case KEEL_CFG_INSTANCE:
        return true;
    case KEEL_CFG_TOPIC:
        return topic_is_valid(text);
    case KEEL_CFG_INT:
        return cfg_parse_int(text, &integer) == 0;
    case KEEL_CFG_DOUBLE:
        return cfg_parse_double(text, &real) == 0;
    case KEEL_CFG_BOOL:
        return cfg_parse_bool(text, &flag) == 0;
    case KEEL_CFG_DURATION:
        return cfg_parse_duration_ms(text, &integer) == 0;
    case KEEL_CFG_SIZE:
        return cfg_parse_size_bytes(text, &integer) == 0;
    default:
        return false;
    }
}

/* ---- small text helpers ------------------------------------------------- */

typedef struct joined {
    char *text;
    size_t length;
} joined_t;

/* Appends ", name" (or "name" first); on allocation failure the list just
 * stays shorter, which only shortens a message. */
static void join_append(joined_t *list, const char *name)
{
    size_t add = strlen(name) + (list->length ? 2 : 0);
    char *grown = realloc(list->text, list->length + add + 1);
    if (grown == NULL)
        return;
    list->text = grown;
    snprintf(list->text + list->length, add + 1, "%s%s", list->length ? ", " : "", name);
    list->length += add;
}

static const char *joined_or_none(const joined_t *list)
{
    return list->length ? list->text : "(none)";
}

static const char *separator(const char *context)
{
    return context[0] ? ": " : "";
}

/* "ctx.key" or "ctx[3]" into buf. An absurdly deep path is cut short,
 * which only shortens a message. */
static void child_path(char *buf, size_t size, const char *context, const char *key, size_t index)
{
    int length = key ? snprintf(buf, size, "%s%s%s", context, context[0] ? "." : "", key)
                     : snprintf(buf, size, "%s[%zu]", context, index);
    if (length < 0)
        buf[0] = '\0';
}

/* What a value is, for "got ...": 'text', null, a mapping or a list. */
static void describe_value(const cfg_node_t *node, char *buf, size_t size)
{
    switch (cfg_node_kind(node)) {
    case CFG_SCALAR: {
        const char *text = cfg_node_scalar(node);
        if (strlen(text) > MAX_SHOWN_VALUE)
            snprintf(buf, size, "'%.*s...'", MAX_SHOWN_VALUE, text);
        else
            snprintf(buf, size, "'%s'", text);
        break;
    }
    case CFG_MAP:
        snprintf(buf, size, "a mapping");
        break;
    case CFG_SEQ:
        snprintf(buf, size, "a list");
        break;
    default:
        snprintf(buf, size, "null");
        break;
    }
}

static size_t type_error(const cfg_node_t *value, const char *path, keel_config_type_t expected,
                         cfg_errors_t *errs)
{
    char got[MAX_SHOWN_VALUE + 8];
    describe_value(value, got, sizeof(got));
    cfg_errors_add(errs, value, "%s%sexpected %s, got %s", path, separator(path),
                   cfg_type_name(expected), got);
    return 1;
}

/* ---- validation --------------------------------------------------------- */

static const keel_config_key_t *find_declared(const keel_config_key_t *keys, const char *name)
{
    for (const keel_config_key_t *key = keys; key && key->name; key++)
        if (strcmp(key->name, name) == 0)
            return key;
    return NULL;
}

static bool instance_exists(const cfg_instances_t *instances, const char *name)
{
    for (size_t i = 0; i < instances->count; i++)
        if (strcmp(instances->names[i], name) == 0)
            return true;
    return false;
}

static size_t dangling_instance(const cfg_node_t *at, const char *path, const char *name,
                                const char *origin, const cfg_instances_t *instances,
                                cfg_errors_t *errs)
{
    joined_t list = {0};
    for (size_t i = 0; i < instances->count; i++)
        join_append(&list, instances->names[i]);
    cfg_errors_add(errs, at, "%s%sno instance named '%s'%s; instances: %s", path, separator(path),
                   name, origin, joined_or_none(&list));
    free(list.text);
    return 1;
}

static size_t validate_map(const cfg_node_t *map, const keel_config_key_t *keys,
                           const char *context, const cfg_instances_t *instances,
                           cfg_errors_t *errs, int depth);

static size_t validate_string_list(const cfg_node_t *list, const char *path, cfg_errors_t *errs)
{
    size_t errors = 0;
    char item_path[512];
    for (size_t i = 0; i < cfg_seq_len(list); i++) {
        const cfg_node_t *item = cfg_seq_at(list, i);
        child_path(item_path, sizeof(item_path), path, NULL, i);
        if (cfg_node_kind(item) != CFG_SCALAR)
            errors += type_error(item, item_path, KEEL_CFG_STRING, errs);
    }
    return errors;
}

static size_t validate_section_list(const cfg_node_t *list, const keel_config_key_t *key,
                                    const char *path, const cfg_instances_t *instances,
                                    cfg_errors_t *errs, int depth)
{
    size_t errors = 0;
    char item_path[512];
    for (size_t i = 0; i < cfg_seq_len(list); i++) {
        const cfg_node_t *item = cfg_seq_at(list, i);
        child_path(item_path, sizeof(item_path), path, NULL, i);
        if (cfg_node_kind(item) != CFG_MAP)
            errors += type_error(item, item_path, KEEL_CFG_SECTION, errs);
        else
            errors += validate_map(item, key->fields, item_path, instances, errs, depth + 1);
    }
    return errors;
}

static size_t validate_value(const cfg_node_t *value, const keel_config_key_t *key,
                             const char *path, const cfg_instances_t *instances, cfg_errors_t *errs,
                             int depth)
{
    cfg_kind_t kind = cfg_node_kind(value);
    switch (key->type) {
    case KEEL_CFG_SECTION:
        if (kind != CFG_MAP && kind != CFG_NULL) /* null: an empty section */
            return type_error(value, path, key->type, errs);
        return validate_map(value, key->fields, path, instances, errs, depth + 1);
    case KEEL_CFG_SECTION_LIST:
        if (kind != CFG_SEQ)
            return type_error(value, path, key->type, errs);
        return validate_section_list(value, key, path, instances, errs, depth);
    case KEEL_CFG_STRING_LIST:
        if (kind != CFG_SEQ)
            return type_error(value, path, key->type, errs);
        return validate_string_list(value, path, errs);
    default:
        break;
    }
    if (kind != CFG_SCALAR || !scalar_fits(key->type, cfg_node_scalar(value)))
        return type_error(value, path, key->type, errs);
    if (key->type == KEEL_CFG_INSTANCE && instances != NULL &&
        !instance_exists(instances, cfg_node_scalar(value)))
        return dangling_instance(value, path, cfg_node_scalar(value), "", instances, errs);
    return 0;
}

/* Required keys that are absent, and absent INSTANCE keys whose default
 * names no instance (the plugin would look that default up). */
static size_t validate_absent(const cfg_node_t *map, const keel_config_key_t *keys,
                              const char *context, const cfg_instances_t *instances,
                              cfg_errors_t *errs)
{
    size_t errors = 0;
    char path[512];
    for (const keel_config_key_t *key = keys; key && key->name; key++) {
        if (cfg_map_get(map, key->name) != NULL)
            continue;
        if (key->flags & KEEL_CFG_REQUIRED) {
            cfg_errors_add(errs, map, "%s%smissing required key '%s'", context, separator(context),
                           key->name);
            errors++;
        } else if (key->type == KEEL_CFG_INSTANCE && key->default_value && instances &&
                   !instance_exists(instances, key->default_value)) {
            child_path(path, sizeof(path), context, key->name, 0);
            errors +=
                dangling_instance(map, path, key->default_value, " (the default)", instances, errs);
        }
    }
    return errors;
}

static size_t validate_map(const cfg_node_t *map, const keel_config_key_t *keys,
                           const char *context, const cfg_instances_t *instances,
                           cfg_errors_t *errs, int depth)
{
    if (cfg_node_kind(map) != CFG_MAP && cfg_node_kind(map) != CFG_NULL)
        return type_error(map, context, KEEL_CFG_SECTION, errs);
    if (depth > MAX_SECTION_DEPTH) {
        cfg_errors_add(errs, map, "%s%ssections nested too deeply", context, separator(context));
        return 1;
    }
    size_t errors = 0;
    char path[512];
    for (size_t i = 0; i < cfg_map_size(map); i++) {
        const char *name = cfg_map_key_at(map, i);
        const keel_config_key_t *key = find_declared(keys, name);
        if (key == NULL) {
            joined_t allowed = {0};
            for (const keel_config_key_t *k = keys; k && k->name; k++)
                join_append(&allowed, k->name);
            cfg_errors_add(errs, cfg_map_key_node_at(map, i),
                           "%s%sunknown key '%s'; allowed keys: %s", context, separator(context),
                           name, joined_or_none(&allowed));
            free(allowed.text);
            errors++;
            continue;
        }
        child_path(path, sizeof(path), context, name, 0);
        errors += validate_value(cfg_map_value_at(map, i), key, path, instances, errs, depth);
    }
    return errors + validate_absent(map, keys, context, instances, errs);
}

size_t cfg_validate(const cfg_node_t *map, const keel_config_key_t *keys, const char *context,
                    const cfg_instances_t *instances, cfg_errors_t *errs)
{
    return validate_map(map, keys, context ? context : "", instances, errs, 0);
}

/* ---- key tables --------------------------------------------------------- */

static bool key_name_is_valid(const char *name)
{
    if (!isalpha((unsigned char)name[0]) && name[0] != '_')
        return false;
    for (const char *c = name; *c != '\0'; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
            return false;
    return true;
}

static size_t check_table(const keel_config_key_t *keys, const char *owner, const char *prefix,
                          cfg_errors_t *errs, int depth);

static size_t key_error(cfg_errors_t *errs, const char *owner, const char *prefix,
                        const keel_config_key_t *key, const char *fmt, ...) KEEL_PRINTF(5, 6);

/* Adds "<owner>: config key '<prefix.name>': <what>"; returns 1 (one error). */
static size_t key_error(cfg_errors_t *errs, const char *owner, const char *prefix,
                        const keel_config_key_t *key, const char *fmt, ...)
{
    char what[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(what, sizeof(what), fmt, args);
    va_end(args);
    cfg_errors_add(errs, NULL, "%s: config key '%s%s%s': %s", owner, prefix, prefix[0] ? "." : "",
                   key->name, what);
    return 1;
}

static size_t check_default(const keel_config_key_t *key, const char *owner, const char *prefix,
                            cfg_errors_t *errs)
{
    if (key->default_value == NULL)
        return 0;
    if (key->flags & KEEL_CFG_REQUIRED)
        return key_error(errs, owner, prefix, key, "is required and has default '%s'; drop one",
                         key->default_value);
    if (key->type == KEEL_CFG_STRING_LIST || is_section_type(key->type))
        return key_error(errs, owner, prefix, key, "%s keys cannot have a default",
                         cfg_type_name(key->type));
    if (!scalar_fits(key->type, key->default_value))
        return key_error(errs, owner, prefix, key, "default '%s' is not a valid %s",
                         key->default_value, cfg_type_name(key->type));
    return 0;
}

static size_t check_key(const keel_config_key_t *table, const keel_config_key_t *key,
                        const char *owner, const char *prefix, cfg_errors_t *errs, int depth)
{
    if (!key_name_is_valid(key->name))
        return key_error(errs, owner, prefix, key,
                         "invalid name (use letters, digits, '_' and '-')");
    for (const keel_config_key_t *earlier = table; earlier != key; earlier++)
        if (strcmp(earlier->name, key->name) == 0)
            return key_error(errs, owner, prefix, key, "declared twice");
    if (!is_known_type(key->type))
        return key_error(errs, owner, prefix, key, "unknown type %d", (int)key->type);
    if (key->flags & ~KEEL_CFG_REQUIRED)
        return key_error(errs, owner, prefix, key, "unknown flags 0x%x",
                         key->flags & ~KEEL_CFG_REQUIRED);
    size_t errors = check_default(key, owner, prefix, errs);
    if (is_section_type(key->type) && key->fields == NULL)
        return errors +
               key_error(errs, owner, prefix, key, "%s keys need fields", cfg_type_name(key->type));
    if (!is_section_type(key->type) && key->fields != NULL)
        return errors + key_error(errs, owner, prefix, key, "only section keys have fields");
    if (key->fields != NULL) {
        char nested[512];
        child_path(nested, sizeof(nested), prefix, key->name, 0);
        errors += check_table(key->fields, owner, nested, errs, depth + 1);
    }
    return errors;
}

static size_t check_table(const keel_config_key_t *keys, const char *owner, const char *prefix,
                          cfg_errors_t *errs, int depth)
{
    if (depth > MAX_SECTION_DEPTH) {
        cfg_errors_add(errs, NULL, "%s: config section '%s' nested too deeply", owner, prefix);
        return 1;
    }
    size_t errors = 0;
    for (const keel_config_key_t *key = keys; key && key->name; key++)
        errors += check_key(keys, key, owner, prefix, errs, depth);
    return errors;
}

size_t cfg_check_key_table(const keel_config_key_t *keys, const char *owner, cfg_errors_t *errs)
{
    return check_table(keys, owner ? owner : "?", "", errs, 0);
}

/* ---- references --------------------------------------------------------- */

/* Defaults count too: a plugin reading an absent TOPIC key gets its
 * default and publishes there, so that topic must be granted as well. */
static void refs_in_map(const cfg_node_t *map, const keel_config_key_t *keys, cfg_ref_fn fn,
                        void *arg, int depth)
{
    if (depth > MAX_SECTION_DEPTH)
        return;
    for (const keel_config_key_t *key = keys; key && key->name; key++) {
        const cfg_node_t *value = cfg_map_get(map, key->name);
        if (key->type == KEEL_CFG_TOPIC || key->type == KEEL_CFG_INSTANCE) {
            const char *text = value ? cfg_node_scalar(value) : key->default_value;
            if (text != NULL)
                fn(arg, key->type, text);
        } else if (key->type == KEEL_CFG_SECTION) {
            if (cfg_node_kind(value) == CFG_MAP || cfg_node_kind(value) == CFG_NULL)
                refs_in_map(value, key->fields, fn, arg, depth + 1);
        } else if (key->type == KEEL_CFG_SECTION_LIST) {
            for (size_t i = 0; i < cfg_seq_len(value); i++)
                if (cfg_node_kind(cfg_seq_at(value, i)) == CFG_MAP)
                    refs_in_map(cfg_seq_at(value, i), key->fields, fn, arg, depth + 1);
        }
    }
}

void cfg_for_each_ref(const cfg_node_t *map, const keel_config_key_t *keys, cfg_ref_fn fn,
                      void *arg)
{
    if (fn != NULL && (cfg_node_kind(map) == CFG_MAP || cfg_node_kind(map) == CFG_NULL))
        refs_in_map(map, keys, fn, arg, 0);
}

/* ---- describe ----------------------------------------------------------- */

static const char *default_text(const keel_config_key_t *key)
{
    if (key->flags & KEEL_CFG_REQUIRED)
        return "(required)";
    return key->default_value ? key->default_value : "-";
}

static void describe_table(FILE *out, const keel_config_key_t *keys, int indent, int depth)
{
    int name_width = 0, default_width = 0;
    for (const keel_config_key_t *key = keys; key && key->name; key++) {
        int name_length = (int)strlen(key->name), default_length = (int)strlen(default_text(key));
        name_width = name_length > name_width ? name_length : name_width;
        default_width = default_length > default_width ? default_length : default_width;
    }
    for (const keel_config_key_t *key = keys; key && key->name; key++) {
        const char *description = key->description ? key->description : "";
        if (description[0] != '\0')
            fprintf(out, "%*s%-*s  %-12s  %-*s  %s\n", indent, "", name_width, key->name,
                    cfg_type_name(key->type), default_width, default_text(key), description);
        else
            fprintf(out, "%*s%-*s  %-12s  %s\n", indent, "", name_width, key->name,
                    cfg_type_name(key->type), default_text(key));
        if (is_section_type(key->type) && depth < MAX_SECTION_DEPTH)
            describe_table(out, key->fields, indent + 2, depth + 1);
    }
}

void cfg_describe(FILE *out, const keel_config_key_t *keys, int indent)
{
    describe_table(out, keys, indent, 0);
}
