#!/usr/bin/env bash
# Real-kernel test in two network namespaces joined by a delaying/dropping TAP relay: record the
# timing-dependent scenarios (crossing FINs and SYNs, loss, retransmitted FINs, TIME_WAIT re-ACK,
# port reuse) afresh, then check finscope's rows against what each scenario did.
# Skips (exit 77) without root, tcpdump, network namespaces or TAP devices.
set -u
finscope=$1
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ] || ! command -v tcpdump >/dev/null || ! command -v ip >/dev/null; then
    echo "netns: SKIP: needs root, tcpdump and ip (iproute2)"
    exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
timeout 170 python3 "$here/record_netns.py" "$out"
rc=$?
[ $rc = 0 ] || exit $rc
python3 "$here/../golden/check_captures.py" "$finscope" "$out"
