"""Where each record file comes from, and `fetch()` to download them all, verified.

`sources.json` (next to this module) lists every file: the public repository, the pinned
commit, its path there, its path under `CLIPSTUDY_DATA/records`, and the SHA-256 of the
published file. The checksums were computed from the shared copy, which is an unmodified
copy of the public files.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..config import data_root
from ..errors import ChecksumError, FetchError, MissingDataError, SchemaError

RAW_BASE = "https://raw.githubusercontent.com"
FETCH_CMD = "clipstudy fetch records"


@dataclass(frozen=True)
class Source:
    local: str    # path under <data root>/records
    repo: str     # owner/name on GitHub
    commit: str   # pinned commit
    path: str     # path inside the repository
    sha256: str
    bytes: int = 0

    def url(self, base_url: str | None = None) -> str:
        return f"{(base_url or RAW_BASE).rstrip('/')}/{self.repo}/{self.commit}/{self.path}"


@lru_cache(maxsize=1)
def _manifest() -> tuple[Source, ...]:
    rows = json.loads((Path(__file__).with_name("sources.json")).read_text())
    return tuple(Source(**r) for r in rows)


def manifest() -> tuple[Source, ...]:
    """The manifest: every record file with its URL parts and checksum."""
    return _manifest()


def published(path: str | Path) -> Source | None:
    """The manifest entry of a file in the default layout, `<CLIPSTUDY_DATA>/records/<local>` (where
    `clipstudy fetch records` puts it), or None: a file elsewhere is a user's own (root= a folder of theirs).

    A file is in the layout by where it is named, not where a link in its path points: a record file (or
    folder) under `<CLIPSTUDY_DATA>/records` that is a symlink to a copy elsewhere is still that record, and
    what it points to must be the published file (`check_published` hashes what is read)."""
    import os

    by_local = {s.local: s for s in manifest()}
    root = records_root()
    for f, r in ((os.path.normpath(os.path.abspath(path)), os.path.normpath(os.path.abspath(root))),
                 (Path(path).resolve(), root.resolve())):
        try:
            rel = Path(f).relative_to(r)
        except ValueError:
            continue
        if rel.as_posix() in by_local:
            return by_local[rel.as_posix()]
    return None


def check_published(path: str | Path, raw: bytes | None = None, n_rows: int | None = None) -> None:
    """A manifest file in the default layout must be the published file: its SHA-256 must match.

    This is what catches a file cut at a row boundary or inside a value, which still parses. Files
    outside `<CLIPSTUDY_DATA>/records`, or not in the manifest (a user's own runs), are not checked;
    they get the strict parse only. Raises SchemaError naming the file, where it ends when it is
    short, and the expected size and checksum. Hashes are the store's `file_digest` (cached per file).
    """
    s = published(path)
    if s is None:
        return
    from ..store import file_digest

    path = Path(path)
    st = path.stat()  # what is read: a symlink's target
    digest = file_digest(path, raw)
    if digest == s.sha256:
        return
    size, where = st.st_size, ""
    if s.bytes and size < s.bytes:
        where = f", row {n_rows} (line {n_rows + 1})" if n_rows else ""
        why = (f"shorter than the published file ({size} of {s.bytes} bytes): truncated (it ends at this "
               "row) or edited")
    else:
        why = f"it differs from the published file ({size} bytes, published {s.bytes}): edited or re-encoded"
    raise SchemaError(f"{path}{where}: {why}.\nExpected: the published file {s.repo}@{s.commit[:12]}:{s.path}, "
                      f"SHA-256 {s.sha256}. Re-fetch it with `{FETCH_CMD}`; to load runs of your own, put them "
                      "in a folder of your own and pass root=.")


def records_root(root: str | Path | None = None) -> Path:
    """`<CLIPSTUDY_DATA>/records` (or `root/records`)."""
    return Path(root).expanduser() / "records" if root is not None else data_root() / "records"


def require(folder: str, root: str | Path | None = None) -> Path:
    """Path of a records sub-folder; a clear MissingDataError naming the fetch command if absent."""
    import os

    base = records_root(root)
    path = base / folder
    if not os.path.isdir(path):  # never raises: a root whose name is too long for a file is simply not there
        expected = sorted({s.local for s in manifest() if s.local.startswith(folder + "/")})
        layout = "\n".join(f"  records/{p}" for p in expected[:8]) + ("\n  ..." if len(expected) > 8 else "")
        what = "records folder" if not os.path.isdir(base) else f"records/{folder}"
        raise MissingDataError(what, path, layout=layout, fetch=FETCH_CMD)
    return path


def fetch(dest: str | Path | None = None, base_url: str | None = None, *, progress: bool = True) -> list[Path]:
    """Download every record file into `dest` (default `<CLIPSTUDY_DATA>/records`).

    Each file goes through `clipstudy.download.download`: written to `.part`, checked
    against its recorded SHA-256, then renamed; files already present and intact are kept.
    `base_url` replaces https://raw.githubusercontent.com (mirrors, tests).
    Raises FetchError (offline: names the URL) or ChecksumError (file discarded).
    """
    from tqdm.auto import tqdm

    from ..download import download
    from ..paths import writable_dir

    # before any download: a --dest (or CLIPSTUDY_DATA) that is a file, or under one, or read-only fails now
    dest = writable_dir(dest, "--dest") if dest is not None else writable_dir(records_root(), "CLIPSTUDY_DATA/records")
    done = []
    for s in tqdm(manifest(), desc="records", unit="file", disable=not progress):
        url = s.url(base_url)
        try:
            done.append(download(url, dest / s.local, sha256=s.sha256, progress=False))
        except ChecksumError:
            raise
        except FetchError as e:
            raise FetchError(f"fetching records failed at {url}: {e}") from e
    return done


__all__ = ["Source", "manifest", "published", "check_published", "records_root", "require", "fetch", "RAW_BASE",
           "FETCH_CMD"]
