/* Confirmation number tests: the Damm table's properties, check digits that catch every
 * single-digit substitution and adjacent transposition over a large sample, formats rendered
 * exactly, every format error with its message, distinct sequences giving distinct numbers. */
#include "number.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define DAY_2026_11_22 INT64_C(1795305600) /* 2026-11-22T00:00:00Z */

/* splitmix64: a fixed seed keeps every run identical. */
static uint64_t prng_state;

static uint64_t prng_next(void)
{
    uint64_t z = (prng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static unsigned prng_below(unsigned n)
{
    return (unsigned)(prng_next() % n);
}

static confirm_format_t *parse_ok(const char *spec, unsigned seq_digits)
{
    char err[256] = "";
    confirm_format_t *f = NULL;
    int rc = confirm_format_parse(spec, seq_digits, &f, err, sizeof err);
    if (rc != 0)
        fail_msg("parse \"%s\" failed (%d): %s", spec, rc, err);
    assert_non_null(f);
    assert_string_equal(err, "");
    return f;
}

static void assert_renders(const char *spec, unsigned seq_digits, uint64_t seq, int64_t when,
                           const char *expected)
{
    confirm_format_t *f = parse_ok(spec, seq_digits);
    char out[CONFIRM_MAX_LEN + 1];
    int n = confirm_format_render(f, seq, when, out, sizeof out);
    assert_int_equal(n, (int)strlen(expected));
    assert_string_equal(out, expected);
    confirm_format_free(f);
}

/*
 * The string s[0..len) must be valid, and every single-digit substitution (check digit
 * included) and every transposition of two different digits adjacent in the digit sequence
 * (non-digits between them skipped) must make it invalid. Modifies s in place, restoring it.
 */
static void assert_catches_errors(char *s, size_t len)
{
    if (!confirm_damm_valid(s, len))
        fail_msg("\"%.*s\" is not valid", (int)len, s);
    size_t prev = SIZE_MAX; /* the previous digit's index */
    for (size_t i = 0; i < len; i++) {
        char orig = s[i];
        if (orig < '0' || orig > '9')
            continue;
        for (char d = '0'; d <= '9'; d++) {
            if (d == orig)
                continue;
            s[i] = d;
            if (confirm_damm_valid(s, len))
                fail_msg("substitution %c->%c at %zu not caught: \"%.*s\"", orig, d, i, (int)len,
                         s);
        }
        s[i] = orig;
        if (prev != SIZE_MAX && s[prev] != orig) {
            s[i] = s[prev];
            s[prev] = orig;
            if (confirm_damm_valid(s, len))
                fail_msg("transposition at %zu/%zu not caught: \"%.*s\"", prev, i, (int)len, s);
            s[prev] = s[i];
            s[i] = orig;
        }
        prev = i;
    }
}

/* ---- Damm ------------------------------------------------------------- */

static void test_damm_known_vectors(void **state)
{
    (void)state;
    /* The worked example of the algorithm: 5 -> 9, 7 -> 7, 2 -> 4. */
    assert_int_equal(confirm_damm_digit("572", 3), '4');
    assert_true(confirm_damm_valid("5724", 4));
    assert_false(confirm_damm_valid("5723", 4));
    assert_false(confirm_damm_valid("7524", 4));
    /* Non-digits are skipped; only len characters are read. */
    assert_int_equal(confirm_damm_digit("5-7 x2", 6), '4');
    assert_true(confirm_damm_valid("KEEL-572-4", 10));
    assert_int_equal(confirm_damm_digit("5729", 3), '4');
    /* Independently computed. */
    assert_int_equal(confirm_damm_digit("1", 1), '3');
    assert_int_equal(confirm_damm_digit("12345", 5), '9');
    assert_int_equal(confirm_damm_digit("2026112200000427", 16), '3');
    /* No digits: the check digit of nothing is 0, but nothing is not a valid number. */
    assert_int_equal(confirm_damm_digit("", 0), '0');
    assert_int_equal(confirm_damm_digit(NULL, 0), '0');
    assert_false(confirm_damm_valid("", 0));
    assert_false(confirm_damm_valid("KEEL--", 6));
    assert_false(confirm_damm_valid(NULL, 0));
    assert_true(confirm_damm_valid("0", 1));
    assert_true(confirm_damm_valid("00000", 5));
}

/*
 * The Damm operation as the implementation applies it, read out through the API: op[c][x] is
 * the check digit of "p x" where the check digit of "p" alone is c (row 0 of a quasigroup is a
 * permutation, so every c has such a p, kept in state_prefix[c]).
 */
static int op[10][10];
static char state_prefix[10];
static uint8_t op_inverse[10][10]; /* op[op_inverse[x][v]][x] == v */
static uint16_t op_hits[10][10];   /* bit d set for every digit d with op[c][d] == v */

static void read_table(void)
{
    bool seen[10] = {false};
    for (char p = '0'; p <= '9'; p++) {
        int c = confirm_damm_digit(&p, 1) - '0';
        assert_in_range(c, 0, 9);
        assert_false(seen[c]);
        seen[c] = true;
        state_prefix[c] = p;
    }
    for (int c = 0; c < 10; c++) {
        for (int x = 0; x < 10; x++) {
            char s[2] = {state_prefix[c], (char)('0' + x)};
            op[c][x] = confirm_damm_digit(s, 2) - '0';
            assert_in_range(op[c][x], 0, 9);
        }
    }
    memset(op_inverse, 0xff, sizeof op_inverse);
    memset(op_hits, 0, sizeof op_hits);
    for (int c = 0; c < 10; c++) {
        for (int x = 0; x < 10; x++) {
            op_hits[c][op[c][x]] |= (uint16_t)(1u << x);
            assert_int_equal(op_inverse[x][op[c][x]], 0xff); /* columns are permutations */
            op_inverse[x][op[c][x]] = (uint8_t)c;
        }
    }
}

/*
 * assert_catches_errors() on the model, so the large samples stay fast under the sanitizers:
 * the same exhaustive substitutions and transpositions, each decided in O(1) from the interim
 * before the change (pre), the one interim after it from which the remaining digits reach 0
 * (need, unique because every column of the table is a permutation) and, for substitutions,
 * the set of all digits d taking pre to need (op_hits, built by trying every d). The model is tied
 * to the implementation by read_table() and by agreeing on every sample's check digit, and a slice
 * of every sample also goes through assert_catches_errors() call by call.
 */
#define MODEL_MAX_DIGITS 48

static void model_catches_errors(const char *s, size_t len)
{
    uint8_t dig[MODEL_MAX_DIGITS];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            if (n == MODEL_MAX_DIGITS)
                fail_msg("more than %d digits", MODEL_MAX_DIGITS);
            dig[n++] = (uint8_t)(s[i] - '0');
        }
    }
    assert_true(n >= 1);
    uint8_t pre[MODEL_MAX_DIGITS + 1], need[MODEL_MAX_DIGITS + 2];
    pre[0] = 0;
    for (size_t i = 0; i < n; i++)
        pre[i + 1] = (uint8_t)op[pre[i]][dig[i]];
    assert_int_equal(pre[n], 0);
    need[n] = 0;
    need[n + 1] = 0xff; /* unused */
    for (size_t i = n; i-- > 0;)
        need[i] = op_inverse[dig[i]][need[i + 1]];
    assert_int_equal(need[0], 0);
    for (size_t i = 0; i < n; i++) {
        /* The digits that keep it valid at position i: the original one, and no other. */
        if (op_hits[pre[i]][need[i + 1]] != (1u << dig[i]))
            fail_msg("model: a substitution at digit %zu not caught: \"%.*s\" (mask %#x)", i,
                     (int)len, s, op_hits[pre[i]][need[i + 1]]);
        if (i + 1 < n && dig[i] != dig[i + 1] && op[op[pre[i]][dig[i + 1]]][dig[i]] == need[i + 2])
            fail_msg("model: transposition at digit %zu not caught: \"%.*s\"", i, (int)len, s);
    }
}

