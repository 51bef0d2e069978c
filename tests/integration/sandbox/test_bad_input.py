#!/usr/bin/python3
"""posa-sandbox against bad input: malformed JSON, wrong types, missing fields, unknown
infno, oversized bodies (413), absurd amounts, reused and malformed msgids, a settlement
with no fee lines, a declared medfee_sumamt that differs from the uploaded lines. Every one
gets a plain refusal (HTTP 400, or infcode -1 with err_msg). None crashes the process, and
none half-applies a transaction (the ledger is compared before and after). Amounts sent as
JSON numbers are accepted like strings.

Wire choices (see /work/notes/sandbox-wire-choices.md): bodies over 16 MiB (BOUND_BODY) get
HTTP 413; unknown paths 404; another method on the service path 404 or 405; a feedetl_sn is
unique within a visit; insuplc_admdvs must be the person's insured region when psn_no is in
the input; a 2304 must name the visit's own psn_no.
"""
import http.client
import json
import re
import socket
import unittest

import harness
from harness import (AMOXI, BED, LAB, SERVICE_PATH, SURGERY, WUXI, ZHENGZHOU, admit,
                     discharge, filing, line, mdtrt_id_2401, person, settle_input,
                     settle_stay, upload_stay, worked_bill)

LT = [filing("long_term", "2024-01-01", None)]
P = person("41010000000000000000000701", "张坏数", ZHENGZHOU, LT, seq="011")
P2 = person("41010000000000000000000702", "李别人", ZHENGZHOU, LT, seq="021")
P_NUM = person("41010000000000000000000703", "王数字", ZHENGZHOU, LT, seq="031")

AMOUNT_KEYS = ("pric", "cnt", "det_item_fee_sumamt", "medfee_sumamt", "fulamt_ownpay_amt",
               "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")


