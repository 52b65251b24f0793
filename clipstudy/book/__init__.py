"""`clipstudy build`: the study book, in stages that each read one `Build` record.

    build(profile, only, device, ...)   the entry: checks what it is given, makes the `Build` (`prepare`) and runs
                                        the stages (`run`); non-zero exit if any chapter failed
    Build                               what every stage reads: the profile object (with its lab profile), the
                                        chapters in their declared order, the device, the precision as asked and
                                        as resolved, your models, the book folder, the executor

The stages, one module each: `grids` (the live and LMM grids, the lab zoo and the lab grid, through the study
runner), `chapters` (the declared chapter order, papermill execution, a book folder's state) and `html` (the table
of contents from the declaration, jupyter-book, MathJax). The jupytext notebooks are the source of truth; papermill
injects only the profile's name, the device, the precision and the roots after each chapter's `parameters` cell,
and `chapter.start` resolves the name there, once.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..deprecations import module_getattr
from ..errors import ClipstudyError
from ..profiles import Profile

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
BOOK = ROOT / "book"
CHAPTERS = BOOK / "chapters"
RESULTS = BOOK / "results"


@dataclass(frozen=True)
class Build:
    """One build of the book, made once by `prepare` and handed to every stage."""

    profile: Profile  # every size, the live panel, and the lab profile (`profile.lab`)
    notebooks: tuple  # the chapters to execute (`chapters.Notebook`), in the declared build order
    device: str  # resolved: where the chapters' kernels and the local grids run
    precision: str  # as asked (`--precision`): the runner's grids resolve it for the device their units run on
    resolved_precision: str  # resolved for `device`, once: what every chapter encodes in
    project: Path  # the book folder: this checkout, or the `--out` folder staged by `stage`
    yours: tuple[str, ...] = ()  # the researcher's own live models (`--models`, a live profile only)
    executor: str = "local"  # the runner's executor for the grids
    executor_options: dict | None = field(default=None, hash=False)
    html: bool = True  # build the HTML after the chapters
    fetch: bool = True  # first fetch the published records that are missing
    parameters: dict = field(default_factory=dict, hash=False)  # what papermill injects into every chapter

    @property
    def results(self) -> Path:
        return self.project / "book" / "results"

    @property
    def chapters_dir(self) -> Path:
        return self.project / "book" / "chapters"

    @property
    def live_study(self) -> Path:
        """The runner's study folder of the live grid: results.csv, units.csv, logs/."""
        return self.results / "live"

    @property
    def lab_study(self) -> Path:
        """The runner's study folder of the lab grid."""
        return self.results / "lab"


def stage(out: str | os.PathLike) -> Path:
    """A copy of the book's sources (config, static pages) in `out`, so that a build there writes its chapters,
    tables and HTML under `out` and never touches the checkout's book (tests, CI)."""
    out = Path(out).expanduser().resolve()
    (out / "book").mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, out / name)
    for page in BOOK.glob("*.md"):
        shutil.copy2(page, out / "book" / page.name)
    return out


def fetch_records() -> str | None:
    """Fetch the published records that are missing or damaged (verified; intact files are kept).

    Returns None when every record file is in place, else why not (offline, say): the build goes on and
    each records section of the book says what is missing and how to get it.
    """
    from .. import records

    try:
        records.fetch(progress=False)
        return None
    except ClipstudyError as e:
        return " ".join(str(e).split())


def your_models(models: Iterable[str] | str | None, profile: Profile) -> list[str]:
    """A researcher's own checkpoints for the live panel (`build --models M1,M2,@COLLECTION`, any name form,
    `local-dir:PATH` included), expanded and checked; only a live profile has a live panel."""
    if not models:
        return []
    from ..models import registry
    from ..profiles import live_profiles

    if not profile.live:
        raise ClipstudyError(f"--models adds your checkpoints to the live panel, which the {profile.name!r} profile "
                             f"does not run: build with --profile {' or '.join(live_profiles())}")
    from .. import zoo

    names = registry.expand(models)
    for n in names:
        zoo.get(n)  # an unknown name or form fails here, with the close ones
    return names


def prepare(profile: str | Profile = "lab", only: str | None = None, device: str = "auto", skip_html: bool = False,
            out: str | os.PathLike | None = None, fetch: bool | None = None, executor: str = "local",
            executor_options: dict | None = None, precision: str = "auto",
            models: Iterable[str] | str | None = None) -> Build:
    """The `Build` of `build`'s arguments, checked before any work: an unknown profile, chapter, precision or model,
    a device that is not there, an `--out` that cannot be written, and `--models` with a profile that runs no live
    panel all fail here. `profile` is a `profiles.Profile` or its name (resolved here, once)."""
    from ..config import resolve_device
    from ..encode import resolve_precision
    from ..profiles import profile as resolve
    from . import chapters

    prof = resolve(profile)
    dev = resolve_device(device)
    resolved = resolve_precision(precision, dev)  # a bad name fails now
    chosen = chapters.select(only)  # so does an unknown chapter
    if out is not None:  # and an --out that cannot be written (a file, under a file, read-only)
        from ..paths import writable_dir

        for d in (Path(out), Path(out) / "book", Path(out) / "book" / "chapters"):
            writable_dir(d, "--out")
    yours = your_models(models, prof)  # unknown names and a non-live profile fail now, before any work
    project = ROOT if out is None else stage(out)
    results = project / "book" / "results"
    return Build(prof, tuple(chosen), dev, precision, resolved, project, tuple(yours), executor, executor_options,
                 html=not skip_html, fetch=prof.fetch_records if fetch is None else fetch,
                 parameters=chapters.parameters(prof, dev, results_dir=results, precision=resolved))


