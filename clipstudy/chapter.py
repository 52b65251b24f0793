"""Small helpers the chapters share: saving tables next to the book, notices, and findings.

A finding is a sentence whose numbers (and whose direction words) come from values
computed in this build, so no sentence can assert what the code did not compute.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .errors import ClipstudyError


def _display_md(text: str) -> None:
    try:
        from IPython.display import Markdown, display

        display(Markdown(text))
    except ImportError:  # outside a notebook
        print(text)


@dataclass
class Chapter:
    """A chapter being executed: where its tables go, its profile, device and effects collector."""

    name: str
    results_dir: Path
    profile: str
    axis: Any = None  # clipstudy.axes.Axis
    params: Any = None  # clipstudy.config.Profile
    device: str = "cpu"
    effects: Any = None  # clipstudy.axes.core.Effects
    precision: str = "fp32"  # resolved by the build (its papermill parameter), never "auto"

    @property
    def lab_profile(self) -> str:
        return self.params.lab

    @property
    def n_eval(self) -> int:
        return self.params.n_eval

    def path(self, name: str, suffix: str = ".csv") -> Path:
        p = self.results_dir / self.name / f"{name}{suffix}"
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def save(self, df: pd.DataFrame, name: str) -> pd.DataFrame:
        """Save a tidy table (the data behind a figure or a finding) as CSV next to the book, for readers. With the
        researcher's own models in the live panel (`build --models`), a table with a model column says which are
        theirs. A table other chapters read is published instead (`publish`)."""
        _yours(df).to_csv(self.path(name), index=False)
        return df

    def publish(self, table: Any, df: pd.DataFrame) -> pd.DataFrame:
        """Publish `df` as a declared table (`axes.core.Table`) of this chapter: typed parquet, the only form other
        chapters read, and the CSV beside it; returns `df` conformed to its declaration."""
        out = table.write(self.results_dir, _yours(df), axis=self.axis if table.axis is None else None)
        return out.drop(columns="yours") if "yours" in out.columns and "yours" not in df.columns else out

    def live_results(self, axis: str | None = None, **where: str) -> pd.DataFrame | None:
        """The study runner's results table of the live grid (`results_dir/live/results.csv`, written by
        `clipstudy build --profile live` before the chapters run), optionally one axis; None, after one
        visible notice, when the grid has not run."""
        from . import results

        try:
            return results.read_study(self.results_dir / "live", axis, **where)
        except Exception as e:  # noqa: BLE001: no table (not a live build) or an unreadable one
            live_missing([f"the live results table: {e}"])
            return None

    def live(self, axis: Any = None, datasets: Iterable[str] | None = None) -> pd.DataFrame | None:
        """The rows of `axis` (an `axes.Axis`; default this chapter's) in the runner's live results table, over
        `datasets` (default: those the chapter declares); None after one visible notice when the live profile
        was not selected, the table is absent, or it holds none of them. Datasets without rows are named in
        one notice and the rest are returned."""
        axis = axis if axis is not None else self.axis
        if axis is None or not axis.runner:
            raise ClipstudyError(f"{axis or 'this chapter'} has no runner axis: pass the axis whose rows to read")
        if self.params is not None and not self.params.live:
            live_missing(["the live profile was not selected: build with `clipstudy build --profile live` "
                          "on a machine with the checkpoints and datasets"])
            return None
        df = self.live_results(axis.runner)
        if df is None:
            return None
        df = as_families(df)
        want = list(datasets) if datasets is not None else list(self.axis.live) if self.axis is not None \
            else sorted(set(df["dataset"]))
        df = df[df["dataset"].isin(want)].reset_index(drop=True)
        lacking = [d for d in want if d not in set(df["dataset"])]
        if df.empty:
            live_missing([f"rows of axis `{axis.runner}` for {', '.join(want)} in the live results table (the "
                          "grid found no weights or data for them; `clipstudy run` lists why)"])
            return None
        if lacking:
            notice("Live rows missing", f"The live results table has no `{axis.runner}` rows for: "
                   + ", ".join(lacking) + ". The sections below use the datasets that have them; nothing is estimated.")
        self.pipeline_notice()
        return df

    @property
    def pipeline_check(self) -> bool:
        """This build's live numbers only check the pipeline (`Profile.pipeline_check`: random weights)."""
        return bool(self.params is not None and getattr(self.params, "pipeline_check", False))

    def pipeline_notice(self) -> None:
        """Above live numbers of a pipeline-check build: one notice that they are not a finding."""
        if self.pipeline_check:
            from .config import PIPELINE_CHECK

            notice("Pipeline check (random weights), not a finding", PIPELINE_CHECK)

    def live_finding(self, text: str, **numbers: float) -> str:
        """A live section's sentence: a finding, or, in a pipeline-check build, the same computed sentence
        marked as a pipeline check (random weights), never a finding."""
        if not self.pipeline_check:
            return finding(text, **numbers)
        s = text.format(**numbers)
        _display_md(f"**Pipeline check (random weights), not a finding.** {s}")
        return s

    def figure(self, fig: Any, data: pd.DataFrame, name: str) -> Any:
        """Save a figure's data as CSV and the figure as PNG; the figure still shows inline. A researcher's own
        models (`build --models`) are labelled "(yours)" wherever the figure names them (legends, ticks)."""
        self.save(data, name)
        mark_figure(fig)
        fig.savefig(self.path(name, ".png"), dpi=110, bbox_inches="tight")
        return fig


def _yours(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with a `yours` column when the researcher's own models are in the live panel and it has a model column."""
    from . import tables

    if tables.MARKED and "model" in df.columns and "yours" not in df.columns:
        return df.assign(yours=df["model"].isin(tables.MARKED))
    return df


def mark_figure(fig: Any) -> None:
    """Label the researcher's models "(yours)" in a figure's legends and tick labels (`tables.MARKED`)."""
    from . import tables

    if not tables.MARKED or not hasattr(fig, "axes"):
        return
    for leg in list(getattr(fig, "legends", [])) + [ax.get_legend() for ax in fig.axes]:
        for t in (leg.get_texts() if leg is not None else []):
            if t.get_text() in tables.MARKED:
                t.set_text(tables.marked(t.get_text()))
    for ax in fig.axes:  # categorical ticks are fixed labels: set them again, marked
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t.get_text() for t in axis.get_ticklabels()]
            if any(x in tables.MARKED for x in labels):
                axis.set_ticks(axis.get_ticklocs(), [tables.marked(x) for x in labels])


def as_families(df: pd.DataFrame) -> pd.DataFrame:
    """Live rows with each webdataset read as its folder family (`wds/imagenetv2` -> `imagenet-v2`), the name it
    was read under kept in `data_form`; where one model has both forms of a dataset, the folder form's rows stay."""
    from .datasets import family_of
    from .results import STUDY_IDENTITY as IDENTITY

    if df.empty:
        return df.assign(data_form=pd.Series(dtype=object))
    fam = df["dataset"].map(family_of)
    out = df.assign(data_form=df["dataset"], dataset=fam, _wds=fam != df["dataset"])
    out = out.sort_values("_wds", kind="stable").drop_duplicates(subset=list(IDENTITY), keep="first")
    return out.drop(columns="_wds").sort_index().reset_index(drop=True)


def start(axis: Any, profile: str = "lab", device: str = "auto", data_root: str = "",
          results_dir: str | Path = "book/results", precision: str = "auto") -> Chapter:
    """The setup every chapter shares, from its parameters cell: the build profile (`config.Profile`, which
    sets every size), the data root, the seaborn theme, the smoke warning, and the chapter's effects collector.

    `precision` is the build's resolved precision (`book.parameters`); a chapter run by hand with "auto"
    resolves it here, once, for its device (`encode.resolve_precision`).

    `axis` is the chapter's `clipstudy.axes.Axis` (its name, notebook and live datasets)."""
    import os

    import seaborn as sns

    from .config import profile as profile_of
    from .config import resolve_device

    from . import plugins

    prof = profile_of(profile)
    device = resolve_device(device)
    if precision == "auto":  # the notebook run by hand: its own entry
        from .encode import resolve_precision

        precision = resolve_precision(precision, device)
    plugins.load()  # registered extensions (OOD scores, ...) named in CLIPSTUDY_PLUGINS
    from . import tables
    from .config import live_yours

    tables.mark(live_yours(results_dir) if prof.live else ())  # the researcher's own live models (`build --models`)
    if data_root:  # papermill passes the build's CLIPSTUDY_DATA so records resolve the same way
        os.environ["CLIPSTUDY_DATA"] = data_root
    os.environ["CLIPSTUDY_CHAPTER"] = axis.chapter  # the feature cache's request log names the axis that asked
    sns.set_theme(context="notebook", style="whitegrid")
    # a book table is a record: show every row and column, never pandas' "..." cut
    for opt, v in (("display.max_rows", None), ("display.max_columns", None), ("display.width", 250),
                   ("display.max_colwidth", 140)):
        pd.set_option(opt, v)
    if prof.lab == "smoke":  # the smoke lab (the smoke and live-smoke profiles)
        notice("Smoke profile", axis.smoke_note)
    print("  ".join(f"{k}={v}" for k, v in prof.parameters().items()))
    return Chapter(axis.chapter, Path(results_dir), prof.name, axis=axis, params=prof,
                   device=device, effects=axis.collector(), precision=precision)


def notice(title: str, body: str) -> None:
    """One visible cell that says what is missing and how to get it."""
    # a blockquote renders the same in Jupyter and in the book (output markdown is CommonMark, no directives)
    quoted = "\n".join("> " + line if line else ">" for line in body.splitlines())
    _display_md(f"> **{title}.**\n>\n{quoted}")


def markdown(text: str) -> None:
    """A block of computed markdown (the claims page's per-claim audit)."""
    _display_md(text)


def heading(text: str) -> None:
    """A small bold heading above a table (a table grouped by axis, one per group)."""
    _display_md(f"**{text}**")


def finding(text: str, **numbers: float) -> str:
    """Format `text` with computed numbers (`{x:.3f}` style), display it, and return it."""
    s = text.format(**numbers)
    _display_md(f"**Finding.** {s}")
    return s


def direction(x: float, pos: str = "higher", neg: str = "lower", same: str = "no different", eps: float = 0.0) -> str:
    """A direction word chosen by the sign of a computed number."""
    if x != x:  # NaN
        return "not measurable"
    return pos if x > eps else neg if x < -eps else same


def records_status(*folders: str) -> tuple[bool, str]:
    """Whether the record folders (default: open_clip) are present in CLIPSTUDY_DATA, and a message if not."""
    from .config import data_root

    root = data_root() / "records"
    missing = [f for f in (folders or ("open_clip",)) if not (root / f).is_dir()]
    if not missing:
        return True, ""
    if not root.is_dir() or not folders:
        return False, (f"The published records are not in `{root}`. Run `clipstudy fetch records` "
                       "(or point `CLIPSTUDY_DATA` at a folder holding `records/`) and rebuild this chapter.")
    return False, (f"`{root}` lacks " + ", ".join(f"`{m}/`" for m in missing) + ". Run `clipstudy fetch records` "
                   "(it fetches every record set, each checked against its pinned SHA-256) and rebuild this chapter.")


def records_ready(*folders: str) -> bool:
    """Whether the record folders (default: open_clip) are present; if not, one "Records missing" cell."""
    ok, msg = records_status(*folders)
    if not ok:
        notice("Records missing", msg)
    return ok


def live_missing(what: list[str]) -> None:
    """The live section's one cell when weights or data are absent."""
    body = "This build has no live evidence for this chapter; nothing below is estimated.\n\nMissing:\n" + \
        "\n".join(f"- {w}" for w in what)
    notice("Live models or data missing", body)
