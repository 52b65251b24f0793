"""One unit of the study: the encoding of one (model, dataset) under one transform and one precision,
with its zero-shot heads (and caption embeddings for retrieval sets).

`execute` is what every executor runs, in-process or in a worker elsewhere. It is idempotent: under
the unit's lock it first looks for the unit's record and returns at once when it is complete, so two
runs of the same grid compute each unit once. Features go through the engine's cache (resumable
shards), and the record (`unit.json`) is written last, so a unit killed half-way is simply not
complete: the next run resumes from its finished shards.

Every unit computes through `_compute`: it opens the model and the dataset (each checked against the plan), does
its task's work (`TASKS`: an LMM unit asks its LLaVA the two-choice questions its CLIP chooses; every other task
encodes), and writes one record type, `UnitRecord`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import store
from ..errors import ClipstudyError
from ..models.sources import lab as lab_source
from ..tasks import LMM

RECORD = "unit.json"
QUESTIONS = "questions-{prompts}.parquet"  # an LMM unit's answers, one frame per prompt set of its CLIP's head


@dataclass(frozen=True)
class Unit:
    """A planned unit: names as the user gave them, their identities, and where the worker finds things."""

    model: str
    dataset: str
    precision: str  # as planned: resolved (fp32 | bf16 | fp16), or auto for CUDA units (the worker's GPU decides)
    prompts: tuple[str, ...]
    key: str  # the unit's name in the store (a store.Key name)
    model_id: str
    data_id: str  # the dataset id in the feature key (a lab set's cache stem; else the name)
    fingerprint: str  # the data's files at planning time ('' for generated sets)
    task: str
    cache_root: str
    data_root: str = ""
    lab_profile: str = "lab"
    device: str = "auto"
    batch_size: int = 64
    num_workers: int | str = "auto"  # the engine's loader: "auto" (overlapped, encode.plan_loader), 0, or N processes
    study: str = ""  # the study folder: the unit's log goes to <study>/logs/

    @property
    def label(self) -> str:
        return f"{self.model} x {self.dataset}"

    def entry(self) -> Path:
        return Path(self.cache_root) / "units" / self.key

    def log_path(self) -> Path | None:
        return Path(self.study) / "logs" / f"{self.key}.log" if self.study else None


@dataclass
class UnitResult:
    """What one unit did: computed, reused (complete already) or failed, and what it encoded."""

    key: str
    model: str
    dataset: str
    status: str  # computed | reused | failed
    images_encoded: int = 0
    prompts_encoded: int = 0
    seconds: float = 0.0
    error: str = ""
    worker: dict = field(default_factory=dict)  # host, pid and the clipstudy package that ran it

    def row(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "worker"}


# ----------------------------------------------------------------- the record
@dataclass(frozen=True)
class UnitRecord:
    """A complete unit's record (`unit.json`, written last), the same type for every task: what it encoded
    (the feature key, the heads by prompt set, captions), in which precision and on which device, and, for an
    LMM unit, its checkpoint, its CLIP and its answers' files."""

    model: str
    model_id: str
    dataset: str
    data_id: str
    task: str
    id_set: str
    features: str  # the feature cache's key of the image features
    heads: list[str]  # prompt sets whose zero-shot heads are in heads.pt
    needs_heads: bool  # a CLIP on labelled data: every asked prompt set needs its head
    texts: bool  # caption embeddings in texts.pt
    precision: str
    logit_scale: float
    is_classifier: bool
    classnames: list[str]
    class_index: Any
    n: int
    n_skipped: int
    device: str
    torch: str
    written: str
    checkpoint: str = ""  # an LMM unit's LLaVA checkpoint, its CLIP, and its questions-PROMPTS.parquet files
    clip: str = ""
    questions: list[str] = field(default_factory=list)


RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(UnitRecord)  # what a record lacks no field of
                      if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


def read_record(unit: Unit) -> UnitRecord | None:
    """The unit's record, or None when it is absent or damaged (a damaged one, lacking a field, is removed: the
    unit is computed again). Fields it does not know are passed over."""
    obj = store.load_json(unit.entry() / RECORD, RECORD_FIELDS)
    names = {f.name for f in dataclasses.fields(UnitRecord)}
    return None if obj is None else UnitRecord(**{k: v for k, v in obj.items() if k in names})


