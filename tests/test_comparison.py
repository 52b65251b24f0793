"""Two models paired over the same images: McNemar's exact p, the paired bootstrap, Holm across datasets, and
`clipstudy compare` end to end on tiny random CLIPs (pipeline checks only)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clipstudy import comparison
from clipstudy import effects as E


def test_mcnemar_exact_is_the_binomial_test_of_the_discordant_images():
    from scipy.stats import binom

    a = np.r_[np.ones(10, bool), np.zeros(2, bool), np.ones(30, bool), np.zeros(8, bool)]
    b = np.r_[np.zeros(10, bool), np.ones(2, bool), np.ones(30, bool), np.zeros(8, bool)]
    # 10 images A alone got right, 2 B alone: two-sided exact p = 2 * P(X <= 2 | n=12, 1/2)
    assert E.mcnemar_exact(a, b) == pytest.approx(2 * binom.cdf(2, 12, 0.5))
    assert E.mcnemar_exact(a, a) == 1.0  # nothing discordant
    d = E.discordant(a, b)
    assert (d["a_only"], d["b_only"], d["n"]) == (pytest.approx(10 / 50), pytest.approx(2 / 50), 50)


def test_the_paired_bootstrap_gives_both_models_the_same_images():
    """B is A shifted by a constant on every image: every resample sees the same shift, so the interval is a point,
    and a mean over unpaired resamples would not be."""
    rng = np.random.default_rng(0)
    a = rng.random(200)
    r = E.paired_bootstrap(np.mean, (a,), (a - 0.1,), n_boot=300)
    assert r["effect"] == pytest.approx(0.1) and (r["ci_low"], r["ci_high"]) == pytest.approx((0.1, 0.1))
    assert r["p"] == pytest.approx(1 / 300)  # every resample on one side of 0: the smallest p a bootstrap can give
    # two groups (an ID and an OOD set) are resampled each within itself
    seen = []
    E.paired_bootstrap(lambda x, y: seen.append((len(x), len(y))) or 0.0, (np.ones(5), np.ones(7)),
                       (np.ones(5), np.ones(7)), n_boot=3)
    assert set(seen) == {(5, 7)}
    with pytest.raises(ValueError, match="images differ"):
        E.paired_bootstrap(np.mean, (np.ones(3),), (np.ones(4),))


def test_the_block_statistics_equal_their_references_and_the_loop():
    """The paired comparison evaluates its resamples a block at a time: ECE from per-image bins equals
    `metrics.ece`, the rank AUROC equals sklearn's `roc_auc_score` (ties included), and the batched bootstrap gives
    the resamples, interval and p of the one-resample-at-a-time loop."""
    from sklearn.metrics import roc_auc_score

    from clipstudy.metrics import ece
    from clipstudy.metrics.calibration import binned, ece_of_bins
    from clipstudy.metrics.ood import auroc_rows

    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(7) * 0.3, size=(5, 60))
    labels = rng.integers(0, 7, (5, 60))
    for p, y in zip(probs, labels):
        assert ece_of_bins(*binned(p, y))[0] == pytest.approx(ece(p, y), abs=1e-12)
    ids, oods = rng.integers(0, 6, (4, 30)).astype(float), rng.integers(0, 6, (4, 25)).astype(float)  # many ties
    want = [roc_auc_score(np.r_[np.ones(30), np.zeros(25)], np.r_[i, o]) for i, o in zip(ids, oods)]
    assert np.allclose(auroc_rows(ids, oods), want, atol=1e-12)

    pa, pb, y = probs[0], probs[1], labels[0]
    # one image group: an image's probabilities and its label (or its bin, confidence and correctness) together
    loop = E.paired_bootstrap(lambda x: ece(x[:, :-1], x[:, -1].astype(int)), (np.c_[pa, y],), (np.c_[pb, y],),
                              n_boot=200, seed=5)
    block = E.paired_bootstrap(comparison._ece_rows, (np.stack(binned(pa, y), -1),), (np.stack(binned(pb, y), -1),),
                               n_boot=200, seed=5, batched=True)
    assert loop == pytest.approx(block, abs=1e-12) and block["n"] == 60

    def auroc(i, o):
        return roc_auc_score(np.r_[np.ones(len(i)), np.zeros(len(o))], np.r_[i, o])

    loop = E.paired_bootstrap(auroc, (ids[0], oods[0]), (ids[1], oods[1]), n_boot=200, seed=1)
    block = E.paired_bootstrap(auroc_rows, (ids[0], oods[0]), (ids[1], oods[1]), n_boot=200, seed=1, batched=True)
    assert loop == pytest.approx(block, abs=1e-12)


def test_holm_is_within_a_metric_across_datasets():
    t = pd.DataFrame(dict(metric=["top1", "top1", "ece"], p=[0.01, 0.04, 0.04]))
    h = comparison.holm_within_metric(t)
    assert h["p_holm"].tolist() == pytest.approx([0.02, 0.04, 0.04])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import runner_fixtures as RF

    root = tmp_path_factory.mktemp("cmp")
    data = RF.data_root(root / "data")
    return root, RF.tiny_local_dir(root / "a", seed=0), RF.tiny_local_dir(root / "b", seed=1), data


def test_compare_writes_a_table_and_a_figure_and_a_second_run_encodes_nothing(tiny, monkeypatch, capsys):
    from clipstudy import cli

    root, a, b, data = tiny
    monkeypatch.setenv("CLIPSTUDY_DATA", str(data))
    monkeypatch.setenv("CLIPSTUDY_CACHE", str(root / "cache"))
    study = root / "study"
    args = ["compare", a, b, "--datasets", "imagenet,textures,cue-conflict", "--prompts", "single", "--study",
            str(study), "--device", "cpu", "--n-boot", "50", "--quiet"]
    assert cli.main(args) == 0
    t = pd.read_csv(study / "compare.csv")
    assert (study / "compare.png").is_file()
    assert set(t["metric"]) == {"top1", "ece", "auroc", "shape_bias"}
    assert set(t["dataset"]) == {"imagenet", "textures", "cue-conflict"}
    top = t[(t["dataset"] == "imagenet") & (t["metric"] == "top1")].iloc[0]
    assert top["difference"] == pytest.approx(top["value_a"] - top["value_b"]) and 0 <= top["p"] <= 1
    imagenet = t[t["dataset"] == "imagenet"].set_index("metric")
    assert imagenet.loc["ece", "n"] == imagenet.loc["top1", "n"]  # an image's probabilities and label resample together
    again = comparison.compare(a, b, "imagenet,textures,cue-conflict", prompts="single", study=study, device="cpu",
                               n_boot=50, progress=False)
    assert again.summary.images_encoded == 0 and again.summary.units_computed == 0  # the store served both models
    assert np.allclose(again.table["difference"], t["difference"], equal_nan=True)


def test_compare_refuses_one_model_twice(tiny):
    _, a, _, _ = tiny
    from clipstudy.errors import ClipstudyError

    with pytest.raises(ClipstudyError, match="two different models"):
        comparison.compare(a, a, "imagenet")
