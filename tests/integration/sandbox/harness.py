"""Shared harness for the posa-sandbox integration tests: it starts the real binary on a free
loopback port with a scenario written to a temp dir, talks national envelopes over real HTTP,
and kills the process by PID. Standard library only; run with /usr/bin/python3.

Wire choices where the documents are open are listed in /work/notes/sandbox-wire-choices.md
and repeated at the top of each test file that depends on them.
"""
import copy
import datetime
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from decimal import Decimal

FIXMEDINS_CODE = "H31010100001"
FIXMEDINS_NAME = "上海测试第一人民医院"
TREATING = "310000"
SERVICE_PATH = "/fsi/api/rsfComIfsService/callService"
QR_DECODE_PATH = "/localcfc/api/hsecfc/localQrCodeQuery"

SANDBOX_BIN = None  # set by main() from argv[1]


# --------------------------------------------------------------------------------------------
# Money: amounts arrive as JSON numbers or strings; compare them as exact decimals.

def money(value):
    """Exact decimal of an amount given as a JSON number (parsed as Decimal) or string."""
    if isinstance(value, bool) or value is None:
        raise AssertionError("amount expected, got %r" % (value,))
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, str):
        return Decimal(value)
    raise AssertionError("amount expected, got %r" % (value,))


def loads(raw):
    return json.loads(raw, parse_float=Decimal)


def is_ok(env):
    """infcode 0 as a number or as the string "0" (national-interface.md §1.3)."""
    code = env.get("infcode")
    return code == 0 or code == "0"


# --------------------------------------------------------------------------------------------
# msgid: fixmedins_code(12) + yyyyMMddHHmmss + 4-digit sequence, never repeated in a process.

class MsgIds:
    def __init__(self, code=FIXMEDINS_CODE):
        self.code = code
        self.last_time = ""
        self.seq = 0

    def next(self):
        now = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
        if now <= self.last_time:
            now = self.last_time
            self.seq += 1
            if self.seq > 9999:  # at most 10,000 per second: wait for the next one
                time.sleep(1.0)
                return self.next()
        else:
            self.seq = 1
        self.last_time = now
        return "%s%s%04d" % (self.code, now, self.seq)


MSGIDS = MsgIds()


# --------------------------------------------------------------------------------------------
# Scenario pieces for tests (small, hand-checked). Tests copy and change them.

def id_check_digit(first17):
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]


def certno(area6, birthday8, seq3):
    return area6 + birthday8 + seq3 + id_check_digit(area6 + birthday8 + seq3)


def cat(code, name, lv, category, selfpay="0.00", limit=None):
    return {"list_code": code, "name": name, "chrgitm_lv": lv, "med_chrgitm_type": category,
            "selfpay_prop": selfpay, "price_limit": limit}


# Codes used by the tests' fee lines.
BED = "001109000010000"        # 01 甲, limit 120.00
CONSULT = "001102000010000"    # 02 甲
CT = "002103000010000"         # 03 甲 (used as an outside exam)
LAB = "002501010150000"        # 04 甲
INFUSION = "001204000060000"   # 05 甲
SURGERY = "003310030020000"    # 06 甲
NURSING = "001201000030000"    # 07 甲
STENT = "C03010100100000000000000001"  # 08 乙 5%, limit 12.50 (tests use small figures)
AMOXI = "XJ01CAA040A001010100232"      # 09 甲
ATORVA = "XC10AAA127A001010100512"     # 09 乙 10%
OMEPRA = "XA02BCA010A001010100001"     # 09 乙 5% (half-up tie test)
HERB = "T001700659"                     # 10 乙 10%
PATENT = "ZA04BAK0155010102386"         # 11 甲
GENERAL = "001102000080000"            # 12 甲
REGFEE = "001101000010000"             # 13 甲
AIRCON = "001112000010000"             # 14 丙
NOT_IN_CATALOG = "XZZZZZZ999Z999999999999"

