"""A plugin for the tests: one OOD score, registered by one function (CLIPSTUDY_PLUGINS=ood_plugin_example)."""
import numpy as np
from scipy.special import softmax

from clipstudy.metrics.ood import register_score


@register_score("negentropy", "logits")
def negentropy(z, temperature=1.0):
    """Negative entropy of softmax(logits / T): a peaked output is more in-distribution."""
    p = softmax(z / temperature, axis=1)
    return (p * np.log(np.clip(p, 1e-12, None))).sum(axis=1)
