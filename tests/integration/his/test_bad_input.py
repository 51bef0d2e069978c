"""A battery of bad requests to the HIS API (his-api.md "Conventions" and limits): each gets
the documented status and error.code with a message, and changes nothing: the visits and
the settlement read back byte for byte the same, posad's outbox and the sandbox's ledger
are unchanged. Every case runs over the Unix socket and over TCP."""
import json
import os
import socket
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"  # 张建国, long-term filed, Wuxi
WANG = "32020000000000000000000112"   # 王䶮, long-term filed, Wuxi

BAD = ("BAD_REQUEST", 400)
NOT_FOUND = ("NOT_FOUND", 404)
METHOD = ("METHOD_NOT_ALLOWED", 405)
TOO_LARGE = ("PAYLOAD_TOO_LARGE", 413)
CONFLICT = ("CONFLICT", 409)
MIB16 = 16 * 1024 * 1024


def bed(**change):
    """A good bed line (45.00 x 2 = 90.00), changed."""
    d = h.line("N1", "001109000010000", "普通病房床位费(三人间及以上)", "2", "45.00", "90.00")
    d.update(change)
    return {k: v for k, v in d.items() if v is not None}


def fees(*lines):
    return {"lines": list(lines)}


def visit(fx, **change):
    d = h.visit_body(fx["token"])
    d["his_visit_id"] = "BAD-VISIT"  # a refused visit must leave this id unused
    d.update(change)
    return {k: v for k, v in d.items() if v is not None}


def gbk(body, field_value):
    """body as JSON bytes with the string field_value's UTF-8 replaced by its GBK bytes."""
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return raw.replace(field_value.encode("utf-8"), field_value.encode("gbk"))


def twice(body, key, value):
    """body as JSON bytes with key given again, last, in its outermost object (json-c keeps
    the last of two)."""
    raw = json.dumps(body, ensure_ascii=False)
    return (raw[:-1] + ", %s: %s}" % (json.dumps(key), json.dumps(value))).encode("utf-8")


def many_lines(n):
    one = json.dumps(bed(his_line_id="N%06d"), ensure_ascii=False)
    return ('{"lines":[' + ",".join(one.replace("N%06d", "N%06d" % i) for i in range(n))
            + "]}").encode("utf-8")


_FIXTURE = {}  # transport -> its own visits, so one transport's cases cannot upset the other's