TEST_CATALOG = [
    cat(BED, "普通病房床位费", "01", "01", limit="120.000000"),
    cat(CONSULT, "普通门诊诊察费", "01", "02"),
    cat(CT, "X线计算机体层(CT)平扫", "01", "03"),
    cat(LAB, "血细胞分析", "01", "04"),
    cat(INFUSION, "静脉输液", "01", "05"),
    cat(SURGERY, "腹腔镜胆囊切除术", "01", "06"),
    cat(NURSING, "Ⅰ级护理", "01", "07"),
    cat(STENT, "静脉留置针", "02", "08", "0.05", "12.500000"),
    cat(AMOXI, "阿莫西林胶囊", "01", "09"),
    cat(ATORVA, "阿托伐他汀钙片", "02", "09", "0.10"),
    cat(OMEPRA, "奥美拉唑肠溶胶囊", "02", "09", "0.05"),
    cat(HERB, "三七粉", "02", "10", "0.10"),
    cat(PATENT, "复方丹参滴丸", "01", "11"),
    cat(GENERAL, "一般诊疗费", "01", "12"),
    cat(REGFEE, "普通门诊挂号费", "01", "13"),
    cat(AIRCON, "病房空调费", "03", "14", "1.00"),
]


def rate(insutype, kind, level, deductible, ratio, cap):
    return {"insutype": insutype, "kind": kind, "level": level, "deductible": deductible,
            "ratio": ratio, "cap": cap}


ZHENGZHOU = "410100"  # reduce_points: referral/emergency -10, other -20
WUXI = "320200"       # share_first: referral 0, emergency 0, other share 0.20
WUHAN = "420100"      # reduce_points like Zhengzhou, small caps for accumulation tests
SHANGHAI = "310000"   # local


def region(name, temporary, cap_inpatient="400000.00", cap_outpatient="6000.00"):
    return {
        "name": name,
        "rates": [
            # policy.md's worked example: employee, inpatient, level 3: 800.00 and 90 %.
            rate("310", "inpatient", "3", "800.00", "0.90", cap_inpatient),
            rate("310", "inpatient", "*", "500.00", "0.92", cap_inpatient),
            rate("310", "outpatient", "*", "200.00", "0.70", cap_outpatient),
            rate("390", "inpatient", "3", "1000.00", "0.60", "200000.00"),
            rate("390", "outpatient", "*", "100.00", "0.50", "800.00"),
        ],
        "deductible_per": {"inpatient": "admission", "outpatient": "year"},
        "temporary": temporary,
    }


NATIONAL_2022 = {"referral": {"reduce_points": 10}, "emergency": {"reduce_points": 10},
                 "other": {"reduce_points": 20}}
WUXI_2025 = {"referral": {"reduce_points": 0}, "emergency": {"reduce_points": 0},
             "other": {"share_first": "0.20"}}


def person(psn_no, name, region_code, filings, insutype="310", balance="0.00", seq="011",
           gender="1", birthday="1960-05-01", card_no=None, card_sn=None):
    area = {ZHENGZHOU: "410105", WUXI: "320211", WUHAN: "420102", SHANGHAI: "310101"}
    cert = certno(area.get(region_code, "110101"), birthday.replace("-", ""), seq)
    return {"psn_no": psn_no, "certno": cert, "name": name, "gender": gender,
            "birthday": birthday, "insutype": insutype, "insuplc_admdvs": region_code,
            "psn_type": "11", "balance": balance,
            "card": {"card_no": card_no or ("T" + psn_no[-8:]),
                     "card_sn": card_sn or (region_code + "D156000005" + psn_no[-16:]).ljust(32, "0")},
            "filings": filings}


def filing(kind, valid_from, valid_to):
    return {"kind": kind, "valid_from": valid_from, "valid_to": valid_to}


def base_scenario(persons):
    return {
        "treating_region": TREATING,
        "institution": {"code": FIXMEDINS_CODE, "name": FIXMEDINS_NAME, "level": "3"},
        "catalog": copy.deepcopy(TEST_CATALOG),
        "regions": {
            ZHENGZHOU: region("郑州市", NATIONAL_2022),
            WUXI: region("无锡市", WUXI_2025),
            # Caps small enough to reach in two admissions (accumulation tests).
            WUHAN: region("武汉市", NATIONAL_2022, cap_inpatient="10000.00",
                          cap_outpatient="300.00"),
            SHANGHAI: region("上海市", WUXI_2025),
        },
        "persons": persons,
    }


# --------------------------------------------------------------------------------------------
# The process

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, raw, msgid=None):
        self.status = status
        self.raw = raw
        self.msgid = msgid
        try:
            self.json = loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    @property
    def ok(self):
        return self.status == 200 and isinstance(self.json, dict) and is_ok(self.json)

    @property
    def output(self):
        return (self.json or {}).get("output") or {}

    @property
    def err_msg(self):
        return (self.json or {}).get("err_msg")

    def __repr__(self):
        return "<HTTP %s %s>" % (self.status, self.raw[:600].decode("utf-8", "replace"))


