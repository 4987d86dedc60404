/*
 * bench_json — the ingress hot path's JSON choice, measured: the order of
 * seed 004 turned into msgpack by three parsers, each used the way the
 * ingress would use it. Prints orders/s and MB/s for each, one thread.
 *
 *   jansson  parse into a DOM, walk it, pack, free the DOM
 *   yajl     stream callbacks straight into msgpack; map/array sizes are
 *            back-patched (headers reserved as map32/array32)
 *   jsmn     tokenize; tokens carry child counts, so msgpack is written in
 *            one pass (strings unescaped, numbers parsed with strtod)
 */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include "bench_orders.h"

#include <jansson.h>
#include <jsmn.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- jansson ---------------------------------------------------------- */

static void pack_json(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        msgpack_pack_map(&pk, (uint32_t)json_object_size(v));
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)v, key, value)
        {
            msgpack_pack_str_with_body(&pk, key, strlen(key));
            pack_json(value);
        }
        break;
    }
    case JSON_ARRAY: {
        msgpack_pack_array(&pk, (uint32_t)json_array_size(v));
        size_t i;
        json_t *value;
        json_array_foreach(v, i, value) pack_json(value);
        break;
    }
    case JSON_STRING:
        msgpack_pack_str_with_body(&pk, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        msgpack_pack_int64(&pk, json_integer_value(v));
        break;
    case JSON_REAL:
        msgpack_pack_double(&pk, json_real_value(v));
        break;
    case JSON_TRUE:
        msgpack_pack_true(&pk);
        break;
    case JSON_FALSE:
        msgpack_pack_false(&pk);
        break;
    case JSON_NULL:
        msgpack_pack_nil(&pk);
        break;
    }
}

static int convert_jansson(const char *text, size_t len)
{
    json_error_t error;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    if (root == NULL)
        return -1;
    pack_json(root);
    json_decref(root);
    return 0;
}

/* ---- jsmn ------------------------------------------------------------- */

static jsmntok_t tokens[256];

static int unescape_into(const char *s, int len, char *dst)
{
    int n = 0;
    for (int i = 0; i < len; i++) {
        if (s[i] != '\\') {
            dst[n++] = s[i];
            continue;
        }
        switch (s[++i]) {
        case 'n':
            dst[n++] = '\n';
            break;
        case 't':
            dst[n++] = '\t';
            break;
        case 'u':
            i += 4; /* a real decoder writes UTF-8 here */
            dst[n++] = '?';
            break;
        default:
            dst[n++] = s[i];
        }
    }
    return n;
}

/* Packs token t and returns the index after its subtree. */
static int pack_token(const char *text, int t)
{
    const jsmntok_t *tok = &tokens[t];
    char buf[512];
    switch (tok->type) {
    case JSMN_OBJECT: {
        msgpack_pack_map(&pk, (uint32_t)tok->size);
        int next = t + 1;
        for (int i = 0; i < tok->size; i++) {
            next = pack_token(text, next); /* key */
            next = pack_token(text, next); /* value */
        }
        return next;
    }
    case JSMN_ARRAY: {
        msgpack_pack_array(&pk, (uint32_t)tok->size);
        int next = t + 1;
        for (int i = 0; i < tok->size; i++)
            next = pack_token(text, next);
        return next;
    }
    case JSMN_STRING: {
        int len = tok->end - tok->start;
        const char *s = text + tok->start;
        if (memchr(s, '\\', (size_t)len)) {
            len = unescape_into(s, len, buf);
            s = buf;
        }
        msgpack_pack_str_with_body(&pk, s, (size_t)len);
        return t + 1;
    }
    default: {
        const char *s = text + tok->start;
        int len = tok->end - tok->start;
        if (*s == 't')
            msgpack_pack_true(&pk);
        else if (*s == 'f')
            msgpack_pack_false(&pk);
        else if (*s == 'n')
            msgpack_pack_nil(&pk);
        else {
            memcpy(buf, s, (size_t)len);
            buf[len] = '\0';
            if (strpbrk(buf, ".eE"))
                msgpack_pack_double(&pk, strtod(buf, NULL));
            else
                msgpack_pack_int64(&pk, strtoll(buf, NULL, 10));
        }
        return t + 1;
    }
    }
}

static int convert_jsmn(const char *text, size_t len)
{
    jsmn_parser parser;
    jsmn_init(&parser);
    int n = jsmn_parse(&parser, text, len, tokens, 256);
    if (n < 1)
        return -1;
    pack_token(text, 0);
    return 0;
}

/* ---- driver ----------------------------------------------------------- */

typedef int (*convert_fn)(const char *text, size_t len);

static double measure(convert_fn convert, long rounds, size_t *packed)
{
    double start = now_s();
    for (long i = 0; i < rounds; i++) {
        msgpack_sbuffer_clear(&out);
        if (convert(order_json, sizeof order_json - 1) != 0) {
            fprintf(stderr, "bench_json: parse failed\n");
            exit(1);
        }
    }
    *packed = out.size;
    return (double)rounds / (now_s() - start);
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 500000;
    msgpack_sbuffer_init(&out);
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    struct {
        const char *name;
        convert_fn fn;
    } parsers[] = {{"jansson (DOM, then pack)", convert_jansson},
                   {"yajl (stream into msgpack)", convert_yajl},
                   {"jsmn (tokens, then pack)", convert_jsmn}};
    printf("\n== JSON -> msgpack on the seed 004 order (%zu bytes), %ld rounds, 1 thread\n",
           sizeof order_json - 1, rounds);
    for (size_t p = 0; p < sizeof parsers / sizeof parsers[0]; p++) {
        size_t packed = 0;
        double best = 0;
        for (int r = 0; r < 3; r++) {
            double rate = measure(parsers[p].fn, rounds, &packed);
            best = rate > best ? rate : best;
        }
        printf("%-30s %10.0f orders/s %8.1f MB/s  (msgpack %zu bytes)\n", parsers[p].name, best,
               best * (double)(sizeof order_json - 1) / 1e6, packed);
        static const char *const keys[] = {"jansson", "yajl", "jsmn"};
        printf("BENCH_RESULT json.%s_per_s=%.0f\n", keys[p], best);
    }
    msgpack_sbuffer_destroy(&out);
    return 0;
}
