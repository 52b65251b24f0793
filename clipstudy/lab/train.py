"""Tiny CLIPs for the lab: open_clip's own `CLIP` and losses, trained on rendered scenes.

A model is built from an architecture name (`ARCHS`: vit, resnet, convnext at matched parameter
budgets) with a text tower over the lab's closed vocabulary, so token embeddings cost almost
nothing. `train_clip` runs AdamW with warmup + cosine decay on a contrastive loss (open_clip's
`ClipLoss` or `SigLipLoss`); `finetune` turns a trained image tower plus a linear head into a
classifier with cross-entropy on class labels (the lab's "ImageNet fine-tuning"). Two other kinds of
fine-tuning (`FT_KINDS`) start from the same CLIP: `contrastive` (FLYP: `train_clip` on class captions,
`class_caption_tokens`, both towers updated, the result stays a CLIP) and `last-block` (parameter-efficient:
`tune_last_block` freezes the image tower except its last block before the cross-entropy fine-tune).
Everything is seeded, so the same recipe gives the same weights on the same machine.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UnknownNameError
# how a lab profile's runs optimise (`LabProfile.schedule`): pure values, defined with the profiles
from ..profiles import DECAYS, Schedule, cosine_lr  # noqa: F401  (DECAYS, cosine_lr: this module's names too)
from .sets import MEAN, STD  # the lab's normalisation: what every lab CLIP's preprocess uses

TRAIN_VERSION = 3  # bump when the training loop changes what a recipe produces (invalidates cached models)
# 2: one torch thread per model (threads), so weights do not depend on the core count or on parallel training
# 3: ResNet towers train in channels_last (memory_format): other convolution kernels, so other rounding
# How a fine-tuned recipe tunes its parent CLIP: `standard` (cross-entropy, whole image tower + head), `contrastive`
# (FLYP) and `last-block` (parameter-efficient). Each non-standard kind has its own version, part of its recipes'
# keys only (lab.zoo.Recipe.key_dict): bump one when its loop changes, and no other recipe's cached weights move.
FT_KINDS = ("standard", "contrastive", "last-block")
FT_VERSIONS = {"contrastive": 1, "last-block": 1}
FT_WEIGHT_DECAY = 0.05  # every kind of fine-tuning uses the same weight decay (and steps, batch, lr, warmup)
EMBED_DIM = 64
IMAGE_SIZE = 64  # the lab sets' default render size (lab.sets.build)


# ---------------------------------------------------------------- a tiny timm ConvNeXt
def _register_convnext_lab() -> None:
    """`convnext_lab`: a ConvNeXt with ~1M parameters, registered with timm so open_clip's
    TimmModel tower can build it by name (random init: nothing is downloaded)."""
    import timm
    from timm.models import register_model

    if "convnext_lab" in timm.list_models("convnext_lab"):
        return

    @register_model
    def convnext_lab(pretrained: bool = False, **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if not k.startswith("pretrained_cfg") and k != "cache_dir"}
        return timm.create_model("convnext_atto", pretrained=False, depths=(1, 1, 2, 1), dims=(24, 48, 96, 160),
                                 conv_mlp=True, **kwargs)


# ---------------------------------------------------------------- architectures
def vision_cfg(arch: str, image_size: int = IMAGE_SIZE):
    """open_clip CLIPVisionCfg of a lab architecture (~0.5M vision parameters each)."""
    from open_clip.model import CLIPVisionCfg

    cfgs = {
        # 64 px in 8x8 patches: 64 tokens + class token
        "vit": dict(layers=4, width=96, head_width=32, patch_size=8, image_size=image_size, mlp_ratio=4.0),
        # open_clip ModifiedResNet (CLIP's RN: 3-conv stem, anti-aliased strides, attention pool)
        "resnet": dict(layers=(1, 1, 1, 1), width=10, head_width=32, image_size=image_size),
        # timm ConvNeXt trunk behind open_clip's TimmModel (avg pool + linear projection)
        "convnext": dict(timm_model_name="convnext_lab", timm_model_pretrained=False, timm_pool="avg",
                         timm_proj="linear", image_size=image_size),
    }
    if arch not in cfgs:
        raise UnknownNameError("lab architecture", arch, list(cfgs))
    if arch == "convnext":
        _register_convnext_lab()
    return CLIPVisionCfg(**cfgs[arch])


ARCHS = ("vit", "resnet", "convnext")
LOSSES = ("clip", "siglip")


def text_cfg():
    from open_clip.model import CLIPTextCfg

    from .captions import CONTEXT_LENGTH, VOCAB

    return CLIPTextCfg(context_length=CONTEXT_LENGTH, vocab_size=len(VOCAB), width=96, heads=4, layers=2)


def build_clip(arch: str, loss: str = "clip", image_size: int = IMAGE_SIZE):
    """A random-initialised open_clip `CLIP` for the lab; SigLIP gets its logit bias (-10) and scale (log 10)."""
    from open_clip.model import CLIP

    if loss not in LOSSES:
        raise UnknownNameError("lab loss", loss, list(LOSSES))
    kw = dict(init_logit_scale=math.log(10), init_logit_bias=-10.0) if loss == "siglip" else {}
    return CLIP(EMBED_DIM, vision_cfg(arch, image_size), text_cfg(), **kw)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def param_counts(arch: str) -> dict[str, int]:
    m = build_clip(arch)
    return dict(vision=n_params(m.visual), text=n_params(m) - n_params(m.visual), total=n_params(m))


# ---------------------------------------------------------------- preprocessing
class Preprocess:
    """uint8 [.., 3, H, W] (or float in [0, 1]) -> normalised float at `size`; works on one image or a batch."""

    def __init__(self, size: int = IMAGE_SIZE, mean: Sequence[float] = MEAN, std: Sequence[float] = STD):
        self.size, self.mean, self.std = size, tuple(mean), tuple(std)

    def __call__(self, img) -> torch.Tensor:
        x = img if isinstance(img, torch.Tensor) else torch.from_numpy(np.array(img))
        if x.ndim == 3 and x.shape[-1] == 3 and x.shape[0] != 3:  # HWC array (e.g. from PIL)
            x = x.permute(2, 0, 1)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        single = x.ndim == 3
        if single:
            x = x[None]
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        m = torch.tensor(self.mean).view(1, 3, 1, 1)
        s = torch.tensor(self.std).view(1, 3, 1, 1)
        x = (x - m) / s
        return x[0] if single else x

    def __repr__(self) -> str:  # the engine keys cached features on this
        return f"LabPreprocess(size={self.size}, mean={self.mean}, std={self.std})"


# ---------------------------------------------------------------- the fine-tuned classifier
class LabClassifier(torch.nn.Module):
    """A lab image tower with a linear class head. `encode_image` returns class logits (like
    clipstudy.zoo.ClassifierAdapter), so the engine treats it as a classifier; `features` gives
    the unnormalised image embedding."""

    is_classifier = True

    def __init__(self, visual: torch.nn.Module, n_classes: int, embed_dim: int = EMBED_DIM):
        super().__init__()
        self.visual = visual
        self.head = torch.nn.Linear(embed_dim, n_classes)
        self.frozen: tuple[str, ...] = ()  # batch-norm layers of `visual` kept in eval mode (tune_last_block)

    def train(self, mode: bool = True):
        super().train(mode)
        for name in self.frozen:  # a frozen layer's running statistics stay its parent's
            self.visual.get_submodule(name).eval()
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.normalize(self.visual(x), dim=-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_image(x)


# ---------------------------------------------------------------- training loops
# Whether lab training's `auto` follows the engine's precision policy (encode.resolve_precision: bf16 autocast on
# CPUs with AMX-BF16/AVX512-BF16). Off until benchmarks/precision_accuracy.py --train has shown, on a CPU with
# native bf16, that bf16-trained recipes stay within their seed intervals of fp32 lab-val accuracy. On
# a CPU without native bf16 the policy gives fp32 anyway. Training in bf16 regardless is asked explicitly:
# `lab.zoo.train(..., precision="bf16")`, `clipstudy lab train --precision bf16` (never by the environment, nor by
# `clipstudy build --precision`, which pins the engine's encoding precision only).
TRAIN_AUTOCAST = False


def train_precision(precision: str = "auto") -> str:
    """The precision lab training runs in, the lab's own policy: `auto` is fp32 while TRAIN_AUTOCAST is off, else
    the engine's policy on CPU (bf16 where the CPU has native bf16, else fp32); bf16 is bf16; fp32 and fp16 train
    in fp32 (no loss scaling on CPU). Part of a lab model's cache key when not fp32 (lab.zoo.model_key)."""
    from ..encode import PRECISIONS

    if precision not in PRECISIONS:
        from ..errors import UnknownNameError

        raise UnknownNameError("training precision", precision, PRECISIONS)
    if precision == "auto":
        if not TRAIN_AUTOCAST:
            return "fp32"
        from ..encode import resolve_precision

        precision = resolve_precision("auto", "cpu")
    return "bf16" if precision == "bf16" else "fp32"


