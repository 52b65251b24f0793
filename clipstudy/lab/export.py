"""A lab CLIP as an open_clip `local-dir:` model, so any open_clip tool (clip_benchmark too) can load it.

The folder holds what `open_clip.create_model_and_transforms("local-dir:DIR")` and
`open_clip.get_tokenizer("local-dir:DIR")` read: `open_clip_config.json` (model and preprocess
config), `open_clip_pytorch_model.bin` (the state dict), and the lab's 96-word tokenizer written
as a HuggingFace fast tokenizer that gives the same token ids as `captions.tokenizer`.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..errors import ClipstudyError

HF_TOKENIZER = "clipstudy-lab-words"  # any non-empty name: open_clip then reads the tokenizer from the folder


def save_tokenizer(out: Path) -> None:
    """The lab tokenizer as a `tokenizers` WordLevel model: lowercase, [a-z]+ words, <sot> ... <eot>, pad 0."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    from . import captions as C

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(C.VOCAB)}, unk_token=C.VOCAB[C.UNK]))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("[^a-z]+"), behavior="removed")  # = re.findall("[a-z]+")
    sot, eot = C.VOCAB[C.SOT], C.VOCAB[C.EOT]
    tok.post_processor = processors.TemplateProcessing(single=f"{sot} $A {eot}", special_tokens=[(sot, C.SOT),
                                                                                                  (eot, C.EOT)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=C.VOCAB[C.UNK], pad_token=C.VOCAB[C.PAD],
                                   bos_token=sot, eos_token=eot, model_max_length=C.CONTEXT_LENGTH)
    fast.save_pretrained(str(out))


def open_clip_config(arch: str, loss: str, image_size: int) -> dict:
    """open_clip's `open_clip_config.json` for a lab architecture (model_cfg + preprocess_cfg)."""
    from . import train as T
    from .sets import MEAN, STD

    if arch == "convnext":  # its trunk is a timm model clipstudy registers at import; other tools lack it
        raise ClipstudyError("lab convnext recipes cannot be exported: their timm trunk 'convnext_lab' exists "
                             "only inside clipstudy. Export a vit or resnet recipe.")
    def fields(cfg) -> dict:  # unset (None) fields left out: open_clip fills its own defaults
        return {k: v for k, v in dataclasses.asdict(cfg).items() if v is not None}

    model_cfg = dict(embed_dim=T.EMBED_DIM, vision_cfg=fields(T.vision_cfg(arch, image_size)),
                     text_cfg=dict(fields(T.text_cfg()), hf_tokenizer_name=HF_TOKENIZER))
    if loss == "siglip":
        model_cfg.update(init_logit_bias=-10.0)
    return dict(model_cfg=model_cfg,
                preprocess_cfg=dict(size=image_size, mean=list(MEAN), std=list(STD), interpolation="bicubic",
                                    resize_mode="shortest"))


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")  # what open_clip's local-dir loader may pick up


def check_dest(out: Path, force: bool = False) -> None:
    """Before any work: `out` is a folder that can be written, and empty unless `force` (an older export's
    weights there, `open_clip_model.safetensors` say, would be the file open_clip prefers)."""
    from ..paths import writable_dir

    writable_dir(out, "lab export: the destination")
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if held and not force:
        shown = ", ".join(held[:6]) + (f" and {len(held) - 6} more" if len(held) > 6 else "")
        raise ClipstudyError(f"lab export: {out} is not empty (it holds {shown}). Give a new or empty folder, or "
                             "pass --force to write over it (every weight file in it is then removed first, so "
                             "no older weights shadow the new ones)")


def export(recipe: str, out: str | Path, profile: str | None = None, force: bool = False) -> Path:
    """Write lab model `recipe` (trained first if missing) to `out`; returns the folder.

    `out` must be new or empty unless `force`; then every weight file open_clip could load from it
    (*.safetensors, *.bin, *.pth, *.pt) and its config are removed before the new ones are written.
    Load it anywhere with open_clip: `create_model_and_transforms(f"local-dir:{out}")`.
    """
    from . import zoo as lab_zoo
    from ..store import atomic_save, atomic_write_text

    out = Path(out).expanduser()
    check_dest(out, force)
    name, prof = lab_zoo._split(recipe, profile)
    r, p = lab_zoo.recipe(name), lab_zoo.profile_of(prof)
    if r.is_classifier:
        raise ClipstudyError(f"lab recipe {r.name!r} is an image classifier, not a CLIP; open_clip cannot load it")
    cfg = open_clip_config(r.arch, r.loss, p.image_size)
    model = lab_zoo.load(r.name, profile=p).model
    check_dest(out, force)  # again: training may have taken a while
    out.mkdir(parents=True, exist_ok=True)
    if force:
        (out / "open_clip_config.json").unlink(missing_ok=True)  # first: the folder is incomplete until the end
        for f in out.iterdir():
            if f.suffix in WEIGHT_SUFFIXES and (f.is_file() or f.is_symlink()):
                f.unlink()
    save_tokenizer(out)
    atomic_save(model.state_dict(), out / "open_clip_pytorch_model.bin")
    atomic_write_text(json.dumps(cfg, indent=1), out / "open_clip_config.json")  # last: marks the folder complete
    return out
