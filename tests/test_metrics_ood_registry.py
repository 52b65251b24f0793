"""OOD scores are a registry: a new score is one registered function, and every detection table uses it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipstudy.axes import ood
from clipstudy.metrics import ood as M


@pytest.fixture
def scores():
    before = dict(M.SCORES)
    yield M.SCORES
    M.SCORES.clear()
    M.SCORES.update(before)


def test_a_registered_score_of_each_input_joins_the_detection_table(scores):
    rng = np.random.default_rng(0)
    id_f, ood_f = rng.normal(0, 1, (40, 8)) * 3, rng.normal(0, 1, (30, 8))  # ID embeddings have larger norms
    id_l, ood_l = rng.normal(0, 1, (40, 5)), rng.normal(0, 1, (30, 5))

    @M.register_score("feature_norm", "features")
    def feature_norm(x, temperature=1.0):
        return np.linalg.norm(x, axis=1)

    @M.register_score("neg_maxlogit", "logits")
    def neg_maxlogit(z, temperature=1.0):
        return -z.max(axis=1)

    t = ood.detection_table(id_l, ood_l, ["far"] * 30, id_features=id_f, ood_features=ood_f)
    assert list(t["method"]) == ["msp", "maxlogit", "energy", "feature_norm", "neg_maxlogit"]  # no cosines: no MCM
    assert t.set_index("method").loc["feature_norm", "auroc"] > 0.9
    mx = t.set_index("method")["auroc"]
    assert np.isclose(mx["neg_maxlogit"], 1 - mx["maxlogit"])  # the function is what is scored
    no_feat = ood.detection_table(id_l, ood_l, ["far"] * 30)
    assert "feature_norm" not in set(no_feat["method"])  # its input is absent: skipped, never estimated
    with pytest.raises(ValueError, match="both id_features and ood_features"):
        ood.detection_table(id_l, ood_l, ["far"] * 30, id_features=id_f)
    with pytest.raises(Exception, match="OOD score input"):
        M.register_score("x", "pixels")


def _outputs(dataset, task, features, head, groups=None):
    import torch

    from clipstudy.axes import Outputs
    from clipstudy.encode import Encoded
    from clipstudy.zeroshot import ZeroShot

    f = torch.nn.functional.normalize(torch.as_tensor(features, dtype=torch.float32), dim=1)
    enc = Encoded(f, torch.zeros(len(f), dtype=torch.long), [f"{dataset}/{i}" for i in range(len(f))])
    zs = ZeroShot("m", dataset, "single", enc, head, 100.0, [f"c{i}" for i in range(head.shape[1])])
    frame = None if groups is None else pd.DataFrame({"key": enc.keys, "ood": groups})
    return Outputs("m", dataset, task, "single", zs, frame)


def test_a_feature_score_reaches_the_runner_rows_of_the_ood_axis(scores):
    """The runner's `ood` evaluator passes both sets' stored image features, so a registered score whose input
    is `features` gets rows (as the lab path's `_zs_table` gives it), and it is scored on those features."""
    import torch

    rng = np.random.default_rng(0)
    head = torch.nn.functional.normalize(torch.as_tensor(rng.normal(size=(8, 5)), dtype=torch.float32), dim=0)
    # ID images lie near the first feature axis; OOD images anywhere: a score on the features separates them
    id_o = _outputs("imagenet", "classification", rng.normal(0, 0.2, (40, 8)) + np.eye(8)[0] * 3, head)
    ood_o = _outputs("textures", "ood", rng.normal(0, 1, (30, 8)), head, ["far"] * 30)

    @M.register_score("first_axis", "features")
    def first_axis(x, temperature=1.0):
        return x[:, 0]

    rows = ood.AXIS.rows(ood_o, lambda o: id_o)
    got = {(r["part"], r["metric"]): r for r in rows}
    assert ("first_axis/far", "auroc") in got and got[("first_axis/far", "auroc")]["value"] > 0.95
    assert got[("first_axis/far", "auroc")]["n"] == 30
    assert {p.split("/")[0] for p, _ in got} == set(M.SCORES)  # every registered score: logits, cosines, features
    assert ood.AXIS.version >= 2  # the units the axis reads were keyed before it read features


def check_plugin_score(results: Path, chapters: Path) -> None:
    """The plugin's score (tests/ood_plugin_example.py) is in chapter 06's detection table, for every model,
    scored differently from the built-in scores, and in the table the chapter shows. The smoke book test
    (tests/test_book.py) builds with CLIPSTUDY_PLUGINS=ood_plugin_example and calls this."""
    det = pd.read_csv(results / "06_ood_detection" / "lab_detection.csv")
    mine = det[det["method"] == "negentropy"].reset_index(drop=True)
    assert len(mine) and set(mine["model"]) == set(det["model"]) and mine["auroc"].between(0, 1).all()
    msp = det[det["method"] == "msp"].reset_index(drop=True)
    assert not np.allclose(mine["auroc"], msp["auroc"])
    nb = json.loads((chapters / "06_ood_detection.ipynb").read_text())
    assert "negentropy" in json.dumps([o for c in nb["cells"] for o in c.get("outputs", [])])


def test_an_unimportable_plugin_is_a_clear_error(monkeypatch):
    from clipstudy import plugins
    from clipstudy.errors import ClipstudyError

    monkeypatch.setenv("CLIPSTUDY_PLUGINS", "no_such_module_here")
    with pytest.raises(ClipstudyError, match="no_such_module_here.*PYTHONPATH"):
        plugins.load()
