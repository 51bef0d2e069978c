"""Fee lines while posad's disk is full: a line is kept exactly when its upload is journaled,
so the cashier hears which lines were not kept and why, nothing of them reaches the platform,
and once there is space again the same request goes through (no "already uploaded"). Also,
with the lines in several uploads: a request repeated under its key after posad lost its
answer is answered from the uploads that carried it, each once.
The data directory is a small tmpfs; without the right to mount one the test is skipped."""
import os
import sqlite3
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"


class DiskFull(h.HisTestCase):
    @classmethod
    def setUpClass(cls):
        w = h.World("[his]\nchunk_lines = 2\n")  # 5 lines go as 3 upload messages
        cls.mnt = os.path.join(w.dir, "small")
        os.makedirs(cls.mnt)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", cls.mnt],
                          capture_output=True).returncode != 0:
            w.stop()
            raise unittest.SkipTest("cannot mount a tmpfs here (not root?)")
        w.data_dir = os.path.join(cls.mnt, "posad")
        h.HisTestCase.world = w  # main() stops it
        w.start()
        cls.w, cls.tcp, cls.unix = w, w.tcp, w.unix

    @classmethod
    def tearDownClass(cls):
        cls.w._kill(cls.w.posad)
        subprocess.run(["umount", "-l", cls.mnt])

    def fill(self):
        path = os.path.join(self.mnt, "filler")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError:
            pass
        try:  # to the last block
            while True:
                os.write(fd, b"\0" * 512)
        except OSError:
            pass
        os.close(fd)
        return path

    def test_lines_not_kept_while_full_then_sent_again(self):
        v = self.open_visit(self.tcp, ZHANG)
        vid, mdtrt = v["visit_id"], v["mdtrt_id"]
        lines = h.stay_lines("D")[:5]
        filler = self.fill()
        try:
            refused = None
            for _ in range(20):  # SQLite may still have room in its log for a while
                r = self.tcp.post("/v1/visits/%s/fees" % vid, {"lines": lines})
                if r.status != 200:
                    refused = r
                    break
                lines = h.stay_lines("E%d" % _)[:5]
            self.assertIsNotNone(refused, "the disk never filled")
            r = refused
            self.assertError(r, 507, "STORAGE_FULL")
            self.assertIs(r.json["error"]["retryable"], True, r)
            self.assertIn("not kept", r.json["error"]["message"], r)
            not_kept = r.json["error"]["details"]["not_kept"]
            self.assertTrue(set(not_kept) <= {ln["his_line_id"] for ln in lines}, r)
            self.assertTrue(not_kept, r)
            # Nothing of a line not kept went to the platform.
            uploaded = {u["feedetl_sn"] for u in self.w.ledger()["uploads"]
                        if u["mdtrt_id"] == mdtrt}
            self.assertLessEqual(len(uploaded), 20 * 5)
            # IT staff see it where they look: health says the disk is full (reads still
            # work, so it said "ok" while every write was refused).
            health = self.tcp.get("/v1/health").json
            self.assertEqual((health["status"], health["database"]), ("degraded", "full"),
                             health)
        finally:
            os.unlink(filler)
        # The uploads kept before the disk filled may still be queued behind one another.
        h.wait_until(lambda: self.posad_row(
            "SELECT 1 FROM journal WHERE visit_key = ? AND state IN ('queued', 'sent', 'unknown')",
            (vid,)) is None, 15, "the kept uploads sent")
        before = len([u for u in self.w.ledger()["uploads"] if u["mdtrt_id"] == mdtrt])
        again = [ln for ln in lines if ln["his_line_id"] in not_kept]
        fees = self.upload(self.tcp, vid, again)
        health = self.tcp.get("/v1/health").json
        self.assertEqual((health["status"], health["database"]), ("ok", "ok"), health)
        # The first chunk goes at once, the others wait behind it in the visit's order.
        self.assertIn(fees["upload"]["state"], ("uploaded", "queued"), fees)
        self.assertEqual(sorted(ln["his_line_id"] for ln in fees["lines"]), sorted(not_kept))
        h.wait_until(lambda: len([u for u in self.w.ledger()["uploads"]
                                  if u["mdtrt_id"] == mdtrt]) == before + len(again),
                     15, "the kept lines uploaded")
        db = sqlite3.connect(os.path.join(self.w.data_dir, "posad.db"))
        try:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            # Each kept line names the upload message that carried it, a journaled one.
            infno = dict(db.execute("SELECT msgid, infno FROM journal").fetchall())
            carried = {ln["his_line_id"]: infno.get(ln["upload_msgid"])
                       for ln in h.fee_lines(db, vid)}
            self.assertEqual(set(carried.values()), {"2301"}, carried)
            self.assertTrue(set(not_kept) <= set(carried), carried)
        finally:
            db.close()

    def test_a_start_on_a_full_disk_says_so(self):
        # SQLite's "disk I/O error" at open sent IT staff to the hardware.
        data_dir = os.path.join(self.mnt, "second")
        os.makedirs(data_dir, mode=0o700)
        conf = os.path.join(self.w.dir, "second.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write("[posad]\ndata_dir = %s\nlisten =\nsocket = %s\n"
                    "[institution]\nfixmedins_code = %s\nfixmedins_name = 瑞金医院\n"
                    "mdtrtarea_admvs = 310000\nmsgid_terminal = 7\n"
                    "[upstream]\nurl = http://127.0.0.1:%d/fsi/api/rsfComIfsService/callService\n"
                    % (data_dir, os.path.join(self.w.dir, "second.sock"), h.INSTITUTION,
                       self.w.sb_port))
        filler = self.fill()
        try:
            p = subprocess.run([h.POSAD, "--config", conf], capture_output=True, text=True,
                               timeout=20)
        finally:
            os.unlink(filler)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("its disk is full: free space on it, then start posad again", p.stderr)

    def test_repeat_after_a_lost_answer_reads_each_upload_once(self):
        v = self.open_visit(self.tcp, ZHANG)
        lines = h.stay_lines("R")[:5]  # 3 upload messages
        first = self.tcp.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": lines},
                              key="repeat-chunks")
        self.assertEqual(first.status, 200, first)
        # The first goes at once; the others wait behind it in the visit's order.
        self.assertEqual(first.json["upload"], {"state": "queued", "chunks": 3}, first)
        h.wait_until(lambda: self.posad_row(
            "SELECT 1 FROM journal WHERE visit_key = ? AND state IN ('queued', 'sent', 'unknown')",
            (v["visit_id"],)) is None, 15, "the uploads sent")
        def uploads():
            return len([u for u in self.w.ledger()["uploads"] if u["mdtrt_id"] == v["mdtrt_id"]])
        before = uploads()
        db = sqlite3.connect(os.path.join(self.w.data_dir, "posad.db"), timeout=10)
        try:
            with db:  # as if posad died before it kept the answer
                db.execute("DELETE FROM his_answers WHERE idem_key = 'repeat-chunks'")
        finally:
            db.close()
        again = self.tcp.post("/v1/visits/%s/fees" % v["visit_id"], {"lines": lines},
                              key="repeat-chunks")
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json["upload"], {"state": "uploaded", "chunks": 3}, again)
        self.assertEqual([ln["feedetl_sn"] for ln in again.json["lines"]],
                         [ln["feedetl_sn"] for ln in first.json["lines"]])
        self.assertEqual(again.json["totals"], first.json["totals"])
        self.assertEqual(uploads(), before)

    def answer_lost_to_a_full_disk(self, infno, items, call):
        """For each item until one fails: the platform holds its infno message 1.2 s, and
        the disk fills while it does, so its answer cannot be journaled (SQLite may still
        have room in its log for an answer or two). Returns (item, that call's response)."""
        filler = None
        try:
            for visit_id, item in items:
                status, raw = self.w.sandbox_request("POST", "/sandbox/faults",
                                                     {"infno": infno, "mode": "delay",
                                                      "delay_ms": 1200, "count": 1})
                self.assertEqual(status, 200, raw)
                result = {}
                t = threading.Thread(target=lambda: result.update(r=call(item)))
                t.start()
                h.wait_until(lambda: self.posad_row(
                    "SELECT 1 FROM journal WHERE visit_key = ? AND infno = ? AND state = 'sent'",
                    (visit_id, infno)) is not None, 10, "the %s sent" % infno)
                if filler is None:
                    filler = self.fill()
                t.join(20)
                if result["r"].status != 200:
                    return item, result["r"]
            self.fail("every answer was journaled: the disk never filled")
        finally:
            if filler:
                os.unlink(filler)

    def outpatient_visits(self, prefix, n_lines):
        lines = [h.line("%s%d" % (prefix, i), "002501010150000", "血细胞分析(血常规)", "1",
                        "20.00", "20.00") for i in range(1, n_lines + 1)]
        visits = []
        for _ in range(4):
            v = self.open_visit(self.tcp, ZHANG, kind="outpatient", med_type="11")
            self.upload(self.tcp, v["visit_id"], lines)
            visits.append(v)
        return visits

    def test_answer_not_journaled_is_resolved_once_there_is_room(self):
        # The settlement is journaled and sent; while the platform holds it (2207 delayed),
        # the disk fills, so its answer cannot be journaled. The cashier is told, and once
        # there is room again the row is resolved by query, without a restart: the visit is
        # settled once, and the settlement's status says so.
        visits = self.outpatient_visits("Q", 3)
        failed, r = self.answer_lost_to_a_full_disk(
            "2207", [(v["visit_id"], v) for v in visits],
            lambda v: self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {}))
        self.assertError(r, 504, "OUTCOME_UNKNOWN")
        h.wait_until(lambda: self.settlement_of(failed["visit_id"]).get("state") == "settled", 30,
                     "the settlement resolved without a restart")
        settled = [s for s in self.w.ledger()["settlements"]
                   if s["mdtrt_id"] == failed["mdtrt_id"]]
        self.assertEqual(len(settled), 1, settled)
        again = self.tcp.post("/v1/visits/%s/settle" % failed["visit_id"], {})
        self.assertError(again, 409, "CONFLICT")  # settled: not a second time

    def test_cancel_answer_not_journaled_leaves_the_settlement_standing(self):
        # A cancel (2208) is sent; while the platform holds it the disk fills, so its answer
        # cannot be journaled. Once there is room the resolver reverses the cancel (2601):
        # the platform's settlement and posad's record both stand, and it can be cancelled.
        settled = []
        for v in self.outpatient_visits("C", 2):
            r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})
            self.assertEqual((r.status, r.json["state"]), (200, "settled"), r)
            settled.append((v["visit_id"], (v, r.json)))
        (v, setl), r = self.answer_lost_to_a_full_disk(
            "2208", settled,
            lambda vs: self.tcp.post("/v1/settlements/%s/cancel" % vs[1]["settlement_id"], {}))
        # It reached the platform: not "nothing was recorded", but being resolved.
        self.assertError(r, 504, "OUTCOME_UNKNOWN")
        h.wait_until(lambda: self.posad_row(
            "SELECT 1 FROM journal WHERE infno = '2601' AND state = 'done' AND ref_msgid ="
            " (SELECT msgid FROM journal WHERE visit_key = ? AND infno = '2208')",
            (v["visit_id"],)) is not None, 30, "the cancel reversed")
        g = self.tcp.get("/v1/settlements/%s" % setl["settlement_id"])
        self.assertEqual((g.status, g.json["state"]), (200, "settled"), g)
        stands = [x for x in self.w.ledger()["settlements"] if x["setl_id"] == setl["setl_id"]]
        self.assertEqual([x["state"] for x in stands], ["active"], stands)
        r = self.tcp.post("/v1/settlements/%s/cancel" % setl["settlement_id"], {})
        self.assertEqual((r.status, r.json["state"]), (200, "cancelled"), r)



if __name__ == "__main__":
    h.main()
