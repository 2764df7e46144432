"""netlab.py - two network namespaces joined by a user-space TAP relay, for record_netns.py.

Namespace A (10.199.0.1, fd00:199::1: the client side) and namespace B (10.199.0.2, fd00:199::2:
the server side) each own one TAP device.  A relay thread in the root namespace holds both TAP
file descriptors and copies Ethernet frames between them, each after a configurable one-way
delay, unless a per-frame rule drops it or holds it for longer (this kernel has no netem qdisc).
Addresses and static neighbour entries exist only inside the two namespaces, so traffic only
ever goes between them.  Sockets are created inside the namespaces (setns(2) around socket();
a socket stays in the namespace it was made in).

tcpdump runs inside each namespace on its own TAP device, so every scenario is captured at both
ends of the relay at once: a frame the relay drops is in the client-side capture only, and a
frame it delays or holds is stamped at a different time at each end.

A user-space endpoint C (10.199.0.3, its own MAC) can stand in for a client the kernel would
not play: the relay hands it the frames B sends to C, and inject() puts C's crafted frames on
A's side of the link (so the client-side capture sees them) and delivers them to B after the
delay.  A's kernel drops every C frame it sees (not its MAC address).
"""
import contextlib
import ctypes
import fcntl
import heapq
import os
import select
import socket
import struct
import subprocess
import threading
import time

TAG = os.getpid() % 100000  # unique names: parallel runs never share a namespace or a device
NS_A, NS_B = "fsnsA%d" % TAG, "fsnsB%d" % TAG
TAP_A, TAP_B = "fstA%d" % TAG, "fstB%d" % TAG
MAC_A, MAC_B, MAC_C = "02:f5:00:00:00:0a", "02:f5:00:00:00:0b", "02:f5:00:00:00:0c"
A4, B4, C4 = "10.199.0.1", "10.199.0.2", "10.199.0.3"
A6, B6 = "fd00:199::1", "fd00:199::2"

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class Skip(Exception):
    pass


def sh(*args, check=True):
    res = subprocess.run(list(args), capture_output=True, text=True, timeout=20)
    if check and res.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), res.stderr.strip()))
    return res


def have(tool):
    return subprocess.run(["sh", "-c", "command -v " + tool], capture_output=True).returncode == 0


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


# ---- frames ----

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


