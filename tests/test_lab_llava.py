"""The miniature lab LLaVA: instruction data from factors, a learning check of the LM on features that
determine the answer, the cache (reuse, corrupt -> retrain), and the two-choice protocol on lab sets
(smoke profile: a pipeline check, not a finding)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from clipstudy import lmm
from clipstudy.lab import captions as cap
from clipstudy.lab import llava
from clipstudy.lab.world import WorldConfig, sample_scenes
from clipstudy.profiles import SMOKE_LAB


def test_instructions_answer_from_factors():
    f = sample_scenes(40, WorldConfig(), seed=3)
    data = llava.instructions(f, seed=0, per_image=8, classnames=cap.classnames())
    assert len(data) == 40 * 8
    assert not data["kind"].str.contains("count").any()  # one object per scene: nothing to count
    assert "style" not in set(data["kind"])  # the base world has one style, so the question is uninformative
    for r in data.itertuples():
        scene = f.iloc[r.row]
        truth = llava.answers_for(scene)
        base = r.kind.removeprefix("choice-")
        assert r.answer == truth[base]
        if r.kind.startswith("choice-"):
            listed = r.question.split(": ")[-1].rstrip(".").split(", ")
            assert truth[base] in listed and len(set(listed)) == 2
    assert data[data.kind == "choice-object"]["question"].iloc[0].startswith(lmm.question("", "").split(":")[0])
    styled = f.assign(style=np.where(np.arange(40) % 2, "edges", "shaded"))
    assert "style" in set(llava.instructions(styled, per_image=8)["kind"])


def test_vocab_covers_questions_and_answers():
    f = sample_scenes(60, WorldConfig(), seed=4)
    data = llava.instructions(f, per_image=6, classnames=cap.classnames())
    for text in list(data["question"]) + list(data["answer"]):
        assert llava.UNK not in llava.encode_text(text), text
    names = cap.classnames()
    assert llava.UNK not in llava.encode_text(lmm.question(names[0], names[-1]))
    assert llava.decode_ids(llava.encode_text("a striped cube") + [llava.EOS, 7]) == "a striped cube"


def test_lm_learns_answers_from_the_prefix():
    """Answers depend only on the visual prefix (a one-hot 'class' feature): a working projector, LM,
    loss mask and left-padded greedy decoding must read it; a broken one answers at chance."""
    names = cap.classnames()[:4]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    pooled = torch.nn.functional.one_hot(torch.as_tensor(y), 4).float() + 0.05 * torch.randn(400, 4)
    qs = ["what object is this?", "what is the main object in this image?"]
    data = pd.DataFrame({"row": np.arange(400), "kind": "object",
                         "question": [qs[i % 2] for i in range(400)], "answer": [names[i] for i in y]})
    s = llava.Settings(steps=120, batch_size=32, hidden=48, layers=1, heads=2, lr=3e-3)
    model = llava.MiniLlava(4, None, s)
    hist = llava.fit(model, pooled, None, data, s, progress=False)
    assert hist.final_loss < hist.losses[0] / 3
    test = torch.eye(4).repeat(3, 1)
    questions = [qs[0], qs[1] + " please", qs[0] + " now"] * 4  # unequal lengths exercise the left padding
    test_q = [questions[i] for i in range(12)]
    with torch.no_grad():
        answers = model.generate(model.prefix(test, None), test_q, max_new_tokens=3)
    right = [a == names[i % 4] for i, a in enumerate(answers)]
    assert np.mean(right) >= 0.9, answers


def test_unknown_profile():
    with pytest.raises(KeyError, match="smoke"):
        llava.load("base", "smok")


@pytest.fixture(scope="module")
def smoke_llava(tmp_path_factory):
    # module fixtures run before conftest's per-test cache fixture: point at the same isolated cache here
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLIPSTUDY_CACHE", str(tmp_path_factory.getbasetemp() / "clipstudy-cache"))
        yield llava.load("base", "smoke", progress=False)


def test_load_caches_and_retrains_corrupt(smoke_llava, monkeypatch):
    m = smoke_llava
    assert m.meta["n_scenes"] == SMOKE_LAB.llava.n_images and m.meta["wall_s"] > 0
    folder = llava.cache_dir("base", SMOKE_LAB)
    assert (folder / "model.pt").is_file() and (folder / "meta.json").is_file()
    assert not list(folder.glob("*.part"))
    calls = []
    real_fit = llava.fit
    monkeypatch.setattr(llava, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    again = llava.load("base", "smoke", progress=False)
    assert calls == []  # from the cache
    for k, v in m.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k])
    (folder / "model.pt").write_bytes(b"half a file")
    retrained = llava.load("base", "smoke", progress=False)
    assert calls == [1]  # corrupt -> retrained, never loaded
    assert llava._read_cached(folder, retrained.meta["key"]) is not None  # and the new cache is whole


def test_two_choice_protocol_on_lab_sets(smoke_llava):
    detail, table = llava.evaluate("base", "smoke", sets=("lab-val", "lab-factors"), llava=smoke_llava,
                                   progress=False)
    assert set(table["model"]) == {"lab-llava", "clip", llava.PROBE_NAME}
    assert set(detail["match"]) <= set(lmm.VERDICTS) and set(detail["probe_match"]) <= {"TRUE", "FALSE"}
    assert detail["answer"].map(type).eq(str).all()
    # the other choice is CLIP's own top-1 whenever CLIP is wrong, so CLIP loses every such pair
    wrong = table[(table.model == "clip") & (table.clip_full == "wrong") & (table.n > 0)]
    assert (wrong["accuracy"] == 0).all() and len(wrong) > 0
    right = table[(table.model == "clip") & (table.clip_full == "right") & (table.n > 0)]
    assert (right["accuracy"] == 1).all()
    val = table[(table.set == "lab-val") & (table.group == "all") & (table.clip_full == "all")]
    assert set(val["n"]) == {int((detail.set == "lab-val").sum())}
    groups = set(table[table.set == "lab-factors"]["group"])
    assert {"all", "none", "color", "style"} <= groups
    row = table[(table.set == "lab-val") & (table.group == "all") & (table.model == "lab-llava")]
    parts = row[row.clip_full != "all"]["n"].sum()
    assert parts == row[row.clip_full == "all"]["n"].iloc[0]


def test_linear_probe_reads_the_same_frozen_features_and_labels(smoke_llava):
    """The LMM's control: a linear probe on the pooled features of the LMM's own training scenes and labels."""
    probe = smoke_llava.linear_probe()
    assert smoke_llava.linear_probe() is probe  # trained once
    frame, images = llava.training_scenes("base", SMOKE_LAB, smoke_llava.settings.n_images)
    keep = frame["label"].to_numpy() >= 0
    pred = smoke_llava.probe_logits(images[torch.as_tensor(keep)]).argmax(1).numpy()
    train_acc = (pred == frame["label"].to_numpy()[keep]).mean()
    assert train_acc > 2 / len(llava.cap.classnames())  # it fits its training labels well above chance
    # the CLIP tower is untouched by the probe
    assert not any(p.requires_grad for p in smoke_llava.clip.model.parameters())
    # on separable toy features the probe recovers the classes (deterministic)
    g = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat(40)
    x = torch.randn(120, 5, generator=g) * 0.1 + torch.nn.functional.one_hot(y, 5).float()
    p1, p2 = llava.fit_probe(x, y, 3), llava.fit_probe(x, y, 3)
    assert (p1(x).argmax(1) == y).all() and torch.equal(p1.linear.weight, p2.linear.weight)


def test_each_seed_is_its_own_clip_and_lmm(smoke_llava):
    """Seed k pairs the CLIP trained under seed k with an LMM seeded k, cached apart from seed 0's."""
    one = llava.load("base", "smoke", seed=1, progress=False)
    assert one.settings.seed == 1 and smoke_llava.settings.seed == 0
    assert one.meta["key"] != smoke_llava.meta["key"]
    w0 = next(iter(smoke_llava.clip.model.state_dict().values()))
    w1 = next(iter(one.clip.model.state_dict().values()))
    assert not torch.equal(w0, w1)  # another trained CLIP, not seed 0's
    assert llava.cache_dir("base", SMOKE_LAB, 1) != llava.cache_dir("base", SMOKE_LAB)
    assert (llava.cache_dir("base", SMOKE_LAB, 1) / "model.pt").exists()


def test_missing_lmms_train_side_by_side_with_the_same_weights(smoke_llava):
    """`train` on spawned workers writes the same LMMs as `load` one at a time, and skips cached ones."""
    import shutil

    pairs = [("base", 0), ("base", 1)]
    for r, sd in pairs:
        llava.load(r, "smoke", seed=sd, progress=False)  # the CLIPs and the reference LMMs
    ref = {sd: json.loads((llava.cache_dir(r, SMOKE_LAB, sd) / "meta.json").read_text())["sha256"] for r, sd in pairs}
    assert llava.train(pairs, SMOKE_LAB, workers=2) == 0  # all cached: nothing to spawn
    for r, sd in pairs:
        shutil.rmtree(llava.cache_dir(r, SMOKE_LAB, sd))
    assert llava.train(pairs, SMOKE_LAB, workers=2) == 2
    got = {sd: json.loads((llava.cache_dir(r, SMOKE_LAB, sd) / "meta.json").read_text())["sha256"] for r, sd in pairs}
    assert got == ref