/* The quasigroup properties of the table the implementation uses. */
static void test_damm_table_properties(void **state)
{
    (void)state;
    read_table();
    for (int a = 0; a < 10; a++) {
        bool row[10] = {false}, col[10] = {false};
        for (int b = 0; b < 10; b++) {
            assert_false(row[op[a][b]]); /* Latin square: rows ... */
            row[op[a][b]] = true;
            assert_false(col[op[b][a]]); /* ... and columns are permutations */
            col[op[b][a]] = true;
        }
        assert_int_equal(op[a][a], 0); /* zero diagonal */
    }
    /* Weak total anti-symmetry, checked on whole strings too: "p x y" vs "p y x". */
    for (int c = 0; c < 10; c++) {
        for (int x = 0; x < 10; x++) {
            for (int y = 0; y < 10; y++) {
                if (x == y)
                    continue;
                assert_int_not_equal(op[op[c][x]][y], op[op[c][y]][x]);
                char s1[3] = {state_prefix[c], (char)('0' + x), (char)('0' + y)};
                char s2[3] = {state_prefix[c], (char)('0' + y), (char)('0' + x)};
                assert_int_not_equal(confirm_damm_digit(s1, 3), confirm_damm_digit(s2, 3));
            }
        }
    }
}

/* The model's check digit of s[0..len) must be the implementation's. */
static void assert_model_agrees(const char *s, size_t len, char check)
{
    int c = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            c = op[c][s[i] - '0'];
    }
    if (check != '0' + c)
        fail_msg("\"%.*s\": check digit %c, model says %d", (int)len, s, check, c);
}

