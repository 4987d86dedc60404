/* number.c — confirmation number formats and the Damm check digit. See number.h. */
#include "number.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Damm ------------------------------------------------------------- */

/*
 * The operation table of a weakly totally anti-symmetric quasigroup of order 10 with a zero
 * diagonal (H. M. Damm, 2004): every row and every column is a permutation of 0..9,
 * x*x == 0, and (c*x)*y == (c*y)*x only when x == y. The Latin square property catches every
 * single-digit substitution, the anti-symmetry every adjacent transposition, and the zero
 * diagonal lets the check digit be validated by running on to an interim of 0.
 * test_confirm_number verifies all three properties exhaustively through the public API.
 */
static const uint8_t damm_table[10][10] = {
    {0, 3, 1, 7, 5, 9, 8, 6, 4, 2}, {7, 0, 9, 2, 1, 5, 4, 8, 6, 3}, {4, 2, 0, 6, 8, 7, 1, 3, 5, 9},
    {1, 7, 5, 0, 9, 8, 3, 4, 2, 6}, {6, 1, 2, 3, 0, 4, 5, 9, 7, 8}, {3, 6, 7, 4, 2, 0, 9, 5, 8, 1},
    {5, 8, 6, 9, 7, 2, 0, 1, 3, 4}, {8, 9, 4, 5, 3, 6, 2, 0, 1, 7}, {9, 4, 3, 8, 6, 1, 7, 2, 0, 5},
    {2, 5, 8, 1, 4, 3, 6, 7, 9, 0},
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Runs the Damm interim over the digits of s[0..len), counting them. */
static unsigned damm_run(unsigned interim, const char *s, size_t len, size_t *digits)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (is_digit(s[i])) {
            interim = damm_table[interim][s[i] - '0'];
            n++;
        }
    }
    if (digits)
        *digits = n;
    return interim;
}

char confirm_damm_digit(const char *s, size_t len)
{
    if (!s)
        return '0';
    return (char)('0' + damm_run(0, s, len, NULL));
}

bool confirm_damm_valid(const char *s, size_t len)
{
    if (!s)
        return false;
    size_t digits;
    unsigned interim = damm_run(0, s, len, &digits);
    return digits > 0 && interim == 0;
}

/* ---- parsing ---------------------------------------------------------- */

typedef enum tok_kind {
    TOK_LITERAL,
    TOK_YYYY,
    TOK_YY,
    TOK_MM,
    TOK_DD,
    TOK_SEQ,
    TOK_CHECK,
} tok_kind_t;

static const struct placeholder {
    const char *name;
    tok_kind_t kind;
    unsigned width; /* 0: the sequence, whose width varies */
} placeholders[] = {
    {"yyyy", TOK_YYYY, 4}, {"yy", TOK_YY, 2},   {"mm", TOK_MM, 2},
    {"dd", TOK_DD, 2},     {"seq", TOK_SEQ, 0}, {"check", TOK_CHECK, 1},
};

typedef struct tok {
    tok_kind_t kind;
    uint8_t lit_off; /* TOK_LITERAL: text in confirm_format.lit */
    uint8_t lit_len;
} tok_t;

/*
 * Every token renders at least one character and the whole at most CONFIRM_MAX_LEN, which the
 * parser enforces as it goes, so fixed arrays of that size cannot overflow.
 */
struct confirm_format {
    unsigned seq_digits;
    bool has_date;
    size_t ntok;
    tok_t tok[CONFIRM_MAX_LEN];
    char lit[CONFIRM_MAX_LEN];
    size_t lit_used;
};

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || err_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static bool literal_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
           c == '_' || c == '.' || c == '/';
}

/* Appends one literal character, merging it into a preceding literal token. */
static void add_literal(confirm_format_t *f, char c)
{
    if (f->ntok == 0 || f->tok[f->ntok - 1].kind != TOK_LITERAL)
        f->tok[f->ntok++] = (tok_t){.kind = TOK_LITERAL, .lit_off = (uint8_t)f->lit_used};
    f->lit[f->lit_used++] = c;
    f->tok[f->ntok - 1].lit_len++;
}

static const struct placeholder *find_placeholder(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof placeholders / sizeof placeholders[0]; i++) {
        if (strlen(placeholders[i].name) == len && memcmp(placeholders[i].name, name, len) == 0)
            return &placeholders[i];
    }
    return NULL;
}

