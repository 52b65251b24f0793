"""`clipstudy build`: execute the chapters with papermill, then build the Jupyter Book.

The jupytext `.py` files in notebooks/ are the source of truth. Each is
executed with its profile's parameters into book/chapters/, and a failing
chapter is reported by cell and error while the others still build.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from . import store
from .config import PROFILES
from .errors import ClipstudyError, UnknownNameError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BOOK = ROOT / "book"
CHAPTERS = BOOK / "chapters"
RESULTS = BOOK / "results"

# The build profiles are `config.PROFILES` (`config.Profile`: every size); papermill injects only the profile's
# name, the device and the roots after a chapter's `parameters` cell, and `chapter.start` reads the sizes.


@dataclass
class ChapterRun:
    name: str
    ok: bool
    seconds: float
    error: str = ""


def chapters() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def select(only: str | None) -> list[Path]:
    paths = chapters()
    if only is None:
        return paths
    picked = [p for p in paths if p.name.startswith(only.zfill(2)) or p.stem == only]
    if not picked:
        raise UnknownNameError("chapter", only, [p.stem for p in paths])
    return picked


def parameters(profile: str, device: str = "auto", results_dir: Path = RESULTS, precision: str = "auto",
               **roots: str) -> dict[str, Any]:
    """What papermill injects into every chapter's one-line parameters cell (`params = {...}`): the profile's
    name (`config.PROFILES` sets every size from it), the device, the precision (`build` passes the one it
    resolved) and the roots (`data_root` overrides CLIPSTUDY_DATA)."""
    if profile not in PROFILES:
        raise UnknownNameError("profile", profile, list(PROFILES))
    from .config import data_root

    return {"params": dict(profile=profile, device=device, precision=precision,
                           data_root=str(roots.get("data_root", data_root())), results_dir=str(results_dir))}


def stage(out: str | os.PathLike) -> Path:
    """A copy of the book's sources (config, toc, static pages) in `out`, so that a build there writes
    its chapters, tables and HTML under `out` and never touches the checkout's book (tests, CI)."""
    out = Path(out).expanduser().resolve()
    (out / "book").mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, out / name)
    for page in BOOK.glob("*.md"):
        shutil.copy2(page, out / "book" / page.name)
    return out


def failed_path(out_dir: Path, stem: str) -> Path:
    """Where a chapter that failed leaves its executed notebook: hidden (`book/chapters/.*` is excluded from the
    book), so the previous good chapter, if any, stays what the book shows."""
    return out_dir / f".{stem}.failed.ipynb"


def execute(path: Path, params: dict[str, Any], out_dir: Path | None = None) -> ChapterRun:
    """Run one chapter; on failure name the cell and the error instead of raising.

    papermill writes into a hidden temporary notebook beside the chapter; only a chapter that ran to the end
    is renamed into place (atomically). A failed one is kept as `.NN_name.failed.ipynb` and the previous good
    chapter, if any, is left as it was; an interrupted one (Ctrl-C) leaves nothing behind.
    """
    out_dir = out_dir or CHAPTERS
    import jupytext
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / f".{path.stem}.input.ipynb"
    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(nb, src, fmt="ipynb")
    out = out_dir / f"{path.stem}.ipynb"
    running = out_dir / f".{path.stem}.running.ipynb"
    failed = failed_path(out_dir, path.stem)
    t0 = time.time()
    env_before = dict(os.environ)
    # the kernel inherits this: inline figures are what the book shows, whatever the caller's backend (CI: Agg)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    run: ChapterRun | None = None
    try:
        pm.execute_notebook(str(src), str(running), parameters=params, kernel_name="python3", progress_bar=False,
                            cwd=str(ROOT))
        run = ChapterRun(path.stem, True, time.time() - t0)
    except PapermillExecutionError as e:
        first = (e.source or "").strip().splitlines()[:1]
        # papermill counts its injected-parameters cell; report the cell of the source notebook, 1-based
        tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
        idx = e.cell_index - (1 if tagged and e.cell_index > tagged[0] else 0)
        run = ChapterRun(path.stem, False, time.time() - t0,
                         f"cell {idx + 1} ({first[0][:70] if first else ''}): {e.ename}: {e.evalue}")
    except Exception as e:  # kernel died, bad notebook: still a named chapter failure
        run = ChapterRun(path.stem, False, time.time() - t0, f"{type(e).__name__}: {e}")
    finally:
        os.environ.clear()
        os.environ.update(env_before)
        src.unlink(missing_ok=True)
        if run is None:  # interrupted (KeyboardInterrupt, SystemExit): no half-executed notebook is kept
            running.unlink(missing_ok=True)
    if running.exists():
        tidy_parameters(running, stem=path.stem)
        if run.ok:
            store.publish(running, out)
            failed.unlink(missing_ok=True)
        else:
            mark_failed(running, run.error)
            store.publish(running, failed)
    if not run.ok:
        kept = "the previous good chapter is kept" if out.exists() and not chapter_problem(out) else \
            "the book has no good version of it"
        run.error += f" ({kept}; the failed notebook is {failed})" if failed.exists() else f" ({kept})"
    return run


