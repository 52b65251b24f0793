"""The study runner: plan the grid's missing units, execute them on an executor, evaluate every axis.

    clipstudy run --models M1,M2|@COLLECTION --datasets D1,D2|@COLLECTION [--axes all|shifts,...]
                  [--prompts SET] [--executor local|slurm|ray] [--precision ...] [--summary-json PATH]

Everything a run writes goes under its study folder: `results.csv` (the tidy results table), `units.csv`
(one row per unit: status, what it encoded, its error), `summary.json`, and `logs/<unit>.log`.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from ..errors import ClipstudyError
from ..profiles import LabProfile
from .plan import Plan, lab_recipe, plan
from .unit import UnitResult

SUMMARY_KEYS = ("units_total", "units_computed", "units_reused", "units_failed", "images_encoded",
                "prompts_encoded")


@dataclass
class Summary:
    """The `--summary-json` counts (exactly these keys)."""

    units_total: int = 0
    units_computed: int = 0
    units_reused: int = 0
    units_failed: int = 0
    images_encoded: int = 0
    prompts_encoded: int = 0

    @classmethod
    def of(cls, plan_: Plan, results: Sequence[UnitResult]) -> "Summary":
        seen = {r.key for r in results}  # a reused unit that failed its evaluation is counted once, as failed
        s = cls(units_total=plan_.total, units_reused=sum(u.key not in seen for u in plan_.reused),
                units_failed=len(plan_.failed))
        for r in results:
            s.units_computed += r.status == "computed"
            s.units_reused += r.status == "reused"
            s.units_failed += r.status == "failed"
            s.images_encoded += r.images_encoded
            s.prompts_encoded += r.prompts_encoded
        return s

    def as_dict(self) -> dict:
        return asdict(self)


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says what was kept and how to resume."""


