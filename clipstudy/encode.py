"""The one engine: batched image and text encoding, zero-shot heads, cached features.

Every axis of the study reads image features from here, so each (model, dataset)
is encoded once: a second request with the same key computes nothing, and an
interrupted encode resumes from its finished shards.
"""
from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from .cache import FeatureCache, digest

SHARD_SIZE = 2048


@dataclass
class Encoded:
    """Image features of one dataset: L2-normalised for CLIPs, logits for classifiers."""

    features: torch.Tensor
    labels: torch.Tensor
    keys: list[str]
    skipped: list[str] = field(default_factory=list)
    from_cache: bool = False
    forward_passes: int = 0  # images pushed through the model by this call

    def __len__(self) -> int:
        return len(self.keys)


def collate_skip(batch: list[tuple]) -> tuple[torch.Tensor | None, torch.Tensor, list[str], list[str]]:
    """Stack the readable images; name the unreadable ones (image None) instead of failing."""
    ok = [b for b in batch if b[0] is not None]
    bad = [b[2] for b in batch if b[0] is None]
    if not ok:
        return None, torch.empty(0, dtype=torch.long), [], bad
    images = torch.stack([b[0] for b in ok])
    labels = torch.as_tensor([int(b[1]) for b in ok], dtype=torch.long)
    return images, labels, [str(b[2]) for b in ok], bad


def autocast(device: str):
    """bf16 (or fp16) autocast on GPU; full precision on CPU, where autocast only slows CLIPs down."""
    if str(device).startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


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


