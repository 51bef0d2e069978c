"""Settlements whose outcome posad cannot read or cannot record. Either way the settlement may
stand upstream: the cashier hears that its outcome is unknown (never an ordinary error that
invites a second try), and the resolver's query (5203) finds it settled, once.

- The platform commits a 2207 and answers infcode 0 with an output nobody can read (the
  sandbox's garble_after_commit fault).
- A sync of posad's WAL fails while the platform holds a 2207 (an LD_PRELOAD shim fails
  fdatasync while a flag file exists): posad refuses all database work until it is
  restarted, says so in GET /v1/health and its log, and after the restart resolves it."""
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"
SHIM = os.environ.get("POSA_FAILSYNC_LIB", "")


class ShimWorld(h.World):
    """posad runs with the fdatasync shim; the flag file makes its syncs fail."""

    def __init__(self):
        super().__init__()
        self.flag = os.path.join(self.dir, "failsync.flag")

    def _spawn(self, argv, logname):
        if argv[0] != h.POSAD or not SHIM:
            return super()._spawn(argv, logname)
        log = open(os.path.join(self.dir, logname), "ab")
        self.logs.append(log)
        asan = os.environ.get("ASAN_OPTIONS", "")
        env = dict(os.environ, LD_PRELOAD=SHIM, POSA_FAILSYNC_FLAG=self.flag,
                   ASAN_OPTIONS=(asan + ":" if asan else "") + "verify_asan_link_order=0")
        return h.subprocess.Popen(argv, stdout=log, stderr=log, env=env)


