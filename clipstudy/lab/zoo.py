"""The lab zoo: named training recipes, each one factor away from `base`, trained once and cached.

    frame()                         the recipes and their factor values
    train(recipes=None, profile)    train what is missing (tqdm bars); returns their metadata
    load(recipe, device, profile)   a clipstudy.zoo.Loaded (trains first if missing)
    specs(profile)                  clipstudy.zoo.ModelSpec rows for the recipes

Weights live in cache_root()/lab/models/<store key name>.pt with a JSON record next to them (seed,
steps, samples seen, wall time, final loss, sha256 of the .pt), published by `clipstudy.store.save_entry`.
The key (`clipstudy.store.lab_model_key`) covers the recipe, the profile, WORLD_VERSION and TRAIN_VERSION.
A file that is unreadable, partial, or does not match its record is discarded and retrained, never loaded.

Seeds: every recipe is trained under each of the profile's seeds (`LabProfile.seeds`: 3 in `lab`, 2 in
`smoke`); `NAME#K` names the recipe under seed K (`base#1`), `seeded(recipe, profile)` lists them, and
lab effects are means over seeds with intervals over seeds and images (clipstudy.effects).
Fine-tuning: `finetuned`, `finetuned-contrastive` and `finetuned-peft` each fine-tune the same seed's `base`
(`parent_of`) on the same images with the same steps, batch, learning rate and weight decay; they differ only in
how (`Recipe.ft_kind`, lab.train.FT_KINDS): cross-entropy on the whole tower with a class head, FLYP-style
contrastive on class captions (the model stays a CLIP and is evaluated zero-shot), or cross-entropy with the
tower frozen except its last block.
`arch-vit` trains for `VIT_STEPS_SCALE` times base's steps on the same images (`Recipe.steps_scale`) so the
architecture contrast compares towers of comparable lab-val accuracy (clipstudy.lab.evaluate.parity).

Profiles (`clipstudy.profiles.LabProfile`, held by the build profiles): `lab` is the real zoo (about 24 min of
training on 2 CPU cores, benchmarks/README.md, or fetched from a hub: lab.hub); `smoke` is a miniature for tests
and smoke builds. `zoo.load('lab:RECIPE')` is the `lab` profile; `lab:RECIPE@smoke` names the profile (the runner
qualifies a bare name with its unit's profile: `run.unit.lab_model_name`). No environment variable chooses it. The entries (`train`, `load`) also take a profile's name; every other function takes the
`LabProfile` object.

Training precision: the lab's own policy (`lab.train.train_precision`: fp32 while TRAIN_AUTOCAST is off), never
the engine's encoding precision (`clipstudy build --precision`). `train(..., precision=...)` and
`load(..., precision=...)` ask for another explicitly (it rides on the profile, `LabProfile.train_precision`, and a
non-fp32 one is part of every model's training key).
"""
from __future__ import annotations

import copy
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import torch

from ..config import cache_root
from ..deprecations import module_getattr
from ..profiles import LAB, LabProfile, lab_profile
from ..store import Key, check_entry, discard, lab_model_key, load_entry, save_entry
from .. import factors
from ..errors import ClipstudyError, UnknownNameError
from ..registry import Registry
from ..models.spec import LAB_PREFIX, LAB_SOURCE, Loaded, ModelSpec
from . import train as T

SIZES = ("small", "medium", "large")


class BadLabNameError(ClipstudyError, ValueError):
    """A lab model name that does not parse (`lab:RECIPE[#SEED][@PROFILE]`)."""

FACTORS = factors.TRAINING  # architecture, data, size, finetuning, loss; prompts: an evaluation knob (PROMPT_SETS)
TRAIN_SEED0 = 1000  # training chunks use seeds 1000, 1001, ... (evaluation sets use small seeds)
PROMPT_SETS = ("lab-single", "lab-ensemble")
VIT_STEPS_SCALE = 3.0  # arch-vit trains this many times base's steps (same data): a fair architecture contrast