# (name, method, path, body or fx -> body, headers, (code, status))
CASES = [
    # --- routing and methods
    ("unknown_path", "GET", "/v1/nosuch", None, None, NOT_FOUND),
    ("unknown_visit_get", "GET", "/v1/visits/Vdeadbeefdeadbeef", None, None, NOT_FOUND),
    ("visit_id_with_nul", "GET", "/v1/visits/%00", None, None, NOT_FOUND),
    ("delete_visit", "DELETE", "/v1/visits/{open}", None, None, METHOD),
    ("get_identify", "GET", "/v1/identify", None, None, METHOD),
    ("put_fees", "PUT", "/v1/visits/{open}/fees", fees(bed()), None, METHOD),
    ("get_settle", "GET", "/v1/visits/{open}/settle", None, None, METHOD),
    ("post_health", "POST", "/v1/health", {}, None, METHOD),
    ("post_settlement", "POST", "/v1/settlements/{sid}", {}, None, METHOD),
    # --- identify
    ("identify_truncated_json", "POST", "/v1/identify", b'{"source":"id","certno":', None, BAD),
    ("identify_array_body", "POST", "/v1/identify", [], None, BAD),
    ("identify_empty_body", "POST", "/v1/identify", b"", None, BAD),
    ("identify_not_utf8", "POST", "/v1/identify",
     b'{"source":"id","certno":"320211195603120157","psn_name":"\xd5\xc5\xbd\xa8"}', None, BAD),
    ("identify_unknown_source", "POST", "/v1/identify", {"source": "fax"}, None, BAD),
    ("identify_id_without_certno", "POST", "/v1/identify", {"source": "id"}, None, BAD),
    ("identify_short_certno", "POST", "/v1/identify", {"source": "id", "certno": "12345"}, None,
     BAD),
    # the check character right, the birth date no day (month 13; 30 February; before 1900)
    ("identify_certno_month_13", "POST", "/v1/identify",
     {"source": "id", "certno": "320211195613120150"}, None, BAD),
    ("identify_certno_30_february", "POST", "/v1/identify",
     {"source": "id", "certno": "320211195602300156"}, None, BAD),
    ("identify_certno_1899", "POST", "/v1/identify",
     {"source": "id", "certno": "320211189912310156"}, None, BAD),
    ("identify_certno_number", "POST", "/v1/identify",
     b'{"source":"id","certno":320211195603120157}', None, BAD),
    ("identify_unknown_field", "POST", "/v1/identify",
     {"source": "id", "certno": h.PERSONS[ZHANG], "colour": "red"}, None, BAD),
    ("identify_negative_wait", "POST", "/v1/identify",
     {"source": "id", "certno": h.PERSONS[ZHANG], "wait_ms": -1}, None, BAD),
    ("identify_source_null", "POST", "/v1/identify", {"source": None}, None, BAD),
    # a desk id is at most 32 bytes everywhere (core/bound.h BOUND_DESK); 64 were taken here
    ("identify_desk_too_long", "POST", "/v1/identify",
     {"desk": "D" * 33, "source": "id", "certno": h.PERSONS[ZHANG]}, None, BAD),
    # --- visits
    ("visit_unknown_token", "POST", "/v1/visits",
     lambda fx: visit(fx, identity_token="0123456789abcdef0123456789abcdef"), None, BAD),
    ("visit_expired_token", "POST", "/v1/visits",
     lambda fx: visit(fx, identity_token=fx["expired"]), None, BAD),
    ("visit_unknown_kind", "POST", "/v1/visits", lambda fx: visit(fx, kind="daycare"), None, BAD),
    ("visit_insutype_number", "POST", "/v1/visits", lambda fx: visit(fx, insutype=310), None,
     BAD),
    ("visit_insutype_not_the_patients", "POST", "/v1/visits",
     lambda fx: visit(fx, insutype="390"), None, BAD),
    ("visit_month_13", "POST", "/v1/visits",
     lambda fx: visit(fx, begin_time="2026-13-01 10:00:00"), None, BAD),
    ("visit_iso_time", "POST", "/v1/visits",
     lambda fx: visit(fx, begin_time="2026-11-20T10:00:00"), None, BAD),
    ("visit_no_diagnoses", "POST", "/v1/visits", lambda fx: visit(fx, diagnoses=[]), None, BAD),
    ("identify_empty_desk", "POST", "/v1/identify", {"source": "card", "desk": ""}, None, BAD),
    # "*" is every desk where desks are listed, never one desk (it was taken as a desk's name)
    ("identify_desk_star", "POST", "/v1/identify",
     {"desk": "*", "source": "id", "certno": h.PERSONS[ZHANG]}, None, BAD),
    ("identify_desk_blank", "POST", "/v1/identify",
     {"desk": "D 01", "source": "id", "certno": h.PERSONS[ZHANG]}, None, BAD),
    ("visit_two_main_diagnoses", "POST", "/v1/visits",
     lambda fx: visit(fx, diagnoses=[{"code": "M16.900", "name": "髋关节病", "main": True},
                                     {"code": "I10.x00", "name": "高血压", "main": True}]),
     None, BAD),
    ("visit_diagnosis_twice", "POST", "/v1/visits",
     lambda fx: visit(fx, diagnoses=[{"code": "M16.900", "name": "髋关节病", "main": True},
                                     {"code": "M16.900", "name": "髋关节病"}]), None, BAD),
    ("visit_diagnosis_without_name", "POST", "/v1/visits",
     lambda fx: visit(fx, diagnoses=[{"code": "M16.900", "name": ""}]), None, BAD),
    ("visit_med_type_empty", "POST", "/v1/visits", lambda fx: visit(fx, med_type=""), None,
     BAD),
    ("visit_med_type_letters", "POST", "/v1/visits", lambda fx: visit(fx, med_type="abcdef"),
     None, BAD),
    ("visit_outpatient_with_an_inpatient_med_type", "POST", "/v1/visits",
     lambda fx: visit(fx, kind="outpatient", med_type="21"), None, BAD),
    ("visit_inpatient_with_an_outpatient_med_type", "POST", "/v1/visits",
     lambda fx: visit(fx, kind="inpatient", med_type="11"), None, BAD),
    ("visit_begins_years_ahead", "POST", "/v1/visits",
     lambda fx: visit(fx, begin_time="2036-11-20 10:00:00"), None, BAD),
    ("visit_diagnosis_without_code", "POST", "/v1/visits",
     lambda fx: visit(fx, diagnoses=[{"code": "", "name": "髋关节病"}]), None, BAD),
    ("visit_emergency_string", "POST", "/v1/visits", lambda fx: visit(fx, emergency="yes"), None,
     BAD),
    ("visit_unknown_field", "POST", "/v1/visits", lambda fx: visit(fx, ward="7B"), None, BAD),
    ("visit_trauma_present_string", "POST", "/v1/visits",
     lambda fx: visit(fx, trauma={"present": "yes"}), None, BAD),
    ("visit_name_too_long", "POST", "/v1/visits", lambda fx: visit(fx, dept_name="科" * 400),
     None, BAD),
    ("visit_doctor_code_2k", "POST", "/v1/visits", lambda fx: visit(fx, doctor_code="D" * 2000),
     None, BAD),
    ("visit_dept_name_gbk", "POST", "/v1/visits",
     lambda fx: gbk(visit(fx, dept_name="骨科病区"), "骨科病区"), None, BAD),
    ("visit_his_visit_id_missing", "POST", "/v1/visits", lambda fx: visit(fx, his_visit_id=None),
     None, BAD),
    # --- fees
    ("fees_unknown_visit", "POST", "/v1/visits/Vdeadbeefdeadbeef/fees", fees(bed()), None,
     NOT_FOUND),
    ("fees_lines_not_array", "POST", "/v1/visits/{open}/fees", {"lines": {"0": bed()}}, None, BAD),
    ("fees_no_lines", "POST", "/v1/visits/{open}/fees", {"lines": []}, None, BAD),
    # --- a key given twice: json-c keeps the last, which a proxy or a log may read otherwise
    ("identify_certno_twice", "POST", "/v1/identify",
     twice({"source": "id", "certno": "320211195603120157"}, "certno", "410103199006300533"),
     None, BAD),
    ("visit_emergency_twice", "POST", "/v1/visits",
     lambda fx: twice(visit(fx, emergency=True), "emergency", False), None, BAD),
    ("fees_amount_twice", "POST", "/v1/visits/{open}/fees",
     ('{"lines":[%s]}' % twice(bed(), "amount", "91.00").decode()).encode(), None, BAD),
    ("fees_unknown_field", "POST", "/v1/visits/{open}/fees", dict(fees(bed()), chunk_lines=1),
     None, BAD),
    ("fees_qty_exponent", "POST", "/v1/visits/{open}/fees", fees(bed(qty="2e0")), None, BAD),
    ("fees_amount_1e3", "POST", "/v1/visits/{open}/fees",
     fees(bed(qty="1", price="1000.00", amount="1e3", list_code="XB05BBA089B001010833335")),
     None, BAD),
    ("fees_amount_three_decimals", "POST", "/v1/visits/{open}/fees",
     fees(bed(qty="1", price="12.345", amount="12.345", list_code="XB05BBA089B001010833335")),
     None, BAD),
    ("fees_amount_minus_zero", "POST", "/v1/visits/{open}/fees",
     fees(bed(qty="0", price="45.00", amount="-0")), None, BAD),
    # his-api.md: "Money: JSON strings with exactly two decimals".
    ("fees_amount_no_decimals", "POST", "/v1/visits/{open}/fees", fees(bed(amount="90")), None,
     BAD),
    ("fees_amount_one_decimal", "POST", "/v1/visits/{open}/fees", fees(bed(amount="90.0")), None,
     BAD),
    ("fees_amount_json_number", "POST", "/v1/visits/{open}/fees",
     b'{"lines":[{"his_line_id":"N1","list_code":"001109000010000","hosp_code":"HN1",'
     b'"name":"bed","qty":"2","price":"45.00","amount":90.00,"time":"2026-11-21 09:30:00"}]}',
     None, BAD),
    ("fees_amount_thousands_sep", "POST", "/v1/visits/{open}/fees",
     fees(bed(qty="100", price="45.00", amount="4,500.00")), None, BAD),
    ("fees_amount_spaces", "POST", "/v1/visits/{open}/fees", fees(bed(amount=" 90.00")), None,
     BAD),
    ("fees_amount_not_price_times_qty", "POST", "/v1/visits/{open}/fees",
     fees(bed(amount="90.02")), None, BAD),
    ("fees_price_seven_decimals", "POST", "/v1/visits/{open}/fees",
     fees(bed(price="45.0000001")), None, BAD),
    ("fees_qty_five_decimals", "POST", "/v1/visits/{open}/fees",
     fees(bed(qty="2.00001")), None, BAD),
    ("fees_negative_qty", "POST", "/v1/visits/{open}/fees",
     fees(bed(qty="-2", amount="-90.00")), None, BAD),
    ("fees_amount_overflow", "POST", "/v1/visits/{open}/fees",
     fees(bed(qty="1", price="99999999999999999999.00", amount="99999999999999999999.00")), None,
     BAD),
    ("fees_unknown_line_field", "POST", "/v1/visits/{open}/fees", fees(bed(colour="red")), None,
     BAD),
    ("fees_duplicate_line_ids", "POST", "/v1/visits/{open}/fees",
     fees(bed(), bed()), None, BAD),
    ("fees_line_name_gbk", "POST", "/v1/visits/{open}/fees",
     gbk(fees(bed(name="普通病房床位费")), "普通病房床位费"), None, BAD),
    ("fees_bad_time", "POST", "/v1/visits/{open}/fees", fees(bed(time="yesterday")), None, BAD),
    ("fees_outside_unknown_kind", "POST", "/v1/visits/{open}/fees",
     fees(bed(outside={"institution_code": "H31010500002", "kind": "spa", "form_ref": "F1"})),
     None, BAD),
    ("fees_outside_without_form", "POST", "/v1/visits/{open}/fees",
     fees(bed(outside={"institution_code": "H31010500002", "kind": "exam"})), None, BAD),
    ("fees_outside_on_outpatient", "POST", "/v1/visits/{outp}/fees",
     fees(bed(outside={"institution_code": "H31010500002", "kind": "exam", "form_ref": "F1"})),
     None, BAD),
    ("fees_line_dated_years_ahead", "POST", "/v1/visits/{open}/fees",
     fees(bed(time="2036-11-20 10:00:00")), None, BAD),
    ("fees_missing_list_code", "POST", "/v1/visits/{open}/fees", fees(bed(list_code=None)), None,
     BAD),
    ("fees_on_settled_visit", "POST", "/v1/visits/{settled}/fees", fees(bed()), None, CONFLICT),
    ("fees_too_many_lines", "POST", "/v1/visits/{open}/fees", lambda fx: many_lines(50001),
     None, TOO_LARGE),
    ("fees_body_over_16mib", "POST", "/v1/visits/{open}/fees",
     lambda fx: b'{"lines":[' + b" " * (MIB16 - 9) + b"]}", None, TOO_LARGE),
    # small, but a tree of gigabytes: refused before json-c builds it
    ("identify_many_tiny_objects", "POST", "/v1/identify",
     lambda fx: b'{"x":[' + b"{}," * 300000 + b"{}]}", None, TOO_LARGE),
    # --- fee cancel
    ("cancel_both_ids_and_all", "POST", "/v1/visits/{open}/fees/cancel",
     {"his_line_ids": ["L01"], "all": True}, None, BAD),
    ("cancel_neither", "POST", "/v1/visits/{open}/fees/cancel", {}, None, BAD),
    ("cancel_id_number", "POST", "/v1/visits/{open}/fees/cancel", {"his_line_ids": [1]}, None,
     BAD),
    ("cancel_same_id_twice", "POST", "/v1/visits/{open}/fees/cancel",
     {"his_line_ids": ["L01", "L01"]}, None, BAD),
    ("cancel_id_with_nul", "POST", "/v1/visits/{open}/fees/cancel",
     {"his_line_ids": ["L01\u0000X"]}, None, BAD),
    ("cancel_unknown_line", "POST", "/v1/visits/{open}/fees/cancel", {"his_line_ids": ["ZZ9"]},
     None, NOT_FOUND),
    # more ids than a bill has lines: the bill's ceiling, as for 50,001 lines (it was 400)
    ("cancel_50001_ids", "POST", "/v1/visits/{open}/fees/cancel",
     {"his_line_ids": ["L%d" % i for i in range(50001)]}, None, TOO_LARGE),
    ("cancel_lines_of_settled_visit", "POST", "/v1/visits/{settled}/fees/cancel", {"all": True},
     None, CONFLICT),
    ("cancel_unknown_visit", "POST", "/v1/visits/Vdeadbeefdeadbeef/fees/cancel", {"all": True},
     None, NOT_FOUND),
    ("cancel_with_no_line_uploaded", "POST", "/v1/visits/{outp}/fees/cancel", {"all": True},
     None, NOT_FOUND),
    # --- settle and settlements
    ("presettle_unknown_visit", "POST", "/v1/visits/Vdeadbeefdeadbeef/presettle", {}, None,
     NOT_FOUND),
    ("settle_unknown_visit", "POST", "/v1/visits/Vdeadbeefdeadbeef/settle", {}, None, NOT_FOUND),
    ("settle_bad_discharge_time", "POST", "/v1/visits/{open}/settle",
     {"discharge": {"time": "2026-11-31 09:30:00"}}, None, BAD),
    ("reconcile_a_day_to_come", "POST", "/v1/reconcile", {"date": "9999-12-31"}, None, BAD),
    # no body, or {}: a body meant for another route must not send a message again
    ("queue_retry_with_a_body", "POST", "/v1/queue/H31010100001202611250000000001/retry",
     {"all": True}, None, BAD),
    ("settle_discharge_years_ahead", "POST", "/v1/visits/{open}/settle",
     {"discharge": {"time": "2099-01-01 00:00:00"}}, None, BAD),
    ("settle_discharged_before_admission", "POST", "/v1/visits/{open}/settle",
     {"discharge": {"time": "2020-01-01 00:00:00"}}, None, BAD),
    # after the admission, before the bill's lines (2026-11-21 09:30): one of them is wrong
    ("settle_discharged_before_the_last_line", "POST", "/v1/visits/{open}/settle",
     {"discharge": {"time": "2026-11-21 09:29:59"}}, None, BAD),
    ("presettle_discharged_before_the_last_line", "POST", "/v1/visits/{open}/presettle",
     {"discharge": {"time": "2026-11-21 09:29:59"}}, None, BAD),
    ("settle_use_account_string", "POST", "/v1/visits/{open}/settle", {"use_account": "true"},
     None, BAD),
    ("settle_unknown_field", "POST", "/v1/visits/{open}/settle", {"tip": "5.00"}, None, BAD),
    ("settle_malformed_json", "POST", "/v1/visits/{open}/settle", b"{discharge:}", None, BAD),
    ("settle_already_settled", "POST", "/v1/visits/{settled}/settle", {}, None, CONFLICT),
    # A visit cancel takes no body: one meant for fees/cancel must not undo the registration.
    ("visit_cancel_fees_cancel_body", "POST", "/v1/visits/{open}/cancel", {"all": True}, None,
     BAD),
    ("visit_cancel_not_json", "POST", "/v1/visits/{open}/cancel", b"cancel please", None, BAD),
    ("visit_cancel_array", "POST", "/v1/visits/{open}/cancel", [], None, BAD),
    ("settlement_unknown", "GET", "/v1/settlements/Sdeadbeefdeadbeef", None, None, NOT_FOUND),
    ("settlement_cancel_unknown", "POST", "/v1/settlements/Sdeadbeefdeadbeef/cancel", {}, None,
     NOT_FOUND),
    ("settlement_cancel_body_array", "POST", "/v1/settlements/{sid_a}/cancel", [], None, BAD),
    ("settlement_cancel_unknown_field", "POST", "/v1/settlements/{sid_b}/cancel",
     {"refund_to": "cash"}, None, BAD),
    ("settlement_cancel_not_json", "POST", "/v1/settlements/{sid_c}/cancel", b"cancel please",
     None, BAD),
    ("form_without_visit_id", "GET", "/v1/documents/forms/outside-purchase", None, None, BAD),
    ("form_visit_id_of_64", "GET", "/v1/documents/forms/outside-purchase?visit_id=" + "V" * 64,
     None, None, BAD),
    ("form_unknown_visit", "GET", "/v1/documents/forms/outside-purchase?visit_id=Vdeadbeef",
     None, None, NOT_FOUND),
    # a query parameter twice: which was meant? (the first was taken, silently)
    ("form_visit_id_twice", "GET",
     "/v1/documents/forms/outside-purchase?visit_id={open}&visit_id=Vdeadbeef", None, None, BAD),
    ("queue_limit_twice", "GET", "/v1/queue?limit=5&limit=500", None, None, BAD),
    ("events_desk_twice", "GET", "/v1/events?desk=D01&desk=D02", None, None, BAD),
    ("statement_unknown_settlement", "GET", "/v1/documents/settlement/Sdeadbeefdeadbeef", None,
     None, NOT_FOUND),
    ("idempotency_key_too_long", "POST", "/v1/visits/{open}/settle", {},
     {"Idempotency-Key": "k" * 65}, BAD),
    ("idempotency_key_with_space", "POST", "/v1/visits/{open}/fees", fees(bed()),
     {"Idempotency-Key": "a b"}, BAD),
]


