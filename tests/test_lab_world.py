"""The lab world: sampler, renderer, captions/tokenizer, corruptions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from clipstudy.errors import SchemaError, UnknownNameError
from clipstudy.lab import captions as cap
from clipstudy.lab.corrupt import CORRUPTIONS, CORRUPTIONS_3D, SEVERITIES, corrupt
from clipstudy.lab.render import BOUND, render, texture_ink
from clipstudy.lab.world import (PATTERNS, SCENE_COLUMNS, SHAPES, TEXTURES, WorldConfig, in_range, sample_scenes,
                                 validate_frame, views)


@pytest.fixture(scope="module")
def scenes():
    return sample_scenes(60, WorldConfig(), seed=3, shapes=SHAPES)


@pytest.fixture(scope="module")
def rendered(scenes):
    return render(scenes)


def test_sampler_is_seeded_and_in_range():
    a, b, c = sample_scenes(50, seed=1), sample_scenes(50, seed=1), sample_scenes(50, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert list(a.columns) == list(SCENE_COLUMNS)
    assert in_range(a).all().all()
    assert set(a["shape"]) == set(WorldConfig().classes)  # balanced: every class present
    assert (a["label"] == [WorldConfig().classes.index(s) for s in a["shape"]]).all()


def test_config_has_enough_classes_and_distinct_typical_textures():
    cfg = WorldConfig()
    assert len(cfg.classes) >= 10
    typical = [cfg.typical_texture(s) for s in cfg.classes]
    assert len(set(typical)) == len(typical) and "plain" not in typical


@pytest.mark.parametrize("corr", [0.0, 1.0])
def test_shape_texture_correlation(corr):
    cfg = WorldConfig(shape_texture_corr=corr)
    f = sample_scenes(1300, cfg, seed=0)
    typical = (f["texture"] == [cfg.typical_texture(s) for s in f["shape"]]).mean()
    if corr == 1.0:
        assert typical == 1.0
    else:  # uniform over 13 textures: ~1/13 by chance
        assert 0.03 < typical < 0.13


def test_bad_names_and_ranges_are_clear():
    with pytest.raises(UnknownNameError, match="red"):
        WorldConfig(colors=("redd",))
    with pytest.raises(UnknownNameError, match="stripes"):
        WorldConfig(textures=("stripez",))
    with pytest.raises(UnknownNameError):
        WorldConfig(held_out=("dragon",))
    with pytest.raises(ValueError, match="pitch"):
        WorldConfig(pitch=(10.0, -10.0))
    with pytest.raises(ValueError):
        WorldConfig(shape_texture_corr=1.5)
    f = sample_scenes(3)
    with pytest.raises(UnknownNameError, match="background"):
        validate_frame(f.assign(background="space"))
    with pytest.raises(SchemaError):
        validate_frame(f.drop(columns=["yaw"]))
    with pytest.raises(UnknownNameError):
        render(f, camera="fisheye")
    with pytest.raises(UnknownNameError):
        texture_ink("tartan", torch.zeros(2, 3), torch.zeros(2, dtype=torch.int64))


def test_render_outputs(scenes, rendered):
    r, B = rendered, len(scenes)
    assert r.image.shape == (B, 3, 64, 64) and r.image.dtype == torch.uint8
    assert r.depth.shape == (B, 64, 64) and r.mask.dtype == torch.bool and r.coords.shape == (B, 3, 64, 64)
    assert torch.isfinite(r.depth[r.mask]).all()
    assert (r.coords.abs().amax(1)[~r.mask] == 0).all()
    assert r.coords.norm(dim=1)[r.mask].max() <= BOUND + 1e-3
    # every scene shows its object (partly occluded at worst) and some background
    assert (r.mask.flatten(1).sum(1) > 30).all()
    assert (~r.mask).flatten(1).sum(1).min() > 500


def test_render_is_deterministic_and_batch_independent(scenes, rendered):
    again = render(scenes, batch=7)
    assert torch.equal(again.image, rendered.image)
    assert torch.equal(again.mask, rendered.mask)


def test_every_shape_renders_distinctly():
    cfg = WorldConfig()
    f = pd.concat([sample_scenes(1, cfg, seed=0, shapes=(s,)) for s in SHAPES], ignore_index=True)
    f = f.assign(yaw=30.0, pitch=0.0, roll=0.0, occluder=0.0, x=0.0, y=0.0, size=0.8, texture="plain")
    r = render(f.assign(style="silhouette"))
    masks = r.mask.flatten(1).float()
    assert (masks.sum(1) > 150).all()
    iou = (masks @ masks.T) / (masks.sum(1)[:, None] + masks.sum(1)[None] - masks @ masks.T)
    iou.fill_diagonal_(0)
    assert iou.max() < 0.92  # no two shapes have the same silhouette


@pytest.mark.parametrize("name", TEXTURES)
def test_textures_are_visible(name):
    p = torch.rand(4000, 3) * 1.6 - 0.8
    ink = texture_ink(name, p, torch.full((4000,), 5, dtype=torch.int64))
    if name == "plain":
        assert ink.max() == 0
    else:
        assert 0.05 < ink.mean() < 0.95, name


def test_every_texture_shows_on_every_shape():
    """Patterns live in 3D object space; each must actually cross every shape's surface."""
    f = pd.concat([sample_scenes(4, seed=0, shapes=(s,)) for s in SHAPES], ignore_index=True).assign(occluder=0.0)
    r = render(f)
    for t in TEXTURES[1:]:
        fr = torch.tensor([texture_ink(t, r.coords[i][:, r.mask[i]].T, torch.full((int(r.mask[i].sum()),), 3)).mean()
                           for i in range(len(f))]).view(len(SHAPES), 4)
        assert fr.min() > 0.03 and fr.max() < 0.97, (t, fr.min(1).values)
        assert ((fr.mean(1) > 0.1) & (fr.mean(1) < 0.9)).all(), t


