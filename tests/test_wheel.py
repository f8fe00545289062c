"""The wheel users get (issue 17): make test installs the abi3 manylinux2014 wheel that `make wheel`
builds with zig, and its extension needs no glibc newer than 2.17, so pip takes it on Ubuntu 20.04,
Debian 11, RHEL 8, Amazon Linux 2 and every other glibc Linux since 2014 instead of building the
sdist. make wheel also runs auditwheel on it (scripts/check_wheel.py); these tests look at what is
installed. Against an editable build (make test-python) the wheel tests skip.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import fastscheduler._core

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = Path(fastscheduler._core.__file__)


def _check_wheel() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_wheel", ROOT / "scripts" / "check_wheel.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_wheel = _check_wheel()


def _installed_wheel() -> tuple[str, list[str]]:
    """The file name of the wheel fastscheduler was installed from and its WHEEL tags, or a skip."""
    dist = importlib.metadata.distribution("fastscheduler")
    url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    if not url.endswith(".whl"):
        pytest.skip(f"fastscheduler is not installed from a wheel file here ({url or 'no direct_url'})")
    tags = re.findall(r"^Tag: (\S+)$", dist.read_text("WHEEL") or "", re.M)
    return url.rsplit("/", 1)[-1], tags


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc Linux")
def test_the_installed_wheel_is_abi3_manylinux2014() -> None:
    name, tags = _installed_wheel()
    machine = platform.machine()
    assert f"cp310-abi3-manylinux_2_17_{machine}" in tags, (name, tags)
    assert f"cp310-abi3-manylinux2014_{machine}" in tags, (name, tags)


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc Linux")
def test_the_installed_extension_needs_no_glibc_newer_than_2_17() -> None:
    _installed_wheel()
    needed = check_wheel.glibc_versions(check_wheel.elf_version_needs(EXTENSION.read_bytes()))
    assert needed, f"no GLIBC symbol versions read from {EXTENSION}"
    assert max(needed) <= (2, 17), sorted(needed)


@pytest.mark.skipif(shutil.which("readelf") is None, reason="no readelf (binutils)")
def test_the_elf_reader_agrees_with_readelf() -> None:
    """scripts/check_wheel.py reads symbol versions itself (it gates make wheel): the same as binutils."""
    if EXTENSION.read_bytes()[:4] != b"\x7fELF":
        pytest.skip("not an ELF extension")
    out = subprocess.run(
        ["readelf", "--version-info", "--wide", str(EXTENSION)], capture_output=True, text=True, check=True
    ).stdout
    # Version needs section: "  0x0010: Version: 1  File: libc.so.6  Cnt: 6" then "Name: GLIBC_2.14 ..."
    expected: dict[str, set[str]] = {}
    needs = out.split(".gnu.version_r", 1)[1] if ".gnu.version_r" in out else ""
    current = None
    for line in needs.splitlines():
        if match := re.search(r"File: (\S+)", line):
            current = expected.setdefault(match.group(1), set())
        elif (match := re.search(r"Name: (\S+)", line)) and current is not None:
            current.add(match.group(1))
    assert check_wheel.elf_version_needs(EXTENSION.read_bytes()) == expected
