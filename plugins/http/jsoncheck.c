/* jsoncheck.c — see jsoncheck.h. Both checks look at ASCII, most of any
 * order, a word or a table entry at a time. */
#include "jsoncheck.h"

#include <stdint.h>
#include <string.h>

/* The length of the well-formed UTF-8 sequence at s[0] (a byte >= 0x80)
 * within `left` bytes, or 0. */
static size_t utf8_sequence(const uint8_t *s, size_t left)
{
    uint8_t c = s[0];
    size_t need;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (left <= need)
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need + 1;
}

bool utf8_valid(const void *buf, size_t len)
{
    const uint8_t *s = buf;
    size_t i = 0;
    while (i < len) {
        uint64_t word;
        if (len - i >= 8 && (memcpy(&word, s + i, 8), (word & 0x8080808080808080u) == 0)) {
            i += 8;
            continue;
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_sequence(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* Byte classes of json_body_check; 0: nothing to do. */
enum { C_PLAIN, C_QUOTE, C_ESCAPE, C_OPEN, C_CLOSE, C_NUL, C_HIGH };

static const uint8_t byte_class[256] = {
    [0] = C_NUL,    ['"'] = C_QUOTE, ['\\'] = C_ESCAPE, ['['] = C_OPEN,
    ['{'] = C_OPEN, [']'] = C_CLOSE, ['}'] = C_CLOSE,   [0x80 ... 0xFF] = C_HIGH,
};

json_check_t json_body_check(const char *buf, size_t len, int max_depth)
{
    const uint8_t *s = (const uint8_t *)buf;
    json_check_t found = JSON_CHECK_OK; /* NUL or depth: UTF-8 may still fail */
    int depth = 0;
    bool in_string = false;
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        switch (byte_class[c]) {
        case C_PLAIN:
            i++;
            continue;
        case C_HIGH: {
            size_t n = utf8_sequence(s + i, len - i);
            if (n == 0)
                return JSON_CHECK_UTF8;
            i += n;
            continue;
        }
        case C_NUL:
            found = JSON_CHECK_NUL;
            break;
        case C_QUOTE:
            in_string = !in_string;
            break;
        case C_ESCAPE:
            /* In a string the next byte is escaped: skip it unless it
             * starts a UTF-8 sequence or is NUL, which are checked. */
            if (in_string && i + 1 < len && byte_class[s[i + 1]] != C_HIGH &&
                byte_class[s[i + 1]] != C_NUL)
                i++;
            break;
        case C_OPEN:
            if (!in_string && ++depth > max_depth && found == JSON_CHECK_OK)
                found = JSON_CHECK_DEPTH;
            break;
        case C_CLOSE:
            if (!in_string)
                depth--;
            break;
        }
        i++;
    }
    return found;
}