SNAPSHOT_PARTS = ("the open stay", "the outpatient visit", "the settled stay", "the settlement",
                  "posad's outbox depth", "the sandbox's uploaded lines",
                  "the sandbox's settlements")


class BadInputBase(h.HisTestCase):
    transport = None

    @property
    def c(self):
        return self.unix if self.transport == "unix" else self.tcp

    @property
    def fx(self):
        return _FIXTURE[self.transport]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        _FIXTURE[cls.transport] = cls.fixture()

    @classmethod
    def fixture(cls):
        """An open stay with three lines, an open outpatient visit, a settled stay."""
        t = cls("run")  # an instance, for the happy-path helpers of HisTestCase
        c = cls.w.unix if cls.transport == "unix" else cls.w.tcp
        fx = {}
        fx["open"] = t.open_visit(c, ZHANG)["visit_id"]
        t.upload(c, fx["open"], h.stay_lines()[:3])
        fx["outp"] = t.open_visit(c, WANG, kind="outpatient", med_type="11")["visit_id"]
        fx["settled"] = t.open_visit(c, WANG)["visit_id"]
        t.upload(c, fx["settled"], h.stay_lines()[3:5])
        s = c.post("/v1/visits/%s/settle" % fx["settled"],
                   {"discharge": {"time": "2026-11-25 09:30:00"}})
        assert s.status == 200, s
        fx["sid"] = s.json["settlement_id"]
        for k in ("sid_a", "sid_b", "sid_c"):  # one each for the cancel cases
            vid = t.open_visit(c, ZHANG)["visit_id"]
            t.upload(c, vid, h.stay_lines()[8:9])
            s = c.post("/v1/visits/%s/settle" % vid, {"discharge": {"time": "2026-11-25 09:30:00"}})
            assert s.status == 200, s
            fx[k] = s.json["settlement_id"]
        fx["token"] = t.identify(c, ZHANG)
        fx["expired"] = t.identify(c, ZHANG)
        # Half an hour passing, in posad's journal: the token's expiry moves to its creation.
        db = sqlite3.connect(os.path.join(cls.w.dir, "posad", "posad.db"), timeout=10)
        with db:
            n = db.execute("UPDATE identities SET expires_at = created_at WHERE token = ?",
                           (fx["expired"],)).rowcount
        db.close()
        assert n == 1, "no identity row to expire"
        return fx

    def snapshot(self):
        fx = self.fx
        got = [self.c.get("/v1/visits/" + fx[k]).raw for k in ("open", "outp", "settled")]
        got.append(self.c.get("/v1/settlements/" + fx["sid"]).raw)
        q = self.c.get("/v1/queue")
        got.append(len(q.json["rows"]))
        led = self.w.ledger()
        got.append(sorted((u["mdtrt_id"], u["feedetl_sn"], u["state"]) for u in led["uploads"]))
        got.append(sorted((s["setl_id"], s["state"]) for s in led["settlements"]))
        return got

    def run_case(self, case):
        name, method, path, body, headers, (code, status) = case
        fx = self.fx
        path = path.format(**fx)
        if callable(body):
            body = body(fx)
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if isinstance(body, bytes) and len(body) < 100000:
            # Each case's line has its own id: a line wrongly kept by one case must not turn
            # the next case into a CONFLICT over a reused his_line_id.
            body = body.replace(b'"N1"', ('"N-%s-%s"' % (self.transport, name)).encode())
        before = self.snapshot()
        r = self.c.request(method, path, body, headers=headers, timeout=30)
        self.assertTrue(self.w.posad_alive(), "posad died on " + name)
        after = self.snapshot()
        # Both failures at once: a wrong answer that also changed something says so.
        problems = []
        if (r.status, r.code) != (status, code):
            problems.append("expected %d %s, got %r" % (status, code, r))
        for what, b, a in zip(SNAPSHOT_PARTS, before, after):
            if a != b:
                problems.append("it changed %s:\n before %r\n after  %r" % (what, b, a))
        self.assertFalse(problems, "\n".join(problems))
        self.assertError(r, status, code)


