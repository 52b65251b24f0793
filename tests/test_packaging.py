"""Honest packaging: the built wheel declares what the package imports, ships its data, and imports whole.

A fresh venv with `pip install .` would download torch (GBs) on every run, so this test checks the same
promise in parts that need no network:
1. build the wheel (`pip wheel --no-deps --no-build-isolation .`) and read its `Requires-Dist`;
2. walk every module's AST: each third-party import (module level or in a function) must map, through
   `importlib.metadata.packages_distributions()`, to a declared distribution; a module-level import of a
   module outside the optional parts must be a core dependency (not only an extra);
3. install the wheel alone (`pip install --no-deps --target`) and, in a process that cannot see this checkout,
   import every module from there (the dependencies come from this environment, which `make` installs from
   requirements.txt): a module or data file missing from the wheel fails here.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "clipstudy"
# modules that belong to an optional part: their module-level imports may come from that extra
OPTIONAL = {"clipstudy.run.slurm": "slurm", "clipstudy.run.raycluster": "ray"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def third_party_imports() -> dict[str, dict[str, bool]]:
    """{module: {top-level import: imported at module level?}} for every non-stdlib, non-clipstudy import."""
    out: dict[str, dict[str, bool]] = {}
    for p in sorted(PKG.rglob("*.py")):
        tree = ast.parse(p.read_text())
        top_level = {id(n) for n in tree.body}
        found: dict[str, bool] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                top = n.split(".")[0]
                if top in sys.stdlib_module_names or top in ("clipstudy", "__future__"):
                    continue
                found[top] = found.get(top, False) or id(node) in top_level
        out[_module(p)] = found
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src")  # a clean copy: no stale build/ or egg-info from an earlier build
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(PKG, src / "clipstudy", ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out), str(src)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = out.glob("clipstudy-*.whl")
    return whl


def _requires(whl: Path) -> tuple[set[str], dict[str, set[str]]]:
    with zipfile.ZipFile(whl) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode().splitlines()
    core: set[str] = set()
    extras: dict[str, set[str]] = {}
    for line in lines:
        if not line.startswith("Requires-Dist:"):
            continue
        req = line.split(":", 1)[1].strip()
        name = _norm(re.split(r"[\s\[<>=!~;(]", req, maxsplit=1)[0])
        m = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", req)
        (extras.setdefault(m.group(1), set()) if m else core).add(name)
    return core, extras


@pytest.mark.slow
def test_wheel_declares_every_import(wheel):
    core, extras = _requires(wheel)
    assert {"book", "slurm", "ray", "test"} <= set(extras)
    declared = core | {d for ds in extras.values() for d in ds}
    dists = {k: {_norm(d) for d in v} for k, v in packages_distributions().items()}
    missing, not_core = [], []
    for mod, imports in third_party_imports().items():
        for top, module_level in imports.items():
            ds = dists.get(top)
            assert ds, f"{mod} imports {top}, which no installed distribution provides"
            if not ds & declared:
                missing.append(f"{mod}: {top} ({'/'.join(sorted(ds))})")
            elif module_level and not ds & core and not ds & extras.get(OPTIONAL.get(mod, ""), set()):
                not_core.append(f"{mod}: {top} at module level but only in an extra")
    assert not missing, "imports the wheel does not declare:\n" + "\n".join(missing)
    assert not not_core, "\n".join(not_core)


@pytest.mark.slow
def test_the_wheel_alone_imports_every_module(wheel, tmp_path):
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
                        str(target), str(wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (target / "clipstudy" / "models" / "curated.csv").is_file()  # package data ships
    modules = sorted(_module(p) for p in PKG.rglob("*.py"))
    code = ("import importlib, sys\n"
            f"mods = {modules!r}\n"
            "import clipstudy\n"
            f"assert clipstudy.__file__.startswith({str(target)!r}), clipstudy.__file__\n"
            "for m in mods:\n"
            "    importlib.import_module(m)\n"
            "from clipstudy import zoo\n"
            "assert zoo.get('ViT-B-32/openai').data == 'openai-wit'\n"
            "print(len(mods))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert int(r.stdout.strip().splitlines()[-1]) == len(modules)
