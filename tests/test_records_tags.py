"""Pure tag derivation for records: open_clip tags and names, timm names, cue-conflict image names."""
from __future__ import annotations

import math

import pytest

from clipstudy.records import tags as T
from clipstudy.records.tables import _open_clip_config, parse_cue_image


@pytest.mark.parametrize("tag, data, size, seen, ft", [
    ("openai", "openai-wit", 400e6, 32 * 400e6, False),
    ("laion400m_e32", "laion400m", 400e6, 32 * 400e6, False),
    ("laion2b_s34b_b79k", "laion2b", 2.32e9, 34e9, False),
    ("datacomp_xl_s13b_b90k", "datacomp-1b", 1.4e9, 13e9, False),
    ("datacomp_s34b_b86k", "datacomp-1b", 1.4e9, 34e9, False),  # 's34b' is samples, not scale 's'
    ("datacomp_m_s128m_b4k", "datacomp-m", 14e6, 128e6, False),
    ("commonpool_xl_clip_s13b_b90k", "commonpool-xl-clip", math.nan, 13e9, False),
    ("commonpool_s_s13m_b4k", "commonpool-s", 12.8e6, 13e6, False),
    ("frozen_laion5b_s13b_b90k", "laion5b", 5.85e9, 13e9, False),
    ("mscoco_finetuned_laion2b_s13b_b90k", "laion2b", 2.32e9, 13e9, True),
    ("laion2b_s29b_b131k_ft_soup", "laion2b", 2.32e9, 29e9, True),
    ("laion_aesthetic_s13b_b82k_augreg", "laion-aesthetic", 900e6, 13e9, False),
    ("metaclip_fullcc", "metaclip-2.5b", 2.5e9, math.nan, False),
    ("dfn5b", "dfn-5b", 5e9, math.nan, False),  # one spelling of DFN with the registry (clipstudy.factors)
    ("webli", "webli", 10e9, math.nan, False),
    ("yfcc15m", "yfcc15m", 15e6, math.nan, False),
])
def test_parse_pretrained(tag, data, size, seen, ft):
    t = T.parse_pretrained(tag)
    assert t["data"] == data and t["finetuned"] is ft
    for got, want in ((t["dataset_size"], size), (t["samples_seen"], seen)):
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


def test_unknown_tag_is_untagged():
    assert T.parse_pretrained("some_new_corpus_s1b")["data"] is None
    assert T.parse_pretrained("v1", "nllb-clip-base")["data"] == "laion-coco-nllb"


@pytest.mark.parametrize("name, loss, family, res", [
    ("ViT-B-32", "clip", "vit", 224), ("coca_ViT-L-14", "coca", "vit", 224),
    ("ViT-SO400M-14-SigLIP-384", "siglip", "vit", 384), ("RN50x64", "clip", "resnet", 448),
    ("convnext_base_w_320", "clip", "convnext", 320), ("ViT-B-16-plus-240", "clip", "vit", 240),
    ("ViT-H-14-378-quickgelu", "clip", "vit", 378), ("EVA02-L-14-336", "clip", "vit", 336),
])
def test_open_clip_name_tags(name, loss, family, res):
    assert T.loss_from_name(name) == loss
    arch = T.open_clip_arch(name)  # name only
    assert (arch["family"], arch["resolution"]) == (family, res)


def test_name_parse_agrees_with_open_clip_configs(shared_data):
    """The name-only fallback gives the same family/resolution as open_clip's own configs."""
    import pandas as pd

    names = pd.read_csv(shared_data / "records/open_clip/openclip_results.csv")["name"].unique()
    seen = 0
    for n in names:
        cfg = _open_clip_config(n)
        if cfg is None or n.startswith("nllb"):  # nllb names do not carry the tower
            continue
        assert T.open_clip_arch(n, cfg) == T.open_clip_arch(n), n
        seen += 1
    assert seen > 50


@pytest.mark.parametrize("name, clip_ft, data, loss", [
    ("vit_base_patch16_clip_224.openai_ft_in1k", True, "openai-wit", "clip"),
    ("convnext_base.clip_laion2b_augreg_ft_in12k_in1k", True, "laion2b", "clip"),
    ("vit_so400m_patch14_siglip_378.webli_ft_in1k", True, "webli", "siglip"),
    ("eva02_large_patch14_448.mim_m38m_ft_in22k_in1k", False, "merged-38m", None),
    ("resnet50.a1_in1k", False, "imagenet-1k", None),
    ("vit_base_patch16_224.augreg2_in21k_ft_in1k", False, "imagenet-21k", None),
    ("resnext101_32x16d.fb_swsl_ig1b_ft_in1k", False, "instagram-1b", None),
])
def test_timm_tags(name, clip_ft, data, loss):
    t = T.timm_tags(name, 224)
    assert T.is_clip_ft(name) is clip_ft
    assert t["group"] == (T.CLIP_FT if clip_ft else T.IMAGENET)
    assert t["data"] == data and t["loss"] == loss


def test_parse_cue_image():
    assert parse_cue_image("0002_s5n_s01_0_bird_00_bird2-clock3.png") == ("bird", "clock")
    assert parse_cue_image("x_airplane1-bicycle2.png") == ("airplane", "bicycle")
    with pytest.raises(ValueError, match="cue-conflict image name"):
        parse_cue_image("bird.png")
