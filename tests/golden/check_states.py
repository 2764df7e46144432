#!/usr/bin/env python3
"""check_states.py FINSCOPE: `finscope states` and the state_intervals view, value by value.

The rules are census.h's (FSC_SQL_STATE_INTERVALS) and docs/schema.md's: an endpoint's state
interval [from, until) ends at the first of its next transition (each log entry's seventh
element: how long the endpoint held the state), TIME_WAIT + --time-wait (time_wait_over), a
proven orphan's FIN_WAIT_2 + --fin-timeout (fin_timeout), the flow's last packet +
--idle-timeout for a last state no lifetime ends (idle), and the next connection on the same
4-tuple in the same capture, whichever end opened it (reused).  The capture's end cuts nothing:
the kernel keeps states when packets stop, so until_ts may lie after the last packet.  Only
when idle comes at or before the capture's last packet is the endpoint 'unknown' from then to
that last packet (capture_end: held at that instant too) or a reuse.  at_end is 1 for the rows
held at the capture's last packet (from <= end < until, or an unknown row ending capture_end),
and is what the summary's at_end sums.  closed and listen never count; log entries that are not
arrays, or whose time is not a number, are skipped.  --every counts at start + k * step, the
step in whole microseconds, up to the last packet, at most 100000 instants.

Every database here is a forged capture's, analyzed, whose flows are then replaced by crafted
rows, so every time is chosen here and every expected value is written out below from the
rules, not from a run.  Times are seconds from T0 (2026-01-01 00:00:00 UTC); every comparison
is in whole microseconds.  The checks of what the engine itself stores (self-connect, each
log entry's held time) use analyzed captures as they are.
"""
import csv
import io
import json
import os
import shutil
import sqlite3
import sys
import tempfile

import checklib as T
from checklib import check
import logcodec

C = logcodec.code  # an explicit transition entry's code

T0 = 1767225600  # 2026-01-01 00:00:00 UTC
T0_US = T0 * 1_000_000
TMP = None
TEMPLATE = None  # an analyzed database, its flows deleted by make_db
TEMPLATE_ROW = None  # one analyzed flows row: the values of the columns a test does not set

A, B = "10.0.0.1", "10.0.0.2"
SUMMARY_COLS = ["host", "state", "at_end", "peak", "peak_at", "peak_at_s"]
SAMPLE_COLS = ["time", "t_s", "host", "state", "sockets"]


def us(sec):
    """Seconds from T0 -> Unix microseconds."""
    return T0_US + round(sec * 1_000_000)


def unix(sec):
    """Seconds from T0 -> Unix seconds for --at, exact to the microsecond."""
    return "%d.%06d" % divmod(us(sec), 1_000_000)


