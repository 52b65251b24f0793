"""The axis declaration, the runner's outputs type, and the one effects collector every chapter writes through.

An `Axis` is a typed constant that an axis module declares once (`AXIS = register(Axis(...))`): its key,
the name its effects carry, its chapter (the executed notebook's name in the book), where that chapter stands
(`order`), whether it reads every other chapter (`reads_all`: the summary, the claims), its notebook, the live
datasets and lab sets the chapter reads, the unit tasks and the evaluator the study runner calls on stored
outputs, the metrics that evaluator writes, its version (part of the keys of the units it reads), and whether
the summary gives it a column. The runner, the `@` dataset collections, the book's build order, table of
contents and live grid, the summary and the effects collector all read these declarations, so no free-string
axis name or file name is joined on anywhere, and a new axis is one module here (or in a plugin named in
`CLIPSTUDY_PLUGINS`, with its notebook in the plugin's own folder) and one notebook.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import plugins
from .. import effects as E
from ..errors import ClipstudyError, UnknownNameError
from ..registry import Registry, import_modules

# The factor vocabulary of the effects tables (`effects.FACTORS`, built from `clipstudy.factors`), re-exported so
# that an axis module takes it with the axis types, from one import.
FACTORS: tuple[str, ...] = E.FACTORS
LAB_FACTORS: Mapping[str, str] = E.LAB_FACTORS

SMOKE_NOTE = ("This build uses the `smoke` profile: tiny lab models trained for seconds and tiny evaluation "
              "sets. Its lab numbers are pipeline checks only, not findings.")


@dataclass
class Outputs:
    """Stored outputs of one (model, dataset, prompts), as the runner reads them back from the store: a
    `zeroshot.ZeroShot`, the per-image frame aligned with the encoded images, and the caption embeddings of
    a retrieval set. An axis' evaluator computes its rows from these alone: nothing encodes there."""

    model: str
    dataset: str
    task: str
    prompts: str
    zs: Any  # clipstudy.zeroshot.ZeroShot (head None for classifiers and caption-only sets)
    frame: pd.DataFrame | None = None
    texts: dict | None = None

    @property
    def has_head(self) -> bool:
        """Class outputs exist: a zero-shot head, or a classifier's own (caption-only sets have neither)."""
        return bool(self.zs.classnames)

    def correct(self) -> np.ndarray:
        return (self.zs.logits.argmax(1) == self.zs.labels).numpy()


# what a published column may be declared as: text (str objects, NaN where missing: compared as plain strings
# are), bool, boolean (with missing values), int64, Int64 (with missing values), float64
DTYPES = ("text", "bool", "boolean", "int64", "Int64", "float64")