# ---------------------------------------------------------------- recipes
@dataclass(frozen=True)
class Recipe:
    """One training recipe. `world` holds WorldConfig fields that differ from the default world."""

    name: str
    factor: str = "base"  # which factor this recipe moves away from base
    arch: str = "resnet"  # a ViT this small learns too little from 3k images for the data factors to act
    loss: str = "clip"
    world: tuple[tuple[str, Any], ...] = (("shape_texture_corr", 0.5),)
    size: str = "medium"
    finetuned: bool = False
    ft_kind: str = "standard"  # how a fine-tuned recipe tunes its parent (lab.train.FT_KINDS)
    seed: int = 0
    steps_scale: float = 1.0  # optimiser steps as a multiple of the profile's steps for `size` (ViT parity)
    notes: str = ""

    def __post_init__(self):
        if self.arch not in T.ARCHS:
            raise UnknownNameError("lab architecture", self.arch, list(T.ARCHS))
        if self.loss not in T.LOSSES:
            raise UnknownNameError("lab loss", self.loss, list(T.LOSSES))
        if self.size not in SIZES:
            raise UnknownNameError("lab training-set size", self.size, list(SIZES))
        if self.factor not in FACTORS + ("base",):
            raise UnknownNameError("lab factor", self.factor, list(FACTORS))
        if self.ft_kind not in T.FT_KINDS:
            raise UnknownNameError("lab fine-tuning kind", self.ft_kind, list(T.FT_KINDS))
        if self.ft_kind != "standard" and not self.finetuned:
            raise ValueError(f"lab recipe {self.name!r}: ft_kind={self.ft_kind!r} needs finetuned=True")
        self.config()  # validates world fields and values (UnknownNameError / ValueError)

    def config(self):
        from .world import WorldConfig

        fields = {f.name for f in dataclasses.fields(WorldConfig)}
        for k, _ in self.world:
            if k not in fields:
                raise UnknownNameError("world factor", k, sorted(fields))
        return WorldConfig(**dict(self.world))

    @property
    def is_classifier(self) -> bool:
        """A fine-tuned image tower with a class head (standard or last-block); a contrastive fine-tune stays a CLIP."""
        return self.finetuned and self.ft_kind != "contrastive"

    @property
    def data(self) -> str:
        """Short description of the training distribution (the `data` factor of a ModelSpec)."""
        c = self.config()
        return (f"corr={c.shape_texture_corr:g} bg={len(c.backgrounds)} style={len(c.styles)} "
                f"tex={len(c.textures)}")

    def row(self) -> dict:
        c = self.config()
        return dict(recipe=self.name, factor=self.factor, arch=self.arch, loss=self.loss,
                    shape_texture_corr=c.shape_texture_corr, backgrounds=len(c.backgrounds), styles=len(c.styles),
                    size=self.size, finetuned=self.finetuned, ft_kind=self.ft_kind if self.finetuned else "",
                    seed=self.seed, notes=self.notes)

    def key_dict(self) -> dict:
        """What the weights depend on (not the name, factor or notes). The fine-tuning kind and its version
        (lab.train.FT_VERSIONS) enter only when not standard, so the keys of the other recipes stay as they were."""
        d = dataclasses.asdict(self)
        for k in ("name", "factor", "notes"):
            d.pop(k)
        d["world"] = [list(kv) for kv in self.world]
        if self.ft_kind == "standard":
            d.pop("ft_kind")
        else:
            d["ft_version"] = T.FT_VERSIONS[self.ft_kind]
        return d


# the default recipes register on first use (the loader), before any added later
RECIPES: Registry[Recipe] = Registry("lab recipe", loader=lambda: _default_recipes(),
                                     hint="`clipstudy lab recipes` lists them.")


def register_recipe(recipe_: Recipe) -> Recipe:
    """Add (or replace) a recipe in the zoo (e.g. a miniature for tests); the defaults stay registered."""
    RECIPES.load()
    return RECIPES.register(recipe_.name, recipe_, replace=True)


