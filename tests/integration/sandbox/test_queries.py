#!/usr/bin/python3
"""posa-sandbox's session, identity, catalog, query and reconciliation services over real
HTTP: 9001/9002 and sign_no checks, 1101 by ID number (02), social-security card (03) and
e-voucher (01, after /sandbox/qr and the ec.query decode service), 1312 pages, 5203, 5205,
3201 (match and mismatch) and 3202.

Wire choices (see /work/notes/sandbox-wire-choices.md): 9001 -> output.signinoutb.sign_no;
1101 -> baseinfo/insuinfo[]/idetinfo[]/filinginfo[]; /sandbox/qr answers an object whose
first string value is the code; decode data.ecQrCode -> {code:0, data:{ecToken, idNo,
userName, ...}} (data may be a JSON string); 1312 -> output{recordCounts, pages, data[]};
3201 -> output.stmtinfo.stmt_rslt "0" on match; 3202 is the tests' proposal (inline detail[],
output.detail[] with stmt_rslt per row): the only test written against a guess.
"""
import math

import harness
from harness import (QR_DECODE_PATH, WUXI, ZHENGZHOU, filing, full_stay, money, person,
                     query_person)

LT = [filing("long_term", "2024-01-01", None)]
P_ID = person("32020000000000000000000401", "王䶮", WUXI, LT, seq="011", balance="1234.56")
P_CARD = person("41010000000000000000000402", "李㛃", ZHENGZHOU, LT, seq="022", gender="2",
                card_no="H41010402", card_sn="410100D156000005003A7C1E9B0F4D21")
P_QR = person("41010000000000000000000403", "欧阳晓峰", ZHENGZHOU, LT, seq="031")
P_RECON = person("41010000000000000000000404", "张对账", ZHENGZHOU, LT, seq="041")


