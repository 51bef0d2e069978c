#!/usr/bin/python3
"""Instructions per settlement, counted by callgrind: a figure that does not move with the
host's load, for telling a 3% change from noise (the timed benchmarks move by a quarter
through the day on a shared machine). User space only: the kernel's share (sockets,
fdatasync) is not in it, so it is for comparing builds, not a target.

    bench/instructions.py BUILD [--flow sandbox|forward|his] [--measure posad|sandbox]
                                [--seconds 10] [--clients 1]

--flow sandbox: inpatient settlements (1101 -> 2401 -> 2301 with 50 lines -> 2304) straight to
posa-sandbox, which is measured. --flow forward: the same through posad's passthrough,
measuring posad. --flow his (default): outpatient settlements through posad's HIS API
(identify -> visit -> 20 lines -> settle), measuring posad, or with --measure sandbox the
sandbox behind it. One client, after a warm-up (--clients N: N at once, his flow only); needs
valgrind (Debian: valgrind).
"""
import argparse
import glob
import importlib.util
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("his_bench",
                                               os.path.join(ROOT, "bench", "his", "run_bench.py"))
his_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(his_bench)
agent_bench = his_bench.agent_bench


def callgrind(out):
    """The command prefix: counting starts only when callgrind_control turns it on."""
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", "-q",
            "--callgrind-out-file=" + out]


def total_ir(out):
    files = glob.glob(out + "*")
    if not files:
        raise RuntimeError("callgrind wrote nothing to " + out)
    text = subprocess.run(["callgrind_annotate", max(files, key=os.path.getsize)],
                          capture_output=True, text=True, check=True).stdout
    return int(re.search(r"([\d,]+)\s+\(100.0%\)\s+PROGRAM TOTALS", text).group(1)
               .replace(",", ""))


def count_on(pid):
    subprocess.run(["callgrind_control", "-i", "on", str(pid)], check=True,
                   capture_output=True)


def sandbox_wrapper(w, out):
    """harness.py starts posa-sandbox by path: a script that runs it under callgrind."""
    path = os.path.join(w.tmp, "posa-sandbox-callgrind")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec %s %s \"$@\"\n"
                % (" ".join(callgrind(out)), os.path.join(w.build, "sandbox", "posa-sandbox")))
    os.chmod(path, stat.S_IRWXU)
    return path


def flow_sandbox(w, out, seconds):
    agent_bench.harness.SANDBOX_BIN = sandbox_wrapper(w, out)
    w.start_sandbox(lines=50)
    count_on(w.sb.proc.pid)
    run = subprocess.run([os.path.join(w.build, "bench", "sandbox", "bench_sandbox"),
                          "--port", str(w.sb.port), "--plan", w.plan, "--sign-no",
                          w.sb.sign_no or "", "--clients", "1", "--seconds", str(seconds)],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    w.sb.stop()  # SIGTERM: callgrind writes its counts at exit
    return int(re.search(r"settlements=(\d+)", run).group(1)), "posa-sandbox", "inpatient"


def flow_forward(w, out, seconds):
    w.posad_prefix = callgrind(out)
    w.start_sandbox(lines=50)
    pd, port, _, _ = w.start_posad("posad-forward")
    agent_bench.settle_load(w, port, "1", 1, [])  # warm: connections, first statements
    count_on(pd.pid)
    levels, _ = agent_bench.settle_load(w, port, "1", seconds, [])
    pd.send_signal(signal.SIGTERM)
    pd.wait(timeout=120)
    return levels[1]["n"], "posad", "forwarded inpatient"


def flow_his(w, out, seconds, measure, clients):
    if measure == "sandbox":
        agent_bench.harness.SANDBOX_BIN = sandbox_wrapper(w, out)
    else:
        w.posad_prefix = callgrind(out)
    clock = time.strftime("%Y-%m-%d %H:%M:%S")
    w.start_sandbox(lines=20)
    w.sb.set_clock(clock)
    pd, port, _, _ = w.start_posad("posad-his", os.environ.get("BENCH_POSAD_EXTRA", ""))
    his_bench.warm_up(w, port, clock)
    count_on(w.sb.proc.pid if measure == "sandbox" else pd.pid)
    levels, _ = his_bench.load(w, "his", port, str(clients), seconds, clock, [])
    pd.send_signal(signal.SIGTERM)
    pd.wait(timeout=120)
    if measure == "sandbox":
        w.sb.stop()
    level = levels.get(clients)
    if not level or level["errors"]:  # failed flows count instructions, not settlements
        raise RuntimeError("the load failed: %r" % (level,))
    return level["n"], "posad" if measure == "posad" else "posa-sandbox", "outpatient"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--flow", choices=("sandbox", "forward", "his"), default="his")
    ap.add_argument("--measure", choices=("posad", "sandbox"), default="posad")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=1,
                    help="his flow only: concurrent clients. At 64 the database thread commits "
                    "many jobs together, as under load, so pages shared between settlements "
                    "count once (under callgrind the groups are larger than in a real run)")
    ap.add_argument("--keep", metavar="FILE",
                    help="also copy callgrind's output here (callgrind_annotate FILE)")
    a = ap.parse_args()
    if a.clients < 1 or (a.clients != 1 and a.flow != "his"):
        ap.error("--clients is 1 or more, and only the his flow takes more than 1")
    w = agent_bench.World(os.path.abspath(a.build))
    out = os.path.join(w.tmp, "callgrind.out")
    try:
        if a.flow == "sandbox":
            n, who, kind = flow_sandbox(w, out, a.seconds)
        elif a.flow == "forward":
            n, who, kind = flow_forward(w, out, a.seconds)
        else:
            n, who, kind = flow_his(w, out, a.seconds, a.measure, a.clients)
        if not n:
            raise RuntimeError("no settlement completed")
        print("%s: %.2f M instructions per %s settlement (user space, callgrind; %d client%s, "
              "%d settlements)" % (who, total_ir(out) / n / 1e6, kind, a.clients,
                                   "" if a.clients == 1 else "s", n))
        if a.keep:
            shutil.copy(max(glob.glob(out + "*"), key=os.path.getsize), a.keep)
    finally:
        w.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
