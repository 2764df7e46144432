#!/usr/bin/env python3
"""check_live_writer.py - `finscope live` with the flow writer thread (src/writer.c): commits
still every second, each one complete.

Usage: check_live_writer.py FINSCOPE

On lo, python sockets on 127.0.0.1, server ports P and P+1 (below the ephemeral range): one
connection to P+1 stays ESTABLISHED the whole run; CONNS short connections to P (connect, 10
bytes, close on both sides), one every GAP_S seconds.  `finscope live -i lo -f 'tcp portrange
P-P+1'` runs with the writer thread (the default) and then again without it
(FINSCOPE_WRITER_THREAD=0); a read-only reader polls the database every 100 ms.  Both ways:
 1. commits every second: while the connections are made, the committed captures.packets_read
    moves at least (traffic seconds - 2) times, never more than 2.5 s apart;
 2. each commit complete: at every poll, captures.flows equals the flows rows of the capture
    (the flows handed to the writer are all written before the captures row is updated);
 3. held_flows holds the open connection while live runs;
 4. each short connection is a row within 5 s of its close (1 s linger, 1 s commit);
 5. after SIGINT: exit 0, exactly CONNS + 1 rows (the open one written as it stands),
    captures.flows the same, held_flows empty.
Exit 0 when all passed, 1 on a failure, 77 (skip) when not root or no packet socket on lo.
"""
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_live as cl  # noqa: E402  (ports, sockets, the live child, the pass/fail counters)
from check_live import check, client, free_range, listener, ro_connect  # noqa: E402

CONNS = 24
GAP_S = 0.25


class Poller(threading.Thread):
    """Reads the database every 100 ms until stopped: (time, packets_read, captures.flows,
    flows rows, held_flows rows to port open_port) per poll that found a captures row."""

    def __init__(self, db, open_port):
        super().__init__(daemon=True)
        self.db, self.open_port = db, open_port
        self.seen = []
        self.done = threading.Event()

    def poll(self):
        con = ro_connect(self.db)
        try:
            row = con.execute("SELECT id, packets_read, flows FROM captures").fetchone()
            if row is None:
                return
            n = con.execute("SELECT count(*) FROM flows WHERE capture_id = ?",
                            (row[0],)).fetchone()[0]
            held = con.execute("SELECT count(*) FROM held_flows WHERE server_port = ?",
                               (self.open_port,)).fetchone()[0]
            self.seen.append((time.monotonic(), row[1], row[2], n, held))
        finally:
            con.close()

    def run(self):
        for _ in range(600):  # bounded: 60 s
            if self.done.is_set():
                return
            try:
                self.poll()
            except sqlite3.Error:
                pass  # the file or the schema is not there yet
            time.sleep(0.1)


def short_connections(ls, port):
    """CONNS connections to port, GAP_S apart; the time each was closed."""
    closed = []
    for _ in range(CONNS):
        c, _cp = client()
        c.connect(("127.0.0.1", port))
        s, _ = ls.accept()
        c.sendall(b"0123456789")
        s.recv(100)
        c.close()
        s.close()
        closed.append(time.monotonic())
        time.sleep(GAP_S)
    return closed


def commits(seen, t0, t1):
    """Times between t0 and t1 at which the committed packets_read was seen to change."""
    out = []
    for a, b in zip(seen, seen[1:]):
        if b[1] != a[1] and t0 <= b[0] <= t1:
            out.append(b[0])
    return out


def one_way(threaded, base):
    how = "thread" if threaded else "no thread"
    print("# live %s" % how)
    if threaded:
        os.environ.pop("FINSCOPE_WRITER_THREAD", None)
    else:
        os.environ["FINSCOPE_WRITER_THREAD"] = "0"
    P = free_range(2, base)
    db = os.path.join(cl.TMP, "writer-%d.db" % threaded)
    ls, lo = listener(P), listener(P + 1)
    live = cl.start_live(["-i", "lo", "-f", "tcp portrange %d-%d" % (P, P + 1), "-o", db, "-q"],
                         "writer-%d" % threaded, how)
    if live is None:
        ls.close()
        lo.close()
        return
    keep, _kp = client()
    keep.connect(("127.0.0.1", P + 1))
    kept, _ = lo.accept()
    poller = Poller(db, P + 1)
    poller.start()
    time.sleep(1.5)
    t0 = time.monotonic()
    closed = short_connections(ls, P)
    t1 = time.monotonic()
    time.sleep(5)
    poller.done.set()
    poller.join(timeout=10)
    rc, waited = live.stop()
    seen = poller.seen

    ticks = commits(seen, t0, t1 + 1.0)
    gaps = [b - a for a, b in zip([t0] + ticks, ticks)]
    if ticks and t1 > ticks[-1]:
        gaps.append(t1 - ticks[-1])
    check(len(ticks) >= int(t1 - t0) - 2,
          "%s: %d commits seen in %.1f s of traffic" % (how, len(ticks), t1 - t0))
    check(gaps and max(gaps) <= 2.5, "%s: commits at most 2.5 s apart (%s)"
          % (how, " ".join("%.2f" % g for g in gaps)))
    bad = [s for s in seen if s[2] != s[3]]
    check(len(seen) > 20 and not bad, "%s: at each of %d polls, captures.flows = flows rows%s"
          % (how, len(seen), "" if not bad else " (not at %r)" % bad[:3]))
    check(any(s[4] == 1 for s in seen), "%s: held_flows holds the open connection" % how)
    late = []
    for i, tc in enumerate(closed):
        first = next((s[0] for s in seen if s[3] >= i + 1), None)
        if first is None or first - tc > 5.0:
            late.append((i, None if first is None else round(first - tc, 2)))
    check(not late, "%s: each connection a row within 5 s of its close (late: %r)" % (how, late))

    keep.close()
    kept.close()
    ls.close()
    lo.close()
    check(rc == 0, "%s: exit 0 after SIGINT (%r, %.1f s)" % (how, rc, waited), live.describe())
    con = ro_connect(db)
    try:
        n = con.execute("SELECT count(*) FROM flows").fetchone()[0]
        flows = con.execute("SELECT flows FROM captures").fetchone()[0]
        held = con.execute("SELECT count(*) FROM held_flows").fetchone()[0]
    finally:
        con.close()
    check(n == CONNS + 1 and flows == n and held == 0,
          "%s: at the end %d rows (want %d), captures.flows %d, held_flows %d"
          % (how, n, CONNS + 1, flows, held))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    cl.FINSCOPE = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        print("live_writer: SKIP: needs root to capture on lo")
        return 77
    why = cl.can_capture_on_lo()
    if why:
        print("live_writer: SKIP: cannot capture on lo (%s)" % why)
        return 77
    cl.TMP = tempfile.mkdtemp(prefix="finscope-live-writer-")
    try:
        one_way(True, cl.BASE_PORT + 300)
        one_way(False, cl.BASE_PORT + 320)
    finally:
        for p in cl.children:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        os.environ.pop("FINSCOPE_WRITER_THREAD", None)
    print("live_writer: %d passed, %d failed" % (cl.passed, cl.failed))
    return 1 if cl.failed else 0


if __name__ == "__main__":
    sys.exit(main())