def utc(sec):
    """Seconds from T0 (0 <= sec < 86400) -> 'YYYY-MM-DD HH:MM:SS.ffffff', as states prints."""
    whole, frac = divmod(round(sec * 1_000_000), 1_000_000)
    return "2026-01-01 %02d:%02d:%02d.%06d" % (whole // 3600, whole // 60 % 60, whole % 60, frac)


# ---- crafted databases ----

def log(*entries, t0=0):
    """Transition log JSON (schema 6's codes, logcodec.py) from (endpoint, from, to, sec)
    tuples, times in microseconds after t0: each entry gets held_us, how long the endpoint held
    `to` (the same endpoint's next entry's ts minus this one's), and none on its last (as
    build_transition_log)."""
    out = []
    for i, (ep, frm, to, sec) in enumerate(entries):
        e = [C(ep, frm, to), us(sec) - t0, i + 1]
        nxt = [x for x in entries[i + 1:] if x[0] == ep]
        if nxt:
            e.append(us(nxt[0][3]) - us(sec))
        out.append(e)
    return json.dumps(out)


def opened(c, s, est):
    """A handshake: client SYN at c, server SYN+ACK at s, both established at est."""
    return [("client", "closed", "syn_sent", c), ("server", "listen", "syn_rcvd", s),
            ("client", "syn_sent", "established", est), ("server", "syn_rcvd", "established", est)]


def midstream(t):
    """Both endpoints picked up established at t."""
    return [("client", "closed", "established", t), ("server", "closed", "established", t)]


def reset(t):
    """Both endpoints closed by a RST at t."""
    return [("client", "established", "closed", t), ("server", "established", "closed", t)]


# The four-way close used below: client FIN at 5, server ACK 5.1, server FIN 6, client ACK 6.1.
FOUR_WAY = opened(1, 1.1, 1.2) + [
    ("client", "established", "fin_wait_1", 5), ("server", "established", "close_wait", 5.1),
    ("client", "fin_wait_1", "fin_wait_2", 5.1), ("server", "close_wait", "last_ack", 6),
    ("client", "fin_wait_2", "time_wait", 6.1), ("server", "last_ack", "closed", 6.1)]
FOUR_WAY_IV = [("client", "syn_sent", 1, 1.2, "transition"),
               ("server", "syn_rcvd", 1.1, 1.2, "transition"),
               ("client", "established", 1.2, 5, "transition"),
               ("server", "established", 1.2, 5.1, "transition"),
               ("client", "fin_wait_1", 5, 5.1, "transition"),
               ("server", "close_wait", 5.1, 6, "transition"),
               ("client", "fin_wait_2", 5.1, 6.1, "transition"),
               ("server", "last_ack", 6, 6.1, "transition")]
# A half close: the client's FIN acked at 5.1, the server never closes.
HALF_CLOSED = opened(1, 1.1, 1.2) + [
    ("client", "established", "fin_wait_1", 5), ("server", "established", "close_wait", 5.1),
    ("client", "fin_wait_1", "fin_wait_2", 5.1)]
HALF_CLOSED_IV = FOUR_WAY_IV[:5]


def flow(entries, cap=1, client=(A, 40000), server=(B, 80), first=None, last=None,
         closer="none", call=None, raw_log=None):
    """A flows row: the template's values, with these addresses, times, closer and log."""
    times = [e[3] for e in entries if e[3] is not None]
    first = min(times) if first is None else first
    last = max(times) if last is None else last
    row = dict(TEMPLATE_ROW)
    row.update(id=None, capture_id=cap, ip_version=6 if ":" in client[0] else 4,
               client_addr=client[0], client_port=client[1], server_addr=server[0],
               server_port=server[1], first_ts=us(first) / 1e6, last_ts=us(last) / 1e6,
               duration_s=last - first, closer=closer, closer_call=call,
               self_connect=int(client == server),
               transition_log=raw_log if raw_log is not None else log(*entries, t0=us(first)),
               segment_log="[]", zeek_earlier="[]")
    return row


def make_db(name, flows, captures=((0, 1000),)):
    """A copy of the template with these captures (first, last: seconds from T0; ids 1, 2, ..)
    and these flows (ids 1, 2, .. in order)."""
    db = os.path.join(TMP, name + ".db")
    shutil.copy(TEMPLATE, db)
    con = sqlite3.connect(db)
    cap = con.execute("SELECT * FROM captures WHERE id = 1").fetchone()
    names = [d[0] for d in con.execute("SELECT * FROM captures").description]
    con.execute("DELETE FROM captures WHERE id > 1")
    for i, (first, last) in enumerate(captures):
        row = dict(zip(names, cap))
        row.update(id=i + 1, first_ts=us(first) / 1e6, last_ts=us(last) / 1e6,
                   hash="xxh128:%032x" % (i + 1), source="crafted%d.pcap" % (i + 1))
        con.execute("INSERT OR REPLACE INTO captures (%s) VALUES (%s)" %
                    (", ".join(row), ", ".join("?" * len(row))), list(row.values()))
    for i, f in enumerate(flows):
        f = dict(f, id=i + 1)
        con.execute("INSERT INTO flows (%s) VALUES (%s)" % (", ".join(f), ", ".join("?" * len(f))),
                    list(f.values()))
    con.commit()
    con.close()
    return db


# ---- reading back ----

def intervals(db, flow_id=None):
    """state_intervals rows: (flow_id, endpoint, state, from_us, until_us, ended, at_end),
    sorted."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT flow_id, endpoint, state, CAST(round(from_ts * 1e6) AS "
                           "INTEGER), CAST(round(until_ts * 1e6) AS INTEGER), ended, at_end "
                           "FROM state_intervals WHERE ?1 IS NULL OR flow_id = ?1",
                           (flow_id,)).fetchall()
    except sqlite3.Error as e:
        rows = [("SELECT * FROM state_intervals fails: %s" % e,)]
    con.close()
    return sorted(rows)


def iv(flow_id, endpoint, state, f, u, ended, at_end=0):
    """One expected intervals() row (times in seconds from T0)."""
    return (flow_id, endpoint, state, us(f), us(u), ended, at_end)


def secs(rows):
    """intervals() rows with times in seconds from T0, for messages."""
    return [r[1:3] + ((r[3] - T0_US) / 1e6, (r[4] - T0_US) / 1e6) + r[5:] if len(r) == 7
            else r for r in rows]


def check_intervals(what, db, flow_id, want):
    """want: (endpoint, state, from_sec, until_sec, ended[, at_end]) for flow_id, in any order;
    at_end is 0 unless given.  A failure names the rows that differ, in seconds from T0."""
    got = intervals(db, flow_id)
    exp = sorted(iv(flow_id, *w) for w in want)
    return check(got == exp, "%s: state_intervals of flow %d: unexpected %r, missing %r" %
                 (what, flow_id, secs(sorted(set(got) - set(exp))),
                  secs(sorted(set(exp) - set(got)))))


def states(db, *args):
    """finscope states DB ARGS --json: (exit status, parsed JSON or None, stderr)."""
    p = T.run("states", db, *args, "--json", text=True, timeout=60)
    try:
        out = json.loads(p.stdout) if p.returncode == 0 else None
    except ValueError:
        out = None
        check(False, "states %s: JSON does not parse: %r" % (" ".join(args), p.stdout[:300]))
    return p.returncode, out, p.stderr


def counts_at(db, sec, *args):
    """{(host, state): sockets} from states --at (Unix seconds for T0 + sec)."""
    rc, rows, err = states(db, "--at", unix(sec), *args)
    if not check(rc == 0 and rows is not None, "states --at %s %s: exit %d %s" %
                 (sec, " ".join(args), rc, err.strip())):
        return {}
    for r in rows:
        check(r["time"] == utc(sec) and r["t_s"] == round(sec - start_of(db, args), 6),
              "states --at %s: time %r t_s %r" % (sec, r["time"], r["t_s"]))
    return {(r["host"], r["state"]): r["sockets"] for r in rows}


_starts = {}


def start_of(db, args):
    """The first packet of the selected captures, seconds from T0 (t_s counts from it)."""
    cap = args[args.index("--capture") + 1] if "--capture" in args else None
    key = (db, cap)
    if key not in _starts:
        con = sqlite3.connect(db)
        v = con.execute("SELECT min(first_ts) FROM captures WHERE ?1 IS NULL OR id = ?1",
                        (cap,)).fetchone()[0]
        con.close()
        _starts[key] = (round(v * 1e6) - T0_US) / 1e6
    return _starts[key]


def expect_counts(what, db, points, *args):
    """points: [(sec, {(host, state): n})]: the exact counts states --at gives."""
    for sec, want in points:
        got = counts_at(db, sec, *args)
        check(got == want, "%s: --at %s %s: got %r, want %r" % (what, sec, " ".join(args), got,
                                                                 want))


def summary(db, *args):
    rc, rows, err = states(db, *args)
    check(rc == 0, "states summary %s: exit %d %s" % (" ".join(args), rc, err.strip()))
    return rows or []


def srow(host, state, at_end, peak, peak_at):
    return {"host": host, "state": state, "at_end": at_end, "peak": peak,
            "peak_at": utc(peak_at), "peak_at_s": peak_at}


# ---- the cases ----

def case_boundaries_and_idle():
    """An open connection: entering counts at t, at until-1us, not at until; the last state
    lasts until last_ts + idle, then 'unknown' to the capture's end when that comes first, and
    held past the capture's end (at_end) when it does not."""
    db = make_db("idle", [flow(opened(10, 10.5, 11))])
    est = [("client", "established", 11, 311, "idle"), ("server", "established", 11, 311, "idle"),
           ("client", "unknown", 311, 1000, "capture_end", 1),
           ("server", "unknown", 311, 1000, "capture_end", 1)]
    check_intervals("idle", db, 1, [("client", "syn_sent", 10, 11, "transition"),
                                    ("server", "syn_rcvd", 10.5, 11, "transition")] + est)
    expect_counts("boundaries", db, [
        (9.999999, {}),
        (10, {(A, "syn_sent"): 1}),
        (10.5, {(A, "syn_sent"): 1, (B, "syn_rcvd"): 1}),
        (10.999999, {(A, "syn_sent"): 1, (B, "syn_rcvd"): 1}),
        (11, {(A, "established"): 1, (B, "established"): 1}),
        (310.999999, {(A, "established"): 1, (B, "established"): 1}),
        (311, {(A, "unknown"): 1, (B, "unknown"): 1}),
        (1000, {(A, "unknown"): 1, (B, "unknown"): 1}),
        (1000.000001, {})])
    expect_counts("--idle-timeout 100", db, [
        (110.999999, {(A, "established"): 1, (B, "established"): 1}),
        (111, {(A, "unknown"): 1, (B, "unknown"): 1})], "--idle-timeout", "100")
    expect_counts("--state", db, [(10.5, {}), (11, {(A, "established"): 1,
                                                  (B, "established"): 1}), (311, {})],
                  "--state", "established")
    got = summary(db)
    check(got == [srow(A, "syn_sent", 0, 1, 10), srow(A, "established", 0, 1, 11),
                  srow(A, "unknown", 1, 1, 311), srow(B, "syn_rcvd", 0, 1, 10.5),
                  srow(B, "established", 0, 1, 11), srow(B, "unknown", 1, 1, 311)],
          "idle: summary %r" % got)

    # idle counts from the flow's last packet (data after the handshake), not from the state.
    db = make_db("idle_last", [flow(opened(10, 10.5, 11), last=50)])
    check_intervals("idle from last_ts", db, 1, [
        ("client", "syn_sent", 10, 11, "transition"),
        ("server", "syn_rcvd", 10.5, 11, "transition"),
        ("client", "established", 11, 350, "idle"), ("server", "established", 11, 350, "idle"),
        ("client", "unknown", 350, 1000, "capture_end", 1),
        ("server", "unknown", 350, 1000, "capture_end", 1)])

    # The capture ends first: the kernel keeps the state when packets stop, so it lasts past
    # the capture's last packet (200) until last_ts + idle (311), held at the end (at_end), and
    # no 'unknown' follows.  --at counts it 10 s after the last packet, not at 311.
    db = make_db("idle_short", [flow(opened(10, 10.5, 11))], captures=((0, 200),))
    check_intervals("the capture ends before idle", db, 1, [
        ("client", "syn_sent", 10, 11, "transition"),
        ("server", "syn_rcvd", 10.5, 11, "transition"),
        ("client", "established", 11, 311, "idle", 1),
        ("server", "established", 11, 311, "idle", 1)])
    expect_counts("the capture ends before idle", db, [
        (200, {(A, "established"): 1, (B, "established"): 1}),
        (200.000001, {(A, "established"): 1, (B, "established"): 1}),
        (210, {(A, "established"): 1, (B, "established"): 1}),
        (310.999999, {(A, "established"): 1, (B, "established"): 1}),
        (311, {}), (1000, {})])
    got = summary(db)
    check(got == [srow(A, "syn_sent", 0, 1, 10), srow(A, "established", 1, 1, 11),
                  srow(B, "syn_rcvd", 0, 1, 10.5), srow(B, "established", 1, 1, 11)],
          "the capture ends before idle: summary (at_end 1, no unknown) %r" % got)
    # --every stops at the capture's last packet although the states outlive it.
    rc, rows, err = states(db, "--every", "50", "--state", "established")
    check(rc == 0 and [(r["t_s"], r["host"], r["sockets"]) for r in rows or []] ==
          [(float(t), h, int(t > 0)) for t in (0, 50, 100, 150, 200) for h in (A, B)],
          "the capture ends before idle: --every 50 from 0 to 200: %r %s" % (rows, err))
    # A shorter idle timeout that comes before the capture's end gives 'unknown' again.
    expect_counts("--idle-timeout 100, the capture ending at 200", db, [
        (110.999999, {(A, "established"): 1, (B, "established"): 1}),
        (111, {(A, "unknown"): 1, (B, "unknown"): 1}),
        (200, {(A, "unknown"): 1, (B, "unknown"): 1}),
        (200.000001, {})], "--idle-timeout", "100")
    # idle exactly at the capture's last packet (11 + 189 = 200): unknown there; 1 us after
    # it: the state is held at the end and over 1 us later.
    expect_counts("--idle-timeout 189 (idle at the capture's end)", db, [
        (199.999999, {(A, "established"): 1, (B, "established"): 1}),
        (200, {(A, "unknown"): 1, (B, "unknown"): 1}),
        (200.000001, {})], "--idle-timeout", "189")
    got = [(r["host"], r["state"], r["at_end"]) for r in summary(db, "--idle-timeout", "189")]
    check(got == [(A, "syn_sent", 0), (A, "established", 0), (A, "unknown", 1),
                  (B, "syn_rcvd", 0), (B, "established", 0), (B, "unknown", 1)],
          "--idle-timeout 189: at_end on the unknown rows only %r" % got)
    expect_counts("--idle-timeout 189.000001 (idle 1 us after the capture's end)", db, [
        (200, {(A, "established"): 1, (B, "established"): 1}),
        (200.000001, {})], "--idle-timeout", "189.000001")
    got = [(r["host"], r["state"], r["at_end"])
           for r in summary(db, "--idle-timeout", "189.000001")]
    check(got == [(A, "syn_sent", 0), (A, "established", 1), (B, "syn_rcvd", 0),
                  (B, "established", 1)],
          "--idle-timeout 189.000001: established held at the end, no unknown %r" % got)

    # The capture ends exactly when the idle timeout does: the state is over at that instant
    # ([11, 311) ends idle) and the endpoint is 'unknown' "until that last packet", an
    # interval [311, 311] that counts at that instant: one 'unknown' socket per endpoint at
    # the last instant, held at the end.
    db = make_db("idle_tie", [flow(opened(10, 10.5, 11))], captures=((0, 311),))
    check_intervals("idle ends at the capture's end", db, 1, [
        ("client", "syn_sent", 10, 11, "transition"),
        ("server", "syn_rcvd", 10.5, 11, "transition"),
        ("client", "established", 11, 311, "idle"), ("server", "established", 11, 311, "idle"),
        ("client", "unknown", 311, 311, "capture_end", 1),
        ("server", "unknown", 311, 311, "capture_end", 1)])
    expect_counts("idle ends at the capture's end", db, [
        (310.999999, {(A, "established"): 1, (B, "established"): 1}),
        (311, {(A, "unknown"): 1, (B, "unknown"): 1}),
        (311.000001, {})])
    got = summary(db)
    check(got == [srow(A, "syn_sent", 0, 1, 10), srow(A, "established", 0, 1, 11),
                  srow(A, "unknown", 1, 1, 311), srow(B, "syn_rcvd", 0, 1, 10.5),
                  srow(B, "established", 0, 1, 11), srow(B, "unknown", 1, 1, 311)],
          "idle ends at the capture's end: summary %r" % got)

    # The capture ends 1 us before the idle timeout: held at the end, no 'unknown'.
    db = make_db("idle_after", [flow(opened(10, 10.5, 11))], captures=((0, 310.999999),))
    check_intervals("idle 1 us after the capture's end", db, 1, [
        ("client", "syn_sent", 10, 11, "transition"),
        ("server", "syn_rcvd", 10.5, 11, "transition"),
        ("client", "established", 11, 311, "idle", 1),
        ("server", "established", 11, 311, "idle", 1)])
    expect_counts("idle 1 us after the capture's end", db, [
        (310.999999, {(A, "established"): 1, (B, "established"): 1}), (311, {})])


def case_syn_timeout():
    """An unanswered handshake: SYN_SENT lasts 127 s (tcp_syn_retries 6), SYN_RCVD 63 s
    (tcp_synack_retries 5), then the kernel has given it up (syn_timeout), not idle."""
    unanswered = [("client", "closed", "syn_sent", 10)]
    half_open = [("client", "closed", "syn_sent", 20), ("server", "listen", "syn_rcvd", 20.5)]
    db = make_db("syn", [flow(unanswered, client=(A, 40001)),
                         flow(half_open, client=(A, 40002), last=27)])
    check_intervals("unanswered SYN", db, 1, [("client", "syn_sent", 10, 137, "syn_timeout")])
    check_intervals("SYN+ACK never acked", db, 2, [
        ("client", "syn_sent", 20, 147, "syn_timeout"),
        ("server", "syn_rcvd", 20.5, 83.5, "syn_timeout")])
    expect_counts("syn_timeout", db, [
        (10, {(A, "syn_sent"): 1}),
        (20.5, {(A, "syn_sent"): 2, (B, "syn_rcvd"): 1}),
        (83.499999, {(A, "syn_sent"): 2, (B, "syn_rcvd"): 1}),
        (83.5, {(A, "syn_sent"): 2}),
        (136.999999, {(A, "syn_sent"): 2}),
        (137, {(A, "syn_sent"): 1}),
        (147, {}), (400, {})])
    # An answered handshake ends SYN_SENT by its transition, whatever the lifetime.
    db = make_db("syn_answered", [flow(opened(1, 1.1, 200))])
    check_intervals("SYN_SENT answered after 199 s", db, 1, [
        ("client", "syn_sent", 1, 200, "transition"),
        ("server", "syn_rcvd", 1.1, 200, "transition"),
        ("client", "established", 200, 500, "idle"),
        ("server", "established", 200, 500, "idle"),
        ("client", "unknown", 500, 1000, "capture_end", 1),
        ("server", "unknown", 500, 1000, "capture_end", 1)])


def case_time_wait():
    """TIME_WAIT lasts --time-wait (time_wait_over), capped by the capture's end."""
    db = make_db("tw", [flow(FOUR_WAY, closer="client", call="unknown")])
    check_intervals("time_wait", db, 1, FOUR_WAY_IV + [
        ("client", "time_wait", 6.1, 66.1, "time_wait_over")])
    expect_counts("time_wait", db, [
        (6.099999, {(A, "fin_wait_2"): 1, (B, "last_ack"): 1}),
        (6.1, {(A, "time_wait"): 1}),
        (66.099999, {(A, "time_wait"): 1}),
        (66.1, {}), (1000, {})])
    expect_counts("--time-wait 10", db, [(16.099999, {(A, "time_wait"): 1}), (16.1, {})],
                  "--time-wait", "10")
    expect_counts("--time-wait 0.5", db, [(6.599999, {(A, "time_wait"): 1}), (6.6, {})],
                  "--time-wait", "0.5")
    expect_counts("--time-wait 0", db, [(6.1, {}), (6.099999, {(A, "fin_wait_2"): 1,
                                                               (B, "last_ack"): 1})],
                  "--time-wait", "0")

    # The capture ends during TIME_WAIT: it lasts its 60 s all the same, held at the end.
    db = make_db("tw_cut", [flow(FOUR_WAY, closer="client", call="unknown")],
                 captures=((0, 30),))
    check_intervals("time_wait outlives the capture", db, 1, FOUR_WAY_IV + [
        ("client", "time_wait", 6.1, 66.1, "time_wait_over", 1)])
    expect_counts("time_wait outlives the capture", db, [
        (29.999999, {(A, "time_wait"): 1}), (30, {(A, "time_wait"): 1}),
        (30.000001, {(A, "time_wait"): 1}), (40, {(A, "time_wait"): 1}),
        (66.099999, {(A, "time_wait"): 1}), (66.1, {})])
    tw = [r for r in summary(db) if r["state"] == "time_wait"]
    check(tw == [srow(A, "time_wait", 1, 1, 6.1)], "time_wait outlives the capture: summary %r"
          % tw)
    # --time-wait 10 ends it before the capture does (16.1 < 30): not held at the end.
    tw = [r for r in summary(db, "--time-wait", "10") if r["state"] == "time_wait"]
    check(tw == [srow(A, "time_wait", 0, 1, 6.1)],
          "time_wait over before the capture's end: at_end 0 %r" % tw)

    # TIME_WAIT over exactly at the capture's last packet: the kernel's lifetime ends it at
    # that instant (time_wait_over, [6.1, 66.1)), so it is not held there.
    db = make_db("tw_tie", [flow(FOUR_WAY, closer="client", call="unknown")],
                 captures=((0, 66.1),))
    check_intervals("time_wait over at the capture's end", db, 1, FOUR_WAY_IV + [
        ("client", "time_wait", 6.1, 66.1, "time_wait_over")])
    expect_counts("time_wait over at the capture's end", db, [
        (66.099999, {(A, "time_wait"): 1}), (66.1, {})])
    tw = [r for r in summary(db) if r["state"] == "time_wait"]
    check(tw == [srow(A, "time_wait", 0, 1, 6.1)],
          "time_wait over at the capture's end: at_end 0 %r" % tw)
    # ... and 1 us later it is held there.
    db = make_db("tw_tie1", [flow(FOUR_WAY, closer="client", call="unknown")],
                 captures=((0, 66.099999),))
    check_intervals("time_wait over 1 us after the capture's end", db, 1, FOUR_WAY_IV + [
        ("client", "time_wait", 6.1, 66.1, "time_wait_over", 1)])

    # A transition at the capture's last packet: the old state ends there, the new one is held.
    db = make_db("tw_last", [flow(FOUR_WAY, closer="client", call="unknown")],
                 captures=((0, 6.1),))
    check_intervals("transition at the capture's end", db, 1, FOUR_WAY_IV + [
        ("client", "time_wait", 6.1, 66.1, "time_wait_over", 1)])
    expect_counts("transition at the capture's end", db, [
        (6.099999, {(A, "fin_wait_2"): 1, (B, "last_ack"): 1}),
        (6.1, {(A, "time_wait"): 1}), (66.099999, {(A, "time_wait"): 1}), (66.1, {})])
    got = summary(db)
    check(got == [srow(A, "syn_sent", 0, 1, 1), srow(A, "established", 0, 1, 1.2),
                  srow(A, "fin_wait_1", 0, 1, 5), srow(A, "fin_wait_2", 0, 1, 5.1),
                  srow(A, "time_wait", 1, 1, 6.1), srow(B, "syn_rcvd", 0, 1, 1.1),
                  srow(B, "established", 0, 1, 1.2), srow(B, "close_wait", 0, 1, 5.1),
                  srow(B, "last_ack", 0, 1, 6)], "transition at the end: summary %r" % got)


def case_fin_timeout():
    """FIN_WAIT_2 of a proven orphan (closer, closer_call 'close') ends after --fin-timeout;
    any other FIN_WAIT_2 lasts until idle."""
    server_idle = [("server", "close_wait", 5.1, 305.1, "idle"),
                   ("server", "unknown", 305.1, 1000, "capture_end", 1)]
    db = make_db("ft", [flow(HALF_CLOSED, closer="client", call="close")])
    check_intervals("orphan fin_wait_2", db, 1, HALF_CLOSED_IV + server_idle + [
        ("client", "fin_wait_2", 5.1, 65.1, "fin_timeout")])
    expect_counts("orphan fin_wait_2", db, [
        (65.099999, {(A, "fin_wait_2"): 1, (B, "close_wait"): 1}),
        (65.1, {(B, "close_wait"): 1}),
        (305.1, {(B, "unknown"): 1})])
    expect_counts("--fin-timeout 10", db, [
        (15.099999, {(A, "fin_wait_2"): 1, (B, "close_wait"): 1}),
        (15.1, {(B, "close_wait"): 1})], "--fin-timeout", "10")
    # --time-wait does not touch FIN_WAIT_2, --fin-timeout does not touch TIME_WAIT.
    expect_counts("--time-wait 10 on fin_wait_2", db, [
        (65.099999, {(A, "fin_wait_2"): 1, (B, "close_wait"): 1})], "--time-wait", "10")
    db2 = make_db("ft_tw", [flow(FOUR_WAY, closer="client", call="close")])
    expect_counts("--fin-timeout 1 on time_wait", db2, [(66.099999, {(A, "time_wait"): 1})],
                  "--fin-timeout", "1")

    for name, closer, call in (("shutdown", "client", "shutdown"), ("unknown", "client", "unknown"),
                               ("null", "client", None), ("not_closer", "server", "close"),
                               ("both", "both", "close")):
        db = make_db("ft_" + name, [flow(HALF_CLOSED, closer=closer, call=call)])
        check_intervals("fin_wait_2, closer %s call %s" % (closer, call), db, 1,
                        HALF_CLOSED_IV + server_idle + [
                            ("client", "fin_wait_2", 5.1, 305.1, "idle"),
                            ("client", "unknown", 305.1, 1000, "capture_end", 1)])
        expect_counts("fin_wait_2, closer %s call %s" % (closer, call), db, [
            (65.1, {(A, "fin_wait_2"): 1, (B, "close_wait"): 1}),
            (305.099999, {(A, "fin_wait_2"): 1, (B, "close_wait"): 1}),
            (305.1, {(A, "unknown"): 1, (B, "unknown"): 1})], "--fin-timeout", "1")

    # The server closed first (closer 'server', call 'close'): its FIN_WAIT_2 times out, the
    # client's CLOSE_WAIT goes idle.
    swapped = [(("server" if e == "client" else "client"), f, t, s) for e, f, t, s in
               HALF_CLOSED]
    db = make_db("ft_server", [flow(swapped, closer="server", call="close")])
    got = [r for r in intervals(db, 1) if r[2] in ("fin_wait_2", "unknown")]
    check(got == [iv(1, "client", "unknown", 305.1, 1000, "capture_end", 1),
                  iv(1, "server", "fin_wait_2", 5.1, 65.1, "fin_timeout")],
          "server's orphan fin_wait_2: %r" % secs(got))

    # The capture ends at 30: the orphan's timer and the idle timeout run on after it.
    db = make_db("ft_short", [flow(HALF_CLOSED, closer="client", call="close")],
                 captures=((0, 30),))
    check_intervals("orphan fin_wait_2 outlives the capture", db, 1, HALF_CLOSED_IV + [
        ("client", "fin_wait_2", 5.1, 65.1, "fin_timeout", 1),
        ("server", "close_wait", 5.1, 305.1, "idle", 1)])
    expect_counts("orphan fin_wait_2 outlives the capture", db, [
        (30.000001, {(A, "fin_wait_2"): 1, (B, "close_wait"): 1}),
        (65.099999, {(A, "fin_wait_2"): 1, (B, "close_wait"): 1}),
        (65.1, {(B, "close_wait"): 1}), (305.099999, {(B, "close_wait"): 1}), (305.1, {})])

    # A FIN_WAIT_2 that a transition ends later than the timeout: the timeout comes first.
    late = HALF_CLOSED + [("server", "close_wait", "last_ack", 100),
                          ("client", "fin_wait_2", "closed", 100.1),
                          ("server", "last_ack", "closed", 100.1)]
    db = make_db("ft_late", [flow(late, closer="client", call="close")])
    check_intervals("fin_timeout before the next transition", db, 1, HALF_CLOSED_IV + [
        ("client", "fin_wait_2", 5.1, 65.1, "fin_timeout"),
        ("server", "close_wait", 5.1, 100, "transition"),
        ("server", "last_ack", 100, 100.1, "transition")])


def case_reuse():
    """A new connection on the same 4-tuple in the same capture, whichever end opens it, ends
    the old one's states (TIME_WAIT too); in another capture, or on another 4-tuple, it does
    not."""
    second = opened(30, 30.05, 30.1)
    second_iv = [("client", "syn_sent", 30, 30.1, "transition"),
                 ("server", "syn_rcvd", 30.05, 30.1, "transition"),
                 ("client", "established", 30.1, 330.1, "idle", 1),
                 ("server", "established", 30.1, 330.1, "idle", 1)]
    db = make_db("reuse", [flow(FOUR_WAY, closer="client", call="unknown"), flow(second)],
                 captures=((0, 100),))
    check_intervals("reused time_wait", db, 1, FOUR_WAY_IV + [
        ("client", "time_wait", 6.1, 30, "reused")])
    check_intervals("the reusing connection", db, 2, second_iv)
    expect_counts("reused time_wait", db, [
        (29.999999, {(A, "time_wait"): 1}),
        (30, {(A, "syn_sent"): 1})])

    # A half-closed connection reused before its idle timeout, and one after it.
    db = make_db("reuse_cw", [flow(HALF_CLOSED, closer="client", call="unknown"), flow(second)],
                 captures=((0, 100),))
    check_intervals("reused close_wait", db, 1, HALF_CLOSED_IV + [
        ("client", "fin_wait_2", 5.1, 30, "reused"), ("server", "close_wait", 5.1, 30, "reused")])
    late = opened(500, 500.05, 500.1)
    db = make_db("reuse_idle", [flow(HALF_CLOSED, closer="client", call="unknown"), flow(late)])
    check_intervals("reused after idle", db, 1, HALF_CLOSED_IV + [
        ("client", "fin_wait_2", 5.1, 305.1, "idle"), ("server", "close_wait", 5.1, 305.1, "idle"),
        ("client", "unknown", 305.1, 500, "reused"), ("server", "unknown", 305.1, 500, "reused")])
    check_intervals("the connection after idle", db, 2, [
        ("client", "syn_sent", 500, 500.1, "transition"),
        ("server", "syn_rcvd", 500.05, 500.1, "transition"),
        ("client", "established", 500.1, 800.1, "idle"),
        ("server", "established", 500.1, 800.1, "idle"),
        ("client", "unknown", 800.1, 1000, "capture_end", 1),
        ("server", "unknown", 800.1, 1000, "capture_end", 1)])
    expect_counts("reused after idle", db, [
        (499.999999, {(A, "unknown"): 1, (B, "unknown"): 1}),
        (500, {(A, "syn_sent"): 1})])

    # Reused exactly when the idle timeout comes (305.1): no 'unknown' socket at any instant,
    # and (never held for any time) no 'unknown' pair in the summary or the series; the second
    # connection is held at the capture's end (500), its idle after it.
    db = make_db("reuse_tie", [flow(HALF_CLOSED, closer="client", call="unknown"),
                               flow(opened(305.1, 305.15, 305.2))], captures=((0, 500),))
    expect_counts("reused at the idle timeout", db, [
        (305.099999, {(A, "fin_wait_2"): 1, (B, "close_wait"): 1}),
        (305.1, {(A, "syn_sent"): 1}), (305.15, {(A, "syn_sent"): 1, (B, "syn_rcvd"): 1}),
        (500, {(A, "established"): 1, (B, "established"): 1})])
    unk = [r for r in intervals(db, 1) if r[2] == "unknown"]
    check(all(r[3] == r[4] == us(305.1) and r[5] != "capture_end" and r[6] == 0 for r in unk),
          "reused at the idle timeout: an unknown row, if any, holds no time: %r" % secs(unk))
    got = [(r["host"], r["state"]) for r in summary(db)]
    check(got == [(A, "syn_sent"), (A, "established"), (A, "fin_wait_1"), (A, "fin_wait_2"),
                  (B, "syn_rcvd"), (B, "established"), (B, "close_wait")],
          "reused at the idle timeout: the pairs of the summary %r" % got)
    rc, rows, err = states(db, "--every", "100")
    check(rc == 0 and [(r["host"], r["state"]) for r in rows] == got * 6 and
          [r["t_s"] for r in rows] == [100.0 * k for k in range(6) for _ in range(7)],
          "reused at the idle timeout: --every 100, the same 7 pairs at 6 instants: %r %s"
          % ([(r["t_s"], r["host"], r["state"]) for r in rows or []][:14], err))

    # Another capture, another port, another server, addresses or ports swapped on their own:
    # no reuse.
    for name, kw, caps in (("capture", dict(cap=2), ((0, 100), (0, 100))),
                           ("client port", dict(client=(A, 40001)), ((0, 100),)),
                           ("server port", dict(server=(B, 81)), ((0, 100),)),
                           ("server addr", dict(server=("10.0.0.3", 80)), ((0, 100),)),
                           ("4-tuple (addresses swapped, not ports)",
                            dict(client=(B, 40000), server=(A, 80)), ((0, 100),)),
                           ("4-tuple (ports swapped, not addresses)",
                            dict(client=(A, 80), server=(B, 40000)), ((0, 100),)),
                           ("4-tuple (swapped, another port)",
                            dict(client=(B, 80), server=(A, 40001)), ((0, 100),))):
        db = make_db("noreuse", [flow(FOUR_WAY, closer="client", call="unknown"),
                                 flow(second, **kw)], captures=caps)
        check_intervals("another %s: no reuse" % name, db, 1, FOUR_WAY_IV + [
            ("client", "time_wait", 6.1, 66.1, "time_wait_over")])

    # The peer opening the next connection from its side (client and server swapped) is the
    # same 4-tuple on both hosts: A's TIME_WAIT ends at B's SYN.
    db = make_db("reuse_swapped", [flow(FOUR_WAY, closer="client", call="unknown"),
                                   flow(second, client=(B, 80), server=(A, 40000))],
                 captures=((0, 100),))
    check_intervals("4-tuple reused from the other end", db, 1,
                    FOUR_WAY_IV + [("client", "time_wait", 6.1, 30, "reused")])
    check_intervals("the connection from the other end", db, 2, second_iv)
    expect_counts("4-tuple reused from the other end", db, [
        (29.999999, {(A, "time_wait"): 1}), (30, {(B, "syn_sent"): 1}),
        (30.05, {(B, "syn_sent"): 1, (A, "syn_rcvd"): 1}),
        (30.1, {(A, "established"): 1, (B, "established"): 1})])
    got = [(r["host"], r["state"], r["at_end"]) for r in summary(db)
           if r["state"] in ("time_wait", "established")]
    check(got == [(A, "established", 1), (A, "time_wait", 0), (B, "established", 1)],
          "4-tuple reused from the other end: at_end %r" % got)

    # Three connections on one 4-tuple, the middle one opened by the other end: each ends at
    # the next one's first packet, in time order whatever the direction.
    third = opened(50, 50.05, 50.1)
    db = make_db("reuse_three", [flow(FOUR_WAY, closer="client", call="unknown"),
                                 flow(second, client=(B, 80), server=(A, 40000)), flow(third)],
                 captures=((0, 100),))
    check_intervals("three on one 4-tuple: the first", db, 1,
                    FOUR_WAY_IV + [("client", "time_wait", 6.1, 30, "reused")])
    check_intervals("three on one 4-tuple: the second (the other end's)", db, 2,
                    second_iv[:2] + [("client", "established", 30.1, 50, "reused"),
                                     ("server", "established", 30.1, 50, "reused")])
    check_intervals("three on one 4-tuple: the third", db, 3, [
        ("client", "syn_sent", 50, 50.1, "transition"),
        ("server", "syn_rcvd", 50.05, 50.1, "transition"),
        ("client", "established", 50.1, 350.1, "idle", 1),
        ("server", "established", 50.1, 350.1, "idle", 1)])


def case_summary_and_every():
    """at_end, peak and when it was first reached; --every's exact series."""
    spans = [("10.0.1.1", 10, 50), ("10.0.1.2", 20, 40), ("10.0.1.3", 30, 60),
             ("10.0.1.4", 45, 70)]
    flows = [flow(midstream(s) + reset(e), client=(h, 40000), closer="client")
             for h, s, e in spans]
    flows.append(flow(midstream(80), client=("10.0.1.5", 40000)))  # open at the end
    db = make_db("peak", flows, captures=((0, 100),))
    want = [srow(B, "established", 1, 3, 30)]  # 3 at 30 and again at 45: the first time
    want += [srow(h, "established", 0, 1, s) for h, s, _ in spans]
    want += [srow("10.0.1.5", "established", 1, 1, 80)]
    got = summary(db)
    check(got == want, "summary: got %r, want %r" % (got, want))
    check([r["host"] for r in got] == [B] + ["10.0.1.%d" % i for i in range(1, 6)],
          "summary: the busiest host first, then by address")
    expect_counts("peak", db, [(30, dict([((B, "established"), 3)] + [
        (("10.0.1.%d" % i, "established"), 1) for i in (1, 2, 3)])),
        (40, {(B, "established"): 2, ("10.0.1.1", "established"): 1,
              ("10.0.1.3", "established"): 1}),
        # the open connection outlives the capture (0..100) until 80 + idle
        (100.000001, {(B, "established"): 1, ("10.0.1.5", "established"): 1}),
        (379.999999, {(B, "established"): 1, ("10.0.1.5", "established"): 1}),
        (380, {})])

    # --every 10: 0, 10, .., 100 from the capture's first packet, every pair, zeros included.
    rc, rows, err = states(db, "--every", "10")
    check(rc == 0, "--every 10: exit %d %s" % (rc, err))
    rows = rows or []
    times = sorted({r["t_s"] for r in rows})
    check(times == [float(10 * k) for k in range(11)], "--every 10: instants %r" % times)
    check(len(rows) == 11 * 6, "--every 10: 6 pairs at 11 instants, got %d rows" % len(rows))
    series = [r["sockets"] for r in rows if r["host"] == B]
    check(series == [0, 1, 2, 3, 2, 2, 1, 0, 1, 1, 1], "--every 10: %s %r" % (B, series))
    series = [r["sockets"] for r in rows if r["host"] == "10.0.1.4"]
    check(series == [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0], "--every 10: 10.0.1.4 %r" % series)
    check(all(r["time"] == utc(r["t_s"]) for r in rows), "--every: time and t_s agree")
    check(rows[:6] and all(r["time"] == utc(0) for r in rows[:6]),
          "--every: the first instant is the capture's first packet")
    # A step that does not divide the capture: the last instant at or before its end.
    rc, rows, _ = states(db, "--every", "30", "--host", B)
    check(rc == 0 and [(r["t_s"], r["sockets"]) for r in rows or []] ==
          [(0.0, 0), (30.0, 3), (60.0, 1), (90.0, 1)], "--every 30: %r" % rows)
    # Too small a step: refused, exit 1 (100 s / 1 ms is 100001 instants; the most is 100000).
    # The step is whole microseconds: 0.00100001 is 1 ms too, refused as well.
    for step in ("0.001", "0.00100001", "0.0010004"):
        p = T.run("states", db, "--every", step, text=True)
        check(p.returncode == 1 and p.stdout == "" and "--every" in p.stderr and
              p.stderr.startswith("finscope states:"),
              "--every %s (1000 us) over 100 s refused: exit %d %r %r" %
              (step, p.returncode, p.stdout[:100], p.stderr))
    # 0.001001 s is 1001 us (1000.9999999999999 in floating point): 99901 instants, allowed,
    # exactly k * 1001 us from the start, the last at 99.9999 s.
    p = T.run("states", db, "--every", "0.001001", "--host", B, "--csv", text=True)
    lines = p.stdout.splitlines()
    check(p.returncode == 0 and len(lines) == 1 + 99901 and
          lines[1] == "%s,0.000000,%s,established,0" % (utc(0), B) and
          lines[2] == "%s,0.001001,%s,established,0" % (utc(0.001001), B) and
          lines[10001] == "%s,10.010000,%s,established,1" % (utc(10.01), B) and
          lines[-1] == "%s,99.999900,%s,established,1" % (utc(99.9999), B),
          "--every 0.001001 (1001 us: 99901 instants) is allowed: exit %d, %d rows, %r %r %r" %
          (p.returncode, len(lines) - 1, lines[1:3], lines[-1:], p.stderr[:200]))
    # Exactly 100000 instants (99.999999 s / 1 ms): allowed, the last at 99.999 s.
    db2 = make_db("every_max", [flow(midstream(10))], captures=((0, 99.999999),))
    p = T.run("states", db2, "--every", "0.001", "--host", A, "--csv", text=True)
    lines = p.stdout.splitlines()
    check(p.returncode == 0 and len(lines) == 1 + 100000 and
          lines[-1] == "%s,99.999000,%s,established,1" % (utc(99.999), A),
          "--every 0.001 over 99.999999 s (100000 instants) is allowed: exit %d, %d rows, "
          "last %r %r" % (p.returncode, len(lines) - 1, lines[-1:], p.stderr[:200]))
    # 7000 s / 0.07 s is 100000 steps, 100001 instants in whole microseconds (99999.99999999999
    # in floating point): refused; 0.7 s gives 10001, the last at the capture's end.
    db2 = make_db("every_edge", [flow(FOUR_WAY, closer="client", call="unknown")],
                  captures=((0, 7000),))
    p = T.run("states", db2, "--every", "0.07", "--state", "time_wait", "--time-wait", "1e4",
              "--csv", text=True)
    check(p.returncode == 1 and p.stdout == "" and "100001" in p.stderr,
          "--every 0.07 over 7000 s (100001 instants) refused: exit %d %r" %
          (p.returncode, p.stderr))
    p = T.run("states", db2, "--every", "0.7", "--state", "time_wait", "--time-wait", "1e4",
              "--csv", text=True)
    lines = p.stdout.splitlines()
    check(p.returncode == 0 and len(lines) == 1 + 10001 and
          lines[-1] == "%s,7000.000000,%s,time_wait,1" % (utc(7000), A),
          "--every 0.7 over 7000 s: 10001 instants, the last at the capture's end: exit %d, %d "
          "rows, last %r" % (p.returncode, len(lines) - 1, lines[-1:]))

    # Instants are start + k * step in whole microseconds, from a start off the whole second:
    # 1.001 s over 10 s gives 10 (k * 1.001, up to 9.009); 1.0000004 s is 1 s (whole
    # microseconds: 11 instants on the seconds, the last at the capture's end, not 10.000004
    # and left out).
    db2 = make_db("every_us", [flow(midstream(0.5))], captures=((0.123457, 10.123457),))
    for step, want in (("1.001", [k * 1001000 for k in range(10)]),
                       ("1.0000004", [k * 1000000 for k in range(11)])):
        rc, rows, err = states(db2, "--every", step, "--host", A)
        got = [(r["time"], r["t_s"], r["sockets"]) for r in rows or []]
        exp = [(utc(0.123457 + k / 1e6), round(k / 1e6, 6), int(k > 0)) for k in want]
        check(rc == 0 and got == exp, "--every %s from a start at .123457: got %r, want %r %s" %
              (step, got, exp, err))

    # CSV: header and the same values; the table (default) has them too.
    p = T.run("states", db, "--csv", text=True)
    rows = list(csv.reader(io.StringIO(p.stdout)))
    check(rows and rows[0] == SUMMARY_COLS, "summary --csv header %r" % rows[:1])
    check(rows[1:2] == [[B, "established", "1", "3", utc(30), "30.000000"]],
          "summary --csv first row %r" % rows[1:2])
    csv_rows = rows[1:]
    p = T.run("states", db, "--at", "30", "--csv", text=True)
    rows = list(csv.reader(io.StringIO(p.stdout)))
    check(rows[:2] == [SAMPLE_COLS, [utc(30), "30.000000", B, "established", "3"]],
          "--at --csv %r" % rows[:2])
    at_rows = rows[1:]
    p = T.run("states", db, text=True)
    lines = p.stdout.splitlines()
    check(p.returncode == 0 and len(lines) == 2 + 6 and lines[0].split() == SUMMARY_COLS and
          lines[2].split()[:4] == [B, "established", "1", "3"] and
          [l.split() for l in lines[2:]] == [r[:4] + r[4].split() + r[5:] for r in csv_rows],
          "summary as a table (the default output), the CSV's values: %r" % p.stdout[:300])
    p = T.run("states", db, "--at", "30", text=True)
    lines = p.stdout.splitlines()
    check(p.returncode == 0 and len(lines) == 2 + 4 and lines[0].split() == SAMPLE_COLS and
          [l.split() for l in lines[2:]] == [r[0].split() + r[1:] for r in at_rows],
          "--at as a table (the default output), the CSV's values: %r" % p.stdout[:300])


def case_filters_and_arguments():
    """--host (IPv4, IPv6), --state, --capture; --at's three forms; JSON and CSV shapes; bad
    arguments."""
    C6, S6 = "2001:db8::1", "2001:db8::2"
    db = make_db("filters", [
        flow(midstream(10)),
        flow(midstream(20), client=(C6, 50000), server=(S6, 443)),
        flow(midstream(60), cap=2, client=(A, 40001), server=("10.0.0.3", 22))],
        captures=((0, 100), (50, 200)))
    E = "established"
    # Each connection is held past its capture's end (100, 200) until its last packet + 300.
    every = {(A, E): 2, (B, E): 1, (C6, E): 1, (S6, E): 1, ("10.0.0.3", E): 1}
    expect_counts("every host", db, [
        (70, every), (100, every), (100.000001, every), (200, every), (200.000001, every),
        (309.999999, every),
        (310, {(A, E): 1, (C6, E): 1, (S6, E): 1, ("10.0.0.3", E): 1}),
        (320, {(A, E): 1, ("10.0.0.3", E): 1}),
        (359.999999, {(A, E): 1, ("10.0.0.3", E): 1}),
        (360, {})])
    # at_end: each capture's connections held at its own last packet.
    got = summary(db)
    check(got == [srow(A, E, 2, 2, 60), srow(B, E, 1, 1, 10), srow("10.0.0.3", E, 1, 1, 60),
                  srow(C6, E, 1, 1, 20), srow(S6, E, 1, 1, 20)],
          "summary of two captures %r" % got)
    con = sqlite3.connect(db)
    got = con.execute("SELECT capture_id, host, at_end FROM state_intervals ORDER BY flow_id, "
                      "endpoint").fetchall()
    con.close()
    check(got == [(1, A, 1), (1, B, 1), (1, C6, 1), (1, S6, 1), (2, A, 1), (2, "10.0.0.3", 1)],
          "the view's at_end in two captures %r" % got)
    for host in ("2001:DB8:0::1", "2001:db8:0:0:0:0:0:1", C6):
        expect_counts("--host " + host, db, [(70, {(C6, E): 1})], "--host", host)
    expect_counts("--host " + A, db, [(70, {(A, E): 2})], "--host", A)
    expect_counts("--host with no socket", db, [(70, {})], "--host", "192.0.2.99")
    expect_counts("--state", db, [(70, {})], "--state", "syn_sent")
    expect_counts("--state established --host", db, [(70, {(S6, E): 1})], "--state", E,
                  "--host", S6)
    expect_counts("--capture 2", db, [(70, {(A, E): 1, ("10.0.0.3", E): 1})], "--capture", "2")
    expect_counts("--capture 1", db, [(70, {(A, E): 1, (B, E): 1, (C6, E): 1, (S6, E): 1})],
                  "--capture", "1")
    got = summary(db, "--capture", "2")
    check(got == [srow(A, E, 1, 1, 60) | {"peak_at_s": 10.0},
                  srow("10.0.0.3", E, 1, 1, 60) | {"peak_at_s": 10.0}],
          "--capture 2 summary (peak_at_s from capture 2's start) %r" % got)
    check(summary(db, "--capture", "9") == [], "--capture of no capture: nothing")
    got = summary(db, "--host", A)
    check(got == [srow(A, E, 2, 2, 60)], "--host summary %r" % got)

    # --at: Unix seconds, seconds from the first packet (below 1e9), UTC text: one instant.
    ref = states(db, "--at", unix(70))[1]
    check(ref and all(r["time"] == utc(70) and r["t_s"] == 70.0 for r in ref),
          "--at Unix seconds: %r" % ref)
    for at in ("70", "70.0", "70.000000", str(T0 + 70), str(T0 + 70) + ".000",
               "2026-01-01 00:01:10", "2026-01-01 00:01:10.000000",
               "2026-01-01T00:01:10Z", "2026-01-01 00:01:10.0Z"):
        got = states(db, "--at", at)[1]
        check(got == ref, "--at %r is the same instant as %s: %r" % (at, unix(70), got))
    got = states(db, "--at", "2026-01-01 00:01:39.999999", "--host", B)[1]
    check(got == [{"time": utc(99.999999), "t_s": 99.999999, "host": B, "state": E,
                   "sockets": 1}], "--at UTC with microseconds: %r" % got)
    got = states(db, "--at", "199.999999", "--host", A)[1]
    check(got == [{"time": utc(199.999999), "t_s": 199.999999, "host": A, "state": E,
                   "sockets": 2}], "--at seconds from start with microseconds: %r" % got)
    got = states(db, "--at", "20", "--capture", "2")[1]
    check(got is not None and {(r["host"], r["t_s"], r["time"]) for r in got} ==
          {(A, 20.0, utc(70)), ("10.0.0.3", 20.0, utc(70))},
          "--at 20 --capture 2 is 20 s after capture 2's start: %r" % got)

    # Seconds from a first packet that is not on a whole second: exact to the microsecond.
    db2 = make_db("frac", [flow(midstream(1.123458))], captures=((0.123457, 100),))
    for at, want in (("1", {}), ("1.000001", {(A, E): 1, (B, E): 1})):
        got = states(db2, "--at", at)[1]
        check(got is not None and {(r["host"], r["state"]): r["sockets"] for r in got} == want
              and all(r["time"] == utc(1.123458) for r in got),
              "--at %s from a first packet at .123457: %r" % (at, got))

    # JSON shapes: keys in order, value types.
    rc, rows, _ = states(db)
    check(rc == 0 and rows and all(list(r) == SUMMARY_COLS for r in rows) and
          all(type(r["at_end"]) is int and type(r["peak"]) is int and
              type(r["peak_at_s"]) is float and type(r["peak_at"]) is str for r in rows),
          "summary --json keys and types: %r" % rows[:1])
    for args in (("--at", "70"), ("--every", "50")):
        rc, rows, _ = states(db, *args)
        check(rc == 0 and rows and all(list(r) == SAMPLE_COLS for r in rows) and
              all(type(r["sockets"]) is int and type(r["t_s"]) is float for r in rows),
              "%s --json keys and types: %r" % (" ".join(args), rows[:1]))
    p = T.run("states", db, "--at", "5000", "--json", text=True)
    check(p.returncode == 0 and json.loads(p.stdout) == [], "--at with nothing: [] %r" % p.stdout)
    p = T.run("states", db, "--at", "5000", "--csv", text=True)
    check(p.returncode == 0 and p.stdout == ",".join(SAMPLE_COLS) + "\n",
          "--at with nothing, CSV: the header %r" % p.stdout)

    bad = [("--at", "abc"), ("--at", "-5"), ("--at", "1e3"), ("--at", ""), ("--at", "7 0"),
           ("--at", "2026-02-30 00:00:00"), ("--at", "2026-01-01 24:00:00"),
           ("--at", "2026-13-01 00:00:00"), ("--at", "2026-01-01 00:00:61"),
           ("--at", "2026-01-01 00:00"), ("--every", "0"), ("--every", "-1"),
           ("--every", "x"), ("--every", "0.0000001"), ("--host", "10.0.0"), ("--host", "bad"),
           ("--host", "2001:db8:::1"), ("--state", "closed"), ("--state", "listen"),
           ("--state", "ESTABLISHED"), ("--capture", "0"), ("--capture", "-1"),
           ("--capture", "x"), ("--time-wait", "-1"), ("--fin-timeout", "x"),
           ("--idle-timeout", "1e10"), ("--bogus",), ("extra.db",), ("--at",)]
    for args in bad:
        p = T.run("states", db, *args, text=True)
        check(p.returncode == 2 and p.stdout == "" and p.stderr.startswith("finscope states") or
              p.returncode == 2 and p.stdout == "" and "states --help" in p.stderr,
              "states %s: exit 2 with a message, got %d %r %r" % (" ".join(args), p.returncode,
                                                                  p.stdout[:80], p.stderr[:200]))
    p = T.run("states", os.path.join(TMP, "missing.db"), text=True)
    check(p.returncode == 1 and p.stderr.startswith("finscope states:"),
          "a missing database: exit 1 with a message: %d %r" % (p.returncode, p.stderr))


def case_not_counted():
    """closed and listen never count; a listener gets no 'unknown'; a log that is not JSON
    gives nothing; an entry without a time is skipped."""
    refused = [("client", "closed", "syn_sent", 10), ("server", "closed", "listen", 10),
               ("client", "syn_sent", "closed", 10.1)]
    rst = midstream(20) + reset(30)
    # Raw logs: times after the flow's first_ts (40 s for these).
    bad_ts = json.dumps([[C("client", "closed", "syn_sent"), None, 1, 5_000_000],
                         [C("client", "syn_sent", "established"), us(45) - us(40), 2]])
    db = make_db("closed", [
        flow(refused, client=(A, 40000), closer="server"),
        flow(rst, client=(A, 40001), closer="client"),
        flow(midstream(40), client=(A, 40002), raw_log="not json ["),
        flow(midstream(40), client=(A, 40003), last=50, raw_log=bad_ts)],
        captures=((0, 100),))
    check(intervals(db, 1) == [iv(1, "client", "syn_sent", 10, 10.1, "transition")],
          "refused: only syn_sent; the listener holds nothing: %r" % secs(intervals(db, 1)))
    check_intervals("reset", db, 2, [("client", "established", 20, 30, "transition"),
                                     ("server", "established", 20, 30, "transition")])
    check(intervals(db, 3) == [], "a log that is not JSON: no intervals")
    check(intervals(db, 4) == [iv(4, "client", "established", 45, 350, "idle", 1)],
          "an entry without a time is skipped: %r" % secs(intervals(db, 4)))
    states_seen = {r["state"] for r in summary(db)}
    check(not states_seen & {"closed", "listen"}, "summary states %r" % states_seen)
    expect_counts("closed and listen", db, [
        (10, {(A, "syn_sent"): 1}), (10.1, {}), (35, {}), (100, {(A, "established"): 1}),
        (349.999999, {(A, "established"): 1}), (350, {})])


def case_never_held():
    """A state entered and left at one instant is a row that holds no time: counted at no
    instant, and (never held for a nonzero time) listed neither in the summary nor in --every."""
    quick = [("client", "closed", "syn_sent", 10), ("client", "syn_sent", "established", 10),
             ("server", "listen", "syn_rcvd", 10), ("server", "syn_rcvd", "established", 10.5)]
    db = make_db("never_held", [flow(quick)], captures=((0, 100),))
    check_intervals("syn_sent for no time", db, 1, [
        ("client", "syn_sent", 10, 10, "transition"),
        ("client", "established", 10, 310.5, "idle", 1),
        ("server", "syn_rcvd", 10, 10.5, "transition"),
        ("server", "established", 10.5, 310.5, "idle", 1)])
    expect_counts("syn_sent for no time", db, [
        (9.999999, {}), (10, {(A, "established"): 1, (B, "syn_rcvd"): 1})])
    got = summary(db)
    check(got == [srow(A, "established", 1, 1, 10), srow(B, "syn_rcvd", 0, 1, 10),
                  srow(B, "established", 1, 1, 10.5)],
          "syn_sent for no time: not in the summary %r" % got)
    rc, rows, err = states(db, "--every", "50")
    got = [(r["t_s"], r["host"], r["state"], r["sockets"]) for r in rows or []]
    check(rc == 0 and got == [(float(t), h, st, n) for t in (0, 50, 100) for h, st, n in
                              ((A, "established", int(t > 0)), (B, "syn_rcvd", 0),
                               (B, "established", int(t > 0)))],
          "syn_sent for no time: not in --every %r %s" % (got, err))
    rc, rows, err = states(db, "--every", "50", "--state", "syn_sent")
    check(rc == 0 and rows == [], "--state syn_sent, never held: an empty series %r" % rows)


def case_odd_logs():
    """Logs that are not valid JSON, or valid JSON but not arrays of entries, give no
    intervals; entries that are not arrays, and entries whose time is not a number, are
    skipped while the other entries and flows still count."""
    est = C("client", "closed", "established")
    odd = ['"str"', '["a"]', '[5]', '{"a": 1}', '[[%d]]' % est, 'null',
           '[[]]', '[[["client"]]]', '[[%d, "0"]]' % est, '[[%d, null, 1]]' % est]
    db = make_db("odd_logs", [flow(midstream(40))] + [
        flow(midstream(40), client=(A, 40001 + i), raw_log=x) for i, x in enumerate(odd)],
        captures=((0, 100),))
    got = intervals(db)
    check(got == [iv(1, "client", "established", 40, 340, "idle", 1),
                  iv(1, "server", "established", 40, 340, "idle", 1)],
          "logs %s give no intervals, flow 1 its own: %r" % (", ".join(odd), secs(got)))
    for x in odd:
        one = make_db("odd_log", [flow(midstream(40)), flow(midstream(40), client=(A, 40001),
                                                             raw_log=x)], captures=((0, 100),))
        rc, rows, err = states(one, "--at", "50")
        check(rc == 0 and {(r["host"], r["state"]): r["sockets"] for r in rows} ==
              {(A, "established"): 1, (B, "established"): 1},
              "a flow whose log is %s: states counts the others: exit %d %s" % (x, rc,
                                                                              err.strip()))

    # Odd entries among good ones: only the good ones count; a time written as a JSON real
    # (1767225651000000.0) is a number.
    mixed = json.dumps([
        "junk", 7, {"endpoint": "client"}, [], [["nested"]],
        [C("client", "closed", "established"), 0, 1, 10_000_000],
        [C("client", "established", "fin_wait_1"), str(us(50) - us(40)), 2, 1_000_000],
        [C("client", "established", "fin_wait_1"), us(50) - us(40), 3, 1_000_000],
        [C("client", "fin_wait_1", "fin_wait_2"), float(us(51) - us(40)), 4],
        [C("server", "closed", "established"), None, 5, 5],
        [C("server", "closed", "established"), 0, 6]])
    db = make_db("mixed_log", [flow(midstream(40), last=51, raw_log=mixed)],
                 captures=((0, 100),))
    check_intervals("odd entries among good ones", db, 1, [
        ("client", "established", 40, 50, "transition"),
        ("client", "fin_wait_1", 50, 51, "transition"),
        ("client", "fin_wait_2", 51, 351, "idle", 1),
        ("server", "established", 40, 351, "idle", 1)])
    expect_counts("odd entries among good ones", db, [
        (49.999999, {(A, "established"): 1, (B, "established"): 1}),
        (50, {(A, "fin_wait_1"): 1, (B, "established"): 1}),
        (51, {(A, "fin_wait_2"): 1, (B, "established"): 1})])

    # JSON true and false are not numbers: entries with them as their time are skipped (not
    # read as 1 and 0 microseconds, sockets in 1970).
    boolean = json.dumps([[C("client", "closed", "established"), True, 1],
                          [C("client", "closed", "syn_sent"), False, 2],
                          [C("server", "closed", "established"), 0, 3]])
    db = make_db("bool_ts", [flow(midstream(40), raw_log=boolean)], captures=((0, 100),))
    got = intervals(db, 1)
    check(got == [iv(1, "server", "established", 40, 340, "idle", 1)],
          "entries whose time is true or false are skipped: %r" % secs(got))
    got = [(r["host"], r["state"]) for r in summary(db)]
    check(got == [(B, "established")], "time true or false: the summary %r" % got)


def analyzed(scenario):
    pcap = os.path.join(TMP, scenario + ".pcap")
    db = os.path.join(TMP, scenario + ".db")
    p = T.run("forge", scenario, "-o", pcap)
    check(p.returncode == 0, "forge %s: %r" % (scenario, p.stderr))
    p = T.run("analyze", "-q", "-o", db, pcap)
    check(p.returncode == 0, "analyze %s: %r" % (scenario, p.stderr))
    return db


def case_self_connect():
    """A self-connected socket is one socket: the engine logs it as the client alone, and
    states counts one."""
    db = analyzed("two_way_self")
    con = sqlite3.connect(db)
    (sc, ca, cp, sa, sp, cs, ss), = con.execute(
        "SELECT self_connect, client_addr, client_port, server_addr, server_port, client_state, "
        "server_state FROM flows").fetchall()
    (end,), = con.execute("SELECT last_ts FROM captures").fetchall()
    eps = {e for e, in con.execute("SELECT endpoint FROM transitions")}
    con.close()
    check(sc == 1 and (ca, cp) == (sa, sp), "self_connect flow stored as one address:port")
    check(eps == {"client"}, "self-connect: the log has the client's transitions only: %r" % eps)
    check(cs == ss == "time_wait", "self-connect: both state columns time_wait (%s, %s)" % (cs, ss))
    got = [(r["host"], r["state"], r["at_end"], r["peak"]) for r in summary(db)
           if r["at_end"] or r["state"] == "time_wait"]
    check(got == [(ca, "time_wait", 1, 1)], "self-connect: one socket in TIME_WAIT: %r" % got)
    rc, rows, _ = states(db, "--at", "%.6f" % end)
    check(rc == 0 and [(r["host"], r["state"], r["sockets"]) for r in rows] ==
          [(ca, "time_wait", 1)], "self-connect at its end: one socket: %r" % rows)


def case_engine_logs():
    """What analyze stores: each entry's held_us is the same endpoint's next ts minus its own,
    none on its last; the view's ends then follow the log."""
    db = os.path.join(TMP, "mix.db")
    for k, (n, seed) in enumerate(((40, 3), (20, 9))):
        pcap = os.path.join(TMP, "mix%d.pcap" % k)
        check(T.run("forge", "mix", "--flows", str(n), "--seed", str(seed), "-o",
                    pcap).returncode == 0, "forge mix")
        check(T.run("analyze", "-q", "-o", db, pcap).returncode == 0, "analyze mix")
    for s in ("port_reuse", "fin_wait_2_timeout", "half_closed_leak", "open"):
        shutil.copy(analyzed(s), os.path.join(TMP, "engine_%s.db" % s))
    con = sqlite3.connect(db)
    bad = 0
    for fid, in con.execute("SELECT id FROM flows").fetchall():
        entries = logcodec.read_transitions(con, fid)
        for i, e in enumerate(entries):
            nxt = [x for x in entries[i + 1:] if x[0] == e[0]]
            want = [nxt[0][3] - e[3]] if nxt else []
            if e[6:] != want or any(type(x) is not int or x < 0 for x in e[6:]):
                bad += 1
                if bad < 4:
                    print("    flow %d entry %d: %r, next %r" % (fid, i, e, nxt[:1]))
    con.close()
    check(bad == 0, "analyze: every log entry's held_us is its endpoint's next ts minus its "
          "own, none on the last (%d not)" % bad)
    ft = intervals(os.path.join(TMP, "engine_fin_wait_2_timeout.db"), 1)
    fw2 = [r for r in ft if r[2] == "fin_wait_2"]
    check(len(fw2) == 1 and fw2[0][5] == "fin_timeout" and fw2[0][4] - fw2[0][3] == 60_000_000,
          "fin_wait_2_timeout scenario: the orphan's FIN_WAIT_2 ends after 60 s: %r" % fw2)
    pr = intervals(os.path.join(TMP, "engine_port_reuse.db"))
    tw = [r for r in pr if r[2] == "time_wait"]
    second = min(r[3] for r in pr if r[0] == 2)
    check([(r[5], r[6]) for r in tw] == [("reused", 0), ("time_wait_over", 1)] and
          tw[0][4] == second and tw[1][4] - tw[1][3] == 60_000_000,
          "port_reuse scenario: the first TIME_WAIT ends at the second SYN, the second lasts "
          "60 s past the capture's end: %r" % tw)


def view_rows(db):
    """The view's rows as (host, state, from_us, until_us, held at the capture's end)."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT host, state, CAST(round(from_ts * 1e6) AS INTEGER), "
                           "CAST(round(until_ts * 1e6) AS INTEGER), ended = 'capture_end' "
                           "FROM state_intervals").fetchall()
    except sqlite3.Error as e:
        check(False, "SELECT * FROM state_intervals fails: %s" % e)
        rows = []
    con.close()
    return rows


def covering(rows, t):
    """{(host, state): n}: the rows that cover t (from <= t < until, or held at their capture's
    end with until == t)."""
    out = {}
    for h, s, f, u, held in rows:
        if f <= t and (t < u or (held and t == u)):
            out[(h, s)] = out.get((h, s), 0) + 1
    return out


def check_at_end(name, db):
    """The view's at_end is 1 exactly for the rows held at their capture's last packet
    (from <= end < until, or an unknown row ended capture_end, which ends there), capture_end
    is only on unknown rows, and the summary's at_end is the sum of the view's."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT v.host, v.state, CAST(round(v.from_ts * 1e6) AS INTEGER), "
                           "CAST(round(v.until_ts * 1e6) AS INTEGER), v.ended, v.at_end, "
                           "CAST(round(c.last_ts * 1e6) AS INTEGER) FROM state_intervals AS v "
                           "JOIN captures AS c ON c.id = v.capture_id").fetchall()
        n = con.execute("SELECT count(*) FROM state_intervals").fetchone()[0]
    except sqlite3.Error as e:
        check(False, "%s: SELECT * FROM state_intervals fails: %s" % (name, e))
        return
    finally:
        con.close()
    bad = [r for r in rows if r[5] != int(r[2] <= r[6] < r[3] or r[4] == "capture_end") or
           r[4] == "capture_end" and (r[1] != "unknown" or r[3] != r[6] or r[2] > r[6])]
    check(len(rows) == n and not bad, "%s: view rows whose at_end or capture_end break the "
          "rule (host, state, from, until, ended, at_end, capture end): %r" % (name, bad[:3]))
    want = {}
    for h, st, f, u, _, at_end, _ in rows:
        if u > f or at_end:
            want[(h, st)] = want.get((h, st), 0) + at_end
    got = {(r["host"], r["state"]): r["at_end"] for r in summary(db)}
    check(got == want, "%s: summary at_end %r, the view's %r" % (name, got, want))


