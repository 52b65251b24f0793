"""Verified, atomic, resumable downloads used by every `fetch()`.

A file is first written to `<dest>.part`; an interrupted download resumes from
there with an HTTP Range request. Only a file whose SHA-256 matches is renamed
into place, so a half-written or tampered file is never read back.
"""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from .errors import ChecksumError, FetchError
from .store import sha256_file  # noqa: F401 (re-exported: the one file hash)

CHUNK = 1 << 20


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, *,
             resume: bool = True, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download `url` to `dest`, check `sha256`, rename atomically; return `dest`.

    An existing `dest` with the right checksum is kept (nothing is downloaded).
    """
    dest = Path(dest)
    if dest.exists() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if (resume and part.exists()) else 0
    req = urllib.request.Request(url, headers={"User-Agent": "clipstudy"})
    if start:
        req.add_header("Range", f"bytes={start}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # the .part is already whole
            resp = None
        else:
            raise FetchError(f"download of {url} failed: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        raise FetchError(
            f"could not reach {url} ({getattr(e, 'reason', e)}). Are you offline? "
            f"Download it by hand to {dest} and re-run."
        ) from e
    if resp is not None:
        with resp:
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
    if sha256 is not None:
        got = sha256_file(part)
        if got != sha256:
            part.unlink()
            raise ChecksumError(f"{url}: SHA-256 {got} does not match the recorded {sha256}; the file was discarded.")
    os.replace(part, dest)
    return dest
