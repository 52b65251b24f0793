"""The Hugging Face hub cache: one file of a hub repo, found in the local cache or fetched into it, and checked.

Every hub download of clipstudy goes through `get`: model weights (`models/weights.py`), `hf-hub:` repos
(`models/sources/hf_hub.py`), CLIP_benchmark's webdatasets (`datasets/wds.py`) and the lab zoo (`lab/hub.py`).

- Files come through `huggingface_hub.hf_hub_download`, as open_clip, timm and CLIP_benchmark fetch theirs: the same
  cache (`HF_HOME`, `HF_HUB_CACHE`), the same `HF_ENDPOINT`, progress bars, and resumable `.incomplete` files.
- Offline (`HF_HUB_OFFLINE=1`, read when asked, or `--offline` on the CLI) only the cache is read.
- An unreachable hub costs huggingface_hub about a minute of retries per file; `probe` asks once, briefly
  (`CLIPSTUDY_HUB_TIMEOUT`, default 5 s), and a dead endpoint is remembered for the process.
- huggingface_hub checks only a download's size. Its cache names each blob by the file's ETag: the sha256 of an LFS
  file, the git blob sha1 of a small git file. A new file (any file, with `verify`) is compared with that name,
  and one whose bytes differ is deleted, blob and link, so it is never read (`Damaged`).
- The error ladder is here once: each failure is a `HubError` subclass whose `reason` says what happened without
  naming the caller's subject, so a caller can word it as its own (a model, a dataset, a lab zoo).
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path, PurePosixPath

from .errors import ChecksumError, FetchError

PROBE_TIMEOUT = 5.0  # seconds the hub gets to answer one HEAD request; CLIPSTUDY_HUB_TIMEOUT overrides
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_GIT_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_unreachable: dict[str, str] = {}  # endpoint -> why, so a panel of models or shards probes a dead hub only once


class HubError(FetchError):
    """A hub file could not be had. `reason` says why without the subject; the message is `subject: reason`."""

    def __init__(self, reason: str, subject: str = ""):
        super().__init__(f"{subject}: {reason}" if subject else reason)
        self.reason = reason


class EntryMissing(HubError):
    """The repo (at that revision) has no such file."""


class NoRepo(HubError):
    """The hub has no such repo or revision (or it needs a token)."""


class NotCached(HubError):
    """The file is not in the local cache, and the hub may not be asked (offline) or does not answer."""


class Interrupted(HubError):
    """The download failed part-way; what was received is kept as `.incomplete` and resumed next time."""


class Damaged(HubError, ChecksumError):
    """The file's bytes differ from the hash the hub gave; it was deleted."""


def offline() -> bool:
    """HF_HUB_OFFLINE, read now (huggingface_hub reads it once, at its import; `--offline` sets it later)."""
    from huggingface_hub import constants

    return constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def endpoint() -> str:
    """The hub being asked (HF_ENDPOINT, or huggingface.co)."""
    from huggingface_hub import constants

    return constants.ENDPOINT


def cache_dir() -> Path:
    """The hub cache folder (HF_HUB_CACHE, default HF_HOME/hub)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def short(e: BaseException) -> str:
    """The first line of an exception's message, at most 160 characters."""
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def probe(repo_id: str, filename: str, revision: str | None = None, repo_type: str | None = None) -> str | None:
    """None when the hub answers one HEAD request for `repo_id/filename` within the timeout, else why not (no
    retries; a dead endpoint is remembered for this process, so a panel of models or shards probes it once)."""
    import requests
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session

    where = endpoint()
    if where in _unreachable:
        return _unreachable[where]
    url = hf_hub_url(repo_id, filename, revision=revision, repo_type=repo_type)
    from .environment import hub_timeout

    timeout = hub_timeout(PROBE_TIMEOUT)
    try:
        r = get_session().head(url, headers=build_hf_headers(), timeout=timeout, allow_redirects=False)
        why = f"HTTP {r.status_code}" if r.status_code >= 500 else None
    except requests.Timeout:
        why = f"no answer within {timeout:g} s"
    except requests.RequestException as e:
        why = f"{type(e).__name__}: {short(e)}"
    if why:
        _unreachable[where] = why
    return why


def cached(repo_id: str, filename: str, revision: str | None = None, repo_type: str | None = None) -> Path | None:
    """The file in the local hub cache at `revision` (a branch as this cache last saw it, a tag or a commit),
    without any network access; None when absent."""
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(repo_id, filename, revision=revision, repo_type=repo_type)
    return Path(hit) if isinstance(hit, str) and os.path.isfile(hit) else None


def known_missing(repo_id: str, filename: str, revision: str | None = None, repo_type: str | None = None) -> bool:
    """The hub said the repo has no such file at `revision` (huggingface_hub keeps that answer in the cache)."""
    from huggingface_hub import _CACHED_NO_EXIST, try_to_load_from_cache

    return try_to_load_from_cache(repo_id, filename, revision=revision, repo_type=repo_type) is _CACHED_NO_EXIST


