"""On-disk feature store keyed by (model id, weights hash, data identity, transform, precision, subset).

Entry names are `store.Key`s; atomic writes and safe loads are the store's (import them from `clipstudy.store`).

Layout: `<root>/<key>/shard-00000.pt ... meta.json`. Every file is written to a
temporary name and renamed into place, so a reader never sees half a file.
`meta.json` is written last and marks the entry complete; shards without it are
the finished part of an interrupted encode, which resumes from them. A damaged
file (unreadable shard, meta.json that is not the JSON it should be) marks its
entry incomplete and is recomputed; a file that cannot be read for another reason
(permissions, I/O) is an error and is never deleted.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from . import store
from .config import cache_root
from .deprecations import module_getattr

__getattr__ = module_getattr(__name__)  # the store's names it once re-exported warn and work (clipstudy.deprecations)

META_FIELDS = ("n", "n_shards")


class FeatureCache:
    """A folder of complete or resumable feature entries."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else cache_root() / "features"
        self._log_warned = False

    @staticmethod
    def key(model: str, weights: str, dataset: str, transform: str = "default", subset: str = "all", *,
            kind: str = "features", **extra: Any) -> str:
        """The entry name of an artifact: a `store.Key` (data identity and precision among its fields)."""
        return FeatureCache.key_of(model, weights, dataset, transform, subset, kind=kind, **extra).name

    @staticmethod
    def key_of(model: str, weights: str, dataset: str, transform: str = "default", subset: str = "all", *,
               kind: str = "features", **extra: Any) -> store.Key:
        return store.feature_key(model, weights, dataset, transform, subset, kind=kind, **extra)

    def check_usable(self) -> Path:
        """Fail before any work when the cache root cannot be a folder (a file stands in its place);
        returns the nearest existing folder on its path."""
        p = self.root
        while not p.exists() and p != p.parent:
            p = p.parent
        if not p.is_dir():
            raise store.CacheError(f"the cache folder {self.root} cannot be used: {p} is a file. "
                                   "Set CLIPSTUDY_CACHE to a folder.")
        return p

    def check_writable(self) -> None:
        """Fail before computing when results could not be kept: a file where the folder should be,
        or a folder this process cannot write."""
        from .paths import cannot_create_in

        p = self.check_usable()
        why = cannot_create_in(p)
        if why is not None:
            raise store.CacheError(f"the cache folder {self.root} is read-only for this process (no file can be "
                                   f"created in {p}: {why}), and this request has to compute and store features. Set "
                                   "CLIPSTUDY_CACHE to a writable folder (complete entries of a read-only cache are "
                                   "still read).")

    def entry(self, key: str) -> Path:
        return self.root / key

    def meta(self, key: str) -> dict | None:
        """The entry's meta.json, or None when absent or damaged (a damaged one is removed)."""
        path = self.entry(key) / "meta.json"
        meta = store.load_json(path)
        if meta is not None and any(not isinstance(meta.get(f), int) for f in META_FIELDS):
            store.discard(path)  # damaged: the entry is recomputed like a damaged shard
            return None
        return meta

    def complete(self, key: str) -> bool:
        return self.meta(key) is not None

    def shard_path(self, key: str, i: int) -> Path:
        return self.entry(key) / f"shard-{i:05d}.pt"

    def load_shard(self, key: str, i: int) -> dict | None:
        return store.safe_load(self.shard_path(key, i))

    def save_shard(self, key: str, i: int, payload: dict) -> None:
        store.atomic_save(payload, self.shard_path(key, i))

    def drop_shards(self, key: str, start: int) -> None:
        """Remove shards `start`, `start+1`, ...: they follow a damaged one and no longer line up."""
        i = start
        while self.shard_path(key, i).exists():
            store.discard(self.shard_path(key, i))
            i += 1

    def finish(self, key: str, meta: dict) -> None:
        store.atomic_write_text(json.dumps(meta, indent=1, default=str), self.entry(key) / "meta.json")

    def load(self, key: str) -> dict | None:
        """All shards of a complete entry concatenated, or None if incomplete or damaged."""
        meta = self.meta(key)
        if meta is None:
            return None
        shards = [self.load_shard(key, i) for i in range(meta["n_shards"])]
        if any(s is None for s in shards):  # damaged after completion: invalidate, recompute
            store.discard(self.entry(key) / "meta.json")
            return None
        return merge_shards(shards)

    def log_request(self, **fields: Any) -> None:
        """Append one line per encode request (hit or computed), so a whole build's cost can be counted.

        Each line names the chapter that asked (`CLIPSTUDY_CHAPTER`, set by `chapter.start`), so the
        cost can be split by axis. A read-only cache still serves reads: the line is then dropped.
        """
        from .environment import chapter

        fields.setdefault("chapter", chapter())
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.root / "requests.jsonl", "a") as f:  # one short write per line: safe to append
                f.write(json.dumps(fields, default=str) + "\n")
        except OSError as e:
            if not self._log_warned:
                warnings.warn(f"the request log in {self.root} is not writable ({e.strerror or e}); "
                              "cost accounting is off for this run", stacklevel=2)
                self._log_warned = True

    def save_object(self, key: str, obj: Any) -> None:
        """A small single-file entry (for zero-shot heads)."""
        store.atomic_save(obj, self.entry(key) / "object.pt")

    def load_object(self, key: str) -> Any | None:
        return store.safe_load(self.entry(key) / "object.pt")


def merge_shards(shards: list[dict]) -> dict:
    """Concatenate shards: tensors along dim 0, lists end to end (scalars such as a shard's range are dropped)."""
    out: dict[str, Any] = {}
    for k in shards[0]:
        vals = [s.get(k) for s in shards]
        if isinstance(vals[0], torch.Tensor):
            out[k] = torch.cat(vals)
        elif isinstance(vals[0], list):
            out[k] = [x for v in vals for x in (v or [])]
    return out
