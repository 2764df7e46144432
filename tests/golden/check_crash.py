#!/usr/bin/env python3
"""check_crash.py - SIGKILL `analyze` and `live` at random points; the database must stay usable.

Usage: check_crash.py FINSCOPE [ROUNDS_ANALYZE [ROUNDS_LIVE]]

After every kill, before anything else touches the file, a read command (query, report,
report --html, show, show --svg, export --zeek, export --zeek --json, taking turns: the first
open meets what the kill left) must open the database read-only and succeed; `PRAGMA integrity_check` run through `finscope query` says ok; and only
whole captures are there: each captures row has exactly captures.flows flow rows, no flow row
lacks its capture, and the capture being written by the killed `analyze` is either absent or
complete (what an uninterrupted run stores).  A run killed while SQLite had spilled pages
leaves a hot rollback journal, which read-only connections cannot roll back on their own; the
test counts how many kills left one and fails if too few did (then it would prove nothing).
Kills are spread over the whole run; the seed is printed so a failure can be replayed
(FSC_CRASH_SEED).  Every loop is bounded in count and time; traffic only goes to loopback.
"""
import os
import random
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time

import checklib as T
from checklib import check, run


# Enough connections for the database (~35 MB) to outgrow the page cache (schema 6: ~0.7 KB each).
HEAVY_CONNS = 50000


def write_heavy_pcap(path, nconn):
    """nconn four-way connections of 11 packets each (connection-heavy, ~0.7 KB of database
    per connection, so the database outgrows SQLite's 16 MiB page cache and pages spill)."""
    S, A, F, P = 2, 16, 1, 8
    eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
    server = bytes([10, 200, 0, 1])
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(nconn):
            client = bytes([10, 1, (i >> 8) & 0xFF, i & 0xFF])
            cport, t = 1024 + i % 60000, 1700000000 + i * 0.0005
            c, s = 1000, 5000
            steps = [(0, S, c, 0, 0), (1, S | A, s, c + 1, 0), (0, A, c + 1, s + 1, 0),
                     (0, P | A, c + 1, s + 1, 100), (1, A, s + 1, c + 101, 0),
                     (1, P | A, s + 1, c + 101, 300), (0, A, c + 101, s + 301, 0),
                     (0, F | A, c + 101, s + 301, 0), (1, A, s + 301, c + 102, 0),
                     (1, F | A, s + 301, c + 102, 0), (0, A, c + 102, s + 302, 0)]
            for k, (d, flags, seq, ack, n) in enumerate(steps):
                src, dst, sp, dp = (client, server, cport, 80) if d == 0 else (server, client, 80, cport)
                tcp = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 5 << 4, flags, 65535, 0, 0) + b"z" * n
                ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
                frame = eth + ip + tcp
                ts = t + k * 0.0001
                out.write(struct.pack("<IIII", int(ts), int((ts % 1) * 1e6), len(frame), len(frame)))
                out.write(frame)


READ_COMMANDS = [("query", "{db}", "SELECT count(*) FROM flows"), ("report", "{db}"),
                 ("report", "{db}", "--html", "-"), ("show", "{db}", "1"),
                 ("show", "{db}", "1", "--svg", "-"), ("export", "--zeek", "{db}"),
                 ("export", "--zeek", "--json", "{db}")]


def read_commands_work(db, what, first):
    """The read command `first` opens the database as the killed run left it (the first open
    is the one that meets a hot journal, so the rounds take turns), then integrity_check and a
    ladder; all read-only, before anything else touches the file."""
    for c in [first, ("query", "{db}", "PRAGMA integrity_check"), ("show", "{db}", "1")]:
        if c[0] == "show" and not has_flow_1(db):
            continue  # a live run killed before its first commit: nothing to show
        args = [a.format(db=db) for a in c]
        r = run(*args)
        check(r.returncode == 0, "%s: finscope %s: exit %d: %s" % (
            what, " ".join(c), r.returncode, r.stderr.decode(errors="replace")[:300]))
        if c[2:] == ("PRAGMA integrity_check",):
            check(r.stdout.split()[-1:] == [b"ok"], "%s: integrity_check: %r" % (what, r.stdout[:200]))


def has_flow_1(db):
    r = run("query", "--csv", db, "SELECT count(*) FROM flows WHERE id = 1")
    return r.returncode == 0 and r.stdout.split()[-1:] == [b"1"]


