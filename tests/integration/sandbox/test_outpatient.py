#!/usr/bin/python3
"""posa-sandbox's outpatient transactions over real HTTP: 2201, 2202, 2203, 2204 (with its
per-line split), 2205, 2206 (moves nothing), 2207, 2208 (year moved back), the per-year
outpatient deductible, emergency outpatient without filing, a filing that must be valid on the
visit's date, and an outside-exam line refused on an outpatient visit.

Wire choices (see /work/notes/sandbox-wire-choices.md): 2201 data carries med_type and
otp_er_refl_flag ("1" emergency, "0" neither) -> output.data.mdtrt_id; 2203 mdtrtinfo +
diseinfo[]; 2204 feedetail[] -> output.result[]; 2205 data{mdtrt_id, chrg_bchno "0000" = all,
psn_no}; 2206/2207 data (national-interface.md §2.3) -> output.setlinfo; 2208 data{setl_id,
mdtrt_id, psn_no} -> setlinfo with negated amounts; one chrg_bchno "B0001" per visit.
Outpatient rate of the test regions: employee, any level: deductible 200.00 per calendar
year, ratio 0.70; Zhengzhou emergency -10 points.
"""
import harness
from harness import (AMOXI, ATORVA, CONSULT, CT, LAB, REGFEE, ZHENGZHOU, filing, line,
                     person)

LT = [filing("long_term", "2024-01-01", None)]
P_OP = person("41010000000000000000000301", "张建国", ZHENGZHOU, LT, seq="011")
P_OP_CANCEL = person("41010000000000000000000302", "李娜", ZHENGZHOU, LT, seq="022",
                     gender="2")
P_ER = person("41010000000000000000000303", "周婷", ZHENGZHOU, [], seq="032", gender="2")
P_OP_EXPIRED = person("41010000000000000000000304", "郑强", ZHENGZHOU,
                      [filing("referral", "2024-09-01", "2025-02-28")], seq="041")
P_OUTSIDE = person("41010000000000000000000305", "吴桐", ZHENGZHOU, LT, seq="051")
P_OP_REV = person("41010000000000000000000306", "冲正门诊", ZHENGZHOU, LT, seq="061")
P_OP_VISIT = person("41010000000000000000000307", "何平", ZHENGZHOU, LT, seq="071")

_ipt_otp = [0]


def register(sb, p, when, med_type="11", er="0"):
    _ipt_otp[0] += 1
    return sb.call("2201", {"data": {
        "psn_no": p["psn_no"], "insutype": p["insutype"], "begntime": when,
        "mdtrt_cert_type": "02", "mdtrt_cert_no": p["certno"],
        "ipt_otp_no": "MZ%010d" % _ipt_otp[0], "atddr_no": "D0002", "dr_name": "王医生",
        "dept_code": "A02", "dept_name": "内科", "caty": "A02", "med_type": med_type,
        "otp_er_refl_flag": er}}, p["insuplc_admdvs"])


def visit_info(sb, p, mdtrt_id, when, med_type="11"):
    return sb.call("2203", {
        "mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": p["psn_no"], "med_type": med_type,
                      "begntime": when, "main_cond_dscr": "咳嗽三天", "dise_codg": "J06.900",
                      "dise_name": "急性上呼吸道感染", "birctrl_type": "",
                      "birctrl_matn_date": "", "matn_type": "", "geso_val": ""},
        "diseinfo": [{"diag_type": "1", "diag_srt_no": "1", "diag_code": "J06.900",
                      "diag_name": "急性上呼吸道感染", "diag_dept": "内科",
                      "dise_dor_no": "D0002", "dise_dor_name": "王医生", "diag_time": when,
                      "vali_flag": "1"}]}, p["insuplc_admdvs"])


def upload(sb, p, mdtrt_id, lines):
    feed = []
    for ln in lines:
        ln = dict(ln)
        ln.update({"mdtrt_id": mdtrt_id, "psn_no": p["psn_no"]})
        feed.append(ln)
    return sb.call("2204", {"feedetail": feed}, p["insuplc_admdvs"])


