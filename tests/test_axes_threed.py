"""The 3D tables of clipstudy.axes.threed (corruption accuracy, correspondence, pixel features) and the lab
towers' dense features they use. Pure functions on small synthetic inputs whose answers are known by construction."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from clipstudy.axes import threed
from clipstudy.lab import evaluate as lab_eval


def _3dcc_factors():
    f = [dict(corruption="none", severity=0)] * 4
    for c in ("fog_3d", "contrast"):
        for s in (1, 2):
            f += [dict(corruption=c, severity=s)] * 4
    return pd.DataFrame(f)


def test_corruption_accuracy_and_kind_summary():
    f = _3dcc_factors()
    correct = np.r_[[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0]]
    t = threed.corruption_accuracy(correct, f)
    fog = t[t["corruption"] == "fog_3d"].set_index("severity")["accuracy"]
    assert fog.to_dict() == {0: 0.75, 1: 0.5, 2: 0.25}
    assert t.set_index("corruption")["kind"].to_dict() == {"fog_3d": "3D", "contrast": "2D"}
    k = threed.kind_summary(t).set_index("kind")
    assert k.loc["3D", "drop"] == pytest.approx(0.75 - 0.375)
    assert k.loc["2D", "drop"] == pytest.approx(0.75 - 0.875)
    custom = threed.corruption_accuracy(correct, f, kinds={"contrast": "3D"})
    assert set(custom["kind"]) == {"3D", "2D"} and (custom[custom["corruption"] == "contrast"]["kind"] == "3D").all()
    with pytest.raises(ValueError, match="correctness values"):
        threed.corruption_accuracy(correct[:-1], f)
    with pytest.raises(ValueError, match="severity"):
        threed.corruption_accuracy(correct, f.drop(columns="severity"))
    with pytest.raises(ValueError, match="no clean"):
        threed.corruption_accuracy(correct[4:], f.iloc[4:])


def _coord_features(size, shift=0):
    """One-hot-like features that encode each pixel's position (shifted by `shift` columns)."""
    r, c = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    c = c - shift
    ang = [r * 0.37, c * 0.37, r * 0.91, c * 0.91, r * 1.7, c * 1.7]
    return torch.stack([t(a) for a in ang for t in (torch.sin, torch.cos)]).float()


def test_match_errors_recovers_known_shift():
    size = 16
    fa, fb = _coord_features(size), _coord_features(size, shift=3)  # B's pixel (r, c+3) looks like A's (r, c)
    corr = np.array([[r, c, r, c + 3] for r in range(2, 14, 3) for c in range(0, 10, 3)])
    e = threed.match_errors(fa, fb, corr, size)
    assert np.allclose(e, 0)
    e_bad = threed.match_errors(fa, fb, corr[:, [0, 1, 0, 1]], size)  # a wrong ground truth is 3 px off
    assert np.allclose(e_bad, 3)
    rec = threed.recall_at(e_bad, radii=(2, 4))
    assert rec == {"recall@2px": 0.0, "recall@4px": 1.0}
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[0, 0] = True  # only one candidate: every match lands on (0, 0)
    e_m = threed.match_errors(fa, fb, corr[:2], size, mask_b=mask)
    assert np.allclose(e_m, np.hypot(corr[:2, 2], corr[:2, 3]))
    assert len(threed.match_errors(fa, fb, corr, size, max_points=5)) == 5
    with pytest.raises(ValueError, match=r"\[K, 4\]"):
        threed.match_errors(fa, fb, corr[:, :3], size)
    with pytest.raises(ValueError, match="no object pixel"):
        threed.match_errors(fa, fb, corr, size, mask_b=torch.zeros(size, size, dtype=torch.bool))
    with pytest.raises(ValueError, match="channels differ"):
        threed.match_errors(fa, fb[:4], corr, size)


def test_correspondence_table_and_upsampled_features():
    size = 16
    feats = torch.stack([_coord_features(size), _coord_features(size, shift=2)])
    corr = [np.array([[r, c, r, c + 2] for r in range(0, 16, 4) for c in range(0, 12, 4)])]
    t = threed.correspondence_table(feats, [(0, 1)], corr, size, radii=(1, 8))
    assert t["recall"].tolist() == [1.0, 1.0] and t["n_points"].iloc[0] == 12
    with pytest.raises(ValueError, match="pairs but"):
        threed.correspondence_table(feats, [(0, 1), (1, 0)], corr, size)
    assert np.isnan(threed.recall_at([], radii=(2,))["recall@2px"])


@pytest.mark.parametrize("arch", ["vit", "resnet", "convnext"])
def test_dense_features_of_lab_towers_have_the_same_grid(arch):
    from clipstudy.lab.train import build_clip

    torch.manual_seed(0)
    m = build_clip(arch).eval()
    x = torch.randn(2, 3, 64, 64)
    f, info = lab_eval.dense_features(m, x, stride=8)
    assert f.shape[0] == 2 and f.shape[-2:] == (8, 8) and info["grid"] == 8 and info["channels"] == f.shape[1]
    with pytest.raises(ValueError, match="no feature map"):
        lab_eval.dense_features(m, x, stride=1)
    with pytest.raises(TypeError):
        lab_eval.tower_of(torch.nn.Linear(2, 2))


def test_pixel_features_shape_and_centering():
    img = torch.randint(0, 256, (2, 3, 10, 10), dtype=torch.uint8)
    f = threed.pixel_features(img, patch=3)
    assert f.shape == (2, 28, 10, 10)
    assert torch.allclose(f[:, :27].mean(1), torch.zeros(2, 10, 10), atol=1e-6)


def test_3d_effective_robustness_is_in_accuracy_on_a_known_line():
    """C1's ER is corrupted top-1 minus what the zoo's logit-linear line predicts from clean top-1, in accuracy
    (as every ER of the book); the logit residual is kept beside it. On points exactly on a logit line plus one
    recipe lifted by 0.05 in accuracy (the line refits through it, so it keeps most of the lift), the lifted
    recipe's ER is close under +0.05 in accuracy while its logit residual is several times larger."""
    from scipy.special import expit, logit

    clean = np.array([0.5, 0.6, 0.7, 0.8, 0.55, 0.65])
    corrupted = expit(0.8 * logit(clean) - 0.4)
    recipes = ["base", "base", "arch-vit", "arch-vit", "arch-convnext", "arch-convnext"]
    corrupted[recipes.index("arch-convnext")] += 0.05
    rows = []
    for i, (r, c, k) in enumerate(zip(recipes, clean, corrupted)):
        rows.append({"model": r, "seed": i, "kind": "none", "severity": 0, "accuracy": c})
        rows += [{"model": r, "seed": i, "kind": "3D", "severity": s, "accuracy": k} for s in (1, 2, 3, 4, 5)]
    er = threed.threed_er(pd.DataFrame(rows)).set_index("seed")
    lifted = recipes.index("arch-convnext")
    assert 0.03 < er.loc[lifted, "value"] <= 0.05  # in accuracy, not logits
    assert er.drop(index=lifted)["value"].abs().max() < 0.02
    assert er.loc[lifted, "value_logit"] > 3 * er.loc[lifted, "value"]  # the logit residual, kept as a secondary
    ref = corrupted - expit(np.polyval(np.polyfit(logit(clean), logit(corrupted), 1), logit(clean)))
    assert np.allclose(er["value"].to_numpy(), ref[er.index.to_numpy()], atol=1e-9)  # the same line, brute force
