#!/usr/bin/env python3
"""record_netns.py - real Linux TCP sequences that need two hosts and timing, captured with tcpdump.

Two network namespaces (A: 10.199.0.1, fd00:199::1; B: 10.199.0.2, fd00:199::2) are joined
through two TAP devices.  A relay thread in the root namespace holds both TAP file
descriptors and copies Ethernet frames between them with a configurable one-way delay and a
drop rule (this kernel has no netem qdisc).  Addresses and static neighbour entries exist
only inside the two namespaces, so traffic only ever goes between them.  The sockets are
created inside the namespaces (setns(2) around socket(); a socket stays in the namespace it
was made in) and tcpdump records on A's TAP device, so every frame A sends is in the
capture even when the relay then drops it.

Each scenario does what two applications do; its expected tokens are known by construction,
and the script checks from the packets that the intended pattern happened (timing decides
whether FINs cross, whether SYNs cross, ...), retrying a bounded number of times.  Packet,
byte, retransmitted-byte and retransmitted-FIN counts are computed from the capture by an
independent parser.  Writes NAME.pcap and NAME.expected.tsv into OUTDIR.

Needs root, /dev/net/tun, `ip netns` and tcpdump; exits 77 (skip) without them.
Usage: record_netns.py OUTDIR [SCENARIO...]
"""
import atexit
import contextlib
import ctypes
import fcntl
import heapq
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from record_loopback import read_pcap, FIN, SYN, RST, ACK  # noqa: E402  (one pcap parser)

BASE_PORT = 47500
COLUMNS = ["handshake", "close_kind", "rst_cause", "closer", "client_state", "server_state",
           "half_close_bytes", "client_packets", "server_packets", "client_bytes", "server_bytes",
           "client_retrans_bytes", "server_retrans_bytes", "client_gap_bytes", "server_gap_bytes",
           "fin_retrans", "rst_after_close"]

TAG = os.getpid() % 100000
NS_A, NS_B = "fsnsA%d" % TAG, "fsnsB%d" % TAG
TAP_A, TAP_B = "fstA%d" % TAG, "fstB%d" % TAG
MAC_A, MAC_B = "02:f5:00:00:00:0a", "02:f5:00:00:00:0b"
A4, B4 = "10.199.0.1", "10.199.0.2"
A6, B6 = "fd00:199::1", "fd00:199::2"

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)


class Skip(Exception):
    pass


def sh(*args, check=True):
    res = subprocess.run(list(args), capture_output=True, text=True, timeout=20)
    if check and res.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), res.stderr.strip()))
    return res


