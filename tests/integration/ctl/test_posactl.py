"""posactl against a real posad (and posa-sandbox with the default scenario) over posad's Unix
socket: every subcommand as a table and as --json, exit codes 0 / 1 / 2, an error answer's code
and message, and posad not running. Standard library only (/usr/bin/python3).

Usage: test_posactl.py POSACTL POSAD POSA_SANDBOX SOURCE_DIR [unittest args]
The processes are started by the HIS tests' harness (tests/integration/his/hisharness.py):
free loopback ports, a temp dir, killed by PID."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "his"))
import hisharness as h  # noqa: E402

POSACTL = None
ZHANG = "32020000000000000000000101"  # 张建国, filed long_term, Wuxi (employee insurance)


def posactl(*args, sock=None, env_sock=None, timeout=30):
    """Runs posactl; returns (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k != "POSA_SOCKET"}
    if env_sock is not None:
        env["POSA_SOCKET"] = env_sock
    argv = [POSACTL] + (["--socket", sock] if sock else []) + list(args)
    p = subprocess.run(argv, capture_output=True, timeout=timeout, env=env)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")


def width(text):
    """Terminal columns: East Asian wide and fullwidth characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def field(out, key):
    """The value of a "key  value" line of posactl's table output."""
    m = re.search(r"^%s +(.*?) *$" % re.escape(key), out, re.M)
    return m.group(1) if m else None


