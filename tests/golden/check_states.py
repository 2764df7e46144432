#!/usr/bin/env python3
"""check_states.py FINSCOPE: `finscope states` and the state_intervals view, value by value.

The rules are census.h's (FSC_SQL_STATE_INTERVALS): an endpoint's state interval [from, until)
ends at the first of its next transition, TIME_WAIT + --time-wait (time_wait_over), a proven
orphan's FIN_WAIT_2 + --fin-timeout (fin_timeout), the flow's last packet + --idle-timeout for a
last state no lifetime ends (idle, then 'unknown'), the next connection on the same addresses
and ports in the same capture (reused), else the capture's last packet (capture_end: held at
that instant too, not after).  closed and listen never count.

Every database here is a forged capture's, analyzed, whose flows are then replaced by crafted
rows, so every time is chosen here and every expected value is written out below from the
rules, not from a run.  Times are seconds from T0 (2026-01-01 00:00:00 UTC); every comparison
is in whole microseconds.  The checks of what the engine itself stores (self-connect, each
log entry's until) use analyzed captures as they are.
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

def log(*entries):
    """Transition log JSON from (endpoint, from, to, sec) tuples: each entry gets until_us, the
    ts of the same endpoint's next entry, and none on its last (as build_transition_log)."""
    out = []
    for i, (ep, frm, to, sec) in enumerate(entries):
        e = [ep, frm, to, None if sec is None else us(sec), i + 1, "crafted"]
        nxt = [x for x in entries[i + 1:] if x[0] == ep]
        if nxt:
            e.append(us(nxt[0][3]))
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
               transition_log=raw_log if raw_log is not None else log(*entries),
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
    """state_intervals rows: (flow_id, endpoint, state, from_us, until_us, ended), sorted."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT flow_id, endpoint, state, CAST(round(from_ts * 1e6) AS "
                           "INTEGER), CAST(round(until_ts * 1e6) AS INTEGER), ended FROM "
                           "state_intervals WHERE ?1 IS NULL OR flow_id = ?1",
                           (flow_id,)).fetchall()
    except sqlite3.Error as e:
        rows = [("SELECT * FROM state_intervals fails: %s" % e,)]
    con.close()
    return sorted(rows)


def check_intervals(what, db, flow_id, want):
    """want: (endpoint, state, from_sec, until_sec, ended) for flow_id, in any order.  A
    failure names the rows that differ, in seconds from T0."""
    got = intervals(db, flow_id)
    exp = sorted((flow_id, e, s, us(f), us(u), end) for e, s, f, u, end in want)

    def secs(rows):
        return [r[1:3] + ((r[3] - T0_US) / 1e6, (r[4] - T0_US) / 1e6, r[5]) if len(r) == 6
                else r for r in rows]
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
    lasts until last_ts + idle, then 'unknown' to the capture's end."""
    db = make_db("idle", [flow(opened(10, 10.5, 11))])
    est = [("client", "established", 11, 311, "idle"), ("server", "established", 11, 311, "idle"),
           ("client", "unknown", 311, 1000, "capture_end"),
           ("server", "unknown", 311, 1000, "capture_end")]
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
        ("client", "unknown", 350, 1000, "capture_end"),
        ("server", "unknown", 350, 1000, "capture_end")])

    # The capture ends first: held to its end, no 'unknown'.
    db = make_db("idle_short", [flow(opened(10, 10.5, 11))], captures=((0, 200),))
    check_intervals("capture ends before idle", db, 1, [
        ("client", "syn_sent", 10, 11, "transition"),
        ("server", "syn_rcvd", 10.5, 11, "transition"),
        ("client", "established", 11, 200, "capture_end"),
        ("server", "established", 11, 200, "capture_end")])
    expect_counts("capture ends before idle", db, [
        (200, {(A, "established"): 1, (B, "established"): 1}), (200.000001, {})])

    # The capture ends exactly when the idle timeout does: the state is over at that instant
    # ([11, 311) ends idle) and the endpoint is 'unknown' "until the capture ends", an
    # interval [311, 311] that the capture's end holds: one 'unknown' socket per endpoint at
    # the last instant (as a transition at the last packet starts a state held there).
    db = make_db("idle_tie", [flow(opened(10, 10.5, 11))], captures=((0, 311),))
    check_intervals("idle ends at the capture's end", db, 1, [
        ("client", "syn_sent", 10, 11, "transition"),
        ("server", "syn_rcvd", 10.5, 11, "transition"),
        ("client", "established", 11, 311, "idle"), ("server", "established", 11, 311, "idle"),
        ("client", "unknown", 311, 311, "capture_end"),
        ("server", "unknown", 311, 311, "capture_end")])
    expect_counts("idle ends at the capture's end", db, [
        (310.999999, {(A, "established"): 1, (B, "established"): 1}),
        (311, {(A, "unknown"): 1, (B, "unknown"): 1})])


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

    db = make_db("tw_cut", [flow(FOUR_WAY, closer="client", call="unknown")],
                 captures=((0, 30),))
    check_intervals("time_wait cut by the capture", db, 1, FOUR_WAY_IV + [
        ("client", "time_wait", 6.1, 30, "capture_end")])
    expect_counts("time_wait cut by the capture", db, [
        (29.999999, {(A, "time_wait"): 1}), (30, {(A, "time_wait"): 1}), (30.000001, {})])
    tw = [r for r in summary(db) if r["state"] == "time_wait"]
    check(tw == [srow(A, "time_wait", 1, 1, 6.1)], "time_wait cut: summary %r" % tw)

    # TIME_WAIT over exactly at the capture's last packet: the kernel's lifetime ends it at
    # that instant (time_wait_over, [6.1, 66.1)), so it is not held there.
    db = make_db("tw_tie", [flow(FOUR_WAY, closer="client", call="unknown")],
                 captures=((0, 66.1),))
    check_intervals("time_wait over at the capture's end", db, 1, FOUR_WAY_IV + [
        ("client", "time_wait", 6.1, 66.1, "time_wait_over")])
    expect_counts("time_wait over at the capture's end", db, [
        (66.099999, {(A, "time_wait"): 1}), (66.1, {})])

    # A transition at the capture's last packet: the old state ends there, the new one is held.
    db = make_db("tw_last", [flow(FOUR_WAY, closer="client", call="unknown")],
                 captures=((0, 6.1),))
    check_intervals("transition at the capture's end", db, 1, FOUR_WAY_IV + [
        ("client", "time_wait", 6.1, 6.1, "capture_end")])
    expect_counts("transition at the capture's end", db, [(6.1, {(A, "time_wait"): 1})])
    got = summary(db)
    check(got[-5:] == [srow(A, "time_wait", 1, 1, 6.1), srow(B, "syn_rcvd", 0, 1, 1.1),
                       srow(B, "established", 0, 1, 1.2), srow(B, "close_wait", 0, 1, 5.1),
                       srow(B, "last_ack", 0, 1, 6)], "transition at the end: summary %r" % got)


