"""edges.py - the invariant every stored transition must meet: it is an edge of the RFC 9293
state diagram (figure 5 and the text of section 3.10), or one of finscope's documented extras
(docs/schema.md, "State edges"), and each endpoint's transitions form one chain.

Written from the RFC, independently of src/lifecycle.c.  Used by the golden checks on every
database they build: check_db(path) returns a list of violation strings (empty when clean).
"""
import sqlite3

# RFC 9293 figure 5, plus: FIN_WAIT_1 -> TIME_WAIT (3.10.7.4: "if our FIN has been ACKed
# (perhaps in this segment), then enter TIME-WAIT"), a RST sent or received ending any state
# (3.10.7.4 "second, check the RST bit"; a passive SYN-RECEIVED would return to LISTEN, the
# connection instance ends either way), LISTEN -> CLOSED when a listener refuses.
RFC = {
    ("closed", "listen"), ("closed", "syn_sent"),
    ("listen", "syn_rcvd"), ("listen", "syn_sent"), ("listen", "closed"),
    ("syn_sent", "syn_rcvd"), ("syn_sent", "established"), ("syn_sent", "closed"),
    ("syn_rcvd", "established"), ("syn_rcvd", "fin_wait_1"), ("syn_rcvd", "closed"),
    ("syn_rcvd", "listen"),
    ("established", "fin_wait_1"), ("established", "close_wait"), ("established", "closed"),
    ("fin_wait_1", "fin_wait_2"), ("fin_wait_1", "closing"), ("fin_wait_1", "time_wait"),
    ("fin_wait_1", "closed"),
    ("fin_wait_2", "time_wait"), ("fin_wait_2", "closed"),
    ("close_wait", "last_ack"), ("close_wait", "closed"),
    ("closing", "time_wait"), ("closing", "closed"),
    ("last_ack", "closed"),
    ("time_wait", "closed"),
}

# Documented extras: a connection picked up after its handshake starts ESTABLISHED.
EXTRA = {("closed", "established"): "midstream"}

INITIAL = {"closed", "listen"}


def check_db(path):
    """Violations in the database at path: unknown edges, broken chains, odd first states."""
    bad = []
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        rows = con.execute(
            "SELECT flow_id, endpoint, from_state, to_state, packet, evidence FROM transitions "
            "ORDER BY flow_id, ord").fetchall()
        finals = dict(((fid, "client"), c) for fid, c in
                      con.execute("SELECT id, client_state FROM flows"))
        finals.update(((fid, "server"), s) for fid, s in
                      con.execute("SELECT id, server_state FROM flows"))
        selfc = set(fid for (fid,) in con.execute("SELECT id FROM flows WHERE self_connect"))
    finally:
        con.close()
    last = {}
    for fid, ep, frm, to, pkt, ev in rows:
        edge = (frm, to)
        if edge not in RFC and not (edge in EXTRA and ev == EXTRA[edge]):
            bad.append("flow %d %s: %s>%s at packet %s (%s) is not an RFC 9293 edge"
                       % (fid, ep, frm, to, pkt, ev))
        prev = last.get((fid, ep))
        if prev is None and frm not in INITIAL:
            bad.append("flow %d %s: first transition leaves %s" % (fid, ep, frm))
        if prev is not None and prev != frm:
            bad.append("flow %d %s: %s>%s does not follow %s" % (fid, ep, frm, to, prev))
        last[(fid, ep)] = to
    for (fid, ep), st in last.items():
        if fid in selfc and ep == "server":
            continue
        if finals.get((fid, ep)) != st:
            bad.append("flow %d %s: transitions end in %s, the row says %s"
                       % (fid, ep, st, finals.get((fid, ep))))
    return bad
