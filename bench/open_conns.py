#!/usr/bin/env python3
"""open_conns.py - a capture of N connections that are all open at once, for memory per connection.

Usage: open_conns.py OUT.pcap N

Each connection: handshake, 100 bytes from the client, the server's ack; none closes, so at
the end of the capture finscope holds all N at once.  Peak RSS of `finscope analyze` on two
such files (e.g. 50,000 and 250,000) gives the memory per held connection as the slope:

    python3 bench/open_conns.py /tmp/o50k.pcap 50000
    python3 bench/open_conns.py /tmp/o250k.pcap 250000
    /usr/bin/time -f %M build/src/finscope analyze -q -o /tmp/o50k.db /tmp/o50k.pcap
    /usr/bin/time -f %M build/src/finscope analyze -q -o /tmp/o250k.db /tmp/o250k.pcap
"""
import struct
import sys

SYN, ACK, PSH = 2, 16, 8
ETH = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
SERVER = bytes([10, 200, 0, 1])


def frame(out, ts, src, dst, sport, dport, flags, seq, ack, payload):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    data = ETH + ip + tcp
    out.write(struct.pack("<IIII", int(ts), int(ts % 1 * 1e6), len(data), len(data)) + data)


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(n):
            client, port, t = bytes([10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF]), 1024 + i % 60000, 1.7e9 + i * 1e-5
            frame(out, t, client, SERVER, port, 80, SYN, 1000, 0, b"")
            frame(out, t + 1e-6, SERVER, client, 80, port, SYN | ACK, 5000, 1001, b"")
            frame(out, t + 2e-6, client, SERVER, port, 80, ACK, 1001, 5001, b"")
            frame(out, t + 3e-6, client, SERVER, port, 80, PSH | ACK, 1001, 5001, b"z" * 100)
            frame(out, t + 4e-6, SERVER, client, 80, port, ACK, 5001, 1101, b"")


if __name__ == "__main__":
    main()
