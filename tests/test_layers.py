"""The architecture, enforced: layers import downward only; sickle only in harvesting,
Prefect only in flows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"schemas", "harvesting", "warehouse", "web", "flows", "provider"}
#: package -> our packages it may import
ALLOWED = {
    "schemas": {"schemas"},
    "harvesting": {"schemas", "harvesting"},
    "warehouse": {"schemas", "warehouse"},
    "web": {"schemas", "warehouse", "web"},
    "provider": {"provider"},
    "flows": OURS,
}
#: third-party module -> the only package that may import it
EXCLUSIVE = {"sickle": "harvesting", "prefect": "flows", "duckdb": "warehouse",
             "starlette": "web", "uvicorn": "web", "jinja2": "web"}  # fmt: skip


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


MODULES = sorted(p for package in OURS for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_imports_respect_the_layers(path: Path) -> None:
    package = path.relative_to(ROOT).parts[0]
    found = imports(path)
    assert found & OURS <= ALLOWED[package]
    for module, owner in EXCLUSIVE.items():
        assert module not in found or package == owner, f"{module} imported outside {owner}/"


def test_only_one_module_talks_to_sickle() -> None:
    users = [p.name for p in MODULES if "sickle" in imports(p)]
    assert users == ["client.py"]
