"""Named lab sets: each shift changes only what it says; caching; the engine's dataset protocol."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from clipstudy.errors import UnknownNameError
from clipstudy.lab import sets
from clipstudy.lab.corrupt import CORRUPTIONS
from clipstudy.lab.world import SCENE_COLUMNS, WorldConfig, in_range

N = 36


@pytest.fixture(scope="module")
def val():  # module scope runs before the per-test isolated cache is set, so never touch the cache here
    return sets.build("lab-val", n=N, cache=False)


def test_unknown_set_name():
    with pytest.raises(UnknownNameError, match="lab-sketch"):
        sets.build("lab-skecth")


def test_val_and_v2(val):
    v2 = sets.build("lab-v2", n=N)
    assert val.images.shape == (N, 3, 64, 64) and val.images.dtype == torch.uint8
    assert in_range(val.factors).all().all() and in_range(v2.factors).all().all()
    assert not np.allclose(val.factors["yaw"], v2.factors["yaw"])  # fresh scenes
    assert val.classnames == list(WorldConfig().classes)


@pytest.mark.parametrize("name,style", [("lab-sketch", "edges"), ("lab-silhouette", "silhouette")])
def test_style_sets_change_only_style(val, name, style):
    s = sets.build(name, n=N)
    assert (s.factors["style"] == style).all()
    others = [c for c in SCENE_COLUMNS if c != "style"]
    pd.testing.assert_frame_equal(s.factors[others], val.factors[others])
    assert torch.equal(s.labels, val.labels)
    assert not torch.equal(s.images, val.images)


def test_cue_conflict():
    cfg = WorldConfig()
    s = sets.build("lab-cue-conflict", n=N)
    f = s.factors
    own = [cfg.typical_texture(sh) for sh in f["shape"]]
    assert (f["texture"] != own).all()
    assert (f["texture"] == [cfg.typical_texture(c) for c in f["texture_class"]]).all()
    assert (f["texture_label"] != f["shape_label"]).all()
    assert (f["texture_class"] == [cfg.classes[i] for i in f["texture_label"]]).all()
    assert torch.equal(s.labels, torch.tensor(f["shape_label"].to_numpy()))


def test_factors_shift_only_their_factor():
    n = 12
    s = sets.build("lab-factors", n=n)
    f = s.factors
    assert set(f["factor"]) == {"none", *sets.SHIFT_FACTORS}
    ctrl = f[f["factor"] == "none"].reset_index(drop=True)
    assert in_range(ctrl).all().all()
    ranged = {"pose": ["pitch", "roll"], "smaller": ["size"], "larger": ["size"], "partial_view": ["x", "y"],
              "occlusion": ["occluder"], "lighting": ["light_el", "brightness"], "background": ["background"],
              "texture": ["texture"], "color": ["color"], "style": ["style"]}
    for fac in sets.SHIFT_FACTORS:
        sh = f[f["factor"] == fac].reset_index(drop=True)
        assert len(sh) == n
        same = [c for c in SCENE_COLUMNS if c not in sets.SHIFT_COLUMNS[fac]]
        pd.testing.assert_frame_equal(sh[same], ctrl[same], obj=fac)
        ok = in_range(sh)
        assert (~ok[ranged[fac]].all(axis=1)).all(), f"{fac}: some rows still in the training range"
        others = [c for c in ok.columns if c not in ranged[fac] and c not in sets.SHIFT_COLUMNS[fac]]
        assert ok[others].all().all(), fac


def test_shift_refuses_when_nothing_is_out_of_range():
    cfg = WorldConfig(backgrounds=("plain", "gradient", "ground_sky", "clutter", "noisy", "tiles"))
    with pytest.raises(ValueError, match="background"):
        sets.shift(sets.sample_scenes(3, cfg), "background", cfg)
    with pytest.raises(UnknownNameError):
        sets.shift(sets.sample_scenes(3), "weather", WorldConfig())


def test_3dcc_monotonic():
    n = 8
    s = sets.build("lab-3dcc", n=n)
    f = s.factors
    assert len(s) == n * (1 + len(CORRUPTIONS) * 5)
    clean = s.images[(f["corruption"] == "none").to_numpy()].float()
    for c in CORRUPTIONS:
        dev = []
        for sev in range(1, 6):
            sel = ((f["corruption"] == c) & (f["severity"] == sev)).to_numpy()
            assert (f.loc[sel, "scene"].to_numpy() == np.arange(n)).all()
            dev.append((s.images[sel].float() - clean).abs().mean().item())
        assert all(b > a for a, b in zip(dev, dev[1:])), (c, dev)


def test_ood():
    s = sets.build("lab-ood", n=40)
    f = s.factors
    assert (s.labels == -1).all()
    near = f[f["ood"] == "near"]
    assert len(near) == 20 and set(near["shape"]) <= set(WorldConfig().held_out)
    assert set(f.loc[f["ood"] == "far", "kind"]) == {"texture", "noise"}


def test_retrieval():
    s = sets.build("lab-retrieval", n=20)
    texts, idx = s.texts()
    assert all(len(c) == 5 for c in s.captions) and len(texts) == 100
    assert texts[idx[3][2]] == s.captions[3][2]
    assert all(sh in " ".join(c) for sh, c in zip(s.factors["shape"], s.captions))


def test_multiview_correspondences_are_the_same_3d_point():
    s = sets.build("lab-multiview", n=10)
    coords, corr = s.extras["coords"].float(), s.extras["correspondences"]
    assert len(s) == 20 and len(corr) == 10
    f = s.factors
    assert (f["scene"].to_numpy() == np.repeat(np.arange(10), 2)).all()
    sizes = []
    for k, c in enumerate(corr):
        c = c.long()
        sizes.append(len(c))
        if len(c) == 0:
            continue
        a = coords[2 * k][:, c[:, 0], c[:, 1]]
        b = coords[2 * k + 1][:, c[:, 2], c[:, 3]]
        # one pixel spans about 2/64/size object units; rounding to a pixel may move up to ~1 pixel
        tol = 2.5 * 2 / 64 / f["size"].iloc[2 * k]
        assert (a - b).norm(dim=0).median() < tol / 2
        assert (a - b).norm(dim=0).quantile(0.95) < tol
        assert s.extras["mask"][2 * k][c[:, 0], c[:, 1]].all() and s.extras["mask"][2 * k + 1][c[:, 2], c[:, 3]].all()
    assert np.median(sizes) > 100


def test_dataset_protocol(val):
    ds = val.dataset()
    x, y, key = ds[3]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and isinstance(y, int) and key == "lab-val/000003"
    assert torch.allclose(x, val.normalised(slice(3, 4))[0])
    assert -2.5 < x.min() < x.max() < 2.5
    import torchvision.transforms as T

    x2, _, _ = val.dataset(T.Compose([T.Resize(32), T.ToTensor()]))[0]
    assert x2.shape == (3, 32, 32)


def test_cache_roundtrip_and_corrupt_file(val, tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPSTUDY_CACHE", str(tmp_path))
    path = sets.cache_path("lab-val", WorldConfig(), N, sets.DEFAULT_SEED["lab-val"], 64)
    assert not path.exists()
    first = sets.build("lab-val", n=N)
    assert path.exists() and str(path).startswith(str(tmp_path))
    assert torch.equal(first.images, val.images)
    again = sets.build("lab-val", n=N)
    assert torch.equal(again.images, val.images)
    pd.testing.assert_frame_equal(again.factors, val.factors)
    assert again.captions == val.captions
    fresh = sets.build("lab-val", n=N, cache=False)
    assert torch.equal(fresh.images, val.images)  # same seed -> byte-identical
    path.write_bytes(path.read_bytes()[:1000])  # truncated, as after a crash
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = sets.build("lab-val", n=N)
    assert torch.equal(rebuilt.images, val.images)
    assert sets.build("lab-val", n=N).meta["n"] == N  # the rebuilt file is readable
    assert sets.cache_path("lab-val", WorldConfig(shape_texture_corr=0.9), N, 2, 64) != path
    assert sets.cache_path("lab-val", WorldConfig(), N, 3, 64) != path


def test_train_set_has_captions_and_follows_config():
    cfg = WorldConfig(shape_texture_corr=1.0, backgrounds=("plain",))
    s = sets.build("lab-train", cfg, n=24)
    assert all(len(c) == 3 for c in s.captions)
    assert (s.factors["background"] == "plain").all()
    assert (s.factors["texture"] == [cfg.typical_texture(x) for x in s.factors["shape"]]).all()
