#!/usr/bin/env python3
"""crosscheck.py - finscope against independent readings of real captures nobody here made.

For every capture in CORPUS/traces (default ../shared/corpus/wild/traces):

  1. finscope:  `finscope analyze` into a temporary database per file; its flows rows.
  2. packets:   tshark's raw per-frame fields (addresses, ports, tcp.seq_raw, tcp.ack_raw,
                tcp.flags, tcp.len), read here from sequence and ack numbers alone, following
                docs/schema.md, ../shared/DESIGN.md and the issue-8 token spec.  This reading is
                written from those definitions, not from finscope's sources.
  3. tcptrace:  `tcptrace -n -l --csv`: connections, packets and payload bytes per direction,
                retransmitted bytes, SYN/FIN and RST counts.
  4. argus:     `argus -X -A -r FILE -w - | racluster -Z b`: flows, packets and application
                bytes per direction, TCP flags seen per direction.

tshark reads every capture of a batch in one process (its start-up is most of its cost), so
the frame numbers are the per-file ones Wireshark shows; it reassembles IP fragments (finscope
does not) and decodes tunnels down to the innermost TCP.  A byte-identical copy of a capture
is analyzed but its connections are counted once.

Each finscope row is matched to a connection of reading 2 by 5-tuple and first frame number
(column `match`: `exact`, or `tuple` when finscope's first packet is a later frame of the same
connection).  Fields are compared per endpoint, so a connection whose client and server the
two readings swap differs in `orientation` only, not again in every per-side counter.

Output: a TSV (--tsv, default crosscheck-wild.tsv in the current directory), one line per
connection: file, conn (1-based within the file), client, server, first/last frame, basis (why
that endpoint is the client: syn, synack, capture_server, capture_port, service_port,
lower_port), split (why the instance began), then for every field in FIELDS `my_F` (packets),
`fs_F` (finscope) and `agree_F` (`1`, `0`, or `na` when the packets do not let the reading
decide or finscope has no such column), then first_rst_by, rst_before_fins, fins_seen and
rsts_seen (client/server), finscope's anomalies, tcptrace's and argus's per-side values with
`_vs_packets` / `_vs_finscope` flags, and the notes naming the frames that decide the reading.
On stdout: agreement rates per field, what tcptrace and argus confirm, every difference.

Exit status: 0, 1 when finscope failed on a file or an agreement rate fell below its floor
(FLOORS: a regression fence set from measured numbers), 77 when the corpus or tshark is missing.

Usage: crosscheck.py FINSCOPE [CORPUS_DIR] [--tsv FILE] [--jobs N] [--quiet]
"""
import argparse
import collections
import concurrent.futures
import csv
import hashlib
import io
import ipaddress
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile

# --- constants ------------------------------------------------------------------------------

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MOD = 1 << 32

# finscope's documented flow lifetime (README, "Using it"): a closed connection lingers 10 s of
# capture time, an idle one is written after 300 s; a later packet then starts a new row.
LINGER_S = 10.0
IDLE_S = 300.0

# Service ports for orienting a connection seen without its handshake (issue 8, point 5: after
# the capture's own handshakes, a list of well-known and registered service ports, like Zeek's
# likely_server_ports but wider; then the lower port, DESIGN.md section 2).
SERVICE_PORTS = {
    20, 21, 22, 23, 25, 53, 80, 88, 102, 110, 111, 135, 139, 143, 179, 389, 443, 445, 465, 502,
    515, 548, 554, 587, 631, 636, 873, 989, 990, 993, 995, 1080, 1194, 1433, 1521, 1723, 1883,
    2049, 2375, 2376, 2404, 3128, 3260, 3268, 3306, 3389, 4222, 4443, 5060, 5061, 5222, 5269,
    5432, 5671, 5672, 5900, 5901, 5984, 6379, 6443, 6667, 6697, 8000, 8008, 8080, 8081, 8443,
    8883, 8888, 9000, 9042, 9092, 9200, 9300, 9418, 11211, 15432, 20000, 27017, 44818, 47808,
}

# Fields compared with finscope, in TSV order.  Tokens first, then counters.
TOKEN_FIELDS = ("orientation", "midstream", "handshake", "close_kind", "rst_cause",
                "rst_cause_proven", "closer", "closer_call", "client_state", "server_state",
                "one_sided")
COUNTER_FIELDS = ("client_packets", "server_packets", "client_bytes", "server_bytes",
                  "client_retrans_bytes", "server_retrans_bytes", "client_gap_bytes",
                  "server_gap_bytes", "fin_retrans")
FIELDS = TOKEN_FIELDS + COUNTER_FIELDS
# Columns issue 8 adds; compared only when the database has them.
NEW_COLUMNS = ("rst_cause_proven", "closer_call")

# Floors, percent of the connections the packets decide (the "na" ones are left out): a
# regression fence at the agreement measured (docs/validation.md explains every connection
# below 100%).  "found": connections finscope has a row for.
FLOORS = {
    "found": 100.0, "orientation": 100.0, "midstream": 100.0, "handshake": 100.0,
    "close_kind": 100.0, "rst_cause": 100.0, "rst_cause_proven": 100.0, "closer": 100.0,
    "closer_call": 100.0, "client_state": 100.0, "server_state": 100.0, "one_sided": 100.0,
    "client_packets": 99.5, "server_packets": 100.0, "client_bytes": 99.5, "server_bytes": 100.0,
    "client_retrans_bytes": 100.0, "server_retrans_bytes": 100.0, "client_gap_bytes": 99.5,
    "server_gap_bytes": 100.0, "fin_retrans": 100.0,
}

TSHARK_FIELDS = ("frame.number", "frame.time_epoch", "frame.protocols", "ip.src", "ip.dst",
                 "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "tcp.seq_raw",
                 "tcp.ack_raw", "tcp.flags", "tcp.len", "vlan.id")
# Raw and fast: no sequence analysis or reassembly (the fields are per segment anyway), no
# name resolution; Teredo recognised on any UDP port by its 2001:0::/32 address, as Zeek and
# finscope do (tshark only looks at UDP 3544 by default).
TSHARK_OPTS = ("-n", "-o", "tcp.analyze_sequence_numbers:FALSE",
               "-o", "tcp.desegment_tcp_streams:FALSE", "-o", "tcp.calculate_timestamps:FALSE",
               "-o", "tcp.relative_sequence_numbers:FALSE", "-o", "tcp.check_checksum:FALSE",
               "-o", "teredo.heuristic_teredo:TRUE")


# --- small helpers ----------------------------------------------------------------------------

def s32(d):
    """A 32-bit difference as a signed value in [-2^31, 2^31)."""
    d &= MOD - 1
    return d - MOD if d >= 1 << 31 else d


class SeqSpace:
    """Unwraps one direction's 32-bit sequence numbers (its seqs and the peer's acks) into
    64-bit offsets: each value is placed nearest to the previous one (RFC 9293 3.4: comparisons
    are modulo 2^32)."""

    def __init__(self):
        self.last = None

    def u(self, v):
        if self.last is None:
            self.last = v
        else:
            self.last += s32(v - self.last)
        return self.last


def canon_addr(a):
    """Canonical text form of an IPv4/IPv6 address (tshark and finscope may differ in case)."""
    try:
        return str(ipaddress.ip_address(a))
    except ValueError:
        return a


def union_len(ranges, lo=None, hi=None):
    """Length of the union of half-open [start, end) ranges, clipped to [lo, hi) if given."""
    total, cur_s, cur_e = 0, None, None
    for s, e in sorted(ranges):
        if lo is not None:
            s = max(s, lo)
        if hi is not None:
            e = min(e, hi)
        if e <= s:
            continue
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def count_frames(path):
    """Number of packet records in a pcap or pcapng file, read with struct (no libpcap), so
    that the frames of a merged file can be given back to the file they came from."""
    with open(path, "rb") as fp:
        data = fp.read()
    if len(data) < 4:
        return 0
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":  # pcapng: count EPB (6), SPB (3), obsolete PB (2)
        n, off, endian = 0, 0, "<"
        while off + 12 <= len(data):
            btype = struct.unpack_from(endian + "I", data, off)[0]
            if data[off:off + 4] == b"\x0a\x0d\x0d\x0a":
                bom = data[off + 8:off + 12]
                endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
                btype = 0x0a0d0d0a
            blen = struct.unpack_from(endian + "I", data, off + 4)[0]
            if blen < 12 or off + blen > len(data):
                break
            if btype in (2, 3, 6):
                n += 1
            off += blen
        return n
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        return 0
    n, off = 0, 24
    while off + 16 <= len(data):
        incl = struct.unpack_from(endian + "I", data, off + 8)[0]
        if off + 16 + incl > len(data):
            break
        n += 1
        off += 16 + incl
    return n


