"""`clipstudy compare A B`: is model A really better than model B here? Paired over the same images.

Both models run through the study runner (so their features are the cache's, shared with every other run), then
each dataset is compared on the images both encoded, by its task:

- classification and 3D corruptions: top-1 difference, a paired bootstrap interval over images and McNemar's exact
  p (the discordant images against a fair coin); ECE difference, a paired bootstrap (15 bins, as DESIGN.md);
- OOD sets: AUROC difference against the ID set the OOD axis pairs them with (MCM for zero-shot heads, MSP for a
  classifier's own head), the ID and the OOD images each resampled;
- cue-conflict: the shape-bias difference, paired over the conflict images.

Within each metric the datasets are one family: Holm's correction across them (`p_holm`). The table is tidy (one
row per dataset and metric); `figure` draws the differences with their intervals. Retrieval and LMM sets are not
compared (a row says so).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from . import effects as E
from .errors import ClipstudyError

COLUMNS = ["dataset", "metric", "model_a", "model_b", "value_a", "value_b", "difference", "ci_low", "ci_high", "p",
           "p_holm", "se", "test", "n", "prompts", "note"]


# ---- the comparisons, over two models' stored outputs on one dataset ------------------------------

def _aligned(a, b) -> tuple:
    """The two models' outputs restricted to the images both encoded, in one order: (indices of a, of b, keys)."""
    ka = [str(k) for k in a.zs.encoded.keys]
    kb = {str(k): i for i, k in enumerate(b.zs.encoded.keys)}
    ia = [i for i, k in enumerate(ka) if k in kb]
    return np.asarray(ia, int), np.asarray([kb[ka[i]] for i in ia], int), [ka[i] for i in ia]


def _probs(o) -> np.ndarray:
    import torch

    return torch.softmax(o.zs.logits.float(), dim=1).numpy()


def classification(a, b, n_boot: int = E.N_PAIRED, seed: int = 0) -> list[dict]:
    """Top-1 (paired bootstrap, McNemar's exact p) and ECE (paired bootstrap) of A minus B on the same images."""
    from .metrics.calibration import binned

    ia, ib, _ = _aligned(a, b)
    labels = a.zs.labels.numpy()[ia]
    if not np.array_equal(labels, b.zs.labels.numpy()[ib]):
        raise ClipstudyError(f"{a.dataset}: the two models read different labels for the same images")
    ra = (a.zs.logits.argmax(1).numpy()[ia] == labels)
    rb = (b.zs.logits.argmax(1).numpy()[ib] == labels)
    top1 = E.paired_bootstrap(lambda r: r.mean(axis=-1), (ra,), (rb,), n_boot, seed, batched=True)
    # one image group: each image's (bin, confidence, correct) is one row, resampled together
    cal = E.paired_bootstrap(_ece_rows, (np.stack(binned(_probs(a)[ia], labels), axis=-1),),
                             (np.stack(binned(_probs(b)[ib], labels), axis=-1),), n_boot, seed, batched=True)
    return [dict(top1, metric="top1", p=E.mcnemar_exact(ra, rb), test="paired bootstrap; McNemar exact p"),
            dict(cal, metric="ece", test="paired bootstrap")]


def _ece_rows(x: np.ndarray) -> np.ndarray:
    """ECE per resample of (resamples, images, [bin, confidence, correct]) rows."""
    from .metrics.calibration import ece_of_bins

    return ece_of_bins(x[..., 0].astype(np.int64), x[..., 1], x[..., 2])


def _id_ness(o) -> np.ndarray:
    """Each image's ID-ness score: MCM on a zero-shot head's cosines, MSP on a classifier's own logits."""
    from .metrics import ood_scores

    return ood_scores(o.zs.cosine.numpy(), "mcm") if o.zs.head is not None else ood_scores(o.zs.logits.numpy(), "msp")


def detection(a, b, a_id, b_id, n_boot: int = E.N_PAIRED, seed: int = 0) -> list[dict]:
    """AUROC of telling the ID set from the OOD set, A minus B, the ID and OOD images each resampled (paired)."""
    from .metrics.ood import auroc_rows

    ia, ib, _ = _aligned(a, b)
    ja, jb, _ = _aligned(a_id, b_id)
    sa, sb = _id_ness(a)[ia], _id_ness(b)[ib]
    ta, tb = _id_ness(a_id)[ja], _id_ness(b_id)[jb]
    r = E.paired_bootstrap(auroc_rows, (ta, sa), (tb, sb), n_boot, seed, batched=True)
    return [dict(r, metric="auroc", test=f"paired bootstrap (ID: {a_id.dataset})")]


