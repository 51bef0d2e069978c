#!/usr/bin/python3
"""Checks sandbox/scenarios/default.json (the demo's scenario): the format of sandbox.md,
regenerable by gen_default.py, at least 220 catalog items in all 14 categories with
甲/乙/丙, first self-pay ratios and price limits; both kinds of temporary rule; every filing
kind among the persons; valid GB 11643 ID numbers; README.md lists every person. With the
posa-sandbox binary as a second argument it also loads the scenario, queries every person
(1101), pages the catalog (1312) and settles one demo stay to the fen.

usage: test_default_scenario.py default.json [posa-sandbox]
"""
import datetime
import json
import os
import re
import subprocess
import sys
import unittest
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

SCENARIO = None
DEMO_DATE = datetime.date(2026, 11, 25)  # the date the default filings are built around


def load():
    with open(SCENARIO, encoding="utf-8") as f:
        return json.load(f)


def dec(text, places):
    assert isinstance(text, str) and re.fullmatch(r"[0-9]+(\.[0-9]{1,%d})?" % places, text), text
    return Decimal(text)


class DefaultScenarioFile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = load()

    def test_regenerates_identically(self):
        gen = os.path.join(os.path.dirname(SCENARIO), "gen_default.py")
        out = subprocess.run(["/usr/bin/python3", gen], capture_output=True, check=True,
                             timeout=30).stdout
        with open(SCENARIO, "rb") as f:
            self.assertEqual(out, f.read(), "default.json differs from gen_default.py output")

    def test_institution(self):
        self.assertEqual(self.s["treating_region"], "310000")
        inst = self.s["institution"]
        self.assertEqual(inst["code"], "H31010100001")
        self.assertEqual(inst["level"], "3")
        self.assertTrue(inst["name"])

    def test_catalog(self):
        cat = self.s["catalog"]
        self.assertGreaterEqual(len(cat), 220)
        codes = [c["list_code"] for c in cat]
        self.assertEqual(len(codes), len(set(codes)), "duplicate list_code")
        self.assertEqual({c["med_chrgitm_type"] for c in cat},
                         {"%02d" % i for i in range(1, 15)})
        self.assertEqual({c["chrgitm_lv"] for c in cat}, {"01", "02", "03"})
        limits = 0
        for c in cat:
            with self.subTest(code=c["list_code"]):
                self.assertTrue(c["name"])
                p = dec(c["selfpay_prop"], 4)
                self.assertTrue(0 <= p <= 1)
                if c["chrgitm_lv"] == "02":
                    self.assertTrue(0 < p < 1, "乙 needs a first self-pay ratio")
                if c["chrgitm_lv"] == "01":
                    self.assertEqual(p, 0)
                if c["price_limit"] is not None:
                    self.assertGreater(dec(c["price_limit"], 6), 0)
                    limits += 1
                code = c["list_code"]
                self.assertTrue(re.fullmatch(r"00[0-9]{9}0000", code)
                                or re.fullmatch(r"[XZ][A-Z][0-9]{2}[A-Z]{2}[A-Z][0-9]{3}"
                                                r"[A-Z][0-9]{3}[0-9]{9}", code)
                                or re.fullmatch(r"T[0-9]{9}", code)
                                or re.fullmatch(r"C[0-9]{26}", code), code)
        self.assertGreaterEqual(limits, 20)

    def test_regions(self):
        regions = self.s["regions"]
        modes = set()
        for code, r in regions.items():
            self.assertRegex(code, r"^[0-9]{6}$")
            for rules in [r["temporary"]] + list(r.get("temporary_by_insutype", {}).values()):
                for kind in ("referral", "emergency", "other"):
                    rule = rules[kind]
                    self.assertEqual(len(rule), 1, rule)
                    modes.update(rule)
            for rate in r["rates"]:
                self.assertIn(rate["insutype"], ("310", "390"))
                self.assertIn(rate["kind"], ("inpatient", "outpatient"))
                self.assertIn(rate["level"], ("1", "2", "3", "*"))
                dec(rate["deductible"], 2)
                self.assertTrue(0 < dec(rate["ratio"], 4) <= 1)
                dec(rate["cap"], 2)
        self.assertEqual(modes, {"reduce_points", "share_first"})
        zz, wx = regions["410100"], regions["320200"]
        self.assertEqual(zz["temporary"], {"referral": {"reduce_points": 10},
                                           "emergency": {"reduce_points": 10},
                                           "other": {"reduce_points": 20}})
        # Wuxi 2025's rules are its employees'; its residents keep Jiangsu's 2024 ones.
        self.assertEqual(wx["temporary"], zz["temporary"])
        self.assertEqual(wx["temporary_by_insutype"],
                         {"310": {"referral": {"reduce_points": 0},
                                  "emergency": {"reduce_points": 0},
                                  "other": {"share_first": "0.20"}}})
        # policy.md's worked-example rate
        self.assertIn({"insutype": "310", "kind": "inpatient", "level": "3",
                       "deductible": "800.00", "ratio": "0.90", "cap": "400000.00"},
                      wx["rates"])
        for r in (zz, wx):
            kinds = {(x["insutype"], x["kind"]) for x in r["rates"]}
            self.assertEqual(kinds, {("310", "inpatient"), ("310", "outpatient"),
                                     ("390", "inpatient"), ("390", "outpatient")})

    def test_persons(self):
        persons = self.s["persons"]
        kinds = set()
        expired = expiring = unfiled = rare = 0
        for p in persons:
            with self.subTest(psn_no=p["psn_no"]):
                c = p["certno"]
                self.assertRegex(c, r"^[0-9]{17}[0-9X]$")
                self.assertEqual(c[17], harness.id_check_digit(c[:17]))
                self.assertEqual(c[6:14], p["birthday"].replace("-", ""))
                self.assertEqual(int(c[16]) % 2, 1 if p["gender"] == "1" else 0)
                self.assertIn(p["insuplc_admdvs"], self.s["regions"])
                self.assertRegex(p["card"]["card_no"], r"^[A-Z0-9]{9}$")
                self.assertRegex(p["card"]["card_sn"], r"^[0-9A-F]{32}$")
                self.assertTrue(p["card"]["card_sn"].startswith(p["insuplc_admdvs"]))
                dec(p["balance"], 2)
                if any(0x3400 <= ord(ch) <= 0x4DBF or ord(ch) >= 0x20000 for ch in p["name"]):
                    rare += 1
                if not p["filings"]:
                    unfiled += 1
                for f in p["filings"]:
                    kinds.add(f["kind"])
                    start = datetime.date.fromisoformat(f["valid_from"])
                    end = f["valid_to"] and datetime.date.fromisoformat(f["valid_to"])
                    if f["kind"] == "commitment":
                        self.assertEqual((end - start).days, 14, "15 days inclusive")
                    if end and end < DEMO_DATE:
                        expired += 1
                    if end and DEMO_DATE <= end <= DEMO_DATE + datetime.timedelta(days=10):
                        expiring += 1
        self.assertEqual(len({p["psn_no"] for p in persons}), len(persons))
        self.assertEqual(kinds, {"long_term", "referral", "temporary_other", "commitment"})
        self.assertGreaterEqual(unfiled, 2)
        self.assertGreaterEqual(expired, 1)
        self.assertGreaterEqual(expiring, 1)
        self.assertGreaterEqual(rare, 1)

    def test_readme_lists_every_person(self):
        with open(os.path.join(os.path.dirname(SCENARIO), "README.md"), encoding="utf-8") as f:
            readme = f.read()
        for p in self.s["persons"]:
            self.assertIn(p["psn_no"], readme)
            self.assertIn(p["certno"], readme)