def run(cmd, timeout=120, **kw):
    """subprocess.run with captured text output."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


# The reference tools are not under test: meson's MALLOC_PERTURB_ (which it sets for every
# test, and which finscope keeps) triples tshark's and argus's run time, so they run without it.
TOOL_ENV = {k: v for k, v in os.environ.items() if k != "MALLOC_PERTURB_"}


# --- reading 1: finscope ----------------------------------------------------------------------

def read_finscope(finscope, path, tmpdir):
    """Runs `finscope analyze -q` on one capture into its own database and returns
    (error or None, [flow row as dict], column names).  A crash or non-zero exit is an error."""
    db = os.path.join(tmpdir, os.path.basename(path) + ".db")
    try:
        res = run([finscope, "analyze", "-q", "-o", db, path])
    except subprocess.TimeoutExpired:
        return "timed out", [], ()
    if res.returncode != 0:
        why = ("killed by signal %d" % -res.returncode if res.returncode < 0
               else "exit %d" % res.returncode)
        return "%s: %s" % (why, res.stderr.strip()[:300]), [], ()
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM flows ORDER BY first_packet, id")]
    cols = tuple(r[1] for r in con.execute("PRAGMA table_info(flows)"))
    con.close()
    return None, rows, cols


# --- reading 2: the packets, through tshark ---------------------------------------------------

Pkt = collections.namedtuple("Pkt", "frame ts src sport dst dport seq ack flags plen vlan")


def parse_tshark_line(line):
    """One tshark fields line -> Pkt, or None when the frame carries no TCP segment of its own.
    Tunnels: tshark decodes them and lists every layer; the innermost TCP and the IP header
    just outside it are the last occurrences.  An ICMP error quoting a TCP header is not a
    segment (frame.protocols has icmp before the tcp)."""
    f = line.rstrip("\n").split("|")
    if len(f) < len(TSHARK_FIELDS) or not f[7]:
        return None
    protos = f[2].split(":")
    if "tcp" not in protos:
        return None
    last_tcp = len(protos) - 1 - protos[::-1].index("tcp")
    before = protos[:last_tcp]
    if "icmp" in before or "icmpv6" in before:
        return None
    ip_layer = max((i for i, p in enumerate(before) if p in ("ip", "ipv6")), default=None)
    if ip_layer is None:
        return None
    if protos[ip_layer] == "ip":
        src, dst = f[3].split(",")[-1], f[4].split(",")[-1]
    else:
        src, dst = f[5].split(",")[-1], f[6].split(",")[-1]
    last = lambda v: v.split(",")[-1]
    return Pkt(int(f[0]), float(f[1]), canon_addr(src), int(last(f[7])), canon_addr(dst),
               int(last(f[8])), int(last(f[9])), int(last(f[10])), int(last(f[11]), 16),
               int(last(f[12])), f[13])


def read_tshark_batch(paths, tmpdir, tag):
    """tshark costs ~0.5 s of start-up per process, so a batch of captures is concatenated with
    `mergecap -a` (frames keep their order) and read by one tshark; each file's frames are
    given back by counting its records.  Returns {path: [Pkt]} or raises RuntimeError."""
    counts = [count_frames(p) for p in paths]
    merged = os.path.join(tmpdir, "batch%s.pcapng" % tag)
    res = run(["mergecap", "-a", "-F", "pcapng", "-w", merged] + list(paths), env=TOOL_ENV)
    if res.returncode != 0:
        raise RuntimeError("mergecap: " + res.stderr.strip())
    cmd = ["tshark", "-r", merged] + list(TSHARK_OPTS) + ["-T", "fields", "-E", "separator=|"]
    for fld in TSHARK_FIELDS:
        cmd += ["-e", fld]
    res = run(cmd, timeout=300, env=TOOL_ENV)
    if res.returncode != 0:
        raise RuntimeError("tshark: " + res.stderr.strip()[-300:])
    lines = res.stdout.splitlines()
    if len(lines) != sum(counts):
        raise RuntimeError("tshark read %d frames, the files hold %d" % (len(lines), sum(counts)))
    out, i = {}, 0
    for path, n in zip(paths, counts):
        pkts = []
        for line in lines[i:i + n]:
            p = parse_tshark_line(line)
            if p:
                pkts.append(p._replace(frame=p.frame - i))
        out[path] = pkts
        i += n
    return out


class Conn:
    """One connection instance: its packets in capture order (list of Pkt) and why it began."""

    def __init__(self, key, why):
        self.key = key
        self.pkts = []
        self.why = why          # 'first', 'new_syn', 'idle', 'linger'
        self.syn_isn = {}       # endpoint -> ISN of its first SYN
        self.fin_sent = set()   # endpoints that sent a FIN
        self.rst = False
        self.closed_ts = None   # capture time the instance was closed (both FINs acked, or RST)
        self.fin_pos = {}       # endpoint -> raw sequence number of its first FIN
        self.fin_acked = set()  # endpoints whose FIN the other acked


def split_connections(pkts):
    """Groups TCP segments by unordered 5-tuple and splits a tuple into instances as DESIGN.md
    section 4 says: a SYN without ACK carrying a new ISN on a tuple whose previous instance
    closed (both FINs) or was reset starts a new instance.  finscope's documented lifetime
    (10 s linger after the close, 300 s idle timeout, capture time) also ends an instance.
    Returns the instances in order of their first frame."""
    open_by_key, out = {}, []
    for p in pkts:
        a, b = (p.src, p.sport), (p.dst, p.dport)
        key = (a, b) if a <= b else (b, a)
        c = open_by_key.get(key)
        why = None
        if c is None:
            why = "first"
        else:
            last_ts = c.pkts[-1].ts
            finished = c.rst or len(c.fin_sent) == 2
            if p.flags & SYN and not p.flags & ACK and finished and c.syn_isn.get(a) != p.seq:
                why = "new_syn"
            elif p.ts - last_ts > IDLE_S:
                why = "idle"
            elif c.closed_ts is not None and p.ts - c.closed_ts > LINGER_S:
                why = "linger"
        if why:
            c = Conn(key, why)
            open_by_key[key] = c
            out.append(c)
        c.pkts.append(p)
        if p.flags & SYN and not p.flags & ACK:
            c.syn_isn.setdefault(a, p.seq)
        if p.flags & RST:
            c.rst = True
            if c.closed_ts is None:
                c.closed_ts = p.ts
        if p.flags & FIN:
            c.fin_sent.add(a)
            c.fin_pos.setdefault(a, (p.seq + p.plen + (1 if p.flags & SYN else 0)) % MOD)
        # both FINs sent and each acked by the other side: closed, the linger starts
        if len(c.fin_sent) == 2 and c.closed_ts is None and p.flags & ACK:
            peer = b
            if peer in c.fin_pos and s32(p.ack - c.fin_pos[peer]) >= 1:
                c.fin_acked.add(peer)
                if len(c.fin_acked) == 2:
                    c.closed_ts = p.ts
    return out


def capture_servers(conns):
    """Endpoints (addr, port) and ports that some connection of this capture opened to as a
    server (received a SYN without ACK, or sent a SYN+ACK): evidence for orienting the
    connections of the same capture that were seen without their handshake."""
    eps, ports = set(), set()
    for c in conns:
        for p in c.pkts:
            if p.flags & SYN and not p.flags & ACK and (p.dst, p.dport) != (p.src, p.sport):
                eps.add((p.dst, p.dport))
                ports.add(p.dport)
            elif p.flags & SYN and p.flags & ACK:
                eps.add((p.src, p.sport))
                ports.add(p.sport)
    return eps, ports


def orient(conn, servers):
    """(client, server, basis).  The client sent the first SYN without ACK (DESIGN.md 2); else
    the SYN+ACK's sender is the server; else (midstream) issue 8 point 5's order: an endpoint
    this capture's handshakes show as a server, a port they show as a server port, a service
    port, then the lower port (DESIGN.md)."""
    a, b = conn.key
    if a == b:
        return a, b, "self"
    for p in conn.pkts:
        if p.flags & SYN and not p.flags & ACK:
            return (p.src, p.sport), (p.dst, p.dport), "syn"
    for p in conn.pkts:
        if p.flags & SYN and p.flags & ACK:
            return (p.dst, p.dport), (p.src, p.sport), "synack"
    eps, ports = servers
    for test, basis in (((lambda e: e in eps), "capture_server"),
                        ((lambda e: e[1] in ports), "capture_port"),
                        ((lambda e: e[1] in SERVICE_PORTS), "service_port")):
        if test(a) != test(b):
            return (b, a, basis) if test(a) else (a, b, basis)
    if a[1] != b[1]:
        return (b, a, "lower_port") if a[1] < b[1] else (a, b, "lower_port")
    p = conn.pkts[0]
    return (p.src, p.sport), (p.dst, p.dport), "first_sender"


Seg = collections.namedtuple("Seg", "i p seq ack")
Seg.__doc__ = """One segment of a side: index in the connection (capture order), the Pkt, its
sequence number unwrapped in the sender's space, its ack unwrapped in the peer's space (None
when the ACK bit is off)."""


class Side:
    """What one endpoint sent, sequence numbers unwrapped (SeqSpace)."""

    def __init__(self, ep):
        self.ep = ep
        self.segs = []          # [Seg] in capture order
        self.bytes = 0          # payload bytes, retransmissions included
        self.syn = None         # first SYN (Seg)
        self.isn = None         # ISN: own SYN, else the peer's SYN+ACK ack - 1
        self.ranges = []        # payload [start, end)
        self.fins = []          # (Seg, F) with F the FIN's own sequence number
        self.rsts = []          # [Seg]

    @property
    def pkts(self):
        return len(self.segs)

    def first_fin(self):
        return self.fins[0] if self.fins else None

    def first_ack_covering(self, pos, before=None, skip_rst=False):
        """First segment (capture order, index < before) whose ack covers sequence number pos
        of the peer: ack >= pos + 1, i.e. the sender had received pos."""
        for q in self.segs:
            if before is not None and q.i >= before:
                break
            if skip_rst and q.p.flags & RST:
                continue
            if q.ack is not None and q.ack >= pos + 1:
                return q
        return None

    def max_ack(self, upto):
        """Highest ack sent by this side at index <= upto (what it had received), or None."""
        acks = [q.ack for q in self.segs if q.i <= upto and q.ack is not None]
        return max(acks) if acks else None

    def is_retransmission(self, k):
        """Segment k carries only payload an earlier segment of this side already carried."""
        q = self.segs[k]
        if not q.p.plen:
            return False
        start = data_start(q)
        seen = [(data_start(o), data_start(o) + o.p.plen) for o in self.segs[:k] if o.p.plen]
        return union_len(seen, start, start + q.p.plen) == q.p.plen


def data_start(q):
    """Sequence number of a segment's first payload byte (a SYN takes one number)."""
    return q.seq + (1 if q.p.flags & SYN else 0)


