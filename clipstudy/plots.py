"""Seaborn figures shared by chapters. Each takes a tidy frame and returns (fig, ax)."""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _pct_of_logit(v: float, _pos: Any = None) -> str:
    return f"{100 / (1 + np.exp(-v)):.0f}%"


def effective_robustness(df: pd.DataFrame, x: str = "id_acc", y: str = "ood_acc", hue: str = "group",
                         fit: Any = None, title: str = "", xlabel: str = "ImageNet top-1 (%)",
                         ylabel: str = "shifted top-1 (%)", ax: Any = None, style: str | None = None):
    """Accuracy under shift against ID accuracy on logit axes, with the baseline fit as a line."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 4.2))
    else:
        fig = ax.figure
    d = df.assign(_x=_logit(df[x]), _y=_logit(df[y]))
    sns.scatterplot(data=d, x="_x", y="_y", hue=hue, style=style, ax=ax, s=28, alpha=0.8)
    if fit is not None:
        xs = np.linspace(d["_x"].min(), d["_x"].max(), 50)
        ax.plot(xs, fit.slope * xs + fit.intercept, "k--", lw=1, label="baseline fit")
    lo = min(d["_x"].min(), d["_y"].min())
    hi = max(d["_x"].max(), d["_y"].max())
    ax.plot([lo, hi], [lo, hi], color="0.7", lw=0.8, label="y = x")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(_pct_of_logit))
    ax.set(xlabel=xlabel + " (logit scale)", ylabel=ylabel + " (logit scale)", title=title)
    ax.legend(fontsize=7, loc="upper left")
    return fig, ax


def reliability(rel: pd.DataFrame, hue: str = "model", title: str = "", ax: Any = None):
    """Reliability diagram: accuracy against confidence per bin; the diagonal is perfect calibration."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4.2))
    else:
        fig = ax.figure
    d = rel[rel["count"] > 0]
    sns.lineplot(data=d, x="confidence", y="accuracy", hue=hue if hue in d else None, marker="o", ax=ax)
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (max softmax)", ylabel="accuracy", title=title)
    return fig, ax


def bars(df: pd.DataFrame, x: str, y: str, hue: str | None = None, title: str = "", ylabel: str | None = None,
         ax: Any = None, rotate: int = 30, ref: float | None = None):
    """A bar chart of one metric; `ref` draws a reference line (chance, or no effect)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4.5, 0.45 * df[x].nunique() + 2), 3.8))
    else:
        fig = ax.figure
    sns.barplot(data=df, x=x, y=y, hue=hue, ax=ax, errorbar=None)
    if ref is not None:
        ax.axhline(ref, color="0.3", lw=0.8, ls="--")
    ax.set(title=title, ylabel=ylabel or y, xlabel="")
    ax.tick_params(axis="x", rotation=rotate)
    if hue:
        ax.legend(fontsize=7)
    return fig, ax


def lines(df: pd.DataFrame, x: str, y: str, hue: str, title: str = "", xlabel: str | None = None,
          ylabel: str | None = None, ax: Any = None, style: str | None = None):
    """Metric against an ordered knob (severity, data size), one line per group."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 3.8))
    else:
        fig = ax.figure
    sns.lineplot(data=df, x=x, y=y, hue=hue, style=style, marker="o", ax=ax, errorbar=None)
    ax.set(title=title, xlabel=xlabel or x, ylabel=ylabel or y)
    ax.legend(fontsize=7)
    return fig, ax


def image_grid(images: Any, titles: list[str] | None = None, ncols: int = 8, size: float = 1.2):
    """A grid of uint8 [N,3,H,W] images (lab renders, stimuli)."""
    import torch

    imgs = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    n = len(imgs)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15))
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(np.transpose(imgs[i], (1, 2, 0)))
            if titles:
                ax.set_title(titles[i], fontsize=6)
    fig.tight_layout()
    return fig, axes