class Queries(harness.SandboxCase):
    persons = [P_ID, P_CARD, P_QR, P_RECON]

    def test_sign_in_sign_out(self):
        sb = self.sb
        r = sb.call("9001", {"signIn": {"opter_no": "0002", "mac": "52-54-00-00-00-02",
                                        "ip": "127.0.0.1"}}, sign_no="")
        self.assertOk(r, "9001")
        other = r.output["signinoutb"]["sign_no"]
        self.assertTrue(r.output["signinoutb"].get("sign_time"))
        self.assertOk(query_person_with(sb, P_ID, other), "1101 with the new sign_no")
        r = sb.call("9002", {"signOut": {"sign_no": other, "opter_no": "0002"}},
                    sign_no=other)
        self.assertOk(r, "9002")
        self.assertRefused(query_person_with(sb, P_ID, other), "1101 after 9002")
        self.assertRefused(query_person_with(sb, P_ID, ""), "1101 without sign_no")
        self.assertRefused(query_person_with(sb, P_ID, "NO-SUCH-SIGN-NO"), "unknown sign_no")
        self.assertOk(query_person(sb, P_ID), "the first session still works")

    def test_1101_by_id_number(self):
        r = query_person(self.sb, P_ID)
        self.assertOk(r)
        # the response envelope (national-interface.md §1.3): inf_refmsgid is 30 characters,
        # receiver admdvs (6) + time (14) + serial (10); times are yyyyMMddHHmmssSSS
        self.assertRegex(r.json["inf_refmsgid"], r"^310000[0-9]{24}$")
        self.assertRegex(r.json["refmsg_time"], r"^[0-9]{17}$")
        self.assertRegex(r.json["respond_time"], r"^[0-9]{17}$")
        b = r.output["baseinfo"]
        self.assertEqual(b["psn_no"], P_ID["psn_no"])
        self.assertEqual(b["certno"], P_ID["certno"])
        self.assertEqual(b["psn_name"], "王䶮")  # a rare character survives as UTF-8
        self.assertEqual(b["gend"], "1")
        self.assertEqual(b["brdy"], "1960-05-01")
        ins = r.output["insuinfo"]
        self.assertEqual(len(ins), 1, ins)
        self.assertEqual(ins[0]["insuplc_admdvs"], WUXI)
        self.assertEqual(ins[0]["insutype"], "310")
        self.assertEqual(ins[0]["psn_type"], "11")
        self.assertMoney(ins[0]["balc"], "1234.56")
        self.assertIsInstance(r.output.get("idetinfo", []), list)
        self.assertEqual([f["kind"] for f in r.output["filinginfo"]], ["long_term"])

    def test_1101_unknown_person_refused(self):
        ghost = dict(P_ID, certno=harness.certno("110101", "19700101", "999"))
        self.assertRefused(query_person(self.sb, ghost), "unknown ID number")

    def test_1101_by_card(self):
        data = {"mdtrt_cert_type": "03", "mdtrt_cert_no": "H41010402",
                "card_sn": "410100D156000005003A7C1E9B0F4D21", "begntime": "",
                "psn_cert_type": "01", "certno": P_CARD["certno"], "psn_name": "李㛃"}
        r = self.sb.call("1101", {"data": data})
        self.assertOk(r, "1101 by card")
        self.assertEqual(r.output["baseinfo"]["psn_no"], P_CARD["psn_no"])
        self.assertEqual(r.output["baseinfo"]["psn_name"], "李㛃")
        bad = dict(data, card_sn="410100D1560000050000000000000000")
        self.assertRefused(self.sb.call("1101", {"data": bad}), "1101 wrong card_sn")

    def test_1101_by_e_voucher(self):
        sb = self.sb
        q = sb.admin("qr", {"psn_no": P_QR["psn_no"]})
        code = first_string(q.json, skip=(P_QR["psn_no"],))
        self.assertTrue(code, "no code in %r" % q)
        dec = sb.post(QR_DECODE_PATH, decode_request(code))
        self.assertEqual(dec.status, 200, dec)
        self.assertIn(dec.json.get("code"), (0, "0"), dec)
        data = dec.json["data"]
        if isinstance(data, str):
            data = harness.loads(data)
        self.assertEqual(data["idNo"], P_QR["certno"])
        self.assertEqual(data["userName"], "欧阳晓峰")
        token = data["ecToken"]
        self.assertTrue(token)
        r = sb.call("1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": token,
                                      "card_sn": "", "begntime": "", "psn_cert_type": "01",
                                      "certno": data["idNo"], "psn_name": data["userName"]}})
        self.assertOk(r, "1101 by ecToken")
        self.assertEqual(r.output["baseinfo"]["psn_no"], P_QR["psn_no"])
        # a code that was never issued decodes to an error
        bad = sb.post(QR_DECODE_PATH, decode_request("not-a-real-code-0000"))
        if bad.status == 200:
            self.assertNotIn(bad.json.get("code"), (0, "0"), bad)
        else:
            self.assertEqual(bad.status, 400, bad)
        self.assertTrue(sb.alive())

    def test_1312_catalog_pages(self):
        n = len(harness.TEST_CATALOG)  # 16 items
        seen = []
        for page in range(1, 5):
            r = self.sb.call("1312", {"data": {"updt_time": "2000-01-01 00:00:00",
                                               "page_num": str(page), "page_size": "5"}})
            self.assertOk(r, "1312 page %d" % page)
            self.assertEqual(int(r.output["recordCounts"]), n)
            self.assertEqual(int(r.output["pages"]), math.ceil(n / 5))  # 4
            rows = r.output["data"]
            self.assertEqual(len(rows), 5 if page < 4 else 1)  # 5 + 5 + 5 + 1
            seen += [row["hilist_code"] for row in rows]
        self.assertEqual(sorted(seen), sorted(c["list_code"] for c in harness.TEST_CATALOG))
        r = self.sb.call("1312", {"data": {"med_chrgitm_type": "09",
                                           "updt_time": "2000-01-01 00:00:00",
                                           "page_num": "1", "page_size": "100"}})
        self.assertOk(r, "1312 western medicine")
        rows = r.output["data"]
        # three western medicines in the test catalog: amoxicillin, atorvastatin, omeprazole
        self.assertEqual(sorted(x["hilist_code"] for x in rows),
                         sorted([harness.AMOXI, harness.ATORVA, harness.OMEPRA]))
        self.assertEqual({x["chrgitm_lv"] for x in rows}, {"01", "02"})

    def test_3201_3202_5203_5205_reconciliation(self):
        sb, p = self.sb, P_RECON
        mdtrt_id, r = full_stay(sb, p, admit_time="2025-03-01 09:00:00",
                                settle_time="2025-03-10 10:00:00")
        s = self.assertSetl(r, "10000.00", "8280.00", "1720.00", "stay")
        setl_id = s["setl_id"]

        def totals(medfee, fund, cnt):
            return {"data": {"insutype": "310", "clr_type": "21", "setl_optins": ZHENGZHOU,
                             "stmt_begndate": "2025-03-10", "stmt_enddate": "2025-03-10",
                             "medfee_sumamt": medfee, "fund_pay_sumamt": fund,
                             "acct_pay": "0.00", "fixmedins_setl_cnt": cnt,
                             "refd_setl_flag": "0"}}
        # the day's totals: one settlement, 10,000.00, fund 8,280.00, account 0.00
        ok = sb.call("3201", totals("10000.00", "8280.00", "1"))
        self.assertOk(ok, "3201")
        self.assertIn(ok.output["stmtinfo"]["stmt_rslt"], ("0", 0))
        bad = sb.call("3201", totals("10000.00", "8280.01", "1"))
        self.assertOk(bad, "3201 mismatch is an answer, not an error")
        self.assertNotIn(bad.output["stmtinfo"]["stmt_rslt"], ("0", 0))
        self.assertTrue(bad.output["stmtinfo"].get("stmt_rslt_dscr"))

        # 5203 by setl_id, and by mdtrt_id alone (a client that lost the answer)
        for sid in (setl_id, ""):
            q = sb.call("5203", {"data": {"psn_no": p["psn_no"], "setl_id": sid,
                                          "mdtrt_id": mdtrt_id}}, p["insuplc_admdvs"])
            self.assertOk(q, "5203 setl_id=%r" % sid)
            self.assertEqual(q.output["setlinfo"]["setl_id"], setl_id)
            self.assertMoney(q.output["setlinfo"]["fund_pay_sumamt"], "8280.00")
        q = sb.call("5205", {"data": {"psn_no": p["psn_no"], "begntime": "2025-01-01 00:00:00",
                                      "endtime": "2025-12-31 23:59:59"}}, p["insuplc_admdvs"])
        self.assertOk(q, "5205")
        self.assertIsInstance(q.output, dict)

        # 3202 [the tests' proposal]: inline detail rows, one answer row each
        row = {"psn_no": p["psn_no"], "mdtrt_id": mdtrt_id, "setl_id": setl_id,
               "msgid": r.msgid, "medfee_sumamt": "10000.00", "fund_pay_sumamt": "8280.00",
               "acct_pay": "0.00", "refd_setl_flag": "0"}
        wrong = dict(row, fund_pay_sumamt="8000.00")
        ghost = dict(row, setl_id="NO-SUCH-SETTLEMENT", msgid=harness.MSGIDS.next())
        d = sb.call("3202", {"data": {
            "clr_type": "21", "setl_optins": ZHENGZHOU, "stmt_begndate": "2025-03-10",
            "stmt_enddate": "2025-03-10", "medfee_sumamt": "30000.00",
            "fund_pay_sumamt": "24560.00", "cash_payamt": "5440.00",
            "fixmedins_setl_cnt": "3", "detail": [row, wrong, ghost]}})
        self.assertOk(d, "3202")
        res = d.output["detail"]
        self.assertEqual(len(res), 3, res)
        by = {(x["setl_id"], money(x["fund_pay_sumamt"])): x for x in res}
        self.assertIn(str(by[(setl_id, money("8280.00"))]["stmt_rslt"]), ("0",))
        self.assertNotIn(str(by[(setl_id, money("8000.00"))]["stmt_rslt"]), ("0",))
        self.assertNotIn(str(by[("NO-SUCH-SETTLEMENT", money("8280.00"))]["stmt_rslt"]),
                         ("0",))


