#!/usr/bin/env python3
"""check_flows.py FINSCOPE CAPTURES: `finscope flows` lists exactly the flows its filters select,
every column equal to the flows row, in each output format; and `finscope show` says where a
flow is with a tshark command that selects exactly its packets.

Every capture of CAPTURES (the real-kernel recordings) is analyzed into one database.  For each
token of each filter present in it, for addresses with and without ports (IPv4 and IPv6), for
captures, anomalies and combinations of them, the listed ids equal those of the equivalent SQL
on the flows table (and show --all draws the same flows).  The whole listing as a table, CSV and
JSON gives each row's columns as computed here from the flows row.  Bad tokens (the message
names every valid one, the same lists as --help), bad addresses, ports, capture ids and limits
exit with status 2.  A hostile copy of the database (control characters, quotes and backslashes
in the flows and captures columns) prints escaped in the table, exactly in CSV and JSON, and in
show's lines above the ladder.  The tshark command show prints, run as printed, selects exactly
client_packets + server_packets frames for flows of several captures (IPv6, a self-connect, a
reused 4-tuple, loss), also when the capture's frames are split over two files (capture_files,
as `live -w` rotation writes them); skipped with a message when tshark is missing.
"""
import csv
import glob
import io
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib as T  # noqa: E402

T.FINSCOPE = sys.argv[1]
CAPTURES = os.path.abspath(sys.argv[2])
check = T.check

TOKENS = {
    "kind": ["open", "four_way", "three_way", "two_way", "simultaneous", "half_closed", "rst",
             "refused", "unanswered", "fins_unproven"],
    "handshake": ["none", "three_way", "simultaneous_open", "self_connect", "refused",
                  "unanswered", "aborted"],
    "rst-cause": ["abort", "unread_data", "data_after_close", "handshake", "other",
                  "accept_overflow"],
    "closer": ["none", "client", "server", "both", "self", "unknown"],
    "anomaly": ["data_after_rst", "fin_rst", "ack_unseen_data", "data_after_own_fin",
                "fin_seq_changed", "syn_fin", "handshake_incomplete", "rst_after_close",
                "syn_retransmitted", "synack_without_syn", "syn_isn_changed", "fin_never_acked",
                "evicted", "idle_timeout", "rst_with_data", "rst_not_acceptable",
                "timestamp_jump", "one_sided", "fin_wait_2_timeout", "fin_without_ack",
                "tap_reordered", "holes_capped", "timestamp_backwards"],
}
COLUMNS = ["id", "frames", "client", "server", "handshake", "close_kind", "rst_cause", "closer",
           "states", "duration_s", "dwell_s"]


def flows(db, *args):
    return T.run("flows", db, *args, text=True)


def csv_ids(text):
    """The id column of a CSV listing."""
    return [int(r[0]) for r in list(csv.reader(io.StringIO(text, newline="")))[1:]]


def expected(row):
    """A listing row as computed from the flows row (a dict): None for NULL."""
    def ep(addr, port):
        return ("[%s]:%s" if row["ip_version"] == 6 else "%s:%s") % (addr, port)

    cause = row["rst_cause"]
    if cause is not None:
        cause += {1: "", 0: " (likely)"}.get(row["rst_cause_proven"], " (not judged)")
    frames = "%s:%s" % (row["capture_id"], row["first_packet"])
    if row["last_packet"] is not None and row["last_packet"] > row["first_packet"]:
        frames += "-%s" % row["last_packet"]
    # state>=S: an endpoint was still in that state at the end, S is the time so far.
    dwell = " ".join("%s%s%.6f" % (k, ">=" if k in (row["client_state"], row["server_state"])
                                   else "=", row[k + "_s"])
                     for k in ("close_wait", "fin_wait_2", "last_ack") if row[k + "_s"] is not None)
    return [str(row["id"]), frames, ep(row["client_addr"], row["client_port"]),
            ep(row["server_addr"], row["server_port"]), row["handshake"], row["close_kind"],
            cause, row["closer"], "%s/%s" % (row["client_state"], row["server_state"]),
            "%.6f" % row["duration_s"], dwell or None]


