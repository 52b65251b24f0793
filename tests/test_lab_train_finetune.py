"""The three kinds of lab fine-tuning (claim C9): contrastive (FLYP) and parameter-efficient (last block) recipes
train from their own seed's base, their keys never collide with the standard fine-tune's, and the
difference-of-drops rule gives a known answer with the lab's seed x image interval."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from clipstudy import effects as E
from clipstudy.axes import shape_bias as SB
from clipstudy.errors import UnknownNameError
from clipstudy.lab import train as T
from clipstudy.lab import zoo
from clipstudy.profiles import LAB, SMOKE_LAB

KINDS = ("finetuned", "finetuned-contrastive", "finetuned-peft")


# ------------------------------------------------------------------ recipes and keys


def test_fine_tune_kinds_are_recipes_with_distinct_keys():
    rs = {n: zoo.recipe(n) for n in KINDS}
    assert [rs[n].ft_kind for n in KINDS] == ["standard", "contrastive", "last-block"]
    assert all(r.finetuned and r.factor == "finetuning" for r in rs.values())
    assert rs["finetuned"].is_classifier and rs["finetuned-peft"].is_classifier
    assert not rs["finetuned-contrastive"].is_classifier
    # `finetuned vs base` stays the first fine-tuning row of every chapter's effects (the zoo's order)
    names = zoo.names()
    assert names.index("finetuned") < names.index("finetuned-contrastive") < names.index("finetuned-peft")
    # the standard fine-tune's key holds no kind (its cached weights stay valid); the others hold kind + version
    assert "ft_kind" not in rs["finetuned"].key_dict() and "ft_kind" not in zoo.recipe("base").key_dict()
    assert rs["finetuned-peft"].key_dict()["ft_version"] == T.FT_VERSIONS["last-block"]
    for p in (SMOKE_LAB, LAB):
        for sd in range(p.seeds):
            keys = {n: zoo.model_key(zoo.recipe(f"{n}#{sd}"), p) for n in KINDS}
            assert len(set(keys.values())) == 3, keys
            # every kind starts from the same seed's base
            parents = {zoo.label(zoo.parent_of(zoo.recipe(f"{n}#{sd}"))) for n in KINDS}
            assert parents == {"base" if sd == 0 else f"base#{sd}"}
        assert len({zoo.paths(n, p)[0] for n in KINDS}) == 3
    # changing a kind's version moves only that kind's key
    sp = SMOKE_LAB
    before = {n: zoo.model_key(rs[n], sp) for n in KINDS}
    old = dict(T.FT_VERSIONS)
    try:
        T.FT_VERSIONS["contrastive"] += 1
        after = {n: zoo.model_key(rs[n], sp) for n in KINDS}
        assert [n for n in KINDS if after[n] != before[n]] == ["finetuned-contrastive"]
    finally:
        T.FT_VERSIONS.clear()
        T.FT_VERSIONS.update(old)
    with pytest.raises(UnknownNameError, match="contrastive"):
        zoo.variant("x", "finetuning", finetuned=True, ft_kind="lora")
    with pytest.raises(ValueError, match="finetuned=True"):
        zoo.variant("x", "finetuning", ft_kind="contrastive")
    specs = {s.arch: s for s in zoo.specs(SMOKE_LAB)}
    assert specs["finetuned-contrastive"].finetuned and specs["finetuned-peft"].finetuned
    assert {"lab:finetuned-contrastive#1@smoke", "lab:finetuned-peft#1@smoke"} <= {
        f"lab:{zoo.label(r)}@smoke" for n in zoo.names() for r in zoo.seeded(n, SMOKE_LAB)}


def test_last_block_of_each_tower():
    for arch in T.ARCHS:
        clf = T.LabClassifier(T.build_clip(arch, image_size=32).visual, 4)
        info = T.tune_last_block(clf)
        assert 0 < info["trainable"] < info["total"]
        assert clf.head.weight.requires_grad
        frozen = [n for n, p in clf.visual.named_parameters() if not p.requires_grad]
        assert frozen and not any(n.startswith(info["prefixes"][0] + ".") for n in frozen)
        clf.train()  # frozen batch norms stay in eval mode
        assert all(not clf.visual.get_submodule(n).training for n in clf.frozen)
    assert T.last_block(T.build_clip("resnet", image_size=32).visual) == ("layer4",)


def test_class_caption_tokens_give_each_image_its_class_prompts():
    from clipstudy.lab import captions

    labels = torch.tensor([2, 0, 2])
    names, tmpl = ["cube", "sphere", "torus"], ["a photo of a {}.", "a {}."]
    tok = T.class_caption_tokens(labels, names, tmpl, captions.tokenizer)
    assert tok.shape[:2] == (3, 2)
    assert torch.equal(tok[0, 1], captions.tokenizer(["a torus."])[0]) and torch.equal(tok[0], tok[2])
    with pytest.raises(ValueError):
        T.class_caption_tokens(torch.tensor([-1]), names, tmpl, captions.tokenizer)


# ------------------------------------------------------------------ training from the seed's base (smoke)


def test_new_recipes_train_from_their_seeds_base_weights():
    p = SMOKE_LAB
    base = zoo.load("base#1@smoke", progress=False)
    peft = zoo.load("finetuned-peft#1@smoke", progress=False)
    con = zoo.load("finetuned-contrastive#1@smoke", progress=False)
    std = zoo.load("finetuned#1@smoke", progress=False)

    # parameter-efficient: everything outside the last block is base#1's, bit for bit (BN statistics too)
    bs, ps, ss = base.model.visual.state_dict(), peft.model.visual.state_dict(), std.model.visual.state_dict()
    assert bs.keys() == ps.keys()
    moved = {k for k in bs if not torch.equal(bs[k], ps[k])}
    assert moved and all(k.startswith("layer4.") for k in moved)
    assert {k for k in bs if not torch.equal(bs[k], ss[k])} - moved  # standard moves more than the last block
    assert peft.is_classifier and peft.tokenizer is None
    rec = peft.extra["record"]
    assert rec["ft_kind"] == "last-block" and rec["steps"] == p.ft_steps and 0 < rec["trainable_params"] < rec["params"]

    # contrastive: still a CLIP (zero-shot, with a tokenizer), both towers moved, and close to base#1 (its start)
    assert not con.is_classifier and con.tokenizer is not None and hasattr(con.model, "encode_text")
    rec = con.extra["record"]
    assert rec["ft_kind"] == "contrastive" and rec["steps"] == p.ft_steps and "FLYP" in rec["objective"]
    cs, b_all = con.model.state_dict(), base.model.state_dict()
    assert any(not torch.equal(cs[k], b_all[k]) for k in cs if k.startswith("visual."))
    assert any(not torch.equal(cs[k], b_all[k]) for k in cs if k.startswith("transformer."))
    torch.manual_seed(123)
    fresh = T.build_clip("resnet", "clip", p.image_size).state_dict()

    def dist(a, b):
        return sum(float((a[k].float() - b[k].float()).norm()) for k in a if a[k].is_floating_point())

    assert dist(cs, b_all) < 0.2 * dist(fresh, b_all)
    # the same budget as the standard fine-tune: images, steps, batch
    assert rec["n_images"] == std.extra["record"]["n_images"] and rec["samples_seen"] == std.extra["record"]["samples_seen"]
    # the model layer names them too
    from clipstudy import zoo as facade

    assert facade.get("lab:finetuned-contrastive#1@smoke").finetuned


# ------------------------------------------------------------------ the difference-of-drops rule


def _table(rng):
    """3 seeds: standard fine-tuning drops shape bias by 0.10, contrastive by 0.02 (exactly), peft by 0.10 on
    average; base varies by seed; image replicates per row; plus rows the rule must ignore."""
    rows = []
    base = {0: 0.60, 1: 0.64, 2: 0.57}
    peft_drop = {0: 0.08, 1: 0.13, 2: 0.09}
    for sd, b in base.items():
        for r, v in (("base", b), ("finetuned", b - 0.10), ("finetuned-contrastive", b - 0.02),
                     ("finetuned-peft", b - peft_drop[sd])):
            rows.append(dict(recipe=r, seed=sd, prompts="ensemble", shape_bias=v, boot=v + rng.normal(0, 0.03, 200)))
    rows.append(dict(recipe="base", seed=0, prompts="single", shape_bias=0.1, boot=np.full(200, 0.1)))
    rows.append(dict(recipe="finetuned", seed=3, prompts="ensemble", shape_bias=0.0, boot=np.zeros(200)))  # no base#3
    return pd.DataFrame(rows)


def test_difference_of_drops_has_a_known_answer_and_the_lab_interval():
    t = _table(np.random.default_rng(0))
    rows = SB.finetune_kind_effects(t)
    by = {r["metric"]: r for r in rows}
    con = by["shape-bias drop, standard minus contrastive"]
    assert con["effect"] == pytest.approx(0.08) and con["factor"] == "fine-tuning" and con["source"] == "lab"
    assert con["axis"] == "shape bias" and con["n"] == 6
    assert con["comparison"] == ("drop under finetuned minus drop under finetuned-contrastive "
                                 "(each from its own seed's base, paired by seed)")
    # the interval is the package's lab interval (seeds and images) of the two drops' seed means
    ens = t[(t["prompts"] == "ensemble") & t["seed"].isin([0, 1, 2])].sort_values("seed")
    g = {r: ens[ens["recipe"] == r] for r in ("base", "finetuned", "finetuned-contrastive", "finetuned-peft")}

    def drop(r):
        return (g["base"]["shape_bias"].to_numpy() - g[r]["shape_bias"].to_numpy(),
                np.stack(g["base"]["boot"].to_list()) - np.stack(g[r]["boot"].to_list()))

    (ds, bs), (dk, bk) = drop("finetuned"), drop("finetuned-contrastive")
    ref = E.seed_image_effect(ds, dk, bs, bk)
    assert (con["ci_low"], con["ci_high"]) == pytest.approx((ref["ci_low"], ref["ci_high"]))
    assert con["ci_low"] < 0.08 < con["ci_high"] and np.isfinite(con["ci_low"])
    peft = by["shape-bias drop, standard minus parameter-efficient"]
    assert peft["effect"] == pytest.approx(0.10 - np.mean([0.08, 0.13, 0.09]))
    assert "finetuned-peft" in peft["comparison"]
    # without image replicates: the seed part alone, the same as seed_image_effect without boots
    seeds_only = SB.finetune_kind_effects(t.drop(columns="boot"))[0]
    ref = E.seed_image_effect(ds, dk)
    assert seeds_only["effect"] == pytest.approx(0.08)
    assert (seeds_only["ci_low"], seeds_only["ci_high"]) == pytest.approx((ref["ci_low"], ref["ci_high"]))
    # the rows validate as an effects table; a kind without rows gives none
    assert len(E.effects_frame(rows)) == 2
    assert len(SB.finetune_kind_effects(t[t["recipe"] != "finetuned-peft"])) == 1
    drops = SB.finetune_drops(t, recipes=("finetuned",))
    assert drops["drop"].to_numpy() == pytest.approx([0.10] * 3) and set(drops["seed"]) == {0, 1, 2}


def test_chapter_section_writes_the_c9_rows():
    from clipstudy.axes import shape_bias as axis
    from clipstudy.axes.core import Effects

    ch = SimpleNamespace(effects=Effects(axis.AXIS))
    rows = axis.lab_finetune_kinds(ch, _table(np.random.default_rng(1)))
    assert [r["metric"] for r in ch.effects.rows] == ["shape-bias drop, standard minus contrastive",
                                                     "shape-bias drop, standard minus parameter-efficient"]
    assert rows == ch.effects.rows
