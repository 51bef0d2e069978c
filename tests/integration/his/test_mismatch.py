"""POST /v1/visits/{id}/fees when the platform splits a line differently from posad's catalog
(issue 6): the line carries upstream_mismatch with both figures, the difference is logged, and
posad fetches the catalog again, after which its split agrees with the platform's.

The platform's catalog is changed under posad by restarting posa-sandbox (same port, same
ledger) with a scenario in which the ward bed 001109000010000 is class 丙 instead of 甲."""
import json
import os
import re

import hisharness as h

BED = "001109000010000"  # 普通病房床位费(三人间及以上): 甲, limit 45.00 in the default scenario
LONG_TERM = "32020000000000000000000101"  # 张建国, long_term filing, Wuxi
BLOOD = "002501010150000"  # 血细胞分析(血常规): 甲, no limit, in the default scenario


class PlatformCatalog:
    """Lines, and the platform's catalog changed under posad (restart_sandbox_with)."""

    def bed_line(self, lid):
        # 10 days at 45.00 = 450.00, within the limit: 甲 puts it all in scope, 丙 none of it.
        return h.line(lid, BED, "普通病房床位费(三人间及以上)", "10", "45.00", "450.00")

    def upload_bed(self, lid):
        v = self.last_visit = self.open_visit(self.tcp, LONG_TERM)
        fees = self.last_fees = self.upload(self.tcp, v["visit_id"], [self.bed_line(lid)])
        self.assertEqual(len(fees["lines"]), 1, fees)
        return fees["lines"][0]

    def catalog_loads(self):
        return self.w.log_tail(n=10 ** 7).count("catalog_loaded")

    def restart_sandbox_with_bed_as_class_3(self):
        with open(os.path.join(h.SOURCE, "sandbox", "scenarios", "default.json"),
                  encoding="utf-8") as f:
            scenario = json.load(f)
        items = [i for i in scenario["catalog"] if i["list_code"] == BED]
        self.assertEqual(len(items), 1)
        items[0].update({"chrgitm_lv": "03", "selfpay_prop": "1.00"})
        self.restart_sandbox_with(scenario, "bed_class_3.json")

    def restart_sandbox_with(self, scenario, name):
        """posa-sandbox again, same port and ledger, with scenario (saved as name)."""
        self.w.scenario = os.path.join(self.w.dir, name)
        with open(self.w.scenario, "w", encoding="utf-8") as f:
            json.dump(scenario, f, ensure_ascii=False)
        self.w.kill_sandbox()
        self.assertTrue(self.w.start_sandbox(), self.w.log_tail("sandbox.log"))
        h.wait_until(self.w._online, 20, "posad upstream online again", step=0.1)



