"""Integration harness for posad against posa-sandbox: real processes on free loopback
ports in a temp dir, killed by PID. Standard library only (run with /usr/bin/python3)."""
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

INSTITUTION = "H31010100001"
PASSTHROUGH = "/fsi/api/rsfComIfsService/callService"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, timeout=15):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        conn.request(method, path, body=data,
                     headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        text = resp.read()
        return resp.status, (json.loads(text) if text else None)
    finally:
        conn.close()


def wait_until(pred, timeout, what, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except (OSError, http.client.HTTPException, ValueError):
            pass
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


class World:
    """A sandbox and a posad, in one temp dir."""

    def __init__(self, build, scenario=None, posad_conf=None):
        self.build = build
        self.dir = tempfile.mkdtemp(prefix="posa-it-")
        self.scenario = scenario or os.path.join(os.path.dirname(build.rstrip("/")), "..",
                                                 "sandbox", "scenarios", "default.json")
        self.sandbox = None
        self.posad = None
        self.sb_port = free_port()
        self.pd_port = free_port()
        self.posad_conf = posad_conf or {}
        self.posad_runs = 0

    # --- processes -----------------------------------------------------------------------
    def start_sandbox(self):
        os.makedirs(os.path.join(self.dir, "sandbox"), exist_ok=True)
        log = open(os.path.join(self.dir, "sandbox.log"), "ab")
        self.sandbox = subprocess.Popen(
            [os.path.join(self.build, "sandbox", "posa-sandbox"), "--scenario", self.scenario,
             "--listen", "127.0.0.1:%d" % self.sb_port, "--data-dir",
             os.path.join(self.dir, "sandbox")], stdout=log, stderr=log)
        wait_until(lambda: request(self.sb_port, "GET", "/sandbox/ledger")[0] == 200, 10,
                   "posa-sandbox")

    def write_conf(self):
        conf = {
            "posad": {"data_dir": os.path.join(self.dir, "posad"),
                      "listen": "127.0.0.1:%d" % self.pd_port, "socket": "",
                      "log_level": "debug"},
            "institution": {"fixmedins_code": INSTITUTION, "fixmedins_name": "Test Hospital",
                            "mdtrtarea_admvs": "310000"},
            "upstream": {"url": "http://127.0.0.1:%d%s" % (self.sb_port, PASSTHROUGH),
                         "timeout_ms": "1500", "connect_timeout_ms": "500",
                         "offline_after": "2", "probe_interval_ms": "200"},
            "his": {"reconcile_at": ""},  # no daily reconciliation in the tests' journals
        }
        for section, keys in self.posad_conf.items():
            conf.setdefault(section, {}).update(keys)
        path = os.path.join(self.dir, "posad.conf")
        # Private, as posad wants a file holding the gateway's secrets.
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            for section, keys in conf.items():
                f.write("[%s]\n" % section)
                for k, v in keys.items():
                    f.write("%s = %s\n" % (k, v))
        return path

    def _posad_up(self):
        if self.posad.poll() is not None:
            raise AssertionError("posad exited with %s" % self.posad.returncode)
        return request(self.pd_port, "GET", "/v1/health")[0] == 200

    def start_posad(self, wait_online=True):
        for attempt in range(3):
            path = self.write_conf()
            log = open(os.path.join(self.dir, "posad.log"), "ab")
            self.posad_runs += 1
            self.posad = subprocess.Popen([os.path.join(self.build, "agent", "posad"),
                                           "--config", path], stdout=log, stderr=log)
            try:
                wait_until(self._posad_up, 10, "posad")
                break
            except AssertionError:
                # Exited at once: its port, free when the world began, may have been taken
                # since by another test (a restart reuses it). Another port, as HIS tests do.
                if self.posad.poll() is None or attempt == 2:
                    raise
                self.pd_port = free_port()
        if wait_online:
            wait_until(lambda: self.health()["upstream"]["state"] == "online", 10,
                       "posad online")

    def kill_posad(self, sig=signal.SIGKILL):
        if self.posad and self.posad.poll() is None:
            self.posad.send_signal(sig)
            self.posad.wait(timeout=10)
        rc = self.posad.returncode if self.posad else None
        self.posad = None
        return rc

    def close(self, keep=False):
        for p in (self.posad, self.sandbox):
            if p and p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        if keep or os.environ.get("POSA_KEEP"):
            print("# kept", self.dir)
            # CI keeps only ctest's output: what posad and the sandbox said last, with it.
            for name in ("posad.log", "sandbox.log"):
                try:
                    with open(os.path.join(self.dir, name), "rb") as f:
                        print("# --- end of %s ---\n%s" % (
                            name, f.read()[-6000:].decode("utf-8", "replace")))
                except OSError:
                    pass
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- talking ---------------------------------------------------------------------------
    def call(self, infno, input, msgid=None, timeout=15):
        env = {"infno": infno, "insuplc_admdvs": "320200", "input": input}
        if msgid:
            env["msgid"] = msgid
        status, body = request(self.pd_port, "POST", PASSTHROUGH, env, timeout=timeout)
        assert body is not None, "no body (HTTP %d)" % status
        return body

    def health(self):
        return request(self.pd_port, "GET", "/v1/health")[1]

    def queue(self):
        return request(self.pd_port, "GET", "/v1/queue")[1]["rows"]

    def ledger(self):
        return request(self.sb_port, "GET", "/sandbox/ledger")[1]

    def fault(self, **body):
        status, resp = request(self.sb_port, "POST", "/sandbox/faults", body)
        assert status == 200, "fault refused: %r" % (resp,)

    def wait_settled(self, timeout=20):
        """Until posad's journal has nothing open (no queued, sent or unknown row)."""
        def quiet():
            q = self.health()["queue"]
            return q["depth"] == 0 and q["unknown"] == 0
        wait_until(quiet, timeout, "the journal to settle", step=0.1)

    def journal(self):
        data_dir = self.posad_conf.get("posad", {}).get("data_dir",
                                                         os.path.join(self.dir, "posad"))
        return read_posad_db(data_dir, "SELECT * FROM journal ORDER BY seq")


def read_posad_db(data_dir, sql):
    """Rows (as dicts) of a query on posad's database, read straight from the file (posad may
    be running: WAL readers do not block it)."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data_dir, "posad.db"), uri=True,
                         timeout=10)
    try:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(sql)]
    finally:
        db.close()


# --- a visit, as the HIS would drive it ------------------------------------------------------
PERSONS = [  # from sandbox/scenarios/default.json: filed, insured in 320200 (Wuxi), type 310
    ("32020000000000000000000101", "320211195603120157"),
]


def admit(w, psn, certno, ipt_no, msgid=None):
    r = w.call("2401", {"mdtrtinfo": {"psn_no": psn, "insutype": "310", "ipt_no": ipt_no,
                                      "med_type": "21", "begntime": "2026-11-20 08:00:00",
                                      "mdtrt_cert_type": "02", "mdtrt_cert_no": certno},
                        "diseinfo": []}, msgid=msgid)
    assert r["infcode"] == 0, r
    return r["output"]["result"]["mdtrt_id"]


def fee_input(psn, mdtrt_id, sn, amount="45.00"):
    return {"feedetail": [{"feedetl_sn": sn, "mdtrt_id": mdtrt_id, "psn_no": psn,
                           "med_list_codg": "001109000010000", "det_item_fee_sumamt": amount,
                           "cnt": "1", "pric": amount, "fee_ocur_time": "2026-11-21 08:00:00"}]}


def settle_input(psn, certno, mdtrt_id, total):
    return {"data": {"psn_no": psn, "mdtrt_id": mdtrt_id, "medfee_sumamt": total,
                     "insutype": "310", "mdtrt_cert_type": "02", "mdtrt_cert_no": certno,
                     "acct_used_flag": "0", "mid_setl_flag": "0",
                     "dscg_time": "2026-11-22 08:00:00"}}


def check_exactly_once(w):
    """The journal and the ledger agree: every settlement the journal says is done is in the
    ledger once and active; no active settlement is unknown to the journal or one the
    journal reversed; every done upload is in the ledger once and active."""
    rows = w.journal()
    led = w.ledger()
    by_msgid = {r["msgid"]: r for r in rows}
    active = [s for s in led["settlements"] if s["state"] == "active"]
    seen = set()
    for s in active:
        assert s["msgid"] in by_msgid, "ledger settlement %s unknown to the journal" % s["msgid"]
        assert by_msgid[s["msgid"]]["state"] == "done", \
            "ledger has %s active, journal says %s" % (s["msgid"], by_msgid[s["msgid"]]["state"])
        key = s["mdtrt_id"]
        assert key not in seen, "visit %s settled twice" % key
        seen.add(key)
    active_msgids = {s["msgid"] for s in active}
    for r in rows:
        if r["infno"] in ("2207", "2304") and r["state"] == "done":
            assert r["msgid"] in active_msgids, "journal done %s not active in ledger" % r["msgid"]
    ups = {}
    for u in led["uploads"]:
        assert u["msgid"] in by_msgid, "ledger upload %s unknown to the journal" % u["msgid"]
        if u["state"] == "active":
            k = (u["mdtrt_id"], u["feedetl_sn"])
            assert k not in ups, "fee line %r uploaded twice" % (k,)
            ups[k] = u
    active_up = {u["msgid"] for u in led["uploads"] if u["state"] == "active"}
    for r in rows:
        if r["infno"] in ("2204", "2301") and r["state"] == "done":
            assert r["msgid"] in active_up, "journal done upload %s not in the ledger" % r["msgid"]
    check_no_upload_lost(rows)
    return rows, led


def check_no_upload_lost(rows):
    """Every upload the HIS sent (a row without ref_msgid) ends, through the stand-ins the
    resolver journals for it, in a row the platform took (done)."""
    standin = {}
    for r in rows:
        if r["infno"] in ("2204", "2301") and r["ref_msgid"]:
            standin[r["ref_msgid"]] = r
    lost = []
    for r in rows:
        if r["infno"] not in ("2204", "2301") or r["ref_msgid"]:
            continue
        last = r
        while last["msgid"] in standin:
            last = standin[last["msgid"]]
        if last["state"] == "done" or (last is r and last["state"] == "refused"):
            continue  # delivered, or the platform's own verdict on the HIS's message
        lost.append((r["msgid"], last["state"]))
    assert not lost, "uploads lost: %r" % lost
