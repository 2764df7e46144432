#!/usr/bin/env python3
"""check_census_ss.py - the kernel as the oracle for finscope's census: every NAME.census.tsv
holds, for snapshots taken inside the namespaces while NAME was recorded, how many sockets
each namespace's host held in each state (time, namespace, host, state, sockets; ss's state
names, zeros included, listeners left out; the time is wall clock, comparable with the pcap
timestamps), and NAME.census.conf the kernel timers each host ran with (namespace, host,
fin_timeout_s, time_wait_s).  For each snapshot and each host, `finscope states DB --at T
--time-wait W --fin-timeout F --host ADDR --json` must give the same count for every state,
and count nothing else ("unknown" included).

Both NAME.client.pcap and NAME.server.pcap are checked, for both hosts: the recorder took each
snapshot with no packet at either end during it or shortly before (none between the taps
either) and away from every kernel timer expiry, so the counts are the truth for a tap on
either side.  F is the host's own net.ipv4.tcp_fin_timeout: an orphaned FIN_WAIT_2 of that host
ends F seconds after it was entered.

Usage: check_census_ss.py FINSCOPE CAPTURES_DIR
Prints one line per disagreement, one line per capture that agrees, and "census: N passed, M
failed" (one check per capture, snapshot, host and state); exits 77 when FINSCOPE has no
`states` command.
"""
import glob
import json
import os
import sqlite3
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib as T  # noqa: E402

SS_STATE = {"ESTAB": "established", "SYN-SENT": "syn_sent", "SYN-RECV": "syn_rcvd",
            "FIN-WAIT-1": "fin_wait_1", "FIN-WAIT-2": "fin_wait_2", "CLOSE-WAIT": "close_wait",
            "CLOSING": "closing", "LAST-ACK": "last_ack", "TIME-WAIT": "time_wait"}
T_S_SLACK = 0.002  # s: t_s is T minus the capture's first timestamp, printed with rounding


def read_tsv(path):
    """Rows of a TSV with a header line, as dicts."""
    with open(path) as fp:
        lines = [l.rstrip("\n").split("\t") for l in fp if l.strip()]
    return [dict(zip(lines[0], l)) for l in lines[1:]]


def analyze(pcap, tmp):
    """A database of PCAP alone, and its capture's first timestamp."""
    db = os.path.join(tmp, os.path.basename(pcap) + ".db")
    res = T.run("analyze", "-q", "-o", db, pcap, text=True)
    if res.returncode != 0:
        raise RuntimeError("analyze %s exited %d: %s" % (pcap, res.returncode, res.stderr.strip()))
    con = sqlite3.connect(db)
    first = con.execute("SELECT first_ts FROM captures").fetchone()[0]
    con.close()
    return db, first


def states(db, t, host, fin_timeout, time_wait):
    """{state token: sockets} that `finscope states` counts for HOST at T, and what is wrong
    with the shape of its answer (a list of strings)."""
    res = T.run("states", db, "--at", t, "--time-wait", time_wait, "--fin-timeout", fin_timeout,
                "--host", host, "--json", text=True)
    if res.returncode != 0:
        raise RuntimeError("states --at %s --host %s exited %d: %s" % (
            t, host, res.returncode, res.stderr.strip()))
    rows = json.loads(res.stdout)
    counts, bad = {}, []
    for r in rows:
        if r.get("host") != host:
            bad.append("a row for host %r" % r.get("host"))
        if not isinstance(r.get("sockets"), int) or r["sockets"] <= 0:
            bad.append("state %s with sockets %r (only non-zero counts are listed)" % (
                r.get("state"), r.get("sockets")))
        if r.get("state") in counts:
            bad.append("state %s listed twice" % r.get("state"))
        if not isinstance(r.get("time"), str) or not isinstance(r.get("t_s"), (int, float)):
            bad.append("row without time text or t_s: %s" % r)
        counts[r.get("state")] = r.get("sockets")
    return counts, rows, bad


def check(stem, tmp):
    """Check NAME.census.tsv against both captures; (snapshots compared, captures that agreed)."""
    name = os.path.basename(stem)
    conf = {r["namespace"]: r for r in read_tsv(stem + ".census.conf")}
    snaps = {}  # (time, namespace, host) -> {ss state: sockets}
    for r in read_tsv(stem + ".census.tsv"):
        snaps.setdefault((r["time"], r["namespace"], r["host"]), {})[r["state"]] = int(r["sockets"])
    for key, kernel in snaps.items():
        if set(kernel) != set(SS_STATE):
            raise ValueError("snapshot %s %s %s: states %s" % (key + (sorted(kernel),)))
        if key[2] != conf[key[1]]["host"]:
            raise ValueError("snapshot %s: host %s, conf says %s" % (key[0], key[2],
                                                                   conf[key[1]]["host"]))
    for end in ("client", "server"):
        pcap = "%s.%s.pcap" % (stem, end)
        db, first = analyze(pcap, tmp)
        before = T.failed
        for (t, ns, host), kernel in sorted(snaps.items()):
            where = "%s.%s.pcap: at %s host %s (namespace %s)" % (name, end, t, host, ns)
            got, rows, bad = states(db, t, host, conf[ns]["fin_timeout_s"], conf[ns]["time_wait_s"])
            for b in bad:
                T.check(False, "%s: %s" % (where, b))
            for r in rows:
                if isinstance(r.get("t_s"), (int, float)):
                    T.check(abs(r["t_s"] - (float(t) - first)) <= T_S_SLACK,
                            "%s: t_s %s, the capture began %.6f s before" % (
                                where, r["t_s"], float(t) - first))
            for ss, tok in SS_STATE.items():
                T.check(got.get(tok, 0) == kernel[ss], "%s: %s: the kernel has %d, finscope %d" % (
                    where, tok, kernel[ss], got.get(tok, 0)))
            other = {k: v for k, v in got.items() if k not in SS_STATE.values()}
            T.check(not other, "%s: finscope also counts %s (the kernel: none)" % (
                where, ", ".join("%s %s" % kv for kv in sorted(other.items()))))
        if T.failed == before:
            print("%s.%s.pcap: %d snapshots agree" % (name, end, len(snaps)))


def has_states():
    """Whether the binary has the `states` command (it answers --help)."""
    res = T.run("states", "--help", text=True)
    return not (res.returncode != 0 and "unknown command" in res.stderr)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    T.FINSCOPE, capdir = sys.argv[1], sys.argv[2]
    if not has_states():
        print("census: SKIP: %s has no 'states' command" % T.FINSCOPE)
        return 77
    paths = sorted(glob.glob(os.path.join(capdir, "*.census.tsv")))
    if not paths:
        T.check(False, "no *.census.tsv in %s" % capdir)
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            stem = path[: -len(".census.tsv")]
            try:
                check(stem, tmp)
            except (RuntimeError, OSError, KeyError, ValueError) as e:
                T.check(False, "%s: %s" % (os.path.basename(path), e))
    return T.summary("census")


if __name__ == "__main__":
    sys.exit(main())
