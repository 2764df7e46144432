#!/usr/bin/env python3
"""check_forged.py - golden test: every `finscope forge` scenario, in four framings (plain,
--ipv6, --vlan 7, --sll) and in four of the encapsulated and fragmented framings of ENCAPS
(chosen in turn, so every one of those covers several scenarios), is forged, analyzed, and its
flows compared cell by cell with the expected TSV forge wrote next to it ('-' means SQL NULL).
Rows are matched in order of each flow's first packet.  Every capture must also account for
every frame (packets_read = packets_tcp + packets_skipped) with no skip reason but the ones
its framing makes (fragments consumed into a datagram).  One attack is checked on its own: the
overlapping fragments of --fragment-overlap are all dropped, and only they.  And fragments that
never complete: the last fragment of the first fragmented datagram is cut out of a forged
capture, which ends before the timeout (ip_fragment_incomplete) or, with every later frame moved
past the timeout, goes on after it (ip_fragment_timeout); IPv4 and IPv6.  Scenarios that define one-direction views
(`--list` says "(one side: client server)") are also checked as a tap that saw only the
client's, or only the server's, frames (IPv4 and IPv6).

Usage: check_forged.py FINSCOPE
Prints one line per mismatch, then "forged: N passed, M failed"; exits 1 on any failure.
"""
import os
import sqlite3
import struct
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edges  # noqa: E402  (the RFC 9293 edge invariant)

VARIANTS = [
    ("plain", []),
    ("ipv6", ["--ipv6"]),
    ("vlan", ["--vlan", "7"]),
    ("sll", ["--sll"]),
]

# Tunnels (VLAN tags outside and inside, IPv4 and IPv6 outer headers) and fragments (outer and
# inner, in and out of order).  Each scenario runs in ENCAPS_PER_SCENARIO of them.
ENCAPS = [
    ("vxlan", ["--encap", "vxlan"]),
    ("vxlan6vlans", ["--encap", "vxlan", "--outer-ipv6", "--ipv6", "--vlan", "7",
                     "--inner-vlan", "9"]),
    ("geneve", ["--encap", "geneve", "--inner-vlan", "9"]),
    ("geneveip6", ["--encap", "geneve-ip", "--outer-ipv6"]),
    ("gre", ["--encap", "gre", "--ipv6"]),
    ("gretapsll", ["--encap", "gretap", "--sll"]),
    ("erspan1", ["--encap", "erspan1", "--vlan", "7"]),
    ("erspan2", ["--encap", "erspan2", "--outer-ipv6", "--inner-vlan", "9"]),
    ("erspan3", ["--encap", "erspan3", "--ipv6"]),
    ("ipip", ["--encap", "ipip"]),
    ("6in4", ["--encap", "6in4", "--vlan", "7"]),
    ("ip6ip6", ["--encap", "ipip", "--ipv6", "--outer-ipv6"]),
    ("frag", ["--fragment", "64"]),
    ("frag6rev", ["--fragment", "128", "--ipv6", "--fragment-reverse"]),
    ("vxlanfrag", ["--encap", "vxlan", "--outer-ipv6", "--fragment", "512"]),
    ("greinnerfrag", ["--encap", "gre", "--fragment", "256", "--fragment-inner",
                      "--fragment-reverse"]),
]
ENCAPS_PER_SCENARIO = 4

# FSC_TEST_THIN=K (the sanitizer pass of .ci/run): each scenario runs only every K-th of its
# framings, starting at a different one per scenario, so every framing still runs on several
# scenarios; the normal pass runs them all.
THIN = max(1, int(os.environ.get("FSC_TEST_THIN", "1")))

# The attack: the first fragmented datagram of four_way in VXLAN over IPv4 is the client's
# 200-byte request, 270 bytes of outer payload: a copy of it in 2 fragments of 256 plus the
# overlapping one, 3 frames dropped; the real datagrams: 2 + 5 fragments, 5 consumed.
ATTACK = ("four_way", ["--encap", "vxlan", "--fragment", "256", "--fragment-overlap"],
          {"ip_fragment_overlap": 3, "ip_fragment_reassembled": 5})

TIMEOUT_S = 120


