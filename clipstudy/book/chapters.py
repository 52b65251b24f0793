"""The book's chapters: which there are and in what order (declared on the axes), their papermill execution, and
the state of a book folder.

The chapters are the registered axes that have a notebook (`Axis.notebook`, default notebooks/<chapter>.py), in
the order they declare (`Axis.order`; those that read every other chapter, `Axis.reads_all`, after all the
others): never the notebooks' file names. A plugin's axis (`CLIPSTUDY_PLUGINS`) with its notebook in the plugin's
folder joins the build the same way. Each is executed with its profile's parameters into book/chapters/, and a
failing chapter is reported by cell and error while the others still build.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import store
from ..errors import ClipstudyError, UnknownNameError
from ..profiles import Profile


@dataclass(frozen=True)
class Notebook:
    """One chapter of the book: its name (the executed notebook's stem in book/chapters/, its line in the table of
    contents), its jupytext source and the axis that declares it."""

    name: str
    source: Path
    axis: Any  # clipstudy.axes.Axis


@dataclass
class ChapterRun:
    name: str
    ok: bool
    seconds: float
    error: str = ""


def declared() -> list:
    """Every registered axis (this package's and the plugins'), in the declared chapter order."""
    from .. import axes

    return axes.all_axes()


def source_of(axis: Any) -> Path | None:
    """The jupytext notebook of an axis' chapter: the one it names (a plugin's), else notebooks/<chapter>.py of this
    checkout; None when the axis has no chapter (a runner axis alone, with no order and no notebook)."""
    from . import NOTEBOOKS

    if axis.notebook:
        path = Path(axis.notebook).expanduser()
        if not path.is_file():
            raise ClipstudyError(f"axis {axis.key!r} declares its chapter notebook {path}, which does not exist")
    else:
        path = NOTEBOOKS / f"{axis.chapter}.py"
        if not path.is_file():
            if axis.order is None:
                return None
            raise ClipstudyError(f"axis {axis.key!r} declares chapter {axis.chapter!r} (order {axis.order:g}) but "
                                 f"{path} does not exist; name the notebook in its declaration (`Axis.notebook`)")
    if axis.order is None:
        raise ClipstudyError(f"axis {axis.key!r} has a chapter notebook ({path}) but declares no `order`: say where "
                             "its chapter stands in the book")
    return path


def notebooks() -> list[Notebook]:
    """Every chapter of the book, in the declared build order (`axes.chapter_order`)."""
    from ..axes import chapter_order

    out = []
    for a in sorted(declared(), key=chapter_order):
        path = source_of(a)
        if path is not None:
            out.append(Notebook(a.chapter, path, a))
    return out


def select(only: str | None) -> list[Notebook]:
    """The chapters to build: all, or the one `only` names (`04`, `04_shape_bias`, or its axis key)."""
    found = notebooks()
    if only is None:
        return found
    picked = [n for n in found if n.name.startswith(only.zfill(2)) or only in (n.name, n.axis.key)]
    if not picked:
        raise UnknownNameError("chapter", only, [n.name for n in found])
    return picked


def parameters(profile: Profile, device: str = "auto", results_dir: str | os.PathLike = "book/results",
               precision: str = "auto", **roots: str) -> dict[str, Any]:
    """What papermill injects into every chapter's one-line parameters cell (`params = {...}`): the profile's
    name (the chapter resolves it, `chapter.start`), the device, the precision (`build` passes the one it
    resolved) and the roots (`data_root` overrides CLIPSTUDY_DATA)."""
    from ..config import data_root

    return {"params": dict(profile=profile.name, device=device, precision=precision,
                           data_root=str(roots.get("data_root", data_root())), results_dir=str(results_dir))}


def failed_path(out_dir: Path, stem: str) -> Path:
    """Where a chapter that failed leaves its executed notebook: hidden (`book/chapters/.*` is excluded from the
    book), so the previous good chapter, if any, stays what the book shows."""
    return out_dir / f".{stem}.failed.ipynb"


def execute(nb: Notebook, params: dict[str, Any], out_dir: Path | None = None) -> ChapterRun:
    """Run one chapter; on failure name the cell and the error instead of raising.

    papermill writes into a hidden temporary notebook beside the chapter; only a chapter that ran to the end
    is renamed into place (atomically). A failed one is kept as `.NN_name.failed.ipynb` and the previous good
    chapter, if any, is left as it was; an interrupted one (Ctrl-C) leaves nothing behind.
    """
    from . import CHAPTERS, ROOT

    out_dir = out_dir or CHAPTERS
    import jupytext
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / f".{nb.name}.input.ipynb"
    source = jupytext.read(nb.source)
    source.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(source, src, fmt="ipynb")
    out = out_dir / f"{nb.name}.ipynb"
    running = out_dir / f".{nb.name}.running.ipynb"
    failed = failed_path(out_dir, nb.name)
    t0 = time.time()
    env_before = dict(os.environ)
    # the kernel inherits this: inline figures are what the book shows, whatever the caller's backend (CI: Agg)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    run: ChapterRun | None = None
    try:
        pm.execute_notebook(str(src), str(running), parameters=params, kernel_name="python3", progress_bar=False,
                            cwd=str(ROOT))
        run = ChapterRun(nb.name, True, time.time() - t0)
    except PapermillExecutionError as e:
        first = (e.source or "").strip().splitlines()[:1]
        # papermill counts its injected-parameters cell; report the cell of the source notebook, 1-based
        tagged = [i for i, c in enumerate(source.cells) if "parameters" in c.metadata.get("tags", [])]
        idx = e.cell_index - (1 if tagged and e.cell_index > tagged[0] else 0)
        run = ChapterRun(nb.name, False, time.time() - t0,
                         f"cell {idx + 1} ({first[0][:70] if first else ''}): {e.ename}: {e.evalue}")
    except Exception as e:  # kernel died, bad notebook: still a named chapter failure
        run = ChapterRun(nb.name, False, time.time() - t0, f"{type(e).__name__}: {e}")
    finally:
        os.environ.clear()
        os.environ.update(env_before)
        src.unlink(missing_ok=True)
        if run is None:  # interrupted (KeyboardInterrupt, SystemExit): no half-executed notebook is kept
            running.unlink(missing_ok=True)
    if running.exists():
        tidy_parameters(running, stem=nb.name)
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


def run_all(b: Any, stages: list[tuple[str, float]]) -> list[ChapterRun]:
    """Execute the build's chapters (`Build.notebooks`, in their declared order) into its book folder, each with
    the build's papermill parameters; each one's time goes to `stages` and, when it ran to the end, to the
    book's chapter times."""
    runs = []
    for nb in b.notebooks:
        print(f"executing {nb.name} ...", flush=True)
        try:
            r = execute(nb, b.parameters, b.chapters_dir)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(f"build interrupted in chapter {nb.name}; it was not written (its previous "
                                    f"version, if any, is kept in {b.chapters_dir}). Run the build again.") from None
        runs.append(r)
        if r.ok:
            record_time(b.project, r, b.profile.name, b.device)
        print(f"  {'ok' if r.ok else 'FAILED'} in {r.seconds:.0f}s" + (f": {r.error}" if r.error else ""), flush=True)
        stages.append((f"chapter {r.name}", r.seconds))
    return runs


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


