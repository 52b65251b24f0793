"""Hub weights of open_clip and timm models: found in the local cache, or fetched, checked and cached.

Why clipstudy fetches them itself instead of letting open_clip or timm download on first use:
- an unreachable hub costs huggingface_hub about a minute of retries per file; here one short probe decides,
  and cached weights are used at once with a note on how to work offline;
- an error names the model, the hub repo and file, and how to get them;
- huggingface_hub checks only a download's size; here a new file is also checked against the sha256 that
  the hub gives as the ETag of LFS files, and deleted when it differs.
Downloads go through the hub cache service (`clipstudy.hubcache`: `huggingface_hub.hf_hub_download`, as open_clip
and timm do: the same cache, `HF_ENDPOINT`, progress bars, resumable `.incomplete` files, each new file checked).
Offline (`HF_HUB_OFFLINE=1`, or `--offline` on the CLI) only the cache is read.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .. import hubcache
from ..errors import FetchError

if TYPE_CHECKING:
    from .spec import ModelSpec

PROBE_TIMEOUT = hubcache.PROBE_TIMEOUT


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


def cached(files: HubFiles) -> Path | None:
    """The first candidate file present in the local hub cache, without any network access."""
    for name in files.filenames:
        hit = hubcache.cached(files.repo_id, name, files.revision)
        if hit is not None:
            return hit
    return None


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
    if spec.source in registry.FETCHERS:  # a source that fetches its own files (hf-hub: a whole repo)
        return registry.FETCHERS[spec.source](spec, verify_cached)
    files = hub_files(spec)
    if files is None:
        return None
    hit = cached(files)
    if hubcache.offline():
        if hit is None:
            raise FetchError(f"{spec.name}: weights not in the local hub cache and offline mode is on "
                             f"(HF_HUB_OFFLINE=1 or --offline). They are {files}. {how_to_get(files)}")
        return _checked(hit, files, verify_cached)
    why = hubcache.probe(files.repo_id, files.filenames[0], files.revision)
    if why is not None:
        if hit is None:
            raise FetchError(f"{spec.name}: cannot reach the model hub at {hubcache.endpoint()} ({why}), and its "
                             f"weights, {files}, are not in the local hub cache. {how_to_get(files)}")
        print(f"clipstudy: the model hub at {hubcache.endpoint()} is unreachable ({why}); using the cached weights "
              f"of {spec.name}. To skip this check, work offline: HF_HUB_OFFLINE=1 or --offline.", file=sys.stderr)
        return _checked(hit, files, verify_cached)
    return _download(files, before=hit, verify=verify_cached)


def _again(files: HubFiles) -> str:
    return f"run `clipstudy fetch model {files.model}` again to resume"


def _checked(path: Path, files: HubFiles, verify: bool) -> Path:
    if verify:
        hubcache.check(path, files.repo_id, path.name, files.model, _again(files))
    return path


def _download(files: HubFiles, before: Path | None, verify: bool) -> Path:
    """The first candidate the repo has, through the hub cache; a new file is checked against its hash."""
    for name in files.filenames:
        try:
            return hubcache.get(files.repo_id, name, revision=files.revision, local=False, verify=verify,
                                subject=files.model, again=_again(files))
        except hubcache.EntryMissing:
            continue
        except hubcache.NotCached as e:  # the hub stopped answering after the probe
            raise FetchError(f"{files.model}: {e.reason}. {how_to_get(files)}") from e
    raise FetchError(f"{files.model}: the hub repo {files.repo_id} at {hubcache.endpoint()} has none of "
                     f"{', '.join(files.filenames)}.")


# the hub cache's names, as the model layer has long offered them
offline, probe, blob_mismatch, delete_cached = (hubcache.offline, hubcache.probe, hubcache.blob_mismatch,
                                                hubcache.delete_cached)
_endpoint, _short = hubcache.endpoint, hubcache.short


# `clipstudy fetch model @COLLECTION`: the registry's collections, @FIELD=VALUE over its hub models only.
COLLECTION_FIELDS = ("source", "family", "data", "loss")


def expand(names: Iterable[str]) -> list[str]:
    """Model names with each `@COLLECTION` replaced by its members, each once, in order (the registry's
    parser; `@FIELD=VALUE` keeps the models whose weights come from the hub)."""
    from . import collection  # noqa: F401  (registers @live and the other named collections)
    from . import registry

    return registry.expand(names, lambda c: registry.collection(c, hub_only=True))
