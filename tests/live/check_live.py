#!/usr/bin/env python3
"""check_live.py - proof for issue 4: `finscope live` on the loopback interface.

Usage: check_live.py FINSCOPE

What it proves, each with exact assertions (python3 standard library only; every loop is
bounded in count and time; all traffic is between python sockets on 127.0.0.1 / ::1, on
ports below the ephemeral range so no unrelated client can land in the capture filter):

 1. rows while live runs, and at the end: `finscope live -i lo -f 'tcp portrange P-P+9'`
    captures real connections with known endings: a half-close the server never answers
    (client shutdown(SHUT_WR); the server socket stays open until live has exited), a
    four-way close (client close, the server application closes 150 ms later, after the
    kernel has already acked the FIN on its own), an abort (SO_LINGER 0 after a
    request/response), a refused connect (P+1, nothing listening) and a four-way close over
    ::1 (when the machine has IPv6).  While live still runs, a read-only reader
    (`file:DB?mode=ro`) sees the journal in WAL mode and sees the closed connections' rows,
    each within 5 s of its close, with their tokens.  Then SIGINT: exit 0 within 10 s, the
    summary on stdout, exactly one row per connection with the expected handshake,
    close_kind, rst_cause, closer, both endpoint states and half_close_bytes (the half-closed
    one written at the end as half_closed, fin_wait_2 / close_wait), no other row, and the
    capture row: source 'live:lo', the filter, size_bytes NULL, packets_tcp > 0,
    drops 0 (not NULL), flows = the number of rows, flows_evicted 0.
 2. a bad BPF filter: exit 1 within 10 s, one line on stderr naming the expression, the
    database (and any -wal/-shm/-journal) never created, no capture started.
 3. load: 2000 short connections (connect, send 10 bytes, close; a listener thread accepts
    and closes), made within 30 s while live runs with a port-range filter.  After the rows
    have settled (bounded wait) SIGINT; exit 0; every (client_port, server_port) used
    appears in exactly as many rows as it was used (ports reused by the kernel count twice),
    no other row, captures.flows = rows.  captures.drops must not be NULL; with drops == 0
    nothing may be missing (and every row is a three_way handshake, packets_tcp >= 5 per
    connection); with drops > 0 the test prints drops and missing rows, and missing rows
    must be <= drops.
 5. kernel drops under a forced stall, against tcpdump: a UDP sink on 127.0.0.1:U (never
    read), tcpdump on lo (128 MiB buffer, snaplen 256) and `finscope live -B 1024` (1 MiB), with
    the filter 'udp and dst port U'; 1,000 datagrams, then SIGSTOP finscope, a burst of
    200,000 datagrams (at most 20 s), SIGCONT, wait until packets_read stays put (bounded),
    SIGINT both.  tcpdump must hold every datagram sent and report no drop; the capture row's
    drops must be > 0 and equal exactly the datagrams tcpdump captured minus finscope's
    packets_read (issue 10: lo counted every lost frame twice).
 4. `--duration 2` ends by itself (exit 0, after >= 2 s and within 8 s) and writes the
    connection still open in memory (close_kind open); `-c 5` ends after exactly 5 packets
    (exit 0, packets_read = packets_tcp = 5, the one connection's row holds S / S. / . / P.
    / . : client_packets 3, server_packets 2, close_kind open).

Exit status: 0 when everything passed, 1 on any failure, 77 (skip) when not root or when a
packet socket cannot be opened on lo (no CAP_NET_RAW).  The last line is exactly
"live: N passed, M failed".
"""
import collections
import os
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True

FINSCOPE = None
TMP = None
BASE_PORT = 29400          # below ip_local_port_range (32768-60999): no stray ephemeral ports
LOAD_CONNECTIONS = 2000
passed = failed = 0
children = []              # live processes this script started (killed by handle on exit)


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   %s" % what)
    else:
        failed += 1
        print("FAIL %s%s" % (what, (": " + detail) if detail else ""))
    return cond


