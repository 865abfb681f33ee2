"""The repository's docs stand alone: no pointer to design notes outside it, no dead links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SKIPPED = {".venv", ".git", ".mypy_cache", ".ruff_cache", "node_modules", "var", "third_party"}
TEXT = {".py", ".md", ".yaml", ".yml", ".toml", ".sql", ".proto", ".sh", ".txt", ".cfg"}
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def repository_files() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*")
        if path.is_file()
        and path.suffix in TEXT
        and not SKIPPED.intersection(path.relative_to(ROOT).parts)
        and "libs/stubs/src" not in path.as_posix()
    )


def test_nothing_points_at_design_notes_outside_the_repository() -> None:
    outside = re.compile(r"DESIGN\.md|STYLE\.md|ANCHORS\.md|/work/shared")
    offenders = [
        str(path.relative_to(ROOT))
        for path in repository_files()
        if path != Path(__file__) and outside.search(path.read_text(errors="replace"))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "page",
    [p.relative_to(ROOT) for p in repository_files() if p.suffix == ".md"],
    ids=str,
)
def test_relative_links_in_the_docs_resolve(page: Path) -> None:
    text = (ROOT / page).read_text()
    dead = [
        target
        for target in LINK.findall(text)
        if "://" not in target
        and not target.startswith("mailto:")
        and not (ROOT / page).parent.joinpath(target).exists()
    ]
    assert dead == []
