#!/usr/bin/python3
"""posa-sandbox's scenario file: a misspelt or unknown field anywhere stops the sandbox at
start (it must not start on defaults its author did not mean), a temporary rule needs
exactly one of reduce_points and share_first, two rate rows of one insutype, kind and level
are refused; the text must be strict JSON in UTF-8; and every start-up error names the file,
then the field's JSON path, or the line and column where the text stops being JSON.
"""
import copy
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import harness
from harness import BED, WUXI, ZHENGZHOU, filing, person

P = person("41010000000000000000000901", "张文件", ZHENGZHOU,
           [filing("long_term", "2025-01-01", None)], balance="500.00")


def base():
    return copy.deepcopy(harness.base_scenario([P]))  # its regions share rule dicts


class ScenarioFile(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="posa-scenario-file-")
        self.path = os.path.join(self.dir, "my-scenario.json")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, text):
        """Starts posa-sandbox on text (bytes); returns its stderr when it refused to start,
        None when it started (then it is stopped)."""
        with open(self.path, "wb") as f:
            f.write(text)
        proc = subprocess.Popen(
            [harness.SANDBOX_BIN, "--scenario", self.path, "--listen",
             "127.0.0.1:%d" % harness.free_port(), "--data-dir", os.path.join(self.dir, "data")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _, err = proc.communicate(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return None
        self.assertNotEqual(proc.returncode, 0)
        return err.decode("utf-8", "replace")

    def refused(self, scenario, expect):
        """The scenario is refused with a message naming the file, then expect."""
        err = self.start(json.dumps(scenario, ensure_ascii=False, indent=1).encode())
        self.assertIsNotNone(err, "started, expected a refusal naming %s" % expect)
        self.assertIn("%s: %s" % (self.path, expect), err)
        return err

    def test_the_base_scenario_starts(self):
        self.assertIsNone(self.start(json.dumps(base(), ensure_ascii=False).encode()))

    def test_unknown_fields_are_refused_everywhere(self):
        def misspell(obj, key, wrong):
            obj[wrong] = obj.pop(key)

        cases = [
            (lambda s: misspell(s, "treating_region", "treating_regoin"), "treating_regoin"),
            (lambda s: misspell(s["institution"], "level", "lvl"), "institution.lvl"),
            (lambda s: misspell(s["catalog"][0], "price_limit", "price_limt"),
             "catalog[0].price_limt"),
            (lambda s: misspell(s["regions"][WUXI]["rates"][1], "ratio", "ratoi"),
             "regions.%s.rates[1].ratoi" % WUXI),
            (lambda s: misspell(s["regions"][WUXI]["deductible_per"], "inpatient", "inpatent"),
             "regions.%s.deductible_per.inpatent" % WUXI),
            (lambda s: s["regions"][WUXI]["temporary"].__setitem__("other",
                                                                   {"share_frist": "0.20"}),
             "regions.%s.temporary.other.share_frist" % WUXI),
            (lambda s: s["regions"][WUXI].__setitem__(
                "temporary_by_insutype", {"310": {"other": {"reduce_point": 20}}}),
             "regions.%s.temporary_by_insutype.310.other.reduce_point" % WUXI),
            (lambda s: misspell(s["persons"][0], "balance", "balanc"), "persons[0].balanc"),
            (lambda s: misspell(s["persons"][0]["card"], "card_sn", "cardsn"),
             "persons[0].card.cardsn"),
            (lambda s: misspell(s["persons"][0]["filings"][0], "valid_to", "vaild_to"),
             "persons[0].filings[0].vaild_to"),
            (lambda s: s["persons"][0].__setitem__(
                "more_insurance", [{"insutype": "390", "insuplc_admdvs": ZHENGZHOU, "x": 1}]),
             "persons[0].more_insurance[0].x"),
        ]
        for change, field in cases:
            with self.subTest(field=field):
                s = base()
                change(s)
                self.refused(s, field + ": unknown field")

    def test_a_temporary_rule_takes_exactly_one_of_its_two(self):
        s = base()
        s["regions"][WUXI]["temporary"]["other"] = {}
        self.refused(s, "regions.%s.temporary.other: exactly one of reduce_points and "
                        "share_first" % WUXI)

    def test_two_rate_rows_of_one_insutype_kind_and_level(self):
        s = base()
        rates = s["regions"][WUXI]["rates"]
        rates.append(dict(rates[0], ratio="0.10"))
        self.refused(s, "regions.%s.rates[%d]: the same insutype, kind and level as rates[0]"
                        % (WUXI, len(rates) - 1))

    def test_a_duplicate_catalog_code_is_named_so(self):
        s = base()
        s["catalog"].append(copy.deepcopy(s["catalog"][3]))
        self.refused(s, "catalog: duplicate list_code %s" % s["catalog"][3]["list_code"])

    def test_a_field_error_names_the_file_and_the_path(self):
        s = base()
        s["institution"]["level"] = 3
        self.refused(s, "institution.level: must be a string")

    def test_text_that_is_not_json_is_located(self):
        text = json.dumps(base(), ensure_ascii=False, indent=1)
        lines = text.split("\n")
        lines[40] += " junk"  # line 41, after its text
        err = self.start("\n".join(lines).encode())
        self.assertIn("%s:41:%d: not valid JSON" % (self.path, len(lines[40]) - 3), err)

    def test_lenient_json_is_refused(self):
        text = json.dumps(base(), ensure_ascii=False, indent=1)
        cases = {
            "comment": text.replace('"catalog": [', '"catalog": [\n// a note', 1),
            "trailing comma": text[:-2] + ",\n}",
            "single quotes": text.replace('"310000"', "'310000'", 1),
        }
        for name, bad in cases.items():
            with self.subTest(name):
                err = self.start(bad.encode())
                self.assertIsNotNone(err, "%s: started" % name)
                self.assertRegex(err, "%s:[0-9]+:[0-9]+: not valid JSON" % self.path)

    def test_an_empty_file(self):
        err = self.start(b" \n")
        self.assertIn("%s: empty file" % self.path, err)

    def test_a_name_that_is_not_utf8(self):
        text = json.dumps(base(), ensure_ascii=False, indent=1).encode()
        line = text[:text.index(P["name"].encode())].count(b"\n") + 1
        err = self.start(text.replace(P["name"].encode(), b"\xff\xfe\xc0"))
        self.assertIsNotNone(err, "started with a name that is not UTF-8")
        self.assertRegex(err, "%s:%d:[0-9]+: not UTF-8" % (self.path, line))


if __name__ == "__main__":
    harness.main()
