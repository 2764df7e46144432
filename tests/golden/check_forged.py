#!/usr/bin/env python3
"""check_forged.py - golden test: every `finscope forge` scenario, in four framings (plain,
--ipv6, --vlan 7, --sll), is forged, analyzed, and its flows compared cell by cell with the
expected TSV forge wrote next to it ('-' means SQL NULL).  Rows are matched in order of each
flow's first packet.  Scenarios that define one-direction views (`--list` says "(one side:
client server)") are also checked as a tap that saw only the client's, or only the server's,
frames (IPv4 and IPv6).

Usage: check_forged.py FINSCOPE
Prints one line per mismatch, then "forged: N passed, M failed"; exits 1 on any failure.
"""
import os
import sqlite3
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edges  # noqa: E402  (the RFC 9293 edge invariant)

VARIANTS = [
    ("plain", []),
    ("ipv6", ["--ipv6"]),
    ("vlan", ["--vlan", "7"]),
    ("sll", ["--sll"]),
]

TIMEOUT_S = 120


def run(cmd):
    """Run cmd; return (ok, message) with the first line of stderr on failure."""
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    if res.returncode != 0:
        lines = res.stderr.strip().splitlines()
        return False, "exit %d: %s" % (res.returncode, lines[0] if lines else "")
    return True, res.stdout


def check(finscope, scenario, variant, args, tmp):
    """Return the list of mismatch lines for one scenario/variant (empty when it matches)."""
    tag = "%s/%s" % (scenario, variant)
    stem = os.path.join(tmp, "%s.%s" % (scenario, variant))
    pcap, expected, db = stem + ".pcap", stem + ".expected.tsv", stem + ".db"
    ok, msg = run([finscope, "forge", scenario, "-o", pcap, "--expected", expected] + args)
    if not ok:
        return ["%s forge %s" % (tag, msg)]
    ok, msg = run([finscope, "analyze", "-q", "-o", db, pcap])
    if not ok:
        return ["%s analyze %s" % (tag, msg)]
    with open(expected) as fp:
        lines = [l.rstrip("\n").split("\t") for l in fp if l.strip()]
    header, rows = lines[0], lines[1:]
    try:
        con = sqlite3.connect(db)
        got = con.execute("SELECT %s FROM flows ORDER BY first_packet" % ", ".join(header)).fetchall()
        con.close()
    except sqlite3.Error as e:
        return ["%s query: %s" % (tag, e)]
    bad = ["%s %s" % (tag, b) for b in edges.check_db(db)]
    if len(got) != len(rows):
        bad.append("%s rows: expected %d got %d" % (tag, len(rows), len(got)))
    for i, (want, have) in enumerate(zip(rows, got)):
        for name, w, h in zip(header, want, have):
            h = "-" if h is None else str(h)
            if w != h:
                bad.append("%s row %d %s: expected %s got %s" % (tag, i + 1, name, w, h))
    return bad


def main():
    if len(sys.argv) != 2:
        print("usage: check_forged.py FINSCOPE", file=sys.stderr)
        return 2
    finscope = sys.argv[1]
    ok, out = run([finscope, "forge", "--list"])
    if not ok:
        print("forge --list %s" % out)
        print("forged: 0 passed, 1 failed")
        return 1
    scenarios = []
    for line in out.splitlines():
        if not line.strip():
            continue
        name, views = line.split()[0], []
        if "(one side:" in line:
            views = line.rsplit("(one side:", 1)[1].rstrip(")").split()
        scenarios.append((name, views))
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="finscope-forged-") as tmp:
        for scenario, views in scenarios:
            variants = list(VARIANTS)
            for side in views:
                variants.append(("%s-only" % side, ["--one-side", side]))
                variants.append(("%s-only-ipv6" % side, ["--one-side", side, "--ipv6"]))
            for variant, args in variants:
                bad = check(finscope, scenario, variant, args, tmp)
                if bad:
                    failed += 1
                    for b in bad:
                        print(b)
                else:
                    passed += 1
    print("forged: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