def settle(sb, p, mdtrt_id, medfee, parts, infno="2207", med_type="11", acct="0"):
    data = {"psn_no": p["psn_no"], "mdtrt_cert_type": "02", "mdtrt_cert_no": p["certno"],
            "med_type": med_type, "medfee_sumamt": medfee, "psn_setlway": "01",
            "mdtrt_id": mdtrt_id, "chrg_bchno": "B0001", "acct_used_flag": acct,
            "insutype": p["insutype"], "invono": "", "pub_hosp_rfom_flag": "0"}
    data.update(parts)
    return sb.call(infno, {"data": data}, p["insuplc_admdvs"])


def parts(ful="0.00", over="0.00", pre="0.00", inscp="0.00"):
    return {"fulamt_ownpay_amt": ful, "overlmt_selfpay": over, "preselfpay_amt": pre,
            "inscp_scp_amt": inscp}


# Visit 1: registration 3.00 + consultation 25.00 + blood count 20.00 x 2 = 40.00
#   + amoxicillin 12.50 x 4 = 50.00 + atorvastatin (乙 10 %) 41.20: pre 4.12, inscp 37.08.
#   Total 159.20; P = 4.12; S = 3.00 + 25.00 + 40.00 + 50.00 + 37.08 = 155.08.
def visit1_lines(when):
    return [line("1", REGFEE, "3.00", "1", "3.00", when),
            line("2", CONSULT, "25.00", "1", "25.00", when),
            line("3", LAB, "20.00", "2", "40.00", when),
            line("4", AMOXI, "12.50", "4", "50.00", when),
            line("5", ATORVA, "41.20", "1", "41.20", when)]


def ct_line(when, sn="1", etip=None, er_flag=None):
    return line(sn, CT, "300.00", "1", "300.00", when, etip=etip, er_flag=er_flag)


