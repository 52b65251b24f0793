"""The book as readers expect it: launch (Binder, JupyterHub, Colab) and download (.ipynb, .py) buttons from the one
repository URL in _config.yml, a re-execute line per chapter from its axis declaration, and the checker that
`make check-book` runs (on a tiny HTML fixture: no book build here)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from clipstudy import bookbuttons, htmlcheck

ROOT = Path(__file__).resolve().parents[1]


def test_config_sets_the_buttons_from_one_repository_url():
    from jupyter_book.config import get_final_config

    cfg, _ = get_final_config(user_yaml=ROOT / "_config.yml", sourcedir=ROOT, validate=True, raise_on_invalid=True,
                              cli_config={"latex_individualpages": False}, use_external_toc=False)
    theme = cfg["html_theme_options"]
    assert theme["repository_url"] == "https://github.com/clipstudy/clipstudy" and theme["use_repository_button"]
    lb = theme["launch_buttons"]
    assert lb["binderhub_url"] and lb["jupyterhub_url"] and lb["colab_url"] and not lb.get("thebe")
    assert theme["use_download_button"] is True
    assert "clipstudy.bookbuttons" in cfg["extensions"]
    assert cfg["mathjax_path"] == "mathjax/tex-svg.js"  # the recursive update keeps the rest of the config
    text = (ROOT / "_config.yml").read_text()
    assert text.count("github.com/clipstudy") == 1  # the one place the repository is named
    assert set(htmlcheck.launch_config(ROOT / "_config.yml")) == {"Binder", "JupyterHub", "Colab"}


def test_every_chapter_gets_a_generated_reexecute_line():
    from clipstudy import axes

    times = {"02_natural_shifts": {"seconds": 125.0, "profile": "lab", "device": "cpu"}}
    for a in axes.all_axes():
        line = bookbuttons.reexecute_line(a.chapter, times)
        assert f"clipstudy build --only {a.chapter[:2]}" in line and "profile lab" in line
        assert all(d in line for d in a.live) and all(s in line for s in a.lab)
    assert "Time: 2 min with the lab profile" in bookbuttons.reexecute_line("02_natural_shifts", times)
    assert "not measured" in bookbuttons.reexecute_line("04_shape_bias", times)
    assert bookbuttons.reexecute_line("index", times) is None


def _theme_buttons(stem: str) -> list[dict]:
    """Header buttons as sphinx-book-theme 1.x builds them for an executed chapter page (launch and download)."""
    path = f"book/chapters/{stem}.ipynb"
    return [
        {"type": "group", "label": "launch-buttons", "buttons": [
            {"type": "link", "text": "Binder", "url": f"https://mybinder.org/v2/gh/clipstudy/clipstudy/main?urlpath=lab/tree/{path}"},
            {"type": "link", "text": "JupyterHub", "url": "https://datahub.berkeley.edu/hub/user-redirect/git-pull?repo="
                                                          f"https%3A//github.com/clipstudy/clipstudy&urlpath=lab/tree/clipstudy/{path}&branch=main"},
            {"type": "link", "text": "Colab", "url": f"https://colab.research.google.com/github/clipstudy/clipstudy/blob/main/{path}"}]},
        {"type": "group", "label": "download-buttons", "buttons": [
            {"type": "link", "text": ".ipynb", "url": f"../../_sources/{path}", "label": "download-source-button"},
            {"type": "javascript", "text": ".pdf", "javascript": "window.print()"}]}]


def test_the_extension_points_launches_at_the_paired_notebook_and_adds_the_py_download(tmp_path):
    stem = "02_natural_shifts"
    src, out = tmp_path / "src", tmp_path / "html"
    (src / "notebooks").mkdir(parents=True)
    (src / "notebooks" / f"{stem}.py").write_text("# %% [markdown]\n# # Natural shifts\n")
    (src / "book" / "results").mkdir(parents=True)
    (src / "book" / "results" / "chapter_times.json").write_text(json.dumps({stem: {"seconds": 40, "profile": "lab",
                                                                                    "device": "cpu"}}))
    ctx = {"header_buttons": _theme_buttons(stem), "pathto": lambda p, rel=0: "../../" + p,
           "body": "<section><h1>Natural shifts</h1><p>text</p></section>"}
    bookbuttons._page_context(SimpleNamespace(srcdir=str(src), outdir=str(out)), f"book/chapters/{stem}",
                              "page.html", ctx, None)
    launch = {b["text"]: b["url"] for b in ctx["header_buttons"][0]["buttons"]}
    assert all(f"notebooks/{stem}.ipynb" in u and "book/chapters" not in u for u in launch.values())
    downloads = [b["text"] for b in ctx["header_buttons"][1]["buttons"]]
    assert downloads == [".ipynb", ".py", ".pdf"]
    assert (out / "_sources" / "book" / "chapters" / f"{stem}.py").read_text().startswith("# %%")
    assert ctx["body"].startswith('<section><h1>Natural shifts</h1><p class="clipstudy-reexecute">')
    assert "<code>clipstudy build --only 02</code>" in ctx["body"] and "40 s" in ctx["body"]
    other = {"header_buttons": [], "body": "<h1>x</h1>"}
    bookbuttons._page_context(SimpleNamespace(srcdir=str(src), outdir=str(out)), "book/index", "page.html", other, None)
    assert other["body"] == "<h1>x</h1>"


PAGE = """<html><head><script src="../../_static/scripts/bootstrap.js"></script>
<link rel="stylesheet" href="../../_static/styles/theme.css"></head><body>
<a href="https://mybinder.org/v2/gh/clipstudy/clipstudy/main?urlpath=lab/tree/notebooks/02_natural_shifts.ipynb"
   class="btn btn-sm dropdown-item"><span class="btn__text-container">Binder</span></a>
