"""The layering rules of STYLE.md, checked by reading every module's imports with ``ast``."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rocketmq_py", "broker", "integrations")
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
# Optional accelerators the protocol may use when installed, always with a stdlib fallback.
PROTOCOL_OPTIONAL = {"rocketmq_py/protocol/_json.py": {"orjson"}}


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) for every import statement, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _module_name(path).split(".")
                if path.name != "__init__.py":
                    package = package[:-1]
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((module, [a.name for a in node.names]))
    return found


def _top(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


MODULES = _modules()


def test_there_are_modules_to_check() -> None:
    assert len(MODULES) > 20


#: Public modules besides the package itself: documented for users, with their own __all__.
PUBLIC_SUBMODULES = frozenset({"rocketmq_py.testing"})


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_layering(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    for module, names in _imports(path):
        top = _top(module)
        if rel.startswith("rocketmq_py/protocol/"):
            # Rule 1: the protocol is sans-IO and stdlib-only (plus the shared exception tree).
            allowed = (
                module.startswith("rocketmq_py.protocol") or module == "rocketmq_py.exceptions"
            )
            allowed = allowed or top in STDLIB or top in PROTOCOL_OPTIONAL.get(rel, set())
            assert allowed, f"{rel} imports {module}: rocketmq_py.protocol is stdlib-only"
            assert top not in {"socket", "threading", "asyncio", "selectors", "time"}, (
                f"{rel} imports {module}: the protocol takes no sockets, threads or clocks"
            )
        if rel.startswith("rocketmq_py/"):
            # Rule 2: the SDK never depends on the servers or the integrations.
            assert top not in {"broker", "integrations"}, f"{rel} imports {module}"
        if rel.startswith("broker/"):
            # Rule 3: servers use the wire protocol and exceptions, never client internals.
            if top == "rocketmq_py":
                assert (
                    module.startswith("rocketmq_py.protocol") or module == "rocketmq_py.exceptions"
                ), f"{rel} imports {module}: broker may only use rocketmq_py.protocol/exceptions"
            assert top != "integrations", f"{rel} imports {module}"
        if rel.startswith("integrations/") and module in PUBLIC_SUBMODULES:
            continue
        if rel.startswith("integrations/") and top == "rocketmq_py":
            # Rule 4: integrations use only the public API.
            import rocketmq_py

            assert module == "rocketmq_py", (
                f"{rel} imports {module}: use `from rocketmq_py import ...`"
            )
            missing = set(names) - set(rocketmq_py.__all__)
            assert not missing, f"{rel} imports non-public names {sorted(missing)}"


def test_public_surface_is_exactly_all() -> None:
    import rocketmq_py

    public = {n for n in vars(rocketmq_py) if not n.startswith("_")}
    modules = {n for n, v in vars(rocketmq_py).items() if type(v).__name__ == "module"}
    assert sorted(rocketmq_py.__all__) == rocketmq_py.__all__
    assert public - modules == set(rocketmq_py.__all__)


def test_layering_check_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import socket\nfrom broker import cli\n")
    assert [m for m, _ in _imports(bad)] == ["socket", "broker"]