class Sandbox:
    """One posa-sandbox process. data_dir survives stop()/start() for restart tests."""

    def __init__(self, scenario, tmp=None, host="127.0.0.1", args=()):
        self.host = host
        self.args = list(args)  # more command-line options
        self.tmp = tmp or tempfile.mkdtemp(prefix="posa-sandbox-test-")
        self.scenario_path = os.path.join(self.tmp, "scenario.json")
        self.data_dir = os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        with open(self.scenario_path, "w", encoding="utf-8") as f:
            json.dump(scenario, f, ensure_ascii=False, indent=1)
        self.proc = None
        self.port = None
        self.log = None
        self.sign_no = None
        self.clock = None  # what the test last set with /sandbox/clock

    # -- lifecycle
    def start(self, timeout=10.0):
        for _attempt in range(3):  # another test may take the free port first
            self.port = free_port()
            self.log = open(os.path.join(self.tmp, "sandbox.log"), "ab")
            self.proc = subprocess.Popen(
                [SANDBOX_BIN, "--scenario", self.scenario_path,
                 "--listen", "%s:%d" % (self.host, self.port), "--data-dir", self.data_dir]
                + self.args,
                stdout=self.log, stderr=self.log)
            if self._wait_ready(timeout):
                return self
            self.kill()
        raise AssertionError("posa-sandbox did not start; log:\n" + self.log_tail())

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                status, _ = self.request("GET", "/sandbox/ledger", None, timeout=1.0)
                if status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def kill(self, sig=signal.SIGKILL):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None
        self.sign_no = None

    def stop(self):
        self.kill(signal.SIGTERM)

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=4000):
        try:
            with open(os.path.join(self.tmp, "sandbox.log"), "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    # -- raw HTTP
    def request(self, method, path, body, timeout=10.0, headers=None, addr="127.0.0.1"):
        conn = http.client.HTTPConnection(addr, self.port, timeout=timeout)
        try:
            h = {"Content-Type": "application/json;charset=utf-8"}
            h.update(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
            elif isinstance(body, str):
                body = body.encode("utf-8")
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def post(self, path, body, timeout=10.0):
        status, raw = self.request("POST", path, body, timeout=timeout)
        return Response(status, raw)

    # -- national envelope
    def envelope(self, infno, inp, insuplc="", msgid=None, sign_no=None):
        if sign_no is None:
            sign_no = self.sign_no or ""
        return {
            "infno": infno, "msgid": msgid or MSGIDS.next(), "mdtrtarea_admvs": TREATING,
            "insuplc_admdvs": insuplc, "recer_sys_code": "YBXT", "dev_no": "",
            "dev_safe_info": "", "cainfo": "", "signtype": "", "infver": "V1.0",
            "opter_type": "1", "opter": "0001", "opter_name": "张收费",
            "inf_time": self.inf_time(), "fixmedins_code": FIXMEDINS_CODE,
            "fixmedins_name": FIXMEDINS_NAME, "sign_no": sign_no, "input": inp,
        }

    def inf_time(self):
        if self.clock:
            return self.clock
        return datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")

    def call(self, infno, inp, insuplc="", msgid=None, sign_no=None, timeout=10.0):
        env = self.envelope(infno, inp, insuplc, msgid, sign_no)
        status, raw = self.request("POST", SERVICE_PATH, env, timeout=timeout)
        return Response(status, raw, env["msgid"])

    def send_envelope(self, env, timeout=10.0):
        status, raw = self.request("POST", SERVICE_PATH, env, timeout=timeout)
        return Response(status, raw, env.get("msgid") if isinstance(env, dict) else None)

    def sign_in(self):
        r = self.call("9001", {"signIn": {"opter_no": "0001", "mac": "52-54-00-12-34-56",
                                           "ip": "127.0.0.1"}}, sign_no="")
        assert r.ok, "9001 failed: %r" % r
        self.sign_no = r.output["signinoutb"]["sign_no"]
        assert isinstance(self.sign_no, str) and self.sign_no, r
        return r

    # -- admin
    def admin(self, path, body):
        r = self.post("/sandbox/" + path, body)
        assert r.status == 200, "admin %s %r -> %r" % (path, body, r)
        return r

    def set_clock(self, now):
        self.admin("clock", {"now": now})
        self.clock = now

    def ledger(self):
        status, raw = self.request("GET", "/sandbox/ledger", None)
        assert status == 200, raw
        return loads(raw.decode("utf-8"))

    def settlement_rows(self, **match):
        rows = self.ledger().get("settlements", [])
        return [r for r in rows if all(r.get(k) == v for k, v in match.items())]

    def upload_rows(self, **match):
        rows = self.ledger().get("uploads", [])
        return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


# --------------------------------------------------------------------------------------------
# Transactions as a cashier's system sends them.

def cert_of(p):
    return {"mdtrt_cert_type": "02", "mdtrt_cert_no": p["certno"]}


def query_person(sb, p):
    return sb.call("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": p["certno"],
                                     "card_sn": "", "begntime": sb.inf_time(),
                                     "psn_cert_type": "01", "certno": p["certno"],
                                     "psn_name": p["name"]}})


