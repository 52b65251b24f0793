"""Old import paths that still work, each with a `DeprecationWarning` that names its new path.

One table, `MOVED` (old dotted path -> new dotted path), as timm's `register_model_deprecations` keeps one
map of old model names: a key naming a whole module (`clipstudy.analysis.lab_eval`) makes that module an
alias of the new one; a key naming an attribute (`clipstudy.cache.atomic_save`) keeps that one name. Removed
modules are served by a meta-path finder (`install`, run by `clipstudy/__init__.py`); a module that still
exists keeps its moved names through `module_getattr` (`__getattr__ = module_getattr(__name__)`).
`GONE` names what has no new path, with what to use instead (an AttributeError or ImportError says it).

This module imports no other clipstudy module (the targets are imported when an old path is used).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from typing import Any, Callable

_STORE_NAMES = ("CacheError", "DAMAGE", "Key", "atomic_save", "atomic_write_text", "digest", "discard",
                "feature_key", "load_json", "safe_load")

# the axes' table functions are in their axis modules (one axis, one module); a name that the
# axis module's chapter code already used was renamed (shifts: records_effects, lab_er; calibration: transfer;
# shape_bias: AXIS, records_effects), and what code below the axes needs moved down (metrics, run, plots)
_SHIFTS_NAMES = ("LAB_SHIFTS", "TAGS", "mean_er", "er_by_tags", "shift_group_table", "lab_er_replicates", "live_er")
_CALIBRATION_NAMES = ("SCALING_LABELS", "softmax", "calibration_metrics", "fit_temperature", "calibration_table",
                      "reliability_frame", "per_group_ece")
_SHAPE_BIAS_NAMES = ("RECORD_FOLDERS", "DATA_GROUP", "PANEL_ORDER", "records_decisions", "label", "CATEGORY_ORDER",
                     "category", "records_table", "zero_shot", "finetune_pairs", "LAB_COUNTERPART", "lab_agreement",
                     "SAME_MODEL", "IMAGENET_DATA", "model_units", "FT_KIND_RECIPES", "FT_DROP_METRIC",
                     "FT_DROP_COMPARISON", "finetune_drops", "finetune_kind_effects")
_SHAPE_BIAS_METRICS = ("lab_shape_bias", "live_decisions", "live_shape_bias")

MOVED: dict[str, str] = {
    # the lab's one evaluation path
    "clipstudy.analysis.lab_eval": "clipstudy.lab.evaluate",
    "clipstudy.lab.study.evaluate": "clipstudy.lab.evaluate.metrics_table",
    "clipstudy.lab.study.evaluate_zoo": "clipstudy.lab.evaluate.metrics_zoo",
    "clipstudy.lab.study.labset": "clipstudy.lab.evaluate.sized_labset",
    "clipstudy.lab.study.sized_labset": "clipstudy.lab.evaluate.sized_labset",
    "clipstudy.lab.study.ACC_SETS": "clipstudy.lab.evaluate.ACC_SETS",
    "clipstudy.lab.study.effective_robustness": "clipstudy.lab.evaluate.effective_robustness",
    "clipstudy.lab.study.SMOKE_SETS": "clipstudy.profiles.SMOKE_SETS",
    # one axis, one module: an axis's tables live in clipstudy/axes/NAME.py; the effects statistics
    # every axis shares are clipstudy/effects.py
    "clipstudy.analysis.effects": "clipstudy.effects",
    "clipstudy.analysis.ood": "clipstudy.axes.ood",
    "clipstudy.analysis.retrieval": "clipstudy.axes.retrieval",
    "clipstudy.analysis.threed": "clipstudy.axes.threed",
    "clipstudy.analysis.multimodal": "clipstudy.axes.lmm",
    # the curated registry is clipstudy/models/curated.csv (clipstudy.models.registry)
    "clipstudy.zoo_registry.DATA_SIZES": "clipstudy.factors.DATA_SIZES",
    # the model layer holds its weights fetching and its named collections
    "clipstudy.weights": "clipstudy.models.weights",
    "clipstudy.collection": "clipstudy.models.collection",
    # the claims logic lives with its axis
    "clipstudy.claims": "clipstudy.axes.claims",
    # the store's names, once re-exported by the feature cache
    **{f"clipstudy.cache.{n}": f"clipstudy.store.{n}" for n in _STORE_NAMES},
    # the axes' table functions, in their axis modules
    "clipstudy.analysis.visual_factors": "clipstudy.axes.visual_factors",
    "clipstudy.analysis.summary": "clipstudy.axes.summary",
    "clipstudy.analysis.scaling_grid": "clipstudy.axes.shifts",
    **{f"clipstudy.analysis.shifts.{n}": f"clipstudy.axes.shifts.{n}" for n in _SHIFTS_NAMES},
    "clipstudy.analysis.shifts.records_effects": "clipstudy.axes.shifts.records_er_effects",
    "clipstudy.analysis.shifts.lab_er": "clipstudy.axes.shifts.lab_er_table",
    "clipstudy.analysis.shifts.PCT_TICKS": "clipstudy.plots.PCT_TICKS",
    "clipstudy.analysis.shifts.logit_ticks": "clipstudy.plots.logit_percent_ticks",
    **{f"clipstudy.analysis.calibration.{n}": f"clipstudy.axes.calibration.{n}" for n in _CALIBRATION_NAMES},
    "clipstudy.analysis.calibration.transfer": "clipstudy.axes.calibration.transfer_table",
    **{f"clipstudy.analysis.shape_bias.{n}": f"clipstudy.axes.shape_bias.{n}" for n in _SHAPE_BIAS_NAMES},
    **{f"clipstudy.analysis.shape_bias.{n}": f"clipstudy.metrics.shape_bias.{n}" for n in _SHAPE_BIAS_METRICS},
    "clipstudy.analysis.shape_bias.AXIS": "clipstudy.axes.shape_bias.AXIS_NAME",
    "clipstudy.analysis.shape_bias.records_effects": "clipstudy.axes.shape_bias.records_shape_bias_effects",
    "clipstudy.analysis.shape_bias.align": "clipstudy.run.evaluate.align",
    # one table of build profiles, each holding its lab profile as an object (training, LLaVA, sets, severity)
    **{f"clipstudy.config.{n}": f"clipstudy.profiles.{n}" for n in ("Profile", "PROFILES", "SMOKE_SETS", "profile")},
    "clipstudy.lab.zoo.Profile": "clipstudy.profiles.LabProfile",
    "clipstudy.lab.zoo.PROFILES": "clipstudy.profiles.LAB_PROFILES",
    "clipstudy.lab.zoo.profile_of": "clipstudy.profiles.lab_profile",
    # the book's build, split by stage: clipstudy.book (the Build record and the entry), book.chapters, book.grids,
    # book.html
    **{f"clipstudy.book.{n}": f"clipstudy.book.chapters.{n}" for n in (
        "select", "execute", "failed_path", "mark_failed", "chapter_problem", "BookState", "book_state",
        "tidy_parameters", "WIDGET", "WIDGET_NOTE", "record_time", "ChapterRun")},
    **{f"clipstudy.book.{n}": f"clipstudy.book.html.{n}" for n in ("MATHJAX", "vendor_mathjax", "build_html")},
    "clipstudy.book.live_forms": "clipstudy.book.grids.live_forms",
}

GONE: dict[str, str] = {
    "clipstudy.zoo_registry.rows": "clipstudy.models.registry.frame() (or entries())",
    "clipstudy.zoo_registry.specs": "clipstudy.models.registry.entries()",
    "clipstudy.zoo_registry.commonpool_filter": "the `data` field of clipstudy.models.registry.entries()",
    "clipstudy.lab.study.SMOKE_N": "dict(clipstudy.profiles.SMOKE_SETS)",
    "clipstudy.lab.llava.PROFILES": "clipstudy.profiles.lab_profile(NAME).llava (the lab profile holds its LLaVA settings)",
    "clipstudy.lab.llava.settings_for": "clipstudy.profiles.lab_profile(NAME).llava",
    "clipstudy.book.parameters": "clipstudy.book.chapters.parameters (it takes the profile object) or Build.parameters",
    "clipstudy.book.live_grid": "clipstudy.book.grids.live_datasets(chapters.select(only))",
    "clipstudy.book.lab_grid": "clipstudy.book.grids.lab_grid(profile, chapters.select(only))",
    "clipstudy.book.run_live_grid": "clipstudy.book.grids.run_live(book.prepare(...))",
    "clipstudy.book.run_lmm_grid": "clipstudy.book.grids.run_lmm(book.prepare(...))",
    "clipstudy.book.run_lab_grid": "clipstudy.book.grids.run_lab(book.prepare(...))",
    "clipstudy.book.PROFILES": "clipstudy.profiles.PROFILES",
    "clipstudy.analysis.shifts.logit_clip": "clipstudy.plots._logit (the same clipped logit)",
    "clipstudy.analysis.shape_bias.claims": "clipstudy.axes.evidence.evidence('C2') (and C3, C9, C14)",
}


def _resolve(path: str) -> Any:
    """The module or attribute a dotted path names."""
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as e:
        if e.name != path:
            raise
    mod, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(mod), attr)


def _warn(old: str, new: str, stacklevel: int) -> None:
    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=stacklevel)


def _moved_attr(module: str, name: str, stacklevel: int = 3) -> Any:
    old = f"{module}.{name}"
    if old in MOVED:
        _warn(old, MOVED[old], stacklevel + 1)
        return _resolve(MOVED[old])
    if old in GONE:
        raise AttributeError(f"{old} was removed: use {GONE[old]}")
    raise AttributeError(f"module {module!r} has no attribute {name!r}")


def module_getattr(module: str) -> Callable[[str], Any]:
    """A module's `__getattr__` that serves its moved names (PEP 562)."""
    def __getattr__(name: str) -> Any:
        return _moved_attr(module, name)
    return __getattr__


