#!/usr/bin/env python3
"""check_pcapng_links.py - pcapng files read block by block (issue 10, point 3).

Usage: check_pcapng_links.py FINSCOPE CAPTURES_DIR

What it proves, with exact assertions:
 1. captures/lo_multilink.pcapng, mergecap of three loopback captures made at the same time
    (lo_multilink.eth.pcap: tcpdump -i lo, Ethernet; .sll.pcap: -i any -y LINUX_SLL; .sll2.pcap:
    -i any -y LINUX_SLL2 with nanosecond stamps), their frames interleaved: exactly the rows of
    the three parts analyzed alone (every column, frame numbers as the merged file numbers
    them), the capture row names the three link types, and finscope counts as many frames and
    TCP frames as tshark.  A second run is refused as a duplicate.
 2. The same file rewritten big-endian, and fed through stdin: the same rows and hash.
 3. The same frames as a run of sections of 7 frames: either byte order, the interfaces
    described in another order in each section, nanosecond + if_tsoffset and 2^-20 s
    resolutions, obsolete Packet Blocks, an unused interface, and blocks finscope must step
    over (NRB, ISB, DSB, custom, unknown, EPB options): the same rows.
 4. Simple Packet Blocks (interface 0, no time stamp, captured length cut to the snaplen), an
    interface of a link type finscope does not decode (its frames counted link_unsupported)
    between two it does, and BPF filters that apply to some link types only.
 5. Broken blocks: a bad length (not a multiple of 4, < 12, > 16 MiB), a trailer that differs
    from the header, an interface id out of range, a captured length beyond the block, an
    option running past its block, a bad section header: each names the file and the block's
    byte offset; after some frames the frames before it are stored (truncated, truncated_at)
    and the file is hashed whole; at the first frame nothing is stored, the exit status is 1,
    no database is created (an existing one stays byte-identical) and a re-run is not refused.
 6. The same rule for pcap files, read by libpcap: a corrupt or cut first record stores
    nothing and exits 1; a pcap with no records is a valid empty capture.
"""
import collections
import contextlib
import hashlib
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib as T  # noqa: E402

check = T.check

CAPTURES = None

PARTS = ["lo_multilink.eth.pcap", "lo_multilink.sll.pcap", "lo_multilink.sll2.pcap"]
MERGED = "lo_multilink.pcapng"
LINK_NAMES = "EN10MB,LINUX_SLL,LINUX_SLL2"


def run(*args, stdin=None):
    return T.run(*args, text=True, stdin=stdin)


def rows(db, sql, params=()):
    with contextlib.closing(sqlite3.connect(db)) as con:
        return con.execute(sql, params).fetchall()


def sha(path):
    with open(path, "rb") as fp:
        return hashlib.sha256(fp.read()).hexdigest()


# ---- reading pcap, writing pcapng (independent of finscope) ----