#define RANDOM_SAMPLE 200000
#define DIRECT_SLICE  1000 /* of each sample, checked call by call through the API */

static void test_damm_random_sample(void **state)
{
    (void)state;
    read_table();
    prng_state = 0x6b65656c;
    for (int n = 0; n < RANDOM_SAMPLE; n++) {
        char s[24];
        size_t len = 8 + prng_below(13); /* 8..20 digits */
        for (size_t i = 0; i < len; i++)
            s[i] = (char)('0' + prng_below(10));
        s[len] = confirm_damm_digit(s, len);
        assert_model_agrees(s, len, s[len]);
        if (!confirm_damm_valid(s, len + 1))
            fail_msg("\"%.*s\" is not valid", (int)len + 1, s);
        model_catches_errors(s, len + 1);
        if (n < DIRECT_SLICE)
            assert_catches_errors(s, len + 1);
    }
}

static void test_damm_rendered_numbers(void **state)
{
    (void)state;
    read_table();
    confirm_format_t *f = parse_ok(CONFIRM_DEFAULT_FORMAT, CONFIRM_DEFAULT_SEQ_DIGITS);
    static const int64_t days[] = {DAY_2026_11_22, 0, 951782400 /* 2000-02-29 */,
                                   253402214400 /* 9999-12-31 */};
    prng_state = 42;
    for (size_t d = 0; d < sizeof days / sizeof days[0]; d++) {
        for (uint64_t i = 0; i < 2500; i++) {
            /* Consecutive seqs, and random ones of every width up to 20 digits. */
            uint64_t seqs[2] = {i, prng_next() >> prng_below(64)};
            for (int k = 0; k < 2; k++) {
                char out[CONFIRM_MAX_LEN + 1];
                int len = confirm_format_render(f, seqs[k], days[d], out, sizeof out);
                assert_true(len > 0);
                assert_int_equal(out[len - 1], confirm_damm_digit(out, (size_t)len - 1));
                assert_model_agrees(out, (size_t)len - 1, out[len - 1]);
                if (!confirm_damm_valid(out, (size_t)len))
                    fail_msg("\"%s\" is not valid", out);
                model_catches_errors(out, (size_t)len);
                if (i < DIRECT_SLICE / 8)
                    assert_catches_errors(out, (size_t)len);
            }
        }
    }
    confirm_format_free(f);
}

/* ---- rendering -------------------------------------------------------- */

static void test_render_default(void **state)
{
    (void)state;
    assert_string_equal(CONFIRM_DEFAULT_FORMAT, "KEEL-{yyyy}{mm}{dd}-{seq}{check}");
    assert_int_equal(CONFIRM_DEFAULT_SEQ_DIGITS, 8);
    const char *spec = CONFIRM_DEFAULT_FORMAT;
    assert_renders(spec, 8, 427, DAY_2026_11_22, "KEEL-20261122-000004273");
    /* Any second of the UTC day; the next day changes the date and the check digit. */
    assert_renders(spec, 8, 427, DAY_2026_11_22 + 86399, "KEEL-20261122-000004273");
    assert_renders(spec, 8, 427, DAY_2026_11_22 + 86400, "KEEL-20261123-000004270");
    assert_renders(spec, 8, 0, DAY_2026_11_22, "KEEL-20261122-000000006");
    assert_renders(spec, 8, 1, DAY_2026_11_22, "KEEL-20261122-000000011");
}

