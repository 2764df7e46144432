#!/usr/bin/env python3
"""check_hostile_db.py FINSCOPE: every command that reads a database survives hostile contents.

Issue 10, points 2, 4 and 5.  A small forged capture is analyzed, the schema's NOT NULL
constraints are dropped (writable_schema: what anyone can do to a file), and then, one column at
a time, the rows are given hostile values: NULL, text, blobs with control bytes, the int64
extremes, 1e308 and infinity, '', malformed or odd JSON in the JSON log columns.  Each row of a
column gets a different value, so one database per column exercises all of them.  On each
database every read command runs (show of every flow, with and without --svg, report and
report --html, export --zeek and --zeek --json, query as table, CSV and JSON, the
state_intervals view, states as summary, --at, --every and --json) and must:
exit 0 or 1 (never a signal, never a sanitizer report), say something on stderr when it fails,
write no raw control character to a terminal, and write well-formed SVG (xml.etree), HTML (a
strict tag-balance parse), conn.log lines of as many fields as #fields names, JSON that parses.

Then exact bytes: stored strings in conn.log follow Zeek's ASCII writer escaping, --json values
cannot add keys, and a capture whose file name holds ESC [31m, a newline, a tab, '<', '&' and
quotes shows escaped in query, report and the analyze summary.  And `states` once more on a
one-connection database whose time, address and log columns hold one hostile value on every
row (the census's arithmetic at the ends of the int64 microsecond range, empty selections).
"""
import csv
import html.parser
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

FSC = os.path.abspath(sys.argv[1])
FAILS = []
CHECKS = 0
POOL = ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1))
JSON_COLS = {"transition_log", "segment_log", "zeek_earlier"}
# The flows columns show reads (src/show.c, load_flow): only these can change what it draws, so
# only databases with one of them edited run show on every flow (it keeps the test fast enough
# for the sanitizer build).
SHOW_COLS = {"client_addr", "client_port", "server_addr", "server_port", "handshake",
             "close_kind", "rst_cause", "rst_cause_proven", "closer", "client_packets",
             "server_packets", "client_bytes", "server_bytes", "ip_version", "closer_call",
             "anomalies", "first_ts", "segment_log", "transition_log"}

VALUES = [None, "text", b"\x00\x1b[31m\xff", -9223372036854775808, 9223372036854775807, 1e308,
          float("inf"), -1e308, "", "-", "\x1b]0;title\x07\n\t<&\"'>", "\xc2\x9b31m", 0.5, -1]
JSON_VALUES = ["5", "[", "{\"a\": 1}", "\"str\"", "null", "[[1e999]]", "[\"x\", 3]",
               "[[null, null, null, null, null, null, null, null, null]]",
               "[" * 3000 + "]" * 3000,
               "[[\"client\", \"established\", \"close_wait\", 9e99, -1, \"\\u001b[2J\"]]",
               "[[9223372036854775807, 9223372036854775807, \"S0\", \"\\t\\n\", \"client\", "
               "-1, -1, 1e308, \"x\"]]",
               "[[\"client\", \"F.\", 9223372036854775807, -9223372036854775808, 1e308, "
               "-5, -9223372036854775808, 9223372036854775807]]",
               # schema 6's codes (store.h): out of every field's range, a reference to a
               # segment that is not there or not an array, and one that is a string
               "[[9223372036854775807, 9223372036854775807, 9223372036854775807, 1e308]]",
               "[[-9223372036854775808, -1, -1], [9, 99, 3], [9, -1], [9, 0.5], [9, \"0\"]]",
               "[[-1, 1e999], [1, [1]], [1, {}], [\"\\u001b[2J\", 1, 1, 1, 1, 1]]"]


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def run(*args, stdin=None):
    return subprocess.run([FSC, *args], capture_output=True, timeout=120, stdin=stdin)


