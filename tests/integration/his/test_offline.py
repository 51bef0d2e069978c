"""The HIS API while the platform is away and after it is back: UPSTREAM_OFFLINE (retryable)
for what needs the platform, fee lines kept and queued, health saying offline, and once the
platform answers again the queue drains and the stay settles with every line. (The offline
estimate of presettle is not implemented yet and not tested here.)"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"


class Offline(h.HisTestCase):
    # Offline at the first failure, and probed (and checked while idle) often, so the test
    # sees it go and come back within a second or two.
    posad_conf = "offline_after = 1\nprobe_interval_ms = 200\nidle_check_ms = 300\n"

    def wait_health(self, client, state, timeout=15):
        h.wait_until(lambda: client.get("/v1/health").json["upstream"]["state"] == state,
                     timeout, "upstream " + state, step=0.1)

    def test_platform_away_and_back(self):
        # Before: a stay with two lines (4,500.00 + 900.00).
        v = self.open_visit(self.unix, ZHANG)
        vid = v["visit_id"]
        self.upload(self.tcp, vid, h.stay_lines()[:2])
        token = self.identify(self.tcp, ZHANG)

        self.w.kill_sandbox()
        r = self.unix.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]})
        self.assertError(r, 503, "UPSTREAM_OFFLINE")
        self.assertIs(r.json["error"]["retryable"], True, r)
        # In a cashier's words; curl's ("Failed to connect to 127.0.0.1 port ... after 0 ms:
        # Couldn't connect to server") go to the log only.
        self.assertIn("no connection could be made", r.json["error"]["message"], r)
        self.assertNotIn("port", r.json["error"]["message"], r)
        self.assertIn("detail=\"Failed to connect", self.w.log_tail(n=200000))
        r = self.tcp.post("/v1/visits", h.visit_body(token))
        self.assertError(r, 503, "UPSTREAM_OFFLINE")
        self.wait_health(self.tcp, "offline")

        # Lines are split locally and kept; their upload waits in the queue.
        fees = self.upload(self.unix, vid, h.stay_lines()[2:4])  # 20.00 + 450.00
        self.assertEqual(fees["upload"]["state"], "queued", fees)
        self.assertEqual(fees["totals"]["inscp_scp_amt"], "470.00", fees)
        q = self.tcp.get("/v1/queue")
        self.assertEqual([(row["infno"], row["visit_id"]) for row in q.json["rows"]],
                         [("2301", vid)], q)
        # What it waits for (attempts 0, last_error null and a next_attempt long past said
        # nothing), and a retry says it goes once the platform answers, not "now" alone.
        self.assertEqual(q.json["upstream"], "offline", q)
        self.assertIn("waiting for the platform (offline)", q.json["rows"][0]["last_error"], q)
        r = self.tcp.post("/v1/queue/%s/retry" % q.json["rows"][0]["msgid"], {})
        self.assertEqual(r.status, 200, r)
        self.assertIn("the platform is offline", r.json["note"], r)
        health = self.unix.get("/v1/health").json
        self.assertEqual(health["queue"]["depth"], 1, health)

        r = self.tcp.post("/v1/visits/%s/settle" % vid, {"discharge": {"time": "2026-11-25 09:30:00"}})
        self.assertError(r, 503, "UPSTREAM_OFFLINE")
        self.assertIs(r.json["error"]["retryable"], True, r)
        # With a discharge, twice: nothing was sent, so nothing waits either (each left a
        # 2402 in the queue before, sent once the platform was back), and no settlement id
        # is named that could not be looked up.
        for _ in range(2):
            r = self.tcp.post("/v1/visits/%s/settle" % vid,
                              {"discharge": {"time": "2026-11-25 09:30:00"}})
            self.assertError(r, 503, "UPSTREAM_OFFLINE")
            self.assertIn("nothing was sent", r.json["error"]["message"], r)
            self.assertNotIn("settlement_id", r.json["error"]["details"], r)
        q = self.tcp.get("/v1/queue")
        self.assertEqual([row["infno"] for row in q.json["rows"]], ["2301"], q)
        # No [policy] file here: a presettle says no estimate can be made at all, not only
        # that the platform is away (found by review).
        r = self.tcp.post("/v1/visits/%s/presettle" % vid,
                          {"discharge": {"time": "2026-11-25 09:30:00"}})
        self.assertError(r, 503, "UPSTREAM_OFFLINE")
        self.assertIn("nor can posad estimate it", r.json["error"]["message"], r)

        # The platform comes back (same port, same data): posad notices, drains the queue.
        self.assertTrue(self.w.start_sandbox(), self.w.log_tail("sandbox.log"))
        self.wait_health(self.unix, "online")
        h.wait_until(lambda: self.tcp.get("/v1/queue").json["rows"] == [], 15, "queue drained",
                     step=0.1)
        r = self.unix.post("/v1/visits/%s/settle" % vid,
                           {"discharge": {"time": "2026-11-25 09:30:00"}})
        self.assertEqual(r.status, 200, r)
        a = r.json["amounts"]
        # 4,500.00 + 900.00 + 20.00 + 450.00 = 5,870.00 in scope:
        # (5,870.00 - 800.00) x 0.90 = 4,563.00; person 1,307.00.
        self.assertEqual((a["medfee_sumamt"], a["fund_pay_sumamt"], a["psn_part_amt"]),
                         ("5870.00", "4563.00", "1307.00"), r)
        uploads = [u for u in self.w.ledger()["uploads"] if u["mdtrt_id"] == v["mdtrt_id"]]
        self.assertEqual(sorted(u["feedetl_sn"] for u in uploads),
                         ["F000001", "F000002", "F000003", "F000004"], uploads)

    def test_cancel_queued_then_refused_gives_the_lines_back(self):
        # A fee cancel made while the platform is away is queued, its lines cancelled with it;
        # when it drains and the platform refuses it, the lines are the visit's again, the
        # desk hears which, and the visit does not settle them until the HIS has cancelled
        # them again (it settled them: the patient paid for what the cashier cancelled).
        psn = "32020000000000000000000112"  # 王䶮, long-term, Wuxi
        v = self.open_visit(self.unix, psn)
        vid = v["visit_id"]
        self.upload(self.tcp, vid, h.stay_lines("Q")[:2])  # 4,500.00 + 900.00
        events = h.SseStream(self.tcp, "/v1/events")
        self.w.kill_sandbox()
        r = self.unix.post("/v1/identify", {"source": "id", "certno": h.PERSONS[psn]})
        self.assertError(r, 503, "UPSTREAM_OFFLINE")
        self.wait_health(self.tcp, "offline")
        r = self.tcp.post("/v1/visits/%s/fees/cancel" % vid, {"his_line_ids": ["Q02"]})
        self.assertEqual((r.status, r.json["state"]), (200, "queued"), r)
        # The refusal armed before posad can reach the platform again: its probe (200 ms)
        # signs in and drains the 2302 at once, and armed after, the cancel went through.
        self.assertTrue(self.w.start_sandbox(faults=[
            {"infno": "2302", "mode": "refuse", "count": 1, "message": "明细已结算 (injected)"}]),
            self.w.log_tail("sandbox.log"))
        self.wait_health(self.unix, "online")
        h.wait_until(lambda: self.tcp.get("/v1/queue").json["rows"] == [], 15, "queue drained",
                     step=0.1)
        name, data = events.events_until("fees_cancel_refused", 10)[-1]
        events.close()
        self.assertEqual((data["visit_id"], data["his_line_ids"]), (vid, ["Q02"]), data)
        # GET /v1/visits/{id} lists the lines: both on the bill, Q02's cancel refused.
        lines = self.tcp.get("/v1/visits/" + vid).json["lines"]
        self.assertEqual([(ln["his_line_id"], ln["state"], ln["amount"], ln.get("cancel_refused"))
                          for ln in lines],
                         [("Q01", "active", "4500.00", None), ("Q02", "active", "900.00", True)])
        discharge = {"discharge": {"time": "2026-11-25 09:30:00"}}
        for path in ("presettle", "settle"):
            r = self.tcp.post("/v1/visits/%s/%s" % (vid, path), discharge)
            self.assertError(r, 409, "CONFLICT")
            self.assertEqual(r.json["error"]["details"]["his_line_ids"], ["Q02"], r)
            self.assertIn("Cancel them again", r.json["error"]["message"], r)
        # Q02 is an uploaded line again: it can be cancelled (it was "not an uploaded line").
        r = self.tcp.post("/v1/visits/%s/fees/cancel" % vid, {"his_line_ids": ["Q02"]})
        self.assertEqual((r.status, r.json["cancelled"]), (200, ["Q02"]), r)
        r = self.tcp.post("/v1/visits/%s/settle" % vid, discharge)
        self.assertEqual((r.status, r.json["amounts"]["medfee_sumamt"]), (200, "4500.00"), r)

    def refused_from_the_queue(self, psn, prefix, faults, code):
        """An outpatient visit whose upload (two lines) and settlement (wait_if_offline) wait
        in the queue, the platform back with faults armed; its desk hears the settlement
        refused, with code: (visit, GET /v1/settlements/{id})."""
        v, sid, events = self.outpatient_queued_behind(psn, prefix, faults)
        data = events.events_until("settlement_resolved", 10)[-1][1]
        events.close()
        self.assertEqual((data["settlement_id"], data["state"]), (sid, "refused"), data)
        g = self.tcp.get("/v1/settlements/" + sid).json
        self.assertEqual((g["state"], g["error"]["code"]), ("refused", code), g)
        return v, g

    def outpatient_queued_behind(self, psn, prefix, faults):
        """An outpatient visit whose upload (two lines) and settlement (wait_if_offline) wait
        in the queue, the platform back with faults armed: (visit, settlement_id, events)."""
        v = self.open_visit(self.unix, psn, kind="outpatient", med_type="11")
        events = h.SseStream(self.tcp, "/v1/events")
        self.w.kill_sandbox()
        self.wait_health(self.tcp, "offline")
        fees = self.upload(self.tcp, v["visit_id"], [
            h.line("%s%d" % (prefix, i), "002501010150000", "血细胞分析(血常规)", "1", "20.00",
                   "20.00") for i in (1, 2)])
        self.assertEqual(fees["upload"]["state"], "queued", fees)
        r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {"wait_if_offline": True})
        self.assertEqual((r.status, r.json.get("state")), (202, "queued"), r)
        self.assertIn("the platform is away", r.json["message"], r)
        self.assertTrue(self.w.start_sandbox(faults=faults), self.w.log_tail("sandbox.log"))
        self.wait_health(self.unix, "online")
        h.wait_until(lambda: self.tcp.get("/v1/queue").json["rows"] == [], 15, "queue drained",
                     step=0.1)
        return v, r.json["settlement_id"], events

    def test_a_settlement_waiting_behind_a_refused_upload_is_not_sent(self):
        # The upload queued before it is refused: the settlement would settle a bill without
        # those lines (500.00 against 240.00 uploaded, in the review); only the sandbox's own
        # total check stopped it. It is withdrawn, never sent, and says why.
        v, g = self.refused_from_the_queue("32020000000000000000000112", "W", [
            {"infno": "2204", "mode": "refuse", "count": 1, "message": "明细有误 (injected)"}],
            "CONFLICT")
        self.assertIn("not sent: the platform refused fee lines uploaded before it (明细有误 "
                      "(injected))", g["error"]["message"], g)
        self.assertEqual([x for x in self.w.ledger()["settlements"]
                          if x["mdtrt_id"] == v["mdtrt_id"]], [])
        self.assertIn("event=settlement_withdrawn", self.w.log_tail(n=200000))
        # The HIS uploads the lines again and settles: 40.00.
        self.upload(self.tcp, v["visit_id"], [
            h.line("W%d" % i, "002501010150000", "血细胞分析(血常规)", "1", "20.00", "20.00")
            for i in (1, 2)])
        r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
        self.assertEqual((r.status, r.json["amounts"]["medfee_sumamt"]), (200, "40.00"), r)

    def test_a_settlement_refused_from_the_queue_says_why(self):
        # Refused at once, a settlement keeps the platform's words; refused after it waited
        # in the queue it had none, and the cashier could not tell the patient why.
        _, g = self.refused_from_the_queue("32020000000000000000000112", "Y", [
            {"infno": "2207", "mode": "refuse", "count": 1, "message": "参保人账户已冻结"}],
            "UPSTREAM_REFUSED")
        self.assertEqual(g["error"]["message"], "参保人账户已冻结", g)
        self.assertEqual(g["error"]["details"]["upstream_message"], "参保人账户已冻结", g)
        # The log says how it ended, as for a settle answered at once (it said only the
        # 2207's "answered"; found by review).
        self.assertRegex(self.w.log_tail(n=200000), r"event=settlement settlement=%s .*"
                         r"state=refused resolved=yes" % g["settlement_id"])

    def test_a_queued_settlements_statement_is_asked_again(self):
        # The statement of a settlement waiting in the queue was a final "not settled"
        # (retryable false): an HIS that honours it never printed the statement of a
        # settlement settled a moment later (found by review). Retryable until it settled.
        v = self.open_visit(self.unix, "32020000000000000000000112", kind="outpatient",
                            med_type="11")
        self.w.kill_sandbox()
        self.wait_health(self.tcp, "offline")
        self.upload(self.tcp, v["visit_id"], [
            h.line("Q1", "002501010150000", "血细胞分析(血常规)", "1", "20.00", "20.00")])
        r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {"wait_if_offline": True})
        self.assertEqual((r.status, r.json.get("state")), (202, "queued"), r)
        path = "/v1/documents/settlement/" + r.json["settlement_id"]
        d = self.tcp.get(path)
        self.assertError(d, 409, "CONFLICT")
        self.assertIs(d.json["error"]["retryable"], True, d)
        self.assertIn("not known yet", d.json["error"]["message"], d)
        self.assertTrue(self.w.start_sandbox(), self.w.log_tail("sandbox.log"))
        self.wait_health(self.unix, "online")
        h.wait_until(lambda: self.tcp.get(path).status == 200, 15, "the statement", step=0.1)
        self.assertIn("20.00", self.tcp.get(path).raw.decode("utf-8"))

    def test_a_discharge_without_wait_is_never_queued(self):
        # The platform gone a moment ago (posad has not said offline yet): the settle's
        # discharge could not leave. It was queued, and sent later, while the cashier heard
        # "nothing was settled" (the platform then held a discharge of a patient who may
        # stay). Without wait_if_offline it goes now or not at all.
        v = self.open_visit(self.unix, ZHANG)
        self.upload(self.tcp, v["visit_id"], h.stay_lines("ND")[:1])
        self.w.kill_sandbox()
        try:
            r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"],
                              {"discharge": {"time": "2026-11-25 09:30:00"}})
            self.assertIn(r.status, (409, 503), r)
            self.assertIn("nothing was settled", r.json["error"]["message"], r)
            self.assertNotIn("waits in posad's queue", r.json["error"]["message"], r)
            q = self.tcp.get("/v1/queue").json
            self.assertEqual([x for x in q["rows"] if x["visit_id"] == v["visit_id"]], [], q)
        finally:
            self.assertTrue(self.w.start_sandbox(), self.w.log_tail("sandbox.log"))
            self.wait_health(self.unix, "online")
        time.sleep(1)  # the outbox had drained a queued one by now
        states = self.posad_rows("SELECT state FROM journal WHERE infno = '2402' AND "
                                 "visit_key = ?", (v["visit_id"],))
        self.assertNotIn(("done",), states, states)
        self.assertNotIn(("queued",), states, states)

    def test_a_refund_while_the_platform_is_away_names_nothing_sent(self):
        # The 503 named a cancel_msgid that is nowhere (nothing was journaled), and gave
        # posad's own words as the platform's (upstream_message).
        v = self.open_visit(self.unix, ZHANG, kind="outpatient", med_type="11")
        self.upload(self.tcp, v["visit_id"], [
            h.line("RF1", "002501010150000", "血细胞分析(血常规)", "1", "20.00", "20.00")])
        r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
        self.assertEqual(r.status, 200, r)
        sid = r.json["settlement_id"]
        v2 = self.open_visit(self.unix, ZHANG, kind="outpatient", med_type="11")
        self.upload(self.tcp, v2["visit_id"], [
            h.line("RF2", "002501010150000", "血细胞分析(血常规)", "1", "20.00", "20.00")])
        self.w.kill_sandbox()
        try:
            # A settle, the first to find the platform gone: posad's words ("cannot be
            # reached") are the message, not the platform's.
            s2 = self.tcp.post("/v1/visits/%s/settle" % v2["visit_id"], {})
            self.assertError(s2, 503, "UPSTREAM_OFFLINE")
            self.assertNotIn("upstream_message", s2.json["error"]["details"], s2)
            # Kept as failed; its message's "refused" (the journal's word for one that ended
            # without a settlement) with why: it never got there (read as the platform's
            # refusal; found by review).
            g = self.tcp.get("/v1/settlements/" + s2.json["error"]["details"]["settlement_id"])
            self.assertEqual((g.json["state"], g.json["message"]["state"]),
                             ("failed", "refused"), g)
            self.assertIn("connect", g.json["message"]["last_error"], g)
            self.assertError(self.unix.post("/v1/identify", {"source": "id",
                                                             "certno": h.PERSONS[ZHANG]}),
                             503, "UPSTREAM_OFFLINE")
            self.wait_health(self.tcp, "offline")
            c = self.tcp.post("/v1/settlements/%s/cancel" % sid, {})
            self.assertError(c, 503, "UPSTREAM_OFFLINE")
            self.assertNotIn("cancel_msgid", c.json["error"]["details"], c)
            self.assertNotIn("upstream_message", c.json["error"]["details"], c)
            self.assertEqual(self.posad_rows("SELECT count(*) FROM journal WHERE infno = '2208'"),
                             [(0,)])
        finally:
            self.assertTrue(self.w.start_sandbox(), self.w.log_tail("sandbox.log"))
            self.wait_health(self.unix, "online")

    def test_a_visit_cancel_queued_then_refused(self):
        # A visit cancelled while the platform is away is closed and its 2202 queued; refused
        # when it goes, the visit is open again and its desk hears so (it heard nothing, and
        # the registration it believed undone stayed at the platform).
        v = self.open_visit(self.unix, ZHANG, kind="outpatient", med_type="11")
        vid = v["visit_id"]
        events = h.SseStream(self.tcp, "/v1/events")
        self.w.kill_sandbox()
        self.unix.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]})
        self.wait_health(self.tcp, "offline")
        r = self.tcp.post("/v1/visits/%s/cancel" % vid, {})
        self.assertEqual((r.status, r.json["state"], r.json["cancel"]), (200, "closed", "queued"),
                         r)
        again = self.tcp.post("/v1/visits/%s/cancel" % vid, {})  # a repeat: the same answer
        self.assertEqual((again.status, again.json), (200, r.json), again)
        self.assertTrue(self.w.start_sandbox(faults=[
            {"infno": "2202", "mode": "refuse", "count": 1, "message": "已有费用 (injected)"}]),
            self.w.log_tail("sandbox.log"))
        self.wait_health(self.unix, "online")
        name, data = events.events_until("visit_cancel_refused", 15)[-1]
        events.close()
        self.assertEqual(data, {"visit_id": vid, "state": "open"}, data)
        self.assertEqual(self.tcp.get("/v1/visits/" + vid).json["state"], "open")

    def test_idle_platform_away_is_seen_without_a_message(self):
        # No HIS call while the platform is away: posad's connect-only check (idle_check_ms)
        # sees it go; the sign-in probe sees it back.
        h.wait_until(lambda: self.unix.get("/v1/health").json["upstream"]["state"] == "online",
                     15, "upstream online", step=0.1)
        before = self.unix.get("/v1/health").json["upstream"]["last_ok"]
        self.w.kill_sandbox()
        self.wait_health(self.tcp, "offline", timeout=10)
        self.assertIn("event=upstream_check_failed", self.w.log_tail(n=20000))
        self.assertTrue(self.w.start_sandbox(), self.w.log_tail("sandbox.log"))
        self.wait_health(self.unix, "online")
        # While idle and reachable, each check that connects is an answer: last_ok moves on.
        h.wait_until(lambda: self.unix.get("/v1/health").json["upstream"]["last_ok"] != before,
                     10, "last_ok moved", step=0.2)

    def test_queue_pages(self):
        # Three uploads queued while the platform is away, read a page at a time:
        # ?limit= cuts the page, next_after names where the next one starts (?after=).
        psn = "32020000000000000000000106"  # 赵敏
        v = self.open_visit(self.unix, psn)
        vid = v["visit_id"]
        self.w.kill_sandbox()
        r = self.unix.post("/v1/identify", {"source": "id", "certno": h.PERSONS[psn]})
        self.assertError(r, 503, "UPSTREAM_OFFLINE")
        self.wait_health(self.tcp, "offline")
        for i in range(3):
            fees = self.upload(self.unix, vid, h.stay_lines("P%d" % i)[:1])
            self.assertEqual(fees["upload"]["state"], "queued", fees)
        whole = self.tcp.get("/v1/queue").json
        rows = [(row["seq"], row["msgid"]) for row in whole["rows"] if row["visit_id"] == vid]
        self.assertEqual(len(rows), 3, whole)
        self.assertEqual(rows, sorted(rows), whole)
        self.assertIs(whole["truncated"], False, whole)
        self.assertNotIn("next_after", whole)
        first = self.tcp.get("/v1/queue?after=%d&limit=2" % (rows[0][0] - 1)).json
        self.assertEqual([(row["seq"], row["msgid"]) for row in first["rows"]], rows[:2], first)
        self.assertEqual((first["truncated"], first["next_after"]), (True, rows[1][0]), first)
        rest = self.tcp.get("/v1/queue?limit=2&after=%d" % first["next_after"]).json
        self.assertEqual([(row["seq"], row["msgid"]) for row in rest["rows"]], rows[2:], rest)
        self.assertIs(rest["truncated"], False, rest)
        for bad in ("limit=0", "limit=1001", "limit=", "after=-1", "after=x", "after=1.5",
                    "limit=1.0", "after=+1", "limit=" + "9" * 30):
            r = self.tcp.get("/v1/queue?" + bad)
            self.assertError(r, 400, "BAD_REQUEST")
        self.assertTrue(self.w.start_sandbox(), self.w.log_tail("sandbox.log"))
        self.wait_health(self.unix, "online")
        h.wait_until(lambda: not [row for row in self.tcp.get("/v1/queue").json["rows"]
                                  if row["visit_id"] == vid], 15, "queue drained", step=0.1)


if __name__ == "__main__":
    h.main()