def variant(name: str, factor: str, base: str = "base", **changes: Any) -> Recipe:
    """A recipe equal to `base` except for `changes` (world fields go in `world=dict(...)`)."""
    b = recipe(base)
    world = dict(b.world)
    world.update(changes.pop("world", {}))
    changes.setdefault("notes", "")
    return dataclasses.replace(b, name=name, factor=factor, world=tuple(sorted(world.items())), **changes)


def _default_recipes() -> None:
    from .world import BACKGROUNDS

    register_recipe(Recipe("base", notes="ResNet, corr 0.5, default world, medium size, CLIP loss"))
    register_recipe(variant("arch-vit", "architecture", arch="vit", steps_scale=VIT_STEPS_SCALE,
                            notes=f"open_clip VisionTransformer tower, trained {VIT_STEPS_SCALE:g}x base's steps on the "
                                  "same images so that its lab-val accuracy is near base's (a ViT this small learns "
                                  "more slowly than the ResNet)"))
    register_recipe(variant("arch-convnext", "architecture", arch="convnext", notes="timm ConvNeXt tower"))
    register_recipe(variant("data-corr-high", "data", world=dict(shape_texture_corr=0.9),
                            notes="texture predicts the class 90% of the time"))
    register_recipe(variant("data-corr-low", "data", world=dict(shape_texture_corr=0.0),
                            notes="texture independent of class"))
    register_recipe(variant("data-diverse", "data", world=dict(backgrounds=BACKGROUNDS,
                                                               styles=("shaded", "edges", "silhouette"),
                                                               style_weights=(0.7, 0.15, 0.15)),
                            notes="all 6 backgrounds; 30% sketches and silhouettes"))
    register_recipe(variant("data-narrow", "data", world=dict(backgrounds=("plain",)),
                            notes="plain backgrounds only"))
    register_recipe(variant("size-small", "size", size="small"))
    register_recipe(variant("size-large", "size", size="large"))
    register_recipe(variant("finetuned", "finetuning", finetuned=True,
                            notes="base's image tower + linear head, cross-entropy on class labels"))
    # after `finetuned`, so `finetuned vs base` stays each chapter's first fine-tuning effect
    register_recipe(variant("finetuned-contrastive", "finetuning", finetuned=True, ft_kind="contrastive",
                            notes="FLYP-style: base fine-tuned with open_clip's ClipLoss on class captions (the zero-shot "
                                  "prompts), both towers updated; stays a CLIP, evaluated zero-shot"))
    # Parameter-efficient: the tower frozen except its last block, with the same cross-entropy head as `finetuned`,
    # so that this recipe and `finetuned` differ only in which parameters move (the contrastive kind is the other
    # recipe); a tuned last block needs no new dependency (LoRA would need peft).
    register_recipe(variant("finetuned-peft", "finetuning", finetuned=True, ft_kind="last-block",
                            notes="base's image tower frozen except its last block (layer4: 28% of the tower's weights; "
                                  "the attention pool stays frozen) + linear head, cross-entropy on class labels"))
    register_recipe(variant("loss-siglip", "loss", loss="siglip", notes="open_clip SigLipLoss"))


def recipe(name: str | Recipe) -> Recipe:
    """A registered recipe by name; `NAME#K` is that recipe trained under seed K (the same recipe otherwise)."""
    if isinstance(name, Recipe):
        return name
    name, _, seed = name.partition("#")
    registered = RECIPES.get(name)
    if seed:
        if not seed.isdigit():
            raise BadLabNameError(f"lab:{name}#{seed}: the seed after '#' must be a whole number 0 or more, got "
                                  f"{seed!r} (e.g. lab:{name}#1)")
        return dataclasses.replace(registered, seed=int(seed))
    return registered


def seeded(recipe_: str | Recipe, p: LabProfile = LAB) -> list[Recipe]:
    """The recipe under each of the profile's training seeds (its own seed, +1, +2, ...)."""
    r = recipe(recipe_)
    return [dataclasses.replace(r, seed=r.seed + k) for k in range(p.seeds)]