def build_sides(conn, client, server):
    """The two Sides of one instance, every seq and ack unwrapped in the right space."""
    sides = {client: Side(client), server: Side(server)}
    space = {client: SeqSpace(), server: SeqSpace()}
    for i, p in enumerate(conn.pkts):
        me = (p.src, p.sport)
        peer = server if me == client else client
        s = sides[me]
        q = Seg(i, p, space[me].u(p.seq), space[peer].u(p.ack) if p.flags & ACK else None)
        s.segs.append(q)
        s.bytes += p.plen
        if p.flags & SYN and s.syn is None:
            s.syn, s.isn = q, q.seq
        if p.plen:
            s.ranges.append((data_start(q), data_start(q) + p.plen))
        if p.flags & FIN and not p.flags & RST:   # the RST is processed first (3.10.7.4)
            s.fins.append((q, data_start(q) + p.plen))
        if p.flags & RST:
            s.rsts.append(q)
    for me, peer in ((client, server), (server, client)):
        if sides[me].isn is None:
            for q in sides[peer].segs:     # the peer's SYN+ACK acks our unseen SYN
                if q.p.flags & SYN and q.ack is not None:
                    sides[me].isn = q.ack - 1
                    break
    return sides


def retrans_and_gaps(side):
    """(retransmitted bytes, gap bytes) of one direction, from the union of its payload ranges.
    retrans = payload bytes - |union|.  gap = sequence space in [base, top) that no captured
    segment carried: top is the highest sequence number the side showed it had reached with
    payload or a FIN (a FIN at F proves bytes below F were sent); base is ISN + 1, or, seen
    midstream, the lowest sequence number of its segments (a keep-alive probe, sent at
    SND.NXT - 1 with no new data, RFC 9293 3.8.4, marks SND.NXT, not a byte sent in the
    capture)."""
    retrans = side.bytes - union_len(side.ranges)
    ends = [e for _, e in side.ranges] + [F for _, F in side.fins]
    if not ends:
        return retrans, 0
    top = max(ends)
    if side.isn is not None:
        base = side.isn + 1
    else:
        starts = [st for st, _ in side.ranges] + [F for _, F in side.fins]
        seqs = {q.seq for q in side.segs}
        for q in side.segs:
            if not q.p.plen and not q.p.flags & (SYN | FIN | RST):
                probe = q.seq + 1 in seqs and not any(st <= q.seq < e for st, e in side.ranges)
                starts.append(q.seq + 1 if probe else q.seq)
        base = min(starts)
    return retrans, max(0, top - base) - union_len(side.ranges, base, top)


