"""The one engine: batched image and text encoding, zero-shot heads, cached features.

Every axis of the study reads image features from here, so each (model, dataset)
is encoded once: a second request with the same key computes nothing, and an
interrupted encode resumes from its finished shards.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from .cache import FeatureCache
from .store import digest, head_key

SHARD_SIZE = 2048


@dataclass
class Encoded:
    """Image features of one dataset: L2-normalised for CLIPs, logits for classifiers.

    `notes` maps an image key to what happened to it: why it was skipped, or how it was
    changed on reading (a 16-bit image scaled to 8 bits), so nothing is changed silently.
    """

    features: torch.Tensor
    labels: torch.Tensor
    keys: list[str]
    skipped: list[str] = field(default_factory=list)
    from_cache: bool = False
    forward_passes: int = 0  # images pushed through the model by this call
    notes: dict[str, str] = field(default_factory=dict)
    key: str = ""  # the feature entry's name in the cache (the runner's unit records point to it)
    data_wait: float | None = None  # share of this call's encode loop spent waiting on the data (None: from cache)
    loader: str = ""  # how the images were loaded (the data path's plan and measured rates)

    def __len__(self) -> int:
        return len(self.keys)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during an encode; the message says what was kept."""


def collate_skip(batch: list[tuple]) -> tuple[torch.Tensor | None, torch.Tensor, list[str], list[tuple[str, str]]]:
    """Stack the readable images; name the unreadable ones (image None) instead of failing.

    Items are `(image, label, key)` or `(image, label, key, note)`; the last element returned lists
    `(key, note)` for every item that has a note, the skipped ones included (note "unreadable" by default).
    """
    ok = [b for b in batch if b[0] is not None]
    notes = [(str(b[2]), (b[3] if len(b) > 3 and b[3] else "unreadable")) for b in batch if b[0] is None]
    notes += [(str(b[2]), b[3]) for b in ok if len(b) > 3 and b[3]]
    if not ok:
        return None, torch.empty(0, dtype=torch.long), [], notes
    images = torch.stack([b[0] for b in ok])
    labels = torch.as_tensor([int(b[1]) for b in ok], dtype=torch.long)
    return images, labels, [str(b[2]) for b in ok], notes


PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# CPU flags (Linux /proc/cpuinfo) of native bf16 arithmetic: AMX tiles or AVX512-BF16 dot products.
# Without them oneDNN emulates bf16 on AVX512 and autocast is several times *slower* than fp32
# (ViT-B-32 image forward on an AVX512 Xeon without these flags: 0.2x; benchmarks/README.md).
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
RESOLVED = ("fp32", "bf16", "fp16")  # what the engine's functions take: `auto` is resolved at the entry


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as the OS reports them (/proc/cpuinfo), plus torch's dispatch capability
    as `torch:<NAME>` (e.g. torch:AVX512, torch:AMX); empty where neither is readable."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags.update(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    try:
        flags.add("torch:" + str(torch.backends.cpu.get_cpu_capability()).upper())
    except Exception:  # older torch
        pass
    return frozenset(flags)


def cpu_has_bf16(flags: Iterable[str] | None = None) -> bool:
    """Whether the CPU reports native bf16 arithmetic (AMX-BF16 or AVX512-BF16). Detected, never guessed:
    `flags` defaults to `cpu_flags()`; tests inject their own."""
    flags = set(cpu_flags() if flags is None else flags)
    if flags & set(BF16_CPU_FLAGS):
        return True
    return any(f.startswith("torch:") and ("AMX" in f or "BF16" in f) for f in flags)


def resolve_precision(precision: str, device: str, *, cpu: Iterable[str] | None = None,
                      cuda_bf16: bool | None = None) -> str:
    """The precision an encode runs in: the one resolver, called once at each entry (`clipstudy build`, a
    chapter run by hand, the runner's plan and worker, `zeroshot.run`), whose result is passed down explicitly.
    `auto` (the policy):

    - CUDA: bf16 autocast where the GPU supports it, else fp16;
    - CPU: bf16 autocast where the CPU reports AMX-BF16 or AVX512-BF16 (`cpu_has_bf16`), else fp32.

    An explicit fp32|bf16|fp16 is returned as it is; no environment variable changes the answer.
    `cpu` (flags) and `cuda_bf16` inject the hardware for tests.
    """
    if precision not in PRECISIONS:
        from .errors import UnknownNameError

        raise UnknownNameError("precision", precision, PRECISIONS)
    if precision != "auto":
        return precision
    if str(device).startswith("cuda"):
        ok = torch.cuda.is_bf16_supported() if cuda_bf16 is None else cuda_bf16
        return "bf16" if ok else "fp16"
    return "bf16" if cpu_has_bf16(cpu) else "fp32"


