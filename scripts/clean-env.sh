#!/usr/bin/env bash
# Run a command as a user of the built wheel would (make test-wheel): in the virtual environment
# VENV, under `env -i` with a PATH that has no Rust toolchain, after checking that cargo and rustc
# are not found and that `fastscheduler` imports from VENV (not from a checkout or .venv).
#
#   scripts/clean-env.sh VENV COMMAND...
#
# Passed through: HOME, CI, and every FASTSCHEDULER_* variable (the test servers' URLs and
# directory, FASTSCHEDULER_SKIP_*_TESTS, test sizes and seeds).
set -euo pipefail
[[ $# -ge 2 && -x "$1/bin/python" ]] || {
    echo "usage: $0 VENV COMMAND... (VENV: a virtual environment)" >&2
    exit 2
}
venv="$(cd "$1" && pwd)"
shift
keep=(HOME="$HOME" PATH="$venv/bin:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 CI="${CI:-}"
    VIRTUAL_ENV="$venv" PYTHONNOUSERSITE=1)
for name in $(compgen -e); do
    [[ "$name" == FASTSCHEDULER_* ]] && keep+=("$name=${!name}")
done
# shellcheck disable=SC2016 # $@ and $1 belong to the inner shell
exec env -i "${keep[@]}" bash -c '
    set -euo pipefail
    for tool in cargo rustc; do
        if command -v "$tool" >/dev/null; then
            echo "clean-env: $tool is on PATH ($(command -v "$tool")): not a clean environment" >&2
            exit 1
        fi
    done
    python - "$VIRTUAL_ENV" <<"EOF"
import sys, fastscheduler._core as core
if not core.__file__.startswith(sys.argv[1] + "/"):
    sys.exit(f"clean-env: fastscheduler._core is {core.__file__}, not from {sys.argv[1]}")
print(f"clean-env: fastscheduler {core.__version__} from {core.__file__}", file=sys.stderr)
EOF
    exec "$@"
' clean-env "$@"