class Reading:
    """The independent reading of one connection instance from raw seq/ack/flags alone, written
    from docs/schema.md's tokens, DESIGN.md (section 1, the ack-number principle; section 4,
    instances) and issue 8's spec.  Each method answers one question and records in `notes`
    the frames that decide it.  `fields()` returns the values compared with finscope."""

    def __init__(self, conn, servers):
        self.conn = conn
        self.client, self.server, self.basis = orient(conn, servers)
        self.notes = []
        self.r = {"client": self.client, "server": self.server, "basis": self.basis,
                  "first_frame": conn.pkts[0].frame, "last_frame": conn.pkts[-1].frame,
                  "orientation": "%s:%d" % self.client,
                  "midstream": int(not conn.pkts[0].flags & SYN)}
        vlans = sorted({p.vlan for p in conn.pkts})
        if len(vlans) > 1:
            self.note("one 5-tuple in %d VLAN stacks (%s): the copies count as retransmissions"
                      % (len(vlans), ", ".join(v or "untagged" for v in vlans)))
        if self.client == self.server:
            self.read_self_connect()
            return
        sides = build_sides(conn, self.client, self.server)
        self.C, self.S = sides[self.client], sides[self.server]
        self.read_one_sided()
        self.read_rsts()
        self.read_handshake()
        self.read_fins()
        self.read_close_kind()
        self.read_rst_cause()
        self.read_closer_call()
        self.read_states()
        self.read_counters()

    def note(self, text):
        self.notes.append(text)

    def name(self, side):
        return "client" if side is self.C else "server"

    def fields(self):
        self.r["notes"] = "; ".join(self.notes)
        return self.r

    # -- one-sidedness --------------------------------------------------------------------

    def read_one_sided(self):
        """issue 8 one_sided: only one endpoint's packets, and its acks prove the other sent
        what it acked: its acks advance (the peer sent data), or it acks after its own SYN
        (SYN-SENT is left only on receiving a SYN, RFC 9293 3.10.7.3)."""
        seen = [s for s in (self.C, self.S) if s.pkts]
        self.one_sided = False
        if len(seen) == 1:
            s = seen[0]
            acks = {q.ack for q in s.segs if q.ack is not None}
            after_syn = s.syn is not None and any(
                q.ack is not None and not q.p.flags & (SYN | RST) for q in s.segs)
            self.one_sided = len(acks) > 1 or after_syn
            if self.one_sided:
                self.note("one-sided: only the %s's %d packets; its acks move from %d to %d"
                          % (self.name(s), s.pkts, min(acks), max(acks)))
        self.r["one_sided"] = int(self.one_sided)

    # -- RSTs -----------------------------------------------------------------------------

    def rst_fit(self, q, me, peer):
        """How the receiver (peer) takes this RST (RFC 9293 3.10.7.3/3.10.7.4, RFC 5961 3.2, as
        docs/schema.md "Which RST ends the connection" says): 'exact', 'tentative' or None.
        In SYN-SENT (it sent a bare SYN and had received no SYN from me) only a RST whose ACK
        acks its SYN.  Otherwise its RCV.NXT lies from the highest ack it sent before to the
        end of what I was seen to send (only its ack, when the RST is all I sent): a RST there
        is exact; so is one at the seq of my FIN once the receiver acked that FIN (Linux's
        tcp_reset_check); one up to 2^24 past both is tentative (bytes the tap missed);
        anything else is dropped or challenged."""
        syn_sent = (peer.syn is not None and not peer.syn.p.flags & ACK and
                    not any(o.p.flags & SYN for o in me.segs if o.i < q.i) and
                    not any(o.ack is not None for o in peer.segs if o.i < q.i))
        if syn_sent:
            return "exact" if q.p.flags & ACK and q.ack == peer.isn + 1 else None
        rcv = peer.max_ack(q.i - 1)
        before = [o for o in me.segs if o.i < q.i]
        if not peer.pkts or (not before and rcv is None):
            return "exact"
        own = me.first_fin()
        if own and own[0].i < q.i and rcv == own[1] + 1 and q.seq == own[1]:
            return "exact"
        ends = [o.seq + o.p.plen + (1 if o.p.flags & (SYN | FIN) else 0)
                for o in before if not o.p.flags & RST]
        lo = rcv if rcv is not None else (me.isn if me.isn is not None else min(ends))
        hi = max([lo] + ends)
        if lo <= q.seq <= hi:
            return "exact"
        return "tentative" if 0 < q.seq - hi <= (1 << 24) else None

    def read_rsts(self):
        """The RSTs that count (capture order), docs/schema.md.  Exact ones count; a tentative
        one counts if a RST follows, or the receiver's next segment acks exactly its seq, or
        nothing follows.  A RST sent after the receiver's own counted RST crossed it and counts.
        A counted RST whose sender then sends anything but a RST or SYN did nothing."""
        rsts = sorted([(q, self.C, self.S) for q in self.C.rsts] +
                      [(q, self.S, self.C) for q in self.S.rsts], key=lambda x: x[0].i)
        pkts = self.conn.pkts
        ok = []
        for x in rsts:
            q, me, peer = x
            fit = "exact" if any(y[1] is peer for y in ok) else self.rst_fit(*x)
            if fit == "tentative" and not ok:
                nxt = pkts[q.i + 1] if q.i + 1 < len(pkts) else None
                from_peer = nxt is not None and (nxt.src, nxt.sport) == peer.ep
                if nxt is not None and not nxt.flags & RST and not (
                        from_peer and nxt.flags & ACK and nxt.ack == q.p.seq):
                    fit = None      # the connection went on: the receiver ignored it
            if fit and any(not p.flags & (RST | SYN) for p in pkts[q.i + 1:]
                           if (p.src, p.sport) == me.ep):
                if not ok:
                    fit = None      # its sender went on: it did nothing
            if fit:
                ok.append(x)
        bad = [x[0].p.frame for x in rsts if x not in ok]
        if bad:
            self.note("RST not acceptable to its receiver at frames %s" % bad)
        self.first_rst = ok[0] if ok else None        # (Seg, resetter Side, peer Side)
        self.crossed_rst = None
        if ok:
            other = [x for x in ok if x[1] is not ok[0][1]]
            if other:
                self.crossed_rst = other[0]
        self.r["first_rst_by"] = self.name(self.first_rst[1]) if self.first_rst else ""

    # -- handshake ------------------------------------------------------------------------

    def read_handshake(self):
        """docs/schema.md handshake token.  The client is established once a segment of its
        proves it had the server's SYN (ack covers the server ISN; with the SYN+ACK unseen,
        any ACK-bearing non-SYN, non-RST segment after its SYN); the handshake is `aborted`
        when the first acceptable RST came before that."""
        C, S = self.C, self.S
        c_syn = [q for q in C.segs if q.p.flags & SYN and not q.p.flags & ACK]
        s_syn = [q for q in S.segs if q.p.flags & SYN and not q.p.flags & ACK]
        s_synack = [q for q in S.segs if q.p.flags & SYN and q.p.flags & ACK]
        self.c_est = next((q for q in C.segs if q.ack is not None and not q.p.flags & (SYN | RST)
                           and (S.isn is None or q.ack >= S.isn + 1)), None)
        if self.c_est is None and not C.pkts and C.isn is not None:
            # one-sided (server only): a server ack past the client's ISN + 1 covers client
            # payload, which the client sends only once established
            self.c_est = next((q for q in S.segs if q.ack is not None and q.ack >= C.isn + 2
                               and not q.p.flags & RST), None)
        rst = self.first_rst
        if not (c_syn or s_syn or s_synack):
            hs = "none"
        elif c_syn and s_syn:
            hs = "simultaneous_open"
        elif not s_synack and self.c_est is None:
            # nothing proves the server sent a SYN
            if rst:
                hs = "refused" if rst[1] is S else "aborted"
            elif not S.pkts:
                hs = "unanswered"
            else:
                hs = "?"
                self.note("the server answered the SYN with neither SYN+ACK nor RST")
        elif self.c_est is None:
            if rst:
                hs = "aborted"
            else:
                hs = "?"
                self.note("SYN+ACK (frame %d) never acknowledged in the capture: no handshake "
                          "token fits" % s_synack[0].p.frame)
        else:
            hs = "aborted" if rst and rst[0].i < self.c_est.i else "three_way"
        self.hs = hs
        self.r["handshake"] = hs
        if s_synack and c_syn and s_synack[0].i < c_syn[0].i:
            self.note("SYN+ACK frame %d captured before SYN frame %d (tap_reordered)"
                      % (s_synack[0].p.frame, c_syn[0].p.frame))
        isns = {q.seq for q in c_syn}
        if len(c_syn) > 1:
            self.note("client sent %d SYNs (%d ISN%s)" % (len(c_syn), len(isns),
                                                        "" if len(isns) == 1 else "s"))

    # -- FINs -----------------------------------------------------------------------------

    def recvd_before_own_fin(self, me, peer):
        """How `me` proves it had the peer's FIN before sending its own (DESIGN.md 1): a
        segment it sent before its FIN acks it ('earlier'), or its FIN segment's own ack does
        ('merged'); else None.  'Before' is judged by sequence number, not capture order: a
        pure ACK at seq == F (F = its FIN's sequence number) was sent before the FIN, one at
        F + 1 after it; payload seen for the first time was sent before the FIN; a
        retransmission carries a newer ack and proves nothing about the order."""
        fseg, F = me.first_fin()
        Fp = peer.first_fin()[1]
        for k, q in enumerate(me.segs):
            if q.p.flags & (FIN | RST | SYN) or q.ack is None or q.ack < Fp + 1:
                continue
            if (q.p.plen == 0 and q.seq == F) or (q.p.plen and q.seq + q.p.plen <= F and
                                                  not me.is_retransmission(k)):
                return "earlier", q
        if fseg.p.flags & ACK and fseg.ack is not None and fseg.ack >= Fp + 1:
            return "merged", fseg
        return None

    def read_fins(self):
        """FIN facts: retransmissions, FINs the receiver would drop, and for two FINs which one
        was first (close kind four_way/three_way/simultaneous/fins_unproven), from acks."""
        C, S = self.C, self.S
        self.fin_kind = self.fin_closer = None
        self.r["fin_retrans"] = max(0, len(C.fins) - 1) + max(0, len(S.fins) - 1)
        for side in (C, S):
            if len({F for _, F in side.fins}) > 1:
                self.note("%s FIN at several sequence numbers (fin_seq_changed)"
                          % self.name(side))
            for q, _ in side.fins:
                if not q.p.flags & (ACK | SYN):
                    self.note("%s FIN without ACK at frame %d: dropped by the receiver "
                              "(RFC 9293 3.10.7.4)" % (self.name(side), q.p.frame))
        fc, fs = C.first_fin(), S.first_fin()
        if fc and fs:
            self.read_two_fins(fc, fs)
        elif self.one_sided and (fc or fs):
            # The unseen side's FIN shows only as the seen side's ack moving one on, as a byte
            # of payload does.  Acks that never moved after the seen FIN: no FIN came.
            seen = C if fc else S
            fseg = seen.first_fin()[0]
            moved = [q for q in seen.segs if q.i > fseg.i and q.ack is not None
                     and fseg.ack is not None and q.ack > fseg.ack]
            if moved:
                self.fin_kind = self.fin_closer = "?"
                self.note("one-sided: acks moved after the seen FIN (frame %d): the unseen "
                          "side's FIN cannot be told from a byte" % moved[0].p.frame)
            else:
                self.note("one-sided: the %s's acks never moved after its FIN (frame %d): it "
                          "received no FIN" % (self.name(seen), fseg.p.frame))

    def read_two_fins(self, fc, fs):
        C, S = self.C, self.S
        rb_s, rb_c = self.recvd_before_own_fin(S, C), self.recvd_before_own_fin(C, S)
        c_acked = S.first_ack_covering(fc[1], skip_rst=True)
        s_acked = C.first_ack_covering(fs[1], skip_rst=True)
        if bool(rb_s) != bool(rb_c):
            first, second, how = (C, S, rb_s) if rb_s else (S, C, rb_c)
            self.fin_closer = self.name(first)
            self.fin_kind = "four_way" if how[0] == "earlier" else "three_way"
            self.note("%s FIN frame %d (seq %d); %s had it before its FIN frame %d: %s ack "
                      "frame %d (ack %d)" % (
                          self.name(first), first.first_fin()[0].p.frame,
                          first.first_fin()[0].p.seq, self.name(second),
                          second.first_fin()[0].p.frame, how[0], how[1].p.frame, how[1].p.ack))
        elif not rb_c and not rb_s:
            desc = "FINs crossed: client FIN frame %d (ack %d), server FIN frame %d (ack %d)" % (
                fc[0].p.frame, fc[0].p.ack, fs[0].p.frame, fs[0].p.ack)
            if c_acked and s_acked:
                self.fin_kind, self.fin_closer = "simultaneous", "both"
                self.note("%s; both acked (client FIN by frame %d, server FIN by frame %d)"
                          % (desc, c_acked.p.frame, s_acked.p.frame))
            else:
                self.fin_kind, self.fin_closer = "fins_unproven", "?"
                self.note("%s; client FIN acked %s, server FIN acked %s" % (
                    desc, "by frame %d" % c_acked.p.frame if c_acked else "never",
                    "by frame %d" % s_acked.p.frame if s_acked else "never"))
        else:
            self.fin_kind, self.fin_closer = "fins_unproven", "?"
            self.note("each side's acks cover the other's FIN before its own: contradictory")

    # -- close kind -----------------------------------------------------------------------

    def after_both_fins(self, q, me, peer):
        """docs/schema.md: a RST comes after both FINs when its sender had sent its FIN and its
        acks (any segment up to and including the RST) cover the peer's FIN; or it is a bare
        RST answering the peer's FIN from a FIN_WAIT_2 socket that was gone (its own FIN
        acked, the peer's FIN captured before it, carrying nothing it had not acked)."""
        own, pf = me.first_fin(), peer.first_fin()
        if own is None or own[0].i > q.i or pf is None:
            return False
        if me.first_ack_covering(pf[1], before=q.i + 1):
            return True
        if q.p.flags & ACK or pf[0].i > q.i or not peer.first_ack_covering(own[1], before=q.i):
            return False
        rcvd = me.max_ack(q.i)
        ends = [data_start(o) + o.p.plen for o in peer.segs if o.p.plen and o.i < q.i]
        return not ends or (rcvd is not None and max(ends) <= rcvd)

    def heard_fin_before_close(self, me, peer):
        """docs/schema.md closer: `me` had received `peer`'s FIN before its own close: before
        its own FIN (recvd_before_own_fin), or, with no FIN of its own, its acks (a RST+ACK's
        too) cover it, or its bare RST answers the FIN segment (seq = that FIN's ack)."""
        pf = peer.first_fin()
        if pf is None:
            return False
        if me.first_fin():
            return self.recvd_before_own_fin(me, peer) is not None
        if me.first_ack_covering(pf[1]):
            return True
        # its close is its first RST: a later one answers what reached a socket already gone
        first = me.rsts[0] if me.rsts else None
        return (first is not None and not first.p.flags & ACK and pf[0].p.flags & ACK and
                first.p.seq == pf[0].p.ack)

    def rst_closer(self):
        """docs/schema.md closer for a RST ending: who began a close (sent a FIN, or the
        RST(s) that ended it); of two, the one whose FIN the other had received first, else
        both."""
        C, S = self.C, self.S
        resetters = {self.first_rst[1]} | ({self.crossed_rst[1]} if self.crossed_rst else set())
        began = [side for side in (C, S) if side.fins or side in resetters]
        if len(began) == 1:
            return self.name(began[0])
        for first, other in ((C, S), (S, C)):
            if self.heard_fin_before_close(other, first):
                return self.name(first)
        return "both"

    def read_close_kind(self):
        """docs/schema.md close_kind and closer.  The first RST that counts and does not come
        after both FINs (after_both_fins) ends the connection: kind rst."""
        C, S = self.C, self.S
        self.rst_ends = False
        self.r["rst_before_fins"] = ""
        if self.first_rst:
            q, me, peer = self.first_rst
            self.rst_ends = not self.after_both_fins(q, me, peer)
            self.r["rst_before_fins"] = int(self.rst_ends)
            self.note("first RST frame %d from %s (flags 0x%03x, seq %d, ack %s)%s" % (
                q.p.frame, self.name(me), q.p.flags, q.p.seq,
                q.p.ack if q.p.flags & ACK else "-",
                "" if self.rst_ends else ", after both FINs: the FIN-based kind stands"))
            if not self.rst_ends:
                self.crossed_rst = None
            elif self.crossed_rst:
                self.note("the %s's RST frame %d crossed it" % (
                    self.name(self.crossed_rst[1]), self.crossed_rst[0].p.frame))
        hs = self.hs
        if hs in ("refused", "unanswered"):
            kind, closer = hs, ("server" if hs == "refused" else "none")
        elif hs == "aborted":
            kind, closer = "rst", self.name(self.first_rst[1])
        elif self.rst_ends:
            kind, closer = "rst", self.rst_closer()
        elif self.fin_kind:
            kind, closer = self.fin_kind, self.fin_closer
        elif C.fins or S.fins:
            kind, closer = "half_closed", ("client" if C.fins else "server")
        elif hs == "?":
            kind, closer = "?", "none"
        else:
            kind, closer = "open", "none"
        self.kind, self.closer = kind, closer
        self.r["close_kind"], self.r["closer"] = kind, closer

    # -- RST cause ------------------------------------------------------------------------

    def read_rst_cause(self):
        """issue 8 rst_cause and rst_cause_proven (only for close_kind rst).  RSTs that crossed:
        the client's, unless it is `other` and the server's is not (docs/schema.md)."""
        self.r["rst_cause"], self.r["rst_cause_proven"] = "", ""
        if self.kind != "rst":
            return
        cause = self.rst_cause(*self.first_rst)
        if self.crossed_rst and self.hs != "aborted":
            other = self.rst_cause(*self.crossed_rst)
            c, s = (cause, other) if self.first_rst[1] is self.C else (other, cause)
            cause = s if c[0] == "other" and s[0] != "other" else c
        self.r["rst_cause"], self.r["rst_cause_proven"] = cause

    def rst_cause(self, q, me, peer):
        """From what the resetter had sent and what its acks show it had received before the
        RST (payload counts, a FIN does not): handshake; accept_overflow; after its own FIN,
        data_after_close (peer payload never acked, answered by a bare RST at its ack:
        proven) or unread_data (a RST+ACK whose acks cover some of it, likely) or other;
        without a FIN, unread_data / abort (likely), or abort proven when it had received no
        payload at all."""
        S = self.S
        if self.hs == "aborted":
            return "handshake", 1
        if me is S and S.syn is not None and S.syn.p.flags & ACK:
            after = [o for o in S.segs if o.i > S.syn.i]
            if (after and after[0] is q and not q.p.flags & ACK and not q.p.plen
                    and q.seq == S.isn + 1):
                self.note("the server's first segment after its SYN+ACK is a bare RST at ISN+1 "
                          "(frame %d)" % q.p.frame)
                return "accept_overflow", 0
        if me.pkts == 1 and not peer.pkts:
            self.note("a lone RST")
            return "other", 0
        peer_ranges = [(data_start(o), data_start(o) + o.p.plen) for o in peer.segs
                       if o.p.plen and o.i < q.i]
        rcvd = me.max_ack(q.i)
        own = me.first_fin()
        if own and own[0].i < q.i:
            fin_ack = own[0].ack
            late = [x for x in peer_ranges if fin_ack is None or x[1] > fin_ack]
            if not late:
                self.note("RST after the resetter's own FIN, no peer payload after that FIN")
                return "other", 0
            end = max(e for _, e in late)
            lo = fin_ack if fin_ack is not None else min(x for x, _ in late)
            if not q.p.flags & ACK:
                ends = [o.seq + o.p.plen + (1 if o.p.flags & (SYN | FIN) else 0)
                        for o in me.segs if o.i < q.i and not o.p.flags & RST]
                peer_ack = peer.max_ack(q.i)
                lo_seq = min(own[1], peer_ack) if peer_ack is not None else None
                if (rcvd is None or rcvd < end) and lo_seq is not None and \
                        lo_seq <= q.seq <= max(ends):
                    self.note("peer payload after the resetter's FIN (%d bytes) never acked, "
                              "answered by a bare RST at its ack" % union_len(late))
                    return "data_after_close", 1
                self.note("a bare RST after the resetter's FIN, not at the peer's ack")
                return "other", 0
            if rcvd is not None and rcvd > lo:
                self.note("the RST+ACK's acks cover peer payload after the resetter's FIN")
                return "unread_data", 0
            self.note("a RST+ACK after the resetter's FIN, its acks cover none of the peer's "
                      "later payload (%d bytes)" % union_len(late))
            return "other", 0
        if rcvd is None:
            self.note("the resetter sent no ack: what it had received is unknown")
            return "other", 0
        lo = peer.isn + 1 if peer.isn is not None else None
        floor_ = lo if lo is not None else -(1 << 62)
        if peer.pkts:
            received = union_len(peer_ranges, floor_, rcvd)
        else:   # one-sided: acks only
            received = max(0, rcvd - lo) if lo is not None else 0
        if not received:
            if lo is None:
                self.note("midstream: payload received before the capture is unknown")
                return "abort", 0
            return "abort", 1
        mine = [o for k, o in enumerate(me.segs) if o.p.plen and o.i < q.i
                and not me.is_retransmission(k)]
        answered = mine[-1].ack if mine and mine[-1].ack is not None else floor_
        unanswered = (union_len(peer_ranges, answered, rcvd) if peer.pkts
                      else max(0, rcvd - answered))
        if unanswered:
            self.note("%s had %d payload bytes it never answered (its last payload acked %d, "
                      "it had received up to %d)" % (self.name(me), unanswered, answered % MOD,
                                                     rcvd % MOD))
            if me is S or not mine:
                return "unread_data", 0
            return "abort", 0
        self.note("%s had answered all the payload it received" % self.name(me))
        return "abort", 0

    # -- closer_call ----------------------------------------------------------------------

    def read_closer_call(self):
        """issue 8 closer_call (docs/schema.md): '' without a FIN; 'unknown' when the closer is
        `both` and both sent FINs; else, for the closer (or the first FIN's sender), payload of
        the peer beyond that FIN's ack field (it arrived after the FIN was sent): 'shutdown'
        when the closer acknowledged some of it (any of its segments, a RST+ACK's ack too: a
        live socket received it); 'close' when the closer's RST is data_after_close (a bare
        RST answering it, none of it acknowledged: an orphan), or when the closer's bare RST
        answered the peer's FIN once its own FIN was acked (FIN_WAIT_2 timeout); else
        'unknown'."""
        fins = [(s.first_fin(), s, p) for s, p in ((self.C, self.S), (self.S, self.C))
                if s.first_fin()]
        if not fins:
            self.r["closer_call"] = ""
            return
        if self.closer == "both" and len(fins) == 2:
            self.r["closer_call"] = "unknown"
            return
        pick = [x for x in fins if self.name(x[1]) == self.closer]
        (fseg, F), me, peer = pick[0] if pick else min(fins, key=lambda x: x[0][0].i)
        call = "unknown"
        rcvd = fseg.ack if fseg.ack is not None else None
        late = [o for o in peer.segs if o.p.plen and rcvd is not None and
                data_start(o) + o.p.plen > rcvd]
        pf = peer.first_fin()
        if late:
            lo = max(rcvd, min(data_start(o) for o in late))
            if any(o.ack is not None and o.ack > lo for o in me.segs):
                call = "shutdown"
            elif (self.kind == "rst" and self.first_rst[1] is me and
                  self.r.get("rst_cause") == "data_after_close"):
                call = "close"
        elif pf and peer.first_ack_covering(F) and any(
                o.p.flags & RST and not o.p.flags & ACK and o.i > pf[0].i for o in me.segs):
            call = "close"
        self.r["closer_call"] = call

    # -- end states -----------------------------------------------------------------------

    def read_states(self):
        """Each endpoint's RFC 9293 state at the end (3.3.2).  Sending a SYN/FIN/RST moves the
        sender; receiving a FIN moves the receiver where its own ack proves it; an endpoint
        learns its FIN was acked at the peer segment that acks it (docs/schema.md evidence).
        Who closed second comes from the close kind (sequence and ack numbers)."""
        C, S = self.C, self.S

        def fin_acked(me, peer):   # a RST's ack acknowledges nothing of its receiver's
            f = me.first_fin()
            return f is not None and peer.first_ack_covering(f[1], skip_rst=True) is not None

        def state(me, peer):
            if self.hs == "unanswered":
                return "syn_sent" if me is C else "listen"
            if self.hs == "refused":
                return "closed"     # RFC 9293 3.10.7.1: the RST came from a port with no TCB
            if self.first_rst:
                q, resetter, _ = self.first_rst
                if (resetter is not me and me is S and not self.r["midstream"] and
                        not any(o.p.flags & SYN for o in me.segs if o.i < q.i)):
                    return "listen"  # a listener ignores a RST (RFC 9293 3.10.7.2)
                return "closed"     # sender, and an acceptable RST's receiver (3.10.7.4)
            if self.hs == "?" and not me.fins:
                if me is C:
                    return "established" if self.c_est else "syn_sent"
                return "syn_rcvd"
            acked, rcvd = fin_acked(me, peer), fin_acked(peer, me)
            if self.kind in ("four_way", "three_way"):
                if self.closer == self.name(me):
                    return "time_wait" if rcvd else "fin_wait_2"
                return "closed" if acked else "last_ack"
            if self.kind == "simultaneous":
                return "time_wait"
            if me.fins:
                if rcvd:
                    return "time_wait" if acked else "closing"
                return "fin_wait_2" if acked else "fin_wait_1"
            if self.kind == "?" and not peer.pkts:
                return "?"
            return "close_wait" if rcvd else "established"
        self.r["client_state"], self.r["server_state"] = state(C, S), state(S, C)

    # -- counters -------------------------------------------------------------------------

    def read_counters(self):
        """Per side: packets, payload bytes, retransmitted and gap bytes (retrans_and_gaps);
        SYN/FIN/RST segment counts; tcptrace's retransmission measure (a resent SYN or FIN
        counts one byte)."""
        for name, side in (("client", self.C), ("server", self.S)):
            self.r[name + "_packets"] = side.pkts
            self.r[name + "_bytes"] = side.bytes
            rt, gap = retrans_and_gaps(side)
            self.r[name + "_retrans_bytes"], self.r[name + "_gap_bytes"] = rt, gap
            syns = sum(1 for q in side.segs if q.p.flags & SYN)
            self.r[name + "_retrans_seq"] = rt + max(0, syns - 1) + max(0, len(side.fins) - 1)
        self.r["syns"] = tuple(sum(1 for q in s.segs if q.p.flags & SYN)
                               for s in (self.C, self.S))
        self.r["fins"] = (len(self.C.fins), len(self.S.fins))
        self.r["rsts"] = (len(self.C.rsts), len(self.S.rsts))

    # -- self-connect ---------------------------------------------------------------------

    def read_self_connect(self):
        """A socket connected to itself (same address and port at both ends): self_connect,
        two_way on a FIN; the per-side fields have no meaning and are not decided."""
        pkts = self.conn.pkts
        nfin = sum(1 for p in pkts if p.flags & FIN)
        nrst = sum(1 for p in pkts if p.flags & RST)
        self.r.update(handshake="self_connect" if pkts[0].flags & SYN else "none",
                      one_sided=0, close_kind="rst" if nrst else ("two_way" if nfin else "open"),
                      closer="self" if nfin or nrst else "none", rst_cause="?",
                      rst_cause_proven="?", closer_call="?", first_rst_by="",
                      rst_before_fins="", fin_retrans="?", syns=(0, 0), fins=(nfin, 0),
                      rsts=(nrst, 0))
        for f in COUNTER_FIELDS + ("client_state", "server_state"):
            self.r.setdefault(f, "?")
        for name in ("client", "server"):
            self.r[name + "_retrans_seq"] = None