@dataclass
class Outcome:
    plan: Plan
    results: list[UnitResult] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)
    table: pd.DataFrame | None = None
    table_path: Path | None = None
    dry_run: dict | None = None

    @property
    def failed(self) -> list[UnitResult]:
        return list(self.plan.failed) + [r for r in self.results if r.status == "failed"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _write_json(obj: Any, path: Path) -> None:
    from ..store import atomic_write_text

    atomic_write_text(json.dumps(obj, indent=1) + "\n", Path(path))


UNIT_COLUMNS = ["key", "model", "dataset", "status", "images_encoded", "prompts_encoded", "seconds", "error"]


def read_units(path: Path) -> pd.DataFrame:
    """`units.csv`, strictly (results.read_strict): a cut-off or foreign file is refused."""
    from ..results import read_strict

    return read_strict(path, UNIT_COLUMNS, text=["key", "model", "dataset", "status"],
                       ints=["images_encoded", "prompts_encoded"], floats=["seconds"], what="units table (units.csv)")


def check_study(study: Path) -> None:
    """Before any work: the study folder can be written, and the tables a run merges into are the runner's
    (results.csv and units.csv, read strictly)."""
    from ..paths import cannot_write, writable_dir
    from ..results import read_study_table as read_table, study_path as table_path

    writable_dir(study, "--study")
    if table_path(study).is_file():
        read_table(table_path(study))
    if (study / "units.csv").is_file():
        read_units(study / "units.csv")
    for name in ("results.csv", "units.csv", "summary.json"):
        f = study / name
        if f.exists() and (not f.is_file() or cannot_write(f) is not None):
            raise ClipstudyError(f"--study {study}: {f} cannot be written (read-only, or not a file); "
                                 "give another --study")


def _write_units(study: Path, plan_: Plan, results: Sequence[UnitResult]) -> None:
    """Upsert this run's units into `units.csv` (atomic, under a lock): units of other runs on the same
    study folder (another grid, or a concurrent run) are kept, as results.csv keeps their rows."""
    from ..results import lock_path
    from ..store import atomic_write_text, locked

    done = {r.key for r in results}
    rows = [r.row() for r in plan_.failed] + [r.row() for r in results]
    rows += [UnitResult(u.key, u.model, u.dataset, "reused").row() for u in plan_.reused if u.key not in done]
    rows += [UnitResult(u.key, u.model, u.dataset, "not run").row() for u in plan_.todo
             if u.key not in done]
    new = pd.DataFrame(rows, columns=UNIT_COLUMNS)
    path = study / "units.csv"
    with locked(lock_path(path)):
        if path.exists():
            old = read_units(path)
            not_run = set(new.loc[new["status"] == "not run", "key"])
            new = new[~new["key"].isin(not_run & set(old["key"]))]  # 'not run' here hides no other run's row
            old = old[~old["key"].isin(set(new["key"]))]
            new = pd.concat([old, new], ignore_index=True) if len(old) else new
        atomic_write_text(new.to_csv(index=False), path)
        # the study's summary.json counts what units.csv holds (the latest status of every unit of every run on
        # this folder), so two runs on one study folder leave one summary of both grids, not the last run's
        _write_json(study_summary(new).as_dict(), study / "summary.json")


def study_summary(units: pd.DataFrame) -> Summary:
    """The Summary of a study folder's units table: each unit once, by its latest status."""
    st = units["status"].astype(str)
    return Summary(units_total=len(units), units_computed=int((st == "computed").sum()),
                   units_reused=int((st == "reused").sum()), units_failed=int((st == "failed").sum()),
                   images_encoded=int(units["images_encoded"].sum()), prompts_encoded=int(units["prompts_encoded"].sum()))


def _fail_evaluated(out: "Outcome", units: Sequence, bad: dict[str, str]) -> None:
    """Mark the units whose evaluation raised as failed, with the error (a reused one gets a result row)."""
    by_key = {r.key: r for r in out.results}
    for u in units:
        if u.key not in bad:
            continue
        r = by_key.get(u.key)
        if r is None:
            r = UnitResult(u.key, u.model, u.dataset, "failed")
            out.results.append(r)
        r.status, r.error = "failed", bad[u.key]


def prepare(units: Iterable) -> None:
    """Train the lab models the units need, once, here, before any worker loads them."""
    from ..lab import zoo as lab_zoo

    need: dict[LabProfile, list[str]] = {}
    for u in units:
        lab = lab_recipe(u.model, u.lab_profile)
        if lab is not None and not lab_zoo.is_trained(*lab):
            need.setdefault(lab[1], []).append(lab[0])
    for profile, recipes in need.items():
        lab_zoo.train(sorted(set(recipes)), profile=profile)


def run(models: Iterable[str] | str, datasets: Iterable[str] | str, *, axes: Sequence[str] | str = "all",
        prompts: Sequence[str] | str = "openai80", executor: str = "local", executor_options: dict | None = None,
        precision: str = "auto", device: str = "auto", study: str | Path = "study",
        summary_json: str | Path | None = None, lab_profile: str | None = None, batch_size: int = 64,
        num_workers: int | str = "auto", dry_run: bool = False, evaluate: bool = True, progress: bool = True) -> Outcome:
    """Plan, execute and evaluate one grid (see the module docstring); failed units do not stop the others."""
    from tqdm.auto import tqdm

    from ..cache import FeatureCache
    from ..results import write_study
    from . import evaluate as ev
    from . import executors

    if summary_json:  # before any work: a --summary-json under a file, or read-only, fails now
        from ..paths import writable_file

        summary_json = writable_file(summary_json, "--summary-json")
    study = Path(study).expanduser().resolve()
    check_study(study)
    FeatureCache().check_usable()
    ex = executors.get(executor, **(executor_options or {}))
    p = plan(models, datasets, axes=axes, prompts=prompts, precision=precision, device=device,
             device_kind=ex.device_kind(device), lab_profile=lab_profile, batch_size=batch_size,
             num_workers=num_workers, study=str(study))
    study.mkdir(parents=True, exist_ok=True)
    out = Outcome(p)
    if dry_run:
        if not hasattr(ex, "dry_run"):
            raise ClipstudyError(f"--dry-run is for --executor slurm (it writes the sbatch script); "
                                 f"{executor} has nothing to submit")
        out.dry_run = ex.dry_run(p.todo) if p.todo else dict(script="", array_size=0)
        out.summary = Summary.of(p, [])
        return out
    if p.todo:
        FeatureCache().check_writable()
        from .local import _sweep

        _sweep(p.todo)  # temporary files that killed workers of earlier runs left (dead writers' only)
        prepare(p.todo)
    bar = tqdm(total=p.total, initial=len(p.reused) + len(p.failed), desc=f"units ({executor})", unit="unit",
               disable=not progress)

    def on_result(r: UnitResult) -> None:
        out.results.append(r)
        bar.update(1)
        s = Summary.of(p, out.results)
        bar.set_postfix(computed=s.units_computed, reused=s.units_reused, failed=s.units_failed)
        if r.status == "failed":
            bar.write(f"unit failed: {r.model} x {r.dataset}: {r.error}")

    try:
        ex.run(p.todo, on_result)
    except KeyboardInterrupt as e:
        bar.close()
        out.summary = Summary.of(p, out.results)
        _write_units(study, p, out.results)
        why = f" ({e})" if str(e) else ""
        raise RunInterrupted(
            f"interrupted{why}. {len(out.results)} of {len(p.todo)} units finished in this run and are kept; "
            f"a unit that was running keeps its finished shards. Run the same command again to resume "
            f"(units: {study / 'units.csv'}).") from e
    bar.close()
    if evaluate:
        done = {r.key for r in out.results if r.status in ("computed", "reused")}
        complete = [u for u in p.units if u in p.reused or u.key in done]
        bad: dict[str, str] = {}
        out.table = ev.evaluate(complete, p.axes, progress=progress, failed=bad)
        _fail_evaluated(out, complete, bad)
        out.table_path = write_study(study, out.table)
    out.summary = Summary.of(p, out.results)
    _write_units(study, p, out.results)
    if summary_json:
        _write_json(out.summary.as_dict(), Path(summary_json).expanduser())
    return out