@dataclass(frozen=True)
class Table:
    """A table one chapter publishes for others (the summary, the claims page): its name and typed columns.

    Declared once, in the axis module that writes it (`AXIS.table(name, column=dtype, ...)`), or here for the
    tables every chapter writes (`EFFECTS`, `NOT_MEASURED`: `axis` None). It is written and read through this
    object only: `write` checks the declared columns, casts them to their dtypes and publishes parquet (so a
    column of TRUE/FALSE verdicts stays text, integers with gaps stay integers), with a CSV beside it for
    readers; `read` gives the parquet back with those dtypes. Other columns may ride along (a `yours` mark)."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (column, dtype): dtypes from DTYPES
    axis: "Axis | None" = None  # the axis whose chapter publishes it; None: every chapter publishes one

    def __post_init__(self) -> None:
        bad = [f"{c}: {d}" for c, d in self.columns if d not in DTYPES]
        if bad:
            raise ClipstudyError(f"table {self.name!r} declares unknown dtype(s) {', '.join(bad)}; use one of "
                                 f"{', '.join(DTYPES)}")

    def __str__(self) -> str:
        return self.name

    @property
    def dtypes(self) -> dict[str, str]:
        return dict(self.columns)

    def _chapter(self, axis: "Axis | None") -> str:
        owner = axis if axis is not None else self.axis
        if owner is None:
            raise ClipstudyError(f"table {self.name!r} is written by every chapter: say whose (axis=...)")
        return owner.chapter

    def path(self, results_dir: Any, axis: "Axis | None" = None, suffix: str = ".parquet") -> "Path":
        """Where the table of `axis` (default: its own) lies under a results folder."""
        from pathlib import Path

        return Path(results_dir) / self._chapter(axis) / f"{self.name}{suffix}"

    def conform(self, df: pd.DataFrame) -> pd.DataFrame:
        """`df` with each declared column cast to its dtype (a missing one raises); other columns as they are."""
        from ..errors import SchemaError

        missing = [c for c, _ in self.columns if c not in df.columns]
        if missing:
            raise SchemaError(f"table {self.name!r} lacks declared column(s) {', '.join(missing)}")
        out = df.copy()
        for c, d in self.columns:
            try:
                out[c] = _text(out[c]) if d == "text" else out[c].astype(d)
            except (TypeError, ValueError) as e:
                raise SchemaError(f"table {self.name!r}, column {c!r}: its values are not {d} ({e})") from e
        return out.reset_index(drop=True)

    def write(self, results_dir: Any, df: pd.DataFrame, axis: "Axis | None" = None) -> pd.DataFrame:
        """Publish `df` as this table (parquet, then the CSV beside it); returns the conformed frame."""
        from ..store import atomic_write

        out = self.conform(df)
        atomic_write(self.path(results_dir, axis), lambda f: out.to_parquet(f, index=False))
        atomic_write(self.path(results_dir, axis, ".csv"), lambda f: out.to_csv(f, index=False), "w")
        return out

    def read(self, results_dir: Any, axis: "Axis | None" = None) -> pd.DataFrame | None:
        """The table as published under `results_dir` (declared dtypes), or None when its chapter did not write it."""
        path = self.path(results_dir, axis)
        if not path.is_file():
            return None
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # noqa: BLE001: pyarrow raises several types for a damaged file
            from ..errors import SchemaError

            raise SchemaError(f"table {self.name!r} at {path} cannot be read ({type(e).__name__}: {e}); rebuild "
                              f"its chapter") from e
        return self.conform(df)


def _text(col: pd.Series) -> pd.Series:
    """A text column: str values and NaN for missing ones (never a number or a boolean read as text)."""
    out = col.astype(object).where(col.notna(), np.nan)
    bad = [v for v in out.dropna() if not isinstance(v, str)][:3]
    if bad:
        raise TypeError(f"non-text value(s) {bad!r}")
    return out


def table(name: str, **columns: str) -> Table:
    """A table every chapter publishes (see `Axis.table` for one chapter's own)."""
    return Table(name, tuple(columns.items()))


# every chapter's effects (`Effects.write`) and its reasons for the factors it did not measure
EFFECTS = table("effects", factor="text", axis="text", metric="text", effect="float64", comparison="text",
                source="text", n="float64", ci_low="float64", ci_high="float64", p="float64", n_treatment="float64",
                n_base="float64", note="text")
NOT_MEASURED = table("not_measured", factor="text", axis="text", reason="text")


Row = dict  # one runner row: part, metric, value, n
IdLookup = Callable[[Outputs], "Outputs | None"]  # the same model's outputs on the dataset's ID set
Evaluator = Callable[[Outputs, IdLookup], "list[Row]"]


def row(part: str, metric: str, value: float, n: int) -> Row:
    """One row of an evaluator: `part` names the slice of the dataset (`all` when there is one)."""
    return dict(part=part, metric=metric, value=float(value), n=int(n))


@dataclass(frozen=True)
class Axis:
    """One axis of the study: its chapter, the data it reads, and the runner evaluator of its live grid."""

    key: str  # short id: the module's name
    name: str  # the axis name its effects rows carry (the summary's column)
    chapter: str  # the chapter's name in the book (its executed notebook, its tables' folder), e.g. "02_natural_shifts"
    live: tuple[str, ...] = ()  # live datasets the chapter reads (the grid `clipstudy build --profile live` runs)
    lab: tuple[str, ...] = ()  # lab sets the chapter reads through the engine (the lab grid; sizes: profiles.Profile)
    summarised: bool = True  # a column of the summary (chapter 10)
    smoke_note: str = SMOKE_NOTE
    runner: str = ""  # the runner's name for this axis (`clipstudy run --axes`, `@NAME`, results.csv's axis column)
    tasks: tuple[str, ...] = ()  # the unit tasks its evaluator reads (clipstudy.tasks)
    evaluate: Evaluator | None = None  # stored outputs -> rows (`Outputs`, `row`); None: no runner axis
    metrics: tuple[str, ...] = ()  # the metrics its evaluator writes
    version: int = 1  # bump when the evaluator or what its units hold changes: part of those units' keys
    id_set: bool = False  # its evaluator reads the same model's outputs on the ID set: the grid adds that set
    # where the chapter stands in the book: the build executes the chapters in this order, those that read every
    # other chapter (`reads_all`) after all the others, and the table of contents lists them by it within `part`
    order: float | None = None  # None: no chapter (a runner axis alone)
    reads_all: bool = False  # it reads every other chapter's tables (the summary, the claims): it runs last
    part: str = "The study"  # the part of the book's table of contents it is listed in
    # its jupytext notebook: "" is notebooks/<chapter>.py of this checkout; a plugin names its own file
    notebook: str = ""

    published: dict = field(default_factory=dict, compare=False, hash=False, repr=False)  # name -> Table

    def __str__(self) -> str:
        return self.name

    def table(self, name: str, **columns: str) -> Table:
        """Declare a table this axis' chapter publishes for other chapters: its name and each column's dtype
        (`Table`); the one object both its writer and its readers use."""
        if name in self.published or name in (EFFECTS.name, NOT_MEASURED.name):
            raise ClipstudyError(f"axis {self.key!r} declares table {name!r} twice")
        self.published[name] = Table(name, tuple(columns.items()), self)
        return self.published[name]

    def collector(self) -> "Effects":
        """A fresh effects collector on this axis (what `chapter.start` gives the chapter as `ch.effects`)."""
        return Effects(self)

    def rows(self, o: Outputs, id_of: IdLookup) -> list[Row]:
        """The evaluator's rows for one unit's outputs (none for a task the axis does not read)."""
        if self.evaluate is None or (self.tasks and o.task not in self.tasks):
            return []
        out = list(self.evaluate(o, id_of))
        bad = sorted({r["metric"] for r in out} - set(self.metrics)) if self.metrics else []
        if bad:
            raise ClipstudyError(f"axis {self.runner!r} wrote metric(s) {', '.join(bad)} it does not declare")
        return out


# every axis module of this package registers at import; the loader imports them all, then the plugins
REGISTRY: Registry[Axis] = Registry("axis", loader=import_modules("clipstudy.axes", skip=["core"], then=plugins.load))


def register(axis: Axis) -> Axis:
    """Add an axis to the registry (its module calls this once, at import)."""
    if axis.evaluate is not None and not axis.runner:
        raise ClipstudyError(f"axis {axis.key!r} has an evaluator but no runner name")
    for other in REGISTRY.registered():  # as registered so far (listing would run the loader)
        if other.key != axis.key and (other.name == axis.name or other.chapter == axis.chapter
                                      or (axis.runner and other.runner == axis.runner)
                                      or (axis.order is not None and other.order == axis.order)):
            raise ClipstudyError(f"axis {axis.key!r} repeats the name, chapter, runner name or chapter order of "
                                 f"{other.key!r}")
    REGISTRY.register(axis.key, axis, replace=True)  # a module re-imported (importlib.reload) re-declares its axis
    return axis


def chapter_order(axis: Axis) -> tuple:
    """The sort key of the declared order: the chapters by `order`, those that read every other chapter after all
    the others, and the axes without a chapter last (by key)."""
    return (axis.order is None, axis.reads_all, axis.order if axis.order is not None else 0.0, axis.key)


class Effects:
    """The effects of one chapter, all on its axis: rows of `effects` (treatment minus base, n,
    95% interval), plus why a factor was not measured. Rows from helpers must carry this axis' name."""

    def __init__(self, axis: Axis):
        self.axis = axis
        self.rows: list[dict] = []
        self.why_not: dict[str, str] = {}

    # ---- adding rows
    def add(self, factor: str, metric: str, value: float, comparison: str, source: str, *,
            n: float | None = None, ci: tuple[float, float] | None = None) -> dict:
        """One effect on this axis (see `effects.effect`)."""
        row = E.effect(factor, self.axis.name, metric, value, comparison, source, n=n, ci=ci)
        self.rows.append(row)
        return row

    def extend(self, rows: Iterable[dict] | pd.DataFrame | None) -> list[dict]:
        """Rows built by a table function; each must be on this axis (a wrong axis name raises)."""
        if rows is None:
            return []
        rs = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else list(rows)
        bad = sorted({str(r.get("axis")) for r in rs} - {self.axis.name})
        if bad:
            raise ClipstudyError(f"effects on axis {bad[0]!r} were added to the {self.axis.name!r} chapter")
        self.rows += rs
        return rs

    def lab(self, values: pd.DataFrame, recipes: pd.DataFrame, metric: str, value: str = "value",
            flags: Mapping[str, str] | None = None) -> list[dict]:
        """Each lab recipe against base over training seeds and images (`effects.lab_seed_effects`)."""
        return self.extend(E.lab_seed_effects(values, recipes, self.axis.name, metric, value=value,
                                              flags=dict(flags or {})))

    def lab_means(self, values: pd.DataFrame, recipes: pd.DataFrame, metric: str, value: str = "value") -> list[dict]:
        """Each lab recipe against base over its seeds' values (`effects.lab_effects`)."""
        return self.extend(E.lab_effects(values, recipes, self.axis.name, metric, value=value))

    def prompts(self, metric: str, treatment: Sequence[float], base: Sequence[float], treatment_boot: Any = None,
                base_boot: Any = None, comparison: str = "one template vs the template ensemble (base)") -> dict:
        """The test-time prompt effect in the lab: one recipe under two prompt sets, over seeds (and images
        when bootstrap replicates are given)."""
        pe = E.seed_image_effect(np.asarray(treatment, float), np.asarray(base, float),
                                 None if treatment_boot is None else np.stack(list(treatment_boot)),
                                 None if base_boot is None else np.stack(list(base_boot)))
        return self.add("test-time prompts", metric, pe["effect"], comparison, "lab", n=pe["n"],
                        ci=(pe["ci_low"], pe["ci_high"]))

    def not_measured(self, factor: str, reason: str) -> None:
        """Why a factor has no effect on this axis (the summary shows it in the empty cell)."""
        if factor not in FACTORS:
            raise UnknownNameError("factor", factor, list(FACTORS))
        self.why_not[factor] = reason

    # ---- reading
    def frame(self, rows: Iterable[dict] | None = None) -> pd.DataFrame:
        return E.effects_frame(list(self.rows if rows is None else rows))

    def write(self, ch: Any, notes: Mapping[str, str] | None = None, sort: bool = False) -> pd.DataFrame:
        """Save effects.csv (and not_measured.csv when a reason was given) and show the factor summary.
        `notes` are shown for factors without an effect and not saved (context, not a reason)."""
        from IPython.display import Markdown, display

        eff = self.frame()
        if sort:
            eff = eff.sort_values("factor", kind="stable", key=lambda s: s.map(FACTORS.index)).reset_index(drop=True)
        ch.publish(EFFECTS, eff)
        measured = set(eff["factor"])
        nm = {f: w for f, w in self.why_not.items() if f not in measured}
        if self.why_not:
            ch.publish(NOT_MEASURED, pd.DataFrame([dict(factor=f, axis=self.axis.name, reason=w) for f, w in nm.items()],
                                                  columns=["factor", "axis", "reason"]))
        from ..tables import safe_markdown

        display(Markdown(safe_markdown(E.factor_summary(eff, {**dict(notes or {}), **nm} or None))))
        return eff


def live_wide(ch: Any, index: Sequence[str], rename: Mapping[str, str], name: str) -> pd.DataFrame | None:
    """The chapter's rows of its axis in the runner's live results table, one column per metric, saved as
    `name`; None after the chapter's one notice when there are none (see `Chapter.live`)."""
    t = ch.live()
    if t is None:
        return None
    wide = t.pivot_table(index=list(index), columns="metric", values="value", aggfunc="first").reset_index()
    return ch.save(wide.rename(columns=dict(rename)), name)


def display(x: Any) -> None:
    """Show a table the book's way (`tables.show`: no index, integer counts, "—" for missing, effects with their
    interval in one cell); any other object as the notebook would."""
    from .. import tables

    tables.show(x)


def show() -> None:
    """Show the current figure inline."""
    import matplotlib.pyplot as plt

    plt.show()