class BadInput(harness.SandboxCase):
    persons = [P, P2, P_NUM]

    def assertRefused(self, r, what=""):
        super().assertRefused(r, what, http_400_ok=True)

    def setUp(self):
        self.ledger_before = self.sb.ledger()

    def assertLedgerUnchanged(self):
        self.assertEqual(self.sb.ledger(), self.ledger_before)

    def raw(self, body, path=SERVICE_PATH, method="POST"):
        status, raw = self.sb.request(method, path, body)
        return harness.Response(status, raw)

    # ---- HTTP and JSON level

    def test_malformed_bodies(self):
        bodies = [b"", b"{", b'{"infno": "1101", ', b"[]", b"123", b"null", b'"x"',
                  b"{infno: 1101}", b'{"infno": "1101"} trailing', b"\xff\xfe\x00{",
                  b'{"infno": "\xc3\x28"}', b"[" * 100000 + b"]" * 100000,
                  b'{"a":' * 5000 + b"1" + b"}" * 5000]
        for body in bodies:
            with self.subTest(body=body[:40]):
                self.assertRefused(self.raw(body), "body %r" % body[:40])
        self.assertLedgerUnchanged()

    def test_oversized_body_gets_413(self):
        size = (16 << 20) + 1024  # just over BOUND_BODY
        sock = socket.create_connection(("127.0.0.1", self.sb.port), timeout=10)
        try:
            head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n" % (SERVICE_PATH, size)).encode()
            sock.sendall(head)
            chunk = b" " * 65536
            sent = 0
            try:
                while sent < size:
                    n = min(len(chunk), size - sent)
                    sock.sendall(chunk[:n])
                    sent += n
            except OSError:
                pass  # the server may answer and close before reading it all
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            self.assertEqual(resp.status, 413)
        finally:
            sock.close()
        self.assertTrue(self.sb.alive())
        self.assertTrue(harness.query_person(self.sb, P).ok)

    def test_truncated_and_garbage_requests(self):
        sends = [b"POST /fsi/api/rsfComIfsService/callService HTTP/1.1\r\nHost: x",
                 b"POST /fsi/api/rsfComIfsService/callService HTTP/1.1\r\nContent-Length: 100"
                 b"\r\n\r\n{\"infno\":",
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # TLS hello
                 b"GARBAGE GARBAGE GARBAGE\r\n\r\n",
                 b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"]
        for data in sends:
            with socket.create_connection(("127.0.0.1", self.sb.port), timeout=5) as sock:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
                try:
                    sock.recv(4096)
                except OSError:
                    pass
        self.assertTrue(self.sb.alive())
        self.assertOk(harness.query_person(self.sb, P), "after truncated requests")

    def test_paths_and_methods(self):
        self.assertEqual(self.raw(b"{}", path="/no/such/path").status, 404)
        self.assertIn(self.raw(None, method="GET").status, (404, 405))
        self.assertIn(self.raw(None, method="DELETE").status, (404, 405))

    def test_keep_alive_and_many_connections(self):
        conns = [socket.create_connection(("127.0.0.1", self.sb.port), timeout=5)
                 for _ in range(50)]  # idle connections must not starve others
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.sb.port, timeout=5)
            for _ in range(3):  # three requests on one connection
                env = self.sb.envelope("1101", {"data": {
                    "mdtrt_cert_type": "02", "mdtrt_cert_no": P["certno"], "card_sn": "",
                    "begntime": "", "psn_cert_type": "01", "certno": P["certno"],
                    "psn_name": P["name"]}})
                c.request("POST", SERVICE_PATH, json.dumps(env, ensure_ascii=False).encode(),
                          {"Content-Type": "application/json"})
                resp = c.getresponse()
                body = harness.loads(resp.read().decode())
                self.assertEqual(resp.status, 200)
                self.assertTrue(harness.is_ok(body), body)
            c.close()
        finally:
            for s in conns:
                s.close()

    # ---- envelope level

    def env_1101(self, **override):
        env = self.sb.envelope("1101", {"data": {
            "mdtrt_cert_type": "02", "mdtrt_cert_no": P["certno"], "card_sn": "",
            "begntime": "", "psn_cert_type": "01", "certno": P["certno"],
            "psn_name": P["name"]}})
        env.update(override)
        return env

    def test_envelope_fields(self):
        cases = {
            "unknown infno": self.env_1101(infno="9999"),
            "infno object": self.env_1101(infno={"x": 1}),
            "infno empty": self.env_1101(infno=""),
            "input array": self.env_1101(input=[]),
            "input string": self.env_1101(input="data"),
            "input null": self.env_1101(input=None),
            "input.data number": self.env_1101(input={"data": 5}),
            "msgid 29 chars": self.env_1101(msgid=harness.MSGIDS.next()[:29]),
            "msgid 31 chars": self.env_1101(msgid=harness.MSGIDS.next() + "1"),
            "msgid other code": self.env_1101(msgid="H99999999999" + harness.MSGIDS.next()[12:]),
            "msgid month 13": self.env_1101(msgid=harness.FIXMEDINS_CODE + "20251301120000" + "0001"),
            "msgid letters": self.env_1101(msgid=harness.FIXMEDINS_CODE + "20250301120000" + "00A1"),
            "msgid number": self.env_1101(msgid=123456789),
            "fixmedins_code other": self.env_1101(fixmedins_code="H99999999999"),
            "inf_time bad": self.env_1101(inf_time="2025/03/01"),
        }
        for name in ("infno", "msgid", "input", "fixmedins_code"):
            env = self.env_1101()
            del env[name]
            cases["missing " + name] = env
        for name, env in cases.items():
            with self.subTest(case=name):
                self.assertRefused(self.sb.send_envelope(env), name)
        self.assertLedgerUnchanged()

    def test_reused_msgid(self):
        env = self.env_1101()
        self.assertOk(self.sb.send_envelope(env), "first use")
        self.assertRefused(self.sb.send_envelope(env), "same msgid again")
        env2 = self.env_1101(msgid=env["msgid"], infno="1312",
                             input={"data": {"updt_time": "2000-01-01 00:00:00",
                                             "page_num": "1", "page_size": "10"}})
        self.assertRefused(self.sb.send_envelope(env2), "same msgid, other infno")

    def test_insuplc_admdvs_checked(self):
        self.sb.set_clock("2025-03-01 09:00:00")
        r = admit(self.sb, dict(P, insuplc_admdvs=""), "2025-03-01 09:00:00")
        self.assertRefused(r, "2401 without insuplc_admdvs")
        r = admit(self.sb, dict(P, insuplc_admdvs=WUXI), "2025-03-01 09:00:00")
        self.assertRefused(r, "2401 with another region")
        self.assertLedgerUnchanged()

    # ---- transaction inputs

    def open_stay(self, p=P):
        self.sb.set_clock("2025-03-01 09:00:00")
        return mdtrt_id_2401(admit(self.sb, p, "2025-03-01 09:00:00"))

    def test_2401_bad_inputs(self):
        sb = self.sb
        sb.set_clock("2025-03-01 09:00:00")
        good = admit(sb, P, "2025-03-01 09:00:00")  # to borrow a well-formed input
        self.assertOk(good)
        self.ledger_before = sb.ledger()
        env = json.loads(json.dumps(sb.envelope("2401", {}, ZHENGZHOU)))
        base = {"mdtrtinfo": {"psn_no": P["psn_no"], "insutype": "310",
                              "begntime": "2025-03-01 09:00:00", "mdtrt_cert_type": "02",
                              "mdtrt_cert_no": P["certno"], "med_type": "21", "ipt_no": "ZY1",
                              "ipt_type": "1", "trum_flag": "0", "rel_ttp_flag": "0"},
                "diseinfo": []}
        variants = {
            "mdtrtinfo number": {"mdtrtinfo": 7, "diseinfo": []},
            "mdtrtinfo missing": {"diseinfo": []},
            "psn_no missing": dict(base, mdtrtinfo={k: v for k, v in base["mdtrtinfo"].items()
                                                    if k != "psn_no"}),
            "psn_no unknown": dict(base, mdtrtinfo=dict(base["mdtrtinfo"],
                                                        psn_no="41019999999999999999999999")),
            "psn_no array": dict(base, mdtrtinfo=dict(base["mdtrtinfo"], psn_no=["x"])),
            "begntime bad": dict(base, mdtrtinfo=dict(base["mdtrtinfo"],
                                                      begntime="2025-02-30 09:00:00")),
            "med_type unknown": dict(base, mdtrtinfo=dict(base["mdtrtinfo"], med_type="99")),
            # (a single object where a list is expected is accepted as a list of one, as
            # some provinces send it; a string is no list at all)
            "diseinfo string": dict(base, diseinfo="K80.100"),
        }
        for name, inp in variants.items():
            with self.subTest(case=name):
                e = dict(env, msgid=harness.MSGIDS.next(), input=inp)
                self.assertRefused(sb.send_envelope(e), name)
        self.assertLedgerUnchanged()

    def test_2301_absurd_amounts_apply_nothing(self):
        sb = self.sb
        mdtrt_id = self.open_stay()
        self.ledger_before = sb.ledger()
        ok1 = line("1", BED, "100.00", "10", "1000.00")
        ok2 = line("2", SURGERY, "6000.00", "1", "6000.00")
        bad_lines = {
            "exponent price": line("3", AMOXI, "1e30", "1", "1000.00"),
            "huge price": line("3", AMOXI, "2000000000000.00", "1", "2000000000000.00"),
            "huge amount": line("3", AMOXI, "50.00", "99999999999999", "4999999999999950.00"),
            "three decimals": line("3", AMOXI, "12.345", "1", "12.345"),
            "amount != price x qty": line("3", AMOXI, "10.00", "2", "25.00"),
            "cnt text": line("3", AMOXI, "50.00", "abc", "50.00"),
            "price NaN": line("3", AMOXI, "NaN", "1", "50.00"),
            "cnt object": line("3", AMOXI, "50.00", {"v": 1}, "50.00"),
            "amount empty": line("3", AMOXI, "50.00", "1", ""),
            "feedetl_sn missing": {k: v for k, v in line("3", AMOXI, "50.00", "1", "50.00")
                                   .items() if k != "feedetl_sn"},
            "duplicate feedetl_sn": line("1", AMOXI, "50.00", "1", "50.00"),
        }
        for name, bad in bad_lines.items():
            with self.subTest(case=name):
                r = upload_stay(sb, P, mdtrt_id, [ok1, ok2, bad])
                self.assertRefused(r, name)
                self.assertEqual(sb.upload_rows(mdtrt_id=mdtrt_id), [], name)
        for name, inp in {"feedetail string": {"feedetail": "x"},
                          "feedetail object": {"feedetail": {"a": 1}},
                          "feedetail missing": {}}.items():
            with self.subTest(case=name):
                self.assertRefused(sb.call("2301", inp, ZHENGZHOU), name)
        self.assertLedgerUnchanged()
        # the same good lines go through afterwards
        self.assertOk(upload_stay(sb, P, mdtrt_id, [ok1, ok2]))
        self.assertEqual(len(sb.upload_rows(mdtrt_id=mdtrt_id)), 2)
        # a feedetl_sn already uploaded in an earlier batch is refused too
        self.assertRefused(upload_stay(sb, P, mdtrt_id, [line("2", LAB, "1.00", "1", "1.00")]),
                           "feedetl_sn reused across batches")
        self.assertEqual(len(sb.upload_rows(mdtrt_id=mdtrt_id)), 2)

    def test_first_bad_line_is_named(self):
        """Lines are read on the thread pool for a big upload, and checked against the ledger
        on the loop: whichever finds the first bad line, the refusal names that line."""
        sb = self.sb
        mdtrt_id = self.open_stay()
        self.ledger_before = sb.ledger()

        def feed(lines, other_visit_at=None):
            out = []
            for i, ln in enumerate(lines):
                ln = dict(ln, mdtrt_id=mdtrt_id, psn_no=P["psn_no"], med_type="21")
                if i == other_visit_at:
                    ln["mdtrt_id"] = "NO-SUCH-VISIT"
                out.append(ln)
            return {"feedetail": out}

        for n in (3, 60):  # a small message stays on the loop; 60 lines go to the pool
            good = [line(str(i + 1), BED, "100.00", "1", "100.00") for i in range(n)]
            unreadable = line(str(n + 1), AMOXI, "50.00", "abc", "50.00")
            with self.subTest(lines=n, first="unknown visit"):
                lines = good[:1] + [good[1], unreadable] + good[2:]
                r = sb.call("2301", feed(lines, other_visit_at=1), ZHENGZHOU)
                self.assertRefused(r)
                self.assertIn("feedetail[1]", r.err_msg)
                self.assertIn("NO-SUCH-VISIT", r.err_msg)
            with self.subTest(lines=n, first="unreadable cnt"):
                lines = good[:1] + [unreadable, good[1]] + good[2:]
                r = sb.call("2301", feed(lines, other_visit_at=2), ZHENGZHOU)
                self.assertRefused(r)
                self.assertIn("feedetail[1]", r.err_msg)
                self.assertIn("cnt", r.err_msg)
            with self.subTest(lines=n, first="last line unreadable"):
                r = sb.call("2301", feed(good + [unreadable]), ZHENGZHOU)
                self.assertRefused(r)
                self.assertIn("feedetail[%d]" % n, r.err_msg)
        self.assertLedgerUnchanged()

    def test_settlement_refusals(self):
        sb = self.sb
        empty = self.open_stay()
        sb.set_clock("2025-03-05 10:00:00")
        self.ledger_before = sb.ledger()
        self.assertRefused(settle_stay(sb, P, empty, "0.00"), "no fee lines")
        self.assertRefused(settle_stay(sb, P, empty, "10000.00"), "no fee lines, medfee")
        self.assertLedgerUnchanged()
        stay = self.open_stay()
        self.assertOk(upload_stay(sb, P, stay, worked_bill()))
        sb.set_clock("2025-03-05 10:00:00")
        self.assertOk(discharge(sb, P, stay, "2025-03-05 10:00:00"))
        self.ledger_before = sb.ledger()
        # the uploaded lines sum to 10,000.00
        for medfee in ("10000.01", "9999.99", "-10000.00", "abc", "", "1e4", "10000.001",
                       "100000000000000.00", "NaN"):
            with self.subTest(medfee=medfee):
                self.assertRefused(settle_stay(sb, P, stay, medfee), "medfee %r" % medfee)
        self.assertRefused(settle_stay(sb, P, "NO-SUCH-VISIT", "10000.00"), "unknown visit")
        self.assertRefused(settle_stay(sb, P2, stay, "10000.00"), "another person's visit")
        inp = settle_input(P, stay, "10000.00")
        del inp["data"]["mdtrt_id"]
        self.assertRefused(sb.call("2304", inp, ZHENGZHOU), "mdtrt_id missing")
        self.assertRefused(sb.call("2304", {"data": []}, ZHENGZHOU), "data array")
        self.assertRefused(sb.call("2305", {"data": {"mdtrt_id": stay, "setl_id": "NOPE",
                                                     "psn_no": P["psn_no"]}}, ZHENGZHOU),
                           "2305 unknown setl_id")
        self.assertRefused(sb.call("2601", {"data": {"psn_no": P["psn_no"], "omsgid": "short",
                                                     "oinfno": "2304"}}, ZHENGZHOU),
                           "2601 malformed omsgid")
        self.assertLedgerUnchanged()
        # and the right figure settles: 8,280.00 / 1,720.00
        self.assertSetl(settle_stay(sb, P, stay, "10000.00"), "10000.00", "8280.00",
                        "1720.00", "finally")

    def test_amounts_as_json_numbers(self):
        """The domain doc: parse numbers and strings alike. The same worked bill, every
        amount, price and quantity written as a bare JSON number."""
        sb, p = self.sb, P_NUM
        sb.set_clock("2025-03-01 09:00:00")
        mdtrt_id = mdtrt_id_2401(admit(sb, p, "2025-03-01 09:00:00"))
        feed = []
        for ln in worked_bill():
            ln.update({"mdtrt_id": mdtrt_id, "psn_no": p["psn_no"], "med_type": "21"})
            feed.append(ln)
        r = self.post_numeric(sb.envelope("2301", {"feedetail": feed}, ZHENGZHOU))
        self.assertOk(r, "2301 with numbers")
        sb.set_clock("2025-03-06 10:00:00")
        env = sb.envelope("2304", settle_input(p, mdtrt_id, "10000.00",
                                               dscg_time=sb.inf_time()), ZHENGZHOU)
        r = self.post_numeric(env)
        # (10,000.00 - 800.00) x 0.90 = 8,280.00; person 1,720.00
        self.assertSetl(r, "10000.00", "8280.00", "1720.00", "numbers")

    def post_numeric(self, env):
        text = json.dumps(env, ensure_ascii=False)
        text, n = re.subn(r'"(%s)": "(-?[0-9]+(?:\.[0-9]+)?)"' % "|".join(AMOUNT_KEYS),
                          r'"\1": \2', text)
        self.assertGreater(n, 0, "no amount to write as a number")
        status, raw = self.sb.request("POST", SERVICE_PATH, text.encode("utf-8"))
        return harness.Response(status, raw, env["msgid"])

    def test_admin_bad_input(self):
        for path, body in (("faults", {"mode": "explode", "count": 1}),
                           ("faults", b"{"),
                           ("clock", {"now": "yesterday"}),
                           ("filings", {"psn_no": "NOBODY", "action": "add",
                                        "kind": "long_term", "valid_from": "2025-01-01",
                                        "valid_to": None}),
                           ("filings", {"psn_no": P["psn_no"], "action": "add",
                                        "kind": "forever", "valid_from": "2025-01-01",
                                        "valid_to": None}),
                           ("offline", {"seconds": "soon"})):
            with self.subTest(path=path, body=body):
                r = self.sb.post("/sandbox/" + path, body)
                self.assertIn(r.status, (400, 404, 422), r)
        self.assertLedgerUnchanged()


