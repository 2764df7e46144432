#!/usr/bin/env python3
"""check_one_sided.py - one-direction taps on real-kernel recordings.

Every two-ended namespace recording (captures/NAME.client.pcap and NAME.server.pcap, made by
tests/kernel/record_netns.py; the client is 10.199.0.1 / fd00:199::1) is analyzed as a tap that
saw one direction only: `finscope analyze -f 'src host A'` keeps the client's frames, `-f 'src
host B'` the server's (finscope applies the filter itself, so frame numbers stay those of the
file).  Checked:

1. The verdict of a one-direction view does not depend on which end's capture it was cut
   from: the client's frames seen at the client's TAP and at the server's TAP give the same
   tokens (and likewise for the server's frames).
2. For the recordings in EXPECTED, the exact tokens, written from docs/schema.md ("One-sided
   captures"): what the seen side's acks prove of the unseen side, no more.

Usage: check_one_sided.py FINSCOPE CAPTURES_DIR
"""
import glob
import os
import sqlite3
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edges  # noqa: E402  (the RFC 9293 edge invariant)

COLS = ("handshake", "close_kind", "rst_cause", "rst_cause_proven", "closer", "closer_call",
        "client_state", "server_state", "anomalies")
SIDES = {"client": "src host 10.199.0.1 or src host fd00:199::1",
         "server": "src host 10.199.0.2 or src host fd00:199::2"}

# (recording, view) -> one row per connection: handshake close_kind rst_cause closer
# client_state server_state one_sided.  Why each is what the acks prove:
# - client frames, client closed first: the server's FIN shows as the client's last ack rising
#   by one, but whether the server had the client's FIN when it sent its own is unseen:
#   fins_unproven, closer unknown, the server stays ESTABLISHED, the client in FIN_WAIT_1 (acks
#   of its FIN are the server's).
# - server frames, the server acked the client's FIN (+1) in a segment before its own FIN:
#   four_way from the server's own acks; the client's receipt of the server FIN is unseen.
# - an unseen RST shows nothing: the connection stays open in that view.
EXPECTED = {
    ("ns_fin_cross_four_way", "client"):
        [("three_way", "fins_unproven", "-", "unknown", "fin_wait_1", "established", "1")],
    ("ns_fin_cross_four_way", "server"):
        [("three_way", "four_way", "-", "client", "fin_wait_2", "last_ack", "1")],
    ("ns_fin_cross_three_way", "server"):
        [("three_way", "three_way", "-", "client", "fin_wait_2", "last_ack", "1")],
    ("ns_fin_cross_simultaneous", "server"):
        [("three_way", "fins_unproven", "-", "unknown", "established", "fin_wait_1", "1")],
    ("ns_close_data", "client"):
        [("three_way", "rst", "other", "client", "closed", "closed", "1")],
    ("ns_close_data", "server"):
        [("three_way", "open", "-", "none", "established", "established", "1")],
    ("ns_shutdown_data", "server"):
        [("three_way", "four_way", "-", "client", "fin_wait_2", "last_ack", "1")],
    ("ns_accept_overflow", "server"):
        [("three_way", "open", "-", "none", "syn_sent", "syn_rcvd", "0")] * 3 +
        [("three_way", "rst", "accept_overflow", "server", "closed", "closed", "1")],
    ("ns_rst_server_unread", "server"):
        [("three_way", "rst", "unread_data", "server", "closed", "closed", "1")],
    ("ns_rst_linger0_no_payload", "client"):
        [("three_way", "rst", "abort", "client", "closed", "closed", "1")],
    ("ns_fin_wait_2_timeout", "client"):
        [("three_way", "rst", "other", "client", "closed", "closed", "1")],
    ("ns_fin_wait_2_timeout", "server"):
        [("three_way", "four_way", "-", "client", "fin_wait_2", "last_ack", "1")],
}


def view(finscope, pcap, side, tmp):
    """Rows (dict per flow, in first-packet order) of pcap filtered to one side's frames."""
    db = os.path.join(tmp, "%s.%s.db" % (os.path.basename(pcap), side))
    res = subprocess.run([finscope, "analyze", "-q", "-o", db, "-f", SIDES[side], pcap],
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError("analyze %s (%s only): %s" % (pcap, side, res.stderr.strip()))
    bad = edges.check_db(db)
    if bad:
        raise RuntimeError("%s (%s only): %s" % (pcap, side, "; ".join(bad)))
    con = sqlite3.connect(db)
    rows = [dict(zip(COLS, r)) for r in con.execute(
        "SELECT %s FROM flows ORDER BY first_packet" % ", ".join(COLS))]
    frames = con.execute("SELECT packets_tcp FROM captures").fetchone()[0]
    con.close()
    for r in rows:
        r["one_sided"] = "1" if "one_sided" in (r["anomalies"] or "").split(",") else "0"
        r["anomalies"] = ",".join(a for a in (r["anomalies"] or "").split(",")
                                  if a and a not in ("tap_reordered", "synack_without_syn"))
        for k in COLS:
            r[k] = "-" if r[k] is None else str(r[k])
    return rows, frames


def main():
    finscope, capdir = sys.argv[1], sys.argv[2]
    stems = sorted(p[: -len(".client.pcap")] for p in glob.glob(os.path.join(capdir,
                                                                             "*.client.pcap")))
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for stem in stems:
            name = os.path.basename(stem)
            for side in ("client", "server"):
                bad = []
                try:
                    at_c, n_c = view(finscope, stem + ".client.pcap", side, tmp)
                    at_s, n_s = view(finscope, stem + ".server.pcap", side, tmp)
                except RuntimeError as e:
                    bad.append(str(e))
                    at_c = at_s = []
                    n_c = n_s = 0
                # Both taps saw the same frames of this side unless the relay dropped some
                # between them (a lost SYN, a lost segment): then the views may differ.
                if n_c != n_s:
                    print("%s, %s frames only: taps not compared (the relay dropped %d of them)"
                          % (name, side, abs(n_c - n_s)))
                    at_s = at_c
                if not bad and len(at_c) != len(at_s):
                    bad.append("%d connections at the client's TAP, %d at the server's"
                               % (len(at_c), len(at_s)))
                for i, (a, b) in enumerate(zip(at_c, at_s)):
                    for k in COLS[:-1] + ("one_sided",):
                        if a[k] != b[k]:
                            bad.append("row %d %s: %s at the client's TAP, %s at the server's"
                                       % (i + 1, k, a[k], b[k]))
                want = EXPECTED.get((name, side))
                if want is not None and not bad:
                    if len(want) != len(at_c):
                        bad.append("%d connections, expected %d" % (len(at_c), len(want)))
                    keys = ("handshake", "close_kind", "rst_cause", "closer", "client_state",
                            "server_state", "one_sided")
                    for i, (w, r) in enumerate(zip(want, at_c)):
                        for k, v in zip(keys, w):
                            if r[k] != v:
                                bad.append("row %d %s: expected %s got %s" % (i + 1, k, v, r[k]))
                tag = "%s, %s frames only%s" % (name, side, "" if want is None else " (exact)")
                if bad:
                    failed += 1
                    for b in bad:
                        print("%s: %s" % (tag, b))
                else:
                    passed += 1
                    print("%s: ok" % tag)
    print("one-sided: %d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
