"""Image-text retrieval recall@K in both directions, several captions per image."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._arrays import check_nonempty, stable_rank, to_numpy

_CHUNK = 512  # rows per block: keeps the [block, n] comparison matrices small


def _text_owner(image_to_texts: Sequence[Sequence[int]], n_images: int, n_texts: int) -> np.ndarray:
    if len(image_to_texts) != n_images:
        raise ValueError(f"image_to_texts has {len(image_to_texts)} entries but similarity has {n_images} image rows")
    owner = np.full(n_texts, -1, dtype=np.int64)
    for i, texts in enumerate(image_to_texts):
        t = np.asarray(list(texts), dtype=np.int64)
        if t.size == 0:
            raise ValueError(f"image {i} has no captions in image_to_texts")
        if t.min() < 0 or t.max() >= n_texts:
            raise ValueError(f"image {i}: caption index out of range [0, {n_texts})")
        if (owner[t] != -1).any():
            raise ValueError(f"image {i}: a caption index is already assigned to another image")
        owner[t] = i
    if (owner == -1).any():
        raise ValueError(f"{int((owner == -1).sum())} text column(s) belong to no image in image_to_texts")
    return owner


def retrieval_recall(
    similarity: Any, image_to_texts: Sequence[Sequence[int]], ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Recall@K (fractions) as {"image_to_text_R@K": .., "text_to_image_R@K": ..}.

    similarity [n_images, n_texts]; image_to_texts[i] lists the text columns captioning image i
    (each text belongs to exactly one image).
    - image->text: image i is a hit at K if any of its captions is among its top-K texts;
    - text->image: text j is a hit at K if its image is among its top-K images.
    Ties are broken by index (lower index ranks first), as a stable descending sort does.
    """
    s = to_numpy(similarity)
    if s.ndim != 2:
        raise ValueError(f"similarity: expected [n_images, n_texts], got shape {s.shape}")
    s = s.astype(np.float64 if s.dtype == np.float64 else np.float32, copy=False)
    if np.isnan(s).any():
        raise ValueError("similarity: contains NaN values")
    n_img, n_txt = s.shape
    check_nonempty(n_img, "similarity (images)")
    ks = [int(k) for k in ks]
    if any(k < 1 for k in ks):
        raise ValueError(f"ks must be positive integers, got {ks}")
    owner = _text_owner(image_to_texts, n_img, n_txt)

    # image -> text: best (smallest) rank among each image's captions
    best_i2t = np.empty(n_img, dtype=np.int64)
    for i, texts in enumerate(image_to_texts):
        caps = np.asarray(list(texts), dtype=np.int64)
        best_i2t[i] = stable_rank(np.broadcast_to(s[i], (len(caps), n_txt)), caps).min()

    # text -> image: rank of the owning image in each text's column
    st = s.T
    rank_t2i = np.empty(n_txt, dtype=np.int64)
    for lo in range(0, n_txt, _CHUNK):
        rank_t2i[lo : lo + _CHUNK] = stable_rank(st[lo : lo + _CHUNK], owner[lo : lo + _CHUNK])

    out = {}
    for k in ks:
        out[f"image_to_text_R@{k}"] = float(np.mean(best_i2t < k))
    for k in ks:
        out[f"text_to_image_R@{k}"] = float(np.mean(rank_t2i < k))
    return out
