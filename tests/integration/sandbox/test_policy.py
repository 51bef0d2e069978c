#!/usr/bin/python3
"""posa-sandbox settles to the fen: the worked examples of policy.md, the per-line split of
the treating region's catalog (2301 result[]), trauma with and without a third party, the
resident rate and the personal account. Every expected figure is worked by hand beside it.

Wire choices (see /work/notes/sandbox-wire-choices.md): 2401 -> output.result.mdtrt_id;
2301 -> output.result[] per line; 2304 -> output.setlinfo; emergency admission = med_type
"24" + ipt_type "2"; trauma stay = med_type "22" + trum_flag "1" (+ rel_ttp_flag "1" with a
third party); amounts sent as strings; clock set to admission, then to settlement.
"""
import harness
from harness import (AIRCON, ATORVA, BED, HERB, LAB, NOT_IN_CATALOG, OMEPRA, STENT,
                     SURGERY, WUXI, ZHENGZHOU, filing, full_stay, line, person)

Y2025 = [filing("long_term", "2025-01-01", None)]

P_LT_ZZ = person("41010000000000000000000001", "张建国", ZHENGZHOU, Y2025, seq="011")
P_TO_ZZ = person("41010000000000000000000002", "刘洋", ZHENGZHOU,
                 [filing("temporary_other", "2025-01-01", "2025-06-30")], seq="021")
P_TO_WX = person("32020000000000000000000003", "赵敏", WUXI,
                 [filing("temporary_other", "2025-01-01", "2025-06-30")], seq="032",
                 gender="2")
P_EM_ZZ = person("41010000000000000000000004", "周婷", ZHENGZHOU, [], seq="042", gender="2")
P_EM_WX = person("32020000000000000000000005", "吴刚", WUXI, [], seq="051")
P_REF_ZZ = person("41010000000000000000000006", "王磊", ZHENGZHOU,
                  [filing("referral", "2025-01-01", "2025-06-30")], seq="061")
P_REF_WX = person("32020000000000000000000007", "陈静", WUXI,
                  [filing("referral", "2025-01-01", "2025-06-30")], seq="072", gender="2")
P_SPLIT = person("32020000000000000000000008", "王䶮", WUXI, Y2025, seq="081",
                 balance="500.00")
P_TRAUMA_TP = person("41010000000000000000000009", "冯卫东", ZHENGZHOU, Y2025, seq="091")
P_TRAUMA = person("41010000000000000000000010", "马晓东", ZHENGZHOU, Y2025, seq="101")
P_RES = person("41010000000000000000000011", "李秀兰", ZHENGZHOU, Y2025, insutype="390",
               seq="112", gender="2")
P_ACCT = person("41010000000000000000000012", "孙志强", ZHENGZHOU, Y2025, seq="121",
                balance="500.00")
P_EM_TO = person("41010000000000000000000013", "郑丽娟", ZHENGZHOU,
                 [filing("temporary_other", "2025-01-01", "2025-06-30")], seq="132",
                 gender="2")


