"""The LMM two-choice protocol: pairs, answer matching, scores, and the transformers path on a tiny
random LLaVA built in code (a pipeline test: nothing is downloaded, its answers are no finding)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from clipstudy import lmm
from clipstudy.errors import ClipstudyError, MissingDataError

CLASSES = ["cat", "dog", "tiger cat", "bus"]


# --------------------------------------------------------------------------- questions and pairs

def test_question_text():
    assert lmm.question("cat", "dog") == ("What is the main object in this image? "
                                          "Choose from the following list: cat, dog.")


def test_pairs_other_is_reference_failure():
    labels = [0, 0, 3]
    logits = torch.tensor([[1.0, 5.0, 2.0, 0.0],   # top-1 dog is wrong -> other = dog
                           [9.0, 1.0, 5.0, 0.0],   # top-1 right -> other = top-2 (tiger cat)
                           [0.0, 0.0, 1.0, 3.0]])  # top-1 right -> other = top-2 (tiger cat)
    p = lmm.build_pairs(labels, logits, CLASSES, keys=["a", "b", "c"], seed=0)
    assert list(p["other"]) == ["dog", "tiger cat", "tiger cat"]
    assert list(p["reference_correct"]) == [False, True, True]
    for _, r in p.iterrows():
        assert {r.choice_a, r.choice_b} == {r.true, r.other}
        assert r.question == lmm.question(r.choice_a, r.choice_b)
    # ranked top-2 predictions give the same pairs as the logits they came from
    top2 = torch.topk(logits, 2).indices.numpy()
    q = lmm.build_pairs(labels, top2, CLASSES, keys=["a", "b", "c"], seed=0)
    pd.testing.assert_frame_equal(p, q)


def test_pairs_order_is_seeded_and_shuffled():
    n = 200
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, n)
    logits = rng.normal(size=(n, 4))
    a = lmm.build_pairs(labels, logits, CLASSES, seed=3)
    b = lmm.build_pairs(labels, logits, CLASSES, seed=3)
    c = lmm.build_pairs(labels, logits, CLASSES, seed=4)
    pd.testing.assert_frame_equal(a, b)
    first = (a["choice_a"] == a["true"]).mean()
    assert 0.3 < first < 0.7  # the true class is not always first
    assert not a["choice_a"].equals(c["choice_a"])


def test_pairs_reject_colliding_names():
    logits = np.array([[0.0, 1.0, 0.0, 0.0]])
    with pytest.raises(ClipstudyError, match="share the name.*kitty"):
        lmm.build_pairs([0], logits, CLASSES, synonyms={"cat": ["kitty"], "dog": ["Kitty"]})
    with pytest.raises(ClipstudyError, match="crane"):  # ImageNet has two classes called crane
        lmm.build_pairs([0], np.array([[0.0, 1.0]]), ["crane", "Crane"])
    # a synonym shared by classes never asked together is fine
    ok = lmm.build_pairs([0], logits, CLASSES, synonyms={"cat": ["kitty"], "bus": ["kitty"]})
    assert ok.loc[0, "other"] == "dog"


def test_pairs_bad_input():
    with pytest.raises(ValueError, match="shape"):
        lmm.build_pairs([0], np.array([1.0, 2.0]), CLASSES)
    with pytest.raises(ValueError, match="out of range"):
        lmm.build_pairs([7], np.array([[1.0, 2.0, 0.0, 0.0]]), CLASSES)
    with pytest.raises(ValueError, match="2 labels but 1"):
        lmm.build_pairs([0, 1], np.array([[1.0, 2.0, 0.0, 0.0]]), CLASSES)


# --------------------------------------------------------------------------- answer matching

@pytest.mark.parametrize("answer,verdict", [
    ("Cat", "TRUE"),
    ("The main object is a CAT.", "TRUE"),
    ("cats", "TRUE"),                     # regular plural
    ("dog", "FALSE"),
    ("A catamaran.", "NEITHER"),          # substring is not a word
    ("concatenate", "NEITHER"),
    ("", "NEITHER"),
    (None, "NEITHER"),
    ("I cannot tell.", "NEITHER"),        # never guessed
    ("cat, dog", "BOTH"),
    ("It is a dog, not a cat", "BOTH"),   # negation is not parsed: both are named
    ("kitty", "TRUE"),                    # synonym
    ("Kitties", "NEITHER"),               # irregular plural only via the synonym table
    ("hot-dog", "FALSE"),                 # hyphens split words
])
def test_match_answer(answer, verdict):
    assert lmm.match_answer(answer, "cat", "dog", {"cat": ["kitty"]}) == verdict


def test_match_prefers_longer_names():
    assert lmm.match_answer("a tiger cat", "tiger cat", "cat") == "TRUE"
    assert lmm.match_answer("a tiger cat", "cat", "tiger cat") == "FALSE"
    assert lmm.match_answer("a cat", "tiger cat", "cat") == "FALSE"
    assert lmm.match_answer("a tiger cat next to a cat", "tiger cat", "cat") == "BOTH"
    assert lmm.match_answer("T-Shirt", "t-shirt", "jersey") == "TRUE"


def test_score_counts_and_accuracy():
    df = pd.DataFrame({"match": ["TRUE", "TRUE", "FALSE", "BOTH", "NEITHER", "TRUE"],
                       "g": ["x", "x", "x", "y", "y", "y"]})
    s = lmm.score(df).iloc[0]
    assert (s.n, s.n_true, s.n_false, s.n_both, s.n_neither) == (6, 3, 1, 1, 1)
    assert s.accuracy == pytest.approx(3 / 4)
    g = lmm.score(df, by="g").set_index("g")
    assert g.loc["x", "accuracy"] == pytest.approx(2 / 3)
    assert g.loc["y", "accuracy"] == pytest.approx(1.0) and g.loc["y", "n_neither"] == 1
    assert np.isnan(lmm.score(pd.DataFrame({"match": ["BOTH"]})).loc[0, "accuracy"])
    with pytest.raises(ValueError, match="expected only"):
        lmm.score(pd.DataFrame({"match": ["yes"]}))


def test_clip_two_choice_and_compare():
    labels = [0, 1, 2, 3]
    logits = torch.tensor([[5.0, 1.0, 4.0, 0.0],   # full-way right; two-way right
                           [3.0, 2.0, 0.0, 0.0],   # full-way wrong (cat); two-way wrong
                           [0.0, 0.0, 1.0, 2.0],   # full-way wrong (bus); two-way wrong
                           [0.0, 0.0, 0.0, 1.0]])  # right
    pairs = lmm.build_pairs(labels, logits, CLASSES, keys=list("abcd"))
    clip = lmm.clip_two_choice(pairs, logits.flip(0), keys=list("dcba"))  # rows in another order
    assert list(clip["clip_correct"]) == [True, False, False, True]
    assert list(clip["match"]) == ["TRUE", "FALSE", "FALSE", "TRUE"]
    fake = pairs.assign(match=["FALSE", "TRUE", "NEITHER", "TRUE"])
    cmp = lmm.compare(fake, clip).set_index(["model", "clip_full"])
    assert cmp.loc[("clip", "wrong"), "accuracy"] == 0.0  # CLIP's own failures are two-way failures here
    assert cmp.loc[("lmm", "wrong"), "accuracy"] == 1.0 and cmp.loc[("lmm", "wrong"), "n_neither"] == 1
    assert cmp.loc[("lmm", "right"), "accuracy"] == 0.5
    assert cmp.loc[("lmm", "all"), "n"] == 4
    with pytest.raises(ValueError, match="no CLIP logits"):
        lmm.clip_two_choice(pairs, logits, keys=list("abcx"))


def test_generation_settings_are_explicit():
    g = lmm.GenerationSettings()
    assert g.kwargs() == dict(do_sample=False, max_new_tokens=16, num_beams=1)
    s = lmm.GenerationSettings(do_sample=True, temperature=0.2)
    assert s.kwargs()["temperature"] == 0.2


# --------------------------------------------------------------------------- missing checkpoints

def test_missing_local_checkpoint(tmp_path):
    with pytest.raises(MissingDataError, match="huggingface-cli download llava-hf/") as e:
        lmm.load_llava(str(tmp_path / "nowhere"))
    assert str(tmp_path / "nowhere") in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match="config.json"):
        lmm.load_llava(str(tmp_path / "empty"))


def test_missing_hub_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingDataError, match=r"huggingface-cli download llava-hf/llava-1\.5-7b-hf") as e:
        lmm.load_llava("llava-1.5-7b", cache_dir=tmp_path)
    assert "llava-hf/llava-1.5-7b-hf" in str(e.value) and str(tmp_path) in str(e.value)


# --------------------------------------------------------------------------- tiny random LLaVA, built in code

CHAT = ("{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}<image>\n"
        "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}"
        "{% if add_generation_prompt %} ASSISTANT:{% endif %}")


def tiny_llava(path, chat_template=None):
    """Save a random 2-layer LLaVA with a word-level tokenizer to `path` (seconds, no download)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)

    words = ["<pad>", "<unk>", "<s>", "</s>", "<image>"]
    words += sorted(set(lmm.question("x", "y").lower().replace(".", " . ").replace(",", " , ")
                        .replace("?", " ? ").replace(":", " : ").split()) | {"user", "assistant", "tiger"}
                    | set(CLASSES))
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                  eos_token="</s>", model_input_names=["input_ids", "attention_mask"])
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    image_proc = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    proc = LlavaProcessor(image_processor=image_proc, tokenizer=tok, patch_size=8, image_token="<image>",
                          vision_feature_select_strategy="default", num_additional_image_tokens=1,
                          chat_template=chat_template)
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=2, image_size=32, patch_size=8),
        text_config=LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                                pad_token_id=0, bos_token_id=2, eos_token_id=3),
        image_token_index=tok.convert_tokens_to_ids("<image>"), image_seq_length=16,
        vision_feature_layer=-2, vision_feature_select_strategy="default")
    torch.manual_seed(0)
    LlavaForConditionalGeneration(cfg).save_pretrained(path)
    proc.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


