"""A model built on first use, and the memo that lets a fully cached evaluation skip building it.

`zoo.load` of open_clip weights in files (`ARCH@PATH`, a hub tag's file, a `local-dir:` folder) returns a `Deferred`
model. The first time they are loaded (under a store), the model is built at once, its parameters hashed
(`encode.weights_hash`) and the hash written to a memo keyed by the files' SHA-256, the architecture and the
open_clip and torch versions. Every later load of the same bytes reads the memo: the preprocess comes from a
shape-only build on the meta device (checked against the memo's transform), and the real model is only built
when something uses it. Warm, an evaluation whose features and text head are all cached never reads the
checkpoint: its keys are the same parameter hash as before.

While the model is as loaded (`pristine`: nothing has reached it through the wrapper since it was built), its
`weights_id` is the memo's hash. Any attribute access, call or assignment through the wrapper may change the
weights, so from then on `weights_id` is None and the engine hashes the parameters again, as for any model:
a model edited in place never hits the features of the file it came from.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

MEMO_VERSION = 1


class Deferred:
    """A model (a torch.nn.Module) built by `build` on first use; see the module docstring."""

    is_deferred = True

    def __init__(self, build: Callable[[], Any], weights: str, logit_scale: float | None, what: str,
                 model: Any = None, is_classifier: bool = False):
        d = self.__dict__
        d["_build"], d["_model"], d["_weights"], d["_scale"] = build, model, weights, logit_scale
        d["_what"], d["_pristine"], d["is_classifier"] = what, True, is_classifier

    @property
    def built(self) -> bool:
        return self._model is not None

    @property
    def pristine(self) -> bool:
        """Nothing has reached the model through this wrapper since it was loaded."""
        return self._pristine

    @property
    def weights_id(self) -> str | None:
        """The parameters' hash while the model is as loaded; None once it may have changed."""
        return self._weights if self._pristine else None

    @property
    def known_logit_scale(self) -> float | None:
        """exp(logit_scale) as loaded (`encode.logit_scale_of` reads it without building the model)."""
        return self._scale if self._pristine else None

    def materialise(self, touch: bool = True) -> Any:
        """The real model (built now if it was not). The wrapper is no longer pristine, unless `touch` is False:
        only for the engine's own forward passes (`encode._real`: eval mode, no_grad), which leave the weights
        as they are, so that encoding the images does not cost the text head a second hash."""
        if self._model is None:
            self.__dict__["_model"] = self._build()
        if touch:
            self.__dict__["_pristine"] = False
        return self._model

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends look for dunders: never build for them
            raise AttributeError(name)
        return getattr(self.materialise(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.materialise(), name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.materialise()(*args, **kwargs)

    def __repr__(self) -> str:
        state = "built" if self.built else "not built yet"
        return f"Deferred({self._what}, {state}{', as loaded' if self._pristine else ''})"


# ---------------------------------------------------------------- the memo
def memo_path(identity: str) -> Path:
    """Where the memo of the weights named by `identity` lives: under the store root (so a fresh store starts
    without one), named by a digest of the identity (the caller's: the bytes of the checkpoint file or folder and
    the architecture) and the open_clip and torch versions (another version may build other parameters)."""
    import open_clip
    import torch

    from ..config import cache_root

    ident = json.dumps([MEMO_VERSION, identity, open_clip.__version__, torch.__version__])
    return cache_root() / "models" / "weights" / f"{hashlib.sha256(ident.encode()).hexdigest()[:32]}.json"


def read_memo(path: Path) -> dict | None:
    """The memo at `path`, or None when it is missing or unreadable (then the model is built and hashed)."""
    try:
        memo = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    ok = isinstance(memo, dict) and isinstance(memo.get("weights"), str) and isinstance(memo.get("transform"), str)
    return memo if ok else None


def write_memo(path: Path, weights: str, transform: str, logit_scale: float | None) -> None:
    """Publish a memo atomically; a store that cannot be written just goes without one."""
    from ..store import atomic_write_text

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json.dumps(dict(weights=weights, transform=transform, logit_scale=logit_scale)), path)
    except OSError:
        pass