def seeds(p: LabProfile = LAB) -> list[int]:
    """The training seeds of a profile for a default recipe (seed 0): 0 .. seeds-1."""
    return list(range(p.seeds))


def label(r: Recipe) -> str:
    """`base`, or `base#1` when the recipe runs under another seed than the registered one."""
    reg = RECIPES.get(r.name, None)
    return r.name if reg is None or reg.seed == r.seed else f"{r.name}#{r.seed}"


def names() -> list[str]:
    return RECIPES.names()


# ---------------------------------------------------------------- cache layout
def store_key(r: Recipe, p: LabProfile) -> Key:
    """The store key of a recipe's weights under a profile (`clipstudy.store.lab_model_key`): the profile's
    training fields alone (`LabProfile.training`); its seeds, sets and LLaVA settings change no single model, and
    the resolved training precision joins the key below, only when not fp32."""
    from .world import WORLD_VERSION

    parent = model_key(parent_of(r), p) if r.finetuned else None
    key = lab_model_key(f"{r.name}-{p.name}-s{r.seed}", r.key_dict(), p.training(), WORLD_VERSION, T.TRAIN_VERSION,
                        parent)
    prec = T.train_precision(p.train_precision)
    if prec != "fp32":  # what the weights were trained in (an fp32 key leaves `precision` empty, so fp32 models
        # keep the keys they are cached and published under)
        key = dataclasses.replace(key, precision=prec)
    return key


def model_key(r: Recipe, p: LabProfile) -> str:
    """The short digest of `store_key` (what the runner's unit keys and the weights' record hold)."""
    return store_key(r, p).digest(12)


def parent_of(r: Recipe) -> Recipe:
    """The contrastive model a fine-tuned recipe starts from: the registered recipe with the same
    training (so `finetuned` reuses `base`'s cached weights), else an unregistered `<name>-clip`."""
    plain = dataclasses.replace(r, finetuned=False, ft_kind="standard", name=r.name + "-clip", factor="base")
    for other in (recipe(n) for n in names()):
        if dataclasses.replace(other, seed=r.seed).key_dict() == plain.key_dict():
            return dataclasses.replace(other, seed=r.seed)
    return plain


def model_dir() -> Path:
    return cache_root() / "lab" / "models"


def paths(recipe_: str | Recipe, p: LabProfile = LAB) -> tuple[Path, Path]:
    """(weights .pt, record .json) of a recipe under a profile."""
    stem = store_key(recipe(recipe_), p).name
    return model_dir() / f"{stem}.pt", model_dir() / f"{stem}.json"


def weights_id(r: Recipe, p: LabProfile, rec: dict) -> str:
    """What names a trained model's weights in feature keys: recipe, profile, training key and file hash."""
    return f"lab:{r.name}@{p.name}-{rec['key']}-{rec['sha256'][:12]}"



def is_trained(recipe_: str | Recipe, p: LabProfile = LAB) -> bool:
    return record(recipe_, p) is not None


# ---------------------------------------------------------------- data
def training_set(r: Recipe, p: LabProfile, progress: bool = True):
    """(uint8 images [N,3,H,W], caption tokens [N,K,L], labels [N]) from cached lab-train chunks.

    Chunk i of a world config is the same images for every recipe and size that uses it, so
    sizes are nested (small is the first chunk of medium, medium the first chunks of large).
    """
    from . import captions, sets

    cfg = r.config()
    parts = [sets.build("lab-train", cfg, n=p.chunk, seed=TRAIN_SEED0 + i, size=p.image_size)
             for i in _bar(range(p.n_chunks(r.size)), f"data {r.name}", progress)]
    images = torch.cat([s.images for s in parts])
    labels = torch.cat([s.labels for s in parts])
    caps = [c for s in parts for c in s.captions]
    k = min(len(c) for c in caps)
    tokens = captions.tokenizer([c for cs in caps for c in cs[:k]]).view(len(caps), k, -1)
    return images, tokens, labels