class _Loader(importlib.abc.Loader):
    """A removed module: the new module itself (a whole-module entry), else a stub serving its moved names."""

    def create_module(self, spec):
        return None  # the default module

    def exec_module(self, module):
        name = module.__name__
        if name in MOVED:  # import returns what sys.modules holds after exec_module: the new module
            _warn(name, MOVED[name], 6)
            sys.modules[name] = importlib.import_module(MOVED[name])
        else:
            module.__doc__ = "Removed: its names moved (see clipstudy.deprecations)."
            module.__getattr__ = module_getattr(name)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the removed modules of the table (and nothing else)."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("clipstudy."):
            return None
        below = any(k.startswith(fullname + ".") for k in list(MOVED) + list(GONE))  # its names or its modules
        if fullname not in MOVED and not below:
            return None
        parent = fullname.rpartition(".")[0]
        pkg = sys.modules.get(parent)
        if pkg is not None and hasattr(pkg, "__path__") and \
                importlib.machinery.PathFinder.find_spec(fullname, pkg.__path__) is not None:
            return None  # the module still exists: it serves its moved names itself (module_getattr)
        # a removed package (clipstudy.analysis) whose modules moved is a package still, so they import from it
        return importlib.util.spec_from_loader(fullname, _Loader(), is_package=fullname not in MOVED and below)


_FINDER = _Finder()


def install() -> None:
    """Put the finder of removed modules first on `sys.meta_path`, once: it answers only the table's removed
    modules, and before a finder that could serve a stale copy of them (an editable install of another checkout)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
