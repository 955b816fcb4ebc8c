"""The README stays true: every file it names is in the repository, the licence it states is the one in
pyproject.toml and LICENSE, every shipped runbook is in its runbook table, and no placeholder is left in it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from nxs_lab.runbooks import RUNBOOKS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

# A repository path as the README writes one: in backticks or as a link target, under a top-level folder.
_TOP = r"(?:scripts|docs|benchmarks|notebooks|nxs_lab|tests|binder|\.ci)"
_PATH = re.compile(rf"(?:`|\]\()({_TOP}/[\w./-]*[\w/])[`)]")


def test_every_file_the_readme_names_exists() -> None:
    named = {m.group(1) for m in _PATH.finditer(README)}
    named |= {f for f in ("LICENSE", "pyproject.toml", "environment.yml") if f"`{f}`" in README}
    assert len(named) > 20  # the pattern still finds the README's paths
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"README.md names files that are not in the repository: {missing}"


def test_the_readme_is_short_and_the_docs_name_only_files_that_exist() -> None:
    """The README is what a newcomer needs (the reference lives in docs/), and every file and page the docs name
    is there."""
    assert README.count("\n") <= 250
    pages = sorted((ROOT / "docs").glob("*.md"))
    assert len(pages) >= 12
    for page in pages:
        text = page.read_text(encoding="utf-8")
        missing = sorted(p for p in {m.group(1) for m in _PATH.finditer(text)} if not (ROOT / p).exists())
        links = {t for t in re.findall(r"\]\(([\w./-]+)\)", text) if "://" not in t}
        missing += sorted(t for t in links if not (page.parent / t).exists())
        assert not missing, f"{page.name} names what is not in the repository: {missing}"
    for link in re.findall(r"\]\((docs/[\w./-]+)\)", README):
        assert (ROOT / link).exists(), link


def test_the_licence_is_the_same_everywhere() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    assert "Apache-2.0 (`LICENSE`)" in README


def test_every_shipped_runbook_is_in_the_table_and_no_placeholder_is_left() -> None:
    shipped = sorted(p.name for p in RUNBOOKS.glob("*.ipynb"))
    assert shipped and all(f"| `{name}` |" in README for name in shipped), shipped
    assert "OWNER" not in README and "DESIGN.md" not in README