def check_resolved(precision: str, where: str = "the engine") -> str:
    """`precision` itself when it is resolved (fp32 | bf16 | fp16); else a ClipstudyError saying where `auto`
    belongs: the engine's functions take the value an entry resolved (`resolve_precision`), never resolve it."""
    if precision in RESOLVED:
        return precision
    from .errors import ClipstudyError

    if precision == "auto":
        raise ClipstudyError(f"{where} takes a resolved precision (fp32, bf16 or fp16), not auto: resolve it once at "
                             "the entry with clipstudy.encode.resolve_precision(precision, device) and pass the "
                             "result down (zeroshot.run, clipstudy build and run resolve it themselves)")
    from .errors import UnknownNameError

    raise UnknownNameError("precision", precision, RESOLVED)


def autocast(device: str, precision: str):
    """The autocast context of a resolved precision (fp32: none; auto is refused: `check_resolved`)."""
    precision = check_resolved(precision, "encode.autocast")
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast("cuda" if str(device).startswith("cuda") else "cpu", dtype=dtype)


def data_identity(dataset: Any) -> str | None:
    """What a dataset read: a fingerprint of its resolved root and files (None: its id says it all).

    Datasets read from disk define `fingerprint()`; a Subset adds its indices.
    """
    fp = getattr(dataset, "fingerprint", None)
    if callable(fp):
        return fp()
    if isinstance(dataset, Subset):
        inner = data_identity(dataset.dataset)
        return None if inner is None else digest([inner, [int(i) for i in dataset.indices]], 24)
    return None


@contextlib.contextmanager
def intra_op_threads(n: int):
    """Run a block with `n` intra-op threads, then restore.

    Per-image tensor ops (ToTensor, Normalize) are tiny; run with every core's
    OpenMP thread on a busy CPU they wait on each other and get 10-100x slower.
    The engine loads in-process batches with one thread and encodes with all.
    """
    old = torch.get_num_threads()
    if n == old:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _batches(loader: DataLoader, in_process: bool):
    """Iterate `loader`; in-process loading (num_workers=0) runs single-threaded (see intra_op_threads)."""
    if not in_process:
        yield from loader
        return
    it = iter(loader)
    while True:
        with intra_op_threads(1):
            batch = next(it, None)
        if batch is None:
            return
        yield batch



NUM_WORKERS_AUTO = "auto"
# Batches decoded ahead of the forward per decoding thread (a bounded prefetch: memory stays a few batches).
PREFETCH_AHEAD = 1
MAX_DECODE_THREADS = 8  # PIL decoding and torch ops release the GIL; beyond this, ask for DataLoader processes
OVERSUBSCRIBED_GAIN = 1.25  # decoding threads beside a forward on every core must promise this much (plan_loader)

log = logging.getLogger(__name__)


