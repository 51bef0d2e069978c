"""docs/examples/curl_session.sh, the documented curl session, run for real against posad and
posa-sandbox (default scenario) over TCP and over the Unix socket, so the example cannot rot:
it must settle the stay, repeat the settle idempotently and save the statement.

Usage: test_curl_session.py POSAD POSA_SANDBOX SOURCE_DIR [unittest args]"""
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "his"))
import hisharness as h  # noqa: E402


@unittest.skipUnless(shutil.which("curl"), "curl is not installed")
class CurlSession(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.world = h.World()
        try:
            cls.world.start()
        except BaseException:
            cls.world.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.world.stop()

    def run_session(self, **env):
        statement = os.path.join(self.world.dir, "statement-%s.html" % "-".join(env))
        e = {k: v for k, v in os.environ.items()
             if k not in ("POSA_URL", "POSA_SOCKET", "POSA_CACERT")}
        e.update(env, STATEMENT=statement)
        p = subprocess.run([os.path.join(h.SOURCE, "docs", "examples", "curl_session.sh")],
                           cwd=h.SOURCE, env=e, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr)
        m = re.search(r"^done: visit (V\w+) settled as (S\w+)$", p.stdout, re.M)
        self.assertIsNotNone(m, p.stdout[-2000:])
        # The statement is the settlement's printable HTML.
        with open(statement, encoding="utf-8") as f:
            html = f.read()
        self.assertIn("<!DOCTYPE html>", html)
        self.assertIn("结算单", html)
        # Settled once: posad knows it as settled, and the repeated settle made no second one.
        s = self.world.unix.get("/v1/settlements/" + m.group(2)).json
        self.assertEqual((s["state"], s["visit_id"]), ("settled", m.group(1)), s)
        self.assertEqual(p.stdout.count("settled as "), 1)
        self.assertEqual(len(re.findall(r'"settlement_id":"%s"' % m.group(2), p.stdout)), 3,
                         p.stdout[-3000:])
        return p.stdout

    def test_over_tcp(self):
        if h.TLS:  # a TLS listener: https, with the CA of the run's certificate
            out = self.run_session(POSA_URL="https://127.0.0.1:%d" % self.world.pd_port,
                                   POSA_CACERT=self.world.cert)
        else:
            out = self.run_session(POSA_URL="http://127.0.0.1:%d" % self.world.pd_port)
        self.assertIn("张建国, cross-province: True, filing: filed", out)

    def test_over_unix_socket(self):
        self.run_session(POSA_SOCKET=self.world.sock_path)


def main():
    if len(sys.argv) < 4:
        sys.stderr.write("usage: %s POSAD POSA_SANDBOX SOURCE_DIR\n" % sys.argv[0])
        sys.exit(2)
    h.POSAD, h.SANDBOX, h.SOURCE = sys.argv[1], sys.argv[2], sys.argv[3]
    prog = unittest.main(module="__main__", argv=[sys.argv[0]] + sys.argv[4:], verbosity=2,
                         exit=False)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