def parse_table(text):
    """The aligned table as lists of cells: columns cut where the rule's dashes are."""
    lines = text.split("\n")
    rule = lines[1]
    spans = [m.span() for m in re.finditer(r"-+", rule)]
    rows = []
    for line in lines[2:]:
        if not line:
            continue
        cells = []
        for k, (a, b) in enumerate(spans):
            end = len(line) if k == len(spans) - 1 else spans[k + 1][0]
            cells.append(line[a:end].rstrip() if k else line[a:end].strip())
        rows.append([c.lstrip() if COLUMNS[k] in ("id", "duration_s") else c
                     for k, c in enumerate(cells)])
    return lines[0].split(), rows


def term(s):
    """fsc_esc_term for the values used here (ASCII controls, backslash)."""
    out = ""
    for ch in s:
        if ch == "\\":
            out += "\\\\"
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out += "\\x%02x" % ord(ch)
        else:
            out += ch
    return out


def check_formats(db, rows, label):
    """Table, CSV and JSON of the whole listing against rows (dicts of the flows table)."""
    want = [expected(r) for r in rows]
    r = flows(db)
    check(r.returncode == 0, "%s: table exit %d %s" % (label, r.returncode, r.stderr))
    names, got = parse_table(r.stdout)
    check(names == COLUMNS, "%s: table columns %r" % (label, names))
    check(len(got) == len(want), "%s: table has %d rows, flows %d" % (label, len(got), len(want)))
    for g, w in zip(got, want):
        # Cut at the rule, text keeps its leading blanks; numbers are right-aligned.
        check(g == [(term(v) if v is not None else "").strip() if c in ("id", "duration_s")
                    else (term(v) if v is not None else "").rstrip()
                    for c, v in zip(COLUMNS, w)],
              "%s: table row %r, expected %r" % (label, g, w))
    r = flows(db, "--csv")
    got = list(csv.reader(io.StringIO(r.stdout, newline="")))
    check(r.returncode == 0 and got[0] == COLUMNS, "%s: CSV header %r" % (label, got[:1]))
    check("\r\n" not in r.stdout.replace('"\r\n', ""), "%s: CSV lines end in LF" % label)
    check(got[1:] == [[v if v is not None else "" for v in w] for w in want],
          "%s: CSV rows differ: %r" % (label, [g for g, w in zip(got[1:], want) if g != w][:2]))
    r = flows(db, "--json")
    try:
        got = json.loads(r.stdout)
    except ValueError as e:
        check(False, "%s: JSON does not parse: %s" % (label, e))
        return
    check(len(got) == len(want), "%s: JSON has %d objects" % (label, len(got)))
    for g, w in zip(got, want):
        check(list(g.keys()) == COLUMNS, "%s: JSON keys %r" % (label, list(g.keys())))
        check(g["id"] == int(w[0]) and isinstance(g["duration_s"], float)
              and "%.6f" % g["duration_s"] == w[9]
              and [g[c] for c in COLUMNS if c not in ("id", "duration_s")] ==
              [v for c, v in zip(COLUMNS, w) if c not in ("id", "duration_s")],
              "%s: JSON object %r, expected %r" % (label, g, w))