def shape(a, b, n_boot: int = E.N_PAIRED, seed: int = 0) -> list[dict]:
    """Shape bias (shape / (shape + texture) decisions over the conflict images), A minus B, paired over images."""
    from .datasets import cue_conflict
    from .metrics.shape_bias import live_decisions, shape_bias

    ia, ib, _ = _aligned(a, b)
    f = a.frame.iloc[ia].reset_index(drop=True)
    if "texture_label" not in f.columns:
        return []
    s, t = f["label"].to_numpy(np.int64), f["texture_label"].to_numpy(np.int64)
    conflict = s != t
    da = live_decisions(a.zs, cue_conflict.aggregate_probabilities)[ia][conflict]
    db = live_decisions(b.zs, cue_conflict.aggregate_probabilities)[ib][conflict]
    # one image group: an image's decision, shape class and texture class are one row, resampled together
    rows_a, rows_b = (np.stack([d, s[conflict], t[conflict]], axis=1) for d in (da, db))
    r = E.paired_bootstrap(lambda x: shape_bias(x[:, 0], x[:, 1], x[:, 2]), (rows_a,), (rows_b,), n_boot, seed)
    return [dict(r, metric="shape_bias", test="paired bootstrap")]


def holm_within_metric(table: pd.DataFrame) -> pd.DataFrame:
    """`p_holm`: Holm's correction of each metric's p over its datasets."""
    out = table.copy()
    out["p_holm"] = np.nan
    for _, g in out.groupby("metric"):
        out.loc[g.index, "p_holm"] = E.holm(g["p"].to_numpy(float))
    return out


# ---- the command ---------------------------------------------------------------------------------

def _pick(outs: list, prompts: str):
    return next((o for o in outs if o.prompts == prompts), outs[0] if outs else None)


def table(a: str, b: str, units: Sequence, prompts: str, n_boot: int = E.N_PAIRED, seed: int = 0) -> pd.DataFrame:
    """The comparison table from complete runner units of both models (`run.Plan.units`)."""
    from .run.data import id_set_of
    from .run.evaluate import outputs

    by = {(u.model, u.dataset): u for u in units}
    datasets = list(dict.fromkeys(u.dataset for u in units if u.model == a and (b, u.dataset) in by))
    cache: dict = {}

    def out(model: str, dataset: str):
        if (model, dataset) not in cache:
            cache[(model, dataset)] = _pick(outputs(by[(model, dataset)]), prompts)
        return cache[(model, dataset)]

    rows = []
    for d in datasets:
        oa, ob = out(a, d), out(b, d)
        if oa.task in ("classification", "3d", "factors"):
            got = classification(oa, ob, n_boot, seed)
        elif oa.task == "ood":
            ref = id_set_of(d)
            if (a, ref) not in by or (b, ref) not in by:
                got = [dict(metric="auroc", note=f"its ID set {ref} was not run")]
            else:
                got = detection(oa, ob, out(a, ref), out(b, ref), n_boot, seed)
        elif oa.task == "shape-bias":
            got = classification(oa, ob, n_boot, seed)[:1] + shape(oa, ob, n_boot, seed)
        else:
            got = [dict(metric="", note=f"a {oa.task} set: not compared (no paired metric is defined here)")]
        rows += [dict(dict(value_a=np.nan, value_b=np.nan, effect=np.nan, ci_low=np.nan, ci_high=np.nan, p=np.nan,
                           se=np.nan, n=0, test="", note=""), **r, dataset=d, model_a=a, model_b=b, prompts=oa.prompts)
                 for r in got]
    t = pd.DataFrame(rows).rename(columns={"effect": "difference"}) if rows else pd.DataFrame(columns=COLUMNS)
    return holm_within_metric(t.assign(p_holm=np.nan))[COLUMNS]


@dataclass
class Comparison:
    """The comparison table and what the runner did for it (`run.Summary`: a warm cache encodes nothing)."""

    table: pd.DataFrame
    summary: object


def compare(a: str, b: str, datasets: Iterable[str] | str, *, prompts: str = "openai80", study: str | Path = "compare",
            executor: str = "local", executor_options: dict | None = None, device: str = "auto",
            precision: str = "auto", n_boot: int = E.N_PAIRED, seed: int = 0, lab_profile: str | None = None,
            progress: bool = True) -> Comparison:
    """Run A and B over `datasets` (the plan adds each OOD set's ID set) through the runner, then compare them
    paired over the same images (`table`); units either model failed are named in the error."""
    from . import axes
    from .run import run

    if a == b:
        raise ClipstudyError(f"compare needs two different models; got {a!r} twice")
    names = axes.expand_datasets(datasets)
    if not names:
        raise ClipstudyError("compare needs at least one dataset (--datasets D1,D2 or @COLLECTION)")
    out = run([a, b], names, axes="all", prompts=prompts, executor=executor, executor_options=executor_options,
              device=device, precision=precision, study=study, lab_profile=lab_profile, evaluate=False,
              progress=progress)
    if out.failed:
        raise ClipstudyError("compare: unit(s) failed, nothing is compared: "
                             + "; ".join(f"{r.model} x {r.dataset}: {r.error}" for r in out.failed))
    t = table(a, b, out.plan.units, prompts, n_boot, seed)
    return Comparison(t[t["dataset"].isin(names)].reset_index(drop=True), out.summary)


