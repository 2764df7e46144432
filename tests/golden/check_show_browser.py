#!/usr/bin/env python3
"""finscope show --svg, looked at in headless Chromium: every flow of every capture in captures/
(analyzed into one database), the forged scenarios with retransmissions, and crafted flows whose
labels pile up (many transitions at one packet, long and multi-byte evidence, long addresses) are
drawn, put in one page, and measured by the browser: no two text boxes of one diagram overlap,
no text leaves its diagram's box (the viewBox: width and height equal it), every diagram is
there, and the retransmitted segments are the dashed arrows.  Skipped when Chromium is missing.

    check_show_browser.py FINSCOPE CAPTURES_DIR"""
import concurrent.futures
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402
import checklib as T  # noqa: E402
import logcodec  # noqa: E402

T.FINSCOPE = sys.argv[1]
CAPTURES = sys.argv[2]
SVG = "{http://www.w3.org/2000/svg}"
# Forged scenarios, with the packets of the segments the ladder must mark as retransmissions.
FORGED = {"fin_retransmit": [8], "time_wait_reack": [11], "unanswered": [2, 3],
          "simultaneous_open": [], "two_way_self": [], "simultaneous_close": [],
          "fin_retx_cross_simultaneous": None, "fin_wait_2_timeout": []}

if not browser.available():
    print("SKIP: no chromium (Debian package chromium) to measure the SVGs with")
    sys.exit(77)


def svg_of(db, flow_id, r=None):
    """The diagram of flow_id; r: the run of show that drew it, when already done."""
    r = r or T.run("show", db, str(flow_id), "--svg", "-", text=True)
    T.check(r.returncode == 0, "%s flow %s: --svg exit %d %s" % (db, flow_id, r.returncode,
                                                                 r.stderr))
    return r.stdout


def dashed_packets(svg):
    """Frame numbers of the rows whose arrow is dashed (the retransmissions)."""
    root = ET.fromstring(svg)
    out = []
    for g in root.iter(SVG + "line"):
        if g.get("marker-end") and g.get("stroke-dasharray"):
            out.append(int(g.get("data-packet", "-1")))
    return out


def crafted(tmp):
    """A database of flows made to crowd the labels: copies of a forged flow with transitions
    piled on one packet, long and multi-byte evidence, long IPv6-looking addresses."""
    pcap, db = os.path.join(tmp, "crowd.pcap"), os.path.join(tmp, "crowd.db")
    subprocess.run([T.FINSCOPE, "forge", "simultaneous_close", "-o", pcap], check=True,
                   capture_output=True)
    subprocess.run([T.FINSCOPE, "analyze", "-q", "-o", db, pcap], check=True,
                   capture_output=True)
    con = sqlite3.connect(db)
    cols = [r[1] for r in con.execute("PRAGMA table_info(flows)") if r[1] != "id"]
    log = logcodec.read_transitions(con, 1)
    variants = []
    # Six transitions of each side at packet 9, as a foreign database may hold.
    piled = [list(e) for e in log]
    for k in range(6):
        for side in ("client", "server"):
            piled.append([side, "closing", "time_wait", piled[8][3], 9,
                          "extra reason %d for the %s" % (k, side)])
    piled.sort(key=lambda e: e[4])
    variants.append(("transition_log", logcodec.encode_transitions(con, 1, piled)))
    # Long and multi-byte evidence on both sides, and markup to escape.
    long_ev = [list(e) for e in log]
    for e in long_ev:
        e[5] = ("<b>&amp;</b> \u00e9t\u00e9 " + e[5] + " " + "w" * 40 + " and a long tail "
                "of words that keeps going well past any column")[:95]
    variants.append(("transition_log", logcodec.encode_transitions(con, 1, long_ev)))
    for column, value in variants:
        con.execute("INSERT INTO flows (%s) SELECT %s FROM flows WHERE id = 1" %
                    (", ".join(cols), ", ".join(cols)))
        con.execute("UPDATE flows SET %s = ? WHERE id = last_insert_rowid()" % column, (value,))
    # Long addresses on both ends.
    con.execute("INSERT INTO flows (%s) SELECT %s FROM flows WHERE id = 1" %
                (", ".join(cols), ", ".join(cols)))
    con.execute("UPDATE flows SET client_addr = '2001:db8:ffff:ffff:ffff:ffff:ffff:fffe', "
                "server_addr = '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', ip_version = 6 "
                "WHERE id = last_insert_rowid()")
    con.commit()
    ids = [r[0] for r in con.execute("SELECT id FROM flows ORDER BY id")]
    con.close()
    return db, ids


