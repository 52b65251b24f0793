"""The package's import graph has no cycle: every import counts, module-level and function-level alike.

An edge A -> B is any `import`/`from ... import` in A's source (anywhere in the file, TYPE_CHECKING blocks
excepted: they never run) that names the clipstudy module B, or a name B defines; importing a submodule also
runs its parent packages' __init__, so those are edges too.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable

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


# ----------------------------------------------------------------- the layer diagram, as the README draws it
README = PKG.parent / "README.md"
MARK = "<!-- layers:"


def layers() -> list[tuple[str, list[str]]]:
    """(layer, rooms) from the README's layer table, top first: the fenced block after the `<!-- layers:` mark,
    one `layer | rooms | what` line each (the first line is the header). A room is a module path under
    clipstudy/ (`lab/evaluate`, `chapter`), a package with its modules (`run/`), or `__init__` for the
    package's own face."""
    text = README.read_text()
    assert MARK in text, "README.md has no layer table"
    block = text.split(MARK, 1)[1].split("```", 2)[1]
    rows = [[c.strip() for c in line.split("|")] for line in block.strip().splitlines()[1:] if "|" in line]
    return [(r[0], r[1].split()) for r in rows]


def _module_of_room(room: str) -> str:
    if room == "__init__":
        return "clipstudy"
    return "clipstudy." + room.rstrip("/").replace("/", ".").removesuffix(".__init__")


def placement(mods: Iterable[str], table: list[tuple[str, list[str]]]) -> dict[str, int]:
    """Each module's layer (index, top first): its most specific room (a module over its package)."""
    out: dict[str, tuple[int, int]] = {}
    for i, (_, rooms) in enumerate(table):
        for room in rooms:
            base, package = _module_of_room(room), room.endswith("/")
            for m in mods:
                if m == base or (package and m.startswith(base + ".")):
                    score = len(base) + (0 if package else 10_000)
                    if m not in out or score > out[m][0]:
                        out[m] = (score, i)
    return {m: i for m, (_, i) in out.items()}


def upward(edges: dict[str, set[str]], table: list[tuple[str, list[str]]]) -> list[str]:
    """Every import that runs back up the table (from a layer to one above it)."""
    where = placement(edges, table)
    return [f"{a} ({table[where[a]][0]}) imports {b} ({table[where[b]][0]})"
            for a in sorted(edges) for b in sorted(edges[a]) if a in where and b in where and where[b] < where[a]]


def test_the_layer_check_sees_an_import_running_up():
    table = [("top", ["book"]), ("mid", ["run/"]), ("low", ["store", "run/data"])]
    edges = {"clipstudy.book": {"clipstudy.run.plan"}, "clipstudy.run.plan": {"clipstudy.run.data"},
             "clipstudy.run.data": {"clipstudy.store"}, "clipstudy.store": set()}
    assert placement(edges, table)["clipstudy.run.data"] == 2  # the module's own room wins over its package's
    assert upward(edges, table) == []
    edges["clipstudy.store"] = {"clipstudy.run.plan"}
    assert upward(edges, table) == ["clipstudy.store (low) imports clipstudy.run.plan (mid)"]


def test_the_readme_layer_table_places_every_module_and_every_import_runs_down():
    """The README's layer table is true: every module of the package is in exactly one layer's room, every room
    names something that exists, and no import (module- or function-level) runs from a layer to one above it."""
    edges, table = graph(), layers()
    where = placement(edges, table)
    assert not sorted(set(edges) - set(where)), f"modules in no room of the README's layer table: {sorted(set(edges) - set(where))}"
    rooms = [r for _, rs in table for r in rs]
    assert len(rooms) == len(set(rooms)), "a room is listed twice"
    stale = [r for r in rooms if not any(m == _module_of_room(r) or (r.endswith("/") and m.startswith(
        _module_of_room(r) + ".")) for m in edges)]
    assert not stale, f"rooms that name no module: {stale}"
    up = upward(edges, table)
    assert not up, "imports running back up the README's layers:\n" + "\n".join(up)
