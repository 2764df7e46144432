#!/usr/bin/env python3
"""record_loopback.py - real Linux TCP close sequences on loopback, captured with tcpdump.

Each scenario opens real sockets on 127.0.0.1 (or ::1) on its own port, does what an
application does (close, shutdown, SO_LINGER 0, close with unread data, ...), and tcpdump
records it.  The expected tokens are known by construction; the script checks from the
packets themselves that the intended pattern happened (timing can merge an ACK into a FIN)
and retries a bounded number of times.  Writes NAME.pcap and NAME.expected.tsv into OUTDIR.

The TSVs of the captures kept in captures/ also carry a "transitions" column and the
handshake RTT and dwell times, added after checking each against the tcpdump listing of the
capture (re-recording replaces the capture, so review those columns again).

Needs root (tcpdump on lo).  Usage: record_loopback.py OUTDIR [SCENARIO...]
"""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

BASE_PORT = 47100
COLUMNS = ["handshake", "close_kind", "rst_cause", "closer", "client_state", "server_state",
           "half_close_bytes", "client_packets", "server_packets", "client_bytes", "server_bytes"]


# ---- a minimal pcap reader, independent of finscope, to verify and count ----

def read_pcap(path):
    """Yield (ts, src, sport, dst, dport, flags, seq, ack, payload_len) for TCP on DLT_EN10MB."""
    with open(path, "rb") as fp:
        data = fp.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        if linktype != 1 or len(frame) < 14:
            continue
        etype = struct.unpack("!H", frame[12:14])[0]
        ip = frame[14:]
        if etype == 0x0800:
            ihl = (ip[0] & 15) * 4
            total = struct.unpack("!H", ip[2:4])[0]
            if ip[9] != 6:
                continue
            src, dst = socket.inet_ntop(socket.AF_INET, ip[12:16]), socket.inet_ntop(socket.AF_INET, ip[16:20])
            tcp, plen = ip[ihl:total], total - ihl
        elif etype == 0x86DD:
            if ip[6] != 6:
                continue
            plen = struct.unpack("!H", ip[4:6])[0]
            src, dst = socket.inet_ntop(socket.AF_INET6, ip[8:24]), socket.inet_ntop(socket.AF_INET6, ip[24:40])
            tcp = ip[40:40 + plen]
        else:
            continue
        sport, dport, seq, ack, offflags = struct.unpack("!HHIIH", tcp[:14])
        doff = (offflags >> 12) * 4
        yield (sec + usec / 1e6, src, sport, dst, dport, offflags & 0xFF, seq, ack, plen - doff)


FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


def counts(pkts, client_port):
    c = [p for p in pkts if p[2] == client_port]
    s = [p for p in pkts if p[2] != client_port]
    return len(c), len(s), sum(p[8] for p in c), sum(p[8] for p in s)


# ---- capture around a scenario ----