def test_a_quantity_of_zero_says_more_than_zero(self):
    # qty "0" was refused as "value out of range", which did not say what was wanted.
    r = self.c.post("/v1/visits/%s/fees" % self.fx["open"], fees(bed(qty="0", amount="0.00")))
    self.assertError(r, 400, "BAD_REQUEST")
    self.assertIn("lines[0].qty: must be more than zero", r.json["error"]["message"], r)


def test_money_as_a_json_number_says_so(self):
    # 45.50 instead of "45.50": refused (its decimals would not be exact), and said so; it
    # said "not a valid decimal number", and the HIS developer could not tell what was wrong.
    r = self.c.post("/v1/visits/%s/fees" % self.fx["open"],
                    fees(dict(bed(), price=45.00, amount="90.00")))
    self.assertError(r, 400, "BAD_REQUEST")
    self.assertIn("lines[0].price: must be a JSON string", r.json["error"]["message"], r)


BadInputBase.test_money_as_a_json_number_says_so = test_money_as_a_json_number_says_so
BadInputBase.test_a_quantity_of_zero_says_more_than_zero = test_a_quantity_of_zero_says_more_than_zero


def test_a_time_in_another_form_says_the_form(self):
    # A zone, or a blank too many: it said "text or list too long".
    for t in ("2026-11-20 10:00:00+08:00", " 2026-11-20 10:00:00"):
        r = self.c.post("/v1/visits", visit(self.fx, begin_time=t))
        self.assertError(r, 400, "BAD_REQUEST")
        self.assertEqual(r.json["error"]["details"]["field"], "begin_time", r)
        self.assertIn("YYYY-MM-DD HH:MM:SS", r.json["error"]["message"], r)


