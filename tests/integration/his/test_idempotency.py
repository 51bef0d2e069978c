"""Idempotent retries (his-api.md "Idempotency") and refunds through the HIS API: the same
Idempotency-Key and body give the first answer byte for byte and do nothing twice; another
body gets CONFLICT; a second settle without a key is refused; a cancelled settlement gives
the year's accumulations back and the visit settles again under a new settlement_id."""
import json
import os
import re
import socket
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

DISCHARGE = {"discharge": {"time": "2026-11-25 09:30:00"}}

# Outpatient bill of 1,000.00, all 甲 within limits (default catalog):
# DR 2 x 120.00 = 240.00, CT 260.00, blood 5 x 20.00 = 100.00, 大换药 10 x 30.00 = 300.00,
# 静脉输液 10 x 10.00 = 100.00 -> 1,000.00 in scope.
OUTPATIENT_1000 = [
    h.line("P1", "002101020160000", "数字化摄影(DR)腰椎正侧位", "2", "120.00", "240.00"),
    h.line("P2", "002103000020000", "X线计算机体层(CT)平扫(胸部)", "1", "260.00", "260.00"),
    h.line("P3", "002501010150000", "血细胞分析(血常规)", "5", "20.00", "100.00"),
    h.line("P4", "001206000010000", "大换药", "10", "30.00", "300.00"),
    h.line("P5", "001204000060000", "静脉输液(第一组)", "10", "10.00", "100.00"),
]