def filter_cases(con):
    """(options, SQL condition, its values) for every filter value present, and combinations."""
    def distinct(sql):
        return [r[0] for r in con.execute(sql)]

    cases = []
    for opt, col in (("kind", "close_kind"), ("handshake", "handshake"),
                     ("rst-cause", "rst_cause"), ("closer", "closer")):
        for tok in TOKENS[opt]:  # tokens absent from the database select nothing
            cases.append((["--" + opt, tok], "%s = ?" % col, [tok]))
    for tok in TOKENS["anomaly"]:
        cases.append((["--anomaly", tok], "',' || anomalies || ',' LIKE ?", ["%%,%s,%%" % tok]))
    for addr, port, v6 in con.execute("SELECT DISTINCT server_addr, server_port, ip_version = 6 "
                                      "FROM flows ORDER BY 1, 2 LIMIT 12"):
        cases.append((["--server", addr], "server_addr = ?", [addr]))
        cases.append((["--server", ("[%s]:%d" if v6 else "%s:%d") % (addr, port)],
                      "server_addr = ? AND server_port = ?", [addr, port]))
    for addr, port, v6 in con.execute("SELECT DISTINCT client_addr, client_port, ip_version = 6 "
                                      "FROM flows ORDER BY 1, 2 LIMIT 6"):
        cases.append((["--client", addr], "client_addr = ?", [addr]))
        cases.append((["--client", ("[%s]:%d" if v6 else "%s:%d") % (addr, port)],
                      "client_addr = ? AND client_port = ?", [addr, port]))
    for cap in distinct("SELECT DISTINCT capture_id FROM flows ORDER BY 1 LIMIT 6") + [99999]:
        cases.append((["--capture", str(cap)], "capture_id = ?", [cap]))
    # Combinations: AND of each part.
    cases += [
        (["--kind", "rst", "--rst-cause", "abort"], "close_kind = ? AND rst_cause = ?",
         ["rst", "abort"]),
        (["--kind", "four_way", "--closer", "server"], "close_kind = ? AND closer = ?",
         ["four_way", "server"]),
        (["--kind", "half_closed", "--handshake", "none"], "close_kind = ? AND handshake = ?",
         ["half_closed", "none"]),
        (["--closer", "both", "--server", "10.199.0.2"], "closer = ? AND server_addr = ?",
         ["both", "10.199.0.2"]),
        (["--anomaly", "fin_never_acked", "--kind", "rst"],
         "',' || anomalies || ',' LIKE ? AND close_kind = ?", ["%,fin_never_acked,%", "rst"]),
        (["--capture", "2", "--closer", "client", "--kind", "four_way"],
         "capture_id = ? AND closer = ? AND close_kind = ?", [2, "client", "four_way"]),
        (["--server", "::1", "--kind", "four_way"], "server_addr = ? AND close_kind = ?",
         ["::1", "four_way"]),
    ]
    return cases


def check_filters(db, con):
    nonempty = 0
    for args, cond, vals in filter_cases(con):
        want = [r[0] for r in con.execute("SELECT id FROM flows WHERE %s ORDER BY id" % cond,
                                          vals)]
        nonempty += bool(want)
        r = flows(db, "--csv", *args)
        got = csv_ids(r.stdout)
        check(r.returncode == 0 and got == want,
              "flows %s: ids %r, SQL %r (%s)" % (args, got, want, r.stderr.strip()))
        if len(want) > 2:  # --limit: the first N in id order
            r = flows(db, "--csv", "--limit", "2", *args)
            got = csv_ids(r.stdout)
            check(got == want[:2], "flows %s --limit 2: %r" % (args, got))
    check(nonempty >= 30, "%d filter cases select flows" % nonempty)
    # show takes the same filters: --all draws the same flows in the same order.
    for args in (["--kind", "rst", "--rst-cause", "abort"], ["--server", "::1"],
                 ["--anomaly", "tap_reordered"]):
        ids = csv_ids(flows(db, "--csv", *args).stdout)
        r = T.run("show", db, "--all", *args, text=True)
        drawn = [int(m) for m in re.findall(r"^==== flow (\d+) \(", r.stdout, re.M)]
        check(r.returncode == 0 and drawn == ids and ids,
              "show --all %s draws %r, flows lists %r" % (args, drawn, ids))


