"""POST /v1/reconcile on days a desk and the passthrough left in odd states: a settlement of
unknown outcome keeps its day unreconciled until it is resolved; a passthrough settlement the
HIS reversed (2601) is not counted; an answer without clr_optins is counted under the insured
region it was sent for; and a month of more than 64 (insurance type, clearing type, region)
groups is reconciled whole; and posad reconciles yesterday by itself. The scenario is the default one with 70 more insured regions and
a person insured in each (generated into the test's directory). Each test has its own day."""
import copy
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"  # long_term Wuxi 310: (amount - 800.00) x 0.90
LI = "41010000000000000000000102"     # long_term Zhengzhou resident 390
WANG = "41010000000000000000000103"   # referral, Zhengzhou 310
REGIONS = 70
LAB = ("002501010150000", "血细胞分析(血常规)", "1", "20.00", "20.00")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def certno(first17):
    return first17 + "10X98765432"[sum(int(a) * b for a, b in zip(first17, ID_WEIGHTS)) % 11]


def many_regions(directory):
    """The default scenario, and a person insured in each of REGIONS new regions (Wuxi's
    rules): (scenario path, {psn_no: certno})."""
    with open(os.path.join(h.SOURCE, "sandbox", "scenarios", "default.json"),
              encoding="utf-8") as f:
        sc = json.load(f)
    base_region = sc["regions"]["320200"]
    base_person = [p for p in sc["persons"] if p["psn_no"] == ZHANG][0]
    codes = [c for c in ("%02d%02d00" % (p, c) for p in (32, 33, 34, 35, 36, 37, 41, 42, 43, 44)
                         for c in range(1, 9)) if c not in sc["regions"]][:REGIONS]
    people = {}
    for i, code in enumerate(codes):
        sc["regions"][code] = dict(copy.deepcopy(base_region), name="测试市%d" % i)
        p = copy.deepcopy(base_person)
        p.update(psn_no="%s%017d%03d" % (code, 0, 200 + i), name="测试%d" % i,
                 certno=certno("%s19560311%03d" % (code, 200 + i)), insuplc_admdvs=code,
                 card={"card_no": "T%06d" % i, "card_sn": "%s%026d" % (code, i)})
        sc["persons"].append(p)
        people[p["psn_no"]] = p["certno"]
    path = os.path.join(directory, "many_regions.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(sc, f, ensure_ascii=False)
    return path, people


class Reconcile(h.HisTestCase):
    @classmethod
    def setUpClass(cls):
        if h.HisTestCase.world is None:
            w = h.World()
            w.scenario, cls.people = many_regions(w.dir)
            h.HisTestCase.world = w.start()
        super().setUpClass()

    def tearDown(self):
        self.w.set_clock(h.CLOCK)
        self.w.sandbox_request("DELETE", "/sandbox/faults")
        super().tearDown()

    def stay(self, psn_no, day, prefix, n=2, insutype="310"):
        """A stay of the first n lines of STAY_10000 admitted and settled on day."""
        self.w.set_clock("%s 09:00:00" % day)
        v = self.open_visit(self.tcp, psn_no, insutype=insutype, begin_time=day + " 07:00:00")
        lines = h.stay_lines(prefix)[:n]
        for ln in lines:
            ln["time"] = day + " 08:00:00"
        self.upload(self.tcp, v["visit_id"], lines)
        return v, self.tcp.post("/v1/visits/%s/settle" % v["visit_id"],
                                {"discharge": {"time": day + " 08:30:00"}})

    def lose_the_next_stay_answer(self):
        """The next stay's settlement answer lost, and the platform not saying what became of
        it (5203 refused): its outcome stays unknown until tearDown takes the faults off."""
        for fault in ({"infno": "2304", "mode": "drop_after_commit", "count": 1},
                      {"infno": "5203", "mode": "refuse", "count": 1000, "message": "系统繁忙"}):
            status, raw = self.w.sandbox_request("POST", "/sandbox/faults", fault)
            self.assertEqual(status, 200, raw)

    def reconcile(self, period):
        r = self.tcp.post("/v1/reconcile", {"month" if len(period) == 7 else "date": period})
        self.assertEqual(r.status, 200, r)
        return r.json

    def test_a_settlement_of_unknown_outcome_keeps_the_day_unreconciled(self):
        # Today (Beijing's): without an answer, the journal's day is the settlement's.
        day = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).strftime(
            "%Y-%m-%d")
        _, r = self.stay(ZHANG, day, "UA")
        self.assertEqual(r.status, 200, r)
        # 李秀兰's answer is lost, and the platform will not say what became of it: unknown.
        self.lose_the_next_stay_answer()
        _, r = self.stay(LI, day, "UB", insutype="390")
        self.assertEqual((r.status, r.json["state"]), (202, "unknown"), r)
        rep = self.reconcile(day)
        self.assertEqual((rep["matched"], rep.get("unresolved")), (False, 1), rep)
        self.assertIn("still on their way or being resolved", rep["upstream_totals"])
        # The platform answers again: the settlement is found, and the day matches, both
        # counted: 4,500.00 + 900.00 twice; funds (5,400.00 - 800.00) x 0.90 = 4,140.00 and
        # (5,400.00 - 1,200.00) x 0.60 = 2,520.00.
        self.w.sandbox_request("DELETE", "/sandbox/faults")
        h.wait_until(lambda: self.tcp.get("/v1/health").json["queue"]["unknown"] == 0, 40,
                     "the outcome resolved", step=0.2)
        rep = self.reconcile(day)
        self.assertEqual((rep["matched"], rep.get("unresolved")), (True, None), rep)
        self.assertEqual((rep["local_totals"]["count"], rep["local_totals"]["medfee_sumamt"],
                          rep["local_totals"]["fund_pay_sumamt"]), (2, "10800.00", "6660.00"),
                         rep)

    def test_an_unresolved_settlement_is_not_listed_as_the_platforms_alone(self):
        # A stay's answer lost, the platform holding it: the group's totals differ and its
        # 3202 lists the settlement, which posad listed as one only the platform had
        # (platform_only, under posad's own msgid; found by review). It is the unresolved.
        day = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).strftime(
            "%Y-%m-%d")
        _, r = self.stay(ZHANG, day, "UC")
        self.assertEqual(r.status, 200, r)
        self.lose_the_next_stay_answer()
        _, r = self.stay(ZHANG, day, "UD")
        self.assertEqual((r.status, r.json["state"]), (202, "unknown"), r)
        rep = self.reconcile(day)
        self.assertEqual((rep["matched"], rep.get("unresolved")), (False, 1), rep)
        self.assertEqual([m for m in rep["mismatched"] if m.get("platform_only")], [], rep)
        self.w.sandbox_request("DELETE", "/sandbox/faults")
        h.wait_until(lambda: self.tcp.get("/v1/health").json["queue"]["unknown"] == 0, 40,
                     "the outcome resolved", step=0.2)

    def test_a_passthrough_settlement_reversed_is_not_counted(self):
        day = "2026-10-06"
        _, r = self.stay(ZHANG, day, "PA")
        self.assertEqual(r.status, 200, r)

        def pt(infno, inp, msgid=None):
            env = {"infno": infno, "insuplc_admdvs": "410100", "input": inp}
            if msgid:
                env["msgid"] = msgid
            r = self.unix.post("/fsi/api/rsfComIfsService/callService", env)
            self.assertEqual((r.status, r.json["infcode"]), (200, 0), r)
            return r.json["output"]

        cert = h.PERSONS[WANG]
        out = pt("2401", {"mdtrtinfo": {"psn_no": WANG, "insutype": "310",
                                        "ipt_no": "PTR-%d" % os.getpid(), "med_type": "21",
                                        "begntime": day + " 07:00:00", "mdtrt_cert_type": "02",
                                        "mdtrt_cert_no": cert}, "diseinfo": []})
        mdtrt = out["result"]["mdtrt_id"]
        pt("2301", {"feedetail": [{"feedetl_sn": "1", "mdtrt_id": mdtrt, "psn_no": WANG,
                                   "med_list_codg": "003315020010000",
                                   "det_item_fee_sumamt": "4500.00", "cnt": "1",
                                   "pric": "4500.00", "fee_ocur_time": day + " 08:00:00"}]})
        his_msgid = "HISSETL%d" % os.getpid()
        pt("2304", {"data": {"psn_no": WANG, "mdtrt_id": mdtrt, "medfee_sumamt": "4500.00",
                             "insutype": "310", "mdtrt_cert_type": "02", "mdtrt_cert_no": cert,
                             "acct_used_flag": "0", "mid_setl_flag": "0",
                             "dscg_time": day + " 08:30:00"}}, msgid=his_msgid)
        rep = self.reconcile(day)
        self.assertEqual((rep["matched"], rep["local_totals"]["count"]), (True, 2), rep)
        out = pt("2601", {"data": {"psn_no": WANG, "omsgid": his_msgid, "oinfno": "2304"}})
        self.assertEqual(out["data"]["rvs_rslt"], "1", out)
        # Counted no more, as the platform holds it no more: only the desk's 5,400.00.
        rep = self.reconcile(day)
        self.assertEqual((rep["matched"], rep["local_totals"]["count"],
                          rep["local_totals"]["medfee_sumamt"]), (True, 1, "5400.00"), rep)

    def test_an_answer_without_clr_optins_is_counted_where_it_was_sent(self):
        day = "2026-10-07"
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "2304", "mode": "tamper_after_commit", "field": "setlinfo.clr_optins",
            "value": ""})
        self.assertEqual(status, 200, raw)
        _, r = self.stay(ZHANG, day, "OA")
        self.assertEqual(r.status, 200, r)
        rep = self.reconcile(day)
        self.assertEqual([(g["insutype"], g["setl_optins"]) for g in rep["groups"]],
                         [("310", "320200")], rep)
        self.assertIs(rep["matched"], True, rep)

    def test_a_month_of_more_than_64_regions(self):
        # One outpatient blood count (20.00) for each of 70 people of 70 regions, on a day of
        # 2026-09: 70 groups, 1,400.00 in all.
        day = "2026-09-16"
        self.w.set_clock(day + " 09:00:00")
        for i, (psn_no, cert) in enumerate(sorted(self.people.items())):
            r = self.tcp.post("/v1/identify", {"source": "id", "certno": cert})
            self.assertEqual(r.status, 200, r)
            r = self.tcp.post("/v1/visits", h.visit_body(r.json["identity_token"],
                                                         kind="outpatient", med_type="11",
                                                         begin_time=day + " 08:00:00"))
            self.assertEqual(r.status, 201, r)
            vid = r.json["visit_id"]
            self.upload(self.tcp, vid, [h.line("M%d" % i, *LAB, time=day + " 08:10:00")])
            r = self.tcp.post("/v1/visits/%s/settle" % vid, {})
            self.assertEqual(r.status, 200, r)
        rep = self.reconcile("2026-09")
        self.assertEqual((rep["matched"], len(rep["groups"]), rep["local_totals"]["count"],
                          rep["local_totals"]["medfee_sumamt"]),
                         (True, REGIONS, REGIONS, "1400.00"), rep)
        self.assertNotIn("truncated", rep)

    def test_z_yesterday_reconciled_by_the_schedule(self):
        # posad reconciles yesterday by itself at [his] reconcile_at (here 00:00, so as soon
        # as it has started): its report is stored, as POST /v1/reconcile stores it.
        beijing = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8)))
        yesterday = (beijing - datetime.timedelta(days=1)).strftime("%Y-%m-%d")
        _, r = self.stay(ZHANG, yesterday, "SY")
        self.assertEqual(r.status, 200, r)
        self.assertError(self.tcp.get("/v1/reconcile/%s" % yesterday), 404, "NOT_FOUND")
        self.w.extra_conf += "[his]\nreconcile_at = 00:00\n"
        self.w.write_conf()
        # First the platform refuses, in words that name the patient: logged masked.
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "3201", "mode": "refuse", "count": 1,
            "message": "人员编号32020000000000000000000101 参保人张建国(证件号码320211195603120157)"
                       "的结算记录与医院不一致 (injected)"})
        self.assertEqual(status, 200, raw)
        def restart():
            self.w._kill(self.w.posad)
            self.w.posad = self.w._spawn([h.POSAD, "--config", self.w.conf_path], "posad.log")
            h.wait_until(self.w._online, 20, "posad back online", step=0.1)

        def failed():
            return [ln for ln in self.w.log_tail(n=200000).splitlines()
                    if "event=reconcile_failed" in ln]

        restart()
        h.wait_until(failed, 30, "the refused reconcile logged", step=0.2)
        self.assertIn("320211********0157", failed()[-1])
        for whole in ("3202000000000000000000010", "320211195603120157", "张建国"):
            self.assertNotIn(whole, failed()[-1])
        restart()  # then it is asked again at once (not in ten minutes)
        h.wait_until(lambda: self.tcp.get("/v1/reconcile/%s" % yesterday).status == 200, 30,
                     "yesterday reconciled", step=0.2)
        rep = self.tcp.get("/v1/reconcile/%s" % yesterday).json
        # 4,500.00 + 900.00; (5,400.00 - 800.00) x 0.90 = 4,140.00 from the fund.
        self.assertEqual((rep["matched"], rep["local_totals"]["count"],
                          rep["local_totals"]["fund_pay_sumamt"]), (True, 1, "4140.00"), rep)
        self.assertIn("event=reconcile_matched period=%s" % yesterday, self.w.log_tail())


if __name__ == "__main__":
    h.main()
