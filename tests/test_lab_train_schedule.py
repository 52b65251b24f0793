"""The lab zoo's optimisation (lab.train.Schedule): the learning-rate curve at given steps, label smoothing as torch
computes it, the weight average, and the CPU time and work each training record carries."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from clipstudy.errors import UnknownNameError
from clipstudy.lab import train as T


def test_the_default_curve_is_linear_warmup_then_cosine_to_zero():
    s = T.Schedule()
    steps = 240
    assert s.warmup_steps(steps) == 24
    assert s.lr(0, steps) == pytest.approx(1 / 24) and s.lr(23, steps) == pytest.approx(1.0)
    assert s.lr(24, steps) == pytest.approx(1.0)
    assert s.lr(24 + 108, steps) == pytest.approx(0.5)  # halfway through the decay
    assert s.lr(steps, steps) == pytest.approx(0.0, abs=1e-12)
    for n in (1, 7, 30, 120, 300, 720):  # the curve open_clip-style loops ran with (lab.train.cosine_lr, 10% warm-up)
        assert [s.lr(i, n) for i in range(n)] == [T.cosine_lr(i, n, max(1, n // 10)) for i in range(n)]


def test_a_linear_decay_falls_in_a_straight_line_to_zero():
    s = T.Schedule(warmup=0.05, decay="linear")
    assert s.warmup_steps(200) == 10
    assert s.lr(9, 200) == pytest.approx(1.0)
    assert s.lr(10, 200) == pytest.approx(1.0) and s.lr(105, 200) == pytest.approx(0.5)
    assert s.lr(199, 200) == pytest.approx(1 / 190)


def test_schedule_values_are_checked():
    with pytest.raises(UnknownNameError, match="decay"):
        T.Schedule(decay="step")
    for bad in (dict(warmup=0.0), dict(label_smoothing=1.0), dict(ema=1.0), dict(ema=-0.1)):
        with pytest.raises(ValueError):
            T.Schedule(**bad)


def test_clip_loss_without_smoothing_is_open_clips_and_with_it_torchs_cross_entropy():
    import open_clip

    g = torch.Generator().manual_seed(0)
    img = F.normalize(torch.randn(8, 16, generator=g), dim=-1)
    txt = F.normalize(torch.randn(8, 16, generator=g), dim=-1)
    scale = torch.tensor(10.0)
    assert isinstance(T._clip_loss(0.0), open_clip.loss.ClipLoss)
    ref = open_clip.loss.ClipLoss()(img, txt, scale)
    ours = T._clip_loss(0.1)(img, txt, scale)
    logits = scale * img @ txt.T
    labels = torch.arange(8)
    brute = 0.0
    for lg in (logits, logits.T):  # smoothed targets: 1 - eps on the pair, eps / n spread over all n
        target = torch.full_like(lg, 0.1 / 8) + 0.9 * F.one_hot(labels, 8)
        brute = brute + (-(target * lg.log_softmax(-1)).sum(-1)).mean() / 2
    assert float(ours) == pytest.approx(float(brute), rel=1e-6) and float(ours) != pytest.approx(float(ref))


def test_ema_returns_the_average_of_the_weights_after_the_warmup(monkeypatch):
    """A one-parameter model trained with a known gradient: the returned weight is torch's EMA of the trajectory
    from the end of the warm-up, not the last weight."""
    class One(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

    traj = []
    m = One()

    def step(gen):
        return (m.w - 1.0).pow(2).sum()

    orig = T._ema

    def spy(model, decay):
        e = orig(model, decay)
        traj.append(float(model.w.detach()))
        real = e.update_parameters

        def upd(mm):
            real(mm)
            traj.append(float(mm.w.detach()))
        e.update_parameters = upd
        return e
    monkeypatch.setattr(T, "_ema", spy)
    sched = T.Schedule(ema=0.5)
    T.train_loop(m, step, steps=10, batch_size=1, lr=0.1, weight_decay=0.0, seed=0, desc="t", progress=False,
            schedule=sched)
    assert len(traj) == 10 - sched.warmup_steps(10) + 1
    want = traj[0]
    for w in traj[1:]:
        want = 0.5 * want + 0.5 * w
    assert float(m.w) == pytest.approx(want, rel=1e-6) and float(m.w) != pytest.approx(traj[-1])


def test_the_training_record_carries_cpu_time_and_pixels():
    torch.manual_seed(0)
    m = T.build_clip("resnet", "clip", image_size=32)
    from clipstudy.lab import captions

    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    tok = captions.tokenizer(["a red cube."] * 8).view(8, 1, -1)
    h = T.train_clip(m, x, tok, steps=2, batch_size=8, progress=False, preprocess=T.Preprocess(size=32))
    row = h.row()
    assert row["pixels"] == 32 * 32 and row["samples_seen"] == 16
    assert math.isfinite(row["cpu_s"]) and row["cpu_s"] > 0


@pytest.mark.parametrize("buckets", [1, 2, 5])
def test_bucketed_text_tower_is_the_same_function_forward_and_backward(buckets):
    """Captions of several lengths (the lab's 16-token context, padded): features and every parameter's gradient as
    open_clip's own encode_text gives them, to float rounding, in the input order."""
    from clipstudy.lab import captions

    torch.manual_seed(0)
    m = T.build_clip("resnet", "clip", image_size=32)
    texts = ["a cube.", "a red striped cube on a plain background.", "there is a torus.", "a huge sphere.",
             "the cone, red, dotted.", "a photo of a small blue checkered capsule on grass under the sky."]
    tok = captions.tokenizer(texts * 3)
    ref = m.encode_text(tok, normalize=True)
    ref.pow(3).sum().backward()
    g_ref = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
    m.zero_grad()
    got = T.encode_text_bucketed(m, tok, buckets)
    got.pow(3).sum().backward()
    assert torch.allclose(got, ref, atol=1e-6)
    assert set(g_ref) == {n for n, p in m.named_parameters() if p.grad is not None}
    for n, p in m.named_parameters():
        if n in g_ref:
            assert torch.allclose(p.grad, g_ref[n], atol=1e-5, rtol=1e-4), n
    outs = T._clip_outputs(m, T.Preprocess(size=32)(torch.zeros(2, 3, 32, 32, dtype=torch.uint8)), tok[:2])
    want = m(T.Preprocess(size=32)(torch.zeros(2, 3, 32, 32, dtype=torch.uint8)), tok[:2])
    assert len(outs) == len(want) == 3 and all(torch.allclose(a, b, atol=1e-6) for a, b in zip(outs, want))
    sig = T.build_clip("resnet", "siglip", image_size=32)
    assert len(T._clip_outputs(sig, T.Preprocess(size=32)(torch.zeros(2, 3, 32, 32, dtype=torch.uint8)), tok[:2])) == 4