def figure(t: pd.DataFrame):
    """A's minus B's value per dataset and metric with its 95% interval (one panel per metric)."""
    from . import plots

    return plots.paired_differences(t.dropna(subset=["difference"]))


def write(t: pd.DataFrame, folder: str | Path) -> tuple[Path, Path | None]:
    """compare.csv and, when anything was compared, compare.png in `folder`; returns their paths."""
    from .store import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "compare.csv"
    atomic_write(csv, lambda f: t.to_csv(f, index=False), "w")
    if not t["difference"].notna().any():
        return csv, None
    fig = figure(t)
    png = folder / "compare.png"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    return csv, png


# ---- in the live chapters: the researcher's models against the panel, from the live study's units ---------

def _live_units(ch, models: Sequence[str], datasets: Sequence[str]) -> list:
    """The complete units of `models` x `datasets` in the build's live study (planned, never run: nothing encodes)."""
    from .run.plan import plan

    p = plan(list(models), list(datasets), prompts=ch.params.live_prompts, precision=ch.precision,
             device=ch.device, study=str(ch.results_dir / "live"))
    return list(p.reused)


def yours(ch, n_boot: int = E.N_PAIRED) -> pd.DataFrame | None:
    """In a live build with the researcher's own models (`build --models`): each of theirs against each panel model
    on this chapter's live datasets, paired over the same images (`table`), from the units the live grid stored.
    Shows the table and its figure; None, after one line, when the build has none of theirs."""
    from . import chapter as C
    from . import tables

    if ch.params is None or not ch.params.live or not tables.MARKED:  # the live section said why it is empty
        return None
    t = ch.live_results(ch.axis.runner)
    mine = sorted(set(t["model"]) & tables.MARKED) if t is not None else []
    if not mine:
        print("No model of yours in this build's live panel (`clipstudy build --models`): nothing to compare.")
        return None
    panel = sorted(set(t["model"]) - tables.MARKED)
    datasets = sorted(set(t["dataset"]))
    units = _live_units(ch, mine + panel, datasets)
    parts = [table(m, p, units, ch.params.live_prompts, n_boot) for m in mine for p in panel]
    out = pd.concat([x for x in parts if len(x)], ignore_index=True) if any(len(x) for x in parts) else \
        pd.DataFrame(columns=COLUMNS)
    ch.save(out, "live_yours_vs_panel")
    if not len(out):
        C.notice("Nothing to compare", "The live study holds no unit that both one of your models and a panel model "
                                       "completed on this chapter's datasets.")
        return out
    tables.show(out[["model_a", "model_b", "dataset", "metric", "value_a", "value_b", "difference", "ci_low",
                     "ci_high", "p", "p_holm"]])
    for k, (_, g) in enumerate(out.dropna(subset=["difference"]).groupby(["model_a", "model_b"], sort=False)):
        ch.figure(figure(g), g, f"live_yours_vs_panel_{k + 1}")
    return out


def finetune_pairs(ch, live_sb: pd.DataFrame | None, n_boot: int = E.N_PAIRED) -> list[dict]:
    """C3's live effect: each live fine-tuned CLIP against its zero-shot parent on the cue-conflict images, paired
    per image (shape bias on the same conflict images, `shape`), then the mean over pairs with the between-pair and
    the image variance (`axes.lmm.seeds_gain`, pairs in the place of seeds; a pair's variance is its image
    bootstrap's); added to chapter 04's effects, its n the paired images over all pairs."""
    from .axes.lmm import seeds_gain
    from .axes.shape_bias import AXIS, zero_shot_parent

    if live_sb is None or "cue-conflict" not in set(live_sb["dataset"]):
        return []
    models = sorted(set(live_sb.loc[live_sb["dataset"] == "cue-conflict", "model"]))
    pairs = [(m, p) for m in models if (p := zero_shot_parent(m, models)) is not None]
    if not pairs:
        return []
    units = _live_units(ch, sorted({x for pr in pairs for x in pr}), ["cue-conflict"])
    per = []
    for m, p in pairs:
        r = table(m, p, units, ch.params.live_prompts, n_boot)
        r = r[r["metric"] == "shape_bias"]
        if len(r) and np.isfinite(r["difference"].iloc[0]):
            per.append((float(r["difference"].iloc[0]), float(r["se"].iloc[0]) ** 2, int(r["n"].iloc[0])))
    if not per:
        return []
    g = seeds_gain(per)  # n: the conflict images over all pairs, each image of a pair one paired difference
    return ch.effects.extend([E.effect("fine-tuning", AXIS.name, "shape bias (live, cue-conflict, paired per image)",
                                       g["effect"], f"fine-tuned vs its zero-shot parent ({len(per)} pair(s))",
                                       "live", n=g["n"], ci=(g["ci_low"], g["ci_high"]), p=g["p"])])
