"""The build's grids, before the chapters execute: the live grid and chapter 09's LLaVA grid (a live profile), and
the lab half (the lab zoo, then the lab grid), each through the study runner; the chapters then read their results
tables and hit their cached features.

Every stage takes the build's record (`clipstudy.book.Build`): its profile object, its chapters, its device, the
precision as asked (`run` resolves it for the device its units run on: another machine's GPU with --executor slurm
or ray), its executor and its folders.
"""
from __future__ import annotations

import time
from typing import Any, Iterable

from ..profiles import Profile


def live_datasets(book: Iterable[Any], encoders: bool = False) -> list[str]:
    """The live datasets the chapters `book` (`chapters.Notebook`s) declare (each axis module's `AXIS.live`); with
    `encoders`, only those an encoder's axes read (the LMM axis' datasets are its LLaVA units', `run_lmm`)."""
    from ..tasks import LMM

    return list(dict.fromkeys(d for n in book if not (encoders and n.axis.tasks == (LMM,)) for d in n.axis.live))


def live_forms(datasets: list[str], wds: bool = False) -> list[str]:
    """The names the live grid reads: each family as its folder, or, with `wds` (the profile's `live_wds`), its
    CLIP_benchmark webdataset (`wds/NAME`, from the hub) where the folder is absent and a wds form exists. The
    chapters read wds rows as their family (`chapter.as_families`)."""
    if not wds:
        return list(datasets)
    from .. import live
    from ..datasets import wds as wds_forms

    out = []
    for d in datasets:
        form = wds_forms.wds_form(d)
        out.append(form if form is not None and live.dataset_present(d) is not None else d)
    return out


def live_models(b: Any) -> list[str]:
    """The live grid's models: the profile's (`Profile.live_models`, else the live panel, `@live`), then the
    researcher's own that are no LLaVA (those run in `run_lmm`)."""
    from ..models.collection import LIVE
    from ..models.sources.llava import PREFIX as LLAVA

    return list(dict.fromkeys(list(b.profile.live_models or LIVE) + [m for m in b.yours if not m.startswith(LLAVA)]))


def run_live(b: Any, models: Iterable[str] | None = None, prompts: str | None = None):
    """Run the grid the build's chapters declare, over the live models and datasets this machine has, through the
    runner (the build's executor), into the build's live study; the chapters then read its results table and hit
    its cached features. Missing weights or data are left to each chapter's one "missing" cell.

    The models (`live_models`), the prompt set and whether absent folders are read from their wds form come from
    the build unless given."""
    from .. import live, run

    prof = b.profile
    models = live_models(b) if models is None else models
    datasets = live_forms(live_datasets(b.notebooks, encoders=True), wds=prof.live_wds)
    panel = live.panel(datasets, models=list(models))
    if not panel.ready:
        print(f"live grid: nothing to run ({len(panel.missing)} model(s) or dataset(s) missing; the chapters say which)",
              flush=True)
        return None
    print(f"live grid: {len(panel.models)} model(s) x {len(panel.datasets)} dataset(s) on --executor {b.executor}",
          flush=True)
    out = run.run(panel.models, panel.datasets, prompts=prompts or prof.live_prompts, executor=b.executor,
                  executor_options=b.executor_options, device=b.device, study=b.live_study, precision=b.precision)
    for r in out.failed:
        print(f"  live unit failed: {r.model} x {r.dataset}: {r.error}", flush=True)
    return out


