#!/usr/bin/env python3
"""bench.py - finscope analyze against libpcap's read-only loop, tcptrace and tshark.

Generates a synthetic capture with `finscope forge mix` (interleaved connections of every
close kind, realistic segment sizes), then times, on the same file (page cache warm):
  pcap_loop          pcap_next_ex over every record and nothing else, through a 256 KiB
                     stdio buffer as finscope reads (the fair floor)
  finscope analyze   the full pipeline, database written (fresh file each run)
  tcptrace -n        when installed
  tshark -q -z conv,tcp   when installed
and prints packets per second for each and finscope's ratios against them.  It also runs
finscope on a capture twice as long with the same concurrency and compares peak memory:
memory must follow concurrent connections, not capture length.

Usage:
  bench/bench.py [--build build] [--packets 2000000] [--runs 3] [--smoke]
--smoke: a tiny run that checks the machinery works (used by CI); targets are not enforced.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

PACKETS_PER_FLOW = 60  # about what `forge mix` averages; the real count is measured


def run_timed(cmd, runs, cwd=None, before=None):
    """Best wall time over runs, and the peak RSS (KiB) of the best run."""
    best, rss = None, 0
    for _ in range(runs):
        if before:
            before()
        # Output goes to files: a pipe nobody reads until the end would stall a chatty program.
        with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, stdout=fo, stderr=fe, cwd=cwd)
            _, status, ru = os.wait4(p.pid, 0)
            dt = time.perf_counter() - t0
            fo.seek(0)
            fe.seek(0)
            out = fo.read().decode(errors="replace")
            err = fe.read().decode(errors="replace")
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), code, err[-500:]))
        if best is None or dt < best:
            best, rss = dt, ru.ru_maxrss
    return best, rss, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--packets", type=int, default=2000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--keep", help="directory for the generated captures (kept between runs)")
    a = ap.parse_args()

    finscope = os.path.join(a.build, "src", "finscope")
    pcap_loop = os.path.join(a.build, "bench", "pcap_loop")
    for exe in (finscope, pcap_loop):
        if not os.path.exists(exe):
            print("bench: %s is missing; build first (meson setup %s && meson compile -C %s)"
                  % (exe, a.build, a.build))
            return 2
    runs = 1 if a.smoke else a.runs
    work = a.keep or tempfile.mkdtemp(prefix="finscope-bench-")
    os.makedirs(work, exist_ok=True)
    try:
        flows = max(50, a.packets // PACKETS_PER_FLOW)
        caps = {}
        for mult in (1, 2):
            path = os.path.join(work, "mix-%d-%d.pcap" % (flows * mult, a.seed))
            if not os.path.exists(path):
                t0 = time.perf_counter()
                subprocess.run([finscope, "forge", "mix", "--flows", str(flows * mult), "--seed",
                                str(a.seed), "-o", path], check=True, stdout=subprocess.DEVNULL)
                print("generated %s in %.1f s" % (path, time.perf_counter() - t0))
            caps[mult] = path
        cap = caps[1]
        size = os.path.getsize(cap)

        t, _, out = run_timed([pcap_loop, cap], runs)
        packets = int(out.split()[0])
        res = {"pcap_next_ex loop": t}
        db = os.path.join(work, "bench.db")

        def fresh_db():
            for suffix in ("", "-wal", "-shm", "-journal"):
                if os.path.exists(db + suffix):
                    os.remove(db + suffix)
        t, _, _ = run_timed([finscope, "analyze", "-q", "-o", db, cap], runs, before=fresh_db)
        res["finscope analyze"] = t
        import sqlite3
        con = sqlite3.connect(db)
        nflows, ntr, nseg = con.execute(
            "SELECT (SELECT count(*) FROM flows), (SELECT count(*) FROM transitions),"
            " (SELECT count(*) FROM segments)").fetchone()
        kinds = con.execute("SELECT close_kind, flows FROM close_kinds").fetchall()
        con.close()
        # Memory: the synthetic capture lasts ~40 s, shorter than the default 300 s idle
        # timeout, so connections left open would be held to the end of either capture and
        # the longer one would hold more.  With a 20 s idle timeout both reach the steady
        # state (closed flows linger 10 s, idle ones 20 s) and peak memory must be the same.
        _, rss1, _ = run_timed([finscope, "analyze", "-q", "--idle-timeout", "20", "-o", db, cap],
                               1, before=fresh_db)
        _, rss2, _ = run_timed([finscope, "analyze", "-q", "--idle-timeout", "20", "-o", db,
                                caps[2]], 1, before=fresh_db)

        if not a.smoke:
            if shutil.which("tcptrace"):
                res["tcptrace -n"] = run_timed(["tcptrace", "-n", cap], runs)[0]
            if shutil.which("tshark"):
                res["tshark -q -z conv,tcp"] = run_timed(
                    ["tshark", "-n", "-q", "-z", "conv,tcp", "-r", cap], 1)[0]

        print("capture: %d packets, %.1f MB, %d connections -> %d flow rows, %d transitions, "
              "%d segments" % (packets, size / 1e6, flows, nflows, ntr, nseg))
        print("close kinds: " + ", ".join("%s %d" % k for k in kinds))
        print("%-24s %10s %14s %10s" % ("program", "seconds", "packets/s", "finscope x"))
        fs = packets / res["finscope analyze"]
        for name, t in res.items():
            pps = packets / t
            print("%-24s %10.3f %14.0f %10.2f" % (name, t, pps, fs / pps))
        ratio = fs / (packets / res["pcap_next_ex loop"])
        print("finscope / pcap_next_ex loop (256 KiB buffer): %.0f%% (issue 9's bulk target >= 50%%)"
              % (100 * ratio))
        print("peak RSS (--idle-timeout 20): %.1f MB for %d connections, %.1f MB for %d "
              "(same concurrency, twice as long)" % (rss1 / 1024, flows, rss2 / 1024, flows * 2))
        with open(cap[: -len(".pcap")] + ".expected.tsv") as fp:
            want = sum(1 for _ in fp) - 1
        if nflows != want:
            print("bench: the forge expects %d flow rows, finscope wrote %d" % (want, nflows))
            return 1
        if a.smoke:
            ok = nflows > 0 and ntr > 0
            print("bench smoke: %s" % ("ok" if ok else "FAILED"))
            return 0 if ok else 1
        return 0
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
