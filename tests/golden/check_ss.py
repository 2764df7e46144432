#!/usr/bin/env python3
"""check_ss.py - the kernel as the oracle: every NAME.ss.tsv holds snapshots of the kernel's TCP
socket table taken inside the namespaces while NAME was recorded, as `ss -tan` shows it (time,
namespace, local, peer, state; the time is wall clock, comparable with the pcap timestamps).  For each snapshot, finscope's `transitions`
view must put that socket's endpoint in the same state at that instant: the state of an endpoint
at time t is the to_state of its last transition at or before t.

A socket in namespace A (the client side) is checked against NAME.client.pcap, one in B against
NAME.server.pcap: at its own end every segment the socket sent or received is stamped when it
did (the recorder took each snapshot away from any packet at that end).  State "(none)" means
the table held no socket for the pair: the kernel holds no state for it, CLOSED.

Usage: check_ss.py FINSCOPE CAPTURES_DIR
Prints one line per disagreement and "ss: N passed, M failed" (per snapshot file).
"""
import glob
import os
import sqlite3
import subprocess
import sys
import tempfile

SS_STATE = {"ESTAB": "established", "SYN-SENT": "syn_sent", "SYN-RECV": "syn_rcvd",
            "FIN-WAIT-1": "fin_wait_1", "FIN-WAIT-2": "fin_wait_2", "CLOSE-WAIT": "close_wait",
            "LAST-ACK": "last_ack", "CLOSING": "closing", "TIME-WAIT": "time_wait",
            "LISTEN": "listen", "UNCONN": "closed", "(none)": "closed"}


def split(addr):
    """'10.0.0.1:80' or '[fd00::1]:80' -> ('10.0.0.1', 80)."""
    host, port = addr.rsplit(":", 1)
    return host.strip("[]"), int(port)


def analyze(finscope, pcap, tmp):
    db = os.path.join(tmp, os.path.basename(pcap) + ".db")
    res = subprocess.run([finscope, "analyze", "-q", "-o", db, pcap],
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError("analyze %s exited %d: %s" % (pcap, res.returncode, res.stderr.strip()))
    return sqlite3.connect(db)


def state_at(con, local, peer, t):
    """(finscope's state of the endpoint LOCAL talking to PEER at time T, how it got there)."""
    (la, lp), (pa, pp) = split(local), split(peer)
    flows = con.execute(
        "SELECT id, CASE WHEN client_addr = ? AND client_port = ? THEN 'client' ELSE 'server' END, "
        "first_ts FROM flows WHERE (client_addr = ? AND client_port = ? AND server_addr = ? AND "
        "server_port = ?) OR (server_addr = ? AND server_port = ? AND client_addr = ? AND "
        "client_port = ?) ORDER BY first_packet",
        (la, lp, la, lp, pa, pp, la, lp, pa, pp)).fetchall()
    if not flows:
        return None, "no flow for %s <> %s" % (local, peer)
    # the connection instance that had begun by then (port reuse makes several)
    fid, endpoint, _ = ([f for f in flows if f[2] <= t] or flows[:1])[-1]
    tr = con.execute("SELECT to_state, packet, evidence FROM transitions WHERE flow_id = ? AND "
                     "endpoint = ? AND ts <= ? ORDER BY ord DESC LIMIT 1", (fid, endpoint, t)).fetchone()
    if not tr:
        return None, "no %s transition at or before that time" % endpoint
    return tr[0], "%s, last transition to %s at packet %d (%s)" % (endpoint, tr[0], tr[1], tr[2])


def check(finscope, stem, tmp):
    name = os.path.basename(stem)
    cons = {}
    bad, n = [], 0
    with open(stem + ".ss.tsv") as fp:
        rows = [l.rstrip("\n").split("\t") for l in fp if l.strip()][1:]
    for t, ns, local, peer, state in rows:
        end = {"A": "client", "B": "server"}[ns]
        if end not in cons:
            cons[end] = analyze(finscope, "%s.%s.pcap" % (stem, end), tmp)
        got, how = state_at(cons[end], local, peer, float(t))
        want = SS_STATE.get(state, "?" + state)
        n += 1
        if got != want:
            said = how if got is None else "%s (%s)" % (got, how)
            bad.append("%s.%s.pcap: at %s ss in %s says %s %s %s (%s); finscope: %s" % (
                name, end, t, ns, local, peer, state, want, said))
    for con in cons.values():
        con.close()
    return bad, n


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    finscope, capdir = sys.argv[1], sys.argv[2]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(glob.glob(os.path.join(capdir, "*.ss.tsv"))):
            stem = path[: -len(".ss.tsv")]
            try:
                bad, n = check(finscope, stem, tmp)
            except (RuntimeError, OSError, KeyError, ValueError) as e:
                bad, n = ["%s: %s" % (os.path.basename(path), e)], 0
            for b in bad:
                print(b)
            if bad:
                failed += 1
            else:
                passed += 1
                print("%s: %d snapshots agree" % (os.path.basename(path), n))
    print("ss: %d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