@contextlib.contextmanager
def netns(name):
    """Run the block with the calling thread in namespace NAME (sockets made here stay there)."""
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if LIBC.setns(target, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns %s: %s" % (name, os.strerror(e)))
        yield
    finally:
        if LIBC.setns(orig, CLONE_NEWNET) != 0:
            os._exit(3)  # must never go on in the wrong namespace
        os.close(orig)
        os.close(target)


# ---- the two namespaces and the TAP relay ----

def parse_frame(frame):
    """(0, src, sport, dst, dport, flags, seq, ack, payload_len) of an Ethernet TCP frame (the
    layout of read_pcap's tuples, time 0), or None."""
    if len(frame) < 14:
        return None
    etype = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if etype == 0x0800 and len(ip) >= 20 and ip[9] == 6:
        ihl = (ip[0] & 15) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        tcp, plen = ip[ihl:total], total - ihl
        src, dst = socket.inet_ntop(socket.AF_INET, ip[12:16]), socket.inet_ntop(socket.AF_INET, ip[16:20])
    elif etype == 0x86DD and len(ip) >= 40 and ip[6] == 6:
        plen = struct.unpack("!H", ip[4:6])[0]
        tcp = ip[40:40 + plen]
        src, dst = socket.inet_ntop(socket.AF_INET6, ip[8:24]), socket.inet_ntop(socket.AF_INET6, ip[24:40])
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport, seq, ack, offflags = struct.unpack("!HHIIH", tcp[:14])
    return (0, src, sport, dst, dport, offflags & 0xFF, seq, ack, plen - (offflags >> 12) * 4)


class Relay(threading.Thread):
    """Copies frames between the two TAP fds: each frame is sent DELAY seconds after it was read,
    unless RULE(direction, parsed_frame) says drop ("AB": from A to B, "BA": from B to A)."""

    def __init__(self, fd_a, fd_b):
        super().__init__(daemon=True)
        self.fds = {fd_a: (fd_b, "AB"), fd_b: (fd_a, "BA")}
        self.delay, self.rule, self.dropped = 0.0, None, []
        self.lock = threading.Lock()
        self.rpipe, self.wpipe = os.pipe()
        self.running = True

    def configure(self, delay, rule=None):
        with self.lock:
            self.delay, self.rule, self.dropped = delay, rule, []

    def stop(self):
        self.running = False
        os.write(self.wpipe, b"x")
        self.join(5)

    def run(self):
        queue, n = [], 0
        while self.running:
            timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else 1.0
            ready, _, _ = select.select(list(self.fds) + [self.rpipe], [], [], timeout)
            for fd in ready:
                if fd == self.rpipe:
                    os.read(fd, 64)
                    continue
                try:
                    frame = os.read(fd, 65536)
                except OSError:
                    continue
                out, direction = self.fds[fd]
                with self.lock:
                    p = parse_frame(frame)
                    if p and self.rule and self.rule(direction, p):
                        self.dropped.append((direction, p))
                        continue
                    n += 1
                    heapq.heappush(queue, (time.monotonic() + self.delay, n, out, frame))
            now = time.monotonic()
            while queue and queue[0][0] <= now:
                _, _, out, frame = heapq.heappop(queue)
                try:
                    os.write(out, frame)
                except OSError:
                    pass


class Lab:
    """The namespaces, TAP devices and relay; close() undoes everything and may run twice."""

    def __init__(self):
        self.tap_fds, self.relay, self.made_ns = [], None, []

    def setup(self):
        if os.geteuid() != 0:
            raise Skip("needs root")
        for tool in ("ip", "tcpdump"):
            if subprocess.run(["sh", "-c", "command -v " + tool], capture_output=True).returncode:
                raise Skip("needs %s" % tool)
        for ns in (NS_A, NS_B):
            r = sh("ip", "netns", "add", ns, check=False)
            if r.returncode != 0:
                raise Skip("cannot create a network namespace: %s" % r.stderr.strip())
            self.made_ns.append(ns)
        for ns, tap, mac, a4, a6, peer4, peer6, pmac in (
                (NS_A, TAP_A, MAC_A, A4, A6, B4, B6, MAC_B),
                (NS_B, TAP_B, MAC_B, B4, B6, A4, A6, MAC_A)):
            try:
                fd = os.open("/dev/net/tun", os.O_RDWR)
                self.tap_fds.append(fd)
                fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", tap.encode(), IFF_TAP | IFF_NO_PI))
            except OSError as e:
                raise Skip("cannot create a TAP device: %s" % e)
            sh("ip", "link", "set", tap, "netns", ns)
            x = ["ip", "netns", "exec", ns]
            sh(*x, "ip", "link", "set", "lo", "up")
            sh(*x, "sysctl", "-q", "-w", "net.ipv6.conf.%s.accept_ra=0" % tap)
            sh(*x, "ip", "link", "set", tap, "address", mac, "mtu", "1500")
            sh(*x, "ip", "addr", "add", a4 + "/24", "dev", tap)
            sh(*x, "ip", "-6", "addr", "add", a6 + "/64", "dev", tap, "nodad")
            sh(*x, "ip", "link", "set", tap, "up")
            sh(*x, "ip", "neigh", "replace", peer4, "lladdr", pmac, "dev", tap, "nud", "permanent")
            sh(*x, "ip", "-6", "neigh", "replace", peer6, "lladdr", pmac, "dev", tap, "nud", "permanent")
        self.relay = Relay(*self.tap_fds)
        self.relay.start()
        self.probe()

    def probe(self):
        """One connection A -> B must work through the relay, else skip."""
        self.relay.configure(0.0)
        with netns(NS_B):
            ls = listener(B4, BASE_PORT - 1)
        try:
            with netns(NS_A):
                c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.settimeout(3)
            c.connect((B4, BASE_PORT - 1))
            c.close()
        except OSError as e:
            raise Skip("no TCP connection through the TAP relay (%s)" % e)
        finally:
            ls.close()

    def close(self):
        if self.relay:
            self.relay.stop()
            self.relay = None
        for fd in self.tap_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.tap_fds = []
        for ns in self.made_ns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        self.made_ns = []


class Capture:
    def __init__(self, path, port):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", NS_A, "tcpdump", "-i", TAP_A, "-U", "--immediate-mode",
             "-s", "262144", "-w", path, "tcp port %d" % port],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        CAPTURES.add(self.proc)
        deadline = time.time() + 10
        line = b""
        while b"listening on" not in line and time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
        if b"listening on" not in line:
            self.stop(0)
            raise RuntimeError("tcpdump did not start")

    def stop(self, settle=0.3):
        time.sleep(settle)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        CAPTURES.discard(self.proc)


