"""`llava:CHECKPOINT[@CLIP]`: a LLaVA checkpoint (an LMM, not a CLIP encoder) and the CLIP its vision tower is.

CHECKPOINT is an alias of `CHECKPOINTS` (`llava:llava-1.5-7b`: its Hugging Face id and its CLIP are known), a
Hugging Face id (`llava:llava-hf/llava-1.5-7b-hf`), or a local folder in the Hugging Face layout
(`llava:/path/to/folder` or `llava:local-dir:/path/to/folder`). `@CLIP` names the CLIP (any model name) the
two-choice protocol compares it with; it is required where the checkpoint is not one of `CHECKPOINTS`.

Resolving reads no weights. Such a model is no encoder: it runs as an `lmm` unit of the study runner
(`clipstudy run --axes lmm`), which loads it through `clipstudy.lmm`; `zoo.load` refuses it with that hint.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import ClipstudyError, UnknownNameError
from .. import registry
from ..spec import LOCAL_DIR, Loaded, ModelSpec

PREFIX = "llava:"
SOURCE = "llava"

# Checkpoints of the paper's LMMs (transformers ports) and the open_clip name of the CLIP they use as
# vision tower: LLaVA-1.5 and 1.6 both build on OpenAI's ViT-L/14 at 336 px.
CHECKPOINTS: dict[str, dict[str, str]] = {
    "llava-1.5-7b": dict(hf_id="llava-hf/llava-1.5-7b-hf", clip="ViT-L-14-336/openai"),
    "llava-1.5-13b": dict(hf_id="llava-hf/llava-1.5-13b-hf", clip="ViT-L-14-336/openai"),
    "llava-1.6-vicuna-7b": dict(hf_id="llava-hf/llava-v1.6-vicuna-7b-hf", clip="ViT-L-14-336/openai"),
    "llava-1.6-mistral-7b": dict(hf_id="llava-hf/llava-v1.6-mistral-7b-hf", clip="ViT-L-14-336/openai"),
}


def name(checkpoint: str) -> str:
    """The model name of a `CHECKPOINTS` alias: `llava:ALIAS`."""
    return PREFIX + checkpoint


def is_llava(name_: str) -> bool:
    return str(name_).startswith(PREFIX)


def split(name_: str) -> tuple[str, str]:
    """(checkpoint, CLIP) of a `llava:` name: the checkpoint as `clipstudy.lmm.load_llava` takes it (an alias, a
    hub id or a folder path) and its CLIP's model name."""
    rest = str(name_)[len(PREFIX):]
    ckpt, _, clip = rest.partition("@")  # a CLIP name may hold an @ itself (ARCH@/path/file.pt): split at the first
    if ckpt.startswith(LOCAL_DIR):
        ckpt = ckpt[len(LOCAL_DIR):]
    if not ckpt:
        raise ClipstudyError(f"{name_}: no checkpoint; give llava:ALIAS ({', '.join(CHECKPOINTS)}), "
                             "llava:ORG/NAME (a Hugging Face id) or llava:/path/to/folder[@CLIP]")
    known = CHECKPOINTS.get(ckpt) or next((v for v in CHECKPOINTS.values() if v["hf_id"] == ckpt), None)
    if not clip:
        if known is None:
            if "/" not in ckpt and not ckpt.startswith(("~", ".")):
                raise UnknownNameError("LLaVA checkpoint", ckpt, list(CHECKPOINTS),
                                       hint="Use llava:ALIAS, llava:ORG/NAME@CLIP or llava:/path/to/folder@CLIP.")
            raise ClipstudyError(f"{name_}: which CLIP is its vision tower? Name it after an @, e.g. "
                                 f"{name_}@ViT-L-14-336/openai (only the aliases {', '.join(CHECKPOINTS)} know theirs)")
        clip = known["clip"]
    return ckpt, clip


def is_folder(checkpoint: str) -> bool:
    """A checkpoint given as a local folder (not an alias or a hub id)."""
    import os

    return checkpoint not in CHECKPOINTS and (checkpoint.startswith(("/", ".", "~"))
                                              or os.path.exists(os.path.expanduser(checkpoint)))


def check(name_: str, ckpt: str, clip: str) -> None:
    """Before any work: the checkpoint is an alias, a valid hub id or a folder, and the CLIP after @ is a model name
    that resolves (and is no LMM itself); a wrong one is an error naming that part."""
    if not is_folder(ckpt) and ckpt not in CHECKPOINTS:
        from huggingface_hub.utils import HFValidationError, validate_repo_id

        try:
            validate_repo_id(ckpt)
        except HFValidationError as e:
            raise ClipstudyError(f"{name_}: {ckpt!r} is neither a known alias ({', '.join(CHECKPOINTS)}), a local "
                                 f"folder, nor a Hugging Face id ({str(e).splitlines()[0][:160]})") from None
    if is_llava(clip):
        raise ClipstudyError(f"{name_}: its CLIP {clip!r} is itself an LMM; name a CLIP after the @")
    try:
        registry.get(clip)
    except ClipstudyError as e:
        raise ClipstudyError(f"{name_}: its CLIP (after the @) does not resolve: {e}") from None


def resolve(name_: str) -> ModelSpec:
    ckpt, clip = split(name_)
    check(name_, ckpt, clip)
    # a local folder's files are hashed into the model id (registry.model_id), as a local-dir CLIP's are
    arch = LOCAL_DIR + str(Path(ckpt).expanduser().resolve()) if is_folder(ckpt) else ckpt
    return ModelSpec(name=name_, source=SOURCE, arch=arch, pretrained=None, family="vit", data="",
                     loss="clip", notes=f"an LMM (LLaVA); its CLIP: {clip}")


def load(spec: ModelSpec, device: str) -> Loaded:
    raise ClipstudyError(f"{spec.name} is an LMM, not a CLIP encoder: it runs as an `lmm` unit of the study runner "
                         "(`clipstudy run --axes lmm`), which loads it through clipstudy.lmm")


registry.register_resolver("llava:CHECKPOINT[@CLIP]", resolve, prefix=PREFIX)
registry.register_source(SOURCE, load, suggest=lambda: [name(c) for c in CHECKPOINTS])
