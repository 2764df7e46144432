#!/usr/bin/env python3
"""check_report.py FINSCOPE: `finscope report` prints numbers equal to direct SQL.

Forges a mix of scenarios, analyzes it, then checks every count and percentage of the text
report and of the --html report against SQL run here on the same database (the share views,
close_wait_suspects, flows), that the dwell histograms add up to the flows with a non-NULL
dwell, and that the HTML parses and holds every section and every example flow link.
"""
import html.parser
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

FAILS = []
CHECKS = 0
RST_TITLE = "RST causes (of close kind rst; likely: what the packets suggest, not prove)"

BUCKETS = [("<1 ms", None, 0.001), ("1-10 ms", 0.001, 0.01), ("10-100 ms", 0.01, 0.1),
           ("0.1-1 s", 0.1, 1.0), ("1-10 s", 1.0, 10.0), ("10-60 s", 10.0, 60.0),
           (">60 s", 60.0, None)]
TOP = 10


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def pct(n, total):
    return "%.1f" % round(100.0 * n / total, 1) if total else "0.0"


def expected(db, cap=None):
    """Every section's rows as strings, computed here from SQL (views where they exist)."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    q = lambda sql, *a: con.execute(sql, a).fetchall()
    w = "" if cap is None else " AND capture_id = %d" % cap
    exp = {}
    if cap is None:
        # The views cover the whole file: use them.
        for sec, view, col in (("close kinds", "close_kinds", "close_kind"),
                               ("handshakes", "handshakes", "handshake")):
            rows = []
            for tok, n, p in q("SELECT %s, flows, pct FROM %s" % (col, view)):
                where = "close_kind = 'rst' AND " if view == "rst_causes" else ""
                ex = q("SELECT min(id) FROM flows WHERE %s%s IS ?" % (where, col), tok)[0][0]
                rows.append([tok if tok is not None else "-", str(n), "%.1f%%" % p, "#%d" % ex])
            exp[sec] = rows
    total = q("SELECT count(*) FROM flows WHERE 1" + w)[0][0]
    # RST causes: a cause the packets do not prove is shown as "cause (likely)".
    shown = ("(rst_cause || CASE rst_cause_proven WHEN 1 THEN '' WHEN 0 THEN ' (likely)' "
             "ELSE ' (not judged)' END)")
    rows = q("SELECT coalesce(%s,'-'), count(*), min(id) FROM flows WHERE close_kind = 'rst'%s "
             "GROUP BY %s ORDER BY 2 DESC, %s" % (shown, w, shown, shown))
    t = sum(r[1] for r in rows)
    exp[RST_TITLE] = [[k, str(n), pct(n, t) + "%", "#%d" % e] for k, n, e in rows]
    if cap is not None:
        for sec, col, extra in (("close kinds", "close_kind", ""), ("handshakes", "handshake", "")):
            rows = q("SELECT coalesce(%s,'-'), count(*), min(id) FROM flows WHERE 1%s%s "
                     "GROUP BY %s ORDER BY 2 DESC, %s" % (col, w, extra, col, col))
            t = sum(r[1] for r in rows)
            exp[sec] = [[k, str(n), pct(n, t) + "%", "#%d" % e] for k, n, e in rows]
    rows = []
    for port, n in q("SELECT server_port, count(*) FROM flows WHERE 1%s GROUP BY 1 "
                     "ORDER BY 2 DESC, 1" % w):
        c = dict(q("SELECT closer, count(*) FROM flows WHERE server_port = ?%s GROUP BY 1" % w,
                   port))
        other = n - c.get("client", 0) - c.get("server", 0) - c.get("both", 0)
        rows.append([str(port), str(n)] + sum(([str(c.get(k, 0)), pct(c.get(k, 0), n) + "%"]
                                               for k in ("client", "server", "both")), []) +
                    [str(other)])
    exp["who closes first, by server port"] = rows
    if cap is None:
        exp["servers with connections stuck in CLOSE_WAIT (close_wait_suspects)"] = [
            [a, str(p), str(n), "-" if m is None else "%.3f" % m, "-" if x is None else "%.3f" % x]
            for a, p, n, m, x in q("SELECT * FROM close_wait_suspects")]
    for col, title in (("close_wait_s", "CLOSE_WAIT dwell (flows.close_wait_s)"),
                       ("fin_wait_2_s", "FIN_WAIT_2 dwell (flows.fin_wait_2_s)")):
        vals = [r[0] for r in q("SELECT %s FROM flows WHERE %s IS NOT NULL%s" % (col, col, w))]
        rows = []
        for label, lo, hi in BUCKETS:
            n = q("SELECT count(*) FROM flows WHERE %s IS NOT NULL%s AND (? IS NULL OR %s >= ?) "
                  "AND (? IS NULL OR %s < ?)" % (col, w, col, col), lo, lo, hi, hi)[0][0]
            rows.append([label, str(n), pct(n, len(vals)) + "%"])
        exp[title] = rows
        exp[title + " total"] = len(vals)
    ep = lambda a, p: ("[%s]:%d" if ":" in a else "%s:%d") % (a, p)
    exp["top 5-tuples (TCP) by retransmitted FINs"] = [
        [ep(ca, cp), ep(sa, sp), str(fr), str(n), "#%d" % first]
        for ca, cp, sa, sp, fr, n, first in q(
            "SELECT client_addr, client_port, server_addr, server_port, sum(fin_retrans), "
            "count(*), min(id) FROM flows WHERE fin_retrans > 0%s GROUP BY 1, 2, 3, 4 "
            "ORDER BY 5 DESC, 7" % w)]
    exp["examples"] = q("SELECT close_kind, min(id) FROM flows WHERE 1%s GROUP BY 1" % w)
    exp["flows"] = total
    exp["captures"] = q("SELECT count(*) FROM captures")[0][0]
    con.close()
    return exp


def parse_text(out):
    """{section title: [[cell, ...], ...]} plus the '(N more not shown)' counts."""
    secs, more, cur, header = {}, {}, None, False
    for line in out.splitlines():
        if not line.strip():
            cur = None
            continue
        if not line.startswith(" "):
            if cur is None and not line.startswith("finscope report:") and \
                    not line.startswith("ladder diagram"):
                cur = line
                secs[cur] = []
                header = True
            continue
        if cur is None:
            continue
        m = re.match(r"\s+\((\d+) more not shown\)$", line)
        if m:
            more[cur] = int(m.group(1))
        elif line.strip().startswith("(") and not secs[cur]:
            pass  # "(none)" and the like
        elif header:
            header = False
        else:
            secs[cur].append(re.split(r"\s{2,}", line.strip()))
    return secs, more


def compare(where, title, got, exp, more):
    shown = exp[:TOP] if title in TOP_SECTIONS else exp
    check(got == shown, "%s: section %r: got %r, SQL says %r" % (where, title, got, shown))
    if len(exp) > len(shown):
        check(more.get(title) == len(exp) - len(shown),
              "%s: %r: 'more not shown' %r != %d" % (where, title, more.get(title),
                                                      len(exp) - len(shown)))


TOP_SECTIONS = {"who closes first, by server port",
                "servers with connections stuck in CLOSE_WAIT (close_wait_suspects)",
                "top 5-tuples (TCP) by retransmitted FINs"}


class HtmlReport(html.parser.HTMLParser):
    """Collects per <section id>: title, table rows (cell text), and every id and href."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.sections, self.ids, self.hrefs = [], {}, set(), []
        self.sec = self.row = self.cell = None
        self.in_h2 = self.in_head = False
        self.more = {}
        self.in_more = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in ("meta", "rect", "line", "br", "img", "input", "link"):
            self.stack.append(tag)
        if "id" in a:
            check(a["id"] not in self.ids, "html: duplicate id %r" % a["id"])
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "section":
            self.sec = a.get("id")
            self.sections[self.sec] = {"title": "", "rows": []}
        elif tag == "h2":
            self.in_h2 = True
        elif tag == "thead":
            self.in_head = True
        elif tag == "tr" and not self.in_head and self.sec:
            self.row = []
        elif tag in ("td",) and self.row is not None:
            self.cell = ""
        elif tag == "p" and a.get("class") == "more":
            self.in_more = True

    def handle_startendtag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])

    def handle_endtag(self, tag):
        if tag in ("rect", "line", "meta"):
            return
        check(self.stack and self.stack[-1] == tag,
              "html: </%s> closes <%s>" % (tag, self.stack[-1] if self.stack else None))
        if self.stack:
            self.stack.pop()
        if tag == "h2":
            self.in_h2 = False
        elif tag == "thead":
            self.in_head = False
        elif tag == "td" and self.row is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.sections[self.sec]["rows"].append(self.row)
            self.row = None
        elif tag == "section":
            self.sec = None
        elif tag == "p":
            self.in_more = False

    def handle_data(self, data):
        if self.in_h2 and self.sec:
            self.sections[self.sec]["title"] += data
        if self.cell is not None:
            self.cell += data
        if self.in_more and self.sec:
            m = re.match(r"(\d+) more", data)
            if m:
                self.more[self.sections[self.sec]["title"]] = int(m.group(1))


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


