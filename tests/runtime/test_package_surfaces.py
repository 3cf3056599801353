"""Honest package surfaces, read from the source: every package has an ``__init__.py``, imports of
another package use its public names (no ``retouch.<other>._private``), and every module a
package imports is declared in its own ``pyproject.toml`` (dependencies or an extra)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = sorted([*ROOT.glob("packages/*/pyproject.toml"), ROOT / "apps/local/pyproject.toml"])


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            if node.module in ("retouch.sdk", "retouch.runtime"):
                names.extend(f"{node.module}.{alias.name}" for alias in node.names if alias.name.startswith("_"))
    return names


def _own(pyproject: Path) -> tuple[str, Path]:
    """The distribution's name and its ``retouch.<name>`` source folder."""
    name = tomllib.loads(pyproject.read_text())["project"]["name"]
    return name, next((pyproject.parent / "src" / "retouch").iterdir())


@pytest.mark.parametrize("pyproject", PROJECTS, ids=lambda p: p.parent.name)
def test_every_package_folder_has_an_init(pyproject: Path) -> None:
    _, package = _own(pyproject)
    folders = [package, *(d for d in package.rglob("*") if d.is_dir() and d.name != "__pycache__")]
    assert [str(d) for d in folders if not (d / "__init__.py").exists()] == []


@pytest.mark.parametrize("pyproject", PROJECTS, ids=lambda p: p.parent.name)
def test_no_private_names_of_another_package(pyproject: Path) -> None:
    _, package = _own(pyproject)
    mine = f"retouch.{package.name}"
    wrong = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in package.rglob("*.py")
        for name in _imports(path)
        if name.startswith("retouch.")
        and not name.startswith(mine + ".")
        and any(part.startswith("_") and part != "__about__" for part in name.split(".")[2:])
    }
    assert sorted(wrong) == []


@pytest.mark.parametrize("pyproject", PROJECTS, ids=lambda p: p.parent.name)
def test_every_import_is_declared_by_its_package(pyproject: Path) -> None:
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = [*project.get("dependencies", [])]
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    declared = {_norm(re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0]) for requirement in requirements}
    distributions = packages_distributions()
    name, package = _own(pyproject)
    undeclared: set[str] = set()
    for path in package.rglob("*.py"):
        for module in _imports(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if top == "retouch":
                dist = "retouch-" + module.split(".")[1].replace("_", "-")
                if dist != name and _norm(dist) not in declared:
                    undeclared.add(f"{dist} ({path.relative_to(ROOT)})")
                continue
            candidates = distributions.get(top, [top])
            if not any(_norm(dist) in declared for dist in candidates):
                undeclared.add(f"{'/'.join(candidates)} ({path.relative_to(ROOT)})")
    assert sorted(undeclared) == []


@pytest.mark.parametrize("pyproject", PROJECTS, ids=lambda p: p.parent.name)
def test_all_is_declared_once_at_the_top(pyproject: Path) -> None:
    _, package = _own(pyproject)
    late = []
    for path in package.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == "__all__":
                late.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert late == [], "list these names in the module's __all__ at its top instead of __all__ +="
