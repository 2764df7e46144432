#!/usr/bin/env python3
"""check_report_browser.py FINSCOPE [WILD_CORPUS]: the --html report as headless Chromium lays it out.

Renders up to three reports in the real browser (browser.py) and measures every chart's labels:
- a forged mix over two captures (every section filled, capture columns shown);
- check_report.py's crafted census database (a hostile address as a host, a capture a day
  later with long time labels, 1500 TIME_WAITs, IPv6);
- when the directory given as second argument holds traces/*.pcap* (../shared/corpus/wild),
  every one of them analyzed into one database: real traffic, 137 captures.
For each: every section is there under its title and every chart drawn (close kinds,
handshakes, RST causes, both dwell histograms, the census charts of the busiest hosts); within
each chart no two label boxes (svg text) overlap and no label, bar, band or line leaves its
chart; no block of the page is wider than the page.  The ladder diagrams embedded for the
example flows (show.c's SVG) are held to the same two rules.

Skips (exit 77) only when no Chromium is installed.
"""
import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402
import check_report as R  # noqa: E402
import checklib as T  # noqa: E402
from checklib import check  # noqa: E402

TITLES = ["captures", "close kinds", "handshakes", R.RST_TITLE, "who closes first, by server port",
          "servers with connections stuck in CLOSE_WAIT (close_wait_suspects)", R.CW_TITLE,
          R.FW2_TITLE, "top 5-tuples (TCP) by retransmitted FINs", R.HOSTS_TITLE,
          R.LEAKS_TITLE, R.TW_TITLE, R.EX_TITLE]


def report(db, path):
    p = T.run("report", db, "--html", path, text=True)
    check(p.returncode == 0, "report --html %s: %s" % (db, p.stderr))
    return open(path, encoding="utf-8").read()


def look(html, where, charts):
    """Measure html in Chromium: the sections, the charts named in charts (svg ids), and no
    overlap or overflow within any of the report's own charts (svg ids chart-*)."""
    texts = browser.boxes(html, "svg text")
    mine = [b for b in texts if b["chart"].startswith("chart-")]
    drawn = sorted(set(b["chart"] for b in mine if b["w"] > 0 and b["h"] > 0))
    check(drawn == sorted(charts), "%s: charts drawn %r, expected %r" % (where, drawn, charts))
    for a, b in browser.overlaps(mine):
        check(False, "%s: %s: labels %r at (%.1f, %.1f) and %r at (%.1f, %.1f) overlap" %
              (where, a["chart"], a["text"], a["x"], a["y"], b["text"], b["x"], b["y"]))
    for b in browser.outside(mine):
        check(False, "%s: %s: label %r leaves its chart (%.1f..%.1f, chart %r)" %
              (where, b["chart"], b["text"], b["x"], b["x"] + b["w"], b["chart_box"]))
    check(len(mine) > 100, "%s: %d labels measured in the report's charts" % (where, len(mine)))
    # The example flows' ladder diagrams (show.c's SVG, embedded): the same rules.
    ladders = [b for b in texts if not b["chart"].startswith("chart-")]
    check(ladders, "%s: ladder diagrams embedded" % where)
    for a, b in browser.overlaps(ladders):
        check(False, "%s: ladder %s: labels %r and %r overlap" % (where, a["chart"], a["text"],
                                                                 b["text"]))
    for b in browser.outside(ladders):
        check(False, "%s: ladder %s: label %r leaves the diagram" % (where, b["chart"], b["text"]))
    print("%s: %d labels in %d report charts, %d in the ladder diagrams" %
          (where, len(mine), len(drawn), len(ladders)))

    # The shapes (bars, bands, axes, legend swatches) stay inside their charts too; each block
    # of the page (sections, their tables, charts, figures) inside the page's width.
    blocks = browser.boxes(html, "svg.bars *, svg.hist *, svg.census *, h2, body, body > *, "
                                 "section > *")
    shapes = [b for b in blocks if b["chart"].startswith("chart-") and b["w"] > 0]
    check(len(shapes) > len(mine), "%s: %d shapes measured" % (where, len(shapes)))
    for b in browser.outside(shapes):
        check(False, "%s: %s: a shape at %.1f..%.1f, %.1f..%.1f leaves its chart %r" %
              (where, b["chart"], b["x"], b["x"] + b["w"], b["y"], b["y"] + b["h"],
               b["chart_box"]))
    page = [b for b in blocks if not b["chart"] and (b["w"] > 0 or b["h"] > 0)]
    body = page[0] if page else None
    for b in page[1:]:
        check(body and b["x"] >= body["x"] - 0.5 and b["x"] + b["w"] <= body["x"] + body["w"] + 0.5,
              "%s: a block %r (%.1f..%.1f) is wider than the page (%.1f..%.1f)" %
              (where, b["text"][:60], b["x"], b["x"] + b["w"], body["x"], body["x"] + body["w"]))
    titles = [" ".join(b["text"].split()) for b in page if b["h"] > 0]
    for t in TITLES:
        check(t in titles, "%s: section %r not shown" % (where, t))


def main():
    T.FINSCOPE = sys.argv[1]
    R_fsc = os.path.abspath(sys.argv[1])
    if not browser.available():
        print("SKIP: no chromium (or chromium-browser, google-chrome) in PATH: the report's layout "
              "is not measured; install the Debian package chromium")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "mix.db")
        for n, (flows, seed) in enumerate(((300, 4), (60, 9))):
            pcap = os.path.join(tmp, "mix%d.pcap" % n)
            p = T.run("forge", "mix", "--flows", str(flows), "--seed", str(seed), "-o", pcap,
                      text=True)
            check(p.returncode == 0, "forge mix: %s" % p.stderr)
            p = T.run("analyze", "-q", "-o", db, pcap, text=True)
            check(p.returncode == 0, "analyze: %s" % p.stderr)
        html = report(db, os.path.join(tmp, "mix.html"))
        check("<th class=\"n\">capture</th>" in html, "mix: two captures, a capture column")
        look(html, "mix", ["chart-close-kinds", "chart-handshakes", "chart-rst-causes",
                           "chart-close-wait-dwell", "chart-fin-wait-2-dwell", "chart-census-1",
                           "chart-census-2", "chart-census-3", "chart-census-4"])

        # Real traffic nobody here made, when the corpus is there (../shared/corpus/wild).
        wild = sys.argv[2] if len(sys.argv) > 2 else ""
        traces = sorted(glob.glob(os.path.join(wild, "traces", "*.pcap*"))) if wild else []
        if traces:
            wdb = os.path.join(tmp, "wild.db")
            T.run("analyze", "-q", "-o", wdb, *traces, text=True, timeout=300)
            html = report(wdb, os.path.join(tmp, "wild.html"))
            look(html, "wild", ["chart-close-kinds", "chart-handshakes", "chart-rst-causes",
                                "chart-close-wait-dwell", "chart-fin-wait-2-dwell",
                                "chart-census-1", "chart-census-2", "chart-census-3",
                                "chart-census-4"])
        else:
            print("no wild corpus at %r: its report is not measured" % wild)

        crafted = R.build_crafted(R_fsc, tmp)
        html = report(crafted, os.path.join(tmp, "crafted.html"))
        look(html, "crafted", ["chart-close-kinds", "chart-handshakes", "chart-close-wait-dwell",
                               "chart-fin-wait-2-dwell", "chart-census-1", "chart-census-2",
                               "chart-census-3", "chart-census-4"])
    check(not R.FAILS, "building the crafted database: %r" % R.FAILS)
    return T.summary("report_browser")


if __name__ == "__main__":
    sys.exit(main())
