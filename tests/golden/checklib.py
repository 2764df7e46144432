"""checklib.py - what the check_*.py scripts share: counting checks and running finscope.

    import checklib as T
    T.FINSCOPE = sys.argv[1]
    T.check(r.returncode == 0, "what was expected")
    return T.summary("name")
"""
import os
import subprocess

FINSCOPE = None
passed = failed = 0


def check(cond, what):
    """Count one assertion; print what failed (the run goes on, so one run shows every failure)."""
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: %s" % what)
    return bool(cond)


def run(*args, timeout=120, text=False, stdin=None, env=None, prefix=()):
    """finscope ARGS..., output captured; prefix runs it under another program (e.g. setpriv)."""
    return subprocess.run(list(prefix) + [os.path.abspath(FINSCOPE)] + list(args), capture_output=True,
                          text=text, timeout=timeout, stdin=stdin, env=env)


def summary(name):
    """Print the tally; the exit status for the test runner."""
    print("%s: %d passed, %d failed" % (name, passed, failed))
    return 1 if failed else 0
