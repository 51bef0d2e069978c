#!/usr/bin/python3
"""posa-sandbox's ledger survives restarts: after kill -9 a confirmed settlement is still
active with the same setl_id and amounts, 5203 finds it, its msgid is still refused, the
uploaded lines of an open stay are still there, the year's accumulation still counts, visit ids
are not reused, and a cancel after the restart works and itself survives a clean stop.
A ledger of version 0 (a row per fee line, found by an index on its msgid, its settlement in
the row; msgs a rowid table) is migrated when the sandbox starts on it: its lines are listed
with their settlement, a cancellation of one is reversed, an upload carrying lines of two
stays is found whole (and refused, one stay being settled), and once that settlement is
cancelled the stay settles again on the split as migrated.
Checkpoints: with --checkpoint-pages 64, uploads from 8 threads pass the threshold many times
over; the WAL is copied back on the thread pool and starts over (its file stays small while
the database grows), no checkpoint fails, and every line is there after kill -9. On a full
disk (a small tmpfs) uploads are refused in plain words, what was answered ok is kept, a
failed checkpoint is not retried after every commit, and once there is room again the
uploads and checkpoints go on.

Wire choices (see /work/notes/sandbox-wire-choices.md): the test signs in again and sets the
clock again after each restart (neither sign_no nor the clock needs to survive); region
420100 has an inpatient cap of 10,000.00.
"""
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import unittest

import harness
from harness import (WUHAN, admit, cancel_stay, discharge, filing, full_stay, mdtrt_id_2401,
                     person, reverse, settle_stay, upload_stay, worked_bill)

P = person("42010000000000000000000601", "赵长存", WUHAN,
           [filing("long_term", "2024-01-01", None)], seq="011")


