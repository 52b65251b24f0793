"""A miniature LLaVA on the lab world: a frozen lab CLIP vision tower, an MLP projector, a tiny causal LM.

As in LLaVA-1.5, the image enters the language model as a prefix of projected visual tokens: the
CLIP tower's patch tokens (ViT towers; pooled to a small grid) plus its pooled embedding (every
tower). The language model is a 2-layer `transformers` Llama over a word-level vocabulary: the lab
caption words plus the question words below. It is trained, with the tower frozen, on instruction
pairs generated from each scene's factor record (object, colour, texture, background, style, and
the two-choice question of the LMM protocol). There is one object per scene, so there are no
counting questions: the world has nothing to count.

`evaluate` then runs the protocol of `clipstudy.lmm` (ImageNet-D's two-choice question, with the
lab CLIP's own zero-shot failures as the other choice) against that same CLIP, split by whether
CLIP's full-way prediction was right. All numbers are computed when called; none are stored here.
"""
from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import lmm
from ..config import cache_root
from ..deprecations import module_getattr
from ..profiles import LAB, LabProfile, lab_profile
from ..profiles import LlavaSettings as Settings
from ..store import llava_key, load_entry, save_entry
from ..errors import ClipstudyError, UnknownNameError
from . import captions as cap

LLAVA_VERSION = 2  # bump when the instruction data, model or training loop change (invalidates caches)
# 2: every weight seeded from the settings (projectors were not) and features computed on settings.threads, so
#    an LMM trained in a worker equals one trained here

QUESTIONS: dict[str, tuple[str, ...]] = {
    "object": ("what is the main object in this image?", "what object is this?", "what shape is shown?"),
    "color": ("what colour is the object?", "what color is it?"),
    "texture": ("what texture does the object have?", "what pattern is on its surface?"),
    "background": ("what is the background?", "what is behind the object?"),
    "style": ("is this a photo, a sketch or a silhouette?", "what kind of image is this?"),
}
PROBE_NAME = "linear-probe"  # the comparison rows of the linear probe on the LMM's frozen features
CHOICE_KINDS = ("object", "color")  # kinds also asked as two-choice questions ("... Choose from: a, b.")
SPECIALS = ("<pad>", "<unk>", "<bos>", "<ans>", "<eos>")
PAD, UNK, BOS, ANS, EOS = range(5)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _build_vocab() -> tuple[str, ...]:
    words = set(cap.VOCAB[2:-2])  # the lab caption words (without their special tokens)
    for qs in QUESTIONS.values():
        for q in qs:
            words.update(_words(q))
    words.update(_words(lmm.question("x", "y")) + ["x", "y"])
    words -= {"x", "y"}
    return SPECIALS + tuple(sorted(words))


VOCAB: tuple[str, ...] = _build_vocab()
WORD_TO_ID = {w: i for i, w in enumerate(VOCAB)}


def encode_text(text: str) -> list[int]:
    """Words -> ids; unknown words map to <unk> (the lab world names everything it draws)."""
    return [WORD_TO_ID.get(w, UNK) for w in _words(text)]


def decode_ids(ids: Sequence[int]) -> str:
    out = []
    for i in ids:
        if i == EOS:
            break
        if i >= len(SPECIALS):
            out.append(VOCAB[i])
    return " ".join(out)


# --------------------------------------------------------------------------- instruction data

def answers_for(row: Any) -> dict[str, str]:
    """The factor record of one scene (a frame row or itertuples record), as short answers."""
    get = row.__getitem__ if isinstance(row, (pd.Series, dict)) else (lambda k: getattr(row, k))
    return {"object": cap.SHAPE_WORDS[get("shape")], "color": str(get("color")),
            "texture": cap.TEXTURE_WORDS[get("texture")], "background": cap.BACKGROUND_WORDS[get("background")],
            "style": cap.STYLE_WORDS[get("style")]}


