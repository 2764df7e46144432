#!/usr/bin/env python3
"""check_evict.py FINSCOPE - eviction stays useful under pressure (issue 9, flow.h "Eviction").

N connections touched in turn, one 10-byte data segment each per round, R rounds.  Without a
limit: N rows.  With --max-flows N/4, least-recently-used eviction wrote one row per packet
(N*R); now the first N/4 tuples are continued once and hold the table, the other 3N/4 collect
in one tail row each: exactly 2N rows, every packet counted once, in every run alike.
"""
import os
import sqlite3
import struct
import sys
import tempfile

import checklib as T

N, R = 2000, 6


def write_pcap(path):
    eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
    server = bytes([10, 200, 0, 1])
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        t = 1700000000 * 10**6
        for r in range(R):
            for i in range(N):
                client = bytes([10, 1, i >> 8, i & 255])
                tcp = struct.pack("!HHIIBBHHH", 20000 + i, 443, 1001 + 10 * r, 5001, 5 << 4, 0x18, 65535, 0, 0)
                tcp += b"x" * 10
                ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, client, server)
                p = eth + ip + tcp
                f.write(struct.pack("<IIII", t // 10**6, t % 10**6, len(p), len(p)) + p)
                t += 100


def analyze(pcap, db, *opts):
    if os.path.exists(db):
        os.unlink(db)
    r = T.run("analyze", "-q", "-o", db, *opts, pcap, timeout=300)
    T.check(r.returncode == 0, "analyze %s: exit %d %s" % (opts, r.returncode, r.stderr[-300:]))
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT count(*), sum(client_packets + server_packets), "
                           "sum(anomalies LIKE '%evicted%'), sum(handshake = 'none') FROM flows").fetchone()
    finally:
        con.close()


def main():
    T.FINSCOPE = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="fsc_evict_") as d:
        pcap = os.path.join(d, "rr.pcap")
        write_pcap(pcap)
        rows, pkts, evicted, midstream = analyze(pcap, os.path.join(d, "all.db"))
        T.check((rows, pkts, evicted) == (N, N * R, 0), "no limit: %d rows, %d packets, %d evicted" % (rows, pkts, evicted))
        for run in range(2):
            rows, pkts, evicted, midstream = analyze(pcap, os.path.join(d, "lim.db"), "--max-flows", str(N // 4))
            T.check(rows == 2 * N, "--max-flows N/4, run %d: %d rows, expected 2N = %d (not N*R)" % (run, rows, 2 * N))
            T.check(pkts == N * R, "--max-flows N/4: %d packets counted, expected %d" % (pkts, N * R))
            # N originals written early, and 3N/4 tails (their middle packets unanalyzed).
            T.check(evicted == N + N * 3 // 4, "--max-flows N/4: %d rows marked evicted" % evicted)
            T.check(midstream == 2 * N, "--max-flows N/4: %d midstream rows" % midstream)
    return T.summary("evict")


if __name__ == "__main__":
    sys.exit(main())
