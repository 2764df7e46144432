#!/usr/bin/env python3
"""check_same_db.py FINSCOPE CAPTURES: same_db.py, the proof of an unchanged analysis, says
"same" only when it is, and names the first difference otherwise.

Two databases of the same captures, analyzed in opposite orders (every capture and flow id
differs), are the same; one changed value, one missing row, one extra table, a changed id
reference and a changed ignored column (analyzed_at) each give the answer they should.
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

import checklib as T

SAME_DB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "same_db.py")
CAPTURES = ["lo_four_way.pcap", "lo_linger0.pcap", "lo_refused.pcap", "lo_self_connect.pcap"]


def same(a, b):
    r = subprocess.run([sys.executable, SAME_DB, a, b], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stderr


def altered(base, tmp, name, *sql):
    path = os.path.join(tmp, name + ".db")
    shutil.copy(base, path)
    con = sqlite3.connect(path)
    for s in sql:
        con.execute(s)
    con.commit()
    con.close()
    return path


def main():
    T.FINSCOPE = sys.argv[1]
    caps = [os.path.join(sys.argv[2], c) for c in CAPTURES]
    tmp = tempfile.mkdtemp(prefix="finscope-same-db-")
    try:
        a, b = os.path.join(tmp, "a.db"), os.path.join(tmp, "b.db")
        r1 = T.run("analyze", "-q", "-o", a, *caps)
        r2 = T.run("analyze", "-q", "-o", b, *reversed(caps))
        T.check(r1.returncode == 0 and r2.returncode == 0, "both analyses ran")
        ids = sqlite3.connect(a).execute("SELECT id FROM captures WHERE source LIKE '%linger0%'")
        ids_b = sqlite3.connect(b).execute("SELECT id FROM captures WHERE source LIKE '%linger0%'")
        T.check(ids.fetchone() != ids_b.fetchone(), "the two orders give other capture ids")

        rc, err = same(a, b)
        T.check(rc == 0 and err == "", "same captures in another order: same (%d %r)" % (rc, err))
        rc, err = same(a, a)
        T.check(rc == 0, "a database is the same as itself")

        x = altered(a, tmp, "close", "UPDATE flows SET close_kind = 'four_way' "
                    "WHERE close_kind = 'rst'")
        rc, err = same(a, x)
        T.check(rc == 1 and "flows: row" in err and "close_kind: 'rst' != 'four_way'" in err,
                "a changed close_kind is named (%d %r)" % (rc, err))

        # The first transition's code (schema 6: evidence, states and endpoint packed in it).
        x = altered(a, tmp, "log", "UPDATE flows SET transition_log = json_set(transition_log, "
                    "'$[0][0]', json_extract(transition_log, '$[0][0]') + 1) "
                    "WHERE json_array_length(transition_log) > 0")
        rc, err = same(a, x)
        T.check(rc == 1 and "transition_log" in err, "a changed log is named (%d %r)" % (rc, err))

        x = altered(a, tmp, "row", "DELETE FROM flows WHERE id = (SELECT max(id) FROM flows)")
        rc, err = same(a, x)
        T.check(rc == 1 and "flows:" in err, "a missing flow is found (%d %r)" % (rc, err))

        x = altered(a, tmp, "table", "CREATE TABLE extra (x)")
        rc, err = same(a, x)
        T.check(rc == 1 and "extra: only in" in err, "an extra table is named (%d %r)" % (rc, err))

        x = altered(a, tmp, "when", "UPDATE captures SET analyzed_at = '1999-01-01', "
                    "finscope_version = '0'")
        rc, err = same(a, x)
        T.check(rc == 0, "analyzed_at and finscope_version are not compared (%d %r)" % (rc, err))

        # A flow moved to another capture: its capture_id names another source.
        x = altered(a, tmp, "moved", "UPDATE flows SET capture_id = (SELECT max(id) FROM captures) "
                    "WHERE id = (SELECT min(id) FROM flows)")
        rc, err = same(a, x)
        T.check(rc == 1 and "capture_id" in err, "a flow of another capture (%d %r)" % (rc, err))

        rc, err = same(a, os.path.join(tmp, "missing.db"))
        T.check(rc == 2, "a database that cannot be opened: exit 2 (%d %r)" % (rc, err))
    finally:
        shutil.rmtree(tmp)
    return T.summary("same_db")


if __name__ == "__main__":
    sys.exit(main())