class WorkedExamples(harness.SandboxCase):
    """policy.md: employee, inpatient, level 3, deductible 800.00, ratio 0.90, in-scope
    10,000.00 (harness.worked_bill), nothing else self-paid, cap not hit."""

    persons = [P_LT_ZZ, P_TO_ZZ, P_TO_WX, P_EM_ZZ, P_EM_WX, P_REF_ZZ, P_REF_WX, P_SPLIT,
               P_TRAUMA_TP, P_TRAUMA, P_RES, P_ACCT, P_EM_TO]

    def assertSetl(self, r, *args):
        self.last = r
        return super().assertSetl(r, *args)

    def check_common(self, s, mdtrt_id, msgid):
        self.assertEqual(s["mdtrt_id"], mdtrt_id)
        self.assertTrue(s["setl_id"])
        self.assertMoney(s["inscp_scp_amt"], "10000.00", "inscp_scp_amt")
        self.assertMoney(s["fulamt_ownpay_amt"], "0.00", "fulamt_ownpay_amt")
        self.assertMoney(s["overlmt_selfpay"], "0.00", "overlmt_selfpay")
        self.assertMoney(s["preselfpay_amt"], "0.00", "preselfpay_amt")
        # the deductible of a first admission: min(10,000.00, 800.00) = 800.00
        self.assertMoney(s["act_pay_dedc"], "800.00", "act_pay_dedc")
        # acct_used_flag "0": all of the person's part is cash
        self.assertMoney(s["acct_pay"], "0.00", "acct_pay")
        self.assertMoney(s["psn_cash_pay"], s["psn_part_amt"], "psn_cash_pay")
        self.assertEqual(s["medins_setl_id"], msgid)  # national-interface.md §2.4
        # setldetail[]: the employee pooled fund (310100) row carries the fund's amount
        rows = [d for d in self.last.output["setldetail"] if d["fund_pay_type"] == "310100"]
        self.assertEqual(len(rows), 1, self.last.output["setldetail"])
        self.assertMoney(rows[0]["fund_payamt"], s["hifp_pay"], "setldetail 310100")

    def test_long_term(self):
        mdtrt_id, r = full_stay(self.sb, P_LT_ZZ)
        # (10000.00 - 800.00) x 0.90 = 8,280.00; person 10,000.00 - 8,280.00 = 1,720.00
        s = self.assertSetl(r, "10000.00", "8280.00", "1720.00", "long-term")
        self.check_common(s, mdtrt_id, r.msgid)

    def test_other_temporary_national_2022(self):
        mdtrt_id, r = full_stay(self.sb, P_TO_ZZ)
        # r = 90 - 20 = 70 %: 9,200.00 x 0.70 = 6,440.00; person 3,560.00
        s = self.assertSetl(r, "10000.00", "6440.00", "3560.00", "other temporary 2022")
        self.check_common(s, mdtrt_id, r.msgid)

    def test_other_temporary_wuxi_2025(self):
        mdtrt_id, r = full_stay(self.sb, P_TO_WX)
        # share 20 % first: 9,200.00 x 0.80 = 7,360.00; x 0.90 = 6,624.00; person 3,376.00
        s = self.assertSetl(r, "10000.00", "6624.00", "3376.00", "other temporary Wuxi")
        self.check_common(s, mdtrt_id, r.msgid)

    def test_emergency_national_2022(self):
        mdtrt_id, r = full_stay(self.sb, P_EM_ZZ, med_type="24", ipt_type="2")
        # unfiled but emergency: r = 90 - 10 = 80 %: 9,200.00 x 0.80 = 7,360.00; person 2,640.00
        s = self.assertSetl(r, "10000.00", "7360.00", "2640.00", "emergency 2022")
        self.check_common(s, mdtrt_id, r.msgid)

    def test_emergency_wuxi_2025(self):
        mdtrt_id, r = full_stay(self.sb, P_EM_WX, med_type="24", ipt_type="2")
        # Wuxi: emergency no reduction: 9,200.00 x 0.90 = 8,280.00; person 1,720.00
        s = self.assertSetl(r, "10000.00", "8280.00", "1720.00", "emergency Wuxi")
        self.check_common(s, mdtrt_id, r.msgid)

    def test_emergency_with_only_other_temporary_filing(self):
        mdtrt_id, r = full_stay(self.sb, P_EM_TO, med_type="24", ipt_type="2")
        # policy.md: emergency with only an other-temporary filing applies the emergency kind:
        # 9,200.00 x 0.80 = 7,360.00 (not 6,440.00); person 2,640.00
        s = self.assertSetl(r, "10000.00", "7360.00", "2640.00", "emergency over temporary")
        self.check_common(s, mdtrt_id, r.msgid)

    def test_referral_national_2022(self):
        mdtrt_id, r = full_stay(self.sb, P_REF_ZZ)
        # r = 90 - 10 = 80 %: 9,200.00 x 0.80 = 7,360.00; person 2,640.00
        s = self.assertSetl(r, "10000.00", "7360.00", "2640.00", "referral 2022")
        self.check_common(s, mdtrt_id, r.msgid)

    def test_referral_wuxi_2025(self):
        mdtrt_id, r = full_stay(self.sb, P_REF_WX)
        # Wuxi referral: no reduction: 8,280.00; person 1,720.00
        s = self.assertSetl(r, "10000.00", "8280.00", "1720.00", "referral Wuxi")
        self.check_common(s, mdtrt_id, r.msgid)

    def test_resident_rate(self):
        _, r = full_stay(self.sb, P_RES)
        # insutype 390, inpatient level 3: deductible 1,000.00, ratio 0.60:
        # (10,000.00 - 1,000.00) x 0.60 = 5,400.00; person 4,600.00
        s = self.assertSetl(r, "10000.00", "5400.00", "4600.00", "resident")
        self.assertMoney(s["act_pay_dedc"], "1000.00")

    def test_trauma_with_third_party_fund_pays_nothing(self):
        _, r = full_stay(self.sb, P_TRAUMA_TP, med_type="22", trum="1", rel_ttp="1",
                         dise=("S82.201", "胫骨干骨折"))
        # trauma with a third party: fund 0.00; the person bears all 10,000.00
        s = self.assertSetl(r, "10000.00", "0.00", "10000.00", "trauma third party")
        self.assertMoney(s["psn_cash_pay"], "10000.00")

    def test_trauma_without_third_party_settles_normally(self):
        _, r = full_stay(self.sb, P_TRAUMA, med_type="22", trum="1", rel_ttp="0",
                         dise=("S82.201", "胫骨干骨折"))
        # no third party (commitment signed): long-term 8,280.00 / 1,720.00
        self.assertSetl(r, "10000.00", "8280.00", "1720.00", "trauma no third party")

    def test_personal_account(self):
        sb = self.sb
        sb.set_clock(harness.ADMIT_TIME)
        mdtrt_id = harness.mdtrt_id_2401(harness.admit(sb, P_ACCT, harness.ADMIT_TIME))
        self.assertOk(harness.upload_stay(sb, P_ACCT, mdtrt_id, harness.worked_bill()))
        sb.set_clock(harness.SETTLE_TIME)
        r = harness.settle_stay(sb, P_ACCT, mdtrt_id, "10000.00", acct="1")
        # fund 8,280.00; person 1,720.00; account min(500.00, 1,720.00) = 500.00;
        # cash 1,720.00 - 500.00 = 1,220.00
        s = self.assertSetl(r, "10000.00", "8280.00", "1720.00", "account")
        self.assertMoney(s["acct_pay"], "500.00", "acct_pay")
        self.assertMoney(s["psn_cash_pay"], "1220.00", "psn_cash_pay")

    def test_split_and_settle(self):
        """The catalog's split of every line (2301 result[]) and the settlement of the sums."""
        sb = self.sb
        lines = [
            # 1 bed 甲, limit 120.00: 150.00 x 10 = 1,500.00; over = (150-120) x 10 = 300.00;
            #   inscp 1,200.00
            line("1", BED, "150.00", "10", "1500.00"),
            # 2 surgery 甲: 6,000.00 in scope
            line("2", SURGERY, "6000.00", "1", "6000.00"),
            # 3 atorvastatin 乙 10 %: 33.33 x 3 = 99.99; pre = round(9.999) = 10.00;
            #   inscp 89.99
            line("3", ATORVA, "33.33", "3", "99.99"),
            # 4 cannula 乙 5 %, limit 12.50: 15.00 x 4 = 60.00; over = 2.50 x 4 = 10.00;
            #   base 50.00; pre = 2.50; inscp 47.50
            line("4", STENT, "15.00", "4", "60.00"),
            # 5 omeprazole 乙 5 %: 0.10; pre = round(0.005) half-up = 0.01; inscp 0.09
            line("5", OMEPRA, "0.10", "1", "0.10"),
            # 6 air conditioning 丙: 20.00 x 10 = 200.00 fully self-paid
            line("6", AIRCON, "20.00", "10", "200.00"),
            # 7 not in the catalog: 150.00 fully self-paid
            line("7", NOT_IN_CATALOG, "150.00", "1", "150.00"),
            # 8 herb 乙 10 %: 2.345 x 2 = 4.69; pre = round(0.469) = 0.47; inscp 4.22
            line("8", HERB, "2.345", "2", "4.69"),
            # 9 lab 甲: 250.00 x 4 = 1,000.00 in scope
            line("9", LAB, "250.00", "4", "1000.00"),
        ]
        expected = {  # sn: (fulamt_ownpay, overlmt, preselfpay, inscp)
            "1": ("0.00", "300.00", "0.00", "1200.00"),
            "2": ("0.00", "0.00", "0.00", "6000.00"),
            "3": ("0.00", "0.00", "10.00", "89.99"),
            "4": ("0.00", "10.00", "2.50", "47.50"),
            "5": ("0.00", "0.00", "0.01", "0.09"),
            "6": ("200.00", "0.00", "0.00", "0.00"),
            "7": ("150.00", "0.00", "0.00", "0.00"),
            "8": ("0.00", "0.00", "0.47", "4.22"),
            "9": ("0.00", "0.00", "0.00", "1000.00"),
        }
        sb.set_clock(harness.ADMIT_TIME)
        mdtrt_id = harness.mdtrt_id_2401(harness.admit(sb, P_SPLIT, harness.ADMIT_TIME))
        up = harness.upload_stay(sb, P_SPLIT, mdtrt_id, lines)
        self.assertOk(up, "2301")
        rows = {str(x["feedetl_sn"]): x for x in up.output["result"]}
        self.assertEqual(sorted(rows), sorted(expected))
        for sn, (ful, over, pre, inscp) in expected.items():
            row = rows[sn]
            self.assertMoney(row["fulamt_ownpay_amt"], ful, "line %s fulamt" % sn)
            self.assertMoney(row["overlmt_amt"], over, "line %s overlmt" % sn)
            self.assertMoney(row["preselfpay_amt"], pre, "line %s preselfpay" % sn)
            self.assertMoney(row["inscp_scp_amt"], inscp, "line %s inscp" % sn)
        self.assertMoney(rows["1"]["pric_uplmt_amt"], "120.00", "line 1 price limit")
        self.assertMoney(rows["3"]["selfpay_prop"], "0.10", "line 3 selfpay_prop")
        self.assertMoney(rows["4"]["pric_uplmt_amt"], "12.50", "line 4 price limit")
        self.assertEqual(rows["3"]["chrgitm_lv"], "02")
        self.assertEqual(rows["6"]["chrgitm_lv"], "03")
        self.assertEqual(rows["1"]["med_chrgitm_type"], "01")
        self.assertEqual(rows["9"]["med_chrgitm_type"], "04")
        # Sums: total 1,500.00 + 6,000.00 + 99.99 + 60.00 + 0.10 + 200.00 + 150.00 + 4.69
        #   + 1,000.00 = 9,014.78; F = 350.00; O = 310.00; P = 10.00 + 2.50 + 0.01 + 0.47
        #   = 12.98; S = 1,200.00 + 6,000.00 + 89.99 + 47.50 + 0.09 + 4.22 + 1,000.00 = 8,341.80
        parts = {"fulamt_ownpay_amt": "350.00", "overlmt_selfpay": "310.00",
                 "preselfpay_amt": "12.98", "inscp_scp_amt": "8341.80"}
        sb.set_clock(harness.SETTLE_TIME)
        r = harness.settle_stay(sb, P_SPLIT, mdtrt_id, "9014.78", parts, acct="1")
        # Wuxi long-term: E = 8,341.80 - 800.00 = 7,541.80; fund = round(7,541.80 x 0.90)
        #   = 6,787.62; person = 9,014.78 - 6,787.62 = 2,227.16;
        #   account min(500.00, 2,227.16) = 500.00; cash 1,727.16
        s = self.assertSetl(r, "9014.78", "6787.62", "2227.16", "split")
        self.assertMoney(s["fulamt_ownpay_amt"], "350.00")
        self.assertMoney(s["overlmt_selfpay"], "310.00")
        self.assertMoney(s["preselfpay_amt"], "12.98")
        self.assertMoney(s["inscp_scp_amt"], "8341.80")
        self.assertMoney(s["act_pay_dedc"], "800.00")
        self.assertMoney(s["acct_pay"], "500.00")
        self.assertMoney(s["psn_cash_pay"], "1727.16")


if __name__ == "__main__":
    harness.main()
