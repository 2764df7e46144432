#!/usr/bin/env python3
"""check_views.py - schema 5's views give the rows schema 4's gave, and the upgrade keeps them.

Every capture in CAPTURES_DIR and a forged mix of every close kind are analyzed into one
database (schema 5).  A copy is turned into schema 4's layout (its state_dwell view, the only
one schema 5 redefines, as schema 4 wrote it: lead() over the transitions view; user_version
4).  Checked exactly: every view's rows (sorted, floats compared bit for bit) on both files;
the read-only commands refuse the schema-4 copy and leave it unchanged; `analyze --upgrade`
makes it schema 5 with the same view text as a new file and the same rows in every view; and
`finscope report` and `show` print byte-identical output from the upgraded file and the new
one.

Usage: check_views.py FINSCOPE CAPTURES_DIR
"""
import glob
import os
import shutil
import sqlite3
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib as T  # noqa: E402

# schema 4's state_dwell, as src/store.c wrote it.
OLD_STATE_DWELL = """CREATE VIEW state_dwell AS
    SELECT flow_id, endpoint, to_state AS state, ts AS enter_ts,
           lead(ts) OVER w AS leave_ts,
           round(lead(ts) OVER w - ts, 6) AS dwell_s,
           packet AS enter_packet, evidence
    FROM transitions
    WINDOW w AS (PARTITION BY flow_id, endpoint ORDER BY ord)"""


def views(db):
    """{view name: its SQL text} of db."""
    con = sqlite3.connect(db)
    v = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'"))
    con.close()
    return v


def rows(db, view):
    """The rows of one view, sorted (None before everything, as a tuple key)."""
    con = sqlite3.connect(db)
    got = con.execute("SELECT * FROM %s" % view).fetchall()
    con.close()
    return sorted(got, key=lambda r: tuple((x is not None, type(x).__name__, x) for x in r))


def main():
    T.FINSCOPE = sys.argv[1]
    captures = sorted(glob.glob(os.path.join(sys.argv[2], "*.pcap*")))
    with tempfile.TemporaryDirectory() as tmp:
        mix = os.path.join(tmp, "mix.pcap")
        new, old = os.path.join(tmp, "new.db"), os.path.join(tmp, "old.db")
        T.check(T.run("forge", "mix", "--flows", "3000", "--seed", "9", "-o", mix).returncode == 0,
                "forge mix")
        r = T.run("analyze", "-q", "-o", new, mix, *captures, timeout=300)
        T.check(r.returncode == 0, "analyze: %r" % r.stderr[-300:])
        shutil.copy(new, old)
        con = sqlite3.connect(old)
        con.executescript("DROP VIEW state_dwell; %s; PRAGMA user_version = 4;" % OLD_STATE_DWELL)
        con.close()

        names = sorted(views(new))
        T.check(len(names) == 9, "9 views: %r" % names)
        n_dwell = rows(new, "state_dwell")
        T.check(len(n_dwell) > 20000 and sum(r[5] is not None for r in n_dwell) > 10000,
                "state_dwell has %d rows, enough to compare" % len(n_dwell))
        for v in names:
            T.check(rows(new, v) == rows(old, v), "view %s: schema 5 and 4 rows differ" % v)

        with open(old, "rb") as f:
            before = f.read()
        r = T.run("report", old, text=True)
        T.check(r.returncode != 0 and "schema 4, this build writes 5" in r.stderr,
                "report refuses schema 4: %r" % r.stderr)
        with open(old, "rb") as f:
            T.check(f.read() == before, "schema 4 file untouched by a read-only command")

        r = T.run("analyze", "-o", old, "--upgrade", text=True)
        T.check(r.returncode == 0, "upgrade: %r" % r.stderr)
        con = sqlite3.connect(old)
        T.check(con.execute("PRAGMA user_version").fetchone()[0] == 5, "upgraded to schema 5")
        con.close()
        T.check(views(old) == views(new), "upgraded views are a new file's")
        for v in names:
            T.check(rows(new, v) == rows(old, v), "view %s after the upgrade" % v)
        for cmd in (["report"], ["report", "--capture", "2"], ["show", "1"], ["show", "2900"]):
            a, b = T.run(cmd[0], new, *cmd[1:]), T.run(cmd[0], old, *cmd[1:])
            a_out, b_out = a.stdout.replace(new.encode(), b"DB"), b.stdout.replace(old.encode(), b"DB")
            T.check(a.returncode == 0 and len(a_out) > 500 and (a_out, a.stderr) == (b_out, b.stderr),
                    "%s: upgraded file prints what a new one does" % " ".join(cmd))
    return T.summary("views")


if __name__ == "__main__":
    sys.exit(main())