def _bar(it, desc: str, progress: bool):
    if not progress:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, leave=False)


# ---------------------------------------------------------------- training
def _fit(r: Recipe, p: LabProfile, progress: bool) -> tuple[torch.nn.Module, dict]:
    from . import captions

    t0 = time.perf_counter()
    if r.finetuned:
        clip = _ensure(parent_of(r), p, progress)
        images, _, labels = training_set(r, p, progress)
        prep_s = time.perf_counter() - t0
        names_, templates = captions.classnames(r.config()), list(captions.ZS_TEMPLATES)
        common = dict(steps=p.ft_steps, batch_size=p.batch_size, lr=p.ft_lr, weight_decay=T.FT_WEIGHT_DECAY,
                      seed=r.seed, desc=f"finetune {r.name}", progress=progress, preprocess=preprocess(p),
                      precision=T.train_precision(p.train_precision), schedule=p.schedule)
        extra: dict[str, Any] = {}
        if r.ft_kind == "contrastive":  # FLYP: the CLIP's own contrastive loss, class prompts as the captions
            model = copy.deepcopy(clip).requires_grad_(True)
            tokens = T.class_caption_tokens(labels, names_, templates, captions.tokenizer)
            hist = T.train_clip(model, images, tokens, **common)
            objective = "contrastive on class captions (FLYP)"
        else:
            model = T.classifier_from_clip(clip, names_, templates, captions.tokenizer)
            if r.ft_kind == "last-block":
                tuned = T.tune_last_block(model)
                extra = dict(trainable_params=tuned["trainable"], tuned=" + ".join(tuned["prefixes"]) + " + head")
            hist = T.finetune(model, images, labels, **common)
            objective = "cross-entropy"
        return model, dict(hist.row(), data_s=round(prep_s, 2), n_images=len(images), objective=objective,
                           ft_kind=r.ft_kind, precision=T.train_precision(p.train_precision), **extra,
                           parent_samples_seen=p.n_steps(r.size, parent_of(r).steps_scale) * p.batch_size)
    images, tokens, _ = training_set(r, p, progress)
    prep_s = time.perf_counter() - t0
    torch.manual_seed(r.seed)
    model = T.build_clip(r.arch, r.loss, p.image_size)
    hist = T.train_clip(model, images, tokens, steps=p.n_steps(r.size, r.steps_scale), batch_size=p.batch_size, lr=p.lr,
                        seed=r.seed, desc=f"train {r.name}", progress=progress, preprocess=preprocess(p),
                        precision=T.train_precision(p.train_precision), schedule=p.schedule)
    return model, dict(hist.row(), data_s=round(prep_s, 2), n_images=len(images), objective=r.loss,
                       precision=T.train_precision(p.train_precision))


def _build_empty(r: Recipe, p: LabProfile) -> torch.nn.Module:
    if r.is_classifier:
        return T.LabClassifier(T.build_clip(r.arch, r.loss, p.image_size).visual, len(r.config().classes))
    return T.build_clip(r.arch, r.loss, p.image_size)


def _ensure(r: Recipe, p: LabProfile, progress: bool) -> torch.nn.Module:
    """The trained model of `r` (from the store, else trained and published there)."""
    model = _load_weights(r, p)
    if model is not None:
        return model
    model, rec = _fit(r, p, progress)
    pt, _ = paths(r, p)
    key = model_key(r, p)
    save_entry(dict(state_dict=model.state_dict(), key=key, recipe=r.key_dict(), profile=p.name), pt,
               dict(recipe=r.name, profile=p.name, key=key, seed=r.seed, arch=r.arch, loss=r.loss, size=r.size,
                    finetuned=r.finetuned, data=r.data, params=T.n_params(model),
                    trained_at=time.strftime("%Y-%m-%dT%H:%M:%S"), torch=torch.__version__, **rec))
    return model


