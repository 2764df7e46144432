"""logcodec.py - a flow's transition log as the tests edit it, over schema 6's compact form.

The database keeps the log as codes (include/finscope/store.h, src/store.c); the transitions view
decodes it.  Tests that craft logs (odd evidence, piled transitions, times at the edges) read a
flow's log as lists [endpoint, from, to, t_us, packet, evidence(, held_us)] (t_us after the
flow's first_ts, packet a frame number: schema 5's entries but for the time base) and write it
back in the explicit form; evidence no token names gets a token of its own, with a negative
code (as the schema 5 -> 6 upgrade gives it).
"""


def _tokens(con, kind):
    return {name: code for code, name in
            con.execute("SELECT code, name FROM tokens WHERE kind = ?", (kind,))}


def read_transitions(con, flow_id):
    """Flow flow_id's transitions as lists (see above), from the views and the held times."""
    t0 = con.execute("SELECT round(first_ts * 1e6) FROM flows WHERE id = ?", (flow_id,))
    t0 = int(t0.fetchone()[0])
    held = {r[0]: r[1] for r in con.execute(
        "SELECT j.key, iif((j.value ->> 0) & 1, j.value ->> 2, j.value ->> 3) FROM flows AS f, "
        "json_each(f.transition_log) AS j WHERE f.id = ?", (flow_id,))}
    out = []
    for ord_, ep, frm, to, ts, packet, ev in con.execute(
            "SELECT ord, endpoint, from_state, to_state, ts, packet, evidence FROM transitions "
            "WHERE flow_id = ? ORDER BY ord", (flow_id,)):
        e = [ep, frm, to, round(ts * 1e6) - t0, packet, ev]
        if held[ord_] is not None:
            e.append(held[ord_])
        out.append(e)
    return out


def encode_transitions(con, flow_id, entries):
    """entries (lists as read_transitions gives) as flow flow_id's transition_log text."""
    ep, st, ev = _tokens(con, "endpoint"), _tokens(con, "state"), _tokens(con, "evidence")
    p0 = con.execute("SELECT first_packet FROM flows WHERE id = ?", (flow_id,)).fetchone()[0]
    log = []
    for e in entries:
        if e[5] not in ev:
            code = min(0, min(ev.values())) - 1
            con.execute("INSERT INTO tokens VALUES ('evidence', ?, ?)", (code, e[5]))
            ev[e[5]] = code
        c = (((ev[e[5]] * 16 + st[e[1]]) * 16 + st[e[2]]) * 2 + ep[e[0]]) * 2
        log.append([c, e[3], e[4] - p0] + list(e[6:]))
    return "[%s]" % ",".join("[%s]" % ",".join(str(x) for x in e) for e in log)


def write_transitions(con, flow_id, entries):
    """Store entries as flow flow_id's transition log."""
    con.execute("UPDATE flows SET transition_log = ? WHERE id = ?",
                (encode_transitions(con, flow_id, entries), flow_id))


# enum fsc_tcp_state's order (include/finscope/tcpstate.h): the codes of the "state" tokens.
STATES = ["closed", "listen", "syn_sent", "syn_rcvd", "established", "fin_wait_1", "fin_wait_2",
          "close_wait", "closing", "last_ack", "time_wait"]


def code(endpoint, frm, to, evidence=0):
    """An explicit transition entry's code, evidence a code (0 is "initial")."""
    return (((evidence * 16 + STATES.index(frm)) * 16 + STATES.index(to)) * 2 +
            (endpoint == "server")) * 2


def decode(log, t0_us, segs, tokens):
    """A raw transition_log's entries (parsed JSON) as schema 5's lists [endpoint, from, to,
    ts_us, packet, evidence(, held_us)], decoded here in Python (an oracle apart from the SQL):
    t0_us the flow's first_ts in microseconds, segs its parsed segment_log, tokens {(kind, code):
    name}.  What does not decode is None; an entry that is not a list stays as it is."""
    out = []
    for j in log if isinstance(log, list) else []:
        if not isinstance(j, list) or not j or type(j[0]) is not int:
            out.append(j if not isinstance(j, list) else [None] * 4)
            continue
        c, ref = j[0], j[0] & 1
        t = j[1] if len(j) > 1 else None
        if ref:
            s = segs[t] if type(t) is int and 0 <= t < len(segs) else None
            t = s[1] if isinstance(s, list) and len(s) > 1 else None
        held = j[2 + (not ref):3 + (not ref)]
        num = type(t) in (int, float)
        out.append([tokens.get(("endpoint", c >> 1 & 1)), tokens.get(("state", c >> 6 & 15)),
                    tokens.get(("state", c >> 2 & 15)), t0_us + t if num else None, None,
                    tokens.get(("evidence", c >> 10))] + held)
    return out
