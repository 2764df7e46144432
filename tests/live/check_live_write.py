#!/usr/bin/env python3
"""check_live_write.py - proof for issue 11 (items 1 and 10): `finscope live -w FILE`, rotation
(-C, -W, -G), the capture_files rows, `-D`, and a filter given after the options.

Usage: check_live_write.py FINSCOPE

Every check is an exact assertion; every loop is bounded in count and time; all traffic is
between python sockets on 127.0.0.1, on ports below the ephemeral range (check_live.py's
helpers, imported from this folder).  The written pcap files are read by a small reader here
(pcap, Ethernet, IPv4, TCP) and, when tshark is installed, by tshark too, which must agree on
every frame.

 1. -D: byte for byte what `tcpdump -D` prints (when tcpdump is installed; else the format
    "N.NAME [(DESCRIPTION)] [FLAGS]" and lo as "[Up, Running, Loopback]"); --list-interfaces
    the same.  Usage errors: -f with a filter after the options, -C / -W without -w, -C with
    -w -, -W without -C or -G: exit 2, one exact line, no database made.
 2. one file: `live -i lo -w one.pcap tcp portrange P-P+9` (the filter after the options) while
    a known mix of connections happens (four-way closes, an abort, a refused connect, a
    half-close still open at the end, data left unread -> RST) plus one connection on a port
    outside the filter.  While live runs, the file already holds every frame the committed
    capture_files row says it holds.  After SIGINT: captures.filter is the joined expression,
    no row of the port outside it; capture_files is exactly (1, 1, one.pcap, 1, packets_read,
    ts of the first frame, ts of the last) with packets_read = the records in the file;
    (b) every segments row (packet, sender, flags, rel_seq, rel_ack, len, ts) is what frame
    `packet` of the file shows, and every transition's packet is a frame of the file;
    (a) `finscope analyze one.pcap` gives the same flows (addresses, ports, handshake,
    close_kind, rst_cause, closer, final states, first_packet) and the same segments.
 3. rotation: `-C 1` while ~5 MB of frames pass: files ROT, ROT1, ROT2, ... as tcpdump names
    them; each closed file is the first one over 1,000,000 bytes (without its last record it
    is not), and `tcpdump -r` of their frames joined with -C 1 cuts at the same frames;
    capture_files has one row per file, frames contiguous from 1 to packets_read, each
    row's count = the file's records and its times the file's; every segments row maps
    through capture_files to its file and local frame with the same flags and seq.
 4. ring: `-C 1 -W 2`: the files RING0 and RING1 only; capture_files has exactly their two
    rows (the rows of overwritten files replaced), each matching its file.
 5. -G 1 with an strftime name ('g-%s.pcap') for ~3.5 s: at least 3 files, each with a row,
    names in time order, frames contiguous over the rows; -G 1 -W 2 stops by itself after
    two files (exit 0, the reason on stderr), each with its exact row.
 6. -w -: the pcap on standard output (exactly -c 40 records), the summary on standard error.

Exit status: 0 when everything passed, 1 on any failure, 77 (skip) when not root or when no
packet socket can be opened on lo.  The last line is "live_write: N passed, M failed".
"""
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
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_live as L  # noqa: E402  (Live, start_live, sockets; its check() counts for us)

check, note = L.check, L.note
BASE_PORT = 29600


# ---- reading pcap files ----

