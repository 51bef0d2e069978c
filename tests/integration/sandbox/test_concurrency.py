#!/usr/bin/python3
"""posa-sandbox under concurrent clients: 16 threads, each with its own connection per call
and its own person, settle 5 stays each (2401 -> 2301 -> 2304, as the benchmark does, without
2402). Every answer must be right to the fen, the ledger must hold exactly 80 distinct active
settlements, and 3201 must reconcile the day's totals.

The clock is set once (2025-03-10 10:00:00), before the threads start. Admissions carry
begntime 2025-03-01 09:00:00, and filings are long-term, so the threads never move the clock.

test_one_turn sends many messages at the same moment on their own connections, so that they
land in one loop turn and commit as one group: a refusal and a reused msgid among them must
not undo the others, and every answered message must survive a SIGKILL right after.
test_pipelined sends two messages in one write on one connection beside a third on another:
the second is read while the first group's answers go out, and must be answered, and only
once it is committed.
test_big_uploads_beside_small_messages: bodies from 8 KiB on are parsed, and answered, on
libuv's thread pool (service.c), small ones on the loop; 60-line uploads from 8 threads run
beside admissions from 8 others, and a malformed big body is refused from the pool.
"""
import json
import re
import socket
import threading
import time
from decimal import Decimal

import harness
from harness import (ZHENGZHOU, admit, admit_input, filing, mdtrt_id_2401, person, settle_stay,
                     upload_stay)

THREADS = 16
STAYS = 5
PERSONS = [person("410100000000000000000008%02d" % i, "并发%02d" % i, ZHENGZHOU,
                  [filing("long_term", "2024-01-01", None)], seq="%03d" % (100 + i))
           for i in range(THREADS)]


class Concurrency(harness.SandboxCase):
    persons = PERSONS

    def test_parallel_settlements(self):
        sb = self.sb
        sb.set_clock("2025-03-10 10:00:00")
        results, errors = [], []
        lock = threading.Lock()

        def worker(p):
            try:
                for _ in range(STAYS):
                    mdtrt_id = mdtrt_id_2401(admit(sb, p, "2025-03-01 09:00:00"))
                    up = upload_stay(sb, p, mdtrt_id, harness.worked_bill())
                    assert up.ok, up
                    r = settle_stay(sb, p, mdtrt_id, "10000.00")
                    with lock:
                        results.append((p["psn_no"], mdtrt_id, r))
            except Exception as e:  # reported below with the thread's person
                with lock:
                    errors.append("%s: %r" % (p["psn_no"], e))

        threads = [threading.Thread(target=worker, args=(p,)) for p in PERSONS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), THREADS * STAYS)
        for _, _, r in results:
            # each stay: (10,000.00 - 800.00) x 0.90 = 8,280.00; person 1,720.00
            self.assertSetl(r, "10000.00", "8280.00", "1720.00", "parallel stay")
        rows = [x for x in sb.ledger()["settlements"] if x["state"] == "active"]
        self.assertEqual(len(rows), 80)
        self.assertEqual(len({x["setl_id"] for x in rows}), 80)
        self.assertEqual(len({x["mdtrt_id"] for x in rows}), 80)
        self.assertEqual(sum(harness.money(x["fund_pay_sumamt"]) for x in rows),
                         Decimal("662400.00"))  # 80 x 8,280.00
        # the day's totals: 80 settlements, 800,000.00, fund 662,400.00, account 0.00
        r = sb.call("3201", {"data": {"insutype": "310", "clr_type": "21",
                                      "setl_optins": ZHENGZHOU, "stmt_begndate": "2025-03-10",
                                      "stmt_enddate": "2025-03-10",
                                      "medfee_sumamt": "800000.00",
                                      "fund_pay_sumamt": "662400.00", "acct_pay": "0.00",
                                      "fixmedins_setl_cnt": "80", "refd_setl_flag": "0"}})
        self.assertOk(r, "3201")
        self.assertIn(r.output["stmtinfo"]["stmt_rslt"], ("0", 0), r)

    def test_one_turn(self):
        sb = self.sb
        sb.set_clock("2025-03-10 10:00:00")
        envs = [sb.envelope("2401", admit_input(p, "2025-03-09 09:00:00"), p["insuplc_admdvs"])
                for p in PERSONS]
        envs.append(dict(envs[0]))  # the same msgid again: exactly one of the two is done
        bad_sign = dict(envs[1], msgid=harness.MSGIDS.next(), sign_no="NOT-SIGNED-IN")
        envs.append(bad_sign)
        answers = send_at_once(sb.port, envs)
        first, again = answers[0], answers[len(PERSONS)]
        self.assertEqual(sorted([harness.is_ok(first), harness.is_ok(again)]), [False, True],
                         (first, again))
        self.assertIn("already used", (again if harness.is_ok(first) else first)["err_msg"])
        self.assertFalse(harness.is_ok(answers[-1]), answers[-1])
        self.assertIn("sign_no", answers[-1]["err_msg"])
        for a in answers[1:len(PERSONS)]:
            self.assertTrue(harness.is_ok(a), a)
        # Answered means committed: every msgid is still taken after a SIGKILL and a restart,
        # the refused one as refused.
        sb.kill()
        sb.start()
        sb.sign_in()
        sb.set_clock("2025-03-10 10:00:00")
        for env, state in [(e, "done") for e in envs[:len(PERSONS)]] + [(bad_sign, "refused")]:
            r = sb.send_envelope(dict(env, sign_no=sb.sign_no))
            self.assertRefused(r, env["msgid"])
            self.assertIn("already used (infno 2401, %s)" % state, r.err_msg)

    def test_pipelined(self):
        sb = self.sb
        sb.set_clock("2025-03-10 10:00:00")
        answered = []
        for trial in range(5):
            envs = [sb.envelope("2401", admit_input(p, "2025-03-09 09:00:00"),
                                p["insuplc_admdvs"]) for p in PERSONS[3 * trial:3 * trial + 3]]
            one = socket.create_connection(("127.0.0.1", sb.port), timeout=10)
            other = socket.create_connection(("127.0.0.1", sb.port), timeout=10)
            one.sendall(http_post(envs[0]) + http_post(envs[1]))
            other.sendall(http_post(envs[2]))
            for sock, n in ((one, 2), (other, 1)):
                got = read_answers(sock, n)
                self.assertEqual(len(got), n, "trial %d: %d of %d answers" % (trial, len(got), n))
                for a in got:
                    self.assertTrue(harness.is_ok(a), a)
                sock.close()
            answered += envs
        sb.kill()
        sb.start()
        sb.sign_in()
        sb.set_clock("2025-03-10 10:00:00")
        for env in answered:
            r = sb.send_envelope(dict(env, sign_no=sb.sign_no))
            self.assertRefused(r, env["msgid"])
            self.assertIn("already used (infno 2401, done)", r.err_msg)


