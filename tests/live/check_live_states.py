#!/usr/bin/env python3
"""check_live_states.py - issue 12 on a running `finscope live`: the census while it runs.

Usage: check_live_states.py FINSCOPE

On lo, python sockets on 127.0.0.1 build a known mix on one server port P (below the
ephemeral range): 3 connections left ESTABLISHED, 2 the client half-closes and the server never
closes (client FIN_WAIT_2, server CLOSE_WAIT), 4 the client closes first and the server then
closes (client TIME_WAIT).  Both ends are on 127.0.0.1, so that host holds every socket.
`finscope live -i lo -f 'tcp port P'` runs with its stderr on a pseudo-terminal (the status
line is only drawn on a terminal).  Once the traffic is quiet, the kernel's own count (`ss
-tan`, every socket whose local or peer port is P, LISTEN left out) must equal, state by
state:
 1. `finscope states DB --json` while live still runs (its at_end: the held connections come
    from the held_flows table that live refreshes, the TIME_WAITs from rows already written);
 2. the counts on live's status line ("sockets: established 6, time_wait 4, fin_wait_2 2": the
    three largest, ties in netstat order);
 3. `finscope states DB --json` after SIGINT, when every connection is a flows row and
    held_flows is empty.
Every wait is bounded (the script gives up after 60 s).  Exit 0 when all passed, 1 on a
failure, 77 (skip) when not root, or without a packet socket on lo or the ss program.
The last line is exactly "live_states: N passed, M failed".
"""
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_live as cl  # noqa: E402  (ports, sockets, the pass/fail counters)
from check_live import check, listener, client, free_range, ro_connect  # noqa: E402

SS_STATE = {"ESTAB": "established", "SYN-SENT": "syn_sent", "SYN-RECV": "syn_rcvd",
            "FIN-WAIT-1": "fin_wait_1", "FIN-WAIT-2": "fin_wait_2", "CLOSE-WAIT": "close_wait",
            "CLOSING": "closing", "LAST-ACK": "last_ack", "TIME-WAIT": "time_wait"}
WANT = {"established": 6, "fin_wait_2": 2, "close_wait": 2, "time_wait": 4}


def ss_counts(port):
    """The kernel's sockets whose local or peer port is PORT, by finscope state token."""
    out = subprocess.run(["ss", "-tanH"], capture_output=True, text=True, timeout=10).stdout
    counts = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 5 or f[0] == "LISTEN":
            continue
        if f[3].rsplit(":", 1)[1] == str(port) or f[4].rsplit(":", 1)[1] == str(port):
            st = SS_STATE.get(f[0], f[0])
            counts[st] = counts.get(st, 0) + 1
    return counts