def _images(keys):
    from PIL import Image

    rng = np.random.default_rng(0)
    return {k: Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for k in keys}


def test_pipeline_tiny_random_llava(tiny_dir):
    """question -> generate -> match -> score, end to end; random weights, so only the plumbing is checked."""
    keys = list("abcdef")
    labels = [0, 1, 3, 0, 1, 3]
    logits = torch.tensor(np.random.default_rng(0).normal(size=(6, 4)), dtype=torch.float32)
    model, proc = lmm.load_llava(str(tiny_dir))
    out = lmm.evaluate_llava(model, proc, lmm.build_pairs(labels, logits, CLASSES, keys=keys),
                             _images(keys), lmm.GenerationSettings(max_new_tokens=4), batch_size=4, progress=False)
    assert len(out) == 6 and out["answer"].map(type).eq(str).all()
    assert set(out["match"]) <= set(lmm.VERDICTS)
    s = lmm.score(out).iloc[0]
    assert s.n_true + s.n_false + s.n_both + s.n_neither == 6


def test_pipeline_answers_exclude_prompt(tiny_dir):
    """Force the LM to say 'cat': only new tokens are decoded, so the prompt (naming both classes) never leaks
    into the answer; also exercises the checkpoint's chat template."""
    model, proc = lmm.load_llava(str(tiny_dir))
    proc.chat_template = CHAT
    assert lmm.prompt_for(proc, "hi").startswith("USER: <image>\nhi ASSISTANT:")
    cat = proc.tokenizer.convert_tokens_to_ids("cat")
    head = model.get_output_embeddings()
    handle = head.register_forward_hook(lambda m, i, o: o.index_fill(-1, torch.tensor([cat]), 1e4))
    try:
        keys = list("abc")
        pairs = lmm.build_pairs([0, 1, 0], np.array([[0, 9, 1, 0], [9, 0, 1, 0], [0, 9, 1, 0.0]]), CLASSES,
                                keys=keys)
        out = lmm.evaluate_llava(model, proc, pairs, _images(keys), lmm.GenerationSettings(max_new_tokens=3),
                                 batch_size=2, progress=False)
    finally:
        handle.remove()
    assert list(out["answer"]) == ["cat cat cat"] * 3
    assert list(out["match"]) == ["TRUE", "FALSE", "TRUE"]


def test_evaluate_end_to_end(tiny_dir, monkeypatch):
    """`evaluate` with CLIP as its own reference: pairs, answers, CLIP's two-way choice, comparison."""
    keys = list("abcd")
    labels = [0, 1, 3, 2]
    clip_logits = torch.tensor([[5.0, 1, 0, 0], [4, 1, 0, 0], [0, 0, 3, 2], [0, 0, 1, 0]])
    imgs = _images(keys)
    detail, cmp = lmm.evaluate(str(tiny_dir), imgs, clip_logits, classnames=CLASSES, keys=keys, labels=labels,
                               settings=lmm.GenerationSettings(max_new_tokens=2), device="cpu", progress=False)
    assert set(cmp["model"]) == {str(tiny_dir), "clip"}
    assert set(cmp["clip_full"]) == {"right", "wrong", "all"}
    c = cmp.set_index(["model", "clip_full"])
    assert c.loc[("clip", "wrong"), "accuracy"] == 0.0  # CLIP as reference: its failures are its two-way failures
    assert c.loc[("clip", "right"), "accuracy"] == 1.0
    assert c.loc[(str(tiny_dir), "all"), "n"] == 4
    assert list(detail["clip_correct"]) == [True, False, False, True]