class Restart(unittest.TestCase):
    def setUp(self):
        self.sb = harness.Sandbox(harness.base_scenario([P])).start()
        self.sb.sign_in()

    def tearDown(self):
        self.sb.cleanup()

    def restart(self, sig):
        self.sb.kill(sig)
        self.sb.start()
        self.sb.sign_in()

    def test_ledger_survives_kill_9_and_clean_stop(self):
        sb = self.sb
        a_id, ra = full_stay(sb, P, admit_time="2025-03-01 09:00:00",
                             settle_time="2025-03-08 10:00:00")
        # stay A: (10,000.00 - 800.00) x 0.90 = 8,280.00; year paid 8,280.00
        self.assertTrue(ra.ok, ra)
        setl_a = ra.output["setlinfo"]["setl_id"]
        sb.set_clock("2025-04-01 09:00:00")
        b_id = mdtrt_id_2401(admit(sb, P, "2025-04-01 09:00:00"))
        self.assertTrue(upload_stay(sb, P, b_id, worked_bill()).ok)
        ledger_before = sb.ledger()

        self.restart(signal.SIGKILL)
        rows = sb.settlement_rows(msgid=ra.msgid)
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["state"], "active")
        self.assertEqual(rows[0]["setl_id"], setl_a)
        self.assertEqual(harness.money(rows[0]["fund_pay_sumamt"]), harness.money("8280.00"))
        self.assertEqual(sb.ledger()["settlements"], ledger_before["settlements"])
        self.assertEqual(len(sb.upload_rows(mdtrt_id=b_id, state="active")), 4)
        q = sb.call("5203", {"data": {"psn_no": P["psn_no"], "setl_id": setl_a,
                                      "mdtrt_id": a_id}}, WUHAN)
        self.assertTrue(q.ok, q)
        # the settlement's msgid is still known: a resend is refused
        sb.set_clock("2025-03-08 10:00:00")
        again = settle_stay(sb, P, a_id, "10000.00", msgid=ra.msgid)
        self.assertFalse(again.ok, again)
        self.assertEqual(len(sb.settlement_rows(mdtrt_id=a_id)), 1)
        # visit ids are not reused
        c_id = mdtrt_id_2401(admit(sb, P, "2025-03-08 11:00:00"))
        self.assertNotIn(c_id, (a_id, b_id))
        # stay B's lines were kept, and the year still has A's 8,280.00:
        # only 10,000.00 - 8,280.00 = 1,720.00 left; person 8,280.00
        sb.set_clock("2025-04-09 10:00:00")
        rb = settle_stay(sb, P, b_id, "10000.00")
        self.assertTrue(rb.ok, rb)
        self.assertEqual(harness.money(rb.output["setlinfo"]["fund_pay_sumamt"]),
                         harness.money("1720.00"))
        self.assertEqual(harness.money(rb.output["setlinfo"]["psn_part_amt"]),
                         harness.money("8280.00"))
        # cancel A after the restart, then stop cleanly and look again
        self.assertTrue(cancel_stay(sb, P, a_id, setl_a).ok)
        self.restart(signal.SIGTERM)
        states = {x["msgid"]: x["state"] for x in sb.settlement_rows(psn_no=P["psn_no"])}
        self.assertEqual(states[ra.msgid], "cancelled")
        self.assertEqual(states[rb.msgid], "active")
        # the year now holds only B's 1,720.00: stay D gets min(8,280.00, 8,280.00 left)
        _, rd = full_stay(sb, P, admit_time="2025-06-01 09:00:00",
                          settle_time="2025-06-05 10:00:00")
        self.assertTrue(rd.ok, rd)
        self.assertEqual(harness.money(rd.output["setlinfo"]["fund_pay_sumamt"]),
                         harness.money("8280.00"))

    def upload_two_stays(self, a_id, b_id, tag):
        """One 2301 carrying the worked bill of each of two stays."""
        feed = []
        for mdtrt_id in (a_id, b_id):
            for ln in worked_bill():
                feed.append(dict(ln, feedetl_sn="%s-%s" % (tag, ln["feedetl_sn"]),
                                 mdtrt_id=mdtrt_id, psn_no=P["psn_no"], med_type="21"))
        return self.sb.call("2301", {"feedetail": feed}, WUHAN)

    def active_lines(self, *stays):
        return sum(len(self.sb.upload_rows(mdtrt_id=m, state="active")) for m in stays)

    def old_ledger(self, feed, up, cancel_msgid, cancelled, settled):
        """Turns the ledger back into version 0: a row per fee line (table fees, found by an
        index on its msgid, its settlement in the row), no upload_visits, settlements without
        the lines they settled; the lines of upload up as the sandbox split them (its
        answer), line cancelled (mdtrt_id, feedetl_sn) cancelled by cancel_msgid, the lines
        of stay settled[0] settled by settled[1]."""
        self.sb.kill(signal.SIGTERM)
        db = sqlite3.connect(os.path.join(self.sb.data_dir, "ledger.sqlite3"))
        db.executescript(OLD_FEES + OLD_MSGS + OLD_ACCUMS + "DELETE FROM fee_sets;"
                         "DELETE FROM upload_visits; UPDATE settlements SET lines = NULL;"
                         "PRAGMA user_version=0;")
        scaled = lambda v, n: int(harness.money(v) * n)  # noqa: E731
        for ln, res in zip(feed, up.output["result"]):
            self.assertEqual(ln["feedetl_sn"], res["feedetl_sn"])
            is_cancelled = (ln["mdtrt_id"], ln["feedetl_sn"]) == cancelled
            db.execute("INSERT INTO fees VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
                ln["mdtrt_id"], ln["feedetl_sn"], up.msgid, ln["chrg_bchno"],
                ln["med_list_codg"], "", P["psn_no"], 20250302100000,
                scaled(res["pric"], 10**6), scaled(res["cnt"], 10**4),
                scaled(res["det_item_fee_sumamt"], 100), scaled(res["fulamt_ownpay_amt"], 100),
                scaled(res["overlmt_amt"], 100), scaled(res["preselfpay_amt"], 100),
                scaled(res["inscp_scp_amt"], 100), int(res["chrgitm_lv"]),
                int(res["med_chrgitm_type"]), scaled(res["selfpay_prop"], 10**6), 0,
                "cancelled" if is_cancelled else "active",
                settled[1] if ln["mdtrt_id"] == settled[0] else None,
                cancel_msgid if is_cancelled else None, "2301"))
        db.commit()
        db.close()
        self.sb.start()
        self.sb.sign_in()

    def test_older_ledger_is_migrated(self):
        sb = self.sb
        sb.set_clock("2025-03-01 09:00:00")
        a_id = mdtrt_id_2401(admit(sb, P, "2025-03-01 09:00:00"))
        b_id = mdtrt_id_2401(admit(sb, P, "2025-03-01 09:30:00"))
        feed = [dict(ln, feedetl_sn="U1-" + ln["feedetl_sn"], mdtrt_id=m, psn_no=P["psn_no"],
                     med_type="21") for m in (a_id, b_id) for ln in worked_bill()]
        up = sb.call("2301", {"feedetail": feed}, WUHAN)
        self.assertTrue(up.ok, up)
        cancel = sb.call("2302", {"data": [{"psn_no": P["psn_no"], "mdtrt_id": b_id,
                                            "feedetl_sn": "U1-1"}]}, WUHAN)
        self.assertTrue(cancel.ok, cancel)
        # stay A settled: (10,000.00 - 800.00) x 0.90 = 8,280.00
        sb.set_clock("2025-03-08 10:00:00")
        self.assertTrue(discharge(sb, P, a_id, "2025-03-08 10:00:00").ok)
        ra = settle_stay(sb, P, a_id, "10000.00")
        self.assertTrue(ra.ok, ra)
        setl_a = ra.output["setlinfo"]["setl_id"]

        self.old_ledger(feed, up, cancel.msgid, (b_id, "U1-1"), (a_id, setl_a))
        # every line is there after the migration, one of stay B's cancelled, A's settled
        rows_a = sb.upload_rows(mdtrt_id=a_id, state="active")
        self.assertEqual(len(rows_a), 4)
        self.assertEqual({r["setl_id"] for r in rows_a}, {setl_a})
        self.assertEqual(self.active_lines(b_id), 3)
        # the cancellation is found by its msgid and reversed: stay B whole again
        self.assertTrue(reverse(sb, P, cancel.msgid, "2302").ok, "2601 of the 2302")
        self.assertEqual(self.active_lines(b_id), 4)
        # the upload is found across both stays: refused whole, as stay A's lines are settled
        self.assertFalse(reverse(sb, P, up.msgid, "2301").ok)
        self.assertEqual(self.active_lines(a_id, b_id), 8)
        # A's settlement cancelled, its lines are open again and settle to the same figures
        self.assertTrue(cancel_stay(sb, P, a_id, setl_a).ok)
        again = settle_stay(sb, P, a_id, "10000.00")
        self.assertTrue(again.ok, again)
        self.assertEqual(harness.money(again.output["setlinfo"]["fund_pay_sumamt"]),
                         harness.money("8280.00"))
        sb.kill(signal.SIGTERM)
        db = sqlite3.connect(os.path.join(sb.data_dir, "ledger.sqlite3"))
        self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], 6)
        # one year for stays and visits alike before 5: the stay's, taken from its settlement
        self.assertEqual(db.execute(
            "SELECT inpatient, fund_paid FROM year_accums WHERE psn_no = ? AND year = 2025",
            (P["psn_no"],)).fetchall(), [(1, 828000)])
        self.assertIsNone(db.execute("SELECT name FROM sqlite_master WHERE name='accums'")
                          .fetchone())
        self.assertIsNone(db.execute("SELECT name FROM sqlite_master WHERE name='fees'")
                          .fetchone())
        self.assertIn("WITHOUT ROWID", db.execute(
            "SELECT sql FROM sqlite_master WHERE name='msgs'").fetchone()[0])
        db.close()


