"""Verified, atomic, resumable downloads used by every `fetch()`.

A file is first written to `<dest>.part`; an interrupted download resumes from
there with an HTTP Range request. Only a file whose SHA-256 matches is renamed
into place, so a half-written or tampered file is never read back.
"""
from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .errors import ChecksumError, FetchError
from .store import sha256_file  # noqa: F401 (re-exported: the one file hash)

CHUNK = 1 << 20


def looks_like_html(path: Path, content_type: str | None = None) -> str | None:
    """The start of `path` when it is an HTML page (an error, login or proxy page served in place of the file,
    often with status 200), else None."""
    with open(path, "rb") as f:
        head = f.read(512)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    html_type = bool(content_type) and content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml")
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or (html_type and text.startswith(b"<")):
        return " ".join(head.decode("utf-8", "replace").split())[:120]
    return None


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, *,
             resume: bool = True, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download `url` to `dest`, check `sha256`, rename atomically; return `dest`.

    An existing `dest` with the right checksum is kept (nothing is downloaded). A `.part` left by an earlier
    download is resumed; if what it then holds does not match, it was not the start of this file (garbage, or
    another file): it is discarded, said on stderr, and the file is fetched again from the start, once.
    An HTML page served in place of the file is named as such, not only as a checksum mismatch.
    """
    dest = Path(dest)
    if dest.exists() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    content_type, resumed = _fetch(url, dest, part, resume, timeout, progress)
    got = sha256_file(part) if sha256 is not None else None
    if resumed and got != sha256:
        print(f"clipstudy: {part} (left by an earlier download) does not complete {dest.name}: it was discarded "
              "and the file is fetched again from the start", file=sys.stderr, flush=True)
        part.unlink()
        content_type, _ = _fetch(url, dest, part, False, timeout, progress)
        got = sha256_file(part)
    suspect = got != sha256 if sha256 is not None else dest.suffix.lower() not in (".html", ".htm")
    page = looks_like_html(part, content_type) if suspect and part.exists() else None
    if page:
        part.unlink()
        raise FetchError(f"the server returned an HTML page, not the file: {url} (it begins: {page!r}). An error "
                         "or login page, a proxy, or a wrong mirror (--base-url)? The page was discarded; "
                         f"check the URL in a browser, or download the file by hand to {dest}.")
    if sha256 is not None and got != sha256:
        part.unlink()
        raise ChecksumError(f"{url}: SHA-256 {got} does not match the recorded {sha256}; the file was discarded.")
    os.replace(part, dest)
    return dest


def _fetch(url: str, dest: Path, part: Path, resume: bool, timeout: float, progress: bool) -> tuple[str | None, bool]:
    """Write `url` into `part`, resuming an existing `part` with a Range request when `resume`; returns the
    Content-Type and whether the earlier bytes of `part` were kept (appended to, or already whole)."""
    start = part.stat().st_size if (resume and part.exists()) else 0
    req = urllib.request.Request(url, headers={"User-Agent": "clipstudy"})
    if start:
        req.add_header("Range", f"bytes={start}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # the .part is already whole
            return None, True
        raise FetchError(f"download of {url} failed: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        raise FetchError(
            f"could not reach {url} ({getattr(e, 'reason', e)}). Are you offline? "
            f"Download it by hand to {dest} and re-run."
        ) from e
    with resp:
        content_type = resp.headers.get("Content-Type")
        appending = start and getattr(resp, "status", 200) == 206
        total = resp.headers.get("Content-Length")
        total = int(total) + (start if appending else 0) if total else None
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=start if appending else 0, unit="B", unit_scale=True,
                       desc=dest.name, leave=False)
        with open(part, "ab" if appending else "wb") as f:
            while True:
                try:
                    block = resp.read(CHUNK)
                except OSError as e:
                    raise FetchError(f"download of {url} was cut off; re-run to resume from {part}") from e
                if not block:
                    break
                f.write(block)
                if bar is not None:
                    bar.update(len(block))
        if bar is not None:
            bar.close()
    if total is not None and part.stat().st_size < total:
        raise FetchError(f"download of {url} is truncated ({part.stat().st_size} of {total} bytes); "
                         f"re-run to resume from {part}")
    return content_type, bool(appending)