def book_state(chapters_dir: Path, book: list[Notebook] | None = None) -> BookState:
    """The state of every chapter of the book (`book`, default all of them) in `chapters_dir`: `--only NN` into a
    folder never publishes an older failed chapter, and says which chapters the book lacks or shows from an
    earlier build."""
    st = BookState({}, [], [], [])
    for n in notebooks() if book is None else book:
        nb, failed = chapters_dir / f"{n.name}.ipynb", failed_path(chapters_dir, n.name)
        if not nb.exists():
            (st.failed if failed.exists() else st.missing).append(n.name)
        elif (why := chapter_problem(nb)) is not None:
            st.bad[n.name] = why
        elif failed.exists() and failed.stat().st_mtime_ns > nb.stat().st_mtime_ns:
            st.stale.append(n.name)
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


def record_time(project: Path, r: ChapterRun, profile: str, device: str) -> None:
    """Keep how long a chapter took to execute (book/results/chapter_times.json), for the line under its title
    that says what re-executing it needs (clipstudy.bookbuttons)."""
    import json

    from ..bookbuttons import TIMES
    from ..store import atomic_write_text

    path = project / TIMES
    try:
        times = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        times = {}
    times[r.name] = dict(seconds=round(r.seconds, 1), profile=profile, device=device,
                         when=time.strftime("%Y-%m-%d"))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json.dumps(times, indent=1, sort_keys=True) + "\n", path)