# One year accumulation per person for stays and visits alike (before 5).
OLD_ACCUMS = ("CREATE TABLE accums(psn_no TEXT, year INTEGER, deductible_used INTEGER,"
              " fund_paid INTEGER, PRIMARY KEY(psn_no, year));"
              "INSERT INTO accums SELECT psn_no, year, sum(deductible_used), sum(fund_paid)"
              " FROM year_accums GROUP BY psn_no, year;"
              "DROP TABLE year_accums;")

# msgs as a rowid table with its msgid index, setl_cancel over every settlement (before 4).
OLD_MSGS = ("CREATE TABLE msgs_old(msgid TEXT PRIMARY KEY, infno TEXT, state TEXT, psn_no TEXT,"
            " mdtrt_id TEXT, setl_id TEXT, effect TEXT, time INTEGER);"
            "INSERT INTO msgs_old SELECT * FROM msgs; DROP TABLE msgs;"
            "ALTER TABLE msgs_old RENAME TO msgs;"
            "DROP INDEX setl_cancel; CREATE INDEX setl_cancel ON settlements(cancel_msgid);")

OLD_FEES = ("CREATE TABLE fees(mdtrt_id TEXT, feedetl_sn TEXT, msgid TEXT, chrg_bchno TEXT,"
            " list_code TEXT, init_sn TEXT, psn_no TEXT, time INTEGER, price INTEGER,"
            " qty INTEGER, amount INTEGER, fulamt INTEGER, overlmt INTEGER, preselfpay INTEGER,"
            " inscp INTEGER, lv INTEGER, category INTEGER, selfpay_prop INTEGER,"
            " outside INTEGER, state TEXT, setl_id TEXT, cancel_msgid TEXT, infno TEXT,"
            " PRIMARY KEY(mdtrt_id, feedetl_sn));"
            "CREATE INDEX fees_msgid ON fees(msgid);"
            "CREATE INDEX fees_cancel ON fees(cancel_msgid) WHERE cancel_msgid IS NOT NULL;")


