/* Unit tests of the queue's record codec (plugins/queue_lmdb/codec.c) on
 * records as read back from disk, including ones this version never writes. */
#include "../../plugins/queue_lmdb/codec.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static const char message_id[] = "01JDXYZABCDEFGHJKMNPQRSTVW";

/* A state record whose three strings are `len` bytes of 'e'. */
static size_t state_record(uint8_t *out, size_t len)
{
    memset(out, 0, STATE_HEADER);
    out[0] = QL_INFLIGHT;
    out[1] = STATE_VERSION;
    be32_put(out + 4, 2);
    be64_put(out + 8, 0x1234);
    uint8_t *p = out + STATE_HEADER;
    for (int i = 0; i < 3; i++) {
        be16_put(p, (uint16_t)len);
        memset(p + 2, 'e', len);
        p += 2 + len;
    }
    return (size_t)(p - out);
}

static void test_state_round_trip(void **state)
{
    (void)state;
    ql_state_t s = {.where = QL_DELAYED,
                    .receive_count = 3,
                    .nonce = 99,
                    .due_ms = 1763793000123,
                    .body_bytes = 12,
                    .first_error = "timeout",
                    .first_error_len = 7,
                    .last_error = "",
                    .failed_step = "store",
                    .failed_step_len = 5};
    uint8_t buf[QL_STATE_MAX];
    MDB_val v = {codec_state_write(buf, &s), buf};
    ql_state_t t;
    assert_int_equal(codec_state_parse(&v, &t), 0);
    assert_int_equal(t.where, QL_DELAYED);
    assert_int_equal(t.nonce, 99);
    assert_int_equal(t.first_error_len, 7);
    assert_memory_equal(t.first_error, "timeout", 7);
    assert_int_equal(t.last_error_len, 0);
    assert_int_equal(t.failed_step_len, 5);
}

/* Found by tests/fuzz/fuzz_msgpack: a stored state string longer than
 * QL_MAX_TEXT (any 16-bit length parsed) overflowed the QL_MAX_TEXT copies
 * of ops.c's load_state and the QL_STATE_MAX buffer it is written back to.
 * The writer never stores more, so a longer one is a corrupt record. */
static void test_state_text_over_max_is_corrupt(void **state)
{
    (void)state;
    static uint8_t buf[STATE_HEADER + 3 * (2 + QL_MAX_TEXT + 1)];
    ql_state_t s;
    MDB_val v = {state_record(buf, QL_MAX_TEXT), buf};
    assert_int_equal(codec_state_parse(&v, &s), 0);
    assert_int_equal(s.last_error_len, QL_MAX_TEXT);
    v.mv_size = state_record(buf, QL_MAX_TEXT + 1);
    assert_int_equal(codec_state_parse(&v, &s), KEEL_EIO);
}

static void test_dlq_text_over_max_is_corrupt(void **state)
{
    (void)state;
    char text[QL_MAX_TEXT + 1];
    memset(text, 'r', sizeof text);
    ql_dlq_record_t d = {.receive_count = 3, .reason = text, .reason_len = QL_MAX_TEXT};
    memcpy(d.message_id, message_id, KEEL_ID_LEN + 1);
    static uint8_t buf[QL_DLQ_MAX + 1];
    MDB_val v = {codec_dlq_write(buf, &d), buf};
    ql_dlq_record_t e;
    assert_int_equal(codec_dlq_parse(&v, &e), 0);
    assert_int_equal(e.reason_len, QL_MAX_TEXT);
    assert_string_equal(e.message_id, message_id);
    /* One byte more in the last string (the writer caps at QL_MAX_TEXT). */
    be16_put(buf + v.mv_size - 2 - QL_MAX_TEXT, QL_MAX_TEXT + 1);
    buf[v.mv_size] = 'r';
    v.mv_size++;
    assert_int_equal(codec_dlq_parse(&v, &e), KEEL_EIO);
}

static void test_truncated_records_are_corrupt(void **state)
{
    (void)state;
    keel_attr_t attr = {"k", "v"};
    uint8_t buf[128];
    size_t n = codec_msg_record_size(&attr, 1, 4);
    codec_msg_record_write(buf, message_id, &attr, 1, "body", 4);
    MDB_val v = {n, buf};
    ql_msg_view_t m;
    assert_int_equal(codec_msg_parse(&v, &m), 0);
    assert_int_equal(m.body_len, 4);
    for (v.mv_size = 0; v.mv_size < n; v.mv_size++)
        assert_int_equal(codec_msg_parse(&v, &m), KEEL_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_state_text_over_max_is_corrupt),
        cmocka_unit_test(test_dlq_text_over_max_is_corrupt),
        cmocka_unit_test(test_truncated_records_are_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