def case_fin_timeout():
    """FIN_WAIT_2 of a proven orphan (closer, closer_call 'close') ends after --fin-timeout;
    any other FIN_WAIT_2 lasts until idle."""
    server_idle = [("server", "close_wait", 5.1, 305.1, "idle"),
                   ("server", "unknown", 305.1, 1000, "capture_end")]
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
                            ("client", "unknown", 305.1, 1000, "capture_end")])
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
    check(got == [(1, "client", "unknown", us(305.1), us(1000), "capture_end"),
                  (1, "server", "fin_wait_2", us(5.1), us(65.1), "fin_timeout")],
          "server's orphan fin_wait_2: %r" % got)

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
    """A new connection on the same client and server address:port in the same capture ends
    the old one's last state (TIME_WAIT too); in another capture it does not."""
    second = opened(30, 30.05, 30.1)
    second_iv = [("client", "syn_sent", 30, 30.1, "transition"),
                 ("server", "syn_rcvd", 30.05, 30.1, "transition"),
                 ("client", "established", 30.1, 100, "capture_end"),
                 ("server", "established", 30.1, 100, "capture_end")]
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
    expect_counts("reused after idle", db, [
        (499.999999, {(A, "unknown"): 1, (B, "unknown"): 1}),
        (500, {(A, "syn_sent"): 1})])

    # Another capture, another port, another server: no reuse.
    for name, kw, caps in (("capture", dict(cap=2), ((0, 100), (0, 100))),
                           ("client port", dict(client=(A, 40001)), ((0, 100),)),
                           ("server port", dict(server=(B, 81)), ((0, 100),)),
                           ("server addr", dict(server=("10.0.0.3", 80)), ((0, 100),))):
        db = make_db("noreuse", [flow(FOUR_WAY, closer="client", call="unknown"),
                                 flow(second, **kw)], captures=caps)
        check_intervals("another %s: no reuse" % name, db, 1, FOUR_WAY_IV + [
            ("client", "time_wait", 6.1, 66.1, "time_wait_over")])

    # census.h: "the next connection on the same 4-tuple ... (a host holds one socket per
    # 4-tuple)": the peer opening the next connection from its side (client and server
    # swapped) is the same 4-tuple on both hosts.
    db = make_db("reuse_swapped", [flow(FOUR_WAY, closer="client", call="unknown"),
                                   flow(second, client=(B, 80), server=(A, 40000))],
                 captures=((0, 100),))
    check_intervals("4-tuple reused from the other side (census.h: same 4-tuple)", db, 1,
                    FOUR_WAY_IV + [("client", "time_wait", 6.1, 30, "reused")])


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
              ("10.0.1.3", "established"): 1})])

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
    p = T.run("states", db, "--every", "0.001", text=True)
    check(p.returncode == 1 and p.stdout == "" and "--every" in p.stderr and
          p.stderr.startswith("finscope states:"),
          "--every 0.001 over 100 s refused: exit %d %r %r" % (p.returncode, p.stdout[:100],
                                                               p.stderr))
    p = T.run("states", db, "--every", "0.00100001", "--host", B, "--csv", text=True)
    lines = p.stdout.splitlines()
    check(p.returncode == 0 and len(lines) == 1 + 100000 and
          lines[-1] == "%s,100.000000,%s,established,1" % (utc(100), B),
          "--every 0.00100001 (100000 instants, the last at the end) is allowed: exit %d, %d "
          "rows, last %r %r" % (p.returncode, len(lines) - 1, lines[-1:], p.stderr[:200]))
    # 7000 s / 0.07 s is 100000 steps (100001 instants) but 99999.99999999999 in floating
    # point: the capture's last instant, which every other step that divides the capture
    # gives, is either there or the step is refused, never silently left out.
    db2 = make_db("every_edge", [flow(FOUR_WAY, closer="client", call="unknown")],
                  captures=((0, 7000),))
    for step, n in (("0.7", 10001), ("0.07", 100001)):
        p = T.run("states", db2, "--every", step, "--state", "time_wait", "--time-wait", "1e4",
                  "--csv", text=True)
        lines = p.stdout.splitlines()
        check(p.returncode == 1 and "--every" in p.stderr or
              p.returncode == 0 and len(lines) == 1 + n and
              lines[-1] == "%s,7000.000000,%s,time_wait,1" % (utc(7000), A),
              "--every %s over 7000 s: the last instant is the capture's end (%d rows), or "
              "refused: exit %d, %d rows, last %r" % (step, n, p.returncode, len(lines) - 1,
                                                       lines[-1:]))

    # CSV: header and the same values; the table (default) has them too.
    p = T.run("states", db, "--csv", text=True)
    rows = list(csv.reader(io.StringIO(p.stdout)))
    check(rows and rows[0] == SUMMARY_COLS, "summary --csv header %r" % rows[:1])
    check(rows[1:2] == [[B, "established", "1", "3", utc(30), "30.000000"]],
          "summary --csv first row %r" % rows[1:2])
    p = T.run("states", db, "--at", "30", "--csv", text=True)
    rows = list(csv.reader(io.StringIO(p.stdout)))
    check(rows[:2] == [SAMPLE_COLS, [utc(30), "30.000000", B, "established", "3"]],
          "--at --csv %r" % rows[:2])
    p = T.run("states", db, text=True)
    lines = p.stdout.splitlines()
    check(p.returncode == 0 and len(lines) == 2 + 6 and lines[0].split() == SUMMARY_COLS and
          lines[2].split()[:4] == [B, "established", "1", "3"],
          "summary as a table (the default output): %r" % p.stdout[:300])
    p = T.run("states", db, "--at", "30", text=True)
    lines = p.stdout.splitlines()
    check(p.returncode == 0 and len(lines) == 2 + 4 and lines[0].split() == SAMPLE_COLS,
          "--at as a table (the default output): %r" % p.stdout[:300])


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
    expect_counts("every host", db, [
        (70, {(A, E): 2, (B, E): 1, (C6, E): 1, (S6, E): 1, ("10.0.0.3", E): 1}),
        (100, {(A, E): 2, (B, E): 1, (C6, E): 1, (S6, E): 1, ("10.0.0.3", E): 1}),
        (100.000001, {(A, E): 1, ("10.0.0.3", E): 1}),
        (200, {(A, E): 1, ("10.0.0.3", E): 1}),
        (200.000001, {})])
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
                   "sockets": 1}], "--at seconds from start with microseconds: %r" % got)
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
    bad_ts = json.dumps([["client", "closed", "syn_sent", None, 1, "x", us(45)],
                         ["client", "syn_sent", "established", us(45), 2, "x"]])
    db = make_db("closed", [
        flow(refused, client=(A, 40000), closer="server"),
        flow(rst, client=(A, 40001), closer="client"),
        flow(midstream(40), client=(A, 40002), raw_log="not json ["),
        flow(midstream(40), client=(A, 40003), raw_log=bad_ts)],
        captures=((0, 100),))
    check(intervals(db, 1) == [(1, "client", "syn_sent", us(10), us(10.1), "transition")],
          "refused: only syn_sent; the listener holds nothing: %r" % intervals(db, 1))
    check_intervals("reset", db, 2, [("client", "established", 20, 30, "transition"),
                                     ("server", "established", 20, 30, "transition")])
    check(intervals(db, 3) == [], "a log that is not JSON: no intervals")
    check(intervals(db, 4) == [(4, "client", "established", us(45), us(100), "capture_end")],
          "an entry without a time is skipped: %r" % intervals(db, 4))
    states_seen = {r["state"] for r in summary(db)}
    check(not states_seen & {"closed", "listen"}, "summary states %r" % states_seen)
    expect_counts("closed and listen", db, [
        (10, {(A, "syn_sent"): 1}), (10.1, {}), (35, {}), (100, {(A, "established"): 1})])