def check_limits_and_refusals(db, con):
    ids = [r[0] for r in con.execute("SELECT id FROM flows ORDER BY id")]
    for n in (0, 1, 5, len(ids) + 3):
        r = flows(db, "--csv", "--limit", str(n))
        got = csv_ids(r.stdout)
        check(r.returncode == 0 and got == ids[:n], "--limit %d: %d rows" % (n, len(got)))
    help_text = T.run("flows", "--help", text=True).stdout
    show_help = T.run("show", "--help", text=True).stdout
    for opt, toks in TOKENS.items():
        r = flows(db, "--" + opt, "nope")
        listed = r.stderr.split("one of: ")[-1].strip().split(", ")
        check(r.returncode == 2 and r.stdout == "" and listed == toks,
              "--%s nope: exit 2 naming the valid tokens: %d %r" % (opt, r.returncode, r.stderr))
        if opt != "anomaly":  # --help lists every token of the short lists
            block = help_text.split("--" + opt + " TOKEN")[1].split("\n      --")[0]
            check(all(re.search(r"\b%s\b" % t, block) for t in toks) and block in show_help,
                  "--help lists every --%s token: %r" % (opt, block))
    for args, says in [(["--anomaly", "one"], "not one of"),  # a piece of one_sided: no token
                       (["--anomaly", "one_sided,fin_rst"], "not one of"),
                       (["--kind", "RST"], "not one of"),
                       (["--kind", "rst' OR '1'='1"], "not one of"),
                       (["--server", "10.0.0"], "is not an address"),
                       (["--server", "10.0.0.1' OR 1=1 --"], "is not an address"),
                       (["--server", "10.0.0.1:80:80"], "is not an address"),
                       (["--server", "10.0.0.1:65536"], "is not a port"),
                       (["--server", "10.0.0.1:"], "is not a port"),
                       (["--server", "[::1"], "is not an address"),
                       (["--server", "[10.0.0.1]:80"], "is not an address"),
                       (["--server", "[::1]x"], "is not an address"),
                       (["--server", "[::1]:http"], "is not a port"),
                       (["--client", "example.com"], "is not an address"),
                       (["--client", ""], "is not an address"),
                       (["--capture", "0"], "is not a capture id"),
                       (["--capture", "-1"], "is not a capture id"),
                       (["--capture", "x"], "is not a capture id"),
                       (["--limit", "-1"], "is not a count"),
                       (["--limit", "ten"], "is not a count"),
                       (["--bogus"], "try 'finscope flows --help'"),
                       (["a.db", "b.db"], "too many arguments")]:
        r = T.run("flows", *(args if args[0] == "a.db" else [db] + args), text=True)
        check(r.returncode == 2 and says in r.stderr and r.stdout == "",
              "flows %s: exit 2 saying %r: %d %r" % (args, says, r.returncode, r.stderr))
    # Equivalent spellings of one address give the same flows: the canonical form is compared.
    a = flows(db, "--csv", "--server", "::1").stdout
    b = flows(db, "--csv", "--server", "0:0:0:0:0:0:0:1").stdout
    c = flows(db, "--csv", "--server", "[0::1]").stdout
    check(a == b == c and a.count("\n") > 1, "::1 spelled three ways selects the same flows")
    r = T.run("flows", os.path.join(os.path.dirname(db), "missing.db"), text=True)
    check(r.returncode == 1 and r.stderr.startswith("finscope flows: "),
          "a missing database: exit 1 with a message: %r" % r.stderr)


HOSTILE = ["\x1b[31mred\x1b[0m", "a'b\"c", "back\\slash", "new\nline\ttab", "\x07bell",
           "x, y", " lead", "<&>"]


