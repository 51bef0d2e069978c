#!/usr/bin/python3
"""HIS API benchmark: complete outpatient settlements (identify by ID number -> visit -> 20
fee lines -> settle) through posad's HIS API at 1, 8 and 64 clients, beside the same flow as
national messages straight to posa-sandbox (1101 -> 2201 -> 2203 -> 2204 -> 2207, what posad
sends for it). Target (issue 6): >= 1,000 settlements/s at 64 clients, durability on.

The processes come from bench/agent/run_bench.py's World (sandbox with bench/sandbox's
256-person scenario, posad on loopback); the client is bench_his.

usage: run_bench.py BUILD_DIR [--seconds 2] [--clients 1,8,64] [--lines 20]
                    [--transport unix|tcp] [--upstream-connections N] [--repeat N]"""
import argparse
import http.client
import os
import re
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "agent"))
import run_bench as agent_bench  # noqa: E402

LEVEL = re.compile(r"clients=(\d+)\s+settlements=(\d+)\s+errors=(\d+)\s+settlements/s=(\d+)\s+"
                   r"p50=([\d.]+)ms p99=([\d.]+)ms")


def thread_ticks(pid):
    """utime + stime of each of a process's threads by name, in clock ticks: its main thread
    (posad's loop) as "loop", the others by the names they set (posad-db, posad-sync, ...)."""
    ticks = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = "loop" if int(tid) == pid else f.read().strip()
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        ticks[name] = ticks.get(name, 0) + int(fields[11]) + int(fields[12])
    return ticks


