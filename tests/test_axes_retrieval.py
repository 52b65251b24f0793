"""The retrieval tables of clipstudy.axes.retrieval: recall, tidy recall, records effects. Pure functions on small
synthetic inputs whose answers are known by construction."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clipstudy.axes import retrieval


def test_recall_table_perfect_and_shuffled():
    rng = np.random.default_rng(2)
    img = rng.normal(size=(6, 8))
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt = np.repeat(img, 2, axis=0)  # two identical captions per image
    idx = [[2 * i, 2 * i + 1] for i in range(6)]
    t = retrieval.recall_table(img, txt, idx, ks=(1, 5))
    assert set(t["direction"]) == {"image→text", "text→image"} and (t["recall"] == 1.0).all()
    wrong = [[(2 * i + 2) % 12, (2 * i + 3) % 12] for i in range(6)]  # captions assigned to the next image
    t2 = retrieval.recall_table(img, txt, wrong, ks=(1,))
    assert (t2["recall"] == 0.0).all()
    with pytest.raises(ValueError, match="expected image"):
        retrieval.recall_table(img, txt[:, :4], idx)


def test_tidy_recall_direction_and_agreement():
    t = retrieval.tidy_recall({"image_to_text_R@1": 0.5, "text_to_image_R@10": 0.9})
    assert t.to_dict("records") == [dict(direction="image→text", k=1, recall=0.5),
                                    dict(direction="text→image", k=10, recall=0.9)]
    with pytest.raises(ValueError, match="unexpected recall key"):
        retrieval.tidy_recall({"R@1": 0.1})
    assert retrieval.direction_of("image_retrieval_recall@5") == "text→image"
    assert retrieval.direction_of("text_retrieval_recall@1") == "image→text"
    with pytest.raises(ValueError):
        retrieval.direction_of("acc1")
    d = pd.DataFrame(dict(x=[1, 2, 3, 4], y=[10, 20, 40, 30]))
    a = retrieval.rank_agreement(d, "x", "y")
    assert a["spearman_rho"] == pytest.approx(0.8) and a["n"] == 4
    assert np.isnan(retrieval.rank_agreement(d.head(2), "x", "y")["pearson_r"])


def test_records_effects_contrasts_residual_groups():
    rows = []
    for fam, data, loss, size, res in [("vit", "openai-wit", "clip", 4e8, 0.0), ("vit", "laion2b", "clip", 2e9, 0.1),
                                       ("resnet", "openai-wit", "clip", 4e8, -0.2), ("vit", "laion2b", "siglip", 2e9, 0.3)]:
        rows.append(dict(model=f"m{len(rows)}", dataset="mscoco", metric="image_retrieval_recall@5", family=fam,
                         data=data, loss=loss, dataset_size=size, finetuned=False, finetune_data=None, residual=res))
    rows.append(dict(model="ft", dataset="mscoco", metric="image_retrieval_recall@5", family="vit", data="laion2b",
                     loss="clip", dataset_size=2e9, finetuned=True, finetune_data="mscoco", residual=0.5))
    e = retrieval.records_effects(pd.DataFrame(rows))
    arch = e[e["factor"] == "architecture"]
    assert arch.iloc[0]["effect"] == pytest.approx(-0.2 - np.mean([0.0, 0.1, 0.3]))
    dist = e[e["comparison"].str.startswith("LAION-2B vs OpenAI")]
    assert dist["effect"].iloc[0] == pytest.approx(np.mean([0.1, 0.3]) - np.mean([0.0, -0.2]))
    ft = e[e["factor"] == "fine-tuning"]
    assert ft["effect"].iloc[0] == pytest.approx(0.5 - np.mean([0.0, 0.1, -0.2, 0.3]))
    assert (e["source"] == "records").all() and (e["metric"].str.contains("text→image")).all()
    with pytest.raises(ValueError, match="no records rows"):
        retrieval.records_effects(pd.DataFrame(rows), dataset="flickr30k")
