#!/usr/bin/env python3
"""check_writer.py - the flow writer thread (src/writer.c) changes nothing in the database.

Usage: check_writer.py FINSCOPE CAPTURES_DIR WILD_DIR

 1. Same rows: the same inputs are analyzed with the writer thread (the default) and without it
    (FINSCOPE_WRITER_THREAD=0), each into a database of its own, and the two databases are
    compared row by row, every column of every table (captures.analyzed_at excepted), in rowid
    order (so the ids match too).  The inputs: every capture in CAPTURES_DIR (and regress/),
    every `forge` scenario (plain framing), WILD_COUNT captures of WILD_DIR, and a `forge mix` of
    MIX_FLOWS connections (more than the writer's ring holds: the analysis waits for room), in
    one `analyze` run; then the mix again from standard input with --replace (its hash is known
    only at the end: the old capture is deleted inside the transaction, after the writer has
    written everything), and the mix with --max-flows 50 (evictions).
 2. A write that fails in the writer thread: the database on a tmpfs of TMPFS_MB MiB (mounted
    here; skipped when mounting is not allowed) and a mix too large for it.  Both ways: exit
    status 1, the same error message on stderr (naming the capture and the database and what
    failed), nothing of the capture stored, and the finscope process gone within the timeout
    (no deadlock).
"""
import glob
import os
import sqlite3
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib as T  # noqa: E402

WILD_COUNT = 12
MIX_FLOWS = 3000
TMPFS_MB = 8
FULL_FLOWS = 20000  # ~1.9 KB per flow in the database: far beyond TMPFS_MB


def env_for(threaded):
    env = dict(os.environ)
    if threaded:
        env.pop("FINSCOPE_WRITER_THREAD", None)
    else:
        env["FINSCOPE_WRITER_THREAD"] = "0"
    return env


def dump(db):
    """{table: [rows in rowid order]} with captures.analyzed_at left out."""
    con = sqlite3.connect(db)
    try:
        out = {}
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for t in tables:
            cols = [r[1] for r in con.execute("PRAGMA table_info(%s)" % t)]
            if t == "captures":
                cols = [c for c in cols if c != "analyzed_at"]
            wr = con.execute("SELECT sql FROM sqlite_master WHERE name = ?", (t,)).fetchone()[0]
            order = ", ".join(cols) if "WITHOUT ROWID" in wr.upper() else "rowid"
            out[t] = (cols, con.execute("SELECT %s FROM %s ORDER BY %s"
                                        % (", ".join(cols), t, order)).fetchall())
        return out
    finally:
        con.close()


def compare(what, a, b):
    """Every table and row of dump a equal to dump b; one FAIL line per differing table."""
    T.check(sorted(a) == sorted(b), "%s: the same tables (%s / %s)" % (what, sorted(a), sorted(b)))
    for t in sorted(set(a) & set(b)):
        ca, ra = a[t]
        cb, rb = b[t]
        first = next((i for i, (x, y) in enumerate(zip(ra, rb)) if x != y), None)
        T.check(ca == cb and len(ra) == len(rb) and first is None,
                "%s: table %s differs (%d rows / %d rows%s)"
                % (what, t, len(ra), len(rb),
                   "" if first is None else "; first at row %d: %r / %r" % (first, ra[first],
                                                                            rb[first])))


def forge_inputs(tmp):
    out = []
    r = T.run("forge", "--list", text=True)
    T.check(r.returncode == 0, "forge --list works")
    names = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]
    for n in names:
        path = os.path.join(tmp, "forged-%s.pcap" % n)
        r = T.run("forge", n, "-o", path, text=True)
        if T.check(r.returncode == 0, "forge %s: %s" % (n, r.stderr.strip())):
            out.append(path)
    return out


def forge_mix(tmp, flows, name):
    path = os.path.join(tmp, name)
    r = T.run("forge", "mix", "--flows", str(flows), "--seed", "9", "-o", path, text=True,
              timeout=300)
    T.check(r.returncode == 0, "forge mix --flows %d: %s" % (flows, r.stderr.strip()))
    return path


def analyze(threaded, args, stdin=None, timeout=600):
    return T.run("analyze", "-q", *args, text=True, env=env_for(threaded), stdin=stdin,
                 timeout=timeout)