def loosen(db):
    """Drop NOT NULL from the schema text, as a hostile file may."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA writable_schema = ON")
    con.execute("UPDATE sqlite_master SET sql = replace(sql, 'NOT NULL', '') WHERE type = 'table'")
    con.commit()
    con.close()


def terminal_clean(what, data):
    """No raw C0 control but LF, no DEL, no C1 control (as UTF-8 or as a lone byte)."""
    bad = [c for c in data if (c < 0x20 and c != 0x0a) or c == 0x7f]
    text = data.decode("utf-8", errors="replace")
    c1 = [c for c in text if 0x80 <= ord(c) <= 0x9f]
    check(not bad and not c1, "%s: raw control characters %r" % (what, (bad + c1)[:5]))


class StrictHTML(html.parser.HTMLParser):
    """Every element closed in order (void elements excepted), no raw control characters."""
    VOID = {"meta", "br", "img", "input", "link", "hr", "rect", "line", "path"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes <%s>" % (tag, self.stack[-1] if self.stack else None))
        else:
            self.stack.pop()


def html_ok(what, data):
    text = data.decode("utf-8")  # raises on invalid UTF-8: a failure below
    p = StrictHTML()
    p.feed(text)
    p.close()
    check(not p.errors and p.stack == [], "%s: HTML not well-formed: %r %r" % (what, p.errors[:3],
                                                                              p.stack[-3:]))
    terminal_clean(what + " (raw controls in HTML)", data.replace(b"\n", b" "))
    try:
        import html5lib  # used where Debian's python3-html5lib is installed
        html5lib.HTMLParser(strict=True).parse(text)
    except ImportError:
        pass
    except Exception as e:  # html5lib's ParseError
        check(False, "%s: html5lib: %s" % (what, e))


def svg_ok(what, data):
    try:
        root = ET.fromstring(data)
        check(root.tag == "{http://www.w3.org/2000/svg}svg", "%s: root %s" % (what, root.tag))
    except ET.ParseError as e:
        check(False, "%s: SVG not well-formed XML: %s" % (what, e))


def tsv_ok(what, data):
    nf = 21  # Zeek's columns; export --zeek adds finscope's, as its #fields line says
    for line in data.decode("utf-8").split("\n")[:-1]:
        if line.startswith("#fields\t"):
            nf = line.count("\t")
        if not line.startswith("#"):
            check(line.count("\t") == nf - 1, "%s: conn.log line of %d fields: %r" %
                  (what, line.count("\t") + 1, line[:200]))


def json_lines_ok(what, data):
    for line in data.decode("utf-8").splitlines():
        try:
            pairs = json.loads(line, object_pairs_hook=lambda p: p)
        except ValueError as e:
            check(False, "%s: JSON line does not parse: %s: %r" % (what, e, line[:200]))
            continue
        keys = [k for k, _ in pairs]
        check(len(keys) == len(set(keys)), "%s: duplicate JSON keys %r" % (what, keys))


def outcome(what, p):
    """Never a signal or a sanitizer report; a failure says why on stderr."""
    err = p.stderr.decode("utf-8", "replace")
    check(p.returncode in (0, 1), "%s: exit status %d: %s" % (what, p.returncode, err[-500:]))
    check("Sanitizer" not in err and "runtime error" not in err,
          "%s: sanitizer: %s" % (what, err[-2000:]))
    if p.returncode == 1:
        check(err.startswith("finscope"), "%s: failed without a message: %r" % (what, err[:200]))
    return p.returncode == 0


def csv_ok(what, data):
    check(b"\r\n" not in data.replace(b'"\r\n', b""), "%s: CSV with CRLF" % what)


def query_json_ok(what, data):
    try:
        json.loads(data.decode("utf-8"))
    except ValueError as e:
        check(False, "%s: does not parse: %s" % (what, e))


# FSC_TEST_SHOW_EVERY=K (the sanitizer pass of .ci/run): show only every K-th flow of a column's
# database, a different third per column, so every value is still drawn in some column; and
# states_whole_columns runs every K-th of its commands.
SHOW_EVERY = max(1, int(os.environ.get("FSC_TEST_SHOW_EVERY", "1")))


def read_everything(db, label, show=True, turn=0):
    """Every read command on db, with the checks above (show of every flow when show).  The
    commands run in parallel (two at a time per CPU), the checks afterwards in order."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    ids = [r[0] for r in con.execute("SELECT id FROM flows ORDER BY id")] if show else []
    con.close()
    ids = [fid for i, fid in enumerate(ids) if i % SHOW_EVERY == turn % SHOW_EVERY]
    jobs = []
    for fid in ids:
        jobs.append(("show %s" % fid, ("show", db, str(fid)), terminal_clean))
        jobs.append(("show %s --svg" % fid, ("show", db, str(fid), "--svg", "-"), svg_ok))
    jobs += [("report", ("report", db), terminal_clean),
             ("report --html", ("report", db, "--html", "-"), html_ok),
             ("export --zeek", ("export", "--zeek", db), tsv_ok),
             ("export --zeek --json", ("export", "--zeek", "--json", db), json_lines_ok),
             ("states", ("states", db), terminal_clean),
             ("states --at", ("states", db, "--at", "0.05"), terminal_clean),
             ("states --every", ("states", db, "--every", "0.25"), terminal_clean),
             ("states --json", ("states", db, "--json"), query_json_ok),
             ("states --every --json", ("states", db, "--every", "0.25", "--json"),
              query_json_ok)]
    for sql in ("SELECT * FROM captures; SELECT * FROM flows",
                "SELECT * FROM transitions; SELECT * FROM segments",
                "SELECT * FROM state_intervals"):
        jobs += [("query " + sql, ("query", db, sql), terminal_clean),
                 ("query --json " + sql, ("query", db, sql, "--json"), query_json_ok),
                 ("query --csv " + sql, ("query", db, sql, "--csv"), csv_ok)]
    results = POOL.map(lambda j: run(*j[1]), jobs)
    for (what, _, ok), p in zip(jobs, results):
        what = "%s: %s" % (label, what)
        if outcome(what, p):
            ok(what, p.stdout)