def kernel_ticks(pid):
    """stime of a process (all its threads), in clock ticks: its time in system calls."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[12])


def load(w, mode, at, clients, seconds, clock, pids, quiet=False, keys=False):
    """Runs bench_his against at (a TCP port on 127.0.0.1, or a Unix socket's path); returns
    the levels and the CPU seconds of each of pids and of the load client ("client"), and
    under "threads" those of each thread of pids[0]."""
    if not hasattr(w, "msgid_from"):  # the first run's, apart from bench_sandbox's; moved on below
        w.msgid_from = int(time.time()) - 2 * 86400
    before = [agent_bench.cpu_ticks(p) for p in pids]
    kernel_before = kernel_ticks(pids[0]) if pids else 0
    threads_before = thread_ticks(pids[0]) if pids else {}
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([os.path.join(w.build, "bench", "his", "bench_his"), "--mode", mode,
                          "--socket" if isinstance(at, str) else "--port", str(at), "--plan", w.plan, "--sign-no", w.sb.sign_no or "",
                          "--clients", clients, "--seconds", str(seconds), "--clock", clock,
                          "--idempotency-keys", "1" if keys else "0",
                          "--msgid-from", str(w.msgid_from)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    cpu = {p: (agent_bench.cpu_ticks(p) - b) / agent_bench.TICK for p, b in zip(pids, before)}
    if pids:
        cpu["threads"] = {t: (n - threads_before.get(t, 0)) / agent_bench.TICK
                          for t, n in thread_ticks(pids[0]).items()}
        cpu["kernel"] = (kernel_ticks(pids[0]) - kernel_before) / agent_bench.TICK
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu["client"] = (after.ru_utime + after.ru_stime) - (child.ru_utime + child.ru_stime)
    levels = {int(m.group(1)): {"n": int(m.group(2)), "errors": int(m.group(3)),
                                "per_s": int(m.group(4)), "p50": float(m.group(5)),
                                "p99": float(m.group(6))} for m in LEVEL.finditer(out)}
    # The next direct run's msgids start past every second this one may have used (five
    # messages a flow, a flow in flight per client; 10,000 a second): the sandbox refuses a
    # msgid used twice, and a run of 4,000/s used ten seconds' worth in five.
    if mode == "national":
        flows = sum(v["n"] + v["errors"] for v in levels.values()) + sum(
            int(c) for c in clients.split(","))
        w.msgid_from += 5 * flows // 10000 + 2
    if not quiet and (not levels or any(v["errors"] for v in levels.values())):
        print("   %s client output:\n%s" % (mode, "\n".join(
            "     " + x[:300] for x in out.splitlines()[-6:])))
    return levels, cpu


DB_COUNTERS = ("posa_db_jobs_total", "posa_db_commits_total", "posa_db_syncs_total")


def metrics_text(port):
    """posad's GET /metrics page, or None."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
    except (OSError, http.client.HTTPException):
        return None
    return text


def db_counters(port):
    """posad's database counters from GET /metrics (jobs, commits, WAL fsyncs), or None."""
    text = metrics_text(port)
    if text is None:
        return None
    got = dict(line.split()[:2] for line in text.splitlines()
               if line.split()[:1] and line.split()[0] in DB_COUNTERS)
    return [float(got[k]) for k in DB_COUNTERS] if len(got) == len(DB_COUNTERS) else None


def latencies(port):
    """{what: (seconds, count)} of posad's database jobs ("db job") and of each infno's
    exchanges with the sandbox, from GET /metrics' histograms, or {}."""
    text = metrics_text(port) or ""
    got = {}
    for m in re.finditer(r'^posa_(db_job|upstream_request)_duration_seconds_(sum|count)'
                         r'(?:\{infno="(\d+)"\})? ([\d.]+)$', text, re.M):
        key = "db job" if m.group(1) == "db_job" else m.group(3)
        s, c = got.get(key, (0.0, 0))
        got[key] = (float(m.group(4)), c) if m.group(2) == "sum" else (s, int(m.group(4)))
    return got


def written(pid):
    """Bytes pid has had written to disk (/proc/PID/io), or None."""
    try:
        with open("/proc/%d/io" % pid) as f:
            return int(dict(line.split(": ") for line in f.read().splitlines())["write_bytes"])
    except (OSError, KeyError, ValueError):
        return None


def warm_up(w, his, clock, seconds=15):
    """posad loads the treating region's catalog after sign-in; fees are refused (503) until
    then. Short error-free runs tell it is there."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        levels, _ = load(w, "his", his, "1", 0.2, clock, [], quiet=True)
        if levels.get(1) and levels[1]["n"] and not levels[1]["errors"]:
            return
        time.sleep(0.2)


def merged(tries):
    """One load() result from several: each level's median run (by settlements/s) with every
    run's rate in "all", the errors and settlements of all runs, the CPU seconds summed."""
    levels, cpu = {}, {}
    for lv, c in tries:
        for who, sec in c.items():
            if who == "threads":
                for t, ts in sec.items():
                    cpu.setdefault(who, {})[t] = cpu.get(who, {}).get(t, 0.0) + ts
            else:
                cpu[who] = cpu.get(who, 0.0) + sec
    for c in {c for lv, _ in tries for c in lv}:
        got = sorted((lv[c] for lv, _ in tries if c in lv), key=lambda v: v["per_s"])
        levels[c] = dict(got[len(got) // 2], all=[v["per_s"] for v in got],
                         n=sum(v["n"] for v in got), errors=sum(v["errors"] for v in got))
    return levels, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--clients", default="1,8,64")
    ap.add_argument("--lines", type=int, default=20)
    ap.add_argument("--transport", choices=("unix", "tcp"), default="unix",
                    help="how the HIS reaches posad: its Unix socket (his-api.md's default) "
                    "or loopback TCP")
    ap.add_argument("--upstream-connections", type=int, default=0, metavar="N",
                    help="posad's max_connections to the sandbox; default: as many as the "
                    "largest level's clients, the connections the direct run has")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run the direct and the posad levels N times, alternately, and print "
                    "each level's median run with the range: this host's speed moves by a "
                    "quarter within minutes")
    ap.add_argument("--idempotency-keys", action="store_true",
                    help="every HIS call carries an Idempotency-Key (posad keeps each answer)")
    a = ap.parse_args()
    conns = a.upstream_connections or max(int(c) for c in a.clients.split(","))
    w = agent_bench.World(os.path.abspath(a.build))
    clock = time.strftime("%Y-%m-%d %H:%M:%S")
    print("\n== HIS API: outpatient settlements (identify by ID -> visit -> %d lines -> settle) "
          "through posad (HIS over %s) vs the same national messages straight to posa-sandbox"
          % (a.lines, "its Unix socket" if a.transport == "unix" else "TCP"))
    print("   posad keeps up to %d connections to the sandbox (max_connections; its default is "
          "16)" % conns)
    try:
        w.start_sandbox(lines=a.lines)
        w.sb.set_clock(clock)
        sock = os.path.join(w.tmp, "posad-his.sock") if a.transport == "unix" else ""
        extra = "max_connections = %d\n%s" % (conns, os.environ.get("BENCH_POSAD_EXTRA", ""))
        pd, port, _, _ = w.start_posad("posad-his", extra, socket=sock)
        his = sock or port
        warm_up(w, his, clock)
        sb = w.sb.proc.pid
        tries = {"direct": [], "posad": []}
        db_before, wrote_before = db_counters(port), written(pd.pid)
        waits_before = latencies(port)
        for _ in range(max(1, a.repeat)):
            tries["direct"].append(load(w, "national", w.sb.port, a.clients, a.seconds, clock,
                                        [sb]))
            tries["posad"].append(load(w, "his", his, a.clients, a.seconds, clock, [pd.pid, sb],
                                       keys=a.idempotency_keys))
        runs = {k: merged(v) for k, v in tries.items()}
        db_after, wrote_after = db_counters(port), written(pd.pid)
        waits_after = latencies(port)
        w.check_alive(pd, "posad-his")
        w.kill(pd)
    except (RuntimeError, OSError, AssertionError) as e:
        print("   not measured: %s" % e)
        w.stop()
        return 0
    w.stop()
    print("   %-7s %7s %10s %9s %9s" % ("path", "clients", "settl./s", "p50 ms", "p99 ms"))
    for name in ("direct", "posad"):
        for c, v in sorted(runs[name][0].items()):
            print("   %-7s %7d %10d %9.2f %9.2f%s%s" % (
                name, c, v["per_s"], v["p50"], v["p99"],
                "   (%d runs: %d-%d/s)" % (len(v["all"]), min(v["all"]), max(v["all"]))
                if len(v["all"]) > 1 else "",
                "   errors=%d" % v["errors"] if v["errors"] else ""))
    for c in sorted(runs["direct"][0]):
        d, p = runs["direct"][0].get(c), runs["posad"][0].get(c)
        if d and p:
            print("   %2d clients: posad/direct throughput %s, p50 %s" % (
                c, agent_bench.ratio(p["per_s"], d["per_s"]), agent_bench.ratio(p["p50"], d["p50"])))
    n = {k: sum(v["n"] for v in runs[k][0].values()) for k in runs}
    per = {k: {who: sec / n[k] * 1e3 for who, sec in runs[k][1].items()
               if who not in ("threads", "kernel")} if n[k] else {} for k in runs}
    kernel = runs["posad"][1].get("kernel", 0.0) / n["posad"] * 1e3 if n["posad"] else 0.0
    print("   CPU per settlement: posad %s ms (%.2f of it in the kernel); posa-sandbox (direct "
          "run) %s ms" % (agent_bench.fmt(per["posad"].get(pd.pid)), kernel,
                          agent_bench.fmt(per["direct"].get(sb))))
    threads = runs["posad"][1].get("threads", {})
    if threads and n["posad"]:
        # One thread cannot run on more than one core: the busiest bounds the rate alone.
        busiest = max(threads.values()) / n["posad"] * 1e3
        print("   posad's threads, ms of CPU per settlement: %s; the busiest alone allows at "
              "most %d/s" % (", ".join("%s %.2f" % (t, sec / n["posad"] * 1e3) for t, sec in
                                       sorted(threads.items(), key=lambda x: -x[1])),
                             1000 / busiest if busiest else 0))
    if per["posad"]:
        # Everything runs on this machine: the processes' CPU per settlement bounds what its
        # cores can do at all, whatever the latency.
        total = sum(per["posad"].values())
        cores = os.cpu_count() or 1
        print("   whole machine per settlement through posad: posad %.2f + posa-sandbox %.2f + "
              "load client %.2f = %.2f ms of CPU; %d cores allow at most %d/s; 1000/s needs "
              "posad at <= %.2f ms" % (per["posad"][pd.pid], per["posad"][sb],
                                       per["posad"]["client"], total, cores,
                                       cores * 1000 / total,
                                       cores - per["posad"][sb] - per["posad"]["client"]))
    if db_before and db_after and n["posad"]:
        jobs, commits, syncs = ((b - a) / n["posad"] for a, b in zip(db_before, db_after))
        print("   posad's database per settlement: %.1f jobs, %.2f commits, %.2f WAL fsyncs "
              "(GET /metrics)%s" % (jobs, commits, syncs, "; %.0f KB written to disk (WAL and "
              "checkpoints, /proc/PID/io)" % ((wrote_after - wrote_before) / n["posad"] / 1024)
              if wrote_before is not None and wrote_after is not None else ""))
    waits = []
    for key in sorted(waits_after, key=lambda k: (k != "db job", k)):
        s0, c0 = waits_before.get(key, (0.0, 0))
        s1, c1 = waits_after[key]
        if c1 > c0:
            waits.append("%s %.2f" % (key, (s1 - s0) / (c1 - c0) * 1e3))
    if waits:
        # A settlement waits on some 13 database jobs and 5 exchanges, one after another.
        print("   posad's waits, mean ms (GET /metrics): %s" % ", ".join(waits))
    p64 = runs["posad"][0].get(64)
    if p64:
        print("   64 clients through posad: %d/s%s vs target 1000/s = %s"
              % (p64["per_s"], " (median of %d runs)" % len(p64["all"]) if len(p64["all"]) > 1
                 else "", agent_bench.ratio(p64["per_s"], 1000)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
