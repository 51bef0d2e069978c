"""posad's clocks, on a machine set to New York's zone (13 hours behind Beijing in winter):
every time posad writes itself (msgids, inf_time, a settlement's history, the statement's
print time) is Beijing time, as the national interface's are; a day after Beijing's today is
refused; and a retry that the wall clock scheduled before it was set back does not wait as
long as the clock went back."""
import datetime
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"
BEIJING = datetime.timezone(datetime.timedelta(hours=8))


def beijing_now():
    return datetime.datetime.now(BEIJING).replace(tzinfo=None)


class Clock(h.HisTestCase):
    posad_conf = "offline_after = 1\nprobe_interval_ms = 200\nidle_check_ms = 300\n"

    @classmethod
    def setUpClass(cls):
        os.environ["TZ"] = "America/New_York"  # posad and the sandbox inherit it
        super().setUpClass()

    def assertNearNow(self, text, fmt, what):
        at = datetime.datetime.strptime(text, fmt)
        self.assertLess(abs((at - beijing_now()).total_seconds()), 120,
                        "%s %s is not Beijing's now (%s)" % (what, text, beijing_now()))

    def test_posad_writes_beijing_time(self):
        v = self.open_visit(self.unix, ZHANG)
        vid = v["visit_id"]
        self.upload(self.tcp, vid, h.stay_lines()[:2])
        r = self.tcp.post("/v1/visits/%s/settle" % vid,
                          {"discharge": {"time": "2026-11-25 09:30:00"}})
        self.assertEqual(r.status, 200, r)
        sid = r.json["settlement_id"]

        msgid, request = self.posad_row(
            "SELECT msgid, request FROM journal WHERE infno = '2304' ORDER BY seq DESC")
        self.assertNearNow(msgid[12:26], "%Y%m%d%H%M%S", "the 2304's msgid")
        inf_time = re.search(r'"inf_time":"([^"]+)"', request.decode()).group(1)
        self.assertNearNow(inf_time, "%Y-%m-%d %H:%M:%S", "the 2304's inf_time")

        history = self.tcp.get("/v1/settlements/%s" % sid).json["history"]
        self.assertNearNow(history[-1]["at"], "%Y-%m-%d %H:%M:%S", "the history's last entry")

        page = self.tcp.get("/v1/documents/settlement/%s" % sid).raw.decode()
        printed = re.search(r"打印时间：(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", page).group(1)
        self.assertNearNow(printed, "%Y-%m-%d %H:%M:%S", "the statement's print time")

    def test_a_day_after_beijings_today_is_refused(self):
        # The sandbox's clock (2026-11-25) is behind the real one: today is Beijing's. (In
        # the ten minutes before midnight, tomorrow is still allowed: a HIS clock ahead.)
        tomorrow = (beijing_now() + datetime.timedelta(days=1, minutes=11)).strftime("%Y-%m-%d")
        r = self.tcp.post("/v1/reconcile", {"date": tomorrow})
        self.assertError(r, 400, "BAD_REQUEST")
        self.assertEqual(r.json["error"]["details"]["field"], "date", r)

        vid = self.open_visit(self.unix, ZHANG)["visit_id"]
        self.upload(self.tcp, vid, h.stay_lines()[:1])
        r = self.tcp.post("/v1/visits/%s/settle" % vid,
                          {"discharge": {"time": tomorrow + " 09:00:00"}})
        self.assertError(r, 400, "BAD_REQUEST")
        self.assertEqual(r.json["error"]["details"]["field"], "discharge.time", r)
        self.assertIn("after today", r.json["error"]["message"], r)
        self.assertIsNone(self.posad_row(
            "SELECT 1 FROM journal WHERE infno IN ('2402', '2304') AND visit_key LIKE ?",
            ("%" + vid + "%",)))

    def test_retry_scheduled_before_the_clock_went_back(self):
        # An upload waits for the platform, retried with a backoff; posad stops; the clock is
        # set back eight hours, so the retry stored lies eight hours ahead of the wall clock,
        # and the visit's next upload, queued since, waits behind it (due now, it kept the
        # outbox from looking further ahead).
        vid = self.open_visit(self.unix, ZHANG)["visit_id"]
        self.w.kill_sandbox()
        for lines in (h.stay_lines()[2:4], h.stay_lines()[4:5]):
            fees = self.upload(self.tcp, vid, lines)
            self.assertEqual(fees["upload"]["state"], "queued", fees)
        h.wait_until(lambda: self.posad_row(
            "SELECT attempts FROM journal WHERE state = 'queued' ORDER BY seq")[0] > 0, 10,
            "a retry")
        os.kill(self.w.posad.pid, signal.SIGKILL)
        self.w.posad.wait()
        eight_hours_ahead = int(time.time() * 1000) + 8 * 3600 * 1000
        db = h.sqlite3.connect(os.path.join(self.w.data_dir, "posad.db"))
        with db:
            db.execute("UPDATE journal SET next_attempt = ? WHERE seq = (SELECT min(seq) FROM "
                       "journal WHERE state = 'queued')", (eight_hours_ahead,))
            db.execute("UPDATE journal SET next_attempt = 1 WHERE state = 'queued' AND "
                       "next_attempt < ?", (eight_hours_ahead,))
        db.close()

        self.assertTrue(self.w.start_sandbox(), self.w.log_tail("sandbox.log"))
        self.w.posad = self.w._spawn([h.POSAD, "--config", self.w.conf_path], "posad.log")
        h.wait_until(self.w._online, 20, "posad back online", step=0.1)
        h.wait_until(lambda: self.tcp.get("/v1/queue").json["rows"] == [], 15,
                     "the queue drained", step=0.1)
        self.assertIn("outbox_clock_went_back", self.w.log_tail())


if __name__ == "__main__":
    h.main()