class MismatchTest(PlatformCatalog, h.HisTestCase):
    # Two lines a chunk: a bill's later chunks wait behind its first and go by the outbox.
    posad_conf = "[his]\nchunk_lines = 2\n"

    def test_two_rows_for_one_line(self):
        # The platform's answer names one line twice (the second row is the other line's):
        # the last row was taken for the line, and its split compared, and kept.
        v = self.open_visit(self.tcp, LONG_TERM)
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "2301", "mode": "tamper_after_commit", "field": "result.1.feedetl_sn",
            "value": "F000001"})
        self.assertEqual(status, 200, raw)
        fees = self.upload(self.tcp, v["visit_id"], [
            h.line("D1", BED, "普通病房床位费(三人间及以上)", "1", "45.00", "45.00"),
            h.line("D2", BED, "普通病房床位费(三人间及以上)", "2", "45.00", "90.00")])
        self.assertEqual([line["feedetl_sn"] for line in fees["lines"]], ["F000001", "F000002"])
        self.assertNotIn("upstream_mismatch", fees["lines"][0], fees)
        self.assertIn("event=split_answer_twice", self.w.log_tail(n=10 ** 7))

    def test_mismatch_reported_logged_and_catalog_refreshed(self):
        # Same catalogs: no mismatch (the control).
        line = self.upload_bed("B01")
        self.assertNotIn("upstream_mismatch", line, line)
        self.assertEqual((line["chrgitm_lv"], line["inscp_scp_amt"]), ("01", "450.00"), line)

        self.restart_sandbox_with_bed_as_class_3()
        loads = self.catalog_loads()
        line = self.upload_bed("B02")
        # posad's (old) split: all 450.00 in scope; the platform's: all fully self-paid. The
        # amount, over-limit and first self-pay parts agree and are not listed.
        self.assertEqual(line.get("upstream_mismatch"), {
            "fulamt_ownpay_amt": {"local": "0.00", "upstream": "450.00"},
            "inscp_scp_amt": {"local": "450.00", "upstream": "0.00"},
        }, line)
        self.assertEqual((line["fulamt_ownpay_amt"], line["inscp_scp_amt"]), ("0.00", "450.00"),
                         "the answer keeps posad's own split beside the platform's")
        # The totals are the bill as kept, the platform's (they said posad's, and an HIS
        # keeping them held a bill the statement and the settlement did not).
        totals = self.last_fees["totals"]
        self.assertEqual((totals["amount"], totals["fulamt_ownpay_amt"], totals["inscp_scp_amt"]),
                         ("450.00", "450.00", "0.00"), totals)
        # Settled, the line is the platform's: the settlement's parts (2304) and the bill the
        # statement prints follow the treating region's split (policy.md §33), where they
        # said posad's 450.00 in scope beside the platform's 450.00 fully self-paid.
        vid = self.last_visit["visit_id"]
        r = self.tcp.post("/v1/visits/%s/settle" % vid,
                          {"discharge": {"time": "2026-11-25 09:30:00"}})
        self.assertEqual(r.status, 200, r)
        sent = bytes(self.posad_rows("SELECT request FROM journal WHERE infno = '2304' AND "
                                     "visit_key = ?", (vid,))[0][0])
        self.assertIn(b'"fulamt_ownpay_amt":"450.00"', sent)
        self.assertIn(b'"inscp_scp_amt":"0.00"', sent)
        bill = self.tcp.get("/v1/settlements/" + r.json["settlement_id"]).json
        doc = self.tcp.get("/v1/documents/settlement/" + r.json["settlement_id"]).raw.decode()
        self.assertEqual(r.json["amounts"]["fulamt_ownpay_amt"], "450.00", bill)
        self.assertIn("450.00", doc)
        log = self.w.log_tail(n=10 ** 7)
        self.assertIn("split_mismatch", log)
        self.assertIn("B02", log[log.rfind("split_mismatch"):][:400])

        # The mismatch made posad fetch the catalog again; then the two agree.
        h.wait_until(lambda: self.catalog_loads() > loads, 20, "the catalog fetched again")
        line = self.upload_bed("B03")
        self.assertNotIn("upstream_mismatch", line, line)
        self.assertEqual((line["chrgitm_lv"], line["fulamt_ownpay_amt"], line["inscp_scp_amt"]),
                         ("03", "450.00", "0.00"), line)

    def test_z_another_category_alone(self):
        # The platform files the bed under 14 其他费 (its class and limit as posad has them,
        # whichever scenario runs now): the amounts agree, the category does not. Reported,
        # and the platform's category is the one the bill and the statement print.
        with open(self.w.scenario or os.path.join(h.SOURCE, "sandbox", "scenarios",
                                                  "default.json"), encoding="utf-8") as f:
            scenario = json.load(f)
        bed = [i for i in scenario["catalog"] if i["list_code"] == BED][0]
        self.assertEqual(bed["med_chrgitm_type"], "01")
        bed["med_chrgitm_type"] = "14"
        self.restart_sandbox_with(scenario, "bed_category_14.json")
        line = self.upload_bed("C01")
        self.assertEqual(line.get("upstream_mismatch"),
                         {"med_chrgitm_type": {"local": "01", "upstream": "14"}}, line)
        vid = self.last_visit["visit_id"]
        r = self.tcp.post("/v1/visits/%s/settle" % vid,
                          {"discharge": {"time": "2026-11-25 09:30:00"}})
        self.assertEqual(r.status, 200, r)
        doc = self.tcp.get("/v1/documents/settlement/" + r.json["settlement_id"]).raw.decode()
        self.assertIn('<th>其他费</th><td class="num">450.00</td>', doc)
        self.assertIn('<th>床位费</th><td class="num">0.00</td>', doc)
        log = self.w.log_tail(n=10 ** 7)
        self.assertIn("C01", log[log.rfind("split_mismatch"):][:400])
        # (The catalog is fetched again at most every ten minutes: the test above did.)

        # The bed in a bill's second chunk, which the outbox sends: its split was never
        # compared, and the statement printed it as 床位费 where the platform settled it as
        # 其他费 (the bill's first chunk alone was the platform's).
        v = self.open_visit(self.tcp, LONG_TERM)
        fees = self.upload(self.tcp, v["visit_id"], [
            h.line("Q%d" % i, "002501010150000", "血细胞分析(血常规)", "1", "20.00", "20.00")
            for i in (1, 2)] + [self.bed_line("Q3")])
        self.assertEqual((fees["upload"]["chunks"], fees["upload"]["state"]), (2, "queued"), fees)
        h.wait_until(lambda: self.tcp.get("/v1/queue").json["rows"] == [], 15, "chunk 2 sent",
                     step=0.1)
        log = self.w.log_tail(n=10 ** 7)
        self.assertRegex(log[log.rfind("split_mismatch"):][:400],
                         "visit=%s .*lines=1" % v["visit_id"])
        r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"],
                          {"discharge": {"time": "2026-11-25 09:30:00"}})
        self.assertEqual(r.status, 200, r)
        doc = self.tcp.get("/v1/documents/settlement/" + r.json["settlement_id"]).raw.decode()
        self.assertIn('<th>其他费</th><td class="num">450.00</td>', doc)
        self.assertIn('<th>床位费</th><td class="num">0.00</td>', doc)