def run(cmd):
    """Run cmd; return (ok, message) with the first line of stderr on failure."""
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    if res.returncode != 0:
        lines = res.stderr.strip().splitlines()
        return False, "exit %d: %s" % (res.returncode, lines[0] if lines else "")
    return True, res.stdout


def check(finscope, scenario, variant, args, tmp, want_skips=None):
    """Return the list of mismatch lines for one scenario/variant (empty when it matches).
    want_skips: the exact skipped rows expected, or None for "only ip_fragment_reassembled"."""
    tag = "%s/%s" % (scenario, variant)
    stem = os.path.join(tmp, "%s.%s" % (scenario, variant))
    pcap, expected, db = stem + ".pcap", stem + ".expected.tsv", stem + ".db"
    ok, msg = run([finscope, "forge", scenario, "-o", pcap, "--expected", expected] + args)
    if not ok:
        return ["%s forge %s" % (tag, msg)]
    ok, msg = run([finscope, "analyze", "-q", "-o", db, pcap])
    if not ok:
        return ["%s analyze %s" % (tag, msg)]
    with open(expected) as fp:
        lines = [l.rstrip("\n").split("\t") for l in fp if l.strip()]
    header, rows = lines[0], lines[1:]
    try:
        con = sqlite3.connect(db)
        got = con.execute("SELECT %s FROM flows ORDER BY first_packet" % ", ".join(header)).fetchall()
        counts = con.execute("SELECT packets_read, packets_tcp, packets_skipped FROM captures").fetchone()
        skips = dict(con.execute("SELECT reason, packets FROM skipped"))
        con.close()
    except sqlite3.Error as e:
        return ["%s query: %s" % (tag, e)]
    bad = ["%s %s" % (tag, b) for b in edges.check_db(db)]
    if counts[0] != counts[1] + counts[2] or counts[2] != sum(skips.values()):
        bad.append("%s counts: read %d, tcp %d, skipped %d (%s)" % ((tag,) + counts + (skips,)))
    if want_skips is not None:
        if skips != want_skips:
            bad.append("%s skipped: expected %s got %s" % (tag, want_skips, skips))
    elif set(skips) - {"ip_fragment_reassembled"}:
        bad.append("%s skipped: %s" % (tag, skips))
    if len(got) != len(rows):
        bad.append("%s rows: expected %d got %d" % (tag, len(rows), len(got)))
    for i, (want, have) in enumerate(zip(rows, got)):
        for name, w, h in zip(header, want, have):
            h = "-" if h is None else str(h)
            if w != h:
                bad.append("%s row %d %s: expected %s got %s" % (tag, i + 1, name, w, h))
    return bad


def fragment_of(frame):
    """(datagram key, more fragments follow) of an Ethernet frame carrying an IPv4 or IPv6
    fragment, or None."""
    etype = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if etype == 0x0800 and struct.unpack("!H", ip[6:8])[0] & 0x3FFF:
        return (ip[4:6] + ip[12:20], bool(ip[6] & 0x20))
    if etype == 0x86DD and ip[6] == 44:
        return (ip[44:48] + ip[8:40], bool(ip[43] & 1))
    return None


