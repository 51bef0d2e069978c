"""Harness of the HIS API integration tests: a real posa-sandbox (default scenario) and a
real posad on free loopback ports in a temp dir, both killed by PID; an HTTP client that
talks to posad over TCP or over its Unix socket. Standard library only (/usr/bin/python3).

Usage of a test file: test_x.py POSAD POSA_SANDBOX SOURCE_DIR. With POSA_TEST_TLS=1 in the
environment, posad's TCP listener speaks TLS (a certificate made for the run by the openssl
command) and the tests' TCP client is an HTTPS client that trusts it: the same file then tests
the API over TLS."""
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

POSAD = None
SANDBOX = None
SOURCE = None

INSTITUTION = "H31010100001"
CLOCK = "2026-11-25 09:00:00"
TLS = os.environ.get("POSA_TEST_TLS") == "1"


def make_certificate(directory, days=365):
    """A self-signed P-256 certificate for 127.0.0.1 and localhost: (cert path, key path)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days",
                    str(days), "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over an AF_UNIX stream socket (posad's socket listener)."""

    def __init__(self, path, timeout=15.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    @property
    def code(self):
        """error.code of an error answer, or None."""
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None

    def __repr__(self):
        return "<HTTP %s %s>" % (self.status, self.raw[:800].decode("utf-8", "replace"))


class Client:
    """One transport to posad: "tcp" or "unix"."""

    def __init__(self, transport, port=None, path=None, cafile=None):
        self.transport = transport  # "tcp", "tls" (HTTPS trusting cafile) or "unix"
        self.port = port
        self.path = path
        self.cafile = cafile

    def tls_context(self):
        return ssl.create_default_context(cafile=self.cafile)

    def _conn(self, timeout):
        if self.transport == "unix":
            return UnixHTTPConnection(self.path, timeout=timeout)
        if self.transport == "tls":
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.tls_context())
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=20.0):
        conn = self._conn(timeout)
        try:
            h = {}
            if isinstance(body, (dict, list)):
                body = json.dumps(body, ensure_ascii=False).encode("utf-8")
            elif isinstance(body, str):
                body = body.encode("utf-8")
            if body is not None:
                h["Content-Type"] = "application/json"
            h.update(headers or {})
            if body is not None and len(body) > 1024 * 1024:
                self._send_large(conn, method, path, body, h)
            else:
                conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            return Response(resp.status, dict(resp.getheaders()), resp.read())
        finally:
            conn.close()

    @staticmethod
    def _send_large(conn, method, path, body, headers):
        """A server may answer 413 and close before reading a big body: sending then fails,
        and the answer is read all the same."""
        conn.putrequest(method, path)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        try:
            conn.sock.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, key=None, **kw):
        headers = dict(kw.pop("headers", None) or {})
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.request("POST", path, body, headers=headers, **kw)


