"""LLaVA-style models against their own CLIP: the ImageNet-D two-choice protocol.

Each image gets one question with two choices: its true class and the class a
reference model confuses it with (the reference's top-1 when that is wrong,
else its top-2). The LMM answers in free text; `match_answer` turns the answer
into TRUE, FALSE, BOTH or NEITHER by whole-word matching of class names and
synonyms, and accuracy is TRUE / (TRUE + FALSE). The CLIP whose vision tower the
LMM uses answers the same pairs by comparing the two class text embeddings, and
both are split by whether CLIP's full-way zero-shot prediction was right.

The same functions score the lab's miniature LLaVA (`clipstudy.lab.llava`). Real checkpoints run through
the study runner: a `llava:` model on a labelled set is an `lmm` unit (`clipstudy.run.unit`), whose
per-question loop is `answer_all` here, and the `lmm` axis (`clipstudy.axes.lmm`) scores its stored answers.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import ClipstudyError, MissingDataError

QUESTION = "What is the main object in this image? Choose from the following list: {a}, {b}."
VERDICTS = ("TRUE", "FALSE", "BOTH", "NEITHER")

# Checkpoints of the paper's LMMs (transformers ports) and the open_clip name of the CLIP they use as vision
# tower: the `llava:` model source's table (`llava:ALIAS` names them in the runner).
from .models.sources.llava import CHECKPOINTS  # noqa: E402

CHECKPOINT_LAYOUT = """<dir>/
  config.json                 (model_type llava or llava_next)
  model*.safetensors          (weights)
  tokenizer.json / tokenizer_config.json
  preprocessor_config.json / processor_config.json (with chat_template)"""


# --------------------------------------------------------------------------- questions and pairs

def question(a: str, b: str) -> str:
    """The ImageNet-D two-choice question."""
    return QUESTION.format(a=a, b=b)


def _norm(text: str) -> str:
    """Lower case, punctuation and underscores to spaces, single spaces: 'T-Shirt' -> 't shirt'."""
    return " ".join(re.sub(r"[^0-9a-z']+", " ", str(text).lower().replace("_", " ")).split())


def names_for(classname: str, synonyms: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """The normalised names an answer may use for a class: its own name plus its synonyms."""
    out = [_norm(classname)] + [_norm(s) for s in (synonyms or {}).get(classname, ())]
    seen: list[str] = []
    for n in out:
        if n and n not in seen:
            seen.append(n)
    return seen


def _top2(reference: Any) -> np.ndarray:
    """[N, 2] predicted class indices from logits [N, C] or already-ranked top-2 predictions [N, 2]."""
    ref = reference.detach().cpu().numpy() if hasattr(reference, "detach") else np.asarray(reference)
    if ref.ndim != 2 or ref.shape[1] < 2:
        raise ValueError(f"reference must be logits [N, C] or top-2 predictions [N, 2]; got shape {ref.shape}")
    if np.issubdtype(ref.dtype, np.integer):
        if ref.shape[1] != 2:
            raise ValueError(f"integer reference predictions must have shape [N, 2] (top-1, top-2); got {ref.shape}")
        return ref.astype(np.int64)
    return np.argsort(-ref, axis=1, kind="stable")[:, :2].astype(np.int64)


def build_pairs(labels: Any, reference: Any, classnames: Sequence[str], *, keys: Sequence[str] | None = None,
                seed: int = 0, synonyms: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """One two-choice question per image: the true class against the reference model's failure class.

    reference: the reference model's logits [N, C] (float) or its ranked top-2 predictions [N, 2] (int).
    The other choice is the reference's top-1 when that is wrong, else its top-2. The order of the two
    choices is shuffled with `seed`. Raises when the two classes of a question share a name after synonym
    mapping, since no answer could then be matched to one of them.

    Returns columns key, label, other_label, true, other, choice_a, choice_b, reference_correct, question.
    """
    y = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels, dtype=np.int64).reshape(-1)
    top = _top2(reference)
    if len(top) != len(y):
        raise ValueError(f"{len(y)} labels but {len(top)} reference rows")
    keys = [str(i) for i in range(len(y))] if keys is None else [str(k) for k in keys]
    if len(keys) != len(y):
        raise ValueError(f"{len(y)} labels but {len(keys)} keys")
    n_cls = len(classnames)
    bad = (y < 0) | (y >= n_cls) | (top < 0).any(1) | (top >= n_cls).any(1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"question {keys[i]!r}: class index out of range for {n_cls} classnames "
                         f"(label {y[i]}, reference {top[i].tolist()})")
    ref_right = top[:, 0] == y
    other = np.where(ref_right, top[:, 1], top[:, 0])
    names = [names_for(c, synonyms) for c in classnames]
    for i in range(len(y)):
        shared = set(names[y[i]]) & set(names[other[i]])
        if shared:
            raise ClipstudyError(
                f"question {keys[i]!r}: classes {classnames[y[i]]!r} and {classnames[other[i]]!r} share the name(s) "
                f"{sorted(shared)} after synonym mapping, so an answer could not tell them apart. Rename one "
                "class or fix the synonym table.")
    flip = np.random.default_rng(seed).random(len(y)) < 0.5
    true = [classnames[i] for i in y]
    oth = [classnames[i] for i in other]
    a = [o if f else t for t, o, f in zip(true, oth, flip)]
    b = [t if f else o for t, o, f in zip(true, oth, flip)]
    return pd.DataFrame({
        "key": keys, "label": y, "other_label": other, "true": true, "other": oth,
        "choice_a": a, "choice_b": b, "reference_correct": ref_right,
        "question": [question(x, z) for x, z in zip(a, b)],
    })


# --------------------------------------------------------------------------- answer matching and scores

def _spans(text: str, name: str) -> Iterable[tuple[int, int]]:
    # Whole words only; a regular plural (s/es) still counts, 'cat' in 'catamaran' does not.
    pat = r"(?<![0-9a-z'])" + re.escape(name) + r"(?:e?s)?(?![0-9a-z'])"
    for m in re.finditer(pat, text):
        yield m.start(), m.end()


def match_answer(answer: str | None, true: str, other: str,
                 synonyms: Mapping[str, Sequence[str]] | None = None) -> str:
    """'TRUE', 'FALSE', 'BOTH' or 'NEITHER': which of the two classes a free-text answer names.

    Case-insensitive, whole words, class names and their synonyms, regular plurals. Longer names win
    over names inside them ('tiger cat' is not also a 'cat'). An answer naming neither is NEITHER,
    never guessed; negations ('a dog, not a cat') count as naming both.
    """
    text = _norm(answer or "")
    found = []
    for verdict, cls in (("TRUE", true), ("FALSE", other)):
        for name in names_for(cls, synonyms):
            found += [(s, e, verdict) for s, e in _spans(text, name)]
    found.sort(key=lambda t: (-(t[1] - t[0]), t[0]))
    taken: list[tuple[int, int]] = []
    hits = set()
    for s, e, verdict in found:
        if all(e <= ts or s >= te for ts, te in taken):
            taken.append((s, e))
            hits.add(verdict)
    if hits == {"TRUE", "FALSE"}:
        return "BOTH"
    return hits.pop() if hits else "NEITHER"


def match_frame(frame: pd.DataFrame, answer_col: str = "answer",
                synonyms: Mapping[str, Sequence[str]] | None = None) -> pd.Series:
    """`match_answer` over a pairs frame with an answer column."""
    return pd.Series([match_answer(a, t, o, synonyms) for a, t, o in
                      zip(frame[answer_col], frame["true"], frame["other"])], index=frame.index, name="match")


def score(frame: pd.DataFrame, by: Sequence[str] | str = (), match_col: str = "match") -> pd.DataFrame:
    """Accuracy = TRUE / (TRUE + FALSE), with the TRUE, FALSE, BOTH and NEITHER counts (per group of `by`)."""
    if match_col not in frame.columns:
        raise ValueError(f"frame has no {match_col!r} column; expected one of {VERDICTS} per row")
    unknown = set(frame[match_col].unique()) - set(VERDICTS)
    if unknown:
        raise ValueError(f"{match_col} column holds {sorted(map(str, unknown))}; expected only {VERDICTS}")
    by = [by] if isinstance(by, str) else list(by)

    def one(g: pd.DataFrame) -> dict:
        c = g[match_col].value_counts()
        t, f = int(c.get("TRUE", 0)), int(c.get("FALSE", 0))
        return dict(n=len(g), n_true=t, n_false=f, n_both=int(c.get("BOTH", 0)),
                    n_neither=int(c.get("NEITHER", 0)), accuracy=t / (t + f) if t + f else float("nan"))

    if not by:
        return pd.DataFrame([one(frame)])
    rows = [dict(zip(by, k if isinstance(k, tuple) else (k,)), **one(g))
            for k, g in frame.groupby(by, sort=True, dropna=False)]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- CLIP on the same pairs

def clip_two_choice(pairs: pd.DataFrame, logits: Any, keys: Sequence[str] | None = None) -> pd.DataFrame:
    """CLIP's answer to each question: the higher of its two class logits (same image, same head).

    logits: CLIP's full-way zero-shot logits [N, C], rows in `keys` order (default: the pairs' order).
    Adds columns clip_correct (full-way top-1 right), clip_choice and match (TRUE/FALSE; CLIP always
    names exactly one class, so it has no BOTH or NEITHER).
    """
    z = logits.detach().float().cpu().numpy() if hasattr(logits, "detach") else np.asarray(logits, dtype=float)
    if keys is not None:
        pos = {str(k): i for i, k in enumerate(keys)}
        missing = [k for k in pairs["key"] if k not in pos]
        if missing:
            raise ValueError(f"{len(missing)} question keys have no CLIP logits, e.g. {missing[:3]}")
        z = z[[pos[k] for k in pairs["key"]]]
    if len(z) != len(pairs):
        raise ValueError(f"{len(pairs)} questions but {len(z)} rows of CLIP logits")
    rows = np.arange(len(z))
    lt, lo = z[rows, pairs["label"].to_numpy()], z[rows, pairs["other_label"].to_numpy()]
    out = pairs.copy()
    out["clip_correct"] = z.argmax(1) == pairs["label"].to_numpy()
    right = lt > lo
    out["clip_choice"] = np.where(right, pairs["true"], pairs["other"])
    out["match"] = np.where(right, "TRUE", "FALSE")
    return out


def compare(lmm: pd.DataFrame, clip: pd.DataFrame, lmm_name: str = "lmm", clip_name: str = "clip"
            ) -> pd.DataFrame:
    """Tidy comparison on the same questions, split by whether CLIP's full-way prediction was right.

    lmm: pairs with `match` (from `evaluate_llava` or the lab); clip: from `clip_two_choice`.
    One row per (model, clip_full in right|wrong|all) with counts and accuracy.
    """
    flags = clip.set_index("key")["clip_correct"]
    missing = set(lmm["key"]) - set(flags.index)
    if missing:
        raise ValueError(f"{len(missing)} LMM questions have no CLIP result, e.g. {sorted(missing)[:3]}")
    frames = []
    for name, df in ((lmm_name, lmm), (clip_name, clip)):
        df = df.assign(clip_full=np.where(df["key"].map(flags).astype(bool), "right", "wrong"))
        part = pd.concat([score(df, "clip_full"), score(df).assign(clip_full="all")], ignore_index=True)
        part.insert(0, "model", name)
        frames.append(part)
    out = pd.concat(frames, ignore_index=True)
    cols = ["model", "clip_full"] + [c for c in out.columns if c not in ("model", "clip_full")]
    return out[cols]


# --------------------------------------------------------------------------- LLaVA through transformers

@dataclass(frozen=True)
class GenerationSettings:
    """How answers are decoded; greedy by default (ImageNet-D's deterministic setting)."""

    do_sample: bool = False
    max_new_tokens: int = 16
    num_beams: int = 1
    temperature: float | None = None  # only used when do_sample
    top_p: float | None = None

    def kwargs(self) -> dict:
        kw = dict(do_sample=self.do_sample, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams)
        if self.do_sample:
            kw.update({k: v for k, v in (("temperature", self.temperature), ("top_p", self.top_p)) if v is not None})
        return kw

    def row(self) -> dict:
        return dataclasses.asdict(self)


def _looks_like_path(name: str) -> bool:
    return name.startswith((os.sep, ".", "~")) or os.path.exists(os.path.expanduser(name)) \
        or not re.fullmatch(r"[\w.-]+/[\w.-]+", name)


def _missing_checkpoint(name: str, where: object, hf_id: str | None) -> MissingDataError:
    """Hub ids: download into the HF cache that `load_llava` reads. Local folders: download into them."""
    known = ", ".join(v["hf_id"] for v in CHECKPOINTS.values())
    if hf_id:
        fetch = f"huggingface-cli download {hf_id}"
    else:
        fetch = f"huggingface-cli download {CHECKPOINTS['llava-1.5-7b']['hf_id']} --local-dir {where}"
    return MissingDataError(f"LLaVA checkpoint {name!r}" + (f" (Hugging Face id {hf_id})" if hf_id else ""),
                            where, layout=CHECKPOINT_LAYOUT, fetch=f"{fetch}   (LLaVA ids: {known})")


def checkpoint_missing(checkpoint: str, cache_dir: str | os.PathLike | None = None) -> MissingDataError | None:
    """None when the checkpoint's config is on this machine (a local folder, or the local Hugging Face cache),
    else the MissingDataError `load_llava` would raise. Nothing is downloaded or loaded."""
    name = str(checkpoint)
    hf_id = CHECKPOINTS[name]["hf_id"] if name in CHECKPOINTS else None
    if hf_id is None and _looks_like_path(name):
        path = Path(name).expanduser()
        return None if (path / "config.json").is_file() else _missing_checkpoint(name, path, None)
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.constants import HF_HUB_CACHE

    if isinstance(try_to_load_from_cache(hf_id or name, "config.json", cache_dir=cache_dir), str):
        return None
    return _missing_checkpoint(name, f"the Hugging Face cache {cache_dir or HF_HUB_CACHE}", hf_id or name)


def load_llava(checkpoint: str, device: str = "cpu", dtype: Any = None, *, allow_download: bool = False,
               cache_dir: str | os.PathLike | None = None):
    """(model, processor) of a LLaVA-1.5 or 1.6 checkpoint: a local folder, a hub id or a CHECKPOINTS alias.

    Hub ids are read from the local Hugging Face cache only, unless `allow_download`. A missing checkpoint
    raises MissingDataError naming the id and the `huggingface-cli download` command.
    """
    import torch
    from transformers import AutoConfig, AutoProcessor, LlavaForConditionalGeneration, \
        LlavaNextForConditionalGeneration

    name = str(checkpoint)
    hf_id = CHECKPOINTS[name]["hf_id"] if name in CHECKPOINTS else None
    source = hf_id or name
    if hf_id is None and _looks_like_path(name):
        path = Path(name).expanduser()
        if not (path / "config.json").is_file():
            raise _missing_checkpoint(name, path, None)
        source, local_only = str(path), True
    else:
        hf_id = hf_id or name
        local_only = not allow_download
    kw = dict(local_files_only=local_only, cache_dir=cache_dir)
    try:
        config = AutoConfig.from_pretrained(source, **kw)
    except OSError as e:
        from huggingface_hub.constants import HF_HUB_CACHE

        raise _missing_checkpoint(name, f"the Hugging Face cache {cache_dir or HF_HUB_CACHE}", hf_id) from e
    classes = {"llava": LlavaForConditionalGeneration, "llava_next": LlavaNextForConditionalGeneration}
    if config.model_type not in classes:
        raise ClipstudyError(f"{name}: model_type {config.model_type!r} is not a LLaVA model; "
                             f"expected one of {sorted(classes)}")
    dtype = dtype or (torch.float16 if str(device).startswith("cuda") else torch.float32)
    try:
        model = classes[config.model_type].from_pretrained(source, dtype=dtype, **kw)
        processor = AutoProcessor.from_pretrained(source, **kw)
    except OSError as e:
        raise _missing_checkpoint(name, source, hf_id) from e
    return model.to(device).eval(), processor


def prompt_for(processor: Any, text: str) -> str:
    """The checkpoint's own chat template around one image and one question; a LLaVA-1.5 style fallback."""
    if getattr(processor, "chat_template", None):
        conv = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
        return processor.apply_chat_template(conv, add_generation_prompt=True)
    return f"USER: <image>\n{text} ASSISTANT:"


def ask(model: Any, processor: Any, images: Sequence[Any], texts: Sequence[str],
        settings: GenerationSettings = GenerationSettings(), batch_size: int = 8,
        progress: bool = True) -> list[str]:
    """Generate one answer per (image, question), decoding only the new tokens."""
    import torch
    from tqdm.auto import tqdm

    tok = getattr(processor, "tokenizer", processor)
    old_side = getattr(tok, "padding_side", None)
    tok.padding_side = "left"  # decoder-only batches pad on the left so generation continues the prompt
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    answers: list[str] = []
    try:
        for s in tqdm(range(0, len(texts), batch_size), desc="LMM answers", disable=not progress):
            prompts = [prompt_for(processor, t) for t in texts[s:s + batch_size]]
            inp = processor(images=list(images[s:s + batch_size]), text=prompts, return_tensors="pt", padding=True)
            inp.pop("token_type_ids", None)
            inp = {k: (v.to(device, dtype) if k == "pixel_values" else v.to(device)) for k, v in inp.items()}
            with torch.inference_mode():
                out = model.generate(**inp, **settings.kwargs(), pad_token_id=tok.pad_token_id)
            answers += tok.batch_decode(out[:, inp["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        if old_side is not None:
            tok.padding_side = old_side
    return [a.strip() for a in answers]


def _image_getter(images: Any) -> Callable[[str], Any]:
    from PIL import Image

    def opened(x):
        return Image.open(x).convert("RGB") if isinstance(x, (str, os.PathLike)) else x

    if callable(images):
        return lambda k: opened(images(k))
    if isinstance(images, Mapping):
        return lambda k: opened(images[k])
    frame = getattr(images, "frame", None)  # an ImageListDataset: key -> path
    if frame is not None and "path" in frame.columns:
        paths = dict(zip(frame["key"].astype(str), frame["path"]))
        return lambda k: opened(paths[k])
    raise TypeError("images must be a callable key -> image, a mapping key -> image/path, or a dataset with "
                    "a `frame` of key and path columns")


CHUNK = 64  # questions per chunk of the answer loop: images are opened, and answers kept, a chunk at a time


def answer_all(load: Callable[[], tuple[Any, Any]], pairs: pd.DataFrame, images: Any,
               settings: GenerationSettings = GenerationSettings(), *, batch_size: int = 8,
               shards: str | os.PathLike | None = None, progress: bool = True) -> tuple[list[str], int]:
    """The per-question loop: one answer per question of `pairs` about its image, a chunk of CHUNK questions at a
    time. `load()` gives (model, processor) and is called only when some chunk has to be asked.

    With `shards` (a folder), each chunk's answers are written there (`part-NNNNN.parquet`, atomically) and a
    chunk whose shard holds the same keys and questions is read back instead of asked: a loop killed half-way
    resumes from its finished chunks. Returns (answers in pairs order, questions asked now)."""
    get = _image_getter(images)
    folder = Path(shards) if shards is not None else None
    loaded: tuple[Any, Any] | None = None
    answers: list[str] = []
    asked = 0
    for i, s in enumerate(range(0, len(pairs), CHUNK)):
        chunk = pairs.iloc[s:s + CHUNK]
        path = folder / f"part-{i:05d}.parquet" if folder is not None else None
        if path is not None and path.exists():
            try:
                old = pd.read_parquet(path)
            except Exception:  # noqa: BLE001: a damaged shard is asked again
                old = None
            if old is not None and list(old["key"]) == [str(k) for k in chunk["key"]] \
                    and list(old["question"]) == list(chunk["question"]):
                answers += [str(a) for a in old["answer"]]
                continue
        if loaded is None:
            loaded = load()
        got = ask(*loaded, [get(k) for k in chunk["key"]], list(chunk["question"]), settings,
                  batch_size=batch_size, progress=progress)
        asked += len(got)
        if path is not None:
            from .store import atomic_write

            part = pd.DataFrame({"key": [str(k) for k in chunk["key"]], "question": list(chunk["question"]),
                                 "answer": got})
            atomic_write(path, lambda fh: part.to_parquet(fh, index=False), "wb")
        answers += got
    return answers, asked


def with_answers(pairs: pd.DataFrame, answers: Sequence[str], settings: GenerationSettings = GenerationSettings(),
                 synonyms: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """The pairs with columns answer and match (and the decoding settings)."""
    out = pairs.copy()
    out["answer"] = list(answers)
    out["match"] = match_frame(out, synonyms=synonyms)
    out["decoding"] = "greedy" if not settings.do_sample else "sample"
    out["max_new_tokens"] = settings.max_new_tokens
    return out


def evaluate_llava(model: Any, processor: Any, pairs: pd.DataFrame, images: Any,
                   settings: GenerationSettings = GenerationSettings(), *, batch_size: int = 8,
                   synonyms: Mapping[str, Sequence[str]] | None = None, progress: bool = True) -> pd.DataFrame:
    """Ask every question of `pairs` about its image; add columns answer and match (and the settings)."""
    answers, _ = answer_all(lambda: (model, processor), pairs, images, settings, batch_size=batch_size,
                            progress=progress)
    return with_answers(pairs, answers, settings, synonyms)


def evaluate(checkpoint: str, dataset: Any, clip_logits: Any, *, classnames: Sequence[str] | None = None,
             keys: Sequence[str] | None = None, labels: Any = None, reference: Any = None, seed: int = 0,
             synonyms: Mapping[str, Sequence[str]] | None = None,
             settings: GenerationSettings = GenerationSettings(), device: str = "auto", batch_size: int = 8,
             allow_download: bool = False, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The live path end to end: pairs from the reference (default: the CLIP itself), LLaVA answers, CLIP's
    two-way choice on the same pairs, and their comparison.

    `dataset` is an ImageListDataset (or anything `evaluate_llava` takes as images, with `keys`, `labels`
    and `classnames` given); `clip_logits` are the CLIP tower's full-way zero-shot logits in dataset order.
    Returns (per-question frame, comparison frame).
    """
    from .config import resolve_device

    classnames = list(classnames if classnames is not None else dataset.classnames)
    keys = list(keys if keys is not None else dataset.keys)
    labels = labels if labels is not None else dataset.labels
    pairs = build_pairs(labels, clip_logits if reference is None else reference, classnames, keys=keys,
                        seed=seed, synonyms=synonyms)
    model, processor = load_llava(checkpoint, resolve_device(device), allow_download=allow_download)
    lmm = evaluate_llava(model, processor, pairs, dataset, settings, batch_size=batch_size, synonyms=synonyms,
                         progress=progress)
    clip = clip_two_choice(pairs, clip_logits, keys)
    lmm = lmm.merge(clip[["key", "clip_correct"]], on="key")
    return lmm, compare(lmm, clip, lmm_name=str(checkpoint), clip_name="clip")