def read_packets(conn, servers):
    """The independent reading of one connection instance (see Reading): {field: value}."""
    return Reading(conn, servers).fields()


# --- reading 3: tcptrace ----------------------------------------------------------------------

def read_tcptrace(path):
    """`tcptrace -n -l --csv FILE`: per connection, host a/b (addr, port), first packet time,
    packets, RSTs, payload bytes (actual data bytes, retransmissions included), retransmitted
    bytes and SYN/FIN counts per direction.  Returns a list of dicts (empty if it fails)."""
    try:
        res = run(["tcptrace", "-n", "-l", "--csv", path], timeout=60, env=TOOL_ENV)
    except (OSError, subprocess.TimeoutExpired):
        return []
    lines = [l for l in res.stdout.splitlines() if l and not l.startswith("#")]
    if not lines:
        return []
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    head = [h.strip() for h in rows[0]]
    out = []
    for row in rows[1:]:
        d = {h: v.strip() for h, v in zip(head, row)}
        try:
            out.append({
                "a": (canon_addr(d["host_a"]), int(d["port_a"])),
                "b": (canon_addr(d["host_b"]), int(d["port_b"])),
                "first_ts": float(d["first_packet"]),
                "pkts": (int(d["total_packets_a2b"]), int(d["total_packets_b2a"])),
                "rsts": (int(d["resets_sent_a2b"]), int(d["resets_sent_b2a"])),
                "bytes": (int(d["actual_data_bytes_a2b"]), int(d["actual_data_bytes_b2a"])),
                "rexmt": (int(d["rexmt_data_bytes_a2b"]), int(d["rexmt_data_bytes_b2a"])),
                "synfin": (d["SYN/FIN_pkts_sent_a2b"], d["SYN/FIN_pkts_sent_b2a"]),
            })
        except (KeyError, ValueError):
            continue
    return out