def is_complete(unit: Unit, record: UnitRecord | None = None) -> bool:
    """The unit's record exists, names every asked prompt set (CLIPs on labelled data), and its feature
    entry is complete."""
    from ..cache import FeatureCache

    rec = record if record is not None else read_record(unit)
    if rec is None:
        return False
    if rec.needs_heads and not set(unit.prompts) <= set(rec.heads):
        return False
    if rec.texts and not (unit.entry() / "texts.pt").exists():
        return False
    if rec.heads and not (unit.entry() / "heads.pt").exists():
        return False
    if rec.task == LMM and not all(questions_path(unit, p).exists() for p in unit.prompts):
        return False
    return FeatureCache(Path(unit.cache_root) / "features").complete(rec.features)


# ----------------------------------------------------------------- opening things
def lab_model_name(name: str, lab_profile: str) -> str:
    """The model name as the model layer reads it: a bare `lab:RECIPE` gets the grid's profile (`lab:RECIPE@smoke`),
    so that it names the planned profile explicitly, with no environment variable; any other name as it is."""
    lab = lab_source.parse(name)
    return name if lab is None else lab.under(lab_profile)


_LOADED: dict[tuple[str, str], Any] = {}


def load_model(name: str, device: str):
    """zoo.load, keeping the last model of this process (a worker runs several units of one model)."""
    from .. import zoo

    hit = _LOADED.get((name, device))
    if hit is None or zoo.model_id(hit.spec) != hit.extra.get("_model_id"):  # its files changed: load again
        from ..encode import weights_hash

        _LOADED.clear()
        loaded = zoo.load(name, device)
        loaded.extra["_model_id"] = zoo.model_id(loaded.spec)
        if loaded.weights_id is None:  # the value every engine call would hash, once
            loaded.weights_id = weights_hash(loaded.model)
        _LOADED[(name, device)] = loaded
    return _LOADED[(name, device)]


class CountingTokenizer:
    """Counts the prompts a tokenizer is asked to encode (a cached head asks none)."""

    def __init__(self, tok: Any):
        self.tok, self.n = tok, 0

    def __call__(self, texts, *a, **k):
        self.n += 1 if isinstance(texts, str) else len(texts)
        return self.tok(texts, *a, **k)

    def __getattr__(self, name: str):
        return getattr(self.tok, name)


# ----------------------------------------------------------------- execution
def _log(unit: Unit, text: str) -> None:
    path = unit.log_path()
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{os.getpid()}] {text}\n")


def _worker() -> dict:
    import socket

    import clipstudy

    return dict(host=socket.gethostname(), pid=os.getpid(), package=str(Path(clipstudy.__file__).resolve().parent))


def execute(unit: Unit) -> UnitResult:
    """Run one unit (see the module docstring). Errors fail this unit only; Ctrl-C propagates."""
    t0 = time.time()
    env = dict(CLIPSTUDY_CACHE=unit.cache_root)  # the lab profile is passed down explicitly (unit.lab_profile)
    if unit.data_root:
        env["CLIPSTUDY_DATA"] = unit.data_root
    res = UnitResult(unit.key, unit.model, unit.dataset, "failed", worker=_worker())
    try:
        with _environ(env):  # for this unit only: an in-process unit leaves the caller's environment as it was
            _execute(unit, res, t0)
    except KeyboardInterrupt as e:
        _log(unit, f"interrupted: {e}")
        raise
    res.seconds = time.time() - t0
    return res


@contextmanager
def _environ(values: dict[str, str]):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _execute(unit: Unit, res: UnitResult, t0: float) -> None:
    try:
        with store.locked(unit.entry() / ".lock"):
            if is_complete(unit):
                res.status = "reused"
                _log(unit, "complete already (another run computed it): reused")
            else:
                _log(unit, f"start {unit.label} precision={unit.precision} prompts={','.join(unit.prompts)}")
                res.images_encoded, res.prompts_encoded = _compute(unit)
                res.status = "computed"
                _log(unit, f"done: {res.images_encoded} images and {res.prompts_encoded} prompts encoded "
                           f"in {time.time() - t0:.1f}s")
    except Exception as e:  # one unit's failure is reported and the grid goes on
        res.error = str(e) if isinstance(e, ClipstudyError) else f"{type(e).__name__}: {e}"
        _log(unit, "FAILED: " + res.error + "\n" + traceback.format_exc())


