#!/usr/bin/env bash
# Real-kernel test: record every loopback scenario afresh with real sockets and tcpdump, then
# check finscope's rows against what each scenario did.  Skips (exit 77) without root/tcpdump.
set -u
finscope=$1
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ] || ! command -v tcpdump >/dev/null; then
    echo "kernel: SKIP: needs root and tcpdump to capture on lo"
    exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
timeout 300 python3 "$here/record_loopback.py" "$out"
rc=$?
[ $rc = 0 ] || exit $rc
python3 "$here/../golden/check_captures.py" "$finscope" "$out"