# --- reading 4: argus -------------------------------------------------------------------------

def read_argus(path):
    """`argus -X -A -r FILE -w -` piped to `racluster -Z b` (records of one 5-tuple merged):
    per TCP flow, src/dst (addr, port), packets and application bytes per direction, and the
    TCP flags seen per direction ('FSPA_FSPA').  Returns a list of dicts (empty if it fails)."""
    try:
        argus = subprocess.Popen(["argus", "-X", "-A", "-r", path, "-w", "-"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=TOOL_ENV)
        res = subprocess.run(["racluster", "-r", "-", "-n", "-u", "-Z", "b", "-c", "|", "-s",
                              "stime", "saddr", "sport", "daddr", "dport", "proto", "state",
                              "spkts", "dpkts", "sappbytes", "dappbytes", "-", "tcp"],
                             stdin=argus.stdout, capture_output=True, text=True, timeout=60,
                             env=TOOL_ENV)
        argus.stdout.close()
        argus.wait(timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    out = []
    for line in res.stdout.splitlines()[1:]:
        f = line.split("|")
        if len(f) < 11 or f[5] != "tcp":
            continue
        try:
            sflags, _, dflags = f[6].partition("_")
            out.append({"a": (canon_addr(f[1]), int(f[2])), "b": (canon_addr(f[3]), int(f[4])),
                        "first_ts": float(f[0]), "flags": (sflags, dflags),
                        "pkts": (int(f[7]), int(f[8])), "bytes": (int(f[9]), int(f[10]))})
        except ValueError:
            continue
    return out


# --- matching and comparison ------------------------------------------------------------------

def fs_value(row, field, mine):
    """finscope's value of a field, expressed per endpoint so that an orientation disagreement
    is counted once (orientation) and not again in every per-side counter."""
    fcl = (canon_addr(row["client_addr"]), row["client_port"])
    flip = fcl != mine["client"] and fcl == mine["server"]
    if field == "orientation":
        return "%s:%d" % fcl
    if field == "one_sided":
        return int("one_sided" in (row["anomalies"] or "").split(","))
    if field in NEW_COLUMNS:
        v = row.get(field)
        return "" if v is None else v
    if field == "rst_cause":
        return row["rst_cause"] or ""
    if field == "closer" and flip and row["closer"] in ("client", "server"):
        return "server" if row["closer"] == "client" else "client"
    if flip and (field.startswith("client_") or field.startswith("server_")):
        other = ("server_" + field[7:]) if field.startswith("client_") else ("client_" + field[7:])
        return row[other]
    return row[field]


def agree(field, mine, theirs, have_col):
    """'1', '0' or 'na' (the independent reading could not decide, or the column is absent)."""
    if field in NEW_COLUMNS and not have_col:
        return "na"
    if mine in ("?", None):
        return "na"
    return "1" if str(mine) == str(theirs) else "0"


def match_tool(conns_info, tool_rows):
    """Assigns tcptrace/argus connections to the packet reading's connections by unordered
    5-tuple: all the tool's rows of a tuple when the packet reading has one instance there
    (argus may write one record per direction, e.g. a SYN and the RST refusing it), else the
    row nearest in first timestamp, within 1 s.  conns_info: [(key, first_ts)] in connection
    order.  Returns {conn index: [tool rows]}."""
    by_key = collections.defaultdict(list)
    for t in tool_rows:
        by_key[tuple(sorted((t["a"], t["b"])))].append(t)
    insts = collections.defaultdict(list)
    for n, (key, first_ts) in enumerate(conns_info):
        insts[key].append((first_ts, n))
    out = {}
    for key, lst in insts.items():
        cands = by_key.get(key, [])
        if cands and len(lst) == 1:
            out[lst[0][1]] = cands
            continue
        for first_ts, n in lst:
            if not cands:
                break
            best = min(cands, key=lambda t: (abs(t["first_ts"] - first_ts), t["first_ts"]))
            if abs(best["first_ts"] - first_ts) <= 1.0:
                out[n] = [best]
    return out


TOOL_FIELDS = {"tcptrace": ("packets", "bytes", "retrans", "syns", "fins", "rsts"),
               "argus": ("packets", "bytes", "syns", "fins", "rsts")}


def tool_sides(tool, rows, client):
    """tcptrace/argus rows of one connection as {field: (client value, server value)} in the
    orientation of the packet reading, summed over the rows.  tcptrace: counts (its
    retransmitted bytes count a resent SYN or FIN as one byte); argus: SYN/FIN/RST as 1 = seen,
    0 = not seen."""
    total = collections.defaultdict(lambda: [0, 0])
    for t in rows:
        fwd = t["a"] == client
        o = lambda v: tuple(v) if fwd else tuple(v)[::-1]
        d = {"packets": o(t["pkts"]), "bytes": o(t["bytes"])}
        if tool == "tcptrace":
            sf = o(t["synfin"])
            d["retrans"] = o(t["rexmt"])
            d["syns"] = tuple(int(x.split("/")[0]) for x in sf)
            d["fins"] = tuple(int(x.split("/")[1]) for x in sf)
            d["rsts"] = o(t["rsts"])
        else:
            fl = o(t["flags"])
            for f, ch in (("syns", "S"), ("fins", "F"), ("rsts", "R")):
                d[f] = tuple(int(ch in x) for x in fl)
        for f, (c, s_) in d.items():
            total[f][0] += c
            total[f][1] += s_
    out = {f: tuple(v) for f, v in total.items()}
    if tool == "argus":
        for f in ("syns", "fins", "rsts"):
            out[f] = tuple(int(x > 0) for x in out[f])
    return out


def packet_sides(r):
    """The packet reading's per-side values for the tool comparison."""
    return {"packets": (r["client_packets"], r["server_packets"]),
            "bytes": (r["client_bytes"], r["server_bytes"]),
            "retrans": (r.get("client_retrans_seq"), r.get("server_retrans_seq")),
            "syns": r["syns"], "fins": r["fins"], "rsts": r["rsts"]}


def finscope_sides(row, client):
    """finscope's per-side values for the tool comparison: packets and bytes from the flow row,
    SYN/FIN/RST counts from its stored control segments (segment_log), and retransmitted
    bytes plus resent SYNs and FINs (tcptrace's measure)."""
    fwd = (canon_addr(row["client_addr"]), row["client_port"]) == client
    o = lambda a, b: (a, b) if fwd else (b, a)
    cnt = {"client": collections.Counter(), "server": collections.Counter()}
    try:
        segs = json.loads(row["segment_log"] or "[]")
    except ValueError:
        segs = []
    for seg in segs:  # schema 6's code (store.h): (why * 256 + TCP flags) * 2 + sender
        sender, flags = ("client", "server")[seg[0] & 1], seg[0] >> 1 & 255
        for f, bit in (("syns", 0x02), ("fins", 0x01), ("rsts", 0x04)):
            if flags & bit:
                cnt[sender][f] += 1
    d = {"packets": o(row["client_packets"], row["server_packets"]),
         "bytes": o(row["client_bytes"], row["server_bytes"])}
    for f in ("syns", "fins", "rsts"):
        d[f] = o(cnt["client"][f], cnt["server"][f])
    d["retrans"] = o(row["client_retrans_bytes"] + max(0, cnt["client"]["syns"] - 1)
                     + max(0, cnt["client"]["fins"] - 1),
                     row["server_retrans_bytes"] + max(0, cnt["server"]["syns"] - 1)
                     + max(0, cnt["server"]["fins"] - 1))
    return d


def tool_columns(tool, rows, r, row):
    """TSV columns for one tool (rows: its records of this connection): its per-side values and
    whether they equal the packet reading ('1'/'0') and finscope's ('1'/'0'/'na').  argus
    only says seen / not seen for SYN, FIN and RST."""
    cols = {tool + "_seen": int(bool(rows))}
    if not rows:
        return cols
    mine = packet_sides(r)
    theirs = tool_sides(tool, rows, r["client"])
    fsd = finscope_sides(row, r["client"]) if row else None
    for f in TOOL_FIELDS[tool]:
        tv = theirs[f]
        mv = mine[f]
        fv = fsd[f] if fsd else None
        if tool == "argus" and f in ("syns", "fins", "rsts"):
            mv = tuple(int(x > 0) for x in mv)
            fv = tuple(int(x > 0) for x in fv) if fv else None
        cols["%s_%s" % (tool, f)] = "%s/%s" % tv
        cols["%s_%s_vs_packets" % (tool, f)] = int(tuple(tv) == tuple(mv))
        cols["%s_%s_vs_finscope" % (tool, f)] = ("na" if fv is None or None in fv
                                                 else int(tuple(tv) == tuple(fv)))
    return cols


# --- driver -----------------------------------------------------------------------------------

def batches(paths, n):
    """Splits the captures into n batches of about equal size (bytes), deterministically."""
    out = [[] for _ in range(n)]
    size = [0] * n
    for p in sorted(paths, key=lambda p: (-os.path.getsize(p), p)):
        k = size.index(min(size))
        out[k].append(p)
        size[k] += os.path.getsize(p)
    return [sorted(b) for b in out if b]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("finscope")
    ap.add_argument("corpus", nargs="?", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "corpus",
        "wild"))
    ap.add_argument("--tsv", default="crosscheck-wild.tsv")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--quiet", action="store_true", help="summary only")
    args = ap.parse_args()

    tdir = os.path.join(args.corpus, "traces")
    if not os.path.isdir(tdir):
        tdir = args.corpus if os.path.isdir(args.corpus) else None
    if tdir is None:
        print("SKIP: corpus not found at %s (expected ../shared/corpus/wild beside the clone)"
              % args.corpus)
        return 77
    for tool in ("tshark", "mergecap"):
        if shutil.which(tool) is None:
            print("SKIP: %s not installed" % tool)
            return 77
    have_tcptrace = shutil.which("tcptrace") is not None
    have_argus = shutil.which("argus") is not None and shutil.which("racluster") is not None
    paths = sorted(os.path.join(tdir, f) for f in os.listdir(tdir)
                   if f.endswith((".pcap", ".pcapng", ".cap", ".trace")))
    if not paths:
        print("SKIP: no captures in %s" % tdir)
        return 77

    with tempfile.TemporaryDirectory(prefix="crosscheck-") as tmp:
        # argus sleeps ~1 s at exit with little CPU: it gets many threads of its own
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, args.jobs)) as pool, \
                concurrent.futures.ThreadPoolExecutor(max_workers=48) as slow:
            ts_f = [pool.submit(read_tshark_batch, b, tmp, str(k))
                    for k, b in enumerate(batches(paths, args.jobs))]
            fs_f = {p: pool.submit(read_finscope, args.finscope, p, tmp) for p in paths}
            tt_f = {p: pool.submit(read_tcptrace, p) for p in paths} if have_tcptrace else {}
            ar_f = {p: slow.submit(read_argus, p) for p in paths} if have_argus else {}
            packets = {}
            for f in ts_f:
                packets.update(f.result())
            fs = {p: fs_f[p].result() for p in paths}
            tt = {p: tt_f[p].result() if p in tt_f else [] for p in paths}
            ar = {p: ar_f[p].result() if p in ar_f else [] for p in paths}

    errors = [(os.path.basename(p), fs[p][0]) for p in paths if fs[p][0]]
    # a byte-identical copy of another capture is analyzed (finscope must not fail on it) but
    # its connections are counted once
    digest, dup_of = {}, {}
    for p in paths:
        with open(p, "rb") as fp:
            h = hashlib.sha256(fp.read()).hexdigest()
        if h in digest:
            dup_of[p] = os.path.basename(digest[h])
        else:
            digest[h] = p
    table, extra_fs = [], []
    for p in paths:
        if p not in dup_of:
            lines, extra = compare_capture(p, packets[p], fs[p], tt[p], ar[p])
            table += lines
            extra_fs += extra

    write_tsv(args.tsv, table)
    failed = summarize(table, extra_fs, errors, dup_of, have_tcptrace, have_argus, args.quiet)
    print("TSV: %s" % os.path.abspath(args.tsv))
    return 1 if failed else 0


