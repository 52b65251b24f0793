"""Headless-Chromium check of the built book: every chapter renders, with its figures, and is screenshotted; its
reader buttons are there (launch on each provider `_config.yml` configures, .ipynb and .py downloads, the
re-execute line) and it loads nothing from outside the book."""
from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars",
         # every external host is blocked: the book must render from its own files (MathJax included)
         "--host-resolver-rules=MAP * ~NOTFOUND",
         # let scripts (MathJax typesetting) finish before the DOM is read or the screenshot taken
         "--virtual-time-budget=15000"]


def _visible_text(dom: str) -> str:
    """The page's text outside scripts, styles and code blocks (where a TeX source is legitimate)."""
    for tag in ("script", "style", "pre", "code", "mjx-container", "textarea"):
        dom = re.sub(rf"<{tag}\b.*?</{tag}>", " ", dom, flags=re.S | re.I)
    return re.sub(r"<[^>]+>", " ", dom)


def dom_problems(dom: str) -> list[str]:
    """What a reader would see wrong on a rendered page: raw TeX, empty widget outputs, cut-off tables."""
    problems = []
    text = _visible_text(dom)
    raw = re.findall(r"\\\(|\\\[|\$\$|\\frac|\\mathrm", text)
    if raw:
        problems.append(f"raw TeX on the page ({len(raw)}x, e.g. {raw[0]!r}): math did not render")
    views = re.findall(r'application/vnd\.jupyter\.widget-view\+json', dom)
    if views and "application/vnd.jupyter.widget-state+json" not in dom:
        problems.append(f"{len(views)} widget output(s) without saved state render empty")
    if re.search(r"<t[dh][^>]*>\s*\.\.\.\s*</t[dh]>", dom) or re.search(r"\[\d+ rows x \d+ columns\]", text):
        problems.append("a table is truncated (pandas '...' rows or columns)")
    return problems


WARNING = re.compile(r"\b[A-Z][A-Za-z]*Warning: ")  # how Python shows a warning: `path:line: FutureWarning: ...`