def query_person_with(sb, p, sign_no):
    return sb.call("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": p["certno"],
                                     "card_sn": "", "begntime": "", "psn_cert_type": "01",
                                     "certno": p["certno"], "psn_name": p["name"]}},
                   sign_no=sign_no)


def first_string(obj, skip=()):
    """The QR code string in /sandbox/qr's answer: a key naming a code if there is one,
    else the first string value that is not the psn_no we sent."""
    if isinstance(obj, str):
        return obj
    if not isinstance(obj, dict):
        return None
    for key in ("qrcode", "qr_code", "ecQrCode", "qr", "code"):
        if isinstance(obj.get(key), str) and obj[key]:
            return obj[key]
    for v in obj.values():
        if isinstance(v, str) and v and v not in skip:
            return v
    return None


def decode_request(code):
    return {"orgId": harness.FIXMEDINS_CODE, "transType": "ec.query",
            "data": {"orgId": harness.FIXMEDINS_CODE, "businessType": "01101",
                     "operatorId": "0001", "operatorName": "张收费", "officeId": "A02",
                     "officeName": "内科", "ecQrCode": code},
            "extra": {}}


class CatalogPageBounds(harness.SandboxCase):
    persons = []

    def page(self, num, size):
        return self.sb.call("1312", {"data": {"page_num": str(num), "page_size": str(size),
                                              "updt_time": "2020-01-01"}})

    def test_a_page_past_any_catalog_is_refused_not_wrapped(self):
        # (2^62 + 1 - 1) x 4 = 2^64 wrapped to row 0: the first page came back.
        for num, size in ((2 ** 62 + 1, 4), (2 ** 63 - 1, 1000)):
            with self.subTest(num=num, size=size):
                self.assertRefused(self.page(num, size))
        # A page past this catalog's 16 items, but one that can exist: empty.
        r = self.page(5, 4)
        self.assertOk(r)
        self.assertEqual(r.output["data"], [])


if __name__ == "__main__":
    harness.main()