def hostile_columns(tmp, base):
    """One database per column: row i of the table gets value i (mod the list)."""
    con = sqlite3.connect(base)
    tables = {t: [r[1] for r in con.execute("PRAGMA table_info(%s)" % t)]
              for t in ("flows", "captures", "skipped", "tokens")}
    con.close()
    n = 0
    for table, cols in tables.items():
        for col in cols:
            if col == "id":
                continue  # INTEGER PRIMARY KEY: SQLite itself keeps it an integer
            db = os.path.join(tmp, "h.db")
            shutil.copy(base, db)
            con = sqlite3.connect(db)
            values = VALUES + (JSON_VALUES if col in JSON_COLS else [])
            # skipped and tokens are WITHOUT ROWID: their rows are named by their primary key.
            key = {"skipped": "capture_id || '/' || reason",
                   "tokens": "kind || '/' || code"}.get(table, "rowid")
            keys = [r[0] for r in con.execute("SELECT %s FROM %s" % (key, table))]
            for i, k in enumerate(keys):
                try:
                    con.execute("UPDATE %s SET %s = ? WHERE %s = ?" % (table, col, key),
                                (values[(i + n) % len(values)], k))
                except sqlite3.IntegrityError:
                    pass  # a duplicate primary key: that row keeps its value
            con.commit()
            con.close()
            shows = (table == "flows" and col in SHOW_COLS) or table == "tokens"
            read_everything(db, "%s.%s" % (table, col), shows, n)
            n += 1


# Logs whose times sit at the ends of the int64 microsecond range, or beyond it.
# Schema 6's codes (store.h): client closed -> syn_sent is 8, -> time_wait 40, -> established 16,
# server closed -> fin_wait_2 26, client closed -> state 15 (no name) 60; 9 refers to a segment.
STATES_LOGS = [
    "[[8, -9223372036854775808, 1]]",
    "[[40, 9223372036854775807, 1]]",
    "[[16, 0, 1, -9223372036854775808]]",
    "[[26, 1e300, 1, 1e308]]",
    "[[60, 0, 1], [\"\\u001b[2J\", 0, 1]]",
    "[[9, 0, 9223372036854775807], [9, 99], [9, -1, 1e308]]"]
STATES_COLS = [("captures", "first_ts"), ("captures", "last_ts"), ("flows", "first_ts"),
               ("flows", "last_ts"), ("flows", "client_addr"), ("flows", "closer_call"),
               ("flows", "transition_log")]