def instructions(frame: pd.DataFrame, seed: int = 0, per_image: int = 6,
                 classnames: Sequence[str] | None = None, colors: Sequence[str] | None = None) -> pd.DataFrame:
    """`per_image` (question, answer) pairs per scene, answered from its factors.

    Kinds: object, color, texture, background, style (only when the frame has more than one style),
    and two-choice object/colour questions whose other choice is a random other class/colour.
    Returns columns row (position in `frame`), kind, question, answer.
    """
    rng = np.random.default_rng([seed, 4099])
    classnames = list(classnames or sorted(frame["shape"].map(cap.SHAPE_WORDS).unique()))
    colors = list(colors or sorted(frame["color"].unique()))
    kinds = [k for k in QUESTIONS if k != "style" or frame["style"].nunique() > 1]
    kinds += [f"choice-{k}" for k in CHOICE_KINDS]
    rows = []
    for i, row in enumerate(frame.itertuples(index=False)):
        ans = answers_for(row)
        for kind in rng.choice(kinds, size=per_image, replace=per_image > len(kinds)):
            if kind.startswith("choice-"):
                base = kind[7:]
                pool = [c for c in (classnames if base == "object" else colors) if c != ans[base]]
                other = pool[rng.integers(len(pool))]
                a, b = (ans[base], other) if rng.random() < 0.5 else (other, ans[base])
                q = lmm.question(a, b) if base == "object" else \
                    f"{QUESTIONS['color'][0]} Choose from the following list: {a}, {b}."
                rows.append((i, kind, q, ans[base]))
            else:
                qs = QUESTIONS[kind]
                rows.append((i, kind, qs[rng.integers(len(qs))], ans[kind]))
    return pd.DataFrame(rows, columns=["row", "kind", "question", "answer"])


# --------------------------------------------------------------------------- the vision side