static void test_render_seq_never_truncated(void **state)
{
    (void)state;
    const char *spec = CONFIRM_DEFAULT_FORMAT;
    assert_renders(spec, 8, 99999999, DAY_2026_11_22, "KEEL-20261122-999999993");
    assert_renders(spec, 8, 123456789, DAY_2026_11_22, "KEEL-20261122-1234567895");
    assert_renders(spec, 8, UINT64_MAX, DAY_2026_11_22, "KEEL-20261122-184467440737095516151");
    assert_renders("{seq}", 1, 0, 0, "0");
    assert_renders("{seq}", 1, 12345, 0, "12345");
    assert_renders("{seq}", 20, 0, 0, "00000000000000000000");
    assert_renders("{seq}", 20, UINT64_MAX, 0, "18446744073709551615");
}

static void test_render_dates(void **state)
{
    (void)state;
    assert_renders("{yy}{mm}{dd}/{seq}", 3, 7, 951782400, "000229/007");
    assert_renders("{dd}.{mm}.{yyyy}-{seq}", 2, 5, DAY_2026_11_22, "22.11.2026-05");
    assert_renders("{yyyy}-{mm}-{dd}.{seq}", 1, 1, 0, "1970-01-01.1");
    /* Floor division: one second before the epoch is the previous day. */
    assert_renders("{yyyy}-{mm}-{dd}.{seq}", 1, 1, -1, "1969-12-31.1");
    assert_renders("{yyyy}-{mm}-{dd}.{seq}", 1, 1, -86400, "1969-12-31.1");
    assert_renders("{yyyy}-{mm}-{dd}.{seq}", 1, 1, -86401, "1969-12-30.1");
    assert_renders("{yyyy}{mm}{dd}{seq}", 1, 1, 253402300799, "999912311");
    assert_renders("{yyyy}{mm}{dd}{seq}", 1, 1, INT64_C(-62167219200), "000001011");
    assert_renders("{yy}{seq}", 1, 1, 4102444800 /* 2100-01-01 */, "001");
    assert_renders("{mm}{dd}{seq}", 1, 1, 4107542400 /* 2100-03-01: not a leap year */, "03011");

    /* Years outside 0000..9999 cannot be rendered; a format without a date does not care. */
    confirm_format_t *f = parse_ok("{yy}{seq}", 1);
    char out[CONFIRM_MAX_LEN + 1];
    assert_int_equal(confirm_format_render(f, 1, 253402300800, out, sizeof out), CONFIRM_ERANGE);
    assert_string_equal(out, "");
    assert_int_equal(confirm_format_render(f, 1, INT64_C(-62167219201), out, sizeof out),
                     CONFIRM_ERANGE);
    assert_int_equal(confirm_format_render(f, 1, INT64_MAX, out, sizeof out), CONFIRM_ERANGE);
    assert_int_equal(confirm_format_render(f, 1, INT64_MIN, out, sizeof out), CONFIRM_ERANGE);
    confirm_format_free(f);
    assert_renders("{seq}", 1, 9, INT64_MAX, "9");
    assert_renders("{seq}", 1, 9, INT64_MIN, "9");
}

static void test_render_literals_and_check(void **state)
{
    (void)state;
    assert_renders("{{{seq}}}", 2, 42, 0, "{42}");
    assert_renders("a}}b{{c-{seq}", 2, 42, 0, "a}b{c-42");
    assert_renders("{{seq}}{seq}", 1, 7, 0, "{seq}7");
    assert_renders("Ab_9./-{seq}", 1, 3, 0, "Ab_9./-3");
    /* {check} covers every digit before it (literal and date digits too), nothing after. */
    assert_renders("{seq}{check}", 1, 572, 0, "5724");
    assert_renders("X5-{seq}{check}", 1, 72, 0, "X5-724");
    assert_renders("{yyyy}{seq}{check}", 2, 1, 0, "1970014");
    assert_renders("{seq}-{check}-99", 3, 572, 0, "572-4-99");
}

