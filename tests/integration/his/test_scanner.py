"""A networked QR scanner bound to a desk ([desks] scanners = D01=tcp:HOST:PORT): posad
connects to it, each scanned line becomes a qr_scanned event on the desk's stream, and
identify {source:"auto"} takes the fresh scan (decoded to an ecToken, then 1101) before
waiting for a card. A line that is no code is an event with valid:false, and nothing else."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHAO = "32020000000000000000000106"


class Scanner(h.HisTestCase):
    @classmethod
    def setUpClass(cls):
        cls.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cls.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        cls.listener.bind(("127.0.0.1", 0))
        cls.listener.listen(1)
        cls.posad_conf = ("[desks]\nscanners = D01=tcp:127.0.0.1:%d;"
                          "D02=serial:/dev/posa-no-such-scanner\n" % cls.listener.getsockname()[1])
        super().setUpClass()
        cls.listener.settimeout(10)
        cls.scanner, _ = cls.listener.accept()  # posad dials the scanner

    @classmethod
    def tearDownClass(cls):
        cls.scanner.close()
        cls.listener.close()

    def fresh_code(self, psn):
        status, raw = self.w.sandbox_request("POST", "/sandbox/qr", {"psn_no": psn})
        self.assertEqual(status, 200, raw)
        return json.loads(raw)["qrcode"]

    def test_scan_then_identify_auto(self):
        sse = h.SseStream(self.tcp, "/v1/events?desk=D01")
        try:
            sse.wait_comment("subscribed", 5)
            code = self.fresh_code(ZHAO)
            self.scanner.sendall((code + "\r\n").encode())
            name, data = sse.events_until("qr_scanned", 5)[-1][:2]
            self.assertEqual(name, "qr_scanned")
            self.assertEqual(json.loads(data) if isinstance(data, str) else data,
                             {"desk": "D01", "valid": True, "qr": code})
            r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
            self.assertEqual(r.status, 200, r)
            self.assertEqual((r.json["person"]["psn_no"], r.json["cert"]["type"]), (ZHAO, "01"))
            # The scan is used once: auto now waits for a card, and none comes.
            r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 200})
            self.assertError(r, 409, "CARD_NOT_PRESENT")
            self.assertIn("no e-voucher scanned at the desk", r.json["error"]["message"], r)
            # Garbage from the scanner: an event, and auto says the scan could not be read
            # (once: then there is nothing to identify with).
            self.scanner.sendall(b"\x01\x02binary\r\n")
            name, data = sse.events_until("qr_scanned", 5)[-1][:2]
            self.assertEqual(json.loads(data) if isinstance(data, str) else data,
                             {"desk": "D01", "valid": False, "error": "QR_INVALID"})
            r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
            self.assertError(r, 422, "QR_INVALID")
            r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
            self.assertError(r, 409, "CARD_NOT_PRESENT")
        finally:
            sse.close()

    def scan(self, line, sse):
        self.scanner.sendall(line + b"\r\n")
        return sse.events_until("qr_scanned", 5)[-1][1]

    def test_a_bad_scan_is_newer_than_the_last_patients_code(self):
        # Patient 1's e-voucher scanned, patient 1 identified by ID number instead; patient
        # 2's scan arrives garbled: auto identified patient 1 (the older, valid scan).
        sse = h.SseStream(self.tcp, "/v1/events?desk=D01")
        try:
            sse.wait_comment("subscribed", 5)
            self.scan(self.fresh_code(ZHAO).encode(), sse)
            self.assertEqual(self.scan(b"\xd5\xc5\xbd\xa8", sse)["valid"], False)
            r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
            self.assertError(r, 422, "QR_INVALID")
            self.assertIn("could not be read", r.json["error"]["message"], r)
            r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
            self.assertError(r, 409, "CARD_NOT_PRESENT")
        finally:
            sse.close()

    def test_a_misread_between_two_scans_of_one_code(self):
        # The scanner reads the code, misreads, reads it again: the second read was dropped
        # as a repeat of the first (the misread between forgotten), auto said "show it again",
        # and showing it again within the window was dropped too.
        sse = h.SseStream(self.tcp, "/v1/events?desk=D01")
        try:
            sse.wait_comment("subscribed", 5)
            code = self.fresh_code(ZHAO).encode()
            self.assertEqual(self.scan(code, sse)["valid"], True)
            self.assertEqual(self.scan(b"\xd5\xc5\xbd\xa8", sse)["valid"], False)
            self.assertEqual(self.scan(code, sse)["valid"], True)
            r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
            self.assertEqual((r.status, r.json.get("person", {}).get("psn_no")), (200, ZHAO), r)
        finally:
            sse.close()

    def test_a_code_given_back_keeps_its_scan_time(self):
        # A code given back (the platform away) was made fresh for another minute: through
        # an outage it stayed at the desk past its minute and was the next patient's.
        code = self.fresh_code(ZHAO)
        self.scanner.sendall((code + "\r\n").encode())
        scanned = time.monotonic()
        time.sleep(0.5)
        for pause in (0, 40):  # given back at once, and again 40 s after the scan
            time.sleep(pause)
            status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
                "infno": "ec.query", "mode": "reset", "count": 1})
            self.assertEqual(status, 200, raw)
            r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
            self.assertError(r, 503, "UPSTREAM_OFFLINE")
        time.sleep(max(0, scanned + 61 - time.monotonic()))  # the scan's minute is over
        r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
        self.assertError(r, 409, "CARD_NOT_PRESENT")

    def auto_waiting_for(self, line):
        """identify auto at D01 waiting 20 s, line scanned 0.3 s in: (answer, seconds)."""
        answer = []
        t = threading.Thread(target=lambda: answer.append(self.unix.post(
            "/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 20000})))
        started = time.monotonic()
        t.start()
        time.sleep(0.3)
        self.scanner.sendall(line + b"\r\n")
        t.join(15)
        self.assertTrue(answer, "no answer")
        return answer[0], time.monotonic() - started

    def test_a_bad_scan_ends_an_auto_wait(self):
        # It waited out wait_ms and then said "no e-voucher scanned at the desk".
        r, took = self.auto_waiting_for(b"not an e-voucher\x01")
        self.assertError(r, 422, "QR_INVALID")
        self.assertLess(took, 5)

    def test_noise_then_a_code_in_one_burst_identifies(self):
        # A scanner's noise and then the code, in one write: the code is the newest scan, and
        # the wait takes it (it ended at the noise with QR_INVALID, the code left at the desk
        # for the next auto; found by review).
        code = self.fresh_code(ZHAO)
        r, took = self.auto_waiting_for(b"\x00\x00\r" + code.encode())
        self.assertEqual((r.status, (r.json.get("person") or {}).get("psn_no")), (200, ZHAO), r)
        r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 200})
        self.assertError(r, 409, "CARD_NOT_PRESENT")  # used: nothing left at the desk

    def test_a_bad_scan_just_before_the_wait_ends_is_said(self):
        # Within its 150 ms grace when the wait ran out: it said "no e-voucher scanned", and
        # the next patient's auto heard QR_INVALID for it (found by review).
        answer = []
        t = threading.Thread(target=lambda: answer.append(self.unix.post(
            "/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 2000})))
        t.start()
        time.sleep(1.9)  # 100 ms before the wait ends, inside the grace it would end in
        self.scanner.sendall(b"not an e-voucher\x01\r\n")
        t.join(15)
        self.assertTrue(answer, "no answer")
        self.assertError(answer[0], 422, "QR_INVALID")
        r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
        self.assertError(r, 409, "CARD_NOT_PRESENT")

    def test_auto_at_a_desk_whose_scanner_is_gone_says_so_at_once(self):
        # D02's only input is a scanner that is not there: it waited out wait_ms, then said
        # "no card in the desk's reader" (D02 has none).
        started = time.monotonic()
        r = self.unix.post("/v1/identify", {"desk": "D02", "source": "auto", "wait_ms": 5000})
        self.assertError(r, 409, "CARD_NOT_PRESENT")
        self.assertIn("the desk's scanner is not there", r.json["error"]["message"], r)
        self.assertLess(time.monotonic() - started, 2)

    def test_line_noise_is_logged_at_most_once_a_second(self):
        # A scanner (or device server) with line noise: a warn line per bad scan filled the
        # disk (200,000 lines from 400 KB).
        def lines():
            return self.w.log_tail(n=2000000).count("event=qr_scanned desk=D01 valid=false")

        before = lines()
        self.scanner.sendall(b"\x01\n" * 2000)
        time.sleep(1.5)
        self.scanner.sendall(b"\x02\n")  # a second later: logged, with the count since
        h.wait_until(lambda: lines() >= before + 2, 5, "the noise logged")
        time.sleep(0.5)
        self.assertLessEqual(lines() - before, 3)
        self.assertRegex(self.w.log_tail(n=2000000), r"valid=false invalid=\d{2,}")
        # Said once, so the next test's auto does not meet it.
        self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})

    def test_a_scan_used_by_qr_is_not_used_again_by_auto(self):
        # The HIS does what qr_scanned invites, identify {source:"qr", qr}: that uses the
        # scan, so a later auto at the desk waits for the next patient's card instead of
        # identifying the one before again (it did, within 60 s of the scan).
        # Also when the HIS names no desk, or another: a code is one patient's wherever it
        # was scanned (it stayed at D01, and D01's next auto identified 赵敏 again).
        sse = h.SseStream(self.tcp, "/v1/events?desk=D01")
        try:
            sse.wait_comment("subscribed", 5)
            for desk in ({"desk": "D01"}, {}, {"desk": "D02"}):
                with self.subTest(desk=desk):
                    code = self.fresh_code(ZHAO)
                    self.scanner.sendall((code + "\r\n").encode())
                    sse.events_until("qr_scanned", 5)
                    r = self.unix.post("/v1/identify", dict(desk, source="qr", qr=code))
                    self.assertEqual((r.status, r.json["person"]["psn_no"]), (200, ZHAO), r)
                    r = self.unix.post("/v1/identify",
                                       {"desk": "D01", "source": "auto", "wait_ms": 200})
                    self.assertError(r, 409, "CARD_NOT_PRESENT")
        finally:
            sse.close()

    def test_a_code_scanned_again_while_it_identifies_is_not_the_next_patients(self):
        # The patient shows the phone again while the platform is slow (past the 2 s repeat
        # filter): that scan came after the identify began, so it stayed at the desk, and the
        # next patient's auto identified this patient again.
        code = self.fresh_code(ZHAO)
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "1101", "mode": "delay", "delay_ms": 2600, "count": 1})
        self.assertEqual(status, 200, raw)
        self.scanner.sendall((code + "\r\n").encode())
        result = {}
        t = threading.Thread(target=lambda: result.update(r=self.unix.post(
            "/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 5000})))
        t.start()
        time.sleep(2.2)
        self.scanner.sendall((code + "\r\n").encode())
        t.join(15)
        self.assertEqual((result["r"].status, result["r"].json["person"]["psn_no"]), (200, ZHAO),
                         result["r"])
        r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 200})
        self.assertError(r, 409, "CARD_NOT_PRESENT")

    def test_an_identify_its_his_gave_up_on_takes_no_scan(self):
        # The HIS's HTTP timeout (1 s) is shorter than wait_ms (30 s): it gives up and asks
        # again. The abandoned request kept waiting, took the patient's scan and sent it to
        # the platform for nobody; the retry said no e-voucher was scanned.
        with self.assertRaises(OSError):
            self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 30000},
                           timeout=1.0)
        time.sleep(0.3)  # posad sees the connection close
        self.scanner.sendall((self.fresh_code(ZHAO) + "\r\n").encode())
        time.sleep(0.5)
        r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
        self.assertEqual((r.status, r.json.get("person", {}).get("psn_no")), (200, ZHAO), r)

    def test_a_scanner_that_cannot_open_says_why(self):
        # /v1/readers said "error" and nothing more, and the log nothing at all.
        rows = {r["desk"]: r for r in self.unix.get("/v1/readers").json["readers"]}
        self.assertEqual((rows["D01"]["state"], rows["D02"]["state"]), ("present", "error"), rows)
        self.assertEqual(rows["D02"]["error"], "no such file or directory", rows)
        self.assertNotIn("error", rows["D01"], rows)
        self.assertIn("event=scanner_unavailable desk=D02", self.w.log_tail(n=200000))

    def test_a_scanner_lost_and_back_is_logged(self):
        # A scanner lost after start was logged by nobody; /v1/readers alone said so.
        def count(what):
            return self.w.log_tail(n=200000).count("event=%s desk=D01" % what)

        ready = count("scanner_ready")
        self.assertGreaterEqual(ready, 1)
        lost = count("scanner_unavailable")
        self.scanner.close()
        h.wait_until(lambda: count("scanner_unavailable") == lost + 1, 10, "scanner_unavailable logged")
        row = {r["desk"]: r for r in self.unix.get("/v1/readers").json["readers"]}["D01"]
        self.assertEqual((row["state"], row["error"]), ("error", "end of file"), row)
        type(self).scanner, _ = self.listener.accept()  # posad dials again
        h.wait_until(lambda: count("scanner_ready") == ready + 1, 10, "scanner_ready logged")
        time.sleep(1.5)  # a retry or two later: nothing more is logged
        self.assertEqual((count("scanner_ready"), count("scanner_unavailable")), (ready + 1, lost + 1))

    def test_auto_waiting_takes_a_scan(self):
        # auto with wait_ms: the patient shows the e-voucher while the desk waits (no card
        # comes): the scan ends the wait, at once (it waited out wait_ms and said
        # CARD_NOT_PRESENT before).
        r, took = self.auto_waiting_for(self.fresh_code(ZHAO).encode())
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["person"]["psn_no"], r.json["cert"]["type"]), (ZHAO, "01"))
        self.assertLess(took, 10)

    def test_connection_has_keepalive(self):
        # posad never writes to a scanner: keepalive probes are how it notices a scanner gone
        # without a word (power lost, cable pulled), and reconnects.
        port = self.listener.getsockname()[1]
        out = subprocess.run(["ss", "-tnoH", "state", "established", "dport", "= :%d" % port],
                             capture_output=True, text=True).stdout
        self.assertIn("keepalive", out, out)

    def test_code_given_back_when_the_platform_is_away(self):
        # auto takes the desk's scan (or identify qr names it), and the platform cannot be
        # reached (two seconds away): the code goes back to the desk, so the cashier's retry
        # uses it without a second scan (auto's was used up, and the retry waited for a card;
        # qr's was used up even when nothing was identified).
        for first in ({"source": "auto", "wait_ms": 0}, {"source": "qr"}):
            with self.subTest(first=first["source"]):
                code = self.fresh_code(ZHAO)
                self.scanner.sendall((code + "\r\n").encode())
                time.sleep(0.5)
                status, raw = self.w.sandbox_request("POST", "/sandbox/offline", {"seconds": 2})
                self.assertEqual(status, 200, raw)
                body = dict(first, desk="D01", **({"qr": code} if first["source"] == "qr" else {}))
                self.assertError(self.unix.post("/v1/identify", body), 503, "UPSTREAM_OFFLINE")
                deadline = time.monotonic() + 20
                while True:
                    r = self.unix.post("/v1/identify",
                                       {"desk": "D01", "source": "auto", "wait_ms": 0})
                    if r.status != 503 or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                self.assertEqual((r.status, r.json.get("person", {}).get("psn_no"),
                                  r.json.get("cert", {}).get("type")), (200, ZHAO, "01"), r)

    def test_a_patient_identified_otherwise_takes_their_scan_along(self):
        # The code given back (the platform away), or a scan that could not be read, then
        # the patient identified by ID number at the desk: the next patient's auto found the
        # code and identified 赵敏 again (or said QR_INVALID for the last patient's scan).
        by_id = {"desk": "D01", "source": "id", "certno": h.PERSONS[ZHAO]}
        code = self.fresh_code(ZHAO)
        self.scanner.sendall((code + "\r\n").encode())
        time.sleep(0.5)
        status, raw = self.w.sandbox_request("POST", "/sandbox/offline", {"seconds": 2})
        self.assertEqual(status, 200, raw)
        r = self.unix.post("/v1/identify", {"desk": "D01", "source": "qr", "qr": code})
        self.assertError(r, 503, "UPSTREAM_OFFLINE")
        h.wait_until(lambda: self.unix.post("/v1/identify", by_id).status == 200, 20,
                     "identified by ID number once the platform is back", step=0.2)
        r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
        self.assertError(r, 409, "CARD_NOT_PRESENT")
        self.scanner.sendall(b"\x01garbled\r\n")
        time.sleep(0.5)
        self.assertEqual(self.unix.post("/v1/identify", by_id).status, 200)
        r = self.unix.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
        self.assertError(r, 409, "CARD_NOT_PRESENT")

    def test_readers_lists_the_scanner(self):
        deadline = time.time() + 5
        while True:
            readers = self.tcp.get("/v1/readers").json["readers"]
            qr = [x for x in readers if x["kind"] == "qr"]
            if qr and qr[0]["state"] == "present" or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual([(x["desk"], x["state"]) for x in qr],
                         [("D01", "present"), ("D02", "error")], readers)


if __name__ == "__main__":
    h.main()