class WithoutPosad(unittest.TestCase):
    """What posactl does before it reaches posad, and when it cannot."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="posa-ctl-")
        self.nowhere = os.path.join(self.dir, "posa.sock")  # nothing listens there

    def tearDown(self):
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)

    def test_posad_not_running(self):
        rc, out, err = posactl("status", sock=self.nowhere)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, "")
        self.assertIn("cannot connect to posad at %s" % self.nowhere, err)
        self.assertIn("is posad running?", err)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"),
                         "needs root to run posactl as another user")
    def test_socket_of_another_user(self):
        # posad runs, and its socket (0660) is not this user's nor its group's: "is posad
        # running?" sent staff looking at posad, not at their group.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.nowhere)
        s.listen(1)
        os.chmod(self.nowhere, 0o660)
        os.chmod(self.dir, 0o755)
        try:
            p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                POSACTL, "--socket", self.nowhere, "status"],
                               capture_output=True, timeout=30)
        finally:
            s.close()
        err = p.stderr.decode("utf-8")
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("Permission denied", err)
        self.assertIn("run posactl as a member of that group", err)
        self.assertIn("this user may not reach the socket", err)
        self.assertNotIn("is posad running?", err)

    def test_socket_file_without_listener(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.nowhere)  # bound, never listening: connect() is refused
        try:
            rc, out, err = posactl("queue", env_sock=self.nowhere)
        finally:
            s.close()
        self.assertEqual(rc, 1, err)
        self.assertIn("Connection refused", err)

    def test_bad_usage_exits_2_before_connecting(self):
        # The socket does not exist: reaching for it would exit 1, not 2.
        cases = [[], ["bogus"], ["status", "extra"], ["retry"], ["settlement"],
                 ["reconcile"], ["reconcile", "2026-13-01"], ["reconcile", "2026-02-30"],
                 ["reconcile", "20261125"], ["reconcile", "2026-13"], ["reconcile", "2026-1"],
                 ["settlement", "../health"], ["retry", "a/b"],
                 ["settlement", "x" * 64], ["--nope", "status"], ["status", "--socket"],
                 ["--report", "status"], ["queue", "-x"], ["queue", "--after"],
                 ["queue", "--after", "x1"], ["queue", "--after", "-1"],
                 ["queue", "--after", "1" * 19], ["--after", "5", "status"],
                 ["queue", "--after", "007"], ["queue", "--after", "5", "--after", "7"]]
        for args in cases:
            with self.subTest(args=args):
                rc, out, err = posactl(*args, sock=self.nowhere)
                self.assertEqual(rc, 2, (out, err))
                self.assertEqual(out, "")
                self.assertTrue(err.startswith("posactl: ") or err.startswith("usage:"), err)
                self.assertNotIn("cannot connect", err)

    def test_help(self):
        rc, out, err = posactl("--help")
        self.assertEqual(rc, 0, err)
        for cmd in ("status", "readers", "queue", "retry MSGID", "reconcile", "settlement ID",
                    "--socket PATH", "--json", "POSA_SOCKET", "--version"):
            self.assertIn(cmd, out)
        rc, out, err = posactl("--version")
        self.assertEqual((rc, err), (0, ""))
        self.assertRegex(out, r"^posactl \d+\.\d+\.\d+\n$")

    def serve_once(self, answer):
        """A one-shot server on the socket path: reads the request, sends answer, closes."""
        if os.path.exists(self.nowhere):
            os.unlink(self.nowhere)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(self.nowhere)
        srv.listen(1)
        got = []

        def run():
            c, _ = srv.accept()
            c.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:  # the head, then Content-Length bytes of body
                data += c.recv(4096)
            m = re.search(rb"Content-Length: (\d+)", data)
            while m and len(data.partition(b"\r\n\r\n")[2]) < int(m.group(1)):
                data += c.recv(4096)
            got.append(data)
            c.sendall(answer)
            c.close()
            srv.close()

        t = threading.Thread(target=run)
        t.start()
        return t, got

    def test_answer_ending_at_eof(self):
        # No Content-Length: the body ends when the peer closes (http-parser is told of EOF).
        body = '{"rows":[{"msgid":"M1","note":"张三"}],"truncated":false}'.encode()
        t, got = self.serve_once(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Connection: close\r\n\r\n" + body)
        rc, out, err = posactl("--json", "queue", sock=self.nowhere)
        t.join(10)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, body.decode() + "\n")
        self.assertTrue(got[0].startswith(b"GET /v1/queue HTTP/1.1\r\n"), got)

    def test_queue_pages(self):
        # A queue of more than a page (1,000): the next one, after the row next_after names.
        t, got = self.serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        rc, out, err = posactl("queue", "--after", "41", sock=self.nowhere)
        t.join(10)
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(got[0].startswith(b"GET /v1/queue?after=41 HTTP/1.1\r\n"), got)

    def test_answer_cut_short(self):
        t, _ = self.serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"rows\":")
        rc, out, err = posactl("queue", sock=self.nowhere)
        t.join(10)
        self.assertEqual((rc, out), (1, ""), err)
        self.assertIn("closed the connection before it answered in full", err)

    def test_answer_not_json(self):
        # A 200 that is not JSON (not posad on that socket): exit 1 with or without --json
        # (--json exited 0, and a script took the text for posad's answer).
        for args in (("status",), ("--json", "status")):
            for body in (b"hello", b"{} junk"):  # json-c alone took the second for {}
                with self.subTest(args=args, body=body):
                    t, _ = self.serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                                           % (len(body), body))
                    rc, out, err = posactl(*args, sock=self.nowhere)
                    t.join(10)
                    self.assertEqual((rc, out), (1, ""), err)  # nothing printed as posad's
                    self.assertIn("posad's answer is not JSON", err)

    def test_retry_and_reconcile_requests(self):
        t, got = self.serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        rc, out, err = posactl("retry", "H3101-01.x_9", sock=self.nowhere)
        t.join(10)
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(got[0].startswith(b"POST /v1/queue/H3101-01.x_9/retry HTTP/1.1\r\n"), got)
        t, got = self.serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        rc, out, err = posactl("reconcile", "2024-02-29", sock=self.nowhere)
        t.join(10)
        self.assertEqual((rc, err), (0, ""))
        head, _, body = got[0].partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"POST /v1/reconcile HTTP/1.1\r\n"), got)
        self.assertIn(b"Content-Length: %d" % len(body), head)
        self.assertEqual(json.loads(body), {"date": "2024-02-29"})
        t, got = self.serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        rc, out, err = posactl("reconcile", "2024-02", sock=self.nowhere)  # a month
        t.join(10)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(json.loads(got[0].partition(b"\r\n\r\n")[2]), {"month": "2024-02"})

    def test_reconcile_mismatch_exits_3(self):
        # A report that says the day does not match: the table, and exit 3 for the script
        # that runs it each night (it exited 0).
        body = b'{"date":"2024-02-29","matched":false,"mismatched":[],"groups":[]}'
        t, _ = self.serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
                               + body)
        rc, out, err = posactl("reconcile", "2024-02-29", sock=self.nowhere)
        t.join(10)
        self.assertEqual(rc, 3, (out, err))
        self.assertIn("does not reconcile", err)
        self.assertEqual(field(out, "matched"), "false", out)

    def answered(self, status_line, doc, *args):
        body = json.dumps(doc).encode()
        t, _ = self.serve_once(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n"
                               % (status_line, len(body)) + body)
        rc, out, err = posactl(*args, sock=self.nowhere)
        t.join(10)
        return rc, out, err

    def test_reconcile_not_comparable_yet_exits_4(self):
        # Settlements still being resolved: the report says "not comparable yet"; posactl
        # said "does not reconcile: see groups and mismatched" (both empty) and "no local
        # settlement", and exited 3 as for a mismatch (found by review).
        rc, out, err = self.answered(b"200 OK", {
            "date": "2024-02-29", "matched": False, "mismatched": [], "groups": [],
            "upstream_asked": False, "unresolved": 2}, "reconcile", "2024-02-29")
        self.assertEqual(rc, 4, (out, err))
        self.assertIn("cannot be compared yet: 2 of its settlements", err)
        self.assertNotIn("does not reconcile", err)
        self.assertNotIn("no local settlement", err)
        # differences listed are a mismatch, whatever is still on its way
        rc, out, err = self.answered(b"200 OK", {
            "date": "2024-02-29", "matched": False, "groups": [], "upstream_asked": True,
            "mismatched": [{"setl_id": "S1", "platform_only": True}], "unresolved": 1},
            "reconcile", "2024-02-29")
        self.assertEqual(rc, 3, (out, err))
        self.assertIn("does not reconcile with the platform: see mismatched", err)
        rc, out, err = self.answered(b"200 OK", {
            "date": "2024-02-29", "matched": False, "mismatched": [], "groups": [],
            "upstream_asked": True, "unreadable": 1}, "reconcile", "2024-02-29")
        self.assertEqual(rc, 3, (out, err))
        self.assertIn("1 settlements of the period could not be read", err)
        rc, out, err = self.answered(b"200 OK", {
            "date": "2024-02-29", "matched": True, "mismatched": [], "groups": [],
            "upstream_asked": False}, "reconcile", "2024-02-29")
        self.assertEqual((rc, err.strip()), (0, "posactl: no local settlement in that period: "
                                                "nothing was compared with the platform"))

    def test_status_not_well_exits_4(self):
        # posad degraded (a disk full, a changed seal key) or the platform away answered 200:
        # posactl status exited 0, and a monitor running it saw nothing (found by review).
        health = {"status": "ok", "database": "ok", "upstream": {"state": "online"}}
        self.assertEqual(self.answered(b"200 OK", health, "status")[0], 0)
        rc, out, err = self.answered(b"200 OK", dict(health, status="degraded"), "status")
        self.assertEqual(rc, 4, (out, err))
        self.assertIn("posad says it is degraded", err)
        rc, out, err = self.answered(b"200 OK", dict(health, upstream={"state": "offline"}),
                                     "status")
        self.assertEqual(rc, 4, (out, err))
        self.assertIn("the platform is offline for posad", err)
        # Degraded still sends: it said "settlements wait or are refused" while they settled.
        rc, out, err = self.answered(b"200 OK", dict(health, upstream={"state": "degraded"}),
                                     "status")
        self.assertEqual(rc, 4, (out, err))
        self.assertIn("messages are still sent", err)
        self.assertNotIn("refused", err)
        rc, out, err = self.answered(b"503 Service Unavailable",
                                     dict(health, status="degraded", database="damaged"), "status")
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("HTTP 503: its database is damaged; restore posad.db from a backup", err)

    def test_peer_that_is_not_http(self):
        t, _ = self.serve_once(b"SSH-2.0-OpenSSH_9.2\r\n")
        rc, out, err = posactl("status", sock=self.nowhere)
        t.join(10)
        self.assertEqual(rc, 1, err)
        self.assertIn("not valid HTTP", err)

    def test_error_answer_without_json(self):
        t, _ = self.serve_once(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                               b"Content-Length: 14\r\n\r\nout of memory\n")
        rc, out, err = posactl("queue", sock=self.nowhere)
        t.join(10)
        self.assertEqual(rc, 1, err)
        self.assertIn("HTTP 503", err)
        self.assertIn("out of memory", err)

    def test_status_of_a_failed_database(self):
        # GET /v1/health answers 503 with its document when the database failed: the table,
        # what to do, and a failing exit for the script that watches it.
        body = json.dumps({"status": "degraded", "version": "0.1.0", "database": "failed",
                           "upstream": {"state": "online", "last_ok": None, "rtt_ms": 1}}).encode()
        t, _ = self.serve_once(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\n\r\n"
                               % len(body) + body)
        rc, out, err = posactl("status", sock=self.nowhere)
        t.join(10)
        self.assertEqual(rc, 1, (out, err))
        self.assertEqual(field(out, "database"), "failed", out)
        self.assertIn("HTTP 503: its database failed; restart posad", err)

    def test_error_words_do_not_drive_the_terminal(self):
        # The platform's words pass through posad's errors: an ESC sequence, a bell, a
        # carriage return or a C1 CSI (U+009B) is shown as '?', never written to the terminal.
        body = json.dumps({"error": {"code": "UPSTREAM_REFUSED", "retryable": False,
                                     "message": "\x1b[2J\x1b]0;pwned\x07FAKE\rover\u009b31m",
                                     "details": {"upstream_message": "\u009b2J清屏"}}},
                          ensure_ascii=False).encode()
        t, _ = self.serve_once(b"HTTP/1.1 422 Unprocessable Entity\r\nContent-Length: %d\r\n\r\n"
                               % len(body) + body)
        rc, out, err = posactl("reconcile", "2024-02-29", sock=self.nowhere)
        t.join(10)
        self.assertEqual(rc, 1, err)
        self.assertIn("?[2J?]0;pwned?FAKE?over?31m", err)
        self.assertIn("?2J清屏", err)
        for c in ("\x1b", "\x07", "\r", "\u009b"):
            self.assertNotIn(c, err)


class WithPosad(unittest.TestCase):
    """One posa-sandbox + posad for the class; one settled stay of 10,000.00 made through the
    HIS API (the harness's STAY_10000, all in scope) to look at."""
    world = None

    @classmethod
    def setUpClass(cls):
        # Offline at the first failure and probed often: the queue test sees it go and return.
        cls.world = h.World("offline_after = 1\nprobe_interval_ms = 200\n")
        try:
            cls.world.start()
            cls.sock = cls.world.sock_path
            cls.api = cls.world.unix
            cls.settlement = cls.settle_stay()
        except BaseException:
            cls.world.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.world.stop()

    @classmethod
    def identify(cls):
        r = cls.api.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]})
        assert r.status == 200, r
        return r.json["identity_token"]

    @classmethod
    def open_stay(cls):
        r = cls.api.post("/v1/visits", h.visit_body(cls.identify()))
        assert r.status == 201, r
        return r.json

    @classmethod
    def settle_stay(cls):
        v = cls.open_stay()
        for _ in range(100):  # 503 while posad still loads the catalog
            r = cls.api.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": h.stay_lines()})
            if r.status != 503:
                break
            time.sleep(0.1)
        assert r.status == 200, r
        r = cls.api.post("/v1/visits/%s/settle" % v["visit_id"],
                         {"discharge": {"time": "2026-11-25 08:30:00"}})
        assert r.status == 200 and r.json["state"] == "settled", r
        return r.json

    def tearDown(self):
        self.assertTrue(self.world.posad_alive(), self.world.log_tail())

    def ctl(self, *args, **kw):
        kw.setdefault("sock", self.sock)
        return posactl(*args, **kw)

    def ctl_json(self, *args):
        rc, out, err = self.ctl("--json", *args)
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    # --- status ---------------------------------------------------------------------------

    def test_status(self):
        rc, out, err = self.ctl("status")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(field(out, "status"), "ok", out)
        self.assertEqual(field(out, "upstream.state"), "online", out)
        self.assertEqual(field(out, "queue.depth"), "0", out)
        # Keys padded to one column: every value starts at the same place.
        block = out.split("\n\n")[0]
        starts = {len(m.group(1)) for m in re.finditer(r"^(\S+ +)\S", block, re.M)}
        self.assertEqual(len(starts), 1, out)

    def test_status_json_via_env(self):
        rc, out, err = posactl("--json", "status", env_sock=self.sock)
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        self.assertEqual(doc["upstream"]["state"], "online")
        self.assertIsInstance(doc["queue"]["depth"], int)
        self.assertEqual(set(doc), set(self.api.get("/v1/health").json))

    # --- readers --------------------------------------------------------------------------

    def test_readers(self):
        doc = self.ctl_json("readers")
        # This posad has no [desks]: no reader, PC/SC not configured.
        self.assertEqual(doc["readers"], [], doc)
        rc, out, err = self.ctl("readers")
        self.assertEqual(rc, 0, err)
        self.assertIn("readers: none", out)
        self.assertEqual(field(out, "pcscd"), doc["pcscd"], out)

    # --- settlement -----------------------------------------------------------------------

    def test_settlement_table(self):
        sid = self.settlement["settlement_id"]
        rc, out, err = self.ctl("settlement", sid)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(field(out, "settlement_id"), sid, out)
        self.assertEqual(field(out, "state"), "settled", out)
        # 10,000.00 in scope; deductible 800.00; fund pays (10,000 - 800) x 0.90 = 8,280.00.
        self.assertEqual(field(out, "amounts.medfee_sumamt"), "10000.00", out)
        self.assertEqual(field(out, "amounts.act_pay_dedc"), "800.00", out)
        self.assertEqual(field(out, "amounts.fund_pay_sumamt"), "8280.00", out)
        self.assertEqual(field(out, "amounts.psn_cash_pay"), "1720.00", out)
        self.assertEqual(field(out, "message.infno"), "2304", out)

    def test_settlement_funds_table_aligned_with_chinese(self):
        rc, out, err = self.ctl("settlement", self.settlement["settlement_id"])
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        i = lines.index("funds (1):")
        head, row = lines[i + 1], lines[i + 2]
        # 职工基本医疗保险统筹基金 is 12 characters, 24 columns; the money column is
        # right-aligned, so the header's and the row's right edges meet.
        self.assertIn("职工基本医疗保险统筹基金", row)
        self.assertTrue(head.rstrip().endswith("amount"), head)
        self.assertTrue(row.rstrip().endswith("8280.00"), row)
        self.assertEqual(width(head.rstrip()), width(row.rstrip()), (head, row))
        name_col = head.index("name")
        self.assertEqual(width(row[:row.index("职")]), name_col, (head, row))

    def test_settlement_json_is_posads_answer(self):
        sid = self.settlement["settlement_id"]
        self.assertEqual(self.ctl_json("settlement", sid), self.api.get("/v1/settlements/" + sid).json)

    def test_settlement_unknown(self):
        rc, out, err = self.ctl("settlement", "S0000000000000000")
        self.assertEqual(rc, 1, out)
        self.assertIn("posactl: NOT_FOUND (HTTP 404): ", err)
        rc, out, err = self.ctl("--json", "settlement", "S0000000000000000")
        self.assertEqual(rc, 1)
        self.assertEqual(json.loads(out)["error"]["code"], "NOT_FOUND")

    # --- reconcile --------------------------------------------------------------------------

    def test_reconcile(self):
        # A settlement is the day the platform settled it (its setl_time), and the harness
        # set the platform's clock: that day, whatever today is here.
        day = h.CLOCK[:10]
        rc, out, err = self.ctl("reconcile", day)
        self.assertEqual((rc, err), (0, ""), out)
        self.assertEqual(field(out, "matched"), "true", out)
        self.assertEqual(field(out, "local_totals.count"), "1", out)
        self.assertEqual(field(out, "local_totals.medfee_sumamt"), "10000.00", out)
        self.assertEqual(field(out, "local_totals.fund_pay_sumamt"), "8280.00", out)
        report = self.ctl_json("reconcile", "--report", day)
        self.assertEqual(report["date"], day)
        self.assertIs(report["matched"], True)
        self.assertEqual(report["mismatched"], [])
        self.assertEqual(report, self.api.get("/v1/reconcile/" + day).json)

    def test_reconcile_report_of_a_day_never_reconciled(self):
        rc, out, err = self.ctl("reconcile", "--report", "2020-01-01")
        self.assertEqual(rc, 1, out)
        self.assertIn("NOT_FOUND (HTTP 404)", err)
        self.assertIn("not been reconciled", err)

    # --- queue and retry (last: takes the platform away and back) ----------------------------

    def wait_upstream(self, state):
        h.wait_until(lambda: self.api.get("/v1/health").json["upstream"]["state"] == state, 15,
                     "upstream " + state, step=0.1)

    def test_zz_queue_and_retry(self):
        rc, out, err = self.ctl("queue")
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("rows: none", out)
        v = self.open_stay()
        self.world.kill_sandbox()
        # Split locally, kept; the upload (2301) fails to connect and waits in the outbox.
        r = self.api.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": h.stay_lines()[:2]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["upload"]["state"], "queued", r)
        # The first failed call took posad offline (offline_after = 1).
        r = self.api.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]})
        self.assertEqual((r.status, r.code), (503, "UPSTREAM_OFFLINE"), r)
        self.wait_upstream("offline")

        # (posad's own probes of the platform, 9001 without a visit, may be listed too.)
        doc = self.ctl_json("queue")
        self.assertIs(doc["truncated"], False)
        mine = [q for q in doc["rows"] if q["visit_id"] == v["visit_id"]]
        self.assertEqual([(q["infno"], q["state"]) for q in mine], [("2301", "queued")], doc)
        msgid = mine[0]["msgid"]
        rc, out, err = self.ctl("queue")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        i = [n for n, s in enumerate(lines) if s.startswith("rows (")][0]
        head = lines[i + 1].split()
        row = [s for s in lines[i + 2:] if s.split()[:1] == [msgid]]
        self.assertEqual(head[:5], ["msgid", "infno", "visit_id", "state", "attempts"], out)
        self.assertEqual(row[0].split()[:4], [msgid, "2301", v["visit_id"], "queued"], out)
        # Its error is the table's last column, whole (it was cut at 40 columns, the port
        # and the cause with it).
        self.assertEqual(head[-1], "last_error", out)
        self.assertGreater(len(mine[0]["last_error"]), 40, mine)
        self.assertTrue(row[0].rstrip().endswith(mine[0]["last_error"]), out)

        rc, out, err = self.ctl("retry", msgid)
        self.assertEqual((rc, err), (0, ""), out)
        self.assertEqual(field(out, "msgid"), msgid, out)
        self.assertEqual(field(out, "state"), "queued", out)
        rc, out, err = self.ctl("retry", "H31010100001209901010000009")
        self.assertEqual(rc, 1, out)
        self.assertIn("NOT_FOUND (HTTP 404)", err)

        # The platform is back: the outbox drains; a message that is done cannot be retried.
        self.assertTrue(self.world.start_sandbox(), self.world.log_tail("sandbox.log"))
        self.wait_upstream("online")
        h.wait_until(lambda: not [q for q in self.ctl_json("queue")["rows"]
                                  if q["visit_id"] == v["visit_id"]], 15, "queue drained",
                     step=0.2)
        rc, out, err = self.ctl("retry", msgid)
        self.assertEqual(rc, 1, out)
        self.assertIn("CONFLICT (HTTP 409)", err)
        self.assertIn("only a queued message can be retried", err)


def main():
    global POSACTL
    if len(sys.argv) < 5:
        sys.stderr.write("usage: %s POSACTL POSAD POSA_SANDBOX SOURCE_DIR\n" % sys.argv[0])
        sys.exit(2)
    POSACTL = sys.argv[1]
    h.POSAD, h.SANDBOX, h.SOURCE = sys.argv[2], sys.argv[3], sys.argv[4]
    prog = unittest.main(module="__main__", argv=[sys.argv[0]] + sys.argv[5:], verbosity=2,
                         exit=False)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