def whole_captures(db, what, complete_flows=None, big_name=None):
    """Each capture has all its flow rows; the killed analysis's capture is absent or whole."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        caps = con.execute("SELECT id, source, flows FROM captures").fetchall()
        counts = dict(con.execute("SELECT capture_id, count(*) FROM flows GROUP BY capture_id"))
        orphans = con.execute("SELECT count(*) FROM flows WHERE capture_id NOT IN "
                              "(SELECT id FROM captures)").fetchone()[0]
    except sqlite3.Error as e:
        check(False, "%s: read-only sqlite3 cannot read the database: %s" % (what, e))
        return []
    finally:
        con.close()
    check(orphans == 0, "%s: %d flow rows without their capture" % (what, orphans))
    for cid, source, nflows in caps:
        check(counts.get(cid, 0) == nflows,
              "%s: capture %d has %d flow rows, captures.flows says %d" % (what, cid, counts.get(cid, 0), nflows))
        if big_name and source.endswith(big_name):
            check(nflows == complete_flows,
                  "%s: the killed run's capture is there with %d flows, a whole run stores %d"
                  % (what, nflows, complete_flows))
    return caps


def kill_analyze(tmp, rounds, rng):
    heavy = os.path.join(tmp, "heavy.pcap")
    write_heavy_pcap(heavy, HEAVY_CONNS)
    small = os.path.join(tmp, "small.pcap")
    write_heavy_pcap(small, 3)
    ref = os.path.join(tmp, "ref.db")
    t0 = time.monotonic()
    r = run("analyze", "-q", "-o", ref, heavy, timeout=300)
    full = time.monotonic() - t0
    check(r.returncode == 0, "reference analysis: %r" % r.stderr[-300:])
    complete = sqlite3.connect(ref).execute("SELECT flows FROM captures").fetchone()[0]
    check(complete == HEAVY_CONNS,
          "reference analysis stores %d flows (%d)" % (HEAVY_CONNS, complete))

    db = os.path.join(tmp, "kill.db")
    r = run("analyze", "-q", "-o", db, small)
    check(r.returncode == 0, "base capture: %r" % r.stderr[-300:])
    hot = finished = 0
    for i in range(rounds):
        # --replace: once a run has finished, later runs replace its capture (and a killed
        # replacement must leave the old one whole).
        p = subprocess.Popen([os.path.abspath(T.FINSCOPE), "analyze", "-q", "--replace", "-o", db, heavy],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, full * 1.1))
        p.send_signal(signal.SIGKILL)
        rc = p.wait()
        finished += rc == 0
        journal = db + "-journal"
        hot += os.path.exists(journal) and os.path.getsize(journal) > 0
        what = "analyze kill %d" % i
        read_commands_work(db, what, READ_COMMANDS[i % len(READ_COMMANDS)])
        caps = whole_captures(db, what, complete, "heavy.pcap")
        check(any(s.endswith("small.pcap") for _, s, _ in caps), "%s: the base capture is still there" % what)
    print("analyze: %d kills, %d left a hot journal, %d runs had finished (a full run: %.2f s)"
          % (rounds, hot, finished, full))
    check(hot >= rounds // 5, "at least a fifth of the kills left a hot journal (%d of %d)" % (hot, rounds))


class Traffic:
    """Short TCP connections to a listener on loopback, until stopped (bounded by a deadline)."""

    def __init__(self, deadline):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(512)
        self.port = self.srv.getsockname()[1]
        self.stop = threading.Event()
        self.deadline = deadline
        self.threads = [threading.Thread(target=self.serve, daemon=True),
                        threading.Thread(target=self.connect, daemon=True)]
        for t in self.threads:
            t.start()

    def serve(self):
        self.srv.settimeout(0.2)
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                c, _ = self.srv.accept()
            except OSError:
                continue
            try:
                c.settimeout(1)
                c.recv(100)
                c.sendall(b"pong")
            except OSError:
                pass
            c.close()

    def connect(self):
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                s.sendall(b"ping")
                s.recv(100)
                s.close()
            except OSError:
                pass
            time.sleep(0.002)

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(3)
        self.srv.close()


def kill_live(tmp, rounds, rng):
    db = os.path.join(tmp, "live.db")
    traffic = Traffic(time.monotonic() + 60 + rounds * 6)
    try:
        for i in range(rounds):
            p = subprocess.Popen([os.path.abspath(T.FINSCOPE), "live", "-q", "-i", "lo", "-o", db, "--linger", "0.1",
                                  "-f", "tcp port %d" % traffic.port, "--duration", "30"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Odd rounds outlive the first commit (one second in), even ones may not.
            time.sleep(rng.uniform(1.3, 2.5) if i % 2 else rng.uniform(0.2, 1.2))
            p.send_signal(signal.SIGKILL)
            p.wait()
            what = "live kill %d" % i
            # Not show first: a run killed before its first commit leaves no flow to show.
            firsts = [c for c in READ_COMMANDS if c[0] != "show"]
            read_commands_work(db, what, firsts[i % len(firsts)])
            whole_captures(db, what)
    finally:
        traffic.close()
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    caps, flows = con.execute("SELECT count(*), (SELECT count(*) FROM flows) FROM captures").fetchone()
    con.close()
    print("live: %d kills, %d captures rows, %d flows committed" % (rounds, caps, flows))
    # A run killed before its first commit (one second in) leaves nothing, by design.
    check(1 <= caps <= rounds, "killed live runs left 1..%d capture rows (%d)" % (rounds, caps))
    check(flows > 0, "killed live runs committed flows (%d)" % flows)


def main():
    T.FINSCOPE = sys.argv[1]
    n_analyze = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    n_live = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    seed = int(os.environ.get("FSC_CRASH_SEED", random.randrange(1 << 30)))
    print("seed %d (FSC_CRASH_SEED=%d replays it)" % (seed, seed))
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        kill_analyze(tmp, n_analyze, rng)
        if os.geteuid() == 0:
            kill_live(tmp, n_live, rng)
        else:
            print("live: skipped, capturing on lo needs root")
    return T.summary("crash")


if __name__ == "__main__":
    sys.exit(main())
