#!/usr/bin/python3
"""posa-sandbox applies filings (备案) as policy.md says: each kind, validity at admission
covering the whole stay, a late filing before the discharge settlement, expired filings,
commitment filings of 15 days, unfiled non-emergency patients refused with a plain message,
filings added and revoked through /sandbox/filings, 1101's filinginfo[], local patients.

Wire choices (see /work/notes/sandbox-wire-choices.md): dates "YYYY-MM-DD", a filing counts
from valid_from 00:00 to valid_to 23:59:59; the clock is set to the admission time before
2401 (begntime = clock) and to the settlement time before 2402/2304; a commitment filing is
capped at 15 days (valid_from .. valid_from + 14) even when valid_to is null; a local patient
(insured region = treating region 310000) settles without a filing.
Zhengzhou (410100) is the national-2022 region, so each kind gives a different figure on the
worked bill (in-scope 10,000.00, deductible 800.00, ratio 0.90):
  long-term 8,280.00; referral/emergency 7,360.00; other temporary 6,440.00.
"""
import harness
from harness import (SHANGHAI, WUXI, ZHENGZHOU, admit, filing, full_stay, mdtrt_id_2401,
                     person, query_person)

P_COMMIT = person("41010000000000000000000101", "孙志强", ZHENGZHOU,
                  [filing("commitment", "2025-03-01", "2025-03-15")], seq="011")
P_COMMIT_EDGE = person("41010000000000000000000102", "钱多多", ZHENGZHOU,
                       [filing("commitment", "2025-03-01", "2025-03-15")], seq="021")
P_COMMIT_GONE = person("41010000000000000000000103", "钱少少", ZHENGZHOU,
                       [filing("commitment", "2025-03-01", "2025-03-15")], seq="031")
P_COMMIT_NULL = person("41010000000000000000000104", "韩承诺", ZHENGZHOU,
                       [filing("commitment", "2025-02-01", None)], seq="041")
P_UNFILED = person("41010000000000000000000105", "周婷", ZHENGZHOU, [], seq="052",
                   gender="2")
P_EXPIRED = person("41010000000000000000000106", "郑丽娟", ZHENGZHOU,
                   [filing("temporary_other", "2024-06-01", "2024-11-30")], seq="062",
                   gender="2")
P_MIDSTAY = person("41010000000000000000000107", "冯卫东", ZHENGZHOU,
                   [filing("long_term", "2024-01-01", "2025-03-03")], seq="071")
P_MIDSTAY_WX = person("32020000000000000000000108", "赵敏", WUXI,
                      [filing("temporary_other", "2024-09-04", "2025-03-03")], seq="082",
                      gender="2")
P_LATE = person("41010000000000000000000109", "刘洋", ZHENGZHOU,
                [filing("temporary_other", "2025-01-01", "2025-06-30")], seq="091")
P_ADDED = person("41010000000000000000000110", "王磊", ZHENGZHOU, [], seq="101")
P_REVOKED = person("41010000000000000000000111", "陈立", ZHENGZHOU,
                   [filing("referral", "2025-01-01", "2025-06-30")], seq="111")
P_LOCAL = person("31000000000000000000000112", "黄浦生", SHANGHAI, [], seq="121")
P_RETRO = person("41010000000000000000000114", "补备案", ZHENGZHOU, [], seq="141")
P_NOT_YET = person("41010000000000000000000113", "蒋未来", ZHENGZHOU,
                   [filing("referral", "2025-04-01", "2025-09-30")], seq="131")


