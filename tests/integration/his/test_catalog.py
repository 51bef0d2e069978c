"""The treating region's catalog as posad downloads it (1312): rows out of force are left
out, a code listed once per period keeps one, a download short of the rows it counted keeps
the catalog in use, and a split the platform makes otherwise downloads again at most every
ten minutes. The platform's answer is changed by the sandbox's tamper_after_commit fault
(default scenario: 267 items on one page in code order, the first the outpatient registration
fee, 甲, limit 2.00), and posad restarted to download it."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

BED = "001109000010000"  # the ward bed, 甲, limit 45.00
FIRST = "001101000010000"  # data.0 of the page: 普通门诊挂号费, 甲, limit 2.00
LONG_TERM = "32020000000000000000000101"  # 张建国, long_term filing, Wuxi
ITEMS = 267


class Catalog(h.HisTestCase):
    def events(self):
        log = self.w.log_tail(n=10 ** 7)
        return re.findall(r"event=(catalog_loaded|catalog_failed)(.*)", log)

    def restart_with(self, field, value):
        """Restarts posad with the platform's next 1312 answer tampered; returns the event of
        the download (after the start's load of the stored catalog)."""
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "1312", "mode": "tamper_after_commit", "field": field, "value": value})
        self.assertEqual(status, 200, raw)
        before = len(self.events())
        self.w._kill(self.w.posad)
        self.w.posad = self.w._spawn([h.POSAD, "--config", self.w.conf_path], "posad.log")
        h.wait_until(self.w._online, 20, "posad back online", step=0.1)
        h.wait_until(lambda: len(self.events()) >= before + 2, 20, "the download", step=0.1)
        return self.events()[before + 1]

    def items_loaded(self, event):
        self.assertEqual(event[0], "catalog_loaded", event)
        return int(re.search(r"items=(\d+)", event[1]).group(1))

    def bed_line(self, lid):
        return h.line(lid, BED, "普通病房床位费(三人间及以上)", "10", "45.00", "450.00")

    def first_line(self, lid):
        return h.line(lid, FIRST, "普通门诊挂号费", "1", "2.00", "2.00")

    def catalog_health(self):
        r = self.tcp.get("/v1/health")
        self.assertEqual(r.status, 200, r)
        return r.json["catalog"]

    def test_a_download_short_of_its_count_keeps_the_catalog(self):
        in_use = self.catalog_health()["items"]
        event = self.restart_with("recordCounts", str(ITEMS + 1))
        self.assertEqual(event[0], "catalog_failed", event)
        self.assertIn("field=recordCounts", event[1])
        # IT staff see why in /v1/health, beside the catalog still in use.
        c = self.catalog_health()
        self.assertEqual(c["items"], in_use, c)
        self.assertIsNone(c["download"], c)
        self.assertRegex(c["last_error"] or "", r"^download failed: .*recordCounts$", c)
        v = self.open_visit(self.tcp, LONG_TERM)
        line = self.upload(self.tcp, v["visit_id"], [self.bed_line("S1")])["lines"][0]
        self.assertEqual((line["chrgitm_lv"], line["inscp_scp_amt"]), ("01", "450.00"), line)

    def test_health_and_metrics_show_the_catalog_and_a_download_under_way(self):
        # A start's download waits on the platform: health says it is under way, with the
        # stored catalog in use meanwhile.
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "1312", "mode": "delay", "delay_ms": 3000, "count": 1})
        self.assertEqual(status, 200, raw)
        before = len(self.events())
        self.w._kill(self.w.posad)
        self.w.posad = self.w._spawn([h.POSAD, "--config", self.w.conf_path], "posad.log")
        h.wait_until(lambda: self.catalog_health()["download"] is not None, 20,
                     "a download under way", step=0.1)
        c = self.catalog_health()
        self.assertEqual(c["download"], {"rows": 0, "of": None}, c)
        self.assertGreater(c["items"], 0, c)
        h.wait_until(lambda: len(self.events()) >= before + 2, 20, "the download", step=0.1)
        c = self.catalog_health()
        self.assertEqual((c["items"], c["download"], c["last_error"]), (ITEMS, None, None), c)
        self.assertRegex(c["updated"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", c)
        page = self.tcp.get("/metrics").raw.decode()
        self.assertIn("\nposa_catalog_items %d\n" % ITEMS, page)
        loaded = int(re.search(r"\nposa_catalog_loaded_timestamp_seconds (\d+)\n", page).group(1))
        self.assertLess(abs(loaded - time.time()), 120, page)

    def test_a_code_listed_twice_keeps_one(self):
        self.assertEqual(self.items_loaded(self.restart_with("data.1.hilist_code", FIRST)),
                         ITEMS - 1)
        # The pages are in the catalog table, not again in the journal (a province's catalog
        # was some 35 MB of journal a download, kept idempotency_days).
        self.assertEqual(self.posad_row("SELECT count(*) FROM journal WHERE infno = '1312' "
                                        "AND response IS NOT NULL")[0], 0)
        self.assertIn("event=catalog_earlier_periods rows=1", self.w.log_tail(n=10 ** 7))

    def test_odd_dates_and_flags_keep_the_row(self):
        # A Java timestamp, digits without dashes, an empty flag: the row stays in force (one
        # such row failed the whole download, and a new install had no catalog).
        for field, value in (("data.0.begndate", "2020-01-01 00:00:00.0"),
                             ("data.0.begndate", "20200101"), ("data.0.enddate", "2099/12/31"),
                             ("data.0.vali_flag", "")):
            self.assertEqual(self.items_loaded(self.restart_with(field, value)), ITEMS,
                             (field, value))

    def test_an_unreadable_row_is_left_out_not_the_catalog(self):
        # One row in force that cannot be read (an empty limit for "none", a class 2): it is
        # left out and counted; the download stood (it failed whole, and a new install could
        # take no fees at all). Out of force, such a row is not even read.
        for field, value in (("data.0.hilist_pric_uplmt_amt", ""), ("data.0.chrgitm_lv", "2")):
            self.assertEqual(self.items_loaded(self.restart_with(field, value)), ITEMS - 1,
                             (field, value))
            self.assertRegex(self.w.log_tail(n=10 ** 7), "event=catalog_rows_unreadable rows=1")

    def test_rows_out_of_force_are_left_out(self):
        for field, value in (("data.0.vali_flag", "0"), ("data.0.enddate", "2020-12-31"),
                             ("data.0.begndate", "2099-01-01")):
            self.assertEqual(self.items_loaded(self.restart_with(field, value)), ITEMS - 1,
                             field)
        # The platform still has the item (its catalog is untouched): its split is kept, and
        # posad's "not in the catalog, the patient pays in full" is not said beside it.
        v = self.open_visit(self.tcp, LONG_TERM)
        line = self.upload(self.tcp, v["visit_id"], [self.first_line("R1")])["lines"][0]
        self.assertIn("upstream_mismatch", line, line)
        self.assertNotIn("warnings", line, line)
        # The mismatch downloads the catalog again (the item is back); a second one within
        # ten minutes does not download it a third time.
        downloads = len(self.events())
        h.wait_until(lambda: len(self.events()) > downloads, 20, "the catalog fetched again")
        self.assertEqual(self.items_loaded(self.events()[-1]), ITEMS)
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "2301", "mode": "tamper_after_commit", "field": "result.0.overlmt_amt",
            "value": "2.00"})
        self.assertEqual(status, 200, raw)
        v = self.open_visit(self.tcp, LONG_TERM)
        line = self.upload(self.tcp, v["visit_id"], [self.first_line("R2")])["lines"][0]
        self.assertIn("upstream_mismatch", line, line)
        journal_1312 = "SELECT count(*) FROM journal WHERE infno = '1312'"
        asked = self.posad_row(journal_1312)[0]
        time.sleep(2)  # what a download would take here, many times over
        self.assertEqual(self.posad_row(journal_1312)[0], asked)


if __name__ == "__main__":
    h.main()