def compare_capture(path, pkts, fs_result, tt_rows, ar_rows):
    """Reads one capture's packets into connections, matches finscope's rows and the tools'
    connections to them, and returns (TSV lines, finscope rows matching no connection)."""
    name = os.path.basename(path)
    conns = split_connections(pkts)
    servers = capture_servers(conns)
    readings = [read_packets(c, servers) for c in conns]
    for c, r in zip(conns, readings):
        r["split"], r["key"], r["first_ts"] = c.why, c.key, c.pkts[0].ts
    _, rows, cols = fs_result
    have = {c: c in cols for c in NEW_COLUMNS}
    fs_by = {}
    for row in rows:
        k = tuple(sorted(((canon_addr(row["client_addr"]), row["client_port"]),
                          (canon_addr(row["server_addr"]), row["server_port"]))))
        fs_by[(k, row["first_packet"])] = row
    # exact match first (tuple, first frame); then a row of the same tuple whose first packet
    # lies inside the connection (frames the two readings decode differently)
    matched, used = {}, set()
    for n, r in enumerate(readings):
        row = fs_by.get((r["key"], r["first_frame"]))
        if row is not None:
            matched[n] = (row, "exact")
            used.add(id(row))
    for n, r in enumerate(readings):
        if n in matched:
            continue
        for (k, fp), row in sorted(fs_by.items(), key=lambda x: x[0][1]):
            if k == r["key"] and id(row) not in used and \
                    r["first_frame"] <= fp <= r["last_frame"]:
                matched[n] = (row, "tuple")
                used.add(id(row))
                break
    info = [(r["key"], r["first_ts"]) for r in readings]
    tt_m = match_tool(info, tt_rows)
    ar_m = match_tool(info, ar_rows)
    lines = []
    for n, r in enumerate(readings):
        row, how = matched.get(n, (None, ""))
        line = {"file": name, "conn": n + 1, "client": "%s:%d" % r["client"],
                "server": "%s:%d" % r["server"], "first_frame": r["first_frame"],
                "last_frame": r["last_frame"], "basis": r["basis"], "split": r["split"],
                "found": int(row is not None), "match": how,
                "fs_flow_id": row["id"] if row else "",
                "fs_anomalies": row["anomalies"] if row else "",
                "first_rst_by": r["first_rst_by"], "rst_before_fins": r["rst_before_fins"],
                "fins_seen": "%d/%d" % r["fins"], "rsts_seen": "%d/%d" % r["rsts"],
                "notes": r["notes"]}
        for f in FIELDS:
            mine = r.get(f, "?")
            line["my_" + f] = mine
            if row is None:
                line["fs_" + f], line["agree_" + f] = "", "0"
                continue
            theirs = fs_value(row, f, r)
            line["fs_" + f] = theirs
            line["agree_" + f] = agree(f, mine, theirs, have.get(f, True))
        line.update(tool_columns("tcptrace", tt_m.get(n), r, row))
        line.update(tool_columns("argus", ar_m.get(n), r, row))
        lines.append(line)
    extra = [(name, row) for row in rows if id(row) not in used]
    return lines, extra


