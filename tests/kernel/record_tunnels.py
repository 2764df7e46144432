#!/usr/bin/env python3
"""record_tunnels.py - real TCP connections through a kernel tunnel between two network
namespaces, captured on the underlay and on the tunnel device at once.

Two namespaces (A, B) are joined by a veth pair, the underlay (10.201.0.1/.2, or fd00:201::1/::2);
a VXLAN device (VNI 42, UDP 4789) on top of it in each carries the overlay (10.202.0.1/.2,
fd00:202::1/::2).  Addresses exist only inside the namespaces, so traffic only ever goes
between them.  In A, tcpdump records the underlay veth (every packet VXLAN-encapsulated, and with
a reduced underlay MTU the outer IPv4 datagrams fragmented by the kernel) and, at the same time,
the VXLAN device itself (the same packets, bare).  TSO, GSO and GRO are turned off on the VXLAN
devices (as `ethtool -K` would) so that both captures see one frame per TCP segment.

Each scenario is two applications doing something whose close is known by construction:
  vxlan_four_way      IPv4 in IPv4: request, response, client close(), server close() 200 ms
                      after reading EOF: four_way, closer client
  vxlan_fragments     IPv4 in IPv4 over a 1000-byte underlay MTU with a 1400-byte overlay MTU:
                      the server sends 20,000 bytes with DF clear and closes first (four_way,
                      closer server).  The kernel fragments the first full segments' outer UDP
                      datagrams, then, having learned the path MTU, fragments the inner IPv4
                      datagrams and sends each piece in its own VXLAN packet
  vxlan6_four_way     IPv6 in IPv6: as vxlan_four_way
  vxlan6_inner_fragments  IPv4 over an IPv6 underlay (1280-byte MTU), as vxlan_fragments.  Linux
                      does not fragment the outer IPv6 datagrams: the first full segments are
                      dropped ("packet too big"), then the inner IPv4 datagrams are fragmented
For each, the tokens are checked against what the sockets did and the packet and byte counts
against an independent reading of the tunnel device's capture (tcp_segments below);
the underlay capture is written as NAME.pcap and the tunnel device's as NAME.inner.pcap, each
with the same NAME[.inner].expected.tsv, which tests/golden/check_captures.py compares with
finscope's rows for each: finscope must say the same of both capture points.  The fragment
scenarios also check that the kernel really fragmented something on the underlay.

The kernel must support veth and vxlan links.  The script says which of gretap, gre, ipip and
sit the kernel can create, but records VXLAN only (this project's VM kernel has none of them).
Needs root, `ip` and tcpdump; exits 77 (skip) without them.  Every wait is bounded.
Usage: record_tunnels.py OUTDIR
"""
import ctypes
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
FIN = 0x01

HERE = os.path.abspath(__file__)
TAG = os.getpid() % 100000
NS_A, NS_B = "fstunA%d" % TAG, "fstunB%d" % TAG
PORT = 47900
COLUMNS = ["handshake", "close_kind", "rst_cause", "closer", "client_state", "server_state",
           "half_close_bytes", "client_packets", "server_packets", "client_bytes", "server_bytes",
           "fin_retrans", "rst_after_close"]
ATTEMPTS = 3          # a scenario whose packets are not what was intended is run again
DEADLINE_S = 50       # the whole recording


class Skip(Exception):
    pass


def sh(*args, check=True):
    res = subprocess.run(list(args), capture_output=True, text=True, timeout=20)
    if check and res.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), res.stderr.strip()))
    return res