def warning_problems(dom: str) -> list[str]:
    """Python warnings shown on a page (a chapter's stderr): a reader sees a library's complaint, not the book."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)  # stderr outputs are <pre> blocks
    hits = WARNING.findall(re.sub(r"<[^>]+>", " ", text))
    return [f"a Python warning is shown on the page ({len(hits)}x, e.g. {hits[0].strip()!r}): fix its cause"] \
        if hits else []


def machine_paths(project: Path | None = None) -> list[str]:
    """The build machine's own folders, which a published page must not name: this checkout, the book's project
    folder, the Python environment, and the data, cache and Hugging Face roots (as given and resolved); folders too
    general to tell a machine apart (`/`, `/tmp`, `/usr`, ...) are left out. (The home folder is not one of them:
    a researcher's own `local-dir:` model is shown by the name they gave it.)"""
    import os

    from .config import cache_root, data_root

    found = [Path(__file__).resolve().parents[1], Path(sys.prefix), data_root(), cache_root()]
    if project is not None:
        found.append(Path(project))
    if os.environ.get("HF_HOME"):
        found.append(Path(os.environ["HF_HOME"]))
    general = {"/", "/tmp", "/usr", "/home", "/var", "/opt", "/srv", "/mnt", "/data", "/work"}
    out = set()
    for p in found:
        for q in (p.expanduser(), p.expanduser().resolve()):
            q = str(q).rstrip("/")
            if len(q) >= 5 and q not in general:
                out.add(q)
    return sorted(out, key=len, reverse=True)


def leak_problems(dom: str, paths: list[str]) -> list[str]:
    """The build machine's folders named on a page (in its text, its attributes or its embedded sources)."""
    hits = [p for p in paths if re.search(re.escape(p) + r"(?![\w.-])", dom)]
    return [f"the page names the build machine's folder {hits[0]!r}" + (f" (and {len(hits) - 1} more)"
                                                                        if len(hits) > 1 else "")] if hits else []


class _OutputMarkup(HTMLParser):
    """Scripts and event-handler attributes inside a chapter's outputs (`cell_output`): none is ever written by
    a chapter, so any there came from text that was not escaped."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth, self.stack, self.found = 0, [], []

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def handle_starttag(self, tag, attrs):
        inside = self.depth > 0
        classes = dict(attrs).get("class") or ""
        if tag not in self.VOID:
            self.stack.append(inside or "cell_output" in classes.split())
            self.depth += bool(self.stack[-1])
        if inside or "cell_output" in classes.split():
            handlers = [a for a, _ in attrs if a.lower().startswith("on")]
            if tag in ("script", "iframe", "object", "embed") or handlers:
                self.found.append(f"<{tag} {' '.join(handlers)}>".replace(" >", ">"))

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.depth -= bool(self.stack.pop())


def output_markup_problems(dom: str) -> list[str]:
    """Live markup in a chapter's outputs (see `_OutputMarkup`): a name or message shown unescaped."""
    p = _OutputMarkup()
    p.feed(dom)
    return [f"live markup in a chapter's output ({len(p.found)}x, e.g. {p.found[0]!r}): text from outside was "
            "not escaped"] if p.found else []


def static_problems(page_html: str, paths: list[str]) -> list[str]:
    """What the built HTML of a page shows that it must not, read from the file (no browser): Python warnings,
    the build machine's folders, live markup in outputs."""
    return warning_problems(page_html) + leak_problems(page_html, paths) + output_markup_problems(page_html)


def _links(dom: str) -> list[tuple[str, str]]:
    """(href, visible text) of every link on a page."""
    return [(html.unescape(h), re.sub(r"<[^>]+>|\s+", " ", t).strip())
            for h, t in re.findall(r'<a\b[^>]*\bhref="([^"]*)"[^>]*>(.*?)</a>', dom, flags=re.S | re.I)]


def launch_config(config: Path) -> dict[str, str]:
    """The launch providers `_config.yml` configures: {"Binder": url, "JupyterHub": url, "Colab": url}."""
    import yaml

    cfg = yaml.safe_load(Path(config).read_text()) or {}
    lb = cfg.get("launch_buttons") or {}
    keys = {"Binder": "binderhub_url", "JupyterHub": "jupyterhub_url", "Colab": "colab_url"}
    return {name: str(lb[k]).rstrip("/") for name, k in keys.items() if lb.get(k)}


def offline_problems(dom: str) -> list[str]:
    """What a page would load from outside the book: scripts, stylesheets, fonts or frames from another host
    (links a reader follows, such as the launch buttons, load nothing by themselves)."""
    out = []
    ext = r"(?:https?:)?//"
    for tag, attr in (("script", "src"), ("iframe", "src"), ("img", "src")):
        for u in re.findall(rf'<{tag}\b[^>]*\b{attr}="({ext}[^"]+)"', dom, flags=re.I):
            out.append(f"loads a {tag} from outside the book: {u}")
    for link in re.findall(r"<link\b[^>]*>", dom, flags=re.I):
        rel = re.search(r'\brel="([^"]+)"', link)
        href = re.search(rf'\bhref="({ext}[^"]+)"', link)
        if href and rel and re.search(r"stylesheet|preload|modulepreload|icon", rel[1], flags=re.I):
            out.append(f"loads a {rel[1]} from outside the book: {href[1]}")
    if re.search(r"@import\s+url\(\s*['\"]?(?:https?:)?//", dom):
        out.append("a style imports a stylesheet from outside the book")
    return out


def button_problems(dom: str, launch: dict[str, str], page: Path | None = None) -> list[str]:
    """A chapter page's reader buttons: a launch link per configured provider, pointing at the chapter's paired
    notebook in the repository (notebooks/NN_axis.ipynb); .ipynb and .py downloads that exist in the book; and
    the line saying what re-executing the chapter needs."""
    problems = []
    links = _links(dom)
    stem = page.stem if page is not None else None
    for name, base in launch.items():
        hits = [h for h, t in links if t == name and h.startswith(base)]
        if not hits:
            problems.append(f"no {name} launch button (a link to {base})")
        elif stem and not any(f"notebooks/{stem}.ipynb" in h.replace("%2F", "/") for h in hits):
            problems.append(f"the {name} button does not open notebooks/{stem}.ipynb: {hits[0]}")
    for ext in (".ipynb", ".py"):
        # the theme's download items sit in a closed dropdown, whose text a browser reports as empty: match the
        # link by the file it serves as well as by its label
        hits = [h for h, t in links if t == ext or h.split("#")[0].endswith(ext) and "_sources/" in h]
        if not hits:
            problems.append(f"no {ext} download button")
        elif page is not None and not any((page.parent / h.split("#")[0]).resolve().is_file() for h in hits):
            problems.append(f"the {ext} download button points at a file the book does not hold: {hits[0]}")
    if 'class="clipstudy-reexecute"' not in dom:
        problems.append("no line saying what re-executing the chapter needs (clipstudy.bookbuttons)")
    return problems


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    raise SystemExit("headless check needs Debian's chromium: apt-get install chromium")


def check_page(page: Path, shots: Path, launch: dict[str, str] | None = None,
               paths: list[str] | None = None) -> tuple[int, list[str]]:
    """(number of rendered figures, problems) for one page, with a screenshot; with `launch` (the providers of
    `_config.yml`), its reader buttons and its offline safety too; with `paths` (`machine_paths`), the page's file
    must name none of them, nor show a Python warning or live markup in an output."""
    html, shots = page.resolve(), shots.resolve()
    exe = chromium()
    with tempfile.TemporaryDirectory() as prof:
        base = FLAGS + [f"--user-data-dir={prof}"]
        dom = subprocess.run([exe, *base, "--dump-dom", html.as_uri()], capture_output=True, text=True,
                             timeout=120).stdout
        shot = shots / f"{html.stem}.png"
        subprocess.run([exe, *base, f"--screenshot={shot}", "--window-size=1200,7000", html.as_uri()],
                       capture_output=True, timeout=120)
    problems = []
    if "<article" not in dom and 'class="bd-article' not in dom:
        problems.append("no article body rendered")
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', dom)
    figures = [s for s in srcs if s.startswith("data:image") or "_images/" in s]
    for s in figures:
        if not s.startswith("data:") and not (html.parent / s).resolve().exists():
            problems.append(f"missing image file {s}")
    if re.search(r'class="[^"]*\berror\b[^"]*"[^>]*>\s*<pre', dom) or "Traceback (most recent call last)" in dom:
        problems.append("an error traceback is shown on the page")
    problems += dom_problems(dom)
    if paths is not None:
        problems += static_problems(page.read_text(encoding="utf-8", errors="replace"), paths)
    if launch is not None:
        problems += button_problems(dom, launch, html) + offline_problems(dom)
    if not shot.exists():
        problems.append("no screenshot was written")
    return len(figures), problems


def main(root: str = "book/_build/html") -> int:
    html_root = Path(root)
    pages = sorted((html_root / "book" / "chapters").glob("[0-9][0-9]_*.html"))
    if not pages:
        print(f"no chapter pages under {html_root}/book/chapters: run `make book` first", file=sys.stderr)
        return 2
    shots = html_root / "screenshots"
    shots.mkdir(exist_ok=True)
    config = html_root.resolve().parents[2] / "_config.yml"  # <project>/book/_build/html
    launch = launch_config(config if config.is_file() else Path(__file__).resolve().parents[1] / "_config.yml")
    bad = 0
    paths = machine_paths(html_root.resolve().parents[2])
    for page in pages:
        n, problems = check_page(page, shots, launch, paths)
        needs_figure = not page.stem.startswith(("01_", "10_"))
        if needs_figure and n == 0:
            problems.append("no figure rendered")
        status = "ok" if not problems else "FAIL: " + "; ".join(problems)
        print(f"{page.stem:28s} figures={n:3d}  {status}")
        bad += bool(problems)
    print(f"screenshots in {shots}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
