#!/usr/bin/env python3
"""check_hostile.py - numbers, permissions and functions an attacker or a typo hands finscope.

Usage: check_hostile.py FINSCOPE

- Every numeric option refuses NaN, infinity, signs, hex, overflow and junk with exit status 2
  and a message naming the option and the value (issue 10, point 7).
- A database finscope cannot create or write says why, for the user it runs as: a directory
  owned by root, a file it cannot write, a read-only file system, a missing file for a read
  command (point 8).  Needs root (setpriv to 'nobody', a private mount namespace).
- Reaching --max-flows is said once while it happens, with the memory per connection
  (point 10), and again in the summary.
- `query` refuses functions outside SQLite's core, date, math, aggregate, window and JSON ones:
  fts3_tokenizer() would hand out a library address (point 6); also inside a view that a
  hostile file brings.
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

import checklib as T
from checklib import check, run

BAD_SECONDS = ["nan", "NaN", "inf", "-inf", "infinity", "-1", "-0.5", "1e999", "1e10", "0x10",
               "", " 5", "5 ", "+5", "abc", "5s"]
BAD_COUNTS = ["nan", "inf", "-1", "0x10", "", " 5", "+5", "abc", "1.5", "99999999999999999999999"]


def refused(args, option, value):
    r = run(*args, text=True)
    ok = r.returncode == 2 and option in r.stderr and ("'%s'" % value) in r.stderr
    check(ok, "finscope %s: exit 2 naming %s and '%s' (exit %d: %r)"
          % (" ".join(args), option, value, r.returncode, r.stderr.strip()[:200]))


def numeric_options():
    for v in BAD_SECONDS:
        for cmd in ("analyze", "live"):
            refused([cmd, "--linger", v, "x.pcap"], "--linger", v)
            refused([cmd, "--idle-timeout", v, "x.pcap"], "--idle-timeout", v)
        refused(["live", "--duration", v], "--duration", v)
    for v in BAD_COUNTS:
        refused(["analyze", "--max-flows", v, "x.pcap"], "--max-flows", v)
        refused(["live", "--max-flows", v], "--max-flows", v)
        refused(["live", "-c", v], "-c", v)
        refused(["live", "--snaplen", v], "--snaplen", v)
    for v in ("0", "100000001"):
        refused(["analyze", "--max-flows", v, "x.pcap"], "--max-flows", v)
    for v in ("95", "262145"):
        refused(["live", "--snaplen", v], "--snaplen", v)
    refused(["live", "-c", "0"], "-c", "0")
    # The edges of the ranges are accepted (the run then stops on the missing file, exit 2).
    for opt, v in (("--linger", "0"), ("--linger", "1e9"), ("--idle-timeout", ".5"),
                   ("--max-flows", "1"), ("--max-flows", "100000000")):
        r = run("analyze", opt, v, "-o", os.devnull + ".none.db", "/nonexistent.pcap", text=True)
        check(r.returncode == 2 and "/nonexistent.pcap: no such file" in r.stderr,
              "analyze %s %s accepted (exit %d: %r)" % (opt, v, r.returncode, r.stderr[:200]))


def as_nobody(*args):
    return run(*args, text=True, prefix=("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"))


def permissions(tmp, cap):
    rootdir = os.path.join(tmp, "root-only")
    os.mkdir(rootdir, 0o755)
    os.chmod(tmp, 0o755)
    db = os.path.join(rootdir, "x.db")
    r = as_nobody("analyze", "-o", db, cap)
    check(r.returncode == 1 and "cannot create the database" in r.stderr and "Permission denied" in r.stderr
          and "nobody" in r.stderr and rootdir in r.stderr and "No such file" not in r.stderr,
          "a root-owned directory: says permission denied for nobody in it: %r" % r.stderr)

    r = run("analyze", "-q", "-o", db, cap, text=True)
    check(r.returncode == 0, "root creates it: %r" % r.stderr)
    os.chmod(db, 0o644)
    r = as_nobody("analyze", "-o", db, cap)
    check(r.returncode == 1 and "cannot write the database" in r.stderr and "Permission denied" in r.stderr
          and "nobody" in r.stderr, "a root-owned file: says it cannot be written by nobody: %r" % r.stderr)
    r = as_nobody("query", db, "SELECT count(*) FROM captures")
    check(r.returncode == 0 and r.stdout.split()[-1] == "1", "nobody can still read it: %r" % (r.stdout + r.stderr))

    os.chmod(db, 0o600)
    r = as_nobody("report", db)
    check(r.returncode == 1 and "cannot read the database" in r.stderr and "Permission denied" in r.stderr,
          "an unreadable file: says so: %r" % r.stderr)

    missing = os.path.join(tmp, "missing.db")
    for cmd in (("query", missing, "SELECT 1"), ("report", missing), ("show", missing, "1"),
                ("export", "--zeek", missing)):
        r = run(*cmd, text=True)
        check(r.returncode == 1 and "no such database" in r.stderr and "finscope analyze -o" in r.stderr
              and not os.path.exists(missing), "%s on a missing file: says how to make one: %r" % (cmd[0], r.stderr))

    # A read-only file system, in a private mount namespace (nothing is left mounted).
    ro = os.path.join(tmp, "ro")
    os.mkdir(ro)
    script = ('mount -t tmpfs -o size=4m tmpfs "$1" && cp "$2" "$1/" && mount -o remount,ro "$1" && '
              'exec "$3" analyze -o "$1/new.db" "$1/%s"' % os.path.basename(cap))
    r = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", ro, cap, os.path.abspath(T.FINSCOPE)],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "read-only file system" in r.stderr and "-o" in r.stderr,
          "a read-only file system: says so and to use -o: %r" % r.stderr)


def functions(tmp, cap):
    db = os.path.join(tmp, "fn.db")
    r = run("analyze", "-q", "-o", db, cap, text=True)
    check(r.returncode == 0, "analyze: %r" % r.stderr)
    for sql in ("SELECT fts3_tokenizer('simple')", "SELECT FTS3_TOKENIZER('simple', x'0000000000000000')",
                "SELECT load_extension('/lib/x86_64-linux-gnu/libc.so.6')",
                "SELECT rtreenode(2, x'00')", "SELECT fts5_source_id()",
                "SELECT * FROM close_kinds WHERE fts3_tokenizer('porter') IS NOT NULL"):
        r = run("query", db, sql, text=True)
        check(r.returncode == 1 and "is not allowed" in r.stderr and "0x" not in r.stdout,
              "query refuses: %s (exit %d: %r)" % (sql, r.returncode, (r.stdout + r.stderr)[:200]))
    for sql, want in (("SELECT round(2.25, 1)", "2.3"), ("SELECT json_extract('[7]', '$[0]')", "7"),
                      ("SELECT '[5]' ->> 0", "5"), ("SELECT upper(typeof(1))", "INTEGER"),
                      ("SELECT sum(flows) FROM close_kinds", None),
                      ("SELECT count(*) FROM json_each('[1,2,3]')", "3"), ("SELECT sqrt(16)", "4.0")):
        r = run("query", "--csv", db, sql, text=True)
        check(r.returncode == 0 and (want is None or r.stdout.split()[-1] == want),
              "query allows: %s (exit %d: %r)" % (sql, r.returncode, (r.stdout + r.stderr)[:200]))
    # A hostile file: a view calls fts3_tokenizer(); no address comes out.
    hostile = os.path.join(tmp, "hostile.db")
    shutil.copy(db, hostile)
    con = sqlite3.connect(hostile)
    con.execute("DROP VIEW segments")
    con.execute("CREATE VIEW segments AS SELECT id AS flow_id, 0 AS ord, first_packet AS packet, "
                "first_ts AS ts, 'client' AS sender, hex(fts3_tokenizer('simple')) AS flags, 0 AS rel_seq, "
                "0 AS rel_ack, 0 AS len, NULL AS why FROM flows")
    con.commit()
    con.close()
    r = run("query", hostile, "SELECT flags FROM segments", text=True)
    check(r.returncode == 1 and "fts3_tokenizer" in r.stderr and not r.stdout,
          "query of a view calling fts3_tokenizer(): refused, no address (exit %d: %r)"
          % (r.returncode, (r.stdout + r.stderr)[-300:]))


def table_full(tmp):
    """--max-flows reached: said once on stderr while it happens, and in the summary."""
    cap, db = os.path.join(tmp, "mix.pcap"), os.path.join(tmp, "full.db")
    r = run("forge", "mix", "--flows", "40", "--seed", "5", "-o", cap, text=True)
    check(r.returncode == 0, "forge mix: %r" % r.stderr)
    r = run("analyze", "-o", db, "--max-flows", "2", cap, text=True)
    said = [line for line in r.stderr.splitlines() if "connections are held at once (--max-flows)" in line]
    check(r.returncode == 0 and len(said) == 1 and "raise --max-flows" in said[0] and "bytes" in said[0],
          "--max-flows reached: one message on stderr naming the option and the memory (%r)" % r.stderr[:400])
    check("written early: flow table full (--max-flows)" in r.stdout, "summary names --max-flows: %r" % r.stdout[-400:])
    evicted = sqlite3.connect(db).execute("SELECT count(*) FROM flows WHERE anomalies LIKE '%evicted%'").fetchone()[0]
    check(evicted > 0, "open connections written early are marked evicted (%d)" % evicted)


def main():
    T.FINSCOPE = sys.argv[1]
    numeric_options()
    with tempfile.TemporaryDirectory() as tmp:
        cap = os.path.join(tmp, "four_way.pcap")
        r = run("forge", "four_way", "-o", cap, text=True)
        check(r.returncode == 0, "forge: %r" % r.stderr)
        os.chmod(cap, 0o644)
        functions(tmp, cap)
        table_full(tmp)
        if os.geteuid() == 0:
            permissions(tmp, cap)
        else:
            print("permissions: skipped, needs root (setpriv, mount namespace)")
    return T.summary("hostile")


if __name__ == "__main__":
    sys.exit(main())
