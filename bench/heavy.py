#!/usr/bin/env python3
"""heavy.py N OUT.pcap [--four-way-only] - a connection-heavy capture, as web, API and database
servers see: N connections from N distinct client addresses to 10.0.0.1:443, 200 open at once,
their packets interleaved at random (seed 1), 20 us apart, small segments (300-byte requests,
1200-byte responses).  Deterministic: the same N gives the same bytes.

Connection i ends in the way KINDS[i % 20] says, so every close kind is there in fixed shares
(per 20 connections; packets each in brackets, 12 on average):
  6 four_way      client closes: FIN, ACK, FIN, ACK (+ a duplicate last ACK)      [12]
  2 four_way      server closes first (keep-alive timeout)                        [12]
  4 three_way     two requests, then client FIN, server FIN+ACK, ACK              [14]
  1 simultaneous  both FINs cross, then both ACKs (+ a duplicate last ACK)        [12]
  2 half_closed   two requests, client FIN acked, server never closes:
                  CLOSE_WAIT left open (the leak)                                 [13]
  1 refused       SYN, RST+ACK                                                    [2]
  2 rst abort     two requests answered, client RST+ACK without FIN (SO_LINGER 0) [12]
  2 rst unread_data  a second request (three segments) the server acks but never
                  answers, then the server's RST+ACK (close() with unread bytes)  [12]
bench/bench.py imports KINDS and expected() to check finscope's close_kinds on this capture.

--four-way-only: every connection is a four-way close of 12 packets (the workload of issues
9 and 11 before the mix; byte-identical to the /tmp/heavy85k.pcap those figures used).

  python3 bench/heavy.py 85000 /tmp/heavy85k-mix.pcap     # 1,020,000 packets, ~160 MB
"""
import random
import struct
import sys

FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16

# (name, close_kind, rst_cause, closer) for i % 20: the shares the docstring lists, spread out.
FOUR_C = ("four_way_client", "four_way", None, "client")
FOUR_S = ("four_way_server", "four_way", None, "server")
THREE = ("three_way", "three_way", None, "client")
SIMUL = ("simultaneous", "simultaneous", None, "both")
HALF = ("half_closed", "half_closed", None, "client")
REFUSED = ("refused", "refused", None, "server")
ABORT = ("rst_abort", "rst", "abort", "client")
UNREAD = ("rst_unread_data", "rst", "unread_data", "server")
KINDS = [FOUR_C, THREE, ABORT, FOUR_C, HALF, UNREAD, FOUR_S, THREE, FOUR_C, SIMUL,
         FOUR_C, ABORT, THREE, REFUSED, FOUR_C, HALF, UNREAD, FOUR_S, THREE, FOUR_C]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def frame(src, dst, sp, dp, seq, ack, flags, payload=b""):
    win = 0 if flags & RST else 65535
    tcp = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 5 << 4, flags, win, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip + tcp


def connection(i, kind, srv=bytes([10, 0, 0, 1])):
    """The frames of connection i, in the order its endpoints send them."""
    cli = bytes([10, 1 + (i >> 16) % 200, (i >> 8) & 255, i & 255])
    cp = 20000 + i % 40000
    c, s = random.getrandbits(32), random.getrandbits(32)
    C = lambda seq, ack, fl, pl=b"": frame(cli, srv, cp, 443, seq, ack, fl, pl)
    V = lambda seq, ack, fl, pl=b"": frame(srv, cli, 443, cp, seq, ack, fl, pl)
    if kind is REFUSED:
        return [C(c, 0, SYN), V(0, c + 1, RST | ACK)]
    p = [C(c, 0, SYN), V(s, c + 1, SYN | ACK), C(c + 1, s + 1, ACK)]
    c, s = c + 1, s + 1  # next sequence number each side sends

    def exchange():  # a 300-byte request, its ACK, a 1200-byte response, its ACK
        nonlocal c, s
        p.extend([C(c, s, PSH | ACK, b"q" * 300), V(s, c + 300, ACK),
                  V(s, c + 300, PSH | ACK, b"r" * 1200), C(c + 300, s + 1200, ACK)])
        c, s = c + 300, s + 1200

    exchange()
    if kind in (THREE, HALF, ABORT):
        exchange()  # keep-alive: a second request on the same connection
    if kind is FOUR_C:
        p += [C(c, s, FIN | ACK), V(s, c + 1, ACK), V(s, c + 1, FIN | ACK), C(c + 1, s + 1, ACK),
              C(c + 1, s + 1, ACK)]
    elif kind is FOUR_S:
        p += [V(s, c, FIN | ACK), C(c, s + 1, ACK), C(c, s + 1, FIN | ACK), V(s + 1, c + 1, ACK),
              V(s + 1, c + 1, ACK)]
    elif kind is THREE:
        p += [C(c, s, FIN | ACK), V(s, c + 1, FIN | ACK), C(c + 1, s + 1, ACK)]
    elif kind is SIMUL:
        p += [C(c, s, FIN | ACK), V(s, c, FIN | ACK), C(c + 1, s + 1, ACK), V(s + 1, c + 1, ACK),
              V(s + 1, c + 1, ACK)]
    elif kind is HALF:
        p += [C(c, s, FIN | ACK), V(s, c + 1, ACK)]
    elif kind is ABORT:
        p += [C(c, s, RST | ACK)]
    elif kind is UNREAD:
        p += [C(c, s, ACK, b"q" * 100), C(c + 100, s, ACK, b"q" * 100),
              C(c + 200, s, PSH | ACK, b"q" * 100), V(s, c + 300, ACK), V(s, c + 300, RST | ACK)]
    return p


def expected(n, four_way_only=False):
    """{(close_kind, rst_cause, closer): connections} for a capture of n connections."""
    out = {}
    for i in range(n):
        k = FOUR_C if four_way_only else KINDS[i % len(KINDS)]
        out[k[1:]] = out.get(k[1:], 0) + 1
    return out


def write(n, out, four_way_only=False):
    """Writes the capture; returns its packet count."""
    random.seed(1)
    live, nxt, t, total = [], 0, 1700000000.0, 0
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        while nxt < n or live:
            while nxt < n and len(live) < 200:
                live.append(connection(nxt, FOUR_C if four_way_only else KINDS[nxt % len(KINDS)]))
                nxt += 1
            k = random.randrange(len(live))
            p = live[k].pop(0)
            if not live[k]:
                live.pop(k)
            t += 0.00002
            sec = int(t)
            f.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(p), len(p)) + p)
            total += 1
    return total


def main():
    args = [a for a in sys.argv[1:] if a != "--four-way-only"]
    if len(args) != 2:
        print(__doc__)
        return 2
    n = int(args[0])
    total = write(n, args[1], "--four-way-only" in sys.argv)
    print("%d packets, %d connections" % (total, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
