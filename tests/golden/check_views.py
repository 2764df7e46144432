#!/usr/bin/env python3
"""check_views.py - schema 6's views give the rows schemas 5 and 4 gave; the upgrades keep them.

Every capture in CAPTURES_DIR and a forged mix of every close kind are analyzed into one
database (schema 6).  A copy is turned into schema 5's layout: its logs rewritten as schema 5
stored them (JSON arrays of names and absolute times, rebuilt here from the views), no tokens
table, and the four views that read the logs as schema 5 wrote them (schema5_views.sql);
user_version 5.  A copy of that one is turned into schema 4's (its state_dwell view as schema
4 wrote it: lead() over the transitions view; user_version 4).  Checked exactly: every view's
rows (sorted, floats compared bit for bit, types too) on all three files; the read-only
commands refuse the older copies and leave them unchanged; `analyze --upgrade` makes each
schema 6 with the same view text as a new file and the same rows in every view, and the
logs of the same size as a new file's give or take what it leaves explicit; and `finscope
report` and `show` print byte-identical output from the upgraded files and the new one.

Usage: check_views.py FINSCOPE CAPTURES_DIR
"""
import glob
import json
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


def to_schema5(db):
    """Rewrite db (schema 6) as schema 5 stored it: the logs from the views, no tokens."""
    con = sqlite3.connect(db)
    seg = {}
    for fid, sender, flags, seq, ack, ln, why, ts, packet in con.execute(
            "SELECT flow_id, sender, flags, rel_seq, rel_ack, len, why, ts, packet FROM segments "
            "ORDER BY flow_id, ord"):
        seg.setdefault(fid, []).append([sender, flags, seq, ack, ln, why, round(ts * 1e6),
                                        packet])
    tr = {}
    for fid, ep, frm, to, ts, packet, ev in con.execute(
            "SELECT flow_id, endpoint, from_state, to_state, ts, packet, evidence FROM "
            "transitions ORDER BY flow_id, ord"):
        tr.setdefault(fid, []).append([ep, frm, to, round(ts * 1e6), packet, ev])
    for log in tr.values():  # held_us: to the endpoint's own next transition
        for k, e in enumerate(log):
            nxt = [x[3] for x in log[k + 1:] if x[0] == e[0]]
            if nxt:
                e.append(nxt[0] - e[3])
    dump = lambda x: json.dumps(x, separators=(",", ":"))
    con.executemany("UPDATE flows SET transition_log = ?, segment_log = ? WHERE id = ?",
                    [(dump(tr.get(f, [])), dump(seg.get(f, [])), f)
                     for f, in con.execute("SELECT id FROM flows").fetchall()])
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema5_views.sql")) as f:
        old_views = f.read()
    con.executescript("DROP VIEW transitions; DROP VIEW segments; DROP VIEW state_dwell; "
                      "DROP VIEW state_intervals; DROP TABLE tokens; %s PRAGMA user_version = 5;"
                      % old_views)
    con.commit()
    con.execute("VACUUM")
    con.close()


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
    return sorted([tuple((type(x).__name__, x) for x in r) for r in got],
                  key=lambda r: tuple((x is not None, t, x) for t, x in r))


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
        v5 = os.path.join(tmp, "v5.db")
        shutil.copy(new, v5)
        to_schema5(v5)
        shutil.copy(v5, old)
        con = sqlite3.connect(old)
        con.executescript("DROP VIEW state_dwell; %s; PRAGMA user_version = 4;" % OLD_STATE_DWELL)
        con.close()

        names = sorted(views(new))
        T.check(len(names) == 9, "9 views: %r" % names)
        n_dwell = rows(new, "state_dwell")
        T.check(len(n_dwell) > 20000 and sum(r[5][1] is not None for r in n_dwell) > 10000,
                "state_dwell has %d rows, enough to compare" % len(n_dwell))
        for v in names:
            got = rows(new, v)
            T.check(got == rows(v5, v), "view %s: schema 6 and 5 rows differ" % v)
            T.check(got == rows(old, v), "view %s: schema 6 and 4 rows differ" % v)

        for ver, db in ((5, v5), (4, old)):
            with open(db, "rb") as f:
                before = f.read()
            r = T.run("report", db, text=True)
            T.check(r.returncode != 0 and "schema %d, this build writes 6" % ver in r.stderr,
                    "report refuses schema %d: %r" % (ver, r.stderr))
            with open(db, "rb") as f:
                T.check(f.read() == before, "schema %d file untouched by a read-only command" % ver)

            r = T.run("analyze", "-o", db, "--upgrade", text=True)
            T.check(r.returncode == 0, "upgrade %d: %r" % (ver, r.stderr))
            con = sqlite3.connect(db)
            T.check(con.execute("PRAGMA user_version").fetchone()[0] == 6,
                    "upgraded %d to schema 6" % ver)
            # The upgrade writes every entry explicit (no segment references): a little longer.
            n6, o6 = (sqlite3.connect(x).execute(
                "SELECT sum(length(transition_log)), sum(length(segment_log)) FROM flows")
                .fetchone() for x in (new, db))
            T.check(o6[1] == n6[1] and n6[0] <= o6[0] <= 2 * n6[0],
                    "upgraded %d: logs %r, a new file's %r" % (ver, o6, n6))
            con.close()
            T.check(views(db) == views(new), "upgraded %d: views are a new file's" % ver)
            for v in names:
                T.check(rows(new, v) == rows(db, v), "view %s after the upgrade from %d" % (v, ver))
            for cmd in (["report"], ["report", "--capture", "2"], ["show", "1"], ["show", "2900"]):
                a, b = T.run(cmd[0], new, *cmd[1:]), T.run(cmd[0], db, *cmd[1:])
                a_out = a.stdout.replace(new.encode(), b"DB")
                b_out = b.stdout.replace(db.encode(), b"DB")
                T.check(a.returncode == 0 and len(a_out) > 500 and
                        (a_out, a.stderr) == (b_out, b.stderr),
                        "%s: file upgraded from %d prints what a new one does" %
                        (" ".join(cmd), ver))
    return T.summary("views")


if __name__ == "__main__":
    sys.exit(main())
