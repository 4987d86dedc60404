/* number.h — confirmation numbers: a small format language and the Damm check digit.
 *
 * A format is literal text with placeholders:
 *
 *   {yyyy} {yy} {mm} {dd}  the UTC date of the timestamp given to confirm_format_render()
 *   {seq}                  the sequence, zero-padded to at least seq_digits, never truncated
 *   {check}                the Damm check digit over every digit rendered before it
 *   {{ }}                  a literal brace
 *
 * Literal text is limited to ASCII letters, digits and "-_./". A format needs exactly one {seq}
 * (the number is unique only through it), at most one {check}, which must follow {seq}, and may
 * render at most CONFIRM_MAX_LEN characters with the widest possible sequence (20 digits).
 *
 * Pure: no I/O, no globals, no locale; safe from any thread.
 */
#ifndef KEEL_CONFIRM_NUMBER_H
#define KEEL_CONFIRM_NUMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIRM_DEFAULT_FORMAT     "KEEL-{yyyy}{mm}{dd}-{seq}{check}"
#define CONFIRM_DEFAULT_SEQ_DIGITS 8u
/* Longest rendered number, without the NUL: a buffer of CONFIRM_MAX_LEN + 1 always fits. */
#define CONFIRM_MAX_LEN        127
#define CONFIRM_SEQ_DIGITS_MAX 20u

/* Negative return codes. */
#define CONFIRM_EINVAL -1 /* bad format or argument */
#define CONFIRM_ENOMEM -2 /* allocation failed */
#define CONFIRM_ENOSPC -3 /* output buffer too small */
#define CONFIRM_ERANGE -4 /* date outside years 0000..9999 */

typedef struct confirm_format confirm_format_t;

/* Parses `spec`. On success stores a new format in *out (free with confirm_format_free()) and
 * returns 0. On error returns CONFIRM_EINVAL or CONFIRM_ENOMEM, leaves *out NULL and writes a
 * message such as "unknown placeholder '{foo}' at offset 5" to err[err_len] (err may be NULL). */
int confirm_format_parse(const char *spec, unsigned seq_digits, confirm_format_t **out, char *err,
                         size_t err_len);
void confirm_format_free(confirm_format_t *f);

/* Renders the number for sequence `seq` on the UTC day containing `unix_seconds`. Returns the
 * length written (< out_len, NUL-terminated), CONFIRM_ENOSPC if it does not fit or
 * CONFIRM_ERANGE if the format has a date and the year is outside 0000..9999. On error out is
 * left empty when out_len > 0. */
int confirm_format_render(const confirm_format_t *f, uint64_t seq, int64_t unix_seconds, char *out,
                          size_t out_len);

/* Damm check digit ('0'..'9') over the decimal digits of s[0..len); non-digits are skipped. */
char confirm_damm_digit(const char *s, size_t len);
/* True if s[0..len) has at least one digit and its digits (non-digits skipped) end with a valid
 * Damm check digit, i.e. the Damm interim over all of them is 0. */
bool confirm_damm_valid(const char *s, size_t len);

#endif /* KEEL_CONFIRM_NUMBER_H */
