/* values.c — the scalar checks: exact decimal money (never a double),
 * positive integers, RFC 3339 timestamps, id characters, UTF-8 length.
 * Number text comes from yajl, so it already matches the JSON grammar
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
#include "validate_impl.h"

#include <stdio.h>
#include <string.h>

static bool has_exponent(const char *text, size_t len)
{
    return memchr(text, 'e', len) != NULL || memchr(text, 'E', len) != NULL;
}

value_status_t value_decimal(const char *text, size_t len, unsigned max_decimals,
                             unsigned out_decimals, int64_t *units)
{
    if (has_exponent(text, len))
        return VALUE_TYPE;
    size_t i = 0;
    bool negative = len > 0 && text[0] == '-';
    if (negative)
        i++;
    int64_t whole = 0;
    bool overflow = false;
    for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
        if (whole > (INT64_MAX - 9) / 10)
            overflow = true;
        else
            whole = whole * 10 + (text[i] - '0');
    }
    /* Fraction: significant digits only, so 19.900 is 19.90. */
    const char *frac = NULL;
    size_t frac_len = 0;
    if (i < len && text[i] == '.') {
        frac = text + i + 1;
        frac_len = len - i - 1;
        while (frac_len > 0 && frac[frac_len - 1] == '0')
            frac_len--;
    }
    bool zero = !overflow && whole == 0 && frac_len == 0;
    if (negative && !zero)
        return VALUE_NEGATIVE;
    if (frac_len > max_decimals)
        return VALUE_DECIMALS;
    int64_t scale = 1;
    for (unsigned k = 0; k < out_decimals; k++)
        scale *= 10;
    if (overflow || whole > INT64_MAX / scale)
        return VALUE_RANGE;
    int64_t cents = 0;
    for (unsigned k = 0; k < out_decimals; k++)
        cents = cents * 10 + (k < frac_len ? frac[k] - '0' : 0);
    if (whole * scale > INT64_MAX - cents)
        return VALUE_RANGE;
    *units = whole * scale + cents;
    return VALUE_OK;
}

value_status_t value_positive_int(const char *text, size_t len, int64_t *out)
{
    if (has_exponent(text, len) || memchr(text, '.', len) != NULL)
        return VALUE_TYPE;
    if (len > 0 && text[0] == '-')
        return VALUE_NEGATIVE;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (v > (INT64_MAX - 9) / 10)
            return VALUE_RANGE;
        v = v * 10 + (text[i] - '0');
    }
    if (v == 0)
        return VALUE_NEGATIVE;
    *out = v;
    return VALUE_OK;
}

size_t value_format_money(int64_t units, unsigned out_decimals, char *buf)
{
    /* By hand: snprintf was a tenth of the time of a whole order. */
    char rev[32];
    size_t n = 0;
    uint64_t v = units < 0 ? 0 : (uint64_t)units;
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
        if (n == out_decimals)
            rev[n++] = '.';
    } while (v > 0 || n <= out_decimals + (out_decimals > 0));
    for (size_t i = 0; i < n; i++)
        buf[i] = rev[n - 1 - i];
    buf[n] = '\0';
    return n;
}

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
        return 29;
    return days[month - 1];
}

/* RFC 3339 §5.6 date-time: 2025-03-06T16:30:00Z, 2025-03-06T16:30:00.5+01:00 */
bool value_is_rfc3339(const char *s, size_t len)
{
    int year, month, day, hour, minute, second;
    if (len < 20)
        return false;
    if (!digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &month) || s[7] != '-' ||
        !digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &hour) ||
        s[13] != ':' || !digits(s + 14, 2, &minute) || s[16] != ':' || !digits(s + 17, 2, &second))
        return false;
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
        minute > 59 || second > 60)
        return false;
    size_t i = 19;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z'))
        return i + 1 == len;
    int off_hour, off_minute;
    return i + 6 == len && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2, &off_hour) &&
           s[i + 3] == ':' && digits(s + i + 4, 2, &off_minute) && off_hour <= 23 &&
           off_minute <= 59;
}

size_t value_id_bad_char(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok)
            return i;
    }
    return len;
}

size_t value_utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}