def states_whole_columns(tmp):
    """states on a one-connection database whose column holds one hostile value on every row:
    the census's times (capture span, flow ends, log times) at and beyond the int64
    microsecond range, an empty selection, hostile host names.  (The databases of
    hostile_columns mix values across 26 flows, so some sane ones are always left.)"""
    pcap, base = os.path.join(tmp, "one.pcap"), os.path.join(tmp, "one.db")
    check(run("forge", "four_way", "-o", pcap).returncode == 0, "forge four_way")
    check(run("analyze", "-q", "-o", base, pcap).returncode == 0, "analyze four_way")
    loosen(base)
    jobs, n = [], 0
    for table, col in STATES_COLS:
        values = VALUES + (JSON_VALUES + STATES_LOGS if col in JSON_COLS else [])
        for i, v in enumerate(values):
            n += 1
            db = os.path.join(tmp, "s_%s_%s_%d.db" % (table, col, i))
            shutil.copy(base, db)
            con = sqlite3.connect(db)
            con.execute("UPDATE %s SET %s = ?" % (table, col), (v,))
            con.commit()
            con.close()
            what = "states, every %s.%s = %r" % (table, col, v if len(repr(v)) < 80 else
                                                  repr(v)[:80] + "...")
            three = [(what, ("states", db), terminal_clean),
                     (what + " --at 0.05 --json", ("states", db, "--at", "0.05", "--json"),
                      query_json_ok),
                     (what + " --every 0.25 --json", ("states", db, "--every", "0.25", "--json"),
                      query_json_ok)]
            # FSC_TEST_SHOW_EVERY thins these too: with 3, one of the three per database, in turn.
            jobs += [j for k, j in enumerate(three) if (n + k) % SHOW_EVERY == 0]
    for (what, _, ok), p in zip(jobs, POOL.map(lambda j: run(*j[1]), jobs)):
        if outcome(what, p):
            ok(what, p.stdout)


def zeek_exact(tmp, base):
    """Point 4: Zeek's TSV escaping, and JSON values that cannot add keys."""
    db = os.path.join(tmp, "z.db")
    shutil.copy(base, db)
    con = sqlite3.connect(db)
    fid = con.execute("SELECT min(id) FROM flows WHERE zeek_conn_state IS NOT NULL").fetchone()[0]
    orig, addr = con.execute("SELECT zeek_orig, CASE zeek_orig WHEN 'client' THEN client_addr "
                             "ELSE server_addr END FROM flows WHERE id = ?", (fid,)).fetchone()
    evil = 'Sh\tx","id.orig_h":"6.6.6.6'
    con.execute("UPDATE flows SET zeek_history = ?, zeek_conn_state = ?, zeek_earlier = '[]' "
                "WHERE id = ?", (evil, "\\S\x1bF\n", fid))
    con.execute("UPDATE flows SET zeek_conn_state = '-', zeek_history = '', zeek_earlier = '[]' "
                "WHERE id = (SELECT min(id) FROM flows WHERE id > ? AND zeek_conn_state "
                "IS NOT NULL)", (fid,))
    con.execute("UPDATE flows SET zeek_history = '(empty)', zeek_earlier = '[]' WHERE id = "
                "(SELECT max(id) FROM flows WHERE zeek_conn_state IS NOT NULL)")
    con.commit()
    con.close()
    p = run("export", "--zeek", db)
    outcome("zeek exact", p)
    lines = [l.split(b"\t") for l in p.stdout.split(b"\n") if l and not l.startswith(b"#")]
    tsv_ok("zeek exact", p.stdout)
    hist = [l[15] if len(l) > 15 else b"" for l in lines]
    states = [l[11] if len(l) > 11 else b"" for l in lines]
    check(b'Sh\\x09x","id.orig_h":"6.6.6.6' in hist, "TSV: TAB in history is \\x09: %r" % hist)
    check(b"\\x5cS\\x1bF\\x0a" in states, "TSV: backslash, ESC, LF as \\xHH: %r" % states)
    check(b"\\x2d" in states, "TSV: a value '-' is \\x2d: %r" % states)
    check(b"(empty)" in hist, "TSV: '' is (empty): %r" % hist)
    check(b"\\x28empty)" in hist, "TSV: a value '(empty)' is \\x28empty): %r" % hist)
    p = run("export", "--zeek", "--json", db)
    outcome("zeek exact --json", p)
    json_lines_ok("zeek exact --json", p.stdout)
    recs = []
    for line in p.stdout.decode().splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:
            pass
    hit = [r for r in recs if r.get("history") == evil]
    check(len(hit) == 1, "JSON: the crafted history comes back as one string value")
    if hit:
        check(hit[0]["id.orig_h"] == addr and hit[0]["conn_state"] == "\\S\x1bF\n",
              "JSON: id.orig_h not overridden (%r, orig %s), conn_state exact %r" %
              (hit[0]["id.orig_h"], orig, hit[0]["conn_state"]))
    raw = [l for l in p.stdout.split(b"\n") if b"6.6.6.6" in l]
    check(raw and b'"history":"Sh\\u0009x\\",\\"id.orig_h\\":\\"6.6.6.6"' in raw[0],
          "JSON: exact bytes of the escaped history: %r" % raw[:1])


