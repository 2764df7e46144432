#!/usr/bin/env python3
"""check_inputs.py - the ways a capture reaches finscope: pcapng, nanosecond pcap, stdin,
several files in one run, a BPF filter.  Each must give exactly the rows the plain pcap gives.

Usage: check_inputs.py FINSCOPE
"""
import os
import sqlite3
import struct
import subprocess
import sys
import tempfile

FINSCOPE = None
passed = failed = 0
ROWCOLS = ("client_addr, client_port, server_addr, server_port, first_ts, last_ts, handshake, "
           "close_kind, rst_cause, closer, client_state, server_state, client_packets, "
           "server_packets, client_bytes, server_bytes, transition_log, segment_log")


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: %s" % what)


def run(*args, stdin=None):
    return subprocess.run([FINSCOPE] + list(args), capture_output=True, text=True, timeout=120,
                          stdin=stdin)


def rows(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def flows(db, capture_id):
    return rows(db, "SELECT %s FROM flows WHERE capture_id = %d ORDER BY first_packet" % (ROWCOLS, capture_id))


def read_pcap(path):
    """(linktype, [(sec, usec, frame)]) of a little-endian microsecond pcap."""
    with open(path, "rb") as fp:
        data = fp.read()
    assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4
    linktype = struct.unpack("<I", data[20:24])[0]
    off, recs = 24, []
    while off + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack("<IIII", data[off:off + 16])
        recs.append((sec, usec, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return linktype, recs


def write_pcapng(path, linktype, recs):
    """SHB, one IDB (microsecond stamps, the default), one EPB per frame; returns EPB offsets."""
    def block(btype, body):
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    out = bytearray()
    out += block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", linktype, 0, 262144))
    offsets = []
    for sec, usec, frame in recs:
        ts = sec * 1000000 + usec
        pad = b"\0" * ((4 - len(frame) % 4) % 4)
        offsets.append(len(out))
        out += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + frame + pad)
    with open(path, "wb") as fp:
        fp.write(out)
    return offsets


def write_pcap_ns(path, linktype, recs, extra_ns):
    with open(path, "wb") as fp:
        fp.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, linktype))
        for sec, usec, frame in recs:
            fp.write(struct.pack("<IIII", sec, usec * 1000 + extra_ns, len(frame), len(frame)) + frame)


def main():
    global FINSCOPE
    FINSCOPE = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "in.db")
        pcap = os.path.join(tmp, "mix.pcap")
        r = run("forge", "mix", "--flows", "60", "--seed", "5", "-o", pcap)
        check(r.returncode == 0, "forge mix: %s" % r.stderr)
        r = run("analyze", "-q", "-o", db, pcap)
        check(r.returncode == 0, "plain pcap: %s" % r.stderr)
        base = flows(db, 1)
        check(len(base) >= 60, "plain pcap gives the mix's flows (%d)" % len(base))
        linktype, recs = read_pcap(pcap)

        # pcapng: same rows; the capture row names the link type.
        ng = os.path.join(tmp, "mix.pcapng")
        offsets = write_pcapng(ng, linktype, recs)
        r = run("analyze", "-q", "-o", db, ng)
        check(r.returncode == 0, "pcapng: %s" % r.stderr)
        check(flows(db, 2) == base, "pcapng gives the same rows as pcap")
        check(rows(db, "SELECT link_type, packets_read, truncated FROM captures WHERE id = 2") ==
              [("EN10MB", len(recs), 0)], "pcapng capture row")

        # pcapng cut inside a block: warning with the block's offset, the rest analyzed.
        cut = os.path.join(tmp, "cut.pcapng")
        with open(ng, "rb") as fp:
            data = fp.read()
        with open(cut, "wb") as fp:
            fp.write(data[:offsets[-5] + 20])
        r = run("analyze", "-q", "-o", db, cut)
        check(r.returncode == 0 and "byte offset %d" % offsets[-5] in r.stderr,
              "cut pcapng names offset %d: %r" % (offsets[-5], r.stderr))
        check(rows(db, "SELECT truncated, truncated_at, packets_read FROM captures WHERE id = 3") ==
              [(1, offsets[-5], len(recs) - 5)], "cut pcapng capture row")

        # Nanosecond pcap: stamps scaled to microseconds (rounded down), rows otherwise equal.
        ns = os.path.join(tmp, "mix-ns.pcap")
        write_pcap_ns(ns, linktype, recs, 999)
        r = run("analyze", "-q", "-o", db, ns)
        check(r.returncode == 0 and flows(db, 4) == base, "nanosecond pcap gives the same rows")

        # stdin: same rows, same content hash as the file, and so a duplicate of it.
        db2 = os.path.join(tmp, "stdin.db")
        with open(pcap, "rb") as fp:
            r = run("analyze", "-q", "-o", db2, "-", stdin=fp)
        check(r.returncode == 0, "stdin: %s" % r.stderr)
        check(flows(db2, 1) == base, "stdin gives the same rows")
        h_stdin = rows(db2, "SELECT source, hash, size_bytes FROM captures")
        h_file = rows(db, "SELECT hash, size_bytes FROM captures WHERE id = 1")
        check(h_stdin == [("-",) + h_file[0]] and h_file[0][1] == os.path.getsize(pcap),
              "stdin hash and size equal the file's: %r %r" % (h_stdin, h_file))
        with open(pcap, "rb") as fp:
            r = run("analyze", "-q", "-o", db, "-", stdin=fp)
        check(r.returncode == 1 and "already analyzed" in r.stderr, "stdin duplicate refused: %r" % r.stderr)
        check(rows(db, "SELECT count(*) FROM captures") == [(4,)], "refused stdin left no capture row")

        # Several files in one run: one capture row each, in order; a bad one does not stop the rest.
        db3 = os.path.join(tmp, "multi.db")
        junk = os.path.join(tmp, "junk.pcap")
        with open(junk, "wb") as fp:
            fp.write(b"junk" * 100)
        four = os.path.join(tmp, "four.pcap")
        run("forge", "four_way", "-o", four)
        r = run("analyze", "-q", "-o", db3, pcap, junk, four)
        check(r.returncode == 1 and junk in r.stderr, "a bad file among several: exit 1, named")
        check(rows(db3, "SELECT id, source FROM captures ORDER BY id") == [(1, pcap), (2, four)],
              "one capture row per good file, in order")

        # A BPF filter: only the matching flows, and the filter is recorded.
        addr = base[0][0]
        db4 = os.path.join(tmp, "filter.db")
        r = run("analyze", "-q", "-o", db4, "-f", "host %s" % addr, pcap)
        check(r.returncode == 0, "filter: %s" % r.stderr)
        want = [f for f in base if addr in (f[0], f[2])]
        check(flows(db4, 1) == want and len(want) < len(base),
              "filter keeps exactly the flows of %s (%d of %d)" % (addr, len(want), len(base)))
        check(rows(db4, "SELECT filter FROM captures") == [("host %s" % addr,)], "filter recorded")
        got = rows(db4, "SELECT c.packets_read, c.packets_tcp, s.packets FROM captures c "
                        "JOIN skipped s ON s.capture_id = c.id AND s.reason = 'filtered'")
        check(len(got) == 1 and got[0][0] == len(recs) and got[0][1] + got[0][2] == len(recs),
              "filtered frames counted as skipped 'filtered', frames keep file numbers: %r" % got)
        r = run("analyze", "-q", "-o", os.path.join(tmp, "bad.db"), "-f", "port nonsense", pcap)
        check(r.returncode == 1 and "bad filter 'port nonsense'" in r.stderr,
              "bad filter named: %r" % r.stderr)

    print("inputs: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
