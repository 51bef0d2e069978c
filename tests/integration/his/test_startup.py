"""What an operator meets starting posad beside one that runs: a second posad on the same data
directory is refused before it touches the journal (it would sign in again and turn the first
one's messages in flight `unknown`), a socket another process listens on is not taken away,
a socket in a missing directory is named as such, and a log file posad makes again after
rotation keeps its 0640."""
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def wait_online(client, sock):
    h.wait_until(lambda: os.path.exists(sock) and client.get("/v1/health").json[
        "upstream"]["state"] == "online", 20, "the second posad online")


class Startup(h.HisTestCase):
    def conf(self, name, data_dir, socket, listen="", extra=""):
        """A posad.conf beside the running one's, with the same upstream."""
        path = os.path.join(self.w.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write("[posad]\ndata_dir = %s\nlisten = %s\nsocket = %s\n%s"
                    "[institution]\nfixmedins_code = %s\nfixmedins_name = 瑞金医院\n"
                    "mdtrtarea_admvs = 310000\n"
                    # a second posad of the institution: message ids of its own
                    "msgid_terminal = 9\n"
                    "[upstream]\nurl = http://127.0.0.1:%d/fsi/api/rsfComIfsService/callService\n"
                    % (data_dir, listen, socket, extra, h.INSTITUTION, self.w.sb_port))
        return path

    @contextlib.contextmanager
    def second_posad(self, name, extra=""):
        """A second posad beside the running one (conf's, extra lines added), on its own data
        dir and socket: (its client, its socket's path); killed after."""
        sock = os.path.join(self.w.dir, name + ".sock")
        conf = self.conf(name + ".conf", os.path.join(self.w.dir, name), sock, extra=extra)
        p = subprocess.Popen([h.POSAD, "--config", conf], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.second_pid = p.pid
        try:
            yield h.Client("unix", path=sock), sock
        finally:
            p.kill()
            p.wait(timeout=10)

    def refused(self, conf):
        """posad with conf: it must exit 1 at once; its standard error."""
        p = subprocess.run([h.POSAD, "--config", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        self.assertEqual(p.returncode, 1, p.stderr)
        return p.stderr.decode("utf-8", "replace")

    def refused_as_config(self, conf):
        """posad --check-config and posad with conf: both exit 2 at once, the start saying what
        the check said (the check said ok to a start that failed; found by review), and
        logging it; the check's standard error."""
        said = []
        for check in (["--check-config"], []):
            p = subprocess.run([h.POSAD, "--config", conf] + check, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=20)
            self.assertEqual(p.returncode, 2, p.stderr)
            said.append(p.stderr.decode("utf-8", "replace"))
        self.assertIn(said[0], said[1])
        return said[0]

    def assertFirstServes(self):
        self.assertEqual(self.unix.get("/v1/health").status, 200)
        self.assertEqual(self.tcp.get("/v1/health").status, 200)

    def test_a_second_posad_on_the_same_data_dir_is_refused(self):
        before = self.posad_rows("SELECT msgid, state FROM journal ORDER BY seq")
        err = self.refused(self.w.conf_path)
        self.assertIn("data_dir %s is in use by another posad (pid %d)"
                      % (self.w.data_dir, self.w.posad.pid), err)
        self.assertFirstServes()
        self.assertEqual(self.posad_rows("SELECT msgid, state FROM journal ORDER BY seq"), before)
        # Its lock file names the posad that holds it.
        with open(os.path.join(self.w.data_dir, "posad.db.lock")) as f:
            self.assertEqual(f.read().strip(), str(self.w.posad.pid))

    def test_a_second_posad_on_a_link_to_the_same_database_is_refused(self):
        # A data directory copied with its posad.db a link to the database (moved to a
        # bigger disk): its own lock file, the same journal.
        other = os.path.join(self.w.dir, "db-linked")
        os.makedirs(other, mode=0o700)
        os.symlink(os.path.join(self.w.data_dir, "posad.db"), os.path.join(other, "posad.db"))
        before = self.posad_rows("SELECT msgid, state FROM journal ORDER BY seq")
        err = self.refused(self.conf("db-linked.conf", other, os.path.join(self.w.dir, "db-linked.sock")))
        self.assertIn("database %s is in use by another posad (pid %d): one posad per database"
                      % (os.path.realpath(os.path.join(self.w.data_dir, "posad.db")),
                         self.w.posad.pid), err)
        self.assertFirstServes()
        self.assertEqual(self.posad_rows("SELECT msgid, state FROM journal ORDER BY seq"), before)

    def test_a_second_posad_on_a_hard_link_to_the_database_is_refused(self):
        # A hard link has no path to resolve: its own ".lock", the same file, so the file's
        # own lock is what refuses it.
        other = os.path.join(self.w.dir, "db-hardlinked")
        os.makedirs(other, mode=0o700)
        os.link(os.path.join(self.w.data_dir, "posad.db"), os.path.join(other, "posad.db"))
        before = self.posad_rows("SELECT msgid, state FROM journal ORDER BY seq")
        err = self.refused(self.conf("db-hardlinked.conf", other,
                                     os.path.join(self.w.dir, "db-hardlinked.sock")))
        self.assertIn("database %s/posad.db is in use by another posad, under another name "
                      "(a hard link): one posad per database" % other, err)
        self.assertFirstServes()
        self.assertEqual(self.posad_rows("SELECT msgid, state FROM journal ORDER BY seq"), before)

    def test_signals_during_the_start_wait_for_it(self):
        # logrotate's reload (SIGHUP) while posad opened and migrated its database ended it
        # by the signal's default action, before its handlers were in: now the signals are
        # held (blocked) from the start of main until they are, then taken.
        other = os.path.join(self.w.dir, "early")
        sock = os.path.join(self.w.dir, "early.sock")
        p = subprocess.Popen([h.POSAD, "--config", self.conf("early.conf", other, sock)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def hup_blocked():
            # posad's own mask (SIGHUP, not SIGUSR1), not a passing one: Python's child blocks
            # every signal between fork and exec, and jemalloc while it starts its thread.
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    status = f.read().splitlines()
                name = [x for x in status if x.startswith("Name:")][0].split()[1]
                blk = int([x for x in status if x.startswith("SigBlk:")][0].split()[1], 16)
                return (name == "posad" and blk & (1 << (signal.SIGHUP - 1)) != 0 and
                        blk & (1 << (signal.SIGUSR1 - 1)) == 0)
            except (OSError, IndexError):
                return False

        try:
            deadline = time.monotonic() + 10
            while not hup_blocked() and p.poll() is None and time.monotonic() < deadline:
                pass
            self.assertTrue(hup_blocked(), "SIGHUP was not held during the start")
            p.send_signal(signal.SIGHUP)
            h.wait_until(lambda: p.poll() is not None or (
                os.path.exists(sock) and h.Client("unix", path=sock).get("/v1/health").status
                == 200), 20, "the second posad serving")
            self.assertIsNone(p.poll(), p.stderr.read() if p.poll() is not None else "")
            self.assertFalse(hup_blocked(), "SIGHUP still held once serving")
        finally:
            p.terminate()
            p.wait(timeout=20)
        self.assertEqual(p.returncode, 0)

    def test_a_database_of_a_newer_posad_is_refused(self):
        other = os.path.join(self.w.dir, "newer")
        os.makedirs(other, mode=0o700)
        db = sqlite3.connect(os.path.join(other, "posad.db"))
        db.execute("PRAGMA user_version = 999")
        db.execute("CREATE TABLE t (a)")
        db.close()
        os.chmod(os.path.join(other, "posad.db"), 0o600)
        err = self.refused(self.conf("newer.conf", other, os.path.join(self.w.dir, "n.sock")))
        self.assertIn("the database was written by a newer posad: run that version, or restore "
                      "a backup this version made\n", err)
        self.assertNotIn("()", err)
        # It listened before it opened the database: the socket it made is gone again.
        self.assertFalse(os.path.exists(os.path.join(self.w.dir, "n.sock")))

    def test_a_damaged_page_is_said_by_health(self):
        # A page of the visits table damaged on disk: posad started and every probe said ok
        # while each request touching a visit answered 500 (found by review). From the first
        # request that meets the damage, health is 503 "damaged", the metric 0, and the log
        # says what to do.
        log = os.path.join(self.w.dir, "dmg.log")
        extra = "log_file = %s\n" % log
        with self.second_posad("dmg", extra) as (c, _):
            # signed in, not only up: an identify before says "signing in" (503)
            h.wait_until(lambda: c.get("/v1/health").json["upstream"]["state"] == "online", 20,
                         "the second posad signed in")
            vid = self.open_visit(c, ZHANG)["visit_id"]
        db_path = os.path.join(self.w.dir, "dmg", "posad.db")
        db = sqlite3.connect(db_path)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'visits'").fetchone()[0]
        db.close()
        with open(db_path, "r+b") as f:
            f.seek((root - 1) * page_size)
            f.write(bytes((i * 7 + 3) % 256 for i in range(page_size)))
        with self.second_posad("dmg", extra) as (c, _):
            h.wait_until(lambda: c.get("/v1/health").status in (200, 503), 20, "restarted")
            r = c.get("/v1/visits/" + vid)
            self.assertError(r, 500, "INTERNAL")
            health = c.get("/v1/health")
            self.assertEqual((health.status, health.json["status"], health.json["database"]),
                             (503, "degraded", "damaged"), health)
            self.assertIn("posa_database_state 0", c.get("/metrics").raw.decode())
            def logged():
                with open(log, encoding="utf-8") as f:
                    return "database_damaged" in f.read()
            h.wait_until(logged, 5, "the damage logged")

    def test_an_empty_database_file_is_refused_and_a_new_one_said(self):
        # A 0-byte posad.db (a restore cut short) became a new, empty journal without a word:
        # the queued settlements and kept answers it stood for simply gone (found by review).
        other = os.path.join(self.w.dir, "empty")
        os.makedirs(other, mode=0o700)
        empty = os.path.join(other, "posad.db")
        open(empty, "wb").close()
        os.chmod(empty, 0o600)
        err = self.refused(self.conf("empty.conf", other, os.path.join(self.w.dir, "e.sock")))
        self.assertIn("the file is empty (0 bytes), not a database posad wrote", err)
        self.assertEqual(os.path.getsize(empty), 0)
        # A new data directory's journal is said once, when it is made.
        log = os.path.join(self.w.dir, "fresh.log")
        for run in range(2):
            with self.second_posad("fresh", "log_file = %s\n" % log) as (c, _):
                h.wait_until(lambda: c.get("/v1/health").status == 200, 20, "fresh posad")
        with open(log, encoding="utf-8") as f:
            self.assertEqual(f.read().count("database_created"), 1)
        # A first start that fails once SQLite made the file (here its WAL cannot be made)
        # leaves no empty posad.db for the next start to refuse as a restore cut short
        # (found by review).
        first = os.path.join(self.w.dir, "first")
        os.makedirs(os.path.join(first, "posad.db-wal"), mode=0o700)
        os.chmod(first, 0o700)
        conf = self.conf("first.conf", first, os.path.join(self.w.dir, "f.sock"))
        self.refused(conf)
        self.assertFalse(os.path.exists(os.path.join(first, "posad.db")))
        os.rmdir(os.path.join(first, "posad.db-wal"))
        with self.second_posad("first") as (c, _):
            h.wait_until(lambda: c.get("/v1/health").status == 200, 20, "the second start")

    def test_a_first_start_killed_as_it_makes_the_database_starts_again(self):
        # Killed the moment posad.db appeared, a first start left it empty, and every later
        # start refused it as a restore cut short (found by killing posad at random).
        d = os.path.join(self.w.dir, "killed")
        conf = self.conf("killed.conf", d, os.path.join(self.w.dir, "k.sock"))
        db = os.path.join(d, "posad.db")
        for attempt in range(5):
            shutil.rmtree(d, ignore_errors=True)
            p = subprocess.Popen([h.POSAD, "--config", conf], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while not os.path.exists(db) and p.poll() is None and time.monotonic() < deadline:
                pass
            p.kill()
            p.wait(timeout=10)
            if os.path.exists(db) and os.path.getsize(db) == 0:
                break
        self.assertEqual(os.path.getsize(db), 0, "no start was caught with posad.db empty")
        self.assertTrue(os.path.exists(db + ".creating"))
        with self.second_posad("killed") as (c, _):
            h.wait_until(lambda: c.get("/v1/health").status == 200, 20, "the start after it")
        self.assertFalse(os.path.exists(db + ".creating"))
        self.assertGreater(os.path.getsize(db), 0)
        # Not taken for posad's own (found by review): an empty file put there well after a
        # killed start's marker (a restore cut short), and an empty file reached by a link
        # (a database on another disk: the link itself was removed).
        target = os.path.join(self.w.dir, "elsewhere.db")
        for case in ("late", "link"):
            shutil.rmtree(d)
            os.makedirs(d, mode=0o700)
            open(db + ".creating", "wb").close()
            if case == "late":
                os.utime(db + ".creating", (time.time() - 3600, time.time() - 3600))
                open(db, "wb").close()
            else:
                open(target, "wb").close()
                os.symlink(target, db)
            err = self.refused(conf)
            self.assertIn("the file is empty (0 bytes), not a database posad wrote", err)
            self.assertTrue(os.path.lexists(db), case)

    def test_a_database_of_another_account_is_refused(self):
        # Run as root, posad took a posad.db owned by nobody and made it 0600: still nobody's,
        # who could read the ID numbers in it and change the journal (found by review).
        if os.geteuid() != 0:
            self.skipTest("needs root to give the file away")
        other = os.path.join(self.w.dir, "foreign")
        os.makedirs(other, mode=0o700)
        db = os.path.join(other, "posad.db")
        sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()
        os.chown(db, 65534, 65534)
        err = self.refused(self.conf("foreign.conf", other, os.path.join(self.w.dir, "fo.sock")))
        self.assertIn("owned by another account (uid 65534)", err)
        self.assertIn("chown it", err)
        self.assertEqual(os.stat(db).st_uid, 65534)

    def test_a_log_file_of_another_account_or_a_link_is_refused(self):
        # Planted where others may write, a link had posad (root) append its lines to the
        # file it named and narrow that file's modes, and another account's file read every
        # line (found by review). Neither is taken; the files are left as they were.
        if os.geteuid() != 0:
            self.skipTest("needs root to give the file away")
        target = os.path.join(self.w.dir, "roots-file")
        with open(target, "w") as f:
            f.write("root's\n")
        os.chmod(target, 0o644)
        link = os.path.join(self.w.dir, "linked.log")
        os.symlink(target, link)
        conf = self.conf("linklog.conf", os.path.join(self.w.dir, "linklog"),
                         os.path.join(self.w.dir, "linklog.sock"), extra="log_file = %s\n" % link)
        p = subprocess.run([h.POSAD, "--config", conf, "--check-config"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("log_file: %s: a symbolic link: posad does not follow one" % link,
                      p.stderr.decode())
        self.assertIn("[posad] log_file: cannot open %s: a symbolic link" % link, self.refused(conf))
        self.assertEqual((read(target), os.stat(target).st_mode & 0o777), (b"root's\n", 0o644))
        theirs = os.path.join(self.w.dir, "theirs.log")
        with open(theirs, "w") as f:
            f.write("theirs\n")
        os.chmod(theirs, 0o666)
        os.chown(theirs, 65534, 65534)
        err = self.refused(self.conf("theirlog.conf", os.path.join(self.w.dir, "theirlog"),
                                     os.path.join(self.w.dir, "theirlog.sock"),
                                     extra="log_file = %s\n" % theirs))
        self.assertIn("[posad] log_file: cannot open %s: the file is another account's" % theirs,
                      err)
        self.assertIn("theirlog.conf:", err)  # the file and line that set it
        # A directory not there (the check lets it be, for a service manager to make): the
        # start says to make it.
        missing = os.path.join(self.w.dir, "no-such-dir", "posad.log")
        err = self.refused(self.conf("nodirlog.conf", os.path.join(self.w.dir, "nodirlog"),
                                     os.path.join(self.w.dir, "nodirlog.sock"),
                                     extra="log_file = %s\n" % missing))
        self.assertIn("cannot open %s: No such file or directory (make its directory" % missing,
                      err)
        self.assertEqual((read(theirs), os.stat(theirs).st_mode & 0o777), (b"theirs\n", 0o666))

    def test_a_link_put_at_the_log_does_not_stop_a_reload(self):
        # A link planted at log_file's path while posad ran made every SIGHUP's config
        # "refused", so a revoked token kept working (found by review): the link is refused
        # as the log (the old file kept), and the file's keys are applied.
        log = os.path.join(self.w.dir, "linkedlater.log")
        with self.second_posad("linkedlater", "log_file = %s\n" % log) as (c, _):
            h.wait_until(lambda: b"event=started" in read(log), 20, "started")
            os.rename(log, log + ".1")
            os.symlink(os.path.join(self.w.dir, "elsewhere"), log)
            os.kill(self.second_pid, signal.SIGHUP)
            h.wait_until(lambda: b"event=config_reload" in read(log + ".1"), 10, "the reload")
            said = read(log + ".1").decode()
            self.assertIn("event=config_reloaded", said)
            self.assertNotIn("event=config_reload_failed", said)
            self.assertIn("a symbolic link", said)  # the log's reopen refused, said
            self.assertFalse(os.path.exists(os.path.join(self.w.dir, "elsewhere")))

    def test_a_corrected_institution_code_starts(self):
        # Started once with a mistyped fixmedins_code (its 9001 journaled under it), then
        # corrected: posad would not start on its data_dir, saying "upstream: missing, or not
        # of the type or form this field takes" (found by review). Ids start afresh.
        data = os.path.join(self.w.dir, "recoded")
        log = os.path.join(self.w.dir, "recoded.log")
        conf = self.conf("recoded.conf", data, os.path.join(self.w.dir, "recoded.sock"),
                         extra="log_file = %s\n" % log)
        with open(conf, encoding="utf-8") as f:
            right = f.read()
        typo = h.INSTITUTION[:-2] + ("10" if h.INSTITUTION[-2:] != "10" else "20")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(right.replace(h.INSTITUTION, typo))
        for n, text in ((1, None), (2, right)):
            if text:
                with open(conf, "w", encoding="utf-8") as f:
                    f.write(text)
            p = subprocess.Popen([h.POSAD, "--config", conf], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            try:
                h.wait_until(lambda: read(log).count(b"event=started") == n and
                             sqlite3.connect(os.path.join(data, "posad.db")).execute(
                                 "SELECT count(*) FROM journal").fetchone()[0] >= n
                             or p.poll() is not None, 20, "posad started and signed in")
                self.assertIsNone(p.poll(), p.stderr.read() if p.poll() is not None else "")
            finally:
                p.kill()
                p.wait(timeout=10)
        self.assertIn("event=msgid_code_changed", read(log).decode())

    def test_a_certificate_that_does_not_load_is_logged(self):
        # Found before posad listens, and said in log_file too (a service's stderr may go
        # nowhere), as a port in use is.
        log = os.path.join(self.w.dir, "cert.log")
        conf = self.conf("cert.conf", os.path.join(self.w.dir, "cert"),
                         os.path.join(self.w.dir, "cert.sock"),
                         extra="log_file = %s\n[his]\ntls_cert = /nonexistent/cert.pem\n"
                               "tls_key = /nonexistent/key.pem\n" % log)
        p = subprocess.run([h.POSAD, "--config", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("tls_cert", p.stderr.decode())
        self.assertIn("event=start_failed", read(log).decode())
        self.assertIn("tls_cert", read(log).decode())

    def test_a_socket_in_use_is_not_taken_away(self):
        err = self.refused(self.conf("other.conf", os.path.join(self.w.dir, "other"),
                                     self.w.sock_path))
        self.assertIn("socket %s: another process is listening on it" % self.w.sock_path, err)
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.w.sock_path).st_mode))
        self.assertFirstServes()

    def test_a_socket_in_a_missing_directory_is_named(self):
        # At start, not by the config's check: a service manager may make the directory
        # (systemd's RuntimeDirectory) only when it starts posad.
        sock = os.path.join(self.w.dir, "no-such-dir", "posa.sock")
        err = self.refused(self.conf("missing.conf", os.path.join(self.w.dir, "missing"), sock))
        self.assertIn("socket %s: its directory does not exist" % sock, err)

    def test_a_socket_others_could_replace_is_refused(self):
        # In a directory every user may write, another could rename posad's socket and put
        # theirs in its place (then posactl and the HIS talk to it). A sticky one (/tmp) is
        # safe: only the owner may rename or remove a file there.
        shared = os.path.join(self.w.dir, "socket-dir")
        os.makedirs(shared)
        os.chmod(shared, 0o777)
        sock = os.path.join(shared, "posa.sock")
        log = os.path.join(self.w.dir, "shared.log")
        conf = self.conf("shared.conf", os.path.join(self.w.dir, "shared-data"), sock,
                         extra="log_file = %s\n" % log)
        err = self.refused_as_config(conf)
        self.assertIn("%s:4: [posad] socket: %s: others may write the directory %s (mode 0777)"
                      % (conf, sock, shared), err)
        # said in the log too, where a service's stderr may go nowhere (the review of 55890f1)
        self.assertIn("event=start_failed", read(log).decode())
        self.assertFalse(os.path.exists(sock))
        # ... or one above it: renamed, it takes the socket's directory along.
        inner = os.path.join(shared, "inner")
        os.makedirs(inner, mode=0o755)
        deep = os.path.join(inner, "posa.sock")
        err = self.refused_as_config(self.conf("deep.conf", os.path.join(self.w.dir, "deep-data"),
                                               deep))
        self.assertIn("socket: %s: others may write the directory %s (mode 0777)" % (deep, shared),
                      err)
        os.chmod(shared, 0o1777)
        conf = self.conf("sticky.conf", os.path.join(self.w.dir, "sticky-data"), sock)
        p = subprocess.Popen([h.POSAD, "--config", conf], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            h.wait_until(lambda: p.poll() is not None or os.path.exists(sock), 20,
                         "posad on the sticky directory's socket")
            self.assertIsNone(p.poll(), p.stderr.read() if p.poll() is not None else "")
        finally:
            p.terminate()
            p.wait(timeout=20)

    def test_a_data_dir_that_is_not_posads_own_is_refused(self):
        # A file, or a shared directory (sticky, as /tmp is): refused, and left as it was
        # (posad narrowed either to 0700 before).
        victim = os.path.join(self.w.dir, "victim.txt")
        with open(victim, "w") as f:
            f.write("not posad's\n")
        os.chmod(victim, 0o644)
        shared = os.path.join(self.w.dir, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
        for path, mode, words in ((victim, 0o644, "not a directory"),
                                  (shared, 0o1777, "a shared directory")):
            conf = self.conf("dd.conf", path, os.path.join(self.w.dir, "dd.sock"))
            for argv in ([h.POSAD, "--check-config", conf], [h.POSAD, "--config", conf]):
                p = subprocess.run(argv, capture_output=True, timeout=20)
                self.assertEqual(p.returncode, 2, p)
                self.assertIn("[posad] data_dir: %s: %s" % (path, words),
                              p.stderr.decode("utf-8", "replace"))
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), mode)
        # One whose parent is not there: posad makes data_dir, not its parents; the check
        # said ok and the start failed with exit 1, naming no line (found by review).
        orphan = os.path.join(self.w.dir, "no-such-parent", "data")
        conf = self.conf("orphan.conf", orphan, os.path.join(self.w.dir, "orphan.sock"))
        for argv in ([h.POSAD, "--check-config", conf], [h.POSAD, "--config", conf]):
            p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 2, p)
            self.assertRegex(p.stderr, r"orphan\.conf:\d+: \[posad\] data_dir: %s: its parent "
                             r"directory is not there" % orphan)
        self.assertFalse(os.path.exists(os.path.dirname(orphan)))
        # A symlink to a directory of posad's own is that directory: posad starts on it.
        os.mkdir(os.path.join(self.w.dir, "real"))
        link = os.path.join(self.w.dir, "linked")
        os.symlink(os.path.join(self.w.dir, "real"), link)
        sock = os.path.join(self.w.dir, "linked.sock")
        p = subprocess.Popen([h.POSAD, "--config", self.conf("ln.conf", link, sock)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            h.wait_until(lambda: os.path.exists(sock) or p.poll() is not None, 20,
                         "posad listening")
            self.assertIsNone(p.poll(), p.stderr.read() if p.poll() is not None else "")
        finally:
            p.kill()
            p.wait(timeout=10)
        self.assertFirstServes()

    def test_the_card_vendors_library(self):
        # [desks] card_library: one that does not load is a bad config (exit 2), by the
        # check too, naming its line (it passed the check and stopped posad at start with
        # exit 1); the vendor's (here the tests' fake ReadCardBas) lets it start.
        fake = os.path.join(os.path.dirname(os.path.dirname(h.POSAD)), "tests", "unit",
                            "drivers", "libfakecardbas.so")
        self.assertTrue(os.path.exists(fake), fake)
        # A relative path is refused as every path is: the check run from its directory
        # passed, and the service, started in /, did not find it (found by review).
        conf = self.conf("rel.conf", os.path.join(self.w.dir, "rel"),
                         os.path.join(self.w.dir, "rel.sock"),
                         extra="[desks]\nreaders = D01=No Such Reader*\ncard_library = "
                               "./libfakecardbas.so\n")
        p = subprocess.run([h.POSAD, "--check-config", conf], capture_output=True, text=True,
                           timeout=20, cwd=os.path.dirname(fake))
        self.assertEqual(p.returncode, 2, p)
        self.assertIn("[desks] card_library", p.stderr)
        self.assertIn("absolute", p.stderr)
        for lib, starts in (("/etc/hostname", False), (fake, True)):
            name = "lib-%d" % starts
            conf = self.conf(name + ".conf", os.path.join(self.w.dir, name),
                             os.path.join(self.w.dir, name + ".sock"),
                             extra="[desks]\nreaders = D01=No Such Reader*\ncard_library = %s\n"
                                   % lib)
            if not starts:
                for args in ([h.POSAD, "--config", conf], [h.POSAD, "--check-config", conf]):
                    p = subprocess.run(args, capture_output=True, text=True, timeout=20)
                    self.assertEqual(p.returncode, 2, p)
                    self.assertIn("[desks] card_library: not a card vendor's library", p.stderr)
                    # dlopen's own words ("file too short", "invalid ELF header")
                    self.assertRegex(p.stderr, r"with ReadCardBas\): /etc/hostname: \S")
                    self.assertRegex(p.stderr, r"\.conf:\d+: ")
                continue
            p = subprocess.Popen([h.POSAD, "--config", conf], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            try:
                h.wait_until(lambda: os.path.exists(os.path.join(self.w.dir, name + ".sock"))
                             or p.poll() is not None, 20, "posad listening")
                self.assertIsNone(p.poll(), p.stderr.read() if p.poll() is not None else "")
            finally:
                p.kill()
                p.wait(timeout=10)

    def test_a_policy_file_that_is_not_json_says_where(self):
        # It said the file had no "regions" object, whatever was wrong in it.
        bad = os.path.join(self.w.dir, "bad-policy.json")
        with open(bad, "w", encoding="utf-8") as f:
            f.write('{\n  "regions": {\n    "320200": {"name": "无锡"\n  }\n')
        conf = self.conf("policy.conf", os.path.join(self.w.dir, "policy"),
                         os.path.join(self.w.dir, "policy.sock"),
                         extra="[policy]\nfile = %s\n" % bad)
        p = subprocess.run([h.POSAD, "--config", conf], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(p.returncode, 2, p)
        self.assertRegex(p.stderr, r"policy\.conf:\d+: \[policy\] file: .*bad-policy\.json is "
                                   r"not JSON: it stops being JSON at line 5, column 1")
        # Saved by Notepad with a byte-order mark: said so ("line 1, column 1" said nothing).
        with open(bad, "w", encoding="utf-8-sig") as f:
            f.write('{"regions": {}}\n')
        p = subprocess.run([h.POSAD, "--config", conf], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(p.returncode, 2, p)
        self.assertIn("starts with a byte-order mark (EF BB BF)", p.stderr)

    def test_connections_held_within_the_open_file_limit(self):
        # Under an open-file limit of 400, 400 idle TCP connections (no token needed to open
        # one) took every descriptor: the Unix socket, the cashiers' way in, went dead. posad
        # now holds no more HIS connections than the limit leaves room for.
        port = h.free_port()
        sock = os.path.join(self.w.dir, "nofile.sock")
        conf = self.conf("nofile.conf", os.path.join(self.w.dir, "nofile"), sock,
                         listen="127.0.0.1:%d" % port)
        p = subprocess.Popen(["prlimit", "--nofile=400:400", h.POSAD, "--config", conf],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        held = []
        try:
            h.wait_until(lambda: os.path.exists(sock), 20, "posad listening")
            for _ in range(400):
                try:
                    held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
                except OSError:
                    break
            time.sleep(0.5)
            r = h.Client("unix", path=sock).get("/v1/health")
            self.assertEqual(r.status, 200, r)
            self.assertIsNone(p.poll())
        finally:
            for s in held:
                s.close()
            p.kill()
            p.wait(timeout=10)

    def test_a_listen_address_in_use_is_named(self):
        # Named on stderr and in the log (a service's stderr may go nowhere), before the
        # database is made: nothing migrated, nothing recovered.
        listen = "127.0.0.1:%d" % self.w.pd_port
        data, log = os.path.join(self.w.dir, "busy"), os.path.join(self.w.dir, "busy.log")
        err = self.refused(self.conf("busy.conf", data, os.path.join(self.w.dir, "busy.sock"),
                                     listen=listen, extra="log_file = %s\n" % log))
        self.assertIn("[posad] listen: %s: address already in use: another program" % listen, err)
        self.assertIn(".conf:", err)  # the file and line that set it
        self.assertIn("event=start_failed", read(log).decode())
        self.assertIn("address already in use", read(log).decode())
        self.assertEqual(read(os.path.join(data, "posad.db")), b"")  # the lock's, empty
        self.assertFalse(os.path.exists(os.path.join(data, "posad.db-wal")))

    def test_an_unreachable_platform_is_said_once(self):
        # Probed every 100 ms while offline: the first failure is a warning, the next ones
        # debug lines, not a warning every probe (17,000 a day at the default 5 s).
        log = os.path.join(self.w.dir, "unreachable.log")
        conf = self.conf("unreachable.conf", os.path.join(self.w.dir, "unreachable"),
                         os.path.join(self.w.dir, "unreachable.sock"),
                         extra="log_file = %s\nlog_level = debug\n" % log)
        with open(conf, "a", encoding="utf-8") as f:
            f.write("probe_interval_ms = 100\n")
        with open(conf, encoding="utf-8") as f:
            text = f.read().replace("127.0.0.1:%d/" % self.w.sb_port, "127.0.0.1:%d/" % h.free_port())
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text)
        p = subprocess.Popen([h.POSAD, "--config", conf], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            h.wait_until(lambda: read(log).count(b"event=sign_in_failed") >= 5, 20,
                         "five failed sign-ins")
            lines = [x for x in read(log).splitlines() if b"event=sign_in_failed" in x or
                     (b"event=upstream_result" in x and b"level=warn" in x)]
            warned = [x for x in lines if b"level=warn" in x]
            self.assertEqual(len(warned), 2, lines)  # the first result, and its sign-in
            self.assertIn(b"event=sign_in_failed", warned[1])
        finally:
            p.kill()
            p.wait(timeout=10)

    def test_a_start_signing_in_says_so(self):
        # Until its first sign-in is answered (the platform slow: 3 s here) a posad that
        # just started said the platform "cannot be reached", though nothing had failed.
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "9001", "mode": "delay", "delay_ms": 3000, "count": 1})
        self.assertEqual(status, 200, raw)
        with self.second_posad("slow") as (client, sock):
            h.wait_until(lambda: os.path.exists(sock), 10, "the slow posad's socket")
            up = client.get("/v1/health").json["upstream"]
            self.assertEqual((up["state"], up["signing_in"]), ("offline", True), up)
            r = client.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]})
            self.assertEqual((r.status, r.json["error"]["code"]), (503, "UPSTREAM_OFFLINE"), r)
            self.assertIn("signing in", r.json["error"]["message"])
            self.assertNotIn("cannot be reached", r.json["error"]["message"])
            h.wait_until(lambda: client.get("/v1/health").json["upstream"]["state"] == "online",
                         10, "the slow posad online")
            up = client.get("/v1/health").json["upstream"]
            self.assertFalse(up["signing_in"], up)

    def test_a_refused_sign_in_says_so(self):
        # The platform answers and refuses the sign-in (an operator code it does not know):
        # identify said the platform "cannot be reached", and IT looked for a network fault.
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "9001", "mode": "refuse", "count": 1,
            "message": "操作员未授权(经办人身份证320211195603120157)"})
        self.assertEqual(status, 200, raw)
        log = os.path.join(self.w.dir, "refused.log")
        with self.second_posad("refused", "log_file = %s\n" % log) as (client, _):
            h.wait_until(lambda: b"event=sign_in_refused" in read(log), 10, "the refusal")
            up = client.get("/v1/health").json["upstream"]
            # The platform's words masked, as the log has them (every client reads health;
            # found by review).
            masked = "操作员未授权(经办人身份证320211********0157)"
            self.assertEqual((up["state"], up["sign_in_refused"]), ("offline", masked), up)
            r = client.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]})
            self.assertEqual((r.status, r.json["error"]["code"]), (503, "UPSTREAM_OFFLINE"), r)
            self.assertIn("refused posad's sign-in (%s)" % masked, r.json["error"]["message"])
            # The next probe signs in (5 s): the refusal is gone with it.
            h.wait_until(lambda: client.get("/v1/health").json["upstream"]["state"] == "online",
                         15, "the posad online", step=0.2)
            self.assertIsNone(client.get("/v1/health").json["upstream"]["sign_in_refused"])

    def test_sigterm_answers_the_settle_in_hand(self):
        # SIGTERM while a settlement waits for the platform: posad waits for the answer,
        # records it, gives it to the HIS, and only then closes the connection and exits.
        v = self.open_visit(self.tcp, ZHANG, kind="outpatient", med_type="11")
        self.upload(self.tcp, v["visit_id"], [h.line("T1", "002501010150000", "血细胞分析(血常规)",
                                                     "1", "20.00", "20.00")])
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults", {
            "infno": "2207", "mode": "delay", "delay_ms": 1500, "count": 1})
        self.assertEqual(status, 200, raw)
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], {})))
        t.start()
        h.wait_until(lambda: self.posad_row(
            "SELECT 1 FROM journal WHERE visit_key = ? AND infno = '2207' AND state = 'sent'",
            (v["visit_id"],)) is not None, 10, "the 2207 sent")
        os.kill(self.w.posad.pid, signal.SIGTERM)
        t.join(20)
        self.assertEqual(self.w.posad.wait(timeout=20), 0)
        r = result["r"]
        self.assertEqual((r.status, r.json["state"], r.json["amounts"]["medfee_sumamt"]),
                         (200, "settled", "20.00"), r)
        self.assertIn("event=stopped", self.w.log_tail())
        # Back for the other tests.
        self.w.posad = self.w._spawn([h.POSAD, "--config", self.w.conf_path], "posad.log")
        h.wait_until(self.w._online, 20, "posad back online", step=0.05)

    def test_forms_may_carry_the_whole_id_number(self):
        # [his] forms_certno = full: the forms the hospital keeps carry the whole number (the
        # first posad, with the default, masks it: test_visits).
        with self.second_posad("forms", "[his]\nforms_certno = full\n") as (c, sock):
            wait_online(c, sock)
            r = c.post("/v1/identify", {"source": "id", "certno": h.PERSONS[ZHANG]})
            self.assertEqual(r.status, 200, r)
            v = c.post("/v1/visits", h.visit_body(
                r.json["identity_token"], diagnoses=[{"code": "S72.000", "name": "股骨颈骨折",
                                                      "main": True}],
                trauma={"present": True, "third_party": False, "commitment_signed": True}))
            self.assertEqual(v.status, 201, v)
            d = c.get("/v1/documents/forms/trauma-commitment?visit_id=" + v.json["visit_id"])
            self.assertEqual(d.status, 200, d)
            self.assertIn(h.PERSONS[ZHANG], d.raw.decode("utf-8"))

    def test_two_posads_of_a_hospital_reconcile_their_own(self):
        # 3201 and 3202 are the institution's: the platform's day holds the first posad's
        # settlements too. A second posad (msgid_terminal 9) reconciles its own: the others'
        # (another terminal's msgids) are counted, not listed, and its day matches; it said
        # "mismatch" every day, naming the other posad's settlements as the platform's alone.
        with self.second_posad("second") as (second, sock):
            wait_online(second, sock)
            lines = [h.line("T1", "002101020160000", "数字化摄影(DR)腰椎正侧位", "2", "120.00",
                            "240.00")]
            for c in (self.unix, second):
                v = self.open_visit(c, ZHANG, kind="outpatient", med_type="11")
                self.upload(c, v["visit_id"], lines)
                r = c.post("/v1/visits/%s/settle" % v["visit_id"], {})
                self.assertEqual((r.status, r.json.get("state")), (200, "settled"), r)
            r = second.post("/v1/reconcile", {"date": h.CLOCK[:10]})
            self.assertEqual(r.status, 200, r)
            rep = r.json
            self.assertEqual((rep["matched"], rep["mismatched"], rep["local_totals"]["count"]),
                             (True, [], 1), rep)
            # each counted once, though every group's 3202 may list it (no insurance type)
            theirs = [x for x in self.w.ledger()["settlements"]
                      if x["state"] == "active" and x["msgid"][26] != "9"]
            self.assertTrue(1 <= rep["other_posads"] <= len(theirs), (rep, theirs))
            self.assertIn("other posads", rep["groups"][0]["upstream_result"], rep)

    def test_a_log_made_again_after_rotation_keeps_0640(self):
        log = os.path.join(self.w.dir, "rotating.log")
        conf = self.conf("rotating.conf", os.path.join(self.w.dir, "rotating"),
                         os.path.join(self.w.dir, "rotating.sock"),
                         extra="log_file = %s\n" % log)
        p = subprocess.Popen([h.POSAD, "--config", conf], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            h.wait_until(lambda: b"event=started" in read(log), 20, "the second posad started")
            self.assertEqual(stat.S_IMODE(os.stat(log).st_mode), 0o640)
            os.rename(log, log + ".1")
            os.kill(p.pid, signal.SIGHUP)
            h.wait_until(lambda: os.path.exists(log), 10, "the log made again")
            self.assertEqual(stat.S_IMODE(os.stat(log).st_mode), 0o640)
            # One made for it by logrotate's `create 0644`: others lose their read (it was
            # kept 0644; found by review), owner and group keep theirs.
            h.wait_until(lambda: b"event=" in read(log), 10, "the reopened log written")
            os.rename(log, log + ".2")
            os.close(os.open(log, os.O_CREAT | os.O_WRONLY, 0o644))
            os.chmod(log, 0o644)
            os.kill(p.pid, signal.SIGHUP)
            h.wait_until(lambda: stat.S_IMODE(os.stat(log).st_mode) == 0o640, 10,
                         "others' read taken from the log")
            # The data stays private all the same.
            db = os.path.join(self.w.dir, "rotating", "posad.db")
            self.assertEqual(stat.S_IMODE(os.stat(db).st_mode) & 0o077, 0)
            # Its message ids are its terminal's (msgid_terminal = 9): never the first posad's.
            ids = [m for (m,) in sqlite3.connect(db).execute("SELECT msgid FROM journal")]
            self.assertTrue(ids)
            self.assertEqual({m[26] for m in ids}, {"9"}, ids)
        finally:
            p.kill()
            p.wait(timeout=10)

    @unittest.skipUnless(os.geteuid() == 0, "mknod needs root")
    def test_a_device_as_log_keeps_its_mode(self):
        # log_file = /dev/null: narrowing a log others may read took others' write from the
        # machine's /dev/null (found by review). A private node of the same device here.
        null = os.path.join(self.w.dir, "null")
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(null, 0o666)
        with self.second_posad("devlog", "log_file = %s\n" % null) as (c, _):
            h.wait_until(lambda: c.get("/v1/health").status == 200, 20, "posad on /dev/null")
        self.assertEqual(stat.S_IMODE(os.stat(null).st_mode), 0o666)

    def test_loose_modes_an_older_run_left_are_narrowed(self):
        # The WAL holds whole messages: a data dir whose files were left readable by all
        # (copied, restored from a backup) is private again once posad starts on it.
        data = os.path.join(self.w.dir, "loose")
        log = os.path.join(self.w.dir, "loose.log")
        conf = self.conf("loose.conf", data, os.path.join(self.w.dir, "loose.sock"),
                         extra="log_file = %s\n" % log)
        names = ("posad.db", "posad.db-wal", "posad.db-shm", "posad.db.lock")
        for run in range(2):
            p = subprocess.Popen([h.POSAD, "--config", conf], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            try:
                h.wait_until(lambda: read(log).count(b"event=started") > run, 20, "started")
                if run == 1:
                    self.assertEqual(stat.S_IMODE(os.stat(data).st_mode), 0o700)
                    for name in names:
                        mode = stat.S_IMODE(os.stat(os.path.join(data, name)).st_mode)
                        self.assertEqual(mode & 0o077, 0, (name, oct(mode)))
            finally:
                p.kill()  # SIGKILL: the WAL and its index stay behind
                p.wait(timeout=10)
            os.chmod(data, 0o777)
            for name in names:
                os.chmod(os.path.join(data, name), 0o666)


if __name__ == "__main__":
    h.main()
