#!/usr/bin/env python3
"""check_ends.py - the verdict must not depend on where the tap sits: every NAME.client.pcap
(recorded on the client's side of the link) with a NAME.server.pcap (the server's side, same
connections at the same time) is analyzed, and each connection's tokens are compared between
the two ends: handshake, close_kind, rst_cause, rst_cause_proven, closer, closer_call,
client_state, server_state, and the anomalies that are about the connection rather than the
tap (TAP_ANOMALIES are left out).  Connections are matched by address:port pair and instance.

A connection only one end saw is a failure, unless that end's NAME.END.expected.tsv says so
(fewer rows: e.g. every SYN dropped between the taps).  Columns finscope's flows table does
not have yet are named once and not compared.

Usage: check_ends.py FINSCOPE CAPTURES_DIR
Prints one line per difference and "ends: N passed, M failed"; exits 1 on any failure.
"""
import glob
import os
import sqlite3
import subprocess
import sys
import tempfile

TOKENS = ["handshake", "close_kind", "rst_cause", "rst_cause_proven", "closer", "closer_call",
          "client_state", "server_state"]
# Anomalies that describe the capture point, not the connection: two taps may differ on them.
TAP_ANOMALIES = {"tap_reordered", "one_sided", "ack_unseen_data", "synack_without_syn",
                 "timestamp_jump", "timestamp_backwards", "evicted", "idle_timeout", "holes_capped"}
SWAP = {"client": "server", "server": "client"}


def analyze(finscope, pcap, tmp):
    """{(pair, instance): row dict} of the flows finscope writes for PCAP, and the token
    columns its flows table lacks; or raises RuntimeError."""
    db = os.path.join(tmp, os.path.basename(pcap) + ".db")
    res = subprocess.run([finscope, "analyze", "-q", "-o", db, pcap],
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError("analyze %s exited %d: %s" % (pcap, res.returncode, res.stderr.strip()))
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    have = {r[1] for r in con.execute("PRAGMA table_info(flows)")}
    cols = [c for c in TOKENS if c in have]
    rows = con.execute("SELECT client_addr, client_port, server_addr, server_port, anomalies, %s "
                       "FROM flows ORDER BY first_packet" % ", ".join(cols)).fetchall()
    con.close()
    out, seen = {}, {}
    for r in rows:
        c = "%s:%d" % (r["client_addr"], r["client_port"])
        s = "%s:%d" % (r["server_addr"], r["server_port"])
        pair = tuple(sorted((c, s)))
        n = seen[pair] = seen.get(pair, 0) + 1
        row = {k: r[k] for k in cols}
        row["client"] = c
        row["anomalies"] = set(a for a in (r["anomalies"] or "").split(",") if a) - TAP_ANOMALIES
        out[(pair, n)] = row
    return out, [c for c in TOKENS if c not in have]


def expected_rows(path):
    if not os.path.exists(path):
        return None
    with open(path) as fp:
        return sum(1 for l in fp if l.strip()) - 1


def as_client_end(row):
    """ROW (as the server-end capture oriented it) with client and server swapped."""
    out = dict(row)
    if "closer" in row:
        out["closer"] = SWAP.get(row["closer"], row["closer"])
    if "client_state" in row and "server_state" in row:
        out["client_state"], out["server_state"] = row["server_state"], row["client_state"]
    return out


def compare(finscope, stem, tmp):
    """(mismatch lines, notes) for one scenario."""
    name = os.path.basename(stem)
    ends, missing = {}, set()
    for end in ("client", "server"):
        ends[end], lacks = analyze(finscope, "%s.%s.pcap" % (stem, end), tmp)
        missing.update(lacks)
    bad, notes = [], []
    if missing:
        notes.append("not in finscope's flows table, not compared: %s" % ", ".join(sorted(missing)))
    for key in sorted(set(ends["client"]) | set(ends["server"])):
        label = "%s <> %s #%d" % (key[0][0], key[0][1], key[1])
        here = [end for end in ("client", "server") if key in ends[end]]
        if len(here) == 1:
            other = "server" if here[0] == "client" else "client"
            want = expected_rows("%s.%s.expected.tsv" % (stem, other))
            if want is not None and len(ends[other]) == want:
                notes.append("%s: seen at the %s end only, as its expected rows say" % (label, here[0]))
            else:
                bad.append("%s: %s: only the %s-side capture has this connection" % (
                    name, label, here[0]))
            continue
        c, s = ends["client"][key], ends["server"][key]
        if c["client"] != s["client"]:
            bad.append("%s: %s: the client is %s at the client end, %s at the server end" % (
                name, label, c["client"], s["client"]))
            s = as_client_end(s)
        for col in [t for t in TOKENS if t in c] + ["anomalies"]:
            if c[col] != s[col]:
                show = (lambda v: ",".join(sorted(v)) or "''") if col == "anomalies" else str
                bad.append("%s: %s: %s: client end %s, server end %s" % (
                    name, label, col if col != "anomalies" else "anomalies (tap ones left out)",
                    show(c[col]), show(s[col])))
    return bad, notes


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    finscope, capdir = sys.argv[1], sys.argv[2]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for cpcap in sorted(glob.glob(os.path.join(capdir, "*.client.pcap"))):
            stem = cpcap[: -len(".client.pcap")]
            name = os.path.basename(stem)
            if not os.path.exists(stem + ".server.pcap"):
                print("%s: no server-side capture next to the client-side one" % name)
                failed += 1
                continue
            try:
                bad, notes = compare(finscope, stem, tmp)
            except RuntimeError as e:
                bad, notes = ["%s: %s" % (name, e)], []
            for b in bad:
                print(b)
            if bad:
                failed += 1
            else:
                passed += 1
                print("%s: both ends agree%s" % (name, "".join("; " + n for n in notes)))
    print("ends: %d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