def mark_failed(path: Path, error: str) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.metadata.setdefault("clipstudy", {})["failed"] = error
    nbformat.write(nb, path)


def chapter_problem(path: Path) -> str | None:
    """Why an executed chapter in a book folder must not be published, or None: it failed (marked so, or it
    holds a cell error, as a failed chapter written by an older build does), or it cannot be read."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:  # noqa: BLE001: any unreadable notebook is a problem to report, not to raise
        return f"it cannot be read ({type(e).__name__})"
    if nb.metadata.get("clipstudy", {}).get("failed"):
        return f"it failed: {nb.metadata['clipstudy']['failed']}"
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []):
            if o.get("output_type") == "error":
                return f"it holds an error in cell {i + 1}: {o.get('ename')}: {o.get('evalue', '')}"[:300]
    return None


@dataclass
class BookState:
    """What a book folder holds for each chapter of the book, checked before its HTML is built."""
    bad: dict[str, str]     # chapter -> why it must not be published (an older build's failed notebook)
    stale: list[str]        # a good chapter shown, though its last build failed (.NN.failed.ipynb is newer)
    failed: list[str]       # no good version: its last build failed
    missing: list[str]      # never built in this folder


def book_state(chapters_dir: Path) -> BookState:
    """The state of every chapter of the book in `chapters_dir`: `--only NN` into a folder never publishes an
    older failed chapter, and says which chapters the book lacks or shows from an earlier build."""
    st = BookState({}, [], [], [])
    for p in chapters():
        nb, failed = chapters_dir / f"{p.stem}.ipynb", failed_path(chapters_dir, p.stem)
        if not nb.exists():
            (st.failed if failed.exists() else st.missing).append(p.stem)
        elif (why := chapter_problem(nb)) is not None:
            st.bad[p.stem] = why
        elif failed.exists() and failed.stat().st_mtime_ns > nb.stat().st_mtime_ns:
            st.stale.append(p.stem)
    return st


# parameters that name the build machine's folders: the published notebook shows the notebook's own defaults
MACHINE_PARAMETERS = ("data_root", "results_dir")


def _published_parameters(nb) -> None:
    """The executed notebook without the builder's folders: in its injected-parameters cell and papermill's
    metadata, `MACHINE_PARAMETERS` take the notebook's defaults (its `parameters` cell), and papermill's input and
    output paths are dropped; what ran is otherwise as recorded."""
    import ast

    from papermill.translators import translate_parameters

    def params_of(cell) -> dict | None:
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            return None
        for node in tree.body:
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["params"]:
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    return None
                return value if isinstance(value, dict) else None
        return None

    tagged = {t: c for c in nb.cells for t in c.metadata.get("tags", [])}
    defaults = params_of(tagged["parameters"]) if "parameters" in tagged else None
    defaults = defaults or {"data_root": "", "results_dir": "book/results"}
    injected = tagged.get("injected-parameters")
    ran = params_of(injected) if injected is not None else None
    if ran is not None:
        shown = {k: defaults.get(k, "") if k in MACHINE_PARAMETERS else v for k, v in ran.items()}
        injected.source = translate_parameters("python3", "python", {"params": shown}, "Parameters").rstrip() + \
            f"\n# {', '.join(MACHINE_PARAMETERS)}: the build machine's folders, shown as the notebook's defaults\n"
    pm = nb.metadata.get("papermill", {})
    for k in ("input_path", "output_path"):
        pm.pop(k, None)
    if isinstance(pm.get("parameters"), dict) and isinstance(pm["parameters"].get("params"), dict):
        pm["parameters"]["params"] = {k: defaults.get(k, "") if k in MACHINE_PARAMETERS else v
                                      for k, v in pm["parameters"]["params"].items()}


def tidy_parameters(path: Path, stem: str | None = None) -> None:
    """In the book, drop the default-parameters cell and fold every code cell behind a toggle: readers see
    the narrative and the outputs, and can expand the code (the injected parameters included, without the
    build machine's folders)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    _published_parameters(nb)
    for c in nb.cells:
        tags = c.metadata.setdefault("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
        if c.cell_type == "code" and not {"hide-input", "remove-input", "remove-cell"} & set(tags):
            tags.append("hide-input")
        for o in c.get("outputs", []):
            if WIDGET in o.get("data", {}):
                o["data"] = {"text/markdown": WIDGET_NOTE.format(stem=stem or path.stem)}
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)


WIDGET = "application/vnd.jupyter.widget-view+json"
# A widget needs a running kernel (or a widget manager loaded from the network): the static book says so and
# points at the figures, which the chapters draw for every case the explorer offers.
WIDGET_NOTE = ("*Interactive explorer: it needs a running kernel. Open `notebooks/{stem}.ipynb` in Jupyter to use "
               "it; the static figures above show what it draws.*")


# MathJax 3 ships inside the book (from the registry package django-static-mathjax), so math renders offline.
MATHJAX = "mathjax/tex-svg.js"


def vendor_mathjax(html: Path) -> Path:
    """Copy MathJax's single-file SVG build into the book's _static folder (see `mathjax_path` in _config.yml)."""
    import importlib.util

    spec = importlib.util.find_spec("mathjax")
    src = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5" / "tex-svg.js" \
        if spec and spec.submodule_search_locations else None
    if src is None or not src.is_file():
        raise ClipstudyError("MathJax is missing: `pip install django-static-mathjax` (it ships MathJax 3) so the "
                             "book's math renders without a network")
    dest = html / "_static" / MATHJAX
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    return dest


def build_html(project: Path = ROOT) -> Path:
    """jupyter-book build of `project` (its _config.yml/_toc.yml) into `project`/book/_build/html."""
    book_dir = project / "book"
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(project), "--path-output", str(book_dir)]
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClipstudyError(f"jupyter-book build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    html = book_dir / "_build" / "html"
    vendor_mathjax(html)
    return html


def fetch_records() -> str | None:
    """Fetch the published records that are missing or damaged (verified; intact files are kept).

    Returns None when every record file is in place, else why not (offline, say): the build goes on and
    each records section of the book says what is missing and how to get it.
    """
    from . import records

    try:
        records.fetch(progress=False)
        return None
    except ClipstudyError as e:
        return " ".join(str(e).split())


LIVE_STUDY = RESULTS / "live"  # the runner's study folder for the live profile: results.csv, units.csv, logs/


def live_grid(only: str | None = None, encoders: bool = False) -> list[str]:
    """The live datasets the chosen chapters declare (each axis module's `AXIS.live`); with `encoders`, only
    those an encoder's axes read (the LMM axis' datasets are its LLaVA units', `run_lmm_grid`)."""
    from . import axes
    from .tasks import LMM

    found = [axes.of_chapter(p.stem) for p in select(only)]
    return list(dict.fromkeys(d for a in found if a is not None and not (encoders and a.tasks == (LMM,))
                              for d in a.live))


def live_forms(datasets: list[str], wds: bool = False) -> list[str]:
    """The names the live grid reads: each family as its folder, or, with `wds` (the profile's `live_wds`), its
    CLIP_benchmark webdataset (`wds/NAME`, from the hub) where the folder is absent and a wds form exists. The
    chapters read wds rows as their family (`chapter.as_families`)."""
    if not wds:
        return list(datasets)
    from . import live
    from .datasets import wds as wds_forms

    out = []
    for d in datasets:
        form = wds_forms.wds_form(d)
        out.append(form if form is not None and live.dataset_present(d) is not None else d)
    return out


def run_live_grid(only: str | None = None, device: str = "auto", executor: str = "local",
                  executor_options: dict | None = None, models=None, prompts: str | None = None,
                  study: Path | None = None, precision: str = "auto", profile: str = "live"):
    """Run the grid the chapters declare, over the live models and datasets this machine has, through the
    runner (any executor), before the notebooks execute; the chapters then read its results table and hit
    its cached features. Missing weights or data are left to each chapter's one "missing" cell.

    The models, the prompt set and whether absent folders are read from their wds form come from the profile
    (`Profile.live_models`, `live_prompts`, `live_wds`) unless given."""
    from . import live, run
    from .models.collection import LIVE

    prof = PROFILES[profile]
    datasets = live_forms(live_grid(only, encoders=True), wds=prof.live_wds)
    panel = live.panel(datasets, models=list(models or prof.live_models or LIVE))
    if not panel.ready:
        print(f"live grid: nothing to run ({len(panel.missing)} model(s) or dataset(s) missing; the chapters say which)",
              flush=True)
        return None
    print(f"live grid: {len(panel.models)} model(s) x {len(panel.datasets)} dataset(s) on --executor {executor}",
          flush=True)
    out = run.run(panel.models, panel.datasets, prompts=prompts or prof.live_prompts, executor=executor,
                  executor_options=executor_options, device=device, study=study or LIVE_STUDY, precision=precision)
    for r in out.failed:
        print(f"  live unit failed: {r.model} x {r.dataset}: {r.error}", flush=True)
    return out


def run_lmm_grid(only: str | None, yours: list[str], device: str = "auto", executor: str = "local",
                 executor_options: dict | None = None, study: Path | None = None, precision: str = "auto",
                 profile: str = "live"):
    """Chapter 09's live LLaVA checkpoints (`Profile.live_lmms`, plus a researcher's `llava:` models) on the
    datasets the LMM axis declares, through the runner's `lmm` axis into the same live study; a checkpoint that
    is not on this machine fails its unit with how to get it, and chapter 09 says what is missing."""
    from . import axes, run
    from .models.sources.llava import CHECKPOINTS, PREFIX

    lmm = axes.runner("lmm")
    if lmm.chapter not in {p.stem for p in select(only)}:
        return None
    prof = PROFILES[profile]
    lmms = list(dict.fromkeys([PREFIX + c for c in CHECKPOINTS] if prof.live_lmms is None else list(prof.live_lmms)))
    lmms = list(dict.fromkeys(lmms + list(yours)))
    if not lmms:
        return None
    print(f"live LMM grid: {len(lmms)} LLaVA checkpoint(s) x {', '.join(lmm.live)} on --executor {executor}", flush=True)
    out = run.run(lmms, list(lmm.live), axes=lmm.runner, prompts=prof.live_prompts, executor=executor,
                  executor_options=executor_options, device=device, study=study or LIVE_STUDY, precision=precision)
    for r in out.failed:
        print(f"  live LMM unit failed: {r.model} x {r.dataset}: {r.error}", flush=True)
    return out


LAB_STUDY = RESULTS / "lab"  # the runner's study folder for the lab grid


def lab_grid(profile: str, only: str | None = None) -> tuple[list[str], list[str]]:
    """(models, datasets) of the lab grid the chosen chapters declare: every lab recipe under every training
    seed of the profile, by the lab sets each axis module names (`Axis.lab`), at the profile's sizes."""
    from . import axes
    from .lab import zoo as lab_zoo

    prof = PROFILES[profile]
    found = [axes.of_chapter(p.stem) for p in select(only)]
    sets = list(dict.fromkeys(s for a in found if a is not None for s in a.lab))
    models = [f"lab:{lab_zoo.label(r)}@{prof.lab}" for n in lab_zoo.names() for r in lab_zoo.seeded(n, prof.lab)]
    return models, [f"{s}:{prof.lab_n(s)}" for s in sets]


def run_lab_grid(profile: str, only: str | None = None, device: str = "auto", executor: str = "local",
                 executor_options: dict | None = None, study: Path | None = None, precision: str = "auto"):
    """The lab half of the book through the study runner, as the live half: every (lab model, lab set) unit
    the chapters read is encoded once into the store (with both lab prompt sets' heads) and evaluated into
    the study's results table; the chapters then read those features from the store."""
    from . import run

    models, datasets = lab_grid(profile, only)
    if not datasets:
        return None
    t0 = time.time()
    out = run.run(models, datasets, prompts="lab-single,lab-ensemble", executor=executor,
                  executor_options=executor_options, device=device, lab_profile=PROFILES[profile].lab,
                  study=study or LAB_STUDY, progress=False, precision=precision)
    s = out.summary
    print(f"lab grid: {len(models)} model(s) x {len(datasets)} set(s) on --executor {executor}: "
          f"{s.units_computed} computed, {s.units_reused} reused, {s.units_failed} failed, "
          f"{s.images_encoded} images encoded in {time.time() - t0:.0f}s", flush=True)
    for r in out.failed:
        print(f"  lab unit failed: {r.model} x {r.dataset}: {r.error}", flush=True)
    return out


def stage_table(stages: list[tuple[str, float]]) -> str:
    """The build's stages as a small text table: seconds, and the share of the total (the last row)."""
    total = stages[-1][1] if stages else 0.0
    width = max((len(n) for n, _ in stages), default=5)
    lines = ["build stages:"] + [f"  {n:<{width}}  {s:7.0f} s  {100 * s / total if total else 0:5.1f}%" for n, s in stages]
    return "\n".join(lines)


def record_time(project: Path, r: ChapterRun, profile: str, device: str) -> None:
    """Keep how long a chapter took to execute (book/results/chapter_times.json), for the line under its title
    that says what re-executing it needs (clipstudy.bookbuttons)."""
    import json

    from .bookbuttons import TIMES
    from .store import atomic_write_text

    path = project / TIMES
    try:
        times = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        times = {}
    times[r.name] = dict(seconds=round(r.seconds, 1), profile=profile, device=device,
                         when=time.strftime("%Y-%m-%d"))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json.dumps(times, indent=1, sort_keys=True) + "\n", path)