<a href="https://datahub.berkeley.edu/hub/user-redirect/git-pull?repo=x&amp;urlpath=lab/tree/clipstudy/notebooks/02_natural_shifts.ipynb"
   class="btn"><span class="btn__icon-container"><img src="../../_static/images/logo_jupyterhub.svg"></span>
   <span class="btn__text-container">JupyterHub</span></a>
<a href="https://colab.research.google.com/github/clipstudy/clipstudy/blob/main/notebooks/02_natural_shifts.ipynb"
   class="btn"><span class="btn__text-container">Colab</span></a>
<a href="../../_sources/book/chapters/02_natural_shifts.ipynb" class="btn"><span class="btn__text-container">.ipynb</span></a>
<a href="../../_sources/book/chapters/02_natural_shifts.py" class="btn"><span class="btn__text-container">.py</span></a>
<article><h1>Natural shifts</h1><p class="clipstudy-reexecute"><em>To re-execute: ...</em></p></article>
<a href="https://arxiv.org/abs/2410.01534">the paper</a></body></html>"""


def test_the_checker_finds_the_buttons_and_flags_external_loads(tmp_path):
    html = tmp_path / "book" / "chapters"
    html.mkdir(parents=True)
    page = html / "02_natural_shifts.html"
    page.write_text(PAGE)
    for ext in (".ipynb", ".py"):
        f = tmp_path / "_sources" / "book" / "chapters" / f"02_natural_shifts{ext}"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("{}")
    launch = htmlcheck.launch_config(ROOT / "_config.yml")
    assert htmlcheck.button_problems(PAGE, launch, page) == []
    assert htmlcheck.offline_problems(PAGE) == []  # outbound links are not loads

    no_colab = PAGE.replace("Colab</span>", "Open</span>")
    assert htmlcheck.button_problems(no_colab, launch, page) == ["no Colab launch button (a link to "
                                                                 "https://colab.research.google.com)"]
    old_path = PAGE.replace("blob/main/notebooks/", "blob/main/book/chapters/")
    assert "does not open notebooks/02_natural_shifts.ipynb" in htmlcheck.button_problems(old_path, launch, page)[0]
    (tmp_path / "_sources" / "book" / "chapters" / "02_natural_shifts.py").unlink()
    assert htmlcheck.button_problems(PAGE, launch, page) == [
        "the .py download button points at a file the book does not hold: ../../_sources/book/chapters/02_natural_shifts.py"]
    assert "re-executing" in htmlcheck.button_problems(PAGE.replace("clipstudy-reexecute", "x"), launch)[0]

    bad = PAGE.replace("</head>", '<script src="https://cdn.jsdelivr.net/npm/thebe@0.8/lib/index.js"></script>'
                                  '<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Lato"></head>')
    got = htmlcheck.offline_problems(bad)
    assert len(got) == 2 and "script from outside the book: https://cdn.jsdelivr.net" in got[0]
    assert "stylesheet from outside the book: //fonts.googleapis.com" in got[1]


def test_make_check_book_runs_the_checker():
    assert "clipstudy.htmlcheck" in (ROOT / "book" / "check_html.sh").read_text()
    assert "check_html.sh" in (ROOT / "Makefile").read_text().split("check-book:")[1].split("\n\n")[0]
    with pytest.raises(SystemExit):
        raise SystemExit(htmlcheck.main(str(ROOT / "nowhere")))


def test_the_build_records_each_chapter_time_for_the_line(tmp_path):
    from clipstudy.book import chapters

    chapters.record_time(tmp_path, chapters.ChapterRun("05_calibration", True, 75.4), "lab", "cpu")
    chapters.record_time(tmp_path, chapters.ChapterRun("02_natural_shifts", True, 12.0), "smoke", "cpu")
    times = bookbuttons.read_times(tmp_path)
    assert times["05_calibration"]["seconds"] == 75.4 and times["02_natural_shifts"]["profile"] == "smoke"
    assert "Time: 75 s with the lab profile" in bookbuttons.reexecute_line("05_calibration", times)
