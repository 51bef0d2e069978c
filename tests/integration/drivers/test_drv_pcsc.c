/* Integration tests of the reader thread through the real PC/SC stack: pcscd + vpcd +
 * the Python virtual card (tests/fixtures/cards). One scenario per run: argv[1]. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "harness.h"

#define T_START 15000 /* pcscd + vpcd up, first poll */
#define T_CARD  5000  /* insert/remove: pcscd polls every 400 ms; python start ~0.1 s */

static struct harness h;

static void start_all(const struct pcsc_watch_cfg *cfg)
{
    h_pcscd_start(&h);
    h_watch_start(&h, cfg);
    assert_non_null(h_wait(&h, CARD_EV_SERVICE_UP, NULL, T_START));
    assert_non_null(h_wait(&h, CARD_EV_READER_ADDED, READER0, T_START));
}

/* Inserts file into reader 0, waits for INSERTED then READ; returns the READ event. */
static struct card_event insert_and_read(const char *file, pid_t *ret_pid)
{
    *ret_pid = h_card_start(&h, file, 35963, 0);
    const struct card_event *ins = h_wait(&h, CARD_EV_INSERTED, READER0, T_CARD);
    assert_non_null(ins);
    assert_true(ins->atr_len > 0);
    const struct card_event *rd = h_wait(&h, CARD_EV_READ, READER0, T_CARD);
    assert_non_null(rd);
    return *rd;
}

static void remove_card(pid_t pid)
{
    h_card_stop(&h, pid);
    assert_non_null(h_wait(&h, CARD_EV_REMOVED, READER0, T_CARD));
}

static void test_read_each_card(void **state)
{
    struct pcsc_watch_cfg cfg = {0};
    struct card_event ev;
    pid_t pid;

    (void)state;
    start_all(&cfg);

    ev = insert_and_read("zhang_3_0.json", &pid);
    assert_int_equal(ev.status, 0);
    assert_string_equal(ev.id.name, "张三");
    assert_string_equal(ev.id.card_no, "A00000001");
    assert_string_equal(ev.id.card_sn, "331100D15600000599110145ABCDEF01");
    assert_string_equal(ev.id.certno, "33010219900307123X");
    assert_string_equal(ev.id.spec_version, "3.00");
    assert_int_equal(ev.id.expiry_date, 20301001);
    assert_int_equal(ev.id.birth_date, 19900307);
    assert_false(ev.id.expired);
    assert_string_equal(ev.id.profile, "ssc");
    remove_card(pid);

    /* 2.0 card, T=0 (61xx) and strict Le (6Cxx), rare characters in 姓名 and 姓名扩展. */
    ev = insert_and_read("rare_2_0.json", &pid);
    assert_int_equal(ev.status, 0);
    assert_string_equal(ev.id.name, "刘䶮𠀀亅");
    assert_string_equal(ev.id.spec_version, "2.00");
    assert_int_equal(ev.id.nation, 56);
    assert_string_equal(ev.id.birthplace, "6399");
    assert_int_equal(ev.id.sex, '2');
    remove_card(pid);

    /* A card whose ATR offers only T=1. */
    ev = insert_and_read("t1_3_0.json", &pid);
    assert_int_equal(ev.status, 0);
    assert_string_equal(ev.id.name, "赵六");
    assert_int_equal(ev.atr_len, 12);
    assert_int_equal(ev.atr[2], 0x01); /* TD1: T=1 */
    remove_card(pid);

    ev = insert_and_read("expired_2_0.json", &pid);
    assert_int_equal(ev.status, 0);
    assert_string_equal(ev.id.name, "朱镕基");
    assert_int_equal(ev.id.expiry_date, 20200501);
    assert_true(ev.id.expired);
    remove_card(pid);

    /* Optional records present but never written (FF / 00 padding): unknown, still read. */
    ev = insert_and_read("blank_optional_3_0.json", &pid);
    assert_int_equal(ev.status, 0);
    assert_string_equal(ev.id.name, "钱七");
    assert_string_equal(ev.id.certno, "320211195001010006");
    assert_int_equal(ev.id.expiry_date, 0);
    assert_int_equal(ev.id.birth_date, 0);
    assert_int_equal(ev.id.nation, 0);
    assert_string_equal(ev.id.birthplace, "");
    assert_false(ev.id.expired);
    remove_card(pid);

    ev = insert_and_read("iso_plain.json", &pid);
    assert_int_equal(ev.status, DRV_ENOT_SSC);
    assert_string_equal(ev.id.card_no, "");
    remove_card(pid);

    ev = insert_and_read("no_ef06.json", &pid);
    assert_int_equal(ev.status, DRV_ECARD_UNREADABLE);
    assert_int_equal(ev.cause, DRV_ESW_FILE);
    assert_string_equal(ev.id.card_no, "");
    remove_card(pid);

    ev = insert_and_read("locked_3_0.json", &pid);
    assert_int_equal(ev.status, DRV_ECARD_UNREADABLE);
    assert_int_equal(ev.cause, DRV_ESW_SECURITY);
    remove_card(pid);
}

