#!/usr/bin/env python3
"""same_zeek.py - proves a change kept the output: analyzes the same captures with two finscope
binaries and compares every flows row (all columns but the row id) and `export --zeek` (all but
its #open/#close stamps).  Not a meson test (it needs the old binary): run by hand, e.g.
  same_zeek.py /tmp/finscope-main build/src/finscope captures/*.pcap* ../shared/corpus/*/traces/*
Exit 0 when identical."""
import os, sqlite3, subprocess, sys, tempfile

def run(exe, files, db):
    if os.path.exists(db):
        os.unlink(db)
    # each capture on its own invocation so one bad file cannot stop the rest
    for f in files:
        subprocess.run([exe, "analyze", "-q", "-o", db, "-r", f], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    con = sqlite3.connect(db)
    cols = [r[1] for r in con.execute("PRAGMA table_info(flows)") if r[1] != "id"]
    rows = con.execute("SELECT c.source, " + ", ".join("f." + c for c in cols) +
                       " FROM flows AS f JOIN captures AS c ON c.id = f.capture_id"
                       " ORDER BY f.capture_id, f.first_packet, f.id").fetchall()
    exp = subprocess.run([exe, "export", "--zeek", db], capture_output=True, text=True).stdout
    exp = [l for l in exp.splitlines() if not l.startswith(("#open", "#close"))]
    return cols, rows, exp

def main():
    old, new, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    tmp = tempfile.mkdtemp(prefix="same_zeek.")
    co, ro, eo = run(old, files, os.path.join(tmp, "old.db"))
    cn, rn, en = run(new, files, os.path.join(tmp, "new.db"))
    ok = co == cn and ro == rn and eo == en
    nz = sum(1 for r in rn if r[1 + cn.index("zeek_earlier")] != "[]")
    print(f"{len(files)} files, {len(rn)} flows ({nz} with earlier Zeek records), "
          f"{len(en)} export lines: {'identical' if ok else 'DIFFERENT'}")
    if not ok:
        for a, b in zip(ro, rn):
            if a != b:
                print("old", a[:3], "\nnew", b[:3])
                for c, x, y in zip(["path"] + co, a, b):
                    if x != y:
                        print("  ", c, repr(x)[:200], "->", repr(y)[:200])
                break
        print("rows", len(ro), len(rn), "export", len(eo), len(en))
    return 0 if ok else 1

sys.exit(main())