CHECKPOINT_PERSONS = [person("420100000000000000000007%02d" % i, "检查点%02d" % i, WUHAN,
                             [filing("long_term", "2024-01-01", None)], seq="%03d" % (200 + i))
                      for i in range(8)]


class Checkpoints(harness.SandboxCase):
    persons = CHECKPOINT_PERSONS
    sandbox_args = ("--checkpoint-pages", "64")
    UPLOADS = 40  # per person, 10 lines each

    def test_wal_copied_back_and_started_over(self):
        sb = self.sb
        sb.set_clock("2025-03-10 10:00:00")
        wal = os.path.join(sb.data_dir, "ledger.sqlite3-wal")
        db = os.path.join(sb.data_dir, "ledger.sqlite3")
        db_before = os.path.getsize(db)
        stays, errors = {}, []

        def uploader(p):
            try:
                mdtrt_id = mdtrt_id_2401(admit(sb, p, "2025-03-01 09:00:00"))
                stays[p["psn_no"]] = mdtrt_id
                for u in range(self.UPLOADS):
                    lines = [dict(ln, feedetl_sn="%d-%s" % (u, ln["feedetl_sn"]))
                             for ln in worked_bill()]
                    r = upload_stay(sb, p, mdtrt_id, lines)
                    assert r.ok, r
            except Exception as e:  # reported below with the thread's person
                errors.append("%s: %r" % (p["psn_no"], e))

        threads = [threading.Thread(target=uploader, args=(p,)) for p in self.persons]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        wal_bytes = os.path.getsize(wal)
        db_bytes = os.path.getsize(db)
        log = sb.log_tail()
        self.assertNotIn("checkpoint", log)
        # Copied back: the database holds the lines (without checkpoints it does not grow).
        lines = len(self.persons) * self.UPLOADS * len(worked_bill())
        self.assertGreater(db_bytes - db_before, lines * 100)
        # Started over: this workload writes about 1,900 pages (7.7 MB) through the WAL, all
        # of which a WAL that never starts over keeps; started over, it held a few hundred.
        self.assertLess(wal_bytes, 600 * (4096 + 24), "WAL of %d bytes" % wal_bytes)

        sb.kill(signal.SIGKILL)
        sb.start()
        for p in self.persons:
            rows = sb.upload_rows(mdtrt_id=stays[p["psn_no"]])
            self.assertEqual(len(rows), self.UPLOADS * len(worked_bill()), p["psn_no"])

    def test_bad_checkpoint_pages_refused(self):
        for bad in ("0", "-5", "abc", "12x", "", "1000001", "99999999999999999999"):
            with self.subTest(pages=bad):
                r = subprocess.run([harness.SANDBOX_BIN, "--scenario", self.sb.scenario_path,
                                    "--listen", "127.0.0.1:%d" % harness.free_port(),
                                    "--data-dir", self.sb.data_dir + "-bad",
                                    "--checkpoint-pages", bad],
                                   capture_output=True, text=True, timeout=10)
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("--checkpoint-pages", r.stderr)


