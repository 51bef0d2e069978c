"""settle with wait_if_offline (his-api.md): while the platform is away the settlement is
journaled and answered 202 "queued"; the outbox sends it once the platform is back, exactly
once, and the settlement becomes settled with the platform's figures. With the platform there,
it is sent at once like any settle."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"


class Wait(h.HisTestCase):
    posad_conf = "offline_after = 1\nprobe_interval_ms = 200\n"

    def test_settlement_waits_for_the_platform(self):
        v = self.open_visit(self.tcp, ZHANG)
        self.upload(self.tcp, v["visit_id"], h.stay_lines("W"))
        self.w.kill_sandbox()
        r = self.unix.post("/v1/visits/%s/settle" % v["visit_id"], {"wait_if_offline": True,
                           "discharge": {"time": "2026-11-25 09:30:00"}}, key="wait-1")
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json["state"], "queued", r)
        sid = r.json["settlement_id"]
        # Another settle of the visit meanwhile: refused, it would risk paying twice.
        r2 = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
        self.assertError(r2, 504, "OUTCOME_UNKNOWN")
        self.assertTrue(self.w.start_sandbox(), self.w.log_tail("sandbox.log"))
        h.wait_until(lambda: self.tcp.get("/v1/settlements/" + sid).json["state"] == "settled",
                     20, "the queued settlement settled", step=0.1)
        s = self.tcp.get("/v1/settlements/" + sid).json
        # 10,000.00 in scope, long-term: (10,000 - 800) x 0.90 = 8,280.00; person 1,720.00.
        self.assertEqual((s["amounts"]["fund_pay_sumamt"], s["amounts"]["psn_part_amt"]),
                         ("8280.00", "1720.00"), s)
        self.assertEqual([e["state"] for e in s["history"]], ["pending", "queued", "settled"], s)
        ledger = [x for x in self.w.ledger()["settlements"] if x["mdtrt_id"] == v["mdtrt_id"]]
        self.assertEqual(len(ledger), 1, ledger)  # sent once

    def test_online_it_settles_at_once(self):
        # wait_if_offline only lets the settlement wait: with the platform there it is sent
        # at once and answered like any settle.
        v = self.open_visit(self.tcp, ZHANG)
        self.upload(self.tcp, v["visit_id"], h.stay_lines("O"))
        r = self.unix.post("/v1/visits/%s/settle" % v["visit_id"], {"wait_if_offline": True,
                           "discharge": {"time": "2026-11-25 09:30:00"}}, key="wait-online-1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "settled", r)
        self.assertEqual((r.json["amounts"]["fund_pay_sumamt"], r.json["amounts"]["psn_part_amt"]),
                         ("8280.00", "1720.00"), r)
        s = self.tcp.get("/v1/settlements/" + r.json["settlement_id"]).json
        self.assertEqual([e["state"] for e in s["history"]], ["pending", "settled"], s)
        ledger = [x for x in self.w.ledger()["settlements"] if x["mdtrt_id"] == v["mdtrt_id"]]
        self.assertEqual(len(ledger), 1, ledger)


if __name__ == "__main__":
    h.main()
