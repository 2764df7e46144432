#!/usr/bin/env python3
"""finscope query: read-only (refuses writes, file byte-identical), --csv/--json equal sqlite3."""
import csv
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

FINSCOPE = os.path.abspath(sys.argv[1])
failures = 0
checks = 0


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", what)


def run(*args):
    return subprocess.run([FINSCOPE, "query", *args], capture_output=True, text=True, timeout=60)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


with tempfile.TemporaryDirectory() as tmp:
    pcap, db = os.path.join(tmp, "mix.pcap"), os.path.join(tmp, "q.db")
    subprocess.run([FINSCOPE, "forge", "mix", "--flows", "40", "--seed", "3", "-o", pcap],
                   check=True, capture_output=True)
    subprocess.run([FINSCOPE, "analyze", "-q", "-o", db, pcap], check=True, capture_output=True)
    before = sha(db)

    refused = [
        "INSERT INTO skipped VALUES (1, 'x', 1)",
        "UPDATE flows SET close_kind = 'x'",
        "DELETE FROM flows",
        "DROP TABLE flows",
        "DROP VIEW transitions",
        "CREATE TABLE t (x)",
        "CREATE TEMP TABLE t (x)",
        "ATTACH '%s' AS other" % os.path.join(tmp, "other.db"),
        "DETACH main",
        "PRAGMA user_version = 5",
        "PRAGMA application_id = 7",
        "PRAGMA journal_mode = WAL",
        "VACUUM",
        "VACUUM INTO '%s'" % os.path.join(tmp, "copy.db"),
        "SELECT 1; DELETE FROM flows",
        "SELECT load_extension('x')",
    ]
    for sql in refused:
        r = run(db, sql)
        check(r.returncode == 1, "refused %r: exit %d" % (sql, r.returncode))
        check(r.stdout == "", "refused %r printed %r" % (sql, r.stdout))
        check(r.stderr.strip() != "", "refused %r: no message" % sql)
    check(not os.path.exists(os.path.join(tmp, "other.db")), "ATTACH created a file")
    check(not os.path.exists(os.path.join(tmp, "copy.db")), "VACUUM INTO created a file")

    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    queries = [
        "SELECT * FROM close_kinds",
        "SELECT id, client_addr, client_port, rst_cause, duration_s, close_wait_s, anomalies "
        "FROM flows ORDER BY id",
        "SELECT * FROM transitions ORDER BY flow_id, ord",
        "SELECT 'a,b' AS c1, 'say \"hi\"' AS c2, 'two\nlines' AS c3, NULL AS c4, 1.5 AS c5, "
        "-3 AS c6, 'back\\slash\ttab' AS c7, ' pad ' AS c8",
    ]
    for sql in queries:
        want = con.execute(sql).fetchall()
        names = [d[0] for d in con.execute(sql).description]

        r = run(db, sql, "--csv")
        check(r.returncode == 0, "--csv %r: exit %d %s" % (sql, r.returncode, r.stderr))
        rows = list(csv.reader(io.StringIO(r.stdout, newline="")))
        check(rows[:1] == [names], "--csv header %r" % rows[:1])
        expect = [["" if v is None else repr(v) if isinstance(v, float) else str(v) for v in row]
                  for row in want]
        got = rows[1:]
        # SQLite prints REAL with 15 significant digits: compare those as numbers.
        same = len(got) == len(expect)
        for g, e, w in zip(got, expect, want):
            for gv, ev, wv in zip(g, e, w):
                if isinstance(wv, float):
                    same = same and abs(float(gv) - wv) <= 1e-9 * max(1.0, abs(wv))
                else:
                    same = same and gv == ev
        check(same, "--csv rows differ for %r" % sql)

        r = run(db, sql, "--json")
        check(r.returncode == 0, "--json %r: exit %d %s" % (sql, r.returncode, r.stderr))
        try:
            data = json.loads(r.stdout)
        except ValueError as e:
            check(False, "--json %r does not parse: %s" % (sql, e))
            continue
        expect = [dict(zip(names, row)) for row in want]
        same = len(data) == len(expect)
        for g, e in zip(data, expect):
            for k, v in e.items():
                if isinstance(v, float):
                    same = same and isinstance(g[k], float) and abs(g[k] - v) <= 1e-9 * max(1.0, abs(v))
                else:
                    same = same and g.get(k, "missing") == v and type(g[k]) is type(v)
        check(same, "--json rows differ for %r" % sql)

    # Table output: header, and numbers right-aligned.
    r = run(db, "SELECT 7 AS n, 'x' AS s UNION ALL SELECT 12345, 'yy'")
    lines = r.stdout.splitlines()
    check(r.returncode == 0 and lines[0].split() == ["n", "s"], "table header %r" % lines[:1])
    check(lines[2].startswith("    7") and lines[3].startswith("12345"), "right-aligned %r" % lines)
    # CSV lines end in LF (CRLF broke $(...)); a line break inside a value is quoted as it is.
    r = run(db, "SELECT 'a' AS x, 'two\nlines' AS y UNION ALL SELECT 'b', 'c'", "--csv")
    check(r.stdout == 'x,y\na,"two\nlines"\nb,c\n', "--csv LF line ends: %r" % r.stdout)
    # The table escapes what would act on a terminal, as ls -b does: exact bytes.
    r = run(db, "SELECT 'a' || char(27) || '[31m' || char(10) || char(9) || '\\' || "
            "char(127) || char(155) AS x")
    check(r.stdout.split("\n")[2] == "a\\x1b[31m\\x0a\\x09\\\\\\x7f\\xc2\\x9b",
          "table escaping: %r" % r.stdout)
    # The table streams: widths from the first 1000 rows; a wider later value widens its column
    # from its row on, and stderr says so.  Every row is there.
    r = run(db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1500) "
            "SELECT x AS n, CASE WHEN x = 1200 THEN 'wide-value' ELSE 'v' END AS s, 'z' AS t "
            "FROM c")
    lines = r.stdout.splitlines()
    check(r.returncode == 0 and len(lines) == 1502, "streamed rows: %d" % len(lines))
    check(lines[1000] == " 999  v  z" and lines[1201] == "1200  wide-value  z" and
          lines[1202] == "1201  v           z", "streamed widths: %r" % lines[1199:1203])
    check("measured on the first 1000 rows; 1 later value widened" in r.stderr,
          "streaming note: %r" % r.stderr)
    # Several statements, PRAGMA reads and the listing are allowed.
    r = run(db, "SELECT 1 AS a; SELECT 2 AS b; PRAGMA user_version; PRAGMA table_info(flows)")
    check(r.returncode == 0 and "user_version" in r.stdout, "multi-statement %r" % r.stderr)
    r = run(db)
    check(r.returncode == 0 and "close_wait_suspects" in r.stdout and "SELECT" in r.stdout,
          "listing without SQL")
    # SQL errors: SQLite's message, exit 1.
    r = run(db, "SELEC 1")
    check(r.returncode == 1 and 'near "SELEC": syntax error' in r.stderr, "syntax error %r" % r.stderr)
    r = run(db, "SELECT * FROM no_such_table")
    check(r.returncode == 1 and "no such table: no_such_table" in r.stderr, "no such table")
    r = run("--help")
    check(r.returncode == 0 and "examples:" in r.stdout, "--help")
    # The default database is finscope.db in the current directory.
    r = subprocess.run([FINSCOPE, "query", "SELECT count(*) AS n FROM flows", "--csv"], cwd=tmp,
                       capture_output=True, text=True)
    check(r.returncode == 1 and "finscope.db" in r.stderr, "default DB name %r" % r.stderr)
    os.link(db, os.path.join(tmp, "finscope.db"))
    r = subprocess.run([FINSCOPE, "query", "SELECT count(*) AS n FROM flows", "--csv"], cwd=tmp,
                       capture_output=True, text=True)
    check(r.returncode == 0 and r.stdout.split() == ["n", "40"], "default DB %r" % r.stdout)

    con.close()
    check(sha(db) == before, "database file changed")
    check(not os.path.exists(db + "-journal") and not os.path.exists(db + "-wal"),
          "journal or WAL file left")

print("query: %d checks, %d failed" % (checks, failures))
sys.exit(1 if failures else 0)