@torch.no_grad()
def visual_features(clip: Any, images: torch.Tensor, preprocess: Any, batch_size: int = 256,
                    grid: int = 4) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(pooled [N, D], patch tokens [N, grid*grid, W] or None) from a frozen CLIP tower; uint8 images in.

    Patch tokens come from open_clip ViT towers (`output_tokens`), average-pooled to a grid x grid map so
    the LM's prefix stays short; other towers give the pooled embedding only.
    """
    visual = clip.visual
    has_tokens = hasattr(visual, "output_tokens")
    pooled, tokens = [], []
    old = getattr(visual, "output_tokens", None)
    try:
        if has_tokens:
            visual.output_tokens = True
        for s in range(0, len(images), batch_size):
            x = preprocess(images[s:s + batch_size])
            out = visual(x)
            if has_tokens:
                p, t = out
                n = int(round(t.shape[1] ** 0.5))
                if n * n == t.shape[1]:  # [B, n*n, W] -> pooled grid
                    t = t.transpose(1, 2).reshape(len(t), -1, n, n)
                    t = F.adaptive_avg_pool2d(t, min(grid, n)).flatten(2).transpose(1, 2)
                tokens.append(t.float())
            else:
                p = out
            pooled.append(p.float())
    finally:
        if has_tokens:
            visual.output_tokens = old
    return torch.cat(pooled), (torch.cat(tokens) if tokens else None)


# --------------------------------------------------------------------------- the model

class MiniLlava(torch.nn.Module):
    """Projector(s) + a tiny Llama. Sequence: [visual prefix] <bos> question <ans> answer <eos>."""

    def __init__(self, pooled_dim: int, token_dim: int | None, settings: Settings):
        super().__init__()
        from transformers import LlamaConfig, LlamaForCausalLM

        # every weight, projectors included, from the settings' seed alone: not from whatever the process drew
        # before (an LMM trained in a worker equals one trained here), and the caller's RNG is left as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed)
            h = settings.hidden

            def mlp(d):  # LLaVA-1.5's projector: Linear, GELU, Linear
                return torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.GELU(), torch.nn.Linear(h, h))

            self.pooled_dim, self.token_dim = pooled_dim, token_dim
            self.project_pooled = mlp(pooled_dim)
            self.project_tokens = mlp(token_dim) if token_dim else None
            cfg = LlamaConfig(vocab_size=len(VOCAB), hidden_size=h, intermediate_size=2 * h,
                              num_hidden_layers=settings.layers, num_attention_heads=settings.heads,
                              num_key_value_heads=settings.heads, max_position_embeddings=256,
                              pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, tie_word_embeddings=True)
            self.lm = LlamaForCausalLM(cfg)

    def prefix(self, pooled: torch.Tensor, tokens: torch.Tensor | None) -> torch.Tensor:
        parts = [self.project_pooled(pooled)[:, None]]
        if self.project_tokens is not None and tokens is not None:
            parts.append(self.project_tokens(tokens))
        return torch.cat(parts, 1)

    def logits(self, prefix: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, left_pad: bool
               ) -> torch.Tensor:
        """Logits for every position of [prefix, ids]; `mask` covers ids (1 = real token)."""
        emb = torch.cat([prefix, self.lm.get_input_embeddings()(ids)], 1)
        full = torch.cat([torch.ones(len(ids), prefix.shape[1], dtype=mask.dtype), mask], 1)
        if left_pad:  # pads come first: move them before the prefix, and count positions from real tokens
            order = torch.argsort(full == 0, dim=1, descending=True, stable=True)
            emb = torch.gather(emb, 1, order[..., None].expand_as(emb))
            full = torch.gather(full, 1, order)
        pos = (full.cumsum(1) - 1).clamp(min=0)
        return self.lm(inputs_embeds=emb, attention_mask=full, position_ids=pos).logits

    @torch.no_grad()
    def generate(self, prefix: torch.Tensor, questions: Sequence[str], max_new_tokens: int = 6) -> list[str]:
        """Greedy answers, one per (prefix row, question)."""
        seqs = [[BOS] + encode_text(q) + [ANS] for q in questions]
        done = [False] * len(seqs)
        for _ in range(max_new_tokens):
            width = max(map(len, seqs))
            ids = torch.tensor([[PAD] * (width - len(s)) + s for s in seqs])
            mask = (torch.arange(width)[None] >= torch.tensor([width - len(s) for s in seqs])[:, None]).long()
            nxt = self.logits(prefix, ids, mask, left_pad=True)[:, -1].argmax(-1).tolist()
            for i, t in enumerate(nxt):
                if not done[i]:
                    seqs[i].append(t)
                    done[i] = t == EOS
            if all(done):
                break
        return [decode_ids(s[s.index(ANS) + 1:]) for s in seqs]


def _batch(rows: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids, attention mask and labels (loss on the answer and <eos> only)."""
    seqs, targets = [], []
    for q, a in zip(rows["question"], rows["answer"]):
        prompt, answer = [BOS] + encode_text(q) + [ANS], encode_text(a) + [EOS]
        seqs.append(prompt + answer)
        targets.append([-100] * len(prompt) + answer)
    width = max(map(len, seqs))
    ids = torch.tensor([s + [PAD] * (width - len(s)) for s in seqs])
    labels = torch.tensor([t + [-100] * (width - len(t)) for t in targets])
    return ids, (ids != PAD).long(), labels


WEIGHT_DECAY = 0.05  # AdamW's, on the projectors' and the LM's matrices (lab.train's loop leaves gains and biases out)


