"""At-rest sealing ([posad] seal_key_file) through a running posad: a whole stay identified,
billed and settled leaves the patient's ID number and name nowhere plain in the database file
or its WAL, while the API and the printed statement read them back; a start without the key,
or with another key, is refused before anything is read or written, and the right key serves
the same settlement again."""
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

PSN = "32020000000000000000000101"  # 张建国, filed long_term in Wuxi
NAME = "张建国".encode()
DISCHARGE = {"discharge": {"time": "2026-11-25 09:30:00"}}
SEALED = "hex(substr(%s, 1, 4)) = '0050534C'"  # cache/db.h, DB_SEAL_MAGIC

KEY_DIR = tempfile.mkdtemp(prefix="posa-seal-")


def key_file(name, hex_digits):
    path = os.path.join(KEY_DIR, name)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400), "w") as f:
        f.write(hex_digits + "\n")
    return path


KEY = key_file("seal.key", "5e" * 32)
OTHER_KEY = key_file("other.key", "a7" * 32)


def database_bytes(data_dir):
    out = b""
    for suffix in ("", "-wal"):
        try:
            with open(os.path.join(data_dir, "posad.db" + suffix), "rb") as f:
                out += f.read()
        except FileNotFoundError:
            pass
    return out


class Sealed(h.HisTestCase):
    posad_conf = "[posad]\nseal_key_file = %s\nseal_cipher = sm4\n" % KEY

    def settle_a_stay(self):
        v = self.open_visit(self.tcp, PSN)
        self.upload(self.tcp, v["visit_id"], h.stay_lines("S")[:6])
        r = self.tcp.post("/v1/visits/%s/settle" % v["visit_id"], DISCHARGE)
        self.assertEqual(r.status, 200, r)
        return r.json["settlement_id"]

    def statement(self, settlement_id):
        r = self.tcp.get("/v1/documents/settlement/%s" % settlement_id)
        self.assertEqual(r.status, 200, r)
        return r.raw

    def test_a_settled_stay_leaves_no_personal_data_plain(self):
        sid = self.settle_a_stay()
        self.assertIn(NAME, self.statement(sid))  # read back through the seal
        got = self.tcp.get("/v1/settlements/%s" % sid)
        self.assertEqual(got.status, 200, got)
        self.assertEqual(self.tcp.get("/v1/health").json["sealing"],
                         {"cipher": "sm4", "plain_rows": "none", "rows_sealed": 0,
                          "key_file": "same", "last_error": None})
        raw = database_bytes(self.w.data_dir)
        self.assertGreater(len(raw), 100000)
        for what in (h.PERSONS[PSN].encode(), NAME, PSN.encode()):
            self.assertFalse(what in raw, "%r is in the database file plain" % what)
        # Every value of the sealable columns is sealed (none written before the key here).
        for table, cols in (("journal", ("request", "response")),
                            ("visits", ("body", "psn_no", "cert_no", "card_sn")),
                            ("settlements", ("body",)), ("identities", ("body",))):
            for col in cols:
                plain = self.posad_row("SELECT count(*) FROM %s WHERE %s IS NOT NULL AND NOT %s"
                                       % (table, col, SEALED % col))[0]
                total = self.posad_row("SELECT count(*) FROM %s" % table)[0]
                self.assertGreater(total, 0, table)
                self.assertEqual(plain, 0, "%s.%s" % (table, col))

    def test_e_request_digests_are_keyed(self):
        # An unkeyed SHA-256 of {"source":"id","certno":...} gives the number away to anyone
        # trying them all: kept beside sealed rows, the digests are keyed ("k" + HMAC).
        body = {"source": "id", "certno": h.PERSONS[PSN]}
        first = self.tcp.post("/v1/identify", body, key="seal-e-1")
        self.assertEqual(first.status, 200, first)
        again = self.tcp.post("/v1/identify", body, key="seal-e-1")
        self.assertEqual((again.status, again.raw), (first.status, first.raw))
        other = self.tcp.post("/v1/identify", {"source": "id", "certno": h.PERSONS[
            "32020000000000000000000106"]}, key="seal-e-1")
        self.assertEqual(other.status, 409, other)
        digest = self.posad_row("SELECT body_hash FROM his_answers WHERE idem_key LIKE "
                                "'%seal-e-1'")[0]
        self.assertRegex(digest, "^k[0-9a-f]{31}$")
        # The passthrough's: a 1101 asked under a key.
        env = {"infno": "1101", "insuplc_admdvs": "320200",
               "input": {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": h.PERSONS[PSN],
                                  "psn_cert_type": "01", "certno": h.PERSONS[PSN]}}}
        r = self.unix.post("/fsi/api/rsfComIfsService/callService", env, key="seal-e-2")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json.get("infcode"), 0, r)
        again = self.unix.post("/fsi/api/rsfComIfsService/callService", env, key="seal-e-2")
        self.assertEqual(again.json.get("infcode"), 0, again)
        digest = self.posad_row("SELECT idem_hash FROM journal WHERE idem_key = 'pt:seal-e-2'")
        self.assertRegex(digest[0], "^k[0-9a-f]{63}$")

    def test_f_a_damaged_row_stops_no_other(self):
        # Two stays' uploads wait in the queue (the platform away); one row's sealed request
        # is damaged on disk. The other still goes when the platform is back; the damaged one
        # is logged, listed with why, and waits (its visit's later messages behind it).
        a = self.open_visit(self.tcp, PSN)
        b = self.open_visit(self.tcp, "32020000000000000000000106")
        self.w.kill_sandbox()
        for v, prefix in ((a, "FA"), (b, "FB")):
            r = self.tcp.post("/v1/visits/%s/fees" % v["visit_id"],
                              {"lines": h.stay_lines(prefix)[:2]})
            self.assertEqual((r.status, r.json["upload"]["state"]), (200, "queued"), r)
        msgid_a, request = self.posad_row(
            "SELECT msgid, request FROM journal WHERE visit_key = ? AND infno = '2301'",
            (a["visit_id"],))
        msgid_b = self.posad_row("SELECT msgid FROM journal WHERE visit_key = ? AND "
                                 "infno = '2301'", (b["visit_id"],))[0]
        damaged = bytearray(request)
        damaged[40] ^= 0x01  # inside the ciphertext
        db = sqlite3.connect(os.path.join(self.w.data_dir, "posad.db"), timeout=10)
        with db:
            db.execute("UPDATE journal SET request = ? WHERE msgid = ?", (bytes(damaged), msgid_a))
        db.close()
        self.assertTrue(self.w.start_sandbox(), self.w.log_tail("sandbox.log"))
        state = lambda m: self.posad_row("SELECT state FROM journal WHERE msgid = ?", (m,))[0]
        h.wait_until(lambda: state(msgid_b) == "done", 20, "the other stay's upload sent")
        logged = "event=journal_row_damaged msgid=%s" % msgid_a
        h.wait_until(lambda: logged in self.w.log_tail(n=10 ** 6), 20, "journal_row_damaged")
        self.assertEqual(state(msgid_a), "queued")
        queue = self.tcp.get("/v1/queue")
        self.assertEqual(queue.status, 200, queue)
        rows = [r for r in queue.json["rows"] if r["msgid"] == msgid_a]
        self.assertEqual(len(rows), 1, queue.json)
        self.assertIn("the database file is damaged", rows[0]["last_error"])
        self.assertEqual(self.tcp.get("/v1/health").json["queue"]["depth"], 1)
        got = self.tcp.get("/v1/visits/%s" % b["visit_id"])
        self.assertEqual(got.status, 200, got)
        # One sealed value that does not open names its row; it is no damaged page of the
        # file (SQLite's integrity_check says ok): health stays 200, database "ok" (it went
        # 503 "damaged", the log saying restore posad.db from a backup; found by review).
        body = bytearray(self.posad_row("SELECT body FROM visits WHERE visit_id = ?",
                                        (a["visit_id"],))[0])  # sealed: a blob
        body[40] ^= 0x01
        db = sqlite3.connect(os.path.join(self.w.data_dir, "posad.db"), timeout=10)
        with db:
            db.execute("UPDATE visits SET body = ? WHERE visit_id = ?", (bytes(body), a["visit_id"]))
        db.close()
        self.assertError(self.tcp.get("/v1/visits/%s" % a["visit_id"]), 500, "INTERNAL")
        health = self.tcp.get("/v1/health")
        self.assertEqual((health.status, health.json["database"]), (200, "ok"), health)
        self.assertNotIn("event=database_damaged", self.w.log_tail(n=10 ** 6))

    def test_g_a_key_file_written_over_is_said(self):
        # An install step run again writes a new key over the file: posad runs on with the
        # key it loaded, but would not start again. SIGHUP's check says so at once.
        def changed_events():
            return self.w.log_tail(n=10 ** 7).count("event=seal_key_changed")

        with open(KEY) as f:
            original = f.read()
        before = changed_events()
        os.chmod(KEY, 0o600)
        try:
            with open(KEY, "w") as f:
                f.write("3c" * 32 + "\n")
            self.w.posad.send_signal(signal.SIGHUP)
            h.wait_until(lambda: changed_events() == before + 1, 10, "seal_key_changed")
            # ... and health, for a monitor that reads no log (it said ok; found by review)
            g = self.unix.get("/v1/health").json
            self.assertEqual((g["status"], g["sealing"]["key_file"]), ("degraded", "changed"), g)
            self.assertIn("another key than the one the database is sealed under",
                          g["sealing"]["last_error"], g)
        finally:
            with open(KEY, "w") as f:
                f.write(original)
            os.chmod(KEY, 0o400)
        self.w.posad.send_signal(signal.SIGHUP)
        h.wait_until(lambda: self.w.log_tail(n=10 ** 7).count("event=config_reloaded") >= 2, 10,
                     "the second reload")
        self.assertEqual(changed_events(), before + 1)
        g = self.unix.get("/v1/health").json
        self.assertEqual((g["status"], g["sealing"]["key_file"], g["sealing"]["last_error"]),
                         ("ok", "same", None), g)

    def conf_with(self, key_line):
        """The running posad's config with its seal_key_file line replaced by key_line."""
        with open(self.w.conf_path, encoding="utf-8") as f:
            text = f.read()
        path = os.path.join(self.w.dir, "other.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace("seal_key_file = %s\n" % KEY, key_line))
        return path

    def test_b_a_start_without_the_key_or_with_another_is_refused(self):
        sid = self.settle_a_stay()
        self.w.posad.send_signal(signal.SIGTERM)
        self.assertEqual(self.w.posad.wait(timeout=20), 0)
        before = self.posad_rows("SELECT msgid, state, request, response FROM journal")
        seal_before = self.posad_rows("SELECT * FROM seal_check")
        for key_line in ("", "seal_key_file = %s\n" % OTHER_KEY):
            with self.subTest(key_line=key_line):
                p = subprocess.run([h.POSAD, "--config", self.conf_with(key_line)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn(b"sealed rows do not open: [posad] seal_key_file must name the "
                              b"key that sealed them", p.stderr)
                self.assertNotIn(b"(not an error)", p.stderr)
                self.assertEqual(self.posad_rows("SELECT msgid, state, request, response "
                                                 "FROM journal"), before)
                self.assertEqual(self.posad_rows("SELECT * FROM seal_check"), seal_before)
        # The right key again (with the default cipher now: SM4 values still open).
        with open(self.w.conf_path, encoding="utf-8") as f:
            text = f.read()
        with open(self.w.conf_path, "w", encoding="utf-8") as f:
            f.write(text.replace("seal_cipher = sm4\n", ""))
        self.w.posad = self.w._spawn([h.POSAD, "--config", self.w.conf_path], "posad.log")
        h.wait_until(lambda: self.w.posad_alive() and self.w._online(), 20, "posad online")
        self.assertIn(NAME, self.statement(sid))
        sid2 = self.settle_a_stay()
        self.assertIn(NAME, self.statement(sid2))
        kinds = {r[0] for r in self.posad_rows("SELECT hex(substr(request, 5, 1)) FROM journal")}
        self.assertEqual(kinds, {"53", "41"})  # 'S' (SM4) before, 'A' (AES-GCM) after

    def test_d_rows_from_before_the_key_are_sealed_in_the_background(self):
        """A posad of its own (data dir, socket, message ids) settles plain, then starts with
        the key: it seals those rows itself, and they read back the same."""
        data_dir = os.path.join(self.w.dir, "plain-first")
        sock = os.path.join(self.w.dir, "plain-first.sock")
        conf = os.path.join(self.w.dir, "plain-first.conf")
        log_path = os.path.join(self.w.dir, "plain-first.log")

        def run(seal_line):
            with open(conf, "w", encoding="utf-8") as f:
                f.write("[posad]\ndata_dir = %s\nlisten =\nsocket = %s\n%s"
                        "[institution]\nfixmedins_code = %s\nfixmedins_name = 瑞金医院\n"
                        "mdtrtarea_admvs = 310000\nmsgid_terminal = 8\n"
                        "[upstream]\nurl = http://127.0.0.1:%d/fsi/api/rsfComIfsService/"
                        "callService\n[his]\nreconcile_at =\n"
                        % (data_dir, sock, seal_line, h.INSTITUTION, self.w.sb_port))
            log = open(log_path, "ab")
            p = subprocess.Popen([h.POSAD, "--config", conf], stdout=log, stderr=log)
            log.close()
            client = h.Client("unix", path=sock)

            def ready():
                r = client.get("/v1/health") if os.path.exists(sock) else None
                return r is not None and r.status == 200 and r.json["catalog"]["items"] > 0
            h.wait_until(ready, 20, "the second posad ready")
            return p, client

        def stop(p):
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=20), 0)

        def logged(event):
            with open(log_path, "rb") as f:
                return ("event=%s" % event).encode() in f.read()

        p, client = run("")
        try:
            self.assertIsNone(client.get("/v1/health").json["sealing"])
            asked = client.post("/v1/identify", {"source": "id", "certno": h.PERSONS[PSN]},
                                key="plain-d")
            self.assertEqual(asked.status, 200, asked)
            v = client.post("/v1/visits", h.visit_body(self.identify(client, PSN)))
            self.assertEqual(v.status, 201, v)
            vid = v.json["visit_id"]
            self.upload(client, vid, h.stay_lines("P")[:6])
            r = client.post("/v1/visits/%s/settle" % vid, DISCHARGE)
            self.assertEqual(r.status, 200, r)
            sid = r.json["settlement_id"]
        finally:
            stop(p)
        self.assertTrue(h.PERSONS[PSN].encode() in database_bytes(data_dir))  # plain so far
        p, client = run("seal_key_file = %s\n" % KEY)
        try:
            h.wait_until(lambda: logged("plain_rows_sealed"), 20, "plain_rows_sealed")

            def main_file_plain():
                with open(os.path.join(data_dir, "posad.db"), "rb") as f:
                    return h.PERSONS[PSN].encode() in f.read()
            # The pages the pass overwrote leave the file at a checkpoint it asks for at once
            # (the WAL of a quiet desk would not grow to the automatic one for hours).
            h.wait_until(lambda: not main_file_plain(), 20, "the plain pages checkpointed")
            sealing = client.get("/v1/health").json["sealing"]
            self.assertEqual((sealing["cipher"], sealing["plain_rows"]), ("aes-256-gcm", "none"))
            # The stay's messages (1101, 2401, 2301, 2402, 2304), its identity, visit and
            # settlement at least had plain values.
            self.assertGreaterEqual(sealing["rows_sealed"], 9, sealing)
            got = client.get("/v1/documents/settlement/%s" % sid)
            self.assertEqual(got.status, 200, got)
            self.assertIn(NAME, got.raw)
            self.assertEqual(client.get("/v1/visits/%s" % vid).status, 200)
            # The kept answer's digest was keyed by the pass as a new one is: the retry
            # still matches it.
            again = client.post("/v1/identify", {"source": "id", "certno": h.PERSONS[PSN]},
                                key="plain-d")
            self.assertEqual((again.status, again.raw), (asked.status, asked.raw))
        finally:
            stop(p)
        raw = database_bytes(data_dir)
        for what in (h.PERSONS[PSN].encode(), NAME, PSN.encode()):
            self.assertFalse(what in raw, "%r is in the database file plain" % what)
        # Done once: the next start has nothing to seal, and says nothing.
        p, client = run("seal_key_file = %s\n" % KEY)
        stop(p)
        with open(log_path, "rb") as f:
            self.assertEqual(f.read().count(b"event=plain_rows_sealed"), 1)

    def test_c_check_config_reads_the_key_file(self):
        os.chmod(OTHER_KEY, 0o644)
        try:
            p = subprocess.run([h.POSAD, "--check-config",
                                self.conf_with("seal_key_file = %s\n" % OTHER_KEY)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        finally:
            os.chmod(OTHER_KEY, 0o400)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(("[posad] seal_key_file: %s: others than its owner may read or change "
                       "it (mode 0644): chmod 0400" % OTHER_KEY).encode(), p.stderr)


if __name__ == "__main__":
    try:
        h.main()
    finally:
        for name in os.listdir(KEY_DIR):
            os.unlink(os.path.join(KEY_DIR, name))
        os.rmdir(KEY_DIR)
