"""Hub weights of open_clip and timm models: found in the local cache, or fetched, checked and cached.

Why clipstudy fetches them itself instead of letting open_clip or timm download on first use:
- an unreachable hub costs huggingface_hub about a minute of retries per file; here one short probe decides,
  and cached weights are used at once with a note on how to work offline;
- an error names the model, the hub repo and file, and how to get them;
- huggingface_hub checks only a download's size; here a new file is also checked against the sha256 that
  the hub gives as the ETag of LFS files, and deleted when it differs.
Downloads go through `huggingface_hub.hf_hub_download`, as open_clip and timm do: the same cache (`HF_HOME`,
`HF_HUB_CACHE`), the same `HF_ENDPOINT`, progress bars, and resumable `.incomplete` files. Offline
(`HF_HUB_OFFLINE=1`, or `--offline` on the CLI) only the cache is read.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ..errors import ChecksumError, FetchError

if TYPE_CHECKING:
    from .spec import ModelSpec

PROBE_TIMEOUT = 5.0  # seconds the hub gets to answer one HEAD request (environment.hub_timeout's default)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_unreachable: dict[str, str] = {}  # endpoint -> why, so a panel of models probes a dead hub only once


@dataclass(frozen=True)
class HubFiles:
    """Where a model's weights live on the hub: the repo and its candidate files, the first present wins."""

    model: str
    repo_id: str
    filenames: tuple[str, ...]
    revision: str | None = None

    def __str__(self) -> str:
        return f"{self.repo_id} ({' or '.join(self.filenames)})"


def _safe_first(filename: str) -> tuple[str, ...]:
    """A weights file name and its safetensors twin first, as open_clip and timm look for them."""
    twins = {"open_clip_pytorch_model.bin": "open_clip_model.safetensors", "pytorch_model.bin": "model.safetensors"}
    twin = twins.get(filename) or (filename.rsplit(".", 1)[0] + ".safetensors"
                                   if filename.endswith((".bin", ".pth")) else None)
    return (twin, filename) if twin else (filename,)


def hub_files(spec: ModelSpec) -> HubFiles | None:
    """The hub repo and files of an open_clip tag or a timm model; None for weights from elsewhere."""
    from .spec import pretrained_tag

    if spec.source == "open_clip" and pretrained_tag(spec):
        import open_clip

        hub = (open_clip.get_pretrained_cfg(spec.arch, spec.pretrained) or {}).get("hf_hub") or ""
        if not hub:
            return None  # a URL-only tag: open_clip downloads it itself
        repo, filename = hub.rstrip("/"), "open_clip_pytorch_model.bin"
        if not hub.endswith("/"):  # 'org/repo/file.bin' names the file
            repo, filename = os.path.split(hub)
        return HubFiles(spec.name, repo, _safe_first(filename))
    if spec.source == "timm":
        import timm

        cfg = timm.models.get_pretrained_cfg(spec.arch)
        hub = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
        if not hub:
            return None
        repo, _, rev = hub.partition("@")
        filename = getattr(cfg, "hf_hub_filename", None) or "pytorch_model.bin"
        return HubFiles(spec.name, repo, _safe_first(filename), rev or None)
    return None


def offline() -> bool:
    """HF_HUB_OFFLINE, read now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    return constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def cached(files: HubFiles) -> Path | None:
    """The first candidate file present in the local hub cache, without any network access."""
    from huggingface_hub import try_to_load_from_cache

    for name in files.filenames:
        hit = try_to_load_from_cache(files.repo_id, name, revision=files.revision)
        if isinstance(hit, str) and os.path.isfile(hit):
            return Path(hit)
    return None


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _probe(files: HubFiles) -> str | None:
    """None when the hub answers one HEAD request within the timeout, else why not (no retries)."""
    return probe(files.repo_id, files.filenames[0], files.revision)


def probe(repo_id: str, filename: str, revision: str | None = None, repo_type: str | None = None) -> str | None:
    """None when the hub answers one HEAD request for `repo_id/filename` within the timeout, else why not (no
    retries; a dead endpoint is remembered for this process, so a panel of models or shards probes it once)."""
    import requests
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session

    endpoint = _endpoint()
    if endpoint in _unreachable:
        return _unreachable[endpoint]
    url = hf_hub_url(repo_id, filename, revision=revision, repo_type=repo_type)
    from ..environment import hub_timeout

    timeout = hub_timeout(PROBE_TIMEOUT)
    try:
        r = get_session().head(url, headers=build_hf_headers(), timeout=timeout, allow_redirects=False)
        why = f"HTTP {r.status_code}" if r.status_code >= 500 else None
    except requests.Timeout:
        why = f"no answer within {timeout:g} s"
    except requests.RequestException as e:
        why = f"{type(e).__name__}: {_short(e)}"
    if why:
        _unreachable[endpoint] = why
    return why


def _short(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def how_to_get(files: HubFiles) -> str:
    """The ways to put a model's weights on this machine, for error messages."""
    return (f"Get them with `clipstudy fetch model {files.model}` on a machine that reaches the hub "
            f"(HF_ENDPOINT selects a mirror), or `hf download {files.repo_id} {files.filenames[-1]}`; "
            "copy the hub cache folder (HF_HOME, default ~/.cache/huggingface) to a machine without internet.")


