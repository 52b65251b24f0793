"""A small Sphinx extension for the book's chapter pages (listed in `_config.yml` as `sphinx.extra_extensions`).

sphinx-book-theme builds the launch buttons (Binder, JupyterHub, Colab: `launch_buttons` in `_config.yml`) and the
download buttons (`use_download_button`) from the one `repository.url`. Its launch links name the page's file in
the repository, but a chapter's page is the executed copy `book/chapters/NN_axis.ipynb`, which the build writes
and git ignores; this extension points them at the chapter's paired notebook in the repository,
`notebooks/NN_axis.ipynb`, adds the chapter's jupytext source (`notebooks/NN_axis.py`) as a `.py` download next
to the `.ipynb` one, and puts one line under the chapter's title that says what re-executing it needs: the
profile, the data (the axis declaration's lab sets and live datasets), and the time it took on the machine that
built this book (`book/results/chapter_times.json`, written by `clipstudy build`).
"""
from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path
from typing import Any

CHAPTERS = "book/chapters/"
NOTEBOOKS = "notebooks/"
TIMES = "book/results/chapter_times.json"
LINE_CLASS = "clipstudy-reexecute"


def axis_of(stem: str):
    """The axis whose chapter is `stem` (None for a page that is not a chapter)."""
    from . import axes

    return next((a for a in axes.all_axes() if a.chapter == stem), None)


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min"


def reexecute_line(stem: str, times: dict | None = None) -> str | None:
    """What re-executing chapter `stem` needs, in one line (plain text), from its axis declaration and the
    time its last build took (`times[stem]`: seconds, profile, device); None for a page with no axis."""
    axis = axis_of(stem)
    if axis is None:
        return None
    lab = ", ".join(axis.lab) if axis.lab else "none"
    live = ", ".join(axis.live) if axis.live else "none"
    t = (times or {}).get(stem)
    took = (f"{_seconds(float(t['seconds']))} with the {t.get('profile', '?')} profile on this book's build machine "
            f"({t.get('device', 'cpu')})" if t else "not measured in this build")
    return (f"To re-execute: `clipstudy build --only {stem[:2]}` (profile lab: offline, CPU; rendered lab sets "
            f"{lab}; published records where present). `--profile live` adds the datasets {live} and real "
            f"checkpoints. Time: {took}.")


def read_times(root: Path) -> dict:
    path = Path(root) / TIMES
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def repo_path(url: str) -> str:
    """A launch URL with the executed chapter's path replaced by its paired notebook in the repository."""
    return re.sub(r"book(/|%2F)chapters(/|%2F)(\d\d_[A-Za-z0-9_]+)\.ipynb",
                  lambda m: f"notebooks{m[1]}{m[3]}.ipynb", url)


def _walk(buttons: list) -> Any:
    for b in buttons:
        yield b
        if b.get("type") == "group":
            yield from _walk(b.get("buttons", []))


def _page_context(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    if not pagename.startswith(CHAPTERS):
        return
    stem = pagename[len(CHAPTERS):]
    buttons = context.get("header_buttons", [])
    for b in _walk(buttons):
        if b.get("type") == "link" and b.get("url") and b.get("text") in ("Binder", "JupyterHub", "Colab"):
            b["url"] = repo_path(b["url"])
    src = Path(app.srcdir) / NOTEBOOKS / f"{stem}.py"
    group = next((b for b in buttons if b.get("label") == "download-buttons"), None)
    if src.is_file() and group is not None:
        dest = Path(app.outdir) / "_sources" / CHAPTERS / f"{stem}.py"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        group["buttons"].insert(1, {"type": "link", "url": f"{context['pathto']('_sources', 1)}/{CHAPTERS}{stem}.py",
                                    "text": ".py", "tooltip": "Download the chapter's source (jupytext percent)",
                                    "icon": "fas fa-file-code", "label": "download-py-button"})
    line = reexecute_line(stem, read_times(Path(app.srcdir)))
    if line and "body" in context:
        text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(line))
        div = f'<p class="{LINE_CLASS}"><em>{text}</em></p>'
        body = context["body"]
        m = re.search(r"</h1>", body)
        context["body"] = body[:m.end()] + div + body[m.end():] if m else div + body


def setup(app) -> dict:
    app.connect("html-page-context", _page_context, priority=502)  # after the theme's buttons (501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