def check_lost_fragment(finscope, ipv6, late, tmp):
    """Forge four_way in 64-byte fragments, cut out the last fragment of the first fragmented
    datagram and, when late, move every later frame past the reassembly timeout.  The other
    fragments of that datagram must be counted ip_fragment_incomplete (the capture ends first)
    or ip_fragment_timeout, every frame exactly once, and only that segment be missing."""
    tag = "four_way/lost-fragment-%s%s" % ("ipv6" if ipv6 else "ipv4", "-late" if late else "")
    stem = os.path.join(tmp, tag.replace("/", "."))
    ok, msg = run([finscope, "forge", "four_way", "-o", stem + ".pcap", "--fragment", "64",
                   "--expected", stem + ".tsv"] + (["--ipv6"] if ipv6 else []))
    if not ok:
        return ["%s forge %s" % (tag, msg)]
    with open(stem + ".pcap", "rb") as fp:
        data = fp.read()
    recs, off = [], 24  # forge writes little-endian microsecond pcap
    while off < len(data):
        sec, usec, caplen, wire = struct.unpack("<IIII", data[off:off + 16])
        recs.append([sec, usec, data[off + 16:off + 16 + caplen]])
        off += 16 + caplen
    frags = [(i, fragment_of(r[2])) for i, r in enumerate(recs)]
    first = next(f[0] for _, f in frags if f)
    mine = [i for i, f in frags if f and f[0] == first]
    last = next(i for i in mine if not frags[i][1][1])
    del recs[last]
    if late:  # 61 s: past both timeouts (30 s IPv4, 60 s IPv6)
        for r in recs[last:]:
            r[0] += 61
    with open(stem + ".pcap", "wb") as fp:
        fp.write(data[:24])
        for sec, usec, frame in recs:
            fp.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    ok, msg = run([finscope, "analyze", "-q", "-o", stem + ".db", stem + ".pcap"])
    if not ok:
        return ["%s analyze %s" % (tag, msg)]
    with open(stem + ".tsv") as fp:
        rows = [l.rstrip("\n").split("\t") for l in fp if l.strip()]
    want_tcp = sum(int(rows[1][rows[0].index(c)]) for c in ("client_packets", "server_packets"))
    con = sqlite3.connect(stem + ".db")
    read, tcp, skipped = con.execute(
        "SELECT packets_read, packets_tcp, packets_skipped FROM captures").fetchone()
    skips = dict(con.execute("SELECT reason, packets FROM skipped"))
    pkts = con.execute("SELECT sum(client_packets + server_packets) FROM flows").fetchone()[0]
    con.close()
    lost = "ip_fragment_timeout" if late else "ip_fragment_incomplete"
    bad = []
    if read != len(recs) or read != tcp + skipped or skipped != sum(skips.values()):
        bad.append("%s counts: %d frames, read %d, tcp %d, skipped %d" % (
            tag, len(recs), read, tcp, skipped))
    if skips.get(lost) != len(mine) - 1 or set(skips) - {lost, "ip_fragment_reassembled"}:
        bad.append("%s skipped: expected %s %d, got %s" % (tag, lost, len(mine) - 1, skips))
    if tcp != want_tcp - 1 or pkts != want_tcp - 1:
        bad.append("%s segments: expected %d, got %d (%s in flows)" % (tag, want_tcp - 1, tcp, pkts))
    return bad


def main():
    if len(sys.argv) != 2:
        print("usage: check_forged.py FINSCOPE", file=sys.stderr)
        return 2
    finscope = sys.argv[1]
    ok, out = run([finscope, "forge", "--list"])
    if not ok:
        print("forge --list %s" % out)
        print("forged: 0 passed, 1 failed")
        return 1
    scenarios = []
    for line in out.splitlines():
        if not line.strip():
            continue
        name, views = line.split()[0], []
        if "(one side:" in line:
            views = line.rsplit("(one side:", 1)[1].rstrip(")").split()
        scenarios.append((name, views))
    passed = failed = 0
    runs = []  # each: a function of the temporary directory returning its mismatch lines
    for i, (scenario, views) in enumerate(scenarios):
        framings = VARIANTS + [ENCAPS[(i * ENCAPS_PER_SCENARIO + k) % len(ENCAPS)]
                               for k in range(ENCAPS_PER_SCENARIO)]
        for side in views:
            framings += [("%s-only" % side, ["--one-side", side]),
                         ("%s-only-ipv6" % side, ["--one-side", side, "--ipv6"])]
        framings = [fr for j, fr in enumerate(framings) if (i + j) % THIN == 0]
        runs += [lambda tmp, s=scenario, v=variant, a=args: check(finscope, s, v, a, tmp)
                 for variant, args in framings]
    runs.append(lambda tmp: check(finscope, ATTACK[0], "overlap-attack", ATTACK[1], tmp,
                                  ATTACK[2]))
    runs += [lambda tmp, v6=ipv6, l=late: check_lost_fragment(finscope, v6, l, tmp)
             for ipv6 in (False, True) for late in (False, True)]
    with tempfile.TemporaryDirectory(prefix="finscope-forged-") as tmp:
        for one in runs:
            bad = one(tmp)
            if bad:
                failed += 1
                for b in bad:
                    print(b)
            else:
                passed += 1
    print("forged: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