class Capture:
    def __init__(self, path, port, iface="lo"):
        self.proc = subprocess.Popen(
            ["tcpdump", "-i", iface, "-U", "--immediate-mode", "-s", "262144", "-w", path,
             "tcp port %d" % port],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        deadline = time.time() + 10
        line = b""
        while b"listening on" not in line and time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
        if b"listening on" not in line:
            raise RuntimeError("tcpdump did not start")

    def stop(self):
        time.sleep(0.3)
        self.proc.terminate()
        self.proc.wait(timeout=10)


def listener(port, family=socket.AF_INET, addr="127.0.0.1"):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(8)
    return s


def connect(port, family=socket.AF_INET, addr="127.0.0.1", cport=None):
    c = socket.socket(family, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if cport:
        c.bind((addr, cport))
    c.connect((addr, port))
    return c


def linger0(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# Each scenario: runs the sockets, returns (expected token dict, verify(pkts, cport) -> bool).

def sc_four_way(port, family=socket.AF_INET, addr="127.0.0.1"):
    ls = listener(port, family, addr)
    c = connect(port, family, addr)
    s, _ = ls.accept()
    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
    s.recv(100)
    s.sendall(b"x" * 500)
    c.recv(1000)
    time.sleep(0.05)
    c.close()                 # client FIN; the server kernel ACKs it at once
    time.sleep(0.2)           # the application takes 200 ms to close: CLOSE_WAIT
    assert s.recv(10) == b""
    s.close()
    ls.close()
    cport = None
    exp = dict(handshake="three_way", close_kind="four_way", rst_cause="-", closer="client",
               client_state="time_wait", server_state="closed", half_close_bytes="0")

    def verify(pkts, cp):
        # the server's first segment covering the client FIN must be a pure ACK, not its FIN
        cfin = [p for p in pkts if p[2] == cp and p[5] & FIN]
        if not cfin:
            return False
        fin_end = (cfin[0][6] + cfin[0][8] + 1) & 0xFFFFFFFF
        for p in pkts:
            if p[2] != cp and p[5] & ACK and p[7] == fin_end:
                return not (p[5] & FIN)
        return False
    return exp, verify


def sc_three_way(port):
    ls = listener(port)
    c = connect(port)
    s, _ = ls.accept()
    c.sendall(b"ping")
    s.recv(100)
    s.sendall(b"pong")
    c.recv(100)
    # Server app closes as soon as it reads EOF; with the ACK of the client's data
    # already sent, the kernel's ACK of the FIN can ride on the server's FIN.
    done = threading.Event()

    def srv():
        s.recv(10)
        s.close()
        done.set()
    t = threading.Thread(target=srv)
    t.start()
    time.sleep(0.05)
    c.close()
    t.join(5)
    ls.close()
    exp = dict(handshake="three_way", close_kind="three_way", rst_cause="-", closer="client",
               client_state="time_wait", server_state="closed", half_close_bytes="0")

    def verify(pkts, cp):
        cfin = [p for p in pkts if p[2] == cp and p[5] & FIN]
        if not cfin:
            return False
        fin_end = (cfin[0][6] + cfin[0][8] + 1) & 0xFFFFFFFF
        for p in pkts:
            if p[2] != cp and p[5] & ACK and p[7] == fin_end:
                return bool(p[5] & FIN)
        return False
    return exp, verify


def sc_self_connect(port):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(("127.0.0.1", port))
    c.connect(("127.0.0.1", port))
    c.sendall(b"hello me")
    c.recv(100)
    c.close()
    exp = dict(handshake="self_connect", close_kind="two_way", rst_cause="-", closer="self",
               client_state="time_wait", server_state="time_wait", half_close_bytes="0")
    return exp, lambda pkts, cp: any(p[5] & FIN for p in pkts)


def sc_refused(port):
    try:
        connect(port)
    except ConnectionRefusedError:
        pass
    exp = dict(handshake="refused", close_kind="refused", rst_cause="-", closer="server",
               client_state="closed", server_state="closed", half_close_bytes="0")
    return exp, lambda pkts, cp: any(p[5] & RST for p in pkts)


def sc_linger0(port):
    ls = listener(port)
    c = connect(port)
    s, _ = ls.accept()
    c.sendall(b"request")
    s.recv(100)
    s.sendall(b"response")
    c.recv(100)
    time.sleep(0.05)
    linger0(c)
    c.close()                 # SO_LINGER 0: RST instead of FIN
    time.sleep(0.05)
    s.close()
    ls.close()
    exp = dict(handshake="three_way", close_kind="rst", rst_cause="abort", closer="client",
               client_state="closed", server_state="closed", half_close_bytes="0")
    return exp, lambda pkts, cp: any(p[5] & RST for p in pkts) and not any(p[5] & FIN for p in pkts)


def sc_unread(port):
    ls = listener(port)
    c = connect(port)
    s, _ = ls.accept()
    c.sendall(b"a request the server never reads")
    time.sleep(0.05)
    s.close()                 # unread bytes in the receive queue: the kernel sends RST
    time.sleep(0.05)
    c.close()
    ls.close()
    exp = dict(handshake="three_way", close_kind="rst", rst_cause="unread_data", closer="server",
               client_state="closed", server_state="closed", half_close_bytes="0")
    return exp, lambda pkts, cp: any(p[5] & RST and p[2] != cp for p in pkts)


def sc_data_after_close(port):
    ls = listener(port)
    c = connect(port)
    s, _ = ls.accept()
    s.close()                 # server closes first: FIN
    time.sleep(0.05)
    c.send(b"late data")      # arrives at a socket that is gone: RST
    time.sleep(0.05)
    c.close()
    ls.close()
    exp = dict(handshake="three_way", close_kind="rst", rst_cause="data_after_close",
               closer="server", client_state="closed", server_state="closed",
               half_close_bytes="9")

    def verify(pkts, cp):
        return any(p[5] & RST and p[2] != cp for p in pkts) and any(p[5] & FIN and p[2] != cp for p in pkts)
    return exp, verify


def sc_half_closed(port):
    ls = listener(port)
    c = connect(port)
    s, _ = ls.accept()
    c.sendall(b"last words")
    c.shutdown(socket.SHUT_WR)   # client FIN; the server application never closes
    time.sleep(0.1)
    # capture stops here, with the server socket still open in CLOSE_WAIT
    return (dict(handshake="three_way", close_kind="half_closed", rst_cause="-", closer="client",
                 client_state="fin_wait_2", server_state="close_wait", half_close_bytes="0"),
            lambda pkts, cp: sum(1 for p in pkts if p[5] & FIN) == 1), (c, s, ls)


def sc_half_close_data(port):
    ls = listener(port)
    c = connect(port)
    s, _ = ls.accept()
    c.sendall(b"request")
    c.shutdown(socket.SHUT_WR)   # half-close: the client is done sending
    s.recv(100)
    time.sleep(0.05)
    for _ in range(3):
        s.sendall(b"r" * 100)    # the server keeps sending after the client's FIN
        time.sleep(0.02)
    c.recv(1000)
    time.sleep(0.05)
    s.close()
    time.sleep(0.05)
    c.close()
    ls.close()
    exp = dict(handshake="three_way", close_kind="four_way", rst_cause="-", closer="client",
               client_state="time_wait", server_state="closed", half_close_bytes="300")
    return exp, lambda pkts, cp: sum(1 for p in pkts if p[5] & FIN) == 2


def sc_four_way_v6(port):
    return sc_four_way(port, socket.AF_INET6, "::1")


SCENARIOS = {
    "lo_four_way": sc_four_way,
    "lo_three_way": sc_three_way,
    "lo_self_connect": sc_self_connect,
    "lo_refused": sc_refused,
    "lo_linger0": sc_linger0,
    "lo_unread_data": sc_unread,
    "lo_data_after_close": sc_data_after_close,
    "lo_half_closed": sc_half_closed,
    "lo_half_close_data": sc_half_close_data,
    "lo_four_way_v6": sc_four_way_v6,
}


def record(name, outdir, port, tries=5):
    path = os.path.join(outdir, name + ".pcap")
    for attempt in range(tries):
        cap = Capture(path, port)
        keep = None
        try:
            res = SCENARIOS[name](port)
            if isinstance(res[0], tuple):
                (exp, verify), keep = res
            else:
                exp, verify = res
        except OSError as e:  # a port in use (another run on this machine): the next ports
            print("%s: attempt %d: %s" % (name, attempt + 1, e))
            exp, verify = None, lambda pkts, cp: False
        finally:
            cap.stop()
            if keep:
                for k in keep:
                    k.close()
        pkts = list(read_pcap(path))
        syns = [p for p in pkts if p[5] & SYN and not p[5] & ACK]
        cport = syns[0][2] if syns else 0
        # The opening SYN must be there: under load tcpdump can start late and catch only the
        # end of a scenario, which some verify() functions alone would accept.
        if syns and pkts[0] is syns[0] and verify(pkts, cport):
            cp, sp, cb, sb = counts(pkts, cport)
            if exp["handshake"] == "self_connect":  # one socket: every segment is the client's
                cp, sp, cb, sb = len(pkts), 0, sum(p[8] for p in pkts), 0
            exp.update(client_packets=str(cp), server_packets=str(sp), client_bytes=str(cb),
                       server_bytes=str(sb))
            with open(os.path.join(outdir, name + ".expected.tsv"), "w") as fp:
                fp.write("\t".join(COLUMNS) + "\n")
                fp.write("\t".join(exp[k] for k in COLUMNS) + "\n")
            print("%s: recorded (%d packets, attempt %d)" % (name, len(pkts), attempt + 1))
            return True
        port += 50
        time.sleep(0.2)
    print("%s: the intended pattern did not happen in %d tries" % (name, tries))
    return False


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    if os.geteuid() != 0:
        print("record_loopback: SKIP: needs root to capture on lo")
        return 77
    outdir = sys.argv[1]
    names = sys.argv[2:] or list(SCENARIOS)
    try:  # can this machine capture on lo at all?  If not, skip rather than fail.
        Capture(os.path.join(outdir, "probe.pcap"), BASE_PORT - 1).stop()
        os.remove(os.path.join(outdir, "probe.pcap"))
    except (RuntimeError, OSError) as e:
        print("record_loopback: SKIP: cannot capture on lo (%s)" % e)
        return 77
    ok = True
    for i, name in enumerate(names):
        ok &= record(name, outdir, BASE_PORT + i * 7)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
