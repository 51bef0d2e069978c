"""GET /v1/events (his-api.md): server-sent events per desk over real HTTP, chunked, on TCP
and the Unix socket. The platform going away and coming back (upstream_offline /
upstream_online), subscribers that leave, many at once. With the argument `card` (a separate
ctest), the card events of a real pcscd with the virtual reader (vpcd) and the virtual
social-security card, in private mount + network namespaces as the demo runs them; that one
needs root and unshare and exits 77 (skipped) without them.

Usage: test_events.py POSAD POSA_SANDBOX SOURCE_DIR [card]"""
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"
ZHAO = "32020000000000000000000106"


def subscribe(client, desk, timeout=5.0):
    s = h.SseStream(client, "/v1/events" + ("?desk=" + desk if desk is not None else ""),
                    timeout=timeout)
    try:
        if s.status != 200:
            raise AssertionError("subscribe %s: HTTP %s %r" % (desk, s.status, s.body))
        s.wait_comment("subscribed", timeout)
    except BaseException:
        s.close()
        raise
    return s


class Events(h.HisTestCase):
    # Offline at the first failure, probed every 200 ms: the test sees both edges quickly.
    posad_conf = ("offline_after = 2\nprobe_interval_ms = 200\n"
                  "[his]\nevents_heartbeat_ms = 300\n")

    def setUp(self):
        self.streams = []
        # A test that failed a message leaves it degraded for a probe interval (200 ms):
        # its upstream_online must not reach the next test's streams.
        h.wait_until(self.w._online, 5, "posad upstream online")

    def tearDown(self):
        for s in self.streams:
            s.close()
        super().tearDown()

    def sub(self, client, desk):
        s = subscribe(client, desk)
        self.streams.append(s)
        return s

    def go_offline_and_back(self, seconds=2):
        """The sandbox refuses connections for `seconds`; a request through posad notices."""
        status, raw = self.w.sandbox_request("POST", "/sandbox/offline", {"seconds": seconds})
        self.assertEqual(status, 200, raw)
        r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]})
        self.assertError(r, 503, "UPSTREAM_OFFLINE")

    def assertOfflineThenOnline(self, s, timeout=12):
        # One failure makes it degraded, the second (offline_after) offline: an event each.
        seen = s.events_until("upstream_offline", 5)
        self.assertEqual([(e[0], e[1].get("state")) for e in seen],
                         [("upstream_degraded", "degraded"), ("upstream_offline", "offline")],
                         seen)
        seen = s.events_until("upstream_online", timeout)
        self.assertEqual([e[0] for e in seen], ["upstream_online"], seen)
        self.assertEqual(seen[-1][1].get("state"), "online", seen)

    def test_stream_shape(self):
        for client in (self.tcp, self.unix):
            with self.subTest(transport=client.transport):
                s = self.sub(client, "D01")
                self.assertTrue(s.headers.get("content-type", "").startswith(
                    "text/event-stream"), s.headers)
                self.assertEqual(s.headers.get("transfer-encoding"), "chunked", s.headers)
                self.assertNotIn("content-length", s.headers)
                # Nothing happens: no event, the stream stays open.
                with self.assertRaises(AssertionError):
                    s.next_event(0.3)
                self.assertFalse(s.ended)

    def test_no_nul_in_stream(self):
        # An SSE stream is UTF-8 text: a stray NUL turns the next line's "event:" into an
        # unknown field, and that event reaches an EventSource nameless.
        s = self.sub(self.tcp, "D01")
        try:
            s.next_event(0.3)
        except AssertionError:
            pass
        self.assertNotIn(b"\x00", s.text + s.raw)

    def test_bad_desk_parameter(self):
        # Too long, or no desk id: "D01,*" was taken as a desk of that name, heard nothing.
        for desk in ("D" * 40, "D01,*", "D%2001", "D01:x", "**", "%G1", "D%00", "D%4", "%E3%80%80",
                     "D01&desk=D02"):
            with self.subTest(desk=desk):
                s = h.SseStream(self.tcp, "/v1/events?desk=" + desk, timeout=5)
                try:
                    self.assertEqual(s.status, 400, s.body)
                    self.assertIn(b'"BAD_REQUEST"', s.body)
                    self.assertIn(b'"field":"desk"', s.body)  # named, as every bad field
                finally:
                    s.close()

    def test_desk_percent_encoded(self):
        # How HTTP clients send a Chinese desk id, or '*' (Python's quote, .NET's
        # EscapeDataString): it was taken raw, and refused as no desk id.
        for query, desk in (("%E9%97%A8%E8%AF%8A1", "门诊1"), ("%2A", "*"), ("D%2D01", "D-01")):
            with self.subTest(query=query):
                s = self.sub(self.tcp, query)
                s.wait_comment("desk " + desk, 5)

    def test_offline_and_back(self):
        tcp = self.sub(self.tcp, "D01")
        unix = self.sub(self.unix, "D01")
        other = self.sub(self.unix, "D02")
        every = self.sub(self.tcp, None)  # no desk: every desk's events
        self.go_offline_and_back()
        for s in (tcp, unix, other, every):  # the platform is every desk's
            self.assertOfflineThenOnline(s)
        r = self.tcp.get("/v1/health")
        self.assertEqual(r.json["upstream"]["state"], "online", r)
        self.identify(self.tcp, ZHANG)

    def test_a_platform_that_connects_but_does_not_answer_goes_offline(self):
        # Its connect-only checks succeed between the messages that time out: those must
        # not bring it back online (it flapped degraded/online, and every cashier waited
        # the whole timeout, 5 s here, for ever). offline_after = 2.
        s = self.sub(self.unix, "D01")
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "1101", "mode": "delay", "delay_ms": 6500, "count": 2})
        self.assertEqual(status, 200, raw)
        body = {"source": "id", "certno": h.PERSONS[ZHANG]}
        r = self.tcp.post("/v1/identify", body)
        self.assertGreaterEqual(r.status, 500, r)
        time.sleep(1)  # probes every 200 ms: its checks connect
        self.assertEqual(self.tcp.get("/v1/health").json["upstream"]["state"], "degraded")
        r = self.tcp.post("/v1/identify", body)
        self.assertGreaterEqual(r.status, 500, r)
        seen = s.events_until("upstream_offline", 5)
        self.assertEqual([e[0] for e in seen], ["upstream_degraded", "upstream_offline"], seen)
        # The sign-in answers at once: back online, and identify answers.
        seen = s.events_until("upstream_online", 10)
        self.assertEqual([e[0] for e in seen], ["upstream_online"], seen)
        self.identify(self.tcp, ZHANG)

    def test_heartbeat_lets_go_of_subscribers_gone_unread(self):
        # A comment every events_heartbeat_ms (300 here). A subscriber that sent more than a
        # stream reads and then went away leaves no close to be read: the next heartbeat's
        # write finds it gone, and posad lets its connection go.
        s = self.sub(self.tcp, "D01")
        s.wait_comment("heartbeat", 5)

        def fds():
            return len(os.listdir("/proc/%d/fd" % self.w.posad.pid))

        base = fds()
        for _ in range(10):
            gone = subscribe(self.unix, "D01")
            gone.sock.setblocking(False)
            try:
                gone.sock.send(b"x" * 200000)
            except BlockingIOError:
                pass
            gone.close()
        h.wait_until(lambda: fds() <= base, 5, "the subscribers gone let go", step=0.1)
        self.assertTrue(self.w.posad_alive())

    def test_subscribers_that_leave(self):
        # Some leave at once, one half-closes, one leaves mid-stream (after the first event):
        # posad drops them and serves the others.
        stay = self.sub(self.tcp, "D01")
        for _ in range(5):
            subscribe(self.tcp, "D01").close()
        half = self.sub(self.unix, "D01")
        half.sock.shutdown(1)  # SHUT_WR: the peer says it has nothing more to send
        mid = self.sub(self.unix, "D01")
        self.go_offline_and_back()
        mid.events_until("upstream_offline", 5)
        mid.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            b"\x01\x00\x00\x00\x00\x00\x00\x00")  # close with RST
        mid.close()
        self.assertOfflineThenOnline(stay)
        self.assertTrue(self.w.posad_alive())
        # posad still subscribes and answers.
        again = self.sub(self.tcp, "D01")
        self.assertIsNotNone(again)
        self.assertEqual(self.tcp.get("/v1/health").status, 200)

    def test_settlement_resolved(self):
        # A stay identified at desk D01; its settlement's answer is lost (the platform commits
        # 2304 and drops the connection): 202 unknown, then the resolver finds it settled and
        # desk D01 (only) hears settlement_resolved.
        r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG],
                                           "desk": "D01"})
        self.assertEqual(r.status, 200, r)
        v = self.tcp.post("/v1/visits", h.visit_body(r.json["identity_token"]))
        self.assertEqual(v.status, 201, v)
        vid = v.json["visit_id"]
        self.upload(self.tcp, vid, h.stay_lines("E")[:2])  # 4,500.00 + 900.00
        d01, d02 = self.sub(self.unix, "D01"), self.sub(self.tcp, "D02")
        # ?desk=* is every desk's stream, as its first frame says (it heard no desk's events:
        # "*" was taken as a desk of that name).
        every = self.sub(self.tcp, "*")
        every.wait_comment("desk *", 5)
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults",
                                             {"infno": "2304", "mode": "drop_after_commit",
                                              "count": 1})
        self.assertEqual(status, 200, raw)
        r = self.tcp.post("/v1/visits/%s/settle" % vid,
                          {"discharge": {"time": "2026-11-25 09:30:00"}})
        self.assertEqual((r.status, r.json.get("state")), (202, "unknown"), r)
        sid = r.json["settlement_id"]
        seen = d01.events_until("settlement_resolved", 15)
        data = seen[-1][1]
        self.assertEqual((data["settlement_id"], data["visit_id"], data["state"]),
                         (sid, vid, "settled"), data)
        self.assertTrue(data.get("setl_id"), data)
        self.assertEqual(every.events_until("settlement_resolved", 5)[-1][1], data)
        # D02 hears the platform's state (every desk's) but not D01's settlement.
        names = []
        try:
            while True:
                names.append(d02.next_event(0.5)[0])
        except AssertionError:
            pass
        self.assertNotIn("settlement_resolved", names)
        g = self.tcp.get("/v1/settlements/%s" % sid)
        self.assertEqual(g.json["state"], "settled", g)
        # (5,400.00 - 800.00) x 0.90 = 4,140.00
        self.assertEqual(g.json["amounts"]["fund_pay_sumamt"], "4140.00", g)
        self.assertEqual([e["state"] for e in g.json["history"]],
                         ["pending", "unknown", "settled"], g)

    def test_settlement_resolved_when_a_get_came_first(self):
        # The HIS (or posactl settlement) polls GET /v1/settlements/{id} while the resolver
        # finds the outcome: the GET's refresh found it first, and the desk never heard
        # settlement_resolved (1 to 3 of 6 in the review). Whoever finds it, it is told once.
        d01 = self.sub(self.unix, "D01")
        sids = []
        for i in range(8):
            r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG],
                                               "desk": "D01"})
            v = self.tcp.post("/v1/visits", h.visit_body(r.json["identity_token"],
                                                         kind="outpatient"))
            self.assertEqual(v.status, 201, v)
            vid = v.json["visit_id"]
            self.upload(self.tcp, vid, [h.line("G%d" % i, "002501010150000", "血细胞分析(血常规)",
                                               "1", "20.00", "20.00")])
            status, raw = self.w.sandbox_request("POST", "/sandbox/faults",
                                                 {"infno": "2207", "mode": "drop_after_commit",
                                                  "count": 1})
            self.assertEqual(status, 200, raw)
            r = self.tcp.post("/v1/visits/%s/settle" % vid, {})
            self.assertEqual((r.status, r.json.get("state")), (202, "unknown"), r)
            sid = r.json["settlement_id"]
            h.wait_until(lambda: self.tcp.get("/v1/settlements/" + sid).json["state"] ==
                         "settled", 15, "settled", step=0)
            sids.append(sid)
        told = []
        while len(told) < len(sids):
            name, data = d01.next_event(10)
            if name == "settlement_resolved":
                told.append(data["settlement_id"])
        self.assertEqual(sorted(told), sorted(sids))
        later = []  # and once each
        try:
            while True:
                later.append(d01.next_event(0.5)[0])
        except AssertionError:
            pass
        self.assertNotIn("settlement_resolved", later)

    def stay_at_d01(self, prefix):
        """A stay identified at desk D01, with one fee line: its visit_id."""
        r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG],
                                           "desk": "D01"})
        v = self.tcp.post("/v1/visits", h.visit_body(r.json["identity_token"]))
        self.assertEqual(v.status, 201, v)
        self.upload(self.tcp, v.json["visit_id"], h.stay_lines(prefix)[:1])
        return v.json["visit_id"]

    def test_settlement_reversed(self):
        # A settlement's request fails with nothing done (a 500): unknown, asked about (not
        # found), reversed; once the platform takes the reversal, desk D01 hears
        # settlement_resolved "reversed" (it heard nothing before).
        vid = self.stay_at_d01("R")
        d01 = self.sub(self.unix, "D01")
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults",
                                             {"infno": "2304", "mode": "http_500", "count": 1})
        self.assertEqual(status, 200, raw)
        r = self.tcp.post("/v1/visits/%s/settle" % vid,
                          {"discharge": {"time": "2026-11-25 09:30:00"}})
        self.assertEqual((r.status, r.json.get("state")), (202, "unknown"), r)
        data = d01.events_until("settlement_resolved", 15)[-1][1]
        self.assertEqual((data["settlement_id"], data["state"]),
                         (r.json["settlement_id"], "reversed"), data)
        r = self.tcp.post("/v1/visits/%s/settle" % vid,
                          {"discharge": {"time": "2026-11-25 09:30:00"}})
        self.assertEqual((r.status, r.json.get("state")), (200, "settled"), r)

    def test_cancel_resolved(self):
        # A stay's cancel (2305) lands and its answer is lost: the HIS hears 504, the resolver
        # reverses the cancel (2601), and desk D01 hears settlement_resolved with the
        # settlement standing (before, a cancel's resolution said nothing).
        vid = self.stay_at_d01("C")
        r = self.tcp.post("/v1/visits/%s/settle" % vid,
                          {"discharge": {"time": "2026-11-25 09:30:00"}})
        self.assertEqual((r.status, r.json.get("state")), (200, "settled"), r)
        sid = r.json["settlement_id"]
        d01 = self.sub(self.unix, "D01")
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults",
                                             {"infno": "2305", "mode": "drop_after_commit",
                                              "count": 1})
        self.assertEqual(status, 200, raw)
        c = self.tcp.post("/v1/settlements/%s/cancel" % sid, {})
        self.assertEqual((c.status, c.json["error"]["code"]), (504, "OUTCOME_UNKNOWN"), c)
        data = d01.events_until("settlement_resolved", 15)[-1][1]
        self.assertEqual((data["settlement_id"], data["visit_id"], data["state"]),
                         (sid, vid, "settled"), data)
        self.assertEqual(self.tcp.get("/v1/settlements/%s" % sid).json["state"], "settled")
        c = self.tcp.post("/v1/settlements/%s/cancel" % sid, {})
        self.assertEqual((c.status, c.json.get("state")), (200, "cancelled"), c)

    def test_many_subscribers(self):
        n = 60
        subs = []
        for i in range(n):
            subs.append(self.sub(self.unix if i % 2 else self.tcp, "D%02d" % (i % 7)))
        self.go_offline_and_back()
        for s in subs:
            self.assertOfflineThenOnline(s)
        r = self.tcp.get("/v1/health")
        self.assertEqual(r.status, 200, r)


