#!/usr/bin/env python3
"""`meson install` into a DESTDIR installs exactly the program, the man pages, the bash
completion and docs/schema.md, and the Debian packaging names this build's version.

    check_install.py FINSCOPE BUILDDIR SOURCEDIR VERSION

Runs `meson install --no-rebuild --destdir TMP` on the build directory under test and
compares the files installed with the exact list expected from its prefix, bindir, mandir
and datadir; the installed program runs (--version) and the man pages and completion are
the source files byte for byte.  Skipped, with a message, when meson is not in PATH.
"""
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import checklib as T


def main():
    T.FINSCOPE = sys.argv[1]
    build, source, version = sys.argv[2], sys.argv[3], sys.argv[4]
    mandir_src = os.path.join(source, "docs", "man")
    pages = sorted(f for f in os.listdir(mandir_src) if f.endswith(".1"))
    T.check(len(pages) == 10, "docs/man holds %d pages: %s" % (len(pages), pages))

    # The Debian packaging's version is the build's (debian/changelog, native package).
    with open(os.path.join(source, "debian", "changelog"), encoding="utf-8") as f:
        top = f.readline()
    m = re.match(r"^finscope \(([^)]+)\) ", top)
    T.check(m and m.group(1) == version, "debian/changelog's first entry is %r, not version %s"
            % (top.strip(), version))
    with open(os.path.join(source, "debian", "source", "format"), encoding="utf-8") as f:
        T.check(f.read() == "3.0 (native)\n", "debian/source/format is not '3.0 (native)'")

    meson = shutil.which("meson")
    if not meson:
        print("SKIP: meson install: meson is not in PATH")
        return T.summary("install")
    r = subprocess.run([meson, "introspect", "--buildoptions", build], capture_output=True,
                       text=True, timeout=60)
    if not T.check(r.returncode == 0, "meson introspect: %s" % r.stderr.strip()):
        return T.summary("install")
    opt = {o["name"]: o["value"] for o in json.loads(r.stdout)}
    prefix = opt["prefix"]

    def under_prefix(d):
        return d if os.path.isabs(d) else os.path.join(prefix, d)

    bindir, mandir, datadir = (under_prefix(opt[k]) for k in ("bindir", "mandir", "datadir"))
    want = {os.path.join(bindir, "finscope"),
            os.path.join(datadir, "bash-completion", "completions", "finscope"),
            os.path.join(datadir, "doc", "finscope", "schema.md")}
    want |= {os.path.join(mandir, "man1", p) for p in pages}

    with tempfile.TemporaryDirectory() as dest:
        r = subprocess.run([meson, "install", "-C", build, "--no-rebuild", "--destdir", dest,
                            "--quiet"], capture_output=True, text=True, timeout=240)
        if not T.check(r.returncode == 0, "meson install --destdir: status %d: %s%s"
                       % (r.returncode, r.stdout[-2000:], r.stderr[-2000:])):
            return T.summary("install")
        got = set()
        for root, _, files in os.walk(dest):
            got |= {"/" + os.path.relpath(os.path.join(root, f), dest) for f in files}
        T.check(got == want, "installed files: missing %s, extra %s"
                % (sorted(want - got), sorted(got - want)))

        def dest_path(p):
            return dest + p

        exe = dest_path(os.path.join(bindir, "finscope"))
        r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
        T.check(r.returncode == 0 and r.stdout == "finscope %s\n" % version,
                "installed finscope --version: status %d, %r" % (r.returncode, r.stdout))
        T.check(os.access(exe, os.X_OK), "installed finscope is not executable")
        for p in pages:
            installed = dest_path(os.path.join(mandir, "man1", p))
            T.check(os.path.isfile(installed) and
                    filecmp.cmp(installed, os.path.join(mandir_src, p), shallow=False),
                    "installed %s differs from docs/man/%s" % (installed, p))
        comp = dest_path(os.path.join(datadir, "bash-completion", "completions", "finscope"))
        T.check(os.path.isfile(comp) and
                filecmp.cmp(comp, os.path.join(source, "completions", "finscope"), shallow=False),
                "installed completion differs from completions/finscope")
        # man finds the installed pages by name on a MANPATH (man-db; skipped without man).
        man = shutil.which("man")
        if man:
            env = dict(os.environ, MANPATH=dest_path(mandir), MANWIDTH="80")
            r = subprocess.run([man, "-w", "finscope-analyze"], capture_output=True, text=True,
                               timeout=60, env=env)
            T.check(r.stdout.strip() == dest_path(os.path.join(mandir, "man1", "finscope-analyze.1")),
                    "man -w finscope-analyze on the installed MANPATH: %r %r" % (r.stdout, r.stderr))
        else:
            print("SKIP: man -w: man is not installed")
    return T.summary("install")


if __name__ == "__main__":
    sys.exit(main())
