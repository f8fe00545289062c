"""Check built wheels before anyone installs them (make wheel, make test, the release workflow).

    python scripts/check_wheel.py WHEEL...

For each Linux wheel:
- `auditwheel show` must give the policy we promise: manylinux_2_17_<arch> (= manylinux2014) for a
  glibc wheel, musllinux_1_2_<arch> for a musl wheel; the file name must carry that tag.
- The GLIBC symbol versions its extension modules need, read from their ELF version-needs section
  (what `readelf --version-info` prints), must be none newer than 2.17: the dynamic loader of an
  older glibc refuses a module that needs a newer one, whatever the tag says.
- The version in its name must be the Cargo workspace version, the one place it is written.
macOS and Windows wheels are listed and skipped: auditwheel is for Linux only.

Exits 1 naming each problem. Needs auditwheel (`pip install --group wheel`) for Linux wheels; the
ELF reader below is plain Python, so tests/test_wheel.py can use it in a venv without auditwheel.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

MANYLINUX_GLIBC = (2, 17)
MUSLLINUX = "musllinux_1_2"
SHT_GNU_VERNEED = 0x6FFFFFFE
ROOT = Path(__file__).resolve().parents[1]


def workspace_version(cargo_toml: Path = ROOT / "Cargo.toml") -> str:
    """The version, as written in its one place: [workspace.package] in the root Cargo.toml."""
    match = re.search(
        r'^\[workspace\.package\][^\[]*?^version\s*=\s*"([^"]+)"', cargo_toml.read_text(), re.M | re.S
    )
    if match is None:
        raise ValueError(f"no [workspace.package] version in {cargo_toml}")
    return match.group(1)


def pep440(version: str) -> str:
    """A Cargo (SemVer) version as maturin writes it into the wheel: 0.4.0-rc.1 -> 0.4.0rc1.

    Idempotent: a version already in that form is returned as it is.
    """
    match = re.fullmatch(r"(\d+\.\d+\.\d+)(?:-?(alpha|beta|rc|a|b)\.?(\d+))?", version)
    if match is None:
        raise ValueError(f"version {version!r}: use X.Y.Z or X.Y.Z-{{alpha,beta,rc}}.N (docs/releasing.md)")
    release, pre, number = match.groups()
    return release + ({"alpha": "a", "beta": "b"}.get(pre, pre) + number if pre else "")


def elf_version_needs(data: bytes) -> dict[str, set[str]]:
    """The symbol versions an ELF file needs, by library: {"libc.so.6": {"GLIBC_2.14", ...}}.

    Read from the SHT_GNU_verneed section, as `readelf --version-info` does. {} for an ELF file
    without one (a musl or static build); ValueError for data that is not ELF.
    """
    if data[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        shoff, shentsize, shnum, _ = struct.unpack_from(end + "Q10xHHH", data, 0x28)
        shdr = end + "IIQQQQIIQQ"
    else:
        shoff, shentsize, shnum, _ = struct.unpack_from(end + "I10xHHH", data, 0x20)
        shdr = end + "IIIIIIIIII"
    sections = [struct.unpack_from(shdr, data, shoff + i * shentsize) for i in range(shnum)]
    needs: dict[str, set[str]] = {}
    for _name, sh_type, _flags, _addr, offset, _size, link, info, _align, _entsize in sections:
        if sh_type != SHT_GNU_VERNEED:
            continue
        strtab = sections[link][4]

        def string(at: int, strtab: int = strtab) -> str:
            start = strtab + at
            return data[start : data.index(b"\0", start)].decode()

        entry = offset
        for _ in range(info):
            _version, count, file, aux, next_entry = struct.unpack_from(end + "HHIII", data, entry)
            versions = needs.setdefault(string(file), set())
            at = entry + aux
            for _ in range(count):
                _hash, _flags2, _other, name, next_aux = struct.unpack_from(end + "IHHII", data, at)
                versions.add(string(name))
                at += next_aux
            entry += next_entry
    return needs


def glibc_versions(needs: dict[str, set[str]]) -> set[tuple[int, ...]]:
    """The GLIBC_x.y[.z] versions among an elf_version_needs() result, as tuples."""
    return {
        tuple(int(part) for part in version.removeprefix("GLIBC_").split("."))
        for versions in needs.values()
        for version in versions
        if re.fullmatch(r"GLIBC_\d+(\.\d+)+", version)
    }


def wheel_glibc_needs(wheel: Path) -> dict[str, set[tuple[int, ...]]]:
    """For each ELF file in a wheel (extension modules, bundled libraries): its GLIBC versions."""
    found = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(".so") or ".so." in name.rsplit("/", 1)[-1]:
                found[name] = glibc_versions(elf_version_needs(archive.read(name)))
    return found


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def check(wheel: Path, version: str) -> list[str]:
    """The problems of one wheel ([] when it is what we promise); prints what it checked."""
    # name-version-python-abi-platform.whl; the platform part may be several tags joined by dots.
    parts = wheel.name.removesuffix(".whl").split("-")
    problems = []
    if parts[1] != pep440(version):
        problems.append(f"version {parts[1]} in the file name, but the Cargo workspace version is {version}")
    platforms = parts[-1].split(".")
    if not any(p.startswith(("manylinux", "musllinux", "linux")) for p in platforms):
        print(f"{wheel.name}: not a Linux wheel, no auditwheel check")
        return problems
    arch = re.sub(r"^(manylinux_\d+_\d+|musllinux_\d+_\d+|manylinux\d+|linux)_", "", platforms[0])
    musl = any(p.startswith("musllinux") for p in platforms)
    policy = f"{MUSLLINUX}_{arch}" if musl else "manylinux_{}_{}_{}".format(*MANYLINUX_GLIBC, arch)
    if policy not in platforms:
        problems.append(f"platform tags {'.'.join(platforms)} do not include {policy}")

    shown = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", "--json", str(wheel)], capture_output=True, text=True
    )
    if shown.returncode != 0:
        last = (shown.stderr.strip().splitlines() or ["no message"])[-1]
        problems.append(f"auditwheel show failed: {last}")
    else:
        report = json.loads(shown.stdout)
        print(
            f"{wheel.name}: auditwheel policy {report['overall_tag']} (symbols: {report['sym_tag']}); "
            f"external libraries {sorted(report['external_libs']) or 'none'}"
        )
        if report["overall_tag"] != policy:
            upgrades = report["policy_upgrades"]
            hint = f" (libraries to eliminate: {upgrades})" if upgrades else ""
            problems.append(f"auditwheel gives {report['overall_tag']}, not {policy}{hint}")

    for name, needs in wheel_glibc_needs(wheel).items():
        newest = max(needs, default=None)
        listed = " ".join(_dotted(v) for v in sorted(needs)) or "none"
        print(f"  {name}: GLIBC versions needed: {listed}")
        if musl and needs:
            problems.append(f"{name} is in a musl wheel but needs glibc symbols ({listed})")
        elif newest is not None and newest > MANYLINUX_GLIBC:
            problems.append(f"{name} needs GLIBC_{_dotted(newest)}, newer than {_dotted(MANYLINUX_GLIBC)}")
    return problems


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    version = workspace_version()
    failed = False
    for arg in argv:
        if not Path(arg).is_file():
            print(f"check_wheel: no wheel {arg}", file=sys.stderr)
            failed = True
            continue
        for problem in check(Path(arg), version):
            print(f"check_wheel: {Path(arg).name}: {problem}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
