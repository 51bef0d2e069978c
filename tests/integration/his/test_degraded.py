"""GET /v1/health's upstream.state and the upstream_* events when some messages fail between
others that succeed (the resolver's queries failing while desks settle): degraded holds until
nothing failed for a probe interval, and the probe brings it back online once. Each success
brought it back online and each failure took it down, an event and a log line every time
(178 in 90 s in a long run).

Usage: test_degraded.py POSAD POSA_SANDBOX SOURCE_DIR"""
import hisharness as h
from test_events import ZHANG, ZHAO, subscribe


class DegradedHolds(h.HisTestCase):
    posad_conf = "offline_after = 3\nprobe_interval_ms = 1000\n"

    def test_degraded_holds_while_some_messages_fail(self):
        s = subscribe(self.unix, "D01")
        self.addCleanup(s.close)
        body = {"source": "id", "certno": h.PERSONS[ZHANG]}
        for _ in range(3):
            status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
                "infno": "1101", "mode": "http_500", "count": 1})
            self.assertEqual(status, 200, raw)
            r = self.tcp.post("/v1/identify", body)  # fails: degraded
            self.assertGreaterEqual(r.status, 500, r)
            self.identify(self.tcp, ZHAO)  # succeeds: the count of failures starts over
            self.assertEqual(self.tcp.get("/v1/health").json["upstream"]["state"], "degraded")
        seen = s.events_until("upstream_online", 5)
        self.assertEqual([e[0] for e in seen], ["upstream_degraded", "upstream_online"], seen)
        self.assertEqual(self.tcp.get("/v1/health").json["upstream"]["state"], "online")


if __name__ == "__main__":
    h.main()
