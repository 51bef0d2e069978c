"""Auth of the HIS API (his-api.md "Conventions", issue 6): on TCP, bearer tokens from
[his] clients (stored as SHA-256 hashes), scoped to desks and roles; on the Unix socket the
file permissions are the auth; `posad --check-config` refusing malformed clients, and a
non-loopback listen address unless TLS and tokens are configured. (Run with POSA_TEST_TLS=1,
all of it goes over TLS.)"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"

TOKENS = {  # name -> (token, role, desks)
    "desk1": ("tok-desk1-9f1c2e7a", "cashier", "D01"),
    "desk2": ("tok-desk2-41d0b3aa", "cashier", "D02"),
    "viewer": ("tok-viewer-77e0c1d4", "readonly", "*"),
    "ops": ("tok-ops-2b9a64f0", "ops", "*"),
    "desk12": ("tok-desk12-c3e85f19", "cashier", "D01,D02"),
    "ops1": ("tok-ops1-5e2d90b7", "ops", "D01"),
    "front": ("tok-front-8a4d2c61", "cashier", "*"),
}


def clients_line():
    return ";".join("%s:%s:%s:%s" % (n, h.sha256_hex(t), role, desks)
                    for n, (t, role, desks) in TOKENS.items())


def auth(name):
    return h.bearer(TOKENS[name][0])


class AuthWorld(h.World):
    """A World whose TCP listener wants tokens: readiness is asked over the Unix socket,
    which needs none."""

    def _online(self):
        if self.posad.poll() is not None:
            raise AssertionError("posad exited with %s" % self.posad.returncode)
        if not os.path.exists(self.sock_path):
            return False
        r = h.Client("unix", path=self.sock_path).get("/v1/health", timeout=2.0)
        return r.status == 200 and r.json["upstream"]["state"] == "online"


class Auth(h.HisTestCase):
    scanner = None

    @classmethod
    def setUpClass(cls):
        if h.HisTestCase.world is None:
            # A networked QR scanner at D03, which posad dials once started.
            cls.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            cls.listener.bind(("127.0.0.1", 0))
            cls.listener.listen(1)
            cls.listener.settimeout(10)
            h.HisTestCase.world = AuthWorld(
                "[his]\nclients = %s\n[desks]\nscanners = D03=tcp:127.0.0.1:%d\n"
                % (clients_line(), cls.listener.getsockname()[1]))
            if h.TLS:  # over TLS the listener may leave loopback: it does (still reached locally)
                h.HisTestCase.world.listen_host = "0.0.0.0"
            h.HisTestCase.world.start()
            cls.scanner, _ = cls.listener.accept()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        if cls.scanner:
            cls.scanner.close()
            cls.listener.close()
        super().tearDownClass()

    def identify_at(self, who, desk, psn_no=ZHANG):
        r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[psn_no],
                                           "desk": desk}, headers=auth(who))
        self.assertEqual(r.status, 200, r)
        return r.json["identity_token"]

    # --- who are you -----------------------------------------------------------------------

    def test_missing_token_is_401(self):
        for method, path, body in (("GET", "/v1/health", None), ("GET", "/v1/readers", None),
                                   ("GET", "/metrics", None), ("GET", "/v1/queue", None),
                                   ("POST", "/v1/identify", {"source": "id",
                                                             "certno": h.PERSONS[ZHANG]})):
            with self.subTest(path=path):
                r = self.tcp.request(method, path, body)
                self.assertError(r, 401, "UNAUTHORIZED")
                # the scheme to answer it with (RFC 9110: a 401 must name one)
                self.assertEqual(r.headers.get("WWW-Authenticate"), "Bearer", r.headers)

    def test_a_header_values_trailing_blanks_are_not_part_of_it(self):
        # RFC 9110 5.5: "Bearer t " is the token t; it was refused 401 (and a Host with a
        # trailing space was "a request from a web page"; found by review).
        for blank in (" ", "\t", " \t "):
            with self.subTest(blank=repr(blank)):
                r = self.tcp.get("/v1/health", headers={
                    "Authorization": "Bearer " + TOKENS["ops"][0] + blank})
                self.assertEqual(r.status, 200, r)
        r = self.tcp.get("/v1/health", headers={"Authorization": "Bearer nope "})
        self.assertError(r, 401, "UNAUTHORIZED")

    def test_bad_token_is_401(self):
        good = TOKENS["ops"][0]
        for header in ("Bearer nope", "Bearer " + good + "x", "Bearer " + good.upper(),
                       "Basic " + good, "Bearer ", "Bearer " + "a" * 5000,
                       # the stored hash itself is not a token
                       "Bearer " + h.sha256_hex(good)):
            for path in ("/v1/readers", "/v1/health"):
                with self.subTest(header=header[:40], path=path):
                    r = self.tcp.get(path, headers={"Authorization": header})
                    self.assertError(r, 401, "UNAUTHORIZED")
        # Guessing shows in the log, with the peer, at most a line a second.
        log = self.w.log_tail(n=200000)
        lines = [l for l in log.splitlines() if "event=token_refused" in l]
        self.assertTrue(lines, log[-2000:])
        self.assertIn("peer=127.0.0.1:", lines[0])
        self.assertLess(len(lines), 10, lines)

    def head_only(self, token, path="/v1/visits"):
        """A POST's head announcing 15 MB, no body: what posad answers before the body."""
        sock = socket.create_connection(("127.0.0.1", self.tcp.port), timeout=5)
        if self.tcp.transport == "tls":
            sock = self.tcp.tls_context().wrap_socket(sock, server_hostname="127.0.0.1")
        with sock:
            sock.sendall(b"POST %s HTTP/1.1\r\nHost: h\r\nContent-Type: application/json"
                         b"\r\nAuthorization: Bearer %s\r\nContent-Length: 15000000\r\n\r\n"
                         % (path.encode(), token.encode()))
            answer = b""
            while True:  # until posad closes; a timeout (5 s) here: it waited for the body
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        return answer

    def test_no_body_is_read_for_a_request_without_a_token(self):
        # Without a token naming a client, a request is answered 401 once its head is read:
        # posad does not wait for (and keep) the 15 MB it announces; it kept up to 16 MiB on
        # each of 4,096 connections for anyone who could reach the port.
        answer = self.head_only("nope")
        self.assertTrue(answer.startswith(b"HTTP/1.1 401"), answer[:80])
        self.assertIn(b'"code":"UNAUTHORIZED"', answer)

    def test_no_body_is_read_for_a_role_the_route_refuses(self):
        # A read-only token's POST is answered 403 once its head is read: its bodies, held
        # unfinished, took the budget every POST needs, of both transports (503 for all).
        answer = self.head_only(TOKENS["viewer"][0], "/v1/identify")
        self.assertTrue(answer.startswith(b"HTTP/1.1 403"), answer[:80])
        self.assertIn(b'"code":"FORBIDDEN"', answer)

    def test_a_403_says_whether_the_role_or_the_desk(self):
        # Both said "this desk or role may not do that", and whoever set up the HIS could
        # not tell which to fix; a client of several desks leaving desk out got no
        # details.field (found by review).
        r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]},
                          headers=auth("viewer"))
        self.assertError(r, 403, "FORBIDDEN")
        self.assertIn("the client's role may not do that: a readonly client reads; the desk "
                      "flow needs a cashier token", r.json["error"]["message"], r)
        r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG],
                                           "desk": "D02"}, headers=auth("desk1"))
        self.assertError(r, 403, "FORBIDDEN")
        self.assertIn("does not serve that desk", r.json["error"]["message"], r)
        r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]},
                          headers=auth("desk12"))
        self.assertError(r, 400, "BAD_REQUEST")
        self.assertEqual(r.json["error"]["details"].get("field"), "desk", r)

    def test_passthrough_wants_a_token(self):
        # The national-interface passthrough settles money: on TCP it is no less guarded
        # than the rest of the API. (Its error body may be the national envelope's, so only
        # the status is checked.)
        env = {"infno": "1101", "msgid": "", "mdtrtarea_admvs": "310000",
               "insuplc_admdvs": "", "recer_sys_code": "HIS", "dev_no": "", "dev_safe_info": "",
               "cainfo": "", "signtype": "", "infver": "V1.0", "opter_type": "1",
               "opter": "001", "opter_name": "收费员", "inf_time": "", "fixmedins_code":
               h.INSTITUTION, "fixmedins_name": "医院", "sign_no": "",
               "input": {"data": {"mdtrt_cert_type": "02",
                                  "mdtrt_cert_no": h.PERSONS[ZHANG], "psn_cert_type": "01",
                                  "certno": h.PERSONS[ZHANG]}}}
        path = "/fsi/api/rsfComIfsService/callService"
        r = self.tcp.post(path, env)
        self.assertEqual(r.status, 401, r)
        r = self.tcp.post(path, env, headers={"Authorization": "Bearer nope"})
        self.assertEqual(r.status, 401, r)
        r = self.unix.post(path, env)  # the socket's permissions are its auth
        self.assertEqual(r.status, 200, r)
        # An envelope names no desk (a 2305 refunds any desk's settlement): a cashier of some
        # desks may not use it, one of every desk may.
        for who in ("desk1", "desk12"):
            with self.subTest(client=who):
                self.assertError(self.tcp.post(path, env, headers=auth(who)), 403, "FORBIDDEN")
        r = self.tcp.post(path, env, headers=auth("front"))
        self.assertEqual(r.status, 200, r)

    def test_every_good_token_reads(self):
        # A failure of an earlier test keeps it degraded for a probe interval or two.
        h.wait_until(self.w._online, 15, "posad upstream online")
        for name in TOKENS:
            with self.subTest(client=name):
                r = self.tcp.get("/v1/health", headers=auth(name))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["upstream"]["state"], "online", r)

    # --- desks -----------------------------------------------------------------------------

    def test_a_single_desk_client_need_not_name_it(self):
        # card (and auto) identify at the client's one desk, which has no reader: said at
        # once, not after wait_ms as "no card".
        r = self.tcp.post("/v1/identify", {"source": "card", "wait_ms": 3000},
                          headers=auth("desk1"))
        self.assertError(r, 404, "NOT_FOUND")
        self.assertIn("desk D01 has no card reader", r.json["error"]["message"])
        # A client of several desks, or the socket (no client), must say whose reader.
        for client, headers in ((self.tcp, auth("desk12")), (self.unix, {})):
            r = client.post("/v1/identify", {"source": "card", "wait_ms": 0}, headers=headers)
            self.assertError(r, 400, "BAD_REQUEST")

    def test_events_stay_within_the_clients_desks(self):
        # Without ?desk= a stream carries every desk's events (a QR scanned at another desk
        # identifies its patient): a client of one desk gets its own desk's, a client of
        # several must name one, a client of every desk gets them all.
        for who, query, status, desk in (("desk1", "", 200, "D01"),
                                         ("desk1", "?desk=D01", 200, "D01"),
                                         ("desk1", "?desk=D02", 403, None),
                                         ("desk12", "", 403, None),
                                         ("desk12", "?desk=D02", 200, "D02"),
                                         ("viewer", "", 200, "*"),
                                         ("ops", "?desk=D02", 200, "D02"),
                                         # every desk's stream, by name: every desk's
                                         # clients only
                                         ("desk1", "?desk=*", 403, None),
                                         ("desk12", "?desk=%2A", 403, None),
                                         ("viewer", "?desk=*", 200, "*"),
                                         ("desk1", "?desk=", 400, None)):
            with self.subTest(who=who, query=query):
                s = h.SseStream(self.tcp, "/v1/events" + query, headers=auth(who), timeout=5)
                try:
                    self.assertEqual(s.status, status, s.body)
                    if status != 200:
                        self.assertIn(b'"FORBIDDEN"' if status == 403 else b'"BAD_REQUEST"',
                                      s.body)
                        continue
                    s.wait_comment("desk %s" % desk, 5)
                    self.assertIn("subscribed", s.comments)
                finally:
                    s.close()
        s = h.SseStream(self.unix, "/v1/events")  # the socket: every desk
        try:
            s.wait_comment("desk *", 5)
        finally:
            s.close()

    def test_a_scanned_code_reaches_only_who_may_identify_with_it(self):
        # An e-voucher code identifies its patient for a minute: a readonly client hears
        # that one was scanned, a cashier and the socket get the code itself.
        status, raw = self.w.sandbox_request("POST", "/sandbox/qr", {"psn_no": ZHANG})
        self.assertEqual(status, 200, raw)
        code = json.loads(raw)["qrcode"]
        streams = {"viewer": h.SseStream(self.tcp, "/v1/events?desk=D03", headers=auth("viewer")),
                   "front": h.SseStream(self.tcp, "/v1/events?desk=D03", headers=auth("front")),
                   "socket": h.SseStream(self.unix, "/v1/events?desk=D03")}
        try:
            for s in streams.values():
                s.wait_comment("subscribed", 5)
            self.scanner.sendall((code + "\r\n").encode())
            got = {}
            for who, s in streams.items():
                data = s.events_until("qr_scanned", 5)[-1][1]
                got[who] = json.loads(data) if isinstance(data, str) else data
            self.assertEqual(got, {"viewer": {"desk": "D03", "valid": True},
                                   "front": {"desk": "D03", "valid": True, "qr": code},
                                   "socket": {"desk": "D03", "valid": True, "qr": code}})
        finally:
            for s in streams.values():
                s.close()

    def test_cashier_of_d01_cannot_identify_at_d02(self):
        r = self.tcp.post("/v1/identify", {"desk": "D02", "source": "card", "wait_ms": 0},
                          headers=auth("desk1"))
        self.assertError(r, 403, "FORBIDDEN")
        r = self.tcp.post("/v1/identify", {"desk": "D02", "source": "id",
                                           "certno": h.PERSONS[ZHANG]}, headers=auth("desk1"))
        self.assertError(r, 403, "FORBIDDEN")
        # At its own desk it passes auth: no reader configured there.
        for source in ("card", "auto"):
            r = self.tcp.post("/v1/identify", {"desk": "D01", "source": source, "wait_ms": 0},
                              headers=auth("desk1"))
            self.assertError(r, 404, "NOT_FOUND")

    def test_another_desks_open_visit_is_not_named(self):
        # D02 opens a visit under the his_visit_id of one open at D01: refused, and D01's
        # visit_id is not handed out (D02 was told "use that visit" and given an id it is
        # forbidden to read).
        body = h.visit_body(self.identify_at("desk1", "D01"))
        r = self.tcp.post("/v1/visits", body, headers=auth("desk1"))
        self.assertEqual(r.status, 201, r)
        body2 = dict(h.visit_body(self.identify_at("desk2", "D02", psn_no="32020000000000000000000106")),
                     his_visit_id=body["his_visit_id"])
        r2 = self.tcp.post("/v1/visits", body2, headers=auth("desk2"))
        self.assertError(r2, 409, "CONFLICT")
        self.assertIn("already open at another desk", r2.json["error"]["message"], r2)
        self.assertNotIn(r.json["visit_id"].encode(), r2.raw, r2)
        # At its own desk the open visit is named, as before.
        r3 = self.tcp.post("/v1/visits", dict(h.visit_body(self.identify_at("desk1", "D01")),
                                             his_visit_id=body["his_visit_id"]),
                           headers=auth("desk1"))
        self.assertError(r3, 409, "CONFLICT")
        self.assertEqual(r3.json["error"]["details"]["visit_id"], r.json["visit_id"], r3)

    def test_visit_of_one_desk_is_forbidden_to_another(self):
        token = self.identify_at("desk1", "D01")
        r = self.tcp.post("/v1/visits", h.visit_body(token), headers=auth("desk1"))
        self.assertEqual(r.status, 201, r)
        vid, mdtrt_id = r.json["visit_id"], r.json["mdtrt_id"]
        path = "/v1/visits/%s" % vid

        r = self.tcp.get(path, headers=auth("desk2"))
        self.assertError(r, 403, "FORBIDDEN")
        r = self.tcp.get(path, headers=auth("desk1"))
        self.assertEqual(r.status, 200, r)
        r = self.tcp.get(path, headers=auth("viewer"))  # readonly, every desk
        self.assertEqual(r.status, 200, r)

        # Another desk may not bill it either, and nothing reaches the platform.
        r = self.tcp.post(path + "/fees", {"lines": h.stay_lines()[:1]}, headers=auth("desk2"))
        self.assertError(r, 403, "FORBIDDEN")
        uploads = [u for u in self.w.ledger()["uploads"] if u["mdtrt_id"] == mdtrt_id]
        self.assertEqual(uploads, [])

        # D01 bills and settles it; the settlement, its refund and its statement are D01's.
        r = self.tcp.post(path + "/fees", {"lines": h.stay_lines()[:2]}, headers=auth("desk1"))
        self.assertEqual(r.status, 200, r)
        for sub in ("/presettle", "/settle", "/fees/cancel"):
            with self.subTest(other_desk=sub):
                r = self.tcp.post(path + sub, {"all": True} if sub == "/fees/cancel" else {},
                                  headers=auth("desk2"))
                self.assertError(r, 403, "FORBIDDEN")
        r = self.tcp.post(path + "/settle", {"discharge": {"time": "2026-11-25 09:30:00"}},
                          headers=auth("desk1"))
        self.assertEqual(r.status, 200, r)
        sid = r.json["settlement_id"]
        for method, p2 in (("GET", "/v1/settlements/%s" % sid),
                           ("GET", "/v1/documents/settlement/%s" % sid),
                           ("GET", "/v1/documents/forms/outside-purchase?visit_id=%s" % vid),
                           ("POST", "/v1/settlements/%s/cancel" % sid)):
            with self.subTest(other_desk=p2):
                r = self.tcp.request(method, p2, {} if method == "POST" else None,
                                     headers=auth("desk2"))
                self.assertError(r, 403, "FORBIDDEN")
        r = self.tcp.get("/v1/settlements/%s" % sid, headers=auth("desk1"))
        self.assertEqual((r.status, r.json["state"]), (200, "settled"), r)

    def test_another_desks_presettle_leaves_the_refusal_to_tell(self):
        # An upload refused from the queue is told once, by the visit's next presettle or
        # settle: another desk's, refused 403, is not that (it used the telling up, and the
        # visit's own desk then settled without the lines, told nothing).
        token = self.identify_at("desk1", "D01")
        v = self.tcp.post("/v1/visits", h.visit_body(token), headers=auth("desk1")).json
        vid = v["visit_id"]
        self.w.kill_sandbox()
        r = self.tcp.post("/v1/visits/%s/fees" % vid, {"lines": h.stay_lines("Q")[:2]},
                          headers=auth("desk1"))
        self.assertEqual((r.status, r.json["upload"]["state"]), (200, "queued"), r)
        self.assertTrue(self.w.start_sandbox(faults=[
            {"infno": "2301", "mode": "refuse", "count": 1, "message": "明细有误 (injected)"}]))
        h.wait_until(lambda: {ln["state"] for ln in self.fee_lines(vid)} == {"refused_queued"},
                     30, "the upload refused from the queue", step=0.2)
        r = self.tcp.post("/v1/visits/%s/presettle" % vid, {}, headers=auth("desk2"))
        self.assertError(r, 403, "FORBIDDEN")
        r = self.tcp.post("/v1/visits/%s/presettle" % vid, {}, headers=auth("desk1"))
        self.assertError(r, 409, "CONFLICT")
        self.assertEqual(r.json["error"]["details"]["his_line_ids"], ["Q01", "Q02"], r)

    def test_zz_audit_log_says_who_did_what(self):
        # Last of the file: it breaks the chain on purpose at the end.
        token = self.identify_at("desk1", "D01")
        v = self.tcp.post("/v1/visits", h.visit_body(token), headers=auth("desk1")).json
        path = "/v1/visits/%s" % v["visit_id"]
        r = self.tcp.post(path + "/fees", {"lines": h.stay_lines()[:2]}, headers=auth("desk1"))
        self.assertEqual(r.status, 200, r)
        r = self.tcp.post(path + "/settle", {"discharge": {"time": "2026-11-25 09:30:00"}},
                          headers=auth("desk1"))
        self.assertEqual(r.status, 200, r)
        sid = r.json["settlement_id"]
        r = self.unix.post("/v1/settlements/%s/cancel" % sid, {})  # the socket: its user
        self.assertEqual(r.status, 200, r)
        r = self.tcp.post(path + "/fees/cancel", {"all": True}, headers=auth("desk12"))
        self.assertEqual(r.status, 200, r)

        # Operators of every desk read it; a viewer or one desk's operator does not.
        for who in ("viewer", "desk1", "ops1"):
            self.assertError(self.tcp.get("/v1/audit", headers=auth(who)), 403, "FORBIDDEN")
        rows = []
        after = 0
        while True:  # pages of 2: each checked against the one before
            page = self.tcp.get("/v1/audit?after=%d&limit=2" % after, headers=auth("ops")).json
            self.assertEqual((page["chain"], page["broken_at"]), ("intact", None), page)
            rows += page["rows"]
            if not page["truncated"]:
                break
            after = page["next_after"]
        mine = [(r["who"], r["action"], r["target"]) for r in rows
                if r["target"] in (v["visit_id"], sid)]
        self.assertEqual(mine, [("desk1", "discharge", v["visit_id"]),
                                ("desk1", "settle", sid),
                                ("unix uid %d" % os.getuid(), "cancel", sid),
                                ("desk12", "fees_cancel", v["visit_id"])])
        # Each row's message is the journal's: written with it, in its transaction.
        for row in rows:
            self.assertIsNotNone(self.posad_row("SELECT 1 FROM journal WHERE msgid = ?",
                                                (row["msgid"],)), row)
        posactl = os.path.join(os.path.dirname(os.path.dirname(h.POSAD)), "interface", "ctl",
                               "posactl")
        p = subprocess.run([posactl, "--socket", self.w.sock_path, "audit"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p)
        self.assertRegex(p.stdout, r"(?m)^chain +intact$")
        self.assertRegex(p.stdout, r"(?m)^checked +%d$" % len(rows))

        # posad changes no row; one changed behind its back (its guard dropped) breaks the
        # chain at that row, and posactl says so with exit 3.
        db = h.sqlite3.connect(os.path.join(self.w.data_dir, "posad.db"), timeout=10)
        with self.assertRaises(h.sqlite3.DatabaseError):
            with db:
                db.execute("DELETE FROM audit")
        settle_seq = [r["seq"] for r in rows if r["action"] == "settle"][-1]
        with db:
            db.execute("DROP TRIGGER audit_no_update")
            db.execute("UPDATE audit SET who = 'desk2' WHERE seq = ?", (settle_seq,))
        db.close()
        page = self.tcp.get("/v1/audit?limit=1000", headers=auth("ops")).json
        self.assertEqual((page["chain"], page["broken_at"]), ("broken", settle_seq), page)
        p = subprocess.run([posactl, "--socket", self.w.sock_path, "audit"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 3, p)
        self.assertIn("broken at seq %d" % settle_seq, p.stderr)
        # The whole log's verdict on stdout too, the table's and --json's (a page's own
        # verdict is about its rows: the last page's said intact).
        self.assertRegex(p.stdout, r"(?m)^chain +broken$")
        p = subprocess.run([posactl, "--socket", self.w.sock_path, "--json", "audit"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 3, p)
        got = json.loads(p.stdout)
        self.assertEqual((got["chain"], got["broken_at"], got["checked"], got["truncated"]),
                         ("broken", settle_seq, len(rows), False), got)
        self.assertEqual([r["seq"] for r in got["rows"]], [r["seq"] for r in rows])

    def test_desk_scope_is_not_escaped_by_leaving_desk_out(self):
        # A cashier scoped to D01 who leaves "desk" out still works at D01: the visit is
        # D01's, and D02's cashier may not read or bill it (else the scope means nothing).
        r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]},
                          headers=auth("desk1"))
        self.assertEqual(r.status, 200, r)
        r = self.tcp.post("/v1/visits", h.visit_body(r.json["identity_token"]),
                          headers=auth("desk1"))
        self.assertEqual(r.status, 201, r)
        path = "/v1/visits/%s" % r.json["visit_id"]
        self.assertEqual(self.tcp.get(path, headers=auth("desk1")).status, 200)
        self.assertError(self.tcp.get(path, headers=auth("desk2")), 403, "FORBIDDEN")

    def test_a_key_does_not_replay_another_clients_answer(self):
        # D01's answer is kept under its key; D02's cashier sending the same request with the
        # same key must not get it (a patient's identity, a token the desk check refuses it):
        # a key names one client's request.
        body = {"source": "id", "certno": h.PERSONS[ZHANG], "desk": "D01"}
        first = self.tcp.post("/v1/identify", body, key="auth-replay-1", headers=auth("desk1"))
        self.assertEqual(first.status, 200, first)
        other = self.tcp.post("/v1/identify", body, key="auth-replay-1", headers=auth("desk2"))
        self.assertError(other, 409, "CONFLICT")
        self.assertNotIn(first.json["identity_token"], other.raw.decode("utf-8"))
        again = self.tcp.post("/v1/identify", body, key="auth-replay-1", headers=auth("desk1"))
        self.assertEqual((again.status, again.raw), (200, first.raw), again)

    def test_another_desks_403_leaves_the_key_to_the_visits_desk(self):
        # D02's cashier bills D01's visit under a key (a token mixed up at the HIS): 403, not
        # kept, so D01's own client sending that request with that key is answered (it was a
        # CONFLICT for good; found by review).
        token = self.identify_at("desk1", "D01")
        r = self.tcp.post("/v1/visits", h.visit_body(token), headers=auth("desk1"))
        self.assertEqual(r.status, 201, r)
        path = "/v1/visits/%s/fees" % r.json["visit_id"]
        body = {"lines": h.stay_lines("KD")[:1]}
        r = self.tcp.post(path, body, key="auth-403-key", headers=auth("desk2"))
        self.assertError(r, 403, "FORBIDDEN")
        r = self.tcp.post(path, body, key="auth-403-key", headers=auth("desk1"))
        self.assertEqual(r.status, 200, r)
        again = self.tcp.post(path, body, key="auth-403-key", headers=auth("desk1"))
        self.assertEqual((again.status, again.raw), (200, r.raw), again)

    def test_identity_of_one_desk_cannot_open_a_visit_at_another(self):
        token = self.identify_at("desk1", "D01")
        r = self.tcp.post("/v1/visits", h.visit_body(token), headers=auth("desk2"))
        self.assertError(r, 403, "FORBIDDEN")
        self.assertIn("identified at another desk", r.json["error"]["message"], r)
        # One identified at no desk (a client of every desk, desk left out) is no other
        # desk's: said so (it said "at another desk"; found by review).
        r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]},
                          headers=auth("front"))
        self.assertEqual(r.status, 200, r)
        r = self.tcp.post("/v1/visits", h.visit_body(r.json["identity_token"]),
                          headers=auth("desk1"))
        self.assertError(r, 403, "FORBIDDEN")
        self.assertIn("identified at no desk", r.json["error"]["message"], r)

    def test_events_of_another_desk_are_forbidden(self):
        s = h.SseStream(self.tcp, "/v1/events?desk=D02", headers=auth("desk1"), timeout=5)
        try:
            self.assertEqual(s.status, 403, s.body)
            self.assertIn(b'"FORBIDDEN"', s.body)
            # the desk named, as every desk refusal is (it said "this desk or role")
            self.assertIn(b"does not serve that desk", s.body)
        finally:
            s.close()
        s = h.SseStream(self.tcp, "/v1/events?desk=D01", headers=auth("desk1"), timeout=5)
        try:
            self.assertEqual(s.status, 200, s.body)
            s.wait_comment("subscribed", 5)
        finally:
            s.close()

    # --- roles -----------------------------------------------------------------------------

    def test_readonly_cannot_open_a_visit(self):
        token = self.identify_at("desk1", "D01")
        r = self.tcp.post("/v1/visits", h.visit_body(token), headers=auth("viewer"))
        self.assertError(r, 403, "FORBIDDEN")
        r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]},
                          headers=auth("viewer"))
        self.assertError(r, 403, "FORBIDDEN")
        # Said as a role's refusal: it said "a request from a web page", which it never is
        # with tokens (the IT person looked for a browser, not at the token's role).
        self.assertNotIn("web page", r.json["error"]["message"], r)
        self.assertIn("role", r.json["error"]["message"], r)

    def test_retry_is_for_ops(self):
        path = "/v1/queue/NOSUCHMSGID000000000000000000/retry"
        r = self.tcp.post(path, {}, headers=auth("ops"))
        self.assertError(r, 404, "NOT_FOUND")  # passed auth, found nothing
        for who in ("desk1", "viewer"):
            with self.subTest(client=who):
                r = self.tcp.post(path, {}, headers=auth(who))
                self.assertError(r, 403, "FORBIDDEN")
        r = self.tcp.post(path, {})
        self.assertError(r, 401, "UNAUTHORIZED")

    def test_queue_is_for_clients_of_every_desk(self):
        # The queue holds every desk's messages (msgids, visits, errors): a client scoped to
        # some desks may neither list it nor retry in it (both were open to it).
        for who in ("desk1", "desk12"):
            with self.subTest(client=who):
                self.assertError(self.tcp.get("/v1/queue", headers=auth(who)), 403, "FORBIDDEN")
        r = self.tcp.get("/v1/queue", headers=auth("viewer"))
        self.assertEqual(r.status, 200, r)
        r = self.tcp.post("/v1/queue/NOSUCHMSGID000000000000000000/retry", {},
                          headers=auth("ops1"))
        self.assertError(r, 403, "FORBIDDEN")

    def test_a_visit_of_no_desk_is_for_clients_of_every_desk(self):
        # Opened through the Unix socket without a desk: it is every desk's, so not one of
        # D01's or D02's. A client of some desks may neither read, bill nor open with it.
        token = self.identify(self.unix, ZHANG)
        r = self.tcp.post("/v1/visits", h.visit_body(token), headers=auth("desk1"))
        self.assertError(r, 403, "FORBIDDEN")
        v = self.open_visit(self.unix, ZHANG)
        path = "/v1/visits/%s" % v["visit_id"]
        for who in ("desk1", "desk2", "ops1"):
            with self.subTest(client=who):
                self.assertError(self.tcp.get(path, headers=auth(who)), 403, "FORBIDDEN")
        r = self.tcp.post(path + "/fees", {"lines": h.stay_lines("N")[:1]}, headers=auth("desk2"))
        self.assertError(r, 403, "FORBIDDEN")
        for who in ("front", "viewer"):
            with self.subTest(client=who):
                self.assertEqual(self.tcp.get(path, headers=auth(who)).status, 200)

    def test_reconcile_is_for_clients_of_every_desk(self):
        # A reconciliation counts every desk's settlements (its report names their people).
        r = self.tcp.post("/v1/reconcile", {"date": "2026-11-25"}, headers=auth("ops1"))
        self.assertError(r, 403, "FORBIDDEN")
        self.assertError(self.tcp.get("/v1/reconcile/2026-11-25", headers=auth("desk1")), 403,
                         "FORBIDDEN")
        r = self.tcp.post("/v1/reconcile", {"date": "2026-11-25"}, headers=auth("ops"))
        self.assertEqual(r.status, 200, r)
        r = self.tcp.get("/v1/reconcile/2026-11-25", headers=auth("viewer"))
        self.assertEqual(r.status, 200, r)

    def test_ops_is_not_a_cashier(self):
        r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]},
                          headers=auth("ops"))
        self.assertError(r, 403, "FORBIDDEN")

    # --- the Unix socket -------------------------------------------------------------------

    def test_unix_socket_needs_no_token(self):
        r = self.unix.get("/v1/health")
        self.assertEqual(r.status, 200, r)
        self.identify(self.unix, ZHANG)
        r = self.unix.post("/v1/queue/NOSUCHMSGID000000000000000000/retry", {})
        self.assertError(r, 404, "NOT_FOUND")
        # A visit opened over TCP by D01 is visible on the socket.
        token = self.identify_at("desk1", "D01")
        r = self.tcp.post("/v1/visits", h.visit_body(token), headers=auth("desk1"))
        self.assertEqual(r.status, 201, r)
        r = self.unix.get("/v1/visits/%s" % r.json["visit_id"])
        self.assertEqual(r.status, 200, r)

    # --- SIGHUP ----------------------------------------------------------------------------

    def reload(self, extra_conf, event):
        """Rewrites posad.conf with extra_conf, sends SIGHUP, waits for the log's event."""
        w = self.w
        before = w.log_tail(n=10 ** 7).count(event)
        w.extra_conf = extra_conf
        w.write_conf()
        os.kill(w.posad.pid, signal.SIGHUP)
        h.wait_until(lambda: w.log_tail(n=10 ** 7).count(event) > before, 10, event)
        return w.log_tail(n=10 ** 7).rsplit(event, 1)[1].split("\n", 1)[0]

    def test_a_key_is_not_replayed_to_a_client_a_reload_moved(self):
        # desk1's identify at D01 is kept under its key; a reload moves desk1 to D02 (or gives
        # its name to a new token): the same request with the key is a CONFLICT, not D01's
        # patient and identity_token replayed past the desk check (found by review).
        body = {"source": "id", "certno": h.PERSONS[ZHANG], "desk": "D01"}
        first = self.tcp.post("/v1/identify", body, key="auth-moved-1", headers=auth("desk1"))
        self.assertEqual(first.status, 200, first)
        original = self.w.extra_conf
        moved = dict(TOKENS, desk1=(TOKENS["desk1"][0], "cashier", "D02"))
        renamed = dict(TOKENS, desk1=("tok-desk1-new-0b7f", "cashier", "D01"))
        try:
            for tokens in (moved, renamed):
                line = ";".join("%s:%s:%s:%s" % (n, h.sha256_hex(t), role, desks)
                                for n, (t, role, desks) in tokens.items())
                self.reload("[his]\nclients = %s\n" % line, "config_reloaded")
                again = self.tcp.post("/v1/identify", body, key="auth-moved-1",
                                      headers=h.bearer(tokens["desk1"][0]))
                self.assertError(again, 409, "CONFLICT")
                self.assertNotIn(first.json["identity_token"], again.raw.decode("utf-8"))
            # As it was, the key's answer is the client's again.
            self.reload(original, "config_reloaded")
            again = self.tcp.post("/v1/identify", body, key="auth-moved-1", headers=auth("desk1"))
            self.assertEqual((again.status, again.raw), (200, first.raw), again)
        finally:
            self.reload(original, "config_reloaded")

    def test_sighup_reloads_the_tokens(self):
        original = self.w.extra_conf
        late = ("tok-late-5e1d0c3b", "cashier", "D01")
        line = ";".join("%s:%s:%s:%s" % (n, h.sha256_hex(t), role, desks)
                        for n, (t, role, desks) in list(TOKENS.items())[1:] + [("late", late)])
        stream = h.SseStream(self.tcp, "/v1/events", headers=auth("desk1"), timeout=5)
        unix_stream = h.SseStream(self.unix, "/v1/events", timeout=5)
        try:
            stream.wait_comment("desk D01", 5)
            unix_stream.wait_comment("desk *", 5)
            self.assertEqual(self.tcp.get("/v1/health", headers=h.bearer(late[0])).status, 401)
            # logrotate's SIGHUP with the file as it was: nothing changes, streams stay.
            said = self.reload(original, "config_reloaded")
            self.assertIn("nothing changed", said)
            self.assertFalse(stream_ends(stream, 1), "a reload that changed nothing ended a stream")
            # desk1 revoked, late added, and a key a reload cannot apply changed.
            said = self.reload("[his]\nclients = %s\nchunk_lines = 7\n" % line,
                               "config_reloaded")
            self.assertIn("[his] chunk_lines", said)
            self.assertEqual(self.tcp.get("/v1/health", headers=auth("desk1")).status, 401)
            # Only a key a reload cannot apply changed: not "nothing changed" beside it
            # (found by review).
            said = self.reload("[his]\nclients = %s\nchunk_lines = 9\n" % line,
                               "config_reloaded")
            self.assertIn('applied="nothing (what changed waits for a restart)"', said)
            self.assertIn("[his] chunk_lines", said)
            self.assertEqual(self.tcp.get("/v1/health", headers=h.bearer(late[0])).status, 200)
            self.assertEqual(self.tcp.get("/v1/health", headers=auth("ops")).status, 200)
            # The revoked client's stream ended; the socket's (no token) goes on.
            self.assertTrue(stream_ends(stream, 5), "the revoked client's stream goes on")
            # with its last chunk, as a stream ends (it was cut: curl said exit 18; found by
            # review)
            self.assertTrue(stream.finished, "the stream was cut, not ended")
            self.assertFalse(unix_stream.ended)
            # A file that does not read changes nothing.
            said = self.reload("[his]\nclients = late:nothex:cashier:D01\n",
                               "config_reload_failed")
            self.assertIn("clients", said)
            self.assertEqual(self.tcp.get("/v1/health", headers=h.bearer(late[0])).status, 200)
            self.assertEqual(self.tcp.get("/v1/health", headers=auth("desk1")).status, 401)
        finally:
            stream.close()
            unix_stream.close()
            self.reload(original, "config_reloaded")
        self.assertEqual(self.tcp.get("/v1/health", headers=auth("desk1")).status, 200)

    def test_sighup_keeps_a_network_listeners_tokens(self):
        # The listener moves only at a restart: a file that now says loopback and no tokens
        # must not leave 0.0.0.0 open to anyone.
        if self.w.listen_host == "127.0.0.1":
            self.skipTest("the listener is on loopback (runs over TLS, on 0.0.0.0)")
        original = self.w.extra_conf
        try:
            self.w.listen_host = "127.0.0.1"
            said = self.reload("\n", "config_reload_failed")
            self.assertIn("[posad] listen", said)
            # the address quoted is the running one, not the file's: said so (found by review)
            self.assertIn("with what runs until a restart", said)
            self.assertEqual(self.tcp.get("/v1/queue").status, 401)
            self.assertEqual(self.tcp.get("/v1/queue", headers=auth("ops")).status, 200)
        finally:
            self.w.listen_host = "0.0.0.0"
            self.reload(original, "config_reloaded")