def cached_commit(repo_id: str, revision: str | None = None, repo_type: str | None = None) -> str | None:
    """The commit a branch or tag pointed to when this cache last fetched it (a full commit is itself); None when
    this cache never saw it."""
    rev = revision or "main"
    if _GIT_SHA1.match(rev):
        return rev
    kind = {"dataset": "datasets", "space": "spaces"}.get(repo_type or "model", "models")
    ref = cache_dir() / f"{kind}--{repo_id.replace('/', '--')}" / "refs" / rev
    return ref.read_text().strip() if ref.is_file() else None


def commit_of(path: Path, filename: str) -> str:
    """The commit of a file in the hub cache: its snapshot folder, `snapshots/<commit>/<filename>`."""
    return Path(path).parents[len(PurePosixPath(filename).parts) - 1].name


def snapshot_of(path: Path, filename: str) -> Path:
    """The snapshot folder a cached file lies in (`snapshots/<commit>`)."""
    return Path(path).parents[len(PurePosixPath(filename).parts) - 1]


def blob_mismatch(path: Path) -> tuple[str, str, str] | None:
    """(hash name, got, want) when a hub-cache file's bytes differ from the name of its blob, else None (a cache
    without symlinks, on Windows, names no blob: its size was checked)."""
    from .store import sha256_file

    blob = Path(path).resolve()
    if _SHA256.match(blob.name):
        got = sha256_file(blob)
        return None if got == blob.name else ("sha256", got, blob.name)
    if _GIT_SHA1.match(blob.name):
        data = blob.read_bytes()
        got = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        return None if got == blob.name else ("git sha1", got, blob.name)
    return None


def delete_cached(path: Path) -> None:
    """Remove a hub-cache file: its blob and the snapshot link to it."""
    Path(path).resolve().unlink(missing_ok=True)
    Path(path).unlink(missing_ok=True)


def check(path: Path, repo_id: str, filename: str, subject: str = "", again: str = "") -> Path:
    """`path` when its bytes match its blob's name; else it is deleted and `Damaged` is raised (`again`: the
    remedy sentence it ends with)."""
    bad = blob_mismatch(path)
    if bad is not None:
        delete_cached(path)
        kind, got, want = bad
        raise Damaged(f"{repo_id}/{filename} arrived damaged: {kind} {got}, but the hub says {want}. The file was "
                      "deleted and is never read" + (f"; {again}" if again else ""), subject)
    return path


def get(repo_id: str, filename: str, *, revision: str | None = None, repo_type: str | None = None,
        local: bool | None = None, verify: bool = False, token: str | None = None, subject: str = "",
        again: str = "") -> Path:
    """One file of a hub repo: from the cache, or downloaded into it (never with `local`, which defaults to
    `offline()`). A new file (every file, with `verify`) is checked against the hash the hub gave, and deleted
    when its bytes differ. Raises `EntryMissing`, `NoRepo`, `NotCached`, `Interrupted` or `Damaged`, each worded
    `subject: reason`; `again` (a remedy, e.g. "run `clipstudy fetch NAME` again to resume") ends the last two."""
    import requests
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    local = offline() if local is None else local
    before = cached(repo_id, filename, revision, repo_type)
    at = f"@{revision}" if revision and revision != "main" else ""
    if revision and _GIT_SHA1.match(revision):  # a commit never changes: what this cache knows of it is final
        if before is not None:
            return check(before, repo_id, filename, subject, again) if verify else before
        if known_missing(repo_id, filename, revision, repo_type):
            raise EntryMissing(f"the hub repo {repo_id}{at} at {endpoint()} has no {filename}", subject)
    try:
        path = Path(hf_hub_download(repo_id, filename, revision=revision, repo_type=repo_type, token=token,
                                    local_files_only=local))
    except LocalEntryNotFoundError as e:  # before EntryNotFoundError: it is one
        why = "offline mode is on (HF_HUB_OFFLINE=1 or --offline)" if offline() else \
            f"the hub at {endpoint()} does not answer" if local else \
            f"the hub at {endpoint()} stopped answering ({short(e)})"
        raise NotCached(f"{repo_id}/{filename} is not in the local hub cache and {why}", subject) from e
    except EntryNotFoundError:
        raise EntryMissing(f"the hub repo {repo_id}{at} at {endpoint()} has no {filename}", subject) from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as e:
        kind = "dataset repo" if repo_type == "dataset" else "repo"
        raise NoRepo(f"the hub at {endpoint()} has no {kind} {repo_id}{at} ({type(e).__name__}). Is HF_ENDPOINT "
                     "right, or does the repo need a token (`hf auth login`)?", subject) from e
    except (requests.RequestException, OSError, ValueError) as e:
        raise Interrupted(f"downloading {repo_id}/{filename} from {endpoint()} failed ({type(e).__name__}: "
                          f"{short(e)}). Nothing half-written is read" + (f"; {again}" if again else ""),
                          subject) from e
    if verify or before is None or before.resolve() != path.resolve():
        check(path, repo_id, filename, subject, again)
    return path
