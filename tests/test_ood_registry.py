"""OOD scores are a registry: a new score is one registered function, and every detection table uses it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipstudy.analysis import ood
from clipstudy.metrics import ood as M

REPO = Path(__file__).resolve().parents[1]

PLUGIN = '''
import numpy as np
from scipy.special import softmax

from clipstudy.metrics.ood import register_score


@register_score("negentropy", "logits")
def negentropy(z, temperature=1.0):
    """Negative entropy of softmax(logits / T): a peaked output is more in-distribution."""
    p = softmax(z / temperature, axis=1)
    return (p * np.log(np.clip(p, 1e-12, None))).sum(axis=1)
'''


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


@pytest.mark.slow
def test_a_score_registered_by_a_plugin_appears_in_chapter_06(tmp_path):
    """The smoke build of chapter 06 imports CLIPSTUDY_PLUGINS in its kernel: the plugin's score is in the
    chapter's detection table and in the table it shows."""
    (tmp_path / "plug").mkdir()
    (tmp_path / "plug" / "negentropy_score.py").write_text(PLUGIN)
    out = tmp_path / "book-out"
    path = os.pathsep.join([str(tmp_path / "plug"), str(REPO), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, MPLBACKEND="Agg", CLIPSTUDY_PLUGINS="negentropy_score", PYTHONPATH=path)
    proc = subprocess.run([sys.executable, "-m", "clipstudy.cli", "build", "--profile", "smoke", "--only", "06",
                           "--out", str(out), "--no-html"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    det = pd.read_csv(out / "book" / "results" / "06_ood_detection" / "lab_detection.csv")
    mine = det[det["method"] == "negentropy"]
    assert len(mine) and set(mine["model"]) == set(det["model"]) and mine["auroc"].between(0, 1).all()
    assert not mine[["auroc", "fpr95"]].equals(det[det["method"] == "msp"][["auroc", "fpr95"]].reset_index(drop=True))
    nb = json.loads((out / "book" / "chapters" / "06_ood_detection.ipynb").read_text())
    shown = json.dumps([o for c in nb["cells"] for o in c.get("outputs", [])])
    assert "negentropy" in shown


def test_an_unimportable_plugin_is_a_clear_error(monkeypatch):
    from clipstudy import plugins
    from clipstudy.errors import ClipstudyError

    monkeypatch.setenv("CLIPSTUDY_PLUGINS", "no_such_module_here")
    with pytest.raises(ClipstudyError, match="no_such_module_here.*PYTHONPATH"):
        plugins.load()
