"""The curated real-model zoo: every entry exists in open_clip / timm, and the factors are covered."""
from __future__ import annotations

import pytest

from clipstudy.factors import DATA_SIZES
from clipstudy.models.registry import _curated


def commonpool_filter(name: str) -> str | None:
    """'basic' | 'clip' | 'laion' | 'image' | 'text' | 'none' for CommonPool entries, else None."""
    tag = name.split("/", 1)[-1]
    if not tag.startswith("commonpool_"):
        return None
    part = tag.split("_")[2]
    return "none" if part.startswith("s") and part[1:].rstrip("mb").isdigit() else part


@pytest.fixture(scope="module")
def rows():
    return [s.row() for s in _curated().values()]


def test_size_and_unique_names(rows):
    assert len(rows) >= 60
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names))


def test_open_clip_entries_exist(rows):
    import open_clip

    known = set(open_clip.list_pretrained())  # no network needed
    missing = [(r["arch"], r["pretrained"]) for r in rows if r["source"] == "open_clip"
               and (r["arch"], r["pretrained"]) not in known]
    assert not missing


def test_timm_entries_exist_with_imagenet_heads(rows):
    import timm

    known = set(timm.list_models(pretrained=True))
    for r in (r for r in rows if r["source"] == "timm"):
        assert r["arch"] in known, r["arch"]
        cfg = timm.models.get_pretrained_cfg(r["arch"])
        assert cfg.num_classes == 1000  # fine-tuned with the 1000-class head
        assert cfg.input_size[-1] == r["resolution"], r["arch"]
        assert r["finetuned"] and ("ft_in1k" in r["arch"] or "ft_in12k_in1k" in r["arch"])


def test_open_clip_resolution_matches_model_config(rows):
    import open_clip

    for r in (r for r in rows if r["source"] == "open_clip"):
        size = open_clip.get_model_config(r["arch"])["vision_cfg"]["image_size"]
        size = size[-1] if isinstance(size, (list, tuple)) else size
        assert size == r["resolution"], r["name"]


def test_factors_are_covered(rows):
    arch = {r["arch"] for r in rows}
    assert {"RN50", "RN50x4", "RN50x16", "RN50x64", "RN101", "ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-H-14",
            "ViT-g-14", "ViT-bigG-14"} <= arch
    fam = {r["family"] for r in rows}
    assert fam == {"resnet", "vit", "convnext"}  # EVA-CLIP towers are ViTs (clipstudy.factors.ARCHITECTURES)
    data = {r["data"] for r in rows}
    assert {"openai-wit", "laion400m", "laion2b", "datacomp-1b", "dfn-2b", "metaclip-400m", "yfcc15m",
            "cc12m"} <= data
    assert {"commonpool-s", "commonpool-m", "commonpool-l", "commonpool-xl"} <= data
    assert {"commonpool-s-clip", "commonpool-m-basic", "commonpool-xl-laion"} <= data  # filtered pools, as records
    assert {"datacomp-s", "datacomp-m", "datacomp-l", "datacomp-1b"} <= data
    filters = {commonpool_filter(r["name"]) for r in rows} - {None}
    assert {"none", "basic", "clip", "laion", "image", "text"} <= filters
    assert {r["loss"] for r in rows} == {"clip", "siglip", "coca"}
    assert any(r["finetuned"] and "ft_in1k" in r["arch"] for r in rows)
    assert any(r["finetuned"] and "ft_in12k_in1k" in r["arch"] for r in rows)
    for r in rows:  # a filtered CommonPool's size is unknown (only its pool's is published)
        assert (r["data"] in DATA_SIZES or commonpool_filter(r["name"]) not in (None, "none")) and \
            r["samples_seen"] > 0


def test_samples_seen_agree_with_tags(rows):
    """Where a tag names the samples seen (`s34b`, `s13m`, `s1b`), the recorded number matches it."""
    import re

    unit = {"m": 1e6, "b": 1e9}
    for r in rows:
        m = re.search(r"(?:^|_)s(\d+)([mb])(?:_|$)", r["pretrained"] or "")
        if r["source"] == "open_clip" and m:
            # tags round to whole units: s13b = 12.8B, s1b = 1.28B
            assert round(r["samples_seen"] / unit[m.group(2)]) == int(m.group(1)), r["name"]


def test_specs_build_model_specs(rows):
    specs = list(_curated().values())
    assert len(specs) == len(rows)
    assert specs[0].name == "RN50/openai" and specs[0].family == "resnet"
