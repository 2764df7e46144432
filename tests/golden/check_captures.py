#!/usr/bin/env python3
"""check_captures.py - golden test: every captures/NAME.pcap* with a NAME.expected.tsv is analyzed
and each flow row is compared, column by column, with the expected TSV (the columns named in
its header, plus the computed columns below; '-' means SQL NULL).  Rows are matched in order of
each flow's first packet.  A column finscope's flows table does not have is reported as a
failure of that capture (not a crash), so expectations can be written before finscope has them.

Computed columns an expected TSV may name besides the flows table's own:
  transitions      the flow's transitions in order, "c:" / "s:" for the endpoint, "from>to@packet"
  anomalies_has    comma-separated anomaly tokens that must all be in flows.anomalies ('-': none)
  anomalies_not    comma-separated anomaly tokens that must not be in flows.anomalies ('-': none)
  client_never     comma-separated states the client must never enter (no transition to them)
  server_never     the same for the server

Usage: check_captures.py FINSCOPE CAPTURES_DIR
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


# Computed columns: name -> SQL expression whose value is compared as text.
COMPUTED = {
    "transitions": "(SELECT group_concat(x, ' ') FROM (SELECT substr(t.endpoint, 1, 1) || ':' || "
                   "t.from_state || '>' || t.to_state || '@' || t.packet AS x FROM transitions t "
                   "WHERE t.flow_id = flows.id ORDER BY t.ord))",
}


def states_entered(endpoint):
    return ("(SELECT group_concat(t.to_state, ',') FROM transitions t WHERE t.flow_id = flows.id "
            "AND t.endpoint = '%s')" % endpoint)


def tokens(text):
    return set(t for t in (text or "").split(",") if t)


# Set-valued columns: name -> (SQL expression, judge(expected_tokens, got_tokens) -> bool, what).
SETS = {
    "anomalies_has": ("anomalies", lambda want, got: want <= got, "all in anomalies"),
    "anomalies_not": ("anomalies", lambda want, got: not (want & got), "none in anomalies"),
    "client_never": (states_entered("client"), lambda want, got: not (want & got),
                     "never entered by the client, which entered"),
    "server_never": (states_entered("server"), lambda want, got: not (want & got),
                     "never entered by the server, which entered"),
}


def flows_columns(con):
    return {r[1] for r in con.execute("PRAGMA table_info(flows)")}


def compare(finscope, pcap, expected, tmp):
    """Return a list of mismatch strings (empty when the capture matches)."""
    db = os.path.join(tmp, os.path.basename(pcap) + ".db")
    res = subprocess.run([finscope, "analyze", "-q", "-o", db, pcap],
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        return ["analyze exited %d: %s" % (res.returncode, res.stderr.strip())]
    with open(expected) as fp:
        lines = [l.rstrip("\n").split("\t") for l in fp if l.strip()]
    header, rows = lines[0], lines[1:]
    con = sqlite3.connect(db)
    have = flows_columns(con)
    bad, exprs, missing = [], [], set()
    for h in header:
        src = COMPUTED.get(h) or (SETS[h][0] if h in SETS else h)
        if src.startswith("(") or src in have:
            exprs.append(src)
        else:
            exprs.append("NULL")
            missing.add(h)
            bad.append("column %s: not in finscope's flows table" % h)
    got = con.execute("SELECT %s FROM flows ORDER BY first_packet" % ", ".join(exprs)).fetchall()
    con.close()
    bad += edges.check_db(db)
    if len(got) != len(rows):
        bad.append("%d flows, expected %d" % (len(got), len(rows)))
    for i, (want, row) in enumerate(zip(rows, got)):
        for name, w, h in zip(header, want, row):
            if name in missing:
                continue
            if name in SETS:
                wt = set() if w == "-" else tokens(w)
                if not SETS[name][1](wt, tokens(h)):
                    bad.append("row %d %s: expected %s %s, got '%s'" % (
                        i + 1, name, w, SETS[name][2], h or ""))
                continue
            h = "-" if h is None else str(h)
            if w != h:
                bad.append("row %d %s: expected %s got %s" % (i + 1, name, w, h))
    return bad


def main():
    finscope, capdir = sys.argv[1], sys.argv[2]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for exp in sorted(glob.glob(os.path.join(capdir, "*.expected.tsv"))):
            stem = exp[: -len(".expected.tsv")]
            pcaps = [p for p in (stem + ".pcap", stem + ".pcapng") if os.path.exists(p)]
            if not pcaps:
                print("%s: no capture next to it" % exp)
                failed += 1
                continue
            bad = compare(finscope, pcaps[0], exp, tmp)
            name = os.path.basename(pcaps[0])
            if bad:
                failed += 1
                for b in bad:
                    print("%s: %s" % (name, b))
            else:
                passed += 1
                print("%s: ok" % name)
    print("captures: %d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