def check_hostile(tmp, base):
    """Stored strings with control characters and quotes: escaped in the table and show,
    exact in CSV and JSON.  NOT NULL dropped first, as a hostile file may."""
    db = os.path.join(tmp, "hostile.db")
    shutil.copy(base, db)
    con = sqlite3.connect(db)
    con.execute("PRAGMA writable_schema = ON")
    con.execute("UPDATE sqlite_master SET sql = replace(sql, 'NOT NULL', '') WHERE type = 'table'")
    con.commit()
    con.close()
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    ids = [r[0] for r in con.execute("SELECT id FROM flows ORDER BY id")]
    for k, fid in enumerate(ids):
        v = HOSTILE[k % len(HOSTILE)]
        col = ["client_addr", "server_addr", "handshake", "close_kind", "rst_cause", "closer",
               "client_state", "server_state"][k % 8]
        con.execute("UPDATE flows SET %s = ? WHERE id = ?" % col, (v, fid))
    # Whole tokens only: these rows must not match --anomaly one_sided or fin_rst.
    con.execute("UPDATE flows SET anomalies = 'xone_sided,fin_rstx' WHERE id = ?", (ids[0],))
    con.execute("UPDATE flows SET anomalies = 'one_sidedx' WHERE id = ?", (ids[1],))
    con.execute("UPDATE flows SET anomalies = 'a,one_sided,b' WHERE id = ?", (ids[2],))
    con.execute("UPDATE flows SET anomalies = 'fin_rst' WHERE id = ?", (ids[3],))
    con.execute("UPDATE captures SET source = ? WHERE id = 1",
                ("/tmp/\x1b]0;x\x07it's\nname.pcap",))
    con.execute("DELETE FROM capture_files WHERE capture_id = 1")
    con.commit()
    rows = [dict(r) for r in con.execute("SELECT * FROM flows ORDER BY id")]
    check_formats(db, rows, "hostile")
    r = flows(db)
    bad = [c for c in r.stdout if (ord(c) < 0x20 and c != "\n") or ord(c) == 0x7f]
    check(not bad, "hostile: no raw control character in the table: %r" % bad[:5])
    for tok, want in (("one_sided", [ids[2]]), ("fin_rst", [ids[3]])):
        r = flows(db, "--csv", "--anomaly", tok)
        got = csv_ids(r.stdout)
        check(got == want, "--anomaly %s matches whole tokens only: %r" % (tok, got))
    # show: the capture's file name escaped on its line and quoted for a shell.
    fid = next(r["id"] for r in rows if r["capture_id"] == 1)
    r = T.run("show", db, str(fid), text=True)
    lines = r.stdout.split("\n")
    check(r.returncode == 0 and lines[0].startswith(
        "capture 1 (/tmp/\\x1b]0;x\\x07it's\\x0aname.pcap), "),
        "show: the file name escaped: %r" % lines[:2])
    check(lines[1].startswith("tshark -r '/tmp/\\x1b]0;x\\x07it'\"'\"'s\\x0aname.pcap' -Y '")
          or lines[1].startswith("tshark: no display filter"),
          "show: the file name quoted for a shell: %r" % lines[1])
    bad = [c for c in r.stdout if (ord(c) < 0x20 and c != "\n") or ord(c) == 0x7f]
    check(not bad, "show: no raw control character: %r" % bad[:5])
    # A live capture whose frames were not saved (no capture_files row): the filter alone.
    fid2, cap2 = con.execute("SELECT id, capture_id FROM flows WHERE capture_id > 1 AND "
                             "client_addr = '127.0.0.1' AND server_addr = client_addr "
                             "ORDER BY id LIMIT 1").fetchone()
    con.execute("UPDATE captures SET source = 'live:lo' WHERE id = ?", (cap2,))
    con.execute("DELETE FROM capture_files WHERE capture_id = ?", (cap2,))
    con.commit()
    lines = T.run("show", db, str(fid2), text=True).stdout.split("\n")
    check(lines[0].startswith("capture %d (live:lo), frames %d:" % (cap2, cap2)) and
          lines[1].startswith("display filter (no file holds these frames): '((ip.src==") and
          "frame.number" not in lines[1] and "tshark" not in lines[1],
          "show, live capture without a file: the filter without frames, and no tshark command "
          "(without -r it would start capturing): %r" % lines[:2])
    # Standard input: no file to name either; the frames are the stream's.
    with tempfile.TemporaryDirectory() as d:
        sdb = os.path.join(d, "stdin.db")
        with open(os.path.join(CAPTURES, "lo_four_way.pcap"), "rb") as f:
            T.run("analyze", "-q", "-o", sdb, "-", stdin=f)
        lines = T.run("show", sdb, "1", text=True).stdout.split("\n")
        check(lines[0] == "capture 1 (-), frames 1:1 to 1:11" and lines[1].startswith(
              "display filter (no file holds these frames): '((ip.src==127.0.0.1 && ") and
              lines[1].endswith(" && frame.number>=1 && frame.number<=11'"),
              "show, a capture read from stdin: the filter alone: %r" % lines[:2])
    # capture_files rows that are not what finscope writes: a hostile path is escaped and
    # quoted; a row whose frame numbers are not integers is passed over.
    fid3, cap3 = con.execute("SELECT id, capture_id FROM flows WHERE capture_id > ? "
                             "ORDER BY id LIMIT 1", (cap2,)).fetchone()
    con.execute("UPDATE capture_files SET path = ?, first_frame = 1, last_frame = 1000000 "
                "WHERE capture_id = ?", ("a\x1b[2Jb\\c", cap3))
    con.execute("INSERT INTO capture_files (capture_id, file_no, path, first_frame, last_frame) "
                "VALUES (?, 7, 'odd.pcap', 'x', '1e3')", (cap3,))
    con.commit()
    r = T.run("show", db, str(fid3), text=True)
    lines = r.stdout.split("\n")
    check(r.returncode == 0 and lines[1].startswith("tshark -r 'a\\x1b[2Jb\\\\c' -Y '") and
          lines[2].startswith("flow %d  " % fid3),
          "show, hostile capture_files path: %r" % lines[:3])
    # Stored numbers and addresses that are not what finscope writes: no filter, no crash.
    con.execute("UPDATE flows SET capture_id = 'x', first_packet = -5, last_packet = ?, "
                "client_addr = '1.2.3.4 || 1' WHERE id = ?", (9223372036854775807, fid))
    con.commit()
    r = T.run("show", db, str(fid), text=True)
    check(r.returncode == 0 and r.stdout.startswith(
        "capture ? (no captures row), frame ?\n"
        "tshark: no display filter (the stored addresses or ports are not valid)\n"),
        "show: odd stored numbers: %r %r" % (r.stdout[:200], r.stderr))
    con.close()