def _load_weights(r: Recipe, p: LabProfile) -> torch.nn.Module | None:
    pt, js = paths(r, p)
    hit = load_entry(pt, model_key(r, p), what=f"lab model {r.name}")
    if hit is None:
        return None
    blob, rec = hit
    model = _build_empty(r, p)
    try:
        if not isinstance(blob, dict) or blob.get("key") != rec["key"]:
            raise ValueError("unreadable or foreign checkpoint")
        model.load_state_dict(blob["state_dict"], strict=True)
    except (ValueError, RuntimeError, KeyError, AttributeError) as e:
        discard(pt, js, why=f"lab model {r.name}: cached weights {pt} are unusable ({e}); retraining")
        return None
    return model.eval()


def record(recipe_: str | Recipe, p: LabProfile = LAB) -> dict | None:
    """The training record (seed, steps, samples seen, wall time, final loss, ...) of a cached model."""
    r = recipe(recipe_)
    pt, _ = paths(r, p)
    return check_entry(pt, model_key(r, p), what=f"lab model {r.name}")


def train_workers(p: LabProfile, n_missing: int) -> int:
    """Processes that train missing models side by side: `CLIPSTUDY_TRAIN_WORKERS`, else the profile's own
    (`LabProfile.train_workers`: 1 for smoke, whose models train in seconds), else one per core this process may
    use. Each trains with one
    torch thread (lab.train.threads), so a model's weights do not depend on how many run at once."""
    from ..environment import train_workers as from_env

    n = from_env()
    if n is None and p.train_workers:
        n = p.train_workers
    elif n is None:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(n, n_missing))


def _render_chunk(args: tuple) -> None:
    from . import sets

    T.threads_for_worker()
    cfg, n, seed, size = args
    sets.build("lab-train", cfg, n=n, seed=seed, size=size)


def _train_one(args: tuple) -> str:
    T.threads_for_worker()
    r, p = args
    _ensure(r, p, progress=False)
    return r.name


# Seconds per optimiser step of one model on one core (lab profile, benchmarks/train_options.py on a 2-core AMX-BF16
# Xeon, the ResNet in channels_last). Only the order of the schedule uses them (longest chain first), never a
# result: another CPU changes the scale, hardly the order.
STEP_SECONDS = {"resnet": 0.19, "vit": 0.44, "convnext": 0.19}


@dataclass(frozen=True)
class After:
    """A job for the zoo's schedule that needs a model of the zoo (a mini-LLaVA on its CLIP: `lab.llava.zoo_jobs`).
    `fn(arg)` must be a module-level function (spawned workers import it) that works in any process; `seconds`
    is its estimated cost (for the order only); `done` skips it (already there)."""

    name: str
    fn: Any
    arg: tuple
    seconds: float
    needs: Recipe
    done: bool = False


@dataclass
class _Job:
    name: str
    fn: Any
    arg: tuple
    seconds: float  # its estimated cost (STEP_SECONDS x steps)
    after: tuple[str, ...] = ()  # the jobs that must finish first (a fine-tune's parent, an LMM's CLIP)
    rank: float = 0.0  # its cost plus the longest chain of jobs that wait on it


def _jobs(todo: list[Recipe], p: LabProfile, after: Iterable[After] = ()) -> list[_Job]:
    """The training jobs of the missing models: the contrastive CLIPs (with the parents of the fine-tunes), the
    fine-tunes after their parent, and each job of `after` that is not done, after the model it needs."""
    plain = [r for r in todo if not r.finetuned]
    plain += [q for q in dict.fromkeys(parent_of(r) for r in todo if r.finetuned) if q not in plain
              and record(q, p) is None]
    jobs = [_Job(store_key(r, p).name, _train_one, (r, p), p.n_steps(r.size, r.steps_scale) * STEP_SECONDS[r.arch])
            for r in plain]
    names_ = {j.name for j in jobs}
    for r in (r for r in todo if r.finetuned):
        parent = store_key(parent_of(r), p).name
        jobs.append(_Job(store_key(r, p).name, _train_one, (r, p), p.ft_steps * STEP_SECONDS[r.arch],
                         (parent,) if parent in names_ else ()))
    for a in after:
        if not a.done:
            need = store_key(a.needs, p).name
            jobs.append(_Job(a.name, a.fn, a.arg, a.seconds, (need,) if need in names_ else ()))
    by_name = {j.name: j for j in jobs}
    waits_on: dict[str, list[_Job]] = {}
    for j in jobs:
        for a in j.after:
            waits_on.setdefault(a, []).append(j)

    def rank(j: _Job) -> float:
        if not j.rank:
            j.rank = j.seconds + max((rank(k) for k in waits_on.get(j.name, [])), default=0.0)
        return j.rank
    for j in by_name.values():
        rank(j)
    return jobs