def execute_many(units: list[Unit]) -> list[UnitResult]:
    """The job function of the remote executors: each unit in turn (models load once per run of units)."""
    return [execute(u) for u in units]


# ----------------------------------------------------------------- computing a unit
@dataclass
class Opened:
    """What every unit opens before its task's work: the device and resolved precision, the model (checked against
    the plan) with a tokenizer that counts its prompts, and the dataset (checked against the plan)."""

    unit: Unit
    device: str
    precision: str
    loaded: Any
    data: Any  # run.data.Data
    tok: CountingTokenizer | None
    images: int = 0  # images encoded (and, for an LMM unit, questions answered) now

    @property
    def needs_heads(self) -> bool:  # a CLIP on labelled data: a zero-shot head per prompt set
        return bool(self.data.classnames) and not self.loaded.is_classifier

    @property
    def has_texts(self) -> bool:  # a CLIP on a retrieval set: caption embeddings
        return self.data.texts is not None and not self.loaded.is_classifier


@dataclass
class Computed:
    """What a task's work leaves for the unit's record: the last encoding, its logit scale, the heads it holds,
    and an LMM unit's own fields."""

    encoded: Any  # encode.Encoded
    logit_scale: float
    heads: dict[str, Any]
    checkpoint: str = ""
    clip: str = ""
    questions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Task:
    """How a unit of one task computes: the model it loads (checked against the plan) and its work on it."""

    load: Callable[[Unit, str], Any]
    work: Callable[[Opened], Computed]


def _compute(unit: Unit) -> tuple[int, int]:
    """Open the unit, do its task's work (`TASKS`), write its artifacts and its record, last. Returns (images,
    prompts) encoded."""
    import torch

    from .. import encode
    from ..config import resolve_device
    from .data import open_dataset, save_frame

    task = TASKS.get(unit.task, ENCODE)
    if any(p.startswith("lab-") for p in unit.prompts):
        from ..lab import zoo as _  # noqa: F401: registers the lab's prompt sets in this worker
    device = resolve_device(unit.device)
    precision = encode.resolve_precision(unit.precision, device)  # the worker's entry: resolved once, passed down
    loaded = task.load(unit, device)
    data = open_dataset(unit.dataset, loaded.preprocess, unit.lab_profile)
    if (data.data_id, data.fingerprint) != (unit.data_id, unit.fingerprint):
        raise ClipstudyError(f"{unit.dataset}: its files changed between planning and encoding; run again")
    tok = CountingTokenizer(loaded.tokenizer) if loaded.tokenizer is not None else None
    old_tok, loaded.tokenizer = loaded.tokenizer, tok
    o = Opened(unit, device, precision, loaded, data, tok)
    try:
        done = task.work(o)
        enc = done.encoded
        if done.heads:
            store.atomic_save(done.heads, unit.entry() / "heads.pt")
        if data.frame is not None:
            save_frame(data.frame, unit.entry() / "frame.parquet")
        record = UnitRecord(
            model=unit.model, model_id=unit.model_id, dataset=unit.dataset, data_id=unit.data_id, task=unit.task,
            id_set=data.id_set, features=enc.key, heads=sorted(done.heads), needs_heads=o.needs_heads,
            texts=o.has_texts, precision=precision, logit_scale=done.logit_scale,
            is_classifier=bool(loaded.is_classifier), classnames=list(data.classnames),
            class_index=_jsonable(data.class_index), n=len(enc), n_skipped=len(enc.skipped), device=device,
            torch=torch.__version__, written=time.strftime("%Y-%m-%dT%H:%M:%S"), checkpoint=done.checkpoint,
            clip=done.clip, questions=done.questions)
        store.atomic_write_text(json.dumps(asdict(record), indent=1), unit.entry() / RECORD)  # last: complete
    finally:
        loaded.tokenizer = old_tok
    return o.images, (tok.n if tok is not None else 0)