/* Strict order of one insertion's events, nothing else in between. */
static void test_event_order(void **state)
{
    struct pcsc_watch_cfg cfg = {0};
    pid_t pid;

    (void)state;
    start_all(&cfg);
    int first = h.cursor;
    for (int round = 0; round < 3; round++) {
        insert_and_read(round % 2 ? "rare_2_0.json" : "zhang_3_0.json", &pid);
        remove_card(pid);
    }
    int n = 0;
    enum card_event_kind want[] = {CARD_EV_INSERTED, CARD_EV_READ, CARD_EV_REMOVED};
    for (int i = first; i < h.nevs; i++) {
        if (strcmp(h.evs[i].reader, READER0) != 0)
            continue;
        assert_int_equal(h.evs[i].kind, want[n % 3]);
        if (i > first)
            assert_true(h.evs[i].time_ms >= h.evs[i - 1].time_ms);
        n++;
    }
    assert_int_equal(n, 9);
}

static void test_remove_mid_read(void **state)
{
    struct pcsc_watch_cfg cfg = {0};

    (void)state;
    start_all(&cfg);
    /* The card leaves after 5 APDUs: SELECT SSSE, SELECT EF05, three records. */
    pid_t pid = h_card_start(&h, "zhang_3_0.json", 35963, 5);
    assert_non_null(h_wait(&h, CARD_EV_INSERTED, READER0, T_CARD));
    const struct card_event *rd = h_wait(&h, CARD_EV_READ, READER0, T_CARD);
    assert_non_null(rd);
    assert_int_equal(rd->status, DRV_ECARD_UNREADABLE);
    assert_int_equal(rd->cause, DRV_EGONE);
    assert_string_equal(rd->id.card_no, ""); /* nothing half-recorded */
    assert_string_equal(rd->id.name, "");
    assert_non_null(h_wait(&h, CARD_EV_REMOVED, READER0, T_CARD));
    h_card_stop(&h, pid);
    /* The reader works on: the next card reads whole. */
    struct card_event ev = insert_and_read("zhang_3_0.json", &pid);
    assert_int_equal(ev.status, 0);
}

static void test_two_desks(void **state)
{
    static struct desk_table desks;
    struct pcsc_watch_cfg cfg = {.desks = &desks};

    (void)state;
    assert_int_equal(desk_table_add(&desks, DESK_READER, "Virtual PCD * 00", "D01"), 0);
    assert_int_equal(desk_table_add(&desks, DESK_READER, "Virtual PCD * 01", "D02"), 0);
    start_all(&cfg);
    assert_non_null(h_wait(&h, CARD_EV_READER_ADDED, READER1, T_START));
    int mark = h.cursor;
    h_card_start(&h, "zhang_3_0.json", 35963, 0);
    h_card_start(&h, "rare_2_0.json", 35964, 0);
    const struct card_event *a = h_wait(&h, CARD_EV_READ, READER0, T_CARD);
    assert_non_null(a);
    assert_string_equal(a->desk, "D01");
    assert_string_equal(a->id.name, "张三");
    h.cursor = mark;
    const struct card_event *b = h_wait(&h, CARD_EV_READ, READER1, T_CARD);
    assert_non_null(b);
    assert_string_equal(b->desk, "D02");
    assert_string_equal(b->id.name, "刘䶮𠀀亅");
}

static void test_pcscd_restart(void **state)
{
    struct pcsc_watch_cfg cfg = {.retry_ms = 100};
    pid_t pid;

    (void)state;
    start_all(&cfg);
    struct card_event ev = insert_and_read("zhang_3_0.json", &pid);
    assert_int_equal(ev.status, 0);
    h_pcscd_stop(&h);
    /* The card was in: it is reported removed, then the readers, then the service. */
    assert_non_null(h_wait(&h, CARD_EV_REMOVED, READER0, T_CARD));
    assert_non_null(h_wait(&h, CARD_EV_READER_REMOVED, READER0, T_CARD));
    assert_non_null(h_wait(&h, CARD_EV_SERVICE_DOWN, NULL, T_CARD));
    h_card_stop(&h, pid); /* vpcd went with pcscd; the card process has ended or will */
    h_pcscd_start(&h);
    assert_non_null(h_wait(&h, CARD_EV_SERVICE_UP, NULL, T_START));
    assert_non_null(h_wait(&h, CARD_EV_READER_ADDED, READER0, T_START));
    ev = insert_and_read("rare_2_0.json", &pid);
    assert_int_equal(ev.status, 0);
    assert_string_equal(ev.id.name, "刘䶮𠀀亅");
}