def _autocast(precision: str):
    from contextlib import nullcontext

    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


TRAIN_THREADS = 1  # torch threads per training run: see threads


@contextmanager
def threads(n: int | None = None):
    """Train with `n` (default TRAIN_THREADS = 1) torch threads, then restore torch's setting.

    One thread per model: the lab models are tiny, so a second intra-op thread buys little on a quiet
    machine and costs 2.5-7x under shared load (benchmarks/train_options.py), and the weights then do not
    depend on the machine's core count. lab.zoo.train uses the cores by training models side by side.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, n or TRAIN_THREADS))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def threads_for_worker() -> None:
    """A training worker process: one intra-op thread, one inter-op thread."""
    torch.set_num_threads(TRAIN_THREADS)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


@dataclass
class History:
    steps: int
    samples_seen: int
    wall_s: float
    final_loss: float
    losses: list[float]
    cpu_s: float = float("nan")  # CPU time of the training process over the loop (load disturbs it less than wall)
    pixels: int = 0  # image pixels per sample (work = samples_seen x pixels)

    def row(self) -> dict:
        return dict(steps=self.steps, samples_seen=self.samples_seen, wall_s=round(self.wall_s, 2),
                    cpu_s=round(self.cpu_s, 2), pixels=self.pixels, final_loss=self.final_loss)


def _optimizer(model: torch.nn.Module, lr: float, weight_decay: float, flat_lr: float = 1.0) -> torch.optim.Optimizer:
    # no weight decay on gains, biases, embeddings and the logit scale/bias (as in open_clip's training); their
    # learning rate is `flat_lr` times the others' (Schedule.flat_lr)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        flat = p.ndim < 2 or "bn" in name or "ln" in name or "embedding" in name or "logit_" in name
        (no_decay if flat else decay).append(p)
    return torch.optim.AdamW([dict(params=decay, weight_decay=weight_decay),
                              dict(params=no_decay, weight_decay=0.0, lr=lr * flat_lr)],
                             lr=lr, betas=(0.9, 0.98), eps=1e-6)


def channels_last(model: torch.nn.Module) -> bool:
    """Whether `model` trains in channels_last: when its image tower is open_clip's ModifiedResNet.

    benchmarks/train_options.py (AMX-BF16 Xeon, 1 thread, lab batch and size) gives the ResNet step 1.29-1.31x in
    channels_last; the timm ConvNeXt 1.00-1.02x and the ViT (one patch convolution) nothing, so they stay as they
    are. torch.compile gave the ResNet 1.44-1.55x per step but costs 22-48 s of compilation per graph and process
    (and needs a C++ compiler on the reader's machine): not adopted."""
    from open_clip.modified_resnet import ModifiedResNet

    visual = getattr(model, "visual", None)
    return isinstance(visual, ModifiedResNet)


def _in_format(model: torch.nn.Module, preprocess: Callable) -> Callable:
    """`preprocess` whose batches come out in the memory format `model` trains in (`channels_last`)."""
    if not channels_last(model):
        return preprocess
    return lambda x: preprocess(x).contiguous(memory_format=torch.channels_last)


def _ema(model: torch.nn.Module, decay: float):
    """torch's AveragedModel with an EMA of the parameters and the buffers (batch-norm statistics)."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.update_parameters(model)  # its first update copies: the average starts from these weights
    return ema


def train_loop(model: torch.nn.Module, step_fn: Callable[[torch.Generator], torch.Tensor], *, steps: int,
               batch_size: int, lr: float, weight_decay: float, warmup: int | None = None, seed: int, desc: str,
               progress: bool, precision: str = "fp32", n_threads: int | None = None,
               schedule: Schedule | None = None, pixels: int = 0) -> History:
    """The one training loop of the lab (its CLIPs, their fine-tunes and the mini-LLaVAs): AdamW (`_optimizer`) with
    the learning-rate curve of `schedule` (default `Schedule()`: linear warmup over a tenth of the steps, or `warmup`
    steps when given, then cosine decay), gradients clipped to norm 1, on `n_threads` torch threads (`threads`), the
    forward and loss under `precision`'s autocast. `step_fn(gen)` draws its batch from `gen` (seeded with `seed`, so
    the batch order is the seed's) and returns the loss. A loss that is not finite stops training. The model is left
    in eval mode (with the weight average when `schedule.ema`). `pixels`: image pixels per sample, for the record."""
    from tqdm.auto import tqdm

    schedule = schedule or Schedule()
    # Trained in channels_last where that pays, returned (and so saved and evaluated) in the default format, so a
    # model trained in this process and one loaded from its file give the same features, bit for bit.
    fmt = channels_last(model)
    if fmt:
        model.to(memory_format=torch.channels_last)
    warmup = schedule.warmup_steps(steps) if warmup is None else max(1, warmup)
    gen = torch.Generator().manual_seed(seed)
    opt = _optimizer(model, lr, weight_decay, schedule.flat_lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: schedule.lr(s, steps, warmup))
    ema_from = warmup if schedule.ema else steps + 1
    ema = None
    model.train()
    losses: list[float] = []
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        with threads(n_threads):
            bar = tqdm(range(steps), desc=desc, unit="step", disable=not progress, leave=False)
            for i in bar:
                with _autocast(precision):  # forward and loss; backward and the fp32 optimiser step outside
                    loss = step_fn(gen).float()
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"{desc}: loss became {loss.item()} at step {len(losses)}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                if i + 1 == ema_from:
                    ema = _ema(model, schedule.ema)  # starts from the weights at the end of the warm-up
                elif ema is not None:
                    ema.update_parameters(model)
                losses.append(float(loss.detach()))
                if len(losses) % 10 == 0:
                    bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}")
            bar.close()
        if ema is not None:
            with torch.no_grad():
                for mine, avg in zip(list(model.parameters()) + list(model.buffers()),
                                     list(ema.module.parameters()) + list(ema.module.buffers())):
                    mine.copy_(avg)
    finally:
        model.eval()
        if fmt:
            model.to(memory_format=torch.contiguous_format)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    tail = losses[-max(1, min(20, steps // 10)):]
    return History(steps, steps * batch_size, wall, float(np.mean(tail)) if tail else float("nan"), losses, cpu,
                   pixels)


def _clip_loss(smoothing: float):
    """open_clip's ClipLoss; with label smoothing, the same two cross-entropies (image->text, text->image) with
    torch's `label_smoothing` (ClipLoss has no such option)."""
    import open_clip

    if not smoothing:
        return open_clip.loss.ClipLoss()

    def loss(image_features, text_features, logit_scale):
        logits = logit_scale * image_features @ text_features.T
        labels = torch.arange(len(logits), device=logits.device)
        return (F.cross_entropy(logits, labels, label_smoothing=smoothing)
                + F.cross_entropy(logits.T, labels, label_smoothing=smoothing)) / 2
    return loss


TEXT_BUCKETS = 2  # length buckets of a batch's captions in training (encode_text_bucketed)


def encode_text_bucketed(model, tokens: torch.Tensor, buckets: int = TEXT_BUCKETS) -> torch.Tensor:
    """`model.encode_text(tokens, normalize=True)` computed on `buckets` groups of captions sorted by length, each
    cut after its longest caption's pooled (EOT) token. The text tower is causal and pools at the EOT token, so the
    padding behind it changes nothing, forward or backward (its gradient is exactly 0): the same function up to float
    rounding, with about 0.7x the text compute for the lab's captions (8 of 16 positions on average). Towers that
    are not eligible (`encode._causal_text_tower`) run whole."""
    from ..encode import _causal_text_tower, _encode_text_trimmed, _pool_index

    causal = _causal_text_tower(model)
    if causal is None or buckets < 1:
        return model.encode_text(tokens, normalize=True)
    tower, pool, eos = causal
    idx = _pool_index(tokens, pool, eos)
    order = torch.argsort(idx, stable=True)
    parts = [(o, _encode_text_trimmed(tower, tokens[o], idx[o])) for o in torch.tensor_split(order, buckets) if len(o)]
    feats = torch.cat([f for _, f in parts])
    out = torch.empty_like(feats).index_copy(0, torch.cat([o for o, _ in parts]), feats)
    return F.normalize(out, dim=-1)


def _clip_outputs(model, images: torch.Tensor, tokens: torch.Tensor) -> tuple:
    """What open_clip's `CLIP.forward` returns (image and text features, normalised; the logit scale, exp'd; the
    logit bias when the model has one), the text tower run by `encode_text_bucketed`."""
    out = (model.encode_image(images, normalize=True), encode_text_bucketed(model, tokens), model.logit_scale.exp())
    bias = getattr(model, "logit_bias", None)
    return out + (bias,) if bias is not None else out


def train_clip(model, images: torch.Tensor, tokens: torch.Tensor, *, steps: int, batch_size: int = 256,
               lr: float = 2e-3, weight_decay: float = 0.1, seed: int = 0, desc: str = "train",
               progress: bool = True, preprocess: Preprocess | None = None, precision: str = "fp32",
               schedule: Schedule | None = None) -> History:
    """Contrastive training on uint8 `images` [N,3,H,W] and caption `tokens` [N,K,L] (one of K
    captions drawn per image per step). The loss (CLIP or SigLIP) follows the model's logit bias;
    `schedule` (default `Schedule()`; the zoo passes its profile's) sets the learning-rate curve, label smoothing and weight averaging."""
    import open_clip

    if len(images) != len(tokens):
        raise ValueError(f"{len(images)} images but {len(tokens)} caption rows")
    schedule = schedule or Schedule()
    pp = preprocess or Preprocess()
    preprocess = _in_format(model, pp)
    siglip = getattr(model, "logit_bias", None) is not None
    loss_fn = open_clip.loss.SigLipLoss() if siglip else _clip_loss(schedule.label_smoothing)
    n, k = len(images), tokens.shape[1]
    batch_size = min(batch_size, n)

    def step(gen: torch.Generator) -> torch.Tensor:
        idx = torch.randperm(n, generator=gen)[:batch_size]
        which = torch.randint(0, k, (batch_size,), generator=gen)
        return loss_fn(*_clip_outputs(model, preprocess(images[idx]), tokens[idx, which]))

    return train_loop(model, step, steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                      desc=desc, progress=progress, precision=precision, schedule=schedule, pixels=pp.size ** 2)


def finetune(clf: LabClassifier, images: torch.Tensor, labels: torch.Tensor, *, steps: int, batch_size: int = 256,
             lr: float = 5e-4, weight_decay: float = FT_WEIGHT_DECAY, seed: int = 0, desc: str = "finetune",
             progress: bool = True, preprocess: Preprocess | None = None, precision: str = "fp32",
             schedule: Schedule | None = None) -> History:
    """Cross-entropy fine-tuning of the classifier (image tower + head) on class labels: every parameter that
    requires grad (all of them, unless `tune_last_block` froze part of the tower)."""
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if (labels < 0).any():
        raise ValueError("fine-tuning labels must be class indices >= 0 (held-out shapes are -1)")
    schedule = schedule or Schedule()
    pp = preprocess or Preprocess()
    preprocess = _in_format(clf, pp)
    n = len(images)
    batch_size = min(batch_size, n)

    def step(gen: torch.Generator) -> torch.Tensor:
        idx = torch.randperm(n, generator=gen)[:batch_size]
        return F.cross_entropy(clf(preprocess(images[idx])), labels[idx], label_smoothing=schedule.label_smoothing)

    return train_loop(clf, step, steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                      desc=desc, progress=progress, precision=precision, schedule=schedule, pixels=pp.size ** 2)


def classifier_from_clip(model, classnames: Sequence[str], templates: Sequence[str], tokenizer) -> LabClassifier:
    """The CLIP's image tower plus a linear head initialised from its zero-shot head (scaled by
    its logit scale), so fine-tuning starts from the zero-shot classifier, as in WiSE-FT/FLYP."""
    import copy

    clf = LabClassifier(copy.deepcopy(model.visual), len(classnames), EMBED_DIM).requires_grad_(True)
    with torch.no_grad():
        tok = tokenizer([t.format(c) for c in classnames for t in templates])
        emb = F.normalize(model.encode_text(tok).float(), dim=-1).view(len(classnames), len(templates), -1)
        head = F.normalize(emb.mean(1), dim=-1)
        scale = float(model.logit_scale.exp())
        clf.head.weight.copy_(head * scale)
        bias = getattr(model, "logit_bias", None)
        clf.head.bias.fill_(float(bias) if bias is not None else 0.0)
    return clf


# ---------------------------------------------------------------- other kinds of fine-tuning
def class_caption_tokens(labels: torch.Tensor, classnames: Sequence[str], templates: Sequence[str],
                         tokenizer) -> torch.Tensor:
    """Caption tokens [N, K, L] for FLYP-style contrastive fine-tuning: image i's K captions are the K class
    prompts of its class (`templates`, e.g. "a photo of a {}."), so `train_clip` draws one prompt per image
    per step, as FLYP does with the zero-shot templates."""
    if (labels < 0).any():
        raise ValueError("fine-tuning labels must be class indices >= 0 (held-out shapes are -1)")
    k = len(templates)
    per_class = tokenizer([t.format(c) for c in classnames for t in templates]).view(len(classnames), k, -1)
    return per_class[labels]


def last_block(visual: torch.nn.Module) -> tuple[str, ...]:
    """Parameter-name prefixes of an image tower's last block: the part `tune_last_block` leaves trainable.
    ResNet: layer4 (its last residual stage; the attention pool after it stays frozen); ViT: the last residual
    block; timm ConvNeXt: the last stage. What pools and projects into the embedding stays frozen, so the
    embedding's geometry is the parent's up to what the last block changes. In the lab's tiny towers the last
    block holds a large share of the weights (ResNet: 28% of the tower; `tune_last_block` reports the count)."""
    from open_clip.modified_resnet import ModifiedResNet
    from open_clip.transformer import VisionTransformer

    if isinstance(visual, ModifiedResNet):
        return ("layer4",)
    if isinstance(visual, VisionTransformer):
        return (f"transformer.resblocks.{len(visual.transformer.resblocks) - 1}",)
    if hasattr(visual, "trunk") and hasattr(visual.trunk, "stages"):
        return (f"trunk.stages.{len(visual.trunk.stages) - 1}",)
    raise TypeError(f"no last block known for image tower {type(visual).__name__}")


def tune_last_block(clf: LabClassifier) -> dict:
    """Freeze the classifier's image tower except its last block (`last_block`); the head stays trainable.
    Frozen batch-norm layers stay in eval mode while training, so the frozen part remains its parent's, bit for
    bit. Returns dict(trainable, total, prefixes) (parameter counts)."""
    prefixes = last_block(clf.visual)

    def tuned(name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    for name, p in clf.visual.named_parameters():
        p.requires_grad_(tuned(name))
    clf.head.requires_grad_(True)
    clf.frozen = tuple(n for n, m in clf.visual.named_modules()
                       if n and isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not tuned(n))
    return dict(trainable=sum(p.numel() for p in clf.parameters() if p.requires_grad), total=n_params(clf),
                prefixes=list(prefixes))
