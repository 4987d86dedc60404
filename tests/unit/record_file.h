/*
 * record_file.h — a per-process file that test plugins append results to
 * (their `record` config key), created empty before each test and removed
 * after it: use setup/teardown with cmocka_unit_test_setup_teardown.
 */
#ifndef KEEL_TEST_RECORD_FILE_H
#define KEEL_TEST_RECORD_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char record_path[256];

static int setup(void **state)
{
    (void)state;
    snprintf(record_path, sizeof record_path, "%s/keel-record-%d.txt",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    unlink(record_path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(record_path);
    return 0;
}

#endif
