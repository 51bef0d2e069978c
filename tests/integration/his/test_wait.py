"""settle with wait_if_offline (his-api.md): while the platform is away the settlement is
journaled and answered 202 "queued"; the outbox sends it once the platform is back, exactly
once, and the settlement becomes settled with the platform's figures. With the platform there,
it is sent at once like any settle."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"
DISCHARGE = {"discharge": {"time": "2026-11-25 09:30:00"}}


class Wait(h.HisTestCase):
    posad_conf = "offline_after = 1\nprobe_interval_ms = 200\n"

    def test_settlement_waits_for_the_platform(self):
        # A stay whose discharge the platform already holds (settled, then refunded): its
        # settlement waits in the queue while the platform is away.
        v = self.open_visit(self.tcp, ZHANG)
        self.upload(self.tcp, v["visit_id"], h.stay_lines("W"))
        first = self.unix.post("/v1/visits/%s/settle" % v["visit_id"], DISCHARGE)
        self.assertEqual(first.status, 200, first)
        c = self.unix.post("/v1/settlements/%s/cancel" % first.json["settlement_id"], {})
        self.assertEqual(c.status, 200, c)
        self.w.kill_sandbox()
        r = self.unix.post("/v1/visits/%s/settle" % v["visit_id"], {"wait_if_offline": True},
                           key="wait-1")
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json["state"], "queued", r)
        sid = r.json["settlement_id"]
        # Another settle of the visit meanwhile: refused, it would risk paying twice.
        r2 = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
        self.assertError(r2, 504, "OUTCOME_UNKNOWN")
        # A refund meanwhile: it waits for the platform, it is not being checked.
        c = self.tcp.post("/v1/settlements/%s/cancel" % sid, {})
        self.assertError(c, 409, "CONFLICT")
        self.assertIn("waits in posad's queue", c.json["error"]["message"], c)
        self.assertTrue(self.w.start_sandbox(), self.w.log_tail("sandbox.log"))
        h.wait_until(lambda: self.tcp.get("/v1/settlements/" + sid).json["state"] == "settled",
                     20, "the queued settlement settled", step=0.1)
        s = self.tcp.get("/v1/settlements/" + sid).json
        # 10,000.00 in scope, long-term: (10,000 - 800) x 0.90 = 8,280.00; person 1,720.00.
        self.assertEqual((s["amounts"]["fund_pay_sumamt"], s["amounts"]["psn_part_amt"]),
                         ("8280.00", "1720.00"), s)
        self.assertEqual([e["state"] for e in s["history"]], ["pending", "queued", "settled"], s)
        ledger = [x for x in self.w.ledger()["settlements"]
                  if x["mdtrt_id"] == v["mdtrt_id"] and x.get("state") != "cancelled"]
        self.assertEqual(len(ledger), 1, ledger)  # sent once

    def test_a_queued_settlement_posad_stopped_on_shows_it_unknown(self):
        # Sent by the outbox, and posad killed while the platform held it: the restart made
        # the row unknown and the resolver decided it, but the history went from queued
        # straight to settled, as if nothing had been in doubt.
        v = self.open_visit(self.tcp, ZHANG, kind="outpatient", med_type="11")
        self.upload(self.tcp, v["visit_id"], [h.line("KQ1", "002501010150000",
                                                     "血细胞分析(血常规)", "1", "20.00", "20.00")])
        self.w.kill_sandbox()
        r = self.unix.post("/v1/visits/%s/settle" % v["visit_id"], {"wait_if_offline": True})
        self.assertEqual((r.status, r.json.get("state")), (202, "queued"), r)
        sid = r.json["settlement_id"]
        self.assertTrue(self.w.start_sandbox(faults=[
            {"infno": "2207", "mode": "delay", "delay_ms": 3000, "count": 1}]),
            self.w.log_tail("sandbox.log"))
        h.wait_until(lambda: self.posad_rows("SELECT state FROM journal WHERE visit_key = ? AND "
                                             "infno = '2207'", (v["visit_id"],)) == [("sent",)],
                     20, "the queued 2207 sent", step=0.05)
        self.w._kill(self.w.posad)
        self.w.posad = self.w._spawn([h.POSAD, "--config", self.w.conf_path], "posad.log")
        h.wait_until(self.w._online, 20, "posad back online", step=0.05)
        h.wait_until(lambda: self.tcp.get("/v1/settlements/" + sid).json["state"] in
                     ("settled", "reversed"), 30, "the resolver decided it", step=0.1)
        s = self.tcp.get("/v1/settlements/" + sid).json
        self.assertEqual([e["state"] for e in s["history"]][:3], ["pending", "queued", "unknown"],
                         s)
        self.assertEqual(len(s["history"]), 4, s)

    def test_a_discharge_does_not_queue_the_settlement_behind_it(self):
        # The discharge would wait in the queue with the settlement behind it, and the
        # outbox send the settlement even were the discharge refused (a stay settled that
        # the platform holds in hospital): the discharge waits, the settle is answered 503
        # and nothing is settled; once the discharge went, the settle goes.
        v = self.open_visit(self.tcp, ZHANG)
        self.upload(self.tcp, v["visit_id"], h.stay_lines("WD"))
        self.w.kill_sandbox()
        body = dict(DISCHARGE, wait_if_offline=True)
        r = self.unix.post("/v1/visits/%s/settle" % v["visit_id"], body)
        self.assertError(r, 503, "UPSTREAM_OFFLINE")
        self.assertIn("nothing was settled", r.json["error"]["message"], r)
        self.assertEqual(self.posad_rows("SELECT infno, state FROM journal WHERE visit_key = ? "
                                         "AND infno IN ('2402', '2304')", (v["visit_id"],)),
                         [("2402", "queued")])
        self.assertTrue(self.w.start_sandbox(), self.w.log_tail("sandbox.log"))
        h.wait_until(lambda: self.posad_rows("SELECT state FROM journal WHERE visit_key = ? AND "
                                             "infno = '2402'", (v["visit_id"],)) == [("done",)],
                     20, "the discharge sent", step=0.1)
        r = self.unix.post("/v1/visits/%s/settle" % v["visit_id"], body)
        self.assertEqual((r.status, r.json.get("state")), (200, "settled"), r)
        self.assertEqual(self.posad_rows("SELECT infno FROM journal WHERE visit_key = ? AND "
                                         "infno = '2402'", (v["visit_id"],)), [("2402",)])

    def test_online_it_settles_at_once(self):
        # wait_if_offline only lets the settlement wait: with the platform there it is sent
        # at once and answered like any settle.
        v = self.open_visit(self.tcp, ZHANG)
        self.upload(self.tcp, v["visit_id"], h.stay_lines("O"))
        r = self.unix.post("/v1/visits/%s/settle" % v["visit_id"], dict(DISCHARGE, wait_if_offline=True),
                           key="wait-online-1")
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