def test_styles():
    f = sample_scenes(12, seed=4)
    edges = render(f.assign(style="edges")).image.float() / 255
    sil = render(f.assign(style="silhouette")).image
    white = (edges == 1).float().mean()
    assert 0.8 < white < 0.995  # mostly paper, some lines
    assert set(sil.unique().tolist()) <= {0, 255}
    assert ((sil == 0).flatten(1).float().mean(1) > 0.01).all()


def test_perspective_camera_differs():
    f = sample_scenes(4, seed=5)
    a, b = render(f), render(f, camera="perspective")
    assert b.mask.flatten(1).sum(1).gt(30).all()
    assert not torch.equal(a.image, b.image)


def test_views_are_the_same_object():
    f = sample_scenes(3, seed=6)
    v = views(f, [0.0, 40.0])
    assert len(v) == 6 and (v.groupby("scene")["shape"].nunique() == 1).all()
    dy = (v["yaw"].to_numpy()[1::2] - v["yaw"].to_numpy()[0::2]) % 360
    assert np.allclose(dy, 40.0) and v["yaw"].between(-180, 180).all()


# ------------------------------------------------------------------ captions and tokenizer
def test_captions_and_vocab():
    f = sample_scenes(400, seed=7)
    caps = cap.captions(f, seed=1, per_image=2)
    assert all(len(c) == 2 for c in caps)
    assert all(cap.SHAPE_WORDS[s] in " ".join(c) for s, c in zip(f["shape"], caps))
    flat = [c for cs in caps for c in cs]
    assert any(col not in c for col, c in zip(np.repeat(f["color"], 2), flat))  # attributes get omitted
    assert any(col in c for col, c in zip(np.repeat(f["color"], 2), flat))
    held = [c for cs in cap.captions(f, templates=cap.HELDOUT_TEMPLATES) for c in cs]
    tok = cap.tokenizer(flat + held)
    assert (tok != cap.UNK).all()
    assert not set(flat) & set(held)


def test_tokenizer_is_open_clip_compatible():
    tok = cap.tokenizer(["a photo of a red striped cone.", "a cube"])
    assert tok.shape == (2, cap.CONTEXT_LENGTH) and tok.dtype == torch.long
    assert (tok[:, 0] == cap.SOT).all()
    assert cap.EOT == len(cap.VOCAB) - 1 == tok.max()
    eot_pos = (tok == cap.EOT).float().argmax(1)
    assert torch.equal(tok.argmax(-1), eot_pos)  # open_clip's 'argmax' text pooling finds <eot>
    assert cap.decode(tok)[1] == "a cube"
    long = cap.tokenizer(" ".join(["cube"] * 40))
    assert long[0, -1] == cap.EOT
    with pytest.raises(UnknownNameError, match="dragon"):
        cap.tokenizer("a dragon", strict=True)
    from open_clip.transformer import TextTransformer

    tower = TextTransformer(context_length=cap.CONTEXT_LENGTH, vocab_size=len(cap.VOCAB), width=32, heads=2,
                            layers=1, output_dim=16)
    assert tower(tok).shape == (2, 16)


def test_classnames_follow_labels():
    cfg = WorldConfig(held_out=("cube", "torus"))
    assert cap.classnames(cfg) == list(cfg.classes)
    assert "cube" not in cap.classnames(cfg)


# ------------------------------------------------------------------ corruptions
def test_corruptions_monotonic(scenes, rendered):
    img, depth = rendered.image[:16], rendered.depth[:16]
    for name in CORRUPTIONS:
        assert torch.equal(corrupt(img, depth, name, 0), img)
        dev = [(corrupt(img, depth, name, s).float() - img.float()).abs().mean().item() for s in SEVERITIES]
        assert all(b > a for a, b in zip(dev, dev[1:])), (name, dev)
        assert dev[0] > 0.3, name


def test_corruption_errors(rendered):
    with pytest.raises(UnknownNameError):
        corrupt(rendered.image[:1], rendered.depth[:1], "snowstorm", 1)
    with pytest.raises(ValueError, match="depth"):
        corrupt(rendered.image[:1], None, CORRUPTIONS_3D[0], 1)


def test_3d_corruption_uses_depth(rendered):
    """fog_3d with a nearer scene must be weaker: the corruption reads the depth, not the pixels."""
    img, depth = rendered.image[:8], rendered.depth[:8]
    far = corrupt(img, depth, "fog_3d", 3).float()
    near = corrupt(img, depth - 1.0, "fog_3d", 3).float()
    assert (near - img.float()).abs().mean() < (far - img.float()).abs().mean()
