#!/usr/bin/env python3
"""finscope show: the text ladder of each forged scenario equals tests/golden/show/NAME.txt,
and --svg is well-formed XML holding every state label of the flow.
Run with --update to rewrite the expected files (then review each against `tcpdump -nr`)."""
import os
import sqlite3
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
        # Analyzed by its name in tmp, so that the capture's file named above the ladder is the
        # same in every run.
        subprocess.run([FINSCOPE, "analyze", "-q", "-o", db, name + ".pcap"], check=True,
                       capture_output=True, cwd=tmp)
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

    # Filters shared with `finscope flows`, and --all, on one database of several scenarios.
    multi = ["four_way", "rst_abort", "rst_unread_data", "half_closed_leak", "two_way_self",
             "rst_data_after_close"]
    db = os.path.join(tmp, "multi.db")
    subprocess.run([FINSCOPE, "analyze", "-q", "-o", db] + [n + ".pcap" for n in multi],
                   check=True, capture_output=True, cwd=tmp)
    con = sqlite3.connect(db)

    def ids(where):
        return [r[0] for r in con.execute("SELECT id FROM flows WHERE %s ORDER BY id" % where)]

    def show(*args):
        return subprocess.run([FINSCOPE, "show", db] + list(args), capture_output=True,
                              text=True)

    one = {i: show(str(i)).stdout for i in ids("1")}
    for args, where in [(["--kind", "rst"], "close_kind = 'rst'"),
                        (["--kind", "rst", "--closer", "server"],
                         "close_kind = 'rst' AND closer = 'server'"),
                        (["--handshake", "self_connect"], "handshake = 'self_connect'"),
                        (["--server", "192.0.2.2:80", "--kind", "half_closed"],
                         "server_addr = '192.0.2.2' AND server_port = 80 AND "
                         "close_kind = 'half_closed'"),
                        ([], "1")]:
        want = ids(where)
        check(want != [], "%s: the database has such flows" % args)
        r = show(*(args + ["--all"]))
        blocks = ["%s==== flow %d (%d of %d) ====\n%s" % ("\n" if k else "", i, k + 1,
                                                          len(want), one[i])
                  for k, i in enumerate(want)]
        check(r.returncode == 0 and r.stdout == "".join(blocks),
              "show %s --all: the ladders of flows %s, each as show ID draws it: %r"
              % (args, want, r.stdout[:300] + r.stderr))
        if args:
            r = show(*args)
            check(r.returncode == 0 and r.stdout == one[want[0]],
                  "show %s: the first match, flow %d" % (args, want[0]))
            r = show(*(args + ["--first"]))
            check(r.returncode == 0 and r.stdout == one[want[0]], "show %s --first" % args)
    want = ids("close_kind = 'rst'")
    r = show("--kind", "rst", "--all", "--limit", "1")
    check(r.returncode == 0 and r.stdout == "==== flow %d (1 of 1) ====\n%s"
          % (want[0], one[want[0]]), "--all --limit 1")
    # --all --svg FILE: one file per flow, FILE with -ID before the extension.
    r = show("--kind", "rst", "--all", "--svg", os.path.join(tmp, "rst.svg"))
    check(r.returncode == 0 and r.stdout == "".join(
        "wrote %s (flow %d)\n" % (os.path.join(tmp, "rst-%d.svg" % i), i) for i in want),
        "--all --svg: names the files: %r" % (r.stdout + r.stderr))
    for i in want:
        path = os.path.join(tmp, "rst-%d.svg" % i)
        svg1 = show(str(i), "--svg", "-").stdout
        check(os.path.exists(path) and open(path).read() == svg1,
              "%s is flow %d's SVG" % (path, i))
    check(sorted(f for f in os.listdir(tmp) if f.startswith("rst-")) ==
          sorted("rst-%d.svg" % i for i in want), "only the rst flows' SVG files")
    # Refusals: exit status 2 and a message that says what to do.
    for args, says in [(["--kind", "rst", "--all", "--svg", "-"], "one file per flow"),
                       (["--kind", "rst", "--all", "--first"], "not both"),
                       (["1", "--kind", "rst"], "not both"),
                       (["--kind", "rst", "--limit", "2"], "--limit goes with --all"),
                       (["--kind", "nope"], "one of: open, four_way, three_way"),
                       (["--anomaly", "one"], "one_sided"),
                       (["--server", "192.0.2"], "is not an address"),
                       (["--server", "192.0.2.2:99999"], "is not a port"),
                       (["--capture", "0"], "is not a capture id"),
                       ([], "which flow?")]:
        r = show(*args)
        check(r.returncode == 2 and says in r.stderr and r.stdout == "",
              "show %s: exit 2 saying %r: %d %r" % (args, says, r.returncode, r.stderr))
    r = show("--kind", "three_way", "--closer", "both")
    check(r.returncode == 1 and "no flow matches close_kind=three_way closer=both" in r.stderr,
          "no match names the filters: %r" % r.stderr)
    con.close()

print("show: %d checks, %d failed" % (checks, failures))
sys.exit(1 if failures else 0)