def build(profile: str = "lab", only: str | None = None, device: str = "auto", skip_html: bool = False,
          out: str | os.PathLike | None = None, fetch: bool | None = None, executor: str = "local",
          executor_options: dict | None = None, precision: str = "auto",
          models: Iterable[str] | str | None = None) -> int:
    """Execute the chosen chapters and build the book; non-zero exit if any chapter failed.

    `models` (a live profile only) adds a researcher's own checkpoints to the live panel (any name form,
    `local-dir:PATH` included, and `@COLLECTION`s): the live grid runs them with the panel, every chapter marks
    them "(yours)" in its tables and figures, and the claims page's live effects include them where the
    contrast applies (their tags are known).

    `precision` pins the engine's (encoding) precision. It is resolved here, once, for the build's device
    (`encode.resolve_precision`), and passed down explicitly to every chapter as its `precision` papermill
    parameter, which the chapters hand to every encoding call (the runner's grids get it as asked: `run` resolves
    it for the device its units run on). No environment variable carries it. The lab zoo is trained under its
    own policy (`lab.train.train_precision`: fp32 while `TRAIN_AUTOCAST` is off), which `precision` does not
    change; train it otherwise explicitly (`clipstudy lab train --precision`, `lab.zoo.train(precision=...)`).

    `out` builds the whole book in another folder (see `stage`); by default it goes to book/ here.
    `fetch` (default: every profile but smoke and live-smoke) first fetches the published records that are missing, so the
    book carries real-model evidence by default. With the live profile, the grid the chapters declare runs
    first through the study runner (`executor`), into the book's results/live.
    """
    from .config import resolve_device
    from .encode import resolve_precision

    resolved = resolve_precision(precision, resolve_device(device))  # a bad name fails now
    select(only)  # so does an unknown chapter
    if out is not None:  # and an --out that cannot be written (a file, under a file, read-only)
        from .paths import writable_dir

        for d in (Path(out), Path(out) / "book", Path(out) / "book" / "chapters"):
            writable_dir(d, "--out")
    yours = your_models(models, profile)  # unknown names and a non-live profile fail now, before any work
    return _build(profile, only, device, skip_html, out, fetch, executor, executor_options, precision, resolved,
                  yours)