def _run_jobs(pool, jobs: list[_Job], workers: int, desc: str, progress: bool) -> None:
    """Run `jobs` on `pool`: whenever a process is free, the ready job (all it waits on done) with the longest
    chain ahead of it starts, so the long ViTs and the fine-tunes' parents go first and no stage waits for the
    slowest model of the one before it. A failed job's error is raised once the running ones have finished (each
    model is published atomically by its worker: nothing finished is lost)."""
    from concurrent.futures import FIRST_COMPLETED, wait

    from tqdm.auto import tqdm

    waiting = sorted(jobs, key=lambda j: -j.rank)
    done: set[str] = set()
    running: dict = {}
    bar = tqdm(total=len(jobs), desc=desc, leave=False, disable=not progress)
    try:
        while waiting or running:
            for j in [j for j in waiting if all(a in done for a in j.after)][:workers - len(running)]:
                waiting.remove(j)
                running[pool.submit(j.fn, j.arg)] = j
            if not running:
                raise RuntimeError(f"lab zoo: jobs wait on models nobody trains: {[j.name for j in waiting]}")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                j = running.pop(f)
                f.result()  # a worker's error re-raises here
                done.add(j.name)
                bar.update()
                bar.set_postfix_str(j.name.split("-lab-")[0][:40])
    finally:
        bar.close()


