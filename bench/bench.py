#!/usr/bin/env python3
"""bench.py - finscope against libpcap's read floor, tcptrace and tshark: issue 9's targets.

Every capture is generated (deterministic) into a temporary directory, or --keep DIR where it
is kept and reused.  Programs are timed in interleaved rounds (floor, finscope, tcptrace,
tshark, then again), page cache warm, a fresh database before each finscope run; wall time is
reported as best and median of --runs, CPU (user+sys) and peak RSS as medians.  Targets are
judged on median wall time; the same ratios from CPU time are printed beside them, steadier
when other work shares the cores.

Parts:
  kinds        bench/heavy.py on 40 connections: every flow's close_kind, rst_cause and closer
               must be the one heavy.py wrote it for (a wrong workload would measure nothing).
  bulk         `finscope forge mix` (~60 packets per connection, mostly full-size segments).
  heavy        connection-heavy: bench/heavy.py --conns N (default 85,000 connections, ~12
               packets each, small segments, every close kind; its close_kinds are printed and
               checked against what heavy.py wrote).
               For both workloads: packets, connections, wall, packets/s, ns per packet, us per
               connection, peak RSS, database bytes per connection, ratios to pcap_loop (the
               fair floor: pcap_next_ex through a 256 KiB stdio buffer, as finscope reads),
               `tcptrace -n` and `tshark -n -q -z conv,tcp` (when installed), with the targets.
  memory       bench/open_conns.py 50,000 and 250,000 connections open at once: the slope of
               peak RSS is the memory per held connection.  --big adds 1,000,000 open at once
               (must run without eviction in under 1 GB).
  linearity    heavy at N and 2N connections (interleaved): time per packet and per
               connection, and their ratios (flat = 1.00).
  reading      a heavy database of --read-conns connections (default 500,000): `finscope
               report` (to /dev/null), `finscope show` of one flow, and through the sqlite3
               shell each everyday view and an aggregate over state_dwell for one state.

Usage:
  bench/bench.py [--build build] [--packets 2000000] [--conns 85000] [--read-conns 500000]
                 [--runs 5] [--tshark-runs 1] [--big] [--keep DIR] [--json FILE] [--smoke]
                 [--only PART,...]
--smoke: every part, tiny (seconds; CI; tcptrace and tshark on the heavy workload only): checks
the machinery and the workloads' close kinds; targets are printed but not enforced.  Exit status 1 when a check fails (not for targets).
"""
import argparse
import datetime
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import heavy  # noqa: E402  (bench/heavy.py: the connection-heavy workload and its kinds)

PACKETS_PER_FLOW = 60  # about what `forge mix` averages; the real count is measured
GB = 1000 ** 3
TARGETS = {  # issue 9
    "heavy_floor_pct": 25.0,  # connection-heavy packet rate, % of the floor's
    "heavy_tcptrace_x": 10.0,  # connection-heavy, times tcptrace -n's speed
    "bulk_floor_pct": 50.0,
    "db_bytes_per_conn": 800,  # connection-heavy
    "held_bytes_per_conn": 512,
    "big_rss_bytes": GB,
    "report_s": 2.0,
    "view_s": 1.0,
}
READ_QUERIES = [
    ("close_kinds", "SELECT * FROM close_kinds"),
    ("rst_causes", "SELECT * FROM rst_causes"),
    ("closers", "SELECT * FROM closers"),
    ("close_wait_suspects", "SELECT * FROM close_wait_suspects"),
    ("state_dwell close_wait",
     "SELECT count(*), avg(dwell_s) FROM state_dwell WHERE state='close_wait'"),
]
FAILURES = []


def fail(msg):
    print("bench: CHECK FAILED: " + msg)
    FAILURES.append(msg)


