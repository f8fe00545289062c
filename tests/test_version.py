"""One version (issue 17): written once, as ``version`` in ``[workspace.package]`` of Cargo.toml.

Both crates inherit it (``version.workspace = true``), maturin writes it into the wheel's metadata
(pyproject.toml declares ``dynamic = ["version"]``), the extension exports it as
``_core.__version__`` (``CARGO_PKG_VERSION``), ``fastscheduler.__version__`` re-exports that, and
``fastscheduler --version`` prints it. A Cargo pre-release ``0.4.0-rc.1`` is ``0.4.0rc1`` in the
metadata (PEP 440), so versions are compared in that form. The release steps: docs/releasing.md.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import fastscheduler
import fastscheduler._core

ROOT = Path(__file__).resolve().parent.parent


def _check_wheel() -> ModuleType:
    """scripts/check_wheel.py, which reads the workspace version for make wheel and make test-sdist."""
    spec = importlib.util.spec_from_file_location("check_wheel", ROOT / "scripts" / "check_wheel.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_wheel = _check_wheel()
VERSION: str = check_wheel.workspace_version()
PEP440: str = check_wheel.pep440(VERSION)


def test_every_place_shows_the_cargo_workspace_version() -> None:
    scripts = Path(sysconfig.get_path("scripts"))
    script = scripts / ("fastscheduler.exe" if sys.platform == "win32" else "fastscheduler")
    assert script.exists(), f"no console script {script}"
    cli = subprocess.run([script, "--version"], capture_output=True, text=True, check=True).stdout
    assert re.fullmatch(rf"fastscheduler {re.escape(VERSION)} \(tz database \S+\)\n", cli), cli
    assert fastscheduler.__version__ == VERSION
    assert fastscheduler._core.__version__ == VERSION
    assert importlib.metadata.version("fastscheduler") == PEP440


def test_the_version_is_written_once() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    project = pyproject.split("\n[project]\n", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^dynamic = \[[^]]*"version"', project, re.M), "pyproject: dynamic version"
    assert not re.search(r"^version\s*=", project, re.M), "pyproject.toml [project] writes a version"
    for crate in sorted((ROOT / "rust").glob("*/Cargo.toml")):
        if "fuzz" in crate.parts:
            continue
        text = crate.read_text()
        assert "version.workspace = true" in text, f"{crate.relative_to(ROOT)}: version not inherited"
    for module in sorted((ROOT / "python" / "fastscheduler").rglob("*.py")):
        assert not re.search(r"^__version__\s*=", module.read_text(), re.M), module
    # Cargo rewrites the lock file on the next build after a bump; a release builds with --locked.
    lock = (ROOT / "Cargo.lock").read_text()
    for name in ("fastscheduler-core", "fastscheduler-py"):
        assert f'name = "{name}"\nversion = "{VERSION}"\n' in lock, f"Cargo.lock: {name} is not {VERSION}"


def test_the_changelog_starts_with_this_version() -> None:
    headings = re.findall(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    released = [h for h in headings if h.lower() != "unreleased"]
    assert released, "CHANGELOG.md has no version section"
    assert released[0] == VERSION, f"CHANGELOG.md's newest section is {released[0]}, the version is {VERSION}"


def test_pep440_form_of_cargo_versions() -> None:
    assert [check_wheel.pep440(v) for v in ("0.3.0", "0.4.0-rc.1", "1.0.0-beta.2", "1.0.0-alpha.1")] == [
        "0.3.0",
        "0.4.0rc1",
        "1.0.0b2",
        "1.0.0a1",
    ]
    assert check_wheel.pep440("0.4.0rc1") == "0.4.0rc1"