def admit(sb, p, begntime, med_type="21", ipt_type="1", trum="0", rel_ttp="0",
          dise=("K80.100", "胆囊结石伴慢性胆囊炎"), msgid=None):
    """2401. Returns the Response; mdtrt_id in output.result.mdtrt_id."""
    inp = admit_input(p, begntime, med_type, ipt_type, trum, rel_ttp, dise)
    return sb.call("2401", inp, p["insuplc_admdvs"], msgid=msgid)


def admit_input(p, begntime, med_type="21", ipt_type="1", trum="0", rel_ttp="0",
                dise=("K80.100", "胆囊结石伴慢性胆囊炎")):
    """The input of a 2401 admission."""
    region_code = p["insuplc_admdvs"]
    mdtrtinfo = {
        "psn_no": p["psn_no"], "insutype": p["insutype"], "coner_name": "家属",
        "tel": "13800000000", "begntime": begntime, "mdtrt_cert_type": "02",
        "mdtrt_cert_no": p["certno"], "med_type": med_type, "ipt_no": "ZY" + MSGIDS.next()[-12:],
        "medrcdno": "BA" + p["psn_no"][-6:], "atddr_no": "D0001", "chfpdr_name": "李主任",
        "adm_diag_dscr": dise[1], "adm_dept_codg": "A03.01", "adm_dept_name": "普外科",
        "adm_bed": "12", "dscg_maindiag_code": dise[0], "dscg_maindiag_name": dise[1],
        "main_cond_dscr": "", "dise_codg": dise[0], "dise_name": dise[1],
        "oprn_oprt_code": "", "oprn_oprt_name": "", "fpsc_no": "", "matn_type": "",
        "birctrl_type": "", "latechb_flag": "0", "geso_val": "", "fetts": "", "fetus_cnt": "",
        "pret_flag": "0", "birctrl_matn_date": "", "dise_type_code": "",
        "insuplc_admdvs": region_code, "mdtrtarea_admvs": TREATING,
        "trum_flag": trum, "rel_ttp_flag": rel_ttp, "ipt_type": ipt_type,
        "mdtrt_grp_type": "", "exp_content": "",
    }
    diseinfo = [{"psn_no": p["psn_no"], "diag_type": "1", "maindiag_flag": "1",
                 "diag_srt_no": "1", "diag_code": dise[0], "diag_name": dise[1],
                 "adm_cond": "", "diag_dept": "普外科", "dise_dor_no": "D0001",
                 "dise_dor_name": "李主任", "diag_time": begntime}]
    return {"mdtrtinfo": mdtrtinfo, "diseinfo": diseinfo}


def mdtrt_id_2401(r):
    assert r.ok, "2401 refused: %r" % r
    mdtrt_id = r.output["result"]["mdtrt_id"]
    assert isinstance(mdtrt_id, str) and mdtrt_id, r
    return mdtrt_id