def in_ns(ns, *args, timeout=20):
    """Run this script (args: a peer mode) inside namespace ns; its output."""
    res = subprocess.run(["ip", "netns", "exec", ns, sys.executable, HERE] + list(args),
                         capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError("%s in %s: %s" % (args[0], ns, res.stderr.strip()))
    return res.stdout


# ---- peers, run inside a namespace by in_ns ----

def offload_off(ifname):
    """Turn TSO, GSO and GRO off on ifname, as `ethtool -K IF tso off gso off gro off` does
    (ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO through SIOCETHTOOL)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for cmd in (0x1F, 0x24, 0x2C):
        val = ctypes.create_string_buffer(struct.pack("II", cmd, 0))
        ifr = struct.pack("16sQ16x", ifname.encode(), ctypes.addressof(val))
        fcntl.ioctl(s.fileno(), 0x8946, ifr)
    s.close()


def recv_upto(c, n):
    """Read n bytes from c, or fewer if the peer closes first."""
    got = 0
    while got < n:
        d = c.recv(n - got)
        if not d:
            break
        got += len(d)


def serve(host, mode):
    """Accept one connection on host:PORT and play the server's part of mode."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, PORT))
    ls.listen(1)
    ls.settimeout(10)
    print("ready", flush=True)
    c, _ = ls.accept()
    c.settimeout(10)
    if mode == "four_way":
        recv_upto(c, 200)
        c.sendall(b"r" * 1000)
        while c.recv(4096):
            pass
        time.sleep(0.2)  # the FIN was acked at once; the application closes later
    else:
        # DF clear (IP_PMTUDISC_DONT): with DF set, the VXLAN driver answers a packet too big for
        # the underlay with "fragmentation needed" and TCP shrinks its segments instead.
        c.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER, IP_PMTUDISC_DONT
        c.sendall(b"d" * 20000)
        c.shutdown(socket.SHUT_WR)  # FIN after the data, then wait for the client's
        while c.recv(4096):
            pass
    c.close()
    ls.close()


def connect(host, mode):
    """Play the client's part of mode against host:PORT."""
    c = socket.create_connection((host, PORT), timeout=10)
    if mode == "four_way":
        c.sendall(b"q" * 200)
        recv_upto(c, 1000)
    else:
        while c.recv(65536):
            pass
        time.sleep(0.2)
    c.close()


# ---- the namespaces and the tunnel ----

def probe_kinds():
    """The tunnel link kinds this kernel can create (in a scratch namespace)."""
    ns = "fstunP%d" % TAG
    sh("ip", "netns", "add", ns)
    have = []
    try:
        for kind, extra in (("vxlan", ["id", "1", "dstport", "4789"]), ("gretap", []),
                            ("gre", []), ("ipip", []), ("sit", [])):
            args = ["ip", "-n", ns, "link", "add", "p" + kind, "type", kind] + extra
            if kind != "vxlan":
                args += ["local", "10.9.9.1", "remote", "10.9.9.2"]
            if sh(*args, check=False).returncode == 0:
                have.append(kind)
    finally:
        sh("ip", "netns", "del", ns, check=False)
    return have


def setup(ul6, ov6, ul_mtu, ov_mtu):
    """Namespaces, veth underlay, VXLAN overlay; offloads off on the VXLAN devices."""
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "add", ns)
    va, vb = "fsva%d" % TAG, "fsvb%d" % TAG
    sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
    ends = {NS_A: (va, 1), NS_B: (vb, 2)}
    for ns, (dev, i) in ends.items():
        peer = 3 - i
        sh("ip", "link", "set", dev, "netns", ns)
        sh("ip", "-n", ns, "link", "set", dev, "name", "ul0", "mtu", str(ul_mtu), "up")
        if ul6:
            local, remote = "fd00:201::%d" % i, "fd00:201::%d" % peer
            sh("ip", "-n", ns, "addr", "add", local + "/64", "dev", "ul0", "nodad")
        else:
            local, remote = "10.201.0.%d" % i, "10.201.0.%d" % peer
            sh("ip", "-n", ns, "addr", "add", local + "/24", "dev", "ul0")
        # No `dev`: the overlay MTU may then exceed the underlay's, so outer datagrams fragment.
        sh("ip", "-n", ns, "link", "add", "vx0", "type", "vxlan", "id", "42", "dstport", "4789",
           "local", local, "remote", remote)
        sh("ip", "-n", ns, "link", "set", "vx0", "mtu", str(ov_mtu), "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        in_ns(ns, "--offload-off", "vx0")
        if ov6:
            sh("ip", "-n", ns, "addr", "add", "fd00:202::%d/64" % i, "dev", "vx0", "nodad")
        else:
            sh("ip", "-n", ns, "addr", "add", "10.202.0.%d/24" % i, "dev", "vx0")


def teardown():
    """Delete both namespaces (their devices go with them) and a veth left in this one."""
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "del", ns, check=False)
    sh("ip", "link", "del", "fsva%d" % TAG, check=False)


