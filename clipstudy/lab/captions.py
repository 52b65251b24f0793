"""Captions from scene factors, a closed lab vocabulary, and a word-level tokenizer for open_clip text towers.

Token ids: 0 = pad, 1 = <unk>, then words, then <sot>, and <eot> = len(VOCAB) - 1 is the LARGEST id,
so open_clip's default text pooling ('argmax' over token ids, as in CLIP.encode_text) picks the
<eot> position. Build the text tower with vocab_size=len(VOCAB), context_length=CONTEXT_LENGTH.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import torch

from ..errors import UnknownNameError
from .world import BACKGROUNDS, COLORS, SHAPES, STYLES, TEXTURES

CONTEXT_LENGTH = 16

SHAPE_WORDS = {s: s for s in SHAPES}
TEXTURE_WORDS = {
    "plain": "plain", "stripes": "striped", "fine_stripes": "pinstriped", "bands": "banded", "checker": "checkered",
    "dots": "dotted", "big_dots": "spotted", "grid": "gridded", "rings": "ringed", "waves": "wavy",
    "zigzag": "zigzag", "blotches": "blotchy", "speckle": "speckled", "camo": "camouflage", "hatch": "hatched",
}
BACKGROUND_WORDS = {
    "plain": "a plain background", "gradient": "a gradient background", "ground_sky": "grass under the sky",
    "clutter": "a cluttered background", "noisy": "a noisy background", "tiles": "a tiled background",
}
STYLE_WORDS = {"shaded": "photo", "edges": "sketch", "silhouette": "silhouette"}
SIZE_WORDS = ("tiny", "small", "", "large", "huge")  # by size bin; "" = medium, not said

# A [...] segment is dropped when a slot inside it is omitted (or empty); {shape} is always said.
TRAIN_TEMPLATES = (
    "a [{style} of a ][{size} ][{color} ][{texture} ]{shape}[ on {bg}].",
    "[a {style} of ]a [{color} ][{texture} ]{shape}.",
    "a [{size} ][{texture} ][{color} ]{shape}[ on {bg}].",
    "[the {style} of ]the {shape}[, {color}][, {texture}].",
    "there is a [{color} ]{shape}[ in front of {bg}].",
    "a [{texture} ]{shape}.",
    "[a {style} showing ]a [{color} ]{shape}[ with a {texture} surface].",
    "a {shape}[ that is {color}].",
    "a [{style} of a ]{shape}.",
    "a [{size} ]{shape}[ on {bg}].",
)
HELDOUT_TEMPLATES = (  # for lab-retrieval only: never seen in training
    "look, a [{color} ]{shape}[ with a {texture} pattern][ on {bg}]!",
    "[in this {style} ]you can see one [{size} ]{shape}[, coloured {color}].",
    "an object shaped like a {shape}[: it is {texture}][ and {color}].",
    "here we have a [{texture} ][{color} ]{shape}[ against {bg}].",
    "[my {style} shows ]a [{color} ][{texture} ]{shape} seen from the side.",
)
# zero-shot prompts over class names (ensemble); SINGLE_TEMPLATE is the one-template knob. The ensemble names
# none of the factors the lab shifts at test time (style, background, size, ...: SHIFT_WORDS), so a gain from
# the ensemble is not a prompt that describes the test shift.
ZS_TEMPLATES = (
    "a photo of a {}.", "a photo of the {}.", "a picture of a {}.", "an image of a {}.", "this is a {}.",
    "there is a {}.", "a {}.", "one {}.",
)
SHIFT_WORDS = ("sketch", "silhouette", "edges", "drawing", "plain", "cluttered", "background", "small", "large",
               "smaller", "larger", "big", "tiny", "occluded", "dark", "bright", "rotated", "partial", "cropped",
               "fog", "foggy", "blurry", "blur", "noise", "noisy")
_LEGACY_ZS = (  # in no prompt set; its words stay in VOCAB, whose sorted order gives the tokenizer's ids (and the
    # embedding rows of every trained lab model)
    "a sketch of a {}.", "a {} on a plain background.", "a silhouette of a {}.", "a small {}.", "a large {}.",
    "there is a {} in front of a cluttered background.",
)
SINGLE_TEMPLATE = ("a photo of a {}.",)

_EXTRA = ("a", "an", "the", "of", "on", "in", "with", "and", "is", "that", "there", "front", "showing",
          "surface", "photo", "sketch", "silhouette", "background", "under", "sky", "grass", "look", "pattern",
          "this", "you", "can", "see", "one", "coloured", "object", "shaped", "like", "it", "behind", "my",
          "shows", "seen", "from", "side", "medium", "picture", "image", "colorful")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _build_vocab() -> tuple[str, ...]:
    words = set(_EXTRA)
    for table in (SHAPE_WORDS, TEXTURE_WORDS, BACKGROUND_WORDS, STYLE_WORDS):
        for w in table.values():
            words.update(_words(w))
    words.update(w for s in SIZE_WORDS for w in _words(s))
    words.update(COLORS)
    for t in TRAIN_TEMPLATES + HELDOUT_TEMPLATES + ZS_TEMPLATES + _LEGACY_ZS:
        words.update(_words(re.sub(r"\{\w*\}|[\[\]]", " ", t)))
    return ("<pad>", "<unk>") + tuple(sorted(words)) + ("<sot>", "<eot>")


VOCAB: tuple[str, ...] = _build_vocab()
WORD_TO_ID = {w: i for i, w in enumerate(VOCAB)}
PAD, UNK, SOT, EOT = 0, 1, len(VOCAB) - 2, len(VOCAB) - 1
assert set(SHAPES) <= set(VOCAB) and set(TEXTURES) <= set(TEXTURE_WORDS) and set(BACKGROUNDS) == set(BACKGROUND_WORDS)
assert set(STYLES) == set(STYLE_WORDS)


def tokenizer(texts: str | list[str], context_length: int = CONTEXT_LENGTH, strict: bool = False) -> torch.Tensor:
    """Texts -> LongTensor [B, context_length]: <sot> words <eot> then pad (truncated, keeping <eot> last).

    Unknown words map to <unk>; with strict=True they raise UnknownNameError instead.
    """
    if isinstance(texts, str):
        texts = [texts]
    out = torch.zeros(len(texts), context_length, dtype=torch.long)
    for i, t in enumerate(texts):
        ids = []
        for w in _words(t):
            if w not in WORD_TO_ID:
                if strict:
                    raise UnknownNameError("lab word", w, list(VOCAB[2:-2]), hint=f"in text {t!r}")
                ids.append(UNK)
            else:
                ids.append(WORD_TO_ID[w])
        ids = [SOT] + ids[: context_length - 2] + [EOT]
        out[i, : len(ids)] = torch.tensor(ids)
    return out


def decode(tokens: torch.Tensor) -> list[str]:
    """Inverse of `tokenizer` (drops special tokens)."""
    return [" ".join(VOCAB[i] for i in row.tolist() if i not in (PAD, SOT, EOT)) for row in tokens]


def classnames(config=None) -> list[str]:
    """Class names in label order for a WorldConfig (default: the base config)."""
    from .world import WorldConfig

    config = config or WorldConfig()
    return [SHAPE_WORDS[s] for s in config.classes]


def _size_word(size: float) -> str:
    return SIZE_WORDS[int(np.digitize(size, [0.45, 0.65, 0.8, 1.05]))]


def _fill(template: str, row, keep) -> str:
    slots = {
        "style": STYLE_WORDS[row.style] if keep[0] else "",
        "size": _size_word(row.size) if keep[1] else "",
        "color": row.color if keep[2] else "",
        "texture": TEXTURE_WORDS[row.texture] if keep[3] else "",
        "shape": SHAPE_WORDS[row.shape],
        "bg": BACKGROUND_WORDS[row.background] if keep[4] else "",
    }

    def segment(m):
        names = re.findall(r"\{(\w+)\}", m.group(1))
        return "" if any(not slots[n] for n in names) else m.group(1)

    text = re.sub(r"\[([^\]]*)\]", segment, template).format(**slots)
    text = re.sub(r"\s+", " ", text).replace(" ,", ",").replace(" .", ".").replace(" !", "!")
    text = re.sub(r"\ba ([aeiou])", r"an \1", text)
    return text.strip()


def captions(frame: pd.DataFrame, seed: int = 0, per_image: int = 1, templates=TRAIN_TEMPLATES,
             p_omit: float = 0.3) -> list[list[str]]:
    """`per_image` captions for each scene: a random template, each attribute omitted with prob `p_omit`."""
    rng = np.random.default_rng([seed, 104729])
    out = []
    for row in frame.itertuples(index=False):
        caps = []
        for _ in range(per_image):
            t = templates[rng.integers(len(templates))]
            keep = rng.random(5) >= p_omit
            caps.append(_fill(t, row, keep))
        out.append(caps)
    return out
