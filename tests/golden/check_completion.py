#!/usr/bin/env python3
"""Bash completion (completions/finscope): exact candidate sets for typed command lines.

    check_completion.py FINSCOPE COMPLETION SCHEMA_MD

Sources the completion in a bare bash (no bash-completion package needed), sets COMP_WORDS
and COMP_CWORD as readline would for a line ending in <TAB>, calls _finscope and compares
COMPREPLY with the exact set expected: commands and options as `finscope --help` and
`finscope CMD --help` print them, the tokens of docs/schema.md, files by extension,
interfaces, and options still completed from the per-shell cache once the program is gone.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import checklib as T
from check_man import help_commands, help_options

COMPLETION = None

def complete(lines, cwd, remove_after=None, path=None):
    """COMPREPLY (a set) for each command line (a list of words; the last is being completed),
    all in one bash so that its cache carries over from line to line; with REMOVE_AFTER, PATH
    is deleted after that many lines."""
    script = ['source "%s" || exit 3' % COMPLETION, "complete -p finscope"]
    for i, words in enumerate(lines):
        if i == remove_after:
            script.append("rm -f '%s'" % path)
        quoted = " ".join("'%s'" % w.replace("'", "'\\''") for w in words)
        script.append("COMP_WORDS=(%s); COMP_CWORD=%d; COMP_LINE=\"${COMP_WORDS[*]}\"; "
                      "COMP_POINT=${#COMP_LINE}; _finscope; printf '%%s\\n' \"${COMPREPLY[@]}\"; "
                      "printf '\\0\\n'" % (quoted, len(words) - 1))
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(script)], cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    T.check(r.returncode == 0 and r.stderr == "",
            "bash with the completion: status %d, stderr %r" % (r.returncode, r.stderr))
    out = r.stdout.split("\n", 1)
    T.check(out[0] == "complete -F _finscope finscope",
            "the completion registers %r, not 'complete -F _finscope finscope'" % out[0])
    groups = out[1].split("\0\n")[:len(lines)] if len(out) > 1 else []
    groups += [""] * (len(lines) - len(groups))
    return [set(g.split("\n")) - {""} for g in groups]


def expect(line, got, want):
    T.check(got == want, "complete %r: got %s, want %s (missing %s, extra %s)"
            % (" ".join(line[1:]), sorted(got), sorted(want), sorted(want - got), sorted(got - want)))


def help_of(*args):
    r = T.run(*args, text=True, timeout=30)
    return r.stdout if r.returncode == 0 else ""


def schema_tokens(schema, heading):
    """The backticked tokens of the docs/schema.md section whose heading starts with
    '### HEADING tokens': the first column of its table, or its first paragraph."""
    m = re.search(r"^### %s tokens.*?\n\n(.*?)(\n\n|\n#)" % re.escape(heading), schema, re.M | re.S)
    if not m:
        return set()
    body = m.group(1)
    if body.startswith("|"):
        return set(re.findall(r"^\| `([a-z0-9_]+)` \|", body, re.M))
    return set(re.findall(r"`([a-z0-9_]+)`", body))


def main():
    global COMPLETION
    T.FINSCOPE = os.path.abspath(sys.argv[1])
    COMPLETION = os.path.abspath(sys.argv[2])
    with open(sys.argv[3], encoding="utf-8") as f:
        schema = f.read()
    fs = T.FINSCOPE
    kinds = schema_tokens(schema, "close_kind")
    handshakes = schema_tokens(schema, "handshake")
    causes = schema_tokens(schema, "rst_cause")
    closers = schema_tokens(schema, "closer")
    anomalies = schema_tokens(schema, "anomaly")
    # The tokens the show help names must all be offered (schema.md may have more).
    T.check({"four_way", "three_way", "two_way", "simultaneous", "half_closed", "rst", "refused",
             "unanswered", "open"} <= kinds, "docs/schema.md close_kind tokens: %s" % sorted(kinds))
    T.check(closers == {"client", "server", "both", "self", "none", "unknown"},
            "docs/schema.md closer tokens: %s" % sorted(closers))
    T.check(len(anomalies) >= 20 and len(handshakes) == 7 and len(causes) >= 5,
            "docs/schema.md tokens: %d anomalies, %d handshakes, %d rst causes"
            % (len(anomalies), len(handshakes), len(causes)))
    states_help = help_of("states", "--help")
    m = re.search(r"--state STATE\s+only this state:((?:\s+[a-z0-9_]+,?)+)", states_help)
    census_states = set(re.findall(r"[a-z0-9_]+", m.group(1))) if m else set()
    T.check("close_wait" in census_states and "unknown" in census_states,
            "'finscope states --help' --state tokens: %s" % sorted(census_states))
    commands = set(help_commands(help_of("--help")))
    T.check({"analyze", "live", "query", "show", "states", "report", "forge", "export"} <= commands,
            "'finscope --help' commands: %s" % sorted(commands))
    analyze_opts = help_options(help_of("analyze", "--help"))
    T.check({"-o", "--output", "--replace", "-f", "--filter", "-h", "--help"} <= analyze_opts,
            "'finscope analyze --help' options: %s" % sorted(analyze_opts))
    scenarios = set(re.findall(r"^([a-z0-9_]+) ", help_of("forge", "--list"), re.M))
    T.check(len(scenarios) >= 30, "'finscope forge --list': %d scenarios" % len(scenarios))
    ifaces = set(os.listdir("/sys/class/net")) | {"any"} if os.path.isdir("/sys/class/net") else {"any"}

    with tempfile.TemporaryDirectory() as tmp:
        for name in ("a.pcap", "b.pcapng", "c.cap", "d.db", "e.txt", "f.svg", "g.html",
                     "x.expected.tsv", "o pen.pcap"):
            open(os.path.join(tmp, name), "w").close()
        os.mkdir(os.path.join(tmp, "sub"))
        cases = [
            ([fs, "an"], {"analyze"}),
            ([fs, "s"], {"show", "states"}),
            ([fs, ""], commands),
            ([fs, "-"], {"-h", "--help", "--version"}),
            ([fs, "--v"], {"--version"}),
            ([fs, "nosuch", ""], set()),
            ([fs, "analyze", "--"], {o for o in analyze_opts if o.startswith("--")}),
            ([fs, "analyze", "-"], analyze_opts),
            ([fs, "analyze", "--re"], {o for o in analyze_opts if o.startswith("--re")}),
            ([fs, "show", "--kind", ""], kinds),
            ([fs, "show", "--kind", "t"], {k for k in kinds if k.startswith("t")}),
            ([fs, "show", "--handshake", ""], handshakes),
            ([fs, "show", "--rst-cause", ""], causes),
            ([fs, "show", "--rst-cause", "d"], {"data_after_close"}),
            ([fs, "show", "--rst-cause", "=", "d"], {"data_after_close"}),
            ([fs, "show", "--kind", "="], kinds),
            ([fs, "flows", "--closer", ""], closers),
            ([fs, "flows", "--anomaly", "fin_w"], {a for a in anomalies if a.startswith("fin_w")}),
            ([fs, "states", "--state", ""], census_states),
            ([fs, "analyze", ""], {"a.pcap", "b.pcapng", "c.cap", "o pen.pcap", "sub"}),
            ([fs, "analyze", "a"], {"a.pcap"}),
            ([fs, "analyze", "-o", ""], {"d.db", "sub"}),
            ([fs, "analyze", "--linger", ""], set()),
            ([fs, "analyze", "-f", ""], set()),
            ([fs, "analyze", "-q", ""], {"a.pcap", "b.pcapng", "c.cap", "o pen.pcap", "sub"}),
            ([fs, "query", ""], {"d.db", "sub"}),
            ([fs, "query", "--csv", ""], {"d.db", "sub"}),
            ([fs, "show", "--kind", "rst", ""], {"d.db", "sub"}),
            ([fs, "show", "--svg", ""], {"f.svg", "sub"}),
            ([fs, "report", "--html", ""], {"g.html", "sub"}),
            ([fs, "report", "--capture", ""], set()),
            ([fs, "export", "--zeek", "-o", ""], set(os.listdir(tmp))),
            ([fs, "live", "-i", ""], ifaces),
            ([fs, "live", "--interface", "l"], {i for i in ifaces if i.startswith("l")}),
            ([fs, "live", ""], set()),
            ([fs, "forge", ""], scenarios | {"mix"}),
            ([fs, "forge", "four_way", "--encap", "erspan"], {"erspan1", "erspan2", "erspan3"}),
            ([fs, "forge", "four_way", "--one-side", ""], {"client", "server"}),
            ([fs, "forge", "four_way", "-o", ""], {"a.pcap", "o pen.pcap", "sub"}),
            ([fs, "forge", "four_way", "--expected", ""], {"x.expected.tsv", "sub"}),
        ]
        for (line, want), got in zip(cases, complete([c for c, _ in cases], tmp)):
            expect(line, got, want)

        # Read once per shell: a copy of the program answers, is deleted, and the same shell
        # still completes what it had read (and nothing for a command it had not).
        copy = os.path.join(tmp, "sub", "finscope")
        shutil.copy(T.FINSCOPE, copy)
        lines = [[copy, "analyze", "--"], [copy, "an"], [copy, "analyze", "--"], [copy, "an"],
                 [copy, "report", "--"]]
        got = complete(lines, tmp, remove_after=2, path=copy)
        want_long = {o for o in analyze_opts if o.startswith("--")}
        expect(lines[0], got[0], want_long)
        expect(lines[1], got[1], {"analyze"})
        expect(lines[2], got[2], want_long)
        expect(lines[3], got[3], {"analyze"})
        expect(lines[4], got[4], set())
        T.check(not os.path.exists(copy), "the program copy was removed between the completions")
    return T.summary("completion")


if __name__ == "__main__":
    sys.exit(main())