# A child's ru_maxrss starts at its parent's resident size (Linux keeps the high-water mark
# across fork and exec), so wait4 here would report at least this script's own ~30-300 MB.
# GNU time forks the program from its own small image and reports the program's alone.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run(cmd, stdout_file=True):
    """One run: wall seconds, CPU seconds (user+sys), peak RSS bytes, stdout text."""
    # Output goes to a file: a pipe nobody reads until the end would stall a chatty program.
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe, \
            tempfile.NamedTemporaryFile("r") as fm:
        full = [GNU_TIME, "-f", "%M", "-o", fm.name, *cmd] if GNU_TIME else cmd
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdout=fo if stdout_file else subprocess.DEVNULL, stderr=fe)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        fo.seek(0)
        fe.seek(0)
        out = fo.read().decode(errors="replace")
        err = fe.read().decode(errors="replace")
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), code, err[-500:]))
        rss_kib = int(fm.read().split()[-1]) if GNU_TIME else ru.ru_maxrss
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": rss_kib * 1024, "out": out}


def summarize(samples):
    walls = [s["wall"] for s in samples]
    return {"runs": len(samples), "wall_best_s": min(walls), "wall_median_s": statistics.median(walls),
            "walls_s": walls, "cpu_median_s": statistics.median(s["cpu"] for s in samples),
            "peak_rss_bytes": int(statistics.median(s["rss"] for s in samples))}


def rm_db(db):
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)


def db_bytes(db):
    return sum(os.path.getsize(db + s) for s in ("", "-wal") if os.path.exists(db + s))


def met(ok):
    return "met" if ok else "NOT MET"


def fmt_s(t):
    return "%.3f" % t


