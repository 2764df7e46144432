#!/usr/bin/env python3
"""finscope show, the text ladder: fitted to a width (--width N, or a terminal's: its window
size, else $COLUMNS, else 80) it equals tests/golden/show/width/NAME.wN.txt, no line but the
header is wider than N, and the arrows are those of the unlimited ladder; through a pipe it is
byte for byte the unlimited ladder (tests/golden/show/NAME.txt); retransmissions carry the
"retrans" marker, and only they.
Run with --update to rewrite the expected files (then review each)."""
import fcntl
import os
import pty
import select
import sqlite3
import struct
import subprocess
import sys
import tempfile
import termios
import time

import checklib as T
import logcodec

T.FINSCOPE = sys.argv[1]
UPDATE = "--update" in sys.argv[2:]
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "show")
WIDTHS = [80, 124]
SCENARIOS = ["fin_retransmit", "fin_wait_2_timeout", "simultaneous_close", "unanswered"]
# Rows marked "retrans" in each scenario's ladder: the resent FIN, the resent SYNs, and none in
# a simultaneous open or a self-connect, whose SYN,ACK repeats the SYN's number but is new.
RETRANS = {"fin_retransmit": 1, "time_wait_reack": 1, "unanswered": 2, "fin_wait_2_timeout": 0,
           "simultaneous_close": 0, "simultaneous_open": 0, "two_way_self": 0, "four_way": 0,
           "fin_retx_cross_four_way": 1}


def show(db, *args, env=None):
    r = T.run("show", db, "1", *args, text=True, env=env)
    T.check(r.returncode == 0, "show %s: exit %d %s" % (" ".join(args), r.returncode, r.stderr))
    return r.stdout


def on_pty(db, cols, columns_env):
    """show DB 1 with standard output a pseudo-terminal of cols columns (0: size unknown) and
    $COLUMNS set to columns_env (None: unset); its output with the terminal's \\r\\n undone."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns_env is not None:
        env["COLUMNS"] = columns_env
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, cols, 0, 0))
    p = subprocess.Popen([os.path.abspath(T.FINSCOPE), "show", db, "1"], stdout=slave,
                         stderr=subprocess.PIPE, env=env)
    os.close(slave)
    out, deadline = b"", time.time() + 30
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    p.wait(timeout=30)
    T.check(p.returncode == 0, "pty %d cols: exit %d" % (cols, p.returncode))
    return out.decode().replace("\r\n", "\n")


def arrows(text):
    return [l for l in text.split("\n") if "|-" in l or "|<" in l or "|~" in l]


def check_fits(name, text, width):
    # Every line: where the flow is, its header and notes fit too (show.c, show_where.c).
    lines = text.split("\n")
    over = [l for l in lines if len(l) > max(width, 79)]
    T.check(not over, "%s --width %d: %d lines wider, first %r" % (name, width, len(over),
                                                                   over[:1]))


def golden(path, got):
    if UPDATE:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(got)
        return
    with open(path) as f:
        want = f.read()
    if not T.check(got == want, "differs from %s" % path):
        print(got)


with tempfile.TemporaryDirectory() as tmp:
    dbs = {}
    for name in sorted(set(SCENARIOS) | set(RETRANS)):
        pcap, db = os.path.join(tmp, name + ".pcap"), os.path.join(tmp, name + ".db")
        subprocess.run([T.FINSCOPE, "forge", name, "-o", pcap], check=True, capture_output=True)
        # By its name in tmp, so that a capture's file named in the output is the same each run.
        subprocess.run([os.path.abspath(T.FINSCOPE), "analyze", "-q", "-o", db, name + ".pcap"],
                       check=True, capture_output=True, cwd=tmp)
        dbs[name] = db

    # Retransmission markers: on the resent segments only, with the '~' shaft.
    for name, want in sorted(RETRANS.items()):
        text = show(dbs[name])
        marked = [l for l in text.split("\n") if " retrans " in l and "|" in l]
        T.check(len(marked) == want, "%s: %d rows marked retrans, want %d: %r" %
                (name, len(marked), want, marked))
        T.check(all(l.count("~") >= 10 and "-" not in l.split("|")[1] for l in marked),
                "%s: retrans shaft %r" %
                (name, marked))

    for name in SCENARIOS:
        db = dbs[name]
        plain = show(db)
        if os.path.exists(os.path.join(HERE, name + ".txt")):  # check_show.py's goldens
            with open(os.path.join(HERE, name + ".txt")) as f:
                T.check(plain == f.read(), "%s: a pipe's ladder is not the golden one" % name)
        T.check(show(db, "--width", "0") == plain, "%s: --width 0 is not the pipe's" % name)
        T.check(show(db, env=dict(os.environ, COLUMNS="60")) == plain,
                "%s: $COLUMNS changed a pipe's ladder" % name)
        for w in WIDTHS:
            got = show(db, "--width", str(w))
            golden(os.path.join(HERE, "width", "%s.w%d.txt" % (name, w)), got)
            check_fits(name, got, w)
            T.check(arrows(got) == arrows(plain), "%s --width %d: arrows changed" % (name, w))
        # A terminal: its window size first, then $COLUMNS, then 80.
        T.check(on_pty(db, 80, None) == show(db, "--width", "80"), "%s: pty 80 cols" % name)
        T.check(on_pty(db, 124, "80") == show(db, "--width", "124"),
                "%s: pty 124 cols, COLUMNS=80" % name)
        T.check(on_pty(db, 0, "124") == show(db, "--width", "124"),
                "%s: pty of unknown size, COLUMNS=124" % name)
        T.check(on_pty(db, 0, None) == show(db, "--width", "80"),
                "%s: pty of unknown size, no COLUMNS: 80" % name)
        T.check(on_pty(db, 200, None) == show(db, "--width", "200"), "%s: pty 200" % name)

    # Every forged scenario fits 80 and 100 columns.
    for name in sorted(RETRANS):
        for w in (80, 100):
            check_fits(name, show(dbs[name], "--width", str(w)), w)

    # Stored evidence is untrusted: long, multi-byte, with control characters.  It wraps by
    # columns (never inside a UTF-8 character), escaped for the terminal, on both sides.
    db = dbs["fin_retransmit"]
    con = sqlite3.connect(db)
    log = logcodec.read_transitions(con, 1)
    log[3][5] = "ack covers the peer's FIN \u00e9t\u00e9 \x1b[31mred\x1b[0m " + "x" * 50
    log[4][5] = "proved by " + "\u00fc" * 30 + " a very long reason that goes on and on"
    logcodec.write_transitions(con, 1, log)
    con.commit()
    con.close()
    plain = show(db)
    T.check("\x1b" not in plain, "escape byte reached the terminal")
    for w in WIDTHS:
        got = show(db, "--width", str(w))
        golden(os.path.join(HERE, "width", "hostile_evidence.w%d.txt" % w), got)
        check_fits("hostile_evidence", got, w)
        T.check("\x1b" not in got, "--width %d: escape byte reached the terminal" % w)

    # Bad widths.
    for bad in ("x", "-1", "10001", ""):
        r = T.run("show", dbs["four_way"], "1", "--width", bad, text=True)
        T.check(r.returncode == 2 and "--width" in r.stderr, "--width %r: %d %r" %
                (bad, r.returncode, r.stderr))
    r = T.run("show", "--help", text=True)
    T.check("--width N" in r.stdout and "retrans" in r.stdout, "--help: --width and retrans")

sys.exit(T.summary("show_text"))