def check_html(fsc, db, path, exp, cap=None):
    args = [fsc, "report", db, "--html", path] + (["--capture", str(cap)] if cap else [])
    p = run(*args)
    check(p.returncode == 0, "report --html exit %d: %s" % (p.returncode, p.stderr))
    text = open(path, encoding="utf-8").read()
    for bad in ("<script", "http://", "https://", "src=", "@import", "url("):
        ok = bad not in text or (bad == "http://" and
                                 text.count("http://") == text.count("http://www.w3.org/2000/svg"))
        # url(#id) points inside the page (an SVG arrow marker): not an external resource
        if bad == "url(":
            ok = text.count("url(") == text.count("url(#")
        check(ok, "html: not self-contained: %r" % bad)
    # every example flow's ladder diagram is embedded, and its marker id is unique to it
    for fid in set(re.findall(r'id="ladder-(\d+)"', text)):
        check('id="arrow-%s"' % fid in text, "html: ladder %s has its own arrow marker" % fid)
    check(text.count('<figure class="ladder"') >= 1, "html: ladder diagrams embedded")
    h = HtmlReport()
    try:
        h.feed(text)
        h.close()
    except Exception as e:  # html.parser raises on nothing much, but be sure
        check(False, "html: parse error %r" % e)
    check(h.stack == [], "html: unclosed tags %r" % h.stack)
    check(text.count("<svg") >= 4, "html: expected inline SVG charts")
    where = "html" + (" --capture %d" % cap if cap else "")
    by_title = {s["title"]: s for s in h.sections.values()}
    for title in [t for t in exp if isinstance(exp[t], list) and t != "examples"]:
        check(title in by_title, "%s: section %r missing" % (where, title))
        if title in by_title:
            got = by_title[title]["rows"]
            # HTML cells have no '%' or '#' decoration.
            e = [[c.rstrip("%").lstrip("#") for c in r] for r in exp[title]]
            compare(where, title, got, e, h.more)
    ex = h.sections.get("examples")
    check(ex is not None, "html: examples section missing")
    for kind, fid in exp["examples"]:
        check("flow-%d" % fid in h.ids, "html: no anchor flow-%d (%s)" % (fid, kind))
        check("#flow-%d" % fid in h.hrefs, "html: no link to flow-%d (%s)" % (fid, kind))
        check("finscope show %s %d" % (db, fid) in text,
              "html: no 'finscope show DB %d' for %s" % (fid, kind))
        if ex:
            check([str(fid), kind] in [r[:2] for r in ex["rows"]],
                  "html: example row for %s/%d missing" % (kind, fid))
    for href in h.hrefs:
        check(href.startswith("#") and href[1:] in h.ids, "html: dangling link %r" % href)