def start_tcpdump(dev, path):
    """tcpdump on dev in namespace A, returned once it is listening (at most 5 s)."""
    # A small snaplen (frames here are at most 1,514 bytes) and a large buffer: libpcap sizes its
    # ring's slots by the snaplen, and 262,144-byte slots hold a burst of only a few frames.
    p = subprocess.Popen(["ip", "netns", "exec", NS_A, "tcpdump", "-i", dev, "-U",
                          "--immediate-mode", "-nn", "-s", "2048", "-B", "16384", "-w", path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 5
    fd = p.stderr.fileno()
    os.set_blocking(fd, False)
    buf = b""
    while time.monotonic() < deadline:
        try:
            buf += os.read(fd, 4096)
        except BlockingIOError:
            pass
        if b"listening on" in buf:
            return p
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    p.wait()
    raise RuntimeError("tcpdump on %s did not start: %s" % (dev, buf.decode(errors="replace")))


def stop_tcpdump(p):
    time.sleep(0.3)  # the last ACK's copy on its way to the capture
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def run_connection(ov6, mode, ul_path, inner_path):
    """One connection from A to B in mode, recorded on the underlay and on the tunnel device."""
    server = "fd00:202::2" if ov6 else "10.202.0.2"
    caps = [start_tcpdump("ul0", ul_path), start_tcpdump("vx0", inner_path)]
    srv = subprocess.Popen(["ip", "netns", "exec", NS_B, sys.executable, HERE, "--serve", server,
                            mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline()  # "ready" (the server's accept times out after 10 s)
        if line.strip() != "ready":
            raise RuntimeError("server did not start: %s" % srv.stderr.read().strip())
        in_ns(NS_A, "--connect", server, mode, timeout=15)
        srv.wait(timeout=15)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
        for p in caps:
            stop_tcpdump(p)
    if srv.returncode != 0:
        raise RuntimeError("server: %s" % srv.stderr.read().strip())


def pcap_frames(path):
    """The frames of a pcap file (microsecond or nanosecond, either byte order)."""
    with open(path, "rb") as fp:
        data = fp.read()
    endian = "<" if struct.unpack("<I", data[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        caplen = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        yield data[off + 16:off + 16 + caplen]
        off += 16 + caplen


def tcp_segments(path):
    """(src, sport, flags, payload_len) of every TCP segment in an Ethernet capture, in order;
    IPv4 fragments (the tunnel device sees the inner datagrams the kernel fragmented) are put
    back together by (source, destination, identification), the segment counted once, when
    its last missing piece arrives.  Written apart from finscope's decoder, on purpose."""
    pending = {}
    for frame in pcap_frames(path):
        if len(frame) < 14:
            continue
        etype, ip = struct.unpack("!H", frame[12:14])[0], frame[14:]
        if etype == 0x0800 and len(ip) >= 20 and ip[9] == 6:
            ihl, total = (ip[0] & 15) * 4, struct.unpack("!H", ip[2:4])[0]
            src = socket.inet_ntop(socket.AF_INET, ip[12:16])
            frag = struct.unpack("!H", ip[6:8])[0]
            body = ip[ihl:total]
            if frag & 0x3FFF:  # MF or an offset: a piece of a datagram
                key = (ip[12:20], ip[4:6])
                pieces = pending.setdefault(key, {})
                pieces[(frag & 0x1FFF) * 8] = (body, not frag & 0x2000)
                pos, whole = 0, b""
                while pos in pieces:
                    piece, last = pieces[pos]
                    whole += piece
                    pos += len(piece)
                    if last:
                        break
                else:
                    continue
                del pending[key]
                body = whole
        elif etype == 0x86DD and len(ip) >= 40 and ip[6] == 6:
            src = socket.inet_ntop(socket.AF_INET6, ip[8:24])
            body = ip[40:40 + struct.unpack("!H", ip[4:6])[0]]
        else:
            continue
        if len(body) >= 20:
            sport, off_flags = struct.unpack("!H", body[:2])[0], body[12:14]
            yield src, sport, off_flags[1], len(body) - (off_flags[0] >> 4) * 4


def fragments(path):
    """(outer, inner) IP fragments in an underlay capture: outer IPv4 datagrams with MF set or
    an offset, or IPv6 ones with a fragment header; and inner IPv4 fragments inside a VXLAN
    packet that is not itself a fragment."""
    outer = inner = 0
    for f in pcap_frames(path):
        etype = f[12:14]
        if etype == b"\x08\x00" and len(f) >= 34:
            if struct.unpack("!H", f[20:22])[0] & 0x3FFF:
                outer += 1
                continue
            udp = 14 + (f[14] & 15) * 4 if f[23] == 17 else None
        elif etype == b"\x86\xdd" and len(f) >= 54:
            if f[20] == 44:
                outer += 1
                continue
            udp = 54 if f[20] == 17 else None
        else:
            continue
        ip = udp + 8 + 8 + 14 if udp else 0  # UDP, VXLAN and Ethernet headers, then inner IP
        if (udp and len(f) >= ip + 20 and f[ip - 2:ip] == b"\x08\x00"
                and struct.unpack("!H", f[ip + 6:ip + 8])[0] & 0x3FFF):
            inner += 1
    return outer, inner


def expected_row(inner_path, client_closes):
    """The row the connection must yield: tokens by construction, counts from the bare capture."""
    pkts = list(tcp_segments(inner_path))
    if not pkts:
        return None, "no TCP in the tunnel device's capture"
    client = pkts[0][:2]  # the SYN
    cnt = {"client_packets": 0, "server_packets": 0, "client_bytes": 0, "server_bytes": 0}
    fins = {"client": 0, "server": 0}
    for src, sport, flags, plen in pkts:
        side = "client" if (src, sport) == client else "server"
        cnt[side + "_packets"] += 1
        cnt[side + "_bytes"] += plen
        fins[side] += 1 if flags & FIN else 0
    if fins != {"client": 1, "server": 1}:
        return None, "FINs sent %s, expected one each" % fins
    first, second = ("client", "server") if client_closes else ("server", "client")
    row = {"handshake": "three_way", "close_kind": "four_way", "rst_cause": "-", "closer": first,
           first + "_state": "time_wait", second + "_state": "closed", "half_close_bytes": "0",
           "fin_retrans": "0", "rst_after_close": "0"}
    row.update({k: str(v) for k, v in cnt.items()})
    return [row[c] for c in COLUMNS], None


SCENARIOS = [
    # name, IPv6 underlay, IPv6 overlay, underlay MTU, overlay MTU, mode, client closes first,
    # fragments wanted on the underlay
    ("vxlan_four_way", False, False, 1500, 1450, "four_way", True, False),
    ("vxlan_fragments", False, False, 1000, 1400, "bulk", False, True),
    ("vxlan6_four_way", True, True, 1500, 1430, "four_way", True, False),
    ("vxlan6_inner_fragments", True, False, 1280, 1400, "bulk", False, True),
]


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--offload-off":
        offload_off(sys.argv[2])
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "--connect":
        connect(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) != 2:
        print("usage: record_tunnels.py OUTDIR", file=sys.stderr)
        return 2
    outdir = sys.argv[1]
    # A timeout's SIGTERM unwinds like an exception, so the namespaces are deleted on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    if os.geteuid() != 0 or subprocess.run(["which", "tcpdump", "ip"],
                                           capture_output=True).returncode != 0:
        print("tunnels: SKIP: needs root, tcpdump and ip (iproute2)")
        return 77
    try:
        kinds = probe_kinds()
    except (RuntimeError, OSError) as e:
        print("tunnels: SKIP: no network namespaces here (%s)" % e)
        return 77
    print("tunnels: this kernel creates %s; not %s" % (
        ", ".join(kinds) or "no tunnel kind",
        ", ".join(k for k in ("vxlan", "gretap", "gre", "ipip", "sit") if k not in kinds)))
    if "vxlan" not in kinds:
        print("tunnels: SKIP: the kernel cannot create a vxlan device")
        return 77
    start = time.monotonic()
    failed = 0
    for name, ul6, ov6, ul_mtu, ov_mtu, mode, client_closes, want_frags in SCENARIOS:
        ul_path = os.path.join(outdir, name + ".pcap")
        inner_path = os.path.join(outdir, name + ".inner.pcap")
        why, row, frags = "not run", None, (0, 0)
        for attempt in range(ATTEMPTS):
            if time.monotonic() - start > DEADLINE_S:
                why = "out of time"
                break
            try:
                setup(ul6, ov6, ul_mtu, ov_mtu)
                run_connection(ov6, mode, ul_path, inner_path)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                why = str(e)
                print("%s: attempt %d: %s" % (name, attempt + 1, why))
                continue
            finally:
                teardown()
            row, why = expected_row(inner_path, client_closes)
            frags = fragments(ul_path)
            if row and want_frags and frags == (0, 0):
                row, why = None, "the kernel did not fragment the outer datagrams"
            if row:
                break
            print("%s: attempt %d: %s" % (name, attempt + 1, why))
            for path in (ul_path, inner_path):  # kept for a look: NAME.attemptN.pcap
                if os.path.exists(path):
                    os.replace(path, path[:-5] + ".attempt%d.pcap" % (attempt + 1))
        if not row:
            print("%s: FAIL: %s" % (name, why))
            failed += 1
            continue
        for stem in (name, name + ".inner"):  # the same row from either capture point
            with open(os.path.join(outdir, stem + ".expected.tsv"), "w") as fp:
                fp.write("\t".join(COLUMNS) + "\n" + "\t".join(row) + "\n")
        print("%s: recorded (attempt %d; fragments on the underlay: %d outer, %d inside VXLAN)"
              % ((name, attempt + 1) + frags))
    print("tunnels: recorded %d of %d scenarios in %.1f s" % (
        len(SCENARIOS) - failed, len(SCENARIOS), time.monotonic() - start))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
