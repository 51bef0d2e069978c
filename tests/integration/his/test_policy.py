"""policy.md's worked examples end to end through the HIS API: identify by ID number, open a
stay, upload a 10,000.00 bill that is wholly in scope, presettle, settle, read the settlement
back; once per filing kind, over the Unix socket and over TCP."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

DISCHARGE = {"time": "2026-11-25 09:30:00"}

# Inpatient, employee (310), level 3. Every insured region of these persons has deductible
# 800.00 per admission and local ratio 0.90 (sandbox/scenarios/README.md); the bill is
# 10,000.00 in scope (S), nothing self-paid, so E = S - D = 10,000.00 - 800.00 = 9,200.00.
EXAMPLES = {
    # long-term (张建国, Wuxi): r = 90 %: 9,200.00 x 0.90 = 8,280.00; person 10,000 - 8,280
    "long_term": ("32020000000000000000000101", {}, "8280.00", "1720.00"),
    # other temporary, national 2022 (刘洋, Zhengzhou): r = 90 - 20 = 70 %:
    # 9,200.00 x 0.70 = 6,440.00; person 3,560.00
    "temporary_national": ("41010000000000000000000105", {}, "6440.00", "3560.00"),
    # other temporary, Wuxi 2025 share-first (赵敏): 9,200.00 x (1 - 0.20) x 0.90 = 6,624.00;
    # person 3,376.00
    "temporary_wuxi": ("32020000000000000000000106", {}, "6624.00", "3376.00"),
    # unfiled, emergency, national 2022 (周婷, Zhengzhou): r = 90 - 10 = 80 %:
    # 9,200.00 x 0.80 = 7,360.00; person 2,640.00
    "emergency_national": ("41010000000000000000000108", {"emergency": True}, "7360.00", "2640.00"),
    # unfiled, emergency, Wuxi 2025 (吴刚): no reduction: 8,280.00; person 1,720.00
    "emergency_wuxi": ("32020000000000000000000109", {"emergency": True}, "8280.00", "1720.00"),
}

# The rest of sandbox/scenarios/README.md's persons table ("fund on 10,000.00"), same stay.
# Residents (390) have their own rates: Zhengzhou 1,200.00 / 0.60, Wuxi 1,000.00 / 0.65,
# Chengdu 1,200.00 / 0.55.
TABLE = [
    # psn_no, insutype, visit extra, fund, person
    # 李秀兰 long-term resident: (10,000 - 1,200) x 0.60 = 5,280.00
    ("41010000000000000000000102", "390", {}, "5280.00", "4720.00"),
    # 王磊 referral, Zhengzhou: 9,200 x (0.90 - 0.10) = 7,360.00
    ("41010000000000000000000103", "310", {}, "7360.00", "2640.00"),
    # 陈静 referral, Wuxi (no reduction): 9,200 x 0.90 = 8,280.00
    ("32020000000000000000000104", "310", {}, "8280.00", "1720.00"),
    # 孙志强 commitment filing, valid 11-20..12-04: settles as long-term: 8,280.00
    ("32020000000000000000000107", "310", {}, "8280.00", "1720.00"),
    # 郑丽娟 expired filing, as an emergency, resident Zhengzhou: (10,000 - 1,200) x
    # (0.60 - 0.10) = 4,400.00
    ("41010000000000000000000110", "390", {"emergency": True}, "4400.00", "5600.00"),
    # 冯卫东 referral valid to 11-30, admitted 11-20: 7,360.00
    ("41010000000000000000000111", "310", {}, "7360.00", "2640.00"),
    # 王䶮 long-term (rare character in the name): 8,280.00
    ("32020000000000000000000112", "310", {}, "8280.00", "1720.00"),
    # 李㛃 Chengdu resident, other temporary: (10,000 - 1,200) x (0.55 - 0.20) = 3,080.00
    ("51010000000000000000000113", "390", {}, "3080.00", "6920.00"),
    # 李㛃 again, as the Wuxi employee she also is (1101's second insuinfo row; her filing is
    # other temporary): (10,000 - 800) x (1 - 0.20) x 0.90 = 6,624.00
    ("51010000000000000000000113", "310", {}, "6624.00", "3376.00"),
    # 马晓燕 expired long-term next to a valid temporary one: 9,200 x 0.70 = 6,440.00
    ("41010000000000000000000115", "310", {}, "6440.00", "3560.00"),
    # 钱宇航 unfiled Wuxi resident, as an emergency: Wuxi 2025's "no reduction" is for
    # employees; residents keep Jiangsu's 10 points: (10,000 - 1,000) x (0.65 - 0.10) = 4,950.00
    ("32020000000000000000000116", "390", {"emergency": True}, "4950.00", "5050.00"),
]


MONEY = re.compile(r"-?(0|[1-9][0-9]*)\.[0-9]{2}")
LINE_MONEY = ("amount", "fulamt_ownpay_amt", "overlmt_amt", "preselfpay_amt", "inscp_scp_amt")


_ACCOUNT_RUNS = []  # the transports that ran the account test, in order (one world)


class PolicyBase(h.HisTestCase):
    transport = None

    def assertMoney(self, values, where):
        """his-api.md: money is a JSON string with exactly two decimals, everywhere."""
        for v in values:
            self.assertIsInstance(v, str, where)
            self.assertRegex(v, MONEY, where)

    @property
    def c(self):
        return self.unix if self.transport == "unix" else self.tcp

    def stay(self, name, use_account=None):
        psn_no, extra, fund, person = EXAMPLES[name]
        v = self.open_visit(self.c, psn_no, **extra)
        vid = v["visit_id"]
        if extra.get("emergency"):
            flags = {f["flag"]: f for f in v["flags"]}
            self.assertIn("emergency", flags, v)
            self.assertEqual((flags["emergency"]["value"], flags["emergency"]["source"]),
                             (True, "his"), v)
        fees = self.upload(self.c, vid, h.stay_lines())
        t = fees["totals"]
        self.assertEqual((t["amount"], t["fulamt_ownpay_amt"], t["overlmt_amt"],
                          t["preselfpay_amt"], t["inscp_scp_amt"]),
                         ("10000.00", "0.00", "0.00", "0.00", "10000.00"), fees)
        self.assertEqual(len(fees["lines"]), len(h.STAY_10000), fees)
        for ln in fees["lines"]:
            self.assertEqual(ln["chrgitm_lv"], "01", ln)
            self.assertEqual(ln["inscp_scp_amt"], ln["amount"], ln)
        self.assertNotIn("upstream_mismatch", str(fees))
        for ln in fees["lines"]:
            self.assertMoney([ln[k] for k in LINE_MONEY], ln)
        self.assertMoney([t[k] for k in LINE_MONEY], t)
        for cat in t["by_category"].values():
            self.assertMoney([cat[k] for k in LINE_MONEY], t)
        pre = self.c.post("/v1/visits/%s/presettle" % vid, {})
        self.assertEqual(pre.status, 200, pre)
        self.assertEqual(pre.json["estimated"], False, pre)
        self.assertEqual((pre.json["amounts"]["fund_pay_sumamt"],
                          pre.json["amounts"]["psn_part_amt"]), (fund, person), pre)
        body = {"discharge": DISCHARGE}
        if use_account is not None:
            body["use_account"] = use_account
        r = self.c.post("/v1/visits/%s/settle" % vid, body)
        self.assertEqual(r.status, 200, r)
        s = r.json
        self.assertEqual(s["state"], "settled", s)
        self.assertTrue(s["settlement_id"] and s["setl_id"], s)
        a = s["amounts"]
        self.assertMoney(a.values(), s)
        self.assertMoney([f["amount"] for f in s["funds"]], s)
        self.assertMoney(pre.json["amounts"].values(), pre)
        self.assertEqual(a["medfee_sumamt"], "10000.00", s)
        self.assertEqual(a["fulamt_ownpay_amt"], "0.00", s)
        self.assertEqual(a["overlmt_selfpay"], "0.00", s)
        self.assertEqual(a["preselfpay_amt"], "0.00", s)
        self.assertEqual(a["inscp_scp_amt"], "10000.00", s)
        self.assertEqual(a["act_pay_dedc"], "800.00", s)
        self.assertEqual(a["hifp_pay"], fund, s)
        self.assertEqual(a["fund_pay_sumamt"], fund, s)
        self.assertEqual(a["psn_part_amt"], person, s)
        # The pooled fund of employees (310100) pays the fund share; the account (310200)
        # may appear beside it.
        pooled = [f["amount"] for f in s["funds"] if f["fund_pay_type"] == "310100"]
        self.assertEqual(pooled, [fund], s)
        # Reading it back gives the same figures.
        g = self.c.get("/v1/settlements/%s" % s["settlement_id"])
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.json["state"], "settled", g)
        self.assertEqual(g.json["amounts"], a, g)
        vis = self.c.get("/v1/visits/%s" % vid)
        self.assertEqual((vis.status, vis.json and vis.json.get("state")), (200, "settled"), vis)
        return s

    def test_long_term(self):
        a = self.stay("long_term")["amounts"]
        self.assertEqual((a["acct_pay"], a["psn_cash_pay"]), ("0.00", "1720.00"))

    def test_temporary_national(self):
        self.stay("temporary_national")

    def test_temporary_wuxi_share_first_with_account(self):
        # 赵敏's account holds 2,100.00 in the scenario: the first of the two transports'
        # runs pays acct_pay = min(2,100.00, 3,376.00) = 2,100.00, cash 3,376.00 - 2,100.00
        # = 1,276.00; the account is then empty, so the other run pays 0.00 and 3,376.00.
        r = self.c.post("/v1/identify", {"source": "id",
                                         "certno": h.PERSONS["32020000000000000000000106"]})
        # The first run must find the account full (else the min() went untested).
        first = not _ACCOUNT_RUNS
        _ACCOUNT_RUNS.append(self.transport)
        self.assertEqual(r.json["insurance"][0]["balance"], "2100.00" if first else "0.00", r)
        a = self.stay("temporary_wuxi", use_account=True)["amounts"]
        expected = ("2100.00", "1276.00") if first else ("0.00", "3376.00")
        self.assertEqual((a["acct_pay"], a["psn_cash_pay"]), expected)
        r = self.c.post("/v1/identify", {"source": "id",
                                         "certno": h.PERSONS["32020000000000000000000106"]})
        self.assertEqual(r.json["insurance"][0]["balance"], "0.00", r)

    def test_emergency_national(self):
        self.stay("emergency_national")

    def test_emergency_wuxi(self):
        self.stay("emergency_wuxi")

    def test_scenario_persons_table(self):
        for psn_no, insutype, extra, fund, person in TABLE:
            with self.subTest(psn_no=psn_no):
                v = self.open_visit(self.c, psn_no, insutype=insutype, **extra)
                self.upload(self.c, v["visit_id"], h.stay_lines())
                r = self.c.post("/v1/visits/%s/settle" % v["visit_id"], {"discharge": DISCHARGE})
                self.assertEqual(r.status, 200, r)
                a = r.json["amounts"]
                self.assertEqual((a["medfee_sumamt"], a["fund_pay_sumamt"], a["psn_part_amt"]),
                                 ("10000.00", fund, person), r)

    def test_insured_twice_picks_the_row_of_the_visit(self):
        # national-interface.md: 1101 may answer several insuinfo rows and the operator picks
        # one. 李㛃: Chengdu resident (390) and Wuxi employee (310), each cross-province here.
        psn = "51010000000000000000000113"
        r = self.c.post("/v1/identify", {"source": "id", "certno": h.PERSONS[psn]})
        self.assertEqual([(i["insutype"], i["insuplc_admdvs"], i["cross_province"])
                          for i in r.json["insurance"]],
                         [("390", "510100", True), ("310", "320200", True)], r)
        v = self.c.post("/v1/visits", h.visit_body(r.json["identity_token"], insutype="320"))
        self.assertError(v, 400, "BAD_REQUEST")
        self.assertIn("(390, 310)", v.json["error"]["message"])
        self.assertEqual(v.json["error"]["details"]["field"], "insutype", v)

    def test_unfiled_or_expired_refused_unless_emergency(self):
        for psn_no, insutype in (("41010000000000000000000110", "390"),
                                 ("32020000000000000000000116", "390")):
            with self.subTest(psn_no=psn_no):
                token = self.identify(self.c, psn_no)
                r = self.c.post("/v1/visits", h.visit_body(token, insutype=insutype))
                self.assertError(r, 422, "FILING_REQUIRED")

    def test_filing_expiring_mid_stay_covers_the_whole_stay(self):
        # 冯卫东's referral runs to 2026-11-30. Admitted 11-28 while it was valid, discharged
        # 12-03 after it expired: the whole stay settles (§12): 9,200 x 0.80 = 7,360.00.
        try:
            self.w.set_clock("2026-11-28 10:00:00")
            v = self.open_visit(self.c, "41010000000000000000000111",
                                begin_time="2026-11-28 10:00:00")
            lines = h.stay_lines("M")
            for ln in lines:
                ln["time"] = "2026-11-28 12:30:00"
            self.upload(self.c, v["visit_id"], lines)
            self.w.set_clock("2026-12-03 09:00:00")
            # The card read again at discharge: posad learns the platform's date (a discharge
            # on a day after the later of its own and the platform's is refused).
            self.identify(self.c, "41010000000000000000000111")
            r = self.c.post("/v1/visits/%s/settle" % v["visit_id"],
                            {"discharge": {"time": "2026-12-03 09:00:00"}})
            self.assertEqual(r.status, 200, r)
            a = r.json["amounts"]
            self.assertEqual((a["fund_pay_sumamt"], a["psn_part_amt"]), ("7360.00", "2640.00"), r)
        finally:
            self.w.set_clock(h.CLOCK)

    def test_filing_made_after_admission_counts(self):
        # 周婷 is unfiled when admitted on 11-20; a referral filing valid from 11-24 is made
        # before the stay is registered and settled: it counts (§16), so the stay opens (posad
        # refused it before, checking the filing against the admission day alone) and settles
        # as referred: (10,000.00 - 800.00) x 0.80 = 7,360.00, person 2,640.00.
        filing = {"psn_no": "41010000000000000000000108", "kind": "referral",
                  "valid_from": "2026-11-24", "valid_to": "2027-05-23"}
        status, raw = self.w.sandbox_request("POST", "/sandbox/filings",
                                             dict(filing, action="add"))
        self.assertEqual(status, 200, raw)
        try:
            v = self.open_visit(self.c, filing["psn_no"], begin_time="2026-11-20 10:00:00")
            self.upload(self.c, v["visit_id"], h.stay_lines("LF"))
            r = self.c.post("/v1/visits/%s/settle" % v["visit_id"], {"discharge": DISCHARGE})
            self.assertEqual(r.status, 200, r)
            a = r.json["amounts"]
            self.assertEqual((a["fund_pay_sumamt"], a["psn_part_amt"]), ("7360.00", "2640.00"), r)
        finally:
            status, raw = self.w.sandbox_request("POST", "/sandbox/filings",
                                                 dict(filing, action="revoke"))
            self.assertEqual(status, 200, raw)

    def settle_one_line(self, price, amount, **visit):
        v = self.open_visit(self.c, EXAMPLES["long_term"][0], **visit)
        # 紫杉醇注射液 30mg: 甲, no price limit; 100 vials.
        self.upload(self.c, v["visit_id"], [h.line("B1", "XL01CDA341B001014603579",
                                                   "紫杉醇注射液 30mg", "100", price, amount)])
        r = self.c.post("/v1/visits/%s/settle" % v["visit_id"], {"discharge": DISCHARGE})
        self.assertEqual(r.status, 200, r)
        return r.json

    def test_audit_30k_at_30000(self):
        s = self.settle_one_line("300.00", "30000.00")
        # (30,000.00 - 800.00) x 0.90 = 26,280.00; person 3,720.00; an inpatient total of
        # 30,000.00 or more carries audit_30k.
        a = s["amounts"]
        self.assertEqual((a["fund_pay_sumamt"], a["psn_part_amt"]), ("26280.00", "3720.00"), s)
        self.assertEqual([f["flag"] for f in s["audit_flags"]], ["audit_30k"], s)
        g = self.c.get("/v1/settlements/%s" % s["settlement_id"])
        self.assertEqual(g.json.get("audit_flags"), s["audit_flags"], g)

    def test_no_audit_below_30000(self):
        s = self.settle_one_line("299.9999", "29999.99")
        # 100 x 299.9999 = 29,999.99; (29,999.99 - 800.00) x 0.90 = 26,279.991 -> 26,279.99
        # (half-up to the fen); person 29,999.99 - 26,279.99 = 3,720.00.
        a = s["amounts"]
        self.assertEqual((a["medfee_sumamt"], a["fund_pay_sumamt"], a["psn_part_amt"]),
                         ("29999.99", "26279.99", "3720.00"), s)
        self.assertEqual(s["audit_flags"], [], s)

    def test_trauma_with_third_party_fund_pays_nothing(self):
        v = self.open_visit(self.c, EXAMPLES["long_term"][0],
                            diagnoses=[{"code": "S72.000", "name": "股骨颈骨折", "main": True}],
                            trauma={"present": True, "third_party": True,
                                    "commitment_signed": False})
        flags = {f["flag"]: f for f in v["flags"]}
        self.assertEqual((flags["trauma"]["value"], flags["trauma"]["source"]), (True, "his"), v)
        self.assertIs(flags["third_party"]["value"], True, v)
        self.upload(self.c, v["visit_id"], h.stay_lines())
        r = self.c.post("/v1/visits/%s/settle" % v["visit_id"], {"discharge": DISCHARGE})
        self.assertEqual(r.status, 200, r)
        # policy.md: trauma with a third party is not paid by the fund: 0.00, person 10,000.00.
        a = r.json["amounts"]
        self.assertEqual((a["fund_pay_sumamt"], a["hifp_pay"], a["psn_part_amt"]),
                         ("0.00", "0.00", "10000.00"), r)

    def test_each_insurance_has_its_own_year(self):
        # 李㛃 is a Chengdu resident (390) and a Wuxi employee (310): each insurance has its
        # own deductible and cap. Two outpatient visits of 1,500.00, all in scope:
        #   as 390: deductible 100.00, (1,500.00 - 100.00) x 0.30 = 420.00, person 1,080.00;
        #   as 310: deductible 800.00, (1,500.00 - 800.00) x 0.80 x 0.75 = 420.00 (share
        #   first 20%), person 1,080.00. The sandbox took the first's 100.00 off the second's
        #   deductible (700.00, fund 480.00) when a person's year was one sum.
        lines = [("003301000050000", "全身麻醉", "1", "900.00", "900.00"),
                 ("002103000020000", "X线计算机体层(CT)平扫(胸部)", "1", "260.00", "260.00"),
                 ("002101020160000", "数字化摄影(DR)腰椎正侧位", "2", "120.00", "240.00"),
                 ("002501010150000", "血细胞分析(血常规)", "5", "20.00", "100.00")]
        settled = []
        try:
            for insutype, want in (("390", ("100.00", "420.00", "1080.00")),
                                   ("310", ("800.00", "420.00", "1080.00"))):
                v = self.open_visit(self.c, "51010000000000000000000113", kind="outpatient",
                                    med_type="11", insutype=insutype)
                self.upload(self.c, v["visit_id"], [h.line("Y%s%d" % (insutype, i), *ln)
                                                    for i, ln in enumerate(lines)])
                r = self.c.post("/v1/visits/%s/settle" % v["visit_id"], {})
                self.assertEqual(r.status, 200, r)
                settled.append(r.json["settlement_id"])
                a = r.json["amounts"]
                self.assertEqual((a["medfee_sumamt"], a["act_pay_dedc"], a["fund_pay_sumamt"],
                                  a["psn_part_amt"]), ("1500.00",) + want, (insutype, r))
        finally:  # the year given back for the other tests
            for sid in reversed(settled):
                self.c.post("/v1/settlements/%s/cancel" % sid, {})

    def test_trauma_with_third_party_outpatient_is_refused(self):
        # An outpatient visit's 2201/2203 carry no trauma flags: the platform would pay the
        # fund's part (1,200.00 in scope: deductible 800.00, then fund 300.00) where the
        # policy pays nothing, and the offline estimate said 0.00. Refused, self-pay.
        token = self.identify(self.c, EXAMPLES["long_term"][0])
        r = self.c.post("/v1/visits", h.visit_body(
            token, kind="outpatient", med_type="11",
            diagnoses=[{"code": "S62.300", "name": "掌骨骨折", "main": True}],
            trauma={"present": True, "third_party": True, "commitment_signed": False}))
        self.assertError(r, 422, "BAD_REQUEST")
        self.assertEqual(r.json["error"]["details"]["field"], "trauma.third_party", r)
        self.assertIn("self-pay", r.json["error"]["message"], r)

    def test_local_split_by_line_and_category_then_settle(self):
        # policy.md "Per-line split", each line by hand (code, class, ratio p, limit U):
        lines = [
            # 人工髋关节假体 乙 p 0.20 U 7,500.00; 1 x 7,800.00: overlmt 300.00, base 7,500.00,
            # preselfpay 1,500.00, inscp 6,000.00
            h.line("S1", "C04050001005900000000948941", "人工髋关节假体(集采)", "1", "7800.00",
                   "7800.00"),
            # 单人病房床位费 乙 p 0.20 U 90.00; 5 x 100.00 = 500.00: overlmt 5 x 10.00 = 50.00,
            # base 450.00, preselfpay 90.00, inscp 360.00
            h.line("S2", "001109000030000", "单人病房床位费", "5", "100.00", "500.00"),
            # 静脉留置针 乙 p 0.10 U 25.00; 3 x 24.50 = 73.50: preselfpay 7.35, inscp 66.15
            h.line("S3", "C05030001005900000000918962", "静脉留置针(密闭式)", "3", "24.50", "73.50"),
            # 运动疗法 乙 p 0.10 U 40.00; 33.35: preselfpay 3.335 -> 3.34 (half-up), inscp 30.01
            h.line("S4", "003401000010000", "运动疗法", "1", "33.35", "33.35"),
            # 特需病房床位费 丙: 2 x 300.00 = 600.00 all fulamt_ownpay
            h.line("S5", "001109000090000", "特需病房床位费", "2", "300.00", "600.00"),
            # 全身麻醉 甲 U 900.00; 950.00: overlmt 50.00, inscp 900.00
            h.line("S6", "003301000050000", "全身麻醉", "1", "950.00", "950.00"),
            # 0.9%氯化钠 甲, no limit; 2.5 x 5.123456 = 12.80864 -> 12.81 inscp
            h.line("S7", "XB05BBA089B001010833335", "0.9%氯化钠注射液 250ml", "2.5", "5.123456",
                   "12.81"),
            # not in the catalog: 10.00 all fulamt_ownpay, category 14 (other)
            h.line("S8", "XZZZZZZ999Z999999999999", "院内制剂", "1", "10.00", "10.00"),
        ]
        want = {  # amount, fulamt_ownpay, overlmt, preselfpay, inscp
            "S1": ("7800.00", "0.00", "300.00", "1500.00", "6000.00"),
            "S2": ("500.00", "0.00", "50.00", "90.00", "360.00"),
            "S3": ("73.50", "0.00", "0.00", "7.35", "66.15"),
            "S4": ("33.35", "0.00", "0.00", "3.34", "30.01"),
            "S5": ("600.00", "600.00", "0.00", "0.00", "0.00"),
            "S6": ("950.00", "0.00", "50.00", "0.00", "900.00"),
            "S7": ("12.81", "0.00", "0.00", "0.00", "12.81"),
            "S8": ("10.00", "10.00", "0.00", "0.00", "0.00"),
        }
        keys = ("amount", "fulamt_ownpay_amt", "overlmt_amt", "preselfpay_amt", "inscp_scp_amt")
        v = self.open_visit(self.c, EXAMPLES["long_term"][0])
        fees = self.upload(self.c, v["visit_id"], lines)
        got = {ln["his_line_id"]: tuple(ln[k] for k in keys) for ln in fees["lines"]}
        self.assertEqual(got, want, fees)
        # S8 alone says it: self-paid in full because its code is not in the catalog.
        warned = {ln["his_line_id"]: [w["code"] for w in ln.get("warnings", [])]
                  for ln in fees["lines"]}
        self.assertEqual({k: v for k, v in warned.items() if v}, {"S8": ["NOT_IN_CATALOG"]})
        s8 = next(ln for ln in fees["lines"] if ln["his_line_id"] == "S8")
        self.assertIn("check list_code", s8["warnings"][0]["message"], s8)
        self.assertNotIn("bought outside", s8["warnings"][0]["message"], s8)
        self.assertNotIn("upstream_mismatch", json.dumps(fees), "the platform split differently")
        # Totals: 9,979.66 = 610.00 + 400.00 + 1,600.69 + 7,368.97.
        self.assertEqual(tuple(fees["totals"][k] for k in keys),
                         ("9979.66", "610.00", "400.00", "1600.69", "7368.97"), fees)
        cats = {c: tuple(t[k] for k in keys) for c, t in fees["totals"]["by_category"].items()}
        self.assertEqual(cats, {
            "01": ("1100.00", "600.00", "50.00", "90.00", "360.00"),     # S2 + S5
            "08": ("7873.50", "0.00", "300.00", "1507.35", "6066.15"),   # S1 + S3
            "05": ("33.35", "0.00", "0.00", "3.34", "30.01"),            # S4
            "06": ("950.00", "0.00", "50.00", "0.00", "900.00"),         # S6
            "09": ("12.81", "0.00", "0.00", "0.00", "12.81"),            # S7
            "14": ("10.00", "10.00", "0.00", "0.00", "0.00"),            # S8
        }, fees)
        r = self.c.post("/v1/visits/%s/settle" % v["visit_id"], {"discharge": DISCHARGE})
        self.assertEqual(r.status, 200, r)
        a = r.json["amounts"]
        # fund = (7,368.97 - 800.00) x 0.90 = 5,912.073 -> 5,912.07;
        # person = 9,979.66 - 5,912.07 = 4,067.59.
        self.assertEqual((a["medfee_sumamt"], a["fulamt_ownpay_amt"], a["overlmt_selfpay"],
                          a["preselfpay_amt"], a["inscp_scp_amt"], a["act_pay_dedc"],
                          a["fund_pay_sumamt"], a["psn_part_amt"]),
                         ("9979.66", "610.00", "400.00", "1600.69", "7368.97", "800.00",
                          "5912.07", "4067.59"), r)


class PolicyOverUnixSocket(PolicyBase):
    transport = "unix"


class PolicyOverTcp(PolicyBase):
    transport = "tcp"


del PolicyBase  # only its two transports run


class YearAccumulations(h.HisTestCase):
    """A stay's year and a visit's are kept apart (sandbox/README.md): each kind has its own
    cap, and the outpatient deductible is the year's visits', not an admission's."""

    def test_a_stay_leaves_the_outpatient_year_alone(self):
        wang = "32020000000000000000000112"  # 王䶮, long-term, Wuxi employee (310)
        stay = self.open_visit(self.tcp, wang)
        self.upload(self.tcp, stay["visit_id"], h.stay_lines("Y"))
        r = self.tcp.post("/v1/visits/%s/settle" % stay["visit_id"], {"discharge": DISCHARGE})
        # (10,000.00 - 800.00) x 0.90 = 8,280.00: over the outpatient cap of 8,000.00
        self.assertEqual((r.status, r.json["amounts"]["fund_pay_sumamt"]), (200, "8280.00"), r)
        visit = self.open_visit(self.tcp, wang, kind="outpatient", med_type="11")
        self.upload(self.tcp, visit["visit_id"], [
            # 全身麻醉 甲 at its limit 900.00, 血细胞分析 甲 20.00: 920.00 in scope
            h.line("Y1", "003301000050000", "全身麻醉", "1", "900.00", "900.00"),
            h.line("Y2", "002501010150000", "血细胞分析(血常规)", "1", "20.00", "20.00")])
        r = self.tcp.post("/v1/visits/%s/settle" % visit["visit_id"], {})
        a = r.json["amounts"]
        # Outpatient, Wuxi employees at level 3: deductible 800.00 a year (none met yet by
        # visits), ratio 0.75: (920.00 - 800.00) x 0.75 = 90.00; person 830.00. With one year
        # for both kinds the stay had met the deductible and passed the cap: fund 0.00.
        self.assertEqual((r.status, a["act_pay_dedc"], a["fund_pay_sumamt"], a["psn_part_amt"]),
                         (200, "800.00", "90.00", "830.00"), r)

if __name__ == "__main__":
    h.main()
