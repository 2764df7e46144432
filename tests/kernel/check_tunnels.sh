#!/usr/bin/env bash
# Real-kernel test: TCP through a VXLAN tunnel between two network namespaces, recorded on the
# underlay (encapsulated, outer datagrams fragmented by the kernel) and on the tunnel device
# (bare); finscope's rows for both captures must equal what the sockets did.
# Skips (exit 77) without root, tcpdump, network namespaces or a kernel that creates vxlan links.
set -u
finscope=$1
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ] || ! command -v tcpdump >/dev/null || ! command -v ip >/dev/null; then
    echo "tunnels: SKIP: needs root, tcpdump and ip (iproute2)"
    exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
timeout 90 python3 "$here/record_tunnels.py" "$out"
rc=$?
[ $rc = 0 ] || exit $rc
python3 "$here/../golden/check_captures.py" "$finscope" "$out"
