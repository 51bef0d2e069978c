"""The HIS API's TCP listener over TLS ([his] tls_cert, tls_key): what only TLS has. A client
that speaks plain HTTP, or garbage, or an old protocol, gets no answer and changes nothing;
requests pipelined in one TLS write, one of them larger than the read buffer, are answered in
order; a visit is billed over it. (The other test files run over TLS too, under
POSA_TEST_TLS=1: see CMakeLists.txt.)"""
import os
import re
import shutil
import subprocess
import signal
import socket
import ssl
import sys
import tempfile
import unittest
import warnings

os.environ["POSA_TEST_TLS"] = "1"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hisharness as h  # noqa: E402

ZHANG = "32020000000000000000000101"


class Tls(h.HisTestCase):
    def raw_tcp(self):
        return socket.create_connection(("127.0.0.1", self.w.pd_port), timeout=5)

    def read_all(self, sock):
        data = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return data
                data += chunk
        except (socket.timeout, ConnectionResetError, ssl.SSLError):
            return data

    def assertStillServes(self):
        r = self.tcp.get("/v1/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.tcp.transport, "tls")

    def test_request_and_close_notify_in_one_write(self):
        # A client that sends its request and its close_notify at once (openssl s_client
        # without -ign_eof) is answered before the connection closes.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(inc, out, server_hostname="posad")
        with self.raw_tcp() as s:
            def pump():
                data = s.recv(65536)
                if not data:
                    raise ConnectionError("closed")
                inc.write(data)
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    s.sendall(out.read())
                    pump()
            s.sendall(out.read())
            tls.write(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            try:
                tls.unwrap()  # writes close_notify after the request, then wants the peer's
            except ssl.SSLWantReadError:
                pass
            s.sendall(out.read())  # the request and the close_notify, in one write
            answer = b""
            try:
                while b"\r\n\r\n" not in answer:
                    pump()
                    try:
                        answer += tls.read(65536)
                    except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                        pass
            except (ConnectionError, socket.timeout):
                pass
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:200])
        self.assertStillServes()

    def test_plain_http_gets_no_http_answer(self):
        with self.raw_tcp() as s:
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = self.read_all(s)
        self.assertNotIn(b"HTTP/1.1", answer)
        self.assertNotIn(b"upstream", answer)
        self.assertStillServes()

    def test_garbage_and_half_handshakes(self):
        for junk in (b"\x16\x03\x01\x00\x05hello", b"\x00" * 4096, os.urandom(20000), b""):
            with self.subTest(junk=junk[:8]):
                with self.raw_tcp() as s:
                    try:
                        s.sendall(junk)
                        s.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass  # refused and closed before all of it was sent
                    self.read_all(s)
        self.assertStillServes()

    def test_old_protocols_refused(self):
        ctx = ssl.create_default_context(cafile=self.w.cert)
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except ValueError:
            self.skipTest("this Python cannot offer TLS 1.1")
        ctx.set_ciphers("DEFAULT@SECLEVEL=0")  # else this client refuses before asking
        with self.raw_tcp() as s:
            with self.assertRaises(ssl.SSLError) as caught:
                ctx.wrap_socket(s, server_hostname="127.0.0.1")
        # The server's alert, not this client's own refusal.
        self.assertIn("ALERT_PROTOCOL_VERSION", str(caught.exception))
        self.assertStillServes()

    def test_only_forward_secret_aead_suites_on_tls12(self):
        # OpenSSL's default list kept the CBC suites with SHA-1 MACs (ECDHE-ECDSA-AES128-SHA).
        for suites, ok in (("ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA", False),
                           ("AES128-GCM-SHA256", False),  # no forward secrecy
                           ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256", True)):
            ctx = ssl.create_default_context(cafile=self.w.cert)
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers(suites)
            with self.subTest(suites=suites), self.raw_tcp() as s:
                if ok:
                    ctx.wrap_socket(s, server_hostname="127.0.0.1").close()
                else:
                    with self.assertRaises(ssl.SSLError):
                        ctx.wrap_socket(s, server_hostname="127.0.0.1")
        self.assertStillServes()

    def test_untrusted_client_side_sees_our_certificate(self):
        # The certificate presented is the configured one: a client that trusts only the
        # system's authorities refuses it.
        with self.raw_tcp() as s:
            with self.assertRaises(ssl.SSLCertVerificationError):
                ssl.create_default_context().wrap_socket(s, server_hostname="127.0.0.1")
        self.assertStillServes()

    def test_pipelined_requests_in_one_write(self):
        # The first request's body is larger than the connection's read buffer (16 KiB) and
        # arrives in the same TLS write as two more: posad decrypts what fits, parses, and
        # takes the rest from the TLS layer as it goes. Three answers, in order.
        big = b'{"source":"id","certno":"' + b"9" * 40000 + b'"}'
        reqs = (b"POST /v1/identify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(big) + big +
                b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n" +
                b"GET /v1/nosuch HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        ctx = self.tcp.tls_context()
        with ctx.wrap_socket(self.raw_tcp(), server_hostname="127.0.0.1") as s:
            s.sendall(reqs)
            answer = self.read_all(s)
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
        self.assertEqual(statuses, [b"400", b"200", b"404"], answer[:600])
        self.assertIn(b'"BAD_REQUEST"', answer)

    def test_client_writing_while_its_request_waits_is_held_back(self):
        # While a request waits (its 1101 held 3 s by the platform), the client goes on
        # writing. On TLS posad stops reading until it answers: the bytes wait in the
        # kernel, the client's writes block, and posad does not buffer them (it did: 300 MB
        # of RSS for 300 MB sent). Then it answers the request.
        status, raw = self.w.sandbox_request("POST", "/sandbox/faults",
                                             {"infno": "1101", "mode": "delay",
                                              "delay_ms": 3000, "count": 1})
        self.assertEqual(status, 200, raw)
        body = ('{"source":"id","certno":"%s"}' % h.PERSONS[ZHANG]).encode()
        req = (b"POST /v1/identify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
        rss_before = self.posad_rss_kb()
        ctx = self.tcp.tls_context()
        with ctx.wrap_socket(self.raw_tcp(), server_hostname="127.0.0.1") as s:
            s.sendall(req)
            s.settimeout(1.5)
            sent, junk = 0, b"x" * 65536
            try:
                while sent < 64 * 1024 * 1024:
                    s.sendall(junk)
                    sent += len(junk)
            except (socket.timeout, ssl.SSLError, OSError):
                pass
            grown = self.posad_rss_kb() - rss_before
            self.assertLess(sent, 32 * 1024 * 1024, "posad read everything the client sent")
            self.assertLess(grown, 16 * 1024, "posad's RSS grew by %d KiB" % grown)
            s.settimeout(10)
            answer = s.recv(65536)
        self.assertIn(b"HTTP/1.1 200 ", answer[:40], answer[:300])

    def posad_rss_kb(self):
        with open("/proc/%d/status" % self.w.posad.pid) as f:
            return int(next(ln for ln in f if ln.startswith("VmRSS:")).split()[1])

    def test_visit_billed_over_tls(self):
        # The settlements of policy.md run over TLS in test_policy under POSA_TEST_TLS=1;
        # here: a stay identified, opened and billed over TLS while an SSE stream is open on
        # the same listener.
        stream = h.SseStream(self.tcp, "/v1/events?desk=D01")
        try:
            self.assertEqual(stream.status, 200)
            visit = self.open_visit(self.tcp, ZHANG)
            up = self.upload(self.tcp, visit["visit_id"], h.stay_lines())
            self.assertEqual(up["totals"]["amount"], "10000.00", up)  # STAY_10000's sum
        finally:
            stream.close()


class TlsReload(h.HisTestCase):
    """SIGHUP takes a renewed certificate for new connections; a broken one leaves the old."""

    def handshake_with(self, cafile):
        ctx = ssl.create_default_context(cafile=cafile)
        with socket.create_connection(("127.0.0.1", self.w.pd_port), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1"):
                return True

    def reloads(self):
        return self.w.log_tail(n=10 ** 7).count("event=tls_reload")

    def hup(self):
        before = self.reloads()
        self.w.posad.send_signal(signal.SIGHUP)
        h.wait_until(lambda: self.reloads() > before, 5, "posad logs the reload")

    def test_sighup(self):
        old = os.path.join(self.w.dir, "old-cert.pem")
        shutil.copy(self.w.cert, old)
        self.assertTrue(self.handshake_with(old))
        # A broken pair (the certificate rewritten, the key not yet): the old one stays.
        d = tempfile.mkdtemp(prefix="posa-his-cert-")
        self.addCleanup(shutil.rmtree, d, True)
        new_cert, new_key = h.make_certificate(d)
        shutil.copy(new_cert, self.w.cert)
        self.hup()
        self.assertTrue(self.handshake_with(old))
        self.assertIn("tls_reload_failed", self.w.log_tail())
        # The key follows: the new pair serves new connections.
        shutil.copy(new_key, self.w.key)
        self.hup()
        self.assertTrue(self.handshake_with(new_cert))
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.handshake_with(old)
        r = h.Client("tls", port=self.w.pd_port, cafile=new_cert).get("/v1/health")
        self.assertEqual(r.status, 200, r)

        # A renewed key under a passphrase is refused and said so (OpenSSL asked for the
        # passphrase on posad's terminal, holding every desk; without one, "PEM lib").
        shutil.copy(new_key, os.path.join(d, "plain-key.pem"))
        subprocess.run(["openssl", "pkey", "-in", os.path.join(d, "plain-key.pem"), "-aes256",
                        "-passout", "pass:secret", "-out", self.w.key], check=True)
        self.hup()
        log = self.w.log_tail()
        self.assertIn("not a PEM private key without a passphrase",
                      log[log.rfind("tls_reload_failed"):])
        self.assertTrue(self.handshake_with(new_cert))

    def test_a_refused_config_keeps_the_certificate(self):
        # A renewed pair whose key every account may read: the file is refused, and with it
        # the pair (the key was loaded while the log said the running config was kept).
        old = os.path.join(self.w.dir, "old-cert.pem")
        shutil.copy(self.w.cert, old)
        d = tempfile.mkdtemp(prefix="posa-his-cert-")
        self.addCleanup(shutil.rmtree, d, True)
        new_cert, new_key = h.make_certificate(d)
        shutil.copy(new_cert, self.w.cert)
        shutil.copy(new_key, self.w.key)
        os.chmod(self.w.key, 0o644)
        refusals = self.w.log_tail(n=10 ** 7).count("event=config_reload_failed")
        self.w.posad.send_signal(signal.SIGHUP)
        h.wait_until(lambda: self.w.log_tail(n=10 ** 7).count("event=config_reload_failed") >
                     refusals, 5, "posad logs the refusal")
        log = self.w.log_tail()
        self.assertIn("every account may use this private key", log)
        self.assertIn("kept=\"the running config and TLS certificate\"", log)
        self.assertNotIn("tls_reloaded", log)
        self.assertTrue(self.handshake_with(old))
        # Made private, the same pair is taken.
        os.chmod(self.w.key, 0o600)
        self.hup()
        self.assertTrue(self.handshake_with(new_cert))


if __name__ == "__main__":
    h.main()