class Outpatient(harness.SandboxCase):
    persons = [P_OP, P_OP_CANCEL, P_ER, P_OP_EXPIRED, P_OUTSIDE, P_OP_REV]

    def visit(self, p, when, lines, med_type="11", er="0"):
        sb = self.sb
        sb.set_clock(when)
        r = register(sb, p, when, med_type, er)
        self.assertOk(r, "2201")
        mdtrt_id = r.output["data"]["mdtrt_id"]
        self.assertTrue(mdtrt_id)
        self.assertOk(visit_info(sb, p, mdtrt_id, when, med_type), "2203")
        up = upload(sb, p, mdtrt_id, lines)
        self.assertOk(up, "2204")
        return mdtrt_id, up

    def test_year_deductible_presettle_settle_and_cancel(self):
        sb, p = self.sb, P_OP
        when = "2025-03-03 09:30:00"
        m1, up = self.visit(p, when, visit1_lines(when))
        rows = {str(x["feedetl_sn"]): x for x in up.output["result"]}
        self.assertMoney(rows["5"]["preselfpay_amt"], "4.12", "2204 line 5 pre")
        self.assertMoney(rows["5"]["inscp_scp_amt"], "37.08", "2204 line 5 inscp")
        self.assertMoney(rows["1"]["inscp_scp_amt"], "3.00", "2204 line 1 inscp")
        p1 = parts(pre="4.12", inscp="155.08")
        r = settle(sb, p, m1, "159.20", p1)
        # deductible 200.00 a year, none used: D = min(155.08, 200.00) = 155.08; E = 0;
        # fund 0.00; person 159.20
        s1 = self.assertSetl(r, "159.20", "0.00", "159.20", "visit 1")
        self.assertMoney(s1["act_pay_dedc"], "155.08")
        # Visit 2, same year: CT 300.00 in scope; deductible left 200.00 - 155.08 = 44.92
        when2 = "2025-04-07 10:00:00"
        m2, _ = self.visit(p, when2, [ct_line(when2)])
        p2 = parts(inscp="300.00")
        for _ in range(2):  # 2206 moves nothing: twice the same figures
            pre = settle(sb, p, m2, "300.00", p2, infno="2206")
            # E = 300.00 - 44.92 = 255.08; fund = round(255.08 x 0.70 = 178.556) = 178.56;
            # person 300.00 - 178.56 = 121.44
            self.assertSetl(pre, "300.00", "178.56", "121.44", "2206 visit 2")
        r2 = settle(sb, p, m2, "300.00", p2)
        s2 = self.assertSetl(r2, "300.00", "178.56", "121.44", "2207 visit 2")
        self.assertMoney(s2["act_pay_dedc"], "44.92")
        # 2208 cancels visit 1: negated amounts; its 155.08 of deductible goes back
        c = sb.call("2208", {"data": {"setl_id": s1["setl_id"], "mdtrt_id": m1,
                                      "psn_no": p["psn_no"]}}, p["insuplc_admdvs"])
        self.assertOk(c, "2208")
        self.assertMoney(c.output["setlinfo"]["medfee_sumamt"], "-159.20")
        self.assertEqual([x["state"] for x in sb.settlement_rows(mdtrt_id=m1)],
                         ["cancelled"])
        # Visit 3: deductible left 200.00 - 44.92 = 155.08; E = 300.00 - 155.08 = 144.92;
        # fund = round(144.92 x 0.70 = 101.444) = 101.44; person 198.56
        when3 = "2025-05-12 11:00:00"
        m3, _ = self.visit(p, when3, [ct_line(when3)])
        r3 = settle(sb, p, m3, "300.00", parts(inscp="300.00"))
        s3 = self.assertSetl(r3, "300.00", "101.44", "198.56", "visit 3")
        self.assertMoney(s3["act_pay_dedc"], "155.08")

    def test_registration_cancel_and_detail_cancel(self):
        sb, p = self.sb, P_OP_CANCEL
        when = "2025-03-04 08:30:00"
        sb.set_clock(when)
        r = register(sb, p, when)
        self.assertOk(r, "2201")
        gone = r.output["data"]["mdtrt_id"]
        self.assertOk(sb.call("2202", {"data": {"psn_no": p["psn_no"], "mdtrt_id": gone,
                                                "ipt_otp_no": "x"}}, p["insuplc_admdvs"]),
                      "2202")
        self.assertRefused(upload(sb, p, gone, [ct_line(when)]), "2204 after 2202")
        mdtrt_id, _ = self.visit(p, when, [ct_line(when)])
        r = sb.call("2205", {"data": {"mdtrt_id": mdtrt_id, "chrg_bchno": "0000",
                                      "psn_no": p["psn_no"]}}, p["insuplc_admdvs"])
        self.assertOk(r, "2205")
        self.assertRefused(settle(sb, p, mdtrt_id, "300.00", parts(inscp="300.00")),
                           "2207 after 2205")
        self.assertOk(upload(sb, p, mdtrt_id, [ct_line(when, sn="2")]), "2204 again")
        # med_type decides 普通门诊 from 慢特病: required, and the visit's (posad sent none).
        self.assertRefused(settle(sb, p, mdtrt_id, "300.00", parts(inscp="300.00"),
                                  med_type=""), "2207 without med_type")
        self.assertRefused(settle(sb, p, mdtrt_id, "300.00", parts(inscp="300.00"),
                                  med_type="14"), "2207 of another med_type")
        r = settle(sb, p, mdtrt_id, "300.00", parts(inscp="300.00"))
        # D = 200.00 (first visit of the year), E = 100.00, fund 70.00, person 230.00
        self.assertSetl(r, "300.00", "70.00", "230.00", "after re-upload")

    def test_reversals_of_registration_and_settlement(self):
        sb, p = self.sb, P_OP_REV
        when = "2025-03-07 09:00:00"
        sb.set_clock(when)
        r = register(sb, p, when)
        self.assertOk(r, "2201")
        gone = r.output["data"]["mdtrt_id"]
        self.assertOk(harness.reverse(sb, p, r.msgid, "2201"), "2601 of 2201")
        self.assertRefused(upload(sb, p, gone, [ct_line(when)]), "2204 after reversed 2201")
        m1, _ = self.visit(p, when, [ct_line(when)])
        r1 = settle(sb, p, m1, "300.00", parts(inscp="300.00"))
        # first of the year: D 200.00, E 100.00, fund 70.00, person 230.00
        self.assertSetl(r1, "300.00", "70.00", "230.00", "visit 1")
        self.assertOk(harness.reverse(sb, p, r1.msgid, "2207"), "2601 of 2207")
        self.assertEqual([x["state"] for x in sb.settlement_rows(msgid=r1.msgid)],
                         ["reversed"])
        when2 = "2025-03-08 09:00:00"
        m2, _ = self.visit(p, when2, [ct_line(when2)])
        r2 = settle(sb, p, m2, "300.00", parts(inscp="300.00"))
        # the reversal gave the 200.00 of deductible back: again 70.00 / 230.00
        # (210.00 / 90.00 if it had not)
        self.assertSetl(r2, "300.00", "70.00", "230.00", "visit 2")

    def test_emergency_outpatient_without_filing(self):
        when = "2025-03-05 22:10:00"
        mdtrt_id, _ = self.visit(P_ER, when, [ct_line(when, er_flag=1)], med_type="13",
                                 er="1")
        r = settle(self.sb, P_ER, mdtrt_id, "300.00", parts(inscp="300.00"), med_type="13")
        # emergency, Zhengzhou: 0.70 - 0.10 = 0.60; D 200.00; E 100.00; fund 60.00;
        # person 240.00
        self.assertSetl(r, "300.00", "60.00", "240.00", "emergency outpatient")

    def test_outpatient_needs_filing_valid_on_the_day(self):
        when = "2025-03-01 09:00:00"
        self.sb.set_clock(when)
        self.assertRefused(register(self.sb, P_OP_EXPIRED, when), "2201 filing expired")

    def test_outside_exam_refused_on_outpatient(self):
        sb, p = self.sb, P_OUTSIDE
        when = "2025-03-06 09:00:00"
        mdtrt_id, _ = self.visit(p, when, [line("1", CONSULT, "25.00", "1", "25.00", when)])
        before = len(sb.upload_rows(mdtrt_id=mdtrt_id))
        r = upload(sb, p, mdtrt_id, [ct_line(when, sn="2"),
                                     ct_line(when, sn="3", etip="H32020200011")])
        self.assertRefused(r, "outside exam on outpatient")
        # the whole batch is refused: not even line 2 was stored
        self.assertEqual(len(sb.upload_rows(mdtrt_id=mdtrt_id)), before)


