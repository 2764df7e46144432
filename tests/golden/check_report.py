#!/usr/bin/env python3
"""check_report.py FINSCOPE: `finscope report` prints numbers equal to direct SQL.

Forges a mix of scenarios, analyzes it, then checks every count and percentage of the text
report and of the --html report against SQL run here on the same database (the share views,
close_wait_suspects, flows), that the dwell histograms add up to the flows with a non-NULL
dwell, and that the HTML parses and holds every section and every example flow link.

The census sections (sockets per host, CLOSE_WAIT leak suspects, TIME_WAIT pressure) are
checked against state intervals computed here from flows.transition_log by census.h's rules
and against `finscope states --json`, on the mix and on a crafted database whose census is
known by construction (a growing CLOSE_WAIT and four that are not, 1500 TIME_WAITs from one
client, a reused 4-tuple, IPv6, two captures of the same hours and one a day later); the HTML
charts are parsed: one band and one legend entry per state present, one colour per state,
no two labels overlapping, and band heights equal to the counts at the sampled instants.
"""
import bisect
import datetime
import html
import html.parser
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

import logcodec

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


CW_TITLE = "CLOSE_WAIT dwell (flows.close_wait_s), server side and client side"
FW2_TITLE = "FIN_WAIT_2 dwell (flows.fin_wait_2_s)"
EX_TITLE = "example flows: the lowest id of each kind, and every flow linked above"
CAPTURE_KINDS = ("four_way", "three_way", "simultaneous", "rst", "half_closed", "open")


def tshark_filter(ca, cp, sa, sp, first, last):
    """where.h's display filter, written here from its documented form."""
    ip = "ipv6" if ":" in ca else "ip"
    one = lambda a, p, b, q: "%s.src==%s && tcp.srcport==%d && %s.dst==%s && tcp.dstport==%d" % (
        ip, a, p, ip, b, q)
    f = one(ca, cp, sa, sp) if (ca, cp) == (sa, sp) else \
        "((%s) || (%s))" % (one(ca, cp, sa, sp), one(sa, sp, ca, cp))
    if first > 0:
        f += " && frame.number>=%d" % first
    if last is not None and last > 0:
        f += " && frame.number<=%d" % last
    return f