def fit(model: MiniLlava, pooled: torch.Tensor, tokens: torch.Tensor | None, data: pd.DataFrame,
        settings: Settings, progress: bool = True):
    """Train projector + LM on (features of `data.row`, question -> answer); the CLIP tower is not touched.

    The lab CLIPs' loop (`lab.train.train_loop`: AdamW, warmup and cosine decay, seeded batches), cross-entropy
    on the answer tokens. Runs on `settings.threads` threads: the matrices are tiny, so one thread is as fast as two
    alone and much faster on a shared machine.
    """
    from .train import train_loop

    n = len(data)
    bs = min(settings.batch_size, n)
    rows_all, questions, answers = data["row"].to_numpy(), data["question"].to_numpy(), data["answer"].to_numpy()

    def step(gen: torch.Generator) -> torch.Tensor:
        idx = torch.randperm(n, generator=gen)[:bs].numpy()
        r = torch.as_tensor(rows_all[idx])
        ids, mask, labels = _batch(pd.DataFrame({"question": questions[idx], "answer": answers[idx]}))
        prefix = model.prefix(pooled[r], tokens[r] if tokens is not None else None)
        logits = model.logits(prefix, ids, mask, left_pad=False)[:, prefix.shape[1]:]
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))

    return train_loop(model, step, steps=settings.steps, batch_size=bs, lr=settings.lr, weight_decay=WEIGHT_DECAY,
                      seed=settings.seed, desc="train lab LLaVA", progress=progress, n_threads=settings.threads)


# --------------------------------------------------------------------------- data and the lab CLIP

def _clip(recipe: str, device: str, p: LabProfile, seed: int | None = None):
    from . import zoo as lab_zoo

    loaded = lab_zoo.load(recipe, device=device, profile=p, seed=seed)
    model = loaded.model
    if getattr(model, "is_classifier", False) or not hasattr(model, "encode_text"):
        raise ClipstudyError(f"lab recipe {recipe!r} is a classifier without a text tower; the LMM protocol "
                             "compares against a CLIP's zero-shot choice, so pick a contrastive recipe")
    return loaded


