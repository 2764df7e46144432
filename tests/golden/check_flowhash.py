#!/usr/bin/env python3
"""check_flowhash.py FINSCOPE - crafted tuples cost no more than ordinary ones (issue 9).

gen_colliding_syns.py writes 60,000 SYNs whose tuples all shared one hash chain under the flow
table's old unkeyed hash (~70x the CPU time of ordinary SYNs, growing with the square of the
count), and 60,000 ordinary ones.  With the keyed hash both cost the same: the colliding
capture's CPU time (user+sys of finscope analyze, best of 3, runs interleaved so load on the
machine hits both alike) must stay within 2x the ordinary one's.  Both give exactly 60,000
unanswered flows, and two runs of the same capture give identical rows (the per-run key
decides no output order).
"""
import os
import sqlite3
import subprocess
import sys
import tempfile

import checklib as T

N = 60000
HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_run(pcap, db):
    """User+sys CPU seconds of one analyze (children's rusage delta)."""
    if os.path.exists(db):
        os.unlink(db)
    before = os.times()
    r = T.run("analyze", "-q", "-o", db, pcap, timeout=600)
    after = os.times()
    T.check(r.returncode == 0, "analyze %s: exit %d %s" % (pcap, r.returncode, r.stderr[-300:]))
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def rows(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT handshake, close_kind, first_packet, * FROM flows ORDER BY id").fetchall()
    finally:
        con.close()


def main():
    T.FINSCOPE = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="fsc_flowhash_") as d:
        pcaps = {}
        for kind in ("colliding", "ordinary"):
            pcaps[kind] = os.path.join(d, kind + ".pcap")
            g = subprocess.run([sys.executable, os.path.join(HERE, "gen_colliding_syns.py"), pcaps[kind],
                                str(N), kind], capture_output=True, text=True, timeout=300)
            T.check(g.returncode == 0, "generate %s: %s" % (kind, g.stdout + g.stderr))
        best = {"colliding": float("inf"), "ordinary": float("inf")}
        first = {}
        for _ in range(3):
            for kind in ("ordinary", "colliding"):
                db = os.path.join(d, kind + ".db")
                best[kind] = min(best[kind], cpu_run(pcaps[kind], db))
                got = rows(db)
                if kind in first:
                    T.check(got == first[kind], "%s: a second run gives the same rows" % kind)
                else:
                    first[kind] = got
        for kind, got in first.items():
            T.check(len(got) == N, "%s: %d flows, expected %d" % (kind, len(got), N))
            T.check(all(r[0] == "unanswered" and r[1] == "unanswered" for r in got),
                    "%s: every flow an unanswered SYN" % kind)
            T.check([r[2] for r in got] == list(range(1, N + 1)), "%s: flows in capture order" % kind)
        print("CPU best of 3: colliding %.2f s, ordinary %.2f s" % (best["colliding"], best["ordinary"]))
        T.check(best["colliding"] <= 2 * best["ordinary"],
                "colliding SYNs took %.2f s CPU, more than 2x ordinary (%.2f s)" % (best["colliding"],
                                                                                   best["ordinary"]))
    return T.summary("flowhash")


if __name__ == "__main__":
    sys.exit(main())
