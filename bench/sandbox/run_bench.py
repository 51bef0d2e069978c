#!/usr/bin/python3
"""Runs the posa-sandbox settlement benchmark: starts posa-sandbox on a free loopback port
(default catalog and regions, 256 long-term persons, a fresh data dir), signs in, writes the
plan (persons and a 50-line inpatient bill) and runs bench_sandbox at 1, 8 and 64 clients.

usage: run_bench.py POSA_SANDBOX BENCH_SANDBOX [--clients 1,8,64] [--seconds 3] [--lines 50]
(BENCH_SANDBOX_ARGS in the environment: more posa-sandbox options)
Example (from the repository root, after building both targets in build/):
  /usr/bin/python3 bench/sandbox/run_bench.py build-bench/sandbox/posa-sandbox \
      build-bench/bench/sandbox/bench_sandbox
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "sandbox"))
import harness  # noqa: E402


def scenario(n_persons):
    with open(os.path.join(ROOT, "sandbox", "scenarios", "default.json"), encoding="utf-8") as f:
        s = json.load(f)
    s["persons"] = []
    for i in range(n_persons):
        s["persons"].append(harness.person(
            "3202000000000000000%07d" % (i + 1), "压测%03d" % i, harness.WUXI,
            [harness.filing("long_term", "2020-01-01", None)],
            seq="%03d" % (i % 1000), birthday="%04d-%02d-%02d" % (1950 + i % 50,
                                                                   1 + i % 12, 1 + i % 28)))
    return s


def bill(catalog, n_lines):
    """n_lines fee lines of in-scope items priced at their limit, 1-3 units each."""
    items = [c for c in catalog if c["chrgitm_lv"] in ("01", "02") and c["price_limit"]]
    lines, total = [], Decimal("0.00")
    for i in range(n_lines):
        c = items[i % len(items)]
        price = Decimal(c["price_limit"]).quantize(Decimal("0.01"))
        cnt = 1 + i % 3
        amount = price * cnt
        total += amount
        lines.append((c["list_code"], str(price), str(cnt), str(amount)))
    return lines, total


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def print_budget(out, sandbox_s, client_s):
    """The sandbox and its load client share this machine: their CPU per settlement bounds
    what its cores can do at all, whatever the latency."""
    n = sum(int(m) for m in re.findall(r"settlements=(\d+)", out))
    if not n:
        return
    sb_ms, cl_ms, cores = sandbox_s / n * 1e3, client_s / n * 1e3, os.cpu_count() or 1
    print("CPU per settlement (all levels): posa-sandbox %.2f ms + load client %.2f ms; %d cores "
          "allow at most %d/s; 3000/s needs both together at <= %.2f ms"
          % (sb_ms, cl_ms, cores, cores * 1000 / (sb_ms + cl_ms), cores / 3.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sandbox")
    ap.add_argument("client")
    ap.add_argument("--clients", default="1,8,64")
    ap.add_argument("--seconds", default="3")
    ap.add_argument("--lines", type=int, default=50)
    ap.add_argument("--persons", type=int, default=256)
    args = ap.parse_args()
    harness.SANDBOX_BIN = os.path.abspath(args.sandbox)
    s = scenario(args.persons)
    sb = harness.Sandbox(s, args=os.environ.get("BENCH_SANDBOX_ARGS", "").split()).start()
    try:
        sb.sign_in()
        lines, total = bill(s["catalog"], args.lines)
        plan = os.path.join(sb.tmp, "plan.txt")
        with open(plan, "w", encoding="utf-8") as f:
            for p in s["persons"]:
                f.write("P %s %s %s %s\n" % (p["psn_no"], p["certno"], p["insuplc_admdvs"],
                                             p["insutype"]))
            for ln in lines:
                f.write("L %s %s %s %s\n" % ln)
            f.write("T %s\n" % total)
        print("posa-sandbox pid %d port %d; %d lines, medfee_sumamt %s"
              % (sb.proc.pid, sb.port, len(lines), total), flush=True)
        sb_cpu, child = cpu_seconds(sb.proc.pid), resource.getrusage(resource.RUSAGE_CHILDREN)
        run = subprocess.run([os.path.abspath(args.client), "--port", str(sb.port), "--plan",
                              plan, "--sign-no", sb.sign_no, "--clients", args.clients,
                              "--seconds", args.seconds], stdout=subprocess.PIPE, text=True)
        rc = run.returncode
        print(run.stdout, end="", flush=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        print_budget(run.stdout, cpu_seconds(sb.proc.pid) - sb_cpu,
                     after.ru_utime + after.ru_stime - child.ru_utime - child.ru_stime)
        if not sb.alive():
            print("posa-sandbox died:\n" + sb.log_tail(), file=sys.stderr)
            rc = rc or 1
    finally:
        sb.cleanup()
    sys.exit(rc)


if __name__ == "__main__":
    main()
