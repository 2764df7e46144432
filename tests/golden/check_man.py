#!/usr/bin/env python3
"""The man pages (docs/man) against the program: a page per command, OPTIONS equal to --help.

    check_man.py FINSCOPE MANDIR VERSION

Every command that `finscope --help` lists has a page finscope-CMD.1; every option (short
and long) that `finscope CMD --help` prints is in the page's OPTIONS section and every option
there is in --help, so pages and --help cannot drift apart (a failure names the page and
the exact options to add or remove); each page's NAME, SYNOPSIS and .TH name its command,
.TH carries this build's version, and each page renders with groff -man -ww without a
warning (skipped, with a message, when groff is not installed).  finscope-flows.1 is
checked against `finscope flows --help` once that command exists (skipped before).
"""
import os
import re
import shutil
import subprocess
import sys

import checklib as T

# Pages written ahead of their command: skipped (with a message) while CMD --help fails.
AHEAD = {"flows"}


def help_text(*args):
    r = T.run(*args, text=True, timeout=30)
    return r.returncode, r.stdout


def help_commands(text):
    """The names in the 'commands:' section of `finscope --help` (check_completion.py too)."""
    m = re.search(r"^commands:\n((?:  \S.*\n)+)", text, re.M)
    return [line.split()[0] for line in m.group(1).splitlines()] if m else []


def help_entries(text):
    """{option: its --help line} for the lines indented 1-8 spaces that start with '-'
    ("  -o, --output FILE  ..." gives -o and --output)."""
    entries = {}
    for line in text.splitlines():
        m = re.match(r"^ {1,8}(-.*)$", line)
        if not m:
            continue
        rest = m.group(1)
        while True:
            o = re.match(r"-[-A-Za-z0-9]+", rest)
            if not o:
                break
            entries[o.group(0)] = line.strip()
            rest = rest[o.end():]
            if not rest.startswith(", "):
                break
            rest = rest[2:]
    return entries


def help_options(text):
    """The options of a --help text (check_completion.py too)."""
    return set(help_entries(text))


def plain(roff):
    """Roff source to plain words: font escapes gone, \\- a hyphen."""
    s = re.sub(r"\\f(\(..|\[[^]]*\]|.)", "", roff)
    return s.replace("\\-", "-").replace("\\&", "").replace("\\~", " ")


def sections(src):
    """{'NAME': [lines], ...}: the source lines under each .SH."""
    out, cur = {}, None
    for line in src.splitlines():
        m = re.match(r'^\.SH\s+"?([^"]*)"?\s*$', line)
        if m:
            cur = m.group(1).strip()
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return out


def page_options(lines):
    """Options in an OPTIONS section: those in each .TP tag line (the line after .TP)."""
    opts = set()
    for i, line in enumerate(lines[:-1]):
        if line.strip() == ".TP":
            tag = plain(lines[i + 1])
            opts.update(re.findall(r"(?<![\w-])(--?[A-Za-z0-9][-A-Za-z0-9]*)", tag))
    return opts


def check_render(path, name, groff):
    if not groff:
        return
    r = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", path], capture_output=True,
                       text=True, timeout=60)
    T.check(r.returncode == 0 and r.stderr == "",
            "%s: groff -man -ww warns or fails (status %d): %s" % (name, r.returncode, r.stderr.strip()))


stale_version = []  # pages whose .TH does not carry this build's version