static void test_render_buffer_too_small(void **state)
{
    (void)state;
    confirm_format_t *f = parse_ok(CONFIRM_DEFAULT_FORMAT, 8);
    const char *expected = "KEEL-20261122-000004273";
    size_t len = strlen(expected);
    char out[64];
    memset(out, 'x', sizeof out);
    assert_int_equal(confirm_format_render(f, 427, DAY_2026_11_22, out, len + 1), (int)len);
    assert_string_equal(out, expected);
    memset(out, 'x', sizeof out);
    assert_int_equal(confirm_format_render(f, 427, DAY_2026_11_22, out, len), CONFIRM_ENOSPC);
    assert_int_equal(out[0], '\0');
    assert_int_equal(out[1], 'x'); /* nothing else written */
    assert_int_equal(confirm_format_render(f, 427, DAY_2026_11_22, out, 1), CONFIRM_ENOSPC);
    assert_int_equal(out[0], '\0');
    out[0] = 'x';
    assert_int_equal(confirm_format_render(f, 427, DAY_2026_11_22, out, 0), CONFIRM_ENOSPC);
    assert_int_equal(out[0], 'x');
    assert_int_equal(confirm_format_render(f, 427, DAY_2026_11_22, NULL, 0), CONFIRM_ENOSPC);
    assert_int_equal(confirm_format_render(NULL, 427, DAY_2026_11_22, out, sizeof out),
                     CONFIRM_EINVAL);
    confirm_format_free(f);
    confirm_format_free(NULL);
}

/* ---- parse errors ----------------------------------------------------- */

static void assert_parse_error(const char *spec, unsigned seq_digits, const char *message)
{
    char err[256];
    memset(err, 'x', sizeof err);
    confirm_format_t *f = (confirm_format_t *)&err; /* must be reset to NULL */
    int rc = confirm_format_parse(spec, seq_digits, &f, err, sizeof err);
    if (rc != CONFIRM_EINVAL)
        fail_msg("\"%s\": expected CONFIRM_EINVAL, got %d", spec ? spec : "(null)", rc);
    assert_null(f);
    if (!strstr(err, message))
        fail_msg("\"%s\": error \"%s\" lacks \"%s\"", spec ? spec : "(null)", err, message);
    /* No error buffer is fine too. */
    assert_int_equal(confirm_format_parse(spec, seq_digits, &f, NULL, 0), CONFIRM_EINVAL);
    assert_null(f);
}

static void test_parse_errors(void **state)
{
    (void)state;
    assert_parse_error("KEEL-{yyyy}", 8, "format has no {seq}: exactly one is required");
    assert_parse_error("", 8, "format has no {seq}");
    assert_parse_error("{{seq}}", 8, "format has no {seq}");
    assert_parse_error("{seq}-{seq}", 8, "second {seq} at offset 6: exactly one is allowed");
    assert_parse_error("{seq}{check}{check}", 8,
                       "second {check} at offset 12: at most one is allowed");
    assert_parse_error("{check}{seq}", 8, "{check} at offset 0 must come after {seq}");
    assert_parse_error("KEEL-{check}-{seq}", 8, "{check} at offset 5 must come after {seq}");
    assert_parse_error("KEEL-{foo}{seq}", 8, "unknown placeholder '{foo}' at offset 5");
    assert_parse_error("{seq}{YYYY}", 8, "unknown placeholder '{YYYY}' at offset 5");
    assert_parse_error("{}{seq}", 8, "unknown placeholder '{}' at offset 0");
    assert_parse_error("{ seq }", 8, "unknown placeholder '{ seq }' at offset 0");
    assert_parse_error("{seq{seq}", 8, "unknown placeholder '{seq{seq}' at offset 0");
    assert_parse_error("{seq}-{yyyy", 8, "unterminated '{' at offset 6");
    assert_parse_error("{seq}{", 8, "unterminated '{' at offset 5");
    assert_parse_error("{seq}}", 8, "unmatched '}' at offset 5");
    assert_parse_error("}{seq}", 8, "unmatched '}' at offset 0");
    assert_parse_error("KEEL {seq}", 8, "character ' ' at offset 4 not allowed");
    assert_parse_error("KEEL#{seq}", 8, "character '#' at offset 4 not allowed");
    assert_parse_error("{seq}:x", 8, "character ':' at offset 5 not allowed");
    assert_parse_error("K\xc3\xa9{seq}", 8, "character 0xc3 at offset 1 not allowed");
    assert_parse_error("{seq}\n", 8, "character 0x0a at offset 5 not allowed");
    assert_parse_error("{seq}", 0, "seq_digits 0 out of range 1..20");
    assert_parse_error("{seq}", 21, "seq_digits 21 out of range 1..20");
    assert_parse_error(NULL, 8, "no format");

    /* A short error buffer is truncated, not overrun. */
    char err[8];
    confirm_format_t *f = NULL;
    assert_int_equal(confirm_format_parse("{nope}{seq}", 8, &f, err, sizeof err), CONFIRM_EINVAL);
    assert_string_equal(err, "unknown");
    assert_int_equal(confirm_format_parse("{seq}", 8, NULL, err, sizeof err), CONFIRM_EINVAL);
}