BadInputBase.test_a_time_in_another_form_says_the_form = test_a_time_in_another_form_says_the_form


def test_a_period_in_another_form_says_the_form(self):
    # A day given as the month said "month: text or list too long"; a GET of a report in
    # another form said it its own way. Both say what a date and a month look like.
    for field, value in (("month", "2026-11-01"), ("month", "2026-11-"), ("date", "2026-11"),
                         ("date", "2026/11/01")):
        r = self.c.post("/v1/reconcile", {field: value})
        self.assertError(r, 400, "BAD_REQUEST")
        self.assertEqual(r.json["error"]["details"]["field"], field, r)
        self.assertIn("a date is YYYY-MM-DD, a month YYYY-MM", r.json["error"]["message"], r)
    r = self.c.get("/v1/reconcile/2026-11-1")
    self.assertError(r, 400, "BAD_REQUEST")
    self.assertIn("a date is YYYY-MM-DD, a month YYYY-MM", r.json["error"]["message"], r)


BadInputBase.test_a_period_in_another_form_says_the_form = \
    test_a_period_in_another_form_says_the_form


def test_head_is_a_get_without_its_body(self):
    # A print tool or a monitor asks whether a statement is there: it was 405.
    path = "/v1/documents/settlement/%s" % self.fx["sid"]
    got, head = self.c.get(path), self.c.request("HEAD", path)
    self.assertEqual((head.status, head.raw), (200, b""), head)
    for k in ("Content-Type", "Content-Length"):
        self.assertEqual(head.headers.get(k), got.headers.get(k), (head.headers, got.headers))
    self.assertEqual(self.c.request("HEAD", "/v1/documents/settlement/Sdeadbeefdeadbeef").status,
                     404)
    # Not the event stream (it never ends), nor a POST's address. A 405 says what the path
    # takes (RFC 9110: it must; found by review).
    for path, allow in (("/v1/events?desk=D1", "GET"), ("/v1/identify", "POST")):
        r = self.c.request("HEAD", path)
        self.assertEqual((r.status, r.headers.get("Allow")), (405, allow), path)
    r = self.c.request("DELETE", "/v1/documents/settlement/%s" % self.fx["sid"])
    self.assertEqual((r.status, r.headers.get("Allow")), (405, "GET, HEAD"), r)
    r = self.c.request("GET", "/v1/visits/%s/settle" % self.fx["open"])
    self.assertEqual((r.status, r.headers.get("Allow")), (405, "POST"), r)