CAPTURES = set()
LAB = Lab()


def cleanup():
    for p in list(CAPTURES):
        with contextlib.suppress(OSError):
            p.kill()
    LAB.close()


# ---- socket helpers (every blocking call bounded by a timeout) ----

def fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def listener(addr, port):
    s = socket.socket(fam(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(8)
    s.settimeout(10)
    return s


def client_sock(addr, cport=None):
    with netns(NS_A):
        c = socket.socket(fam(addr), socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if cport:
        c.bind((addr, cport))
    c.settimeout(10)
    return c


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            break
        buf += d
    return buf


def pair(a_addr, b_addr, port, cport=None):
    """Listener in B, client in A, connected: (listener, client, server)."""
    with netns(NS_B):
        ls = listener(b_addr, port)
    c = client_sock(a_addr, cport)
    c.connect((b_addr, port))
    s, _ = ls.accept()
    s.settimeout(10)
    return ls, c, s


def exchange(c, s, req=200, resp=1000):
    c.sendall(b"q" * req)
    assert len(recv_exact(s, req)) == req
    s.sendall(b"r" * resp)
    assert len(recv_exact(c, resp)) == resp


def passive_close(c, s, pause=0.2):
    """Client closes; the server application reads EOF and closes PAUSE s later (four-way)."""
    c.close()
    assert s.recv(10) == b""
    time.sleep(pause)
    s.close()


# ---- an independent reading of the packets ----

def covers(ack, end):
    """ack >= end, modulo 2^32."""
    return ((ack - end) & 0xFFFFFFFF) < 0x80000000


def fin_end(p):
    return (p[6] + p[8] + 1) & 0xFFFFFFFF


def close_pattern(pkts, cp):
    """four_way / three_way / simultaneous from the first FIN of each side, else None."""
    fins = {side: next((p for p in pkts if (p[2] == cp) == side and p[5] & FIN), None)
            for side in (True, False)}
    if not fins[True] or not fins[False]:
        return None
    fa, fb = fins[True], fins[False]
    if not covers(fa[7], fin_end(fb)) and not covers(fb[7], fin_end(fa)):
        return "simultaneous"
    second, first = (fa, fb) if covers(fa[7], fin_end(fb)) else (fb, fa)
    for p in pkts:
        if p is second:
            return "three_way"
        if (p[2] == cp) == (second[2] == cp) and p[5] & ACK and covers(p[7], fin_end(first)):
            return "four_way"
    return None


def side_stats(seg):
    """(packets, bytes, retransmitted bytes, gap bytes, retransmitted FINs) of one side's segments."""
    ranges, isn, sent, fins, fin_retrans = [], None, 0, set(), 0
    for p in seg:
        if p[5] & SYN:
            isn = p[6]
        if p[5] & FIN:
            key = fin_end(p)
            if key in fins:
                fin_retrans += 1
            fins.add(key)
        if p[8] <= 0 or isn is None:
            continue
        lo = (p[6] - isn - 1) & 0xFFFFFFFF
        ranges.append((lo, lo + p[8]))
        sent += p[8]
    # bytes sent more than once = bytes sent - the union of what was sent; the gap is the
    # sequence space below the highest byte seen that was never seen at all
    merged = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    seen = sum(b - a for a, b in merged)
    top = merged[-1][1] if merged else 0
    retrans = sent - seen
    return len(seg), sum(p[8] for p in seg), retrans, top - seen, fin_retrans


def row_counts(pkts, cp):
    c = side_stats([p for p in pkts if p[2] == cp])
    s = side_stats([p for p in pkts if p[2] != cp])
    both_fins, rst_after = set(), 0
    for p in pkts:
        if p[5] & RST and len(both_fins) == 2:
            rst_after += 1
        if p[5] & FIN:
            both_fins.add(p[2] == cp)
    return dict(client_packets=c[0], server_packets=s[0], client_bytes=c[1], server_bytes=s[1],
                client_retrans_bytes=c[2], server_retrans_bytes=s[2], client_gap_bytes=c[3],
                server_gap_bytes=s[3], fin_retrans=c[4] + s[4], rst_after_close=rst_after)


def split_instances(pkts, cp):
    """Cut the packets of one 5-tuple at each new client SYN with a new ISN."""
    out, isn = [], None
    for p in pkts:
        if p[2] == cp and p[5] & SYN and not p[5] & ACK and p[6] != isn:
            isn = p[6]
            out.append([])
        if out:
            out[-1].append(p)
    return out


# ---- scenarios: each returns (list of expected token dicts, verify(pkts, cport) -> str|None) ----

TOKENS_FOUR_WAY = dict(handshake="three_way", close_kind="four_way", rst_cause="-",
                       closer="client", client_state="time_wait", server_state="closed",
                       half_close_bytes="0")


def sc_simultaneous_close(port, a=A4, b=B4):
    LAB.relay.configure(0.05)
    ls, c, s = pair(a, b, port)
    exchange(c, s)
    time.sleep(0.3)            # delayed ACKs settle
    c.close()                  # both applications close at the same moment:
    s.close()                  # each FIN leaves 50 ms before the other one arrives
    time.sleep(0.4)
    ls.close()
    exp = dict(TOKENS_FOUR_WAY, close_kind="simultaneous", closer="both", server_state="time_wait")

    def verify(pkts, cp):
        pat = close_pattern(pkts, cp)
        return None if pat == "simultaneous" else "close pattern %s" % pat
    return [exp], verify


def sc_simultaneous_close_v6(port):
    return sc_simultaneous_close(port, A6, B6)


def sc_simultaneous_open(port):
    LAB.relay.configure(0.05)
    pa, pb = port + 1000, port
    socks = []
    for ns, addr in ((NS_A, A4), (NS_B, B4)):
        with netns(ns):
            x = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        x.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        x.bind((addr, pa if ns == NS_A else pb))
        x.setblocking(False)
        socks.append(x)
    c, s = socks
    c.connect_ex((B4, pb))     # both connect at the same moment: the SYNs cross in flight
    s.connect_ex((A4, pa))
    pending, deadline = [c, s], time.time() + 8
    while pending and time.time() < deadline:
        _, w, _ = select.select([], pending, [], 0.5)
        pending = [x for x in pending if x not in w]
    errs = [x.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) for x in socks]
    for x in socks:
        x.setblocking(True)
        x.settimeout(10)
    if pending or any(errs):
        c.close()
        s.close()
        return [], lambda pkts, cp: "connect did not complete (%s)" % errs
    exchange(c, s)
    time.sleep(0.2)
    passive_close(c, s)
    exp = dict(TOKENS_FOUR_WAY, handshake="simultaneous_open")

    def verify(pkts, cp):
        syn_a = [p for p in pkts if p[2] == cp and p[5] & (SYN | ACK) == SYN]
        syn_b = [p for p in pkts if p[2] != cp and p[5] & (SYN | ACK) == SYN]
        if not syn_a or not syn_b:
            return "SYNs did not cross (%d, %d bare SYNs)" % (len(syn_a), len(syn_b))
        pat = close_pattern(pkts, cp)
        return None if pat == "four_way" else "close pattern %s" % pat
    return [exp], verify


def sc_unanswered(port):
    def rule(d, p):            # every SYN to the server is lost
        return d == "AB" and p[4] == port and p[5] & SYN
    LAB.relay.configure(0.005, rule)
    with netns(NS_B):
        ls = listener(B4, port)
    c = client_sock(A4)
    c.setblocking(False)
    c.connect_ex((B4, port))
    # wait for the SYN and two retransmissions (1 s apart on 6.x with tcp_syn_linear_timeouts,
    # 1 s then 2 s on older kernels), then give up: close() in SYN_SENT sends nothing
    deadline = time.time() + 8
    while len(LAB.relay.dropped) < 3 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    got = c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or None
    c.close()
    ls.close()
    exp = dict(handshake="unanswered", close_kind="unanswered", rst_cause="-", closer="none",
               client_state="syn_sent", server_state="listen", half_close_bytes="0")

    def verify(pkts, cp):
        if got or any(p[2] != cp for p in pkts):
            return "the SYN was answered (%s)" % got
        n = sum(1 for p in pkts if p[5] & SYN)
        return None if n == 3 else "%d SYNs, wanted 3" % n
    return [exp], verify


def sc_lossy(port):
    seen, dropped = [0], set()

    def rule(d, p):            # the 3rd and 7th data segments from the client are lost, once
        if d != "AB" or p[4] != port or p[8] <= 0 or p[5] & (SYN | FIN) or p[6] in dropped:
            return False
        seen[0] += 1
        if seen[0] in (3, 7):
            dropped.add(p[6])
            return True
        return False
    LAB.relay.configure(0.01, rule)
    ls, c, s = pair(A4, B4, port)
    exchange(c, s, req=30000, resp=500)
    time.sleep(0.1)
    passive_close(c, s)
    ls.close()
    ndrop = len(LAB.relay.dropped)

    def verify(pkts, cp):
        if ndrop != 2:
            return "relay dropped %d segments" % ndrop
        if row_counts(pkts, cp)["client_retrans_bytes"] <= 0:
            return "no retransmitted bytes"
        pat = close_pattern(pkts, cp)
        return None if pat == "four_way" else "close pattern %s" % pat
    return [dict(TOKENS_FOUR_WAY)], verify


def sc_fin_lost(port):
    def rule(d, p):            # the client's first FIN is lost
        return d == "AB" and p[4] == port and p[5] & FIN and not LAB.relay.dropped
    LAB.relay.configure(0.01, rule)
    ls, c, s = pair(A4, B4, port)
    exchange(c, s)
    time.sleep(0.1)
    passive_close(c, s)
    ls.close()
    time.sleep(0.1)

    def verify(pkts, cp):
        n = row_counts(pkts, cp)["fin_retrans"]
        if n != 1:
            return "%d FIN retransmissions" % n
        pat = close_pattern(pkts, cp)
        return None if pat == "four_way" else "close pattern %s" % pat
    return [dict(TOKENS_FOUR_WAY)], verify


def sc_time_wait_reack(port):
    srv_fin = []

    def rule(d, p):            # the client's ACK of the server's FIN is lost, once
        if p[4] != port and p[2] != port:
            return False
        if d == "BA" and p[5] & FIN and not srv_fin:
            srv_fin.append(fin_end(p))
        return bool(d == "AB" and srv_fin and not LAB.relay.dropped and p[5] & (SYN | FIN | RST) == 0
                    and p[8] == 0 and p[7] == srv_fin[0])
    LAB.relay.configure(0.01, rule)
    ls, c, s = pair(A4, B4, port)
    exchange(c, s)
    time.sleep(0.1)
    passive_close(c, s)
    time.sleep(0.8)            # LAST_ACK retransmits its FIN after ~200 ms; TIME_WAIT re-ACKs it
    ls.close()

    def verify(pkts, cp):
        n = row_counts(pkts, cp)["fin_retrans"]
        srv = [p for p in pkts if p[2] != cp and p[5] & FIN]
        if n != 1 or len(srv) != 2:
            return "%d FIN retransmissions, %d server FINs" % (n, len(srv))
        acks = [p for p in pkts if p[2] == cp and p[5] & ACK and p[7] == fin_end(srv[0])]
        if len(acks) < 2:
            return "no re-ACK"
        pat = close_pattern(pkts, cp)
        return None if pat == "four_way" else "close pattern %s" % pat
    return [dict(TOKENS_FOUR_WAY)], verify


def sc_port_reuse(port):
    LAB.relay.configure(0.005)
    cport = port + 1000
    with netns(NS_B):
        ls = listener(B4, port)
    for _ in range(2):
        # the server closes first and keeps the TIME_WAIT; the client binds the same port again
        c = client_sock(A4, cport)
        c.connect((B4, port))
        s, _ = ls.accept()
        s.settimeout(10)
        exchange(c, s)
        s.close()
        assert c.recv(10) == b""
        time.sleep(0.1)
        c.close()
        time.sleep(0.2)
    ls.close()
    exp = dict(TOKENS_FOUR_WAY, closer="server", client_state="closed", server_state="time_wait")

    def verify(pkts, cp):
        inst = split_instances(pkts, cp)
        if len(inst) != 2:
            return "%d connections" % len(inst)
        for one in inst:
            srv = next((p for p in one if p[2] != cp and p[5] & FIN), None)
            # the client's first segment covering the server's FIN is a pure ACK: four-way
            first = next((p for p in one if srv and p[2] == cp and covers(p[7], fin_end(srv))), None)
            if not first or first[5] & FIN:
                return "not a four-way close"
        return None
    return [exp, dict(exp)], verify


SCENARIOS = {
    "ns_simultaneous_close": sc_simultaneous_close,
    "ns_simultaneous_close_v6": sc_simultaneous_close_v6,
    "ns_simultaneous_open": sc_simultaneous_open,
    "ns_unanswered": sc_unanswered,
    "ns_lossy": sc_lossy,
    "ns_fin_lost": sc_fin_lost,
    "ns_time_wait_reack": sc_time_wait_reack,
    "ns_port_reuse": sc_port_reuse,
}


def record(name, outdir, port, tries=4):
    path = os.path.join(outdir, name + ".pcap")
    for attempt in range(tries):
        try:
            cap = Capture(path, port)
        except RuntimeError as e:
            print("%s: %s" % (name, e))
            return False
        why = None
        try:
            exps, verify = SCENARIOS[name](port)
        except (OSError, AssertionError) as e:
            exps, verify, why = [], None, "sockets: %r" % e
        finally:
            cap.stop()
            LAB.relay.configure(0.0)
        pkts = list(read_pcap(path))
        syns = [p for p in pkts if p[5] & SYN and not p[5] & ACK]
        cport = syns[0][2] if syns else 0
        if verify and not why:
            why = verify(pkts, cport) if pkts else "no packets"
        if not why:
            inst = split_instances(pkts, cport)
            if len(inst) != len(exps):
                why = "%d connections in the capture, expected %d" % (len(inst), len(exps))
        if not why:
            with open(os.path.join(outdir, name + ".expected.tsv"), "w") as fp:
                fp.write("\t".join(COLUMNS) + "\n")
                for exp, one in zip(exps, inst):
                    exp.update({k: str(v) for k, v in row_counts(one, cport).items()})
                    fp.write("\t".join(exp[k] for k in COLUMNS) + "\n")
            print("%s: recorded (%d packets, attempt %d)" % (name, len(pkts), attempt + 1))
            return True
        print("%s: attempt %d: %s" % (name, attempt + 1, why))
        port += 3
        time.sleep(0.2)
    print("%s: the intended pattern did not happen in %d tries" % (name, tries))
    return False


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    outdir = sys.argv[1]
    names = sys.argv[2:] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print("record_netns: unknown scenario %s; known: %s" % (", ".join(unknown), " ".join(SCENARIOS)))
        return 2
    os.makedirs(outdir, exist_ok=True)
    atexit.register(cleanup)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    try:
        LAB.setup()
    except Skip as e:
        print("record_netns: SKIP: %s" % e)
        cleanup()
        return 77
    ok = True
    try:
        for i, name in enumerate(names):
            ok &= record(name, outdir, BASE_PORT + i * 20)
    finally:
        cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
