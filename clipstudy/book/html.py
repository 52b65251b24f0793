"""The book's HTML: its table of contents, made from the chapters' declaration, and the jupyter-book build of a
book folder, with MathJax served from the book itself.

The table of contents is the book's fixed frame (its root page, its parts, the reference pages) filled with the
chapters the axes declare (`Axis.part`, `Axis.order`), so a plugin's chapter joins it without an edit here.
`_toc.yml` in the checkout is that rendering for this package's own chapters (a test keeps them equal), for
`jupyter-book build .` by hand; `clipstudy build` writes the toc of the chapters it knows (plugins included) into
the book's build folder and builds with it.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

from ..errors import ClipstudyError

ROOT_PAGE = "book/index"
PARTS = ("The verdict", "The study")  # the parts of the book, in the order it shows them; a plugin's own part after
REFERENCE = ("book/methods", "book/glossary")  # the static pages of the last part
REFERENCE_PART = "Reference"
TOC = "_build/_toc.yml"  # under a book folder's book/: the toc `clipstudy build` builds with


def toc(book: Iterable[Any]) -> dict:
    """The table of contents (jupyter-book's `jb-book` format) of the chapters `book` (`chapters.Notebook`s): each
    in the part its axis names, by its declared order."""
    chapters = sorted(book, key=lambda n: n.axis.order)
    parts = list(PARTS) + [p for p in dict.fromkeys(n.axis.part for n in chapters) if p not in PARTS]
    out = [dict(caption=p, chapters=[dict(file=f"book/chapters/{n.name}") for n in chapters if n.axis.part == p])
           for p in parts]
    out = [p for p in out if p["chapters"]]
    out.append(dict(caption=REFERENCE_PART, chapters=[dict(file=f) for f in REFERENCE]))
    return dict(format="jb-book", root=ROOT_PAGE, parts=out)


def toc_text(book: Iterable[Any]) -> str:
    """`toc(book)` as the YAML of `_toc.yml`."""
    lines = ["format: jb-book", f"root: {ROOT_PAGE}", "parts:"]
    for part in toc(book)["parts"]:
        lines += [f"  - caption: {part['caption']}", "    chapters:"]
        lines += [f"      - file: {c['file']}" for c in part["chapters"]]
    return "\n".join(lines) + "\n"


def write_toc(project: Path, book: Iterable[Any]) -> Path:
    """The table of contents of the chapters `book`, written under `project`'s book build folder (atomically)."""
    from ..store import atomic_write_text

    path = project / "book" / TOC
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(toc_text(book), path)
    return path


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


def build_html(project: Path, toc_path: Path | None = None) -> Path:
    """jupyter-book build of `project` (its _config.yml; its _toc.yml unless `toc_path`) into
    `project`/book/_build/html."""
    book_dir = project / "book"
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(project), "--path-output", str(book_dir)]
    if toc_path is not None:
        cmd += ["--toc", str(toc_path)]
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClipstudyError(f"jupyter-book build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    html = book_dir / "_build" / "html"
    vendor_mathjax(html)
    return html


def publish(b: Any, stages: list[tuple[str, float]]) -> bool:
    """The HTML of the build's book folder, built only from chapters that ran to the end: refused (saying which
    chapters and how to rebuild them) while the folder holds a failed chapter; otherwise built, saying which
    chapters it lacks or shows from an earlier build. True when the book is not whole (the build exits 1)."""
    import time

    from . import chapters

    book = chapters.notebooks()
    st = chapters.book_state(b.chapters_dir, book)
    if st.bad:
        print(f"\nbook NOT written: {b.chapters_dir} holds chapter(s) that failed in an earlier build:", file=sys.stderr)
        for name, why in st.bad.items():
            print(f"  {name}: {why}", file=sys.stderr)
        print("Rebuild them (" + ", ".join(f"clipstudy build --only {n[:2]}" for n in st.bad) + ") or the "
              "whole book; the HTML is built only from chapters that ran to the end.", file=sys.stderr)
        return True
    t0 = time.time()
    html = build_html(b.project, write_toc(b.project, book))
    stages.append(("html", time.time() - t0))
    print(f"book written to {html / 'index.html'}")
    where = f"see {b.chapters_dir}/.NN_name.failed.ipynb; rebuild with clipstudy build --only NN"
    if st.failed:
        print(f"  without chapter(s) {', '.join(st.failed)}: their last build failed and there is no good "
              f"version ({where})", file=sys.stderr)
    if st.stale:
        print(f"  chapter(s) {', '.join(st.stale)} show their previous good version: their last build "
              f"failed ({where})", file=sys.stderr)
    if st.missing:
        print(f"  without chapter(s) {', '.join(st.missing)}: not built in this folder yet", flush=True)
    return bool(st.failed)  # a book without one of its chapters is not a whole book: exit 1