class IdemBase(h.HisTestCase):
    transport = None
    psn_no = None     # long-term filed, Wuxi: outpatient 310 L3 deductible 800.00/year, 0.75
    stay_psn = None   # long-term filed, for the stays

    @property
    def c(self):
        return self.unix if self.transport == "unix" else self.tcp

    def arm(self, *faults):
        """Arms each of faults in the sandbox (POST /sandbox/faults), in order."""
        for fault in faults:
            status, raw = self.w.sandbox_request("POST", "/sandbox/faults", fault)
            self.assertEqual(status, 200, raw)

    def key(self, name):
        return "%s-%s-%s" % (self.transport, name, self.id().rsplit(".", 1)[-1])

    def posad_db(self, sql, args=()):
        """One statement on posad's database while it runs (WAL lets a second writer in);
        its rows."""
        db = sqlite3.connect(os.path.join(self.w.data_dir, "posad.db"), timeout=10)
        try:
            with db:
                return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def lose_answer(self, name):
        """As if posad died before it kept the first answer under key name."""
        self.posad_db("DELETE FROM his_answers WHERE idem_key = ?", (self.key(name),))

    def ledger_settlements(self, mdtrt_id):
        return [s for s in self.w.ledger().get("settlements", []) if s.get("mdtrt_id") == mdtrt_id]

    # --- idempotency -------------------------------------------------------------------------

    def test_visit_same_key_same_body_same_answer(self):
        token = self.identify(self.c, self.stay_psn)
        body = h.visit_body(token)
        first = self.c.post("/v1/visits", body, key=self.key("v"))
        self.assertEqual(first.status, 201, first)
        second = self.c.post("/v1/visits", body, key=self.key("v"))
        self.assertEqual((second.status, second.raw), (first.status, first.raw))
        other = dict(body, dept_name="骨科二病区")
        r = self.c.post("/v1/visits", other, key=self.key("v"))
        self.assertError(r, 409, "CONFLICT")
        # The first answer stays the key's.
        third = self.c.post("/v1/visits", body, key=self.key("v"))
        self.assertEqual((third.status, third.raw), (first.status, first.raw))

    def test_visit_retried_after_its_answer_was_lost(self):
        # posad registered the visit and died before it kept the HIS's answer: the retry
        # finds the journaled registration and answers with that visit, never a second one.
        token = self.identify(self.c, self.stay_psn)
        body = h.visit_body(token)
        first = self.c.post("/v1/visits", body, key=self.key("lost"))
        self.assertEqual(first.status, 201, first)
        self.lose_answer("lost")
        again = self.c.post("/v1/visits", body, key=self.key("lost"))
        self.assertEqual(again.status, 201, again)
        self.assertEqual(again.json["visit_id"], first.json["visit_id"], again)
        self.assertEqual(again.json["mdtrt_id"], first.json["mdtrt_id"], again)
        n = self.posad_db("SELECT count(*) FROM visits WHERE mdtrt_id = ?",
                          (first.json["mdtrt_id"],))[0][0]
        self.assertEqual(n, 1)

    def test_visit_detail_sent_once(self):
        # An outpatient visit's retry (its answer lost) finds the registration and its detail
        # (2203): the platform is sent the detail once, not once a request.
        token = self.identify(self.c, self.psn_no)
        body = h.visit_body(token, kind="outpatient", med_type="11")
        first = self.c.post("/v1/visits", body, key=self.key("detail"))
        self.assertEqual(first.status, 201, first)
        self.lose_answer("detail")
        again = self.c.post("/v1/visits", body, key=self.key("detail"))
        self.assertEqual((again.status, again.json["visit_id"]), (201, first.json["visit_id"]))
        self.assertNotIn("VISIT_DETAIL_NOT_UPLOADED", again.raw.decode(), again)
        n = self.posad_db("SELECT count(*) FROM journal WHERE infno = '2203' AND visit_key = ?",
                          (first.json["visit_id"],))[0][0]
        self.assertEqual(n, 1)

    def test_visit_lost_then_opened_by_another(self):
        # Desk A's 2401 answer is lost (504); desk B opens the same stay under its own key;
        # A repeats under its key, as the 504 says: it is told of B's visit, and no second
        # registration goes (one went beside B's, and both stays settled).
        body_a = h.visit_body(self.identify(self.c, self.stay_psn))
        body_b = dict(h.visit_body(self.identify(self.c, self.stay_psn)),
                      his_visit_id=body_a["his_visit_id"])
        self.arm({
            "infno": "2401", "mode": "drop_after_commit", "count": 1})
        r = self.c.post("/v1/visits", body_a, key=self.key("a"))
        self.assertError(r, 504, "OUTCOME_UNKNOWN")
        self.assertIn("registration", r.json["error"]["message"], r)
        self.assertNotIn("settle", r.json["error"]["message"], r)
        b = self.c.post("/v1/visits", body_b, key=self.key("b"))
        self.assertEqual(b.status, 201, b)
        deadline = time.monotonic() + 20
        while True:
            r = self.c.post("/v1/visits", body_a, key=self.key("a"))
            if r.status not in (409, 504) or not r.json["error"]["retryable"] or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertError(r, 409, "CONFLICT")
        self.assertEqual(r.json["error"]["details"]["visit_id"], b.json["visit_id"], r)
        self.assertEqual(self.posad_db("SELECT mdtrt_id FROM visits WHERE his_visit_id = ?",
                                       (body_a["his_visit_id"],)), [(b.json["mdtrt_id"],)])
        sent = self.posad_db("SELECT state FROM journal WHERE infno = '2401' AND "
                             "CAST(request AS TEXT) LIKE ?", ("%" + body_a["his_visit_id"] + "%",))
        self.assertEqual(sorted(s for (s,) in sent), ["done", "reversed"], sent)

    def test_visit_keys_of_64_characters(self):
        # Two keys of the longest length that differ in their last character name two
        # requests: each registers its own visit, and each retry finds its own (the key went
        # to the journal cut to 64 bytes with its route's prefix, so the second was refused
        # as the first key reused).
        keys = [self.transport[0] + "k" * 62 + end for end in "12"]
        bodies = [h.visit_body(self.identify(self.c, self.stay_psn)) for _ in keys]
        first = [self.c.post("/v1/visits", b, key=k) for b, k in zip(bodies, keys)]
        for r in first:
            self.assertEqual(r.status, 201, r)
        self.assertNotEqual(first[0].json["visit_id"], first[1].json["visit_id"])
        for b, k, r in zip(bodies, keys, first):
            self.posad_db("DELETE FROM his_answers WHERE idem_key = ?", (k,))  # answer lost
            again = self.c.post("/v1/visits", b, key=k)
            self.assertEqual((again.status, again.json["visit_id"]), (201, r.json["visit_id"]))

    def test_visit_key_cut_by_an_older_posad(self):
        # Before journal keys of 128 bytes, "visit:" and a 64-character key was kept cut to
        # 64: a retry after the upgrade, its answer lost, finds that row, not a second visit.
        key = self.transport[0] + "c" * 63
        body = h.visit_body(self.identify(self.c, self.stay_psn))
        first = self.c.post("/v1/visits", body, key=key)
        self.assertEqual(first.status, 201, first)
        self.posad_db("UPDATE journal SET idem_key = substr(idem_key, 1, 64) WHERE idem_key = ?",
                      ("visit:" + key,))
        self.posad_db("DELETE FROM his_answers WHERE idem_key = ?", (key,))
        again = self.c.post("/v1/visits", body, key=key)
        self.assertEqual((again.status, again.json["visit_id"]), (201, first.json["visit_id"]))

    def test_visit_key_reused_answer_gone(self):
        # The key's stored answer is gone (pruned after idempotency_days, or never kept) and
        # the HIS reuses the key for another visit: CONFLICT, and the first visit stays as
        # it was (it was taken for the same registration and kept over again, reopened).
        token = self.identify(self.c, self.stay_psn)
        body = h.visit_body(token)
        first = self.c.post("/v1/visits", body, key=self.key("reuse"))
        self.assertEqual(first.status, 201, first)
        self.lose_answer("reuse")
        other = dict(body, dept_name="骨科二病区")
        r = self.c.post("/v1/visits", other, key=self.key("reuse"))
        self.assertError(r, 409, "CONFLICT")
        body_now = self.posad_db("SELECT body FROM visits WHERE visit_id = ?",
                                 (first.json["visit_id"],))[0][0]
        self.assertNotIn("骨科二病区", body_now)

    def test_fees_retried_after_their_answer_was_lost(self):
        # posad kept and uploaded the lines and died before it kept the HIS's answer: the
        # retry under the same key gets the same answer, rebuilt from the kept lines and the
        # journaled upload, and nothing goes to the platform again.
        v = self.open_visit(self.c, self.stay_psn)
        lines = h.stay_lines("LA")[:3]
        first = self.c.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": lines},
                            key=self.key("fees-lost"))
        self.assertEqual(first.status, 200, first)
        uploads = len(self.w.ledger()["uploads"])
        self.lose_answer("fees-lost")
        again = self.c.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": lines},
                            key=self.key("fees-lost"))
        self.assertEqual((again.status, again.raw), (first.status, first.raw))
        self.assertEqual(len(self.w.ledger()["uploads"]), uploads)
        # Without the key, or under another, it is a second upload of the same lines: refused.
        r = self.c.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": lines})
        self.assertError(r, 409, "CONFLICT")
        r = self.c.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": lines},
                        key=self.key("fees-other"))
        self.assertError(r, 409, "CONFLICT")

    def cancelled_upstream(self, mdtrt_id):
        return sorted(u["feedetl_sn"] for u in self.w.ledger()["uploads"]
                      if u["mdtrt_id"] == mdtrt_id and u["state"] == "cancelled")

    def test_fees_cancel_answer_lost(self):
        # posad cancelled the lines and died before it kept the HIS's answer: the retry under
        # the same key gets the same answer from the journaled 2302 (the key rides on it), not
        # "not an uploaded line", and nothing goes to the platform again.
        v = self.open_visit(self.c, self.stay_psn)
        self.upload(self.c, v["visit_id"], h.stay_lines("LC")[:3])
        path = "/v1/visits/%s/fees/cancel" % v["visit_id"]
        body = {"his_line_ids": ["LC03", "LC01"]}  # not in upload order: the answer keeps it
        first = self.c.post(path, body, key=self.key("cancel-lost"))
        self.assertEqual((first.status, first.json["cancelled"]), (200, ["LC03", "LC01"]), first)
        cancelled = self.cancelled_upstream(v["mdtrt_id"])
        self.assertEqual(len(cancelled), 2, cancelled)
        self.lose_answer("cancel-lost")
        again = self.c.post(path, body, key=self.key("cancel-lost"))
        self.assertEqual((again.status, again.raw), (first.status, first.raw))
        self.assertEqual(self.cancelled_upstream(v["mdtrt_id"]), cancelled)
        # The key with another body is another request; the lines without a key are gone.
        other = self.c.post(path, {"his_line_ids": ["LC02"]}, key=self.key("cancel-lost"))
        self.assertError(other, 409, "CONFLICT")
        gone = self.c.post(path, body)
        self.assertError(gone, 404, "NOT_FOUND")
        # said as cancelled already (it was "not an uploaded line of this visit")
        self.assertIn("line LC03 is cancelled already", gone.json["error"]["message"], gone)
        rest = self.c.post(path, {"his_line_ids": ["LC02"]})
        self.assertEqual((rest.status, rest.json["cancelled"]), (200, ["LC02"]), rest)
        self.assertEqual(len(self.cancelled_upstream(v["mdtrt_id"])), 3)

    def test_fees_cancel_answer_dropped(self):
        # The platform cancels the lines and its answer is lost: the HIS hears "queued" (on its
        # way, as an upload's), not OUTCOME_UNKNOWN's "do not settle again"; posad reverses the
        # 2205 and sends it again, and the platform has the lines cancelled once.
        v = self.open_visit(self.c, self.psn_no, kind="outpatient", med_type="11")
        self.upload(self.c, v["visit_id"], OUTPATIENT_1000[:2])
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults",
                                             {"infno": "2205", "mode": "drop_after_commit",
                                              "count": 1})
        self.assertEqual(status, 200, raw)
        path = "/v1/visits/%s/fees/cancel" % v["visit_id"]
        first = self.c.post(path, {"all": True}, key=self.key("cancel-dropped"))
        self.assertEqual((first.status, first.json["state"]), (200, "queued"), first)
        h.wait_until(lambda: len(self.cancelled_upstream(v["mdtrt_id"])) == 2, 30,
                     "the platform has both lines cancelled")
        h.wait_until(lambda: self.c.get("/v1/health").json["queue"]["depth"] == 0, 30,
                     "the reversal and the resend are done")
        self.assertEqual(len(self.cancelled_upstream(v["mdtrt_id"])), 2)
        self.lose_answer("cancel-dropped")
        again = self.c.post(path, {"all": True}, key=self.key("cancel-dropped"))
        self.assertEqual(again.status, 200, again)
        self.assertEqual((again.json["cancelled"], again.json["state"]),
                         (first.json["cancelled"], "uploaded"), again)

    def settled_outpatient(self, name):
        v = self.open_visit(self.c, self.psn_no, kind="outpatient", med_type="11")
        self.upload(self.c, v["visit_id"], OUTPATIENT_1000[:2])
        r = self.c.post("/v1/visits/%s/settle" % v["visit_id"], {}, key=self.key(name))
        self.assertEqual(r.status, 200, r)
        return r.json["settlement_id"]

    def test_refund_kept_answer_lost(self):
        # posad refunded and died before it kept the HIS's answer: the same request again
        # hears the refund's 200, not "already cancelled" (a 409 the HIS reads as failed,
        # and kept under the key for good). Another request (another key) is a CONFLICT.
        sid = self.settled_outpatient("rls")
        path = "/v1/settlements/%s/cancel" % sid
        first = self.c.post(path, {}, key=self.key("rl"))
        self.assertEqual((first.status, first.json["state"]), (200, "cancelled"), first)
        self.lose_answer("rl")
        again = self.c.post(path, {}, key=self.key("rl"))
        self.assertEqual((again.status, again.json), (200, first.json), again)
        self.assertError(self.c.post(path, {}, key=self.key("ro")), 409, "CONFLICT")

    def test_refund_answer_dropped(self):
        # The platform refunds and its answer is lost: the HIS hears OUTCOME_UNKNOWN (not kept),
        # posad undoes the uncertain refund (2601), and the same request again refunds once.
        sid = self.settled_outpatient("rds")
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults",
                                             {"infno": "2208", "mode": "drop_after_commit",
                                              "count": 1})
        self.assertEqual(status, 200, raw)
        path = "/v1/settlements/%s/cancel" % sid
        first = self.c.post(path, {}, key=self.key("rd"))
        self.assertEqual(first.status, 504, first)
        h.wait_until(lambda: self.c.get("/v1/health").json["queue"]["depth"] == 0, 30,
                     "the uncertain refund undone")
        self.assertEqual(self.c.get("/v1/settlements/" + sid).json["state"], "settled")
        again = self.c.post(path, {}, key=self.key("rd"))
        self.assertEqual((again.status, again.json["state"]), (200, "cancelled"), again)
        self.assertEqual(again.json["amounts"]["medfee_sumamt"], "-500.00", again)
        self.assertEqual(self.c.post(path, {}, key=self.key("rd")).json, again.json)

    def test_fees_whose_upload_answer_was_lost(self):
        # The platform keeps the upload and drops the connection: the lines are on their way
        # (queued), not refused; the journal resolves the upload (reversed and sent again),
        # each line ends in the ledger once, and a repeat of the request whose answer was
        # then lost follows the resend: uploaded, with the platform's split.
        v = self.open_visit(self.c, self.stay_psn)
        lines = h.stay_lines("LU")[:2]
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults",
                                             {"infno": "2301", "mode": "drop_after_commit",
                                              "count": 1})
        self.assertEqual(status, 200, raw)
        first = self.c.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": lines},
                            key=self.key("fees-unknown"))
        self.assertEqual(first.status, 200, first)
        self.assertEqual(first.json["upload"]["state"], "queued", first)

        def active():
            return sorted(u["feedetl_sn"] for u in self.w.ledger()["uploads"]
                          if u["mdtrt_id"] == v["mdtrt_id"] and u["state"] == "active")
        sns = sorted(ln["feedetl_sn"] for ln in first.json["lines"])
        h.wait_until(lambda: active() == sns, 20, "the upload resolved, each line once")
        h.wait_until(lambda: self.c.get("/v1/health").json["queue"]["depth"] == 0, 20,
                     "the journal settled")
        self.lose_answer("fees-unknown")
        again = self.c.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": lines},
                            key=self.key("fees-unknown"))
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json["upload"]["state"], "uploaded", again)
        self.assertEqual(again.json["lines"], first.json["lines"])
        self.assertEqual(active(), sns)

    def resend_refused(self, prefix, *faults):
        """Two stay lines uploaded while the platform keeps the upload and drops the connection,
        then suffers faults (in order, after that drop); returns (visit, lines) once posad's
        resend of the upload is refused."""
        v = self.open_visit(self.c, self.stay_psn)
        lines = h.stay_lines(prefix)[:2]
        self.arm(*(({"infno": "2301", "mode": "drop_after_commit", "count": 1},) + faults))
        first = self.c.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": lines})
        self.assertEqual(first.status, 200, first)
        self.assertEqual(first.json["upload"]["state"], "queued", first)
        h.wait_until(lambda: self.posad_db(
            "SELECT count(*) FROM journal WHERE visit_key = ? AND infno = '2301' "
            "AND state = 'refused'", (v["visit_id"],))[0][0] == 1, 20, "the resend refused")
        return v, lines

    def test_fees_resend_refused_can_be_sent_again(self):
        # The platform keeps the upload and drops the connection; posad reverses it and sends
        # it again under a new msgid, which the platform refuses. The lines are then on the
        # platform under no message: they are refused, and the cashier can send them again
        # (they were left active, and the HIS heard "already uploaded", for good).
        v, lines = self.resend_refused("LZ", {"infno": "2301", "mode": "refuse", "count": 1,
                                              "message": "明细数据有误 (injected)"})
        # Refused from the queue (the resend): marked for presettle and settle to say so.
        self.assertEqual({ln["state"] for ln in self.fee_lines(v["visit_id"])},
                         {"refused_queued"})
        again = self.c.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": lines})
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json["upload"]["state"], "uploaded", again)
        active = [u for u in self.w.ledger()["uploads"]
                  if u["mdtrt_id"] == v["mdtrt_id"] and u["state"] == "active"]
        self.assertEqual(sorted(u["feedetl_sn"] for u in active),
                         sorted(ln["feedetl_sn"] for ln in again.json["lines"]))

    def test_fees_resend_refused_after_a_refused_reversal_stay(self):
        # As above, but the platform refuses the reversal: the first upload stands, so its
        # lines are the platform's and stay active when the resend is refused.
        v, lines = self.resend_refused("LY", {"infno": "2601", "mode": "refuse", "count": 1,
                                              "message": "原交易不允许冲正 (injected)"},
                                       {"infno": "2301", "mode": "refuse", "count": 1,
                                        "message": "明细重复上传 (injected)"})
        self.assertEqual(self.posad_db(
            "SELECT state FROM journal WHERE visit_key = ? AND infno = '2601'",
            (v["visit_id"],)), [("refused",)])
        self.assertEqual({ln["state"] for ln in self.fee_lines(v["visit_id"])}, {"active"})
        again = self.c.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": lines})
        self.assertError(again, 409, "CONFLICT")

    def test_fees_refused_then_answer_lost(self):
        # The platform refuses the upload; posad dies before keeping the HIS's answer: the
        # repeat under the key gets the same refusal, in the platform's words, again.
        v = self.open_visit(self.c, self.stay_psn)
        lines = h.stay_lines("LR")[:2]
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults",
                                             {"infno": "2301", "mode": "refuse", "count": 1,
                                              "message": "明细重复上传 (injected)"})
        self.assertEqual(status, 200, raw)
        first = self.c.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": lines},
                            key=self.key("fees-refused"))
        self.assertError(first, 422, "UPSTREAM_REFUSED")
        self.assertIn("明细重复上传", first.json["error"]["details"]["upstream_message"], first)
        self.assertEqual(first.json["error"]["details"]["refused"], ["LR01", "LR02"], first)
        self.lose_answer("fees-refused")
        again = self.c.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": lines},
                            key=self.key("fees-refused"))
        self.assertEqual((again.status, again.raw), (first.status, first.raw))

    def test_fees_refused_are_not_kept(self):
        # The platform refuses an upload: its lines are not the visit's. The corrected upload
        # (a new request) carries them again, and they count once.
        v = self.open_visit(self.c, self.stay_psn)
        path = "/v1/visits/%s/fees" % v["visit_id"]
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults",
                                             {"infno": "2301", "mode": "refuse", "count": 1,
                                              "message": "项目编码有误 (injected)"})
        self.assertEqual(status, 200, raw)
        lines = {"lines": h.stay_lines("RK")}
        self.assertError(self.c.post(path, lines, key=self.key("rk-1")), 422,
                         "UPSTREAM_REFUSED")
        again = self.c.post(path, lines, key=self.key("rk-2"))
        self.assertEqual(again.status, 200, again)
        pre = self.c.post("/v1/visits/%s/presettle" % v["visit_id"], {})
        self.assertEqual(pre.json["amounts"]["medfee_sumamt"], "10000.00", pre)

    def test_fees_and_settle_retried_with_key(self):
        v = self.open_visit(self.c, self.stay_psn)
        vid = v["visit_id"]
        path = "/v1/visits/%s/fees" % vid
        lines = {"lines": h.stay_lines("K")}
        first = self.c.post(path, lines, key=self.key("f"))
        self.assertEqual(first.status, 200, first)
        again = self.c.post(path, lines, key=self.key("f"))
        self.assertEqual((again.status, again.raw), (first.status, first.raw))
        self.assertError(self.c.post(path, {"lines": h.stay_lines("K")[:3]}, key=self.key("f")),
                         409, "CONFLICT")
        # Still 10,000.00, not 20,000.00: the retry uploaded nothing more.
        pre = self.c.post("/v1/visits/%s/presettle" % vid, {})
        self.assertEqual(pre.json["amounts"]["medfee_sumamt"], "10000.00", pre)
        spath = "/v1/visits/%s/settle" % vid
        s1 = self.c.post(spath, DISCHARGE, key=self.key("s"))
        self.assertEqual(s1.status, 200, s1)
        s2 = self.c.post(spath, DISCHARGE, key=self.key("s"))
        self.assertEqual((s2.status, s2.raw), (s1.status, s1.raw))
        self.assertEqual(len(self.ledger_settlements(v["mdtrt_id"])), 1)
        self.assertError(self.c.post(spath, {"discharge": {"time": "2026-11-25 09:45:00"}},
                                     key=self.key("s")), 409, "CONFLICT")

    def test_settle_twice_without_key_conflicts(self):
        v = self.open_visit(self.c, self.stay_psn)
        self.upload(self.c, v["visit_id"], h.stay_lines("T")[:4])
        spath = "/v1/visits/%s/settle" % v["visit_id"]
        s1 = self.c.post(spath, DISCHARGE)
        self.assertEqual(s1.status, 200, s1)
        s2 = self.c.post(spath, DISCHARGE)
        self.assertError(s2, 409, "CONFLICT")
        self.assertEqual(len(self.ledger_settlements(v["mdtrt_id"])), 1)

    def test_concurrent_retries_settle_once(self):
        # A race: a few rounds make a wrong interleaving likely rather than lucky.
        for round_no in range(5):
            with self.subTest(round=round_no):
                self.concurrent_round("c%d" % round_no)

    def concurrent_round(self, name):
        v = self.open_visit(self.c, self.stay_psn)
        self.upload(self.c, v["visit_id"], h.stay_lines("Q")[:4])
        spath = "/v1/visits/%s/settle" % v["visit_id"]
        answers = []

        def go():
            answers.append(self.c.post(spath, DISCHARGE, key=self.key(name)))

        threads = [threading.Thread(target=go) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(self.ledger_settlements(v["mdtrt_id"])), 1)
        ok = [a for a in answers if a.status == 200]
        self.assertTrue(ok, answers)
        for a in ok:
            self.assertEqual(a.raw, ok[0].raw)
        # A retry that arrives while the first is in flight may be told to poll
        # (OUTCOME_UNKNOWN, naming the settlement being made); never a second settlement.
        sid = ok[0].json["settlement_id"]
        for a in answers:
            if a.status != 200:
                self.assertError(a, 504, "OUTCOME_UNKNOWN")
                self.assertEqual(a.json["error"]["details"].get("settlement_id"), sid, a)
        # Once the first has finished, the retry gets its answer.
        late = self.c.post(spath, DISCHARGE, key=self.key(name))
        self.assertEqual((late.status, late.raw), (200, ok[0].raw))

    def test_concurrent_visit_open_same_key(self):
        for round_no in range(3):
            with self.subTest(round=round_no):
                token = self.identify(self.c, self.stay_psn)
                body = h.visit_body(token)
                key = self.key("cv%d" % round_no)
                answers = []

                def go():
                    answers.append(self.c.post("/v1/visits", body, key=key))

                threads = [threading.Thread(target=go) for _ in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(30)
                late = self.c.post("/v1/visits", body, key=key)
                # One visit for one key: every 201 is the same visit, and once all are done
                # the retry gets that visit too.
                self.assertEqual(late.status, 201, late)
                for a in answers:
                    if a.status == 201:
                        self.assertEqual(a.raw, late.raw)
                    else:
                        self.assertTrue(a.json and a.json["error"]["retryable"], a)

    def test_client_gone_then_retry(self):
        # The HIS sends a settle and gives up before the answer (closes the connection); its
        # retry with the same key gets the settlement that was made, and only one was made.
        v = self.open_visit(self.c, self.stay_psn)
        self.upload(self.c, v["visit_id"], h.stay_lines("G")[:2])
        path = "/v1/visits/%s/settle" % v["visit_id"]
        conn = self.c._conn(10)
        conn.connect()
        body = json.dumps(DISCHARGE, ensure_ascii=False)
        conn.sock.sendall(("POST %s HTTP/1.1\r\nHost: localhost\r\nIdempotency-Key: %s\r\n"
                           "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                           % (path, self.key("gone"), len(body), body)).encode())
        conn.close()
        deadline = time.monotonic() + 10
        while True:
            r = self.c.post(path, DISCHARGE, key=self.key("gone"))
            if r.status != 504 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "settled", r)
        # 4,500.00 + 900.00 = 5,400.00: (5,400.00 - 800.00) x 0.90 = 4,140.00.
        self.assertEqual(r.json["amounts"]["fund_pay_sumamt"], "4140.00", r)
        self.assertEqual(len(self.ledger_settlements(v["mdtrt_id"])), 1)

    def test_pipelined_same_key_both_answered(self):
        # The HIS pipelines the same settle twice on one connection: the second arrives while
        # the first is answered, and gets the same answer (it once became a waiter of the
        # first, which had already taken its waiters: never answered). One settlement.
        v = self.open_visit(self.c, self.stay_psn)
        self.upload(self.c, v["visit_id"], h.stay_lines("Q")[:2])
        body = json.dumps(DISCHARGE, ensure_ascii=False)
        req = ("POST /v1/visits/%s/settle HTTP/1.1\r\nHost: localhost\r\nIdempotency-Key: %s\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
               % (v["visit_id"], self.key("pipe"), len(body), body)).encode()
        conn = self.c._conn(15)
        conn.connect()
        conn.sock.sendall(req + req)
        answers, data = [], b""
        while len(answers) < 2:
            chunk = conn.sock.recv(65536)
            self.assertTrue(chunk, "connection closed after %d answers" % len(answers))
            data += chunk
            while b"\r\n\r\n" in data:
                head, rest = data.split(b"\r\n\r\n", 1)
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                if len(rest) < length:
                    break
                answers.append((head.split(b" ")[1], rest[:length]))
                data = rest[length:]
        conn.close()
        self.assertEqual(answers[0][0], b"200", answers)
        self.assertEqual(answers[0], answers[1])
        self.assertEqual(len(self.ledger_settlements(v["mdtrt_id"])), 1)

    def test_identify_on_one_transport_visit_on_the_other(self):
        other = self.tcp if self.transport == "unix" else self.unix
        token = self.identify(other, self.stay_psn)
        r = self.c.post("/v1/visits", h.visit_body(token))
        self.assertEqual(r.status, 201, r)

    def test_passthrough_key_makes_a_repeat_the_same_message(self):
        # An HIS that leaves the msgid to posad makes a repeat the same message with an
        # Idempotency-Key: one admission, the same answer; another message under the key is
        # refused, not sent.
        def admit(ipt_no, key="pt", msgid=None):
            env = {"infno": "2401", "insuplc_admdvs": "320200", "input": {
                "mdtrtinfo": {"psn_no": self.stay_psn, "insutype": "310", "ipt_no": ipt_no,
                              "med_type": "21", "begntime": "2026-11-20 07:00:00",
                              "mdtrt_cert_type": "02",
                              "mdtrt_cert_no": h.PERSONS[self.stay_psn]},
                "diseinfo": []}}
            if msgid:
                env["msgid"] = msgid
            headers = {"Idempotency-Key": self.key(key)} if key else {}
            return self.c.post("/fsi/api/rsfComIfsService/callService", env, headers=headers)

        ipt_no = "PT-%s-%d" % (self.transport, os.getpid())
        first, again = admit(ipt_no), admit(ipt_no)
        self.assertEqual((first.status, first.json["infcode"]), (200, 0), first)
        self.assertEqual(again.raw, first.raw)
        other = admit(ipt_no + "-other")
        self.assertEqual(other.json["infcode"], -1, other)
        # named by what the HIS sent: its key, not a msgid it never gave
        self.assertIn("this Idempotency-Key was already used for a different message",
                      other.json["err_msg"])
        sent = self.posad_db("SELECT count(*) FROM journal WHERE infno = '2401' AND "
                             "instr(request, ?) > 0", (ipt_no,))
        self.assertEqual(sent, [(1,)])
        # The HIS's own msgid names its message whatever key comes with it (or none).
        msgid = "HISPT%s%d" % (self.transport, os.getpid())
        answers = [admit(ipt_no + "-m", key, msgid) for key in ("k1", "k2", None)]
        self.assertEqual({a.raw for a in answers}, {answers[0].raw}, answers)
        sent = self.posad_db("SELECT count(*) FROM journal WHERE infno = '2401' AND "
                             "instr(request, ?) > 0", (ipt_no + "-m",))
        self.assertEqual(sent, [(1,)])
        # Keys are one namespace: the passthrough's key on another route is a conflict (it
        # identified a patient, and the passthrough's own repeat then heard 409), and the
        # passthrough's repeat still hears its message's answer.
        r = self.c.post("/v1/identify", {"source": "id", "certno": h.PERSONS[self.stay_psn]},
                        key=self.key("pt"))
        self.assertError(r, 409, "CONFLICT")
        self.assertIn("used for a passthrough message", r.json["error"]["message"], r)
        self.assertEqual(admit(ipt_no).raw, first.raw)
        # The other way round, the passthrough's HIS hears it in the national envelope it
        # reads (infcode -1), not in the HIS API's error.
        r = self.c.post("/v1/identify", {"source": "id", "certno": h.PERSONS[self.stay_psn]},
                        key=self.key("idk"))
        self.assertEqual(r.status, 200, r)
        r = admit(ipt_no + "-k", key="idk")
        self.assertEqual((r.status, r.json["infcode"]), (200, -1), r)
        self.assertIn("already used", r.json["err_msg"], r)

    def test_bad_idempotency_keys(self):
        token = self.identify(self.c, self.stay_psn)
        for key in ("", "k" * 65, "bad key", "键"):
            r = self.c.request("POST", "/v1/visits", h.visit_body(token),
                               headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")})
            self.assertError(r, 400, "BAD_REQUEST")
        # Two keys: which would the answer be kept under? Refused, nothing opened.
        body = json.dumps(h.visit_body(token)).encode("utf-8")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
            raw.settimeout(10)
            raw.connect(self.w.sock_path)
            raw.sendall(b"POST /v1/visits HTTP/1.1\r\nHost: localhost\r\n"
                        b"Content-Type: application/json\r\nIdempotency-Key: two-1\r\n"
                        b"Idempotency-Key: two-2\r\nContent-Length: %d\r\n\r\n" % len(body)
                        + body)
            answer = raw.recv(65536)
        self.assertIn(b" 400 ", answer.split(b"\r\n")[0])
        self.assertIn(b"Idempotency-Key is given twice", answer)

    # --- refunds -----------------------------------------------------------------------------

    def outpatient(self):
        v = self.open_visit(self.c, self.psn_no, kind="outpatient", med_type="11")
        self.upload(self.c, v["visit_id"], [dict(ln) for ln in OUTPATIENT_1000])
        return v

    def settle(self, vid, **body):
        r = self.c.post("/v1/visits/%s/settle" % vid, body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "settled", r)
        return r.json

    def amounts(self, s):
        a = s["amounts"]
        return (a["medfee_sumamt"], a["act_pay_dedc"], a["fund_pay_sumamt"], a["psn_part_amt"])

    def test_cancel_refused_then_again(self):
        # The platform refuses a cancel: nothing was cancelled, so a later cancel of the same
        # settlement goes to the platform again (it was answered 409 for good before).
        a = self.outpatient()
        s_a = self.settle(a["visit_id"])
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults",
                                             {"infno": "2208", "mode": "refuse", "count": 1,
                                              "message": "结算撤销暂不可用 (injected)"})
        self.assertEqual(status, 200, raw)
        path = "/v1/settlements/%s/cancel" % s_a["settlement_id"]
        self.assertError(self.c.post(path, {}), 422, "UPSTREAM_REFUSED")
        g = self.c.get("/v1/settlements/%s" % s_a["settlement_id"])
        self.assertEqual(g.json["state"], "settled", g)
        r = self.c.post(path, {})
        self.assertEqual((r.status, r.json["state"]), (200, "cancelled"), r)
        self.assertError(self.c.post(path, {}), 409, "CONFLICT")

    def test_cancel_of_a_settlement_cancelled_elsewhere(self):
        # The settlement was cancelled at the platform without posad (at the insurance office):
        # the platform refuses posad's cancel, posad asks (5203) and finds it no longer valid,
        # so its record says cancelled, the visit may be settled again, and the cashier hears
        # why; a settlement that still stands keeps its refusal (test_cancel_refused_then_again).
        a = self.outpatient()
        s_a = self.settle(a["visit_id"])
        self.w.platform_call("2208", {"data": {"psn_no": self.psn_no, "mdtrt_id": a["mdtrt_id"],
                                               "setl_id": s_a["setl_id"]}}, "320200")
        path = "/v1/settlements/%s/cancel" % s_a["settlement_id"]
        # The question refused (a busy platform), or answered without saying (a vali_flag
        # that is neither 0 nor 1): nothing known, so retryable and not kept.
        for fault in ({"infno": "5203", "mode": "refuse", "count": 1,
                       "message": "系统繁忙 (injected)"},
                      {"infno": "5203", "mode": "tamper_after_commit", "count": 1,
                       "field": "setlinfo.vali_flag", "value": "2"}):
            status, raw = self.w.sandbox_request("POST", "/sandbox/faults", fault)
            self.assertEqual(status, 200, raw)
            r = self.c.post(path, {}, key=self.key("elsewhere"))
            self.assertError(r, 503, "UPSTREAM_OFFLINE")
            self.assertIs(r.json["error"]["retryable"], True, r)
            self.assertIn("could not ask whether the settlement was cancelled some other way",
                          r.json["error"]["message"], r)
        r = self.c.post(path, {}, key=self.key("elsewhere"))
        self.assertError(r, 409, "CONFLICT")
        self.assertIn("already been cancelled at the platform", r.json["error"]["message"], r)
        self.assertEqual(r.json["error"]["details"]["state"], "cancelled", r)
        self.assertIn("already cancelled", r.json["error"]["details"]["upstream_message"], r)
        g = self.c.get("/v1/settlements/%s" % s_a["settlement_id"])
        self.assertEqual(g.json["state"], "cancelled", g)
        self.assertEqual(g.json["history"][-1]["state"], "cancelled", g)
        self.assertIs(g.json["cancelled_elsewhere"], True, g)
        self.assertEqual(self.posad_rows(
            "SELECT infno FROM journal WHERE msgid = ?", (g.json["cancel_msgid"],)), [("5203",)])
        # Its statement says so, and names no refund of posad's (it printed the 5203's msgid
        # as the refund's serial number; found by review).
        doc = self.c.get("/v1/documents/settlement/" + s_a["settlement_id"]).raw.decode()
        self.assertIn("本结算已在医保平台撤销（非经本系统退费）", doc)
        self.assertNotIn(g.json["cancel_msgid"], doc)
        # Asked again, its answer under the key lost (posad stopped before keeping it, or the
        # answer expired): the same refusal, never a 200 for a refund posad did not make.
        self.lose_answer("elsewhere")
        for key in (self.key("elsewhere"), None):
            r = self.c.post(path, {}, key=key)
            self.assertError(r, 409, "CONFLICT")
            self.assertIn("posad refunded nothing", r.json["error"]["message"], r)
        # Reconciled, it is not counted: it said "mismatch" that day, listing it as the
        # platform's cancelled one, posad's settled (the journal has no done cancel of it).
        day = self.c.post("/v1/reconcile", {"date": h.CLOCK[:10]})
        self.assertEqual(day.status, 200, day)
        self.assertNotIn(s_a["setl_id"], [m.get("setl_id") for m in day.json["mismatched"]], day)
        again = self.settle(a["visit_id"])
        self.assertEqual(again["amounts"], s_a["amounts"])
        self.assertEqual(self.c.post("/v1/settlements/%s/cancel" % again["settlement_id"],
                                     {}).status, 200)

    def test_a_lost_session_is_no_refusal(self):
        # The platform had ended posad's session (signed out, restarted): posad signs in
        # again, and the HIS hears a retryable 503 that says so; the same request under the
        # same key then goes (the 422 was kept under the key, so it never could).
        words = "sign_no 20261125090000000001 is unknown or signed out: sign in with 9001"
        self.arm({
            "infno": "1101", "mode": "refuse", "count": 1, "message": words})
        body = {"source": "id", "certno": h.PERSONS[self.stay_psn]}
        r = self.c.post("/v1/identify", body, key=self.key("session-1101"))
        self.assertError(r, 503, "UPSTREAM_OFFLINE")
        self.assertIs(r.json["error"]["retryable"], True, r)
        self.assertIn("session had ended", r.json["error"]["message"], r)
        h.wait_until(lambda: self.c.get("/v1/health").json["upstream"]["state"] == "online",
                     10, "signed in again")
        r = self.c.post("/v1/identify", body, key=self.key("session-1101"))
        self.assertEqual(r.status, 200, r)
        a = self.outpatient()
        self.arm({
            "infno": "2207", "mode": "refuse", "count": 1, "message": words})
        path = "/v1/visits/%s/settle" % a["visit_id"]
        r = self.c.post(path, {}, key=self.key("session-2207"))
        self.assertError(r, 503, "UPSTREAM_OFFLINE")
        self.assertIn("session had ended", r.json["error"]["message"], r)
        h.wait_until(lambda: self.c.get("/v1/health").json["upstream"]["state"] == "online",
                     10, "signed in again")
        r = self.c.post(path, {}, key=self.key("session-2207"))
        self.assertEqual((r.status, r.json.get("state")), (200, "settled"), r)
        self.assertEqual(len(self.ledger_settlements(a["mdtrt_id"])), 1)
        c = self.c.post("/v1/settlements/%s/cancel" % r.json["settlement_id"], {})
        self.assertEqual(c.status, 200, c)  # the year given back for the other tests

    def lost_cancel(self, lost_fault, reversal_refusal, *more_faults):
        """A settled outpatient visit whose cancel's answer is lost (lost_fault on 2208) and
        whose 2601 the platform refuses: (visit, settlement, the HIS's answer, 2208 msgid)."""
        a = self.outpatient()
        s_a = self.settle(a["visit_id"])
        self.arm(*((dict(lost_fault, infno="2208", count=1),
                    {"infno": "2601", "mode": "refuse", "count": 1,
                     "message": reversal_refusal}) + more_faults))
        r = self.c.post("/v1/settlements/%s/cancel" % s_a["settlement_id"], {})
        self.assertError(r, 504, "OUTCOME_UNKNOWN")
        self.assertIn("refund's answer was lost", r.json["error"]["message"], r)
        msgid = r.json["error"]["details"]["cancel_msgid"]
        h.wait_until(lambda: self.posad_db("SELECT state FROM journal WHERE infno = '2601' AND "
                                           "ref_msgid = ?", (msgid,)) == [("refused",)],
                     30, "the 2601 refused")
        return a, s_a, msgid

    def test_cancel_lost_and_reversal_refused_landed(self):
        # The platform cancelled the settlement, the answer was lost, and it refuses the
        # 2601 that would undo the cancel (the next day, say). posad asks (5203) whether the
        # settlement still stands: it does not, so the cancel is done and the settlement
        # cancelled, its visit billed again; before, posad said "settled" for good.
        a, s_a, msgid = self.lost_cancel({"mode": "drop_after_commit"},
                                         "非当日交易不能冲正 (injected)")
        path = "/v1/settlements/%s" % s_a["settlement_id"]
        h.wait_until(lambda: self.c.get(path).json["state"] == "cancelled", 30,
                     "cancelled once asked", step=0.1)
        self.assertEqual(self.posad_db("SELECT state FROM journal WHERE msgid = ?", (msgid,)),
                         [("done",)])
        self.assertEqual(self.posad_db("SELECT state FROM journal WHERE infno = '5203' AND "
                                       "ref_msgid = ?", (msgid,)), [("done",)])
        self.assertEqual([s["state"] for s in self.ledger_settlements(a["mdtrt_id"])],
                         ["cancelled"])
        self.assertError(self.c.post(path + "/cancel", {}), 409, "CONFLICT")
        again = self.c.post("/v1/visits/%s/settle" % a["visit_id"], {})
        self.assertEqual((again.status, again.json["state"]), (200, "settled"), again)
        self.assertEqual(sorted(s["state"] for s in self.ledger_settlements(a["mdtrt_id"])),
                         ["active", "cancelled"])
        r = self.c.post("/v1/settlements/%s/cancel" % again.json["settlement_id"], {})
        self.assertEqual((r.status, r.json.get("state")), (200, "cancelled"), r.raw)

    def test_settle_while_a_lost_refund_is_resolved(self):
        # A refund's answer is lost and its reversal cannot get through (HTTP 500 three
        # times, then refused): until posad knows how the refund ended, a settle or fees of
        # the visit hear "being refunded", retryable and not kept under their keys; they heard
        # "the visit is settled" for good, which the same keys repeated once it was cancelled.
        a = self.outpatient()
        s_a = self.settle(a["visit_id"])
        self.arm({"infno": "2208", "mode": "drop_after_commit", "count": 1},
                 {"infno": "2601", "mode": "http_500", "count": 3},
                 {"infno": "2601", "mode": "refuse", "count": 1,
                  "message": "非当日交易不能冲正 (injected)"})
        r = self.c.post("/v1/settlements/%s/cancel" % s_a["settlement_id"], {})
        self.assertError(r, 504, "OUTCOME_UNKNOWN")
        # The first 2601's own outcome is lost too (HTTP 500): a second reverses it, naming
        # it, not the cancel (the refund counted as finished from then on).
        h.wait_until(lambda: self.posad_db(
            "SELECT count(*) FROM journal WHERE infno = '2601' AND visit_key = ?",
            (a["visit_id"],))[0][0] >= 2, 30, "the first reversal reversed", step=0.1)
        settle_path, fees_path = ("/v1/visits/%s/%s" % (a["visit_id"], w)
                                  for w in ("settle", "fees"))
        extra = {"lines": [dict(OUTPATIENT_1000[0], his_line_id="LIMBO1")]}
        cancel_path = "/v1/visits/%s/cancel" % a["visit_id"]
        for path, body in ((settle_path, {}), (fees_path, extra), (cancel_path, {})):
            r = self.c.post(path, body, key=self.key("limbo-" + path[-4:]))
            self.assertError(r, 409, "CONFLICT")
            self.assertIn("being refunded", r.json["error"]["message"], r)
            self.assertIs(r.json["error"]["retryable"], True, r)
        path = "/v1/settlements/%s" % s_a["settlement_id"]
        # Not comparable yet, not a mismatch: the refund's reversal is on its way.
        day = self.c.post("/v1/reconcile", {"date": h.CLOCK[:10]})
        self.assertEqual((day.status, day.json["matched"]), (200, False), day)
        self.assertGreaterEqual(day.json["unresolved"], 1, day)
        self.assertIn("not comparable yet", day.json["upstream_totals"], day)
        # Settled until posad knows, with the refund that may have landed beside it.
        g = self.c.get(path)
        self.assertEqual(g.json["state"], "settled", g)
        self.assertEqual(g.json["refund"]["infno"], "2208", g)
        self.assertEqual(g.json["refund"]["state"], "unknown", g)  # its 2601 not final
        h.wait_until(lambda: self.c.get(path).json["state"] == "cancelled", 60,
                     "the refund found landed", step=0.2)
        self.assertNotIn("refund", self.c.get(path).json)
        # The visit cancel's key did not keep "being refunded": the visit is billed again.
        r = self.c.post(cancel_path, {}, key=self.key("limbo-ncel"))
        self.assertError(r, 409, "CONFLICT")
        self.assertIn("fee lines", r.json["error"]["message"], r)
        r = self.c.post(fees_path, extra, key=self.key("limbo-fees"))
        self.assertEqual(r.status, 200, r)
        r = self.c.post(settle_path, {}, key=self.key("limbo-ttle"))
        self.assertEqual((r.status, r.json.get("state")), (200, "settled"), r)
        r = self.c.post("/v1/settlements/%s/cancel" % r.json["settlement_id"], {})
        self.assertEqual((r.status, r.json.get("state")), (200, "cancelled"), r.raw)

    def test_fees_while_a_settle_is_unknown(self):
        # The settlement's connection dropped before the platform took it, and the question
        # about it is slow: while posad finds out, fees, a fee cancel and the visit's cancel
        # heard a final "settled or being settled" (409, not retryable), kept under their
        # keys, which repeated it once the settlement was found never made and the visit
        # billed again (found by review). Retryable now, and not kept.
        a = self.outpatient()
        self.arm({"infno": "2207", "mode": "reset", "count": 1},
                 {"infno": "5203", "mode": "delay", "delay_ms": 3000, "count": 1})
        r = self.c.post("/v1/visits/%s/settle" % a["visit_id"], {})
        self.assertIn(r.status, (202, 504), r)
        base = "/v1/visits/%s/" % a["visit_id"]
        extra = {"lines": [dict(OUTPATIENT_1000[0], his_line_id="UNK1")]}
        calls = (("fees", extra), ("fees/cancel", {"all": True}), ("cancel", {}))
        for path, body in calls:
            r = self.c.post(base + path, body, key=self.key(path.replace("/", "-")))
            self.assertError(r, 409, "CONFLICT")
            self.assertIn("not decided yet", r.json["error"]["message"], r)
            self.assertIs(r.json["error"]["retryable"], True, r)
        h.wait_until(lambda: self.c.get(base[:-1]).json["state"] == "billed", 30,
                     "the settlement found never made", step=0.1)
        self.assertEqual([s["state"] for s in self.ledger_settlements(a["mdtrt_id"])], [])
        r = self.c.post(base + "fees", extra, key=self.key("fees"))
        self.assertEqual(r.status, 200, r)
        r = self.c.post(base + "fees/cancel", {"all": True}, key=self.key("fees-cancel"))
        self.assertEqual(r.status, 200, r)
        r = self.c.post(base + "cancel", {}, key=self.key("cancel"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.c.get(base[:-1]).json["state"], "closed")

    def test_reconcile_waits_for_a_lost_refund_of_an_earlier_day(self):
        # The settlement is of the platform's day (h.CLOCK), its refund journaled today, its
        # answer lost, its 2601 refused, the question about it refused once: until posad
        # knows, that day is not comparable yet. It was a mismatch ("cancelled on the
        # platform"), the open refund counted only against the day it was journaled.
        a, s_a, msgid = self.lost_cancel({"mode": "drop_after_commit"},
                                         "非当日交易不能冲正 (injected)",
                                         {"infno": "5203", "mode": "refuse", "count": 1,
                                          "message": "系统繁忙 (injected)"})
        self.assertNotEqual(self.posad_db("SELECT date(created_at / 1000, 'unixepoch') FROM "
                                          "journal WHERE msgid = ?", (msgid,))[0][0],
                            h.CLOCK[:10])
        day = self.c.post("/v1/reconcile", {"date": h.CLOCK[:10]})
        self.assertEqual((day.status, day.json["matched"]), (200, False), day)
        self.assertGreaterEqual(day.json.get("unresolved", 0), 1, day)
        self.assertIn("not comparable yet", day.json["upstream_totals"], day)
        path = "/v1/settlements/%s" % s_a["settlement_id"]
        h.wait_until(lambda: self.c.get(path).json["state"] == "cancelled", 40,
                     "cancelled once asked again", step=0.2)


        # As above, and the first question is refused (a busy platform): a cancel is asked
        # again (it ended "the settlement stands" at once, for good, while the platform had
        # it cancelled).
        a, s_a, msgid = self.lost_cancel({"mode": "drop_after_commit"},
                                         "非当日交易不能冲正 (injected)",
                                         {"infno": "5203", "mode": "refuse", "count": 1,
                                          "message": "系统繁忙 (injected)"})
        path = "/v1/settlements/%s" % s_a["settlement_id"]
        h.wait_until(lambda: self.c.get(path).json["state"] == "cancelled", 40,
                     "cancelled once asked again", step=0.2)
        self.assertEqual(sorted(self.posad_db("SELECT state FROM journal WHERE infno = '5203' "
                                              "AND ref_msgid = ?", (msgid,))),
                         [("done",), ("refused",)])
        again = self.c.post("/v1/visits/%s/settle" % a["visit_id"], {})
        self.assertEqual((again.status, again.json["state"]), (200, "settled"), again)
        r = self.c.post("/v1/settlements/%s/cancel" % again.json["settlement_id"], {})
        self.assertEqual((r.status, r.json.get("state")), (200, "cancelled"), r.raw)

    def test_cancel_lost_and_reversal_refused_never_arrived(self):
        # The cancel never reached the platform (a 500 before it did anything) and the 2601
        # is refused (nothing to reverse): asked, the settlement still stands, so the cancel
        # stays reversed, with no second 2601, and the settlement settled; the desks hear so.
        events = h.SseStream(self.c, "/v1/events")
        events.wait_comment("subscribed", 5)
        a, s_a, msgid = self.lost_cancel({"mode": "http_500"}, "原交易不存在 (injected)")
        h.wait_until(lambda: self.posad_db(
            "SELECT state FROM journal WHERE infno = '5203' AND ref_msgid = ?", (msgid,)) ==
            [("done",)], 30, "asked about the settlement")
        h.wait_until(lambda: self.posad_db("SELECT state FROM journal WHERE msgid = ?",
                                           (msgid,)) == [("reversed",)], 10, "reversed again")
        self.assertEqual(len(self.posad_db("SELECT 1 FROM journal WHERE infno = '2601' AND "
                                           "ref_msgid = ?", (msgid,))), 1)
        g = self.c.get("/v1/settlements/%s" % s_a["settlement_id"])
        self.assertEqual((g.status, g.json["state"]), (200, "settled"), g)
        self.assertEqual([s["state"] for s in self.ledger_settlements(a["mdtrt_id"])],
                         ["active"])
        try:
            data = events.events_until("settlement_resolved", 10)[-1][1]
            self.assertEqual((data["settlement_id"], data["state"]),
                             (s_a["settlement_id"], "settled"), data)
        finally:
            events.close()
        r = self.c.post("/v1/settlements/%s/cancel" % s_a["settlement_id"], {})
        self.assertEqual((r.status, r.json.get("state")), (200, "cancelled"), r.raw)

    def test_status_while_a_cancel_is_in_flight(self):
        # A status query never conflicts: while a cancel holds the settlement (its 2208 held
        # 1.5 s by the platform), GET answers what is stored, not 409.
        a = self.outpatient()
        s_a = self.settle(a["visit_id"])
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults",
                                             {"infno": "2208", "mode": "delay",
                                              "delay_ms": 1500, "count": 1})
        self.assertEqual(status, 200, raw)
        result = {}

        def cancel():
            result["r"] = self.c.post("/v1/settlements/%s/cancel" % s_a["settlement_id"], {})

        t = threading.Thread(target=cancel)
        t.start()
        time.sleep(0.5)
        self.assertTrue(t.is_alive(), "the cancel was not held: %r" % result)
        g = self.c.get("/v1/settlements/%s" % s_a["settlement_id"])
        self.assertEqual((g.status, g.json.get("state")), (200, "settled"), g)
        self.assertEqual(g.json["setl_id"], s_a["setl_id"], g)
        t.join(20)
        self.assertEqual((result["r"].status, result["r"].json["state"]), (200, "cancelled"),
                         result["r"])
        g = self.c.get("/v1/settlements/%s" % s_a["settlement_id"])
        self.assertEqual((g.status, g.json["state"]), (200, "cancelled"), g)

    def test_refund_while_the_outcome_is_checked(self):
        # A refund asked while the settlement's outcome is being found out is retryable, and
        # not kept under its key: once the settlement is found settled, the same request
        # refunds it (it was 409 "only a settled settlement", kept, and never went).
        v = self.outpatient()
        self.arm({"infno": "2207", "mode": "drop_after_commit", "count": 1},
                 {"infno": "5203", "mode": "delay", "delay_ms": 3000, "count": 1})
        r = self.c.post("/v1/visits/%s/settle" % v["visit_id"], {})
        self.assertEqual((r.status, r.json.get("state")), (202, "unknown"), r)
        sid = r.json["settlement_id"]
        path = "/v1/settlements/%s/cancel" % sid
        r = self.c.post(path, {}, key=self.key("rf"))
        self.assertError(r, 409, "CONFLICT")
        self.assertIs(r.json["error"]["retryable"], True, r)
        h.wait_until(lambda: self.c.get("/v1/settlements/" + sid).json["state"] == "settled", 30,
                     "the settlement found")
        r = self.c.post(path, {}, key=self.key("rf"))
        self.assertEqual((r.status, r.json.get("state")), (200, "cancelled"), r)

    def test_fees_while_the_refund_is_on_its_way(self):
        # Fees sent while the visit's refund is held by the platform: retryable, not kept
        # under the key; once refunded, the same request adds them.
        v = self.outpatient()
        s = self.settle(v["visit_id"])
        self.arm({
            "infno": "2208", "mode": "delay", "delay_ms": 1500, "count": 1})
        t = threading.Thread(target=lambda: self.c.post(
            "/v1/settlements/%s/cancel" % s["settlement_id"], {}))
        t.start()
        time.sleep(0.4)
        extra = {"lines": [h.line("BX1", "002501010150000", "血细胞分析(血常规)", "1", "20.00",
                                  "20.00")]}
        fees = "/v1/visits/%s/fees" % v["visit_id"]
        r = self.c.post(fees, extra, key=self.key("fx"))
        self.assertError(r, 409, "CONFLICT")
        self.assertIs(r.json["error"]["retryable"], True, r)
        self.assertIn("being refunded", r.json["error"]["message"], r)
        t.join(20)
        r = self.c.post(fees, extra, key=self.key("fx"))
        self.assertEqual(r.status, 200, r)

    def test_reversal_refused_keeps_the_visit_settling(self):
        # A settlement whose answer was lost, found absent, is reversed (2601); the platform
        # refuses the reversal. It may stand: it is not reported reversed, and the visit is
        # not settled a second time (it was as soon as the 2601 was journaled).
        a = self.outpatient()
        self.arm({"infno": "2207", "mode": "http_500", "count": 1},
                 {"infno": "2601", "mode": "refuse", "count": 1,
                  "message": "冲正失败 (injected)"})
        r = self.c.post("/v1/visits/%s/settle" % a["visit_id"], {})
        self.assertEqual((r.status, r.json["state"]), (202, "unknown"), r)
        sid = r.json["settlement_id"]
        deadline = time.monotonic() + 30
        while not self.posad_db("SELECT 1 FROM journal WHERE infno = '2601' AND "
                                "state = 'refused' AND ref_msgid = (SELECT msgid FROM "
                                "settlements WHERE settlement_id = ?)", (sid,)):
            self.assertLess(time.monotonic(), deadline, "the 2601 was never refused")
            time.sleep(0.1)
        g = self.c.get("/v1/settlements/%s" % sid)
        self.assertEqual((g.status, g.json["state"]), (200, "unknown"), g)
        again = self.c.post("/v1/visits/%s/settle" % a["visit_id"], {})
        self.assertError(again, 504, "OUTCOME_UNKNOWN")  # "being resolved: do not settle again"
        self.assertEqual(self.ledger_settlements(a["mdtrt_id"]), [])
        # Asked about once more after the refusal, found absent again: it stays reversed,
        # with no second 2601, and the settlement stays unknown for an operator.
        msgid = self.posad_db("SELECT msgid FROM settlements WHERE settlement_id = ?",
                              (sid,))[0][0]
        while len(self.posad_db("SELECT 1 FROM journal WHERE infno = '5203' AND "
                                "ref_msgid = ? AND state IN ('done', 'refused')",
                                (msgid,))) < 2:
            self.assertLess(time.monotonic(), deadline, "not asked about again")
            time.sleep(0.1)
        h.wait_until(lambda: self.posad_db("SELECT state FROM journal WHERE msgid = ?",
                                           (msgid,)) == [("reversed",)], 10, "reversed again")
        self.assertEqual(self.posad_db("SELECT state FROM journal WHERE infno = '2601' AND "
                                       "ref_msgid = ?", (msgid,)), [("refused",)])
        g = self.c.get("/v1/settlements/%s" % sid)
        self.assertEqual((g.status, g.json["state"]), (200, "unknown"), g)

    def test_reversal_refused_then_question_refused_stays_unknown(self):
        # Reopened by its refused reversal, a settlement is asked about once: the question
        # refused (a busy platform), it ends reversed at once, with no second 2601, instead
        # of being asked every 10 s ahead of every other unknown row.
        a = self.outpatient()
        self.arm({"infno": "2207", "mode": "http_500", "count": 1},
                 {"infno": "5203", "mode": "refuse", "count": 1,
                  "message": "未找到结算信息 (injected)"},
                 {"infno": "2601", "mode": "refuse", "count": 1,
                  "message": "非当日交易不能冲正 (injected)"},
                 {"infno": "5203", "mode": "refuse", "count": 1,
                  "message": "系统繁忙 (injected)"})
        r = self.c.post("/v1/visits/%s/settle" % a["visit_id"], {})
        self.assertEqual((r.status, r.json["state"]), (202, "unknown"), r)
        msgid = self.posad_db("SELECT msgid FROM settlements WHERE settlement_id = ?",
                              (r.json["settlement_id"],))[0][0]
        h.wait_until(lambda: len(self.posad_db(
            "SELECT 1 FROM journal WHERE infno = '5203' AND ref_msgid = ? AND state = 'refused'",
            (msgid,))) == 2, 20, "asked twice")
        h.wait_until(lambda: self.posad_db("SELECT state FROM journal WHERE msgid = ?",
                                           (msgid,)) == [("reversed",)], 5, "reversed again")
        self.assertEqual(self.posad_db("SELECT state FROM journal WHERE infno = '2601' AND "
                                       "ref_msgid = ?", (msgid,)), [("refused",)])
        g = self.c.get("/v1/settlements/%s" % r.json["settlement_id"])
        self.assertEqual((g.status, g.json["state"]), (200, "unknown"), g)

    def test_reversal_refused_then_found_is_settled(self):
        # The platform settled, the answer was lost, and the question first found nothing
        # (the platform not yet showing it); the 2601 is refused, since the settlement is
        # there. Asked once more, the platform finds it: settled, with its setl_id, once.
        a = self.outpatient()
        self.arm({"infno": "2207", "mode": "drop_after_commit", "count": 1},
                 {"infno": "5203", "mode": "refuse", "count": 1,
                  "message": "未找到结算信息 (injected)"},
                 {"infno": "2601", "mode": "refuse", "count": 1,
                  "message": "冲正失败: 原交易已结算 (injected)"})
        r = self.c.post("/v1/visits/%s/settle" % a["visit_id"], {})
        self.assertEqual((r.status, r.json["state"]), (202, "unknown"), r)
        sid = r.json["settlement_id"]
        h.wait_until(lambda: self.c.get("/v1/settlements/%s" % sid).json["state"] == "settled",
                     30, "settled after the refused reversal", step=0.1)
        g = self.c.get("/v1/settlements/%s" % sid)
        ledger = self.ledger_settlements(a["mdtrt_id"])
        self.assertEqual(len(ledger), 1, ledger)
        self.assertEqual(g.json["setl_id"], ledger[0]["setl_id"], (g, ledger))
        self.assertEqual(g.json["amounts"]["medfee_sumamt"], "1000.00", g)
        msgid = self.posad_db("SELECT msgid FROM settlements WHERE settlement_id = ?",
                              (sid,))[0][0]
        self.assertEqual(self.posad_db("SELECT state FROM journal WHERE msgid = ?", (msgid,)),
                         [("done",)])
        self.assertEqual(self.posad_db("SELECT state FROM journal WHERE infno = '2601' AND "
                                       "ref_msgid = ?", (msgid,)), [("refused",)])
        # The visit is settled: settling it again is refused, nothing is sent.
        again = self.c.post("/v1/visits/%s/settle" % a["visit_id"], {})
        self.assertError(again, 409, "CONFLICT")
        self.assertEqual(len(self.ledger_settlements(a["mdtrt_id"])), 1)

    def test_refund_gives_the_year_back_and_settles_again(self):
        a = self.outpatient()
        s_a = self.settle(a["visit_id"])
        # First outpatient settlement of the year: deductible 800.00 used,
        # fund (1,000.00 - 800.00) x 0.75 = 150.00, person 850.00.
        self.assertEqual(self.amounts(s_a), ("1000.00", "800.00", "150.00", "850.00"), s_a)
        b = self.outpatient()
        s_b = self.settle(b["visit_id"])
        # The year's deductible is used up: fund 1,000.00 x 0.75 = 750.00, person 250.00.
        self.assertEqual(self.amounts(s_b), ("1000.00", "0.00", "750.00", "250.00"), s_b)
        # Refund A (not the person's latest settlement): its 800.00 deductible comes back.
        r = self.c.post("/v1/settlements/%s/cancel" % s_a["settlement_id"], {})
        self.assertEqual(r.status, 200, r)
        g = self.c.get("/v1/settlements/%s" % s_a["settlement_id"])
        self.assertEqual((g.status, g.json["state"]), (200, "cancelled"), g)
        self.assertError(self.c.post("/v1/settlements/%s/cancel" % s_a["settlement_id"], {}),
                         409, "CONFLICT")
        # A settles again: a new settlement, and the deductible is A's again (800.00, 150.00),
        # not 0.00 and 750.00 as it would be had the cancel not moved the year back.
        s_a2 = self.settle(a["visit_id"])
        self.assertNotEqual(s_a2["settlement_id"], s_a["settlement_id"])
        self.assertNotEqual(s_a2["setl_id"], s_a["setl_id"])
        self.assertEqual(self.amounts(s_a2), ("1000.00", "800.00", "150.00", "850.00"), s_a2)
        # The first one stays cancelled, B stays settled.
        g = self.c.get("/v1/settlements/%s" % s_a["settlement_id"])
        self.assertEqual(g.json["state"], "cancelled", g)
        g = self.c.get("/v1/settlements/%s" % s_b["settlement_id"])
        self.assertEqual(g.json["state"], "settled", g)

    def test_refund_of_a_stay_and_settle_again(self):
        v = self.open_visit(self.c, self.stay_psn)
        self.upload(self.c, v["visit_id"], h.stay_lines("R"))
        s1 = self.settle(v["visit_id"], **DISCHARGE)
        self.assertEqual(self.amounts(s1), ("10000.00", "800.00", "8280.00", "1720.00"), s1)
        r = self.c.post("/v1/settlements/%s/cancel" % s1["settlement_id"], {},
                        key=self.key("cancel"))
        self.assertEqual(r.status, 200, r)
        again = self.c.post("/v1/settlements/%s/cancel" % s1["settlement_id"], {},
                            key=self.key("cancel"))
        self.assertEqual((again.status, again.raw), (r.status, r.raw))
        s2 = self.settle(v["visit_id"], **DISCHARGE)
        self.assertNotEqual(s2["settlement_id"], s1["settlement_id"])
        # Deductible per admission: the same stay settles to the same figures again.
        self.assertEqual(self.amounts(s2), ("10000.00", "800.00", "8280.00", "1720.00"), s2)
        states = sorted(s["state"] for s in self.ledger_settlements(v["mdtrt_id"]))
        self.assertEqual(len(states), 2, states)

    def test_cancel_unknown_settlement(self):
        self.assertError(self.c.post("/v1/settlements/Snosuch00000000/cancel", {}), 404,
                         "NOT_FOUND")


class IdempotencyOverUnixSocket(IdemBase):
    transport = "unix"
    psn_no = "32020000000000000000000112"    # 王䶮
    stay_psn = "32020000000000000000000107"  # 孙志强 (commitment: settles as long-term)


class IdempotencyOverTcp(IdemBase):
    transport = "tcp"
    psn_no = "32020000000000000000000101"    # 张建国
    stay_psn = "32020000000000000000000104"  # 陈静 (referral, Wuxi: no reduction)


del IdemBase

if __name__ == "__main__":
    h.main()
