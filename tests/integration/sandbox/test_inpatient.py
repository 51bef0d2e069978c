#!/usr/bin/python3
"""posa-sandbox's inpatient transactions over real HTTP: 2401/2402/2403/2404/2405,
2301 (refund lines with negative cnt and init_feedetl_sn, outside exams on a stay),
2302, 2303 (moves nothing), 2304, 2305 (negative setlinfo, year moved back, settle again),
2601 of a settlement and of an upload, 5203, and year accumulations against the annual cap.

Wire choices (see /work/notes/sandbox-wire-choices.md): 2302 input data[]{feedetl_sn
("0000" = all), mdtrt_id, psn_no}; 2305 answers setlinfo with negated amounts; 2601 input
data{psn_no, omsgid, oinfno}; ledger states active/cancelled/reversed; a visit has at most
one active settlement; 5203 data{psn_no, setl_id, mdtrt_id} -> output.setlinfo.
Region 420100 (Wuhan) is the worked-example rate with an inpatient cap of 10,000.00.
"""
import harness
from harness import (AMOXI, CT, LAB, WUHAN, ZHENGZHOU, admit, cancel_stay, discharge, filing,
                     full_stay, line, mdtrt_id_2401, person, reverse, settle_stay,
                     upload_stay, worked_bill)

LT = [filing("long_term", "2024-01-01", None)]
P_FLOW = person("41010000000000000000000201", "张建国", ZHENGZHOU, LT, seq="011")
P_REFUND = person("41010000000000000000000202", "李明", ZHENGZHOU, LT, seq="021")
P_CANCEL_LINES = person("41010000000000000000000203", "王芳", ZHENGZHOU, LT, seq="032",
                        gender="2")
P_CAP = person("42010000000000000000000204", "赵大海", WUHAN, LT, seq="041")
P_CAP_REV = person("42010000000000000000000205", "钱小川", WUHAN, LT, seq="051")
P_REV_UPLOAD = person("41010000000000000000000206", "孙丽", ZHENGZHOU, LT, seq="062",
                      gender="2")
P_STATES = person("41010000000000000000000207", "周强", ZHENGZHOU, LT, seq="071")
P_OUTSIDE = person("41010000000000000000000208", "吴桐", ZHENGZHOU, LT, seq="081")
P_REV_CANCEL = person("42010000000000000000000209", "郑回滚", WUHAN, LT, seq="091")
P_NEW_YEAR = person("42010000000000000000000211", "岁末", WUHAN, LT, seq="111")
P_EC = person("41010000000000000000000212", "凭证住院", ZHENGZHOU, LT, seq="121")
P_REV_ADMIT = person("41010000000000000000000210", "冯撤回", ZHENGZHOU, LT, seq="101")
P_RESETTLED = person("41010000000000000000000213", "陈再结", ZHENGZHOU, LT, seq="131")
P_ALTERNATE = person("41010000000000000000000215", "齐交替", ZHENGZHOU, LT, seq="151")
P_CANCEL_SETTLED = person("41010000000000000000000214", "林撤结", ZHENGZHOU, LT, seq="141")
P_CANCEL_ORDER = person("41010000000000000000000216", "秦先后", ZHENGZHOU, LT, seq="161")


