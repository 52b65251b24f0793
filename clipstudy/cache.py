"""On-disk feature store keyed by (model id, weights hash, dataset id, transform, subset).

Layout: `<root>/<key>/shard-00000.pt ... meta.json`. Every file is written to a
temporary name and renamed into place, so a reader never sees half a file.
`meta.json` is written last and marks the entry complete; shards without it are
the finished part of an interrupted encode, which resumes from them.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .config import cache_root


def digest(obj: Any, n: int = 16) -> str:
    """Stable short hash of a JSON-able object."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def safe_load(path: Path) -> Any | None:
    """torch.load, or None (and the file removed) when it is unreadable."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception:
        path.unlink(missing_ok=True)
        return None


class FeatureCache:
    """A folder of complete or resumable feature entries."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else cache_root() / "features"

    @staticmethod
    def key(model: str, weights: str, dataset: str, transform: str = "default", subset: str = "all",
            **extra: Any) -> str:
        parts = dict(model=model, weights=weights, dataset=dataset, transform=transform, subset=subset, **extra)
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{model}__{dataset}")[:80]
        return f"{slug}__{digest(parts)}"

    def entry(self, key: str) -> Path:
        return self.root / key

    def complete(self, key: str) -> bool:
        return (self.entry(key) / "meta.json").exists()

    def meta(self, key: str) -> dict:
        return json.loads((self.entry(key) / "meta.json").read_text())

    def shard_path(self, key: str, i: int) -> Path:
        return self.entry(key) / f"shard-{i:05d}.pt"

    def load_shard(self, key: str, i: int) -> dict | None:
        p = self.shard_path(key, i)
        return safe_load(p) if p.exists() else None

    def save_shard(self, key: str, i: int, payload: dict) -> None:
        atomic_save(payload, self.shard_path(key, i))

    def finish(self, key: str, meta: dict) -> None:
        atomic_write_text(json.dumps(meta, indent=1, default=str), self.entry(key) / "meta.json")

    def load(self, key: str) -> dict | None:
        """All shards of a complete entry concatenated, or None if incomplete or damaged."""
        if not self.complete(key):
            return None
        meta = self.meta(key)
        shards = [self.load_shard(key, i) for i in range(meta["n_shards"])]
        if any(s is None for s in shards):  # damaged after completion: invalidate, recompute
            (self.entry(key) / "meta.json").unlink(missing_ok=True)
            return None
        return merge_shards(shards)

    def log_request(self, **fields: Any) -> None:
        """Append one line per encode request (hit or computed), so a whole build's cost can be counted.

        Each line names the chapter that asked (`CLIPSTUDY_CHAPTER`, set by `chapter.start`), so the
        cost can be split by axis.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fields.setdefault("chapter", os.environ.get("CLIPSTUDY_CHAPTER", ""))
        with open(self.root / "requests.jsonl", "a") as f:  # one short write per line: safe to append
            f.write(json.dumps(fields, default=str) + "\n")

    def save_object(self, key: str, obj: Any) -> None:
        """A small single-file entry (for zero-shot heads)."""
        atomic_save(obj, self.entry(key) / "object.pt")

    def load_object(self, key: str) -> Any | None:
        p = self.entry(key) / "object.pt"
        return safe_load(p) if p.exists() else None


def merge_shards(shards: list[dict]) -> dict:
    out: dict[str, Any] = {}
    for k in shards[0]:
        vals = [s[k] for s in shards]
        if isinstance(vals[0], torch.Tensor):
            out[k] = torch.cat(vals)
        else:
            out[k] = [x for v in vals for x in v]
    return out
