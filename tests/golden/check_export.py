#!/usr/bin/env python3
"""check_export.py - `finscope export --zeek`: Zeek's conn.log columns, then finscope's.

Seven real-kernel captures (four-way, unread-data RST, data-after-close RST, half-closed, a
FIN_WAIT_2 timeout with anomalies, a 3 GB upload with gap bytes, a simultaneous open that Zeek
splits into two records) are analyzed into one database and exported.  Checked exactly: the
header lines (#fields and #types, with and without --zeek-only, against Zeek's own header),
every finscope.* column of every line against the flow's row in the flows table, missed_bytes
against the flow's gap bytes, golden values per capture, the JSON lines (keys in order, typed
values equal to the TSV's), --zeek-only as the default output cut to Zeek's 21 columns,
--capture, the uid's way back to its flow (finscope.flow_id, `finscope show DB ID`), and the
escaping of hostile stored values in finscope's columns (fsc_esc_zeek_tsv / fsc_esc_json).

Usage: check_export.py FINSCOPE CAPTURES_DIR
"""
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib as T  # noqa: E402

# Zeek's header, as Zeek's own baselines print it (e.g. testing/btest/Baseline/
# core.tcp.miss-end-data/conn.log in Zeek's repository).
ZEEK_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration "
               "orig_bytes resp_bytes conn_state local_orig local_resp missed_bytes history "
               "orig_pkts orig_ip_bytes resp_pkts resp_ip_bytes tunnel_parents").split()
ZEEK_TYPES = ("time string addr port addr port enum string interval count count string bool "
              "bool count string count count count count set[string]").split()
# finscope's columns: name, Zeek type, the flows column it holds (README, export --help).
FSC = [("finscope.flow_id", "count", "id"),
       ("finscope.capture_id", "count", "capture_id"),
       ("finscope.first_packet", "count", "first_packet"),
       ("finscope.handshake", "string", "handshake"),
       ("finscope.close_kind", "string", "close_kind"),
       ("finscope.rst_cause", "string", "rst_cause"),
       ("finscope.rst_cause_proven", "bool", "rst_cause_proven"),
       ("finscope.closer", "string", "closer"),
       ("finscope.closer_call", "string", "closer_call"),
       ("finscope.client_state", "string", "client_state"),
       ("finscope.server_state", "string", "server_state"),
       ("finscope.close_wait", "interval", "close_wait_s"),
       ("finscope.fin_wait_2", "interval", "fin_wait_2_s"),
       ("finscope.last_ack", "interval", "last_ack_s"),
       ("finscope.anomalies", "set[string]", "anomalies")]
FIELDS = ZEEK_FIELDS + [f[0] for f in FSC]
TYPES = ZEEK_TYPES + [f[1] for f in FSC]
NZEEK = len(ZEEK_FIELDS)

CAPTURES = ["lo_four_way.pcap", "lo_unread_data.pcap", "lo_data_after_close.pcap",
            "lo_half_closed.pcap", "ns_fin_wait_2_timeout.client.pcap",
            "regress/big_upload.pcap", "ns_simultaneous_open.pcap"]
