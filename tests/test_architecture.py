"""The house keeps its shape: import contracts hold, functions fit in a head, each fact has one home."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nxs_lab"
BIN = Path(sys.executable).parent


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_import_contracts_hold() -> None:
    """The core never imports ui/, testing/ or the CLI; resilience/ never touches HTTP; adapters know no client."""
    lint = BIN / "lint-imports"
    if not lint.exists():
        pytest.skip("import-linter is not installed (pip install 'nxs_lab[dev]')")
    out = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_the_layers_contract_catches_an_import_back_up(tmp_path: Path) -> None:
    """The check can fail: a copy of the package whose client reaches up into context, even inside a function
    (as it once did for token counting), breaks the layers contract."""
    import shutil

    lint = BIN / "lint-imports"
    if not lint.exists():
        pytest.skip("import-linter is not installed (pip install 'nxs_lab[dev]')")
    shutil.copytree(PACKAGE, tmp_path / "nxs_lab", ignore=shutil.ignore_patterns("__pycache__", "notebooks"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    catalog = tmp_path / "nxs_lab" / "client" / "catalog.py"
    catalog.write_text(
        catalog.read_text(encoding="utf-8") + "\n\ndef _up() -> None:\n    from ..context import budget  # noqa\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([str(lint), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode != 0
    assert "nxs_lab.client is not allowed to import nxs_lab.context" in out.stdout
    assert "nxs_lab.client.catalog -> nxs_lab.context.budget" in out.stdout


def test_no_function_over_sixty_lines() -> None:
    long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > 60:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def test_every_error_raised_on_purpose_is_in_the_tree() -> None:
    """No exception class is defined outside errors.py except in the fault kit (which is not the runtime)."""
    import nxs_lab.errors as errors

    outside = []
    for path in _sources():
        if path.name == "errors.py" or "testing" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and (b.id.endswith(("Error", "Exception")) or b.id in errors.__all__)
                for b in node.bases
            ):
                outside.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert outside == []
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.NxsLabError), name
        assert name in (errors.__doc__ or ""), f"{name} is not drawn in the tree in errors.py's docstring"


@pytest.mark.parametrize(
    ("fact", "pattern", "home"),
    [
        ("server default ports", r"\b(1234|11434|9931)\b", {"defaults.py"}),
        ("the Tailscale range", r"100\.64\.0\.0/10", {"_net.py"}),
        ("loopback / private classification", r"\.is_loopback\b|\.is_private\b", {"_net.py"}),
        ("GGUF type tables", r"LLAMA_FTYPE_|GGML_TYPES", set()),
    ],
)
def test_one_home_per_fact(fact: str, pattern: str, home: set[str]) -> None:
    rx = re.compile(pattern)
    found = set()
    for path in _sources():
        for line in path.read_text(encoding="utf-8").splitlines():
            code = line.split("#", 1)[0]
            if rx.search(code) and not code.strip().startswith(('"""', "'''", ">>>")):
                found.add(path.name)
    # docstrings and examples may cite a port; code may not
    stray = {f for f in found if f not in home and not _only_in_docs(f, rx)}
    assert stray == set(), f"{fact} stated outside {sorted(home) or 'the gguf package'}: {sorted(stray)}"


def _only_in_docs(name: str, rx: re.Pattern[str]) -> bool:
    """True when every match in the file sits inside a string literal (a docstring, a help text, a table)."""
    for path in PACKAGE.rglob(name):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        strings = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        text = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(text, 1):
            code = line.split("#", 1)[0]
            if rx.search(code) and not any(s.lineno <= i <= (s.end_lineno or s.lineno) for s in strings):
                return False
    return True


def test_the_readme_layout_is_the_tree() -> None:
    """Every capability folder (and the runbooks' folder) is named in the README's layout section, and nothing
    the tree lacks."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    folders.add("notebooks")  # data, not a package: the runbooks shipped with the kit
    named = set(re.findall(r"^[│├└]── ([a-z_]+)/", section, flags=re.M))
    assert named == folders
