#!/usr/bin/python3
"""One cashier session against posad's HIS API, printed readably: identify the patient by
the card in the desk's reader (or, with --certno, by ID number, for a desk without one),
open an inpatient stay with a trauma (no third party, commitment signed), upload a bill with
an outside-purchase line, estimate, settle, and fetch the printable statement. Python
standard library only.

    his_session.py [--url http://127.0.0.1:8470 | --socket ./var/posa.sock] [--desk D01]
                   [--bill docs/examples/bill.json] [--statement FILE] [--token TOKEN]
                   [--cacert FILE] [--certno ID_NUMBER]

An https:// URL (a LAN listener with TLS) is checked against the system's CAs, or against
--cacert, the CA file that signed posad's certificate.

Exit status: 0 when the stay settled, 1 when a step failed (the step and posad's error are
printed)."""
import argparse
import datetime
import http.client
import json
import os
import socket
import ssl
import sys
import time
import urllib.parse


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over posad's Unix socket (its file permissions are the auth)."""

    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Posad:
    def __init__(self, url=None, sock=None, token=None, cacert=None):
        self.url, self.sock, self.token, self.cacert = url, sock, token, cacert

    def _conn(self):
        if self.sock:
            return UnixHTTPConnection(self.sock)
        u = urllib.parse.urlsplit(self.url)  # http://[::1]:8470/ as well
        if u.scheme == "https":
            ctx = ssl.create_default_context(cafile=self.cacert)
            return http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=30,
                                               context=ctx)
        return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)

    def call(self, method, path, body=None, key=None, raw=False):
        conn = self._conn()
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        if raw:
            return resp.status, payload
        return resp.status, json.loads(payload) if payload else {}


def step(title):
    print(f"\n== {title}")


def fail(what, status, body):
    err = body.get("error", {}) if isinstance(body, dict) else {}
    print(f"   FAILED {what}: HTTP {status} {err.get('code', '')}: {err.get('message', body)}")
    sys.exit(1)