def states_at_end(db):
    """`finscope states DB --json` for 127.0.0.1: {state: at_end} (states with at_end > 0)."""
    res = subprocess.run([cl.FINSCOPE, "states", db, "--host", "127.0.0.1", "--json"],
                         capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        return {"error": res.stderr.strip()}
    return {r["state"]: r["at_end"] for r in json.loads(res.stdout) if r["at_end"] > 0}


def held_rows(db):
    con = ro_connect(db)
    try:
        return con.execute("SELECT count(*) FROM held_flows").fetchone()[0]
    finally:
        con.close()


class PtyLive:
    """finscope live with stderr on a pseudo-terminal; what it writes there is collected."""

    def __init__(self, args):
        master, slave = pty.openpty()
        self.proc = subprocess.Popen([cl.FINSCOPE, "live"] + args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=slave,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                      signal.SIG_DFL))
        os.close(slave)
        self.master, self.text = master, ""
        cl.children.append(self.proc)

    def read(self, seconds):
        """Collect what arrives on the terminal for up to SECONDS."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            self.text += data.decode(errors="replace")

    def status(self):
        """The last complete status line drawn ('\\r' starts each)."""
        lines = [l for l in re.split(r"[\r\n]", self.text) if "packets/s" in l]
        return lines[-2 if len(lines) > 1 else -1].strip() if lines else ""


def make_mix(port, keep):
    """The connections of the module docstring; every socket that must stay open goes to KEEP."""
    srv = listener(port)
    keep.append(srv)

    def pair():
        c, _ = client()
        c.connect(("127.0.0.1", port))
        s, _ = srv.accept()
        s.settimeout(5)
        c.sendall(b"q" * 100)
        s.recv(100)
        s.sendall(b"r" * 300)
        c.recv(300)
        return c, s

    for _ in range(3):
        keep.extend(pair())
    for _ in range(2):
        c, s = pair()
        c.shutdown(socket.SHUT_WR)
        keep.extend((c, s))
    for _ in range(4):
        c, s = pair()
        c.close()
        s.recv(10)  # the FIN
        s.close()


def wait_for(fn, want, seconds):
    """Poll fn() every 0.25 s until it returns want, for up to SECONDS; its last value."""
    deadline, got = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        got = fn()
        if got == want:
            break
        time.sleep(0.25)
    return got


def test_states_while_running():
    # a port no socket uses, TIME_WAITs of an earlier run included (bounded: 50 tries)
    port = free_range(1, cl.BASE_PORT + 200)
    for _ in range(50):
        if not ss_counts(port):
            break
        port = free_range(1, port + 1)
    db = os.path.join(cl.TMP, "states.db")
    live = PtyLive(["-i", "lo", "-o", db, "-f", "tcp port %d" % port])
    keep = []
    try:
        live.read(1.5)
        if not check("capturing on lo" in live.text, "live starts capturing", live.text):
            return
        make_mix(port, keep)
        time.sleep(0.5)  # the last FIN's ack, then quiet
        kernel = ss_counts(port)
        check(kernel == WANT, "ss shows the mix built: %s" % WANT, str(kernel))
        got = wait_for(lambda: states_at_end(db), kernel, 8)
        check(got == kernel, "states while live runs equals ss: %s" % kernel, str(got))
        # the four TIME_WAIT connections linger 1 s (live's --linger) before they are written
        got = wait_for(lambda: held_rows(db), 5, 5)
        check(got == 5, "held_flows holds the 5 connections still open", str(got))
        live.read(2.5)
        want_line = "sockets: established 6, time_wait 4, fin_wait_2 2"
        check(want_line in live.status(), "the status line shows '%s'" % want_line,
              repr(live.status()))
        check(ss_counts(port) == kernel, "the kernel's counts did not move meanwhile")
        live.proc.send_signal(signal.SIGINT)
        rc = live.proc.wait(timeout=10)
        check(rc == 0, "live exits 0 on SIGINT", str(rc))
        check(held_rows(db) == 0, "held_flows is empty once live has ended")
        got = states_at_end(db)
        check(got == kernel, "states after the end equals ss: %s" % kernel, str(got))
    finally:
        if live.proc.poll() is None:
            live.proc.kill()
            live.proc.wait(timeout=10)
        os.close(live.master)
        for s in keep:
            s.close()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    cl.FINSCOPE = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        print("live_states: SKIP: needs root to capture on lo")
        return 77
    why = cl.can_capture_on_lo()
    if why or not shutil.which("ss"):
        print("live_states: SKIP: %s" % (why or "needs ss (iproute2)"))
        return 77
    signal.signal(signal.SIGALRM, lambda *_: sys.exit("live_states: out of time (60 s)"))
    signal.alarm(60)
    cl.TMP = tempfile.mkdtemp(prefix="finscope-live-states-")
    try:
        test_states_while_running()
    finally:
        signal.alarm(0)
        if cl.failed:
            print("     files kept in %s" % cl.TMP)
        else:
            shutil.rmtree(cl.TMP, ignore_errors=True)
    print("live_states: %d passed, %d failed" % (cl.passed, cl.failed))
    return 1 if cl.failed else 0


if __name__ == "__main__":
    sys.exit(main())