def checksum(data):
    """The Internet checksum (RFC 1071) of DATA."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp4_frame(src, dst, sport, dport, seq, ack, flags, payload=b"", options=b"",
               src_mac=MAC_C, dst_mac=MAC_B, window=64240, ip_id=0):
    """An Ethernet/IPv4/TCP frame with correct IPv4 and TCP checksums (the kernel checks both:
    frames written into a TAP device carry no checksum offload)."""
    assert len(options) % 4 == 0
    doff = (20 + len(options)) // 4
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, doff << 4,
                      flags, window, 0, 0) + options + payload
    pseudo = s + d + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ip_id, 0x4000, 64, 6, 0, s, d)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    mac = lambda m: bytes(int(x, 16) for x in m.split(":"))  # noqa: E731
    return mac(dst_mac) + mac(src_mac) + b"\x08\x00" + ip + tcp


# ---- the relay ----

class Relay(threading.Thread):
    """Copies frames between the two TAP fds, each DELAY seconds after it was read.

    RULE(direction, parsed_frame) decides per frame ("AB": from A to B, "BA": from B to A):
    None or False forwards it after DELAY; True drops it; a number H forwards it H seconds after
    it was read instead (a hold).  OBSERVER(direction, parsed_frame) sees every TCP frame first
    (the user-space endpoint C reads B's answers this way)."""

    def __init__(self, fd_a, fd_b):
        super().__init__(daemon=True)
        self.fd_a, self.fd_b = fd_a, fd_b
        self.fds = {fd_a: (fd_b, "AB"), fd_b: (fd_a, "BA")}
        self.delay, self.rule, self.observer = 0.0, None, None
        self.dropped, self.held = [], []
        self.queue, self.n = [], 0
        self.lock = threading.Lock()
        self.rpipe, self.wpipe = os.pipe()
        self.running = True

    def configure(self, delay, rule=None, observer=None):
        with self.lock:
            self.delay, self.rule, self.observer = delay, rule, observer
            self.dropped, self.held = [], []

    def inject(self, frame):
        """Send FRAME as if from A's side: it arrives on A's TAP now (the client-side capture
        records it) and at B after the delay."""
        with self.lock:
            os.write(self.fd_a, frame)
            self.n += 1
            heapq.heappush(self.queue, (time.monotonic() + self.delay, self.n, self.fd_b, frame))
        os.write(self.wpipe, b"x")

    def stop(self):
        self.running = False
        os.write(self.wpipe, b"x")
        self.join(5)

    def run(self):
        while self.running:
            with self.lock:
                head = self.queue[0][0] if self.queue else None
            timeout = max(0.0, head - time.monotonic()) if head is not None else 1.0
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
                    if p and self.observer:
                        self.observer(direction, p)
                    verdict = self.rule(direction, p) if p and self.rule else None
                    if verdict is True:
                        self.dropped.append((direction, p))
                        continue
                    wait = self.delay
                    if verdict not in (None, False):
                        wait = float(verdict)
                        self.held.append((direction, p, wait))
                    self.n += 1
                    heapq.heappush(self.queue, (time.monotonic() + wait, self.n, out, frame))
            now = time.monotonic()
            due = []
            with self.lock:
                while self.queue and self.queue[0][0] <= now:
                    due.append(heapq.heappop(self.queue))
            for _, _, out, frame in due:
                try:
                    os.write(out, frame)
                except OSError:
                    pass


# ---- the lab ----

class Lab:
    """The namespaces, TAP devices and relay; close() undoes everything and may run twice."""

    def __init__(self):
        self.tap_fds, self.relay, self.made_ns = [], None, []

    def setup(self):
        if os.geteuid() != 0:
            raise Skip("needs root")
        for tool in ("ip", "tcpdump", "ss"):
            if not have(tool):
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
        # B reaches the user-space endpoint C through the same link
        sh("ip", "netns", "exec", NS_B, "ip", "neigh", "replace", C4, "lladdr", MAC_C, "dev", TAP_B,
           "nud", "permanent")
        self.relay = Relay(*self.tap_fds)
        self.relay.start()
        self.probe()

    def probe(self):
        """One connection A -> B must work through the relay, else skip; and the in-process
        socket-table reader must say what `ss -tan` says, on an open connection (ESTAB at both
        ends) and after it closed (TIME-WAIT in A), else fail."""
        self.relay.configure(0.0)
        port = 47499
        with netns(NS_B):
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((B4, port))
        ls.listen(1)
        try:
            with netns(NS_A):
                c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.settimeout(3)
            c.connect((B4, port))
            s, _ = ls.accept()
        except OSError as e:
            ls.close()
            raise Skip("no TCP connection through the TAP relay (%s)" % e)
        try:
            time.sleep(0.05)
            seen = []
            for step in ("open", "closed"):
                if step == "closed":
                    c.close()
                    time.sleep(0.05)
                    s.close()
                    time.sleep(0.1)
                for ns in (NS_A, NS_B):
                    mine, tool = sorted(ss_rows(ns, port)[2]), ss_tool_rows(ns, port)
                    if mine != tool:
                        raise RuntimeError("sock_diag reader %s, ss -tan %s" % (mine, tool))
                    seen += [r[2] for r in mine]
            if sorted(seen) != ["ESTAB", "ESTAB", "TIME-WAIT"]:
                raise RuntimeError("cross-check with ss saw %s" % seen)
        finally:
            c.close()
            s.close()
            ls.close()

    @staticmethod
    def sysctl(ns, key, value):
        """Set KEY in namespace NS (these TCP sysctls are per namespace); return the old value."""
        old = sh("ip", "netns", "exec", ns, "sysctl", "-n", key).stdout.strip()
        sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "%s=%s" % (key, value))
        return old

    @staticmethod
    def add_hosts(a_addr, b_addr):
        """Give A the extra IPv4 address A_ADDR and B the extra address B_ADDR (/32 on their TAP
        devices; both inside 10.199.0.0/24, so the link's route reaches them) with static
        neighbour entries both ways.  A census counts every socket of one address: a fresh pair
        per attempt holds none of the sockets earlier scenarios or attempts left behind (a
        TIME_WAIT lasts 60 s)."""
        for ns, tap, mine, peer, pmac in ((NS_A, TAP_A, a_addr, b_addr, MAC_B),
                                          (NS_B, TAP_B, b_addr, a_addr, MAC_A)):
            x = ["ip", "netns", "exec", ns]
            sh(*x, "ip", "addr", "add", mine + "/32", "dev", tap)
            sh(*x, "ip", "neigh", "replace", peer, "lladdr", pmac, "dev", tap, "nud", "permanent")

    def close(self):
        for nl in DIAG_SOCKS.values():
            nl.close()
        DIAG_SOCKS.clear()
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


# ---- socket helpers (every blocking call bounded by a timeout) ----

def fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def listener(addr, port, backlog=8):
    with netns(NS_B):
        s = socket.socket(fam(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(backlog)
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


def pair(a_addr, b_addr, port):
    """Listener in B, client in A, connected: (listener, client, server)."""
    ls = listener(b_addr, port)
    c = client_sock(a_addr)
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


def linger0(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def name(sock):
    """'addr:port' of a socket's local end as ss prints it."""
    a = sock.getsockname()
    return ("[%s]:%d" if ":" in a[0] else "%s:%d") % (a[0], a[1])


# ---- the kernel's own word on each socket's state: what `ss -tan` shows ----

# `ss -tan` prints the kernel's sock_diag netlink dump (inet_diag).  Reading that dump here, in
# the recorder's own process, takes 2-10 ms; an `ss` process took 50 ms on an
# idle machine and up to 250 ms under load, longer than the gap between some of the events a
# snapshot must fall between (a FIN and its retransmission ~210 ms later).  Lab.setup() checks
# this reader against `ss -tan` itself.
NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY = 4, 20
NLM_F_REQUEST, NLM_F_DUMP, NLMSG_ERROR, NLMSG_DONE = 0x1, 0x300, 2, 3
# include/net/tcp_states.h, named as ss names them (a request socket reports SYN_RECV; a
# timewait socket reports its substate, TIME_WAIT or an orphan's FIN_WAIT2)
TCP_STATE_NAMES = {1: "ESTAB", 2: "SYN-SENT", 3: "SYN-RECV", 4: "FIN-WAIT-1", 5: "FIN-WAIT-2",
                   6: "TIME-WAIT", 7: "UNCONN", 8: "CLOSE-WAIT", 9: "LAST-ACK", 10: "LISTEN",
                   11: "CLOSING", 12: "SYN-RECV"}
DIAG_SOCKS = {}  # namespace -> its NETLINK_SOCK_DIAG socket (made inside it, so it sees it)


def diag_socket(ns):
    if ns not in DIAG_SOCKS:
        with netns(ns):
            DIAG_SOCKS[ns] = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    return DIAG_SOCKS[ns]


def tcp_sockets(ns):
    """Every TCP socket in namespace NS: [(local, peer, STATE)] with addresses as ss prints them
    ('10.0.0.1:80', '[fd00::1]:80') and ss's state names."""
    nl, out = diag_socket(ns), []
    for family in (socket.AF_INET, socket.AF_INET6):
        # nlmsghdr + inet_diag_req_v2: family, protocol, ext, pad, states (all), sockid (zero)
        req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + bytes(48)
        nl.send(struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY,
                            NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + req)
        done = False
        while not done:
            data = nl.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, mtype = struct.unpack_from("=IH", data, off)
                if mtype == NLMSG_DONE:
                    done = True
                    break
                if mtype == NLMSG_ERROR:
                    raise OSError("sock_diag dump failed in %s" % ns)
                # inet_diag_msg: family, state, timer, retrans, then the sockid: sport and dport
                # (big endian), src and dst (16 bytes each, big endian)
                fam, state = struct.unpack_from("=BB", data, off + 16)
                sport, dport = struct.unpack_from("!HH", data, off + 20)
                src, dst = data[off + 24:off + 40], data[off + 40:off + 56]
                if fam == socket.AF_INET:
                    local = "%s:%d" % (socket.inet_ntop(fam, src[:4]), sport)
                    peer = "%s:%d" % (socket.inet_ntop(fam, dst[:4]), dport)
                else:
                    local = "[%s]:%d" % (socket.inet_ntop(fam, src), sport)
                    peer = "[%s]:%d" % (socket.inet_ntop(fam, dst), dport)
                out.append((local, peer, TCP_STATE_NAMES.get(state, "state%d" % state)))
                off += (length + 3) & ~3
    return out


def ss_rows(ns, port):
    """(t, span, rows): the TCP sockets in NS whose local or peer port is PORT, listeners left
    out, as (local, peer, STATE) the way `ss -tan` shows them.  T is the wall-clock time of the
    dump (comparable with pcap timestamps), SPAN the dump's start and end."""
    t0 = time.time()
    socks = tcp_sockets(ns)
    t1 = time.time()
    end = ":%d" % port
    rows = [r for r in socks if r[2] != "LISTEN" and (r[0].endswith(end) or r[1].endswith(end))]
    return (t0 + t1) / 2, (t0, t1), rows


def ss_tool_rows(ns, port):
    """The same rows from the `ss -tan` program itself (for the cross-check)."""
    res = sh("ip", "netns", "exec", ns, "ss", "-tanH", "( sport = :%d or dport = :%d )" % (port, port))
    return sorted((f[3], f[4], f[0]) for f in (l.split() for l in res.stdout.splitlines())
                  if len(f) >= 5 and f[0] != "LISTEN")


# ---- ss snapshots ----

SNAPS = []  # this attempt's rows: dict(t, span, ns, local, peer, state)


def snap(port, where="AB", absent=()):
    """Record what `ss -tan` says about PORT's sockets in A and/or B now.  ABSENT lists
    (ns, local, peer) sockets the scenario knows are gone: recorded as state "(none)" (no
    connection state at all: CLOSED) when ss indeed lists nothing for them."""
    out = []
    for ns, tag in ((NS_A, "A"), (NS_B, "B")):
        if tag not in where:
            continue
        t, span, rows = ss_rows(ns, port)
        for local, peer, state in rows:
            out.append(dict(t=t, span=span, ns=tag, local=local, peer=peer, state=state))
        for ens, local, peer in absent:
            if ens == tag and not any(r[0] == local and r[1] == peer for r in rows):
                out.append(dict(t=t, span=span, ns=tag, local=local, peer=peer, state="(none)"))
    SNAPS.extend(out)
    return out


def snap_states(snaps, ns):
    return sorted(r["state"] for r in snaps if r["ns"] == ns)


def ss_quiet(snaps, ends, margin=0.002):
    """Why a snapshot is not a clean oracle (a packet of the port at the socket's own end during
    the ss call or up to MARGIN s before it: the state may have been changing), or None.  What
    the scenario does next happens after the call returned, so later packets cannot matter."""
    for r in snaps:
        pkts = ends["client" if r["ns"] == "A" else "server"]
        t0, t1 = r["span"]
        near = [p for p in pkts if t0 - margin <= p[0] <= t1]
        if near:
            return "ss snapshot at %.6f (%s %s %s) has packets around it: %s" % (
                r["t"], r["ns"], r["local"], r["state"], ["%.6f %s" % (p[0], p[5]) for p in near])
    return None


# ---- census snapshots: how many sockets each host holds in each state ----

# The states a census counts, as ss names them (LISTEN and closed sockets are never counted).
CENSUS_STATES = ("ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT",
                 "CLOSING", "LAST-ACK", "TIME-WAIT")


def host_of(addr):
    """'10.0.0.1:80' or '[fd00::1]:80' -> '10.0.0.1' or 'fd00::1'."""
    return addr.rsplit(":", 1)[0].strip("[]")


def census(hosts, absent=()):
    """Dump every TCP socket of namespace A, then of B, and count per state those whose local
    address is HOSTS[ns] ({"A": addr, "B": addr}).  Each of those sockets (listeners left out)
    also goes into SNAPS as a per-socket row, and so do the ABSENT (ns, local, peer) sockets
    the dump did not list, as "(none)".  Returns dict(span=(first dump's start, last dump's
    end), ns={tag: dict(t, span, host, counts={state: n for every CENSUS_STATES})})."""
    out = dict(ns={})
    for ns, tag in ((NS_A, "A"), (NS_B, "B")):
        t0 = time.time()
        socks = tcp_sockets(ns)
        t1 = time.time()
        t, host = (t0 + t1) / 2, hosts[tag]
        mine = [r for r in socks if host_of(r[0]) == host and r[2] != "LISTEN"]
        counts = {st: sum(1 for r in mine if r[2] == st) for st in CENSUS_STATES}
        out["ns"][tag] = dict(t=t, span=(t0, t1), host=host, counts=counts)
        for local, peer, state in mine:
            SNAPS.append(dict(t=t, span=(t0, t1), ns=tag, local=local, peer=peer, state=state))
        for ens, local, peer in absent:
            if ens == tag and not any(r[0] == local and r[1] == peer for r in mine):
                SNAPS.append(dict(t=t, span=(t0, t1), ns=tag, local=local, peer=peer,
                                  state="(none)"))
    out["span"] = (out["ns"]["A"]["span"][0], out["ns"]["B"]["span"][1])
    return out


# ---- tcpdump at one end ----

CAPTURES = set()


class Capture:
    """tcpdump inside namespace NS on device IFACE (optionally one direction: "in" or "out")."""

    def __init__(self, path, ns, iface, port, direction=None):
        """PORT: the scenario's port, or a whole BPF filter (a string)."""
        cmd = ["ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-U", "--immediate-mode",
               "-s", "262144", "-w", path]
        if direction:
            cmd += ["-Q", direction]
        bpf = port if isinstance(port, str) else "tcp port %d" % port
        self.proc = subprocess.Popen(cmd + [bpf],
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


def kill_captures():
    for p in list(CAPTURES):
        with contextlib.suppress(OSError):
            p.kill()
