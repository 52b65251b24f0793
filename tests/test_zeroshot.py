"""A classifier's logits on a dataset's classes (clipstudy.zeroshot.ZeroShot with a class index)."""
from __future__ import annotations

import torch

from clipstudy.encode import Encoded
from clipstudy.zeroshot import ZeroShot


def _zs(class_index):
    z = torch.tensor([[0.1, 2.0, 0.3, 4.0, 0.5, 0.2], [3.0, 0.1, 0.2, 0.3, 0.4, 5.0]])
    enc = Encoded(z, torch.tensor([0, 1]), ["a", "b"], [])
    return ZeroShot("timm:x", "d", "classifier-head", enc, None, 1.0, ["c0", "c1", "c2"][:len(class_index)],
                    class_index, precision="fp32")


def test_a_class_of_several_imagenet_classes_takes_their_largest_logit():
    """ImageNet-R/A name one ImageNet column a class; ImageNet-D several (the largest logit of them is the class')."""
    assert torch.equal(_zs([1, 3]).logits, torch.tensor([[2.0, 4.0], [0.1, 0.3]]))
    got = _zs([[0, 5], [2], [3, 1]]).logits
    assert torch.equal(got, torch.tensor([[0.2, 0.3, 4.0], [5.0, 0.2, 0.3]]))
    assert got.argmax(1).tolist() == [2, 0]
