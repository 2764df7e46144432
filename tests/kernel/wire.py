"""wire.py - an independent reading of captured packets (no finscope code): connections, close
patterns and the counters an expected TSV carries, for record_netns.py.

Packets are read_pcap tuples: (ts, src, sport, dst, dport, flags, seq, ack, payload_len).
"""
from record_loopback import FIN, SYN, RST, ACK  # noqa: F401  (one set of flag constants)

T, SRC, SPORT, DST, DPORT, FLAGS, SEQ, ACKNO, LEN = range(9)


def covers(ack, end):
    """ack >= end, modulo 2^32."""
    return ((ack - end) & 0xFFFFFFFF) < 0x80000000


def fin_end(p):
    return (p[SEQ] + p[LEN] + 1) & 0xFFFFFFFF


def seg_end(p):
    return (p[SEQ] + p[LEN]) & 0xFFFFFFFF


def usec(t):
    return int(round(t * 1e6))


class Conn:
    """One connection instance: its packets in capture order and who the client is."""

    def __init__(self, client, server):
        self.client, self.server, self.pkts = client, server, []

    def from_client(self, p):
        return (p[SRC], p[SPORT]) == self.client

    def c(self):
        return [p for p in self.pkts if self.from_client(p)]

    def s(self):
        return [p for p in self.pkts if not self.from_client(p)]

    @property
    def cport(self):
        return self.client[1]


def connections(pkts, clients=()):
    """Connection instances in order of their first packet.  The client is the endpoint whose
    address is in CLIENTS (the scenario knows which side connected first), else the sender of
    the first SYN without ACK on the 4-tuple in capture order; a new client SYN with a new ISN
    starts a new instance (port reuse).  Packets captured before the first SYN (a tap that
    stamps an answer before its cause) belong to the first instance."""
    by_tuple = {}
    for p in pkts:
        key = frozenset([(p[SRC], p[SPORT]), (p[DST], p[DPORT])])
        by_tuple.setdefault(key, []).append(p)
    out = []
    for group in by_tuple.values():
        syn = next((p for p in group if p[FLAGS] & (SYN | ACK) == SYN and p[SRC] in clients),
                   next((p for p in group if p[FLAGS] & (SYN | ACK) == SYN),
                        next((p for p in group if p[SRC] in clients), group[0])))
        client, server = (syn[SRC], syn[SPORT]), (syn[DST], syn[DPORT])
        insts, isn = [], None
        for p in group:
            if (p[SRC], p[SPORT]) == client and p[FLAGS] & (SYN | ACK) == SYN and p[SEQ] != isn:
                if isn is not None:  # the previous instance had its own SYN: port reuse
                    insts.append(Conn(client, server))
                isn = p[SEQ]
            if not insts:
                insts.append(Conn(client, server))
            insts[-1].pkts.append(p)
        out.extend(insts)
    order = {id(p): i for i, p in enumerate(pkts)}
    out.sort(key=lambda c: order[id(c.pkts[0])])
    return out


def first_fin(pkts, from_client, conn):
    return next((p for p in pkts if conn.from_client(p) == from_client and p[FLAGS] & FIN), None)


def close_pattern(conn):
    """four_way / three_way / simultaneous from the first FIN of each side, in the order the
    capture shows them, else None.  Use the capture at the second closer's end: there its own
    segments are in the order it sent them."""
    pkts = conn.pkts
    fa, fb = first_fin(pkts, True, conn), first_fin(pkts, False, conn)
    if not fa or not fb:
        return None
    if not covers(fa[ACKNO], fin_end(fb)) and not covers(fb[ACKNO], fin_end(fa)):
        return "simultaneous"
    second, first = (fa, fb) if covers(fa[ACKNO], fin_end(fb)) else (fb, fa)
    for p in pkts:
        if p is second:
            return "three_way"
        if conn.from_client(p) == conn.from_client(second) and p[FLAGS] & ACK and \
                covers(p[ACKNO], fin_end(first)):
            return "four_way"
    return None


def side_stats(seg):
    """(packets, bytes, retransmitted bytes, gap bytes, retransmitted FINs) of one side's segments."""
    ranges, isn, sent, fins, fin_retrans = [], None, 0, set(), 0
    for p in seg:
        if p[FLAGS] & SYN:
            isn = p[SEQ]
        if p[FLAGS] & FIN:
            key = fin_end(p)
            if key in fins:
                fin_retrans += 1
            fins.add(key)
        if p[LEN] <= 0 or isn is None:
            continue
        lo = (p[SEQ] - isn - 1) & 0xFFFFFFFF
        ranges.append((lo, lo + p[LEN]))
        sent += p[LEN]
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
    return len(seg), sum(p[LEN] for p in seg), sent - seen, top - seen, fin_retrans


def rsts_after_close(conn):
    """docs/schema.md rst_after_close: RSTs whose sender had already reset, or had sent its FIN
    and received the peer's (its acks, or the RST+ACK's own, cover it), or that answer the
    peer's FIN from a FIN_WAIT_2 socket that was gone (a bare RST, its own FIN acked).  Acks,
    not capture order; a RST that crossed the peer's is not counted."""
    st = {e: dict(rst=False, fin=None, ack=None, fin_acked=False) for e in (True, False)}
    n = 0
    for p in conn.pkts:
        x, o = st[conn.from_client(p)], st[not conn.from_client(p)]
        acks = p[FLAGS] & ACK
        if acks and (x["ack"] is None or covers(p[ACKNO], x["ack"])):
            x["ack"] = p[ACKNO]
        if p[FLAGS] & RST:
            got = o["fin"] is not None and x["ack"] is not None and covers(x["ack"], o["fin"])
            fw2 = not acks and x["fin_acked"] and o["fin"] is not None
            if x["rst"] or (x["fin"] is not None and (got or fw2)):
                n += 1
            x["rst"] = True
            continue
        if acks and o["fin"] is not None and covers(p[ACKNO], o["fin"]):
            o["fin_acked"] = True
        if p[FLAGS] & FIN and x["fin"] is None:
            x["fin"] = fin_end(p)   # an ack at or past this covers the FIN
    return n


def row_counts(conn):
    """The counter columns of one connection as this capture shows it."""
    c, s = side_stats(conn.c()), side_stats(conn.s())
    rst_after = rsts_after_close(conn)
    return dict(client_packets=c[0], server_packets=s[0], client_bytes=c[1], server_bytes=s[1],
                client_retrans_bytes=c[2], server_retrans_bytes=s[2], client_gap_bytes=c[3],
                server_gap_bytes=s[3], fin_retrans=c[4] + s[4], rst_after_close=rst_after)


def handshake_rtt(conn):
    """Seconds from the client's last SYN to its first segment acknowledging the server's SYN
    (docs/schema.md), from the client's own segments only, or None."""
    ssyn = next((p for p in conn.s() if p[FLAGS] & SYN), None)
    if not ssyn:
        return None
    syn = None
    for p in conn.c():
        if p[FLAGS] & (SYN | ACK) == SYN:
            syn = p
        elif syn and p[FLAGS] & ACK and covers(p[ACKNO], (ssyn[SEQ] + 1) & 0xFFFFFFFF):
            return (usec(p[T]) - usec(syn[T])) / 1e6
    return None


def index(pkts, p):
    """Position of packet P (by identity) in PKTS."""
    return next(i for i, q in enumerate(pkts) if q is p)
