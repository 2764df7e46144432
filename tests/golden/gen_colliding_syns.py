#!/usr/bin/env python3
"""gen_colliding_syns.py OUT.pcap N colliding|ordinary - N bare SYNs from N distinct IPv6 clients.

colliding: every tuple has the same hash under the flow table's old, unkeyed tuple_hash (kept
here only, as old_tuple_hash: finscope before issue 9), so all N shared one hash chain and each
SYN walked it (quadratic).  The old hash mixed each endpoint as (w0*K1) ^ (w1*K2) ^ (port*K3),
w0 and w1 the address's two 64-bit halves; K1 is odd, so for any w1 a w0 exists that gives one
chosen value.  ordinary: the same packets with random addresses.  Deterministic (seed 9).
"""
import random
import struct
import sys

M64 = (1 << 64) - 1
K1, K2, K3 = 0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f, 0x165667b19e3779f9
SERVER, SPORT, DPORT = bytes.fromhex("20010db8000000000000000000000001"), 40000, 80


def mix64(h):
    h ^= h >> 33
    h = h * 0xff51afd7ed558ccd & M64
    h ^= h >> 33
    h = h * 0xc4ceb9fe1a85ec53 & M64
    return h ^ (h >> 33)


def endpoint_hash(addr, port):
    w0, w1 = struct.unpack("<QQ", addr)
    return (w0 * K1 & M64) ^ (w1 * K2 & M64) ^ (port * K3 & M64)


def old_tuple_hash(src, sport, dst, dport, ip_version=6):
    """src/flow.c's tuple_hash before issue 9 (uint32 of mix64 of the endpoints' sum)."""
    return mix64((endpoint_hash(src, sport) + endpoint_hash(dst, dport) + ip_version) & M64) & 0xffffffff


def colliding_clients(n, rng):
    target = endpoint_hash(bytes.fromhex("20010db8000000010000000000000001"), SPORT)
    inv_k1 = pow(K1, -1, 1 << 64)
    out = []
    for _ in range(n):
        w1 = rng.getrandbits(64)
        w0 = (target ^ (w1 * K2 & M64) ^ (SPORT * K3 & M64)) * inv_k1 & M64
        out.append(struct.pack("<QQ", w0, w1))
    return out


def syn(src, seq):
    tcp = struct.pack("!HHIIBBHHH", SPORT, DPORT, seq, 0, 5 << 4, 2, 65535, 0, 0)
    ip6 = struct.pack("!IHBB", 6 << 28, len(tcp), 6, 64) + src + SERVER
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd" + ip6 + tcp


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("colliding", "ordinary"):
        print(__doc__)
        return 2
    path, n, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(9)
    if kind == "colliding":
        clients = colliding_clients(n, rng)
    else:
        clients = [bytes.fromhex("20010db8") + rng.getrandbits(96).to_bytes(12, "big") for _ in range(n)]
    hashes = {old_tuple_hash(c, SPORT, SERVER, DPORT) for c in clients}
    if len(set(clients)) != n or (kind == "colliding") != (len(hashes) == 1):
        print("gen_colliding_syns: the tuples are not what was asked for")
        return 1
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, c in enumerate(clients):
            p = syn(c, rng.getrandbits(32))
            t = 1700000000 * 10**6 + i * 10
            f.write(struct.pack("<IIII", t // 10**6, t % 10**6, len(p), len(p)) + p)
    print("%d %s SYNs, %d distinct old hashes" % (n, kind, len(hashes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