static void test_reader_after_start(void **state)
{
    struct pcsc_watch_cfg cfg = {.retry_ms = 100};
    pid_t pid;

    (void)state;
    h_watch_start(&h, &cfg); /* no pcscd yet: no reader */
    assert_non_null(h_wait(&h, CARD_EV_SERVICE_DOWN, NULL, T_CARD));
    h_pcscd_start(&h);
    assert_non_null(h_wait(&h, CARD_EV_SERVICE_UP, NULL, T_START));
    assert_non_null(h_wait(&h, CARD_EV_READER_ADDED, READER0, T_START));
    struct card_event ev = insert_and_read("zhang_3_0.json", &pid);
    assert_int_equal(ev.status, 0);
}

static int64_t mono_ms(void)
{
    return (int64_t)(uv_hrtime() / 1000000);
}

/* A card already in the reader when the watcher starts is read at once; stopping a
 * watcher blocked in SCardGetStatusChange is prompt (SCardCancel, not the timeout). */
static void test_card_present_at_start(void **state)
{
    struct pcsc_watch_cfg cfg = {0};
    pid_t pid;

    (void)state;
    start_all(&cfg);
    struct card_event ev = insert_and_read("expired_2_0.json", &pid);
    assert_int_equal(ev.status, 0);
    int64_t t0 = mono_ms();
    pcsc_watch_stop(h.watch);
    h.watch = NULL;
    int64_t stop_ms = mono_ms() - t0;
    fprintf(stderr, "stop took %lld ms\n", (long long)stop_ms);
    assert_true(stop_ms < 500);
    uv_run(&h.loop, UV_RUN_NOWAIT);

    h_watch_start(&h, &cfg);
    assert_non_null(h_wait(&h, CARD_EV_READER_ADDED, READER0, T_START));
    assert_non_null(h_wait(&h, CARD_EV_INSERTED, READER0, T_CARD));
    const struct card_event *rd = h_wait(&h, CARD_EV_READ, READER0, T_CARD);
    assert_non_null(rd);
    assert_int_equal(rd->status, 0);
    assert_string_equal(rd->id.name, "朱镕基");
    assert_true(rd->id.expired);
}

static void test_vendor_library(void **state)
{
    static const char out[] = "331100|330102199003071230|A00000003|"
                              "331100D15600000599110145ABCDEF03|"
                              "\xCD\xF5\xCE\xE5|00|3.00|20231001|20331001|T1|D1|"; /* 王五 */
    char path[128];
    pid_t pid;
    struct pcsc_watch_cfg cfg = {.vendor_lib = FAKE_LIB_PATH, .vendor_init = "{}"};

    (void)state;
    snprintf(path, sizeof path, "%s/cardbas.txt", h.dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(out, 1, sizeof out - 1, f), sizeof out - 1);
    fclose(f);
    setenv("POSA_FAKE_CARDBAS_FILE", path, 1);
    start_all(&cfg);
    /* The 3.0 card refuses plain reads of EF06; the library (PSAM path) reads it. */
    struct card_event ev = insert_and_read("locked_3_0.json", &pid);
    assert_int_equal(ev.status, 0);
    assert_string_equal(ev.id.profile, "vendor");
    assert_string_equal(ev.id.name, "王五");
    assert_string_equal(ev.id.card_no, "A00000003");
    remove_card(pid);
    /* A plain ISO card is still only an ISO card. */
    ev = insert_and_read("iso_plain.json", &pid);
    assert_int_equal(ev.status, DRV_ENOT_SSC);
    remove_card(pid);
    /* The library failing (no card for it) is CARD_UNREADABLE, cause vendor. */
    setenv("POSA_FAKE_CARDBAS_RC", "-2", 1);
    ev = insert_and_read("zhang_3_0.json", &pid);
    assert_int_equal(ev.status, DRV_ECARD_UNREADABLE);
    assert_int_equal(ev.cause, DRV_EVENDOR);
}

static int teardown(void **state)
{
    (void)state;
    h_done(&h);
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest all[] = {
        cmocka_unit_test_teardown(test_read_each_card, teardown),
        cmocka_unit_test_teardown(test_event_order, teardown),
        cmocka_unit_test_teardown(test_remove_mid_read, teardown),
        cmocka_unit_test_teardown(test_two_desks, teardown),
        cmocka_unit_test_teardown(test_pcscd_restart, teardown),
        cmocka_unit_test_teardown(test_reader_after_start, teardown),
        cmocka_unit_test_teardown(test_vendor_library, teardown),
        cmocka_unit_test_teardown(test_card_present_at_start, teardown),
    };
    const char *which = argc > 1 ? argv[1] : "";

    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(all[i].name + strlen("test_"), which) != 0)
            continue;
        h_isolate(&h);
        return _cmocka_run_group_tests(which, &all[i], 1, NULL, NULL);
    }
    fprintf(stderr,
            "usage: %s read_each_card|event_order|remove_mid_read|two_desks|"
            "pcscd_restart|reader_after_start|vendor_library|card_present_at_start\n",
            argv[0]);
    return 2;
}
