"""A bill uploaded in several chunks ([his] chunk_lines = 2: five lines, three messages). The
fees call answers once the first chunk is answered, the rest `queued` behind it in the
visit's order. A presettle (or settle) while they are on their way waits its turn: it gets a
retryable CONFLICT, never the platform's refusal of a bill larger than the lines it has so
far."""
import os
import re
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"


class Chunks(h.HisTestCase):
    posad_conf = "[his]\nchunk_lines = 2\n"

    def test_presettle_waits_for_the_chunks_still_on_their_way(self):
        v = self.open_visit(self.tcp, ZHANG)
        vid, lines = v["visit_id"], h.stay_lines("A")[:5]
        total = sum(Decimal(x["amount"]) for x in lines)
        # The first chunk and the second are each held 1.5 s by the platform.
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "2301", "mode": "delay", "delay_ms": 1500, "count": 2})
        self.assertEqual(status, 200, raw)
        r = self.tcp.post("/v1/visits/%s/fees" % vid, {"lines": lines})
        self.assertEqual((r.status, r.json["upload"]), (200, {"state": "queued", "chunks": 3}), r)
        for path, body in (("presettle", {}),
                           ("settle", {"discharge": {"time": "2026-11-25 09:30:00"}})):
            early = self.tcp.post("/v1/visits/%s/%s" % (vid, path), body)
            self.assertError(early, 409, "CONFLICT")
            self.assertTrue(early.json["error"]["retryable"], early)
            # posad's words, not the platform's: the platform said nothing.
            self.assertNotIn("upstream_message", early.json["error"]["details"], early)
        h.wait_until(lambda: self.posad_row(
            "SELECT 1 FROM journal WHERE visit_key = ? AND state IN ('queued', 'sent')",
            (vid,)) is None, 20, "the chunks answered")
        p = self.tcp.post("/v1/visits/%s/presettle" % vid, {})
        self.assertEqual((p.status, p.json["amounts"]["medfee_sumamt"]), (200, "%.2f" % total), p)
        self.assertFalse(p.json["estimated"], p)


    def test_a_chunk_refused_names_its_lines(self):
        # The first of two chunks is refused: 422 with the platform's words and the two lines
        # it refused (details.refused); the second chunk's lines are kept and go. The HIS
        # sends the refused ones again, not the whole bill (which it could not: the others
        # are uploaded already).
        v = self.open_visit(self.tcp, ZHANG)
        vid = v["visit_id"]
        lines = h.stay_lines("P")[:4]
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "2301", "mode": "refuse", "count": 1, "message": "明细审核未通过"})
        self.assertEqual(status, 200, raw)
        r = self.tcp.post("/v1/visits/%s/fees" % vid, {"lines": lines})
        self.assertError(r, 422, "UPSTREAM_REFUSED")
        d = r.json["error"]["details"]
        self.assertEqual((d["refused"], d["upstream_message"]), (["P01", "P02"], "明细审核未通过"), r)
        self.assertIn("2 of 4 lines were refused", r.json["error"]["message"], r)
        h.wait_until(lambda: {l["his_line_id"]: l["state"] for l in self.fee_lines(vid)} ==
                     {"P01": "refused", "P02": "refused", "P03": "active", "P04": "active"},
                     30, "the second chunk kept and gone")
        again = self.tcp.post("/v1/visits/%s/fees" % vid, {"lines": lines[:2]})
        self.assertEqual(again.status, 200, again)

    def test_chunks_behind_a_failing_one_say_what_they_wait_for(self):
        # The first chunk meets an HTTP 500 (its outcome unknown, then reversed and sent
        # again): the two behind it showed no last_error in the queue, nothing an operator
        # could act on. Each now names the message it waits behind.
        v = self.open_visit(self.tcp, ZHANG)
        vid = v["visit_id"]
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "2301", "mode": "http_500", "count": 1})
        self.assertEqual(status, 200, raw)
        r = self.tcp.post("/v1/visits/%s/fees" % vid, {"lines": h.stay_lines("W")[:5]})
        self.assertIn(r.status, (200, 504), r)
        behind = {}
        h.wait_until(lambda: behind.update(
            (x["msgid"], x) for x in self.tcp.get("/v1/queue").json["rows"]
            if x["visit_id"] == vid and x["infno"] == "2301" and x["state"] == "queued" and
            not x["attempts"])
            or len(behind) >= 2, 10, "the later chunks waiting")
        ahead = r"^waiting behind (\S+) \((2301|2601)\), an earlier message of its visit"
        for row in behind.values():
            self.assertRegex(row["last_error"] or "", ahead, row)
            first = re.match(ahead, row["last_error"]).group(1)
            # ... which goes before it in the visit's order
            self.assertLess(*(self.posad_row("SELECT ord FROM journal WHERE msgid = ?", (m,))[0]
                              for m in (first, row["msgid"])))
        h.wait_until(lambda: self.posad_row(
            "SELECT 1 FROM journal WHERE visit_key = ? AND state IN ('queued', 'sent')",
            (vid,)) is None, 30, "the chunks answered")
        self.assertEqual({l["state"] for l in self.fee_lines(vid)}, {"active"})


if __name__ == "__main__":
    h.main()