TOOL_COLS = tuple(["tcptrace_seen"] + ["tcptrace_%s%s" % (f, x) for f in TOOL_FIELDS["tcptrace"]
                                         for x in ("", "_vs_packets", "_vs_finscope")]
                  + ["argus_seen"] + ["argus_%s%s" % (f, x) for f in TOOL_FIELDS["argus"]
                                      for x in ("", "_vs_packets", "_vs_finscope")])


def write_tsv(path, table):
    """One line per connection: identity, then mine / finscope's / agree for each field, then
    what tcptrace and argus say, then the notes of the independent reading."""
    head = ["file", "conn", "client", "server", "first_frame", "last_frame", "basis", "split",
            "found", "match", "fs_flow_id"]
    for f in FIELDS:
        head += ["my_" + f, "fs_" + f, "agree_" + f]
    head += ["first_rst_by", "rst_before_fins", "fins_seen", "rsts_seen", "fs_anomalies"]
    head += list(TOOL_COLS) + ["notes"]
    with open(path, "w") as fp:
        fp.write("\t".join(head) + "\n")
        for line in table:
            fp.write("\t".join(str(line.get(h, "")).replace("\t", " ") for h in head) + "\n")


def rate(a, d):
    return 100.0 * a / d if d else 100.0


def summarize(table, extra_fs, errors, dup_of, have_tcptrace, have_argus, quiet):
    """Prints agreement per field (finscope vs the packet reading) and what tcptrace and argus
    confirm; returns True when a floor is broken or finscope failed on a file."""
    failed = False
    n = len(table)
    print("crosscheck: %d connections in %d captures (%d byte-identical duplicate%s counted "
          "once: %s)" % (n, len({t["file"] for t in table}), len(dup_of),
                         "" if len(dup_of) == 1 else "s",
                         ", ".join("%s = %s" % (os.path.basename(k), v)
                                   for k, v in sorted(dup_of.items())) or "none"))
    if errors:
        failed = True
        for name, err in errors:
            print("  finscope FAILED on %s: %s" % (name, err))
    print("finscope vs the packets (tshark raw seq/ack/flags); 'na' = the packets do not decide:")
    print("  %-22s %9s %7s %6s %4s" % ("field", "agree", "%", "floor", "na"))
    found = sum(t["found"] for t in table)
    rows = [("found", found, n, 0)]
    for f in FIELDS:
        dec = [t for t in table if t["found"] and t["agree_" + f] != "na"]
        na = sum(1 for t in table if t["found"] and t["agree_" + f] == "na")
        rows.append((f, sum(t["agree_" + f] == "1" for t in dec), len(dec), na))
    for f, a, d, na in rows:
        low = d and rate(a, d) < FLOORS[f] - 1e-9
        failed |= bool(low)
        print("  %-22s %4d/%-4d %6.1f%% %5.1f%% %4d%s" % (f, a, d, rate(a, d), FLOORS[f], na,
                                                     "  BELOW FLOOR" if low else ""))
    allf = [t for t in table if t["found"]]
    for label, group in (("all tokens", TOKEN_FIELDS), ("all counters", COUNTER_FIELDS),
                         ("everything", FIELDS)):
        a = sum(all(t["agree_" + f] != "0" for f in group) for t in allf)
        print("  %-22s %4d/%-4d %6.1f%%" % (label, a, len(allf), rate(a, len(allf))))
    if extra_fs:
        print("  finscope rows matching no connection of the packet reading: %d" % len(extra_fs))
        for name, row in extra_fs:
            print("    %s flow %d %s:%d > %s:%d first_packet %d" % (
                name, row["id"], row["client_addr"], row["client_port"], row["server_addr"],
                row["server_port"], row["first_packet"]))
    for tool, have in (("tcptrace", have_tcptrace), ("argus", have_argus)):
        if not have:
            print("%s: not installed" % tool)
            continue
        seen = [t for t in table if t.get(tool + "_seen")]
        print("%s: reports %d/%d connections; per side, equal to the packets / to finscope:"
              % (tool, len(seen), n))
        for f in TOOL_FIELDS[tool]:
            vp = [t[tool + "_" + f + "_vs_packets"] for t in seen]
            vf = [t[tool + "_" + f + "_vs_finscope"] for t in seen if t["found"]]
            vf = [v for v in vf if v != "na"]
            print("  %-22s %4d/%-4d  %4d/%-4d" % (f + (" seen" if tool == "argus" and f in (
                "syns", "fins", "rsts") else ""), sum(vp), len(vp), sum(vf), len(vf)))
    if not quiet:
        bad = [t for t in table if not t["found"] or any(
            t["agree_" + f] == "0" for f in FIELDS)]
        print("connections where finscope and the packets differ: %d" % len(bad))
        for t in bad:
            diffs = [f for f in FIELDS if t["agree_" + f] == "0"]
            print("  %s #%d %s > %s frames %d-%d: %s" % (
                t["file"], t["conn"], t["client"], t["server"], t["first_frame"],
                t["last_frame"], ", ".join("%s %s/%s" % (f, t["my_" + f], t["fs_" + f])
                                           for f in diffs) or "no finscope row"))
        for tool in ("tcptrace", "argus"):
            for t in table:
                if not t.get(tool + "_seen"):
                    continue
                d = [f for f in TOOL_FIELDS[tool] if not t[tool + "_" + f + "_vs_packets"]]
                if d:
                    print("  %s differs from the packets: %s #%d: %s" % (
                        tool, t["file"], t["conn"], ", ".join(
                            "%s %s" % (f, t[tool + "_" + f]) for f in d)))
    return failed


if __name__ == "__main__":
    sys.exit(main())