def tshark_count(argv):
    p = subprocess.run(argv + ["-T", "fields", "-e", "frame.number"], capture_output=True,
                       text=True, timeout=120)
    return len(p.stdout.split()) if p.returncode == 0 else -1


def check_tshark(tmp, db, con):
    if not shutil.which("tshark"):
        print("tshark not found: the display filters show prints are not run "
              "(Debian package tshark)")
        return
    # IPv6, a self-connect, one 4-tuple used twice (the frame range tells them apart), loss.
    names = ["lo_four_way_v6.pcap", "lo_self_connect.pcap", "ns_port_reuse.pcap",
             "ns_lossy.client.pcap"]
    seen = set()
    for name in names:
        rows = con.execute("SELECT f.id, f.client_packets + f.server_packets, f.ip_version, "
                           "f.handshake FROM flows AS f JOIN captures AS c ON "
                           "c.id = f.capture_id WHERE c.source = ? ORDER BY f.id",
                           (os.path.join(CAPTURES, name),)).fetchall()
        check(rows != [], "%s: flows in the database" % name)
        for fid, packets, v, hs in rows:
            seen.add("v6" if v == 6 else "v4")
            seen.add(hs)
            r = T.run("show", db, str(fid), text=True)
            line = r.stdout.split("\n")[1]
            check(line.startswith("tshark -r "), "%s flow %d: %r" % (name, fid, line))
            n = tshark_count(shlex.split(line))
            check(n == packets, "%s flow %d: tshark selects %d frames, the flow has %d"
                  % (name, fid, n, packets))
            if v == 6 or hs == "self_connect":
                # Fitted to 60 columns: lines of at most 60, the same command once pasted.
                r = T.run("show", db, str(fid), "--width", "60", text=True)
                lines = r.stdout.split("\n")
                cmd = "\n".join(lines[1:next(k for k, x in enumerate(lines) if
                                              x.startswith("flow "))])
                check(all(len(x) <= 60 for x in cmd.split("\n")) and
                      (hs == "self_connect" or "\n" in cmd),
                      "%s flow %d --width 60: %r" % (name, fid, cmd))
                n = tshark_count(["bash", "-c", cmd + ' "$@"', "tshark"])  # as pasted
                check(n == packets, "%s flow %d --width 60: tshark selects %d frames, not %d"
                      % (name, fid, n, packets))
    check({"v6", "v4", "self_connect"} <= seen, "IPv6 and a self-connect among them: %r" % seen)
    # Frames split over two files, as live -w rotation writes them: frames 1-5 of the capture
    # in one file, the rest in another, each numbered from 1 in its file.
    src = os.path.join(CAPTURES, "lo_four_way.pcap")
    cap, fid, packets, last = con.execute(
        "SELECT c.id, f.id, f.client_packets + f.server_packets, f.last_packet FROM flows AS f "
        "JOIN captures AS c ON c.id = f.capture_id WHERE c.source = ?", (src,)).fetchone()
    a, b = os.path.join(tmp, "part 1.pcap"), os.path.join(tmp, "part-2.pcap")
    subprocess.run(["editcap", "-r", src, a, "1-5"], check=True, capture_output=True)
    subprocess.run(["editcap", "-r", src, b, "6-%d" % last], check=True, capture_output=True)
    split = os.path.join(tmp, "split.db")
    shutil.copy(db, split)
    w = sqlite3.connect(split)
    w.execute("DELETE FROM capture_files WHERE capture_id = ?", (cap,))
    w.execute("INSERT INTO capture_files (capture_id, file_no, path, first_frame, last_frame) "
              "VALUES (?, 1, ?, 1, 5), (?, 2, ?, 6, ?)", (cap, a, cap, b, last))
    w.commit()
    w.close()
    r = T.run("show", split, str(fid), text=True)
    lines = r.stdout.split("\n")
    check(lines[0] == "capture %d (%s), frames %d:1 to %d:%d" % (cap, src, cap, cap, last),
          "split: %r" % lines[0])
    check(lines[1].startswith("tshark -r '%s' -Y '" % a) and lines[1].endswith(
        " && frame.number>=1 && frame.number<=5'"), "split, first file: %r" % lines[1])
    check(lines[2].startswith("tshark -r %s -Y '" % b) and lines[2].endswith(
        " && frame.number>=1 && frame.number<=%d'" % (last - 5)),
        "split, second file, its own frame numbers: %r" % lines[2])
    n = tshark_count(shlex.split(lines[1])) + tshark_count(shlex.split(lines[2]))
    check(n == packets, "split: the two tshark commands select %d frames, the flow has %d"
          % (n, packets))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "all.db")
        pcaps = sorted(glob.glob(os.path.join(CAPTURES, "*.pcap")) +
                       glob.glob(os.path.join(CAPTURES, "*.pcapng")))
        r = T.run("analyze", "-q", "-o", db, *pcaps, timeout=600)
        check(r.returncode == 0, "analyze: %s" % r.stderr[-500:])
        con = sqlite3.connect(db)
        con.row_factory = sqlite3.Row
        rows = [dict(r) for r in con.execute("SELECT * FROM flows ORDER BY id")]
        check(len(rows) > 100, "%d flows" % len(rows))
        check_formats(db, rows, "captures")
        con.row_factory = None
        check_filters(db, con)
        check_limits_and_refusals(db, con)
        check_tshark(tmp, db, con)
        con.close()
        check_hostile(tmp, db)
    return T.summary("flows")


if __name__ == "__main__":
    sys.exit(main())
