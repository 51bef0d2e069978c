"""A bill uploaded in several chunks ([his] chunk_lines = 2: five lines, three messages). The
fees call answers once the first chunk is answered, the rest `queued` behind it in the
visit's order. A presettle (or settle) while they are on their way waits its turn: it gets a
retryable CONFLICT, never the platform's refusal of a bill larger than the lines it has so
far."""
import os
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
        for path in ("presettle", "settle"):
            early = self.tcp.post("/v1/visits/%s/%s" % (vid, path), {})
            self.assertError(early, 409, "CONFLICT")
            self.assertTrue(early.json["error"]["retryable"], early)
        h.wait_until(lambda: self.posad_row(
            "SELECT 1 FROM journal WHERE visit_key = ? AND state IN ('queued', 'sent')",
            (vid,)) is None, 20, "the chunks answered")
        p = self.tcp.post("/v1/visits/%s/presettle" % vid, {})
        self.assertEqual((p.status, p.json["amounts"]["medfee_sumamt"]), (200, "%.2f" % total), p)
        self.assertFalse(p.json["estimated"], p)


if __name__ == "__main__":
    h.main()