def cpu_budget() -> int:
    """The cores this process may use: its CPU affinity, capped by torch's intra-op threads (the runner sets
    those per job)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, torch.get_num_threads()))


@dataclass(frozen=True)
class LoaderPlan:
    """How the rest of an encode loads its images: `decode_threads` background threads (0: in-process,
    serial) decoding and collating the next batches while the forward runs with `forward_threads`."""

    decode_threads: int
    forward_threads: int
    why: str


def plan_loader(decode_s: float, forward_s: float, cores: int, gpu: bool) -> LoaderPlan:
    """The data path that keeps the forward fed, from the measured rates (seconds per image: `decode_s` on one
    thread, `forward_s` with all `cores` threads on CPU, or on the GPU) and the cores.

    Candidates (per-image wall time, forward scaling taken as linear in its threads):
    - CPU, one decoding thread beside a forward on every core: it fills the gaps (work-conserving,
      max(d, f + d/cores)); the decoding thread is busy d/f of the time;
    - CPU, k decoding threads on cores of their own, the forward on the other cores - k: max(d/k, f*cores/(cores-k));
    - CPU, k = 2 .. cores decoding threads beside a forward on every core (decode-bound, a tiny model: the forward
      leaves most of every core to decoding): max(d/k, f + d/cores). They oversubscribe the cores (and share the
      GIL for the Python part of decoding), so they are taken only when `OVERSUBSCRIBED_GAIN` times faster than
      the plans above;
    - GPU: the forward does not use the cores; the fewest threads (up to cores - 1) for which d/k <= f.
    The cheapest wins, ties to the fewest decoding threads. One core: serial, in-process (nothing to overlap on).
    """
    d, f = max(decode_s, 0.0), max(forward_s, 1e-9)
    rates = f"decode {1e3 * d:.1f} ms/img on 1 thread, forward {1e3 * f:.1f} ms/img"
    cap = min(MAX_DECODE_THREADS, max(1, cores - 1))
    if gpu:
        k = min(cap, max(1, math.ceil(d / f)))
        return LoaderPlan(k, cores, f"{k} decoding thread(s), forward on the GPU ({rates})")
    if cores <= 1:
        return LoaderPlan(0, 1, f"in-process (1 core, {rates})")
    best = (max(d, f + d / cores), 1, cores)
    for k in range(1, cap + 1):
        t = max(d / k, f * cores / (cores - k))
        if t < best[0] * 0.999:
            best = (t, k, cores - k)
    for k in range(2, min(MAX_DECODE_THREADS, cores) + 1):
        t = max(d / k, f + d / cores)
        if t * OVERSUBSCRIBED_GAIN < best[0]:
            best = (t * OVERSUBSCRIBED_GAIN, k, cores)
    _, k, threads = best
    return LoaderPlan(k, threads, f"{k} decoding thread(s), forward on {threads} of {cores} cores ({rates})")


def _decode_batch(dataset: Dataset, idx: range, stop: threading.Event, pin: bool):
    """`collate_skip` of items `idx` (what a DataLoader with num_workers=0 does), or None once `stop` is set."""
    items = []
    for i in idx:
        if stop.is_set():
            return None
        items.append(dataset[i])
    out = collate_skip(items)
    if pin and out[0] is not None:
        out = (out[0].pin_memory(),) + out[1:]
    return out


def _single_thread() -> None:
    torch.set_num_threads(1)  # per-image tensor ops with every OpenMP thread wait on each other (intra_op_threads)


def _auto_batches(dataset: Dataset, start: int, stop_: int, batch_size: int, device: str, timing: dict):
    """Batches of `dataset[start:stop_]` in order, each `collate_skip`ped, as a DataLoader would give them.

    The first batch is decoded in-process (single-threaded), which measures the decode rate; once the
    encode loop has recorded its forward time in `timing` ("forward_s", "forward_n"), `plan_loader`
    chooses the rest: decoding threads (a bounded prefetch, in order) or in-process. A decoding error
    re-raises in the caller as it would in-process (the same exception); closing the generator
    (Ctrl-C, an error, the end) stops the threads and waits for them.
    """
    ranges = [range(s, min(s + batch_size, stop_)) for s in range(start, stop_, batch_size)]
    if not ranges:
        return
    pin = str(device).startswith("cuda")
    stop = threading.Event()
    t = time.perf_counter()
    with intra_op_threads(1):
        first = _decode_batch(dataset, ranges[0], stop, pin)
    timing["decode_s"] = (time.perf_counter() - t) / max(1, len(ranges[0]))
    yield first
    if len(ranges) == 1:
        timing.setdefault("plan", LoaderPlan(0, torch.get_num_threads(), "in-process (one batch)"))
        return
    cores = cpu_budget()
    forward_s = timing.get("forward_s", 0.0) / max(1, timing.get("forward_n", 0))
    plan = plan_loader(timing["decode_s"], forward_s, cores, gpu=pin)
    timing["plan"] = plan
    if plan.decode_threads == 0:
        for r in ranges[1:]:
            with intra_op_threads(1):
                batch = _decode_batch(dataset, r, stop, pin)
            yield batch
        return
    main_threads = torch.get_num_threads()
    pool = ThreadPoolExecutor(plan.decode_threads, thread_name_prefix="clipstudy-decode",
                              initializer=_single_thread)
    pending: list = []
    todo = iter(ranges[1:])
    try:
        with intra_op_threads(main_threads if pin else plan.forward_threads):
            ahead = plan.decode_threads * (1 + PREFETCH_AHEAD)
            for r in todo:
                pending.append(pool.submit(_decode_batch, dataset, r, stop, pin))
                if len(pending) >= ahead:
                    break
            while pending:
                batch = pending.pop(0).result()  # a decoding error re-raises here, as it would in-process
                nxt = next(todo, None)
                if nxt is not None:
                    pending.append(pool.submit(_decode_batch, dataset, nxt, stop, pin))
                yield batch
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(main_threads)  # the decoding threads' setting is also torch's default for new threads


def weights_hash(model: torch.nn.Module) -> str:
    """Hash of every parameter and buffer, so retrained or swapped weights never hit stale features.

    Recomputed on every call (about 0.4 s for a ViT-B-32 on CPU): a memo keyed on tensor
    versions would miss updates made through `.data`, and stale features are worse than slow. The one
    exception is a `models.deferred.Deferred` still as loaded from its files: its hash was computed from
    those bytes the first time they were loaded, and nothing has reached the model since.
    """
    if getattr(model, "is_deferred", False) and model.weights_id:  # a checkpoint's model as loaded: its memo
        return model.weights_id
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(memoryview(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()[:16]


def _real(model: Any) -> Any:
    """The model itself, to compute with: a `models.deferred.Deferred` is built now (its type checks, such as
    `_causal_text_tower`'s, see the real class). The engine's forward passes (eval mode, under no_grad) change
    no weight, so a Deferred stays as loaded (its memoised hash keeps naming it)."""
    return model.materialise(touch=False) if getattr(model, "is_deferred", False) else model


def _encode_fn(model: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    return model.encode_image if hasattr(model, "encode_image") else model


def _resume(cache: FeatureCache, key: str) -> tuple[int, int]:
    """(next shard, next image) after the finished shards of an interrupted encode.

    Shards are contiguous ranges; a missing or damaged one ends the resumable part, and any after it
    are dropped because they no longer line up.
    """
    i = pos = 0
    while True:
        s = cache.load_shard(key, i)
        if s is None or s.get("start") != pos or not isinstance(s.get("stop"), int):
            cache.drop_shards(key, i)
            return i, pos
        pos, i = s["stop"], i + 1


def _forward_mode():
    """The grad mode of every forward pass: `no_grad`, not `inference_mode`. Under `inference_mode`, CPU bf16
    autocast takes a slow path (measured on an AMX-BF16 Xeon, random ViT-B-32, batch 16: 90-103 ms/image under
    `inference_mode` against 15-16 ms under `no_grad`); fp32 outputs are bit-identical under both."""
    return torch.no_grad()


def encode_images(model: Any, dataset: Dataset, *, model_id: str, dataset_id: str,
                  transform_id: str = "default", subset: str = "all", batch_size: int = 64,
                  device: str = "cpu", num_workers: int | str | None = NUM_WORKERS_AUTO, weights: str | None = None,
                  normalize: bool | None = None, cache: FeatureCache | None = None,
                  shard_size: int = SHARD_SIZE, shard_seconds: float | None = None, precision: str,
                  progress: bool = True) -> Encoded:
    """Encode every image of `dataset` (items `(image, label, key[, note])`), through the cache.

    The key holds the model and its weights, the dataset id and `data_identity` (resolved root and a
    fingerprint of its files), the transform and the precision: two different inputs never share an
    entry. Finished work is kept in shards of at most `shard_size` images or `shard_seconds` of encoding
    (`CLIPSTUDY_SHARD_SECONDS`, default 60), so an interrupted encode resumes from the last of them.
    `normalize` defaults to True for CLIP image towers and False for classifiers (flagged
    `is_classifier`), whose outputs are logits.

    `num_workers`: "auto" (or None, the default) overlaps decoding with the forward: the first batch is
    decoded in-process, which measures the decode rate, and `plan_loader` chooses decoding threads for the
    rest from it, the forward's rate and the cores (`_auto_batches`); 0 loads in-process, serially; N > 0 uses
    N DataLoader worker processes. `data_wait` on the result is the share of the loop the forward waited on
    the data, `loader` says what was chosen.
    """
    from tqdm.auto import tqdm

    cache = cache or FeatureCache()
    if normalize is None:
        normalize = not getattr(model, "is_classifier", False)
    precision = check_resolved(precision, "encode.encode_images")
    weights = weights or getattr(model, "weights_id", None) or weights_hash(model)
    n = len(dataset)
    data = data_identity(dataset)
    key = cache.key(model_id, weights, dataset_id, transform_id, subset, n=n, normalize=normalize,
                    precision=precision, **({"data": data} if data else {}))
    hit = cache.load(key)
    if hit is not None:
        cache.log_request(kind="images", model=model_id, dataset=dataset_id, n=n, passes=0)
        return Encoded(hit["features"], hit["labels"], hit["keys"], hit["skipped"], from_cache=True,
                       notes=dict(hit.get("notes", [])), key=key)
    cache.check_writable()
    if shard_seconds is None:
        from .environment import shard_seconds as from_env

        shard_seconds = from_env()

    model = _real(model)
    enc = _encode_fn(model)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    passes = 0
    i, pos = _resume(cache, key)
    kept = pos
    bar = tqdm(total=n, initial=pos, desc=f"encode {model_id} on {dataset_id}", unit="img", disable=not progress)
    buf: dict[str, list] = dict(features=[], labels=[], keys=[], notes=[])
    dim = 0

    def flush(stop: int) -> None:
        nonlocal i, kept, buf
        feats = torch.cat(buf["features"]) if buf["features"] else torch.empty(0, dim)
        labels = torch.cat(buf["labels"]) if buf["labels"] else torch.empty(0, dtype=torch.long)
        encoded = set(buf["keys"])
        skipped = [k for k, _ in buf["notes"] if k not in encoded]
        cache.save_shard(key, i, dict(features=feats, labels=labels, keys=buf["keys"], skipped=skipped,
                                      notes=[list(x) for x in buf["notes"]], start=kept, stop=stop))
        i, kept = i + 1, stop
        buf = dict(features=[], labels=[], keys=[], notes=[])

    timing: dict = dict(wait=0.0, loop=0.0)
    auto = num_workers is None or num_workers == NUM_WORKERS_AUTO
    if auto:
        batches = _auto_batches(dataset, pos, n, min(batch_size, shard_size), device, timing)
    else:
        loader = DataLoader(Subset(dataset, range(pos, n)), batch_size=min(batch_size, shard_size),
                            num_workers=num_workers, collate_fn=collate_skip, pin_memory=str(device).startswith("cuda"),
                            persistent_workers=False)
        batches = _batches(loader, in_process=num_workers == 0)
    try:
        t0 = loop0 = time.monotonic()
        with _forward_mode(), autocast(device, precision):
            while True:
                w = time.monotonic()
                batch = next(batches, None)
                timing["wait"] += time.monotonic() - w
                if batch is None:
                    break
                images, y, k, notes = batch
                buf["notes"] += notes
                if images is not None:
                    f0 = time.monotonic()
                    out = enc(images.to(device, non_blocking=True)).float()
                    if normalize:
                        out = F.normalize(out, dim=-1)
                    dim = out.shape[1]
                    buf["features"].append(out.cpu())  # .cpu() waits for the GPU: the forward is timed whole
                    timing["forward_s"] = timing.get("forward_s", 0.0) + time.monotonic() - f0
                    timing["forward_n"] = timing.get("forward_n", 0) + len(k)
                    buf["labels"].append(y)
                    buf["keys"] += k
                    passes += len(k)
                done = len(k) + sum(1 for key_, _ in notes if key_ not in k)
                pos += done
                bar.update(done)
                if pos - kept >= shard_size or time.monotonic() - t0 >= shard_seconds:
                    flush(pos)
                    t0 = time.monotonic()
        timing["loop"] = time.monotonic() - loop0
        if pos > kept or i == 0:
            flush(pos)
    except KeyboardInterrupt as e:
        raise Interrupted(
            f"interrupted: {kept} of {n} images of {model_id} on {dataset_id} are kept in {i} finished "
            f"shard(s) under {cache.entry(key)}; the {pos - kept} encoded since the last shard are lost. "
            f"The next run resumes from image {kept}.") from e
    finally:
        batches.close()  # stops and joins the decoding threads (or the DataLoader's workers)
        bar.close()
        if was_training:
            model.train()
    data_wait = timing["wait"] / timing["loop"] if timing["loop"] > 0 else 0.0
    plan = timing.get("plan")
    how = (plan.why if plan is not None else "in-process (one batch)") if auto else \
        (f"DataLoader, {num_workers} worker process(es)" if num_workers else "in-process (num_workers=0)")
    how = f"{how}; the forward waited on the data {100 * data_wait:.1f}% of {timing['loop']:.1f} s"
    log.info("encode %s on %s: %s", model_id, dataset_id, how)
    cache.log_request(kind="images", model=model_id, dataset=dataset_id, n=n, passes=passes)
    cache.finish(key, dict(model=model_id, weights=weights, dataset=dataset_id, data=data, transform=transform_id,
                           subset=subset, precision=precision, n=n, n_shards=i))
    out = cache.load(key)
    return Encoded(out["features"], out["labels"], out["keys"], out["skipped"], from_cache=False,
                   forward_passes=passes, notes=dict(out.get("notes", [])), key=key, data_wait=data_wait, loader=how)


def _fill(template: str | Callable[[str], str], name: str) -> str:
    return template(name) if callable(template) else template.format(name)


def _causal_text_tower(model: Any) -> tuple[Any, str, int | None] | None:
    """(tower, pool type, eos id) of an open_clip text tower whose pooled token sees no later position.

    Under a causal mask the pooled (EOT) token's output depends only on the tokens up to it,
    so the padding behind it can be cut off: the same function in real arithmetic, and ~9x
    less text compute for the 80 OpenAI templates in a 77-token context. Towers without a causal mask,
    last-token pooling, CoCa's appended CLS or a padding mask are not eligible.
    """
    from open_clip.model import CLIP
    from open_clip.transformer import TextTransformer

    if isinstance(model, CLIP):
        tower, pool, eos = model, model.text_pool_type, getattr(model, "text_eos_id", None)
    elif isinstance(getattr(model, "text", None), TextTransformer):
        tower = model.text
        if tower.cls_emb is not None or getattr(tower, "use_pad_mask", False):
            return None
        pool, eos = tower.pool_type, getattr(tower, "eos_id", None)
    else:
        return None
    if getattr(tower, "attn_mask", None) is None or pool not in ("argmax", "eos", "first"):
        return None
    return tower, pool, eos


def _pool_index(tokens: torch.Tensor, pool: str, eos: int | None) -> torch.Tensor:
    """The position open_clip's text_global_pool reads, per row."""
    if pool == "first":
        return torch.zeros(len(tokens), dtype=torch.long, device=tokens.device)
    if pool == "eos":
        return (tokens == eos).int().argmax(dim=-1)
    return tokens.argmax(dim=-1)  # first occurrence of the max, as in text_global_pool


def _encode_text_trimmed(tower: Any, tokens: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """open_clip's text forward over positions [0, max(idx)] only (see _causal_text_tower)."""
    n = int(idx.max()) + 1
    cast = tower.transformer.get_cast_dtype()
    x = tower.token_embedding(tokens[:, :n]).to(cast) + tower.positional_embedding[:n].to(cast)
    x = tower.ln_final(tower.transformer(x, attn_mask=tower.attn_mask[:n, :n]))
    x = x[torch.arange(len(x), device=x.device), idx]
    proj = tower.text_projection
    if proj is not None:
        x = proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj
    return x


def encode_texts(model: Any, tokenizer: Callable, texts: Sequence[str], device: str = "cpu",
                 batch_size: int = 256, trim: bool = True, *, precision: str,
                 progress: bool = False) -> torch.Tensor:
    """L2-normalised text embeddings [T, D], encoded in `precision` (resolved: fp32 | bf16 | fp16).

    For causal open_clip towers (`trim`) the prompts run sorted by length, each batch cut
    after its longest prompt's pooled token; results agree with `model.encode_text` to
    float rounding (~1e-6) and come back in the input order.
    """
    from tqdm.auto import tqdm

    check_resolved(precision, "encode.encode_texts")
    texts = list(texts)
    if not texts:
        return torch.empty(0)
    model = _real(model)
    causal = _causal_text_tower(model) if trim else None
    bar = tqdm(total=len(texts), desc=progress if isinstance(progress, str) else "encode prompts", unit="prompt",
               disable=not progress)
    with bar, _forward_mode(), autocast(device, precision):
        if causal is None:
            out = []
            for s in range(0, len(texts), batch_size):
                out.append(F.normalize(model.encode_text(tokenizer(texts[s:s + batch_size]).to(device)).float(),
                                       dim=-1).cpu())
                bar.update(len(out[-1]))
            return torch.cat(out)
        tower, pool, eos = causal
        tokens = tokenizer(texts).to(device)
        idx = _pool_index(tokens, pool, eos)
        order = torch.argsort(idx.cpu(), stable=True).to(device)
        feats = torch.empty(0)
        for s in range(0, len(texts), batch_size):
            rows = order[s:s + batch_size]
            f = F.normalize(_encode_text_trimmed(tower, tokens[rows], idx[rows]).float(), dim=-1).cpu()
            if s == 0:
                feats = torch.empty(len(texts), f.shape[1])
            feats[rows.cpu()] = f
            bar.update(len(rows))
        return feats


# A head this large takes minutes on a CPU: its progress bar says how to make a quick check instead.
LARGE_HEAD = 2000


def zero_shot_head(model: Any, tokenizer: Callable, classnames: Sequence[str],
                   templates: Sequence[str | Callable[[str], str]], device: str = "cpu", *,
                   model_id: str | None = None, weights: str | None = None,
                   cache: FeatureCache | None = None, precision: str,
                   progress: bool = True) -> torch.Tensor:
    """Class weights [D, C]: mean of the normalised template embeddings per class, renormalised, encoded in
    `precision` (resolved: fp32 | bf16 | fp16).

    Cached when `model_id` is given, keyed by the filled prompts themselves and the precision.
    """
    precision = check_resolved(precision, "encode.zero_shot_head")
    prompts = [[_fill(t, c) for t in templates] for c in classnames]
    key = None
    if model_id is not None:
        cache = cache or FeatureCache()
        weights = weights or getattr(model, "weights_id", None) or weights_hash(model)
        key = head_key(model_id, weights, prompts, precision).name
        hit = cache.load_object(key)
        if hit is not None:
            cache.log_request(kind="text", model=model_id, dataset=f"head-{digest(prompts, 12)}",
                              n=len(classnames) * len(templates), passes=0)
            return hit
    if key is not None:
        cache.check_writable()
    flat = [p for ps in prompts for p in ps]
    desc = (f"text head: {len(classnames)} classes x {len(templates)} templates (quick check: --prompts single)"
            if len(flat) >= LARGE_HEAD and len(templates) > 1 else "text head")
    emb = encode_texts(model, tokenizer, flat, device, precision=precision,
                       progress=desc if progress and len(flat) >= LARGE_HEAD else False)
    emb = emb.view(len(classnames), len(templates), -1)
    head = F.normalize(emb.mean(dim=1), dim=-1).T.contiguous()
    if key is not None:
        cache.save_object(key, head)
        cache.log_request(kind="text", model=model_id, dataset=f"head-{digest(prompts, 12)}", n=len(flat),
                          passes=len(flat))
    return head


def logit_scale_of(model: Any) -> float:
    """exp(logit_scale) of an open_clip model (already exponentiated scalars pass through)."""
    known = getattr(model, "known_logit_scale", None)  # a models.deferred.Deferred as loaded: without building it
    if known is not None:
        return float(known)
    s = getattr(model, "logit_scale", None)
    if s is None:
        return 100.0
    s = torch.as_tensor(s).detach().float()
    return float(s.exp()) if float(s) < 10 else float(s)


def zero_shot_logits(features: torch.Tensor, head: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """logit_scale × cosine similarity between normalised image features and class weights."""
    return logit_scale * (features.float() @ head.float())
