"""The desk flow while posad is SIGKILLed again and again: cashiers (one thread each) identify,
open a visit, upload three lines and settle, retrying each step with its Idempotency-Key
through the restarts, as an HIS does. Afterwards: the journal and the platform's ledger
agree (every settlement done is in the ledger once, nothing in the ledger is unknown, no
upload lost or sent twice: tests/integration/agent/harness.py), each registration is one
visit record, and no visit is settled twice. Bounded: a dozen kills, a few dozen flows."""
import os
import random
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "agent"))
import hisharness as h  # noqa: E402
import harness as agent_harness  # noqa: E402

KILLS = 12
CASHIERS = ("32020000000000000000000101", "32020000000000000000000112",
            "41010000000000000000000103", "32020000000000000000000104")
LINES = h.stay_lines()[4:7]  # 300.00 + 200.00 + 240.00, all 甲


class Gone(Exception):
    pass


class Crash(h.HisTestCase):
    # What tests/integration/agent/harness.py's check_exactly_once reads.
    def journal(self):
        return agent_harness.read_posad_db(self.w.data_dir, "SELECT * FROM journal ORDER BY seq")

    def ledger(self):
        return self.w.ledger()

    def visit_rows(self):
        return [(r["visit_id"], r["mdtrt_id"], r["state"]) for r in agent_harness.read_posad_db(
            self.w.data_dir, "SELECT visit_id, mdtrt_id, state FROM visits")]

    # --- a cashier ------------------------------------------------------------------------

    def call(self, method, path, body=None, key=None, until=30.0):
        """Sends until posad answers something other than "down" or "try again" (an error
        that says retryable: a 5xx, or a 409 while an earlier step of the visit is on its
        way)."""
        deadline = time.monotonic() + until
        while time.monotonic() < deadline:
            try:
                r = self.w.tcp.request(method, path, body, timeout=10.0,
                                       headers={"Idempotency-Key": key} if key else None)
            except OSError:
                time.sleep(0.05)
                continue
            if not (r.status >= 400 and r.json and r.json.get("error", {}).get("retryable")):
                return r
            time.sleep(0.05)
        raise Gone("%s %s: no answer in %ss" % (method, path, until))

    def flow(self, psn_no, n, results):
        key = "crash-%s-%d" % (psn_no[-4:], n)
        r = self.call("POST", "/v1/identify", {"source": "id", "certno": h.PERSONS[psn_no]})
        self.assertEqual(r.status, 200, r)
        body = h.visit_body(r.json["identity_token"], kind="outpatient")
        v = self.call("POST", "/v1/visits", body, key=key + "-v")
        if v.status == 400 and v.code == "BAD_REQUEST":
            return  # the identification was lost with a kill before it was kept: start over
        self.assertEqual(v.status, 201, v)
        vid = v.json["visit_id"]
        lines = [dict(ln, his_line_id="%s-%s" % (key, ln["his_line_id"])) for ln in LINES]
        f = self.call("POST", "/v1/visits/%s/fees" % vid, {"lines": lines}, key=key + "-f")
        # Also when a kill lost the answer after the lines were kept: rebuilt from them.
        self.assertEqual(f.status, 200, f)
        s = self.call("POST", "/v1/visits/%s/settle" % vid, {}, key=key + "-s")
        # The settle answer is kept with the outcome (or, when a kill came between sending
        # and recording it, when the journal resolves it): a retry gets it, never "settled".
        self.assertIn(s.status, (200, 202), s)
        results.append((vid, v.json["mdtrt_id"], s.status))

    def cashier(self, psn_no, stop, results, errors):
        n = 0
        try:
            while not stop.is_set():
                self.flow(psn_no, n, results)
                n += 1
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append("%s: %r" % (psn_no, e))

    # --- the test ---------------------------------------------------------------------------

    def restart(self):
        self.w._kill(self.w.posad)
        self.w.posad = self.w._spawn([h.POSAD, "--config", self.w.conf_path], "posad.log")
        h.wait_until(self.w._online, 20, "posad back online", step=0.05)

    def test_kills_mid_flow(self):
        rng = random.Random(os.getpid())
        stop, results, errors = threading.Event(), [], []
        threads = [threading.Thread(target=self.cashier, args=(p, stop, results, errors))
                   for p in CASHIERS]
        for t in threads:
            t.start()
        try:
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.1, 0.6))
                self.restart()
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=120)
        self.assertEqual(errors, [])
        self.assertGreater(len(results), len(CASHIERS))
        # Everything in the journal reaches its end (unknowns resolved, queues drained).
        h.wait_until(lambda: (lambda q: q["depth"] == 0 and q["unknown"] == 0)(
            self.w.tcp.get("/v1/health").json["queue"]), 60, "the journal settled")

        agent_harness.check_exactly_once(self)

        visits = self.visit_rows()
        by_mdtrt = {}
        for vid, mdtrt, state in visits:
            by_mdtrt.setdefault(mdtrt, []).append(vid)
        self.assertEqual({m: v for m, v in by_mdtrt.items() if len(v) > 1 and m}, {},
                         "one registration, several visit records")
        states = {vid: state for vid, _, state in visits}
        for vid, mdtrt, status in results:
            self.assertEqual(states.get(vid), "settled", (vid, mdtrt, status))
        print("# %d flows through %d kills" % (len(results), KILLS))


if __name__ == "__main__":
    h.main()
