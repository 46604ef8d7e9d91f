"""Every third-party module the packages import is declared in ``pyproject.toml``.

Why: the test venv holds the ``dev`` extra, which brings far more than a user's ``pip install``
(trio brings sniffio, for one), so an undeclared import passes every other test and fails on a
user's machine. anyio 4.12 stopped requiring sniffio and the SDK broke on fresh installs that
way. Checked from the source: the unguarded imports of ``rocketmq_py`` and ``broker`` must be
core dependencies; those of ``integrations`` core dependencies or one of the extras. Imports
under ``try: ... except ImportError`` (optional speed-ups) and ``if TYPE_CHECKING:`` don't count.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from tests.conftest import ROOT

tomllib = pytest.importorskip("tomllib")

FIRST_PARTY = {"rocketmq_py", "broker", "integrations"}


def _requirement_name(spec: str) -> str:
    """``"anyio>=4.4"`` -> ``"anyio"``, normalized as PyPI compares names."""
    name = re.split(r"[\s<>=!~;\[(]", spec, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> tuple[set[str], set[str]]:
    """(core dependencies, everything in any extra), as normalized distribution names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_requirement_name(spec) for spec in project["dependencies"]}
    extras = {
        _requirement_name(spec)
        for specs in project["optional-dependencies"].values()
        for spec in specs
    }
    return core, extras


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` sits in a ``try`` that catches ImportError or under TYPE_CHECKING."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                names = handler.type
                caught = names.elts if isinstance(names, ast.Tuple) else [names]
                if any(
                    isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError")
                    for n in caught
                ):
                    return True
        if isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test):
            return True
        child, parent = parent, parents.get(parent)
    return False


def third_party_imports(package: str) -> dict[str, str]:
    """Top-level module names imported unguarded by ``package`` -> one file importing it."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in FIRST_PARTY or top in sys.stdlib_module_names or top == "__future__":
                    continue
                if not _guarded(node, parents):
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _distributions(module: str) -> set[str]:
    return {_requirement_name(d) for d in packages_distributions().get(module, [module])}


@pytest.mark.parametrize("package", ["rocketmq_py", "broker"])
def test_core_packages_import_only_core_dependencies(package: str) -> None:
    core, _ = _declared()
    imports = third_party_imports(package)
    assert "anyio" in imports  # the scan sees real imports (else this test proves nothing)
    missing = {m: f for m, f in imports.items() if not _distributions(m) & core}
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def test_integrations_import_only_declared_dependencies() -> None:
    core, extras = _declared()
    imports = third_party_imports("integrations")
    missing = {m: f for m, f in imports.items() if not _distributions(m) & (core | extras)}
    assert not missing, f"imported but declared nowhere in pyproject.toml: {missing}"


def test_guarded_imports_are_not_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The scanner itself: an optional import in try/except ImportError and a TYPE_CHECKING one
    # are skipped, a plain one is reported (so the tests above can fail).
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "try:\n    import orjson\nexcept ImportError:\n    orjson = None\n"
        "if TYPE_CHECKING:\n    import trio\n"
        "import sniffio\n"
        "def f():\n    import yaml\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert third_party_imports("pkg") == {"sniffio": "pkg/mod.py", "yaml": "pkg/mod.py"}