def main():
    fsc = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        pcap, db = os.path.join(tmp, "mix.pcap"), os.path.join(tmp, "mix.db")
        p = run(fsc, "forge", "mix", "--flows", "300", "--seed", "4", "-o", pcap)
        check(p.returncode == 0, "forge mix: %s" % p.stderr)
        p = run(fsc, "analyze", "-q", "-o", db, pcap)
        check(p.returncode == 0, "analyze: %s" % p.stderr)
        exp = expected(db)

        p = run(fsc, "report", db)
        check(p.returncode == 0, "report exit %d: %s" % (p.returncode, p.stderr))
        first = p.stdout.splitlines()[0] if p.stdout else ""
        check(("%d capture" % exp["captures"]) in first and (", %d flows" % exp["flows"]) in first,
              "text: first line %r" % first)
        secs, more = parse_text(p.stdout)
        for title in [t for t in exp if isinstance(exp[t], list) and t != "examples"]:
            check(title in secs, "text: section %r missing" % title)
            if title in secs:
                compare("text", title, secs[title], exp[title], more)
        for title in ("CLOSE_WAIT dwell (flows.close_wait_s)",
                      "FIN_WAIT_2 dwell (flows.fin_wait_2_s)"):
            got = sum(int(r[1]) for r in secs.get(title, []))
            check(got == exp[title + " total"] and got > 0,
                  "text: %r buckets add up to %d, %d flows have a dwell" %
                  (title, got, exp[title + " total"]))
            check(len(secs.get(title, [])) == 7, "text: %r has not 7 buckets" % title)
        check(exp["servers with connections stuck in CLOSE_WAIT (close_wait_suspects)"] != [],
              "the mix should have CLOSE_WAIT suspects")
        check(len(exp["examples"]) >= 5, "the mix should have several close kinds")

        check_html(fsc, db, os.path.join(tmp, "r.html"), exp)

        # A second capture: --capture 1 must match the SQL restricted to capture 1.
        pcap2 = os.path.join(tmp, "mix2.pcap")
        run(fsc, "forge", "mix", "--flows", "60", "--seed", "9", "-o", pcap2)
        p = run(fsc, "analyze", "-q", "-o", db, pcap2)
        check(p.returncode == 0, "analyze 2: %s" % p.stderr)
        exp1 = expected(db, cap=1)
        p = run(fsc, "report", db, "--capture", "1")
        check(p.returncode == 0, "report --capture 1: %s" % p.stderr)
        secs, more = parse_text(p.stdout)
        for title in [t for t in exp1 if isinstance(exp1[t], list) and t != "examples"]:
            check(title in secs, "text --capture: section %r missing" % title)
            if title in secs:
                compare("text --capture 1", title, secs[title], exp1[title], more)
        check_html(fsc, db, os.path.join(tmp, "r1.html"), exp1, cap=1)
        # The whole file again, now over two captures.
        exp = expected(db)
        secs, more = parse_text(run(fsc, "report", db).stdout)
        for title in [t for t in exp if isinstance(exp[t], list) and t != "examples"]:
            compare("text (2 captures)", title, secs.get(title), exp[title], more)

        # Errors and help.
        p = run(fsc, "report", db, "--capture", "99")
        check(p.returncode == 1 and "no capture" in p.stderr, "--capture 99: %r" % p.stderr)
        p = run(fsc, "report", os.path.join(tmp, "missing.db"))
        check(p.returncode == 1 and not os.path.exists(os.path.join(tmp, "missing.db")),
              "missing db must fail and not be created")
        p = run(fsc, "report", "--help")
        check(p.returncode == 0 and "examples:" in p.stdout, "--help")
        before = open(db, "rb").read()
        run(fsc, "report", db)
        check(open(db, "rb").read() == before, "report changed the database file")

    print("%d checks, %d failed" % (CHECKS, len(FAILS)))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
