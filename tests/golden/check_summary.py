#!/usr/bin/env python3
"""check_summary.py - analyze's summary (issue 11): exact text, JSON equal to the text and to SQL,
the total over the files of a run, tcpdump's -r FILE EXPRESSION, and the progress line.

- The exact summary of real-kernel captures (a four-way close, a three-way close whose CLOSE_WAIT
  lasted under 1 ms and is left out, a server still in CLOSE_WAIT when the capture ends), of a
  reused 5-tuple (two stall lines told apart by flow id and frames), and of a crafted leak: the
  server stays in CLOSE_WAIT while another connection runs 5 s later ("still in CLOSE_WAIT at
  capture end, >= 5.060 s", never 0.000), and the same written at --idle-timeout 1.
- `analyze --json`: one document, every number equal to the text's and to SQL on the database.
- Several files: the text total after the summaries, the same numbers in the JSON total, which
  are the sums over the captures (SQL); one file stored: no total; -q: nothing but errors.
- -r FILE (repeatable) with the filter expression after it, as tcpdump takes it; -r without an
  expression; -f together with an expression is refused.
- The expression after the files without -r (`analyze FILE tcp port 80`): the same flows rows as
  -f and as -r; a missing file (followed by a non-filter word, by a valid expression, or last)
  is an exact exit-2 error and no database is created; -f with such an expression is refused.
- Progress on a terminal (a pty): share of the file, packets, packets/s, MB/s, elapsed, ETA;
  shares never fall and end at 100.0%; one row on an 80-column terminal; stdin shows no share;
  nothing when stderr is not a terminal, nor with -q on one.

Usage: check_summary.py FINSCOPE CAPTURES_DIR
"""
import json
import os
import pty
import re
import select
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

import checklib as T
from checklib import check, run

CAPS = None
HEAVY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "heavy.py")

FOUR_WAY = """\
{d}/lo_four_way.pcap: 11 packets read, 11 TCP, 0 skipped, 1 connection
handshake
  three_way  1  100.0%
close kind
  four_way   1  100.0%
first to close (sent the first FIN or RST)
  client     1  100.0%
worst CLOSE_WAIT stalls (1 ended after 1 ms or more)
  flow 1 (1:1-11)  server 127.0.0.1:47100 in CLOSE_WAIT 0.157 s, then closed (four_way, peer 127.0.0.1:36810)
"""
THREE_WAY = """\
{d}/lo_three_way.pcap: 10 packets read, 10 TCP, 0 skipped, 1 connection
handshake
  three_way  1  100.0%
close kind
  three_way  1  100.0%
first to close (sent the first FIN or RST)
  client     1  100.0%
"""
HALF_CLOSED = """\
{d}/lo_half_closed.pcap: 7 packets read, 7 TCP, 0 skipped, 1 connection
handshake
  three_way    1  100.0%
close kind
  half_closed  1  100.0%
first to close (sent the first FIN or RST)
  client       1  100.0%
worst CLOSE_WAIT stalls (1 still in CLOSE_WAIT at the end)
  flow 3 (3:1-7)  server 127.0.0.1:47149 still in CLOSE_WAIT at capture end, entered < 0.001 s before (half_closed, peer 127.0.0.1:34314)
"""
REUSE = """\
reuse.pcap: 20 packets read, 20 TCP, 0 skipped, 2 connections
handshake
  three_way  2  100.0%
close kind
  four_way   2  100.0%
first to close (sent the first FIN or RST)
  client     2  100.0%
worst CLOSE_WAIT stalls (2 ended after 1 ms or more)
  flow 4 (4:1-10)   server 192.0.2.2:80 in CLOSE_WAIT 0.050 s, then closed (four_way, peer 192.0.2.1:40000)
  flow 5 (4:11-20)  server 192.0.2.2:80 in CLOSE_WAIT 0.050 s, then closed (four_way, peer 192.0.2.1:40000)
"""
TOTAL = """\
total over 4 captures: 48 packets read, 48 TCP, 0 skipped, 5 connections
handshake
  three_way    5  100.0%
close kind
  four_way     3   60.0%
  half_closed  1   20.0%
  three_way    1   20.0%
first to close (sent the first FIN or RST)
  client       5  100.0%
worst CLOSE_WAIT stalls (3 ended after 1 ms or more, 1 still in CLOSE_WAIT at the end)
  flow 1 (1:1-11)   server 127.0.0.1:47100 in CLOSE_WAIT 0.157 s, then closed (four_way, peer 127.0.0.1:36810)
  flow 4 (4:1-10)   server 192.0.2.2:80    in CLOSE_WAIT 0.050 s, then closed (four_way, peer 192.0.2.1:40000)
  flow 5 (4:11-20)  server 192.0.2.2:80    in CLOSE_WAIT 0.050 s, then closed (four_way, peer 192.0.2.1:40000)
  flow 3 (3:1-7)    server 127.0.0.1:47149 still in CLOSE_WAIT at capture end, entered < 0.001 s before (half_closed, peer 127.0.0.1:34314)
"""
LEAK = """\
leak.pcap: 18 packets read, 18 TCP, 0 skipped, 2 connections
handshake
  three_way    2  100.0%
close kind
  four_way     1   50.0%
  half_closed  1   50.0%
first to close (sent the first FIN or RST)
  client       2  100.0%
worst CLOSE_WAIT stalls (1 ended after 1 ms or more, 1 still in CLOSE_WAIT at the end)
  flow 2 (1:1-8)   server 192.0.2.2:80     still in CLOSE_WAIT at capture end, >= 5.060 s (half_closed, peer 192.0.2.1:40000)
  flow 1 (1:9-18)  server [2001:db8::2]:80 in CLOSE_WAIT 0.050 s, then closed (four_way, peer [2001:db8::1]:40000)
"""
LEAK_IDLE_STALLS = """\
worst CLOSE_WAIT stalls (1 ended after 1 ms or more, 1 still in CLOSE_WAIT at the end)
  flow 1 (1:1-8)   server 192.0.2.2:80     still in CLOSE_WAIT when written at the idle timeout, >= 1.000 s (half_closed, peer 192.0.2.1:40000)
  flow 2 (1:9-18)  server [2001:db8::2]:80 in CLOSE_WAIT 0.050 s, then closed (four_way, peer [2001:db8::1]:40000)
"""
RST = """\
rst.pcap: 6 packets read, 6 TCP, 0 skipped, 1 connection
handshake
  three_way             1  100.0%
close kind
  rst                   1  100.0%
rst cause
  unread_data (likely)  1  100.0%
first to close (sent the first FIN or RST)
  server                1  100.0%
"""


