"""The ``pip install`` lines of README.md and docs/*.md work when pasted into a shell.

Each line of a fenced shell block that runs ``pip install`` is split into words as bash splits it
(a ``#`` starts a comment only at the start of a word), and every argument that is not an option
must be a requirement (PEP 508) of which the fastscheduler ones name only extras the installed
distribution provides and admit the installed version but not 0.2.1 - the pure-Python original
that a bare ``pip install fastscheduler`` still gets from PyPI until this version is published.
Offline: the installed distribution's metadata is the reference (the wheel, under make test).
"""

from __future__ import annotations

import re
import shlex
from importlib.metadata import metadata, version
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}
OLD_RELEASE = "0.2.1"


def install_lines() -> list[tuple[str, str]]:
    """``(file:line, command)`` for every ``pip install`` line in a fenced shell block."""
    found = []
    for doc in DOCS:
        fence: str | None = None  # the open block's language, None outside blocks
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            text = line.strip()
            if text.startswith("```"):
                fence = text[3:].strip().lower() if fence is None else None
            elif fence in SHELL_FENCES:
                command = text.removeprefix("$ ")
                if re.match(r"(python3? -m )?pip install\b", command):
                    found.append((f"{doc.relative_to(ROOT)}:{number}", command))
    return found


def shell_words(command: str) -> list[str]:
    """The words bash gives the command: POSIX quoting, up to a word that starts a comment.
    (shlex's own comment handling would also cut ``"x"# y`` at the ``#``; bash does not.)"""
    lexer = shlex.shlex(command, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    words = list(lexer)
    comment = next((i for i, word in enumerate(words) if word.startswith("#")), len(words))
    return words[:comment]


LINES = install_lines()


def test_install_lines_are_found() -> None:
    assert any(where.startswith("README.md:") for where, _ in LINES), "no pip install line in README.md"


def test_shell_words_split_as_bash_does() -> None:
    assert shell_words('pip install "fastscheduler[fastapi]>=0.3"  # + fastapi') == [
        "pip",
        "install",
        "fastscheduler[fastapi]>=0.3",
    ]
    assert shell_words('pip install "fastscheduler[database]"# + sqlmodel') == [
        "pip",
        "install",
        "fastscheduler[database]#",
        "+",
        "sqlmodel",
    ]


@pytest.mark.parametrize(("where", "command"), LINES, ids=[where for where, _ in LINES])
def test_install_line(where: str, command: str) -> None:
    words = shell_words(command)
    arguments = words[words.index("install") + 1 :]
    requirements = []
    for argument in arguments:
        if argument.startswith("-"):
            continue
        try:
            requirements.append(Requirement(argument))
        except InvalidRequirement as exc:
            pytest.fail(f"{where}: {argument!r} is not a requirement ({exc}) in: {command}")
    ours = [r for r in requirements if canonicalize_name(r.name) == "fastscheduler"]
    assert ours, f"{where}: installs no fastscheduler: {command}"
    installed = version("fastscheduler")
    extras = {canonicalize_name(e) for e in metadata("fastscheduler").get_all("Provides-Extra") or []}
    for requirement in ours:
        unknown = {canonicalize_name(e) for e in requirement.extras} - extras
        assert not unknown, f"{where}: no extra {sorted(unknown)} (there are {sorted(extras)}): {command}"
        assert requirement.specifier.contains(installed, prereleases=True), (
            f"{where}: {requirement} excludes the installed version {installed}: {command}"
        )
        assert not requirement.specifier.contains(OLD_RELEASE, prereleases=True), (
            f"{where}: {requirement} would install the old {OLD_RELEASE} from PyPI: {command}"
        )