# Golden values per capture, one tuple per conn.log line in ts order: conn_state, missed_bytes,
# history, then finscope's columns from handshake on (flow and capture ids are checked
# against the database).  ns_simultaneous_open is two Zeek records of one flow: missed_bytes
# only on the last, finscope's columns on both.
GOLDEN = {
    "lo_four_way.pcap": [
        ("SF", "0", "ShADadFf", "three_way", "four_way", "-", "-", "client", "unknown",
         "time_wait", "closed", "0.157301", "0.157340", "0.000039", "(empty)")],
    "lo_unread_data.pcap": [
        ("RSTR", "0", "ShADar", "three_way", "rst", "unread_data", "F", "server", "-", "closed",
         "closed", "-", "-", "-", "(empty)")],
    "lo_data_after_close.pcap": [
        ("RSTR", "0", "ShAfDr", "three_way", "rst", "data_after_close", "T", "server", "close",
         "closed", "closed", "0.048326", "0.048326", "-", "(empty)")],
    "lo_half_closed.pcap": [
        ("S2", "0", "ShADaF", "three_way", "half_closed", "-", "-", "client", "unknown",
         "fin_wait_2", "close_wait", "0.000000", "0.000000", "-", "(empty)")],
    "ns_fin_wait_2_timeout.client.pcap": [
        ("SF", "0", "ShADadFfR", "three_way", "four_way", "-", "-", "client", "close", "closed",
         "closed", "1.363382", "1.363419", "0.000037",
         "rst_after_close,fin_never_acked,fin_wait_2_timeout")],
    "regress/big_upload.pcap": [
        ("RSTR", "2999997000", "ShADaGr", "three_way", "rst", "unread_data", "F", "server", "-",
         "closed", "closed", "-", "-", "-", "(empty)")],
    "ns_simultaneous_open.pcap": [
        ("S0", "-", "S", "simultaneous_open", "four_way", "-", "-", "client", "unknown",
         "time_wait", "closed", "0.157736", "0.157768", "0.000032", "(empty)"),
        ("SF", "0", "ShadADfF", "simultaneous_open", "four_way", "-", "-", "client", "unknown",
         "time_wait", "closed", "0.157736", "0.157768", "0.000032", "(empty)")],
}


def parse_tsv(text):
    """(header lines, body rows as lists of fields) of a conn.log."""
    lines = text.split("\n")
    T.check(lines[-1] == "", "conn.log ends with a newline")
    head = [l for l in lines if l.startswith("#")]
    body = [l.split("\t") for l in lines[:-1] if not l.startswith("#")]
    return head, body


def header_ok(what, head, fields, types):
    """Zeek's header lines, exactly (the #open/#close stamps only by their format)."""
    T.check(head[:5] == ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)",
                         "#unset_field\t-", "#path\tconn"], "%s: first header lines %r" %
            (what, head[:5]))
    stamp = r"\t\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d"
    T.check(len(head) == 9 and re.fullmatch("#open" + stamp, head[5]) and
            re.fullmatch("#close" + stamp, head[8]), "%s: #open/#close %r" % (what, head[5:]))
    T.check(head[6:8] == ["#fields\t" + "\t".join(fields), "#types\t" + "\t".join(types)],
            "%s: #fields/#types %r" % (what, head[6:8]))


def interval(v):
    return "-" if v is None else "%.6f" % v


def fsc_expected(row):
    """finscope's columns as export --zeek must write them for a flows row (a dict)."""
    out = []
    for _, typ, col in FSC:
        v = row[col]
        if v is None:
            out.append("-")
        elif typ == "interval":
            out.append(interval(v))
        elif typ == "bool":
            out.append({0: "F", 1: "T"}[v])
        elif typ == "set[string]":
            out.append(",".join(e for e in v.split(",") if e) or "(empty)")
        else:
            out.append(str(v))
    return out


def flows(db):
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    rows = {r["id"]: dict(r) for r in con.execute("SELECT * FROM flows")}
    con.close()
    return rows


def lines_ok(what, body, rows):
    """Every line: 36 fields, finscope's columns equal to its flow's row, missed_bytes the
    flow's gap bytes on its last record (the one at zeek_ts) and unset on earlier ones."""
    seen = set()
    for l in body:
        if not T.check(len(l) == len(FIELDS), "%s: %d fields: %r" % (what, len(l), l)):
            continue
        fid = int(l[NZEEK])
        row = rows.get(fid)
        if not T.check(row is not None, "%s: finscope.flow_id %d names a flow" % (what, fid)):
            continue
        seen.add(fid)
        T.check(l[NZEEK:] == fsc_expected(row), "%s: flow %d: finscope columns %r, flows row "
                "gives %r" % (what, fid, l[NZEEK:], fsc_expected(row)))
        last = l[0] == "%.6f" % row["zeek_ts"]
        gap = str(row["client_gap_bytes"] + row["server_gap_bytes"]) if last else "-"
        T.check(l[14] == gap, "%s: flow %d: missed_bytes %s, gap bytes %s" % (what, fid, l[14],
                                                                               gap))
    T.check(seen == set(rows), "%s: every flow exported (%s of %s)" % (what, sorted(seen),
                                                                       sorted(rows)))