def ok(p, what):
    return check(p.returncode == 0, "%s: exit %d, stderr %r" % (what, p.returncode, p.stderr[-300:]))


def same(got, want, what):
    if got == want:
        return check(True, what)
    gl, wl = got.splitlines(), want.splitlines()
    diff = [(i, g, w) for i, (g, w) in enumerate(zip(gl + [""] * 99, wl + [""] * 99)) if g != w][:3]
    return check(False, "%s: first differences (line, got, want) %r" % (what, diff))


def sql(db, q, *args):
    con = sqlite3.connect(db)
    try:
        return con.execute(q, args).fetchall()
    finally:
        con.close()


def read_pcap(path):
    with open(path, "rb") as fp:
        data = fp.read()
    off, recs = 24, []
    while off + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack("<IIII", data[off:off + 16])
        recs.append((sec, usec, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return data[:24], recs


def forge(tmp, scenario, name, *opts):
    path = os.path.join(tmp, name)
    p = run("forge", scenario, "-o", path, *opts, text=True)
    ok(p, "forge %s" % scenario)
    return path


def make_leak(tmp):
    """A half-closed leak (server in CLOSE_WAIT from 0.035650 s) and, 5 s later, an IPv6 four-way
    connection: the capture ends at 5.095650 s, so the server sat in CLOSE_WAIT >= 5.060 s."""
    hdr, leak = read_pcap(forge(tmp, "half_closed_leak", "hcl.pcap"))
    _, later = read_pcap(forge(tmp, "four_way", "fw6.pcap", "--ipv6"))
    path = os.path.join(tmp, "leak.pcap")
    with open(path, "wb") as fp:
        fp.write(hdr)
        for sec, usec, frame in leak + [(s + 5, u, f) for s, u, f in later]:
            fp.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    end = later[-1][0] + 5 + later[-1][1] / 1e6
    entered = leak[7][0] + leak[7][1] / 1e6  # frame 8: the server's ACK of the client's FIN
    check("%.3f" % (end - entered) == "5.060", "the leak's dwell from the frames: %.6f" % (end - entered))
    return path


def case_text(tmp):
    """The exact text of each capture, the total, the leak and the reset."""
    db = os.path.join(tmp, "text.db")
    reuse = forge(tmp, "port_reuse", "reuse.pcap")
    files = [os.path.join(CAPS, n) for n in ("lo_four_way.pcap", "lo_three_way.pcap", "lo_half_closed.pcap")]
    os.chdir(tmp)
    p = run("analyze", "-o", db, *files, "reuse.pcap", text=True)
    ok(p, "analyze four captures")
    want = (FOUR_WAY + THREE_WAY + HALF_CLOSED).format(d=CAPS) + REUSE + TOTAL
    same(p.stdout, want, "text of four captures and their total")
    check(p.stderr == "", "no progress nor message off a terminal: %r" % p.stderr[:200])
    check("0.000" not in p.stdout, "no 0.000 anywhere in the summary")

    leak = make_leak(tmp)
    p = run("analyze", "-o", os.path.join(tmp, "leak.db"), "leak.pcap", text=True)
    ok(p, "analyze the leak")
    same(p.stdout, LEAK, "the leak's text: still in CLOSE_WAIT at capture end, >= 5.060 s")
    p = run("analyze", "-o", os.path.join(tmp, "idle.db"), "--idle-timeout", "1", "leak.pcap", text=True)
    ok(p, "analyze the leak with --idle-timeout 1")
    check(p.stdout.endswith(LEAK_IDLE_STALLS), "written at the idle timeout: %r" % p.stdout[-400:])
    forge(tmp, "rst_unread_data", "rst.pcap")
    p = run("analyze", "-o", os.path.join(tmp, "rst.db"), "rst.pcap", text=True)
    ok(p, "analyze a reset")
    same(p.stdout, RST, "a reset: rst cause marked likely, no stall section")
    return db, files + [reuse, leak]


STALL_RE = re.compile(
    r"^  flow (\d+) \((\d+):(\d+)(?:-(\d+))?\) +(client|server) (\S+) +"
    r"(?:in CLOSE_WAIT (\d+\.\d{3}) s, then (closed|reset|left)"
    r"|still in CLOSE_WAIT (at capture end|when written at the idle timeout), "
    r"(?:>= (\d+\.\d{3}) s|entered < 0\.001 s before)) \((\w+), peer (\S+)\)$")
HEAD_RE = re.compile(r"^(.*): (\d+) packets read, (\d+) TCP, (\d+) skipped(?: \((.*)\))?, "
                     r"(\d+) connections?$")
TALLY_KEYS = {"handshake": "handshake", "close kind": "close_kind", "rst cause": "rst_cause",
              "first to close (sent the first FIN or RST)": "closer"}


def parse_text(text):
    """The summaries of a run's text, as [{'head': ..., 'tallies': {key: [(label, n, pct)]},
    'stalls': [match groups]}]."""
    out, key = [], None
    for line in text.splitlines():
        m = HEAD_RE.match(line)
        if m:
            out.append({"head": m.groups(), "tallies": {}, "stalls": []})
        elif line in TALLY_KEYS:
            key = TALLY_KEYS[line]
            out[-1]["tallies"][key] = []
        elif line.startswith("worst CLOSE_WAIT stalls ("):
            key = None
            out[-1]["stall_title"] = line
        elif key:
            m = re.match(r"^  (.+?) +(\d+) +(\d+\.\d)%$", line)
            check(m is not None, "tally row %r" % line)
            if m:
                out[-1]["tallies"][key].append((m.group(1), int(m.group(2)), m.group(3)))
        else:
            m = STALL_RE.match(line)
            check(m is not None, "stall line %r" % line)
            if m:
                out[-1]["stalls"].append(m.groups())
    return out


def json_equals_text(j, t, what):
    """Every number of the JSON object j against the parsed text t."""
    head = t["head"]
    check([j["packets_read"], j["packets_tcp"], j["packets_skipped"], j["connections"]]
          == [int(head[1]), int(head[2]), int(head[3]), int(head[5])], "%s: header numbers" % what)
    if head[4]:
        shown = [(r.rsplit(" ", 1)[0], int(r.rsplit(" ", 1)[1])) for r in head[4].split(", ")]
        check(shown == list(j["skipped"].items())[:3], "%s: skip reasons %r %r" % (what, shown, j["skipped"]))
    for key in ("handshake", "close_kind", "rst_cause", "closer"):
        rows = [(r["token"], r["count"], "%.1f" % r["percent"]) for r in j[key]]
        text = t["tallies"].get(key, [])
        check(len(rows) == len(text) and all(
            lab.split(" ")[0] == tok and n == tn and pct == tp
            for (tok, n, pct), (lab, tn, tp) in zip(rows, text)),
            "%s: %s JSON %r = text %r" % (what, key, rows, text))
    st = j["close_wait_stalls"]
    check(len(st["longest"]) == len(t["stalls"]), "%s: as many stalls" % what)
    if t["stalls"]:
        title = "worst CLOSE_WAIT stalls (%s)" % ", ".join(
            s for s in ("%d ended after 1 ms or more" % st["ended_1ms_or_more"] if st["ended_1ms_or_more"] else "",
                        "%d still in CLOSE_WAIT at the end" % st["still_in_close_wait"] if st["still_in_close_wait"] else "") if s)
        check(t.get("stall_title") == title, "%s: stall title %r" % (what, t.get("stall_title")))
    for s, g in zip(st["longest"], t["stalls"]):
        port = g[5].rsplit(":", 1)
        secs = g[6] or g[9]
        want = (str(s["flow_id"]), str(s["capture_id"]), str(s["first_frame"]),
                str(s["last_frame"]) if s["last_frame"] != s["first_frame"] else None, s["endpoint"],
                port[0].strip("[]"), port[1], s["close_kind"], s["peer_addr"], str(s["peer_port"]))
        got = (g[0], g[1], g[2], g[3], g[4], port[0].strip("[]"), port[1], g[10], g[11].rsplit(":", 1)[0].strip("[]"),
               g[11].rsplit(":", 1)[1])
        check(got == want, "%s: stall JSON %r = text %r" % (what, want, got))
        check(s["still_in_close_wait"] == (g[8] is not None) and s["then"] == g[7],
              "%s: stall still/then %r" % (what, s))
        if secs:
            check("%.3f" % s["seconds"] == secs, "%s: stall seconds %r = %r" % (what, s["seconds"], secs))


def json_equals_sql(db, j, caps, what):
    """The JSON object j against SQL over the captures caps (a tuple of ids)."""
    inn = "(%s)" % ",".join(str(c) for c in caps)
    r = sql(db, "SELECT sum(packets_read), sum(packets_tcp), sum(packets_skipped), "
                "(SELECT count(*) FROM flows WHERE capture_id IN %s) FROM captures WHERE id IN %s" % (inn, inn))[0]
    check([j["packets_read"], j["packets_tcp"], j["packets_skipped"], j["connections"]] == list(r),
          "%s: packets and connections = SQL %r" % (what, r))
    sk = dict(sql(db, "SELECT reason, sum(packets) FROM skipped WHERE capture_id IN %s GROUP BY 1" % inn))
    check(j["skipped"] == sk, "%s: skipped = SQL %r" % (what, sk))
    for key in ("handshake", "close_kind", "closer"):
        want = sql(db, "SELECT %s, count(*), printf('%%.1f', 100.0 * count(*) / sum(count(*)) OVER ()) "
                       "FROM flows WHERE capture_id IN %s GROUP BY 1 ORDER BY 2 DESC, 1" % (key, inn))
        got = [(r["token"], r["count"], "%.1f" % r["percent"]) for r in j[key]]
        check(got == [tuple(w) for w in want], "%s: %s = SQL %r, JSON %r" % (what, key, want, got))
    want = sql(db, "SELECT rst_cause, rst_cause_proven, count(*) FROM flows WHERE capture_id IN %s "
                   "AND close_kind = 'rst' GROUP BY 1, 2 ORDER BY 3 DESC, 1" % inn)
    got = [(r["token"], {True: 1, False: 0}.get(r["proven"]), r["count"]) for r in j["rst_cause"]]
    check(got == [tuple(w) for w in want], "%s: rst_cause = SQL %r" % (what, want))
    still = "(client_state = 'close_wait' OR server_state = 'close_wait')"
    rows = sql(db, "SELECT id, capture_id, first_packet, last_packet, printf('%%.3f', close_wait_s), %s "
                   "FROM flows WHERE capture_id IN %s AND close_wait_s >= 0 AND (close_wait_s >= 0.001 OR %s) "
                   "ORDER BY close_wait_s DESC, id" % (still, inn, still))
    st = j["close_wait_stalls"]
    check(st["ended_1ms_or_more"] == sum(1 for r in rows if not r[5])
          and st["still_in_close_wait"] == sum(1 for r in rows if r[5]), "%s: stall counts = SQL" % what)
    got = [(s["flow_id"], s["capture_id"], s["first_frame"], s["last_frame"], "%.3f" % s["seconds"],
            int(s["still_in_close_wait"])) for s in st["longest"]]
    check(got == [tuple(r) for r in rows[:5]], "%s: longest stalls = SQL %r, JSON %r" % (what, rows[:5], got))


def case_json(tmp, files):
    """--json on the same files: equal to the text, to SQL, and the total to the sums."""
    text_db, json_db = os.path.join(tmp, "t2.db"), os.path.join(tmp, "j.db")
    rst = os.path.join(tmp, "rst.pcap")
    vxlan = os.path.join(CAPS, "ns_vxlan6_inner_fragments.pcap")  # three skip reasons
    files = files + [rst, vxlan]
    pt = run("analyze", "-o", text_db, *files, text=True)
    pj = run("analyze", "-o", json_db, "--json", *files, text=True)
    ok(pt, "analyze for text")
    ok(pj, "analyze --json")
    try:
        doc = json.loads(pj.stdout)
    except ValueError as e:
        check(False, "--json is one JSON document: %s %r" % (e, pj.stdout[:200]))
        return
    check(sorted(doc) == ["captures", "failed", "total"], "document members %r" % sorted(doc))
    check(pj.stderr == "", "--json: nothing on stderr %r" % pj.stderr[:200])
    text = parse_text(pt.stdout)
    check(len(text) == len(files) + 1, "text: a summary per file and the total (%d)" % len(text))
    check(len(doc["captures"]) == len(files), "JSON: one object per file")
    ids = [r[0] for r in sql(json_db, "SELECT id FROM captures ORDER BY id")]
    for k, (j, t) in enumerate(zip(doc["captures"], text)):
        what = "capture %d (%s)" % (k + 1, os.path.basename(files[k]))
        check(j["capture_id"] == ids[k] and j["source"] == files[k], "%s: id and source" % what)
        json_equals_text(j, t, what)
        json_equals_sql(json_db, j, (ids[k],), what)
    tot = doc["total"]
    check(tot["captures"] == len(files), "total: captures %r" % tot.get("captures"))
    json_equals_text(tot, text[-1], "total")
    json_equals_sql(json_db, tot, tuple(ids), "total")
    for key in ("packets_read", "packets_tcp", "packets_skipped", "connections", "one_sided"):
        check(tot[key] == sum(c[key] for c in doc["captures"]), "total %s is the sum" % key)
    for key in ("handshake", "close_kind", "closer"):
        sums = {}
        for c in doc["captures"]:
            for r in c[key]:
                sums[r["token"]] = sums.get(r["token"], 0) + r["count"]
        check({r["token"]: r["count"] for r in tot[key]} == sums, "total %s is the sum %r" % (key, sums))
    check(tot["skipped"] == {"ip_fragment_reassembled": 5, "not_tcp": 7, "not_ip": 2},
          "total skipped %r" % tot["skipped"])
    check(doc["failed"] == [], "nothing failed")
    check(tot["rst_cause"] == [{"token": "unread_data", "proven": False, "count": 1, "percent": 100.0}],
          "total rst_cause %r" % tot["rst_cause"])

    # The display filter of each stall's flow: exact, and tshark finds exactly the flow's frames.
    leak = doc["captures"][1]["close_wait_stalls"]["longest"]
    check(leak[0]["tshark_filter"] == "((ip.src==192.0.2.1 && tcp.srcport==40000 && ip.dst==192.0.2.2 && "
          "tcp.dstport==80) || (ip.src==192.0.2.2 && tcp.srcport==80 && ip.dst==192.0.2.1 && "
          "tcp.dstport==40000)) && frame.number>=1 && frame.number<=8", "tshark filter %r" % leak[0])
    if shutil.which("tshark"):
        for st in leak:
            p = subprocess.run(["tshark", "-n", "-r", files[1], "-Y", st["tshark_filter"], "-T", "fields",
                                "-e", "frame.number"], capture_output=True, text=True, timeout=120)
            want = [str(n) for n in range(st["first_frame"], st["last_frame"] + 1)]
            check(p.stdout.split() == want, "tshark -Y on flow %d: frames %r" % (st["flow_id"], p.stdout.split()))
    else:
        print("SKIP: tshark is not installed (Debian package tshark): the filters are not run")

    # A file that fails (not a capture; a missing file is refused before anything is analyzed):
    # named in "failed", the others summed; exit status 1.
    junk = junk_file(tmp)
    p = run("analyze", "-o", os.path.join(tmp, "j2.db"), "--json", files[0], junk, text=True)
    check(p.returncode == 1, "--json with a file that is not a capture: exit 1")
    doc = json.loads(p.stdout)
    check(doc["failed"] == [junk] and len(doc["captures"]) == 1
          and doc["total"]["connections"] == doc["captures"][0]["connections"],
          "--json with a file that is not a capture: %r" % doc["failed"])
    p = run("analyze", "-o", os.path.join(tmp, "j3.db"), "--json", junk, text=True)
    doc = json.loads(p.stdout)
    check(doc["captures"] == [] and doc["total"]["connections"] == 0 and not os.path.exists(os.path.join(tmp, "j3.db")),
          "--json with nothing stored: an empty document, no database")
    p = run("analyze", "-q", "--json", files[0], text=True)
    check(p.returncode == 2 and "choose one" in p.stderr, "-q with --json refused: %r" % p.stderr)


def junk_file(tmp):
    """A file that exists but is not a capture: it fails when it is read, after the others."""
    junk = os.path.join(tmp, "junk.pcap")
    with open(junk, "w") as fp:
        fp.write("not a capture\n" * 4)
    return junk


def case_many(tmp, files):
    """One file stored: no total.  -q over several: nothing but errors."""
    junk = junk_file(tmp)
    p = run("analyze", "-o", os.path.join(tmp, "m1.db"), files[0], junk, text=True)
    check(p.returncode == 1 and "total over" not in p.stdout and p.stdout == FOUR_WAY.format(d=CAPS),
          "one file stored of two: its summary, no total: %r" % p.stdout[-200:])
    check(p.stderr.startswith("finscope: %s: not a readable pcap or pcapng capture" % junk), "the error: %r" % p.stderr)
    p = run("analyze", "-q", "-o", os.path.join(tmp, "m2.db"), *files, text=True)
    check(p.returncode == 0 and p.stdout == "" and p.stderr == "", "-q: nothing at all %r %r" % (p.stdout, p.stderr))
    p = run("analyze", "-q", "-o", os.path.join(tmp, "m3.db"), files[0], junk, text=True)
    check(p.returncode == 1 and p.stdout == "" and p.stderr.count("\n") == 1, "-q: only the error %r" % p.stderr)


def case_read(tmp):
    """-r FILE ... EXPRESSION, as tcpdump; -r alone; -f with an expression refused."""
    leak = os.path.join(tmp, "leak.pcap")
    reuse = os.path.join(tmp, "reuse.pcap")
    db_r, db_f = os.path.join(tmp, "r.db"), os.path.join(tmp, "f.db")
    pr = run("analyze", "-o", db_r, "-r", leak, "--read", reuse, "ip6", "or", "tcp[13] & 1 = 0", text=True)
    pf = run("analyze", "-o", db_f, "-f", "ip6 or tcp[13] & 1 = 0", leak, reuse, text=True)
    ok(pr, "-r FILE --read FILE EXPRESSION")
    ok(pf, "-f EXPR FILES")
    check(pr.stdout == pf.stdout and "filtered" in pr.stdout, "-r with an expression = -f: %r" % pr.stdout[:300])
    check(sql(db_r, "SELECT source, filter FROM captures ORDER BY id")
          == [(leak, "ip6 or tcp[13] & 1 = 0"), (reuse, "ip6 or tcp[13] & 1 = 0")],
          "-r: the files in order, the expression as the filter")
    check(sql(db_r, "SELECT reason, packets FROM skipped ORDER BY capture_id")
          == [("filtered", 1), ("filtered", 4)], "-r: the FINs of IPv4 filtered out")
    db = os.path.join(tmp, "r2.db")
    p = run("analyze", "-o", db, "-r", leak, text=True)
    ok(p, "-r without an expression")
    check(p.stdout == LEAK.replace("leak.pcap", leak) and sql(db, "SELECT filter FROM captures") == [(None,)],
          "-r without an expression: no filter %r" % p.stdout[:100])
    p = run("analyze", "-o", db, "-r", leak, "-f", "tcp", "port", "80", text=True)
    check(p.returncode == 2 and "give one" in p.stderr, "-f and an expression: refused %r" % p.stderr)
    p = run("analyze", "-o", db, "-r", leak, reuse, text=True)
    check(p.returncode == 2 and "'%s' is a file, but after -r the arguments are the filter" % reuse in p.stderr,
          "a file after -r's files: said, not taken as a filter %r" % p.stderr)
    p = run("analyze", "-o", db, "-r", leak, "no such", text=True)
    check(p.returncode == 1 and "bad filter 'no such'" in p.stderr, "a bad expression named: %r" % p.stderr)
    p = run("analyze", "--help", text=True)
    check("-r, --read FILE" in p.stdout and "-r web-1.pcap -r web-2.pcap tcp port 443" in p.stdout
          and "--json" in p.stdout, "--help shows -r and --json with examples")


def case_after(tmp):
    """The filter after the files (tcpdump's habit): the files up to the first argument that does
    not exist, then the expression; a missing file stops the run before anything is written."""
    leak = os.path.join(tmp, "leak.pcap")
    reuse = os.path.join(tmp, "reuse.pcap")
    db_a = os.path.join(tmp, "after.db")
    pa = run("analyze", "-o", db_a, leak, reuse, "ip6", "or", "tcp[13] & 1 = 0", text=True)
    ok(pa, "FILES EXPRESSION")
    pf = run("analyze", "-o", os.path.join(tmp, "after_f.db"), "-f", "ip6 or tcp[13] & 1 = 0", leak, reuse,
             text=True)
    check(pa.stdout == pf.stdout and "filtered" in pa.stdout, "FILES EXPRESSION = -f: %r" % pa.stdout[:300])
    flows = "SELECT * FROM flows ORDER BY id"
    rows = sql(db_a, flows)
    check(rows and rows == sql(os.path.join(tmp, "after_f.db"), flows) == sql(os.path.join(tmp, "r.db"), flows),
          "FILES EXPRESSION: the same flows rows as -f and as -r (%d)" % len(rows))
    check(sql(db_a, "SELECT source, filter FROM captures ORDER BY id")
          == [(leak, "ip6 or tcp[13] & 1 = 0"), (reuse, "ip6 or tcp[13] & 1 = 0")], "the expression as the filter")
    # The review's command: the four-way capture and tcp port 80.
    db = os.path.join(tmp, "after80.db")
    p = run("analyze", "-o", db, os.path.join(CAPS, "lo_four_way.pcap"), "tcp", "port", "80", text=True)
    check(p.returncode == 0 and p.stderr == "" and sql(db, "SELECT filter FROM captures") == [("tcp port 80",)],
          "FILE tcp port 80: one capture, filtered: %r" % p.stderr)
    # "-" stays a file before the expression.
    db = os.path.join(tmp, "after_stdin.db")
    with open(leak, "rb") as fp:
        p = subprocess.run([T.FINSCOPE, "analyze", "-o", db, "-", "tcp"], stdin=fp, capture_output=True,
                           text=True, timeout=120)
    check(p.returncode == 0 and sql(db, "SELECT source, filter FROM captures") == [("-", "tcp")],
          "- then an expression: %r" % p.stderr)
    # Refused, exit 2, no database: -f too, a filter and no file, missing files.
    missing = os.path.join(tmp, "missing.pcap")
    db = os.path.join(tmp, "after_bad.db")
    refusals = (
        (["-f", "tcp", leak, "tcp", "port", "80"],
         "finscope analyze: a filter both with -f ('tcp') and after the files ('tcp port 80'): give one\n"),
        ([leak, missing, "and"], "finscope analyze: %s: no such file\n" % missing),
        ([leak, missing], "finscope analyze: %s: no such file\n" % missing),
        ([missing, leak], "finscope analyze: %s: no such file\n" % missing),
        # A missing file then a valid expression: still the missing file (no file is dropped
        # silently), and how to give that expression.
        ([leak, missing, "tcp", "port", "80"],
         "finscope analyze: %s: no such file\n"
         "finscope analyze: if 'tcp port 80' is a filter, give it with -f 'tcp port 80' or read the files "
         "with -r FILE tcp port 80\n" % missing),
    )
    for args, want in refusals:
        p = run("analyze", "-o", db, *args, text=True)
        check(p.returncode == 2 and p.stdout == "" and p.stderr == want and not os.path.exists(db),
              "refused %r: exit %d %r" % (args[-3:], p.returncode, p.stderr))
    p = run("analyze", "-o", db, "tcp", "port", "80", text=True)
    check(p.returncode == 2 and p.stderr.startswith("finscope analyze: no capture file given, only a filter\n")
          and not os.path.exists(db), "a filter and no file: %r" % p.stderr[:100])
    p = run("analyze", "--help", text=True)
    check("  finscope analyze web.pcap tcp port 443\n" in p.stdout
          and "usage: finscope analyze [options] CAPTURE... [EXPRESSION]\n" in p.stdout,
          "--help: the expression after the files, with an example")


def pty_run(args, cols, stdin=None):
    """Run finscope with stderr on a pty of cols columns; (exit status, what it wrote there)."""
    master, slave = pty.openpty()
    import fcntl
    import termios
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    p = subprocess.Popen([os.path.abspath(T.FINSCOPE)] + args, stdin=stdin or subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out, deadline = b"", time.monotonic() + 300
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 1.0)
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            out += data
        elif p.poll() is not None:
            break
    os.close(master)
    return p.wait(timeout=60), out.decode(errors="replace")


PROG_RE = re.compile(r"^(\S+): +(\d+\.\d)% of (\d+\.\d) MB, (\d+) packets, (\d+) packets/s, (\d+\.\d) MB/s, "
                     r"elapsed (\d+):(\d\d), (ETA (?:\d+:\d\d|\?)|writing the database|done)$")


def repeat_pcap(src, dst, times):
    """src's records times over, each round 1000 s after the last (its connections long gone)."""
    with open(src, "rb") as fp:
        data = fp.read()
    with open(dst, "wb") as out:
        out.write(data[:24])
        for k in range(times):
            off = 24
            while off + 16 <= len(data):
                sec, usec, caplen, wirelen = struct.unpack_from("<IIII", data, off)
                out.write(struct.pack("<IIII", sec + 1000 * k, usec, caplen, wirelen))
                out.write(data[off + 16:off + 16 + caplen])
                off += 16 + caplen


def progress_lines(out):
    return [l.replace("\x1b[K", "") for l in re.split(r"[\r\n]+", out) if l]


def case_progress(tmp):
    """The progress line on a terminal."""
    heavy = os.path.join(tmp, "heavy.pcap")
    subprocess.run([sys.executable, HEAVY, "30000", heavy], check=True, capture_output=True, timeout=300)
    # Refreshed 4 times a second: a fast machine reads 360000 packets before the third; then the
    # same packets 3 or 8 times over, until the reading shows 3 lines (bounded).
    for times in (1, 3, 8):
        big = heavy if times == 1 else os.path.join(tmp, "heavy%d.pcap" % times)
        if times > 1:
            repeat_pcap(heavy, big, times)
        size = os.path.getsize(big)
        rc, out = pty_run(["analyze", "-o", os.path.join(tmp, "h%d.db" % times), big], 200)
        lines = progress_lines(out)
        if sum(1 for l in lines if ", ETA " in l) >= 3:
            break
    check(rc == 0, "analyze on a terminal: exit %d" % rc)
    check(out.endswith("\x1b[K\r\n") and out.count("\n") == 1, "the line ends once, with a newline: %r" % out[-80:])
    parsed = [PROG_RE.match(l) for l in lines]
    check(lines and all(parsed), "every line has the format: %r" % [l for l, m in zip(lines, parsed) if not m][:2])
    parsed = [m for m in parsed if m]
    if not parsed:
        return
    shares = [float(m.group(2)) for m in parsed]
    check(len([m for m in parsed if m.group(9).startswith("ETA")]) >= 3,
          "at least 3 lines while reading (%d)" % len(parsed))
    check(all(a <= b for a, b in zip(shares, shares[1:])), "shares never fall: %r" % shares)
    check(shares[-1] == 100.0 and parsed[-1].group(9) == "done", "ends at 100.0%, done")
    check(parsed[-2].group(9) == "writing the database", "then the database is written: %r" % lines[-2])
    check(all(m.group(1) == big and m.group(3) == "%.1f" % (size / 1e6) for m in parsed), "name and size")
    check(int(parsed[-1].group(4)) == 360000 * times, "all %d packets counted: %s" % (360000 * times, parsed[-1].group(4)))
    secs = [int(m.group(7)) * 60 + int(m.group(8)) for m in parsed]
    check(all(a <= b for a, b in zip(secs, secs[1:])), "elapsed never falls: %r" % secs)

    rc, out = pty_run(["analyze", "-o", os.path.join(tmp, "h80.db"), big], 80)
    lines = progress_lines(out)
    check(rc == 0 and lines and all(len(l) < 80 for l in lines),
          "80 columns: one row each: %r" % [l for l in lines if len(l) >= 80][:2])
    check(all(re.search(r"\d+\.\d%, \d+ packets, \d+ packets/s, elapsed \d+:\d\d(, ETA \d+:\d\d|, writing|, done)$",
                        l) for l in lines),
          "80 columns: share, packets, rate, elapsed: %r" % lines[:2])

    with open(big, "rb") as fp:
        rc, out = pty_run(["analyze", "-o", os.path.join(tmp, "h_stdin.db"), "-"], 200, stdin=fp)
    lines = progress_lines(out)
    check(rc == 0 and lines and all(re.match(r"^-: \d+ packets, \d+ packets/s, \d+\.\d MB/s, elapsed \d+:\d\d"
                                              r"(, writing the database|, done)?$", l) for l in lines),
          "stdin: packets, rates, elapsed, no share, no ETA: %r" % lines[:2])
    check(lines[-1].startswith("-: %d packets" % (360000 * times)) and lines[-1].endswith(", done"), "stdin: the last line %r" % lines[-1:])

    # -q: nothing but errors, not even the progress line (the same run showed one above).
    rc, out = pty_run(["analyze", "-q", "-o", os.path.join(tmp, "h_quiet.db"), big], 200)
    check(rc == 0 and out == "" and sql(os.path.join(tmp, "h_quiet.db"), "SELECT packets_read FROM captures")
          == [(360000 * times,)], "-q on a terminal: no progress line %r" % out[:200])


def main():
    global CAPS
    T.FINSCOPE = os.path.abspath(sys.argv[1])
    CAPS = os.path.abspath(sys.argv[2])
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            db, files = case_text(tmp)
            case_json(tmp, [os.path.join(CAPS, "lo_four_way.pcap"), os.path.join(tmp, "leak.pcap")])
            case_many(tmp, [os.path.join(CAPS, "lo_four_way.pcap"), os.path.join(tmp, "reuse.pcap")])
            case_read(tmp)
            case_after(tmp)
            case_progress(tmp)
        finally:
            os.chdir(here)
    return T.summary("summary")


if __name__ == "__main__":
    sys.exit(main())