def ensure(spec: ModelSpec | str, *, verify_cached: bool = False) -> Path | None:
    """The local weights file of a hub model, downloaded when missing unless offline; None when the
    model's weights do not come from the hub (lab, local files, random, URL-only tags). New files are
    checked against their sha256; cached ones too with `verify_cached` (what `fetch model` asks). A name is
    resolved by the registry (every name form once `clipstudy.zoo` is imported)."""
    from . import registry

    spec = registry.get(spec)
    files = hub_files(spec)
    if files is None:
        return None
    hit = cached(files)
    if offline():
        if hit is None:
            raise FetchError(f"{spec.name}: weights not in the local hub cache and offline mode is on "
                             f"(HF_HUB_OFFLINE=1 or --offline). They are {files}. {how_to_get(files)}")
        return _checked(hit, files, verify_cached)
    why = _probe(files)
    if why is not None:
        if hit is None:
            raise FetchError(f"{spec.name}: cannot reach the model hub at {_endpoint()} ({why}), and its weights, "
                             f"{files}, are not in the local hub cache. {how_to_get(files)}")
        print(f"clipstudy: the model hub at {_endpoint()} is unreachable ({why}); using the cached weights of "
              f"{spec.name}. To skip this check, work offline: HF_HUB_OFFLINE=1 or --offline.", file=sys.stderr)
        return _checked(hit, files, verify_cached)
    return _download(files, before=hit, verify=verify_cached)


def _checked(path: Path, files: HubFiles, verify: bool) -> Path:
    if verify:
        check_sha256(path, files)
    return path


def _download(files: HubFiles, before: Path | None, verify: bool) -> Path:
    """hf_hub_download of the first candidate the repo has; a new file is checked against its sha256."""
    import requests
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    for name in files.filenames:
        try:
            path = Path(hf_hub_download(files.repo_id, name, revision=files.revision))
        except LocalEntryNotFoundError as e:  # the hub stopped answering after the probe
            raise FetchError(f"{files.model}: the hub at {_endpoint()} stopped answering ({_short(e)}). "
                             f"{how_to_get(files)}") from e
        except EntryNotFoundError:
            continue
        except (RepositoryNotFoundError, RevisionNotFoundError) as e:
            raise FetchError(f"{files.model}: the hub at {_endpoint()} has no repo {files.repo_id}"
                             f"{'@' + files.revision if files.revision else ''} ({type(e).__name__}). "
                             "Is HF_ENDPOINT right, or does the repo need a token (`hf auth login`)?") from e
        except (requests.RequestException, OSError, ValueError) as e:
            raise FetchError(f"{files.model}: downloading {files.repo_id}/{name} from {_endpoint()} failed "
                             f"({type(e).__name__}: {_short(e)}). Nothing was kept as the weights; run "
                             f"`clipstudy fetch model {files.model}` again to resume.") from e
        return _checked(path, files, verify or before is None or path.resolve() != before.resolve())
    raise FetchError(f"{files.model}: the hub repo {files.repo_id} at {_endpoint()} has none of "
                     f"{', '.join(files.filenames)}.")


_GIT_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def blob_mismatch(path: Path) -> tuple[str, str, str] | None:
    """(hash name, got, want) when a hub-cache file's bytes differ from the name of its blob, else None.

    huggingface_hub names each cached blob by the file's ETag: the sha256 of an LFS file, the git blob sha1
    of a small git file. It checks only a download's size, so this compares the bytes with that name."""
    import hashlib

    from ..download import sha256_file

    blob = Path(path).resolve()
    if _SHA256.match(blob.name):
        got = sha256_file(blob)
        return None if got == blob.name else ("sha256", got, blob.name)
    if _GIT_SHA1.match(blob.name):
        data = blob.read_bytes()
        got = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        return None if got == blob.name else ("git sha1", got, blob.name)
    return None  # a cache without symlinks (Windows): its size was checked


def delete_cached(path: Path) -> None:
    """Remove a hub-cache file: its blob and the snapshot link to it."""
    blob = Path(path).resolve()
    blob.unlink(missing_ok=True)
    Path(path).unlink(missing_ok=True)


def check_sha256(path: Path, files: HubFiles) -> None:
    """The cached blob is named by its ETag, which for LFS files is the content's sha256: compare the two.
    A file whose bytes differ is deleted (blob and link), so it is never loaded."""
    from ..download import sha256_file

    blob = path.resolve()
    if not _SHA256.match(blob.name):
        return  # a small git file (ETag is a git sha1) or a cache without symlinks: its size was checked
    got = sha256_file(blob)
    if got != blob.name:
        blob.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        raise ChecksumError(f"{files.model}: {files.repo_id}/{path.name} arrived damaged: sha256 {got}, but the hub "
                            f"says {blob.name}. The file was deleted; run `clipstudy fetch model {files.model}` again.")


# `clipstudy fetch model @COLLECTION`: the registry's collections, @FIELD=VALUE over its hub models only.
COLLECTION_FIELDS = ("source", "family", "data", "loss")


def expand(names: Iterable[str]) -> list[str]:
    """Model names with each `@COLLECTION` replaced by its members, each once, in order (the registry's
    parser; `@FIELD=VALUE` keeps the models whose weights come from the hub)."""
    from . import collection  # noqa: F401  (registers @live and the other named collections)
    from . import registry

    return registry.expand(names, lambda c: registry.collection(c, hub_only=True))