def _zero_shot(o: Opened, prompts: str) -> Any:
    """The unit's CLIP on its dataset under one prompt set (its head built once under a lock, `_head_once`), or a
    classifier's own head (`prompts` classifier-head)."""
    from .. import zeroshot

    if o.needs_heads:
        _head_once(o.unit, o.loaded, o.data.classnames, prompts, o.device, o.precision)
    u = o.unit
    zs = zeroshot.run(o.loaded, o.data.dataset, dataset_id=o.data.data_id, prompts=prompts,
                      classnames=o.data.classnames, device=o.device, batch_size=u.batch_size,
                      num_workers=u.num_workers, precision=o.precision, progress=False)
    o.images += zs.encoded.forward_passes
    return zs


# ----------------------------------------------------------------- encoders (every task but lmm)
def _load_encoder(unit: Unit, device: str) -> Any:
    """The unit's model (`lab:RECIPE` under the planned profile), refused when it is not the planned one."""
    loaded = load_model(lab_model_name(unit.model, unit.lab_profile), device)
    # never file one model's results under another's name: a lab model's training key must be the planned one
    if loaded.spec.is_lab:
        rec = loaded.extra.get("record") or {}
        if not unit.model_id.endswith("#" + str(rec.get("key"))):
            raise ClipstudyError(f"{unit.model}: the loaded weights (training key {rec.get('key')}) are not the "
                                 f"planned model ({unit.model_id}); nothing was written")
    elif loaded.extra.get("_model_id") != unit.model_id:
        raise ClipstudyError(f"{unit.model}: its weight files changed between planning and encoding "
                             f"(planned {unit.model_id}, now {loaded.extra.get('_model_id')}); run again")
    return loaded


def _encode(o: Opened) -> Computed:
    """Image features (with zero-shot logits under each asked prompt set, or a classifier's own head) and, for a
    retrieval set, caption embeddings. Heads and captions an earlier run of this unit stored are kept."""
    from .. import encode, zoo

    unit, loaded, data, entry = o.unit, o.loaded, o.data, o.unit.entry()
    prior = read_record(unit)
    heads: dict[str, Any] = {}
    if prior is not None and prior.heads:
        heads = store.safe_load(entry / "heads.pt") or {}
    enc, scale = None, 1.0
    if data.classnames:
        for p in (unit.prompts if o.needs_heads else ("classifier-head",)):
            if p in heads and enc is not None:
                continue
            zs = _zero_shot(o, p)
            enc, scale = zs.encoded, zs.logit_scale
            if o.needs_heads:
                heads[p] = zs.head
    else:
        enc = encode.encode_images(loaded.model, data.dataset, model_id=zoo.model_id(loaded.spec),
                                   dataset_id=data.data_id, transform_id=loaded.transform_id,
                                   weights=loaded.weights_id, batch_size=unit.batch_size, device=o.device,
                                   num_workers=unit.num_workers, precision=o.precision, progress=False)
        o.images += enc.forward_passes
        scale = encode.logit_scale_of(loaded.model)
    _log(unit, f"features: {len(enc)} images ({len(enc.skipped)} skipped), {enc.forward_passes} encoded now")
    if o.has_texts and not (prior is not None and prior.texts and prior.features == enc.key
                              and (entry / "texts.pt").exists()):
        if enc.skipped:
            raise ClipstudyError(f"{unit.dataset}: {len(enc.skipped)} unreadable image(s), e.g. "
                                 f"{enc.skipped[:3]}; retrieval needs every image that owns captions")
        temb = encode.encode_texts(loaded.model, o.tok, data.texts, o.device, precision=o.precision)
        store.atomic_save(dict(features=temb, image_to_texts=data.image_to_texts), entry / "texts.pt")
    return Computed(enc, float(scale), heads)


# ----------------------------------------------------------------- LMMs (task lmm)
def questions_path(unit: Unit, prompts: str) -> Path:
    """An LMM unit's per-question frame under one prompt set (the CLIP head that chose the questions' pairs)."""
    return unit.entry() / QUESTIONS.format(prompts=prompts)


_LMM: dict[tuple[str, str, str], Any] = {}  # the last LLaVA this process loaded: (checkpoint, device, dtype) -> it
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def _load_lmm(checkpoint: str, device: str, precision: str) -> tuple[Any, Any]:
    import torch

    from .. import lmm

    key = (checkpoint, device, precision)
    if key not in _LMM:
        _LMM.clear()
        _LMM[key] = lmm.load_llava(checkpoint, device, getattr(torch, DTYPES[precision]))
    return _LMM[key]