def build(profile: str | Profile = "lab", only: str | None = None, device: str = "auto", skip_html: bool = False,
          out: str | os.PathLike | None = None, fetch: bool | None = None, executor: str = "local",
          executor_options: dict | None = None, precision: str = "auto",
          models: Iterable[str] | str | None = None) -> int:
    """Execute the chosen chapters and build the book; non-zero exit if any chapter failed.

    `profile`: a build profile (`profiles.Profile`) or its name. `models` (a live profile only) adds a researcher's
    own checkpoints to the live panel (any name form, `local-dir:PATH` included, and `@COLLECTION`s): the live grid
    runs them with the panel, every chapter marks them "(yours)" in its tables and figures, and the claims page's
    live effects include them where the contrast applies (their tags are known).

    `precision` pins the engine's (encoding) precision. It is resolved once, for the build's device
    (`encode.resolve_precision`, `Build.resolved_precision`), and passed down explicitly to every chapter as its
    `precision` papermill parameter, which the chapters hand to every encoding call (the runner's grids get it as
    asked, `Build.precision`: `run` resolves it for the device its units run on). No environment variable carries
    it. The lab zoo is trained under its own policy (`lab.train.train_precision`: fp32 while `TRAIN_AUTOCAST` is
    off), which `precision` does not change; train it otherwise explicitly (`clipstudy lab train --precision`,
    `lab.zoo.train(precision=...)`).

    `out` builds the whole book in another folder (see `stage`); by default it goes to book/ here.
    `fetch` (default: the profile's `fetch_records`: every profile but smoke and live-smoke) first fetches the
    published records that are missing, so the book carries real-model evidence by default. With a live profile,
    the grid the chapters declare runs first through the study runner (`executor`), into the book's results/live.
    """
    return run(prepare(profile, only, device, skip_html, out, fetch, executor, executor_options, precision, models))


def run(b: Build) -> int:
    """The build's stages, in order, each handed `b`: the records, the live grids (a live profile), the lab zoo and
    the lab grid (a profile with a lab), the chapters, the HTML; each stage's time is printed at the end."""
    from . import chapters, grids, html

    stages: list[tuple[str, float]] = []  # (stage, seconds): printed at the end, so a cold build's cost is on record
    t_build = t0 = time.time()
    if b.fetch:
        why = fetch_records()
        stages.append(("records", time.time() - t0))
        print("records: every published record file is in place" if why is None else
              f"records: could not fetch ({why}); the book builds without them and says so. "
              "Run `clipstudy fetch records` when online.", flush=True)
    if b.profile.live:
        from ..live import mark_live_evidence

        # a pipeline check or not, and which models are the researcher's, before a chapter reads
        mark_live_evidence(b.results, b.profile, b.yours)
        t0 = time.time()
        grids.run_live(b)
        grids.run_lmm(b)
        stages.append(("live grid", time.time() - t0))
    if b.profile.lab is not None:
        t0 = time.time()
        grids.lab_zoo(b)
        stages.append(("lab zoo", time.time() - t0))
        t0 = time.time()
        grids.run_lab(b)
        stages.append(("lab grid", time.time() - t0))
    runs = chapters.run_all(b, stages)
    incomplete = html.publish(b, stages) if b.html else False
    stages.append(("total", time.time() - t_build))
    print(stage_table(stages), flush=True)
    failed = [r for r in runs if not r.ok]
    if failed:
        print("\nchapters that failed:", file=sys.stderr)
        for r in failed:
            print(f"  {r.name}: {r.error}", file=sys.stderr)
        return 1
    return 1 if incomplete else 0


def stage_table(stages: list[tuple[str, float]]) -> str:
    """The build's stages as a small text table: seconds, and the share of the total (the last row)."""
    total = stages[-1][1] if stages else 0.0
    width = max((len(n) for n, _ in stages), default=5)
    lines = ["build stages:"] + [f"  {n:<{width}}  {s:7.0f} s  {100 * s / total if total else 0:5.1f}%" for n, s in stages]
    return "\n".join(lines)


__getattr__ = module_getattr(__name__)  # the stages' names this module once held (clipstudy.deprecations)


from . import chapters, grids, html  # noqa: E402  the stages, after the names they import from here