def case_odd_logs():
    """census.h: "A log that is not valid JSON gives no intervals; an entry without a time is
    skipped": so are valid JSON logs that are not arrays of entries, and entries that are
    not arrays (a string has no time), while the other flows still count."""
    odd = ['"str"', '["a"]', '[5]', '{"a": 1}', '[["client", "closed", "established"]]', 'null']
    db = make_db("odd_logs", [flow(midstream(40))] + [
        flow(midstream(40), client=(A, 40001 + i), raw_log=x) for i, x in enumerate(odd)],
        captures=((0, 100),))
    got = intervals(db)
    check(got == [(1, "client", "established", us(40), us(100), "capture_end"),
                  (1, "server", "established", us(40), us(100), "capture_end")],
          "logs %s give no intervals, flow 1 its own: %r" % (", ".join(odd), got))
    for x in odd:
        one = make_db("odd_log", [flow(midstream(40)), flow(midstream(40), client=(A, 40001),
                                                             raw_log=x)], captures=((0, 100),))
        rc, rows, err = states(one, "--at", "50")
        check(rc == 0 and {(r["host"], r["state"]): r["sockets"] for r in rows} ==
              {(A, "established"): 1, (B, "established"): 1},
              "a flow whose log is %s: states counts the others: exit %d %s" % (x, rc,
                                                                              err.strip()))


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
    (sc, ca, cp, sa, sp, cs, ss, tl), = con.execute(
        "SELECT self_connect, client_addr, client_port, server_addr, server_port, client_state, "
        "server_state, transition_log FROM flows").fetchall()
    (end,), = con.execute("SELECT last_ts FROM captures").fetchall()
    con.close()
    check(sc == 1 and (ca, cp) == (sa, sp), "self_connect flow stored as one address:port")
    eps = {e[0] for e in json.loads(tl)}
    check(eps == {"client"}, "self-connect: the log has the client's transitions only: %r" % eps)
    check(cs == ss == "time_wait", "self-connect: both state columns time_wait (%s, %s)" % (cs, ss))
    got = [(r["host"], r["state"], r["at_end"], r["peak"]) for r in summary(db)
           if r["at_end"] or r["state"] == "time_wait"]
    check(got == [(ca, "time_wait", 1, 1)], "self-connect: one socket in TIME_WAIT: %r" % got)
    rc, rows, _ = states(db, "--at", "%.6f" % end)
    check(rc == 0 and [(r["host"], r["state"], r["sockets"]) for r in rows] ==
          [(ca, "time_wait", 1)], "self-connect at its end: one socket: %r" % rows)