BadInputBase.test_head_is_a_get_without_its_body = test_head_is_a_get_without_its_body


def test_a_bad_escape_in_a_forms_visit_id_is_named(self):
    # "V%zz" was "visit_id must be 1 to 63 characters" (found by review).
    for query in ("V%zz", "V%00x", "V%4"):
        r = self.c.get("/v1/documents/forms/outside-purchase?visit_id=" + query)
        self.assertError(r, 400, "BAD_REQUEST")
        self.assertIn("a bad %-escape", r.json["error"]["message"], r)
        self.assertEqual(r.json["error"]["details"]["field"], "visit_id", r)


BadInputBase.test_a_bad_escape_in_a_forms_visit_id_is_named = \
    test_a_bad_escape_in_a_forms_visit_id_is_named


def test_a_discharge_before_a_line_names_the_line(self):
    # A line dated after the discharge was settled without a word (found by review).
    r = self.c.post("/v1/visits/%s/settle" % self.fx["open"],
                    {"discharge": {"time": "2026-11-21 09:00:00"}})
    self.assertError(r, 400, "BAD_REQUEST")
    self.assertEqual(r.json["error"]["details"]["field"], "discharge.time", r)
    self.assertRegex(r.json["error"]["message"],
                     r"before line \S+ of the bill \(2026-11-21 09:30:00\)", r)


BadInputBase.test_a_discharge_before_a_line_names_the_line = \
    test_a_discharge_before_a_line_names_the_line


def test_a_settled_visit_is_409_whatever_its_discharge(self):
    # Its state first: a settled stay's settle with a wrong discharge heard 400 on the date,
    # as if fixing the date would let it settle again (found by review).
    for when in ("2020-01-01 00:00:00", "2026-11-21 09:00:00"):
        for what in ("settle", "presettle"):
            r = self.c.post("/v1/visits/%s/%s" % (self.fx["settled"], what),
                            {"discharge": {"time": when}})
            self.assertError(r, 409, "CONFLICT")
            self.assertIn("the visit is settled", r.json["error"]["message"], r)


BadInputBase.test_a_settled_visit_is_409_whatever_its_discharge = \
    test_a_settled_visit_is_409_whatever_its_discharge


def test_malformed_json_says_where(self):
    # A pretty-printed body with a comma too many: where it stops being JSON, for the HIS's
    # developer (it said only "not valid JSON").
    body = b'{\n  "his_visit_id": "V1",\n  "insutype": "310",,\n}'
    r = self.c.post("/v1/visits", body)
    self.assertError(r, 400, "BAD_REQUEST")
    self.assertIn("not valid JSON", r.json["error"]["message"], r)
    self.assertIn("line 3, column 21", r.json["error"]["message"], r)