# --- card events (pcscd + vpcd + the virtual card, in namespaces) ------------------------------

CARD_PORT = 35963  # vpcd's first slot: reader "Virtual PCD 00 00"


class CardEvents(h.HisTestCase):
    posad_conf = ("[desks]\nreaders = D01=Virtual PCD 00 00*;D02=Virtual PCD 00 01*;"
                  "D03=Unplugged Reader*\n")
    card = None

    @classmethod
    def setUpClass(cls):
        if os.environ.get("POSA_CARD_NS") != "1":
            raise unittest.SkipTest("card events run as `test_events.py ... card`")
        # D01 has a networked scanner too, which posad dials.
        cls.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cls.listener.bind(("127.0.0.1", 0))
        cls.listener.listen(1)
        cls.posad_conf += "scanners = D01=tcp:127.0.0.1:%d\n" % cls.listener.getsockname()[1]
        super().setUpClass()
        cls.listener.settimeout(10)
        cls.scanner, _ = cls.listener.accept()

    @classmethod
    def tearDownClass(cls):
        cls.scanner.close()
        cls.listener.close()
        super().tearDownClass()

    def setUp(self):
        self.streams = []
        # A test that failed a message leaves it degraded for a probe interval (200 ms):
        # its upstream_online must not reach the next test's streams.
        h.wait_until(self.w._online, 5, "posad upstream online")
        # posad sees the reader, and no card in it (a previous test's card is gone).
        h.wait_until(lambda: (self.reader("Virtual PCD 00 00") or {}).get("state") == "empty",
                     10, "posad sees the virtual reader empty")

    def tearDown(self):
        for s in self.streams:
            s.close()
        self.remove_card()
        super().tearDown()

    def reader(self, name):
        r = self.tcp.get("/v1/readers")
        self.assertEqual(r.status, 200, r)
        if r.json.get("pcscd") != "up":
            return None
        for rd in r.json["readers"]:
            if rd["name"] == name:
                return rd
        return None

    def insert_card(self, card=None, latency_ms=0, first_latency_ms=0, fail_after=0):
        log = open(os.path.join(self.w.dir, "card.log"), "ab")
        self.w.logs.append(log)
        CardEvents.card = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(h.SOURCE, "tests", "fixtures", "cards", "ssc_card.py"),
             card or os.path.join(h.SOURCE, "docs", "examples", "card_zhang_jianguo.json"),
             "--port", str(CARD_PORT), "--latency-ms", str(latency_ms),
             "--first-latency-ms", str(first_latency_ms), "--fail-after", str(fail_after)],
            stdout=log, stderr=log)

    @contextlib.contextmanager
    def pcscd_stopped(self):
        """pcscd stopped (SIGSTOP) until posad says it down, and through the block."""
        os.kill(PCSCD.pid, signal.SIGSTOP)
        try:  # 5 s in a wait, 20 s in a call about a card (a slow card's is long)
            h.wait_until(lambda: self.tcp.get("/v1/readers").json["pcscd"] == "down", 30,
                         "pcscd seen down", step=0.2)
            yield
        finally:
            os.kill(PCSCD.pid, signal.SIGCONT)

    def assertReadAgain(self):
        """pcscd answering again, the card in D01's reader is read again and identifies."""
        h.wait_until(lambda: (self.reader("Virtual PCD 00 00") or {}).get("card_type") ==
                     "social_security", 30, "the card read again", step=0.2)
        r = self.identify_card(5000)
        self.assertEqual((r.status, (r.json.get("person") or {}).get("psn_no")), (200, ZHANG), r)

    def insert_sam(self):
        """A plain ISO card (a SAM, say) in the reader's second slot; the caller kills it."""
        return subprocess.Popen(
            ["/usr/bin/python3", os.path.join(h.SOURCE, "tests", "fixtures", "cards",
                                              "ssc_card.py"),
             os.path.join(h.SOURCE, "tests", "fixtures", "cards", "iso_plain.json"),
             "--port", str(CARD_PORT + 1)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def remove_card(self):
        if CardEvents.card is not None and CardEvents.card.poll() is None:
            os.kill(CardEvents.card.pid, signal.SIGKILL)
            CardEvents.card.wait(timeout=10)
        CardEvents.card = None

    def sub(self, desk):
        s = subscribe(self.tcp, desk)
        self.streams.append(s)
        return s

    def identify_card(self, wait_ms, timeout=20):
        return self.tcp.post("/v1/identify", {"desk": "D01", "source": "card",
                                              "wait_ms": wait_ms}, timeout=timeout)

    def test_a_card_pulled_out_while_another_desk_reads_identifies_no_one(self):
        # One thread reads every reader: while it read a slow card at D02 it saw none of the
        # others, and D01's card, pulled out meanwhile, still identified its patient (the next
        # patient at D01 was identified as the one before; found by review).
        self.insert_card()
        h.wait_until(lambda: (self.reader("Virtual PCD 00 00") or {}).get("card_type") ==
                     "social_security", 10, "D01's card read")
        slow = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(h.SOURCE, "tests", "fixtures", "cards",
                                              "ssc_card.py"),
             os.path.join(h.SOURCE, "docs", "examples", "card_zhang_jianguo.json"),
             "--port", str(CARD_PORT + 1), "--latency-ms", "1000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            h.wait_until(lambda: (self.reader("Virtual PCD 00 01") or {}).get("card_type") ==
                         "reading", 10, "D02's slow card being read")
            self.remove_card()
            time.sleep(1.0)  # vpcd and pcscd have seen it out; posad's thread is still reading
            r = self.identify_card(0)
            self.assertNotEqual(r.status, 200, r)
            self.assertError(r, 409, "CARD_NOT_PRESENT")
            self.assertIn("another desk's card", r.json["error"]["message"], r)
        finally:
            os.kill(slow.pid, signal.SIGKILL)
            slow.wait(timeout=10)

    def test_card_in_and_out(self):
        d01, d02 = self.sub("D01"), self.sub("D02")
        rd = self.reader("Virtual PCD 00 00")
        self.assertEqual((rd["kind"], rd["desk"], rd["state"]), ("pcsc", "D01", "empty"), rd)

        self.insert_card()
        name, data = d01.next_event(10)
        self.assertEqual(name, "card_inserted", data)
        self.assertEqual((data["reader"], data["card_type"]),
                         ("Virtual PCD 00 00", "social_security"), data)
        rd = self.reader("Virtual PCD 00 00")
        self.assertEqual((rd["desk"], rd["state"], rd["card_type"]),
                         ("D01", "present", "social_security"), rd)

        r = self.identify_card(5000)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["person"]["psn_no"], r.json["person"]["name"]),
                         (ZHANG, "张建国"), r)
        self.assertEqual(r.json["cert"]["type"], "03", r)
        self.assertTrue(r.json["identity_token"], r)
        # 1101 carries the card's 社会保障号码 and name (national-interface.md §2.2).
        data = json.loads(self.posad_rows(
            "SELECT request FROM journal WHERE infno = '1101' ORDER BY seq DESC LIMIT 1")[0][0])
        data = data["input"]["data"]
        self.assertEqual((data["mdtrt_cert_type"], data["certno"], data["psn_cert_type"],
                          data["psn_name"]), ("03", h.PERSONS[ZHANG], "01", "张建国"), data)

        self.remove_card()
        name, data = d01.next_event(10)
        self.assertEqual((name, data["reader"]), ("card_removed", "Virtual PCD 00 00"), data)
        rd = self.reader("Virtual PCD 00 00")
        self.assertEqual((rd["desk"], rd["state"]), ("D01", "empty"), rd)
        self.assertFalse(rd["card_type"], rd)

        t0 = time.monotonic()
        r = self.identify_card(300)
        self.assertError(r, 409, "CARD_NOT_PRESENT")
        self.assertGreaterEqual(time.monotonic() - t0, 0.25, "answered before wait_ms")

        # D02's subscriber saw none of D01's card.
        with self.assertRaises(AssertionError):
            d02.next_event(0.5)

    def test_desk_without_its_reader(self):
        # D03's reader is not there (unplugged, or a pattern that matches none): the desk is
        # listed, by its pattern, in error (it was left out, as if all were well).
        rd = self.reader("Unplugged Reader*")
        self.assertIsNotNone(rd, self.tcp.get("/v1/readers").json)
        self.assertEqual((rd["kind"], rd["desk"], rd["state"]), ("pcsc", "D03", "error"), rd)
        # with why (posactl readers showed an empty error column; found by review)
        self.assertIn("unplugged", rd["error"], rd)
        # Identify by card there says so at once (it waited out wait_ms, then "no card").
        t0 = time.monotonic()
        r = self.tcp.post("/v1/identify", {"desk": "D03", "source": "card", "wait_ms": 5000})
        self.assertError(r, 422, "CARD_UNREADABLE")
        self.assertIn("reader is not there", r.json["error"]["message"], r)
        self.assertLess(time.monotonic() - t0, 2, "waited for a card no reader can read")

    def test_card_that_needs_a_psam(self):
        # A 3.0 card that refuses its records without PSAM authentication (6982): reinserting
        # cannot help, so the answer says why and is not retryable (it said "insert it again").
        d01 = self.sub("D01")
        self.insert_card(os.path.join(h.SOURCE, "tests", "fixtures", "cards", "locked_3_0.json"))
        name, _ = d01.next_event(10)
        self.assertIn(name, ("card_inserted", "card_error"))
        r = self.identify_card(5000)
        self.assertError(r, 422, "CARD_UNREADABLE")
        self.assertIs(r.json["error"]["retryable"], False, r)
        self.assertIn("6982", r.json["error"]["details"]["cause"], r)

    def test_auto_takes_a_card_inserted_after_a_scan(self):
        # Patient A's e-voucher is scanned (and A identified some other way); patient B then
        # inserts a card: auto identifies B by the card, the newer of the two (it took A's
        # scan, still under 60 s old).
        d01 = self.sub("D01")
        status, raw = self.w.sandbox_request("POST", "/sandbox/qr", {"psn_no": ZHAO})
        self.assertEqual(status, 200, raw)
        self.scanner.sendall((json.loads(raw)["qrcode"] + "\r\n").encode())
        scanned = d01.events_until("qr_scanned", 5)[-1][1]
        # its desk said, for a stream of every desk (found by review)
        self.assertEqual((scanned["desk"], scanned["valid"]), ("D01", True), scanned)
        self.insert_card()
        d01.events_until("card_inserted", 10)
        r = self.tcp.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
        self.assertEqual((r.status, r.json["person"]["psn_no"], r.json["cert"]["type"]),
                         (200, ZHANG, "03"), r)

    def auto_after_a_scan_and_a_card(self, card, card_type):
        """赵敏's e-voucher scanned at D01, then card (a fixture) read in its reader as
        card_type: identify {auto} at D01's answer."""
        status, raw = self.w.sandbox_request("POST", "/sandbox/qr", {"psn_no": ZHAO})
        self.assertEqual(status, 200, raw)
        d01 = self.sub("D01")
        self.scanner.sendall((json.loads(raw)["qrcode"] + "\r\n").encode())
        d01.events_until("qr_scanned", 5)
        self.insert_card(os.path.join(h.SOURCE, "tests", "fixtures", "cards", card))
        h.wait_until(lambda: (self.reader("Virtual PCD 00 00") or {}).get("card_type") ==
                     card_type, 10, "the card read")
        return self.tcp.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})

    def test_a_card_that_identifies_no_one_leaves_the_scan(self):
        # The patient's e-voucher scanned, then a bank card put in the reader: the scan was
        # dropped as if a newer card had come, and auto said none was scanned (found by
        # review). A card that identifies no one leaves it: auto identifies by the code.
        r = self.auto_after_a_scan_and_a_card("iso_plain.json", "other")
        self.assertEqual((r.status, r.json["person"]["psn_no"], r.json["cert"]["type"]),
                         (200, ZHAO, "01"), r)

    def test_a_social_security_card_that_fails_wins_over_the_scan(self):
        # A locked card is the patient's: newer than a code scanned before it (an earlier
        # patient's, not identified): auto says the card's error, not that patient (the
        # review of e2c3eee).
        r = self.auto_after_a_scan_and_a_card("locked_3_0.json", "unreadable")
        self.assertError(r, 422, "CARD_UNREADABLE")

    def test_two_slots_of_one_desk(self):
        # A desk whose pattern matches two slots (a reader's PSAM/SAM slot): a plain ISO card
        # in the second slot neither displaces nor, removed, empties the patient's card in the
        # first (the desk's one card state followed the last event of either slot).
        w = h.World("[desks]\nreaders = D09=Virtual PCD 00 0*\n").start()
        sam = None
        try:
            def identify():
                return w.tcp.post("/v1/identify", {"desk": "D09", "source": "card",
                                                   "wait_ms": 5000}, timeout=20)

            self.insert_card()
            r = identify()
            self.assertEqual((r.status, r.json["person"]["psn_no"]), (200, ZHANG), r)
            sam = self.insert_sam()
            h.wait_until(lambda: (self.reader("Virtual PCD 00 01") or {}).get("state") ==
                         "present", 10, "the second slot's card read")
            r = identify()
            self.assertEqual((r.status, r.json["person"]["psn_no"]), (200, ZHANG), r)
            sam.kill()
            sam.wait(timeout=10)
            h.wait_until(lambda: (self.reader("Virtual PCD 00 01") or {}).get("state") ==
                         "empty", 10, "the second slot emptied")
            r = identify()
            self.assertEqual((r.status, r.json["person"]["psn_no"]), (200, ZHANG), r)
        finally:
            if sam and sam.poll() is None:
                sam.kill()
                sam.wait(timeout=10)
            w.stop()

    def test_a_sam_read_first_is_no_patients_card(self):
        # The same desk of two slots, its SAM read before any patient's card (at every start,
        # and after pcscd's): it became the desk's card, and identify answered at once "not a
        # social-security card" (not retryable) instead of waiting for the patient's.
        sam = self.insert_sam()
        w = None
        try:
            h.wait_until(lambda: (self.reader("Virtual PCD 00 01") or {}).get("state") ==
                         "present", 10, "the SAM slot's card read")
            # D10's pattern overlaps D09's: the reader is D09's, and the log says so.
            w = h.World("[desks]\nreaders = D09=Virtual PCD 00 0*;D10=Virtual PCD 00 01*\n"
                        ).start()
            h.wait_until(lambda: any(r["name"] == "Virtual PCD 00 01" and r["state"] == "present"
                                     for r in w.tcp.get("/v1/readers").json["readers"]),
                         10, "the new posad sees the SAM")
            self.assertIn('event=reader_matches_two_desks reader="Virtual PCD 00 01" desk=D09 '
                          'also=D10', w.log_tail())
            r = w.tcp.post("/v1/identify", {"desk": "D09", "source": "card", "wait_ms": 0})
            self.assertError(r, 409, "CARD_NOT_PRESENT")
            result = {}
            t = threading.Thread(target=lambda: result.update(r=w.tcp.post(
                "/v1/identify", {"desk": "D09", "source": "card", "wait_ms": 8000}, timeout=20)))
            t.start()
            time.sleep(1)
            self.insert_card()
            t.join(20)
            r = result["r"]
            self.assertEqual((r.status, r.json.get("person", {}).get("psn_no")), (200, ZHANG), r)
        finally:
            sam.kill()
            sam.wait(timeout=10)
            if w:
                w.stop()

    def test_identify_waits_for_the_card(self):
        r = self.identify_card(0)
        self.assertError(r, 409, "CARD_NOT_PRESENT")
        result = {}

        def ask():
            result["r"] = self.identify_card(15000, timeout=25)

        t = threading.Thread(target=ask)
        t0 = time.monotonic()
        t.start()
        time.sleep(0.8)
        self.assertTrue(t.is_alive(), "identify did not wait for the card: %r" % result)
        self.insert_card()
        t.join(20)
        self.assertFalse(t.is_alive())
        r = result["r"]
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["person"]["psn_no"], ZHANG, r)
        self.assertLess(time.monotonic() - t0, 14, "answered at the deadline, not at the card")


    def identify_in_background(self, wait_ms):
        """Starts identify {card, wait_ms} at D01 on a thread: (thread, result dict)."""
        result = {}

        def ask():
            result["r"] = self.identify_card(wait_ms, timeout=30)
            result["at"] = time.monotonic()

        t = threading.Thread(target=ask)
        t.start()
        return t, result

    def test_a_card_inserted_during_the_wait_is_read_past_its_end(self):
        # The card comes 0.3 s into a 1.5 s wait and takes longer than what is left to read
        # (100 ms an APDU): it is waited for as a card already in the reader would be (it
        # said "no card in the desk's reader" with the card in).
        t, result = self.identify_in_background(1500)
        time.sleep(0.3)
        self.insert_card(latency_ms=100)
        t.join(25)
        r = result["r"]
        self.assertEqual((r.status, (r.json.get("person") or {}).get("psn_no")), (200, ZHANG), r)

    def test_a_card_pulled_out_mid_read_and_pushed_back_is_read(self):
        # The card leaves after 4 APDUs and is pushed back, within the wait: the identify
        # waits on and reads it (it answered "take it out and insert it again" as the read
        # failed, and the card was back in a moment later; found by review). Pushed back once
        # pcscd saw it out: vpcd polls, and a swap quicker than that is not seen at all.
        t, result = self.identify_in_background(10000)
        time.sleep(0.3)
        self.insert_card(latency_ms=30, fail_after=4)
        CardEvents.card.wait(timeout=20)  # it left mid-read
        h.wait_until(lambda: (self.reader("Virtual PCD 00 00") or {}).get("state") == "empty",
                     5, "the reader seen empty", step=0.05)
        self.assertNotIn("r", result)  # still waiting
        self.insert_card()
        t.join(25)
        r = result["r"]
        self.assertEqual((r.status, (r.json.get("person") or {}).get("psn_no")), (200, ZHANG), r)

    def test_a_card_pulled_out_mid_read_ends_the_wait_at_wait_ms(self):
        # The read's 5 s, given to a card inserted during the wait, stayed once it was pulled
        # out: the answer came 5.5 s in for a 1 s wait, past the HIS's timeout (found by
        # review). Gone, the wait ends when it was asked to.
        start = time.monotonic()
        t, result = self.identify_in_background(1500)
        time.sleep(0.3)
        self.insert_card(latency_ms=30, fail_after=4)
        t.join(25)
        r = result["r"]
        self.assertError(r, 409, "CARD_NOT_PRESENT")
        self.assertLess(result["at"] - start, 3.5, r)

    def test_a_card_still_being_read_says_so(self):
        # 600 ms an APDU: a read of more than the 5 s posad waits for one. The answer says the
        # card is being read, not that there is none.
        self.insert_card(latency_ms=600)
        time.sleep(1)
        r = self.identify_card(0)
        self.assertError(r, 409, "CARD_NOT_PRESENT")
        self.assertIn("still being read", r.json["error"]["message"], r)
        # The reader shows the card in from its insertion (it showed "empty" until the read
        # ended, and the next test's setUp, waiting for "empty", inserted its card before
        # pcscd had seen this one go: that card's read failed, "removed or reset").
        rd = self.reader("Virtual PCD 00 00")
        self.assertEqual((rd["state"], rd["card_type"]), ("present", "reading"), rd)

    def test_a_card_whose_data_cannot_be_read(self):
        # A name that is not GB18030: every read is the same, so the cashier is not told to
        # insert it again (it was "take it out and insert it again", retryable).
        self.insert_card(os.path.join(h.SOURCE, "tests", "fixtures", "cards", "bad_gbk_name.json"))
        r = self.identify_card(5000)
        self.assertError(r, 422, "CARD_UNREADABLE")
        self.assertIs(r.json["error"]["retryable"], False, r)
        self.assertIn("cannot be read", r.json["error"]["message"], r)
        self.assertIn("ID number or e-voucher", r.json["error"]["message"], r)
        self.assertIn("GBK", r.json["error"]["details"]["cause"], r)

    def test_pcscd_stopping_during_a_wait_is_said_at_once(self):
        # The wait ends when pcscd goes, with why (it waited out wait_ms, then "no card").
        t, result = self.identify_in_background(8000)
        time.sleep(0.5)
        t0 = time.monotonic()
        stop_pcscd()
        try:
            t.join(25)
            r = result["r"]
            self.assertError(r, 422, "CARD_UNREADABLE")
            # pcscd takes its readers away as it stops: posad may hear that first (seen once
            # in CI under ASan), and says the reader is gone; either way at once, with why.
            self.assertRegex(r.json["error"]["message"], "pcscd|reader is not there", r)
            self.assertLess(result["at"] - t0, 3, "waited out wait_ms")
        finally:
            start_pcscd()

    def test_a_pcscd_that_stops_answering(self):
        # pcscd stopped (SIGSTOP): its clients wait without a limit. posad says pcscd is down
        # after 5 s and no longer takes the card read before (it served that card, pulled
        # out meanwhile, for as long as pcscd was stopped); answering again, pcscd is back.
        self.insert_card()
        h.wait_until(lambda: (self.reader("Virtual PCD 00 00") or {}).get("state") ==
                     "present", 10, "the card read")
        s = self.sub("D01")
        with self.pcscd_stopped():
            # The desk's stream and /v1/readers say the card is no longer known to be in
            # (they said it was in until pcscd answered again).
            self.assertEqual([e[0] for e in s.events_until("card_removed", 5)], ["card_removed"])
            rows = {r["name"]: r for r in self.tcp.get("/v1/readers").json["readers"]}
            self.assertEqual(rows["Virtual PCD 00 00"].get("card_type"), "", rows)
            self.assertEqual((rows["Virtual PCD 00 00"]["state"],
                              rows["Virtual PCD 00 00"].get("error")),
                             ("error", "the card service (pcscd) is not running"), rows)
            r = self.identify_card(0)
            self.assertError(r, 422, "CARD_UNREADABLE")
            self.assertIn("pcscd", r.json["error"]["message"], r)
            # auto says the same fault the same way (it said 409 CARD_NOT_PRESENT)
            r = self.tcp.post("/v1/identify", {"desk": "D01", "source": "auto", "wait_ms": 0})
            self.assertError(r, 422, "CARD_UNREADABLE")
            self.assertIn("pcscd", r.json["error"]["message"], r)
        self.assertReadAgain()
        # Once: the thread's own removal of the card, when pcscd answers, is not said again.
        self.assertEqual([e[0] for e in s.events_until("card_inserted", 10)], ["card_inserted"])

    def test_a_slow_card_is_no_pcscd_down(self):
        # A card whose first command takes 7 s (or one another program holds in a
        # transaction): pcscd was said down after 5 s, at every desk, their cards taken away
        # ("is it running?"), and again each time the thread started over.
        s = self.sub("D01")
        downs = self.w.log_tail(n=10 ** 7).count("event=service_down")
        self.insert_card(first_latency_ms=7000)
        h.wait_until(lambda: (self.reader("Virtual PCD 00 00") or {}).get("card_type") ==
                     "reading", 10, "the slow card being read", step=0.05)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 6.5:
            self.assertEqual(self.tcp.get("/v1/readers").json["pcscd"], "up")
            time.sleep(0.5)
        h.wait_until(lambda: (self.reader("Virtual PCD 00 00") or {}).get("card_type") ==
                     "social_security", 10, "the slow card read", step=0.1)
        names = [e[0] for e in s.events_until("card_inserted", 5)]
        self.assertNotIn("card_removed", names)
        self.assertEqual(self.w.log_tail(n=10 ** 7).count("event=service_down"), downs)
        r = self.identify_card(0)
        self.assertEqual((r.status, (r.json.get("person") or {}).get("psn_no")), (200, ZHANG), r)

    def test_a_pcscd_that_stops_answering_during_a_read(self):
        # The same, pcscd stopped while a slow card is being read: the read held the reader
        # thread outside the timed waits, so pcscd was never said down, and every desk kept
        # its card (a card pulled out at another desk still identified its patient).
        self.insert_card(latency_ms=300)
        h.wait_until(lambda: (self.reader("Virtual PCD 00 00") or {}).get("card_type") ==
                     "reading", 10, "the slow card being read", step=0.05)
        with self.pcscd_stopped():
            r = self.identify_card(0)
            self.assertError(r, 422, "CARD_UNREADABLE")
        self.assertReadAgain()

    def test_sigterm_with_a_card_that_does_not_answer(self):
        # A card that takes a minute an APDU holds the reader thread in its read: posad stops
        # without it after 2 s (it waited for the card to be pulled out).
        w = h.World("[desks]\nreaders = D09=Virtual PCD 00 00*\n").start()
        try:
            self.insert_card(latency_ms=60000)
            time.sleep(2)  # inserted, and its first APDU sent
            t0 = time.monotonic()
            w.posad.send_signal(signal.SIGTERM)
            w.posad.wait(timeout=15)
            self.assertLess(time.monotonic() - t0, 5, "posad waited for the card")
            self.assertIn("event=card_reader_thread_left", w.log_tail())
        finally:
            self.remove_card()
            w.stop()