class Inpatient(harness.SandboxCase):
    persons = [P_FLOW, P_REFUND, P_CANCEL_LINES, P_CAP, P_CAP_REV, P_REV_UPLOAD, P_STATES,
               P_OUTSIDE, P_REV_CANCEL, P_REV_ADMIT, P_NEW_YEAR, P_EC, P_RESETTLED,
               P_CANCEL_SETTLED, P_ALTERNATE, P_CANCEL_ORDER]

    def setl_id(self, r):
        self.assertOk(r)
        return r.output["setlinfo"]["setl_id"]

    def test_full_flow_with_presettlement_cancel_and_settle_again(self):
        sb, p = self.sb, P_FLOW
        sb.set_clock("2025-03-01 09:00:00")
        r = admit(sb, p, "2025-03-01 09:00:00")
        mdtrt_id = mdtrt_id_2401(r)
        # 2403: change of admission information (telephone, contact)
        r = sb.call("2403", {"adminfo": {
            "mdtrt_id": mdtrt_id, "psn_no": p["psn_no"], "coner_name": "张小明",
            "tel": "13912345678", "begntime": "2025-03-01 09:00:00", "endtime": "",
            "mdtrt_cert_type": "02", "med_type": "21", "ipt_otp_no": "ZY0001",
            "medrcdno": "BA0001", "atddr_no": "D0001", "chfpdr_name": "李主任",
            "adm_diag_dscr": "胆囊结石", "adm_dept_codg": "A03.01", "adm_dept_name": "普外科",
            "adm_bed": "15", "dscg_maindiag_code": "K80.100",
            "dscg_maindiag_name": "胆囊结石伴慢性胆囊炎", "main_cond_dscr": "",
            "dise_codg": "K80.100", "dise_name": "胆囊结石伴慢性胆囊炎"},
            "diseinfo": []}, p["insuplc_admdvs"])
        self.assertOk(r, "2403")
        # Its reversal says it undid nothing (a detail change is corrected by another 2403),
        # not "reversed" with the change left standing.
        rv = reverse(sb, p, r.msgid, "2403")
        self.assertOk(rv, "2601 of the 2403")
        self.assertEqual(rv.output["data"]["rvs_rslt"], "0", rv)
        self.assertOk(upload_stay(sb, p, mdtrt_id, worked_bill()), "2301")
        sb.set_clock("2025-03-10 10:00:00")
        self.assertOk(discharge(sb, p, mdtrt_id, "2025-03-10 10:00:00"), "2402")
        # 2303 twice: same figures as 2304 will give, and nothing recorded or moved
        for _ in range(2):
            pre = settle_stay(sb, p, mdtrt_id, "10000.00", infno="2303")
            self.assertSetl(pre, "10000.00", "8280.00", "1720.00", "2303")
        self.assertEqual(sb.settlement_rows(mdtrt_id=mdtrt_id), [])
        r = settle_stay(sb, p, mdtrt_id, "10000.00")
        # long-term: (10,000.00 - 800.00) x 0.90 = 8,280.00; person 1,720.00
        s = self.assertSetl(r, "10000.00", "8280.00", "1720.00", "2304")
        setl_id = s["setl_id"]
        rows = sb.settlement_rows(mdtrt_id=mdtrt_id)
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["state"], "active")
        self.assertEqual(rows[0]["setl_id"], setl_id)
        self.assertEqual(rows[0]["msgid"], r.msgid)
        self.assertMoney(rows[0]["fund_pay_sumamt"], "8280.00")
        self.assertMoney(rows[0]["psn_part_amt"], "1720.00")
        # a second 2304 of a settled visit is refused, and so are more lines
        self.assertRefused(settle_stay(sb, p, mdtrt_id, "10000.00"), "second 2304")
        self.assertRefused(upload_stay(sb, p, mdtrt_id, [line("9", AMOXI, "50.00", "1",
                                                             "50.00")]), "2301 when settled")
        # 5203 finds it
        q = sb.call("5203", {"data": {"psn_no": p["psn_no"], "setl_id": setl_id,
                                      "mdtrt_id": mdtrt_id}}, p["insuplc_admdvs"])
        self.assertOk(q, "5203")
        self.assertEqual(q.output["setlinfo"]["setl_id"], setl_id)
        self.assertMoney(q.output["setlinfo"]["fund_pay_sumamt"], "8280.00")
        # 2305 cancels: negated amounts, ledger state cancelled
        c = cancel_stay(sb, p, mdtrt_id, setl_id)
        self.assertOk(c, "2305")
        cs = c.output["setlinfo"]
        self.assertMoney(cs["medfee_sumamt"], "-10000.00", "2305 medfee")
        self.assertMoney(cs["fund_pay_sumamt"], "-8280.00", "2305 fund")
        self.assertMoney(cs["psn_part_amt"], "-1720.00", "2305 person")
        rows = {x["setl_id"]: x for x in sb.settlement_rows(mdtrt_id=mdtrt_id)}
        self.assertEqual(rows[setl_id]["state"], "cancelled")
        self.assertRefused(cancel_stay(sb, p, mdtrt_id, setl_id), "second 2305")
        # settle again: the same figures (per-admission deductible given back), a new setl_id
        r2 = settle_stay(sb, p, mdtrt_id, "10000.00")
        s2 = self.assertSetl(r2, "10000.00", "8280.00", "1720.00", "settle again")
        self.assertNotEqual(s2["setl_id"], setl_id)
        self.assertMoney(s2["act_pay_dedc"], "800.00")
        states = sorted(x["state"] for x in sb.settlement_rows(mdtrt_id=mdtrt_id))
        self.assertEqual(states, ["active", "cancelled"])

    def test_refund_line(self):
        sb, p = self.sb, P_REFUND
        sb.set_clock("2025-03-01 09:00:00")
        mdtrt_id = mdtrt_id_2401(admit(sb, p, "2025-03-01 09:00:00"))
        self.assertOk(upload_stay(sb, p, mdtrt_id, worked_bill()))
        # 10 of the 40 amoxicillin returned: cnt -10, 50.00 -> -500.00, refers to line 3
        up = upload_stay(sb, p, mdtrt_id, [line("5", AMOXI, "50.00", "-10", "-500.00",
                                                init_sn="3")])
        self.assertOk(up, "2301 refund")
        row = up.output["result"][0]
        self.assertMoney(row["det_item_fee_sumamt"], "-500.00")
        self.assertMoney(row["inscp_scp_amt"], "-500.00")
        # refunding more than is left (30 of line 3), or a line never charged, is refused
        self.assertRefused(upload_stay(sb, p, mdtrt_id, [
            line("6", AMOXI, "50.00", "-31", "-1550.00", init_sn="3")]), "over-refund")
        self.assertRefused(upload_stay(sb, p, mdtrt_id, [
            line("7", AMOXI, "50.00", "-1", "-50.00", init_sn="99")]), "refund of nothing")
        # line 3 cannot be cancelled while its refund stands (the refund would be set
        # against other lines)
        r = sb.call("2302", {"data": [{"feedetl_sn": "3", "mdtrt_id": mdtrt_id,
                                       "psn_no": p["psn_no"]}]}, p["insuplc_admdvs"])
        self.assertRefused(r, "2302 of a refunded line")
        # a charge naming a line as if it refunded it is refused: it once counted as a
        # negative refund and made room for refunding more than was charged
        self.assertRefused(upload_stay(sb, p, mdtrt_id, [
            line("8", AMOXI, "50.00", "5", "250.00", init_sn="3")]), "charge with init_sn")
        sb.set_clock("2025-03-06 10:00:00")
        # the bill is now 10,000.00 - 500.00 = 9,500.00; declaring 10,000.00 is refused
        self.assertRefused(settle_stay(sb, p, mdtrt_id, "10000.00"), "stale medfee")
        r = settle_stay(sb, p, mdtrt_id, "9500.00")
        # (9,500.00 - 800.00) x 0.90 = 7,830.00; person 9,500.00 - 7,830.00 = 1,670.00
        self.assertSetl(r, "9500.00", "7830.00", "1670.00", "after refund")

    def test_one_upload_alternating_two_stays(self):
        """The lines of one 2301 alternate between two stays; a refund of stay A names a line
        of A uploaded earlier in the same message, with a line of B between them."""
        sb, p = self.sb, P_ALTERNATE
        sb.set_clock("2025-03-01 09:00:00")
        a_id = mdtrt_id_2401(admit(sb, p, "2025-03-01 09:00:00"))
        b_id = mdtrt_id_2401(admit(sb, p, "2025-03-01 09:30:00"))

        def on(mdtrt_id, ln):
            return dict(ln, mdtrt_id=mdtrt_id, psn_no=p["psn_no"], med_type="21")
        alternating = [on(m, ln) for ln in worked_bill() for m in (a_id, b_id)]
        refund = on(a_id, line("5", AMOXI, "50.00", "-10", "-500.00", init_sn="3"))
        # B's line 1 twice, with a line of A between: refused whole, nothing kept
        dup = alternating[:3] + [alternating[1]]
        self.assertRefused(sb.call("2301", {"feedetail": dup}, p["insuplc_admdvs"]),
                           "a line of B twice")
        self.assertEqual(sb.upload_rows(psn_no=p["psn_no"]), [])
        up = sb.call("2301", {"feedetail": alternating + [on(b_id, line(
            "9", AMOXI, "50.00", "1", "50.00")), refund]}, p["insuplc_admdvs"])
        self.assertOk(up, "alternating upload with a refund")
        self.assertEqual(len(sb.upload_rows(mdtrt_id=a_id, state="active")), 5)
        self.assertEqual(len(sb.upload_rows(mdtrt_id=b_id, state="active")), 5)
        # A: 10,000.00 - 500.00 = 9,500.00; (9,500.00 - 800.00) x 0.90 = 7,830.00
        sb.set_clock("2025-03-06 10:00:00")
        self.assertOk(discharge(sb, p, a_id, "2025-03-06 10:00:00"))
        self.assertSetl(settle_stay(sb, p, a_id, "9500.00"), "9500.00", "7830.00", "1670.00",
                        "stay A of the alternating upload")

    def test_cancel_lines_2302(self):
        sb, p = self.sb, P_CANCEL_LINES
        sb.set_clock("2025-03-01 09:00:00")
        mdtrt_id = mdtrt_id_2401(admit(sb, p, "2025-03-01 09:00:00"))
        self.assertOk(upload_stay(sb, p, mdtrt_id, worked_bill()))
        # No feedetl_sn is no line: refused, and nothing cancelled ("0000" means all).
        r = sb.call("2302", {"data": [{"mdtrt_id": mdtrt_id, "psn_no": p["psn_no"]}]},
                    p["insuplc_admdvs"])
        self.assertRefused(r, "2302 without feedetl_sn")
        self.assertIn("feedetl_sn", r.err_msg)
        r = sb.call("2302", {"data": [{"feedetl_sn": "3", "mdtrt_id": mdtrt_id,
                                       "psn_no": p["psn_no"]}]}, p["insuplc_admdvs"])
        self.assertOk(r, "2302 one line")
        sb.set_clock("2025-03-05 10:00:00")
        # without line 3 (2,000.00) the bill is 8,000.00
        self.assertRefused(settle_stay(sb, p, mdtrt_id, "10000.00"), "medfee with line 3")
        pre = settle_stay(sb, p, mdtrt_id, "8000.00", infno="2303")
        # (8,000.00 - 800.00) x 0.90 = 6,480.00; person 1,520.00
        self.assertSetl(pre, "8000.00", "6480.00", "1520.00", "2303 after 2302")
        r = sb.call("2302", {"data": [{"feedetl_sn": "0000", "mdtrt_id": mdtrt_id,
                                       "psn_no": p["psn_no"]}]}, p["insuplc_admdvs"])
        self.assertOk(r, "2302 all")
        self.assertRefused(settle_stay(sb, p, mdtrt_id, "0.00"), "2304 with no lines")
        self.assertEqual(sb.settlement_rows(mdtrt_id=mdtrt_id), [])

    def test_2302_refund_and_its_original_in_one_message(self):
        """The entries of one 2302 are taken in order against the lines as the earlier
        entries left them: an original before its refund is refused (whole), the refund
        first and then the original is allowed."""
        sb, p = self.sb, P_CANCEL_ORDER
        sb.set_clock("2025-03-01 09:00:00")
        mdtrt_id = mdtrt_id_2401(admit(sb, p, "2025-03-01 09:00:00"))
        self.assertOk(upload_stay(sb, p, mdtrt_id, worked_bill()))
        self.assertOk(upload_stay(sb, p, mdtrt_id, [line("5", AMOXI, "50.00", "-10", "-500.00",
                                                         init_sn="3")]), "refund of line 3")

        def cancel(*sns):
            return sb.call("2302", {"data": [{"feedetl_sn": sn, "mdtrt_id": mdtrt_id,
                                              "psn_no": p["psn_no"]} for sn in sns]},
                           p["insuplc_admdvs"])

        r = cancel("1", "3", "5")
        self.assertRefused(r, "line 3 before its refund")
        self.assertIn("data[1]", r.err_msg)
        self.assertEqual(len(sb.upload_rows(mdtrt_id=mdtrt_id, state="active")), 5,
                         "a refused 2302 cancels nothing, not even the entry before")
        self.assertRefused(cancel("5", "5"), "one line named twice")
        r = cancel("5", "3")
        self.assertOk(r, "the refund, then its original")
        self.assertEqual(r.output["cancelled"], 2)
        cancelled = sorted(x["feedetl_sn"] for x in
                           sb.upload_rows(mdtrt_id=mdtrt_id, state="cancelled"))
        self.assertEqual(cancelled, ["3", "5"])
        # Left: lines 1, 2 and 4, 1,000.00 + 6,000.00 + 1,000.00 = 8,000.00
        sb.set_clock("2025-03-05 10:00:00")
        pre = settle_stay(sb, p, mdtrt_id, "8000.00", infno="2303")
        self.assertSetl(pre, "8000.00", "6480.00", "1520.00", "2303 after the 2302")

    def test_year_accumulation_cap_cancel_and_new_year(self):
        sb, p = self.sb, P_CAP
        # Wuhan: employee inpatient cap 10,000.00 a year.
        a_id, ra = full_stay(sb, p, admit_time="2025-03-01 09:00:00",
                             settle_time="2025-03-08 10:00:00")
        # stay A: 8,280.00 (year fund paid 8,280.00)
        sa = self.assertSetl(ra, "10000.00", "8280.00", "1720.00", "stay A")
        b_id, rb = full_stay(sb, p, admit_time="2025-05-01 09:00:00",
                             settle_time="2025-05-08 10:00:00")
        # stay B: computed 8,280.00 but only 10,000.00 - 8,280.00 = 1,720.00 left;
        # person 10,000.00 - 1,720.00 = 8,280.00
        sbb = self.assertSetl(rb, "10000.00", "1720.00", "8280.00", "stay B at the cap")
        # cancel B: the year goes back to 8,280.00, so settling B again gives 1,720.00 again
        # (0.00 if the cancel had not moved the year back)
        self.assertOk(cancel_stay(sb, p, b_id, sbb["setl_id"]), "2305 B")
        rb2 = settle_stay(sb, p, b_id, "10000.00")
        self.assertSetl(rb2, "10000.00", "1720.00", "8280.00", "stay B again")
        # cancel A: year 8,280.00 + 1,720.00 - 8,280.00 = 1,720.00 paid; 8,280.00 left
        self.assertOk(cancel_stay(sb, p, a_id, sa["setl_id"]), "2305 A")
        _, rc = full_stay(sb, p, admit_time="2025-06-01 09:00:00",
                          settle_time="2025-06-08 10:00:00")
        # stay C: min(8,280.00, 8,280.00 left) = 8,280.00; the year is now at 10,000.00
        self.assertSetl(rc, "10000.00", "8280.00", "1720.00", "stay C")
        # a new year starts with the full cap: 8,280.00 (0.00 if the year had not changed)
        _, rd = full_stay(sb, p, admit_time="2026-01-05 09:00:00",
                          settle_time="2026-01-10 10:00:00")
        self.assertSetl(rd, "10000.00", "8280.00", "1720.00", "stay D, new year")

    def test_stay_across_new_year_counts_in_the_discharge_year(self):
        sb, p = self.sb, P_NEW_YEAR
        _, ra = full_stay(sb, p, admit_time="2025-06-01 09:00:00",
                          settle_time="2025-06-08 10:00:00")
        # 2025: 8,280.00 of the 10,000.00 cap used
        self.assertSetl(ra, "10000.00", "8280.00", "1720.00", "June 2025")
        _, rb = full_stay(sb, p, admit_time="2025-12-28 09:00:00",
                          settle_time="2026-01-05 10:00:00")
        # §41: one sum at the discharge date (2026): the full 8,280.00, not the 1,720.00
        # left in 2025
        self.assertSetl(rb, "10000.00", "8280.00", "1720.00", "across the new year")
        # Discharged on 2026-12-31, settled on 2027-01-05: the year is the discharge's, 2026,
        # whose cap has 10,000.00 - 8,280.00 = 1,720.00 left: fund 1,720.00, person 8,280.00
        # (in 2027's it would be the full 8,280.00).
        sb.set_clock("2026-12-20 09:00:00")
        mdtrt_id = mdtrt_id_2401(admit(sb, p, "2026-12-20 09:00:00"))
        self.assertTrue(upload_stay(sb, p, mdtrt_id, worked_bill()).ok)
        # Presettled in 2027 before the discharge is recorded, with the discharge time the
        # 2303 gives: 2026's figures too (it took 2027's full 8,280.00).
        sb.set_clock("2027-01-02 10:00:00")
        inp = harness.settle_input(p, mdtrt_id, "10000.00", dscg_time="2026-12-31 10:00:00")
        pre = sb.call("2303", inp, p["insuplc_admdvs"])
        self.assertSetl(pre, "10000.00", "1720.00", "8280.00", "presettled 01-02, discharge 12-31")
        self.assertTrue(discharge(sb, p, mdtrt_id, "2026-12-31 10:00:00").ok)
        sb.set_clock("2027-01-05 10:00:00")
        rc = settle_stay(sb, p, mdtrt_id, "10000.00")
        self.assertSetl(rc, "10000.00", "1720.00", "8280.00", "discharged 12-31, settled 01-05")

    def test_e_voucher_token_as_admission_certificate(self):
        sb, p = self.sb, P_EC
        code = sb.admin("qr", {"psn_no": p["psn_no"]}).json["qrcode"]
        dec = sb.post(harness.QR_DECODE_PATH, {
            "orgId": harness.FIXMEDINS_CODE, "transType": "ec.query",
            "data": {"orgId": harness.FIXMEDINS_CODE, "businessType": "01103",
                     "operatorId": "0001", "operatorName": "张收费", "officeId": "A03",
                     "officeName": "普外科", "ecQrCode": code}, "extra": {}})
        data = dec.json["data"]
        token = (harness.loads(data) if isinstance(data, str) else data)["ecToken"]
        ec = dict(p, certno=token)  # mdtrt_cert_no = ecToken (national-interface.md §5)
        sb.set_clock("2025-03-01 09:00:00")
        r = sb.call("2401", {"mdtrtinfo": {
            "psn_no": p["psn_no"], "insutype": "310", "begntime": "2025-03-01 09:00:00",
            "mdtrt_cert_type": "01", "mdtrt_cert_no": token, "med_type": "21",
            "ipt_no": "ZYEC0001", "ipt_type": "1", "trum_flag": "0", "rel_ttp_flag": "0",
            "insuplc_admdvs": ZHENGZHOU, "mdtrtarea_admvs": "310000", "dise_codg": "K80.100",
            "dise_name": "胆囊结石伴慢性胆囊炎"}, "diseinfo": []}, ZHENGZHOU)
        mdtrt_id = mdtrt_id_2401(r)
        self.assertOk(upload_stay(sb, p, mdtrt_id, worked_bill()))
        sb.set_clock("2025-03-06 10:00:00")
        inp = harness.settle_input(ec, mdtrt_id, "10000.00", dscg_time=sb.inf_time())
        inp["data"]["mdtrt_cert_type"] = "01"
        r = sb.call("2304", inp, ZHENGZHOU)
        self.assertSetl(r, "10000.00", "8280.00", "1720.00", "settled with the ecToken")

    def test_reversal_of_settlement_moves_year_back(self):
        sb, p = self.sb, P_CAP_REV
        a_id, ra = full_stay(sb, p, admit_time="2025-03-01 09:00:00",
                             settle_time="2025-03-08 10:00:00")
        self.assertSetl(ra, "10000.00", "8280.00", "1720.00", "stay A")
        rv = reverse(sb, p, ra.msgid, "2304")
        self.assertOk(rv, "2601")
        rows = sb.settlement_rows(msgid=ra.msgid)
        self.assertEqual([x["state"] for x in rows], ["reversed"])
        # the same visit settles again in full: 8,280.00
        r = settle_stay(sb, p, a_id, "10000.00")
        self.assertSetl(r, "10000.00", "8280.00", "1720.00", "A after reversal")
        # and a second stay is at the cap: 10,000.00 - 8,280.00 = 1,720.00
        # (0.00 if the reversal had left its 8,280.00 in the year)
        _, rb = full_stay(sb, p, admit_time="2025-04-01 09:00:00",
                          settle_time="2025-04-08 10:00:00")
        self.assertSetl(rb, "10000.00", "1720.00", "8280.00", "B after reversal")
        # the reversed row stays in the ledger once, still reversed
        self.assertEqual([x["state"] for x in sb.settlement_rows(msgid=ra.msgid)],
                         ["reversed"])

    def test_reversal_of_upload(self):
        sb, p = self.sb, P_REV_UPLOAD
        sb.set_clock("2025-03-01 09:00:00")
        mdtrt_id = mdtrt_id_2401(admit(sb, p, "2025-03-01 09:00:00"))
        up = upload_stay(sb, p, mdtrt_id, worked_bill())
        self.assertOk(up)
        self.assertEqual(len(sb.upload_rows(mdtrt_id=mdtrt_id, state="active")), 4)
        self.assertOk(reverse(sb, p, up.msgid, "2301"), "2601 of 2301")
        self.assertEqual(sb.upload_rows(mdtrt_id=mdtrt_id, state="active"), [])
        self.assertRefused(settle_stay(sb, p, mdtrt_id, "10000.00"), "lines reversed")
        # The reversed upload never happened: the same lines (same feedetl_sn) come again
        # under a new msgid, as a client resends an upload whose outcome it did not know,
        # and the stay settles with them.
        self.assertOk(upload_stay(sb, p, mdtrt_id, worked_bill()), "the same lines again")
        self.assertEqual(len(sb.upload_rows(mdtrt_id=mdtrt_id, state="active")), 4)
        # ...but a line that stands is still refused a second time.
        self.assertRefused(upload_stay(sb, p, mdtrt_id, worked_bill()), "already uploaded")

    def test_reversal_of_a_cancel_restores_the_settlement(self):
        sb, p = self.sb, P_REV_CANCEL
        a_id, ra = full_stay(sb, p, admit_time="2025-03-01 09:00:00",
                             settle_time="2025-03-08 10:00:00")
        sa = self.assertSetl(ra, "10000.00", "8280.00", "1720.00", "stay A")
        c = cancel_stay(sb, p, a_id, sa["setl_id"])
        self.assertOk(c, "2305")
        self.assertEqual([x["state"] for x in sb.settlement_rows(msgid=ra.msgid)],
                         ["cancelled"])
        # 2601 of the cancel: the settlement is active again and its 8,280.00 is back in
        # the year (Wuhan cap 10,000.00)
        self.assertOk(reverse(sb, p, c.msgid, "2305"), "2601 of 2305")
        self.assertEqual([x["state"] for x in sb.settlement_rows(msgid=ra.msgid)],
                         ["active"])
        self.assertRefused(settle_stay(sb, p, a_id, "10000.00"), "A is settled again")
        _, rb = full_stay(sb, p, admit_time="2025-04-01 09:00:00",
                          settle_time="2025-04-08 10:00:00")
        # 10,000.00 - 8,280.00 = 1,720.00 left; person 8,280.00
        self.assertSetl(rb, "10000.00", "1720.00", "8280.00", "B after the cancel's reversal")

    def test_reversal_of_an_old_cancel_is_refused(self):
        # S1, its cancel C1, S2 over the same lines, its cancel C2: reversing C1 now would
        # bring S1 back over lines S2 took, and a third settlement could take them again
        # (two active settlements for one bill). Refused; nothing stands.
        sb, p = self.sb, P_RESETTLED
        mdtrt_id, r1 = full_stay(sb, p, admit_time="2025-03-01 09:00:00",
                                 settle_time="2025-03-08 10:00:00")
        c1 = cancel_stay(sb, p, mdtrt_id, self.setl_id(r1))
        self.assertOk(c1, "C1")
        r2 = settle_stay(sb, p, mdtrt_id, "10000.00")
        self.assertOk(cancel_stay(sb, p, mdtrt_id, self.setl_id(r2)), "C2")
        self.assertRefused(reverse(sb, p, c1.msgid, "2305"), "2601 of the old cancel")
        self.assertEqual([x for x in sb.settlement_rows(mdtrt_id=mdtrt_id)
                          if x["state"] == "active"], [])

    def test_reversal_of_a_line_cancel_after_settlement_is_refused(self):
        # Line 4 cancelled, the stay settled without it: reversing the cancel would bring it
        # back unsettled beside an active settlement, and a second 2304 could bill it.
        sb, p = self.sb, P_CANCEL_SETTLED
        sb.set_clock("2025-03-01 09:00:00")
        mdtrt_id = mdtrt_id_2401(admit(sb, p, "2025-03-01 09:00:00"))
        self.assertOk(upload_stay(sb, p, mdtrt_id, worked_bill()))
        c = sb.call("2302", {"data": [{"feedetl_sn": "4", "mdtrt_id": mdtrt_id,
                                       "psn_no": p["psn_no"]}]}, p["insuplc_admdvs"])
        self.assertOk(c, "2302 line 4")
        sb.set_clock("2025-03-05 10:00:00")
        self.assertOk(discharge(sb, p, mdtrt_id, "2025-03-05 10:00:00"), "2402")
        # the worked bill less line 4 (1,000.00)
        self.assertOk(settle_stay(sb, p, mdtrt_id, "9000.00"), "2304 without line 4")
        self.assertRefused(reverse(sb, p, c.msgid, "2302"), "2601 of the line cancel")
        self.assertEqual(len(sb.upload_rows(mdtrt_id=mdtrt_id, state="active")), 3)

    def test_reversal_of_admission(self):
        sb, p = self.sb, P_REV_ADMIT
        sb.set_clock("2025-03-01 09:00:00")
        r = admit(sb, p, "2025-03-01 09:00:00")
        mdtrt_id = mdtrt_id_2401(r)
        self.assertOk(reverse(sb, p, r.msgid, "2401"), "2601 of 2401")
        self.assertRefused(upload_stay(sb, p, mdtrt_id, worked_bill()), "2301 on a reversed stay")
        # the wrong oinfno is refused
        r2 = admit(sb, p, "2025-03-01 10:00:00")
        self.assertOk(r2)
        self.assertRefused(reverse(sb, p, r2.msgid, "2304"), "2601 naming the wrong oinfno")

    def test_admission_and_discharge_cancel(self):
        sb, p = self.sb, P_STATES
        sb.set_clock("2025-03-01 09:00:00")
        gone = mdtrt_id_2401(admit(sb, p, "2025-03-01 09:00:00"))
        r = sb.call("2404", {"data": {"mdtrt_id": gone, "psn_no": p["psn_no"]}},
                    p["insuplc_admdvs"])
        self.assertOk(r, "2404")
        self.assertRefused(upload_stay(sb, p, gone, worked_bill()), "2301 after 2404")
        stay = mdtrt_id_2401(admit(sb, p, "2025-03-01 10:00:00"))
        self.assertNotEqual(stay, gone)
        self.assertOk(upload_stay(sb, p, stay, worked_bill()[:2]))
        sb.set_clock("2025-03-04 10:00:00")
        self.assertOk(discharge(sb, p, stay, "2025-03-04 10:00:00"), "2402")
        r = sb.call("2405", {"data": {"mdtrt_id": stay, "psn_no": p["psn_no"]}},
                    p["insuplc_admdvs"])
        self.assertOk(r, "2405")
        # back in hospital: more lines, then discharge and settle
        self.assertOk(upload_stay(sb, p, stay, worked_bill()[2:]), "2301 after 2405")
        sb.set_clock("2025-03-09 10:00:00")
        self.assertOk(discharge(sb, p, stay, "2025-03-09 10:00:00"), "2402 again")
        r = settle_stay(sb, p, stay, "10000.00")
        self.assertSetl(r, "10000.00", "8280.00", "1720.00", "after 2405")

    def test_outside_exam_on_a_stay(self):
        sb, p = self.sb, P_OUTSIDE
        bill = worked_bill()[:3] + [line("4", CT, "250.00", "4", "1000.00",
                                         etip="H32020200011")]
        _, r = full_stay(sb, p, lines=bill)
        # an outside CT (甲) during the stay settles with it: same 10,000.00 in scope
        self.assertSetl(r, "10000.00", "8280.00", "1720.00", "outside exam on stay")