def case_engine_logs():
    """What analyze stores: each entry's until is the same endpoint's next ts, none on its
    last; the view's ends then follow the log."""
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
    for fid, tl in con.execute("SELECT id, transition_log FROM flows"):
        entries = json.loads(tl)
        for i, e in enumerate(entries):
            nxt = [x for x in entries[i + 1:] if x[0] == e[0]]
            want = [nxt[0][3]] if nxt else []
            if e[6:] != want:
                bad += 1
                if bad < 4:
                    print("    flow %d entry %d: %r, next %r" % (fid, i, e, nxt[:1]))
    con.close()
    check(bad == 0, "analyze: every log entry's until is its endpoint's next ts (%d not)" % bad)
    ft = intervals(os.path.join(TMP, "engine_fin_wait_2_timeout.db"), 1)
    fw2 = [r for r in ft if r[2] == "fin_wait_2"]
    check(len(fw2) == 1 and fw2[0][5] == "fin_timeout" and fw2[0][4] - fw2[0][3] == 60_000_000,
          "fin_wait_2_timeout scenario: the orphan's FIN_WAIT_2 ends after 60 s: %r" % fw2)
    pr = intervals(os.path.join(TMP, "engine_port_reuse.db"))
    tw = [r for r in pr if r[2] == "time_wait"]
    second = min(r[3] for r in pr if r[0] == 2)
    check([r[5] for r in tw] == ["reused", "capture_end"] and tw[0][4] == second,
          "port_reuse scenario: the first TIME_WAIT ends at the second SYN: %r" % tw)


def view_rows(db):
    """The view's rows as (host, state, from_us, until_us, held at the capture's end)."""
    con = sqlite3.connect(db)
    rows = con.execute("SELECT host, state, CAST(round(from_ts * 1e6) AS INTEGER), "
                       "CAST(round(until_ts * 1e6) AS INTEGER), ended = 'capture_end' "
                       "FROM state_intervals").fetchall()
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


def case_view_agrees():
    """The state_intervals view (60/60/300) and states count the same: at a few interval
    boundaries of each database (from, until - 1us, until), and at every instant of a series."""
    for name in ("mix", "idle", "ft", "reuse_idle", "peak", "closed"):
        db = os.path.join(TMP, name + ".db")
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
        check(con.execute("PRAGMA user_version").fetchone()[0] == 3, "schema 3")
        con.execute("DELETE FROM flows")
        con.commit()
        con.close()
        for case in (case_boundaries_and_idle, case_time_wait, case_fin_timeout, case_reuse,
                     case_summary_and_every, case_filters_and_arguments, case_not_counted,
                     case_odd_logs,
                     case_self_connect, case_engine_logs, case_view_agrees):
            case()
    return T.summary("states")


if __name__ == "__main__":
    sys.exit(main())
