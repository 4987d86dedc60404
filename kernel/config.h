/*
 * config.h — keel's YAML config: parsing with ${VAR} substitution, an
 * immutable node tree that remembers file:line:column, validation against
 * keel_config_key_t tables, and typed reads by path with declared defaults.
 *
 * A document is immutable once loaded: any thread may read it.
 */
#ifndef KEEL_KERNEL_CONFIG_H
#define KEEL_KERNEL_CONFIG_H

#include <keel/keel.h>
#include <stdio.h>

typedef enum cfg_kind { CFG_NULL, CFG_SCALAR, CFG_MAP, CFG_SEQ } cfg_kind_t;

typedef struct cfg_node cfg_node_t;
typedef struct cfg_doc cfg_doc_t;

/* A growing list of "file:line:column: message" strings. */
typedef struct cfg_errors {
    char **items;
    size_t count;
    size_t capacity;
} cfg_errors_t;

void cfg_errors_init(cfg_errors_t *errs);
void cfg_errors_free(cfg_errors_t *errs);
/* Adds "file:line:column: <formatted>" located at node (node may be NULL:
 * then no location prefix). */
void cfg_errors_add(cfg_errors_t *errs, const cfg_node_t *node, const char *fmt, ...)
    KEEL_PRINTF(3, 4);
/* Prints each error on its own line. */
void cfg_errors_print(const cfg_errors_t *errs, FILE *out);

/* Loads a YAML file (or text named `name` in messages). ${VAR} and
 * ${VAR:-default} are substituted in scalar values, $$ is a literal $.
 * An unset ${VAR} without a default, bad YAML, or duplicate keys add
 * errors and return NULL. Anchors and aliases are resolved. */
cfg_doc_t *cfg_doc_load_file(const char *path, cfg_errors_t *errs);
cfg_doc_t *cfg_doc_load_string(const char *name, const char *text, cfg_errors_t *errs);
void cfg_doc_free(cfg_doc_t *doc);
const cfg_node_t *cfg_doc_root(const cfg_doc_t *doc);

cfg_kind_t cfg_node_kind(const cfg_node_t *node);
const char *cfg_node_scalar(const cfg_node_t *node); /* NULL unless SCALAR */
const char *cfg_node_file(const cfg_node_t *node);
int cfg_node_line(const cfg_node_t *node);                             /* 1-based */
int cfg_node_column(const cfg_node_t *node);                           /* 1-based */
const cfg_node_t *cfg_map_get(const cfg_node_t *map, const char *key); /* NULL if absent */
size_t cfg_map_size(const cfg_node_t *map);
const char *cfg_map_key_at(const cfg_node_t *map, size_t index);
const cfg_node_t *cfg_map_key_node_at(const cfg_node_t *map, size_t index);
const cfg_node_t *cfg_map_value_at(const cfg_node_t *map, size_t index);
size_t cfg_seq_len(const cfg_node_t *seq);
const cfg_node_t *cfg_seq_at(const cfg_node_t *seq, size_t index);

/* Instance names a config may refer to (for KEEL_CFG_INSTANCE values). */
typedef struct cfg_instances {
    const char *const *names;
    size_t count;
} cfg_instances_t;

/* Calls fn for every value of a TOPIC or INSTANCE key found in `map`
 * (including inside sections and lists). Used for grants and ordering. */
typedef void (*cfg_ref_fn)(void *arg, keel_config_type_t type, const char *value);

/*
 * Validates `map` (a CFG_MAP, or CFG_NULL/NULL meaning empty) against
 * `keys`. `context` names the section in messages ("kernel",
 * "plugins[2].config"). Adds one error per problem: unknown key (listing
 * the allowed keys), wrong type (expected vs got), missing required key,
 * an INSTANCE value not in `instances` (listing them; skipped when
 * instances is NULL). Returns the number of errors added.
 */
size_t cfg_validate(const cfg_node_t *map, const keel_config_key_t *keys, const char *context,
                    const cfg_instances_t *instances, cfg_errors_t *errs);

/* Checks that a plugin's key table is well formed: names unique and valid,
 * types known, defaults parse as their type, REQUIRED keys have no default,
 * SECTION/SECTION_LIST have fields. `owner` names the plugin in errors. */
size_t cfg_check_key_table(const keel_config_key_t *keys, const char *owner, cfg_errors_t *errs);

void cfg_for_each_ref(const cfg_node_t *map, const keel_config_key_t *keys, cfg_ref_fn fn,
                      void *arg);

/*
 * Typed reads by path ("a", "a.b", "list[2]", "list[2].key") from a
 * validated map, falling back to declared defaults. Return 0,
 * KEEL_ENOTFOUND (undeclared, or absent without default), KEEL_ETYPE
 * (declared with an incompatible type) or KEEL_EINVAL (malformed path).
 * Strings returned live as long as the doc (or the key table for defaults).
 */
int cfg_read_string(const cfg_node_t *map, const keel_config_key_t *keys, const char *path,
                    const char **out);
int cfg_read_int(const cfg_node_t *map, const keel_config_key_t *keys, const char *path,
                 int64_t *out); /* INT, DURATION (ms), SIZE (bytes) */
int cfg_read_double(const cfg_node_t *map, const keel_config_key_t *keys, const char *path,
                    double *out); /* DOUBLE or INT */
int cfg_read_bool(const cfg_node_t *map, const keel_config_key_t *keys, const char *path,
                  bool *out);
int cfg_read_count(const cfg_node_t *map, const keel_config_key_t *keys, const char *path,
                   size_t *out); /* STRING_LIST / SECTION_LIST; 0 when absent */
bool cfg_is_set(const cfg_node_t *map, const keel_config_key_t *keys, const char *path);

/* Scalar conversions (strict: the whole string must parse). 0 or KEEL_EINVAL. */
int cfg_parse_int(const char *text, int64_t *out);
int cfg_parse_double(const char *text, double *out);
int cfg_parse_bool(const char *text, bool *out); /* true/false/yes/no/on/off */
int cfg_parse_duration_ms(const char *text, int64_t *out);
int cfg_parse_size_bytes(const char *text, int64_t *out);

const char *cfg_type_name(keel_config_type_t type); /* "int", "duration", ... */

/* Prints a key table for --describe-plugin: name, type, default or
 * "(required)", description; nested fields indented. */
void cfg_describe(FILE *out, const keel_config_key_t *keys, int indent);

/* Length of the valid UTF-8 sequence at s (no overlongs, surrogates or
 * code points above U+10FFFF), or 0. s is NUL-terminated. */
size_t cfg_utf8_sequence_length(const unsigned char *s);

#endif