NAME = "\x1b[31mred\nline\ttab<&\"'.pcap"
NAME_TERM = b"\\x1b[31mred\\x0aline\\x09tab<&\"'.pcap"
NAME_HTML = b"\\x1b[31mred\\x0aline\\x09tab&lt;&amp;&quot;&#39;"


def hostile_file_name(tmp):
    """Point 5: a capture file and a database named with terminal escapes and markup."""
    pcap = os.path.join(tmp, NAME)
    db = os.path.join(tmp, NAME[:-5] + ".db")
    p = run("forge", "rst_unread_data", "-o", pcap)
    check(p.returncode == 0, "forge to a hostile file name: %r" % p.stderr)
    for what, args, want in (("analyze summary", ("analyze", "-o", db, pcap), NAME_TERM),
                             ("query table", ("query", db, "SELECT source FROM captures"),
                              NAME_TERM),
                             ("report", ("report", db), NAME_TERM[:-5]),
                             ("show", ("show", db, "1"), None)):
        p = run(*args)
        outcome(what + " (hostile name)", p)
        terminal_clean(what + " (hostile name)", p.stdout)
        check(want is None or want in p.stdout, "%s shows the name escaped: %r" %
              (what, p.stdout[:300]))
    p = run("query", db, "SELECT source FROM captures", "--json")
    check(json.loads(p.stdout)[0]["source"] == pcap, "query --json gives the name exactly")
    p = run("query", db, "SELECT source FROM captures", "--csv")
    rows = list(csv.reader(io.StringIO(p.stdout.decode(), newline="")))
    check(rows == [["source"], [pcap]], "query --csv gives the name exactly: %r" % rows)
    check(not p.stdout.endswith(b"\r\n") and p.stdout.endswith(b"\n"), "CSV ends lines with LF")
    p = run("report", db, "--html", "-")
    outcome("report --html (hostile name)", p)
    html_ok("report --html (hostile name)", p.stdout)
    check(NAME_HTML in p.stdout, "report --html shows the name escaped: %r" % p.stdout[:600])
    # Stored strings in the ladder too: evidence (a token's name, store.h) and addresses.
    con = sqlite3.connect(db)
    con.execute("UPDATE flows SET client_addr = ?", ("<&\x1b",))
    con.execute("UPDATE tokens SET name = ? WHERE kind = 'evidence' AND code = "
                "(SELECT (transition_log ->> '$[0][0]') >> 10 FROM flows WHERE id = 1)",
                ("ev\x1b[2J<svg>&",))
    con.commit()
    con.close()
    p = run("show", db, "1")
    outcome("show (hostile strings)", p)
    terminal_clean("show (hostile strings)", p.stdout)
    check(b"<&\\x1b:40000" in p.stdout and b"ev\\x1b[2J<svg>&" in p.stdout,
          "show escapes the address and evidence: %r" % p.stdout[:400])
    p = run("show", db, "1", "--svg", "-")
    outcome("show --svg (hostile strings)", p)
    svg_ok("show --svg (hostile strings)", p.stdout)
    check(b"&lt;&amp;\\x1b:40000" in p.stdout and b"ev\\x1b[2J&lt;svg&gt;&amp;" in p.stdout,
          "show --svg escapes as markup: %r" % p.stdout[:300])


def main():
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base.db")
        # 26 flows: every value of the longest list (JSON columns) lands on a row.
        for k, (flows, seed) in enumerate(((16, 5), (6, 8), (4, 2))):
            pcap = os.path.join(tmp, "mix%d.pcap" % k)
            p = run("forge", "mix", "--flows", str(flows), "--seed", str(seed), "-o", pcap)
            check(p.returncode == 0, "forge mix: %r" % p.stderr)
            p = run("analyze", "-q", "-o", base, pcap)
            check(p.returncode == 0, "analyze: %r" % p.stderr)
        zeek_exact(tmp, base)
        hostile_file_name(tmp)
        states_whole_columns(tmp)
        loosen(base)
        hostile_columns(tmp, base)
    print("hostile_db: %d checks, %d failed" % (CHECKS, len(FAILS)))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
