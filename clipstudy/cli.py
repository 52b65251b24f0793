"""`clipstudy build | models | eval | fetch | lab ...`"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import ClipstudyError


def _cmd_models(a: argparse.Namespace) -> int:
    import pandas as pd

    from . import zoo

    df = zoo.frame(a.factor)
    if a.source:
        df = df[df.source == a.source]
    cols = ["name", "source", "family", "data", "samples_seen", "finetuned", "loss", "resolution"]
    if a.factor:
        cols = ["name", a.factor] + [c for c in cols if c not in ("name", a.factor)]
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(df[cols].to_string(index=False) if len(df) else "(registry is empty)")
    print(f"\n{len(df)} models")
    return 0


def _open_dataset(name: str, root: str | None, transform, limit: int | None):
    """A lab set (`lab-*`) or a real dataset family from clipstudy.datasets."""
    if name.startswith("lab-"):
        from .lab import sets

        ds = sets.build(name).dataset(transform)
    else:
        from . import datasets

        ds = datasets.get(name).load(root=root, transform=transform)
    if limit:
        import torch

        sub = torch.utils.data.Subset(ds, range(min(limit, len(ds))))
        for attr in ("classnames", "imagenet_indices", "class_mask"):
            if hasattr(ds, attr):
                setattr(sub, attr, getattr(ds, attr))
        if hasattr(ds, "frame"):
            sub.frame = ds.frame.iloc[: len(sub)].reset_index(drop=True)
        return sub
    return ds


def _cmd_eval(a: argparse.Namespace) -> int:
    import pandas as pd

    from . import zeroshot, zoo
    from .config import resolve_device

    device = resolve_device(a.device)
    loaded = zoo.load(a.model, device)
    ds = _open_dataset(a.dataset, a.root, loaded.preprocess, a.limit)
    ds_id = a.dataset if not a.limit else f"{a.dataset}[:{a.limit}]"
    res = zeroshot.run(loaded, ds, dataset_id=ds_id, prompts=a.prompts, device=device, batch_size=a.batch_size,
                       num_workers=a.workers)
    row = res.tidy()
    if loaded.spec.data == "random-init":
        row["note"] = "random weights: a pipeline check, not a finding"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "eval.csv"
    old = pd.read_csv(path) if path.exists() else None
    keep = old[~((old.model == res.model) & (old.dataset == ds_id) & (old.prompts == res.prompts))] if old is not None else None
    pd.concat([keep, row] if keep is not None else [row]).to_csv(path, index=False)
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(row.drop(columns=["skipped"]).to_string(index=False))
    if res.encoded.skipped:
        print(f"skipped {len(res.encoded.skipped)} unreadable image(s): {', '.join(res.encoded.skipped[:10])}")
    print(f"saved to {path}")
    return 0


def _cmd_fetch(a: argparse.Namespace) -> int:
    if a.list or not a.name:
        import pandas as pd

        from . import datasets

        df = datasets.frame()
        with pd.option_context("display.width", 200, "display.max_colwidth", 80):
            from .records import manifest

            sets = ", ".join(dict.fromkeys(m.local.split("/")[0] for m in manifest()))
            print(f"records      published per-model results and decisions ({sets})")
            print(df[["name", "task", "fetchable", "description"]].to_string(index=False))
        return 0 if a.list else 2
    dest = Path(a.dest) if a.dest else None
    if a.name == "records":
        from . import records

        records.fetch(dest=dest)
    else:
        from . import datasets

        datasets.fetch(a.name, dest)  # each family knows its default folder under $CLIPSTUDY_DATA
    print(f"fetched {a.name}")
    return 0


def _cmd_build(a: argparse.Namespace) -> int:
    from . import book

    return book.build(profile=a.profile, only=a.only, device=a.device, skip_html=a.no_html)


def _cmd_lab(a: argparse.Namespace) -> int:
    from .lab import zoo as lab_zoo

    if a.lab_cmd == "train":
        lab_zoo.train(a.recipes or None, profile=a.profile)
    elif a.lab_cmd == "recipes":
        print(lab_zoo.frame().to_string(index=False))
    elif a.lab_cmd == "export":
        from .lab import export

        out = export.export(a.recipe, a.dest, profile=a.profile)
        print(f"wrote {out}; load it as local-dir:{out} (clipstudy, open_clip, clip_benchmark)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clipstudy", description="A reproducible study book on CLIP robustness.")
    sub = p.add_subparsers(dest="cmd", required=True)

    m = sub.add_parser("models", help="the model registry as a table")
    m.add_argument("--factor", help="sort/group by a factor: family, data, samples_seen, finetuned, loss, resolution")
    m.add_argument("--source", choices=["open_clip", "timm", "lab"])
    m.set_defaults(fn=_cmd_models)

    e = sub.add_parser("eval", help="one zero-shot evaluation; prints and saves a tidy row")
    e.add_argument("model", help="registry name, ARCH/TAG, ARCH/random, ARCH@CHECKPOINT, timm:NAME or lab:RECIPE")
    e.add_argument("dataset", help="a dataset family (e.g. imagenet-sketch, cue-conflict) or a lab set (lab-val)")
    e.add_argument("--prompts", default="openai80", help="prompt set: single | openai80 | simple7")
    e.add_argument("--root", help="dataset folder (default: $CLIPSTUDY_DATA/<dataset>)")
    e.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    e.add_argument("--limit", type=int, help="evaluate only the first N images")
    e.add_argument("--out", default="results", help="folder for eval.csv (default: ./results)")
    e.set_defaults(fn=_cmd_eval)

    b = sub.add_parser("build", help="execute the chapters with papermill and build the Jupyter Book")
    b.add_argument("--profile", default="lab", choices=["lab", "live", "smoke"])
    b.add_argument("--only", help="re-run one chapter, e.g. 04")
    b.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    b.add_argument("--no-html", action="store_true", help="execute the notebooks but skip jupyter-book")
    b.set_defaults(fn=_cmd_build)

    f = sub.add_parser("fetch", help="download records or a dataset into $CLIPSTUDY_DATA")
    f.add_argument("name", nargs="?", help="records, or a dataset family name (see --list)")
    f.add_argument("--list", action="store_true", help="list what can be fetched")
    f.add_argument("--dest", help="destination folder")
    f.set_defaults(fn=_cmd_fetch)

    lab = sub.add_parser("lab", help="the lab: tiny CLIPs on a rendered world")
    lsub = lab.add_subparsers(dest="lab_cmd", required=True)
    t = lsub.add_parser("train", help="train the lab recipes that are missing from the cache")
    t.add_argument("recipes", nargs="*", help="recipe names (default: the whole lab zoo)")
    t.add_argument("--profile", default="lab", choices=["lab", "smoke"])
    t.set_defaults(fn=_cmd_lab)
    r = lsub.add_parser("recipes", help="list the lab recipes")
    r.set_defaults(fn=_cmd_lab)
    e = lsub.add_parser("export", help="write a lab CLIP as an open_clip local-dir model folder")
    e.add_argument("recipe", help="a CLIP recipe name (see `clipstudy lab recipes`)")
    e.add_argument("dest", help="the folder to write")
    e.add_argument("--profile", default="lab", choices=["lab", "smoke"])
    e.set_defaults(fn=_cmd_lab)
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        return a.fn(a)
    except ClipstudyError as e:
        print(f"clipstudy: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("clipstudy: interrupted; finished work is cached and the next run resumes from it", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