def line(sn, code, pric, cnt, amount, fee_time="2025-03-02 10:00:00", etip=None, er_flag=None,
         init_sn=None, bchno="B0001"):
    """One fee line; amount is given by hand (= round(pric x cnt))."""
    d = {"feedetl_sn": sn, "chrg_bchno": bchno, "dise_codg": "", "rxno": "",
         "rx_circ_flag": "0", "fee_ocur_time": fee_time, "med_list_codg": code,
         "medins_list_codg": "YN" + code[-10:], "det_item_fee_sumamt": amount, "cnt": cnt,
         "pric": pric, "sin_dos_dscr": "", "used_frqu_dscr": "", "prd_days": "",
         "medc_way_dscr": "", "bilg_dept_codg": "A03.01", "bilg_dept_name": "普外科",
         "bilg_dr_codg": "D0001", "bilg_dr_name": "李主任", "hosp_appr_flag": "1",
         "tcmdrug_used_way": "", "etip_flag": "0", "etip_hosp_code": "",
         "dscg_tkdrug_flag": "0", "matn_fee_flag": "0", "memo": "", "drord_no": "",
         "init_feedetl_sn": init_sn or ""}
    if etip:
        d["etip_flag"] = "1"
        d["etip_hosp_code"] = etip
    if er_flag is not None:
        d["exp_content"] = json.dumps({"er_flag": er_flag})
    return d


def upload_stay(sb, p, mdtrt_id, lines, msgid=None):
    feed = []
    for ln in lines:
        ln = dict(ln)
        ln["mdtrt_id"] = mdtrt_id
        ln["psn_no"] = p["psn_no"]
        ln["med_type"] = ln.get("med_type", "21")
        feed.append(ln)
    return sb.call("2301", {"feedetail": feed}, p["insuplc_admdvs"], msgid=msgid)


def discharge(sb, p, mdtrt_id, endtime, dise=("K80.100", "胆囊结石伴慢性胆囊炎")):
    dscginfo = {"mdtrt_id": mdtrt_id, "psn_no": p["psn_no"], "insutype": p["insutype"],
                "endtime": endtime, "dise_codg": dise[0], "dise_name": dise[1],
                "oprn_oprt_code": "", "oprn_oprt_name": "", "fpsc_no": "", "matn_type": "",
                "birctrl_type": "", "latechb_flag": "0", "geso_val": "", "fetts": "",
                "fetus_cnt": "", "pret_flag": "0", "birctrl_matn_date": "", "cop_flag": "0",
                "dscg_dept_codg": "A03.01", "dscg_dept_name": "普外科", "dscg_bed": "12",
                "dscg_way": "1", "die_date": ""}
    diseinfo = [{"mdtrt_id": mdtrt_id, "psn_no": p["psn_no"], "diag_type": "1",
                 "maindiag_flag": "1", "diag_srt_no": "1", "diag_code": dise[0],
                 "diag_name": dise[1], "diag_dept": "普外科", "dise_dor_no": "D0001",
                 "dise_dor_name": "李主任", "diag_time": endtime}]
    return sb.call("2402", {"dscginfo": dscginfo, "diseinfo": diseinfo}, p["insuplc_admdvs"])


def settle_input(p, mdtrt_id, medfee, parts=None, acct="0", dscg_time=""):
    parts = parts or {}
    return {"data": {
        "psn_no": p["psn_no"], "mdtrt_cert_type": "02", "mdtrt_cert_no": p["certno"],
        "medfee_sumamt": medfee, "psn_setlway": "01", "mdtrt_id": mdtrt_id,
        "insutype": p["insutype"], "acct_used_flag": acct, "invono": "",
        "mid_setl_flag": "0",
        "fulamt_ownpay_amt": parts.get("fulamt_ownpay_amt", "0.00"),
        "overlmt_selfpay": parts.get("overlmt_selfpay", "0.00"),
        "preselfpay_amt": parts.get("preselfpay_amt", "0.00"),
        "inscp_scp_amt": parts.get("inscp_scp_amt", medfee),
        "dscg_time": dscg_time}}


def settle_stay(sb, p, mdtrt_id, medfee, parts=None, acct="0", infno="2304", msgid=None,
                timeout=10.0):
    return sb.call(infno, settle_input(p, mdtrt_id, medfee, parts, acct, sb.inf_time()),
                   p["insuplc_admdvs"], msgid=msgid, timeout=timeout)


def cancel_stay(sb, p, mdtrt_id, setl_id):
    return sb.call("2305", {"data": {"mdtrt_id": mdtrt_id, "setl_id": setl_id,
                                     "psn_no": p["psn_no"]}}, p["insuplc_admdvs"])


def reverse(sb, p, omsgid, oinfno):
    return sb.call("2601", {"data": {"psn_no": p["psn_no"], "omsgid": omsgid,
                                     "oinfno": oinfno}}, p["insuplc_admdvs"])