int confirm_format_parse(const char *spec, unsigned seq_digits, confirm_format_t **out, char *err,
                         size_t err_len)
{
    if (err && err_len > 0)
        err[0] = '\0';
    if (!out) {
        set_err(err, err_len, "no output pointer");
        return CONFIRM_EINVAL;
    }
    *out = NULL;
    if (!spec) {
        set_err(err, err_len, "no format");
        return CONFIRM_EINVAL;
    }
    if (seq_digits < 1 || seq_digits > CONFIRM_SEQ_DIGITS_MAX) {
        set_err(err, err_len, "seq_digits %u out of range 1..%u", seq_digits,
                CONFIRM_SEQ_DIGITS_MAX);
        return CONFIRM_EINVAL;
    }
    confirm_format_t *f = calloc(1, sizeof *f);
    if (!f) {
        set_err(err, err_len, "out of memory");
        return CONFIRM_ENOMEM;
    }
    f->seq_digits = seq_digits;

    /* The widest rendering: the sequence at its largest, 20 digits for UINT64_MAX. */
    const size_t seq_width_max = CONFIRM_SEQ_DIGITS_MAX;
    size_t max_len = 0;
    bool have_seq = false, have_check = false;
    size_t i = 0;
    while (spec[i] != '\0') {
        size_t at = i;
        char c = spec[i];
        size_t width = 1;
        tok_kind_t kind = TOK_LITERAL;
        if ((c == '{' && spec[i + 1] == '{') || (c == '}' && spec[i + 1] == '}')) {
            i += 2;
        } else if (c == '}') {
            set_err(err, err_len, "unmatched '}' at offset %zu (write '}}' for a literal brace)",
                    at);
            goto fail;
        } else if (c == '{') {
            const char *close = strchr(spec + i + 1, '}');
            if (!close) {
                set_err(err, err_len, "unterminated '{' at offset %zu", at);
                goto fail;
            }
            size_t name_len = (size_t)(close - (spec + i + 1));
            const struct placeholder *p = find_placeholder(spec + i + 1, name_len);
            if (!p) {
                set_err(err, err_len, "unknown placeholder '{%.*s}' at offset %zu",
                        name_len > 32 ? 32 : (int)name_len, spec + i + 1, at);
                goto fail;
            }
            if (p->kind == TOK_SEQ) {
                if (have_seq) {
                    set_err(err, err_len, "second {seq} at offset %zu: exactly one is allowed", at);
                    goto fail;
                }
                have_seq = true;
            } else if (p->kind == TOK_CHECK) {
                if (have_check) {
                    set_err(err, err_len, "second {check} at offset %zu: at most one is allowed",
                            at);
                    goto fail;
                }
                if (!have_seq) {
                    set_err(err, err_len, "{check} at offset %zu must come after {seq}", at);
                    goto fail;
                }
                have_check = true;
            } else {
                f->has_date = true;
            }
            kind = p->kind;
            width = p->width ? p->width : seq_width_max;
            i += name_len + 2;
        } else if (!literal_char_ok(c)) {
            if (c >= ' ' && c < 0x7f)
                set_err(err, err_len,
                        "character '%c' at offset %zu not allowed (literal text is letters, "
                        "digits and -_./)",
                        c, at);
            else
                set_err(err, err_len,
                        "character 0x%02x at offset %zu not allowed (literal text is letters, "
                        "digits and -_./)",
                        (unsigned)(unsigned char)c, at);
            goto fail;
        } else {
            i++;
        }
        if (max_len + width > CONFIRM_MAX_LEN) {
            set_err(err, err_len,
                    "format too long: can render more than %d characters (limit passed at "
                    "offset %zu, counting {seq} as %zu digits)",
                    CONFIRM_MAX_LEN, at, seq_width_max);
            goto fail;
        }
        max_len += width;
        if (kind == TOK_LITERAL)
            add_literal(f, c);
        else
            f->tok[f->ntok++] = (tok_t){.kind = kind};
    }
    if (!have_seq) {
        set_err(err, err_len, "format has no {seq}: exactly one is required");
        goto fail;
    }
    *out = f;
    return 0;

fail:
    free(f);
    return CONFIRM_EINVAL;
}

void confirm_format_free(confirm_format_t *f)
{
    free(f);
}

/* ---- rendering -------------------------------------------------------- */

/* Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);                          /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Writes `v` zero-padded to `width` digits (or more) at buf + *len. */
static void put_number(char *buf, size_t *len, uint64_t v, unsigned width)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n < width)
        tmp[n++] = '0';
    while (n > 0)
        buf[(*len)++] = tmp[--n];
}

int confirm_format_render(const confirm_format_t *f, uint64_t seq, int64_t unix_seconds, char *out,
                          size_t out_len)
{
    if (out && out_len > 0)
        out[0] = '\0';
    if (!f)
        return CONFIRM_EINVAL;

    int64_t year = 0;
    unsigned month = 0, day = 0;
    if (f->has_date) {
        /* Floor division: the second before the epoch is on 1969-12-31. */
        int64_t days = unix_seconds / 86400;
        if (unix_seconds % 86400 < 0)
            days--;
        civil_from_days(days, &year, &month, &day);
        if (year < 0 || year > 9999)
            return CONFIRM_ERANGE;
    }

    /* The parser bounded the widest rendering to CONFIRM_MAX_LEN. */
    char buf[CONFIRM_MAX_LEN + 1];
    size_t len = 0;
    for (size_t t = 0; t < f->ntok; t++) {
        const tok_t *tok = &f->tok[t];
        switch (tok->kind) {
        case TOK_LITERAL:
            memcpy(buf + len, f->lit + tok->lit_off, tok->lit_len);
            len += tok->lit_len;
            break;
        case TOK_YYYY:
            put_number(buf, &len, (uint64_t)year, 4);
            break;
        case TOK_YY:
            put_number(buf, &len, (uint64_t)year % 100, 2);
            break;
        case TOK_MM:
            put_number(buf, &len, month, 2);
            break;
        case TOK_DD:
            put_number(buf, &len, day, 2);
            break;
        case TOK_SEQ:
            put_number(buf, &len, seq, f->seq_digits);
            break;
        case TOK_CHECK:
            buf[len] = confirm_damm_digit(buf, len);
            len++;
            break;
        }
    }
    if (!out || len >= out_len)
        return CONFIRM_ENOSPC;
    memcpy(out, buf, len);
    out[len] = '\0';
    return (int)len;
}