def run_lmm(b: Any):
    """Chapter 09's live LLaVA checkpoints (`Profile.live_lmms`, plus a researcher's `llava:` models) on the
    datasets the LMM axis declares, through the runner's `lmm` axis into the same live study; a checkpoint that
    is not on this machine fails its unit with how to get it, and chapter 09 says what is missing."""
    from .. import run
    from ..axes import lmm as lmm_axis
    from ..models.sources.llava import CHECKPOINTS, PREFIX

    lmm = lmm_axis.AXIS
    if lmm.chapter not in {n.name for n in b.notebooks}:  # chapter 09 is not built
        return None
    prof = b.profile
    lmms = [PREFIX + c for c in CHECKPOINTS] if prof.live_lmms is None else list(prof.live_lmms)
    lmms = list(dict.fromkeys(lmms + [m for m in b.yours if m.startswith(PREFIX)]))
    if not lmms:
        return None
    print(f"live LMM grid: {len(lmms)} LLaVA checkpoint(s) x {', '.join(lmm.live)} on --executor {b.executor}",
          flush=True)
    out = run.run(lmms, list(lmm.live), axes=lmm.runner, prompts=prof.live_prompts, executor=b.executor,
                  executor_options=b.executor_options, device=b.device, study=b.live_study, precision=b.precision)
    for r in out.failed:
        print(f"  live LMM unit failed: {r.model} x {r.dataset}: {r.error}", flush=True)
    return out


def lab_zoo(b: Any) -> None:
    """The lab zoo of the build's lab profile, ready: fetched from a hub (`CLIPSTUDY_LAB_HUB`) and verified, or
    trained where missing (a warm cache loads), chapter 09's mini-LLaVAs in the same schedule as the CLIPs when
    chapter 09 is built."""
    from ..axes import lmm as lmm_axis
    from ..lab import llava as lab_llava, zoo as lab_zoo

    lab = b.profile.lab
    t0 = time.time()
    reads = lmm_axis.AXIS.chapter in {n.name for n in b.notebooks}
    llavas = lmm_axis.lab_pairs(lab) if reads else []  # chapter 09's mini-LLaVAs, when it is built
    from ..environment import lab_hub as published_zoo

    if published_zoo():  # CLIPSTUDY_LAB_HUB, a published zoo: fetched and verified, not trained
        from ..lab import hub as lab_hub

        lab_hub.book_fetch(published_zoo(), lab, llavas)
    lab_zoo.train(None, profile=lab, after=lab_llava.zoo_jobs(llavas, lab))
    print(f"lab zoo ready ({lab.name}) in {time.time() - t0:.0f}s", flush=True)


def lab_grid(profile: Profile, book: Iterable[Any]) -> tuple[list[str], list[str]]:
    """(models, datasets) of the lab grid the chapters `book` declare: every lab recipe under every training seed
    of the profile's lab, by the lab sets each axis module names (`Axis.lab`), at the profile's sizes."""
    from ..lab import zoo as lab_zoo

    lab = profile.lab
    sets = list(dict.fromkeys(s for n in book for s in n.axis.lab))
    models = [f"lab:{lab_zoo.label(r)}@{lab.name}" for n in lab_zoo.names() for r in lab_zoo.seeded(n, lab)]
    return models, [f"{s}:{profile.lab_n(s)}" for s in sets]


def run_lab(b: Any):
    """The lab half of the book through the study runner, as the live half: every (lab model, lab set) unit
    the chapters read is encoded once into the store (with both lab prompt sets' heads) and evaluated into
    the build's lab study; the chapters then read those features from the store."""
    from .. import run

    models, datasets = lab_grid(b.profile, b.notebooks)
    if not datasets:
        return None
    t0 = time.time()
    # the runner's units carry the lab profile by name: they may run in another process or on another machine
    out = run.run(models, datasets, prompts="lab-single,lab-ensemble", executor=b.executor,
                  executor_options=b.executor_options, device=b.device, lab_profile=b.profile.lab.name,
                  study=b.lab_study, progress=False, precision=b.precision)
    s = out.summary
    print(f"lab grid: {len(models)} model(s) x {len(datasets)} set(s) on --executor {b.executor}: "
          f"{s.units_computed} computed, {s.units_reused} reused, {s.units_failed} failed, "
          f"{s.images_encoded} images encoded in {time.time() - t0:.0f}s", flush=True)
    for r in out.failed:
        print(f"  lab unit failed: {r.model} x {r.dataset}: {r.error}", flush=True)
    return out
