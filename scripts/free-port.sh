#!/usr/bin/env bash
# Free TCP ports on 127.0.0.1, for scripts/services.sh and `make demo`, which move to the next
# free port when the one they like is taken.
#
#   scripts/free-port.sh PORT       print the first port from PORT upward (at most 100 tried) that
#                                   nothing accepts connections on; exit 1 if there is none
#   scripts/free-port.sh --who PORT print " (NAME, pid PID)" of the program listening on PORT, when
#                                   `ss` can tell (it may not: another user's process, no iproute2)
set -euo pipefail

in_use() { # something accepts connections on 127.0.0.1:$1 (a listener on 0.0.0.0 or [::] too)
    local rc=0
    timeout 2 bash -c ': <>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null || rc=$?
    # 0: connected. 124: no answer within 2 s, which is something there but not a free port.
    [[ $rc -eq 0 || $rc -eq 124 ]]
}

who() {
    command -v ss >/dev/null || return 0
    ss -Hltnp "( sport = :$1 )" 2>/dev/null |
        sed -nE '1s/.*users:\(\("([^"]+)",pid=([0-9]+).*/ (\1, pid \2)/p'
}

usage() {
    echo "usage: $0 PORT | --who PORT" >&2
    exit 2
}

if [[ "${1:-}" == --who ]]; then
    [[ "${2:-}" =~ ^[0-9]+$ ]] || usage
    who "$2"
    exit 0
fi
[[ "${1:-}" =~ ^[0-9]+$ ]] || usage
for ((port = $1; port < $1 + 100 && port < 65536; port++)); do
    if ! in_use "$port"; then
        echo "$port"
        exit 0
    fi
done
echo "free-port: no free port in $1..$((port - 1)) on 127.0.0.1" >&2
exit 1
