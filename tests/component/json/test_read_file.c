/* jsonmap_read_file on real files: the whole text NUL-terminated, an empty file, a file just
 * at and just past the bound (also past the first 64 KiB chunk), a missing file, a pipe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "interface/json/jsonmap.h"

static char path[64];

static int setup(void **state)
{
    int fd;

    (void)state;
    strcpy(path, "/tmp/posa-readfile-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static void write_bytes(size_t n)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fputc('a' + (int)(i % 26), f);
    fclose(f);
}

static void test_whole_text(void **state)
{
    char *text = NULL;
    size_t len = 0;

    (void)state;
    write_bytes(5);
    assert_int_equal(jsonmap_read_file(path, 100, &text, &len), 0);
    assert_int_equal(len, 5);
    assert_string_equal(text, "abcde");
    free(text);
    write_bytes(0);
    assert_int_equal(jsonmap_read_file(path, 100, &text, &len), 0);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
}

static void test_bound(void **state)
{
    const size_t max = 200000; /* past the first 64 KiB chunk */
    char *text = NULL;
    size_t len = 0;

    (void)state;
    write_bytes(max);
    assert_int_equal(jsonmap_read_file(path, max, &text, &len), 0);
    assert_int_equal(len, max);
    assert_int_equal(text[max - 1], 'a' + (int)((max - 1) % 26));
    assert_int_equal(text[max], '\0');
    free(text);
    write_bytes(max + 1);
    text = NULL;
    assert_int_equal(jsonmap_read_file(path, max, &text, &len), POSA_ETOOLONG);
    assert_null(text);
}

static void test_missing_and_pipe(void **state)
{
    char *text = NULL, fdpath[32];
    size_t len = 0;
    int fds[2];

    (void)state;
    assert_int_equal(jsonmap_read_file("/nonexistent/posa.json", 10, &text, &len), -2);
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "{\"a\":1}", 7), 7);
    close(fds[1]);
    snprintf(fdpath, sizeof fdpath, "/dev/fd/%d", fds[0]);
    assert_int_equal(jsonmap_read_file(fdpath, 100, &text, &len), 0); /* no size to ask */
    assert_int_equal(len, 7);
    assert_string_equal(text, "{\"a\":1}");
    free(text);
    close(fds[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_whole_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_pipe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
