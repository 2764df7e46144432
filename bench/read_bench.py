#!/usr/bin/env python3
"""read_bench.py - how fast a finscope database is read: report, show and the everyday views.

    python3 bench/read_bench.py [--runs N] NAME=FINSCOPE:DB [NAME=FINSCOPE:DB ...]

Each NAME is one build and a database it wrote (or upgraded).  The timings run interleaved
(A B A B ...; the machine may be shared), each command in a fresh process, and the medians of
wall and user+sys CPU seconds are printed per NAME.  The views are read with the sqlite3
shell (the way a person reads them); report and show with the build itself.
"""
import argparse
import os
import resource
import statistics
import subprocess
import time

VIEWS = [
    ("close_kinds", "SELECT * FROM close_kinds"),
    ("rst_causes", "SELECT * FROM rst_causes"),
    ("closers", "SELECT * FROM closers"),
    ("close_wait_suspects", "SELECT * FROM close_wait_suspects"),
    ("state_dwell close_wait",
     "SELECT count(*), avg(dwell_s) FROM state_dwell WHERE state = 'close_wait'"),
    ("state_dwell count", "SELECT count(*) FROM state_dwell"),
    ("transitions time_wait", "SELECT count(*) FROM transitions WHERE to_state = 'time_wait'"),
]


def timed(cmd):
    """Run cmd (output discarded); (wall, user+sys CPU) seconds of the child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit("%s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stderr[-300:]))
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-report", action="store_true")
    ap.add_argument("targets", nargs="+", help="NAME=FINSCOPE:DB")
    a = ap.parse_args()
    targets = []
    for t in a.targets:
        name, rest = t.split("=", 1)
        exe, db = rest.split(":", 1)
        targets.append((name, os.path.abspath(exe), db))
    cases = [(v, lambda exe, db, sql=sql: ["sqlite3", db, sql]) for v, sql in VIEWS]
    cases.append(("show 1", lambda exe, db: [exe, "show", db, "1"]))
    if not a.skip_report:
        cases.append(("report", lambda exe, db: [exe, "report", db]))
    for label, make in cases:
        got = {name: [] for name, _, _ in targets}
        for _ in range(a.runs):
            for name, exe, db in targets:
                got[name].append(timed(make(exe, db)))
        line = "%-24s" % label
        for name, _, _ in targets:
            w = statistics.median(x[0] for x in got[name])
            c = statistics.median(x[1] for x in got[name])
            line += "  %s %7.2f s wall %7.2f s cpu" % (name, w, c)
        print(line, flush=True)


if __name__ == "__main__":
    main()
