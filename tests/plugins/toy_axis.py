"""A toy study axis declared from a plugin module (CLIPSTUDY_PLUGINS=toy_axis, with tests/plugins on the path):
one `Axis` with one dataset and one metric, and nothing else in clipstudy edited."""
from clipstudy.axes.core import Axis, register, row


def evaluate(o, id_of):
    """The mean top-1 softmax confidence of the zero-shot logits."""
    p = o.zs.logits.float().softmax(1).max(1).values
    return [row("all", "mean_confidence", float(p.mean()), len(p))]


AXIS = register(Axis("toy", "toy confidence", "99_toy", live=("imagenet-sketch",), runner="toy",
                     tasks=("classification",), evaluate=evaluate, metrics=("mean_confidence",)))