P_RV_REFUND = person("41010000000000000000000221", "韩退款", ZHENGZHOU, LT, seq="211")
P_RV_ORDER = person("41010000000000000000000222", "曹先传", ZHENGZHOU, LT, seq="221")
P_RV_TWICE = person("41010000000000000000000223", "彭两退", ZHENGZHOU, LT, seq="231")
P_CHANGE = person("41010000000000000000000224", "蒋变更", ZHENGZHOU, LT, seq="241")


class ReversalsKeepRefundRules(harness.SandboxCase):
    """2601 of a 2301 or a 2302 keeps the refund rules: a refund never takes back more than
    its line charged, and stands only against an active line."""
    persons = [P_RV_REFUND, P_RV_ORDER, P_RV_TWICE]

    def cancel_line(self, p, mdtrt_id, sn):
        return self.sb.call("2302", {"data": [{"feedetl_sn": sn, "mdtrt_id": mdtrt_id,
                                               "psn_no": p["psn_no"]}]}, p["insuplc_admdvs"])

    def states(self, mdtrt_id):
        return {u["feedetl_sn"]: u["state"] for u in self.sb.upload_rows(mdtrt_id=mdtrt_id)}

    def discharge_and_settle(self, p, mdtrt_id, medfee):
        self.sb.set_clock("2025-03-05 09:00:00")
        self.assertOk(discharge(self.sb, p, mdtrt_id, "2025-03-05 09:00:00"))
        return settle_stay(self.sb, p, mdtrt_id, medfee)

    def test_an_upload_with_refunds_standing_is_not_reversed(self):
        p = P_RV_REFUND
        self.sb.set_clock("2025-03-01 09:00:00")
        mid = mdtrt_id_2401(admit(self.sb, p, "2025-03-01 09:00:00"))
        a = upload_stay(self.sb, p, mid, [line("1", AMOXI, "10.00", "2", "20.00")])
        self.assertOk(a)
        self.assertOk(upload_stay(self.sb, p, mid, [line("2", AMOXI, "10.00", "-1", "-10.00",
                                                         init_sn="1")]))
        r = reverse(self.sb, p, a.msgid, "2301")
        self.assertRefused(r)
        self.assertIn("refund", r.err_msg)
        self.assertEqual(self.states(mid), {"1": "active", "2": "active"})
        # 20.00 charged, 10.00 of it refunded: 10.00.
        self.assertSetl(self.discharge_and_settle(p, mid, "10.00"), "10.00", "0.00", "10.00")

    def test_a_cancel_of_a_reversed_upload_brings_nothing_back(self):
        p = P_RV_ORDER
        self.sb.set_clock("2025-03-01 09:00:00")
        mid = mdtrt_id_2401(admit(self.sb, p, "2025-03-01 09:00:00"))
        a = upload_stay(self.sb, p, mid, [line("1", AMOXI, "10.00", "2", "20.00")])
        b = self.cancel_line(p, mid, "1")
        self.assertOk(a)
        self.assertOk(b)
        self.assertOk(reverse(self.sb, p, a.msgid, "2301"))
        reverse(self.sb, p, b.msgid, "2302")  # undoing the cancel of a line that never was
        self.assertEqual(self.states(mid), {"1": "reversed"})
        self.assertRefused(self.discharge_and_settle(p, mid, "20.00"))

    def test_a_cancelled_refund_does_not_come_back_past_the_charge(self):
        p = P_RV_TWICE
        self.sb.set_clock("2025-03-01 09:00:00")
        mid = mdtrt_id_2401(admit(self.sb, p, "2025-03-01 09:00:00"))
        self.assertOk(upload_stay(self.sb, p, mid, [line("1", AMOXI, "10.00", "2", "20.00"),
                                                    line("9", LAB, "100.00", "1", "100.00")]))
        self.assertOk(upload_stay(self.sb, p, mid, [line("2", AMOXI, "10.00", "-2", "-20.00",
                                                         init_sn="1")]))
        b = self.cancel_line(p, mid, "2")
        self.assertOk(b)
        self.assertOk(upload_stay(self.sb, p, mid, [line("3", AMOXI, "10.00", "-2", "-20.00",
                                                         init_sn="1")]))
        # Line 2 back beside line 3 would take back 4 of line 1's 2.
        r = reverse(self.sb, p, b.msgid, "2302")
        self.assertRefused(r)
        self.assertEqual(self.states(mid),
                         {"1": "active", "9": "active", "2": "cancelled", "3": "active"})
        # 20.00 + 100.00 - 20.00 (line 3): 100.00, all in scope, under the 800.00 deductible.
        self.assertSetl(self.discharge_and_settle(p, mid, "100.00"), "100.00", "0.00", "100.00")


class AdmissionChange(harness.SandboxCase):
    persons = [P_CHANGE]

    def test_flags_without_med_type_change_the_stay(self):
        """2403 with trum_flag 1 and rel_ttp_flag 1 alone: a trauma with a third party, which
        the fund does not pay (policy.md): the worked bill's 10,000.00 is all the person's."""
        p = P_CHANGE
        self.sb.set_clock(harness.ADMIT_TIME)
        mid = mdtrt_id_2401(admit(self.sb, p, harness.ADMIT_TIME))
        self.assertOk(self.sb.call("2403", {"adminfo": {"mdtrt_id": mid, "psn_no": p["psn_no"],
                                                        "trum_flag": "1", "rel_ttp_flag": "1"}},
                                   p["insuplc_admdvs"]))
        self.assertOk(upload_stay(self.sb, p, mid, worked_bill()))
        self.sb.set_clock(harness.SETTLE_TIME)
        self.assertOk(discharge(self.sb, p, mid, harness.SETTLE_TIME))
        self.assertSetl(settle_stay(self.sb, p, mid, "10000.00"), "10000.00", "0.00", "10000.00")


if __name__ == "__main__":
    harness.main()