def read_pcap(path):
    """Records of a little-endian microsecond pcap: list of dicts (n, ts_us, caplen, data)."""
    with open(path, "rb") as fp:
        data = fp.read()
    if len(data) < 24 or data[:4] != b"\xd4\xc3\xb2\xa1":
        raise ValueError("%s: not a little-endian microsecond pcap" % path)
    recs, off = [], 24
    while off + 16 <= len(data):
        sec, usec, caplen, wirelen = struct.unpack("<IIII", data[off:off + 16])
        recs.append(dict(n=len(recs) + 1, ts_us=sec * 1000000 + usec, caplen=caplen,
                         off=off, data=data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return recs


def tcp_of(rec):
    """(src, sport, dst, dport, seq, ack, flags byte, payload length) of an Ethernet/IPv4/TCP
    frame, or None."""
    d = rec["data"]
    if len(d) < 14 + 20 or struct.unpack(">H", d[12:14])[0] != 0x0800:
        return None
    ihl = (d[14] & 15) * 4
    if d[23] != 6:
        return None
    total = struct.unpack(">H", d[16:18])[0]
    t = 14 + ihl
    sport, dport, seq, ack = struct.unpack(">HHII", d[t:t + 12])
    doff = (d[t + 12] >> 4) * 4
    return (socket.inet_ntoa(d[26:30]), sport, socket.inet_ntoa(d[30:34]), dport, seq, ack,
            d[t + 13], total - ihl - doff)


def tcpdump_flags(b):
    """tcpdump's order F S R P . U E W; 'none' when no flag is set."""
    s = "".join(c for bit, c in ((1, "F"), (2, "S"), (4, "R"), (8, "P"), (16, "."), (32, "U"),
                                 (64, "E"), (128, "W")) if b & bit)
    return s or "none"


def tshark_agrees(path, recs, what):
    """tshark numbers the frames as the reader does and sees the same seq, flags and times."""
    if not shutil.which("tshark"):
        note("tshark not installed: %s read by the python reader only" % what)
        return
    r = subprocess.run(["tshark", "-n", "-r", path, "-T", "fields", "-e", "frame.number", "-e",
                        "tcp.seq_raw", "-e", "tcp.flags", "-e", "frame.time_epoch"],
                       capture_output=True, text=True, timeout=120)
    got = [l.split("\t") for l in r.stdout.splitlines()]
    exp = []
    for rec in recs:
        t = tcp_of(rec)
        exp.append([str(rec["n"]), str(t[4]) if t else "", "0x%04x" % t[6] if t else "",
                    "%d.%06d" % divmod(rec["ts_us"], 1000000)])
    got = [[g[0], g[1], g[2], g[3][:g[3].index(".") + 7] if "." in g[3] else g[3]] for g in got]
    check(r.returncode == 0 and got == exp,
          "%s: tshark reads the same %d frames (number, seq, flags, time)" % (what, len(recs)),
          "rc %d, first difference: %s" % (r.returncode, next(
              ((g, e) for g, e in zip(got, exp) if g != e), (len(got), len(exp)))))


# ---- the database ----

def query(db, sql, params=()):
    con = L.ro_connect(db)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(sql, params)]
    finally:
        con.close()


FLOW_KEYS = ["client_addr", "client_port", "server_addr", "server_port", "handshake",
             "close_kind", "rst_cause", "closer", "client_state", "server_state", "first_packet"]
SEG_KEYS = ["packet", "sender", "flags", "rel_seq", "rel_ack", "len"]


def flows_and_segments(db):
    flows = query(db, "SELECT id, %s FROM flows ORDER BY first_packet" % ", ".join(FLOW_KEYS))
    segs = {}
    for s in query(db, "SELECT flow_id, %s, ts FROM segments ORDER BY flow_id, ord" %
                   ", ".join(SEG_KEYS)):
        segs.setdefault(s["flow_id"], []).append(s)
    return flows, segs


def check_segments(db, frame_of, what):
    """Every segments row against the frame it names: frame_of(packet) -> record or None."""
    flows, segs = flows_and_segments(db)
    bad, n = [], 0
    for f in flows:
        isn = {}
        for s in segs.get(f["id"], []):
            rec = frame_of(s["packet"])
            t = tcp_of(rec) if rec else None
            n += 1
            if t is None:
                bad.append((f["id"], s["packet"], "no TCP frame"))
                continue
            src, sport, dst, dport, seq, ack, fl, ln = t
            sender = "client" if (src, sport) == (f["client_addr"], f["client_port"]) else "server"
            peer = "server" if sender == "client" else "client"
            if fl & 2:
                isn[sender] = seq
            # A sender whose SYN the flow never showed (a refused connect's RST) has no ISN to
            # count from: its rel_seq is finscope's own convention, checked against analyze.
            rel_seq = (seq - isn[sender]) % 2**32 if sender in isn else s["rel_seq"]
            rel_ack = (ack - isn[peer]) % 2**32 if (fl & 16) and peer in isn else None
            got = dict(packet=s["packet"], sender=sender, flags=tcpdump_flags(fl), rel_seq=rel_seq,
                       rel_ack=rel_ack if fl & 16 else None, len=ln)
            exp = {k: s[k] for k in SEG_KEYS}
            if got != exp or round(s["ts"] * 1e6) != rec["ts_us"]:
                bad.append((f["id"], exp, got, s["ts"], rec["ts_us"]))
    check(n > 0 and not bad, "%s: all %d segments rows are the frames they name (sender, flags, "
          "rel_seq, rel_ack, len, ts)" % (what, n), "%d differ, first: %s" % (len(bad), bad[:3]))
    return n


def capture_file_rows(db):
    return query(db, "SELECT capture_id, file_no, path, first_frame, last_frame, first_ts, "
                 "last_ts FROM capture_files ORDER BY first_frame")


def check_file_rows(db, rows, files, what, start=1):
    """rows (capture_files, by first_frame) against files (path -> records): each row's count and
    times are its file's, the frames contiguous from start to packets_read."""
    cap = L.capture_rows(db)[0]
    expect_first, bad = start, []
    for r in rows:
        recs = files.get(r["path"])
        if recs is None:
            bad.append(("no such file", r))
            continue
        exp = dict(capture_id=cap["id"], first_frame=expect_first,
                   last_frame=expect_first + len(recs) - 1 if recs else None,
                   first_ts=recs[0]["ts_us"] if recs else None,
                   last_ts=recs[-1]["ts_us"] if recs else None)
        got = dict(capture_id=r["capture_id"], first_frame=r["first_frame"],
                   last_frame=r["last_frame"],
                   first_ts=None if r["first_ts"] is None else round(r["first_ts"] * 1e6),
                   last_ts=None if r["last_ts"] is None else round(r["last_ts"] * 1e6))
        if got != exp:
            bad.append((r["path"], got, exp))
        expect_first += len(recs)
    check(not bad and expect_first - 1 == cap["packets_read"],
          "%s: %d capture_files rows, each its file's frames and times, contiguous %d..%d = "
          "packets_read" % (what, len(rows), start, expect_first - 1),
          "packets_read %s, differences %s" % (cap["packets_read"], bad[:3]))


# ---- traffic ----

def mix(P, outside):
    """The known mix on ports P, P+1 (refused), plus one connection to outside.  Returns the
    sockets to close after live has stopped (the half-closed pair)."""
    ls = L.listener(P)
    keep = []
    try:
        for i in range(3):                     # four-way closes
            c, _ = L.client()
            c.connect(("127.0.0.1", P))
            s, _ = ls.accept()
            c.sendall(b"GET /%d HTTP/1.0\r\n\r\n" % i)
            s.recv(100)
            s.sendall(b"y" * 300)
            c.recv(1000)
            c.close()
            time.sleep(0.05)
            s.close()
        c, _ = L.client()                      # abort
        c.connect(("127.0.0.1", P))
        s, _ = ls.accept()
        c.sendall(b"req")
        s.recv(10)
        L.linger0(c)
        c.close()
        time.sleep(0.05)
        s.close()
        c, _ = L.client()                      # refused
        try:
            c.connect(("127.0.0.1", P + 1))
        except ConnectionRefusedError:
            pass
        c.close()
        c, _ = L.client()                      # server closes with unread data: RST
        c.connect(("127.0.0.1", P))
        s, _ = ls.accept()
        c.sendall(b"never read")
        time.sleep(0.05)
        s.close()
        time.sleep(0.05)
        c.close()
        c, _ = L.client()                      # half-closed, open at the end
        c.connect(("127.0.0.1", P))
        s, _ = ls.accept()
        c.sendall(b"bye")
        c.shutdown(socket.SHUT_WR)
        keep += [c, s]
        lo = L.listener(outside)               # outside the filter
        c, _ = L.client()
        c.connect(("127.0.0.1", outside))
        s, _ = lo.accept()
        c.close()
        s.close()
        lo.close()
    finally:
        ls.close()
    return keep


def bulk(P, conns, sends, size):
    """conns connections each sending sends writes of size bytes with TCP_NODELAY (one segment
    each, mostly), read by the server; bounded at 20 s."""
    ls = L.listener(P, backlog=64)
    t0 = time.monotonic()
    try:
        for _ in range(conns):
            if time.monotonic() - t0 > 20:
                break
            c, _ = L.client()
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c.connect(("127.0.0.1", P))
            s, _ = ls.accept()
            s.settimeout(5)
            want = sends * size
            for _ in range(sends):
                c.sendall(b"z" * size)
                want -= len(s.recv(65536))
            while want > 0:
                d = s.recv(65536)
                if not d:
                    break
                want -= len(d)
            c.close()
            s.close()
    finally:
        ls.close()


def ticks(P, n, live):
    """One short connection to P every 100 ms, n of them, or until live has exited."""
    ls = L.listener(P)
    try:
        for _ in range(n):
            if live.proc.poll() is not None:
                break
            c, _ = L.client()
            c.connect(("127.0.0.1", P))
            s, _ = ls.accept()
            c.close()
            s.close()
            time.sleep(0.1)
    finally:
        ls.close()


def run_live(args, name, traffic, settle=1.5):
    """live with args while traffic() runs; SIGINT after settle s.  (live, traffic's result)
    or (None, None)."""
    live = L.start_live(args, name, name)
    if live is None:
        return None, None
    try:
        out = traffic(live)
        time.sleep(settle)
    finally:
        rc, waited = live.stop(signal.SIGINT, 15.0)
        live.kill()
    check(rc == 0, "%s: SIGINT -> exit 0 (%.1f s)" % (name, waited), live.describe())
    return live, out


# ---- 1. -D and usage errors ----

def test_list_and_usage():
    print("# 1. -D and usage errors")
    r = subprocess.run([L.FINSCOPE, "live", "-D"], capture_output=True, text=True, timeout=30)
    r2 = subprocess.run([L.FINSCOPE, "live", "--list-interfaces"], capture_output=True, text=True,
                        timeout=30)
    check(r.returncode == 0 and r2.stdout == r.stdout, "-D: exit 0, --list-interfaces the same",
          r.stderr + r2.stderr)
    if shutil.which("tcpdump"):
        t = subprocess.run(["tcpdump", "-D"], capture_output=True, text=True, timeout=30)
        check(r.stdout == t.stdout, "-D: byte for byte what tcpdump -D prints (%d interfaces)" %
              len(t.stdout.splitlines()), "finscope:\n%stcpdump:\n%s" % (r.stdout, t.stdout))
    else:
        note("tcpdump not installed: -D checked by format only")
    lines = r.stdout.splitlines()
    fmt = re.compile(r"^(\d+)\.(\S+)( \(.*\))?( \[[^\]]+\])?$")
    check(all(fmt.match(l) and int(fmt.match(l).group(1)) == i + 1 for i, l in enumerate(lines)),
          "-D: every line is N.NAME [(DESCRIPTION)] [FLAGS], numbered from 1", r.stdout)
    check(any(re.match(r"^\d+\.lo \[Up, Running, Loopback\]$", l) for l in lines),
          "-D: lo is listed as 'N.lo [Up, Running, Loopback]'", r.stdout)
    db = os.path.join(L.TMP, "usage.db")
    for args, msg in (
            (["-f", "tcp", "port", "80"],
             "finscope live: a filter with -f and another after the options ('port'): give one"),
            (["-C", "1"], "finscope live: -C goes with -w FILE"),
            (["-W", "3", "-w", "x.pcap"], "finscope live: -W goes with -C or -G"),
            (["-G", "5"], "finscope live: -G goes with -w FILE"),
            (["-w", "-", "-C", "1"],
             "finscope live: -C rotates files: not with -w - (standard output)"),
            (["-C", "0", "-w", "x.pcap"],
             "finscope live: -C takes a file size in millions of bytes from 1, not '0'")):
        r = subprocess.run([L.FINSCOPE, "live", "-i", "lo", "-o", db] + args, capture_output=True,
                           text=True, timeout=30, cwd=L.TMP)
        check(r.returncode == 2 and r.stderr == msg + "\n" and r.stdout == "",
              "usage: live %s -> exit 2, %r" % (" ".join(args), msg),
              "exit %d, stderr %r" % (r.returncode, r.stderr))
    check(not os.path.exists(db) and not os.path.exists(os.path.join(L.TMP, "x.pcap")),
          "usage: no database and no pcap file made")
    bad = os.path.join(L.TMP, "no-such-dir", "x.pcap")
    r = subprocess.run([L.FINSCOPE, "live", "-i", "lo", "-o", db, "-w", bad], capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 1 and r.stderr == "finscope: -w: %s: No such file or directory\n" % bad,
          "usage: -w into a missing directory: exit 1, one line naming the file",
          "exit %d, stderr %r" % (r.returncode, r.stderr))
    check(L.capture_rows(db) == [] if os.path.exists(db) else True,
          "usage: and no captures row is left")


# ---- 2. one file ----

def test_one_file():
    print("# 2. live -w one.pcap, filter after the options")
    P = L.free_range(10, BASE_PORT)
    outside = L.free_range(1, BASE_PORT + 40)
    db, pcap = os.path.join(L.TMP, "one.db"), os.path.join(L.TMP, "one.pcap")
    expr = ["tcp", "portrange", "%d-%d" % (P, P + 9)]
    seen_running = {}

    def traffic(live):
        keep = mix(P, outside)
        # while live runs: the committed row's frames are all in the file already
        for _ in range(40):                    # 4 s at most
            time.sleep(0.1)
            try:
                rows = capture_file_rows(db)
            except sqlite3.Error:
                continue
            if rows and rows[0]["last_frame"] and rows[0]["last_frame"] >= 20:
                seen_running["row"] = rows[0]
                seen_running["records"] = len(read_pcap(pcap))
                seen_running["alive"] = live.proc.poll() is None
                break
        return keep
    live, keep = run_live(["-i", "lo", "-o", db, "-w", pcap] + expr, "one", traffic)
    for k in keep or []:
        k.close()
    if live is None:
        return
    r = seen_running.get("row")
    check(r is not None and seen_running["alive"] and r["path"] == pcap and
          seen_running["records"] >= r["last_frame"],
          "one: while live runs, the file holds every frame its committed row names",
          "%s, records %s" % (r, seen_running.get("records")))
    recs = read_pcap(pcap)
    cap = L.capture_rows(db)[0]
    check(cap["filter"] == " ".join(expr) and cap["source"] == "live:lo",
          "one: captures.filter = %r (the arguments joined), source live:lo" % " ".join(expr),
          "%r %r" % (cap["filter"], cap["source"]))
    ports = {f["server_port"] for f in query(db, "SELECT server_port FROM flows")}
    check(ports == {P, P + 1}, "one: flows only on the filtered ports (%d, %d)" % (P, P + 1),
          repr(ports))
    check(cap["drops"] == 0 and cap["packets_read"] == len(recs),
          "one: packets_read = records in the file (%d), no drops" % len(recs),
          "packets_read %s, drops %s" % (cap["packets_read"], cap["drops"]))
    rows = capture_file_rows(db)
    check(len(rows) == 1 and rows[0]["file_no"] == 1 and rows[0]["path"] == pcap,
          "one: one capture_files row, file_no 1, path as given", repr(rows))
    check_file_rows(db, rows, {pcap: recs}, "one")
    check_segments(db, lambda n: recs[n - 1] if 1 <= n <= len(recs) else None, "one")
    tr = query(db, "SELECT packet FROM transitions")
    check(tr and all(1 <= t["packet"] <= len(recs) for t in tr),
          "one: every transition's packet (%d) is a frame of the file" % len(tr))
    tshark_agrees(pcap, recs, "one")
    # (a) analyze of the file gives the same flows and segments
    adb = os.path.join(L.TMP, "one-analyze.db")
    a = subprocess.run([L.FINSCOPE, "analyze", "-q", "-o", adb, pcap], capture_output=True,
                       text=True, timeout=120)
    if not check(a.returncode == 0, "one: finscope analyze one.pcap exits 0", a.stderr):
        return
    lf, ls = flows_and_segments(db)
    af, as_ = flows_and_segments(adb)
    strip = lambda fl: [{k: f[k] for k in FLOW_KEYS} for f in fl]  # noqa: E731
    check(strip(lf) == strip(af) and len(lf) == 7,
          "one: analyze of the file gives the same 7 flows (tokens, states, first_packet)",
          "live %s\nanalyze %s" % (strip(lf), strip(af)))
    segs = lambda fl, ss: [[{k: s[k] for k in SEG_KEYS} for s in ss.get(f["id"], [])]  # noqa: E731
                           for f in fl]
    check(segs(lf, ls) == segs(af, as_), "one: and the same segments, frame for frame")
    kinds = sorted((f["close_kind"], f["rst_cause"], f["closer"]) for f in lf)
    exp = sorted([("four_way", None, "client")] * 3 + [
        ("rst", "abort", "client"), ("refused", None, "server"), ("rst", "unread_data", "server"),
        ("half_closed", None, "client")])
    check(kinds == exp, "one: the 7 flows are the mix that was made (close_kind, rst_cause, "
          "closer)", "got %s" % kinds)


# ---- 3. -C rotation ----

def frame_mapper(rows, files):
    """frame number of the capture -> its record, through the capture_files rows."""
    def frame_of(n):
        for r in rows:
            if r["last_frame"] is not None and r["first_frame"] <= n <= r["last_frame"]:
                recs = files[r["path"]]
                i = n - r["first_frame"]
                return recs[i] if i < len(recs) else None
        return None
    return frame_of


def rotated_files(base, pattern):
    """The files in TMP whose names are base followed by pattern (a regex of the suffix)."""
    names = [n for n in os.listdir(L.TMP) if re.fullmatch(re.escape(base) + pattern, n)]
    return {os.path.join(L.TMP, n): read_pcap(os.path.join(L.TMP, n)) for n in names}


def test_rotate():
    print("# 3. -C 1: rotation")
    P = L.free_range(10, BASE_PORT + 60)
    db, base = os.path.join(L.TMP, "rot.db"), "rot.pcap"
    live, _ = run_live(["-i", "lo", "-o", db, "-w", os.path.join(L.TMP, base), "-C", "1", "tcp",
                        "portrange", "%d-%d" % (P, P + 9)], "rot",
                       lambda live: bulk(P, 60, 250, 400))
    if live is None:
        return
    files = rotated_files(base, r"(|[1-9][0-9]*)")
    order = [os.path.join(L.TMP, base + ("%d" % i if i else "")) for i in range(len(files))]
    if not check(len(files) >= 4 and sorted(files) == sorted(order),
                 "rot: files %s, %s1, %s2, ... as tcpdump names them (%d)" % (
                     base, base, base, len(files)), repr(sorted(files))):
        return
    sizes = [24 + sum(16 + r["caplen"] for r in files[p]) for p in order]
    over = [sizes[i] > 1000000 and sizes[i] - 16 - files[p][-1]["caplen"] <= 1000000
            for i, p in enumerate(order[:-1])]
    check(all(over) and sizes[-1] <= 1000000 + 16 + 65536,
          "rot: each closed file is the first one over 1,000,000 bytes (sizes %s)" % sizes)
    rows = capture_file_rows(db)
    check([(r["file_no"], r["path"]) for r in rows] == [(i + 1, p) for i, p in enumerate(order)],
          "rot: capture_files rows file_no 1..%d with the files' paths in order" % len(order),
          repr([(r["file_no"], r["path"]) for r in rows]))
    check_file_rows(db, rows, files, "rot")
    check_segments(db, frame_mapper(rows, files), "rot")
    if not shutil.which("tcpdump"):
        note("tcpdump not installed: the cut points are not compared with tcpdump's")
        return
    # tcpdump -C 1 over the same frames joined cuts at the same frames: byte-identical files
    joined = os.path.join(L.TMP, "rot-joined.pcap")
    with open(order[0], "rb") as fp:
        head = fp.read(24)
    with open(joined, "wb") as out:
        out.write(head)
        for p in order:
            with open(p, "rb") as fp:
                out.write(fp.read()[24:])
    tdir = os.path.join(L.TMP, "tcpdump-rot")
    os.mkdir(tdir)
    t = subprocess.run(["tcpdump", "-Z", "root", "-r", joined, "-w", os.path.join(tdir, base),
                        "-C", "1"], capture_output=True, text=True, timeout=60)
    theirs = sorted(os.listdir(tdir))
    same = t.returncode == 0 and theirs == sorted(os.path.basename(p) for p in order) and all(
        open(os.path.join(tdir, os.path.basename(p)), "rb").read() == open(p, "rb").read()
        for p in order)
    check(same, "rot: tcpdump -r (the frames joined) -C 1 writes the same %d files, byte for byte"
          % len(order), "rc %d %s, files %s" % (t.returncode, t.stderr[-300:], theirs))


# ---- 4. -C -W ring ----

def test_ring():
    print("# 4. -C 1 -W 2: a ring of two files")
    P = L.free_range(10, BASE_PORT + 80)
    db, base = os.path.join(L.TMP, "ring.db"), "ring.pcap"
    live, _ = run_live(["-i", "lo", "-o", db, "-w", os.path.join(L.TMP, base), "-C", "1", "-W",
                        "2", "tcp", "portrange", "%d-%d" % (P, P + 9)], "ring",
                       lambda live: bulk(P, 60, 250, 400))
    if live is None:
        return
    files = rotated_files(base, r".*")
    names = [os.path.join(L.TMP, base + "0"), os.path.join(L.TMP, base + "1")]
    check(sorted(files) == names, "ring: only %s0 and %s1 exist" % (base, base),
          repr(sorted(files)))
    rows = capture_file_rows(db)
    check(sorted((r["file_no"], r["path"]) for r in rows) == [(1, names[0]), (2, names[1])],
          "ring: capture_files has exactly their two rows (file_no 1 and 2)",
          repr([(r["file_no"], r["path"]) for r in rows]))
    if len(rows) == 2 and all(r["path"] in files for r in rows):
        check(rows[0]["first_frame"] > 1, "ring: the rows of overwritten files are gone "
              "(the older row starts at frame %d)" % rows[0]["first_frame"])
        check_file_rows(db, rows, files, "ring", start=rows[0]["first_frame"])
        check_segments_in(db, rows, files, "ring")


def check_segments_in(db, rows, files, what):
    """The segments rows whose frames are still in a file are the frames they name."""
    lo = rows[0]["first_frame"]
    frame_of = frame_mapper(rows, files)
    con = L.ro_connect(db)
    try:
        n_all = con.execute("SELECT count(*) FROM segments").fetchone()[0]
        n_kept = con.execute("SELECT count(*) FROM segments WHERE packet >= ?", (lo,)).fetchone()[0]
    finally:
        con.close()
    note("%s: %d of %d segments rows are in the files still on disk" % (what, n_kept, n_all))
    tmp = os.path.join(L.TMP, what + "-kept.db")
    shutil.copy(db, tmp)
    for ext in ("-wal", "-shm"):
        if os.path.exists(db + ext):
            shutil.copy(db + ext, tmp + ext)
    con = sqlite3.connect(tmp)
    con.execute("DELETE FROM flows WHERE first_packet < ?", (lo,))
    con.commit()
    con.close()
    check_segments(tmp, frame_of, what + " (flows still on disk)")


# ---- 5. -G ----

def test_every_second():
    print("# 5. -G 1 -w 'g-%s.pcap'")
    P = L.free_range(10, BASE_PORT + 100)
    db = os.path.join(L.TMP, "g.db")

    live, _ = run_live(["-i", "lo", "-o", db, "-w", os.path.join(L.TMP, "g-%s.pcap"), "-G", "1",
                        "tcp", "port", str(P)], "g", lambda live: ticks(P, 35, live),
                       settle=0.2)
    if live is None:
        return
    files = rotated_files("g-", r"[0-9]+\.pcap")
    rows = capture_file_rows(db)
    stamps = [int(re.search(r"g-([0-9]+)\.pcap$", r["path"]).group(1)) for r in rows]
    check(len(rows) >= 3 and sorted(r["path"] for r in rows) == sorted(files) and
          [r["file_no"] for r in rows] == list(range(1, len(rows) + 1)) and
          all(b > a for a, b in zip(stamps, stamps[1:])),
          "g: %d files named by strftime at each rotation, one row each, file_no and names in "
          "time order" % len(rows), "%s / %s" % ([(r["file_no"], r["path"]) for r in rows],
                                                   sorted(files)))
    check_file_rows(db, rows, files, "g")

    # -G with -W alone: the capture stops by itself after N files
    db = os.path.join(L.TMP, "gw.db")
    live = L.start_live(["-i", "lo", "-o", db, "-w", os.path.join(L.TMP, "gw-%s.pcap"), "-G",
                         "1", "-W", "2", "tcp", "port", str(P)], "gw", "gw")
    if live is None:
        return
    ticks(P, 60, live)                         # until live stops; 6 s at most
    rc = live.wait(10.0)
    live.kill()
    check(rc == 0 and "finscope: -W 2: the last file is written, stopping\n" in live.stderr(),
          "gw: -G 1 -W 2 stops by itself (exit 0, says why)", live.describe())
    files = rotated_files("gw-", r"[0-9]+\.pcap")
    rows = capture_file_rows(db)
    check(len(files) == 2 and sorted(r["path"] for r in rows) == sorted(files),
          "gw: exactly 2 files, each with its row", "%s / %s" % (rows, sorted(files)))
    check_file_rows(db, rows, files, "gw")


# ---- 6. -w - ----

def test_stdout():
    print("# 6. -w -: the pcap on standard output")
    P = L.free_range(10, BASE_PORT + 120)
    db = os.path.join(L.TMP, "stdout.db")

    live, _ = run_live(["-i", "lo", "-o", db, "-w", "-", "-c", "40", "tcp", "port", str(P)],
                       "stdout", lambda live: ticks(P, 50, live), settle=0)
    if live is None:
        return
    recs = read_pcap(live.out_path)
    err = live.stderr()
    check(len(recs) == 40, "stdout: standard output is a pcap of exactly 40 frames (-c 40)",
          "%d records" % len(recs))
    check("live:lo: 40 packets read" in err, "stdout: the summary is on standard error", err)
    rows = capture_file_rows(db)
    check(len(rows) == 1 and rows[0]["path"] == "-", "stdout: one capture_files row, path '-'",
          repr(rows))
    check_file_rows(db, rows, {"-": recs}, "stdout")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    L.FINSCOPE = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        print("live_write: SKIP: needs root to capture on lo")
        return 77
    why = L.can_capture_on_lo()
    if why:
        print("live_write: SKIP: cannot capture on lo (%s)" % why)
        return 77

    def on_alarm(signum, frame):
        raise L.Watchdog()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(200)
    L.TMP = tempfile.mkdtemp(prefix="finscope-live-write-")
    try:
        for test in (test_list_and_usage, test_one_file, test_rotate, test_ring, test_every_second,
                     test_stdout):
            try:
                test()
            except L.Watchdog:
                check(False, "%s: finished within the script's 200 s limit" % test.__name__)
                break
            except Exception:
                check(False, "%s raised" % test.__name__, traceback.format_exc())
    finally:
        signal.alarm(0)
        for p in L.children:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        if L.failed:
            print("     files kept in %s" % L.TMP)
        else:
            shutil.rmtree(L.TMP, ignore_errors=True)
    print("live_write: %d passed, %d failed" % (L.passed, L.failed))
    return 1 if L.failed else 0


if __name__ == "__main__":
    sys.exit(main())
