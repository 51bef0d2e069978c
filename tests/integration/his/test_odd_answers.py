"""Answers of a platform that is not posa-sandbox: a fake one (Python's HTTP server) that
signs posad in and answers each 1101 as the test scripts it. What is no envelope (an HTTP
500 with a NUL byte in it, a gateway's HTML page) is no answer: nothing of it is journaled
or replayed, posad stays up whatever its size, and the question may be asked again."""
import http.server
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ENVELOPE = {"infcode": 0, "inf_refmsgid": "310000202611250900000000000001",
            "refmsg_time": "20261125090000000", "respond_time": "20261125090000000",
            "err_msg": None, "warn_msg": None, "cainfo": "", "signtype": ""}
SIGN_IN = {"signinoutb": {"sign_time": "2026-11-25 09:00:00", "sign_no": "SIGN0001"}}


class FakePlatform(http.server.BaseHTTPRequestHandler):
    answers = []  # (status, body) for the next 1101s, in order; then a refusal envelope

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        if body.get("infno") == "9001":
            status, out = 200, json.dumps(dict(ENVELOPE, output=SIGN_IN)).encode()
        elif body.get("infno") == "1101" and FakePlatform.answers:
            status, out = FakePlatform.answers.pop(0)
        else:
            status, out = 200, json.dumps(dict(ENVELOPE, infcode=-1, err_msg="查无此人",
                                               output={})).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class OddWorld(h.World):
    """posad against the fake platform: no sandbox, no catalog to wait for."""

    def start(self):
        self.fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakePlatform)
        threading.Thread(target=self.fake.serve_forever, daemon=True).start()
        self.sb_port = self.fake.server_address[1]
        self.pd_port = h.free_port()
        self.write_conf()
        self.posad = self._spawn([h.POSAD, "--config", self.conf_path], "posad.log")
        h.wait_until(self._online, 20, "posad upstream online", step=0.1)
        self.tcp = self.tcp_client()
        self.unix = h.Client("unix", path=self.sock_path)
        return self

    def stop(self):
        super().stop()
        self.fake.shutdown()


class OddAnswers(h.HisTestCase):
    @classmethod
    def setUpClass(cls):
        if h.HisTestCase.world is None:
            h.HisTestCase.world = OddWorld().start()
        super().setUpClass()

    def ask(self, msgid):
        env = {"infno": "1101", "msgid": msgid,
               "input": {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "X"}}}
        r = self.unix.post("/fsi/api/rsfComIfsService/callService", env)
        self.assertEqual(r.status, 200, r)
        return r.json

    def test_a_body_with_a_nul_is_no_answer(self):
        for size in (4000, 12 << 20):  # the larger crashed posad (it read past its copy)
            msgid = "NUL%d%d" % (os.getpid(), size)
            FakePlatform.answers = [(500, b'{"oops":"\x00' + b"Z" * size + b'"}')]
            answer = self.ask(msgid)
            self.assertEqual(answer["infcode"], -1, answer)
            self.assertIn("an error page (HTTP 500), not a reply", answer["err_msg"])
            self.assertTrue(self.w.posad_alive(), self.w.log_tail())
            self.assertEqual(self.posad_row("SELECT response FROM journal WHERE idem_key = ?",
                                            (msgid,)), (None,))

    def test_an_error_page_is_not_replayed_as_the_answer(self):
        msgid = "PAGE%d" % os.getpid()
        FakePlatform.answers = [(500, b"<html>502 Bad Gateway</html>"),
                                (200, json.dumps(dict(ENVELOPE, output={"baseinfo": {}}))
                                 .encode())]
        self.assertEqual(self.ask(msgid)["infcode"], -1)
        # The same question again (posad sends while degraded: it stays so until a message
        # answers): asked again, its answer relayed (it was the error page, as HTTP 200, for
        # good).
        answer = self.ask(msgid)
        self.assertEqual(answer["infcode"], 0, answer)
        self.assertEqual(FakePlatform.answers, [])

    def test_an_answer_with_a_key_twice(self):
        # JSON with a key written twice: json-c kept the last (a psn_cash_pay then "0.00"
        # settled as 0.00 cash); now such an answer is not read, as one that cannot be
        # (named in the log), and the platform's health is not held against it.
        msgid = "TWICE%d" % os.getpid()
        twice = (b'{"infcode":0,"inf_refmsgid":"x","output":{"baseinfo":{"psn_no":"A",'
                 b'"psn_no":"B"}}}')
        FakePlatform.answers = [(200, twice)]
        failures = self.w.log_tail(n=10 ** 7).count("event=upstream_degraded")
        answer = self.ask(msgid)
        self.assertEqual(answer["infcode"], -1, answer)
        self.assertIn("gives a key twice", answer["err_msg"], answer)
        # an answer, if one that cannot be read: not a failure of the platform's
        self.assertEqual(self.w.log_tail(n=10 ** 7).count("event=upstream_degraded"), failures)
        self.assertNotEqual(self.tcp.get("/v1/health").json["upstream"]["state"], "offline")
        # the key with its place in the answer
        self.assertIn("event=answer_key_twice msgid=%s infno=1101 key=output.baseinfo.psn_no"
                      % answer["inf_refmsgid"], self.w.log_tail(n=200000))


if __name__ == "__main__":
    h.main()