class LostOutcomes(h.HisTestCase):
    @classmethod
    def setUpClass(cls):
        h.HisTestCase.world = ShimWorld()  # main() stops it
        h.HisTestCase.world.start()
        super().setUpClass()

    def outpatient_visit(self, prefix):
        v = self.open_visit(self.tcp, ZHANG, kind="outpatient", med_type="11")
        self.upload(self.tcp, v["visit_id"], [
            h.line("%s%d" % (prefix, i), "002501010150000", "血细胞分析(血常规)", "1", "20.00",
                   "20.00") for i in (1, 2)])
        return v

    def fault(self, body):
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", body)
        self.assertEqual(status, 200, raw)

    def armed_faults(self):
        status, raw = self.w.sandbox_request("GET", "/sandbox/faults")
        self.assertEqual(status, 200, raw)
        return h.json.loads(raw)["armed"]

    def assertSettledOnce(self, v, history):
        h.wait_until(lambda: self.settlement_of(v["visit_id"]).get("state") == "settled", 30,
                     "the resolver found the settlement")
        s = self.settlement_of(v["visit_id"])
        self.assertEqual(s["amounts"]["medfee_sumamt"], "40.00", s)  # 2 x 20.00
        self.assertEqual([e["state"] for e in s["history"]], history, s)
        # Its message ended well: the words of the attempt whose answer was lost are not
        # shown beside "done" as if it failed (found by review).
        self.assertEqual(s["message"]["state"], "done", s)
        self.assertNotIn("last_error", s["message"], s)
        upstream = [x for x in self.w.ledger()["settlements"] if x["mdtrt_id"] == v["mdtrt_id"]]
        self.assertEqual([x["state"] for x in upstream], ["active"], upstream)
        again = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
        self.assertError(again, 409, "CONFLICT")  # settled: not a second time
        # ... and which settlement stands, for an HIS that lost the answer and has no key
        self.assertEqual(again.json["error"]["details"].get("settlement_id"),
                         s["settlement_id"], again)

    def test_an_upload_that_always_fails_backs_off(self):
        # The gateway answers every 2204 with HTTP 500 (a size limit, a WAF rule): each is
        # unknown, reversed, and sent again. The resend went at once under a new msgid with no
        # attempts behind it: some 1,000 uploads and reversals a second, all day. Now it goes
        # on from the attempts before it: 1 s, 2 s, 4 s... (msg_backoff_ms, 25% jitter).
        v = self.open_visit(self.tcp, ZHANG, kind="outpatient", med_type="11")
        self.fault({"infno": "2204", "mode": "http_500", "count": 1000000})
        try:
            r = self.tcp.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": [
                h.line("B1", "002501010150000", "血细胞分析(血常规)", "1", "20.00", "20.00")]})
            self.assertIn(r.status, (200, 504), r)
            started = time.monotonic()
            # A resend waiting its backoff says why, from the message it stands in for (it
            # showed no last_error: the cause was on a msgid no longer listed).
            # (Until the reversal of the message it resends is through, it waits behind that.)
            waiting = []
            h.wait_until(lambda: waiting.extend(
                x for x in self.tcp.get("/v1/queue").json["rows"]
                if x["infno"] == "2204" and x["state"] == "queued" and x["attempts"] > 0 and
                not (x["last_error"] or "").startswith("waiting behind"))
                or waiting, 5, "a resend waiting its backoff")
            ref = self.posad_row("SELECT ref_msgid FROM journal WHERE msgid = ?",
                                 (waiting[0]["msgid"],))[0]
            self.assertRegex(waiting[0]["last_error"] or "",
                             r"^sent in place of %s: .*500" % ref, waiting[0])
            time.sleep(max(0.0, 6 - (time.monotonic() - started)))
            rows = self.posad_rows("SELECT infno, attempts, created_at FROM journal "
                                   "WHERE visit_key = (SELECT visit_key FROM journal "
                                   "WHERE infno = '2201' ORDER BY seq DESC LIMIT 1) "
                                   "AND infno IN ('2204', '2601') ORDER BY seq")
            uploads = [x for x in rows if x[0] == "2204"]
            # sent at 0, ~1 s, ~3 s (+ jitter) and perhaps ~7 s: at most four in 6 s
            self.assertLessEqual(len(uploads), 4, rows)
            self.assertGreaterEqual(len(uploads), 2, rows)
            # attempts go on along the chain, and its age from the first upload
            # (the last one may be waiting its turn, with the attempts of the one before)
            attempts = [x[1] for x in uploads]
            self.assertEqual(attempts[:-1], list(range(1, len(uploads))), rows)
            self.assertIn(attempts[-1], (len(uploads) - 1, len(uploads)), rows)
            self.assertEqual(set(x[2] for x in uploads), {uploads[0][2]}, rows)
            # Each reversal and resend is posad's own decision, audited with the message it
            # stands in for: what the platform holds leads back to the cashier's upload.
            chain = self.posad_rows("SELECT msgid, infno, ref_msgid FROM journal WHERE "
                                    "visit_key = ? AND infno IN ('2204', '2601') AND "
                                    "ref_msgid IS NOT NULL ORDER BY seq", (v["visit_id"],))
            audited = {m: (w, a, t) for w, a, t, m in self.posad_rows(
                "SELECT who, action, target, msgid FROM audit")}
            self.assertTrue(chain, rows)
            for msgid, infno, ref in chain:
                self.assertEqual(audited.get(msgid),
                                 ("posad", "reverse" if infno == "2601" else "resend", ref),
                                 (msgid, chain))
        finally:
            self.w.sandbox_request("DELETE", "/sandbox/faults")

    def test_a_settle_queued_behind_an_upload_says_so(self):
        # The upload met an HTTP 500 and waits for its next attempt, the platform answering:
        # the settle (wait_if_offline) is queued behind it, and said "the platform is away"
        # (found by review). It says what it waits for, and settles once the upload went.
        v = self.open_visit(self.tcp, ZHANG, kind="outpatient", med_type="11")
        self.fault({"infno": "2204", "mode": "http_500", "count": 1})
        r = self.tcp.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": [
            h.line("QB1", "002501010150000", "血细胞分析(血常规)", "1", "20.00", "20.00")]})
        self.assertEqual(r.status, 200, r)
        r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {"wait_if_offline": True})
        self.assertEqual((r.status, r.json.get("state")), (202, "queued"), r)
        self.assertIn("waits behind this visit's earlier messages", r.json["message"], r)
        self.assertNotIn("away", r.json["message"], r)
        h.wait_until(lambda: self.settlement_of(v["visit_id"]).get("state") == "settled", 30,
                     "the settlement went after the upload")

    def test_a_settle_that_waits_behind_names_no_settlement_in_the_log(self):
        # The upload's answer lost and its reversal slow: a settle now is 409 retryable, and
        # nothing was kept or sent. The log named a new settlement id each time, at warn, as
        # failed, which GET /v1/settlements then did not know (found by review).
        v = self.open_visit(self.tcp, ZHANG, kind="outpatient", med_type="11")
        self.fault({"infno": "2204", "mode": "drop_after_commit", "count": 1})
        self.fault({"infno": "2601", "mode": "delay", "delay_ms": 2000, "count": 1})
        self.tcp.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": [
            h.line("NB1", "002501010150000", "血细胞分析(血常规)", "1", "20.00", "20.00")]})
        before = self.w.log_tail(n=10 ** 7).count("event=settlement ")
        r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
        self.assertError(r, 409, "CONFLICT")
        self.assertIs(r.json["error"]["retryable"], True, r)
        self.assertNotIn("settlement_id", r.json["error"]["details"], r)
        log = self.w.log_tail(n=10 ** 7)
        self.assertEqual(log.count("event=settlement "), before, log[-2000:])
        self.assertIn("event=settlement_not_sent visit=%s" % v["visit_id"], log)
        h.wait_until(lambda: self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {}).status
                     != 409, 20, "the upload resolved")

    def test_an_upload_whose_answer_is_too_big_is_parked(self):
        # An answer past 16 MiB (a passthrough upload of 45,000 lines) is not read: the
        # upload was reversed and sent again forever, every few minutes, the visit's later
        # messages waiting behind it (found by review). Its resend is parked, saying why,
        # until an operator retries it.
        v = self.open_visit(self.tcp, ZHANG, kind="outpatient", med_type="11")
        self.fault({"infno": "2204", "mode": "oversize_after_commit", "count": 1})
        r = self.tcp.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": [
            h.line("Z1", "002501010150000", "血细胞分析(血常规)", "1", "20.00", "20.00")]})
        self.assertIn(r.status, (200, 504), r)
        parked = []
        h.wait_until(lambda: parked.extend(
            x for x in self.tcp.get("/v1/queue").json["rows"]
            if x["visit_id"] == v["visit_id"] and (x["last_error"] or "").startswith("parked"))
            or parked, 20, "the resend parked")
        self.assertIn("larger than 16 MiB", parked[0]["last_error"], parked)
        self.assertTrue(parked[0]["next_attempt"].startswith("9999-"), parked)
        time.sleep(1.5)  # past the first backoff: not sent by itself
        self.assertEqual(self.posad_row("SELECT state FROM journal WHERE msgid = ?",
                                        (parked[0]["msgid"],))[0], "queued")
        r = self.tcp.post("/v1/queue/%s/retry" % parked[0]["msgid"], {})
        self.assertEqual(r.status, 200, r)
        h.wait_until(lambda: self.posad_row("SELECT state FROM journal WHERE msgid = ?",
                                            (parked[0]["msgid"],))[0] == "done", 20,
                     "the retried upload answered")
        self.assertEqual([l["state"] for l in self.fee_lines(v["visit_id"])], ["active"])

    def test_a_refused_question_does_not_hold_the_others(self):
        # Two settlements' answers are lost; the platform refuses the first question about
        # the first (not "not found": it says nothing of the settlement). The resolver asks
        # about the second before the first again, and both end settled once.
        v1, v2 = self.outpatient_visit("R"), self.outpatient_visit("S")
        self.fault({"infno": "2207", "mode": "drop_after_commit", "count": 2})
        self.fault({"infno": "5203", "mode": "refuse", "count": 1, "message": "system busy"})
        for v in (v1, v2):
            r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
            self.assertEqual((r.status, r.json.get("state")), (202, "unknown"), r)
        for v in (v1, v2):
            self.assertSettledOnce(v, ["pending", "unknown", "settled"])
        asked = [self.posad_row("SELECT visit_key FROM journal WHERE msgid = ?", (ref,))[0]
                 for (ref,) in self.posad_rows(
                     "SELECT ref_msgid FROM journal WHERE infno = '5203' ORDER BY seq")]
        self.assertEqual(asked, [v1["visit_id"], v2["visit_id"], v1["visit_id"]], asked)

    def test_questions_that_do_not_get_through_wait_longer(self):
        # A gateway failing every message but the sign-in had the settlement asked about
        # every 2 s for as long as it lasted: now 2 s, then 4, 8, ... (found by review).
        v = self.outpatient_visit("Q")
        self.fault({"infno": "2207", "mode": "drop_after_commit", "count": 1})
        self.fault({"infno": "5203", "mode": "http_500", "count": 1000})
        try:
            r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
            self.assertEqual((r.status, r.json.get("state")), (202, "unknown"), r)
            time.sleep(13)
            asked = len(self.posad_rows(
                "SELECT msgid FROM journal WHERE infno = '5203' AND ref_msgid IN "
                "(SELECT msgid FROM journal WHERE visit_key = ?)", (v["visit_id"],)))
        finally:
            self.w.sandbox_request("DELETE", "/sandbox/faults", None)
        self.assertGreaterEqual(asked, 2, asked)
        self.assertLessEqual(asked, 4, asked)  # at 0, 2, 6 s (and 14); every 2 s was 7
        self.assertSettledOnce(v, ["pending", "unknown", "settled"])

    def test_platform_words_in_the_log_are_masked(self):
        # The platform's refusal of the question names the patient and the ID number:
        # posad's log keeps the words, with the name and the number masked.
        v = self.outpatient_visit("M")
        certno = h.PERSONS[ZHANG]
        self.fault({"infno": "2207", "mode": "drop_after_commit", "count": 1})
        self.fault({"infno": "5203", "mode": "refuse", "count": 1,
                    "message": "参保人张建国身份证%s查询失败" % certno})
        r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
        self.assertEqual((r.status, r.json.get("state")), (202, "unknown"), r)
        self.assertSettledOnce(v, ["pending", "unknown", "settled"])
        log = self.w.log_tail(n=200000)
        self.assertIn("参保人张**身份证%s********%s查询失败" % (certno[:6], certno[-4:]), log)
        self.assertNotIn(certno, log)
        self.assertNotIn("张建国", log)

    def test_unreadable_answer_is_resolved_by_query(self):
        v = self.outpatient_visit("G")
        self.fault({"infno": "2207", "mode": "garble_after_commit", "count": 1})
        r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
        self.assertEqual((r.status, r.json.get("state")), (202, "unknown"), r)
        self.assertSettledOnce(v, ["pending", "unknown", "settled"])

    def test_impossible_answer_is_resolved_by_query(self):
        # The platform settles, and its answer says what cannot be: cash paid back to the
        # patient, a total that is not the bill's, no setl_id, another visit. posad settled
        # with those figures before; now the outcome is unknown, the resolver asks (5203),
        # and the settlement is the platform's, settled once, with the bill's 40.00.
        for i, (field, value) in enumerate((("psn_cash_pay", "-50.00"),
                                            ("medfee_sumamt", "9999.00"),
                                            ("setl_id", ""), ("mdtrt_id", "M999"))):
            with self.subTest(field=field):
                v = self.outpatient_visit("T%d" % i)
                self.fault({"infno": "2207", "mode": "tamper_after_commit",
                            "field": "setlinfo." + field, "value": value})
                r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
                self.assertEqual((r.status, r.json.get("state")), (202, "unknown"), r)
                self.assertSettledOnce(v, ["pending", "unknown", "settled"])
                s = self.settlement_of(v["visit_id"])
                self.assertTrue(s["setl_id"], s)
                self.assertFalse(s["amounts"]["psn_cash_pay"].startswith("-"), s)
        self.assertIn("settlement_answer_impossible", self.w.log_tail(n=200000))

    def test_an_impossible_query_answer_is_asked_again(self):
        # The settlement's answer cannot be read, and the platform's answer to the question
        # about it cannot be either (cash paid back to the patient): the journal row was
        # taken as done while the settlement stayed unknown, asked about never again (the
        # HIS could neither settle again nor refund). Now the question is asked again.
        v = self.outpatient_visit("Q")
        self.fault({"infno": "2207", "mode": "tamper_after_commit", "field": "setlinfo.setl_id",
                    "value": ""})
        self.fault({"infno": "5203", "mode": "tamper_after_commit",
                    "field": "setlinfo.psn_cash_pay", "value": "-50.00", "count": 1})
        r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
        self.assertEqual((r.status, r.json.get("state")), (202, "unknown"), r)
        self.assertSettledOnce(v, ["pending", "unknown", "settled"])
        log = self.w.log_tail(n=200000)
        self.assertIn("settlement_answer_impossible", log)
        # said as what it was, not as a refusal with no words
        self.assertIn("event=outcome_query_impossible", log)

    def test_an_impossible_estimate_is_not_shown(self):
        # A presettle answer with cash paid back, or another bill's total, went to the HIS
        # as the platform's estimate.
        v = self.outpatient_visit("E")
        for field, value in (("psn_cash_pay", "-50.00"), ("medfee_sumamt", "9999.00")):
            self.fault({"infno": "2206", "mode": "tamper_after_commit",
                        "field": "setlinfo." + field, "value": value})
            r = self.tcp.post("/v1/visits/%s/presettle" % v["visit_id"], {})
            self.assertError(r, 422, "UPSTREAM_REFUSED")
            self.assertIn("cannot be right", r.json["error"]["message"], r)
        # One that cannot be read is the platform's fault too: it was 400 BAD_REQUEST, the
        # HIS's.
        self.fault({"infno": "2206", "mode": "tamper_after_commit",
                    "field": "setlinfo.medfee_sumamt", "value": "forty"})
        r = self.tcp.post("/v1/visits/%s/presettle" % v["visit_id"], {})
        self.assertError(r, 422, "UPSTREAM_REFUSED")
        self.assertIn("estimate could not be read", r.json["error"]["message"], r)
        r = self.tcp.post("/v1/visits/%s/presettle" % v["visit_id"], {})
        self.assertEqual((r.status, r.json["amounts"]["medfee_sumamt"]), (200, "40.00"), r)

    def test_a_provinces_own_answer_is_believed(self):
        # Fields a real platform answers blank, and parts that add up its own way (a fund
        # that includes the account, as Guangdong's does): settled at once, not unknown.
        for i, (field, value) in enumerate((("hosp_part_amt", ""), ("acct_mulaid_pay", ""),
                                            ("fund_pay_sumamt", "40.00"))):
            v = self.outpatient_visit("GD%d" % i)
            self.fault({"infno": "2207", "mode": "tamper_after_commit",
                        "field": "setlinfo." + field, "value": value})
            r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
            self.assertEqual((r.status, r.json.get("state")), (200, "settled"), (field, r))
        self.assertEqual(self.armed_faults(), 0)

    def test_a_discharge_the_platform_did_not_take_is_not_said_to_wait_behind(self):
        # The platform gone a moment ago (refusing connections, not yet called offline): the
        # discharge went back to the queue, and the settle said 409 "behind the visit's
        # earlier messages, still on their way", of which there were none.
        v = self.open_visit(self.tcp, ZHANG)
        self.upload(self.tcp, v["visit_id"], h.stay_lines("WG"))
        status, raw = self.w.sandbox_request("POST", "/sandbox/offline", {"seconds": 3})
        self.assertEqual(status, 200, raw)
        body = {"discharge": {"time": "2026-11-25 09:30:00"}, "wait_if_offline": True}
        r = self.unix.post("/v1/visits/%s/settle" % v["visit_id"], body)
        self.assertEqual(self.tcp.get("/v1/health").json["upstream"]["state"], "degraded")
        self.assertError(r, 503, "UPSTREAM_OFFLINE")
        self.assertNotIn("earlier messages", r.json["error"]["message"], r)
        h.wait_until(lambda: self.posad_rows("SELECT state FROM journal WHERE visit_key = ? AND "
                                             "infno = '2402'", (v["visit_id"],)) == [("done",)],
                     30, "the discharge sent", step=0.1)
        r = self.unix.post("/v1/visits/%s/settle" % v["visit_id"], body)
        self.assertEqual((r.status, r.json.get("state")), (200, "settled"), r)

    @unittest.skipUnless(SHIM, "POSA_FAILSYNC_LIB (the fdatasync shim) is not set")
    def test_failed_sync_stops_posad_until_restart(self):
        a, b = self.outpatient_visit("A"), self.outpatient_visit("B")
        self.fault({"infno": "2207", "mode": "delay", "delay_ms": 1500, "count": 1})
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=self.tcp.post("/v1/visits/%s/settle" % a["visit_id"], {})))
        t.start()
        # At the platform, not only `sent` in the journal: that commit's own sync may still
        # be to come, and failing it keeps the 2207 home (a database error, rightly).
        h.wait_until(lambda: self.armed_faults() == 0, 10, "the 2207 at the platform")
        open(self.w.flag, "w").close()
        try:
            # A write while syncs fail: its sync fails, and so does everything after.
            u = self.tcp.post("/v1/visits/%s/fees" % b["visit_id"],
                              {"lines": [h.line("B9", "002501010150000", "血细胞分析(血常规)",
                                                "1", "20.00", "20.00")]})
            self.assertNotEqual(u.status, 200, u)
            t.join(20)
        finally:
            os.unlink(self.w.flag)
        # The 2207 left before the failure: its outcome is unknown, not a retryable error.
        self.assertError(result["r"], 504, "OUTCOME_UNKNOWN")
        # Said where a probe of the status code and an alert on a gauge see it.
        health = self.tcp.get("/v1/health")
        self.assertEqual((health.status, health.json["database"], health.json["status"]),
                         (503, "failed", "degraded"), health)
        metrics = self.tcp.get("/metrics")
        self.assertEqual(metrics.status, 200, metrics)
        self.assertIn("\nposa_database_state 0\n", metrics.raw.decode())
        self.assertNotIn("posa_queue_depth", metrics.raw.decode())
        self.assertError(self.tcp.get("/v1/queue"), 503, "INTERNAL")
        self.assertIn("database_failed", self.w.log_tail())
        # With syncs working again, still nothing until a restart.
        r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]})
        self.assertError(r, 503, "INTERNAL")
        # Stopped, it says it failed (it exited 0).
        self.w.posad.send_signal(signal.SIGTERM)
        self.assertEqual(self.w.posad.wait(timeout=20), 1)
        self.w.posad = self.w._spawn([h.POSAD, "--config", self.w.conf_path], "posad.log")
        h.wait_until(self.w._online, 20, "posad back online", step=0.05)
        self.assertEqual(self.tcp.get("/v1/health").json["database"], "ok")
        # Its record stayed pending (nothing could be written): the restart finds the row
        # sent, makes it unknown, and the resolver's 5203 finds it.
        self.assertSettledOnce(a, ["pending", "unknown", "settled"])


if __name__ == "__main__":
    h.main()