def weights_hash(model: torch.nn.Module) -> str:
    """Hash of every parameter and buffer, so retrained or swapped weights never hit stale features.

    Recomputed on every call (about 0.4 s for a ViT-B-32 on CPU): a memo keyed on tensor
    versions would miss updates made through `.data`, and stale features are worse than slow.
    """
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(memoryview(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()[:16]


def _encode_fn(model: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    return model.encode_image if hasattr(model, "encode_image") else model


def encode_images(model: Any, dataset: Dataset, *, model_id: str, dataset_id: str,
                  transform_id: str = "default", subset: str = "all", batch_size: int = 64,
                  device: str = "cpu", num_workers: int = 0, weights: str | None = None,
                  normalize: bool | None = None, cache: FeatureCache | None = None,
                  shard_size: int = SHARD_SIZE, progress: bool = True) -> Encoded:
    """Encode every image of `dataset` (items `(image, label, key)`), through the cache.

    `normalize` defaults to True for CLIP image towers and False for classifiers
    (models flagged `is_classifier`), whose outputs are logits.
    """
    from tqdm.auto import tqdm

    cache = cache or FeatureCache()
    if normalize is None:
        normalize = not getattr(model, "is_classifier", False)
    weights = weights or getattr(model, "weights_id", None) or weights_hash(model)
    n = len(dataset)
    key = cache.key(model_id, weights, dataset_id, transform_id, subset, n=n, normalize=normalize)
    hit = cache.load(key)
    if hit is not None:
        cache.log_request(kind="images", model=model_id, dataset=dataset_id, n=n, passes=0)
        return Encoded(hit["features"], hit["labels"], hit["keys"], hit["skipped"], from_cache=True)

    n_shards = max(1, -(-n // shard_size))
    enc = _encode_fn(model)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    passes = 0
    bar = tqdm(total=n, desc=f"encode {model_id} on {dataset_id}", unit="img", disable=not progress)
    try:
        for i in range(n_shards):
            idx = range(i * shard_size, min(n, (i + 1) * shard_size))
            done = cache.load_shard(key, i)
            if done is not None:  # finished before an interruption
                bar.update(len(idx))
                continue
            loader = DataLoader(Subset(dataset, idx), batch_size=batch_size, num_workers=num_workers,
                                collate_fn=collate_skip, pin_memory=str(device).startswith("cuda"),
                                persistent_workers=False)
            feats, labels, keys, skipped = [], [], [], []
            with torch.inference_mode(), autocast(device):
                for images, y, k, bad in _batches(loader, in_process=num_workers == 0):
                    skipped += bad
                    if images is not None:
                        out = enc(images.to(device, non_blocking=True)).float()
                        if normalize:
                            out = F.normalize(out, dim=-1)
                        feats.append(out.cpu())
                        labels.append(y)
                        keys += k
                        passes += len(k)
                    bar.update(len(k) + len(bad))
            dim = feats[0].shape[1] if feats else 0
            cache.save_shard(key, i, dict(
                features=torch.cat(feats) if feats else torch.empty(0, dim),
                labels=torch.cat(labels) if labels else torch.empty(0, dtype=torch.long),
                keys=keys, skipped=skipped))
    finally:
        bar.close()
        if was_training:
            model.train()
    cache.log_request(kind="images", model=model_id, dataset=dataset_id, n=n, passes=passes)
    cache.finish(key, dict(model=model_id, weights=weights, dataset=dataset_id, transform=transform_id,
                           subset=subset, n=n, n_shards=n_shards))
    out = cache.load(key)
    return Encoded(out["features"], out["labels"], out["keys"], out["skipped"], from_cache=False,
                   forward_passes=passes)


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
                 batch_size: int = 256, trim: bool = True) -> torch.Tensor:
    """L2-normalised text embeddings [T, D].

    For causal open_clip towers (`trim`) the prompts run sorted by length, each batch cut
    after its longest prompt's pooled token; results agree with `model.encode_text` to
    float rounding (~1e-6) and come back in the input order.
    """
    texts = list(texts)
    if not texts:
        return torch.empty(0)
    causal = _causal_text_tower(model) if trim else None
    with torch.inference_mode(), autocast(device):
        if causal is None:
            out = [F.normalize(model.encode_text(tokenizer(texts[s:s + batch_size]).to(device)).float(), dim=-1).cpu()
                   for s in range(0, len(texts), batch_size)]
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
        return feats


def zero_shot_head(model: Any, tokenizer: Callable, classnames: Sequence[str],
                   templates: Sequence[str | Callable[[str], str]], device: str = "cpu", *,
                   model_id: str | None = None, weights: str | None = None,
                   cache: FeatureCache | None = None) -> torch.Tensor:
    """Class weights [D, C]: mean of the normalised template embeddings per class, renormalised.

    Cached when `model_id` is given, keyed by the filled prompts themselves.
    """
    prompts = [[_fill(t, c) for t in templates] for c in classnames]
    key = None
    if model_id is not None:
        cache = cache or FeatureCache()
        weights = weights or getattr(model, "weights_id", None) or weights_hash(model)
        key = cache.key(model_id, weights, "zero-shot-head", digest(prompts, 24))
        hit = cache.load_object(key)
        if hit is not None:
            cache.log_request(kind="text", model=model_id, dataset=f"head-{digest(prompts, 12)}",
                              n=len(classnames) * len(templates), passes=0)
            return hit
    flat = [p for ps in prompts for p in ps]
    emb = encode_texts(model, tokenizer, flat, device).view(len(classnames), len(templates), -1)
    head = F.normalize(emb.mean(dim=1), dim=-1).T.contiguous()
    if key is not None:
        cache.save_object(key, head)
        cache.log_request(kind="text", model=model_id, dataset=f"head-{digest(prompts, 12)}", n=len(flat),
                          passes=len(flat))
    return head


def logit_scale_of(model: Any) -> float:
    """exp(logit_scale) of an open_clip model (already exponentiated scalars pass through)."""
    s = getattr(model, "logit_scale", None)
    if s is None:
        return 100.0
    s = torch.as_tensor(s).detach().float()
    return float(s.exp()) if float(s) < 10 else float(s)


def zero_shot_logits(features: torch.Tensor, head: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """logit_scale × cosine similarity between normalised image features and class weights."""
    return logit_scale * (features.float() @ head.float())
