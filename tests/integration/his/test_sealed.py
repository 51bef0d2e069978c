"""At-rest sealing ([posad] seal_key_file) through a running posad: a whole stay identified,
billed and settled leaves the patient's ID number and name nowhere plain in the database file
or its WAL, while the API and the printed statement read them back; a start without the key,
or with another key, is refused before anything is read or written, and the right key serves
the same settlement again."""
import os
import signal
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
                          "last_error": None})
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
            sealing = client.get("/v1/health").json["sealing"]
            self.assertEqual((sealing["cipher"], sealing["plain_rows"]), ("aes-256-gcm", "none"))
            # The stay's messages (1101, 2401, 2301, 2402, 2304), its identity, visit and
            # settlement at least had plain values.
            self.assertGreaterEqual(sealing["rows_sealed"], 9, sealing)
            got = client.get("/v1/documents/settlement/%s" % sid)
            self.assertEqual(got.status, 200, got)
            self.assertIn(NAME, got.raw)
            self.assertEqual(client.get("/v1/visits/%s" % vid).status, 200)
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
