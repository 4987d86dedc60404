/* Id tests: 26 Crockford characters, strictly increasing per thread even
 * within one millisecond, time-ordered across milliseconds. */
#include "id.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_format_and_order(void **state)
{
    (void)state;
    char previous[KEEL_ID_LEN + 1] = "";
    for (int i = 0; i < 100000; i++) {
        char id[KEEL_ID_LEN + 1];
        id_new(1700000000000ULL + (uint64_t)(i / 1000), id);
        assert_int_equal(strlen(id), KEEL_ID_LEN);
        assert_int_equal(strspn(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ"), KEEL_ID_LEN);
        if (i > 0)
            assert_true(strcmp(previous, id) < 0);
        memcpy(previous, id, sizeof id);
    }
}

static void test_timestamp_prefix_sorts_by_time(void **state)
{
    (void)state;
    char early[KEEL_ID_LEN + 1], late[KEEL_ID_LEN + 1];
    id_new(1800000000000ULL, early);
    id_new(1800000000001ULL, late);
    assert_true(strcmp(early, late) < 0);
    /* 48-bit millisecond timestamp: the first 10 characters. */
    assert_memory_not_equal(early, late, 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_order),
        cmocka_unit_test(test_timestamp_prefix_sorts_by_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