class DeductiblePerVisit(harness.SandboxCase):
    """A region whose outpatient deductible is met per visit (deductible_per.outpatient
    "visit"): 200.00 each visit, then 0.70."""
    persons = [P_OP_VISIT]
    visit = Outpatient.visit

    @classmethod
    def scenario(cls):
        s = super().scenario()
        s["regions"][ZHENGZHOU]["deductible_per"]["outpatient"] = "visit"
        return s

    def test_a_visit_settled_in_two_batches_meets_it_once(self):
        sb, p = self.sb, P_OP_VISIT
        when = "2025-03-03 09:30:00"
        m1, _ = self.visit(p, when, [ct_line(when)])
        # batch 1, CT 300.00: D = 200.00, E = 100.00, fund 70.00, person 230.00
        s1 = self.assertSetl(settle(sb, p, m1, "300.00", parts(inscp="300.00")), "300.00",
                             "70.00", "230.00", "batch 1")
        self.assertMoney(s1["act_pay_dedc"], "200.00")
        # batch 2 of the same visit, CT 300.00 again: the visit met its deductible, D = 0;
        # fund 300.00 x 0.70 = 210.00, person 90.00
        self.assertOk(upload(sb, p, m1, [ct_line(when, sn="2")]), "2204 batch 2")
        s2 = self.assertSetl(settle(sb, p, m1, "300.00", parts(inscp="300.00")), "300.00",
                             "210.00", "90.00", "batch 2")
        self.assertMoney(s2["act_pay_dedc"], "0.00")
        # another visit meets its own: D = 200.00, fund 70.00
        when2 = "2025-04-07 10:00:00"
        m2, _ = self.visit(p, when2, [ct_line(when2)])
        s3 = self.assertSetl(settle(sb, p, m2, "300.00", parts(inscp="300.00")), "300.00",
                             "70.00", "230.00", "visit 2")
        self.assertMoney(s3["act_pay_dedc"], "200.00")

if __name__ == "__main__":
    harness.main()