started = time.time()
with tempfile.TemporaryDirectory() as tmp:
    charts = []  # (name, svg text)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(CAPTURES) for f in fs
                   if f.endswith((".pcap", ".pcapng")))
    db = os.path.join(tmp, "captures.db")
    r = T.run("analyze", "-q", "-o", db, *files, timeout=300)
    T.check(r.returncode == 0, "analyze captures: %d %s" % (r.returncode, r.stderr[-500:]))
    ids = [int(x) for x in T.run("query", db, "SELECT id FROM flows ORDER BY id", "--csv",
                                 text=True).stdout.split()[1:]]
    T.check(len(ids) > 100, "%d flows in %d captures" % (len(ids), len(files)))
    # One process per diagram: four at a time keep the check well under a minute.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        runs = pool.map(lambda i: T.run("show", db, str(i), "--svg", "-", text=True), ids)
        for i, r in zip(ids, runs):
            charts.append(("captures flow %d" % i, svg_of(db, i, r)))
    drawn = time.time()

    for name, want in FORGED.items():
        pcap, fdb = os.path.join(tmp, name + ".pcap"), os.path.join(tmp, name + ".db")
        subprocess.run([T.FINSCOPE, "forge", name, "-o", pcap], check=True, capture_output=True)
        subprocess.run([T.FINSCOPE, "analyze", "-q", "-o", fdb, pcap], check=True,
                       capture_output=True)
        svg = svg_of(fdb, 1)
        charts.append((name, svg))
        if want is not None:
            got = dashed_packets(svg)
            T.check(got == want, "%s: dashed arrows at packets %s, want %s" % (name, got, want))
            T.check(len(re.findall(r">retrans<", svg)) == len(want),
                    "%s: %d 'retrans' tags" % (name, len(re.findall(r">retrans<", svg))))

    cdb, cids = crafted(tmp)
    for i in cids:
        charts.append(("crafted flow %d" % i, svg_of(cdb, i)))

    # Each diagram in its own svg with the chart's name as its id.
    body = []
    for k, (name, svg) in enumerate(charts):
        svg = svg[svg.index("<svg"):] if "<svg" in svg else svg
        body.append(svg.replace("<svg", '<svg id="c%d"' % k, 1))
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body style='margin:0'>" +
            "\n".join(body) + "</body></html>")
    bx = browser.boxes(page, timeout=120)
    seen = {b["chart"] for b in bx}
    T.check(seen == {"c%d" % k for k in range(len(charts))},
            "diagrams measured: %d of %d" % (len(seen), len(charts)))
    name = {"c%d" % k: charts[k][0] for k in range(len(charts))}
    over = browser.overlaps(bx)
    T.check(not over, "%d overlapping label pairs" % len(over))
    for a, b in over[:15]:
        print("  %s: %r (%.0f,%.0f %.0fx%.0f) and %r (%.0f,%.0f %.0fx%.0f)" % (
            name[a["chart"]], a["text"][:60], a["x"], a["y"], a["w"], a["h"], b["text"][:60],
            b["x"], b["y"], b["w"], b["h"]))
    out = browser.outside(bx)
    T.check(not out, "%d labels leave their diagram" % len(out))
    for b in out[:15]:
        print("  %s: %r (%.0f,%.0f %.0fx%.0f) in %s" % (name[b["chart"]], b["text"][:60], b["x"],
                                                        b["y"], b["w"], b["h"], b["chart_box"]))
    T.check(len(bx) > 20 * len(charts), "%d text boxes for %d diagrams" % (len(bx), len(charts)))
    print("%d diagrams, %d text boxes; %.1f s drawing the captures' flows, %.1f s in all" %
          (len(charts), len(bx), drawn - started, time.time() - started))

sys.exit(T.summary("show_browser"))