def case_view_agrees():
    """The state_intervals view (60/60/300) and states count the same: at a few interval
    boundaries of each database (from, until - 1us, until), and at every instant of a series;
    the view's at_end and the summary's follow the rule."""
    for name in ("mix", "idle", "ft", "reuse_idle", "peak", "closed", "idle_short", "tw_last",
                 "idle_tie", "filters", "reuse_three", "never_held", "mixed_log"):
        db = os.path.join(TMP, name + ".db")
        check_at_end(name, db)
        rows = view_rows(db)
        pts = sorted({t for _, _, f, u, _ in rows for t in (f, u - 1, u)})
        pts = pts[::len(pts) // 4 + 1] + pts[-2:]
        for t in pts:
            at = "%d.%06d" % divmod(t, 1_000_000)
            rc, got, err = states(db, "--at", at)
            got = {(r["host"], r["state"]): r["sockets"] for r in got or []}
            want = covering(rows, t)
            check(rc == 0 and got == want, "%s --at %s: states %r, view %r" % (name, at, got, want))
        con = sqlite3.connect(db)
        first, last = con.execute("SELECT min(first_ts), max(last_ts) FROM captures").fetchone()
        con.close()
        step = (last - first) / 997
        rc, series, err = states(db, "--every", "%.6f" % step)
        check(rc == 0 and series, "%s --every %.6f: exit %d %s" % (name, step, rc, err))
        by_t = {}
        for r in series or []:
            t = round(first * 1e6) + round(r["t_s"] * 1e6)
            n = by_t.setdefault(t, {})
            if r["sockets"]:
                n[(r["host"], r["state"])] = r["sockets"]
        bad = [(t, got, covering(rows, t)) for t, got in by_t.items() if got != covering(rows, t)]
        check(len(by_t) >= 997 and not bad, "%s --every: %d instants, %d disagree with the view: "
              "%r" % (name, len(by_t), len(bad), bad[:2]))


def main():
    global TMP, TEMPLATE, TEMPLATE_ROW
    T.FINSCOPE = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        TMP = tmp
        TEMPLATE = os.path.join(tmp, "template.db")
        pcap = os.path.join(tmp, "template.pcap")
        check(T.run("forge", "four_way", "-o", pcap).returncode == 0, "forge four_way")
        check(T.run("analyze", "-q", "-o", TEMPLATE, pcap).returncode == 0, "analyze four_way")
        con = sqlite3.connect(TEMPLATE)
        con.row_factory = sqlite3.Row
        TEMPLATE_ROW = dict(con.execute("SELECT * FROM flows").fetchone())
        check(con.execute("PRAGMA user_version").fetchone()[0] == 6, "schema 6")
        con.execute("DELETE FROM flows")
        con.commit()
        con.close()
        for case in (case_boundaries_and_idle, case_syn_timeout, case_time_wait,
                     case_fin_timeout, case_reuse,
                     case_summary_and_every, case_filters_and_arguments, case_not_counted,
                     case_never_held, case_odd_logs,
                     case_self_connect, case_engine_logs, case_view_agrees):
            case()
    return T.summary("states")


if __name__ == "__main__":
    sys.exit(main())
