#!/usr/bin/env python3
"""heavy.py N OUT.pcap - a connection-heavy capture, as web and API servers see: N connections
of 12 packets each (handshake, a 300-byte request and its ACK, a 1200-byte response and its
ACK, a four-way close, one extra ACK), from N distinct client addresses to 10.0.0.1:443, 200
open at once, their packets interleaved at random (seed 1), 20 us apart.  Deterministic.

  python3 bench/heavy.py 85000 /tmp/heavy85k.pcap     # 1,020,000 packets, ~110 MB
"""
import random
import struct
import sys

SYN, FIN, PSH, ACK = 2, 1, 8, 16


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def frame(src, dst, sp, dp, seq, ack, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip + tcp


def connection(i, srv=bytes([10, 0, 0, 1])):
    cli = bytes([10, 1 + (i >> 16) % 200, (i >> 8) & 255, i & 255])
    cp = 20000 + i % 40000
    c, s = random.getrandbits(32), random.getrandbits(32)
    C = lambda seq, ack, fl, pl=b"": frame(cli, srv, cp, 443, seq, ack, fl, pl)
    V = lambda seq, ack, fl, pl=b"": frame(srv, cli, 443, cp, seq, ack, fl, pl)
    return [C(c, 0, SYN), V(s, c + 1, SYN | ACK), C(c + 1, s + 1, ACK),
            C(c + 1, s + 1, PSH | ACK, b"q" * 300), V(s + 1, c + 301, ACK),
            V(s + 1, c + 301, PSH | ACK, b"r" * 1200), C(c + 301, s + 1201, ACK),
            C(c + 301, s + 1201, FIN | ACK), V(s + 1201, c + 302, ACK),
            V(s + 1201, c + 302, FIN | ACK), C(c + 302, s + 1202, ACK), C(c + 302, s + 1202, ACK)]


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    n, out = int(sys.argv[1]), sys.argv[2]
    random.seed(1)
    live, nxt, t, total = [], 0, 1700000000.0, 0
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        while nxt < n or live:
            while nxt < n and len(live) < 200:
                live.append(connection(nxt))
                nxt += 1
            k = random.randrange(len(live))
            p = live[k].pop(0)
            if not live[k]:
                live.pop(k)
            t += 0.00002
            sec = int(t)
            f.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(p), len(p)) + p)
            total += 1
    print("%d packets, %d connections" % (total, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
