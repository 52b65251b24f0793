"""The LMM-vs-CLIP tables of clipstudy.axes.lmm: the gain table and recipe effects, on small synthetic inputs
whose answers are known by construction."""
from __future__ import annotations

import pandas as pd
import pytest

from clipstudy.axes import lmm as multimodal


def test_gain_table_pairs_lmm_and_clip_rows():
    r = pd.DataFrame(dict(recipe="base", set="lab-val", model=["llava", "llava", "clip", "clip"],
                          clip_full=["right", "wrong", "right", "wrong"], n=[8, 2, 8, 2],
                          n_both=[1, 0, 0, 0], n_neither=[0, 1, 0, 0], accuracy=[0.75, 0.5, 1.0, 0.0]))
    g = multimodal.gain_table(r, "llava").set_index("clip_full")
    assert g["gain"].to_dict() == pytest.approx({"right": -0.25, "wrong": 0.5})
    assert g.loc["wrong", "n_neither"] == 1
    with pytest.raises(ValueError, match="expected both"):
        multimodal.gain_table(r, "other")
    with pytest.raises(ValueError, match="accuracy"):
        multimodal.gain_table(r.drop(columns="accuracy"), "llava")
    both = pd.concat([g.reset_index(), g.reset_index().assign(recipe="arch-vit", acc_lmm=[0.9, 0.9])])
    e = multimodal.recipe_effects(both.assign(clip_full="all"), {"arch-vit": "architecture"})
    assert e["effect"].iloc[0] == pytest.approx(0.9 - 0.625)