def stream_ends(stream, timeout):
    """True when the stream's connection ends within timeout."""
    deadline = time.monotonic() + timeout
    try:
        while not stream.ended:
            stream._recv(deadline)
            stream._dechunk()
    except (socket.timeout, TimeoutError):
        return False
    except OSError:  # reset
        return True
    return True


class CheckConfig(unittest.TestCase):
    """posad --check-config FILE: exit 2 with the file and the key named; nothing started."""

    def check(self, extra, head=""):
        d = tempfile.mkdtemp(prefix="posa-his-conf-")
        path = os.path.join(d, "posad.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(head + "[posad]\ndata_dir = %s\nsocket = %s\n"
                    "[institution]\nfixmedins_code = %s\nfixmedins_name = 医院\n"
                    "mdtrtarea_admvs = 310000\n"
                    "[upstream]\nurl = http://127.0.0.1:9/fsi/api/rsfComIfsService/callService\n"
                    "%s" % (os.path.join(d, "data"), os.path.join(d, "posa.sock"),
                            h.INSTITUTION, extra))
        p = subprocess.run([h.POSAD, "--check-config", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        started = os.path.exists(os.path.join(d, "data"))
        shutil.rmtree(d, ignore_errors=True)
        return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace"), path, started

    def test_good_clients_pass(self):
        rc, out, _, started = self.check("[his]\nclients = %s\n" % clients_line())
        self.assertEqual(rc, 0, out)
        self.assertFalse(started, "check-config created the data dir")

    def test_malformed_clients_refused(self):
        good = h.sha256_hex("x")
        for entry in ("desk1",                                   # no fields
                      "desk1:%s:cashier" % good,                 # no desks
                      "desk1:%s:cashier:" % good,                # empty desks
                      "desk1:%s:boss:D01" % good,                # unknown role
                      "desk1:%s:cashier:D01" % good[:-2],        # hash too short
                      "desk1:%s:cashier:D01" % ("z" * 64),       # not hex
                      ":%s:cashier:D01" % good,                  # no name
                      "desk1:%s:cashier:D01;junk" % good,        # a bad second entry
                      # desks that are no desk ids (each loaded as a desk no one names)
                      "desk1:%s:cashier:D01,*" % good,
                      "desk1:%s:cashier:D 01" % good,
                      "desk1:%s:cashier:D01:extra" % good,
                      "desk1:%s:cashier:D01,,D02" % good):
            with self.subTest(entry=entry[-16:]):
                rc, out, path, started = self.check("[his]\nclients = %s\n" % entry)
                self.assertEqual(rc, 2, out)
                self.assertIn("[his] clients", out)
                self.assertIn(path, out)
                self.assertFalse(started)

    def test_desks_in_readers_and_scanners_are_desk_ids(self):
        for line, bad in (("readers = D01,*=Virtual PCD*", "D01,*"),
                          ("scanners = D 1=tcp:127.0.0.1:9100", "D 1"),
                          ("scanners = *=tcp:127.0.0.1:9100", "*")):
            with self.subTest(line=line):
                rc, out, path, _ = self.check("[desks]\n%s\n" % line)
                self.assertEqual(rc, 2, out)
                self.assertIn('"%s" is not a desk id (letters, digits' % bad, out)
        rc, out, _, _ = self.check("[desks]\nscanners = 门诊收费1=tcp:127.0.0.1:9100\n")
        self.assertEqual(rc, 0, out)

    def test_clients_listed_twice_refused(self):
        # The same token twice took the last entry's role and desks (ops on every desk); the
        # same name twice shared one Idempotency-Key namespace.
        a, b = h.sha256_hex("x"), h.sha256_hex("y")
        for entry in ("desk1:%s:cashier:D01;desk2:%s:ops:*" % (a, a),
                      "desk1:%s:cashier:D01;desk1:%s:cashier:D02" % (a, b)):
            with self.subTest(entry=entry[-20:]):
                rc, out, path, started = self.check("[his]\nclients = %s\n" % entry)
                self.assertEqual(rc, 2, out)
                self.assertIn("listed twice", out)
                self.assertFalse(started)

    def test_client_with_the_hash_of_an_empty_token_refused(self):
        # printf %s "$TOKEN" | sha256sum with TOKEN unset: accepted, a client that could
        # never sign in, and nothing said why.
        rc, out, _, started = self.check("[his]\nclients = desk1:%s:cashier:D01\n"
                                         % h.sha256_hex("").upper())
        self.assertEqual(rc, 2, out)
        self.assertIn('"desk1": its hash is the SHA-256 of an empty token', out)
        self.assertFalse(started)

    def tls_lines(self):
        if not hasattr(self, "cert"):
            d = tempfile.mkdtemp(prefix="posa-his-cert-")
            self.addCleanup(shutil.rmtree, d, True)
            self.cert, self.key = h.make_certificate(d)
        return "tls_cert = %s\ntls_key = %s\n" % (self.cert, self.key)

    def test_non_loopback_listen_needs_tls_and_tokens(self):
        for listen in ("0.0.0.0:%d" % h.free_port(), "192.168.1.20:8470", "[::]:8470"):
            for his, ok in (("", False),
                            ("clients = %s\n" % clients_line(), False),  # tokens in clear text
                            (self.tls_lines(), False),                   # TLS, but anyone
                            (self.tls_lines() + "clients = %s\n" % clients_line(), True)):
                with self.subTest(listen=listen, his=his[:20]):
                    rc, out, path, _ = self.check("[posad]\nlisten = %s\n[his]\n%s"
                                                  % (listen, his))
                    if ok:
                        self.assertEqual(rc, 0, out)
                        continue
                    self.assertEqual(rc, 2, out)
                    self.assertIn("[posad] listen", out)
                    self.assertIn("tls_cert", out)
                    self.assertIn(path, out)

    def test_listen_grammar(self):
        # An IP literal and a port: what the listener can bind, checked at its line.
        for listen in ("127.0.0.1:8470", "[::1]:8470", "127.9.9.9:0"):
            with self.subTest(listen=listen):
                rc, out, _, _ = self.check("[posad]\nlisten = %s\n" % listen)
                self.assertEqual(rc, 0, out)
        for listen in ("localhost:8470", "::1:8470", "[::1]8470", "127.0.0.1:70000",
                       "127.0.0.1:", "127.0.0.1:-1", "127.0.0.1", "[::1:8470", "[]:8470",
                       "999.0.0.1:8470", "127.0.0.1:+8470", "127.0.0.1: 8470"):
            with self.subTest(listen=listen):
                rc, out, path, _ = self.check("[posad]\nlisten = %s\n" % listen)
                self.assertEqual(rc, 2, out)
                self.assertIn("%s:11: [posad] listen" % path, out)

    def test_tls_files_checked(self):
        good = self.tls_lines()
        cert, key = self.cert, self.key
        for his, words in (("tls_cert = %s\n" % cert, "set both"),
                           ("tls_key = %s\n" % key, "set both"),
                           ("tls_cert = /nonexistent/cert.pem\ntls_key = %s\n" % key,
                            "/nonexistent/cert.pem: No such file or directory"),
                           ("tls_cert = %s\ntls_key = %s\n" % (key, key), key),  # not a cert
                           ("tls_cert = %s\ntls_key = %s\n" % (cert, cert), cert)):  # no key
            with self.subTest(his=his):
                rc, out, _, started = self.check("[his]\n" + his)
                self.assertEqual(rc, 2, out)
                self.assertIn("tls_", out)
                self.assertIn(words, out)
                self.assertFalse(started)
        # Another key than the certificate's.
        d = tempfile.mkdtemp(prefix="posa-his-cert-")
        self.addCleanup(shutil.rmtree, d, True)
        _, other_key = h.make_certificate(d)
        rc, out, _, _ = self.check("[his]\ntls_cert = %s\ntls_key = %s\n" % (cert, other_key))
        self.assertEqual(rc, 2, out)
        self.assertIn(other_key, out)
        self.assertIn("the key does not match the certificate", out)
        rc, out, _, _ = self.check("[his]\n" + good)
        self.assertEqual(rc, 0, out)

    def test_a_private_key_everyone_may_read_is_refused(self):
        # Accepted at 0644 (the seal key was refused so already): any local account could
        # pose as posad (found by review). Group read stays the operator's choice.
        d = tempfile.mkdtemp(prefix="posa-his-cert-")
        self.addCleanup(shutil.rmtree, d, True)
        cert, key = h.make_certificate(d)
        lines = "[his]\ntls_cert = %s\ntls_key = %s\n" % (cert, key)
        for mode, refused in ((0o644, True), (0o604, True), (0o640, False), (0o600, False)):
            with self.subTest(mode=oct(mode)):
                os.chmod(key, mode)
                rc, out, path, _ = self.check(lines)
                if not refused:
                    self.assertEqual(rc, 0, out)
                    continue
                self.assertEqual(rc, 2, out)
                self.assertIn("[his] tls_key: %s: every account may use this private key (mode "
                              "%04o): chmod 0600" % (key, mode), out)

    def test_certificate_dates_are_said(self):
        # An expired certificate passed --check-config, the start and a reload without a
        # word while every client refused it (found by review): said, not refused (the
        # Unix socket's HIS still works; a renewed one goes in with a SIGHUP). One that
        # expires within 30 days is said the same way (openssl's CLI makes no expired one).
        self.assertNotIn("warning", self.check("[his]\n" + self.tls_lines())[1])
        d = tempfile.mkdtemp(prefix="posa-his-cert-")
        self.addCleanup(shutil.rmtree, d, True)
        soon, soon_key = h.make_certificate(d, days=10)
        rc, out, path, _ = self.check("[his]\ntls_cert = %s\ntls_key = %s\n" % (soon, soon_key))
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"%s:\d+: warning: \[his\] tls_cert: the certificate expires on "
                         r"\w+ +\d+ [\d:]+ \d{4} GMT: renew it" % re.escape(path))

    def test_operator_mistakes_named(self):
        # What an operator editing the file by hand gets wrong, each named at its line
        # (the base file is 9 lines) instead of surfacing later as "platform unreachable".
        for extra, words in (
                ("[his]\nclients = %s\nclients = %s\n" % (clients_line(), clients_line()),
                 ":12: [his] clients: set twice (first on line 11)"),
                ("[upstream]\nec_url = http://127.0.0.1:9/ec  # test\n",
                 ":11: [upstream] ec_url: must not hold spaces"),
                ("[upstream]\nec_url = zzz\n", ":11: [upstream] ec_url: must start with http"),
                # The password would be logged with the URL at every start.
                ("[upstream]\nec_url = http://gw:S3cret@127.0.0.1:9/ec\n",
                 ":11: [upstream] ec_url: must not carry a user or password"),
                # curl's own reading of the rest: they said ok, then "cannot be reached"
                ("[upstream]\nec_url = http://127.0.0.1:99999/ec\n",
                 ":11: [upstream] ec_url: Port number was not a decimal number between 0 and "
                 "65535"),
                ("[upstream]\nec_url = http://[::1/ec\n", ":11: [upstream] ec_url: Bad IPv6 address"),
                ("[upstream]\nca_file = /nonexistent/ca.pem\n",
                 ":11: [upstream] ca_file: cannot read /nonexistent/ca.pem"),
                ("[upstream]\ntimeout_ms = 0\n",
                 ":11: [upstream] timeout_ms: must be a whole number from 10 to 600000"),
                ("[posad]\nsocket_mode = 0666\n", ":11: [posad] socket_mode: must not let"),
                # the key's own rule before the length, and a control character as such
                # (they said "too long" and "must be one of masked|full"; found by review)
                ("[his]\nreconcile_at = 02:00:00\n",
                 ":11: [his] reconcile_at: must be empty or a time HH:MM"),
                ("[his]\nforms_certno = ma\x01sked\n",
                 ":11: [his] forms_certno: contains a control character"),
                ("[desks]\ncard_library_init = notjson\n",
                 ":11: [desks] card_library_init: must be JSON")):
            with self.subTest(words=words):
                rc, out, path, started = self.check(extra)
                self.assertEqual(rc, 2, out)
                self.assertIn(path + words, out)
                self.assertFalse(started)
        # A file saved by Notepad starts with a BOM: read as the text it is.
        rc, out, _, _ = self.check("", head="\ufeff")
        self.assertEqual(rc, 0, out)

    def test_refusal_names_the_line(self):
        # his-api.md "Running": exit 2 "with the file, line and key in the message".
        rc, out, path, _ = self.check("[his]\nclients = desk1\n")  # line 11 of the file
        self.assertEqual(rc, 2, out)
        self.assertIn("%s:11:" % path, out)


if __name__ == "__main__":
    h.main()
