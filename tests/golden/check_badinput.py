#!/usr/bin/env python3
"""check_badinput.py - bad files, cut-off captures, foreign databases, duplicates, a kill mid-run.

Usage: check_badinput.py FINSCOPE
Every check asserts exact outcomes: exit status, the message naming the file/offset, and the
database contents (or that the database file is byte-identical / was never created).
"""
import hashlib
import os
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

FINSCOPE = None
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: %s" % what)


def run(*args, timeout=120):
    return subprocess.run([FINSCOPE] + list(args), capture_output=True, text=True, timeout=timeout)


def sha(path):
    with open(path, "rb") as fp:
        return hashlib.sha256(fp.read()).hexdigest()


def pcap_header(linktype=1):
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)


def record(ts, frame):
    return struct.pack("<IIII", int(ts), int((ts % 1) * 1e6), len(frame), len(frame)) + frame


def forge(tmp, scenario, name=None):
    out = os.path.join(tmp, (name or scenario) + ".pcap")
    res = run("forge", scenario, "-o", out)
    assert res.returncode == 0, res.stderr
    return out


def rows(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def main():
    global FINSCOPE
    FINSCOPE = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "t.db")

        # 1. A file that is not a capture: one line naming it, non-zero exit, no database made.
        txt = os.path.join(tmp, "notes.txt")
        with open(txt, "w") as fp:
            fp.write("this is not a capture\n" * 10)
        r = run("analyze", "-o", db, txt)
        check(r.returncode == 1, "not-a-capture exits 1 (got %d)" % r.returncode)
        check(r.stderr.count("\n") == 1 and txt in r.stderr and "byte offset 0" in r.stderr,
              "not-a-capture: one line naming the file and offset: %r" % r.stderr)
        check(not os.path.exists(db), "not-a-capture: no database created")

        # ... and with an existing database, the database stays byte-identical.
        good = forge(tmp, "four_way")
        r = run("analyze", "-q", "-o", db, good)
        check(r.returncode == 0, "four_way analyzed: %s" % r.stderr)
        before = sha(db)
        r = run("analyze", "-o", db, txt)
        check(r.returncode == 1 and sha(db) == before, "not-a-capture leaves the database as it was")

        # 2. Duplicate: the same file again is refused, --replace replaces.
        r = run("analyze", "-q", "-o", db, good)
        check(r.returncode == 1 and "already analyzed" in r.stderr and "--replace" in r.stderr,
              "duplicate refused with a hint: %r" % r.stderr)
        check(rows(db, "SELECT count(*) FROM captures") == [(1,)], "duplicate: still one capture")
        r = run("analyze", "-q", "--replace", "-o", db, good)
        check(r.returncode == 0, "--replace accepted: %s" % r.stderr)
        check(rows(db, "SELECT count(*), min(id) FROM captures") == [(1, 2)],
              "--replace: one capture row, the new one")
        check(rows(db, "SELECT count(*) FROM flows WHERE capture_id <> 2") == [(0,)],
              "--replace: old flows gone")

        # 3. A capture cut off mid-record: complete packets analyzed, offset named, row says so.
        with open(good, "rb") as fp:
            data = fp.read()
        off, recs = 24, []
        while off + 16 <= len(data):
            caplen = struct.unpack("<I", data[off + 8:off + 12])[0]
            recs.append(off)
            off += 16 + caplen
        cut_at = recs[-2] + 16 + 10  # ten bytes into the second-to-last record's frame
        cut = os.path.join(tmp, "cut.pcap")
        with open(cut, "wb") as fp:
            fp.write(data[:cut_at])
        r = run("analyze", "-q", "-o", db, cut)
        check(r.returncode == 0, "cut capture exits 0: %s" % r.stderr)
        check("byte offset %d" % recs[-2] in r.stderr and cut in r.stderr,
              "cut capture warning names offset %d: %r" % (recs[-2], r.stderr))
        got = rows(db, "SELECT truncated, truncated_at, packets_read FROM captures WHERE source = '%s'" % cut)
        check(got == [(1, recs[-2], len(recs) - 2)],
              "cut capture row: expected %r got %r" % ([(1, recs[-2], len(recs) - 2)], got))

        # 3b. A corrupt record in the middle: what came before is analyzed, the warning says
        # "corrupt" and names its offset, and the file is still hashed whole (a rerun is a
        # duplicate).
        mixf = os.path.join(tmp, "mix.pcap")
        run("forge", "mix", "--flows", "40", "--seed", "2", "-o", mixf)
        with open(mixf, "rb") as fp:
            data = bytearray(fp.read())
        off, recs = 24, []
        while off + 16 <= len(data):
            recs.append(off)
            off += 16 + struct.unpack("<I", data[off + 8:off + 12])[0]
        bad_at = recs[len(recs) // 2]
        data[bad_at + 8:bad_at + 12] = struct.pack("<I", 0x7FFFFFFF)
        corrupt = os.path.join(tmp, "corrupt.pcap")
        with open(corrupt, "wb") as fp:
            fp.write(data)
        cdb = os.path.join(tmp, "corrupt.db")
        r = run("analyze", "-q", "-o", cdb, corrupt)
        check(r.returncode == 0 and "corrupt record at byte offset %d" % bad_at in r.stderr,
              "corrupt record named with its offset %d: %r" % (bad_at, r.stderr))
        got = rows(cdb, "SELECT truncated, truncated_at, packets_read, size_bytes, hash IS NOT NULL FROM captures")
        check(got == [(1, bad_at, len(recs) // 2, len(data), 1)],
              "corrupt capture row: expected %r got %r" % ([(1, bad_at, len(recs) // 2, len(data), 1)], got))
        r = run("analyze", "-q", "-o", cdb, corrupt)
        check(r.returncode == 1 and "already analyzed" in r.stderr, "corrupt file rerun is a duplicate")

        # 4. Garbage frames: counted by reason, never a crash.
        rnd = random.Random(7)
        junk = os.path.join(tmp, "junk.pcap")
        with open(junk, "wb") as fp:
            fp.write(pcap_header())
            for i in range(3000):
                n = rnd.choice([0, 1, 13, 14, 20, 33, 53, 54, 60, 100, 1514])
                frame = bytearray(rnd.getrandbits(8) for _ in range(n))
                if n >= 14 and i % 2:
                    frame[12:14] = rnd.choice([b"\x08\x00", b"\x86\xdd", b"\x81\x00", b"\x88\x47"])
                if n >= 24 and i % 4 == 1:
                    frame[14] = 0x45
                    frame[23] = 6
                fp.write(record(1000 + i * 0.001, bytes(frame)))
        r = run("analyze", "-q", "-o", db, junk)
        check(r.returncode == 0, "junk capture exits 0: %s" % r.stderr[-300:])
        got = rows(db, "SELECT packets_read, packets_tcp + packets_skipped FROM captures WHERE source = '%s'" % junk)
        check(got == [(3000, 3000)], "junk: every frame is TCP or skipped with a reason: %r" % got)
        reasons = dict(rows(db, "SELECT s.reason, s.packets FROM skipped s JOIN captures c ON c.id = s.capture_id WHERE c.source = '%s'" % junk))
        check(len(reasons) >= 4, "junk: several skip reasons recorded: %r" % reasons)

        # 5. An unsupported link type is a clear error.
        usr = os.path.join(tmp, "user0.pcap")
        with open(usr, "wb") as fp:
            fp.write(pcap_header(147) + record(1, b"\x00" * 40))
        r = run("analyze", "-o", db, usr)
        check(r.returncode == 1 and "not supported" in r.stderr and usr in r.stderr,
              "unsupported link type: %r" % r.stderr)

        # 6. A database that is not finscope's, and one of a newer schema: refused, untouched.
        other = os.path.join(tmp, "other.db")
        con = sqlite3.connect(other)
        con.execute("CREATE TABLE t(x)")
        con.commit()
        con.close()
        before = sha(other)
        r = run("analyze", "-o", other, good)
        check(r.returncode == 1 and "not a finscope database" in r.stderr and sha(other) == before,
              "foreign database refused and untouched: %r" % r.stderr)
        newer = os.path.join(tmp, "newer.db")
        r = run("analyze", "-q", "-o", newer, good)
        con = sqlite3.connect(newer)
        con.execute("PRAGMA user_version = 99")
        con.commit()
        con.close()
        before = sha(newer)
        r = run("analyze", "-o", newer, forge(tmp, "three_way_close"))
        check(r.returncode == 1 and "newer finscope" in r.stderr and sha(newer) == before,
              "newer schema refused and untouched: %r" % r.stderr)
        garbage_db = os.path.join(tmp, "garbage.db")
        with open(garbage_db, "wb") as fp:
            fp.write(b"\x01" * 8192)
        before = sha(garbage_db)
        r = run("analyze", "-o", garbage_db, good)
        check(r.returncode == 1 and garbage_db in r.stderr and sha(garbage_db) == before,
              "non-SQLite database file refused and untouched: %r" % r.stderr)

        # 7. Killed mid-run: the database opens and holds only whole captures.
        big = os.path.join(tmp, "big.pcap")
        r = run("forge", "mix", "--flows", "20000", "--seed", "3", "-o", big, timeout=300)
        check(r.returncode == 0, "forge mix: %s" % r.stderr)
        kdb = os.path.join(tmp, "kill.db")
        r = run("analyze", "-q", "-o", kdb, good)
        p = subprocess.Popen([FINSCOPE, "analyze", "-q", "-o", kdb, big],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.4)
        p.send_signal(signal.SIGKILL)
        p.wait()
        check(rows(kdb, "PRAGMA integrity_check") == [("ok",)], "killed run: integrity_check ok")
        check(rows(kdb, "SELECT count(*) FROM captures") == [(1,)], "killed run: only the whole capture")
        check(rows(kdb, "SELECT count(*) FROM flows WHERE capture_id NOT IN (SELECT id FROM captures)") == [(0,)],
              "killed run: no orphan flows")

    print("badinput: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