class DiskFull(unittest.TestCase):
    """The data directory on a small tmpfs (skipped without the right to mount one)."""

    def setUp(self):
        self.sb = harness.Sandbox(harness.base_scenario([P]), args=("--checkpoint-pages", "16"))
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs",
                           self.sb.data_dir], capture_output=True).returncode != 0:
            shutil.rmtree(self.sb.tmp, ignore_errors=True)
            raise unittest.SkipTest("cannot mount a tmpfs here (not root?)")
        self.sb.start()
        self.sb.sign_in()
        self.sb.set_clock("2025-03-10 10:00:00")

    def tearDown(self):
        self.sb.kill()
        subprocess.run(["umount", "-l", self.sb.data_dir])
        self.sb.cleanup()

    def upload(self, mdtrt_id, n):
        lines = [dict(ln, feedetl_sn="%d-%s" % (n, ln["feedetl_sn"])) for ln in worked_bill()]
        return upload_stay(self.sb, P, mdtrt_id, lines)

    def test_full_disk_refuses_cleanly_and_recovers(self):
        sb = self.sb
        mdtrt_id = mdtrt_id_2401(admit(sb, P, "2025-03-01 09:00:00"))
        for n in range(40):  # the WAL file grows to its working size, and starts over
            self.assertTrue(self.upload(mdtrt_id, n).ok)
        filler = os.path.join(sb.data_dir, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:  # every free byte
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        ok = refused = 0
        for n in range(40, 200):
            r = self.upload(mdtrt_id, n)
            self.assertTrue(sb.alive(), sb.log_tail())
            if r.ok:
                ok += 1
            else:
                refused += 1
                self.assertIn("ledger", r.err_msg)  # the platform's ledger failed: say so
        failures = sb.log_tail(200000).count("ledger: checkpoint:")
        self.assertGreater(refused, 0, "the disk never filled")
        self.assertGreater(failures, 0, "no checkpoint failed")
        # A failed checkpoint is tried again once the WAL has grown by 16 pages more, not
        # after each of the commits that still fitted in it.
        self.assertLessEqual(failures, 1 + ok, "%d failures, %d uploads kept, %d refused"
                             % (failures, ok, refused))
        for row in sb.upload_rows(mdtrt_id=mdtrt_id):  # what was answered ok is there
            self.assertEqual(row["mdtrt_id"], mdtrt_id)
        self.assertEqual(len(sb.upload_rows(mdtrt_id=mdtrt_id)), (40 + ok) * len(worked_bill()))
        os.unlink(filler)
        for n in range(200, 240):
            self.assertTrue(self.upload(mdtrt_id, n).ok, "room again")
        self.assertEqual(sb.log_tail(200000).count("ledger: checkpoint:"), failures)


if __name__ == "__main__":
    harness.main()