def example_row(fid, kind, hs, cause, c, first, ca, cp, sa, sp, last, path):
    """An example flow as the text report shows it (path: the file holding its frames)."""
    ep = lambda a, p: ("[%s]:%d" if ":" in a else "%s:%d") % (a, p)
    return ["#%d" % fid, kind, hs, cause or "-", "%d:%d" % (c, first), ep(ca, cp), ep(sa, sp),
            esc_term(path), tshark_filter(ca, cp, sa, sp, first, last)]


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
    # Who closes first, per server port; the ports seen in one flow only are one row.
    ports = q("SELECT server_port, count(*) FROM flows WHERE 1%s GROUP BY 1" % w)
    once = [p for p, n in ports if n == 1]
    groups = [(n, 0, p, "server_port = %d" % p) for p, n in ports if n > 1]
    if once:
        groups.append((len(once), 1, None,
                       "server_port IN (%s)" % ", ".join(str(p) for p in once)))
    rows = []
    for n, _, port, cond in sorted(groups, key=lambda g: (-g[0], g[1], g[2] or 0)):
        c = dict(q("SELECT closer, count(*) FROM flows WHERE %s%s GROUP BY 1" % (cond, w)))
        other = n - c.get("client", 0) - c.get("server", 0) - c.get("both", 0)
        label = str(port) if port is not None else \
            "other ports (%d, one connection each)" % len(once)
        rows.append([label, str(n)] + sum(([str(c.get(k, 0)), pct(c.get(k, 0), n) + "%"]
                                           for k in ("client", "server", "both")), []) +
                    [str(other)])
    exp["who closes first, by server port"] = rows
    exp["ports once"] = len(once)
    several = q("SELECT count(*) FROM captures WHERE ? IS NULL OR id = ?", cap, cap)[0][0] > 1
    capcol = lambda c: [str(c)] if several else []
    # CLOSE_WAIT suspects per capture: the close_wait_suspects view's numbers for each capture.
    sus = []
    for c in [r[0] for r in q("SELECT id FROM captures WHERE 1%s" % w.replace("capture_id",
                                                                               "id"))]:
        for a, p, n, vals in [(a, p, n, sorted(v for v in [x[0] for x in q(
                "SELECT close_wait_s FROM flows WHERE close_kind = 'half_closed' AND "
                "server_state = 'close_wait' AND capture_id = ? AND server_addr IS ? AND "
                "server_port IS ?", c, a, p)] if v is not None))
                for a, p, n in q("SELECT server_addr, server_port, count(*) FROM flows WHERE "
                                 "close_kind = 'half_closed' AND server_state = 'close_wait' "
                                 "AND capture_id = ? GROUP BY 1, 2", c)]:
            med = None if not vals else (vals[(len(vals) - 1) // 2] + vals[len(vals) // 2]) / 2
            sus.append((n, vals[-1] if vals else None, a, p, c, med))
    sus.sort(key=lambda r: (-r[0], -(r[1] if r[1] is not None else -1e300), r[2], r[3], r[4]))
    exp["servers with connections stuck in CLOSE_WAIT (close_wait_suspects)"] = [
        capcol(c) + [a, str(p), str(n), "-" if m is None else "%.3f" % m,
                     "-" if x is None else "%.3f" % x] for n, x, a, p, c, m in sus]
    if cap is None and not several:
        view = [[a, str(p), str(n), "-" if m is None else "%.3f" % m,
                 "-" if x is None else "%.3f" % x]
                for a, p, n, m, x in q("SELECT * FROM close_wait_suspects")]
        check(exp["servers with connections stuck in CLOSE_WAIT (close_wait_suspects)"] == view,
              "close_wait_suspects computed here %r != the view %r" % (sus, view))
    # Dwell histograms; CLOSE_WAIT per side: the peer of the first closer held it.
    for col, title, sides in (("close_wait_s", CW_TITLE, ("closer IS NOT 'server'",
                                                          "closer IS 'server'")),
                              ("fin_wait_2_s", FW2_TITLE, ("1",))):
        rows = [[label] for label, lo, hi in BUCKETS]
        for side in sides:
            sel = "%s IS NOT NULL%s AND %s" % (col, w, side)
            side_total = q("SELECT count(*) FROM flows WHERE " + sel)[0][0]
            for row, (label, lo, hi) in zip(rows, BUCKETS):
                n = q("SELECT count(*) FROM flows WHERE %s AND (? IS NULL OR %s >= ?) "
                      "AND (? IS NULL OR %s < ?)" % (sel, col, col), lo, lo, hi, hi)[0][0]
                row += [str(n), pct(n, side_total) + "%"]
        exp[title] = rows
        exp[title + " total"] = q("SELECT count(*) FROM flows WHERE %s IS NOT NULL%s" %
                                  (col, w))[0][0]
    ep = lambda a, p: ("[%s]:%d" if ":" in a else "%s:%d") % (a, p)
    exp["top 5-tuples (TCP) by retransmitted FINs"] = [
        capcol(c) + [ep(ca, cp), ep(sa, sp), str(fr), str(n), "#%d" % first]
        for c, ca, cp, sa, sp, fr, n, first in q(
            "SELECT capture_id, client_addr, client_port, server_addr, server_port, "
            "sum(fin_retrans), count(*), min(id) FROM flows WHERE fin_retrans > 0%s "
            "GROUP BY 1, 2, 3, 4, 5 ORDER BY 6 DESC, 8" % w)]
    exp["examples"] = q("SELECT close_kind, min(id) FROM flows WHERE 1%s GROUP BY 1" % w)
    # The captures table: per capture, its file, packets, flows and flows per close kind.
    rows = []
    for c, src, pk in q("SELECT id, source, packets_read FROM captures WHERE 1%s ORDER BY id" %
                        w.replace("capture_id", "id")):
        k = dict(q("SELECT close_kind, count(*) FROM flows WHERE capture_id = ? GROUP BY 1", c))
        n = sum(k.values())
        main = [k.get(x, 0) for x in CAPTURE_KINDS]
        rows.append([str(c), src, str(pk), str(n)] + [str(x) for x in main] + [str(n - sum(main))])
    exp["captures"] = rows
    # Every example flow: where its first packet is, and the tshark filter that isolates it.
    ids = set(i for _, i in exp["examples"])
    ids |= set(i for (i,) in q("SELECT min(id) FROM flows WHERE 1%s GROUP BY handshake" % w))
    ids |= set(i for (i,) in q("SELECT min(id) FROM flows WHERE close_kind = 'rst'%s "
                               "GROUP BY %s" % (w, shown)))
    ids |= set(int(r[-1][1:]) for r in exp["top 5-tuples (TCP) by retransmitted FINs"][:TOP])
    exp[EX_TITLE] = [example_row(*r) for r in q(
        "SELECT f.id, close_kind, handshake, rst_cause, capture_id, first_packet, client_addr, "
        "client_port, server_addr, server_port, last_packet, c.source FROM flows f JOIN captures "
        "c ON c.id = f.capture_id WHERE f.id IN (%s) ORDER BY f.id" %
        ", ".join(str(i) for i in sorted(ids)))]
    exp["flows"] = total
    exp["ncaptures"] = q("SELECT count(*) FROM captures")[0][0]
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
        m = re.match(r"\s+\((\d+) more (\w+ )?not shown\)$", line)
        if m:
            more[cur + (" " + m.group(2).strip() if m.group(2) else "")] = int(m.group(1))
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
        # a src attribute (a tshark filter's "ip.src==" is text)
        ok = not re.search(r'[\s"\']src\s*=\s*["\']', text) if bad == "src=" else bad not in text or (bad == "http://" and
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
    check_colours(text, "html" + (" --capture %d" % cap if cap else ""))
    where = "html" + (" --capture %d" % cap if cap else "")
    by_title = {s["title"]: s for s in h.sections.values()}
    for title in [t for t in exp if isinstance(exp[t], list) and t != "examples"]:
        check(title in by_title, "%s: section %r missing" % (where, title))
        if title in by_title:
            got = by_title[title]["rows"]
            if title == EX_TITLE:  # the HTML adds the `finscope show DB ID` cell
                check(all(r[-1] == "finscope show %s %s" % (db, r[0]) for r in got),
                      "%s: examples' show commands" % where)
                got = [r[:-1] for r in got]
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

# Every token's colour, the same in every chart of every report (report.h's fixed map).
TOKEN_COLOUR = {
    "syn_sent": "#9ecae1", "syn_rcvd": "#5a6fbf", "established": "#3b7dd8",
    "fin_wait_1": "#f2b880", "fin_wait_2": "#e07b39", "close_wait": "#c2453d",
    "closing": "#8a63c9", "last_ack": "#d15b9c", "time_wait": "#c9a227", "unknown": "#9aa5b1",
    "four_way": "#3b7dd8", "three_way": "#4aa564", "two_way": "#2aa1a8",
    "simultaneous": "#8a63c9", "rst": "#e07b39", "half_closed": "#c2453d", "open": "#9ecae1",
    "refused": "#5a6fbf", "unanswered": "#c9a227", "fins_unproven": "#d15b9c",
    "simultaneous_open": "#8a63c9", "self_connect": "#2aa1a8", "aborted": "#e07b39",
    "none": "#7a8691", "abort": "#e07b39", "unread_data": "#c2453d",
    "data_after_close": "#d15b9c", "handshake": "#5a6fbf", "other": "#9aa5b1",
    "accept_overflow": "#c9a227", "client": "#3b7dd8", "server": "#e07b39",
}


def check_colours(text, where):
    """Each bar, histogram series and census band is in its token's colour (never its rank's),
    and no two tokens of one chart share a colour."""
    n = 0
    for kind, sid, body in re.findall(r'<svg class="(bars|hist|census)" id="([^"]+)"(.*?)</svg>',
                                      text, re.S):
        if kind == "bars":  # each bar's label, then the bar
            pairs = re.findall(r'<text[^>]*>([^<]*)</text><rect [^>]*fill="([^"]+)"', body)
        elif kind == "hist":
            pairs = [(t, f) for f, t in re.findall(r'fill="([^"]+)" data-series="([^"]+)"', body)]
        else:
            pairs = re.findall(r'data-state="([^"]+)" fill="([^"]+)"', body)
        seen = {}
        for label, fill in pairs:
            tok = html.unescape(label).split(" ")[0]
            check(fill == TOKEN_COLOUR.get(tok, "#b8c2cc"),
                  "%s: %s: %r drawn in %s" % (where, sid, label, fill))
            seen.setdefault(fill, set()).add(tok)
            n += 1
        check(all(len(t) == 1 for t in seen.values()),
              "%s: %s: tokens sharing a colour %r" % (where, sid, seen))
        if sid == "chart-close-wait-dwell":
            check([t for t, f in pairs[:2]] == ["server", "client"] and "server side" in body
                  and "client side" in body, "%s: CLOSE_WAIT histogram per side" % where)
    check(n > 30, "%s: %d coloured marks" % (where, n))


def check_tshark(db, pcap):
    """The display filter of an example of three kinds (both directions, a self-connect's one
    socket, a reset) selects exactly its flow's packets in tshark, when tshark is installed."""
    if not shutil.which("tshark"):
        print("tshark not installed: the examples' display filters are not run (Debian: tshark)")
        return
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    for kind in ("four_way", "two_way", "rst"):
        fid, ca, cp, sa, sp, first, last, n = con.execute(
            "SELECT id, client_addr, client_port, server_addr, server_port, first_packet, "
            "last_packet, client_packets + server_packets FROM flows WHERE close_kind = ? "
            "ORDER BY id LIMIT 1", (kind,)).fetchone()
        f = tshark_filter(ca, cp, sa, sp, first, last)
        p = subprocess.run(["tshark", "-r", pcap, "-Y", f, "-T", "fields", "-e", "frame.number"],
                           capture_output=True, text=True, timeout=120)
        frames = [int(x) for x in p.stdout.split()]
        check(p.returncode == 0 and frames and frames[0] == first and frames[-1] == last and
              len(frames) == n, "tshark -Y %r: frames %r, flow %d has %d packets, %d..%d" %
              (f, frames[:5], fid, n, first, last))
    con.close()


PART = 40  # frames per file of the rotated capture


def check_rotated(fsc, tmp):
    """A capture whose frames live -w rotated over several files (capture_files): each example
    names the file holding its first packet, and its filter, with that file's frame numbers,
    selects in that file exactly the flow's packets the file holds."""
    if not shutil.which("tshark") or not shutil.which("editcap"):
        print("tshark/editcap not installed: the rotated examples are not run (Debian: tshark)")
        return
    whole = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "captures",
                         "ns_census.server.pcap")
    db = os.path.join(tmp, "rotated.db")
    p = run(fsc, "analyze", "-q", "-o", db, whole)
    check(p.returncode == 0, "analyze for rotation: %s" % p.stderr)
    subprocess.run(["editcap", "-c", str(PART), whole, os.path.join(tmp, "part.pcap")],
                   check=True)
    parts = sorted(f for f in os.listdir(tmp) if f.startswith("part"))
    check(len(parts) == 7, "editcap -c 40 cut 255 frames in 7 files: %r" % parts)
    con = sqlite3.connect(db)
    con.execute("UPDATE captures SET source = 'live:lo'")
    con.execute("DELETE FROM capture_files")
    for k, name in enumerate(parts):
        con.execute("INSERT INTO capture_files (capture_id, file_no, path, first_frame, "
                    "last_frame) VALUES (1, ?, ?, ?, ?)", (k + 1, os.path.join(tmp, name),
                                                           PART * k + 1, min(PART * k + PART, 255)))
    con.commit()
    j = json.loads(run(fsc, "report", db, "--json").stdout)
    files = set()
    for ex in j["examples"]:
        fid, first, last = ex["flow"], ex["first_frame"], ex["last_frame"]
        k = (first - 1) // PART
        want_file = os.path.join(tmp, parts[k])
        files.add(want_file)
        check(ex["file"] == want_file, "rotated: flow %s (frame %d) is in %s, not %r" %
              (fid, first, want_file, ex["file"]))
        ca, cp, sa, sp = con.execute("SELECT client_addr, client_port, server_addr, server_port "
                                     "FROM flows WHERE id = ?", (fid,)).fetchone()
        # The flow's packets in that file: the global filter on the whole capture, limited to
        # the file's frames, renumbered as the file numbers them.
        q = subprocess.run(["tshark", "-r", whole, "-Y", tshark_filter(ca, cp, sa, sp, first, last),
                            "-T", "fields", "-e", "frame.number"],
                           capture_output=True, text=True, timeout=120)
        want = [int(x) - PART * k for x in q.stdout.split() if (int(x) - 1) // PART == k]
        q = subprocess.run(["tshark", "-r", ex["file"], "-Y", ex["tshark"], "-T", "fields",
                            "-e", "frame.number"], capture_output=True, text=True, timeout=120)
        got = [int(x) for x in q.stdout.split()]
        check(q.returncode == 0 and got and got == want,
              "rotated: flow %s's filter %r in %s: frames %r, want %r" %
              (fid, ex["tshark"], ex["file"], got[:6], want[:6]))
    check(len(files) >= 2, "rotated: examples in at least two files: %r" % files)
    con.close()


# ---- report --json: the same numbers as the text report, and as SQL ----

JSON_SECTIONS = {
    "captures": ("captures", ["capture", "source", "packets", "flows"] + list(CAPTURE_KINDS) +
                 ["other"]),
    "close_kinds": ("close kinds", ["close_kind", "flows", "pct", "example_flow"]),
    "handshakes": ("handshakes", ["handshake", "flows", "pct", "example_flow"]),
    "rst_causes": (RST_TITLE, ["shown", "flows", "pct", "example_flow"]),
    "closers": ("who closes first, by server port",
                ["shown", "flows", "client", "client_pct", "server", "server_pct", "both",
                 "both_pct", "other"]),
    "close_wait_suspects": ("servers with connections stuck in CLOSE_WAIT (close_wait_suspects)",
                            ["capture", "server", "port", "flows", "median_s", "max_s"]),
    "close_wait_dwell": (CW_TITLE, ["dwell", "server_side", "server_side_pct", "client_side",
                                    "client_side_pct"]),
    "fin_wait_2_dwell": (FW2_TITLE, ["dwell", "flows", "pct"]),
    "fin_retrans": ("top 5-tuples (TCP) by retransmitted FINs",
                    ["capture", "client", "server", "fin_retrans", "flows", "first_flow"]),
    "sockets_per_host": ("sockets per host in each TCP state (the 10 busiest, by their peak of "
                         "any state, as finscope states)",
                         ["host", "state", "at_end", "peak", "peak_at", "peak_at_s"]),
    "close_wait_leaks": ("CLOSE_WAIT leak suspects: servers whose CLOSE_WAIT count keeps growing",
                         ["server", "capture", "at_25", "at_50", "at_75", "at_end", "peak",
                          "peak_at", "peak_at_s"]),
    "time_wait_pressure": ("TIME_WAIT pressure per client -> server:port (peak against Linux's "
                           "28,232 ephemeral ports)",
                           ["client_to_server", "capture", "peak", "pct_of_ports", "peak_at",
                            "peak_at_s"]),
    "examples": (EX_TITLE, ["flow", "close_kind", "handshake", "rst_cause", "where", "client",
                            "server", "file", "tshark"]),
}
# Keys whose values are JSON numbers (or null), and how the text report prints them.
JSON_DEC = {"pct": 1, "client_pct": 1, "server_pct": 1, "both_pct": 1, "server_side_pct": 1,
            "client_side_pct": 1, "pct_of_ports": 1, "median_s": 3, "max_s": 3, "peak_at_s": 6}
JSON_INT = {"capture", "packets", "flows", "other", "example_flow", "client", "server", "both",
            "server_side", "client_side", "port", "fin_retrans", "first_flow", "at_end", "peak",
            "at_25", "at_50", "at_75", "flow", "server_port", "ports", "proven", "first_frame",
            "last_frame"} | set(CAPTURE_KINDS)
JSON_TEXT_KEYS = {"client", "server"}  # text in the 5-tuple, suspects and examples sections
PCT_KEYS = {k for k, d in JSON_DEC.items() if d == 1}
FLOW_KEYS = {"example_flow", "first_flow", "flow"}


def json_as_text(sec, key, v):
    """A JSON value as the text report prints it (escaped for a terminal)."""
    if v is None:
        return "-"
    if isinstance(v, str):
        return esc_term(v)
    s = "%.*f" % (JSON_DEC[key], v) if key in JSON_DEC else "%d" % v
    return ("#" if key in FLOW_KEYS else "") + s + ("%" if key in PCT_KEYS else "")


def json_typed(sec, key, v):
    """Numbers are JSON numbers (never strings, never booleans); text is text."""
    text = key in ("shown", "source", "host", "state", "peak_at", "dwell", "where", "tshark", "file",
                   "close_kind", "handshake", "rst_cause", "client_to_server") or \
        (key in JSON_TEXT_KEYS and sec in ("close_wait_suspects", "fin_retrans", "examples",
                                           "close_wait_leaks"))
    if key == "server" and sec == "close_wait_leaks":
        text = True
    if v is None:
        return key in ("median_s", "max_s", "rst_cause", "server_port", "last_frame", "proven")
    if text:
        return isinstance(v, str)
    if key in JSON_DEC:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, int) and not isinstance(v, bool)


def check_json(fsc, db, exp, secs, more, where, cap=None):
    """report --json parses, every section holds every row of exp (SQL) and its first rows
    equal the text report's (secs), every number is a JSON number."""
    p = run(fsc, "report", db, "--json", *(["--capture", str(cap)] if cap else []))
    check(p.returncode == 0, "%s: report --json: %s" % (where, p.stderr))
    try:
        doc = json.loads(p.stdout)
    except ValueError as e:
        check(False, "%s: report --json is not JSON: %s" % (where, e))
        return None
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    w = "" if cap is None else " WHERE capture_id = %d" % cap
    ov = doc.get("overview", {})
    check(ov.get("flows") == con.execute("SELECT count(*) FROM flows" + w).fetchone()[0] and
          ov.get("capture") == cap and ov.get("database") == db,
          "%s: json overview %r" % (where, ov))
    ncap = con.execute("SELECT count(*) FROM captures" +
                       w.replace("capture_id", "id")).fetchone()[0]
    check(ov.get("captures") == ncap, "%s: json overview captures %r" % (where, ov))
    con.close()
    check(list(doc) == ["overview"] + [k for k in JSON_SECTIONS if k != "examples"][:10] +
          ["hosts_not_shown"] * (doc.get("hosts_not_shown") is not None) +
          ["close_wait_leaks", "time_wait_pressure", "examples"],
          "%s: json keys %r" % (where, list(doc)))
    for sec, (title, keys) in JSON_SECTIONS.items():
        rows = doc.get(sec)
        check(isinstance(rows, list), "%s: json %s missing" % (where, sec))
        if not isinstance(rows, list):
            continue
        shown = [k for k in keys if k != "capture" or ncap > 1 or sec not in (
            "close_wait_suspects", "fin_retrans")]
        as_text = [[json_as_text(sec, k, r.get(k)) for k in shown] for r in rows]
        for r in rows:
            for k, v in r.items():
                check(json_typed(sec, k, v), "%s: json %s.%s = %r: wrong type" % (where, sec,
                                                                                  k, v))
        text = secs.get(title, [])
        check(as_text[:len(text)] == text and
              (len(rows) - len(text) == more.get(title, 0) or sec == "sockets_per_host"),
              "%s: json %s != text: %r vs %r" % (where, sec, as_text[:3], text[:3]))
        if title in exp and isinstance(exp[title], list):
            check(as_text == esc_rows(exp[title]), "%s: json %s != SQL: %r vs %r" %
                  (where, sec, as_text[:3], exp[title][:3]))
    check(doc.get("hosts_not_shown", 0) == more.get(JSON_SECTIONS["sockets_per_host"][0] +
                                                    " hosts", 0),
          "%s: json hosts_not_shown %r" % (where, doc.get("hosts_not_shown")))
    # the JSON-only fields
    for r in doc.get("closers", []):
        ok = (r["server_port"] is None and r["ports"] == exp.get("ports once") and
              r["shown"].startswith("other ports (%d," % r["ports"])) or \
            (r["ports"] == 1 and str(r["server_port"]) == r["shown"])
        check(ok, "%s: json closers row %r" % (where, r))
    for r in doc.get("rst_causes", []):
        check(r["shown"] == r["rst_cause"] + {1: "", 0: " (likely)", None: " (not judged)"}[
            r["proven"]], "%s: json rst cause %r" % (where, r))
    for r in doc.get("examples", []):
        check(r["where"] == "%d:%d" % (r["capture"], r["first_frame"]) and
              r["tshark"].endswith("frame.number>=%d && frame.number<=%d" % (
                  r["first_frame"], r["last_frame"])) and r["last_frame"] >= r["first_frame"],
              "%s: json example %r" % (where, r))
    return doc

# ---- the census sections: sockets per host, CLOSE_WAIT leak suspects, TIME_WAIT pressure ----
#
# Every interval is computed here from flows and captures by census.h's rules (the kernel's
# default lifetimes), counted here, and compared with the report and with `finscope states`.

HOSTS_TITLE = ("sockets per host in each TCP state (the 10 busiest, by their peak of any state, "
               "as finscope states)")
LEAKS_TITLE = "CLOSE_WAIT leak suspects: servers whose CLOSE_WAIT count keeps growing"
TW_TITLE = ("TIME_WAIT pressure per client -> server:port (peak against Linux's 28,232 "
            "ephemeral ports)")
CENSUS_IDS = {HOSTS_TITLE: "sockets-per-host", LEAKS_TITLE: "close-wait-leaks",
              TW_TITLE: "time-wait-pressure"}
STATES = ["syn_sent", "syn_rcvd", "established", "fin_wait_1", "fin_wait_2", "close_wait",
          "closing", "last_ack", "time_wait", "unknown"]
EPHEMERAL_PORTS = 28232
HOSTS_SHOWN, HOSTS_CHARTED, NSAMPLES = 10, 4, 100
T0 = 1767225600  # the crafted captures' first packet: 2026-01-01 00:00:00 UTC
DAY = 86400
HOSTILE = "<b>10.6.6.6\x1b[2J\u202e"


def esc_term(s):
    """fsc_esc_term: a backslash doubled; each UTF-8 byte of a control character, DEL, a C1
    control or a bidi/line format character as \\xHH."""
    bad = lambda c: (ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f or c in "\u200e\u200f" or
                     0x2028 <= ord(c) <= 0x202e or 0x2066 <= ord(c) <= 0x2069)
    return "".join("\\\\" if c == "\\" else
                   "".join("\\x%02x" % b for b in c.encode()) if bad(c) else c for c in s)


def esc_rows(rows):
    return [[esc_term(c) for c in r] for r in rows]
CHAR_W = 7       # px per character of the 12 px chart font, generously


def ep(a, p):
    return ("[%s]:%d" if ":" in a else "%s:%d") % (a, p)


def usec(x):
    """SQLite's CAST(round(x * 1e6) AS INTEGER) for the census's times (round: half away from
    zero), kept within +-2^56 as the census reads them."""
    t = int(math.floor(abs(x) * 1e6 + 0.5)) * (1 if x >= 0 else -1)
    return max(-(1 << 56), min(1 << 56, t))


def number(v):
    return isinstance(v, (int, float))  # JSON true and false read as 1 and 0 in SQLite too


def census_intervals(db, cap=None):
    """The state intervals of census.h, computed here from flows and held_flows: (capture,
    host, port, peer, peer_port, endpoint, state, from_us, until_us, closed end, held at the
    capture's end); the first packet of the selected captures and each capture's (first, last)
    packet, in microseconds."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    caps = {i: (f, l) for i, f, l in con.execute("SELECT id, first_ts, last_ts FROM captures")}
    cols = "capture_id, client_addr, client_port, server_addr, server_port, first_ts, last_ts"
    flows = con.execute("SELECT id, %s, closer, closer_call, transition_log, segment_log FROM "
                        "flows UNION ALL SELECT -id, %s, NULL, NULL, transition_log, '[]' FROM "
                        "held_flows" % (cols, cols)).fetchall()
    tokens = {(k, c): n for k, c, n in con.execute("SELECT kind, code, name FROM tokens")}
    con.close()
    reuse, sockets = {}, {}
    for f in flows:  # a new connection on the same 4-tuple, either way round, ends the last
        a, b = "%s %s" % (f[2], f[3]), "%s %s" % (f[4], f[5])
        sockets.setdefault((f[1], min(a, b), max(a, b)), []).append(f)
    for same in sockets.values():
        same.sort(key=lambda f: (f[6], f[0]))
        for x, y in zip(same, same[1:]):
            reuse[x[0]] = y[6]
    big, out = 9e18, []
    for fid, c, ca, cp, sa, sp, first, last, closer, call, log, segs in flows:
        if cap is not None and c != cap:
            continue
        cap_end = caps[c][1] if caps.get(c, (None, None))[1] is not None else last
        try:
            segs = json.loads(segs)
        except ValueError:
            segs = []
        try:
            log = logcodec.decode(json.loads(log), round(first * 1e6), segs, tokens)
        except ValueError:
            continue
        r = reuse.get(fid, big)
        for j in log if isinstance(log, list) else []:
            if (not isinstance(j, list) or len(j) < 4 or j[0] not in ("client", "server") or
                    j[2] not in STATES or not number(j[3])):
                continue
            who, state, frm = j[0], j[2], j[3] / 1e6
            nxt = (j[3] + j[6]) / 1e6 if len(j) > 6 and number(j[6]) else None
            life = None
            if state == "time_wait" or (state == "fin_wait_2" and call == "close" and
                                        closer == who):
                life = frm + 60.0
            idle = last + 300.0 if nxt is None and life is None else None
            e = min(v for v in (nxt, life, idle, r, big) if v is not None)
            side = (ca, cp, sa, sp) if who == "client" else (sa, sp, ca, cp)
            if frm <= e:
                out.append((c,) + side + (who, state, usec(frm), usec(e), False,
                                          frm <= cap_end < e))
            if e == idle and frm <= idle <= cap_end and r >= idle:
                out.append((c,) + side + (who, "unknown", usec(idle), usec(min(r, cap_end)),
                                          r > cap_end, r > cap_end))
    sel = [v for k, v in caps.items() if cap is None or k == cap]
    start = usec(min(f for f, l in sel)) if sel else 0
    spans = {k: (usec(f), usec(l)) for k, (f, l) in caps.items() if f is not None}
    return out, start, spans


class Pair:
    """One (key, state) of a census: its intervals (from, until, closed end, held at their
    capture's end), counted here."""

    def __init__(self, ivs):
        self.froms = sorted(f for f, u, closed, held in ivs)
        self.ends = sorted(u for f, u, closed, held in ivs if not closed)
        self.closed = sorted(u for f, u, closed, held in ivs if closed)
        self.peak, self.peak_at = 0, None
        for t in sorted(set(self.froms)):  # a count rises only where an interval starts
            n = self.at(t)
            if n > self.peak:
                self.peak, self.peak_at = n, t

    def at(self, t):
        """Intervals with from <= t < until, and those whose end is their capture's last packet
        (closed end) with until == t."""
        return (bisect.bisect_right(self.froms, t) - bisect.bisect_right(self.ends, t) -
                bisect.bisect_left(self.closed, t))


def census(ivs, key):
    """[(key, {state: Pair})] busiest key first (its highest peak, then its text)."""
    by = {}
    for iv in ivs:
        k = key(iv)
        if k is not None:
            by.setdefault(k, {}).setdefault(iv[6], []).append(iv[7:11])
    keys = {k: {s: Pair(v) for s, v in st.items()} for k, st in by.items()}
    return sorted(keys.items(), key=lambda kv: (-max(p.peak for p in kv[1].values()), kv[0]))


def when(t, start):
    day = datetime.datetime.fromtimestamp(t // 1000000, datetime.timezone.utc)
    return [day.strftime("%Y-%m-%d %H:%M:%S") + ".%06d" % (t % 1000000),
            "%.6f" % ((t - start) / 1e6)]


def expected_census(db, cap=None):
    """The three sections' rows as the text report shows them, the hosts left out, and the
    busiest hosts' pairs (for the charts)."""
    ivs, start, spans = census_intervals(db, cap)
    hosts = [(h, st) for h, st in census(ivs, lambda iv: iv[1])
             if max(p.peak for p in st.values()) > 0]
    exp = {"hidden": max(0, len(hosts) - HOSTS_SHOWN), "hosts": hosts[:HOSTS_CHARTED],
           "start": start, "spans": spans}
    # at_end: the count at the last packet of the captures counted (finscope states)
    end = max((l for k, (f, l) in spans.items() if cap is None or k == cap), default=0)
    exp[HOSTS_TITLE] = [[h, s, str(st[s].at(end)), str(st[s].peak)] + when(st[s].peak_at, start)
                        for h, st in hosts[:HOSTS_SHOWN] for s in STATES
                        if s in st and st[s].peak > 0]
    leaks = census(ivs, lambda iv: "L %d %s" % (iv[0], ep(iv[1], iv[2]))
                   if iv[5] == "server" and iv[6] == "close_wait" else None)
    exp[LEAKS_TITLE], exp["flat"] = [], []
    for k, st in leaks:
        c, server = int(k.split(" ")[1]), k.split(" ", 2)[2]
        first, last = spans[c]
        n = [st["close_wait"].at(first + (last - first) * q // 4) for q in (1, 2, 3, 4)]
        p = st["close_wait"]
        if n == sorted(n) and n[3] > n[0] and n[3] >= 2:
            exp[LEAKS_TITLE].append([server, str(c)] + [str(x) for x in n] + [str(p.peak)] +
                                    when(p.peak_at, start))
        else:
            exp["flat"].append(server)
    tws = census(ivs, lambda iv: "T %d %s -> %s" % (iv[0], iv[1], ep(iv[3], iv[4]))
                 if iv[5] == "client" and iv[6] == "time_wait" else None)
    exp[TW_TITLE] = [[k.split(" ", 2)[2], k.split(" ")[1], str(st["time_wait"].peak),
                      "%.1f%%" % (100.0 * st["time_wait"].peak / EPHEMERAL_PORTS)] +
                     when(st["time_wait"].peak_at, start)
                     for k, st in tws if st["time_wait"].peak > 0]
    return exp


def states_json(fsc, db, cap=None):
    p = run(fsc, "states", db, "--json", *(["--capture", str(cap)] if cap else []))
    check(p.returncode == 0, "states --json: %s" % p.stderr)
    return json.loads(p.stdout or "[]")


def check_census_text(fsc, db, exp, where, cap=None):
    """The text report's three census sections equal exp; the hosts table equals states."""
    p = run(fsc, "report", db, *(["--capture", str(cap)] if cap else []))
    check(p.returncode == 0, "%s: report: %s" % (where, p.stderr))
    secs, more = parse_text(p.stdout)
    for title in (HOSTS_TITLE, LEAKS_TITLE, TW_TITLE):
        check(title in secs, "%s: section %r missing" % (where, title))
        shown = esc_rows(exp[title] if title == HOSTS_TITLE else exp[title][:TOP])
        check(secs.get(title) == shown, "%s: %r: got %r, computed %r" %
              (where, title, secs.get(title), shown))
        if title != HOSTS_TITLE and len(exp[title]) > TOP:
            check(more.get(title) == len(exp[title]) - TOP, "%s: %r more" % (where, title))
    check(more.get(HOSTS_TITLE + " hosts", 0) == exp["hidden"],
          "%s: %r more hosts not shown, computed %d" % (where, more.get(HOSTS_TITLE + " hosts"),
                                                       exp["hidden"]))
    # The same numbers as `finscope states --json` (its rows of the hosts shown).
    rows = states_json(fsc, db, cap)
    hosts = list(dict.fromkeys(r["host"] for r in rows))[:HOSTS_SHOWN]
    st = esc_rows([[r["host"], r["state"], str(r["at_end"]), str(r["peak"]), r["peak_at"],
                    "%.6f" % r["peak_at_s"]] for r in rows if r["host"] in hosts])
    check(secs.get(HOSTS_TITLE) == st, "%s: hosts table != finscope states: %r vs %r" %
          (where, secs.get(HOSTS_TITLE), st))
    check(len(set(r["host"] for r in rows)) - len(hosts) == exp["hidden"],
          "%s: states has %d hosts" % (where, len(set(r["host"] for r in rows))))
    return secs


class CensusSvg(html.parser.HTMLParser):
    """The census charts of a report: per <svg class="census">, its width, title, text labels
    (x, y, anchor, text), state areas (state, fill, d) and legend entries (state, fill, text)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.charts, self.svg, self.text, self.legend = [], None, None, None

    def handle_starttag(self, tag, a):
        a = dict(a)
        if tag == "svg" and a.get("class") == "census":
            self.svg = {"width": float(a["width"]), "texts": [], "areas": [], "legend": [],
                        "title": None}
            self.charts.append(self.svg)
        elif self.svg is None:
            return
        elif tag == "text":
            self.text = [float(a["x"]), float(a["y"]), a.get("text-anchor", "start"), ""]
        elif tag == "path" and a.get("class") == "area":
            self.svg["areas"].append((a["data-state"], a["fill"], a["d"]))
        elif tag == "g" and a.get("class") == "legend":
            self.legend = [a["data-state"], None, None]
        elif tag == "rect" and self.legend is not None:
            self.legend[1] = a["fill"]

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if self.svg is None:
            return
        if tag == "text" and self.text is not None:
            self.svg["texts"].append(tuple(self.text))
            if self.legend is not None:
                self.legend[2] = self.text[3]
            if self.svg["title"] is None:
                self.svg["title"] = self.text[3]
            self.text = None
        elif tag == "g" and self.legend is not None:
            self.svg["legend"].append(tuple(self.legend))
            self.legend = None
        elif tag == "svg":
            self.svg = None

    def handle_data(self, data):
        if self.text is not None:
            self.text[3] += data

    @staticmethod
    def of(path):
        svg = CensusSvg()
        svg.feed(open(path, encoding="utf-8").read())
        return svg.charts


def label_box(t):
    """A text label's box: width from its length, 12 px font (10 above the baseline, 3 below)."""
    x, y, anchor, s = t
    w = len(s) * CHAR_W
    left = x - w if anchor == "end" else x - w / 2 if anchor == "middle" else x
    return (left, y - 10, left + w, y + 3)


def overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def area_counts(d, top, plot_bottom, plot_h):
    """The counts a stacked band draws at each sample: its upper edge, then its lower edge back."""
    pts = [tuple(map(float, p.split())) for p in re.findall(r"[-0-9.]+ [-0-9.]+", d)]
    n = len(pts) // 2
    upper, lower = pts[:n], pts[n:][::-1]
    return [x for x, y in upper], [(lo[1] - up[1]) / plot_h * top for up, lo in zip(upper, lower)]


def check_census_html(fsc, db, path, exp, where, cap=None, exact_chart=False):
    """The HTML census sections equal the text ones, and each chart draws the census."""
    p = run(fsc, "report", db, "--html", path, *(["--capture", str(cap)] if cap else []))
    check(p.returncode == 0, "%s: report --html: %s" % (where, p.stderr))
    text = open(path, encoding="utf-8").read()
    h = HtmlReport()
    h.feed(text)
    for title, sid in CENSUS_IDS.items():
        sec = h.sections.get(sid)
        check(sec is not None and sec["title"] == title, "%s: section %s missing" % (where, sid))
        shown = esc_rows(exp[title] if title == HOSTS_TITLE else exp[title][:TOP])
        got = sec["rows"] if sec else None
        check(got == [[c.rstrip("%") for c in r] for r in shown],
              "%s: %s rows %r, computed %r" % (where, sid, got, shown))
    svg = CensusSvg()
    svg.feed(text)
    hosts = exp["hosts"]
    check(len(svg.charts) == min(HOSTS_CHARTED, len(hosts)),
          "%s: %d charts for %d hosts" % (where, len(svg.charts), len(hosts)))
    colour = {}
    for chart, (host, st) in zip(svg.charts, hosts):
        present = [s for s in STATES if s in st and st[s].peak > 0]
        check(chart["title"] == esc_term(host),
              "%s: chart title %r, host %r" % (where, chart["title"], host))
        areas = [a[0] for a in chart["areas"]]
        check(areas == present, "%s: %s: areas %r, states %r" % (where, host, areas, present))
        check([(l[0], l[2]) for l in chart["legend"]] == [(s, s) for s in present],
              "%s: %s: legend %r" % (where, host, chart["legend"]))
        for s, fill, _ in chart["areas"]:
            check(colour.setdefault(s, fill) == fill, "%s: %s has two colours" % (where, s))
        for s, fill, _ in chart["legend"]:
            check(colour.get(s) == fill, "%s: legend colour of %s" % (where, s))
        boxes = [label_box(t) for t in chart["texts"]]
        for i, a in enumerate(boxes):
            check(0 <= a[0] and a[2] <= chart["width"], "%s: %s: label %r outside the chart" %
                  (where, host, chart["texts"][i]))
            for j in range(i):
                check(not overlap(a, boxes[j]), "%s: %s: labels %r and %r overlap" %
                      (where, host, chart["texts"][i], chart["texts"][j]))
        labels = [t[3] for t in chart["texts"]]
        check("time (s from start)" in labels and "count of sockets" in labels,
              "%s: %s: axis titles missing" % (where, host))
        if exact_chart:
            check_chart_counts(chart, st, exp, where, host)
    check(len(set(colour.values())) == len(colour), "%s: two states share a colour" % where)
    return colour


def check_chart_counts(chart, st, exp, where, host):
    """The bands' heights are the census counts at the 100 instants over the host's capture,
    and the time labels stand where their seconds fall on the samples' axis."""
    ys = sorted({t for t in chart["texts"] if t[2] == "end" and re.match(r"^\d+$", t[3])},
                key=lambda t: t[1])
    top, y_top, y_zero = int(ys[0][3]), ys[0][1] - 4, ys[-1][1] - 4
    # The captures running at the host's highest peak (the first state of the highest).
    high = max((p for s, p in sorted(st.items(), key=lambda kv: STATES.index(kv[0]))),
               key=lambda p: p.peak)
    running = [sp for sp in exp["spans"].values() if sp[0] <= high.peak_at <= sp[1]]
    first, last = min(f for f, l in running), max(l for f, l in running)
    times = [first + (last - first) * k // (NSAMPLES - 1) for k in range(NSAMPLES)]
    for s, fill, d in chart["areas"]:
        xs, drawn = area_counts(d, top, y_zero, y_zero - y_top)
        check(len(drawn) == NSAMPLES, "%s: %s: %s has %d samples" % (where, host, s, len(drawn)))
        want = [st[s].at(t) for t in times]
        tol = 0.11 * top / (y_zero - y_top) + 1e-9  # coordinates are written to 0.1 px
        bad = [(k, w, g) for k, (w, g) in enumerate(zip(want, drawn)) if abs(w - g) > tol]
        check(not bad, "%s: %s: %s drawn %r" % (where, host, s, bad[:3]))
    x0, x1 = (first - exp["start"]) / 1e6, (last - exp["start"]) / 1e6
    for t in chart["texts"]:
        if t[2] == "middle" and re.match(r"^[0-9.]+$", t[3]):
            x = xs[0] + (float(t[3]) - x0) / (x1 - x0) * (xs[-1] - xs[0])
            check(abs(x - t[0]) < 0.2, "%s: %s: time label %r at %.1f, not %.1f" %
                  (where, host, t[3], t[0], x))


# A crafted database whose census is known by construction.

def tlog(events):
    """A transition_log from (endpoint, state entered, seconds after T0), in time order: each
    entry [endpoint, from, to, ts_us, packet, evidence, held_us], held_us how long the endpoint
    held the state, to its next transition (omitted on its last)."""
    ts = lambda s: T0 * 1000000 + int(round(s * 1e6))
    cur, out = {"client": "closed", "server": "listen"}, []
    for k, (who, to, s) in enumerate(events):
        out.append([who, cur[who], to, ts(s), k + 1, "initial"])
        cur[who] = to
    for k, e in enumerate(out):
        later = [f[3] for f in out[k + 1:] if f[0] == e[0]]
        if later:
            e.append(later[0] - e[3])
    return out


def tlog_json(log):
    """tlog's entries as schema 6 stores them (logcodec.py): times after the first."""
    return json.dumps([[logcodec.code(e[0], e[1], e[2]), e[3] - log[0][3], e[4]] + e[6:]
                       for e in log])


def close_events(c, server_closes):
    """A connection opened at c - 1 s; the client closes at c; the server answers its FIN at
    c + 0.01 (then CLOSE_WAIT) and, with server_closes = t, closes at t (LAST_ACK, CLOSED at
    t + 0.01, the client in TIME_WAIT then)."""
    ev = [("client", "syn_sent", c - 1), ("server", "syn_rcvd", c - 0.995),
          ("client", "established", c - 0.99), ("server", "established", c - 0.99),
          ("client", "fin_wait_1", c), ("server", "close_wait", c + 0.01),
          ("client", "fin_wait_2", c + 0.01)]
    if server_closes is not None:
        ev += [("server", "last_ack", server_closes), ("client", "time_wait", server_closes + 0.01),
               ("server", "closed", server_closes + 0.01)]
    return ev


def crafted_flows():
    """(capture, client, client port, server, server port, events) of every crafted connection,
    and what the census must find in them."""
    f = []
    # Capture 1.  Leaks (server CLOSE_WAIT held to the end): 1, 2, 3, 4 at 25/50/75/100 s.
    f += [(1, "10.3.0.%d" % k, 40000, "10.1.0.1", 8080, close_events(c, None))
          for k, c in enumerate((10, 30, 55, 80))]
    f += [(1, "10.3.1.%d" % k, 40000, "10.1.0.6", 5050, close_events(c, None))
          for k, c in enumerate((30, 60))]                    # 0, 1, 2, 2: growing
    f += [(1, "2001:db8::1:%d" % k, 40000, "2001:db8::7", 80, close_events(c, None))
          for k, c in enumerate((20, 40, 80))]                # 1, 2, 2, 3: growing
    # Not growing: falls (2, 2, 1, 1); flat (2, 2, 2, 2); one socket at the end (0, 0, 1, 1).
    f += [(1, "10.3.2.1", 40000, "10.1.0.2", 9090, close_events(10, 60)),
          (1, "10.3.2.2", 40000, "10.1.0.2", 9090, close_events(20, None))]
    f += [(1, "10.3.3.%d" % k, 40000, "10.1.0.4", 7070, close_events(c, None))
          for k, c in enumerate((5, 6))]
    f += [(1, "10.3.4.1", 40000, "10.1.0.5", 6060, close_events(60, None))]
    # Dips, then grows above where it started: 2, 1, 2, 3 (not growing either).
    f += [(1, "10.3.5.%d" % k, 40000, "10.1.0.8", 3030, close_events(c, end))
          for k, (c, end) in enumerate(((5, 40), (6, None), (60, None), (80, None)))]
    # TIME_WAIT pressure: 1500 client sockets from 10.2.0.1 to 10.1.0.3:443, entering TIME_WAIT
    # 20 ms apart from 30.01 s: all 1500 at once at 59.99 s, 1000 still there at the end.
    f += [(1, "10.2.0.1", 20000 + i, "10.1.0.3", 443, close_events(30 - 0.01 + i * 0.02, None)[:5]
           + [("server", "close_wait", 30 + i * 0.02 - 0.005), ("client", "fin_wait_2",
                                                                 30 + i * 0.02 - 0.005),
              ("server", "last_ack", 30 + i * 0.02), ("client", "time_wait", 30.01 + i * 0.02),
              ("server", "closed", 30.01 + i * 0.02)])
          for i in range(1500)]
    # Reuse: the same 4-tuple again at 40 s ends the first TIME_WAIT (20 s): peak 1, not 2.
    f += [(1, "10.2.0.9", 5555, "10.1.0.3", 443, close_events(19.9, 19.99)),
          (1, "10.2.0.9", 5555, "10.1.0.3", 443, close_events(41, 44.99))]
    # IPv6: three TIME_WAITs at 50, 51, 52 s.
    f += [(1, "2001:db8::9", 30000 + k, "2001:db8::3", 443, close_events(c - 0.5, c - 0.01))
          for k, c in enumerate((50, 51, 52))]
    # Capture 2, the same hours: the leaking server's address and port again, three CLOSE_WAITs
    # from 5 s to 40 s.  Added to capture 1's they would fall (4, 2, 3, 4).
    f += [(2, "10.4.0.%d" % k, 40000, "10.1.0.1", 8080, close_events(c, 40))
          for k, c in enumerate((5, 6, 7))]
    # A hostile server address (markup, a terminal escape, a bidi override) leaking 200 sockets:
    # listed, charted, and escaped everywhere.
    f += [(1, "10.3.6.%d" % (k % 250), 40000 + k, HOSTILE, 80, close_events(1 + k * 0.45, None))
          for k in range(200)]
    # Capture 3, a day later and 0.3 s long: 60 connections to 10.9.0.1:80 opened 4 ms apart
    # and held; its chart's time labels are long ("86400.05") and must still not overlap.
    f += [(3, "10.9.1.%d" % k, 40000, "10.9.0.1", 80,
           [("client", "syn_sent", DAY + 0.01 + k * 0.004),
            ("server", "syn_rcvd", DAY + 0.011 + k * 0.004),
            ("client", "established", DAY + 0.012 + k * 0.004),
            ("server", "established", DAY + 0.012 + k * 0.004)]) for k in range(60)]
    return f


def build_crafted(fsc, tmp):
    """A database analyzed from three small forged captures, its flows replaced by the crafted
    ones, captures 1 and 2 stretched to T0 .. T0 + 100 s, capture 3 a day later, 0.3 s long."""
    db = os.path.join(tmp, "crafted.db")
    for scen in ("four_way", "three_way_close", "half_close"):
        pcap = os.path.join(tmp, scen + ".pcap")
        run(fsc, "forge", scen, "-o", pcap)
        p = run(fsc, "analyze", "-q", "-o", db, pcap)
        check(p.returncode == 0, "analyze %s: %s" % (scen, p.stderr))
    con = sqlite3.connect(db)
    tmpl = dict(zip([d[0] for d in con.execute("SELECT * FROM flows LIMIT 1").description],
                    con.execute("SELECT * FROM flows LIMIT 1").fetchone()))
    del tmpl["id"]
    con.execute("DELETE FROM flows")
    con.execute("UPDATE captures SET first_ts = ?, last_ts = ? WHERE id < 3", (T0, T0 + 100.0))
    con.execute("UPDATE captures SET first_ts = ?, last_ts = ? WHERE id = 3",
                (T0 + DAY, T0 + DAY + 0.3))
    for cap, ca, cp, sa, sp, ev in crafted_flows():
        log = tlog(ev)
        row = dict(tmpl, capture_id=cap, ip_version=6 if ":" in ca else 4, client_addr=ca,
                   client_port=cp, server_addr=sa, server_port=sp,
                   first_ts=log[0][3] / 1e6, last_ts=log[-1][3] / 1e6,
                   duration_s=(log[-1][3] - log[0][3]) / 1e6, closer="client",
                   closer_call="unknown", transition_log=tlog_json(log),
                   client_state=[e for e in log if e[0] == "client"][-1][2],
                   server_state=[e for e in log if e[0] == "server"][-1][2])
        con.execute("INSERT INTO flows (%s) VALUES (%s)" %
                    (", ".join(row), ", ".join("?" * len(row))), list(row.values()))
    con.commit()
    con.close()
    return db


def check_crafted(fsc, tmp):
    db = build_crafted(fsc, tmp)
    exp = expected_census(db)
    utc = lambda s: when(T0 * 1000000 + int(round(s * 1e6)), T0 * 1000000)
    # What the construction says, before comparing with finscope.
    check(exp[LEAKS_TITLE] == [
        [HOSTILE + ":80", "1", "54", "109", "165", "200", "200"] + utc(90.56),
        ["10.1.0.1:8080", "1", "1", "2", "3", "4", "4"] + utc(80.01),
        ["[2001:db8::7]:80", "1", "1", "2", "2", "3", "3"] + utc(80.01),
        ["10.1.0.6:5050", "1", "0", "1", "2", "2", "2"] + utc(60.01)],
        "crafted: leaks by construction: %r" % exp[LEAKS_TITLE])
    for flat in ("10.1.0.2:9090", "10.1.0.4:7070", "10.1.0.5:6060", "10.1.0.8:3030",
                 "10.1.0.1:8080"):
        check(flat in exp["flat"], "crafted: %s must not be growing" % flat)
    tw = exp[TW_TITLE]
    check(tw[0] == ["10.2.0.1 -> 10.1.0.3:443", "1", "1500", "5.3%"] + utc(59.99),
          "crafted: TIME_WAIT pressure %r" % tw[0])
    check(["2001:db8::9 -> [2001:db8::3]:443", "1", "3", "0.0%"] + utc(52) in tw,
          "crafted: IPv6 TIME_WAIT pressure")
    check(["10.2.0.9 -> 10.1.0.3:443", "1", "1", "0.0%"] + utc(20) in tw,
          "crafted: a reused 4-tuple ends TIME_WAIT")
    # at_end is the count at the last packet of the captures counted: the capture a day later
    # ends after every socket of the first day is gone (their 1000 TIME_WAITs, 4 CLOSE_WAITs)
    busiest = exp[HOSTS_TITLE]
    check(busiest[0][0] == "10.2.0.1" and
          ["10.2.0.1", "time_wait", "0", "1500"] + utc(59.99) in busiest,
          "crafted: busiest host %r" % busiest[:6])
    check(["10.1.0.1", "close_wait", "0", "5"] + utc(30.01) in busiest,
          "crafted: 10.1.0.1 holds 5 CLOSE_WAIT over both captures at 30.01 s")
    # capture 1 alone ends at T0 + 100 s: 1000 of the 1500 TIME_WAITs are still held then
    first = expected_census(db, 1)[HOSTS_TITLE]
    check(["10.2.0.1", "time_wait", "1000", "1500"] + utc(59.99) in first,
          "crafted: --capture 1: 1000 TIME_WAIT held at its end %r" % first[:6])
    res = subprocess.run([fsc, "states", db, "--capture", "1", "--host", "10.2.0.1",
                          "--state", "time_wait", "--json"], capture_output=True, text=True)
    got = json.loads(res.stdout) if res.returncode == 0 else res.stderr
    check(isinstance(got, list) and [(r["at_end"], r["peak"]) for r in got] == [(1000, 1500)],
          "crafted: states --capture 1: at_end 1000, peak 1500: %r" % got)

    out = check_census_text(fsc, db, exp, "crafted")
    html_path = os.path.join(tmp, "crafted.html")
    check_census_html(fsc, db, html_path, exp, "crafted html", exact_chart=True)
    raw = open(html_path, "rb").read()
    check(b"\x1b" not in raw and b"<b>10.6" not in raw and "\u202e".encode() not in raw and
          b"&lt;b&gt;10.6.6.6\\x1b[2J\\xe2\\x80\\xae" in raw,
          "crafted html: the hostile address is escaped")
    check(esc_term(HOSTILE) + ":80" in out[LEAKS_TITLE][0] and
          esc_term(HOSTILE) in [r[0] for r in out[HOSTS_TITLE]],
          "crafted text: the hostile address is escaped")
    titles = [c["title"] for c in CensusSvg.of(html_path)]
    check(titles[:3] == ["10.2.0.1", esc_term(HOSTILE), "10.9.0.1"],
          "crafted: charts of %r" % titles)
    for cap in (1, 2, 3):
        e = expected_census(db, cap)
        check_census_text(fsc, db, e, "crafted --capture %d" % cap, cap)
    check(expected_census(db, 2)[LEAKS_TITLE] == [], "crafted: capture 2 has no leak")
    # Hostile values reach JSON intact and escaped: markup, a terminal escape and a bidi
    # override in an address and a capture's source, a port stored as text.
    con = sqlite3.connect(db)
    con.execute("UPDATE captures SET source = ? WHERE id = 2", (HOSTILE + '"\\',))
    con.execute("UPDATE flows SET server_port = 'x\"y', fin_retrans = 3 WHERE id = "
                "(SELECT min(id) FROM flows WHERE capture_id = 2)")
    con.commit()
    con.close()
    p = run(fsc, "report", db, "--json")
    check(p.returncode == 0 and "\x1b" not in p.stdout and "\\u001b" in p.stdout,
          "crafted json: control characters escaped")
    doc = json.loads(p.stdout) if p.returncode == 0 else {}
    check([r["source"] for r in doc.get("captures", [])][1:2] == [HOSTILE + '"\\'],
          "crafted json: the hostile source round-trips")
    check(HOSTILE + ":80" in [r["server"] for r in doc.get("close_wait_leaks", [])],
          "crafted json: the hostile address round-trips")
    fr = [r for r in doc.get("fin_retrans", []) if r["capture"] == 2]
    check(len(fr) == 1 and fr[0]["server"].endswith(':x"y') and fr[0]["fin_retrans"] == 3,
          "crafted json: a text port stays text %r" % fr)
    ex = [r for r in doc.get("examples", []) if r["flow"] == (fr[0]["first_flow"] if fr else 0)]
    check(len(ex) == 1 and ex[0]["tshark"] == "-",
          "crafted json: no display filter for a port that is not one: %r" % ex)
    p = run(fsc, "report", db)
    check(p.returncode == 0 and esc_term(HOSTILE) in p.stdout and "\x1b" not in p.stdout,
          "crafted text: the hostile source escaped")


def check_census_mix(fsc, db, tmp, cap=None):
    """The forged mix: the three sections equal the census computed here and finscope states."""
    exp = expected_census(db, cap)
    where = "mix" + (" --capture %d" % cap if cap else "")
    check(len(exp[HOSTS_TITLE]) > 10 and exp["hidden"] > 0 and exp[TW_TITLE],
          "%s: the mix should fill the census sections" % where)
    check_census_text(fsc, db, exp, where, cap)
    check_census_html(fsc, db, os.path.join(tmp, "census-%s.html" % cap), exp, where + " html",
                      cap)


def check_sofar(fsc, tmp):
    """A server still in CLOSE_WAIT at the capture's end, entered at its last packet: its time so
    far is 0.000 s, a lower bound, shown "<0.001" (never "median 0.000"); JSON keeps the number."""
    pcap = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "captures",
                        "lo_half_closed.pcap")
    db = os.path.join(tmp, "sofar.db")
    p = run(fsc, "analyze", "-q", "-o", db, pcap)
    check(p.returncode == 0, "analyze lo_half_closed: %s" % p.stderr)
    secs, _ = parse_text(run(fsc, "report", db).stdout)
    rows = secs.get("servers with connections stuck in CLOSE_WAIT (close_wait_suspects)")
    check(rows == [["127.0.0.1", "47149", "1", "<0.001", "<0.001"]],
          "lo_half_closed: suspect so far %r" % rows)
    j = json.loads(run(fsc, "report", db, "--json").stdout)
    check([(r["median_s"], r["max_s"]) for r in j["close_wait_suspects"]] == [(0.0, 0.0)],
          "lo_half_closed: JSON keeps 0.0: %r" % j["close_wait_suspects"])
    html = run(fsc, "report", db, "--html", "-").stdout
    check("<td class=\"n\">&lt;0.001</td>" in html and "median s so far" in html,
          "lo_half_closed: HTML shows <0.001")
    # A second capture recorded days later: per-capture rows count seconds from their own
    # capture's first packet, not from the database's.
    census = os.path.join(os.path.dirname(pcap), "ns_census.server.pcap")
    p = run(fsc, "analyze", "-q", "-o", db, census)
    check(p.returncode == 0, "analyze ns_census.server: %s" % p.stderr)
    con = sqlite3.connect(db)
    first = con.execute("SELECT first_ts FROM captures WHERE id = 2").fetchone()[0]
    con.close()
    j = json.loads(run(fsc, "report", db, "--json").stdout)
    tw = j["time_wait_pressure"]
    check(len(tw) == 1 and tw[0]["capture"] == 2, "ns_census: one TIME_WAIT pressure row: %r" % tw)
    for r in tw:
        utc = datetime.datetime.strptime(r["peak_at"], "%Y-%m-%d %H:%M:%S.%f").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        check(abs(r["peak_at_s"] - (utc - first)) < 2e-6 and r["peak_at_s"] < 60,
              "TIME_WAIT pressure: peak_at_s %r is from capture 2's first packet" % r)


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
        check(("%d capture" % exp["ncaptures"]) in first and (", %d flows" % exp["flows"]) in first,
              "text: first line %r" % first)
        secs, more = parse_text(p.stdout)
        for title in [t for t in exp if isinstance(exp[t], list) and t != "examples"]:
            check(title in secs, "text: section %r missing" % title)
            if title in secs:
                compare("text", title, secs[title], exp[title], more)
        for title in (CW_TITLE, FW2_TITLE):
            got = sum(int(r[k]) for r in secs.get(title, []) for k in (1, 3) if k < len(r))
            check(got == exp[title + " total"] and got > 0,
                  "text: %r buckets add up to %d, %d flows have a dwell" %
                  (title, got, exp[title + " total"]))
            check(len(secs.get(title, [])) == 7, "text: %r has not 7 buckets" % title)
        check(exp["servers with connections stuck in CLOSE_WAIT (close_wait_suspects)"] != [],
              "the mix should have CLOSE_WAIT suspects")
        check(len(exp["examples"]) >= 5, "the mix should have several close kinds")

        check_html(fsc, db, os.path.join(tmp, "r.html"), exp)
        check_census_mix(fsc, db, tmp)
        check_json(fsc, db, exp, secs, more, "json")
        check(exp["ports once"] > 0 and secs["who closes first, by server port"][-1][0] ==
              "other ports (%d, one connection each)" % exp["ports once"],
              "the mix's one-connection ports are one row")
        check([r[4] for r in secs[EX_TITLE]] and all(re.match(r"1:\d+$", r[4])
                                                      for r in secs[EX_TITLE]),
              "examples name capture:frame")
        check_tshark(db, pcap)

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
        check_json(fsc, db, exp1, secs, more, "json --capture 1", cap=1)
        check_census_mix(fsc, db, tmp, cap=1)
        check_census_mix(fsc, db, tmp, cap=2)
        check_census_mix(fsc, db, tmp)
        check_crafted(fsc, tmp)
        # The whole file again, now over two captures.
        exp = expected(db)
        secs, more = parse_text(run(fsc, "report", db).stdout)
        for title in [t for t in exp if isinstance(exp[t], list) and t != "examples"]:
            compare("text (2 captures)", title, secs.get(title), exp[title], more)
        check(len(exp["captures"]) == 2 and
              secs["top 5-tuples (TCP) by retransmitted FINs"][0][0] in ("1", "2"),
              "two captures: the per-capture table and a capture column")
        check_json(fsc, db, exp, secs, more, "json (2 captures)")
        check_html(fsc, db, os.path.join(tmp, "r2.html"), exp)

        check_sofar(fsc, tmp)
        check_rotated(fsc, tmp)

        # Errors and help.
        p = run(fsc, "report", db, "--capture", "99")
        check(p.returncode == 1 and "no capture" in p.stderr, "--capture 99: %r" % p.stderr)
        p = run(fsc, "report", os.path.join(tmp, "missing.db"))
        check(p.returncode == 1 and not os.path.exists(os.path.join(tmp, "missing.db")),
              "missing db must fail and not be created")
        p = run(fsc, "report", "--help")
        check(p.returncode == 0 and "examples:" in p.stdout and "--json" in p.stdout and
              "finscope report web.db --json" in p.stdout, "--help")
        p = run(fsc, "report", db, "--json", "--html", os.path.join(tmp, "both.html"))
        check(p.returncode == 2 and "not both" in p.stderr and
              not os.path.exists(os.path.join(tmp, "both.html")), "--json with --html: %r" %
              p.stderr)
        before = open(db, "rb").read()
        run(fsc, "report", db)
        check(open(db, "rb").read() == before, "report changed the database file")

    print("%d checks, %d failed" % (CHECKS, len(FAILS)))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