def json_ok(what, text, body, nfields):
    """Each JSON line is its TSV line: keys in field order, unset fields absent, values typed."""
    objs = text.splitlines()
    T.check(len(objs) == len(body), "%s: %d JSON lines, %d TSV lines" % (what, len(objs),
                                                                         len(body)))
    for line, l in zip(objs, body):
        pairs = json.loads(line, object_pairs_hook=lambda p: p, parse_float=str)
        want = []
        for k in range(nfields):
            name, typ, v = FIELDS[k], TYPES[k], l[k]
            if v == "-":
                continue
            if typ in ("count", "port"):
                v = int(v)
            elif typ == "bool":
                v = v == "T"
            elif typ == "set[string]":
                v = [] if v == "(empty)" else v.split(",")
            want.append((name, v))
        T.check(pairs == want, "%s: JSON %r, TSV says %r" % (what, pairs, want))


def hostile(tmp, db):
    """Stored values that must be escaped or left unset in finscope's columns."""
    bad = os.path.join(tmp, "hostile.db")
    shutil.copy(db, bad)
    con = sqlite3.connect(bad)
    con.execute("UPDATE flows SET anomalies = ?, rst_cause = ?, rst_cause_proven = 7, "
                "close_wait_s = 'text', closer_call = '-', client_gap_bytes = ?, "
                "server_gap_bytes = ? WHERE id = 1",
                ("a,-,\t\x1b,(empty),,x\\y", "un\tread", 2**63 - 1, 2**63 - 1))
    con.execute("UPDATE flows SET client_gap_bytes = 'x', anomalies = '' WHERE id = 2")
    con.commit()
    con.close()
    p = T.run("export", "--zeek", bad, text=True)
    T.check(p.returncode == 0, "hostile: export exits 0: %s" % p.stderr)
    lines = {l[NZEEK]: l for l in parse_tsv(p.stdout)[1] if len(l) == len(FIELDS)}
    if not T.check("1" in lines and "2" in lines, "hostile: flows 1 and 2 exported"):
        return
    T.check(lines["1"][NZEEK + 5:NZEEK + 9] == ["un\\x09read", "-", "client", "\\x2d"] and
            lines["1"][NZEEK + 11] == "-" and
            lines["1"][-1] == "a,\\x2d,\\x09\\x1b,\\x28empty),x\\x5cy",
            "hostile TSV: escaped, bad bool and interval unset: %r" % lines["1"][NZEEK:])
    T.check(lines["1"][14] == "18446744073709551614" and lines["2"][14] == "-",
            "hostile TSV: gap sum up to 2^64-2, unset when not a number: %s %s" %
            (lines["1"][14], lines["2"][14]))
    T.check(lines["2"][-1] == "(empty)", "hostile TSV: '' anomalies is (empty)")
    p = T.run("export", "--zeek", "--json", bad, text=True)
    objs = {o.get("finscope.flow_id"): o for o in map(json.loads, p.stdout.splitlines())}
    o = objs.get(1, {})
    T.check(o["finscope.anomalies"] == ["a", "-", "\t\x1b", "(empty)", "x\\y"] and
            o["finscope.rst_cause"] == "un\tread" and o["finscope.closer_call"] == "-" and
            "finscope.rst_cause_proven" not in o and "finscope.close_wait" not in o and
            o["missed_bytes"] == 2**64 - 2 and "missed_bytes" not in objs.get(2, {}),
            "hostile JSON: exact values, bad ones absent: %r" % o)