def read_pcap(path):
    """(linktype, [(ts_ns, wirelen, frame)]) of a pcap file, either byte order, us or ns stamps."""
    with open(path, "rb") as fp:
        data = fp.read()
    magic = data[:4]
    e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = struct.unpack(e + "I", magic)[0] == 0xA1B23C4D
    linktype = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
    off, recs = 24, []
    while off + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack(e + "IIII", data[off:off + 16])
        recs.append((sec * 10**9 + (frac if nano else frac * 1000), wirelen,
                     data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return linktype, recs


def opt(code, value, e):
    pad = b"\0" * ((4 - len(value) % 4) % 4)
    return struct.pack(e + "HH", code, len(value)) + value + pad


class Ng:
    """A pcapng writer: blocks in one byte order; offsets[i] is where block i starts."""

    def __init__(self, big=False):
        self.e = ">" if big else "<"
        self.out = bytearray()
        self.offsets = []

    def block(self, btype, body, total=None, trailer=None):
        body = bytes(body) + b"\0" * ((4 - len(body) % 4) % 4)
        n = 12 + len(body)
        self.offsets.append(len(self.out))
        self.out += struct.pack(self.e + "II", btype, n if total is None else total)
        self.out += body + struct.pack(self.e + "I", n if trailer is None else trailer)
        return self.offsets[-1]

    def shb(self, major=1, minor=0, bom=0x1A2B3C4D):
        return self.block(0x0A0D0D0A, struct.pack(self.e + "IHHq", bom, major, minor, -1))

    def idb(self, linktype, snaplen=262144, tsresol=None, tsoffset=None, opts=b""):
        o = opts
        if tsresol is not None:
            o += opt(9, bytes([tsresol]), self.e)
        if tsoffset is not None:
            o += opt(14, struct.pack(self.e + "q", tsoffset), self.e)
        if o:
            o += opt(0, b"", self.e)
        return self.block(1, struct.pack(self.e + "HHI", linktype, 0, snaplen) + o)

    def epb(self, ifid, ts, frame, caplen=None, wirelen=None, opts=b""):
        body = struct.pack(self.e + "IIIII", ifid, ts >> 32, ts & 0xFFFFFFFF,
                           len(frame) if caplen is None else caplen,
                           len(frame) if wirelen is None else wirelen)
        body += frame + b"\0" * ((4 - len(frame) % 4) % 4) + opts
        return self.block(6, body)

    def pb(self, ifid, ts, frame):
        body = struct.pack(self.e + "HHIIII", ifid, 0, ts >> 32, ts & 0xFFFFFFFF, len(frame),
                           len(frame))
        return self.block(2, body + frame)

    def spb(self, frame, wirelen=None):
        return self.block(3, struct.pack(self.e + "I", len(frame) if wirelen is None else wirelen)
                          + frame)

    def save(self, path):
        with open(path, "wb") as fp:
            fp.write(self.out)
        return path


# Options holding numbers, by (block type, option code): their struct format.  The others are
# strings or bytes and keep their order.
NUMERIC_OPTIONS = {(1, 8): "Q", (1, 10): "i", (1, 14): "q", (6, 2): "I", (6, 4): "Q"}


def swap_pcapng(data):
    """A little-endian pcapng (SHB, IDB and EPB, with options) rewritten big-endian, field by
    field."""
    def options(btype, b):
        o, res = 0, bytearray()
        while o + 4 <= len(b):
            code, ln = struct.unpack("<HH", b[o:o + 4])
            padded = (ln + 3) & ~3
            val = b[o + 4:o + 4 + ln]
            fmt = NUMERIC_OPTIONS.get((btype, code))
            if fmt:
                val = struct.pack(">" + fmt, struct.unpack("<" + fmt, val)[0])
            res += struct.pack(">HH", code, ln) + val + b[o + 4 + ln:o + 4 + padded]
            o += 4 + padded
        return bytes(res)

    out, off = bytearray(), 0
    while off < len(data):
        btype, n = struct.unpack("<II", data[off:off + 8])
        body = data[off + 8:off + n - 4]
        if btype == 0x0A0D0D0A:
            bom, major, minor, slen = struct.unpack("<IHHq", body[:16])
            nb = struct.pack(">IHHq", bom, major, minor, slen) + options(btype, body[16:])
        elif btype == 1:
            nb = struct.pack(">HHI", *struct.unpack("<HHI", body[:8])) + options(btype, body[8:])
        elif btype == 6:
            fields = struct.unpack("<IIIII", body[:20])
            end = 20 + ((fields[3] + 3) & ~3)
            nb = struct.pack(">IIIII", *fields) + body[20:end] + options(btype, body[end:])
        else:
            raise ValueError("block type %#x not rewritten" % btype)
        out += struct.pack(">II", btype, n) + nb + struct.pack(">I", n)
        off += n
    return bytes(out)


# ---- rows, compared across captures ----

def flows(db, capture_id, renumber=None):
    """Every column of the capture's flows but the ids, keyed by (client_port, server_port);
    frame numbers passed through renumber (a part's frame numbers as the merged file numbers
    them).  {} when there is no database or no such table."""
    if not os.path.exists(db):
        return {}
    re_no = renumber or (lambda n: n)
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        out = {}
        for r in con.execute("SELECT * FROM flows WHERE capture_id = ? ORDER BY first_packet",
                             (capture_id,)):
            d = dict(r)
            fid = d.pop("id")
            d.pop("capture_id")
            d["first_packet"] = re_no(d["first_packet"])
            d["last_packet"] = re_no(d["last_packet"])
            # The raw logs count packets from first_packet (store.h): compared through the
            # views, their frame numbers mapped as the rest.
            d.pop("transition_log")
            d.pop("segment_log")
            d["segments"] = [t[:1] + (re_no(t[1]),) + t[2:] for t in con.execute(
                "SELECT ord, packet, ts, sender, flags, rel_seq, rel_ack, len, why FROM segments "
                "WHERE flow_id = ? ORDER BY ord", (fid,))]
            d["dwell"] = con.execute("SELECT endpoint, state, leave_ts, dwell_s FROM state_dwell "
                                     "WHERE flow_id = ?", (fid,)).fetchall()
            d["transitions"] = [t[:5] + (re_no(t[5]),) + t[6:] for t in con.execute(
                "SELECT ord, endpoint, from_state, to_state, ts, packet, evidence FROM transitions "
                "WHERE flow_id = ? ORDER BY ord", (fid,))]
            out[(d["client_port"], d["server_port"])] = d
        return out
    except sqlite3.Error:
        return {}
    finally:
        con.close()


def merged_order(path):
    """[(part, k)] for each frame of a little-endian pcapng written by mergecap from PARTS (its
    interface i is part i): the k-th frame (1-based) of that part."""
    with open(path, "rb") as fp:
        data = fp.read()
    off, order, seen = 0, [], collections.Counter()
    while off + 12 <= len(data):
        btype, n = struct.unpack("<II", data[off:off + 8])
        if btype == 6:
            ifid = struct.unpack("<I", data[off + 8:off + 12])[0]
            seen[ifid] += 1
            order.append((ifid, seen[ifid]))
        off += n
    return order


def parts_rows(tmp):
    """Rows of the parts analyzed alone, keyed by (client_port, server_port), with their frame
    numbers as the merged file numbers them; and the keys of each part, in PARTS order."""
    db = os.path.join(tmp, "parts.db")
    place = {pk: i + 1 for i, pk in enumerate(merged_order(os.path.join(CAPTURES, MERGED)))}
    want, keys = {}, []
    for i, part in enumerate(PARTS):
        r = run("analyze", "-q", "-o", db, os.path.join(CAPTURES, part))
        check(r.returncode == 0, "part %s analyzed alone: %s" % (part, r.stderr))
        alone = flows(db, i + 1, lambda k, i=i: place[(i, k)])
        keys.append(sorted(alone))
        want.update(alone)
    return want, keys


def same_rows(got, want, what):
    if check(sorted(got) == sorted(want), "%s: the parts' connections %s, got %s" % (
            what, sorted(want), sorted(got))):
        for k in want:
            diff = {c: (got[k].get(c), v) for c, v in want[k].items() if got[k].get(c) != v}
            check(not diff, "%s: connection %s equals its part's row (got, want): %s" % (
                what, k, diff))


def capture_row(db, capture_id):
    if not os.path.exists(db):
        return None
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        r = con.execute("SELECT * FROM captures WHERE id = ?", (capture_id,)).fetchone()
        return dict(r) if r else None
    except sqlite3.Error:
        return None
    finally:
        con.close()


def skipped(db, capture_id):
    try:
        return dict(rows(db, "SELECT reason, packets FROM skipped WHERE capture_id = ?",
                         (capture_id,)))
    except sqlite3.Error:
        return None


def tshark_count(path, display_filter=None):
    args = ["tshark", "-n", "-r", path] + (["-Y", display_filter] if display_filter else [])
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return None
    return len([l for l in r.stdout.splitlines() if l.strip()])


# ---- 1 and 2: the merged capture ----

def test_merged(tmp, want, keys):
    print("# 1. %s: rows of its parts, link types, tshark's counts" % MERGED)
    merged = os.path.join(CAPTURES, MERGED)
    db = os.path.join(tmp, "merged.db")
    r = run("analyze", "-q", "-o", db, merged)
    check(r.returncode == 0 and r.stderr == "", "merged: exit 0, nothing on stderr: %d %r" % (
        r.returncode, r.stderr))
    same_rows(flows(db, 1), want, "merged")
    cap = capture_row(db, 1) or {}
    frames = sum(len(read_pcap(os.path.join(CAPTURES, p))[1]) for p in PARTS)
    check((cap.get("link_type"), cap.get("link_type_id")) == (LINK_NAMES, 1),
          "merged: link_type %r, link_type_id 1: %r" % (LINK_NAMES, cap))
    check((cap.get("packets_read"), cap.get("truncated"), cap.get("truncated_at")) ==
          (frames, 0, None), "merged: packets_read %d, not truncated: %r" % (frames, cap))
    check(cap.get("size_bytes") == os.path.getsize(merged), "merged: size_bytes is the file's")
    check(skipped(db, 1) == {}, "merged: no frame skipped: %r" % skipped(db, 1))
    if shutil.which("tshark"):
        check(tshark_count(merged) == cap.get("packets_read"),
              "merged: tshark counts %r frames, finscope %r" % (tshark_count(merged),
                                                                cap.get("packets_read")))
        check(tshark_count(merged, "tcp") == cap.get("packets_tcp"),
              "merged: tshark counts %r TCP frames, finscope %r" % (tshark_count(merged, "tcp"),
                                                                    cap.get("packets_tcp")))
    else:
        check(False, "tshark is installed (the independent count)")
    r = run("analyze", "-q", "-o", db, merged)
    check(r.returncode == 1 and "already analyzed" in r.stderr, "merged: a re-run is a duplicate")

    print("# 2. big-endian, and through stdin")
    with open(merged, "rb") as fp:
        data = fp.read()
    big = os.path.join(tmp, "multilink-be.pcapng")
    with open(big, "wb") as fp:
        fp.write(swap_pcapng(data))
    r = run("analyze", "-q", "-o", db, big)
    check(r.returncode == 0, "big-endian: exit 0: %s" % r.stderr)
    same_rows(flows(db, 2), want, "big-endian")
    cap2 = capture_row(db, 2) or {}
    check(cap2.get("link_type") == LINK_NAMES, "big-endian: link types: %r" % cap2)
    if shutil.which("tshark"):
        check(tshark_count(big, "tcp") == cap2.get("packets_tcp"),
              "big-endian: tshark's TCP frames: %r" % cap2)
    sdb = os.path.join(tmp, "stdin.db")
    with open(merged, "rb") as fp:
        r = run("analyze", "-q", "-o", sdb, "-", stdin=fp)
    check(r.returncode == 0, "stdin: exit 0: %s" % r.stderr)
    same_rows(flows(sdb, 1), want, "stdin")
    check((capture_row(sdb, 1) or {}).get("hash") == cap.get("hash") and cap.get("hash"),
          "stdin: the same content hash as the file")


# ---- 3: sections, resolutions, old and unknown blocks ----

NAMES = {1: "EN10MB", 113: "LINUX_SLL", 276: "LINUX_SLL2", 147: "unknown"}

# How a section stamps a part's frames: (if_tsresol byte or None for microseconds, if_tsoffset).
STAMPS = [(None, None), (9, 1700000000), (0x80 | 20, -5)]


def stamp(ts_ns, tsresol, tsoffset):
    """ts_ns in units of tsresol, less tsoffset seconds: the count finscope must read back as
    ts_ns // 1000 microseconds (rounded down)."""
    ts_ns -= (tsoffset or 0) * 10**9
    if tsresol is None:
        return ts_ns // 1000
    if tsresol & 0x80:                      # 2^-n s: the smallest count that reads back right
        n = tsresol & 0x7F
        sec, us = divmod(ts_ns // 1000, 10**6)
        return (sec << n) + -(-(us << n) // 10**6)
    return ts_ns // 10**(9 - tsresol)


def sections_file(path):
    """The merged file's frames, in its order, as sections of 7 frames each.  Section j is
    big-endian when j is odd, describes the parts' interfaces rotated by j (so an interface id
    means another link type in the next section), stamps each part its own way (STAMPS, rotated
    too), writes obsolete Packet Blocks when j % 3 == 2, and in even sections adds an unused
    interface of link type USER0 first, and blocks to step over around every frame (name
    resolution, custom, unknown, interface statistics, decryption secrets, EPB options).
    Returns the link type names in the order their interfaces appear, and the first's DLT."""
    recs = [read_pcap(os.path.join(CAPTURES, p)) for p in PARTS]
    order = merged_order(os.path.join(CAPTURES, MERGED))
    out, names, first = bytearray(), [], None
    for j in range(0, (len(order) + 6) // 7):
        ng = Ng(big=j % 2 == 1)
        noise = j % 2 == 0
        ng.shb(minor=2 if noise else 0)
        ifids = {}
        lts = ([147] if noise else []) + [recs[(p + j) % 3][0] for p in range(3)]
        if noise:
            ng.idb(147, opts=opt(2, b"usb0", ng.e))
        for p in range(3):
            part = (p + j) % 3
            ifids[part] = len(ifids) + (1 if noise else 0)
            tsresol, tsoffset = STAMPS[(part + j) % 3]
            ng.idb(recs[part][0], tsresol=tsresol, tsoffset=tsoffset)
        for lt in lts:
            first = first if first is not None else lt
            if NAMES[lt] not in names:
                names.append(NAMES[lt])
        for part, k in order[7 * j:7 * j + 7]:
            ts_ns, wirelen, frame = recs[part][1][k - 1]
            t = stamp(ts_ns, *STAMPS[(part + j) % 3])
            if noise:
                ng.block(4, struct.pack(ng.e + "HH", 1, 8) + b"\x7f\0\0\1loc\0" +
                         opt(0, b"", ng.e))
                ng.block(0x40000BAD, struct.pack(ng.e + "I", 32473) + b"custom, no copy")
                ng.block(0x12345678, b"a block type nobody knows")
            if j % 3 == 2:
                ng.pb(ifids[part], t, frame)
            else:
                ng.epb(ifids[part], t, frame, wirelen=wirelen,
                       opts=(opt(1, b"a comment", ng.e) +
                             opt(2, struct.pack(ng.e + "I", 1), ng.e) +
                             opt(0, b"", ng.e)) if noise else b"")
        if noise:
            ng.block(5, struct.pack(ng.e + "III", 1, 0, 0) + opt(0, b"", ng.e))
            ng.block(0x0A, struct.pack(ng.e + "II", 1, 4) + b"keys")
        out += ng.out
    with open(path, "wb") as fp:
        fp.write(out)
    return ",".join(names), first


def test_sections(tmp, want, keys):
    print("# 3. sections: byte orders, interface ids, resolutions, offsets, old and unknown blocks")
    path = os.path.join(tmp, "sections.pcapng")
    names, first = sections_file(path)
    db = os.path.join(tmp, "sections.db")
    r = run("analyze", "-q", "-o", db, path)
    check(r.returncode == 0 and r.stderr == "", "sections: exit 0, quiet: %r" % r.stderr)
    same_rows(flows(db, 1), want, "sections")
    cap = capture_row(db, 1) or {}
    check((cap.get("link_type"), cap.get("link_type_id")) == (names, first),
          "sections: link types %r, the first interface's %d: %r" % (names, first, cap))
    check(skipped(db, 1) == {}, "sections: every frame decoded: %r" % skipped(db, 1))


# ---- 4: simple packet blocks, unsupported link types, filters ----

TOKENS = ["ip_version", "handshake", "close_kind", "rst_cause", "closer", "client_state",
          "server_state", "client_packets", "server_packets", "client_bytes", "server_bytes"]


def tokens(rowset):
    return {k: {c: v[c] for c in TOKENS} for k, v in rowset.items()}


def test_spb_and_filters(tmp, want, keys):
    print("# 4. simple packet blocks, an undecodable interface, filters across link types")
    linktype, recs = read_pcap(os.path.join(CAPTURES, PARTS[0]))
    four_way = {k: want[k] for k in keys[0]}
    ng = Ng()
    ng.shb()
    ng.idb(linktype, snaplen=0)             # 0: no snaplen; an SPB keeps the whole frame
    for _, wirelen, frame in recs:
        ng.spb(frame)
    db = os.path.join(tmp, "spb.db")
    r = run("analyze", "-q", "-o", db, ng.save(os.path.join(tmp, "spb.pcapng")))
    check(r.returncode == 0, "spb: exit 0: %s" % r.stderr)
    check(tokens(flows(db, 1)) == tokens(four_way),
          "spb: the connection's tokens: %r" % tokens(flows(db, 1)))
    check(rows(db, "SELECT first_ts, last_ts FROM captures") == [(0.0, 0.0)],
          "spb: simple packet blocks carry no time stamp (0)")

    ng = Ng()
    ng.shb()
    ng.idb(linktype, snaplen=40)            # cuts inside the TCP header
    for _, wirelen, frame in recs:
        ng.spb(frame)
    r = run("analyze", "-q", "-o", db, ng.save(os.path.join(tmp, "spb40.pcapng")))
    check(r.returncode == 0 and skipped(db, 2) == {"tcp_truncated": len(recs)},
          "spb: the captured length is the interface's snaplen: %r" % skipped(db, 2))

    # An interface of a link type finscope does not decode, between two it does: Ethernet, and
    # LINKTYPE_RAW (101, libpcap's DLT_RAW 12) carrying the cooked part's IP packets.
    ng = Ng()
    ng.shb()
    ng.idb(1)
    ng.idb(147)
    ng.idb(101)
    for i, (ts_ns, wirelen, frame) in enumerate(recs):
        ng.epb(0, ts_ns // 1000, frame)
        ng.epb(1, ts_ns // 1000, b"user payload %d" % i)
    _, sll = read_pcap(os.path.join(CAPTURES, PARTS[1]))
    for ts_ns, wirelen, frame in sll:
        ng.epb(2, ts_ns // 1000, frame[16:])
    path = ng.save(os.path.join(tmp, "user0.pcapng"))
    r = run("analyze", "-q", "-o", db, path)
    check(r.returncode == 0, "user0: exit 0: %s" % r.stderr)
    check(skipped(db, 3) == {"link_unsupported": len(recs)},
          "user0: its frames are counted link_unsupported: %r" % skipped(db, 3))
    got = rows(db, "SELECT link_type, link_type_id, packets_read FROM captures WHERE id = 3")
    check(got == [("EN10MB,unknown,RAW", 1, 2 * len(recs) + len(sll))],
          "user0: the capture row: %r" % got)
    both = {k: want[k] for k in keys[0] + keys[1]}
    check(tokens(flows(db, 3)) == tokens(both), "user0: the Ethernet and the raw IP connection")

    # Filters compiled for each link type; one that cannot apply to a link type matches none
    # of its frames.
    fdb = os.path.join(tmp, "filter.db")
    merged = os.path.join(CAPTURES, MERGED)
    sll_port = keys[1][0][1]
    r = run("analyze", "-q", "-o", fdb, "-f", "tcp port %d" % sll_port, merged)
    check(r.returncode == 0, "filter: exit 0: %s" % r.stderr)
    check(sorted(flows(fdb, 1)) == keys[1],
          "filter: only the Linux cooked connection: %r" % sorted(flows(fdb, 1)))
    n_sll = len(read_pcap(os.path.join(CAPTURES, PARTS[1]))[1])
    total = sum(len(read_pcap(os.path.join(CAPTURES, p))[1]) for p in PARTS)
    check(skipped(fdb, 1) == {"filtered": total - n_sll}, "filter: the rest filtered: %r" %
          skipped(fdb, 1))
    edb = os.path.join(tmp, "ether.db")
    r = run("analyze", "-q", "-o", edb, "-f", "ether host 00:00:00:00:00:00", merged)
    check(r.returncode == 0, "ether filter: exit 0: %s" % r.stderr)
    n_eth = len(read_pcap(os.path.join(CAPTURES, PARTS[0]))[1])
    check(rows(edb, "SELECT packets_tcp FROM captures") == [(n_eth,)] and
          skipped(edb, 1) == {"filtered": total - n_eth},
          "ether filter: the cooked frames have no Ethernet address, so none matches: %r" %
          skipped(edb, 1))
    r = run("analyze", "-q", "-o", os.path.join(tmp, "bad.db"), "-f", "port nonsense", merged)
    check(r.returncode == 1 and "bad filter 'port nonsense'" in r.stderr,
          "a bad filter is named: %r" % r.stderr)
    check(not os.path.exists(os.path.join(tmp, "bad.db")), "bad filter: no database")


# ---- 5: broken blocks ----

def good_prefix(ng, recs, n):
    ng.shb()
    ng.idb(1)
    ng.idb(113)
    for ts_ns, wirelen, frame in recs[:n]:
        ng.epb(0, ts_ns // 1000, frame)


def broken(tmp, name, n_before, breaker):
    """A file with n_before good frames, then the block breaker(ng) writes (it returns that
    block's offset), then two good frames more.  Returns (path, offset of the bad block)."""
    linktype, recs = read_pcap(os.path.join(CAPTURES, PARTS[0]))
    ng = Ng()
    good_prefix(ng, recs, n_before)
    at = breaker(ng, recs)
    for ts_ns, wirelen, frame in recs[n_before:n_before + 2]:
        ng.epb(0, ts_ns // 1000, frame)
    return ng.save(os.path.join(tmp, name + ".pcapng")), at


def raw_block(ng, btype, body, total):
    """A block whose leading length is total (whatever the body), trailer total too."""
    at = len(ng.out)
    ng.out += struct.pack(ng.e + "II", btype, total) + body + struct.pack(ng.e + "I", total)
    return at


BREAKERS = {
    # name: (how, what the message must also say)
    "len_not_4": (lambda ng, recs: raw_block(ng, 6, b"\0" * 22, 34), "multiple of 4"),
    "len_8": (lambda ng, recs: raw_block(ng, 6, b"", 8), "shorter than 12"),
    "len_huge": (lambda ng, recs: raw_block(ng, 6, b"\0" * 20, 0x7FFFFFF0), "larger than"),
    "trailer": (lambda ng, recs: ng.block(6, struct.pack("<IIIII", 0, 0, 0, 4, 4) + b"abcd",
                                          trailer=40), "trailer"),
    "ifid": (lambda ng, recs: ng.epb(2, 0, recs[0][2]), "interface 2"),
    "pb_ifid": (lambda ng, recs: ng.pb(7, 0, recs[0][2]), "interface 7"),
    "caplen": (lambda ng, recs: ng.epb(0, 0, recs[0][2], caplen=len(recs[0][2]) + 400),
               "captured length"),
    "epb_short": (lambda ng, recs: ng.block(6, b"\0" * 12), "too short"),
    "option": (lambda ng, recs: ng.block(1, struct.pack("<HHI", 1, 0, 0) +
                                         struct.pack("<HH", 9, 200) + b"\x06\0\0\0"), "option"),
    "tsresol": (lambda ng, recs: ng.idb(1, tsresol=30), "if_tsresol"),
    "shb_version": (lambda ng, recs: ng.shb(major=2), "version"),
    "shb_bom": (lambda ng, recs: ng.shb(bom=0x11223344), "byte-order"),
}


def test_broken(tmp):
    print("# 5. broken blocks: file and byte offset named; stored only when frames came before")
    for name, (how, says) in BREAKERS.items():
        # after 5 good frames: those are stored, the rest of the file only hashed
        path, at = broken(tmp, name, 5, how)
        db = os.path.join(tmp, name + ".db")
        r = run("analyze", "-q", "-o", db, path)
        msg = "corrupt record at byte offset %d" % at
        check(r.returncode == 0 and path in r.stderr and msg in r.stderr and says in r.stderr,
              "%s after 5 frames: exit 0, warning names %s, offset %d and %r: %d %r" % (
                  name, path, at, says, r.returncode, r.stderr))
        got = rows(db, "SELECT truncated, truncated_at, packets_read, size_bytes, hash IS NOT NULL "
                       "FROM captures") if os.path.exists(db) else None
        check(got == [(1, at, 5, os.path.getsize(path), 1)],
              "%s after 5 frames: capture row %r" % (name, got))
        r = run("analyze", "-q", "-o", db, path)
        check(r.returncode == 1 and "already analyzed" in r.stderr,
              "%s after 5 frames: the whole file was hashed (a re-run is a duplicate)" % name)

        # as the first packet block: nothing is stored, exit 1, no database
        path, at = broken(tmp, name + "_first", 0, how)
        db = os.path.join(tmp, name + "_first.db")
        for attempt in (1, 2):
            r = run("analyze", "-q", "-o", db, path)
            check(r.returncode == 1 and path in r.stderr and "byte offset %d" % at in r.stderr
                  and says in r.stderr and "already analyzed" not in r.stderr,
                  "%s first (run %d): exit 1 naming the file, offset %d and %r: %d %r" % (
                      name, attempt, at, says, r.returncode, r.stderr))
            check(not os.path.exists(db), "%s first (run %d): no database created" % (name, attempt))

    # with an existing database: it stays byte-identical
    db = os.path.join(tmp, "existing.db")
    r = run("analyze", "-q", "-o", db, os.path.join(CAPTURES, PARTS[0]))
    before = sha(db)
    path, at = broken(tmp, "existing_first", 0, BREAKERS["trailer"][0])
    r = run("analyze", "-q", "-o", db, path)
    check(r.returncode == 1 and sha(db) == before and
          rows(db, "SELECT count(*) FROM captures") == [(1,)],
          "a broken first block leaves an existing database as it was: %r" % r.stderr)

    # header trouble: at byte offset 0, or before the first packet block
    for name, data, says, offset in [
            ("bad_bom", b"\x0a\x0d\x0d\x0a\x1c\0\0\0\x01\x02\x03\x04" + b"\0" * 16, "byte-order", 0),
            ("no_idb", shb_and_nrb(), "no interface description block", None),
            ("epb_first", None, "before any interface description", 28),
            ("cut_shb", b"\x0a\x0d\x0d\x0a\x1c\0\0\0\x4d\x3c\x2b\x1a\x01\0", "cut off", 0)]:
        path = os.path.join(tmp, name + ".pcapng")
        if data is None:
            ng = Ng()
            ng.shb()
            ng.epb(0, 0, b"x" * 60)
            ng.idb(1)
            data = bytes(ng.out)
        with open(path, "wb") as fp:
            fp.write(data)
        db = os.path.join(tmp, name + ".db")
        r = run("analyze", "-q", "-o", db, path)
        check(r.returncode == 1 and path in r.stderr and says in r.stderr and
              (offset is None or "byte offset %d" % offset in r.stderr),
              "%s: exit 1 naming the file%s and %r: %r" % (
                  name, "" if offset is None else ", offset %d" % offset, says, r.stderr))
        check(not os.path.exists(db), "%s: no database created" % name)

    # cut inside the last block: a warning with the block's offset, the frames before it kept
    linktype, recs = read_pcap(os.path.join(CAPTURES, PARTS[0]))
    ng = Ng()
    good_prefix(ng, recs, len(recs))
    path = os.path.join(tmp, "cut.pcapng")
    with open(path, "wb") as fp:
        fp.write(ng.out[:ng.offsets[-1] + 30])
    db = os.path.join(tmp, "cut.db")
    r = run("analyze", "-q", "-o", db, path)
    check(r.returncode == 0 and "cut off at byte offset %d" % ng.offsets[-1] in r.stderr,
          "cut: warning names offset %d: %r" % (ng.offsets[-1], r.stderr))
    check(rows(db, "SELECT truncated, truncated_at, packets_read FROM captures") ==
          [(1, ng.offsets[-1], len(recs) - 1)], "cut: capture row")


def shb_and_nrb():
    """A section with a name resolution block and no interface at all."""
    ng = Ng()
    ng.shb()
    ng.block(4, struct.pack("<HH", 0, 0))
    return bytes(ng.out)


# ---- 6: the same rule for pcap files ----

def test_pcap_first_record(tmp):
    print("# 6. pcap: a broken first record stores nothing; an empty capture is stored")
    with open(os.path.join(CAPTURES, PARTS[0]), "rb") as fp:
        data = bytearray(fp.read())
    bad = bytearray(data)
    bad[24 + 8:24 + 12] = struct.pack("<I", 0x7FFFFFFF)
    cut = bytes(data[:24 + 16 + 10])
    for name, content, says in [("corrupt_first.pcap", bytes(bad), "byte offset 24"),
                                ("cut_first.pcap", cut, "byte offset 24")]:
        path = os.path.join(tmp, name)
        with open(path, "wb") as fp:
            fp.write(content)
        db = os.path.join(tmp, name + ".db")
        for attempt in (1, 2):
            r = run("analyze", "-q", "-o", db, path)
            check(r.returncode == 1 and path in r.stderr and says in r.stderr and
                  "already analyzed" not in r.stderr,
                  "%s (run %d): exit 1 naming the file and %r: %r" % (name, attempt, says, r.stderr))
            check(not os.path.exists(db), "%s (run %d): no database created" % (name, attempt))
    empty = os.path.join(tmp, "empty.pcap")
    with open(empty, "wb") as fp:
        fp.write(bytes(data[:24]))
    db = os.path.join(tmp, "empty.db")
    r = run("analyze", "-q", "-o", db, empty)
    check(r.returncode == 0 and rows(db, "SELECT packets_read, truncated FROM captures") == [(0, 0)],
          "a pcap with no records is a valid, empty capture: %r" % r.stderr)


def main():
    global CAPTURES
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    T.FINSCOPE, CAPTURES = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        want, keys = parts_rows(tmp)
        check([len(k) for k in keys] == [1, 1, 1], "each part holds one connection: %r" % keys)
        for test in (test_merged, test_sections, test_spb_and_filters):
            test(tmp, want, keys)
        test_broken(tmp)
        test_pcap_first_record(tmp)
    return T.summary("pcapng_links")


if __name__ == "__main__":
    sys.exit(main())
