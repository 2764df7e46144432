#!/usr/bin/env python3
"""check_captures.py - golden test: every captures/NAME.pcap* with a NAME.expected.tsv is analyzed
and each flow row is compared, column by column, with the expected TSV (the columns named in
its header, plus the computed "transitions" column; '-' means SQL NULL).  Rows are matched in
order of each flow's first packet.

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


# Columns an expected TSV may name besides the flows table's own: the flow's transitions in
# order, "c:" / "s:" for the endpoint, "from>to@packet".
COMPUTED = {
    "transitions": "(SELECT group_concat(x, ' ') FROM (SELECT substr(t.endpoint, 1, 1) || ':' || "
                   "t.from_state || '>' || t.to_state || '@' || t.packet AS x FROM transitions t "
                   "WHERE t.flow_id = flows.id ORDER BY t.ord))",
}


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
    cols = ", ".join(COMPUTED.get(h, h) for h in header)
    got = con.execute("SELECT %s FROM flows ORDER BY first_packet" % cols).fetchall()
    con.close()
    bad = edges.check_db(db)
    if len(got) != len(rows):
        bad.append("%d flows, expected %d" % (len(got), len(rows)))
    for i, (want, have) in enumerate(zip(rows, got)):
        for name, w, h in zip(header, want, have):
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