class Bench:
    def __init__(self, a):
        self.a = a
        self.finscope = os.path.join(a.build, "src", "finscope")
        self.pcap_loop = os.path.join(a.build, "bench", "pcap_loop")
        self.work = a.keep or tempfile.mkdtemp(prefix="finscope-bench-")
        os.makedirs(self.work, exist_ok=True)
        self.runs = a.runs
        self.tools = {}
        for name, exe in (("tcptrace", "tcptrace"), ("tshark", "tshark"), ("sqlite3", "sqlite3")):
            self.tools[name] = shutil.which(exe)

    def path(self, name):
        return os.path.join(self.work, name)

    def generate(self, name, cmd):
        """Runs cmd to write self.path(name) unless it exists (--keep); returns the path."""
        out = self.path(name)
        if not os.path.exists(out):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            print("generated %s (%.1f MB) in %.1f s" % (out, os.path.getsize(out) / 1e6,
                                                         time.perf_counter() - t0))
        return out

    def heavy_capture(self, n):
        out = self.path("heavy-%d.pcap" % n)
        return self.generate(os.path.basename(out),
                             [sys.executable, os.path.join(HERE, "heavy.py"), str(n), out])

    def analyze_cmd(self, db, cap, extra=()):
        return [self.finscope, "analyze", "-q", *extra, "-o", db, cap]

    def analyze(self, db, cap, extra=()):
        rm_db(db)
        return run(self.analyze_cmd(db, cap, extra))

    # --- kinds: the connection-heavy workload is what it says -----------------------------

    def check_kinds(self, cap, db, n):
        """Compares every flow (n small) or the counts (n large) with what heavy.py wrote."""
        con = sqlite3.connect(db)
        got = {}
        for kind, cause, closer, c in con.execute(
                "SELECT close_kind, rst_cause, closer, count(*) FROM flows GROUP BY 1, 2, 3"):
            got[(kind, cause, closer)] = c
        wrong = 0
        if n <= 1000:
            for addr, kind, cause, closer in con.execute(
                    "SELECT client_addr, close_kind, rst_cause, closer FROM flows"):
                b = [int(x) for x in addr.split(".")]
                i = (b[2] << 8) | b[3]  # heavy.py: 10.(1 + i>>16).(i>>8).(i&255)
                want = heavy.KINDS[i % len(heavy.KINDS)]
                if (kind, cause, closer) != want[1:]:
                    wrong += 1
                    print("  flow of connection %d (%s): %s/%s/%s, heavy.py wrote %s"
                          % (i, want[0], kind, cause, closer, "/".join(map(str, want[1:]))))
        kinds = con.execute("SELECT close_kind, flows FROM close_kinds").fetchall()
        causes = con.execute("SELECT rst_cause, flows FROM rst_causes").fetchall()
        con.close()
        want = heavy.expected(n)
        if got != want or wrong:
            fail("%s: close kinds %s, heavy.py wrote %s" % (cap, sorted(got.items(), key=str),
                                                            sorted(want.items(), key=str)))
        return {"close_kinds": dict(kinds), "rst_causes": dict(causes),
                "as_intended": got == want and not wrong}

    def part_kinds(self):
        cap = self.heavy_capture(40)
        db = self.path("kinds.db")
        self.analyze(db, cap)
        r = self.check_kinds(cap, db, 40)
        print("kinds: heavy.py 40 connections: close_kinds %s; rst_causes %s: %s"
              % (", ".join("%s %d" % k for k in r["close_kinds"].items()),
                 ", ".join("%s %d" % k for k in r["rst_causes"].items()),
                 "every flow as intended" if r["as_intended"] else "WRONG"))
        return r

    # --- the two workloads against the floor, tcptrace and tshark -----------------------------

    def workload(self, cap, conns, others=True):
        db = self.path("w.db")
        progs = [("floor", [self.pcap_loop, cap]), ("finscope", None)]
        if self.tools["tcptrace"] and others:
            progs.append(("tcptrace", ["tcptrace", "-n", cap]))
        if self.tools["tshark"] and others:
            progs.append(("tshark", ["tshark", "-n", "-q", "-z", "conv,tcp", "-r", cap]))
        samples = {p: [] for p, _ in progs}
        for r in range(self.runs):
            for name, cmd in progs:
                if name == "tshark" and r >= self.a.tshark_runs:
                    continue
                if name == "finscope":
                    samples[name].append(self.analyze(db, cap))
                else:
                    samples[name].append(run(cmd))
        packets = int(samples["floor"][0]["out"].split()[0])
        res = {"capture": cap, "capture_bytes": os.path.getsize(cap), "packets": packets,
               "connections": conns, "programs": {}}
        for name, s in samples.items():
            res["programs"][name] = summarize(s)
        con = sqlite3.connect(db)
        res["flow_rows"] = con.execute("SELECT count(*) FROM flows").fetchone()[0]
        res["flows_evicted"] = con.execute("SELECT sum(flows_evicted) FROM captures").fetchone()[0]
        con.close()
        f = res["programs"]["finscope"]
        med, best = f["wall_median_s"], f["wall_best_s"]
        res["db_bytes"] = db_bytes(db)
        res["db_bytes_per_conn"] = res["db_bytes"] / conns
        res["packets_per_s"] = packets / med
        res["packets_per_s_best"] = packets / best
        res["ns_per_packet"] = med / packets * 1e9
        res["cpu_ns_per_packet"] = f["cpu_median_s"] / packets * 1e9
        res["us_per_conn"] = med / conns * 1e6
        res["cpu_us_per_conn"] = f["cpu_median_s"] / conns * 1e6
        # finscope's speed over each program's, from medians (and from bests)
        res["ratios"] = {p: res["programs"][p]["wall_median_s"] / med for p in samples}
        res["ratios_best"] = {p: res["programs"][p]["wall_best_s"] / best for p in samples}
        # CPU time (user+sys) is steadier than wall time when other work shares the cores
        res["ratios_cpu"] = {p: res["programs"][p]["cpu_median_s"] / f["cpu_median_s"]
                             for p in samples}
        return res, db

    def print_workload(self, label, res):
        print("\n== %s: %s (%d packets, %.1f MB, %d connections -> %d flow rows, %d evicted)"
              % (label, os.path.basename(res["capture"]), res["packets"],
                 res["capture_bytes"] / 1e6, res["connections"], res["flow_rows"],
                 res["flows_evicted"] or 0))
        names = {"floor": "pcap_loop (256 KiB)", "finscope": "finscope analyze",
                 "tcptrace": "tcptrace -n", "tshark": "tshark -q -z conv,tcp"}
        print("%-22s %4s %8s %8s %7s %10s %7s %8s %7s %10s %7s" % (
            "program", "runs", "best s", "median s", "cpu s", "packets/s", "ns/pkt", "us/conn",
            "RSS MB", "finscope x", "(CPU)"))
        for p, s in res["programs"].items():
            med = s["wall_median_s"]
            print("%-22s %4d %8s %8s %7.3f %10.0f %7.0f %8.2f %7.1f %10.2f %7.2f" % (
                names[p], s["runs"], fmt_s(s["wall_best_s"]), fmt_s(med), s["cpu_median_s"],
                res["packets"] / med, med / res["packets"] * 1e9, med / res["connections"] * 1e6,
                s["peak_rss_bytes"] / 1e6, res["ratios"][p], res["ratios_cpu"][p]))
        print("(finscope x: the program's median wall time over finscope's: finscope's speed "
              "relative to it; (CPU): the same from user+sys time)")
        print("finscope: %.0f ns per packet (CPU %.0f), %.2f us per connection (CPU %.2f), "
              "database %.1f MB = %.0f B per connection"
              % (res["ns_per_packet"], res["cpu_ns_per_packet"], res["us_per_conn"],
                 res["cpu_us_per_conn"], res["db_bytes"] / 1e6, res["db_bytes_per_conn"]))

    def targets_line(self, what, value, ok):
        print("  target %-44s %-22s %s" % (what, value, met(ok)))
        return {"target": what, "measured": value, "met": ok}

    def part_bulk(self):
        flows = max(50, self.a.packets // PACKETS_PER_FLOW)
        name = "mix-%d-%d.pcap" % (flows, self.a.seed)
        cap = self.generate(name, [self.finscope, "forge", "mix", "--flows", str(flows), "--seed",
                                   str(self.a.seed), "-o", self.path(name)])
        # --smoke: tshark would take 10 s on the bulk capture; it runs on the heavy one.
        res, db = self.workload(cap, flows, others=not self.a.smoke)
        self.print_workload("bulk: finscope forge mix --flows %d --seed %d" % (flows, self.a.seed),
                            res)
        con = sqlite3.connect(db)
        res["close_kinds"] = dict(con.execute("SELECT close_kind, flows FROM close_kinds").fetchall())
        con.close()
        print("close kinds: " + ", ".join("%s %d" % k for k in res["close_kinds"].items()))
        with open(cap[: -len(".pcap")] + ".expected.tsv") as fp:
            want = sum(1 for _ in fp) - 1
        if res["flow_rows"] != want:
            fail("bulk: the forge expects %d flow rows, finscope wrote %d" % (want, res["flow_rows"]))
        pct = 100 * res["ratios"]["floor"]
        res["targets"] = [self.targets_line(">= %.0f%% of the floor's packet rate"
                                            % TARGETS["bulk_floor_pct"],
                                            "%.1f%% (CPU %.1f%%)"
                                            % (pct, 100 * res["ratios_cpu"]["floor"]),
                                            pct >= TARGETS["bulk_floor_pct"])]
        return res

    def part_heavy(self):
        n = self.a.conns
        cap = self.heavy_capture(n)
        res, db = self.workload(cap, n)
        self.print_workload("connection-heavy: bench/heavy.py %d" % n, res)
        res.update(self.check_kinds(cap, db, n))
        print("close kinds: %s; rst causes: %s (%s)"
              % (", ".join("%s %d" % k for k in res["close_kinds"].items()),
                 ", ".join("%s %d" % k for k in res["rst_causes"].items()),
                 "as heavy.py wrote them" if res["as_intended"] else "NOT as heavy.py wrote them"))
        pct = 100 * res["ratios"]["floor"]
        t = [self.targets_line(">= %.0f%% of the floor's packet rate" % TARGETS["heavy_floor_pct"],
                               "%.1f%% (CPU %.1f%%)" % (pct, 100 * res["ratios_cpu"]["floor"]),
                               pct >= TARGETS["heavy_floor_pct"])]
        if "tcptrace" in res["ratios"]:
            x = res["ratios"]["tcptrace"]
            t.append(self.targets_line(">= %.0fx tcptrace -n" % TARGETS["heavy_tcptrace_x"],
                                       "%.2fx (CPU %.2fx)" % (x, res["ratios_cpu"]["tcptrace"]),
                                       x >= TARGETS["heavy_tcptrace_x"]))
        else:
            print("  target >= 10x tcptrace -n: tcptrace is not installed")
        b = res["db_bytes_per_conn"]
        t.append(self.targets_line("<= %d B of database per connection"
                                   % TARGETS["db_bytes_per_conn"], "%.0f B" % b,
                                   b <= TARGETS["db_bytes_per_conn"]))
        res["targets"] = t
        return res

    # --- memory per held connection -------------------------------------------------------------

    def open_capture(self, n):
        out = self.path("open-%d.pcap" % n)
        return self.generate(os.path.basename(out),
                             [sys.executable, os.path.join(HERE, "open_conns.py"), out, str(n)])

    def held(self, n, runs):
        cap = self.open_capture(n)
        db = self.path("open.db")
        s = [self.analyze(db, cap) for _ in range(runs)]
        con = sqlite3.connect(db)
        rows, evicted = con.execute("SELECT (SELECT count(*) FROM flows),"
                                    " (SELECT sum(flows_evicted) FROM captures)").fetchone()
        con.close()
        if rows != n:
            fail("open_conns %d: %d flow rows" % (n, rows))
        r = summarize(s)
        r.update({"connections": n, "flow_rows": rows, "flows_evicted": evicted or 0,
                  "db_bytes": db_bytes(db)})
        return r

    def part_memory(self):
        lo, hi = (2000, 10000) if self.a.smoke else (50000, 250000)
        runs = min(self.runs, 3)
        r = {"low": self.held(lo, runs), "high": self.held(hi, runs)}
        slope = (r["high"]["peak_rss_bytes"] - r["low"]["peak_rss_bytes"]) / (hi - lo)
        r["bytes_per_held_conn"] = slope
        print("\n== memory per held connection: bench/open_conns.py %d and %d, all open at once"
              % (lo, hi))
        for k in ("low", "high"):
            print("  %7d open: peak RSS %.1f MB, wall %.3f s (median of %d)"
                  % (r[k]["connections"], r[k]["peak_rss_bytes"] / 1e6, r[k]["wall_median_s"],
                     r[k]["runs"]))
        r["targets"] = [self.targets_line("<= %d B per held connection (RSS slope)"
                                          % TARGETS["held_bytes_per_conn"], "%.0f B" % slope,
                                          slope <= TARGETS["held_bytes_per_conn"])]
        if self.a.big or self.a.smoke:
            n = 20000 if self.a.smoke else 1000000
            b = self.held(n, 1)
            r["big"] = b
            print("  %7d open: peak RSS %.1f MB, wall %.3f s, %d flows evicted"
                  % (n, b["peak_rss_bytes"] / 1e6, b["wall_median_s"], b["flows_evicted"]))
            ok = b["flows_evicted"] == 0 and b["peak_rss_bytes"] < TARGETS["big_rss_bytes"]
            r["targets"].append(self.targets_line(
                "%d open at once: no eviction, RSS < 1 GB" % n,
                "%.0f MB, %d evicted" % (b["peak_rss_bytes"] / 1e6, b["flows_evicted"]), ok))
        return r

    # --- linearity -------------------------------------------------------------------------------

    def part_linearity(self):
        n = self.a.conns
        caps = {n: self.heavy_capture(n), 2 * n: self.heavy_capture(2 * n)}
        db = self.path("lin.db")
        samples = {k: [] for k in caps}
        for _ in range(self.runs):
            for k, cap in caps.items():
                samples[k].append(self.analyze(db, cap))
        r = {"points": []}
        print("\n== linearity: connection-heavy at %d and %d connections (medians of %d)"
              % (n, 2 * n, self.runs))
        for k, cap in caps.items():
            s = summarize(samples[k])
            packets = int(run([self.pcap_loop, cap])["out"].split()[0])
            p = {"connections": k, "packets": packets, "wall_median_s": s["wall_median_s"],
                 "cpu_median_s": s["cpu_median_s"], "peak_rss_bytes": s["peak_rss_bytes"],
                 "ns_per_packet": s["wall_median_s"] / packets * 1e9,
                 "cpu_ns_per_packet": s["cpu_median_s"] / packets * 1e9,
                 "us_per_conn": s["wall_median_s"] / k * 1e6,
                 "cpu_us_per_conn": s["cpu_median_s"] / k * 1e6}
            r["points"].append(p)
            print("  %7d connections, %8d packets: %.3f s (CPU %.3f): %.0f ns per packet "
                  "(CPU %.0f), %.2f us per connection (CPU %.2f), peak RSS %.1f MB"
                  % (k, packets, p["wall_median_s"], p["cpu_median_s"], p["ns_per_packet"],
                     p["cpu_ns_per_packet"], p["us_per_conn"], p["cpu_us_per_conn"],
                     p["peak_rss_bytes"] / 1e6))
        a, b = r["points"]
        for key in ("ns_per_packet", "cpu_ns_per_packet", "us_per_conn", "cpu_us_per_conn"):
            r[key + "_ratio"] = b[key] / a[key]
        print("  2N / N: time per packet %.2f (CPU %.2f), per connection %.2f (CPU %.2f); "
              "flat = 1.00" % (r["ns_per_packet_ratio"], r["cpu_ns_per_packet_ratio"],
                                r["us_per_conn_ratio"], r["cpu_us_per_conn_ratio"]))
        return r

    # --- reading -------------------------------------------------------------------------------

    def part_reading(self):
        n = self.a.read_conns
        cap = self.heavy_capture(n)
        db = self.path("read-%d.db" % n)
        w = self.analyze(db, cap)
        con = sqlite3.connect(db)
        rows, top = con.execute("SELECT count(*), max(id) FROM flows").fetchone()
        fid = con.execute("SELECT id FROM flows WHERE id >= ? ORDER BY id LIMIT 1",
                          (top // 2,)).fetchone()[0]
        con.close()
        r = {"connections": n, "flow_rows": rows, "db_bytes": db_bytes(db),
             "analyze_wall_s": w["wall"], "analyze_cpu_s": w["cpu"],
             "analyze_peak_rss_bytes": w["rss"], "show_flow_id": fid, "timings": {}}
        cmds = [("report", [self.finscope, "report", db], TARGETS["report_s"]),
                ("show", [self.finscope, "show", db, str(fid)], None)]
        shell = self.tools["sqlite3"]
        if not shell:
            fail("the sqlite3 shell is not installed (apt-get install sqlite3): views not timed")
        else:
            r["sqlite3_version"] = subprocess.run([shell, "--version"], capture_output=True,
                                                  text=True).stdout.split()[0]
            for name, sql in READ_QUERIES:
                cmds.append((name, [shell, "-readonly", db, sql], TARGETS["view_s"]))
        samples = {name: [] for name, _, _ in cmds}
        for _ in range(self.runs):
            for name, cmd, _ in cmds:
                samples[name].append(run(cmd, stdout_file=False))
        print("\n== reading: a connection-heavy database of %d connections (%.1f MB, written by "
              "analyze in %.2f s, CPU %.2f s)" % (n, r["db_bytes"] / 1e6, w["wall"], w["cpu"]))
        r["targets"] = []
        for name, cmd, target in cmds:
            s = summarize(samples[name])
            s["command"] = " ".join(cmd)
            r["timings"][name] = s
            line = "  %-24s best %8.3f s  median %8.3f s  CPU %8.3f s  peak RSS %7.1f MB" % (
                name if name != "show" else "show (flow %d)" % fid, s["wall_best_s"],
                s["wall_median_s"], s["cpu_median_s"], s["peak_rss_bytes"] / 1e6)
            if target is not None:
                ok = s["wall_median_s"] <= target
                line += "   target <= %g s: %s" % (target, met(ok))
                r["targets"].append({"target": "%s <= %g s" % (name, target),
                                     "measured": "%.3f s" % s["wall_median_s"], "met": ok})
            print(line)
        rm_db(db)  # hundreds of MB; the capture stays (--keep) to rebuild it
        return r


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--packets", type=int, default=2000000, help="bulk workload's size")
    ap.add_argument("--conns", type=int, default=85000, help="connection-heavy workload's size")
    ap.add_argument("--read-conns", type=int, default=500000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tshark-runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--big", action="store_true", help="also 1,000,000 connections open at once")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--keep", help="directory for the generated captures (kept between runs)")
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--only", help="comma-separated parts: kinds,bulk,heavy,memory,linearity,"
                                   "reading")
    a = ap.parse_args()
    if a.smoke:
        a.runs, a.tshark_runs = 1, 1
        a.conns, a.read_conns = 2000, 2000
    parts = ["kinds", "bulk", "heavy", "memory", "linearity", "reading"]
    if a.only:
        parts = [p for p in a.only.split(",") if p]
        unknown = set(parts) - {"kinds", "bulk", "heavy", "memory", "linearity", "reading"}
        if unknown:
            ap.error("unknown part(s): " + ", ".join(sorted(unknown)))

    b = Bench(a)
    for exe in (b.finscope, b.pcap_loop):
        if not os.path.exists(exe):
            print("bench: %s is missing; build first (meson setup %s && meson compile -C %s)"
                  % (exe, a.build, a.build))
            return 2
    source = None
    try:
        with open(os.path.join(a.build, "meson-info", "meson-info.json")) as fp:
            source = json.load(fp)["directories"]["source"]
        commit = subprocess.run(["git", "-C", source, "describe", "--always", "--dirty"],
                                capture_output=True, text=True).stdout.strip()
    except (OSError, ValueError, KeyError):
        commit = None
    st = os.statvfs(b.work)
    print("bench: %s (source %s, %s), work dir %s (%.0f GB free), %d CPUs, runs %d; tools: %s"
          % (b.finscope, source, commit, b.work, st.f_bavail * st.f_frsize / 1e9,
             os.cpu_count(), a.runs,
             ", ".join("%s %s" % (k, "yes" if v else "no") for k, v in b.tools.items())))
    if not GNU_TIME:
        print("bench: /usr/bin/time (GNU time) is missing: peak RSS figures include this "
              "script's own (apt-get install time)")
    report = {"command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
              "date_utc": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
              "build": os.path.abspath(a.build), "source": source, "commit": commit,
              "cpus": os.cpu_count(), "runs": a.runs, "tshark_runs": a.tshark_runs,
              "tools": {k: bool(v) for k, v in b.tools.items()}, "targets": TARGETS,
              "rss_from": "GNU time %M" if GNU_TIME else "wait4 (includes this script's RSS)"}
    try:
        for p in parts:
            report[p] = getattr(b, "part_" + p)()
    finally:
        if not a.keep:
            shutil.rmtree(b.work, ignore_errors=True)
    report["failures"] = FAILURES
    unmet = [t["target"] for p in parts if isinstance(report[p], dict)
             for t in report[p].get("targets", []) if not t["met"]]
    report["targets_not_met"] = unmet
    print("\ntargets not met: %d%s" % (len(unmet), "".join("\n  " + t for t in unmet)))
    if a.json:
        with open(a.json, "w") as fp:
            json.dump(report, fp, indent=1)
            fp.write("\n")
        print("figures written to %s" % a.json)
    if a.smoke:
        print("bench smoke: %s" % ("FAILED" if FAILURES else "ok"))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