def note(msg):
    print("     %s" % msg)


# ---- ports and sockets ----

def free_range(n, start):
    """First base >= start (stepping by n) where ports base..base+n-1 bind on 127.0.0.1 (and
    ::1 when present).  Bounded: 40 tries."""
    base = start
    for _ in range(40):
        ok = True
        for p in range(base, base + n):
            for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                s = socket.socket(fam, socket.SOCK_STREAM)
                try:
                    s.bind((addr, p))
                except OSError as e:
                    if fam == socket.AF_INET or e.errno != 99:  # 99: ::1 not available
                        ok = False
                finally:
                    s.close()
        if ok:
            return base
        base += n
    raise RuntimeError("no free port range of %d near %d" % (n, start))


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def listener(port, family=socket.AF_INET, addr="127.0.0.1", backlog=16):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(5)
    s.bind((addr, port))
    s.listen(backlog)
    return s


def client(family=socket.AF_INET, addr="127.0.0.1"):
    """A client socket bound to an ephemeral port, so its port is known even if connect fails."""
    c = socket.socket(family, socket.SOCK_STREAM)
    c.settimeout(5)
    c.bind((addr, 0))
    return c, c.getsockname()[1]


def linger0(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# ---- finscope live as a child process ----

class Live:
    def __init__(self, args, name):
        self.out_path = os.path.join(TMP, name + ".stdout")
        self.err_path = os.path.join(TMP, name + ".stderr")
        self.args = [FINSCOPE, "live"] + args
        self.t0 = time.monotonic()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.args, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        children.append(self.proc)

    def stderr(self):
        with open(self.err_path, "rb") as fp:
            return fp.read().decode(errors="replace")

    def stdout(self):
        with open(self.out_path, "rb") as fp:
            return fp.read().decode(errors="replace")

    def wait_capturing(self, timeout=10.0):
        """True once stderr has a line starting 'finscope: capturing on lo'; False if the process
        exits first or after timeout seconds (polls the stderr file every 50 ms)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(l.startswith("finscope: capturing on lo") for l in self.stderr().splitlines()):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGINT, timeout=10.0):
        """Send sig, wait up to timeout; returns (exit status or None, seconds waited)."""
        t = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait(timeout)
        return rc, time.monotonic() - t

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def describe(self):
        return "command: %s\nexit: %s\nstderr:\n%s\nstdout:\n%s" % (
            " ".join("'%s'" % a if " " in a else a for a in self.args), self.proc.poll(),
            self.stderr().rstrip(), self.stdout().rstrip())


def start_live(args, name, what):
    live = Live(args, name)
    if not check(live.wait_capturing(10.0), "%s: live prints 'finscope: capturing on lo' within 10 s" % what,
                 live.describe()):
        live.kill()
        return None
    return live


# ---- database ----

FLOW_COLS = ["ip_version", "client_addr", "client_port", "server_addr", "server_port",
             "handshake", "close_kind", "rst_cause", "closer", "client_state", "server_state",
             "half_close_bytes", "client_packets", "server_packets", "capture_id"]


def ro_connect(db):
    return sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=2)


def flow_rows(db, where="1", params=()):
    con = ro_connect(db)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(
            "SELECT %s FROM flows WHERE %s ORDER BY id" % (", ".join(FLOW_COLS), where), params)]
    finally:
        con.close()


def capture_rows(db):
    con = ro_connect(db)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute("SELECT * FROM captures ORDER BY id")]
    finally:
        con.close()


def try_flow_rows(db, where="1", params=()):
    """flow_rows, or None while the file or the table does not exist yet (live just started)."""
    try:
        return flow_rows(db, where, params)
    except sqlite3.Error:
        return None


def pick(row, keys):
    return {k: row[k] for k in keys}


# ---- test 1: close kinds, rows while running, rows and capture row at the end ----

def test_close_kinds():
    print("# 1. close kinds on lo: rows while live runs, and after SIGINT")
    P = free_range(10, BASE_PORT)
    db = os.path.join(TMP, "kinds.db")
    expr = "tcp portrange %d-%d" % (P, P + 9)
    v6 = have_ipv6()
    ls4 = listener(P)
    ls6 = listener(P, socket.AF_INET6, "::1") if v6 else None
    live = start_live(["-i", "lo", "-f", expr, "-o", db], "kinds", "kinds")
    if live is None:
        ls4.close()
        if ls6:
            ls6.close()
        return
    keep = []              # the half-closed pair: open until live has exited
    conns = {}             # name -> dict(port=, server_port=, addr=, closed_at=, exp=)
    base = dict(handshake="three_way", rst_cause=None, half_close_bytes=0)
    try:
        # half-closed: client FIN, the server application never closes
        c, cp = client()
        c.connect(("127.0.0.1", P))
        s, _ = ls4.accept()
        c.sendall(b"last words")
        c.shutdown(socket.SHUT_WR)
        keep += [c, s]
        conns["half_closed"] = dict(port=cp, server_port=P, v=4, closed_at=None, exp=dict(
            base, close_kind="half_closed", closer="client", client_state="fin_wait_2",
            server_state="close_wait"))
        time.sleep(0.1)

        # four-way: client closes; the server acks the FIN by itself, its app closes 150 ms later
        def four_way(ls, fam, addr):
            c, cp = client(fam, addr)
            c.connect((addr, P))
            s, _ = ls.accept()
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
            s.recv(100)
            s.sendall(b"x" * 500)
            got = 0
            while got < 500:
                d = c.recv(1000)
                if not d:
                    break
                got += len(d)
            time.sleep(0.05)
            c.close()
            time.sleep(0.15)
            s.recv(10)
            s.close()
            return cp, time.monotonic()
        cp, t = four_way(ls4, socket.AF_INET, "127.0.0.1")
        conns["four_way"] = dict(port=cp, server_port=P, v=4, closed_at=t, exp=dict(
            base, close_kind="four_way", closer="client", client_state="time_wait",
            server_state="closed"))

        # abort: SO_LINGER 0 after a request/response
        c, cp = client()
        c.connect(("127.0.0.1", P))
        s, _ = ls4.accept()
        c.sendall(b"request")
        s.recv(100)
        s.sendall(b"response")
        c.recv(100)
        time.sleep(0.05)
        linger0(c)
        c.close()
        t = time.monotonic()
        time.sleep(0.05)
        s.close()
        conns["rst_abort"] = dict(port=cp, server_port=P, v=4, closed_at=t, exp=dict(
            base, close_kind="rst", rst_cause="abort", closer="client", client_state="closed",
            server_state="closed"))

        # refused: nothing listens on P+1
        c, cp = client()
        try:
            c.connect(("127.0.0.1", P + 1))
            check(False, "kinds: connect to P+1 is refused")
        except ConnectionRefusedError:
            pass
        t = time.monotonic()
        c.close()
        conns["refused"] = dict(port=cp, server_port=P + 1, v=4, closed_at=t, exp=dict(
            base, handshake="refused", close_kind="refused", closer="server",
            client_state="closed", server_state="closed"))

        if v6:
            cp, t = four_way(ls6, socket.AF_INET6, "::1")
            conns["four_way_v6"] = dict(port=cp, server_port=P, v=6, closed_at=t, exp=dict(
                base, close_kind="four_way", closer="client", client_state="time_wait",
                server_state="closed"))
        else:
            note("no ::1 on this machine: the IPv6 connection is left out")

        # while live runs: WAL, and every closed connection's row within 5 s of its close
        closed = [n for n in conns if conns[n]["closed_at"] is not None]
        seen = {}
        mode = None
        deadline = max(conns[n]["closed_at"] for n in closed) + 5.0
        for _ in range(200):                       # 200 x 50 ms at most, and the deadline
            rows = try_flow_rows(db)
            if rows is not None:
                if mode is None:
                    try:
                        con = ro_connect(db)
                        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
                        con.close()
                    except sqlite3.Error:
                        pass
                now = time.monotonic()
                for n in closed:
                    if n not in seen and any(r["client_port"] == conns[n]["port"] and
                                             r["server_port"] == conns[n]["server_port"] for r in rows):
                        seen[n] = (now, [r for r in rows if r["client_port"] == conns[n]["port"] and
                                         r["server_port"] == conns[n]["server_port"]])
            if len(seen) == len(closed) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        check(live.proc.poll() is None, "kinds: live is still running while the rows are read",
              live.describe())
        check(mode == "wal", "kinds: a reader sees the database in WAL mode while live runs",
              "journal_mode %r" % mode)
        for n in closed:
            if not check(n in seen, "kinds: %s row visible while live runs" % n,
                         "no row for client port %d within 5 s of its close" % conns[n]["port"]):
                continue
            delay = seen[n][0] - conns[n]["closed_at"]
            check(delay <= 5.0, "kinds: %s row visible within 5 s of the close (%.1f s)" % (n, delay))
            r = seen[n][1]
            exp = conns[n]["exp"]
            got = [pick(x, exp.keys()) for x in r]
            check(got == [exp], "kinds: %s row while running has the expected tokens" % n,
                  "got %s, expected [%s]" % (got, exp))
    finally:
        rc, waited = live.stop(signal.SIGINT, 10.0)
        live.kill()
        for k in keep:
            k.close()
        ls4.close()
        if ls6:
            ls6.close()
    check(rc == 0, "kinds: SIGINT -> exit status 0 within 10 s (%.1f s)" % waited, live.describe())
    out = live.stdout()
    check("live:lo: " in out and "packets read" in out,
          "kinds: the summary is printed on stdout", live.describe())
    if not os.path.exists(db):
        check(False, "kinds: database exists after live", db)
        return

    # every connection exactly once, with its tokens; nothing else
    rows = flow_rows(db)
    for n, info in conns.items():
        mine = [r for r in rows if r["client_port"] == info["port"] and r["server_port"] == info["server_port"]]
        addr = "127.0.0.1" if info["v"] == 4 else "::1"
        exp = dict(info["exp"], ip_version=info["v"], client_addr=addr, server_addr=addr)
        got = [pick(r, exp.keys()) for r in mine]
        check(got == [exp], "kinds: %s has exactly one row with the expected tokens" % n,
              "got %s, expected [%s]" % (got, exp))
    check(len(rows) == len(conns), "kinds: no other rows (%d rows, %d connections)" % (len(rows), len(conns)),
          "%s" % rows)
    caps = capture_rows(db)
    if not check(len(caps) == 1, "kinds: exactly one captures row", "%s" % caps):
        return
    cap = caps[0]
    check(cap["source"] == "live:lo", "kinds: captures.source = 'live:lo'", repr(cap["source"]))
    check(cap["filter"] == expr, "kinds: captures.filter = %r" % expr, repr(cap["filter"]))
    check(cap["size_bytes"] is None, "kinds: captures.size_bytes IS NULL", repr(cap["size_bytes"]))
    check(cap["packets_tcp"] is not None and cap["packets_tcp"] > 0, "kinds: captures.packets_tcp > 0",
          repr(cap["packets_tcp"]))
    check(cap["packets_read"] is not None and cap["packets_read"] >= (cap["packets_tcp"] or 0),
          "kinds: captures.packets_read >= packets_tcp", "%r, %r" % (cap["packets_read"], cap["packets_tcp"]))
    check(cap["drops"] is not None and cap["drops"] == 0, "kinds: captures.drops = 0 (not NULL)",
          repr(cap["drops"]))
    check(cap["flows"] == len(rows) and all(r["capture_id"] == cap["id"] for r in rows),
          "kinds: captures.flows = number of rows of the capture (%d)" % len(rows),
          "flows %r, rows %d" % (cap["flows"], len(rows)))
    check(cap["flows_evicted"] == 0, "kinds: captures.flows_evicted = 0", repr(cap["flows_evicted"]))


# ---- test 2: a bad filter ----

def test_bad_filter():
    print("# 2. bad filter")
    db = os.path.join(TMP, "badfilter.db")
    expr = "port nonsense"
    live = Live(["-i", "lo", "-f", expr, "-o", db], "badfilter")
    rc = live.wait(10.0)
    elapsed = time.monotonic() - live.t0
    live.kill()
    err = live.stderr()
    check(rc == 1, "badfilter: exit status 1 (%.1f s)" % elapsed, live.describe())
    lines = err.strip().splitlines()
    check(len(lines) == 1 and expr in lines[0], "badfilter: one line on stderr naming %r" % expr,
          live.describe())
    check("capturing on" not in err, "badfilter: no capture started", live.describe())
    made = [p for p in (db, db + "-wal", db + "-shm", db + "-journal") if os.path.exists(p)]
    check(not made, "badfilter: the database is not created", "exists: %s" % made)


# ---- test 3: load ----

def test_load():
    print("# 3. load: %d short connections" % LOAD_CONNECTIONS)
    Q = free_range(10, BASE_PORT + 20)
    db = os.path.join(TMP, "load.db")
    expr = "tcp portrange %d-%d" % (Q, Q + 9)
    ls = listener(Q, backlog=4096)
    ls.settimeout(0.2)
    stop = threading.Event()
    accepted = [0]

    def serve():
        while not stop.is_set():
            try:
                s, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            accepted[0] += 1
            s.close()
    th = threading.Thread(target=serve, daemon=True)
    live = start_live(["-i", "lo", "-f", expr, "-o", db], "load", "load")
    if live is None:
        ls.close()
        return
    used = collections.Counter()       # (client_port, server_port) -> times used
    errors = []
    th.start()
    t0 = time.monotonic()
    try:
        for i in range(LOAD_CONNECTIONS):
            if time.monotonic() - t0 > 30.0:
                break
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.settimeout(5)
            try:
                c.connect(("127.0.0.1", Q))
                used[(c.getsockname()[1], Q)] += 1
                c.send(b"0123456789")
            except OSError as e:
                errors.append(repr(e))
            finally:
                c.close()
        made = sum(used.values())
        spent = time.monotonic() - t0
        check(made == LOAD_CONNECTIONS and not errors,
              "load: %d connections made in %.1f s (limit 30 s)" % (made, spent),
              "%d made, %d errors, first: %s" % (made, len(errors), errors[:3]))
        # let live catch up: closed rows appear after the linger; bounded at 10 s
        settled = None
        for _ in range(100):
            rows = try_flow_rows(db, "server_port = ?", (Q,))
            if rows is not None and len(rows) >= made:
                settled = time.monotonic() - t0 - spent
                break
            time.sleep(0.1)
        present = 0 if rows is None else len(rows)
        note("rows visible while live runs: %d of %d%s" % (
            present, made, "" if settled is None else " (%.1f s after the last connection)" % settled))
    finally:
        rc, waited = live.stop(signal.SIGINT, 10.0)
        live.kill()
        stop.set()
        ls.close()
        th.join(5)
    check(rc == 0, "load: SIGINT -> exit status 0 (%.1f s)" % waited, live.describe())
    if not os.path.exists(db):
        check(False, "load: database exists after live", db)
        return
    rows = flow_rows(db)
    have = collections.Counter((r["client_port"], r["server_port"]) for r in rows)
    missing = sum(max(0, n - have.get(k, 0)) for k, n in used.items())
    wrong = {k: (n, have.get(k, 0)) for k, n in used.items() if have.get(k, 0) > n}
    extra = {k: n for k, n in have.items() if k not in used}
    caps = capture_rows(db)
    if not check(len(caps) == 1, "load: exactly one captures row", "%s" % caps):
        return
    cap = caps[0]
    drops = cap["drops"]
    check(drops is not None, "load: captures.drops is not NULL")
    drops = drops or 0
    print("     load: %d connections, %d rows, kernel drops %d, missing rows %d" % (
        sum(used.values()), len(rows), drops, missing))
    if drops == 0:
        check(missing == 0, "load: every connection has its row (no drops, none missing)",
              "%d missing, e.g. %s" % (missing, [k for k in used if have.get(k, 0) < used[k]][:5]))
        bad = [r for r in rows if r["handshake"] != "three_way"]
        check(not bad, "load: every row is a three_way handshake", "%d not: %s" % (len(bad), bad[:3]))
        check(cap["packets_tcp"] >= 5 * sum(used.values()),
              "load: packets_tcp >= 5 per connection", "%r" % cap["packets_tcp"])
    else:
        check(missing <= drops, "load: missing rows (%d) <= kernel drops (%d)" % (missing, drops))
    check(not wrong, "load: no connection has more than one row", "%s" % list(wrong.items())[:5])
    check(not extra, "load: no row for a connection not made", "%s" % list(extra.items())[:5])
    check(cap["source"] == "live:lo", "load: captures.source = 'live:lo'", repr(cap["source"]))
    check(cap["flows"] == len(rows), "load: captures.flows = rows (%d)" % len(rows), repr(cap["flows"]))


# ---- test 4: --duration and -c ----

def test_duration_and_count():
    print("# 4. --duration 2 and -c 5")
    R = free_range(10, BASE_PORT + 40)
    expr = "tcp portrange %d-%d" % (R, R + 9)
    ls = listener(R)
    keep = []
    try:
        db = os.path.join(TMP, "duration.db")
        live = start_live(["-i", "lo", "-f", expr, "-o", db, "--duration", "2"], "duration", "duration")
        if live is not None:
            c, cp = client()
            c.connect(("127.0.0.1", R))
            s, _ = ls.accept()
            c.sendall(b"still open")
            s.recv(100)
            keep += [c, s]
            rc = live.wait(12.0)
            elapsed = time.monotonic() - live.t0
            live.kill()
            check(rc == 0, "duration: --duration 2 exits by itself with status 0", live.describe())
            check(2.0 <= elapsed <= 8.0, "duration: it ends after 2 s (%.1f s after start)" % elapsed)
            if os.path.exists(db):
                caps = capture_rows(db)
                check(len(caps) == 1 and caps[0]["source"] == "live:lo" and caps[0]["drops"] == 0,
                      "duration: one captures row, source live:lo, drops 0", "%s" % caps)
                got = [pick(r, ["client_port", "handshake", "close_kind", "closer"]) for r in flow_rows(db)]
                exp = [dict(client_port=cp, handshake="three_way", close_kind="open", closer="none")]
                check(got == exp, "duration: the connection still open is written at the end",
                      "got %s, expected %s" % (got, exp))
            else:
                check(False, "duration: database exists after live", db)

        db = os.path.join(TMP, "count.db")
        live = start_live(["-i", "lo", "-f", expr, "-o", db, "-c", "5"], "count", "count")
        if live is not None:
            c, cp = client()
            c.connect(("127.0.0.1", R))      # S, S., .
            s, _ = ls.accept()
            time.sleep(0.1)
            c.sendall(b"0123456789")         # P. and the server's ack: packets 4 and 5
            s.recv(100)
            t5 = time.monotonic()
            rc = live.wait(5.0)              # nothing more is sent until live has exited
            after = time.monotonic() - t5
            keep += [c, s]
            if rc is None:                   # still running: more packets, then a last wait
                s.sendall(b"more packets after the fifth")
                c.recv(100)
                rc = live.wait(5.0)
                note("count: live was still running 5 s after the 5th packet; exit status %r after more "
                     "packets" % rc)
                rc = "still running 5 s after the 5th packet (then %r)" % rc
            live.kill()
            check(rc == 0, "count: -c 5 exits by itself with status 0 after the 5th packet (%.1f s)" % after,
                  "%s\n%s" % (rc, live.describe()))
            if os.path.exists(db):
                caps = capture_rows(db)
                got = [pick(x, ["source", "packets_read", "packets_tcp"]) for x in caps]
                exp = [dict(source="live:lo", packets_read=5, packets_tcp=5)]
                check(got == exp, "count: packets_read = packets_tcp = 5", "got %s" % got)
                got = [pick(r, ["client_port", "handshake", "close_kind", "client_packets", "server_packets"])
                       for r in flow_rows(db)]
                exp = [dict(client_port=cp, handshake="three_way", close_kind="open", client_packets=3,
                            server_packets=2)]
                check(got == exp, "count: the one connection holds exactly the 5 packets",
                      "got %s, expected %s" % (got, exp))
            else:
                check(False, "count: database exists after live", db)
    finally:
        for k in keep:
            k.close()
        ls.close()


# ---- test 5: kernel drops during a stall, against tcpdump ----

STALL_WARMUP = 1000
STALL_BURST = 200000


def free_udp_port(start):
    """First port >= start that binds as UDP on 127.0.0.1 (bounded: 40 tries)."""
    for port in range(start, start + 40):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            pass
        finally:
            s.close()
    raise RuntimeError("no free UDP port near %d" % start)


def count_pcap_records(path):
    """Records in a pcap file (either byte order, any timestamp precision)."""
    with open(path, "rb") as fp:
        data = fp.read()
    if len(data) < 24:
        return 0
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off, n = 24, 0
    while off + 16 <= len(data):
        off += 16 + struct.unpack(order + "I", data[off + 8:off + 12])[0]
        n += 1
    return n


def send_datagrams(port, n, limit_s):
    """Send up to n 10-byte datagrams to 127.0.0.1:port within limit_s seconds; returns how many."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    sent, t0 = 0, time.monotonic()
    try:
        while sent < n:
            s.send(b"0123456789")
            sent += 1
            if sent % 10000 == 0 and time.monotonic() - t0 > limit_s:
                break
    finally:
        s.close()
    return sent


def test_stall_drops():
    print("# 5. kernel drops during a forced stall, against tcpdump")
    tcpdump = shutil.which("tcpdump")
    if not check(tcpdump is not None, "stall: tcpdump is installed (the reference capture)"):
        return
    U = free_udp_port(BASE_PORT + 60)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sink.bind(("127.0.0.1", U))           # a socket on the port: no ICMP port unreachable
    expr = "udp and dst port %d" % U
    db = os.path.join(TMP, "stall.db")
    ref_pcap = os.path.join(TMP, "stall-ref.pcap")
    ref_err = os.path.join(TMP, "stall-ref.stderr")
    with open(ref_err, "wb") as err:
        # Not immediate mode: libpcap then packs frames into TPACKET_V3 blocks (~150 bytes for
        # each of these datagrams, instead of a fixed slot per frame), and 128 MiB holds the burst.
        ref = subprocess.Popen([tcpdump, "-i", "lo", "-n", "-s", "256", "-B", "131072",
                                "-w", ref_pcap, expr], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err)
    children.append(ref)

    def ref_stderr():
        with open(ref_err, "rb") as fp:
            return fp.read().decode(errors="replace")
    live = None
    stopped = False
    try:
        for _ in range(200):                  # 10 s at most
            if "listening on" in ref_stderr() or ref.poll() is not None:
                break
            time.sleep(0.05)
        if not check("listening on" in ref_stderr(), "stall: tcpdump listens on lo", ref_stderr()):
            return
        live = start_live(["-i", "lo", "-f", expr, "-o", db, "-B", "1024", "-q"], "stall", "stall")
        if live is None:
            return
        sent = send_datagrams(U, STALL_WARMUP, 5.0)
        time.sleep(0.5)
        live.proc.send_signal(signal.SIGSTOP)
        stopped = True
        time.sleep(0.2)
        t0 = time.monotonic()
        sent += send_datagrams(U, STALL_BURST, 20.0)
        note("stall: %d datagrams sent (%d during the stall, %.1f s)" % (
            sent, sent - STALL_WARMUP, time.monotonic() - t0))
        live.proc.send_signal(signal.SIGCONT)
        stopped = False
        # finscope drains its ring: wait until the committed packets_read stays put for 1.5 s
        last, still_since = None, time.monotonic()
        for _ in range(60):                   # 15 s at most
            time.sleep(0.25)
            try:
                now_read = capture_rows(db)[0]["packets_read"]
            except (sqlite3.Error, IndexError):
                now_read = None
            if now_read != last:
                last, still_since = now_read, time.monotonic()
            elif time.monotonic() - still_since >= 1.5:
                break
        rc, waited = live.stop(signal.SIGINT, 10.0)
        check(rc == 0, "stall: SIGINT -> exit status 0 (%.1f s)" % waited, live.describe())
    finally:
        if live is not None:
            if stopped:
                live.proc.send_signal(signal.SIGCONT)
            live.kill()
        if ref.poll() is None:
            ref.send_signal(signal.SIGINT)
        try:
            ref.wait(timeout=10)
        except subprocess.TimeoutExpired:
            ref.kill()
            ref.wait(timeout=10)
        sink.close()
    m_cap = re.search(r"(\d+) packets? captured", ref_stderr())
    m_drop = re.search(r"(\d+) packets? dropped by kernel", ref_stderr())
    ref_count = count_pcap_records(ref_pcap) if os.path.exists(ref_pcap) else -1
    check(m_cap is not None and int(m_cap.group(1)) == ref_count == sent,
          "stall: tcpdump captured every datagram sent (%d)" % sent,
          "file %d, %s" % (ref_count, ref_stderr()))
    check(m_drop is not None and int(m_drop.group(1)) == 0, "stall: tcpdump dropped nothing",
          ref_stderr())
    if not os.path.exists(db):
        check(False, "stall: database exists after live", db)
        return
    caps = capture_rows(db)
    if not check(len(caps) == 1, "stall: exactly one captures row", "%s" % caps):
        return
    read, drops = caps[0]["packets_read"], caps[0]["drops"]
    missing = ref_count - read
    note("stall: tcpdump %d, finscope read %d, missing %d, captures.drops %s" % (
        ref_count, read, missing, drops))
    check(drops is not None and drops > 0, "stall: the stall made the kernel drop frames",
          repr(drops))
    check(drops == missing, "stall: captures.drops (%s) = datagrams tcpdump has and finscope "
          "did not read (%d)" % (drops, missing))


# ---- main ----

def can_capture_on_lo():
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        s.bind(("lo", 0))
        s.close()
        return None
    except (OSError, AttributeError) as e:
        return str(e)


class Watchdog(Exception):
    pass


def main():
    global FINSCOPE, TMP
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    FINSCOPE = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        print("live: SKIP: needs root to capture on lo")
        return 77
    why = can_capture_on_lo()
    if why:
        print("live: SKIP: cannot capture on lo (%s)" % why)
        return 77

    def on_alarm(signum, frame):
        raise Watchdog()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(150)
    TMP = tempfile.mkdtemp(prefix="finscope-live-")
    try:
        for test in (test_bad_filter, test_close_kinds, test_load, test_duration_and_count,
                     test_stall_drops):
            try:
                test()
            except Watchdog:
                check(False, "%s: finished within the script's 150 s limit" % test.__name__)
                break
            except Exception:
                check(False, "%s raised" % test.__name__, traceback.format_exc())
    finally:
        signal.alarm(0)
        for p in children:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        if failed:
            print("     files kept in %s" % TMP)
        else:
            shutil.rmtree(TMP, ignore_errors=True)
    print("live: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
