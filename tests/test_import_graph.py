"""The package's import graph has no cycle: every import counts, module-level and function-level alike.

An edge A -> B is any `import`/`from ... import` in A's source (anywhere in the file, TYPE_CHECKING blocks
excepted: they never run) that names the clipstudy module B, or a name B defines; importing a submodule also
runs its parent packages' __init__, so those are edges too.
"""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "clipstudy"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                skip.update(id(n) for n in ast.walk(sub))
    return skip


def _target(name: str, mods: dict[str, Path]) -> str | None:
    """The deepest known module that `name` (a dotted path, maybe ending in a defined name) lies in."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _with_parents(name: str, mods: dict[str, Path]) -> list[str]:
    out, parts = [], name.split(".")
    for i in range(1, len(parts) + 1):
        cand = ".".join(parts[:i])
        if cand in mods:
            out.append(cand)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_nodes(tree)
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                names = [f"{prefix}.{a.name}" for a in node.names] + [prefix]
            for n in names:
                if not n.startswith("clipstudy"):
                    continue
                t = _target(n, mods)
                if t is None:
                    continue
                for dep in _with_parents(t, mods):
                    if dep != mod and not mod.startswith(dep + "."):  # a module's own packages are already running
                        edges[mod].add(dep)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    import sys

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_a_cycle():
    """The detector itself: a two-module loop is found, a chain is not."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_walker_sees_function_level_and_relative_imports():
    edges = graph()
    assert "clipstudy.errors" in edges["clipstudy.lab.zoo"]  # `from ..errors import ...` at module level
    assert "clipstudy.lab.zoo" in edges["clipstudy.models.sources.lab"]  # `from ...lab import zoo` in a function
    assert "clipstudy.lab" in edges["clipstudy.models.sources.lab"]  # a submodule runs its package's __init__


def test_no_import_cycle():
    found = cycles(graph())
    assert not found, "import cycles in clipstudy:\n" + "\n".join(" <-> ".join(c) for c in found)