class Filings(harness.SandboxCase):
    persons = [P_COMMIT, P_COMMIT_EDGE, P_COMMIT_GONE, P_COMMIT_NULL, P_UNFILED, P_EXPIRED,
               P_MIDSTAY, P_MIDSTAY_WX, P_LATE, P_ADDED, P_REVOKED, P_LOCAL, P_NOT_YET, P_RETRO]

    def refused_admission(self, p, when="2025-03-01 09:00:00", **kw):
        before = len(self.sb.settlement_rows())
        self.sb.set_clock(when)
        r = admit(self.sb, p, when, **kw)
        self.assertRefused(r, "2401 of %s" % p["name"])
        self.assertEqual(len(self.sb.settlement_rows()), before)
        return r

    def test_commitment_settles_as_long_term(self):
        _, r = full_stay(self.sb, P_COMMIT, admit_time="2025-03-05 09:00:00",
                         settle_time="2025-03-10 10:00:00")
        # commitment valid 03-01..03-15 at admission: as long-term, 8,280.00 / 1,720.00
        self.assertSetl(r, "10000.00", "8280.00", "1720.00", "commitment")

    def test_commitment_valid_at_admission_covers_the_stay(self):
        _, r = full_stay(self.sb, P_COMMIT_EDGE, admit_time="2025-03-14 09:00:00",
                         settle_time="2025-03-25 10:00:00")
        # admitted on 03-14 (valid), settled 03-25 (expired): still long-term 8,280.00
        self.assertSetl(r, "10000.00", "8280.00", "1720.00", "commitment across expiry")

    def test_commitment_expired_before_admission_refused(self):
        self.refused_admission(P_COMMIT_GONE, "2025-03-20 09:00:00")

    def test_commitment_lasts_15_days_even_open_ended(self):
        # [wire choice] commitment from 02-01 with valid_to null lasts 02-01..02-15:
        # an admission on 02-20 is not covered, and it is no emergency -> refused.
        self.refused_admission(P_COMMIT_NULL, "2025-02-20 09:00:00")

    def test_unfiled_non_emergency_refused_with_plain_message(self):
        r = self.refused_admission(P_UNFILED)
        self.assertNotIn("Traceback", r.err_msg or "")
        # and an ordinary outpatient registration (2201) is refused too
        self.sb.set_clock("2025-03-01 09:00:00")
        r = self.sb.call("2201", {"data": {
            "psn_no": P_UNFILED["psn_no"], "insutype": "310",
            "begntime": "2025-03-01 09:00:00", "mdtrt_cert_type": "02",
            "mdtrt_cert_no": P_UNFILED["certno"], "ipt_otp_no": "MZ2025030100001",
            "atddr_no": "D0002", "dr_name": "王医生", "dept_code": "A02", "dept_name": "内科",
            "caty": "A02", "med_type": "11", "otp_er_refl_flag": "0"}},
            P_UNFILED["insuplc_admdvs"])
        self.assertRefused(r, "2201 unfiled")

    def test_unfiled_emergency_admitted(self):
        # the same unfiled person as an emergency admission: deemed filed, emergency kind
        _, r = full_stay(self.sb, P_UNFILED, med_type="24", ipt_type="2",
                         admit_time="2025-04-01 09:00:00", settle_time="2025-04-05 10:00:00")
        # 9,200.00 x (0.90 - 0.10) = 7,360.00; person 2,640.00
        self.assertSetl(r, "10000.00", "7360.00", "2640.00", "emergency unfiled")

    def test_expired_filing_refused(self):
        self.refused_admission(P_EXPIRED)

    def test_filing_not_yet_valid_refused(self):
        self.refused_admission(P_NOT_YET, "2025-03-01 09:00:00")

    def test_long_term_expiring_mid_stay_covers_the_stay(self):
        _, r = full_stay(self.sb, P_MIDSTAY, admit_time="2025-03-01 09:00:00",
                         settle_time="2025-03-12 10:00:00")
        # valid at admission (03-01), expired 03-03, settled 03-12: long-term 8,280.00
        self.assertSetl(r, "10000.00", "8280.00", "1720.00", "expired during stay")

    def test_wuxi_temporary_expiring_mid_stay(self):
        _, r = full_stay(self.sb, P_MIDSTAY_WX, admit_time="2025-03-02 09:00:00",
                         settle_time="2025-03-12 10:00:00")
        # other temporary valid at admission, Wuxi share-first: 9,200.00 x 0.80 x 0.90
        # = 6,624.00; person 3,376.00
        self.assertSetl(r, "10000.00", "6624.00", "3376.00", "Wuxi expired during stay")

    def test_late_filing_before_discharge_settlement(self):
        sb = self.sb
        sb.set_clock("2025-03-01 09:00:00")
        mdtrt_id = mdtrt_id_2401(admit(sb, P_LATE, "2025-03-01 09:00:00"))
        self.assertOk(harness.upload_stay(sb, P_LATE, mdtrt_id, harness.worked_bill()))
        # 03-05: the patient files long-term (e.g. retired and resettled) while in hospital
        sb.set_clock("2025-03-05 14:00:00")
        sb.admin("filings", {"psn_no": P_LATE["psn_no"], "action": "add", "kind": "long_term",
                             "valid_from": "2025-03-05", "valid_to": None})
        q = query_person(sb, P_LATE)
        self.assertOk(q, "1101")
        kinds = sorted(f["kind"] for f in q.output["filinginfo"])
        self.assertEqual(kinds, ["long_term", "temporary_other"])
        sb.set_clock("2025-03-10 10:00:00")
        self.assertOk(harness.discharge(sb, P_LATE, mdtrt_id, "2025-03-10 10:00:00"))
        r = harness.settle_stay(sb, P_LATE, mdtrt_id, "10000.00")
        # the late long-term filing counts and is preferred: 8,280.00 (not 6,440.00)
        self.assertSetl(r, "10000.00", "8280.00", "1720.00", "late filing")

    def test_late_filing_of_an_unfiled_patient_admitted_earlier(self):
        """§16: admitted on 03-01 without any filing (refused then), files a referral on
        03-03; the hospital then registers the stay with its real admission time."""
        sb, p = self.sb, P_RETRO
        self.refused_admission(p, "2025-03-01 09:00:00")
        sb.set_clock("2025-03-03 09:00:00")
        sb.admin("filings", {"psn_no": p["psn_no"], "action": "add", "kind": "referral",
                             "valid_from": "2025-03-03", "valid_to": "2025-08-31"})
        mdtrt_id = mdtrt_id_2401(admit(sb, p, "2025-03-01 09:00:00"))
        self.assertOk(harness.upload_stay(sb, p, mdtrt_id, harness.worked_bill()))
        sb.set_clock("2025-03-09 10:00:00")
        self.assertOk(harness.discharge(sb, p, mdtrt_id, "2025-03-09 10:00:00"))
        r = harness.settle_stay(sb, p, mdtrt_id, "10000.00")
        # the referral filed before the discharge settlement counts: 9,200.00 x 0.80
        # = 7,360.00; person 2,640.00
        self.assertSetl(r, "10000.00", "7360.00", "2640.00", "retro late filing")

    def test_filing_added_through_admin_then_admitted(self):
        self.refused_admission(P_ADDED, "2025-03-01 09:00:00")
        self.sb.admin("filings", {"psn_no": P_ADDED["psn_no"], "action": "add",
                                  "kind": "referral", "valid_from": "2025-03-01",
                                  "valid_to": "2025-08-31"})
        _, r = full_stay(self.sb, P_ADDED, admit_time="2025-03-01 10:00:00",
                         settle_time="2025-03-08 10:00:00")
        # referral, national 2022: 9,200.00 x 0.80 = 7,360.00; person 2,640.00
        self.assertSetl(r, "10000.00", "7360.00", "2640.00", "added referral")

    def test_revoked_filing_refused(self):
        self.sb.set_clock("2025-03-01 08:00:00")
        self.sb.admin("filings", {"psn_no": P_REVOKED["psn_no"], "action": "revoke",
                                  "kind": "referral", "valid_from": "2025-01-01",
                                  "valid_to": "2025-06-30"})
        self.refused_admission(P_REVOKED, "2025-03-01 09:00:00")

    def test_local_patient_needs_no_filing(self):
        _, r = full_stay(self.sb, P_LOCAL)
        # [wire choice] insured in 310000 = the treating region: local rate, no reduction:
        # (10,000.00 - 800.00) x 0.90 = 8,280.00; person 1,720.00
        self.assertSetl(r, "10000.00", "8280.00", "1720.00", "local")

    def test_1101_filinginfo(self):
        self.sb.set_clock("2025-03-01 09:00:00")
        q = query_person(self.sb, P_MIDSTAY)
        self.assertOk(q)
        fi = q.output["filinginfo"]
        self.assertEqual(len(fi), 1, fi)
        self.assertEqual(fi[0]["kind"], "long_term")
        self.assertEqual(fi[0]["valid_from"], "2024-01-01")
        self.assertEqual(fi[0]["valid_to"], "2025-03-03")
        q = query_person(self.sb, P_UNFILED)
        self.assertOk(q)
        self.assertEqual(q.output.get("filinginfo"), [])
        # [wire choice] an open-ended commitment filing shows its 15-day end: 02-01 + 14
        q = query_person(self.sb, P_COMMIT_NULL)
        self.assertOk(q)
        self.assertEqual([(f["kind"], f["valid_from"], f["valid_to"])
                          for f in q.output["filinginfo"]],
                         [("commitment", "2025-02-01", "2025-02-15")])


if __name__ == "__main__":
    harness.main()
