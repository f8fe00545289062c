"""Check an installed fastscheduler, as a user would get it (make test-sdist; the release workflow).

    python scripts/check_install.py

Run with the Python of the environment to check (make test-sdist runs it under scripts/clean-env.sh,
so no checkout is importable). It checks that the version is one everywhere:
fastscheduler.__version__, fastscheduler._core.__version__, the installed distribution's metadata,
`fastscheduler --version` and the Cargo workspace version of this checkout agree; and that the
extension works: a cron fire time in a DST gap, from the bundled tz database. Exits 1 naming each
disagreement. The same agreement is tested by tests/test_version.py in the pytest suite.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import sysconfig
from datetime import datetime, timezone

from check_wheel import pep440, workspace_version  # scripts/ is sys.path[0]


def main() -> int:
    import fastscheduler
    import fastscheduler._core
    from fastscheduler import CronExpr

    cargo = workspace_version()
    # The console script of this environment (bin/, or Scripts\\ on Windows), not one on PATH.
    scripts = sysconfig.get_path("scripts")
    script = shutil.which("fastscheduler", path=scripts)
    if script is None:
        print(f"check_install: no `fastscheduler` command in {scripts}", file=sys.stderr)
        return 1
    cli = subprocess.run([script, "--version"], capture_output=True, text=True, check=True).stdout.split()
    seen = {
        "Cargo.toml [workspace.package] version": cargo,
        "fastscheduler.__version__": fastscheduler.__version__,
        "fastscheduler._core.__version__": fastscheduler._core.__version__,
        "importlib.metadata.version('fastscheduler')": importlib.metadata.version("fastscheduler"),
        f"{script} --version": cli[1] if len(cli) > 1 and cli[0] == "fastscheduler" else " ".join(cli),
    }
    for where, version in seen.items():
        print(f"check_install: {where}: {version}")
    failed = len({pep440(v) if v[:1].isdigit() else v for v in seen.values()}) != 1  # 0.4.0-rc.1 = 0.4.0rc1
    if failed:
        print("check_install: the versions disagree", file=sys.stderr)

    # 02:30 does not exist in Berlin on 2026-03-29 (clocks go 02:00 -> 03:00): a fixed-time job
    # runs right after the gap, at 03:00 CEST = 01:00 UTC.
    fire = CronExpr("30 2 * * *", tz="Europe/Berlin").next(datetime(2026, 3, 29, tzinfo=timezone.utc))
    expected = datetime(2026, 3, 29, 1, tzinfo=timezone.utc)
    print(f"check_install: next 02:30 Berlin after 2026-03-29T00:00Z is {fire.isoformat()}")
    if fire != expected:
        print(f"check_install: expected {expected.isoformat()}", file=sys.stderr)
        failed = True
    print(f"check_install: fastscheduler {fastscheduler.__version__} from {fastscheduler.__file__}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
