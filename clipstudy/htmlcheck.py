"""Headless-Chromium check of the built book: every chapter renders, with its figures, and is screenshotted."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
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


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    raise SystemExit("headless check needs Debian's chromium: apt-get install chromium")


def check_page(html: Path, shots: Path) -> tuple[int, list[str]]:
    """(number of rendered figures, problems) for one page, with a screenshot."""
    html, shots = html.resolve(), shots.resolve()
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
    bad = 0
    for page in pages:
        n, problems = check_page(page, shots)
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