class BigMessages(harness.SandboxCase):
    """A sandbox of its own: Concurrency counts every settlement of its ledger."""
    persons = PERSONS

    def test_big_uploads_beside_small_messages(self):
        sb = self.sb
        sb.set_clock("2025-03-10 10:00:00")
        results, admitted, errors = [], [], []
        lock = threading.Lock()

        def big_bill():  # the worked bill 15 times: 150,000.00, every line in scope
            bill = []
            for copy in range(15):
                for ln in harness.worked_bill():
                    bill.append(dict(ln, feedetl_sn="%d-%s" % (copy, ln["feedetl_sn"])))
            return bill

        body = json.dumps({"feedetail": big_bill()}, ensure_ascii=False).encode("utf-8")
        self.assertGreater(len(body), 8192)  # goes through the pool

        def uploader(p):
            try:
                for _ in range(2):
                    mdtrt_id = mdtrt_id_2401(admit(sb, p, "2025-03-01 09:00:00"))
                    up = upload_stay(sb, p, mdtrt_id, big_bill())
                    assert up.ok, up
                    assert len(up.output["result"]) == 60, up
                    r = settle_stay(sb, p, mdtrt_id, "150000.00")
                    with lock:
                        results.append(r)
            except Exception as e:
                with lock:
                    errors.append("%s: %r" % (p["psn_no"], e))

        def admitter(p):
            try:
                for _ in range(6):
                    r = admit(sb, p, "2025-03-01 09:00:00")
                    assert r.ok, r
                    with lock:
                        admitted.append(mdtrt_id_2401(r))
            except Exception as e:
                with lock:
                    errors.append("%s: %r" % (p["psn_no"], e))

        threads = ([threading.Thread(target=uploader, args=(p,)) for p in PERSONS[:8]] +
                   [threading.Thread(target=admitter, args=(p,)) for p in PERSONS[8:]])
        for t in threads:
            t.start()
        bad = sb.send_envelope(b'{"infno":"2301","input":{"feedetail":[' + b" " * 9000 + b"}")
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertRefused(bad, "a malformed big body")
        self.assertIn("the envelope is not valid", bad.err_msg)
        self.assertEqual(len(results), 16)
        for r in results:
            # (150,000.00 - 800.00) x 0.90 = 134,280.00; person 15,720.00
            self.assertSetl(r, "150000.00", "134280.00", "15720.00", "big stay")
        self.assertEqual(len(set(admitted)), 48)


def http_post(env):
    body = json.dumps(env, ensure_ascii=False).encode("utf-8")
    return (b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (harness.SERVICE_PATH.encode(), len(body), body))


def read_answers(sock, n, timeout=10):
    """Up to n keep-alive answers' JSON bodies (fewer when none comes within timeout)."""
    raw, out = b"", []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if sep:
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            if len(rest) >= length:
                out.append(harness.loads(rest[:length].decode("utf-8")))
                raw = rest[length:]
                continue
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        raw += chunk
    return out


def send_at_once(port, envs):
    """Each envelope on its own connection, all written before any answer is read; returns
    the answers' JSON in the envelopes' order."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in envs]
    for s, env in zip(socks, envs):
        body = json.dumps(env, ensure_ascii=False).encode("utf-8")
        s.sendall(b"POST %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                  % (harness.SERVICE_PATH.encode(), len(body), body))
    answers = []
    for s in socks:
        raw = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            raw += chunk
        s.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), raw
        answers.append(harness.loads(body.decode("utf-8")))
    return answers


if __name__ == "__main__":
    harness.main()
