"""Cue-conflict, edges and silhouettes: file-name parsing, the 16-class aggregation, real stimuli."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import clipstudy.datasets as D
import fixtures_layouts as F
from clipstudy.datasets import cue_conflict as cc
from clipstudy.errors import ClipstudyError


def test_sixteen_categories_and_their_imagenet_classes():
    assert cc.CATEGORIES == sorted(cc.CATEGORIES) and len(cc.CATEGORIES) == 16
    sizes = {c: len(ix) for c, ix in cc.IMAGENET_INDICES.items()}
    # counts of the HumanCategories index lists in model-vs-human / texture-vs-shape
    assert sizes == {"airplane": 1, "bear": 4, "bicycle": 2, "bird": 49, "boat": 5, "bottle": 7, "car": 3,
                     "cat": 6, "chair": 4, "clock": 3, "dog": 109, "elephant": 2, "keyboard": 2, "knife": 1,
                     "oven": 1, "truck": 8}
    flat = [i for ix in cc.IMAGENET_INDICES.values() for i in ix]
    assert len(flat) == len(set(flat)) and all(0 <= i < 1000 for i in flat)
    names = D.get("imagenet").classnames()
    assert names[499] == "cleaver" and names[404] == "airliner" and names[766] == "rotisserie"


def test_aggregation_is_mean_over_fine_classes():
    rng = np.random.default_rng(0)
    p = rng.random((3, 1000))
    p /= p.sum(1, keepdims=True)
    agg = cc.aggregate_probabilities(p)
    assert agg.shape == (3, 16)
    for j, c in enumerate(cc.CATEGORIES):
        np.testing.assert_allclose(agg[:, j], p[:, cc.IMAGENET_INDICES[c]].mean(1))
    t = cc.aggregate_probabilities(torch.from_numpy(p))
    np.testing.assert_allclose(t.numpy(), agg)
    # mean, not sum: one confident 'knife' (1 class) beats 'dog' spread over 109 classes
    q = np.zeros((1, 1000))
    q[0, 499] = 0.3
    q[0, cc.IMAGENET_INDICES["dog"]] = 0.7 / 109
    assert cc.decisions(q) == ["knife"]


def test_cue_conflict_parsing(tmp_path):
    items = F.make_cue_conflict(tmp_path)
    ds = D.load("cue-conflict", tmp_path)
    fr = ds.frame.set_index("key")
    for rel, (shape, texture) in items.items():
        assert fr.loc[rel, "shape"] == shape and fr.loc[rel, "texture"] == texture
        assert fr.loc[rel, "label"] == cc.CATEGORIES.index(shape)
        assert fr.loc[rel, "texture_label"] == cc.CATEGORIES.index(texture)
        assert fr.loc[rel, "conflict"] == (shape != texture)
    assert ds.classnames == cc.direct_classnames()


def test_cue_conflict_bad_file_name(tmp_path):
    F.make_cue_conflict(tmp_path)
    F.image(tmp_path / "cat" / "cat_photo.png")
    with pytest.raises(ClipstudyError, match="cat_photo.png"):
        D.load("cue-conflict", tmp_path)


def test_cue_conflict_shape_must_match_folder(tmp_path):
    F.make_cue_conflict(tmp_path)
    F.image(tmp_path / "cat" / "dog1-cat2.png")
    with pytest.raises(ClipstudyError, match="dog1-cat2.png"):
        D.load("cue-conflict", tmp_path)


def test_real_stimuli(shared_data, monkeypatch):
    """The real texture-vs-shape images in ../shared/data/stimuli: 80 / 160 / 160 images."""
    monkeypatch.setenv("CLIPSTUDY_DATA", str(shared_data))
    conflict, edges, sil = D.load("cue-conflict"), D.load("edges"), D.load("silhouettes")
    assert (len(conflict), len(edges), len(sil)) == (80, 160, 160)
    for ds in (conflict, edges, sil):
        assert sorted(set(ds.frame["shape"])) == cc.CATEGORIES
        assert (ds.frame.label == [cc.CATEGORIES.index(s) for s in ds.frame["shape"]]).all()
        assert ds.frame.groupby("shape").size().nunique() == 1  # balanced: 5 or 10 per class
        assert (ds.frame.key.str.split("/").str[0] == ds.frame["shape"]).all()
    fr = conflict.frame
    assert fr.texture.isin(cc.CATEGORIES).all()
    parsed = fr.key.str.extract(r"/([a-z]+)\d+-([a-z]+)\d+\.png$")
    assert (parsed[0] == fr["shape"]).all() and (parsed[1] == fr.texture).all()
    assert fr.conflict.sum() == (fr["shape"] != fr.texture).sum()
    img, label, key = conflict[0]
    assert img.ndim == 3 and img.shape[0] == 3 and label == fr.label[0]


def test_real_stimuli_through_the_engine_with_random_vit(shared_data, monkeypatch):
    """Pipeline test only (random weights; no number here is a finding): real cue-conflict images of
    four classes go through open_clip's ViT-B-32 preprocess, the engine and a direct 16-way head."""
    import open_clip
    from torch.utils.data import Subset

    from clipstudy.encode import encode_images, zero_shot_head, zero_shot_logits

    monkeypatch.setenv("CLIPSTUDY_DATA", str(shared_data))
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    ds = D.load("cue-conflict", transform=preprocess)
    first = ds.frame.groupby("label").head(1).index.tolist()[::4]  # 4 images keep it fast on 2 CPUs
    enc = encode_images(model, Subset(ds, first), precision="fp32", model_id="ViT-B-32/random",
                        dataset_id="cue-conflict-4",
                        batch_size=16, progress=False, weights="random-seed0")
    assert enc.features.shape == (4, 512) and enc.skipped == []
    assert enc.labels.tolist() == [0, 4, 8, 12]
    assert enc.keys == [ds.keys[i] for i in first]
    torch.testing.assert_close(enc.features.norm(dim=1), torch.ones(4))
    head = zero_shot_head(model, open_clip.get_tokenizer("ViT-B-32"), cc.direct_classnames(), ["a photo of a {}."],
                          precision="fp32")
    logits = zero_shot_logits(enc.features, head, 100.0)
    assert logits.shape == (4, 16) and torch.isfinite(logits).all()