def _train_parallel(todo: list[Recipe], p: LabProfile, workers: int, progress: bool,
                    after: Iterable[After] = ()) -> None:
    """Render the training chunks, then train every missing model over `workers` spawned processes, in one
    schedule (`_run_jobs`): the contrastive models, each fine-tune once its parent exists, and each job of `after`
    once the model it needs does. Every model is written atomically by its worker."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    chunks = list(dict.fromkeys((r.config(), p.chunk, TRAIN_SEED0 + i, p.image_size)
                                for r in todo for i in range(p.n_chunks(r.size))))
    jobs = _jobs(todo, p, after)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        if chunks:
            for _ in _bar(pool.map(_render_chunk, chunks), f"lab zoo ({p.name}): render x{len(chunks)} on {workers} "
                          "processes", progress):
                pass
        if jobs:
            _run_jobs(pool, jobs, workers, f"lab zoo ({p.name}): train x{len(jobs)} on {workers} processes", progress)


def with_precision(p: LabProfile, precision: str | None) -> LabProfile:
    """`p` training in `precision` (None: as it is; auto: the lab's policy, `lab.train.train_precision`)."""
    if precision is None:
        return p
    T.train_precision(precision)  # an unknown name fails now
    return dataclasses.replace(p, train_precision=precision)


def train(recipes: Iterable[str] | str | None = None, profile: str | LabProfile | None = None,
          progress: bool = True, workers: int | None = None, precision: str | None = None,
          after: Iterable[After] = ()) -> pd.DataFrame:
    """Train every missing recipe (default: the whole zoo); returns their records as a frame.
    Missing models train in `workers` processes side by side (default: `train_workers`). `precision` is the
    training precision (default: the profile's, the lab's own policy: `lab.train.train_precision`).
    `after`: jobs that need a model of the zoo (`After`; the book passes chapter 09's mini-LLaVAs,
    `lab.llava.zoo_jobs`), run in the same schedule once that model exists, so the chapter finds them done.
    `profile`: a `LabProfile`, or its name (None: `lab`)."""
    p = with_precision(lab_profile(profile), precision)
    if isinstance(recipes, str):
        recipes = [recipes]
    after = [a for a in after if not a.done]
    rs = [s for n in (recipes or names()) for s in (seeded(n, p) if "#" not in str(n) else [recipe(n)])]
    todo = [r for r in rs if record(r, p) is None]
    n = workers or train_workers(p, len(todo) + len(after))
    parallel = n > 1 and len(todo) + len(after) > 1
    if parallel:  # every job, `after` included, runs there (a failed one raises)
        _train_parallel(todo, p, n, progress, after)
    rows = []
    for r in _bar(rs, f"lab zoo ({p.name}, {p.seeds} seeds)", progress):
        _ensure(r, p, progress)
        rows.append(record(r, p))
    for a in [] if parallel else after:  # one process: after the models they need
        _ensure(a.needs, p, progress)
        a.fn(a.arg)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- loading and specs
def preprocess(p: LabProfile | None = None) -> T.Preprocess:
    return T.Preprocess(size=(p.image_size if p else T.IMAGE_SIZE))


def _split(name: str, profile: str | LabProfile | None) -> tuple[str, str | LabProfile | None]:
    if "@" in name:
        name, prof = name.split("@", 1)
        return name, prof
    return name, profile


def spec(recipe_: str | Recipe, p: LabProfile = LAB) -> ModelSpec:
    """The ModelSpec of a recipe under a profile (source 'lab', factor fields filled)."""
    r = recipe(recipe_)
    steps = p.n_steps(r.size, r.steps_scale) * p.batch_size
    return ModelSpec(
        name=f"{LAB_PREFIX}{label(r)}" + ("" if p.name == LAB.name else f"@{p.name}"), source=LAB_SOURCE,
        arch=r.name, pretrained=None, family=r.arch, data=r.data, samples_seen=float(steps), finetuned=r.finetuned,
        loss=r.loss, resolution=p.image_size,
        notes=f"{r.factor}: {r.notes}; profile {p.name}; {p.n_chunks(r.size) * p.chunk} training images")


def specs(p: LabProfile = LAB) -> list[ModelSpec]:
    """ModelSpec of every lab recipe (source 'lab', six-factor fields filled)."""
    return [spec(n, p) for n in names()]


def load(name: str, device: str = "cpu", profile: str | LabProfile | None = None, progress: bool = True,
         seed: int | None = None, precision: str | None = None) -> Loaded:
    """A clipstudy.zoo.Loaded for a recipe (`base`, `base#1` for seed 1, or `base@smoke`); trains it first if
    missing. `profile`: a `LabProfile` or its name (None: `lab`; a `@PROFILE` in `name` wins). `seed` (if given)
    overrides the recipe's training seed; `precision` the training precision (see `train`)."""
    from . import captions

    name, profile = _split(name, profile)
    r, p = recipe(name), with_precision(lab_profile(profile), precision)
    if seed is not None:
        r = dataclasses.replace(r, seed=int(seed))
    model = _ensure(r, p, progress).to(device).eval().requires_grad_(False)  # inference only
    pp = preprocess(p)
    rec = record(r, p)
    return Loaded(model, pp, None if r.is_classifier else captions.tokenizer, spec(r, p), device, extra=dict(record=rec),
                  weights_id=weights_id(r, p, rec), transform_id=repr(pp))


def frame(factor: str | None = None) -> pd.DataFrame:
    """The recipes with their factor values (one row each); `factor` keeps base and that factor's recipes."""
    df = pd.DataFrame([recipe(n).row() for n in names()])
    if factor is not None:
        factor = factors.canonical(factor)  # any spelling: finetuned, training-set size, ...
        if factor not in FACTORS:
            raise UnknownNameError("lab factor", factor, list(FACTORS))
        df = df[df.factor.isin(["base", factor])]
    return df.reset_index(drop=True)


# deprecated names of the lab profiles resolve, with a warning (clipstudy.deprecations)
__getattr__ = module_getattr(__name__)