BadInputBase.test_malformed_json_says_where = test_malformed_json_says_where


def test_a_byte_order_mark_is_named(self):
    # What .NET's UTF8Encoding writes first: said as "not valid JSON at line 1, column 1",
    # which sent the HIS's developer looking at the JSON (found by review).
    for path in ("/v1/visits", "/v1/identify", "/v1/visits/%s/fees" % self.fx["open"]):
        r = self.c.post(path, b"\xef\xbb\xbf" + json.dumps({"x": 1}).encode())
        self.assertError(r, 400, "BAD_REQUEST")
        self.assertIn("byte-order mark (EF BB BF): send the JSON without it",
                      r.json["error"]["message"], r)


BadInputBase.test_a_byte_order_mark_is_named = test_a_byte_order_mark_is_named


def test_an_amount_off_names_its_field(self):
    # 2 x 45.00 sent as 90.02: details.field is the line's amount, as documented (it was
    # "lines").
    r = self.c.post("/v1/visits/%s/fees" % self.fx["open"],
                    fees(dict(bed(), qty="2", price="45.00", amount="90.02")))
    self.assertError(r, 400, "BAD_REQUEST")
    self.assertEqual(r.json["error"]["details"]["field"], "lines[0].amount", r)


BadInputBase.test_an_amount_off_names_its_field = test_an_amount_off_names_its_field


def test_a_key_twice_is_named(self):
    body = ('{"lines":[%s]}' % twice(bed(), "amount", "91.00").decode()).encode()
    r = self.c.post("/v1/visits/%s/fees" % self.fx["open"], body)
    self.assertError(r, 400, "BAD_REQUEST")
    # with its line, as every field error (found by review: "amount" of which line?)
    self.assertEqual(r.json["error"]["details"]["field"], "lines[0].amount", r)
    self.assertIn("appears twice", r.json["error"]["message"], r)


BadInputBase.test_a_key_twice_is_named = test_a_key_twice_is_named


def test_a_value_not_allowed_lists_those_that_are(self):
    # "fax" for source, "daycare" for kind: it said only "missing or malformed".
    r = self.c.post("/v1/identify", {"source": "fax"})
    self.assertError(r, 400, "BAD_REQUEST")
    self.assertEqual(r.json["error"]["message"], "source: must be one of card, qr, id, auto", r)
    r = self.c.post("/v1/visits", visit(self.fx, kind="daycare"))
    self.assertError(r, 400, "BAD_REQUEST")
    self.assertEqual(r.json["error"]["details"]["field"], "kind", r)
    self.assertEqual(r.json["error"]["message"], "kind: must be one of outpatient, inpatient", r)
    # ... and an outside line's kind, nested in its line (found by review)
    r = self.c.post("/v1/visits/%s/fees" % self.fx["open"], fees(bed(outside={
        "institution_code": "H31010500002", "kind": "purchase", "form_ref": "F1"})))
    self.assertError(r, 400, "BAD_REQUEST")
    self.assertEqual(r.json["error"]["details"]["field"], "lines[0].outside.kind", r)
    self.assertEqual(r.json["error"]["message"],
                     "lines[0].outside.kind: must be one of exam, treatment, pharmacy", r)
    # An unknown or expired identity_token names its field (details was empty)
    for token in ("Tnosuchtoken", self.fx["expired"]):
        r = self.c.post("/v1/visits", visit(self.fx, identity_token=token))
        self.assertError(r, 400, "BAD_REQUEST")
        self.assertEqual(r.json["error"]["details"].get("field"), "identity_token", r)
    # ... and an empty form or institution, at its own field (it named lines[0] alone)
    for key in ("form_ref", "institution_code"):
        outside = {"institution_code": "H31010500002", "kind": "exam", "form_ref": "F1"}
        outside[key] = ""
        r = self.c.post("/v1/visits/%s/fees" % self.fx["open"], fees(bed(outside=outside)))
        self.assertError(r, 400, "BAD_REQUEST")
        self.assertEqual(r.json["error"]["details"]["field"], "lines[0].outside." + key, r)
    # A field of the wrong type, optional or not: not called "required"
    r = self.c.post("/v1/visits/%s/settle" % self.fx["open"], {"use_account": "true"})
    self.assertEqual(r.json["error"]["message"],
                     "use_account: missing, or not of the type or form this field takes", r)


BadInputBase.test_a_value_not_allowed_lists_those_that_are = (
    test_a_value_not_allowed_lists_those_that_are)


def _make(case):
    def test(self):
        self.run_case(case)
    test.__doc__ = "%s %s -> %s %s" % (case[1], case[2], case[5][1], case[5][0])
    return test


for _case in CASES:
    setattr(BadInputBase, "test_" + _case[0], _make(_case))