def test_same_rows(tmp, captures, wild):
    print("# 1. the same rows with and without the writer thread")
    inputs = sorted(glob.glob(os.path.join(captures, "*.pcap*")) +
                    glob.glob(os.path.join(captures, "regress", "*.pcap*")))
    inputs += forge_inputs(tmp)
    inputs += sorted(glob.glob(os.path.join(wild, "traces", "*.pcap*")))[:WILD_COUNT]
    mix = forge_mix(tmp, MIX_FLOWS, "mix.pcap")
    inputs.append(mix)
    dumps = []
    for threaded in (True, False):
        how = "thread" if threaded else "no thread"
        db = os.path.join(tmp, "same-%d.db" % threaded)
        r = analyze(threaded, ["-o", db] + inputs)
        # Some inputs are broken on purpose (regress): their failures must match too.
        with open(mix, "rb") as f:
            r2 = analyze(threaded, ["--replace", "-o", db, "-"], stdin=f)
        T.check(r2.returncode == 0, "%s: the mix again from stdin, --replace: %s"
                % (how, r2.stderr.strip()))
        r3 = analyze(threaded, ["--replace", "--max-flows", "50", "-o", db, mix])
        T.check(r3.returncode == 0, "%s: the mix with --max-flows 50: %s" % (how, r3.stderr.strip()))
        dumps.append((r.returncode, r.stderr, dump(db)))
    (rc_t, err_t, d_t), (rc_u, err_u, d_u) = dumps
    T.check(rc_t == rc_u and err_t == err_u,
            "the same exit status and messages: %d %r / %d %r" % (rc_t, err_t, rc_u, err_u))
    compare("same inputs", d_t, d_u)
    caps = d_t["captures"][1]
    flows = d_t["flows"][1]
    T.check(len(caps) >= len(inputs) - 10, "%d captures stored of %d inputs" % (len(caps),
                                                                             len(inputs)))
    con = sqlite3.connect(os.path.join(tmp, "same-1.db"))
    n = con.execute("SELECT count(*) FROM flows WHERE capture_id = "
                    "(SELECT max(id) FROM captures)").fetchone()[0]
    evicted = con.execute("SELECT flows_evicted FROM captures ORDER BY id DESC").fetchone()[0]
    con.close()
    T.check(n >= MIX_FLOWS, "the last mix has %d flow rows (>= %d)" % (n, MIX_FLOWS))
    T.check(evicted > 0, "--max-flows 50 evicted flows (%d)" % evicted)
    print("compared %d tables, %d captures, %d flows" % (len(d_t), len(caps), len(flows)))


def mount_tmpfs(path):
    os.makedirs(path)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % TMPFS_MB, "tmpfs", path],
                       capture_output=True, text=True)
    return r.returncode == 0


def test_disk_full(tmp):
    print("# 2. the disk fills while the writer thread writes")
    mnt = os.path.join(tmp, "small")
    if not mount_tmpfs(mnt):
        print("SKIP: cannot mount a tmpfs (not root?)")
        return
    try:
        mix = forge_mix(tmp, FULL_FLOWS, "full.pcap")
        errs = []
        for threaded in (True, False):
            how = "thread" if threaded else "no thread"
            db = os.path.join(mnt, "full-%d.db" % threaded)
            try:
                r = analyze(threaded, ["-o", db, mix], timeout=300)
            except subprocess.TimeoutExpired:
                T.check(False, "%s: finscope ended within 300 s (a deadlock?)" % how)
                continue
            msg = r.stderr.replace(db, "DB")
            errs.append(msg)
            T.check(r.returncode == 1, "%s: exit status 1 (%d)" % (how, r.returncode))
            T.check(msg.startswith("finscope: %s: DB: " % mix) and
                    msg.endswith("(nothing of this capture was stored)\n") and
                    msg.count("\n") == 1,
                    "%s: one message naming the capture, the database and what failed: %r"
                    % (how, r.stderr))
            con = sqlite3.connect(db)
            n = con.execute("SELECT (SELECT count(*) FROM captures) + "
                            "(SELECT count(*) FROM flows)").fetchone()[0]
            con.close()
            T.check(n == 0, "%s: nothing of the capture stored (%d rows)" % (how, n))
            os.unlink(db)
        T.check(len(errs) == 2 and errs[0] == errs[1], "the same message both ways: %r" % errs)
    finally:
        subprocess.run(["umount", mnt])


def main():
    T.FINSCOPE = sys.argv[1]
    captures, wild = sys.argv[2], sys.argv[3]
    with tempfile.TemporaryDirectory(prefix="finscope-writer-") as tmp:
        test_same_rows(tmp, captures, wild)
        test_disk_full(tmp)
    return T.summary("writer")


if __name__ == "__main__":
    sys.exit(main())
