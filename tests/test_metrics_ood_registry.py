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
