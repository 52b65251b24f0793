"""Old import paths (clipstudy.deprecations.MOVED) keep working, each with a DeprecationWarning naming the new path."""
from __future__ import annotations

import importlib
import subprocess
import sys
import types
import warnings

import pytest

from clipstudy import deprecations


def test_every_old_path_resolves_to_its_new_path_with_a_warning():
    for old, new in deprecations.MOVED.items():
        mod, _, name = old.rpartition(".")
        whole = isinstance(deprecations._resolve(new), types.ModuleType)  # a whole module moved
        if whole:
            sys.modules.pop(old, None)
        with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.") + "$"):  # {old}
            got = importlib.import_module(old) if whole else getattr(importlib.import_module(mod), name)
        assert got is deprecations._resolve(new), old


def test_the_store_names_warn_from_cache_and_the_cache_keeps_its_own():
    from clipstudy import cache, store

    with pytest.warns(DeprecationWarning, match=r"clipstudy\.store\.atomic_save"):
        assert cache.atomic_save is store.atomic_save
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.FeatureCache and cache.merge_shards  # its own names: no warning
    with pytest.raises(AttributeError):
        cache.no_such_name


def test_removed_modules_import_in_a_fresh_interpreter():
    """`from clipstudy.X import Y` of a user's script, in a process that has imported nothing yet."""
    code = ("import warnings; warnings.simplefilter('always')\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    from clipstudy.analysis import lab_eval\n"
            "    from clipstudy.lab.study import evaluate\n"
            "    from clipstudy.zoo_registry import DATA_SIZES\n"
            "    from clipstudy.cache import digest\n"
            "import clipstudy.lab.evaluate as E, clipstudy.factors as F, clipstudy.store as S\n"
            "assert lab_eval is E and evaluate is E.metrics_table and DATA_SIZES is F.DATA_SIZES and digest is S.digest\n"
            "msgs = [str(x.message) for x in w if x.category is DeprecationWarning]\n"
            "assert any('use clipstudy.lab.evaluate' in m for m in msgs), msgs\n"
            "assert any('use clipstudy.lab.evaluate.metrics_table' in m for m in msgs), msgs\n"
            "assert any('use clipstudy.factors.DATA_SIZES' in m for m in msgs), msgs\n"
            "assert any('use clipstudy.store.digest' in m for m in msgs), msgs\n"
            "import clipstudy.zoo_registry as Z\n"
            "try:\n"
            "    Z.rows\n"
            "except AttributeError as e:\n"
            "    assert 'clipstudy.models.registry' in str(e), e\n"
            "else:\n"
            "    raise SystemExit('zoo_registry.rows should be gone')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_the_finder_serves_only_the_table():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("clipstudy.no_such_module")
    import clipstudy.store

    assert clipstudy.store.__file__  # an existing module is never shadowed