def main():
    T.FINSCOPE, captures = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "x.db")
        for c in CAPTURES:  # one capture per run: capture ids 1..7 in this order
            p = T.run("analyze", "-q", "-o", db, os.path.join(captures, c), text=True)
            T.check(p.returncode == 0, "analyze %s: %s" % (c, p.stderr))
        rows = flows(db)

        p = T.run("export", "--zeek", db, text=True)
        T.check(p.returncode == 0 and p.stderr == "", "export --zeek: %s" % p.stderr)
        head, body = parse_tsv(p.stdout)
        header_ok("--zeek", head, FIELDS, TYPES)
        lines_ok("--zeek", body, rows)
        body = [l for l in body if len(l) == len(FIELDS)]  # the others have failed already
        T.check(len({l[1] for l in body}) == len(body), "every uid distinct")
        for cap, c in enumerate(CAPTURES, 1):
            got = [tuple([l[11], l[14], l[15]] + l[NZEEK + 3:]) for l in body
                   if l[NZEEK + 1] == str(cap)]
            T.check(got == GOLDEN[c], "%s: golden\n  got    %r\n  wanted %r" % (c, got,
                                                                                GOLDEN[c]))
        gaps = sum(r["client_gap_bytes"] + r["server_gap_bytes"] for r in rows.values())
        T.check(sum(int(l[14]) for l in body if l[14] != "-") == gaps == 2999997000,
                "missed_bytes over the log add up to the gap bytes (%d)" % gaps)

        p = T.run("export", "--zeek-only", db, text=True)
        T.check(p.returncode == 0, "export --zeek-only: %s" % p.stderr)
        zhead, zbody = parse_tsv(p.stdout)
        header_ok("--zeek-only", zhead, ZEEK_FIELDS, ZEEK_TYPES)
        T.check(zbody == [l[:NZEEK] for l in body], "--zeek-only is --zeek cut to Zeek's columns")
        p = T.run("export", "--zeek", "--zeek-only", db, text=True)
        T.check(parse_tsv(p.stdout)[1] == zbody, "--zeek --zeek-only is --zeek-only")

        p = T.run("export", "--zeek", "--json", db, text=True)
        T.check(p.returncode == 0, "export --zeek --json: %s" % p.stderr)
        json_ok("--json", p.stdout, body, len(FIELDS))
        p = T.run("export", "--zeek-only", "--json", db, text=True)
        json_ok("--zeek-only --json", p.stdout, body, NZEEK)

        p = T.run("export", "--zeek", "--capture", "7", "-o", os.path.join(tmp, "c.log"), db)
        with open(os.path.join(tmp, "c.log")) as fp:
            cbody = parse_tsv(fp.read())[1]
        T.check(p.returncode == 0 and cbody == [l for l in body if l[NZEEK + 1] == "7"] and
                len(cbody) == 2, "--capture 7 -o FILE: the two records of capture 7 only")

        # The way back from a line to its flow: finscope.flow_id, then finscope show DB ID.
        for l in body:
            fid, row = l[NZEEK], rows[int(l[NZEEK])]
            p = T.run("show", db, fid, text=True)
            # The ladder's header line (after the lines that say where the flow is).
            first = ([x for x in p.stdout.split("\n") if x.startswith("flow ")] + [""])[0]
            T.check(p.returncode == 0 and first.startswith("flow %s  %s:%d -> %s:%d " % (
                fid, row["client_addr"], row["client_port"], row["server_addr"],
                row["server_port"])), "uid %s: show %s: %r" % (l[1], fid, first))

        p = T.run("export", db, text=True)
        T.check(p.returncode == 2 and "--zeek-only" in p.stderr, "no format: exit 2, says so")
        p = T.run("export", "--help", text=True)
        for want in ("--zeek-only", "finscope.flow_id", "finscope.rst_cause_proven  bool",
                     "client_gap_bytes + flows.server_gap_bytes", "zeek-cut uid finscope.flow_id",
                     "finscope show web.db 42"):
            T.check(want in p.stdout, "--help mentions %r" % want)
        hostile(tmp, db)
    return T.summary("export")


if __name__ == "__main__":
    sys.exit(main())