def wait_until(pred, timeout, what, step=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = e
        time.sleep(step)
    raise AssertionError("timed out waiting for %s (%r)" % (what, last))


class World:
    """posa-sandbox with the default scenario, clock at 2026-11-25 09:00, and a posad whose
    upstream is that sandbox, listening on TCP and a Unix socket."""

    def __init__(self, extra_conf=""):
        self.extra_conf = extra_conf  # appended to posad.conf (INI lines)
        self.listen_host = "127.0.0.1"  # posad's TCP listener (clients connect to 127.0.0.1)
        self.dir = tempfile.mkdtemp(prefix="posa-his-")
        self.data_dir = os.path.join(self.dir, "posad")  # may be moved before start()
        self.sb_port = None
        self.pd_port = None
        self.sock_path = os.path.join(self.dir, "posa.sock")
        self.cert = self.key = None
        if TLS:
            self.cert, self.key = make_certificate(self.dir)
        self.sandbox = None
        self.scenario = None  # the sandbox's scenario file; None: the default one
        self.posad = None
        self.logs = []

    def _spawn(self, argv, logname):
        log = open(os.path.join(self.dir, logname), "ab")
        self.logs.append(log)
        return subprocess.Popen(argv, stdout=log, stderr=log)

    def start(self):
        for _ in range(3):  # another test may take the free port first
            self.sb_port = free_port()
            if self.start_sandbox():
                break
        else:
            raise AssertionError("posa-sandbox did not start:\n" + self.log_tail("sandbox.log"))
        for _ in range(3):
            self.pd_port = free_port()
            self.write_conf()
            self.posad = self._spawn([POSAD, "--config", self.conf_path], "posad.log")
            try:
                wait_until(self._online, 20, "posad upstream online", step=0.1)
                # The catalog (1312) comes once online; a fee upload before it is NOT_READY.
                wait_until(self._catalog_loaded, 20, "posad's catalog loaded", step=0.05)
                break
            except AssertionError:
                if self.posad.poll() is None:
                    raise AssertionError("posad never came online:\n" + self.log_tail())
                self._kill(self.posad)
        else:
            raise AssertionError("posad did not start:\n" + self.log_tail())
        self.tcp = self.tcp_client()
        self.unix = Client("unix", path=self.sock_path)
        return self

    def start_sandbox(self, faults=()):
        """(Re)starts the sandbox on self.sb_port with its data dir; sets the clock and arms
        faults. A running posad is held (SIGSTOP) until then: its probe would otherwise sign
        in and drain its queue into a platform whose clock and faults are not set yet."""
        held = self.posad_alive()
        if held:
            os.kill(self.posad.pid, signal.SIGSTOP)
        try:
            os.makedirs(os.path.join(self.dir, "sandbox"), exist_ok=True)
            self.sandbox = self._spawn(
                [SANDBOX, "--scenario",
                 self.scenario or os.path.join(SOURCE, "sandbox", "scenarios", "default.json"),
                 "--listen", "127.0.0.1:%d" % self.sb_port, "--data-dir",
                 os.path.join(self.dir, "sandbox")], "sandbox.log")
            try:
                wait_until(lambda: self.sandbox_request("GET", "/sandbox/ledger")[0] == 200, 10,
                           "posa-sandbox")
            except AssertionError:
                self._kill(self.sandbox)
                return False
            self.set_clock(CLOCK)
            for fault in faults:
                status, raw = self.sandbox_request("POST", "/sandbox/faults", fault)
                assert status == 200, raw
            return True
        finally:
            if held:
                os.kill(self.posad.pid, signal.SIGCONT)

    def kill_sandbox(self):
        self._kill(self.sandbox)

    def write_conf(self):
        data = self.data_dir
        self.conf_path = os.path.join(self.dir, "posad.conf")
        with open(self.conf_path, "w", encoding="utf-8") as f:
            f.write("[posad]\ndata_dir = %s\nlisten = %s:%d\nsocket = %s\n"
                    "log_level = debug\n"
                    "[institution]\nfixmedins_code = %s\nfixmedins_name = 上海交通大学医学院附属瑞金医院\n"
                    "mdtrtarea_admvs = 310000\n"
                    "[upstream]\nurl = http://127.0.0.1:%d/fsi/api/rsfComIfsService/callService\n"
                    "timeout_ms = 5000\n%s\n"
                    % (data, self.listen_host, self.pd_port, self.sock_path, INSTITUTION,
                       self.sb_port, self.extra_conf))
            # No daily reconciliation in the tests' journals, but where a test asks for one.
            f.write("[his]\n%s" % ("" if "reconcile_at" in self.extra_conf
                                    else "reconcile_at =\n"))
            if self.cert:
                f.write("tls_cert = %s\ntls_key = %s\n" % (self.cert, self.key))

    def tcp_client(self):
        """posad's TCP listener: plain, or HTTPS when the run is a TLS one."""
        if self.cert:
            return Client("tls", port=self.pd_port, cafile=self.cert)
        return Client("tcp", port=self.pd_port)

    def _catalog_loaded(self):
        with open(os.path.join(self.dir, "posad.log"), "rb") as f:
            return b"event=catalog_loaded" in f.read()

    def _online(self):
        if self.posad.poll() is not None:
            raise AssertionError("posad exited with %s" % self.posad.returncode)
        r = self.tcp_client().get("/v1/health", timeout=2.0)
        return r.status == 200 and r.json["upstream"]["state"] == "online"

    def sandbox_request(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.sb_port, timeout=10)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def platform_call(self, infno, inp, insuplc=""):
        """infno sent straight to the sandbox by another system of the hospital (its own
        session; msgids from 9000 of their second, which posad's own never reach here)."""
        if getattr(self, "_other_sign_no", None) is None:
            self._other_sign_no = ""  # 9001 itself goes without one
            self._other_sign_no = self.platform_call("9001", {"signIn": {
                "opter_no": "0002", "mac": "52-54-00-12-34-57",
                "ip": "127.0.0.1"}})["output"]["signinoutb"]["sign_no"]
        self._other_seq = getattr(self, "_other_seq", 9000) + 1
        now = time.strftime("%Y%m%d%H%M%S")
        env = {"infno": infno, "msgid": "H31010100001%s%04d" % (now, self._other_seq),
               "mdtrtarea_admvs": "310000", "insuplc_admdvs": insuplc, "recer_sys_code": "YBXT",
               "dev_no": "", "dev_safe_info": "", "cainfo": "", "signtype": "", "infver": "V1.0",
               "opter_type": "1", "opter": "0002", "opter_name": "医保窗口",
               "inf_time": time.strftime("%Y-%m-%d %H:%M:%S"), "fixmedins_code": "H31010100001",
               "fixmedins_name": "上海测试第一人民医院", "sign_no": self._other_sign_no,
               "input": inp}
        status, raw = self.sandbox_request("POST", "/fsi/api/rsfComIfsService/callService", env)
        assert status == 200, raw
        answer = json.loads(raw.decode("utf-8"))
        assert answer.get("infcode") == 0, answer
        return answer

    def ledger(self):
        status, raw = self.sandbox_request("GET", "/sandbox/ledger")
        assert status == 200, raw
        return json.loads(raw.decode("utf-8"))

    def set_clock(self, now):
        status, raw = self.sandbox_request("POST", "/sandbox/clock", {"now": now})
        assert status == 200, raw

    def posad_alive(self):
        return self.posad is not None and self.posad.poll() is None

    def log_tail(self, name="posad.log", n=3000):
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    @staticmethod
    def _kill(proc):
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop(self):
        self._kill(self.posad)
        self._kill(self.sandbox)
        for log in self.logs:
            log.close()
        if os.environ.get("POSA_KEEP_TMP"):
            sys.stderr.write("kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# --- the desk flow --------------------------------------------------------------------------

PERSONS = {  # psn_no -> certno, from sandbox/scenarios/README.md
    "32020000000000000000000101": "320211195603120157",  # 张建国 long_term, Wuxi
    "41010000000000000000000105": "410103199006300533",  # 刘洋 temporary_other, Zhengzhou
    "32020000000000000000000106": "320205197212010649",  # 赵敏 temporary_other, Wuxi
    "32020000000000000000000107": "320281196804180758",  # 孙志强 commitment, Wuxi
    "41010000000000000000000108": "410104199509090861",  # 周婷 unfiled, Zhengzhou
    "32020000000000000000000109": "320214198107270976",  # 吴刚 unfiled, Wuxi
    "32020000000000000000000112": "320206198805051252",  # 王䶮 long_term, Wuxi
    "31000000000000000000000114": "31010119650616147X",  # 黄浦生 local Shanghai
    "41010000000000000000000103": "410102197811050316",  # 王磊 referral, Zhengzhou
    "32020000000000000000000104": "32021319850214042X",  # 陈静 referral, Wuxi
    "41010000000000000000000102": "410105195908230241",  # 李秀兰 long_term, resident (390)
    "41010000000000000000000110": "410122196301201082",  # 郑丽娟 expired filing (390)
    "41010000000000000000000111": "410181197010101190",  # 冯卫东 referral to 2026-11-30
    "51010000000000000000000113": "510104199303031368",  # 李㛃 temporary_other, Chengdu (390)
    "41010000000000000000000115": "410105197608081589",  # 马晓燕 expired long_term + temporary
    "32020000000000000000000116": "320211200112241695",  # 钱宇航 unfiled resident (390)
}

_visit_seq = [0]


def _varint(blob, at):
    z, shift = 0, 0
    while True:
        b = blob[at]
        at += 1
        z |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return (z >> 1) ^ -(z & 1), at


def fee_lines(db, visit_id):
    """The fee lines posad keeps for a visit, read from its database (an open sqlite3
    connection): the sets of cache/fee_set.h unpacked, each line a dict of its strings and
    the set's upload_msgid, in seq order. Tests look at lines' states through this."""
    names = ("his_line_id", "feedetl_sn", "state", "list_code", "name", "time",
             "outside_institution", "outside_form", "cancel_msgid")
    out = []
    for upload_msgid, blob in db.execute(
            "SELECT upload_msgid, lines FROM fee_sets WHERE visit_id = ? ORDER BY first_seq",
            (visit_id,)).fetchall():
        assert blob[0] == 1, blob[:1]
        n, at = _varint(blob, 1)
        for _ in range(n):
            line = {"upload_msgid": upload_msgid}
            for name in names:
                size, at = _varint(blob, at)
                line[name] = blob[at:at + size].decode("utf-8")
                at += size + 1
            line["seq"], at = _varint(blob, at)
            for _ in range(11):  # qty, price, the split, outside_kind
                _, at = _varint(blob, at)
            out.append(line)
        assert at == len(blob), (at, len(blob))
    return out


def visit_body(token, kind="inpatient", med_type=None, insutype="310", diagnoses=None,
               **extra):
    _visit_seq[0] += 1
    body = {
        "identity_token": token, "kind": kind, "insutype": insutype,
        "med_type": med_type or ("21" if kind == "inpatient" else "11"),
        "his_visit_id": "HV%d%04d" % (os.getpid(), _visit_seq[0]),
        "dept_code": "A03.06", "dept_name": "骨科", "doctor_code": "D0012",
        "doctor_name": "李医生", "begin_time": "2026-11-20 10:00:00",
        "diagnoses": diagnoses or [{"code": "M16.900", "name": "髋关节病", "main": True}],
    }
    body.update(extra)
    return body


def line(lid, code, name, qty, price, amount, **extra):
    d = {"his_line_id": lid, "list_code": code, "hosp_code": "H" + lid, "name": name,
         "qty": qty, "price": price, "amount": amount, "time": "2026-11-21 09:30:00"}
    d.update(extra)
    return d


# A hip replacement stay of exactly 10,000.00, every line 甲 (chrgitm_lv 01) of the default
# catalog and at or under its price limit (drugs have none), so the whole bill is in scope:
# fulamt_ownpay 0, overlmt 0, preselfpay 0, inscp 10,000.00.
STAY_10000 = [
    # code, name, qty, price, amount              running total
    ("003315020010000", "全髋关节置换术", "1", "4500.00", "4500.00"),        # 4500.00 (limit 4500)
    ("003301000050000", "全身麻醉", "1", "900.00", "900.00"),                # 5400.00 (limit 900)
    ("003301000150000", "麻醉中监测", "1", "20.00", "20.00"),                # 5420.00 (limit 20)
    ("001109000010000", "普通病房床位费(三人间及以上)", "10", "45.00", "450.00"),  # 5870.00
    ("001201000030000", "Ⅰ级护理", "10", "30.00", "300.00"),                # 6170.00
    ("001102000050000", "住院诊察费", "10", "20.00", "200.00"),              # 6370.00
    ("002101020160000", "数字化摄影(DR)腰椎正侧位", "2", "120.00", "240.00"),  # 6610.00
    ("002103000020000", "X线计算机体层(CT)平扫(胸部)", "1", "260.00", "260.00"),  # 6870.00
    ("002501010150000", "血细胞分析(血常规)", "5", "20.00", "100.00"),       # 6970.00
    ("001109000040000", "重症监护病房(ICU)床位费", "3", "150.00", "450.00"),  # 7420.00
    ("001201000010000", "重症监护", "3", "120.00", "360.00"),                # 7780.00
    ("001206000010000", "大换药", "10", "30.00", "300.00"),                  # 8080.00
    ("001204000060000", "静脉输液(第一组)", "20", "10.00", "200.00"),        # 8280.00
    ("XB05BBA089B001010833335", "0.9%氯化钠注射液 250ml", "40", "5.00", "200.00"),  # 8480.00
    ("C06070001005900000000955603", "可吸收缝合线", "5", "80.00", "400.00"),  # 8880.00
    ("C03010001005900000000912300", "一次性使用输液器(带针)", "20", "3.00", "60.00"),  # 8940.00
    ("XN01AXA285B004013765747", "丙泊酚中/长链脂肪乳注射液 200mg", "5", "65.00", "325.00"),  # 9265.00
    ("002503010010000", "肝功能(丙氨酸氨基转移酶)", "4", "5.00", "20.00"),  # 9285.00
    ("002503040010000", "血清钾钠氯测定(电解质)", "4", "15.00", "60.00"),    # 9345.00
    ("002502030030000", "D-二聚体测定", "2", "45.00", "90.00"),              # 9435.00
    ("002600000020000", "交叉配血", "2", "20.00", "40.00"),                  # 9475.00
    ("003107010010000", "常规心电图检查(十二导联)", "2", "25.00", "50.00"),  # 9525.00
    ("XJ01DCA047B002010204961", "注射用头孢呋辛钠 0.75g", "25", "15.00", "375.00"),  # 9900.00
    ("XB05XAA103A003011042793", "氯化钾缓释片 0.5g", "200", "0.50", "100.00"),  # 10000.00
]


def stay_lines(prefix="L"):
    return [line("%s%02d" % (prefix, i + 1), c, n, q, p, a)
            for i, (c, n, q, p, a) in enumerate(STAY_10000)]


class HisTestCase(unittest.TestCase):
    """One World per test file (class); posad must be alive after every test."""
    world = None

    @classmethod
    def setUpClass(cls):
        if HisTestCase.world is None:
            # main() stops it, also when start() fails
            HisTestCase.world = World(getattr(cls, "posad_conf", ""))
            HisTestCase.world.start()
        cls.w = HisTestCase.world
        cls.tcp = cls.w.tcp
        cls.unix = cls.w.unix

    def posad_rows(self, sql, args=()):
        """Every row of a query on posad's database, read while it runs."""
        db = sqlite3.connect(os.path.join(self.w.data_dir, "posad.db"), timeout=10)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def posad_row(self, sql, args=()):
        """The first row of a query on posad's database (None: no such row)."""
        rows = self.posad_rows(sql, args)
        return rows[0] if rows else None

    def settlement_of(self, visit_id):
        """GET /v1/settlements/{id} of the visit's settlement, its JSON ({} when none)."""
        row = self.posad_row("SELECT settlement_id FROM settlements WHERE visit_id = ?",
                             (visit_id,))
        g = self.tcp.get("/v1/settlements/%s" % row[0]) if row else None
        return g.json if g is not None and g.status == 200 else {}

    def fee_lines(self, visit_id):
        """fee_lines() of the visit, read from posad's database while it runs."""
        db = sqlite3.connect(os.path.join(self.w.data_dir, "posad.db"), timeout=10)
        try:
            return fee_lines(db, visit_id)
        finally:
            db.close()

    def tearDown(self):
        self.assertTrue(self.w.posad_alive(),
                        "posad died during %s; log tail:\n%s" % (self.id(), self.w.log_tail()))

    # helpers that assert the happy path
    def identify(self, client, psn_no):
        r = client.post("/v1/identify", {"source": "id", "certno": PERSONS[psn_no]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["person"]["psn_no"], psn_no, r)
        return r.json["identity_token"]

    def open_visit(self, client, psn_no, **kw):
        token = self.identify(client, psn_no)
        r = client.post("/v1/visits", visit_body(token, **kw))
        self.assertEqual(r.status, 201, r)
        return r.json

    def upload(self, client, visit_id, lines):
        r = client.post("/v1/visits/%s/fees" % visit_id, {"lines": lines})
        self.assertEqual(r.status, 200, r)
        return r.json

    def assertError(self, r, status, code):
        self.assertEqual((r.status, r.code), (status, code), r)
        err = r.json["error"]
        self.assertIsInstance(err.get("message"), str, r)
        self.assertTrue(err["message"], r)
        self.assertIsInstance(err.get("retryable"), bool, r)


def main():
    global POSAD, SANDBOX, SOURCE
    if len(sys.argv) < 4:
        sys.stderr.write("usage: %s POSAD POSA_SANDBOX SOURCE_DIR [unittest args]\n" % sys.argv[0])
        sys.exit(2)
    POSAD, SANDBOX, SOURCE = sys.argv[1], sys.argv[2], sys.argv[3]
    try:
        prog = unittest.main(module="__main__", argv=[sys.argv[0]] + sys.argv[4:], verbosity=2,
                             exit=False)
    finally:
        if HisTestCase.world is not None:
            HisTestCase.world.stop()
    sys.exit(0 if prog.result.wasSuccessful() else 1)


# --- additions for test_auth / test_events / test_ops -----------------------------------------

def sha256_hex(token):
    """The form [his] clients stores a bearer token in: lowercase hex SHA-256."""
    import hashlib
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer(token):
    return {"Authorization": "Bearer " + token}


class SseStream:
    """One GET /v1/events subscription over a raw socket (TCP or Unix), read incrementally:
    the status line and headers, then the chunked body decoded and split into SSE frames.
    http.client is not used because it cannot wait on a stream with a per-read deadline."""

    def __init__(self, client, path, headers=None, timeout=10.0):
        if client.transport == "unix":
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(client.path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", client.port), timeout=timeout)
            if client.transport == "tls":
                self.sock = client.tls_context().wrap_socket(self.sock, server_hostname="127.0.0.1")
        head = "GET %s HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n" % path
        for k, v in (headers or {}).items():
            head += "%s: %s\r\n" % (k, v)
        self.sock.sendall((head + "\r\n").encode("utf-8"))
        self.raw = b""      # received, not yet de-chunked
        self.text = b""     # de-chunked body, not yet split into frames
        self.comments = []  # ": ..." lines seen
        self.ended = False  # the last chunk (or the connection's end) was seen
        self.finished = False  # the last chunk was
        self.status, self.headers = self._read_head(timeout)
        self.body = b""
        if self.status != 200:
            self.body = self._read_plain_body(timeout)

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            self.ended = True
        self.raw += data
        return data

    def _read_head(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            if not self._recv(deadline):
                raise AssertionError("connection closed before the headers: %r" % self.raw)
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers

    def _read_plain_body(self, timeout):
        deadline = time.monotonic() + timeout
        n = int(self.headers.get("content-length", "0"))
        while len(self.raw) < n and not self.ended:
            self._recv(deadline)
        return self.raw[:n]

    def _dechunk(self):
        while not self.ended or self.raw:
            end = self.raw.find(b"\r\n")
            if end < 0:
                return
            size = int(self.raw[:end].split(b";")[0], 16)
            if size == 0:
                self.ended = self.finished = True  # ended as a stream does, not cut
                self.raw = b""
                return
            if len(self.raw) < end + 2 + size + 2:
                return
            self.text += self.raw[end + 2:end + 2 + size]
            self.raw = self.raw[end + 2 + size + 2:]

    def _frame(self):
        """The next complete frame as (event, data) or None; comments are kept aside."""
        while b"\n\n" in self.text:
            frame, self.text = self.text.split(b"\n\n", 1)
            event, data = "message", []
            for ln in frame.decode("utf-8").split("\n"):
                if ln.startswith(":"):
                    self.comments.append(ln[1:].strip())
                elif ln.startswith("event:"):
                    event = ln[6:].strip()
                elif ln.startswith("data:"):
                    data.append(ln[5:].lstrip())
            if data or event != "message":
                return event, json.loads("\n".join(data)) if data else None
        return None

    def next_event(self, timeout):
        """The next event (name, data); AssertionError when none comes in time."""
        deadline = time.monotonic() + timeout
        while True:
            self._dechunk()
            ev = self._frame()
            if ev is not None:
                return ev
            if self.ended:
                raise AssertionError("the event stream ended")
            try:
                self._recv(deadline)
            except socket.timeout:
                raise AssertionError("no event within %.1f s" % timeout)

    def wait_comment(self, text, timeout):
        """Waits for a ': text' comment frame (posad's ': subscribed')."""
        deadline = time.monotonic() + timeout
        while text not in self.comments:
            self._dechunk()
            if self._frame() is not None:
                raise AssertionError("an event came before ': %s'" % text)
            if text in self.comments:
                break
            if self.ended:
                raise AssertionError("the event stream ended before ': %s'" % text)
            try:
                self._recv(deadline)
            except socket.timeout:
                raise AssertionError("no ': %s' within %.1f s" % (text, timeout))

    def events_until(self, name, timeout):
        """Every event up to and including the first called name."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            ev = self.next_event(max(0.01, deadline - time.monotonic()))
            seen.append(ev)
            if ev[0] == name:
                return seen

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