class DefaultScenarioLoads(harness.SandboxCase):
    """Runs only with the binary: the sandbox accepts the default scenario."""

    @classmethod
    def scenario(cls):
        return load()

    def test_every_person_identifies(self):
        s = load()
        self.sb.set_clock("2026-11-25 09:00:00")
        for p in s["persons"]:
            with self.subTest(psn_no=p["psn_no"]):
                r = harness.query_person(self.sb, p)
                self.assertOk(r)
                self.assertEqual(r.output["baseinfo"]["psn_no"], p["psn_no"])
                self.assertEqual(r.output["baseinfo"]["psn_name"], p["name"])
                self.assertEqual(r.output["insuinfo"][0]["insuplc_admdvs"],
                                 p["insuplc_admdvs"])
                self.assertEqual(sorted(f["kind"] for f in r.output["filinginfo"]),
                                 sorted(f["kind"] for f in p["filings"]))

    def test_catalog_size(self):
        r = self.sb.call("1312", {"data": {"updt_time": "2000-01-01 00:00:00",
                                           "page_num": "1", "page_size": "50"}})
        self.assertOk(r)
        self.assertEqual(int(r.output["recordCounts"]), len(load()["catalog"]))

    def test_demo_stay(self):
        s = load()
        p = next(x for x in s["persons"] if x["name"] == "张建国")  # Wuxi, long-term
        codes = {c["name"]: c["list_code"] for c in s["catalog"]}
        ln = harness.line
        bill = [  # all 甲 and within their limits: 3,515.00 in scope
            ln("1", codes["腹腔镜胆囊切除术"], "2200.00", "1", "2200.00"),     # limit 2,200
            ln("2", codes["全身麻醉"], "900.00", "1", "900.00"),               # limit 900
            ln("3", codes["普通病房床位费(三人间及以上)"], "45.00", "5", "225.00"),
            ln("4", codes["Ⅰ级护理"], "30.00", "5", "150.00"),
            ln("5", codes["血细胞分析(血常规)"], "20.00", "2", "40.00"),
        ]
        _, r = harness.full_stay(self.sb, p, lines=bill, medfee="3515.00",
                                 admit_time="2026-11-25 09:00:00",
                                 settle_time="2026-11-30 10:00:00")
        # Wuxi employee inpatient level 3: (3,515.00 - 800.00) x 0.90 = 2,443.50;
        # person 3,515.00 - 2,443.50 = 1,071.50
        self.assertSetl(r, "3515.00", "2443.50", "1071.50", "demo stay")


def main():
    global SCENARIO
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    SCENARIO = os.path.abspath(sys.argv[1])
    argv = [sys.argv[0]]
    suite = unittest.TestSuite()
    loader = unittest.defaultTestLoader
    if len(sys.argv) >= 3:
        harness.SANDBOX_BIN = os.path.abspath(sys.argv[2])
        suite.addTests(loader.loadTestsFromTestCase(DefaultScenarioLoads))
    else:
        suite.addTests(loader.loadTestsFromTestCase(DefaultScenarioFile))
    del argv
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
