"""The one registry type (clipstudy.registry.Registry)."""
from __future__ import annotations

import sys
import types

import pytest

from clipstudy.errors import UnknownNameError
from clipstudy.registry import Registry


def test_order_and_dict_reading():
    r = Registry("fruit")
    for n in ("pear", "apple", "fig"):
        r.register(n, n.upper())
    assert r.names() == list(r) == list(r.keys()) == ["pear", "apple", "fig"]
    assert r.values() == ["PEAR", "APPLE", "FIG"] and r.items()[1] == ("apple", "APPLE")
    assert len(r) == 3 and "fig" in r and "kiwi" not in r
    assert r["pear"] == r.get("pear") == "PEAR" and dict(r) == {"pear": "PEAR", "apple": "APPLE", "fig": "FIG"}
    assert r.get("kiwi", None) is None
    r["pear"] = "P"  # item assignment replaces in place, as a dict does
    assert r.names() == ["pear", "apple", "fig"] and r["pear"] == "P"
    assert r.pop("apple") == "APPLE" and r.pop("apple", None) is None and r.names() == ["pear", "fig"]


def test_decorator_form():
    r = Registry("score")

    @r.register("double")
    def double(x):
        return 2 * x

    assert double(2) == 4 and r["double"] is double


def test_duplicates_raise_unless_replace():
    r = Registry("recipe")
    r.register("base", 1)
    with pytest.raises(ValueError, match="recipe 'base' is already registered"):
        r.register("base", 2)
    r.register("base", 2, replace=True)
    assert r["base"] == 2 and r.names() == ["base"]


def test_unknown_name_suggests_close_ones():
    r = Registry("OOD score", hint="See the docs.")
    for n in ("msp", "maxlogit", "energy", "mcm"):
        r.register(n, n)
    with pytest.raises(UnknownNameError) as e:
        r.get("enrgy")
    assert str(e.value) == "unknown OOD score 'enrgy'. Did you mean: energy? See the docs."
    assert isinstance(e.value, KeyError) and e.value.close == ["energy"]
    with pytest.raises(KeyError, match="unknown OOD score 'zzz'. Valid: energy, maxlogit, mcm, msp."):
        r["zzz"]
    with pytest.raises(UnknownNameError):
        r.unregister("zzz")


def test_lazy_entries_resolve_once(monkeypatch):
    calls = []
    mod = types.ModuleType("_clipstudy_lazy_mod")
    mod.thing = types.SimpleNamespace(value=7)
    monkeypatch.setitem(sys.modules, "_clipstudy_lazy_mod", mod)

    r = Registry("thing")
    r.register_lazy("path", "_clipstudy_lazy_mod:thing.value")
    r.register_lazy("built", lambda: calls.append(1) or object())
    assert "built" in r and calls == []  # membership and listing resolve nothing
    assert r.names() == ["path", "built"] and calls == []
    first = r["built"]
    assert r.get("built") is first and calls == [1]
    assert r["path"] == 7
    with pytest.raises(ValueError):
        r.register_lazy("bad", "no_colon_here")


def test_loader_runs_once_before_first_lookup():
    runs = []

    def loader():
        runs.append(1)
        r.register("from-loader", 1)
        assert "from-loader" in r  # a loader may look into the registry it fills

    r = Registry("axis", loader=loader)
    assert runs == [] and not r.loaded
    assert r.names() == ["from-loader"] and runs == [1]
    r.register("later", 2)
    assert list(r) == ["from-loader", "later"] and len(r) == 2 and runs == [1]


def test_failing_loader_runs_again():
    runs = []

    def loader():
        runs.append(1)
        if len(runs) == 1:
            raise ImportError("plugin missing")

    r = Registry("axis", loader=loader)
    with pytest.raises(ImportError):
        r.names()
    assert r.names() == [] and runs == [1, 1]


def test_import_modules_loader(tmp_path, monkeypatch):
    pkg = tmp_path / "_clipstudy_reg_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from clipstudy.registry import Registry, import_modules\n"
        "AFTER = []\n"
        "REG = Registry('axis', loader=import_modules(__name__, skip=['core'], then=lambda: AFTER.append(1)))\n")
    (pkg / "b.py").write_text("from . import REG\nREG.register('b', 2)\n")
    (pkg / "a.py").write_text("from . import REG\nREG.register('a', 1)\n")
    (pkg / "core.py").write_text("raise ImportError('skipped')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import _clipstudy_reg_pkg as P

        assert P.AFTER == [] and P.REG.names() == ["a", "b"] and P.AFTER == [1]  # modules in name order, then `then`
        assert P.REG["b"] == 2 and P.AFTER == [1]
    finally:
        for m in [m for m in sys.modules if m.startswith("_clipstudy_reg_pkg")]:
            del sys.modules[m]