def check_page(mandir, cmd, version, groff):
    """One page: finscope.1 (cmd None) or finscope-CMD.1."""
    name = "finscope.1" if cmd is None else "finscope-%s.1" % cmd
    path = os.path.join(mandir, name)
    if not T.check(os.path.isfile(path), "%s: no such page (every command needs one)" % name):
        return
    with open(path, encoding="utf-8") as f:
        src = f.read()
    sec = sections(src)
    title = "FINSCOPE" if cmd is None else "FINSCOPE\\-" + cmd.upper()
    th = re.search(r"^\.TH (\S+) (\S+) \S+ \"([^\"]*)\"", src, re.M)
    T.check(th and th.group(1) == title and th.group(2) == "1",
            "%s: .TH should start '.TH %s 1', not %r" % (name, title, th and th.group(0)))
    if not (th and th.group(3) == "finscope " + version):
        stale_version.append(name)
    for want in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXAMPLES", "SEE ALSO"):
        T.check(want in sec, "%s: no .SH %s section" % (name, want))
    full = "finscope" if cmd is None else "finscope-" + cmd
    name_line = plain(" ".join(sec.get("NAME", [])))
    T.check(name_line.startswith(full + " - "), "%s: NAME should begin %r, not %r"
            % (name, full + " - ", name_line[:40]))
    synopsis = plain(" ".join(sec.get("SYNOPSIS", [])))
    synopsis = re.sub(r"^\.\S+\s*", "", synopsis)
    want = "finscope" if cmd is None else "finscope " + cmd
    T.check(re.search(r"(^|\s)%s(\s|$)" % re.escape(want), synopsis),
            "%s: SYNOPSIS does not name %r: %r" % (name, want, synopsis[:80]))
    check_render(path, name, groff)

    in_page = page_options(sec.get("OPTIONS", []))
    if cmd is None:
        # `finscope --help` lists commands, not options: each of finscope.1's must work.
        for opt in sorted(in_page):
            rc, out = help_text(opt)
            T.check(rc == 0 and out, "finscope.1 OPTIONS: 'finscope %s' fails (status %d)" % (opt, rc))
        T.check({"-h", "--help", "--version"} <= in_page,
                "finscope.1 OPTIONS lacks: %s" % ", ".join(sorted({"-h", "--help", "--version"} - in_page)))
        rc, out = help_text("--version")
        T.check(out == "finscope %s\n" % version,
                "'finscope --version' prints %r, not 'finscope %s'" % (out, version))
        return
    rc, out = help_text(cmd, "--help")
    if rc != 0 and cmd in AHEAD:
        print("SKIP: %s options: 'finscope %s --help' does not exist yet (status %d)" % (name, cmd, rc))
        return
    if not T.check(rc == 0, "'finscope %s --help' fails (status %d)" % (cmd, rc)):
        return
    entries = help_entries(out)
    in_help = set(entries)
    T.check(in_help, "'finscope %s --help' lists no options" % cmd)
    missing, extra = sorted(in_help - in_page), sorted(in_page - in_help)
    T.check(not missing, "%s OPTIONS lacks (in 'finscope %s --help'): %s%s"
            % (name, cmd, " ".join(missing),
               "".join("\n    help: %s" % e for e in dict.fromkeys(entries[o] for o in missing))))
    T.check(not extra, "%s OPTIONS has (not in 'finscope %s --help'): %s"
            % (name, cmd, " ".join(extra)))


def main():
    T.FINSCOPE = sys.argv[1]
    mandir, version = sys.argv[2], sys.argv[3]
    groff = shutil.which("groff")
    if not groff:
        print("SKIP: rendering: groff is not installed (apt-get install groff-base)")
    rc, top = help_text("--help")
    T.check(rc == 0, "'finscope --help' fails (status %d)" % rc)
    commands = help_commands(top)
    T.check(len(commands) >= 8, "'finscope --help' lists %d commands: %r" % (len(commands), commands))
    pages = sorted(f for f in os.listdir(mandir) if f.endswith(".1"))
    paged = {p[len("finscope-"):-2] for p in pages if p.startswith("finscope-")}
    for extra in sorted(paged - set(commands) - AHEAD):
        T.check(False, "finscope-%s.1: 'finscope --help' lists no command '%s'" % (extra, extra))
    check_page(mandir, None, version, groff)
    for cmd in sorted(set(commands) | (paged & AHEAD)):
        check_page(mandir, cmd, version, groff)
    T.check(not stale_version, "the .TH line of %s should say \"finscope %s\" (this build's version)"
            % (" ".join(stale_version), version))
    # finscope.1 names every page in SEE ALSO, and every command in COMMANDS.
    with open(os.path.join(mandir, "finscope.1"), encoding="utf-8") as f:
        sec = sections(f.read())
    see_also = set(re.findall(r"finscope-([a-z]+)", plain(" ".join(sec.get("SEE ALSO", [])))))
    listed = set(re.findall(r"finscope-([a-z]+)", plain(" ".join(sec.get("COMMANDS", [])))))
    T.check(see_also == paged, "finscope.1 SEE ALSO names %s, the pages are %s"
            % (sorted(see_also), sorted(paged)))
    T.check(listed == paged, "finscope.1 COMMANDS names %s, the pages are %s"
            % (sorted(listed), sorted(paged)))
    return T.summary("man")


if __name__ == "__main__":
    sys.exit(main())