/* {seq} counts as 20 digits (UINT64_MAX) toward the limit of CONFIRM_MAX_LEN characters. */
static void test_parse_length_limit(void **state)
{
    (void)state;
    char spec[256];
    memset(spec, 'A', 107);
    strcpy(spec + 107, "{seq}");
    confirm_format_t *f = parse_ok(spec, 8);
    char out[CONFIRM_MAX_LEN + 1];
    assert_int_equal(confirm_format_render(f, UINT64_MAX, 0, out, sizeof out), CONFIRM_MAX_LEN);
    assert_string_equal(out + 107, "18446744073709551615");
    confirm_format_free(f);

    memset(spec, 'A', 108);
    strcpy(spec + 108, "{seq}");
    assert_parse_error(spec, 8, "format too long: can render more than 127 characters");

    /* Literal text alone, and a brace pair renders one character. */
    memset(spec, 'B', 128);
    spec[128] = '\0';
    assert_parse_error(spec, 8, "(limit passed at offset 127");
    memset(spec, '{', 106);
    strcpy(spec + 106, "{seq}");
    f = parse_ok(spec, 1);
    assert_int_equal(confirm_format_render(f, 5, 0, out, sizeof out), 54);
    confirm_format_free(f);

    /* Every placeholder at once, with a check digit: 4+2+2+2+20+1 = 31. */
    memset(spec, 'C', 96);
    strcpy(spec + 96, "{yyyy}{yy}{mm}{dd}{seq}{check}");
    f = parse_ok(spec, 20);
    assert_int_equal(confirm_format_render(f, 0, 0, out, sizeof out), 127);
    confirm_format_free(f);
    spec[0] = '\0';
    memset(spec, 'C', 97);
    strcpy(spec + 97, "{yyyy}{yy}{mm}{dd}{seq}{check}");
    assert_parse_error(spec, 20, "format too long");
}

/* ---- uniqueness ------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_distinct_seqs_distinct_numbers(void **state)
{
    (void)state;
    enum { N = 60000, W = 40 };
    confirm_format_t *f = parse_ok(CONFIRM_DEFAULT_FORMAT, CONFIRM_DEFAULT_SEQ_DIGITS);
    char *buf = malloc((size_t)N * W);
    char **ptr = malloc(N * sizeof *ptr);
    uint64_t *seqs = malloc(N * sizeof *seqs);
    assert_non_null(buf);
    assert_non_null(ptr);
    assert_non_null(seqs);
    /* Consecutive runs, around the seq_digits boundary, and random values (made distinct). */
    prng_state = 7;
    for (size_t i = 0; i < N; i++) {
        if (i < 20000)
            seqs[i] = i;
        else if (i < 40000)
            seqs[i] = 99999999 - 10000 + (i - 20000);
        else
            seqs[i] = (prng_next() | (UINT64_C(1) << 40)) >> prng_below(20);
    }
    qsort(seqs, N, sizeof *seqs, cmp_u64);
    size_t n = 0;
    for (size_t i = 0; i < N; i++) {
        if (i > 0 && seqs[i] == seqs[i - 1])
            continue;
        ptr[n] = buf + n * W;
        assert_true(confirm_format_render(f, seqs[i], DAY_2026_11_22, ptr[n], W) > 0);
        n++;
    }
    assert_true(n > N - 10);
    qsort(ptr, n, sizeof *ptr, cmp_str);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(ptr[i - 1], ptr[i]) == 0)
            fail_msg("duplicate number %s", ptr[i]);
    }
    free(seqs);
    free(ptr);
    free(buf);
    confirm_format_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_damm_known_vectors),
        cmocka_unit_test(test_damm_table_properties),
        cmocka_unit_test(test_damm_random_sample),
        cmocka_unit_test(test_damm_rendered_numbers),
        cmocka_unit_test(test_render_default),
        cmocka_unit_test(test_render_seq_never_truncated),
        cmocka_unit_test(test_render_dates),
        cmocka_unit_test(test_render_literals_and_check),
        cmocka_unit_test(test_render_buffer_too_small),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_length_limit),
        cmocka_unit_test(test_distinct_seqs_distinct_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