def your_models(models: Iterable[str] | str | None, profile: str) -> list[str]:
    """A researcher's own checkpoints for the live panel (`build --models M1,M2,@COLLECTION`, any name form,
    `local-dir:PATH` included), expanded and checked; only a live profile has a live panel."""
    if not models:
        return []
    from .errors import ClipstudyError
    from .models import registry

    if not PROFILES[profile].live:
        live = [n for n, p in PROFILES.items() if p.live]
        raise ClipstudyError(f"--models adds your checkpoints to the live panel, which the {profile!r} profile does not "
                             f"run: build with --profile {' or '.join(live)}")
    from . import zoo

    names = registry.expand(models)
    for n in names:
        zoo.get(n)  # an unknown name or form fails here, with the close ones
    return names


def _build(profile: str, only: str | None, device: str, skip_html: bool, out: str | os.PathLike | None,
           fetch: bool | None, executor: str, executor_options: dict | None, asked: str, precision: str,
           yours: list[str] | None = None) -> int:
    """`build` below its entry: `precision` is resolved for this machine's device (the chapters' kernels run
    here); the grids get the precision as `asked`, since the runner's `run` is an entry of its own that resolves
    it for the device its units run on (another machine's GPU, with --executor slurm or ray)."""
    from .config import resolve_device

    stages: list[tuple[str, float]] = []  # (stage, seconds): printed at the end, so a cold build's cost is on record
    t_build = t0 = time.time()
    if fetch if fetch is not None else profile not in ("smoke", "live-smoke"):
        why = fetch_records()
        stages.append(("records", time.time() - t0))
        print("records: every published record file is in place" if why is None else
              f"records: could not fetch ({why}); the book builds without them and says so. "
              "Run `clipstudy fetch records` when online.", flush=True)

    project = ROOT if out is None else stage(out)
    chapters_dir = project / "book" / "chapters"
    params = parameters(profile, resolve_device(device), results_dir=project / "book" / "results",
                        precision=precision)
    prof = PROFILES[profile]
    paths = select(only)
    if prof.live:
        from .live import mark_live_evidence

        # a pipeline check or not, and which models are the researcher's, before a chapter reads
        mark_live_evidence(project / "book" / "results", prof, yours or ())
        t0 = time.time()
        from .models.collection import LIVE
        from .models.sources.llava import PREFIX as LLAVA

        panel = list(prof.live_models or LIVE)
        mine = [m for m in yours or [] if not m.startswith(LLAVA)]
        run_live_grid(only, params["params"]["device"], executor, executor_options,
                      models=list(dict.fromkeys(panel + mine)),
                      study=project / "book" / "results" / "live", precision=asked, profile=profile)
        run_lmm_grid(only, [m for m in yours or [] if m.startswith(LLAVA)], params["params"]["device"], executor,
                     executor_options, study=project / "book" / "results" / "live", precision=asked, profile=profile)
        stages.append(("live grid", time.time() - t0))
    if prof.lab:
        from .axes import lmm as lmm_axis
        from .lab import llava as lab_llava, zoo as lab_zoo

        t0 = time.time()

        reads = lmm_axis.AXIS.chapter in {p.stem for p in paths}
        llavas = lmm_axis.lab_pairs(prof.lab) if reads else []  # chapter 09's mini-LLaVAs, when it is built
        from .environment import lab_hub as published_zoo

        if published_zoo():  # CLIPSTUDY_LAB_HUB, a published zoo: fetched and verified, not trained
            from .lab import hub as lab_hub

            lab_hub.book_fetch(published_zoo(), prof.lab, llavas)
        # what is missing trains (a warm cache loads), the mini-LLaVAs in the same schedule as the CLIPs
        lab_zoo.train(None, profile=prof.lab, after=lab_llava.zoo_jobs(llavas, prof.lab))
        print(f"lab zoo ready ({prof.lab}) in {time.time() - t0:.0f}s", flush=True)
        stages.append(("lab zoo", time.time() - t0))
        t0 = time.time()
        run_lab_grid(profile, only, params["params"]["device"], executor, executor_options,
                     study=project / "book" / "results" / "lab", precision=asked)
        stages.append(("lab grid", time.time() - t0))
    runs = []
    for p in paths:
        print(f"executing {p.stem} ...", flush=True)
        try:
            r = execute(p, params, chapters_dir)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(f"build interrupted in chapter {p.stem}; it was not written (its previous "
                                    f"version, if any, is kept in {chapters_dir}). Run the build again.") from None
        runs.append(r)
        if r.ok:
            record_time(project, r, profile, params["params"]["device"])
        print(f"  {'ok' if r.ok else 'FAILED'} in {r.seconds:.0f}s" + (f": {r.error}" if r.error else ""), flush=True)
        stages.append((f"chapter {r.name}", r.seconds))
    incomplete = False
    if not skip_html:
        st = book_state(chapters_dir)
        if st.bad:
            incomplete = True
            print(f"\nbook NOT written: {chapters_dir} holds chapter(s) that failed in an earlier build:", file=sys.stderr)
            for name, why in st.bad.items():
                print(f"  {name}: {why}", file=sys.stderr)
            print("Rebuild them (" + ", ".join(f"clipstudy build --only {n[:2]}" for n in st.bad) + ") or the "
                  "whole book; the HTML is built only from chapters that ran to the end.", file=sys.stderr)
        else:
            t0 = time.time()
            html = build_html(project)
            stages.append(("html", time.time() - t0))
            print(f"book written to {html / 'index.html'}")
            where = f"see {chapters_dir}/.NN_name.failed.ipynb; rebuild with clipstudy build --only NN"
            if st.failed:  # a book without one of its chapters is not a whole book: exit 1
                incomplete = True
                print(f"  without chapter(s) {', '.join(st.failed)}: their last build failed and there is no good "
                      f"version ({where})", file=sys.stderr)
            if st.stale:
                print(f"  chapter(s) {', '.join(st.stale)} show their previous good version: their last build "
                      f"failed ({where})", file=sys.stderr)
            if st.missing:
                print(f"  without chapter(s) {', '.join(st.missing)}: not built in this folder yet", flush=True)
    stages.append(("total", time.time() - t_build))
    print(stage_table(stages), flush=True)
    failed = [r for r in runs if not r.ok]
    if failed:
        print("\nchapters that failed:", file=sys.stderr)
        for r in failed:
            print(f"  {r.name}: {r.error}", file=sys.stderr)
        return 1
    return 1 if incomplete else 0
