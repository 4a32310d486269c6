"""The layer contract, read from the source: every import statement, lazy ones inside functions included.

- ``firmware_bridge`` (the protocol layer) imports nothing of ours, so it can be tested and shipped alone;
- ``edge_runtime`` imports ``firmware_bridge`` only inside ``edge_runtime/gateway`` and through
  ``edge_runtime/recording.py`` (the runtime's one door to the recording format the bridge owns);
- nothing on the device side (``edge_runtime``, ``firmware_bridge``) imports ``models``, ``converters`` or
  ``analysis`` (the workstation layers), nor ``receiver`` (the server); the demo alone runs the receiving
  side in-process (``receiver`` and the ``analysis`` it reads with);
- no import cycles among our device-side modules (``if TYPE_CHECKING:`` blocks aside), except inside
  ``firmware_bridge/bleak_bumble``: one bleak backend whose adapter hands out its own client and scanner
  classes (bleak's ``backend=`` plug-in), a pair that is one unit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("edge_runtime", "firmware_bridge", "models", "converters", "analysis", "receiver")
WORKSTATION = ("models", "converters", "analysis")
SERVER_DOORS = ("edge_runtime/commands/demo.py",)  # the demo runs the receiving side in-process
BRIDGE_DOORS = ("edge_runtime/gateway/", "edge_runtime/recording.py")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in the file, outside ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append((node.lineno, mod))
            for a in node.names:  # ``from pkg import module`` imports pkg.module
                found.append((node.lineno, f"{mod}.{a.name}"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _violations(package: str, allowed) -> list[str]:
    bad = []
    for path in _files(package):
        rel = path.relative_to(ROOT).as_posix()
        for line, mod in imports_of(path):
            top = mod.split(".")[0]
            if top in OURS and not allowed(rel, top):
                bad.append(f"{rel}:{line} imports {mod}")
    return sorted(set(bad))


def test_firmware_bridge_imports_nothing_of_ours():
    assert _violations("firmware_bridge", lambda rel, top: top == "firmware_bridge") == []


def test_edge_runtime_reaches_the_bridge_only_through_the_gateway_and_the_recording_door():
    def allowed(rel: str, top: str) -> bool:
        if top == "edge_runtime" or top in WORKSTATION:  # the workstation layers: the test below
            return True
        if top == "receiver":
            return rel in SERVER_DOORS
        return top == "firmware_bridge" and rel.startswith(BRIDGE_DOORS)

    assert _violations("edge_runtime", allowed) == []


@pytest.mark.parametrize("package", ["edge_runtime", "firmware_bridge"])
def test_device_side_never_imports_the_workstation_layers(package):
    def allowed(rel: str, top: str) -> bool:
        return top not in WORKSTATION or (top == "analysis" and rel in SERVER_DOORS)

    assert _violations(package, allowed) == []


def test_no_import_cycles_on_the_device_side():
    modules = {_module_name(p): p for pkg in ("edge_runtime", "firmware_bridge") for p in _files(pkg)}
    unit = "firmware_bridge.bleak_bumble."
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for _, mod in imports_of(path):
            while mod and mod not in modules:  # ``from pkg.mod import Name`` -> pkg.mod
                mod = mod.rpartition(".")[0]
            if mod and mod != name and not name.startswith(mod + "."):  # a package's own __init__ is not a cycle
                if not (name.startswith(unit) and mod.startswith(unit)):
                    deps.add(mod)
        graph[name] = deps
    cycles, state = [], {}

    def walk(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for dep in sorted(graph[node]):
            if dep in modules and modules[dep].name == "__init__.py" and node.startswith(dep + "."):
                continue
            if state.get(dep) == "open":
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                walk(dep, stack + [dep])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert cycles == []


def test_the_contract_sees_lazy_imports(tmp_path, monkeypatch):
    """The checker is not vacuous: an import inside a function, relative or absolute, is found."""
    f = ROOT / "firmware_bridge" / "commands" / "capture.py"
    assert any(mod.startswith("firmware_bridge.ingest") for _, mod in imports_of(f))  # imported inside _capture
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from edge_runtime.errors import UserError\n    import models.recipes\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert {m for _, m in imports_of(probe)} >= {"edge_runtime.errors", "models.recipes"}