def non_loopback_address():
    """This machine's address on its default route, or None (then the test is skipped)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
            addr = s.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith("127.") else addr


class AdminLoopbackOnly(unittest.TestCase):
    """sandbox.md: the admin endpoints answer loopback clients only, even when the sandbox
    listens on every address; the national service itself answers the LAN."""

    def test_admin_refused_from_the_lan(self):
        addr = non_loopback_address()
        if not addr:
            self.skipTest("no non-loopback address on this machine")
        sb = harness.Sandbox(harness.base_scenario([P]), host="0.0.0.0").start()
        try:
            status, _ = sb.request("GET", "/sandbox/ledger", None, addr=addr)
            self.assertEqual(status, 403)
            status, _ = sb.request("POST", "/sandbox/clock", {"now": None}, addr=addr)
            self.assertEqual(status, 403)
            status, _ = sb.request("GET", "/sandbox/ledger", None)
            self.assertEqual(status, 200)
            env = sb.envelope("9001", {"signIn": {"opter_no": "1", "mac": "", "ip": addr}})
            status, raw = sb.request("POST", SERVICE_PATH, env, addr=addr)
            self.assertEqual(status, 200)
            self.assertTrue(harness.is_ok(harness.loads(raw.decode())), raw)
        finally:
            sb.cleanup()


P_FLAGS = person("41010000000000000000000711", "赵取值", ZHENGZHOU, LT, seq="111")


class ValueSets(harness.SandboxCase):
    """sandbox.md's value sets: otp_er_refl_flag 0/1/2, etip_flag 0/1, er_flag 0..3 inside a
    fee line's exp_content (a JSON object in a string)."""
    persons = [P_FLAGS]

    def register(self, er):
        return self.sb.call("2201", {"data": {
            "psn_no": P_FLAGS["psn_no"], "insutype": "310", "begntime": "2025-03-01 09:00:00",
            "mdtrt_cert_type": "02", "mdtrt_cert_no": P_FLAGS["certno"],
            "ipt_otp_no": "MZ" + harness.MSGIDS.next()[-10:], "med_type": "11",
            "otp_er_refl_flag": er}}, ZHENGZHOU)

    def upload(self, mdtrt_id, **fields):
        ln = line("x" + harness.MSGIDS.next()[-6:], LAB, "25.00", "1", "25.00",
                  "2025-03-01 09:30:00")
        ln.update(fields, mdtrt_id=mdtrt_id, psn_no=P_FLAGS["psn_no"])
        return self.sb.call("2204", {"feedetail": [ln]}, ZHENGZHOU)

    def test_values_outside_the_sets_are_refused(self):
        self.sb.set_clock("2025-03-01 09:00:00")
        self.assertRefused(self.register("Y"))
        r = self.register("2")
        self.assertOk(r)
        mid = r.output["data"]["mdtrt_id"]
        for fields in ({"etip_flag": "Y"}, {"etip_flag": "2"},
                       {"exp_content": json.dumps({"er_flag": "9"})},
                       {"exp_content": "{not json"}):
            with self.subTest(fields=fields):
                self.assertRefused(self.upload(mid, **fields))
        for fields in ({"etip_flag": "0"}, {"exp_content": json.dumps({"er_flag": "3"})},
                       {"exp_content": json.dumps({"er_flag": 1})}, {"exp_content": ""}):
            with self.subTest(fields=fields):
                self.assertOk(self.upload(mid, **fields))


if __name__ == "__main__":
    harness.main()