def wait_ready(api, seconds=30):
    """posad signs in and loads the catalog right after start. `degraded` (a message failed
    lately, and nothing since said otherwise) still sends: only `offline` does not."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            status, h = api.call("GET", "/v1/health")
            if status == 200 and h.get("upstream", {}).get("state") in ("online", "degraded"):
                return h
        except OSError:
            pass
        time.sleep(0.3)
    print("   posad did not come online in time")
    sys.exit(1)


def money_table(amounts):
    names = [("medfee_sumamt", "医疗费总额 total"), ("fulamt_ownpay_amt", "全自费 fully self-paid"),
             ("overlmt_selfpay", "超限价 over limit"), ("preselfpay_amt", "先行自付 first self-pay"),
             ("inscp_scp_amt", "符合范围 in scope"), ("act_pay_dedc", "起付线 deductible"),
             ("fund_pay_sumamt", "基金支付 fund pays"), ("acct_pay", "个人账户 account"),
             ("psn_cash_pay", "个人现金 patient pays cash")]
    for key, label in names:
        print(f"   {label:<28} {amounts.get(key, ''):>12}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--url", default="http://127.0.0.1:8470")
    ap.add_argument("--socket")
    ap.add_argument("--token")
    ap.add_argument("--cacert", help="the CA file of posad's certificate (https:// URLs)")
    ap.add_argument("--desk", default="D01")
    ap.add_argument("--bill", default="docs/examples/bill.json")
    ap.add_argument("--statement", default="var/statement.html")
    ap.add_argument("--certno", help="identify by this ID number instead of the desk's card")
    a = ap.parse_args()
    api = Posad(a.url, a.socket, a.token, a.cacert)
    # posad and the platform keep Beijing time, whatever this machine's zone.
    now = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8)))
    # Names this session's idempotency keys and HIS visit number: two sessions started in
    # the same second must not be taken for one (the second would replay the first's visit).
    run = now.strftime("%Y%m%d%H%M%S") + "%06d" % now.microsecond

    step("posad")
    h = wait_ready(api)
    print(f"   upstream {h['upstream']['state']}, queue depth {h['queue']['depth']}")

    if a.certno:
        step("1. identify by ID number")
        ask = {"desk": a.desk, "source": "id", "certno": a.certno}
    else:
        step(f"1. identify: the card in desk {a.desk}'s reader (insert it now if it is not in)")
        ask = {"desk": a.desk, "source": "card", "wait_ms": 20000}
    status, who = api.call("POST", "/v1/identify", ask, key=f"id-{run}")
    if status != 200:
        fail("identify", status, who)
    p, f = who["person"], who["filing"]
    print(f"   {p['name']}  ID {p['certno_masked']}  psn_no {p['psn_no']}")
    ins = who["insurance"][0]
    print(f"   insured in {ins['insuplc_admdvs']} (insutype {ins['insutype']}), "
          f"cross-province: {who['cross_province']}, filing: {f['status']} {f.get('kind', '')}")

    step("2. open an inpatient stay: femoral neck fracture, trauma without a third party")
    begin = (now - datetime.timedelta(days=5)).strftime("%Y-%m-%d 08:30:00")
    visit = {"identity_token": who["identity_token"], "kind": "inpatient",
             "insutype": ins["insutype"], "med_type": "22", "his_visit_id": f"ZY{run}",
             "dept_code": "GK01", "dept_name": "骨科", "doctor_code": "D0042",
             "doctor_name": "王医生", "begin_time": begin,
             "diagnoses": [{"code": "S72.001", "name": "股骨颈骨折", "main": True}],
             "trauma": {"present": True, "third_party": False, "commitment_signed": True}}
    status, v = api.call("POST", "/v1/visits", visit, key=f"visit-{run}")
    if status != 201:
        fail("open visit", status, v)
    print(f"   visit {v['visit_id']}  mdtrt_id {v['mdtrt_id']}")
    for fl in v["flags"]:
        print(f"   flag {fl['flag']:<15} {str(fl['value']):<6} ({fl['source']}) {fl['reason']}")

    step("3. upload the bill (split locally by the treating region's catalog)")
    bill = json.load(open(a.bill, encoding="utf-8"))
    for line in bill["lines"]:  # charged on the admission day, not before it
        line["time"] = begin[:10] + line["time"][10:]
    for attempt in range(50):
        status, fees = api.call("POST", f"/v1/visits/{v['visit_id']}/fees", bill,
                                key=f"fees-{run}")
        if status != 503:
            break
        time.sleep(0.2)  # the catalog is still loading
    if status != 200:
        fail("upload fees", status, fees)
    for line, src in zip(fees["lines"], bill["lines"]):
        mark = "  [outside purchase]" if any(x["flag"] == "outside" for x in line["flags"]) else ""
        print(f"   {line['his_line_id']} {src['name'][:18]:<18} {line['amount']:>9} in scope "
              f"{line['inscp_scp_amt']:>9}{mark}")
    t = fees["totals"]
    print(f"   total {t['amount']}: in scope {t['inscp_scp_amt']}, fully self-paid "
          f"{t['fulamt_ownpay_amt']}, over limit {t['overlmt_amt']}, first self-pay "
          f"{t['preselfpay_amt']}  (sent to the platform: {fees['upload']['state']})")

    step("4. presettle (the platform's estimate; nothing moves)")
    status, est = api.call("POST", f"/v1/visits/{v['visit_id']}/presettle", {})
    if status != 200:
        fail("presettle", status, est)
    money_table(est["amounts"])

    step("5. settle at discharge")
    discharge = {"discharge": {"time": now.strftime("%Y-%m-%d %H:%M:%S"), "reason": "1"}}
    status, s = api.call("POST", f"/v1/visits/{v['visit_id']}/settle", discharge,
                         key=f"settle-{run}")
    if status not in (200, 202):
        fail("settle", status, s)
    print(f"   settlement {s['settlement_id']}  setl_id {s.get('setl_id', '')}  state {s['state']}")
    if s["state"] != "settled":
        print("   the outcome is being resolved; look it up with GET /v1/settlements/ID")
        sys.exit(1)
    money_table(s["amounts"])

    step("6. print the settlement statement")
    status, html = api.call("GET", f"/v1/documents/settlement/{s['settlement_id']}", raw=True)
    if status != 200:
        fail("statement", status, {"error": {"message": html[:200]}})
    # The stay is settled whatever happens here: a folder to make is no failed step.
    os.makedirs(os.path.dirname(a.statement) or ".", exist_ok=True)
    with open(a.statement, "wb") as out:
        out.write(html)
    print(f"   saved {a.statement} ({len(html)} bytes, A4, open it in a browser to print)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