class RawHttpBase(h.HisTestCase):
    """Broken HTTP itself: posad answers (or closes) and stays up. Only the status is checked
    here; the JSON error body of HTTP-level refusals is bug 5 of his-bugs.md."""
    transport = None

    def raw(self, data, read=True, whole=False):
        """data sent as it is; the answer's head (whole: all until posad closes)."""
        c = self.unix if self.transport == "unix" else self.tcp
        conn = c._conn(10)
        conn.connect()
        try:
            conn.sock.sendall(data)
            if not read:
                return None
            chunks = []
            while True:
                try:
                    b = conn.sock.recv(65536)
                except (ConnectionResetError, TimeoutError):
                    break
                if not b:
                    break
                chunks.append(b)
                if not whole and b"\r\n\r\n" in b"".join(chunks):
                    break
            return b"".join(chunks)
        finally:
            conn.close()

    def status_of(self, answer):
        self.assertTrue(answer, "no answer")
        return int(answer.split(b" ", 2)[1])

    def test_garbage_request_line(self):
        self.assertEqual(self.status_of(self.raw(b"HELLO posad\r\n\r\n")), 400)

    def test_a_head_read_otherwise_elsewhere_says_what(self):
        # HTTP/1.1 without Host, a name that is no token, a coding other than chunked: refused
        # (a proxy or a browser may read them otherwise), saying which, and logged: a
        # hand-written HIS client got "not valid HTTP" and nothing in the log.
        for head, status, words in (
                (b"GET /v1/health HTTP/1.1\r\n\r\n", 400, b"without a Host header"),
                (b"GET /v1/health HTTP/1.1\r\nHost : evil.example\r\n\r\n", 400,
                 b"not a token"),
                (b"POST /v1/identify HTTP/1.1\r\nHost: localhost\r\n"
                 b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
                 b"Transfer-Encoding other than chunked")):
            a = self.raw(head, whole=True)
            self.assertEqual(self.status_of(a), status, a)
            self.assertIn(words, a, a)
        self.assertIn("http_refused", self.w.log_tail(n=2000))
        self.assertEqual(self.raw(b"GET /v1/health HTTP/1.0\r\n\r\n").split(b" ", 2)[1], b"200")

    def test_headers_over_16k(self):
        a = self.raw(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * 20000 +
                     b"\r\n\r\n")
        self.assertEqual(self.status_of(a), 431)

    def test_body_shorter_than_content_length_then_close(self):
        self.raw(b"POST /v1/identify HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{",
                 read=False)
        r = (self.unix if self.transport == "unix" else self.tcp).get("/v1/health")
        self.assertEqual(r.status, 200, r)

    def test_bodies_held_at_once_are_bounded(self):
        # Eight uploads of 16 MiB on their way hold the 128 MiB posad keeps for bodies: a
        # ninth request with a body gets 503 INTERNAL (retryable), one without a body still
        # goes, and once an upload is given up, bodies go through again.
        c = self.unix if self.transport == "unix" else self.tcp
        head = (b"POST /v1/identify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % (16 << 20))
        held = []

        def ninth():
            return c.post("/v1/identify", {"source": "id", "certno": "1"})

        try:
            for _ in range(8):
                conn = c._conn(30)
                conn.connect()
                conn.sock.sendall(head + b" " * (9 << 20))
                held.append(conn)
            h.wait_until(lambda: ninth().status == 503, 10, "a ninth body refused", step=0.1)
            r = ninth()
            self.assertError(r, 503, "INTERNAL")
            self.assertIs(r.json["error"]["retryable"], True, r)
            self.assertEqual(c.get("/v1/health").status, 200)
        finally:
            for conn in held:
                conn.close()
        h.wait_until(lambda: ninth().status == 400, 10, "bodies taken again", step=0.1)

    def test_requests_from_web_pages_are_refused(self):
        # Without tokens, a loopback listener would serve any page open in the cashier's
        # browser: a cross-site POST (text/plain needs no preflight) carries an Origin, and a
        # page that rebinds its name to 127.0.0.1 names itself in Host. Refused on TCP, with
        # nothing done; the Unix socket is out of a browser's reach.
        def status(head):
            return self.status_of(self.raw(head + b"\r\n\r\n"))

        body = b'{"source":"id","certno":"320211195603120157"}'
        post = (b"POST /v1/identify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                b"Origin: http://attacker.example\r\nContent-Length: %d\r\n\r\n" % len(body)
                + body)
        queue = b"GET /v1/queue HTTP/1.1\r\nHost: attacker.example:8470"
        foreign = 200 if self.transport == "unix" else 403
        self.assertEqual(self.status_of(self.raw(post)), foreign)
        self.assertEqual(status(queue), foreign)
        self.assertEqual(status(b"GET /v1/queue HTTP/1.1\r\nHost: 10.1.2.3"), foreign)
        me = socket.gethostname().encode()
        for host in (b"127.0.0.1:8470", b"localhost", b"LOCALHOST:1", b"[::1]:8470", me,
                     me.split(b".")[0] + b":8470"):
            self.assertEqual(status(b"GET /v1/queue HTTP/1.1\r\nHost: " + host), 200, host)
        # Another name of one label: a page may rebind one where the LAN resolves them.
        self.assertEqual(status(b"GET /v1/queue HTTP/1.1\r\nHost: posad-not-this-host"),
                         foreign)
        if self.transport == "tcp":
            r = self.tcp.post("/v1/identify", body.decode(),
                              headers={"Origin": "http://attacker.example"})
            self.assertError(r, 403, "FORBIDDEN")
            self.assertIn("web page", r.json["error"]["message"])

    def test_bad_content_length(self):
        a = self.raw(b"POST /v1/identify HTTP/1.1\r\nHost: localhost\r\nContent-Length: -5\r\n\r\n")
        self.assertEqual(self.status_of(a), 400)


class RawHttpOverUnixSocket(RawHttpBase):
    transport = "unix"


class RawHttpOverTcp(RawHttpBase):
    transport = "tcp"


del RawHttpBase


class BadInputOverUnixSocket(BadInputBase):
    transport = "unix"


class BadInputOverTcp(BadInputBase):
    transport = "tcp"


del BadInputBase

if __name__ == "__main__":
    h.main()
