#!/usr/bin/env python3
"""finscope show: the text ladder of each forged scenario equals tests/golden/show/NAME.txt,
and --svg is well-formed XML holding every state label of the flow.
Run with --update to rewrite the expected files (then review each against `tcpdump -nr`)."""
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

FINSCOPE = os.path.abspath(sys.argv[1])
UPDATE = "--update" in sys.argv[2:]
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "show")
SCENARIOS = [
    "four_way", "four_way_server_first", "three_way_close", "two_way_self",
    "simultaneous_close", "half_close", "half_closed_leak", "refused", "unanswered",
    "aborted_handshake", "simultaneous_open", "rst_abort", "rst_unread_data",
    "rst_data_after_close", "fin_retransmit", "time_wait_reack", "rst_after_fins",
    "fin_with_data", "midstream", "ends_mid_teardown", "fin_reordered", "open",
    "rst_after_own_fin", "synack_unacked", "simultaneous_close_cut",
]
failures = checks = 0


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", what)


with tempfile.TemporaryDirectory() as tmp:
    for name in SCENARIOS:
        pcap, db = os.path.join(tmp, name + ".pcap"), os.path.join(tmp, name + ".db")
        subprocess.run([FINSCOPE, "forge", name, "-o", pcap], check=True, capture_output=True)
        subprocess.run([FINSCOPE, "analyze", "-q", "-o", db, pcap], check=True,
                       capture_output=True)
        r = subprocess.run([FINSCOPE, "show", db, "1"], capture_output=True, text=True)
        check(r.returncode == 0, "%s: show exit %d %s" % (name, r.returncode, r.stderr))
        text = r.stdout
        path = os.path.join(HERE, name + ".txt")
        if UPDATE:
            with open(path, "w") as f:
                f.write(r.stdout)
        else:
            with open(path) as f:
                want = f.read()
            check(r.stdout == want, "%s: text differs from %s" % (name, path))
            if r.stdout != want:
                print(r.stdout)

        svg = os.path.join(tmp, name + ".svg")
        r = subprocess.run([FINSCOPE, "show", db, "1", "--svg", svg], capture_output=True,
                           text=True)
        check(r.returncode == 0, "%s: --svg exit %d %s" % (name, r.returncode, r.stderr))
        try:
            root = ET.parse(svg).getroot()
        except ET.ParseError as e:
            check(False, "%s: SVG not well-formed: %s" % (name, e))
            continue
        check(root.tag == "{http://www.w3.org/2000/svg}svg", "%s: root %s" % (name, root.tag))
        texts = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")}
        states = subprocess.run(
            [FINSCOPE, "query", db, "SELECT DISTINCT upper(to_state) FROM transitions "
             "WHERE flow_id = 1 UNION SELECT upper(from_state) FROM transitions "
             "WHERE flow_id = 1 AND ord < 2", "--csv"],
            capture_output=True, text=True, check=True).stdout.split()[1:]
        check(states != [], "%s: no states" % name)
        for st in states:
            check(st in texts, "%s: SVG lacks state label %s" % (name, st))
        arrows = sum(1 for l in root.iter("{http://www.w3.org/2000/svg}line")
                     if l.get("marker-end"))
        nseg = int(subprocess.run([FINSCOPE, "query", db, "SELECT count(*) FROM segments "
                                   "WHERE flow_id = 1", "--csv"], capture_output=True,
                                  text=True, check=True).stdout.split()[1])
        check(arrows == nseg, "%s: %d arrows for %d segments" % (name, arrows, nseg))
        # Retransmissions: the dashed arrows are the text ladder's "retrans" rows.
        dashed = [l.get("data-packet") for l in root.iter("{http://www.w3.org/2000/svg}line")
                  if l.get("marker-end") and l.get("stroke-dasharray")]
        marked = [l.split()[1] for l in text.split("\n") if " retrans " in l]
        check(dashed == marked, "%s: dashed arrows at %s, retrans rows at %s" %
              (name, dashed, marked))

    # Selection by filter, and errors.
    db = os.path.join(tmp, "rst_abort.db")
    r = subprocess.run([FINSCOPE, "show", db, "--kind", "rst", "--first"], capture_output=True,
                       text=True)
    check(r.returncode == 0 and "close_kind=rst" in r.stdout, "--kind rst --first")
    r = subprocess.run([FINSCOPE, "show", db, "--kind", "four_way"], capture_output=True,
                       text=True)
    check(r.returncode == 1 and "no flow" in r.stderr, "no match: %r" % r.stderr)
    r = subprocess.run([FINSCOPE, "show", db, "99"], capture_output=True, text=True)
    check(r.returncode == 1 and "no flow" in r.stderr, "no flow 99: %r" % r.stderr)

print("show: %d checks, %d failed" % (checks, failures))
sys.exit(1 if failures else 0)