PCSCD = None  # pcscd in the card tests' namespaces


def start_pcscd():
    global PCSCD
    with open(os.path.join("/run/pcscd", "pcscd.log"), "ab") as log:
        PCSCD = subprocess.Popen(["pcscd", "-f"], stdout=log, stderr=log)
    h.wait_until(lambda: os.path.exists("/run/pcscd/pcscd.comm"), 10, "pcscd")


def stop_pcscd():
    if PCSCD.poll() is None:
        os.kill(PCSCD.pid, signal.SIGTERM)
        try:
            PCSCD.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(PCSCD.pid, signal.SIGKILL)
            PCSCD.wait()


def card_main():
    """Re-runs this file inside fresh mount + network namespaces with a tmpfs on /run/pcscd
    and pcscd started there (as tests/integration/demo/run_demo.sh does), then runs CardEvents."""
    if os.environ.get("POSA_CARD_NS") != "1":
        if (os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("pcscd")
                or not os.path.exists("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
                or subprocess.run(["unshare", "--mount", "--net", "true"],
                                  stderr=subprocess.DEVNULL).returncode != 0):
            print("test_events card: needs root, unshare, pcscd and vpcd; skipped")
            sys.exit(77)
        script = ('set -e; mkdir -p /run/pcscd; mount -t tmpfs tmpfs /run/pcscd; '
                  'ip link set lo up; POSA_CARD_NS=1 exec "$@"')
        os.execvp("unshare", ["unshare", "--mount", "--net", "sh", "-c", script, "sh",
                              "/usr/bin/python3", os.path.abspath(__file__)] + sys.argv[1:])
    try:
        start_pcscd()
        sys.argv = sys.argv[:4] + (sys.argv[5:] or ["CardEvents"])  # card [CardEvents.test]
        h.main()
    finally:
        if PCSCD is not None:
            stop_pcscd()
        if CardEvents.card is not None and CardEvents.card.poll() is None:
            os.kill(CardEvents.card.pid, signal.SIGKILL)


if __name__ == "__main__":
    if sys.argv[4:5] == ["card"]:
        card_main()
    else:
        sys.argv = sys.argv[:4] + sys.argv[4:] + (["Events"] if len(sys.argv) == 4 else [])
        h.main()