def training_scenes(recipe: str, p: LabProfile, n_images: int) -> tuple[pd.DataFrame, torch.Tensor]:
    """(factor frame, uint8 images) of the first `n_images` lab-train scenes the CLIP `recipe` was trained on.

    They are the lab zoo's cached training chunks, so nothing new is rendered; the instruction data is new
    (questions and answers from the factor records), as LLaVA's instruction data is new to its CLIP.
    """
    from . import sets, zoo as lab_zoo

    r = lab_zoo.recipe(recipe)
    frames, images, total = [], [], 0
    for i in range(max(p.n_chunks(r.size), -(-n_images // p.chunk))):
        part = sets.build("lab-train", r.config(), n=p.chunk, seed=lab_zoo.TRAIN_SEED0 + i, size=p.image_size)
        frames.append(part.factors)
        images.append(part.images)
        total += len(part)
        if total >= n_images:
            break
    frame = pd.concat(frames, ignore_index=True).iloc[:n_images]
    return frame, torch.cat(images)[:n_images]


def eval_set(name: str, p: LabProfile, n: int | None = None):
    """A named lab evaluation set (base world) at the profile's image size, from the lab's set cache; `n` None:
    the profile's size for the mini-LLaVA (`LabProfile.llava_eval_size`), else the set's own."""
    from . import sets

    return sets.build(name, n=p.llava_eval_size(name) if n is None else n, size=p.image_size)


def _weights_digest(model: torch.nn.Module) -> str:
    from ..encode import weights_hash

    return weights_hash(model)



@dataclass
class LabLlava:
    """A trained miniature LLaVA with the lab CLIP it sees through."""

    model: MiniLlava
    clip: Any  # clipstudy.zoo.Loaded
    profile: LabProfile  # the lab profile it was trained under
    settings: Settings
    meta: dict
    probe: Any = None  # LinearProbe on the same frozen features and labels (trained on first use)

    def linear_probe(self) -> "LinearProbe":
        """A linear classifier on the frozen CLIP tower's pooled features of the same training scenes the LMM
        was trained on, with the same object labels (the LMM's `object` answers): the control that separates
        what the LMM adds from what any trained readout of those features adds."""
        if self.probe is None:
            frame, images = training_scenes(self.meta["recipe"], self.profile, self.settings.n_images)
            pooled, _ = visual_features(self.clip.model, images, self.clip.preprocess, grid=self.settings.grid)
            labels = torch.as_tensor(frame["label"].to_numpy())
            keep = labels >= 0
            self.probe = fit_probe(pooled[keep], labels[keep], len(cap.classnames()), seed=self.settings.seed)
        return self.probe

    def probe_logits(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """The linear probe's class logits [N, C] on uint8 images."""
        probe = self.linear_probe()
        with torch.no_grad():
            feats = torch.cat([visual_features(self.clip.model, images[s:s + batch_size], self.clip.preprocess,
                                               grid=self.settings.grid)[0] for s in range(0, len(images), batch_size)])
            return probe(feats)

    def ask(self, images: torch.Tensor, questions: Sequence[str], batch_size: int = 128) -> list[str]:
        """Greedy answers to one question per image (uint8 images [N,3,H,W])."""
        out: list[str] = []
        old = torch.get_num_threads()
        torch.set_num_threads(self.settings.threads)
        try:
            out = self._ask(images, questions, batch_size)
        finally:
            torch.set_num_threads(old)
        return out

    def _ask(self, images: torch.Tensor, questions: Sequence[str], batch_size: int) -> list[str]:
        out: list[str] = []
        for s in range(0, len(images), batch_size):
            pooled, tokens = visual_features(self.clip.model, images[s:s + batch_size], self.clip.preprocess,
                                             grid=self.settings.grid)
            with torch.no_grad():
                prefix = self.model.prefix(pooled, tokens)
            out += self.model.generate(prefix, questions[s:s + batch_size], self.settings.max_new_tokens)
        return out


class LinearProbe(torch.nn.Module):
    """Standardised features -> linear class logits (multinomial logistic regression)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, n_classes: int):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.linear = torch.nn.Linear(len(mean), n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x.float() - self.mean) / self.std)


PROBE_STEPS, PROBE_L2 = 200, 1e-3


def fit_probe(features: torch.Tensor, labels: torch.Tensor, n_classes: int, steps: int = PROBE_STEPS,
              l2: float = PROBE_L2, seed: int = 0) -> LinearProbe:
    """Multinomial logistic regression (full-batch L-BFGS, L2 penalty `l2`) on frozen features; deterministic."""
    x = features.float()
    torch.manual_seed(seed)
    probe = LinearProbe(x.mean(0), x.std(0).clamp_min(1e-6), n_classes)
    opt = torch.optim.LBFGS(probe.linear.parameters(), lr=0.5, max_iter=steps, history_size=20,
                            line_search_fn="strong_wolfe")
    y = torch.as_tensor(labels).long()

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(probe(x), y) + l2 * probe.linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return probe.eval().requires_grad_(False)


STATE_FILE, META_FILE = "model.pt", "meta.json"  # a cached mini-LLaVA: its state, then its meta (written last)


def cache_dir(recipe: str, p: LabProfile, seed: int | None = None) -> Path:
    return cache_root() / "lab" / "llava" / (f"{recipe}-{p.name}" + (f"-seed{seed}" if seed else ""))


def settings_of(p: LabProfile, seed: int | None = None) -> Settings:
    """The profile's settings (`LabProfile.llava`), seeded by the pair's training seed (None: the profile's own)."""
    return p.llava if seed is None else dataclasses.replace(p.llava, seed=int(seed))


def key_of(recipe: str, p: LabProfile, seed: int | None, clip: Any) -> str:
    """The cache key of the mini-LLaVA of (recipe, profile, seed) on the loaded lab CLIP `clip`: its weights,
    the settings, the vocabulary and LLAVA_VERSION. The one place it is computed (`load` and `lab.hub`)."""
    return llava_key(f"lab:{recipe}@{p.name}#{seed}", _weights_digest(clip.model), settings_of(p, seed).row(),
                     len(VOCAB), LLAVA_VERSION).digest()


def is_cached(recipe: str, p: LabProfile, seed: int | None = None) -> bool:
    """Whether a mini-LLaVA was written for (recipe, profile, seed); `load` still checks its key (a stale one
    retrains there)."""
    return (cache_dir(recipe, p, seed) / META_FILE).exists()


def _read_cached(folder: Path, key: str) -> dict | None:
    """The cached payload when it is complete and matches `key`; None (retrain) otherwise (the store's
    `load_entry`: a damaged or stale entry is discarded)."""
    hit = load_entry(folder / STATE_FILE, key, folder / META_FILE, what=f"mini-LLaVA {folder.name}")
    return None if hit is None else dict(meta=hit[1], state=hit[0])


def model_from(state: dict, meta: dict, settings: Settings) -> MiniLlava | None:
    """The model a cached state and its meta describe, or None when the state does not fit it (then it retrains)."""
    try:
        model = MiniLlava(meta["pooled_dim"], meta["token_dim"], settings)
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, AttributeError):  # another shape, a key missing, not a state dict
        return None
    return model


def _write_cached(folder: Path, state: dict, meta: dict) -> dict:
    """Published by the store: model.pt, then meta.json (with the model's sha256) last."""
    return save_entry(state, folder / STATE_FILE, meta, folder / META_FILE)


def load(recipe: str = "base", profile: str | LabProfile = LAB, device: str = "cpu", *, seed: int | None = None,
         retrain: bool = False, progress: bool = True) -> LabLlava:
    """The miniature LLaVA on lab CLIP `recipe` under `profile` (a `LabProfile` or its name): from the cache, or
    trained now (and cached).

    `seed` picks the CLIP's training seed (one of the profile's seeds; default the recipe's own) and seeds
    the LMM's initialisation, instruction sampling and batch order, so each seed is one independent
    (CLIP, LMM) pair and lab effects get intervals over seeds.
    The cache key covers the CLIP's weights, the settings and LLAVA_VERSION, so a retrained CLIP or a
    changed recipe never reuses a stale LMM; a corrupt or partial cache is retrained, never loaded.
    """
    prof = lab_profile(profile)
    settings = settings_of(prof, seed)
    clip = _clip(recipe, device, prof, seed)
    clip.model.eval()
    for p in clip.model.parameters():
        p.requires_grad_(False)
    key = key_of(recipe, prof, seed, clip)
    folder = cache_dir(recipe, prof, seed)
    hit = None if retrain else _read_cached(folder, key)
    model = None if hit is None else model_from(hit["state"], hit["meta"], settings)
    if model is not None:
        return LabLlava(model.eval(), clip, prof, settings, hit["meta"])

    from .train import threads

    t0 = time.perf_counter()
    frame, images = training_scenes(recipe, prof, settings.n_images)
    with threads(settings.threads):  # features and fit alike: the weights do not depend on the core count
        pooled, tokens = visual_features(clip.model, images, clip.preprocess, grid=settings.grid)
        t_feat = time.perf_counter() - t0
        data = instructions(frame, seed=settings.seed, per_image=settings.per_image,
                            classnames=cap.classnames())
        model = MiniLlava(pooled.shape[1], tokens.shape[2] if tokens is not None else None, settings)
        hist = fit(model, pooled, tokens, data, settings, progress=progress)
    meta = dict(key=key, recipe=recipe, profile=prof.name, settings=settings.row(), pooled_dim=pooled.shape[1],
                token_dim=tokens.shape[2] if tokens is not None else None, n_scenes=len(frame),
                n_instructions=len(data), feature_s=round(t_feat, 2), **hist.row(),
                params=sum(p.numel() for p in model.parameters()), version=LLAVA_VERSION)
    meta = _write_cached(folder, model.state_dict(), meta)
    return LabLlava(model.eval(), clip, prof, settings, meta)


def train(pairs: Sequence[tuple[str, int | None]], p: LabProfile = LAB, device: str = "cpu",
          workers: int | None = None) -> int:
    """Train the missing mini-LLaVAs of (recipe, seed) `pairs` side by side in spawned processes (one torch
    thread each, as the lab zoo's models), so that `load` then reads them from the cache; returns how many
    were trained here. One at a time (nothing to do here) on CUDA, for one missing model, or with one worker.
    A pair whose cache exists but is stale is left to `load`, which retrains it."""
    from . import zoo as lab_zoo

    todo = [(r, p, sd) for r, sd in pairs if not is_cached(r, p, sd)]
    n = workers or lab_zoo.train_workers(p, len(todo))
    if str(device).startswith("cuda") or n < 2 or len(todo) < 2:
        return 0
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(n, mp_context=mp.get_context("spawn")) as pool:
        list(pool.map(_zoo_job, todo))
    return len(todo)


STEP_SECONDS = 0.09  # one fit step on one core (lab profile, the AMX Xeon's records): the zoo schedule's order only


def _zoo_job(args: tuple) -> None:
    """Train (or load) one mini-LLaVA, as a job of `train`'s pool or of the lab zoo's schedule: in a spawned worker
    with the zoo's thread settings; in this process as `load` would train it."""
    import multiprocessing as mp

    if mp.parent_process() is not None:
        from . import train as T

        T.threads_for_worker()
    recipe, p, seed = args
    load(recipe, p, "cpu", seed=seed, progress=False)


def zoo_jobs(pairs: Sequence[tuple[str, int]], p: LabProfile = LAB) -> list:
    """The mini-LLaVAs of (recipe, seed) `pairs` as jobs of the lab zoo's schedule (`lab.zoo.train(after=...)`):
    each runs once its CLIP is trained, beside the zoo's other models; one already cached is done."""
    from . import zoo as lab_zoo

    return [lab_zoo.After(f"llava:{r}#{sd}", _zoo_job, (r, p, sd), p.llava.steps * STEP_SECONDS,
                          lab_zoo.recipe(f"{r}#{sd}"), done=is_cached(r, p, sd)) for r, sd in pairs]


# --------------------------------------------------------------------------- the two-choice protocol

def clip_logits(clip: Any, images: torch.Tensor, classnames: Sequence[str],
                templates: Sequence[str] = cap.ZS_TEMPLATES, precision: str = "fp32") -> torch.Tensor:
    """The lab CLIP's full-way zero-shot logits (template-ensemble head, encoded in `precision`: resolved, a
    chapter's own; the image features in fp32)."""
    from ..encode import logit_scale_of, zero_shot_head

    head = zero_shot_head(clip.model, clip.tokenizer, list(classnames), list(templates), precision=precision)
    with torch.no_grad():
        feats = torch.cat([F.normalize(clip.model.encode_image(clip.preprocess(images[s:s + 256])).float(), dim=-1)
                           for s in range(0, len(images), 256)])
    return logit_scale_of(clip.model) * feats @ head


def evaluate(recipe: str = "base", profile: str | LabProfile = LAB,
             sets: Sequence[str] = ("lab-val", "lab-sketch", "lab-factors"), *, n: int | None = None,
             seed: int = 0, device: str = "cpu", llava: LabLlava | None = None,
             progress: bool = True, with_probe: bool = True,
             train_seed: int | None = None, precision: str = "fp32") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The LMM protocol on lab sets: the miniature LLaVA against its own CLIP, on CLIP's failure pairs.

    For each image the other choice is the CLIP's own zero-shot top-1 when wrong (else its top-2), so the
    `clip_full == 'wrong'` rows are exactly the images where the CLIP failed. Sets with a `factor` column
    (lab-factors) are also split by factor (column `group`; 'all' is the whole set).
    With `with_probe`, a linear probe on the same frozen CLIP features and the same object labels
    (`LabLlava.linear_probe`) answers the same questions by the higher of its two class logits (model
    `linear-probe`; per-question column `probe_match`).
    `seed` draws the question pairs; `train_seed` picks the (CLIP, LMM) training seed when `llava` is None.
    `precision` (resolved: a chapter passes its own) is the CLIP's zero-shot head's (`clip_logits`).
    `profile`: a `LabProfile` or its name.
    Returns (per-question frame, comparison frame: one row per set, group, model and clip_full).
    """
    p = lab_profile(profile)
    llava = llava or load(recipe, p, device, seed=train_seed, progress=progress)
    classnames = cap.classnames()
    details, tables = [], []
    for name in sets:
        ls = eval_set(name, p, n)
        keep = np.flatnonzero(ls.labels.numpy() >= 0)  # held-out shapes have no class to choose
        frame, images = ls.factors.iloc[keep].reset_index(drop=True), ls.images[torch.as_tensor(keep)]
        labels = ls.labels[torch.as_tensor(keep)].numpy()
        keys = [f"{name}/{i:06d}" for i in keep]
        logits = clip_logits(llava.clip, images, classnames, precision=precision)
        pairs = lmm.build_pairs(labels, logits, classnames, keys=keys, seed=seed)
        out = pairs.assign(answer=llava.ask(images, list(pairs["question"])))
        out["match"] = lmm.match_frame(out)
        clip = lmm.clip_two_choice(pairs, logits)
        out["clip_correct"] = clip["clip_correct"].to_numpy()
        probe = lmm.clip_two_choice(pairs, llava.probe_logits(images)) if with_probe else None
        if probe is not None:
            out["probe_match"] = probe["match"].to_numpy()
        group = frame["factor"].astype(str).to_numpy() if "factor" in frame else np.full(len(frame), "all")
        out.insert(0, "set", name)
        out["group"] = group
        details.append(out)
        for g in (["all"] + sorted(set(group) - {"all"})):
            sel = np.ones(len(out), bool) if g == "all" else group == g
            t = lmm.compare(out[sel], clip[sel], lmm_name="lab-llava", clip_name="clip")
            if probe is not None:
                tp = lmm.compare(probe[sel], clip[sel], lmm_name=PROBE_NAME, clip_name="clip")
                t = pd.concat([t, tp[tp["model"] == PROBE_NAME]], ignore_index=True)
            t.insert(0, "group", g)
            t.insert(0, "set", name)
            tables.append(t)
    result = pd.concat(tables, ignore_index=True)
    result.insert(0, "recipe", recipe)
    return pd.concat(details, ignore_index=True), result


META_FIELDS = ("params", "n_scenes", "n_instructions", "steps", "final_loss", "wall_s", "token_dim")


def evaluate_pairs(pairs: Sequence[tuple[str, int | None]], p: LabProfile = LAB, device: str = "cpu",
                   set_groups: Sequence[tuple[Sequence[str], int | None]] = ((("lab-val",), None),),
                   precision: str = "fp32") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Train the missing mini-LLaVAs of `pairs` (recipe, training seed) side by side, then ask each the two-choice
    question on every (sets, n) of `set_groups`, beside its CLIP and a linear probe (`evaluate`, in `precision`:
    resolved, a chapter's own).

    Returns (per-question frame with recipe and seed, comparison frame with seed, one training-meta row per pair:
    recipe, seed and META_FIELDS)."""
    details, results, meta = [], [], []
    pairs = list(pairs)
    train(pairs, p, device)
    for r, sd in pairs:
        lm = load(r, p, device, seed=sd, progress=False)
        meta.append(dict(recipe=r, seed=sd, **{k: lm.meta.get(k) for k in META_FIELDS}))
        for sets, n in set_groups:
            d, t = evaluate(r, p, sets, n=n, device=device, llava=lm, progress=False, precision=precision)
            details.append(d.assign(recipe=r, seed=sd))
            results.append(t.assign(seed=sd))
    return pd.concat(details, ignore_index=True), pd.concat(results, ignore_index=True), pd.DataFrame(meta)


# the deprecated per-profile settings table resolves, with a warning (clipstudy.deprecations)
__getattr__ = module_getattr(__name__)
