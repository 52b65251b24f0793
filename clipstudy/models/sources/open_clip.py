"""open_clip models: `ARCH/TAG` (hub weights), `ARCH/random`, `ARCH@/path/to/checkpoint`.

Each model is built with the activation (QuickGELU or GELU) and preprocessing its tag was trained with, and
hub weights come through `clipstudy.models.weights` (checked, cached, offline-aware). open_clip and torch are
imported on use, so registering this source costs nothing.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator

from ... import factors
from ...errors import CheckpointError, UnknownNameError
from .. import registry
from ..spec import LOCAL_DIR, Loaded, ModelSpec, local_checkpoint, pretrained_tag

# pretrained-cfg preprocessing keys -> create_model_and_transforms arguments
PREPROCESS_ARGS = {"mean": "image_mean", "std": "image_std", "interpolation": "image_interpolation",
                   "resize_mode": "image_resize_mode"}


def tag_factors(arch: str, tag: str) -> dict[str, Any]:
    """The factor fields of an open_clip pair, from the same tag rules the records use (one definition)."""
    from ...records import tags

    t = tags.open_clip_tags(arch, tag)
    return factors.spec_fields(t, arch)


def resolve_checkpoint(name: str) -> ModelSpec:
    """`ARCH@/path`: a local checkpoint file for an open_clip architecture."""
    import open_clip

    arch, path = name.split("@", 1)
    if arch not in open_clip.list_models():
        raise UnknownNameError("open_clip architecture", arch, open_clip.list_models())
    if not path.strip():  # open_clip would build random, unseeded weights and carry on
        raise CheckpointError(f"{name}: no checkpoint path after '@'. Write {arch}@/path/to/checkpoint.pt; "
                              f"random weights (pipeline checks only) are {arch}/random.")
    return ModelSpec(name=name, source="open_clip", arch=arch, pretrained=path, family=factors.family_of(arch),
                     data="local", loss=factors.loss_of(arch))


def resolve_pair(name: str) -> ModelSpec | None:
    """`ARCH/TAG` (a pretrained pair) or `ARCH/random`; None when open_clip does not know it."""
    import open_clip

    arch, tag = name.split("/", 1)
    if tag == "random" and arch in open_clip.list_models():
        return ModelSpec(name=name, source="open_clip", arch=arch, pretrained=None, family=factors.family_of(arch),
                         data="random-init", loss=factors.loss_of(arch), notes="random weights: pipeline tests only")
    if (arch, tag) in set(open_clip.list_pretrained()):
        return ModelSpec(name=name, source="open_clip", arch=arch, pretrained=tag, **tag_factors(arch, tag))
    return None


def open_clip_kwargs(arch: str, tag: str | None) -> dict[str, Any]:
    """The `create_model` kwargs that rebuild the network `tag` was trained as.

    open_clip's built-in configs use nn.GELU; for a tag trained with QuickGELU (OpenAI, ViT-B-32 LAION-400M,
    MetaCLIP, DFN, ...) it only warns and returns a network with the wrong activation. The tag's preprocessing
    is passed too, because clipstudy gives open_clip the weights as a file, not as the tag.
    """
    import open_clip

    cfg = (open_clip.get_pretrained_cfg(arch, tag) or {}) if tag else {}
    kw: dict[str, Any] = {"force_quick_gelu": bool(cfg.get("quick_gelu", False))}
    kw.update({arg: cfg[k] for k, arg in PREPROCESS_ARGS.items() if cfg.get(k) is not None})
    return kw


def build_open_clip(spec: ModelSpec, checkpoint: str | None, device: str = "cpu",
                    load_weights: bool = True) -> tuple[Any, Callable]:
    """(model, preprocess) built as the spec's tag was trained, weights from the local file `checkpoint`
    (random when None; none read with `load_weights=False`, not even a model folder's). The activation test
    builds every registry entry with device="meta"."""
    import open_clip

    kw = open_clip_kwargs(spec.arch, pretrained_tag(spec))
    model, _, preprocess = open_clip.create_model_and_transforms(spec.arch, pretrained=checkpoint, device=device,
                                                                 load_weights=load_weights, **kw)
    return model, preprocess


def _check_checkpoint_file(spec: ModelSpec, path: Path) -> Path:
    """The errors a glance at the path can tell, before open_clip reads it."""
    if not path.exists():
        raise CheckpointError(f"checkpoint for {spec.arch} not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{spec.name}: {path} is a folder, not a checkpoint file. For an open_clip model folder "
                              f"(open_clip_config.json + weights) use local-dir:{path}; for one file in it use "
                              f"{spec.arch}@{path}/FILE.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{spec.name}: {path} is empty (0 bytes): an interrupted download or copy? "
                              "Get the checkpoint again.")
    return path


@contextlib.contextmanager
def _skip_init() -> Iterator[None]:
    """Build without drawing initial weights that a checkpoint overwrites: `torch.nn.init`'s in-place initialisers
    return their tensor untouched (as transformers' `no_init_weights` does). open_clip loads a full checkpoint with
    `strict=True`, so every parameter and persistent buffer comes from the file; buffers a module computes itself
    (the causal mask) do not go through `torch.nn.init`. For a ViT-B-32 the random init is 1.6-1.8 s of a 2.2 s
    build on a 2-core CPU (benchmarks/README.md). Weights and features are the same, bit for bit
    (tests/test_models_deferred.py)."""
    import torch

    names = [n for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    for n in names:
        setattr(torch.nn.init, n, _keep)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


def _keep(tensor: Any, *args: Any, **kwargs: Any) -> Any:
    return tensor


@contextlib.contextmanager
def _quiet_open_clip() -> Iterator[None]:
    """open_clip logs 'initialized randomly' for the shape-only build of a diagnosis; hide that."""
    import logging

    before = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(before)


def checkpoint_problem(spec: ModelSpec, path: Path) -> str | None:
    """Why `path` does not load as `spec.arch`, in plain words; None when no plainer reason is found.
    Only run after a load failed: it reads the file again."""
    import torch
    from open_clip.factory import load_state_dict

    try:
        sd = load_state_dict(str(path))
    except Exception as e:
        with path.open("rb") as f:
            head = f.read(4096)
        what = "a text file" if _is_text(head) else f"unreadable by torch.load and safetensors ({type(e).__name__})"
        return (f"{path} is {what}, not a checkpoint: expected a PyTorch (.pt/.pth/.bin) or .safetensors "
                f"state dict of {spec.arch}")
    if not isinstance(sd, dict) or not any(isinstance(v, torch.Tensor) for v in sd.values()):
        return f"{path} holds no tensors: expected a state dict of {spec.arch}"
    with torch.device("meta"), _quiet_open_clip():
        ref = build_open_clip(spec, None, device="meta")[0].state_dict()
    for k, v in sd.items():
        if k in ref and isinstance(v, torch.Tensor) and tuple(v.shape) != tuple(ref[k].shape):
            return (f"architecture mismatch: {path} is not a {spec.arch} checkpoint: tensor {k} has shape "
                    f"{tuple(v.shape)} in the file but {tuple(ref[k].shape)} in {spec.arch}")
    missing, extra = [k for k in ref if k not in sd], [k for k in sd if k not in ref]
    if missing:
        return (f"architecture mismatch: {path} is not a {spec.arch} checkpoint: it lacks {len(missing)} of the "
                f"{len(ref)} tensors {spec.arch} has (e.g. {', '.join(missing[:3])})"
                + (f" and has {len(extra)} it does not (e.g. {', '.join(extra[:3])})" if extra else ""))
    return None


def _is_text(head: bytes) -> bool:
    try:
        return b"\0" not in head and bool(head.decode("utf-8").strip())
    except UnicodeDecodeError:
        return False


def load(spec: ModelSpec, device: str) -> Loaded:
    """An open_clip model: hub tag, local checkpoint, model folder (`local-dir:`), or seeded random weights."""
    import open_clip
    import torch

    local = local_checkpoint(spec)
    checkpoint: str | None = None
    if local is not None:
        checkpoint = str(_check_checkpoint_file(spec, local))
    elif pretrained_tag(spec) is not None:
        from .. import weights

        hub = weights.ensure(spec)  # the hub file, downloaded unless offline; None: open_clip fetches a URL tag
        checkpoint = str(hub) if hub is not None else spec.pretrained
    elif not spec.arch.startswith(LOCAL_DIR):
        torch.manual_seed(0)  # ARCH/random is the same random network every time, so its features cache
    from_files = checkpoint is not None or spec.arch.startswith(LOCAL_DIR)

    def build() -> tuple[Any, Callable]:
        try:
            with _skip_init() if from_files else contextlib.nullcontext():
                model, preprocess = build_open_clip(spec, checkpoint, device)
        except Exception as e:  # open_clip raises RuntimeError/KeyError/EOFError/...; say it in plain words
            why = checkpoint_problem(spec, local) if local is not None else None
            where = checkpoint or ("(folder)" if spec.arch.startswith(LOCAL_DIR) else "(random init)")
            raise CheckpointError(f"{spec.name}: {why}" if why else
                                  f"could not load {spec.arch} weights {where}: {type(e).__name__}: {e}") from e
        return model.eval(), preprocess

    tokenizer = open_clip.get_tokenizer(spec.arch)
    if spec.arch.startswith(LOCAL_DIR):  # a model folder: its files' bytes (registry.model_id hashes them)
        ident = registry.model_id(spec)
    elif checkpoint is not None and Path(checkpoint).is_file():  # a checkpoint file (ARCH@PATH, a hub tag's file)
        from ...store import file_digest

        ident = f"{spec.arch}|{file_digest(checkpoint)}"
    else:  # random weights, a URL tag: built now
        model, preprocess = build()
        return Loaded(model, preprocess, tokenizer, spec, device)
    return _deferred(spec, ident, build, tokenizer, device)


def _deferred(spec: ModelSpec, ident: str, build: Callable, tokenizer: Callable, device: str) -> Loaded:
    """Weights in files as a `models.deferred.Deferred`: built now and memoised the first time, then built only
    when used (a fully cached evaluation never reads the files)."""
    import torch

    from ...encode import logit_scale_of, weights_hash
    from .. import deferred

    memo_at = deferred.memo_path(ident)
    memo = deferred.read_memo(memo_at)
    if memo is not None:
        with torch.device("meta"), _quiet_open_clip():  # the preprocess without the weights (shapes only)
            preprocess = build_open_clip(spec, None, device="meta", load_weights=False)[1]
        if repr(preprocess)[:2000] == memo["transform"]:
            return Loaded(deferred.Deferred(lambda: build()[0], memo["weights"], memo.get("logit_scale"),
                                            spec.name), preprocess, tokenizer, spec, device)
    model, preprocess = build()
    weights, scale = weights_hash(model), logit_scale_of(model)
    deferred.write_memo(memo_at, weights, repr(preprocess)[:2000], scale)
    return Loaded(deferred.Deferred(lambda: build()[0], weights, scale, spec.name, model=model), preprocess,
                  tokenizer, spec, device)


def _pairs() -> list[str]:
    import open_clip

    return [f"{m}/{t}" for m, t in open_clip.list_pretrained()]


registry.register_resolver("ARCH@PATH", resolve_checkpoint, infix="@")
registry.register_resolver("ARCH/TAG", resolve_pair, infix="/")
registry.register_source("open_clip", load, suggest=_pairs)
