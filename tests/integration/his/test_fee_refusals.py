"""Fee lines the platform refuses after the HIS was answered: posad's lines must stay what the
platform holds, so the bill can still be settled.

- A fee cancel refused for a lost session is sent again under a new msgid, and that resend
  is refused too: the line it cancelled is active again (it names the first cancel's msgid).
- A line cancelled while its upload waited in the outbox, whose upload is then refused: it
  is refused with the upload (the platform never had it), not made active by the cancel's
  refusal, and the HIS may upload it again. The HIS, told "queued", hears `fees_refused`
  with the lines refused."""
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"


class FeeRefusals(h.HisTestCase):
    posad_conf = "offline_after = 1\nprobe_interval_ms = 200\n"

    def fault(self, body):
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", body)
        self.assertEqual(status, 200, raw)

    def drained(self, visit_id):
        h.wait_until(lambda: self.posad_row(
            "SELECT 1 FROM journal WHERE visit_key = ? AND state IN ('queued', 'sent', 'unknown')",
            (visit_id,)) is None, 30, "the visit's messages answered")

    def line_states(self, visit_id):
        return {line["his_line_id"]: line["state"] for line in self.fee_lines(visit_id)}

    def platform_active(self, mdtrt_id):
        return sorted(u["feedetl_sn"] for u in self.w.ledger()["uploads"]
                      if u["mdtrt_id"] == mdtrt_id and u["state"] == "active")

    def test_refused_resend_of_a_cancel_gives_the_line_back(self):
        v = self.open_visit(self.tcp, ZHANG)
        vid = v["visit_id"]
        self.upload(self.tcp, vid, h.stay_lines("A"))  # 10,000.00
        self.drained(vid)
        self.fault({"infno": "2302", "mode": "refuse", "count": 1,
                    "message": "sign_no is not signed in"})
        self.fault({"infno": "2302", "mode": "refuse", "count": 1, "message": "refused by review"})
        r = self.tcp.post("/v1/visits/%s/fees/cancel" % vid, {"his_line_ids": ["A01"]})
        self.assertEqual(r.status, 200, r)
        self.drained(vid)
        self.assertEqual(self.line_states(vid)["A01"], "active")
        self.assertIn("F000001", self.platform_active(v["mdtrt_id"]))
        # The resend after the lost session is posad's own: audited, pointing at the first.
        first, resend = self.posad_rows("SELECT msgid, ref_msgid FROM journal WHERE visit_key = ? "
                                        "AND infno = '2302' ORDER BY seq", (vid,))[:2]
        self.assertEqual(resend[1], first[0])
        self.assertEqual(self.posad_rows("SELECT who, action, target FROM audit WHERE msgid = ?",
                                         (resend[0],)), [("posad", "resend", first[0])])
        # The refusal came from the queue, after the HIS had its answer: the visit does not
        # settle A01 unheard (offline's test_cancel_queued_then_refused...).
        p = self.tcp.post("/v1/visits/%s/presettle" % vid, {})
        self.assertError(p, 409, "CONFLICT")
        self.assertEqual(p.json["error"]["details"]["his_line_ids"], ["A01"], p)
        again = self.tcp.post("/v1/visits/%s/fees/cancel" % vid, {"his_line_ids": ["A01"]})
        self.assertEqual(again.status, 200, again)
        # 10,000.00 less A01's 4,500.00.
        p = self.tcp.post("/v1/visits/%s/presettle" % vid, {})
        self.assertEqual((p.status, p.json["amounts"]["medfee_sumamt"]), (200, "5500.00"), p)

    def test_a_line_sent_again_while_its_cancel_is_on_its_way(self):
        # K01's cancel: its answer lost, its resend refused. K01 sent again (corrected) while
        # that is unsettled is asked for again later (it replaced the old line, which the
        # platform then still had: the visit could never settle, 5420.00 against 9920.00).
        v = self.open_visit(self.tcp, ZHANG)
        vid = v["visit_id"]
        lines = h.stay_lines("K")[:3]  # 4,500.00 + 900.00 + 20.00
        self.upload(self.tcp, vid, lines)
        self.drained(vid)
        self.fault({"infno": "2302", "mode": "drop_after_commit", "count": 1})
        self.fault({"infno": "2302", "mode": "refuse", "count": 1, "message": "refused by review"})
        r = self.tcp.post("/v1/visits/%s/fees/cancel" % vid, {"his_line_ids": ["K01"]})
        self.assertEqual((r.status, r.json["state"]), (200, "queued"), r)
        fixed = dict(lines[0], qty="1", price="4000.00", amount="4000.00")
        r = self.tcp.post("/v1/visits/%s/fees" % vid, {"lines": [fixed]})
        self.assertError(r, 409, "CONFLICT")
        self.assertIs(r.json["error"]["retryable"], True, r)
        self.assertIn("still on its way", r.json["error"]["message"], r)
        self.drained(vid)
        # The cancel was refused: K01 is on the bill as it was, and cannot be sent again.
        self.assertEqual(self.line_states(vid)["K01"], "active")
        r = self.tcp.post("/v1/visits/%s/fees" % vid, {"lines": [fixed]})
        self.assertError(r, 409, "CONFLICT")
        self.assertIs(r.json["error"]["retryable"], False, r)
        self.assertEqual(self.platform_active(v["mdtrt_id"]), ["F000001", "F000002", "F000003"])
        # Cancelled again (the platform takes it now) and sent again: 4,000.00 + 920.00.
        r = self.tcp.post("/v1/visits/%s/fees/cancel" % vid, {"his_line_ids": ["K01"]})
        self.assertEqual((r.status, r.json["cancelled"]), (200, ["K01"]), r)
        r = self.tcp.post("/v1/visits/%s/fees" % vid, {"lines": [fixed]})
        self.assertEqual(r.status, 200, r)
        p = self.tcp.post("/v1/visits/%s/presettle" % vid, {})
        self.assertEqual((p.status, p.json["amounts"]["medfee_sumamt"]), (200, "4920.00"), p)

    def test_a_refusal_worded_as_the_session_twice_ends_the_upload(self):
        # The platform refuses an upload with words about the sign-in (经办人签到...) that are
        # its word on the message: posad signed in, sent it again under a new msgid, was
        # refused, and went round for ever (some 500 rows a second; found by review). Its
        # resend refused so too is refused: sent twice in all. Each refusal ends its session
        # (a second loss is one: a first fix that stopped seeing them kept posad signed out).
        v = self.open_visit(self.tcp, ZHANG)
        vid = v["visit_id"]
        seen = len(self.w.log_tail(n=10 ** 7))
        self.fault({"infno": "2301", "mode": "refuse", "count": 2,
                    "message": "经办人签到信息与本机构不符"})
        r = self.tcp.post("/v1/visits/%s/fees" % vid, {"lines": h.stay_lines("S")[:1]})
        self.assertEqual(r.status, 200, r)
        self.drained(vid)
        rows = self.posad_rows("SELECT msgid, ref_msgid, state FROM journal WHERE visit_key = ? "
                               "AND infno = '2301' ORDER BY seq", (vid,))
        self.assertEqual([(row[1], row[2]) for row in rows],
                         [(None, "refused"), (rows[0][0], "refused")], rows)
        self.assertEqual(self.line_states(vid), {"S01": "refused_queued"})
        log = self.w.log_tail(n=10 ** 7)[seen:]
        self.assertEqual(log.count("event=session_lost"), 2, log[-3000:])
        self.assertEqual(log.count("event=session_refusal_repeated"), 1, log[-3000:])
        h.wait_until(lambda: self.tcp.get("/v1/health").json["upstream"]["state"] == "online",
                     10, "signed in again")
        # The session stands: the line sent again is taken.
        self.upload(self.tcp, vid, h.stay_lines("S")[:1])
        self.drained(vid)
        self.assertEqual(self.line_states(vid), {"S01": "active"})

    def test_a_refusal_naming_9001_is_no_lost_session(self):
        # A line numbered 9001 refused as a duplicate: "9001" alone was read as the sign-in's
        # infno, and the session of every desk ended (found by review). Refused, no sign-in.
        v = self.open_visit(self.tcp, ZHANG)
        seen = len(self.w.log_tail(n=10 ** 7))
        self.fault({"infno": "2301", "mode": "refuse", "count": 1,
                    "message": "明细流水号 9001 已上传, 不能重复上传"})
        r = self.tcp.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": h.stay_lines("N")[:1]})
        self.assertError(r, 422, "UPSTREAM_REFUSED")  # the HIS hears it at once, not "queued"
        self.drained(v["visit_id"])
        self.assertEqual(self.line_states(v["visit_id"]), {"N01": "refused"})
        log = self.w.log_tail(n=10 ** 7)[seen:]
        self.assertNotIn("event=session_lost", log)

    def sandbox_call(self, infno, inp, sign_no, seq=[9100]):
        """A national message straight to the sandbox, as another system of the hospital."""
        seq[0] += 1
        env = {"infno": infno, "msgid": "%s%s%04d" % (h.INSTITUTION, time.strftime("%Y%m%d%H%M%S"),
                                                       seq[0]),
               "mdtrtarea_admvs": "310000", "insuplc_admdvs": "", "recer_sys_code": "YBXT",
               "infver": "V1.0", "opter_type": "1", "opter": "0002", "opter_name": "x",
               "inf_time": time.strftime("%Y-%m-%d %H:%M:%S"), "fixmedins_code": h.INSTITUTION,
               "fixmedins_name": "x", "sign_no": sign_no, "input": inp}
        status, raw = self.w.sandbox_request("POST", "/fsi/api/rsfComIfsService/callService", env)
        self.assertEqual(status, 200, raw)
        return json.loads(raw.decode())

    def test_the_session_ended_twice_is_signed_in_again_twice(self):
        # The platform ends posad's session, and the one posad signs in again before any
        # message of it was accepted (a nightly sign-out): a first fix of the resend loop
        # took every refusal after that as the message's own, and posad stayed signed out,
        # refusing every settlement until a restart (found by review).
        other = self.sandbox_call("9001", {"signIn": {"opter_no": "0002", "mac": "", "ip": ""}},
                                  "")["output"]["signinoutb"]["sign_no"]

        def signs():
            return re.findall(r"event=signed_in sign_no=(\S+)", self.w.log_tail(n=10 ** 7))

        for _ in range(2):
            before = signs()
            self.sandbox_call("9002", {"signOut": {"sign_no": before[-1], "opter_no": "0001"}},
                              other)
            r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]})
            self.assertError(r, 503, "UPSTREAM_OFFLINE")  # signing in again: ask again
            h.wait_until(lambda: len(signs()) > len(before), 15, "signed in again")
        r = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]})
        self.assertEqual(r.status, 200, r)

    def test_line_cancelled_behind_a_refused_upload_is_refused(self):
        v = self.open_visit(self.tcp, ZHANG)
        vid, lines = v["visit_id"], h.stay_lines("B")[:3]
        self.w.kill_sandbox()
        self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]})
        h.wait_until(lambda: self.tcp.get("/v1/health").json["upstream"]["state"] == "offline",
                     20, "posad offline")
        r = self.tcp.post("/v1/visits/%s/fees" % vid, {"lines": lines})
        self.assertEqual((r.status, r.json["upload"]["state"]), (200, "queued"), r)
        r = self.tcp.post("/v1/visits/%s/fees/cancel" % vid, {"his_line_ids": ["B01"]})
        self.assertEqual(r.status, 200, r)
        events = h.SseStream(self.unix, "/v1/events")  # the socket: every desk's
        self.addCleanup(events.close)
        self.assertTrue(self.w.start_sandbox(faults=[{"infno": "2301", "mode": "refuse",
                                                      "count": 1,
                                                      "message": "refused by review"}]))
        h.wait_until(self.w._online, 20, "posad online again", step=0.1)
        self.drained(vid)
        self.assertEqual(self.line_states(vid), {"B01": "refused_queued",
                                                 "B02": "refused_queued",
                                                 "B03": "refused_queued"})
        self.assertEqual(self.platform_active(v["mdtrt_id"]), [])
        seen = events.events_until("fees_refused", 10)
        self.assertEqual(seen[-1][1], {"visit_id": vid, "his_line_ids": ["B01", "B02", "B03"]})
        kept = self.tcp.get("/v1/visits/" + vid).json["lines"]  # what the HIS may look up
        self.assertEqual({ln["his_line_id"]: ln["state"] for ln in kept},
                         {"B01": "refused_queued", "B02": "refused_queued",
                          "B03": "refused_queued"})
        # An HIS that missed the event hears it from presettle (or settle), once: it settled
        # the bill without them and nobody knew.
        p = self.tcp.post("/v1/visits/%s/presettle" % vid, {})
        self.assertError(p, 409, "CONFLICT")
        self.assertEqual(p.json["error"]["details"]["his_line_ids"], ["B01", "B02", "B03"], p)
        self.assertIn("not on the bill", p.json["error"]["message"], p)
        p = self.tcp.post("/v1/visits/%s/presettle" % vid, {})
        self.assertError(p, 422, "BAD_REQUEST")  # told: now a visit with no lines
        self.upload(self.tcp, vid, lines)  # refused lines may be sent again
        self.drained(vid)
        self.assertEqual(len(self.platform_active(v["mdtrt_id"])), 3)


if __name__ == "__main__":
    h.main()