# The worked example's bill: in-scope 10,000.00, nothing self-paid (all 甲, under limits).
#   bed 100.00 x 10 = 1,000.00; surgery 6,000.00 x 1 = 6,000.00;
#   amoxicillin 50.00 x 40 = 2,000.00; lab 250.00 x 4 = 1,000.00.   Sum 10,000.00.
def worked_bill():
    return [line("1", BED, "100.00", "10", "1000.00"),
            line("2", SURGERY, "6000.00", "1", "6000.00"),
            line("3", AMOXI, "50.00", "40", "2000.00"),
            line("4", LAB, "250.00", "4", "1000.00")]


ADMIT_TIME = "2025-03-01 09:00:00"
SETTLE_TIME = "2025-03-10 10:00:00"


def full_stay(sb, p, lines=None, medfee="10000.00", admit_time=ADMIT_TIME,
              settle_time=SETTLE_TIME, **admit_kw):
    """2401 -> 2301 -> 2402 -> 2304 with the clock set to admission, then settlement.
    Returns (mdtrt_id, settlement Response)."""
    sb.set_clock(admit_time)
    mdtrt_id = mdtrt_id_2401(admit(sb, p, admit_time, **admit_kw))
    up = upload_stay(sb, p, mdtrt_id, lines if lines is not None else worked_bill())
    assert up.ok, "2301 refused: %r" % up
    sb.set_clock(settle_time)
    d = discharge(sb, p, mdtrt_id, settle_time)
    assert d.ok, "2402 refused: %r" % d
    return mdtrt_id, settle_stay(sb, p, mdtrt_id, medfee)


class SandboxCase(unittest.TestCase):
    """One sandbox per test class (setUpClass), signed in; SCENARIO is built by the class."""

    persons = []
    sandbox_args = ()  # more posa-sandbox options for the class

    @classmethod
    def scenario(cls):
        return base_scenario(copy.deepcopy(cls.persons))

    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox(cls.scenario(), args=cls.sandbox_args).start()
        cls.sb.sign_in()

    @classmethod
    def tearDownClass(cls):
        cls.sb.cleanup()

    def tearDown(self):
        # A crash in one test must be visible as such, with the log.
        if not self.sb.alive():
            self.fail("posa-sandbox died; log:\n" + self.sb.log_tail())

    def person(self, psn_no):
        return next(p for p in self.persons if p["psn_no"] == psn_no)

    def assertOk(self, r, what=""):
        self.assertTrue(r.ok, "%s expected infcode 0, got %r" % (what, r))

    def assertRefused(self, r, what="", http_400_ok=False):
        """A national-style refusal: HTTP 200 + infcode != 0 + a plain err_msg. Bad-input
        tests also accept HTTP 400 (the issue allows either for unparsable requests)."""
        if http_400_ok and r.status == 400:
            return
        self.assertEqual(r.status, 200, "%s: %r" % (what, r))
        self.assertIsInstance(r.json, dict, "%s: not JSON: %r" % (what, r))
        self.assertFalse(is_ok(r.json), "%s expected a refusal, got %r" % (what, r))
        msg = r.err_msg
        self.assertIsInstance(msg, str, "%s: no err_msg: %r" % (what, r))
        self.assertTrue(0 < len(msg) <= 512, "%s: err_msg not plain: %r" % (what, r))
        self.assertNotIn("Traceback", msg)

    def assertMoney(self, got, expected, what=""):
        self.assertEqual(money(got), Decimal(expected), "%s: got %r expected %s"
                         % (what, got, expected))

    def assertSetl(self, r, medfee, fund, person, what=""):
        self.assertOk(r, what)
        s = r.output["setlinfo"]
        self.assertMoney(s["medfee_sumamt"], medfee, what + " medfee_sumamt")
        self.assertMoney(s["fund_pay_sumamt"], fund, what + " fund_pay_sumamt")
        self.assertMoney(s["hifp_pay"], fund, what + " hifp_pay")
        self.assertMoney(s["psn_part_amt"], person, what + " psn_part_amt")
        return s


def main():
    global SANDBOX_BIN
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        sys.stderr.write("usage: %s /path/to/posa-sandbox [unittest args]\n" % sys.argv[0])
        sys.exit(2)
    SANDBOX_BIN = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
