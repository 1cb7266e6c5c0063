"""The shape of the code: the library never imports the course, its import graph has no circle,
and no module or function outgrows what a reader takes in at once."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

#: The float path changes nothing here (the code's layout): CI's second pass leaves it out.
pytestmark = pytest.mark.once

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("s2d_lib", "s2d_course")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules(package: str) -> dict[str, Path]:
    out = {}
    for path in sorted((REPO / package).rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (at any depth: lazy imports count)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_the_library_never_imports_the_course():
    upward = {name: sorted(i for i in _imports(name, path) if i.split(".")[0] == "s2d_course")
              for name, path in _modules("s2d_lib").items()}
    assert not {k: v for k, v in upward.items() if v}


def test_the_import_graphs_have_no_cycle():
    for package in PACKAGES:
        _check_acyclic(_modules(package))


def _check_acyclic(modules: dict[str, Path]) -> None:
    graph = {name: {i for i in _imports(name, path) if i in modules and i != name}
             for name, path in modules.items()}
    # a package's __init__ importing its own submodules is how packages work, not a circle
    graph = {name: {i for i in deps if not name.startswith(i + ".")} for name, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(dep):] + [dep])
                                     if dep in trail else f"import cycle through {dep}")
            if dep not in state:
                visit(dep, trail + [dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_no_module_or_function_is_too_long():
    too_long = []
    for package in PACKAGES:
        for name, path in _modules(package).items():
            source = path.read_text()
            if source.count("\n") > MAX_MODULE_LINES:
                too_long.append(f"{name}: {source.count(chr(10))} lines")
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        too_long.append(f"{name}.{node.name}: {length} lines")
    assert not too_long, too_long