def _load_lmm_clip(unit: Unit, device: str) -> Any:
    """An LMM unit's CLIP (`llava:CHECKPOINT[@CLIP]`), once its checkpoint is known to be on this machine;
    refused when it is not the planned one."""
    from .. import lmm
    from ..models.sources import llava

    checkpoint, clip = llava.split(unit.model)
    why = lmm.checkpoint_missing(checkpoint)
    if why is not None:
        raise why
    loaded = load_model(clip, device)
    if not unit.model_id.endswith("+clip=" + str(loaded.extra.get("_model_id"))):
        raise ClipstudyError(f"{unit.model}: its CLIP {clip} changed between planning and encoding "
                             f"(planned {unit.model_id}); run again")
    return loaded


def _answer(o: Opened) -> Computed:
    """An LMM unit (`llava:CHECKPOINT[@CLIP]` on a labelled set): its CLIP's zero-shot through the engine (the
    features and heads a CLIP unit of the same model and dataset shares, from the cache), then per prompt set
    the two-choice questions that head's logits choose (`lmm.build_pairs`) and the LLaVA's answer to each
    (`lmm.answer_all`, in resumable shards under the unit entry), stored as `questions-PROMPTS.parquet`. The
    CLIP's two-choice answers are computed from its stored logits at evaluation. Questions the LLaVA answered
    now count as images encoded."""
    from .. import lmm
    from ..models.sources import llava
    from .data import save_frame

    unit, data = o.unit, o.data
    checkpoint, clip = llava.split(unit.model)
    frame = getattr(data.dataset, "frame", None)
    if frame is None or "path" not in frame.columns:
        raise ClipstudyError(f"{unit.model} x {unit.dataset}: an LMM unit shows the LLaVA image files; "
                             f"{unit.dataset} has none (a rendered set)")
    if not o.needs_heads:
        raise ClipstudyError(f"{unit.model}: its CLIP {clip} has no zero-shot head to choose the questions with")
    heads: dict[str, Any] = {}
    for p in unit.prompts:
        zs = _zero_shot(o, p)
        heads[p] = zs.head
        pairs = lmm.build_pairs(zs.labels, zs.logits, data.classnames, keys=[str(k) for k in zs.encoded.keys])
        settings = lmm.GenerationSettings()
        answers, asked = lmm.answer_all(lambda: _load_lmm(checkpoint, o.device, o.precision), pairs, data.dataset,
                                        settings, batch_size=min(8, unit.batch_size),
                                        shards=unit.entry() / f"answers-{p}", progress=False)
        o.images += asked
        _log(unit, f"{p}: {len(pairs)} questions, {asked} asked now")
        save_frame(lmm.with_answers(pairs, answers, settings), questions_path(unit, p))
    return Computed(zs.encoded, float(zs.logit_scale), heads, checkpoint, clip,
                    [QUESTIONS.format(prompts=p) for p in sorted(heads)])


ENCODE = Task(_load_encoder, _encode)
TASKS: dict[str, Task] = {LMM: Task(_load_lmm_clip, _answer)}  # a task not named here encodes (ENCODE)


def _head_once(unit: Unit, loaded: Any, classnames: list[str], prompts: str, device: str, precision: str) -> None:
    """Build (or find) the zero-shot head under a lock of its own, so that workers running other datasets
    of the same model wait for one computation of a shared head (ImageNet's) instead of repeating it.
    `precision` is resolved (the lock names the precision the head is built in)."""
    from .. import encode, prompts as prompt_sets, zoo

    key = store.head_lock_key(zoo.model_id(loaded.spec), classnames, prompts, precision)
    with store.locked(Path(unit.cache_root) / "units" / "heads" / f"{key.name}.lock"):
        encode.zero_shot_head(loaded.model, loaded.tokenizer, classnames, prompt_sets.templates(prompts), device,
                              model_id=zoo.model_id(loaded.spec), weights=loaded.weights_id,
                              precision=precision, progress=False)


def _jsonable(x: Any) -> Any:
    """Class indices (lists, nested lists, numpy arrays or scalars) as plain JSON values."""
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x