class QueuedSettleTest(PlatformCatalog, h.HisTestCase):
    def test_a_queued_settle_prints_the_platforms_split(self):
        # A blood count (甲 in posad's catalog: 60.00 in scope) uploaded while the platform is
        # away, a settle waiting behind it; the platform, back, has the item as 丙 (60.00
        # fully self-paid) and settles on that. The statement's categories printed posad's
        # split, kept when the settle was asked: 合计 全自费 0.00 beside a 结算信息 of 60.00.
        v = self.open_visit(self.tcp, LONG_TERM, kind="outpatient", med_type="11",
                            begin_time="2026-11-25 08:00:00")
        self.w.kill_sandbox()
        line = h.line("Q1", BLOOD, "血细胞分析(血常规)", "3", "20.00", "60.00",
                      time="2026-11-25 08:10:00")
        r = self.tcp.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": [line]})
        self.assertEqual((r.status, r.json["upload"]["state"]), (200, "queued"), r)
        self.assertEqual(r.json["totals"]["inscp_scp_amt"], "60.00", r)
        r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {"wait_if_offline": True})
        self.assertEqual((r.status, r.json["state"]), (202, "queued"), r)
        sid = r.json["settlement_id"]
        with open(self.w.scenario or os.path.join(h.SOURCE, "sandbox", "scenarios",
                                                  "default.json"), encoding="utf-8") as f:
            scenario = json.load(f)
        item = [i for i in scenario["catalog"] if i["list_code"] == BLOOD][0]
        self.assertEqual(item["chrgitm_lv"], "01")
        item.update({"chrgitm_lv": "03", "selfpay_prop": "1.00"})
        self.restart_sandbox_with(scenario, "blood_class_3.json")
        h.wait_until(lambda: self.tcp.get("/v1/settlements/" + sid).json["state"] ==
                     "settled", 60, "settled", step=0.2)
        s = self.tcp.get("/v1/settlements/" + sid).json["amounts"]
        self.assertEqual((s["fulamt_ownpay_amt"], s["inscp_scp_amt"]), ("60.00", "0.00"), s)
        doc = self.tcp.get("/v1/documents/settlement/" + sid).raw.decode()
        total = re.search(r'<tr class="total"><th>合计</th>(.*?)</tr>', doc)
        self.assertIsNotNone(total, doc)
        # amount, 全自费, 超限价, 先行自付, 符合范围
        self.assertEqual(re.findall(r">([\d.-]+)<", total.group(1)),
                         ["60.00", "60.00", "0.00", "0.00", "0.00"], total.group(1))


if __name__ == "__main__":
    h.main()
