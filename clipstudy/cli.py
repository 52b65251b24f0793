"""`clipstudy build | models | eval | run | export | datasets | fetch | lab ...`"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import ClipstudyError
from .profiles import LAB_PROFILES, PROFILES

OFFLINE_HELP = "use cached model weights only, never the hub (same as HF_HUB_OFFLINE=1)"
MODEL_INFO_HELP = ("a CSV declaring your models' factors where their configs do not: column `model` and any of "
                   "family, data, samples_seen, finetuned, loss, parent (the model a fine-tune came from); validated "
                   "before anything runs; your models then join every chapter's factor contrasts")
PRECISION_HELP = ("auto: bf16 autocast on CUDA that supports it (else fp16) and on CPUs that report AMX-BF16 or "
                  "AVX512-BF16, fp32 elsewhere; part of the cache key and of every result row")
BUILD_PRECISION_HELP = (PRECISION_HELP + ". It pins the engine's (encoding) precision, passed to every chapter; the "
                        "lab zoo is trained under its own policy (fp32), set with `clipstudy lab train --precision`")
TRAIN_PRECISION_HELP = ("the lab zoo's training precision: auto is the lab's own policy (lab.train.train_precision: "
                        "fp32 while TRAIN_AUTOCAST is off); bf16 trains under bf16 autocast (CPU), fp16 trains in "
                        "fp32; a non-fp32 precision is part of each model's training key, so it is a zoo of its own")


def _cmd_models(a: argparse.Namespace) -> int:
    import pandas as pd

    from . import factors, zoo

    col = factors.column(a.factor) if a.factor else None  # any spelling of a factor: architecture, family, ...
    if a.collection:
        from .models import collection

        names = collection.models(a.collection.lstrip("@"))
        df = pd.DataFrame([zoo.get(n).row() for n in names])
        if col:
            df = df.sort_values([col, "name"], na_position="last")
    else:
        df = zoo.frame(a.factor)
    if a.source:
        df = df[df.source == a.source]
    cols = ["name", "source", "family", "data", "samples_seen", "finetuned", "loss", "resolution"]
    if col:
        cols = ["name", col] + [c for c in cols if c not in ("name", col)]
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(df[cols].to_string(index=False) if len(df) else "(registry is empty)")
    print(f"\n{len(df)} models")
    return 0


def _cmd_fetch_models(names: list[str]) -> int:
    """`clipstudy fetch model NAME... | @COLLECTION`: hub weights into the hub cache, each checked."""
    from . import zoo
    from .models import weights

    if not names:
        raise ClipstudyError("fetch model needs model names or a collection: @live, or @FIELD=VALUE with FIELD one "
                             f"of {', '.join(weights.COLLECTION_FIELDS)} (e.g. @data=laion2b)")
    failed = []
    for name in weights.expand(names):
        try:
            path = weights.ensure(zoo.get(name), verify_cached=True)
        except ClipstudyError as e:
            print(f"clipstudy: error: {e}", file=sys.stderr)
            failed.append(name)
            continue
        print(f"{name}: {path}" if path else f"{name}: nothing to fetch (its weights do not come from the hub)")
    if failed:
        print(f"clipstudy: {len(failed)} model(s) not fetched: {', '.join(failed)}", file=sys.stderr)
    return 2 if failed else 0


def _open_dataset(name: str, root: str | None, transform, limit: int | None, lab_profile: str):
    """(dataset, its id in the feature cache) of a lab set (`lab-*[:N]`, rendered under `lab_profile`), a dataset
    family from clipstudy.datasets or `imagefolder:PATH`, opened as the study runner opens it; `limit` keeps the
    first images."""
    from .run.data import open_dataset

    data = open_dataset(name, transform, lab_profile, root=root)
    ds = data.dataset
    if limit:
        import torch

        sub = torch.utils.data.Subset(ds, range(min(limit, len(ds))))
        for attr in ("classnames", "imagenet_indices", "class_mask", "root"):
            if hasattr(ds, attr):
                setattr(sub, attr, getattr(ds, attr))
        if hasattr(ds, "frame"):
            sub.frame = ds.frame.iloc[: len(sub)].reset_index(drop=True)
        return sub, f"{data.data_id}[:{limit}]"
    return ds, data.data_id


def _notes_summary(notes: dict[str, str], skipped: list[str]) -> list[str]:
    """Lines that count what happened to images: skipped (with the reason) or changed on reading."""
    from collections import Counter

    skipped_set = set(skipped)
    lines = []
    for (is_skip, note), n in sorted(Counter((k in skipped_set, v.split(" (")[0]) for k, v in notes.items()).items()):
        keys = [k for k, v in notes.items() if (k in skipped_set) == is_skip and v.split(" (")[0] == note]
        verb = "skipped" if is_skip else "read with a change:"
        lines.append(f"{verb} {n} image(s), {note}: {', '.join(keys[:10])}{' ...' if n > 10 else ''}")
    return lines


def _cmd_eval(a: argparse.Namespace) -> int:
    from . import results, zeroshot, zoo
    from .cache import FeatureCache
    from .config import resolve_device
    from .models.sources import lab as lab_source

    path = results.check(a.out)  # before any work: a bad --out fails now, not after the encode
    FeatureCache().check_usable()
    device = resolve_device(a.device)
    loaded = zoo.load(a.model, device)
    lab = lab_source.parse(a.model)  # a lab set is rendered as the lab model's profile renders it
    ds, ds_id = _open_dataset(a.dataset, a.root, loaded.preprocess, a.limit, (lab and lab.profile) or "lab")
    res = zeroshot.run(loaded, ds, dataset_id=ds_id, prompts=a.prompts, device=device, batch_size=a.batch_size,
                       num_workers=a.workers, precision=a.precision)
    row = res.tidy()
    row["dataset"] = a.dataset if not a.limit else f"{a.dataset}[:{a.limit}]"  # the name asked, not a lab set's key
    row["revision"] = loaded.spec.revision  # a hub repo's resolved commit; empty for other models
    root = getattr(ds, "root", None)
    row["root"] = str(Path(root).resolve()) if root is not None else ""
    if loaded.spec.data == "random-init":
        row["note"] = "random weights: a pipeline check, not a finding"
    results.upsert(path, row)
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(row.drop(columns=["skipped", "root"] + (["revision"] if not loaded.spec.revision else []))
              .to_string(index=False))
    for line in _notes_summary(res.encoded.notes, res.encoded.skipped):
        print(line)
    from . import published  # measured against open_clip's published top-1, where the model has a row

    for line in published.lines(row.assign(dataset=a.dataset)[row["metric"] == "top1"]):
        print(line)
    print(f"saved to {path}")
    return 0


def _cmd_datasets(a: argparse.Namespace) -> int:
    from . import datasets

    from .datasets import wds

    df = datasets.frame(layouts=True)
    for r in df.itertuples():
        if r.name.startswith(wds.PREFIX):
            repo = wds.repo_of(r.name)[0]
            print(f"{r.name}  [{r.task}]  {r.description}\n  get it: fetched from the Hugging Face hub ({repo}) "
                  f"on first use, or ahead with `clipstudy fetch {r.name}`; read as {wds.family_of(r.name)}\n")
            continue
        how = "clipstudy fetch " + r.name if r.fetchable else "no public download: obtain it from its authors"
        form = wds.wds_form(r.name)
        alt = f"  as a webdataset: {form}" if form else \
            f"  no wds form: {wds.NO_WDS[r.name]}; this folder form is the only one" if r.name in wds.NO_WDS else ""
        print(f"{r.name}  [{r.task}]  {r.description}\n  get it: {how}" + (f"\n{alt}" if alt else "")
              + f"\n  layout under $CLIPSTUDY_DATA/{r.name}:")
        print("\n".join("    " + ln for ln in str(r.layout).strip("\n").splitlines()))
        print()
    from .datasets import imagefolder

    print(f"imagefolder:PATH  [classification]  your own class folders\n  layout:\n{imagefolder.LAYOUT}")
    print(f"\nwds:PATH  [classification|retrieval]  a local folder in CLIP_benchmark's webdataset layout (wds/NAME "
          f"reads the same from the hub; a folder named wds_NAME is read as that family)\n  layout:\n{wds.LAYOUT}")
    print("\nLab sets (rendered, offline): lab-val, lab-factors, lab-cue-conflict, ... (`clipstudy eval MODEL lab-val`)")
    print(f"\n{EXIF_NOTE}")
    return 0


EXIF_NOTE = ("Images are read as their pixels are stored: an EXIF orientation tag is not applied (torchvision, "
             "open_clip and CLIP_benchmark read them the same way, so the numbers match theirs). Rotate such "
             "photos on disk first (PIL.ImageOps.exif_transpose) if the tag should count.")


def _cmd_fetch(a: argparse.Namespace) -> int:
    if a.name == "model":
        return _cmd_fetch_models(a.models)
    if a.models:
        raise ClipstudyError(f"`fetch {a.name}` takes one name; model weights are `fetch model NAME...`")
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

        records.fetch(dest=dest, base_url=a.base_url)
    elif a.base_url:
        raise ClipstudyError(f"--base-url is a mirror of the published records; `fetch {a.name}` downloads from "
                             "the dataset's own source")
    else:
        from . import datasets

        datasets.fetch(a.name, dest)  # each family knows its default folder under $CLIPSTUDY_DATA
    print(f"fetched {a.name}")
    return 0


def _cmd_export(a: argparse.Namespace) -> int:
    from . import export

    out = Path(a.out) if a.out else Path(a.study) / "export" / a.format
    if a.export_cmd == "results":
        files = export.export_results(a.study, a.format, out, prompts=a.prompts)
        for f in files:
            print(f)
        print(f"wrote {len(files)} file(s) under {out} (`clip_benchmark build {out}/*.json` merges them)")
        return 0
    files = export.export(a.study, a.format, out)
    for f in files:
        print(f)
    where = {"imagenet-x": f" (imagenet_x.get_factor_accuracies('{out}') reads them)",
             "model-vs-human": f" (model-vs-human raw-data; clipstudy.records.load('model_vs_human', root=...) "
                               f"reads {out}/raw-data as records/model_vs_human/raw-data)"}.get(a.format, "")
    print(f"wrote {len(files)} file(s) under {out}{where}")
    return 0


def _names(given: list[str] | None, file: str | None, option: str, required: bool = False) -> list[str]:
    """Names from the command line (split at commas later) and from a names file (one a line, read whole)."""
    from .models.registry import read_names

    names = list(given or []) + (read_names(file) if file else [])
    if required and not names:
        raise ClipstudyError(f"give {option} (names or @collections) or {option}-file FILE")
    return names


def _cmd_build(a: argparse.Namespace) -> int:
    from . import book
    from .profiles import profile

    return book.build(profile=profile(a.profile), only=a.only, device=a.device, skip_html=a.no_html, out=a.out,
                      fetch=False if (a.no_fetch or a.offline) else None, executor=a.executor,
                      executor_options=_executor_options(a), precision=a.precision,
                      models=_names(a.models, a.models_file, "--models") or None)


def _executor_options(a: argparse.Namespace) -> dict:
    """The chosen executor's options from the command line."""
    if a.executor == "slurm":
        return dict(partition=a.partition, gpus_per_job=a.gpus_per_job, cpus_per_job=a.cpus_per_job,
                    time_min=a.time_min, array_parallelism=a.array_parallelism, max_requeue=a.max_requeue)
    if a.executor == "ray":
        return dict(address=a.ray_address, gpus_per_task=a.gpus_per_job, cpus_per_task=a.cpus_per_job or 1)
    return dict(workers=a.workers, threads=a.cpus_per_job)


def _cmd_run(a: argparse.Namespace) -> int:
    import pandas as pd

    import time

    from . import run
    from .store import NoSpaceError

    a.models = _names(a.models, a.models_file, "--models", required=True)
    a.datasets = _names(a.datasets, a.datasets_file, "--datasets", required=True)
    if a.estimate:  # nothing is opened, loaded or written: the grid from the published sizes, priced
        from .run import estimate

        e = estimate.estimate(a.models, a.datasets, axes=a.axes, prompts=a.prompts, precision=a.precision,
                              gpus=a.gpus, time_min=a.time_min, lab_profile=a.lab_profile)
        print(e.markdown())
        return 0
    t0 = time.time()
    try:
        out = run.run(a.models, a.datasets, axes=a.axes, prompts=a.prompts, executor=a.executor,
                      executor_options=_executor_options(a), precision=a.precision, device=a.device, study=a.study,
                      summary_json=a.summary_json, lab_profile=a.lab_profile, batch_size=a.batch_size,
                      num_workers=a.loader_workers, dry_run=a.dry_run, evaluate=not a.no_eval, progress=not a.quiet)
    except NoSpaceError as e:
        raise _no_space_in_run(e, Path(a.study), a.summary_json, t0) from e
    except ClipstudyError as e:  # a table in the study folder that is not the runner's: say it is --study's
        study, msg = Path(a.study).expanduser().resolve(), str(e)
        if f"{study}{os.sep}" not in msg or "--study" in msg:
            raise
        raise ClipstudyError(f"--study {study}: " + msg.replace("choose another --out", "give another --study")) from e
    if out.dry_run is not None:
        d = out.dry_run
        print(d["script"])
        print(f"\ndry run: {len(out.plan.todo)} missing unit(s) -> one job array of {d['array_size']} task(s); "
              f"nothing was submitted" + (f"; script written to {d['path']}" if d.get("path") else ""))
        return 0
    s = out.summary.as_dict()
    print("  ".join(f"{k}={v}" for k, v in s.items()))
    if out.table is not None:
        with pd.option_context("display.width", 200, "display.max_rows", 40):
            print(f"{len(out.table)} result rows -> {out.table_path}")
    if out.failed:
        print(f"\n{len(out.failed)} unit(s) failed (the others ran):", file=sys.stderr)
        for r in out.failed:
            print(f"  {r.model} x {r.dataset}: {r.error}", file=sys.stderr)
    return out.exit_code


def _no_space_in_run(e, study: Path, summary_json: str | None, t0: float) -> ClipstudyError:
    """A full disk under the study folder (or at --summary-json) names that option and what this run had
    already written there; the store's message names the file and folder (and CLIPSTUDY_CACHE for the cache)."""
    study, target = study.expanduser().resolve(), e.path.resolve()
    if summary_json and target == Path(summary_json).expanduser().resolve():
        return ClipstudyError(f"--summary-json: {e.fact} Free space, or give --summary-json a file on another "
                              f"disk; the run's tables are in --study {study}.")
    if study != target.parent and study not in target.parents:
        return e
    names = ("results.csv", "units.csv", "summary.json")
    written = [n for n in names if (study / n).is_file() and (study / n).stat().st_mtime >= t0]
    return ClipstudyError(f"--study {study}: {e.fact} This run had written {', '.join(written) or 'none of'} "
                          f"{'' if written else ', '.join(names) + ' '}there before it. Free space, or give --study "
                          "a folder on another disk, and run again: finished units are reused from the cache.")


def _cmd_compare(a: argparse.Namespace) -> int:
    from . import comparison

    c = comparison.compare(a.model_a, a.model_b, a.datasets, prompts=a.prompts, study=a.study, executor=a.executor,
                           executor_options=_executor_options(a), device=a.device, precision=a.precision,
                           n_boot=a.n_boot, lab_profile=a.lab_profile, progress=not a.quiet)
    t = c.table
    csv, png = comparison.write(t, Path(a.study).expanduser())
    with pd_options():
        print(t[["dataset", "metric", "value_a", "value_b", "difference", "ci_low", "ci_high", "p", "p_holm"]]
              .round(4).to_string(index=False))
    print(f"\ncompared {a.model_a} (A) with {a.model_b} (B) ({c.summary.units_reused} unit(s) from the cache, "
          f"{c.summary.images_encoded} image(s) encoded): {csv}" + (f", {png}" if png else ""))
    return 0


def pd_options():
    """Every row and column of a printed table."""
    import pandas as pd

    return pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200)


def _add_executor_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", default="local", choices=["local", "slurm", "ray"],
                   help="local: one worker per visible GPU (or one on CPU); slurm: submitit job arrays (submitit's "
                        "local executor where SLURM is absent); ray: Ray tasks")
    p.add_argument("--workers", type=_positive, help="local: worker processes (default: one per GPU, or 1 on CPU)")
    p.add_argument("--partition", help="slurm: partition")
    p.add_argument("--gpus-per-job", type=int, default=0, help="slurm: GPUs per job; ray: num_gpus per task")
    p.add_argument("--cpus-per-job", type=_positive, help="slurm: CPUs per job; ray: num_cpus per task; "
                                                           "local: torch threads per worker")
    p.add_argument("--time-min", type=_positive, default=240, help="slurm: time limit per job, minutes")
    p.add_argument("--array-parallelism", type=_positive, default=16, help="slurm: array jobs running at once")
    p.add_argument("--max-requeue", type=_non_negative, default=3, help="slurm: requeues after preemption/timeout")
    p.add_argument("--ray-address", help="ray: cluster address (default: a local ray.init())")


def _lab_llavas(a: argparse.Namespace, prof) -> list[tuple[str, int]]:
    """Chapter 09's mini-LLaVA pairs (`axes.lmm.lab_pairs`) on the recipes named (all of them without names): what
    `lab publish` uploads and `lab fetch` asks for, and what `lab train --llavas` trains."""
    from .axes import lmm as lmm_axis

    return [(r, sd) for r, sd in lmm_axis.lab_pairs(prof) if not a.recipes or r in a.recipes]


def _cmd_lab(a: argparse.Namespace) -> int:
    from .lab import zoo as lab_zoo
    from .profiles import lab_profile

    prof = lab_profile(getattr(a, "profile", None))  # --profile's name, resolved once here
    if a.lab_cmd == "train":
        from .lab import llava, train as lab_train

        if a.llavas and lab_train.train_precision(a.precision or "auto") != "fp32":
            raise ClipstudyError(f"--llavas: the mini-LLaVAs sit on the profile's fp32-trained CLIPs; train them "
                                 f"apart from a zoo trained in {a.precision}")
        lab_zoo.train(a.recipes or None, profile=prof, precision=a.precision,
                      after=llava.zoo_jobs(_lab_llavas(a, prof), prof) if a.llavas else ())
    elif a.lab_cmd == "recipes":
        print(lab_zoo.frame().to_string(index=False))
    elif a.lab_cmd == "export":
        from .lab import export

        out = export.export(a.recipe, a.dest, profile=prof, force=a.force)
        print(f"wrote {out}; load it as local-dir:{out} (clipstudy, open_clip, clip_benchmark)")
    elif a.lab_cmd == "publish":
        from .lab import hub

        done = hub.publish(a.repo, profile=prof, revision=a.revision, recipes=a.recipes or None,
                           llavas=_lab_llavas(a, prof))
        lmms = f" and {done['llavas']} mini-LLaVA(s)" if done["llavas"] else ""
        print(f"published {done['models']} lab model(s){lmms} ({a.profile}) to {done['repo']}@{done['revision']}: "
              f"commit {done['commit']} ({done['url']})")
    elif a.lab_cmd == "fetch":
        from .lab import hub

        rep = hub.fetch(a.repo, profile=prof, revision=a.revision, recipes=a.recipes or None,
                        llavas=_lab_llavas(a, prof))
        print(rep.table())
        if not rep.ok:
            more = " --llavas" if rep[hub.MiniLLaVA].failed else ""
            print(f"clipstudy: train the rest with `clipstudy lab train --profile {a.profile}{more}`", file=sys.stderr)
            return 1
    return 0


def _positive(text: str) -> int:
    n = int(text)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {n}")
    return n


def _workers(text: str) -> int | str:
    """`auto` (the engine overlaps decoding with the forward) or a count of DataLoader processes (0: in-process)."""
    return "auto" if text.strip().lower() == "auto" else _non_negative(text)


def _non_negative(text: str) -> int:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


DATASET_HELP = ("a dataset family (imagenet-sketch, cue-conflict, ...: `clipstudy datasets` lists each with its "
                "layout), wds/NAME (CLIP_benchmark's webdataset from the hub, e.g. wds/imagenetv2), wds:PATH or "
                "imagefolder:PATH for your own folders, or a lab set (lab-val)")


def parser() -> argparse.ArgumentParser:
    from . import zoo  # light: NAME_FORMS for the eval help

    p = argparse.ArgumentParser(prog="clipstudy", description="A reproducible study book on CLIP robustness.")
    sub = p.add_subparsers(dest="cmd", required=True)

    m = sub.add_parser("models", help="the model registry as a table")
    m.add_argument("--factor", help="sort/group by a factor: architecture, data, size, finetuning, loss (or the "
                                    "column names family, samples_seen, finetuned), or resolution")
    m.add_argument("--source", choices=["open_clip", "timm", "lab"])
    m.add_argument("--collection", help="list a named collection: live, zero-shot, fine-tuned, baselines, lab, "
                                        "or FIELD=VALUE (e.g. data=laion2b)")
    m.set_defaults(fn=_cmd_models)

    r = sub.add_parser("run", help="the study runner: encode a grid of models x datasets once, evaluate every axis")
    r.add_argument("--models", nargs="+", default=[],
                   help="model names and @collections, comma- or space-separated (`clipstudy models --collection`)")
    r.add_argument("--models-file", metavar="FILE", help="more model names, one a line, read whole (a path with a "
                                                         "comma in it)")
    r.add_argument("--datasets", nargs="+", default=[],
                   help="dataset names (lab-NAME[:N] for lab sets) and @collections: one per runner axis "
                        "(@shifts @factors @shape @calibration @ood @retrieval @3d, and a plugin's), @lab @book @wds")
    r.add_argument("--datasets-file", metavar="FILE", help="more dataset names, one a line, read whole")
    r.add_argument("--axes", default="all", help="all, or a comma-separated list of runner axes (each axis module's "
                                                 "declared runner name, a plugin's too; a wrong name lists them)")
    r.add_argument("--prompts", default="openai80", help="prompt set(s), comma-separated (single, openai80, ...)")
    r.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"], help=PRECISION_HELP)
    r.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the workers encode")
    r.add_argument("--study", default="study", help="the study folder: results.csv, units.csv, logs/ (default ./study)")
    r.add_argument("--summary-json", help="write the run's counts here (units_total, units_computed, units_reused, "
                                          "units_failed, images_encoded, prompts_encoded)")
    r.add_argument("--lab-profile", choices=list(LAB_PROFILES), help="lab models and lab sets (default: lab)")
    r.add_argument("--batch-size", type=_positive, default=64)
    r.add_argument("--loader-workers", type=_workers, default="auto",
                   help="image loading per unit: auto (decoding threads overlapped with the forward, chosen from the "
                        "cores and the measured rates; default), 0 (in-process) or N DataLoader processes")
    r.add_argument("--dry-run", action="store_true", help="slurm: write the sbatch script and print it; submit nothing")
    r.add_argument("--estimate", action="store_true",
                   help="price the grid without loading a model or reading an image (implies --dry-run): units, "
                        "images, prompts and captions from each dataset's published size, GPU-hours per "
                        "architecture (measured, or timm's RTX 4090 benchmark scaled by GFLOPs), the per-axis "
                        "way's counts, and a SLURM array at --gpus")
    r.add_argument("--gpus", type=_positive, default=8, help="estimate: GPUs at once (one unit per array task)")
    r.add_argument("--no-eval", action="store_true", help="encode only; do not evaluate")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--model-info", metavar="FILE.csv", help=MODEL_INFO_HELP)
    _add_executor_options(r)
    r.set_defaults(fn=_cmd_run)

    c = sub.add_parser("compare", help="is model A better than model B here? paired over the same images, per dataset",
                       epilog=zoo.NAME_FORMS, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("model_a", help="model A (any name form)")
    c.add_argument("model_b", help="model B (any name form)")
    c.add_argument("--datasets", required=True, nargs="+", help="dataset names and @collections, as for `run`")
    c.add_argument("--prompts", default="openai80", help="the prompt set both models' zero-shot heads use")
    c.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"], help=PRECISION_HELP)
    c.add_argument("--device", default="auto", help="auto, cpu or cuda (where the workers encode)")
    c.add_argument("--study", default="compare", help="the runner's study folder; compare.csv and compare.png go "
                                                    "there (default ./compare)")
    c.add_argument("--lab-profile", choices=list(LAB_PROFILES), help="lab models and lab sets (default: lab)")
    c.add_argument("--n-boot", type=_positive, default=1000, help="image resamples of each paired bootstrap")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_executor_options(c)
    c.set_defaults(fn=_cmd_compare)

    e = sub.add_parser("eval", help="one zero-shot evaluation; prints and saves a tidy row", epilog=zoo.NAME_FORMS,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("model", help="registry name, ARCH/TAG, hf-hub:ORG/REPO[@REV], ARCH/random, ARCH@CHECKPOINT, "
                                 "timm:NAME or lab:RECIPE")
    e.add_argument("dataset", help=DATASET_HELP)
    e.add_argument("--prompts", default="openai80",
                   help="prompt set: single | openai80 | simple7 (openai80 on 1,000 classes is 80,000 prompts: "
                        "use single for a quick check)")
    e.add_argument("--root", help="dataset folder (default: $CLIPSTUDY_DATA/<dataset>)")
    e.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    e.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help=PRECISION_HELP)
    e.add_argument("--batch-size", type=_positive, default=64)
    e.add_argument("--workers", type=_workers, default="auto",
                   help="image loading: auto (decoding threads overlapped with the forward, chosen from the cores and "
                        "the measured rates; default), 0 (in-process) or N DataLoader processes")
    e.add_argument("--limit", type=_positive, help="evaluate only the first N images")
    e.add_argument("--out", default="results", help="folder for eval.csv (default: ./results)")
    e.add_argument("--offline", action="store_true", help=OFFLINE_HELP)
    e.add_argument("--model-info", metavar="FILE.csv", help=MODEL_INFO_HELP)
    e.set_defaults(fn=_cmd_eval)

    x = sub.add_parser("export", help="per-image predictions of a study's units in the field's formats")
    xsub = x.add_subparsers(dest="export_cmd", required=True)
    xp = xsub.add_parser("predictions", help="csv (one tidy table), imagenet-x (imagenetx's predictions CSVs for "
                                             "ImageNet val) or model-vs-human (raw-data CSVs of cue-conflict, edge, "
                                             "silhouette), read from the store")
    xp.add_argument("--study", required=True, help="the study folder of `clipstudy run` (its units.csv)")
    xp.add_argument("--format", required=True, choices=["csv", "imagenet-x", "model-vs-human"])
    xp.add_argument("--out", help="folder to write (default: STUDY/export/FORMAT)")
    xp.set_defaults(fn=_cmd_export)
    xr = xsub.add_parser("results", help="the study's results table in CLIP_benchmark's per-run JSON (one file per "
                                         "model and dataset, as `clip_benchmark eval` writes them; "
                                         "`clip_benchmark build` merges them)")
    xr.add_argument("--study", required=True, help="the study folder of `clipstudy run` (its results.csv)")
    xr.add_argument("--format", required=True, choices=["clip_benchmark"])
    xr.add_argument("--prompts", default="openai80", help="the prompt set whose accuracy is exported (default "
                                                          "openai80, the 80 templates CLIP_benchmark uses)")
    xr.add_argument("--out", help="folder to write (default: STUDY/export/FORMAT)")
    xr.set_defaults(fn=_cmd_export)

    d = sub.add_parser("datasets", help="every dataset family with its on-disk layout and how to get it")
    d.set_defaults(fn=_cmd_datasets)

    b = sub.add_parser("build", help="execute the chapters with papermill and build the Jupyter Book")
    b.add_argument("--profile", default="lab", choices=list(PROFILES),
                   help="the build profile (clipstudy.profiles.PROFILES: it sets every size and holds its lab profile)")
    b.add_argument("--only", help="re-run one chapter, e.g. 04")
    b.add_argument("--models", nargs="+", metavar="MODEL",
                   help="a live profile: your own checkpoints added to the live panel (any name form, local-dir:PATH, "
                        "@COLLECTION; comma- or space-separated); every chapter marks them (yours)")
    b.add_argument("--models-file", metavar="FILE", help="more of your models, one name a line, read whole (a path "
                                                         "with a comma in it)")
    b.add_argument("--offline", action="store_true", help=OFFLINE_HELP)
    b.add_argument("--model-info", metavar="FILE.csv", help=MODEL_INFO_HELP)
    b.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    b.add_argument("--no-html", action="store_true", help="execute the notebooks but skip jupyter-book")
    b.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"], help=BUILD_PRECISION_HELP)
    b.add_argument("--out", help="build the whole book in this folder instead of book/ (chapters, tables, HTML)")
    b.add_argument("--no-fetch", action="store_true",
                   help="do not fetch missing published records first (the smoke profile never does)")
    _add_executor_options(b)  # --profile live runs the chapters' grid on it first
    b.set_defaults(fn=_cmd_build)

    f = sub.add_parser("fetch", help="download records or a dataset into $CLIPSTUDY_DATA, or model weights")
    f.add_argument("name", nargs="?", help="records, a dataset family name (see --list), or `model`")
    f.add_argument("models", nargs="*", help="after `model`: model names or a collection, @live (the live panel) "
                                            "or @FIELD=VALUE over `clipstudy models` (e.g. @data=laion2b); "
                                            "weights go to the Hugging Face cache (HF_HOME), from HF_ENDPOINT")
    f.add_argument("--list", action="store_true", help="list what can be fetched")
    f.add_argument("--dest", help="destination folder")
    f.add_argument("--base-url", metavar="URL",
                   help="records: a mirror laid out as raw.githubusercontent.com (URL/OWNER/REPO/COMMIT/PATH); every "
                        "file is still checked against its pinned SHA-256")
    f.set_defaults(fn=_cmd_fetch)

    lab = sub.add_parser("lab", help="the lab: tiny CLIPs on a rendered world")
    lsub = lab.add_subparsers(dest="lab_cmd", required=True)
    t = lsub.add_parser("train", help="train the lab recipes that are missing from the cache")
    t.add_argument("recipes", nargs="*", help="recipe names (default: the whole lab zoo)")
    t.add_argument("--profile", default="lab", choices=list(LAB_PROFILES))
    t.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"], help=TRAIN_PRECISION_HELP)
    t.add_argument("--llavas", action="store_true",
                   help="also train chapter 09's mini-LLaVAs on those recipes (what `lab publish` uploads)")
    t.set_defaults(fn=_cmd_lab)
    r = lsub.add_parser("recipes", help="list the lab recipes")
    r.set_defaults(fn=_cmd_lab)
    e = lsub.add_parser("export", help="write a lab CLIP as an open_clip local-dir model folder")
    e.add_argument("recipe", help="a CLIP recipe name (see `clipstudy lab recipes`)")
    e.add_argument("dest", help="the folder to write (new or empty, unless --force)")
    e.add_argument("--profile", default="lab", choices=list(LAB_PROFILES))
    e.add_argument("--force", action="store_true",
                   help="write into a non-empty folder: its weight files (*.safetensors, *.bin, *.pth, *.pt) are "
                        "removed first, so no older export shadows the new one")
    e.set_defaults(fn=_cmd_lab)
    for cmd, what in (("publish", "upload the trained lab zoo (weights, training records, chapter 09's mini-LLaVAs, "
                                  "a manifest with their SHA-256 and training keys) to a hub model repo"),
                      ("fetch", "download the lab zoo and its mini-LLaVAs from a hub repo, verify each (SHA-256, "
                                "training key) and install it in the lab cache; exit 1 when some are left to train")):
        h = lsub.add_parser(cmd, help=what)
        h.add_argument("recipes", nargs="*", help="recipe names (default: the whole lab zoo)")
        h.add_argument("--repo", required=True, metavar="ORG/NAME", help="the hub model repo (HF_ENDPOINT selects "
                                                                         "the hub; a token from HF_TOKEN or `hf auth login`)")
        h.add_argument("--profile", default="lab", choices=list(LAB_PROFILES))
        h.add_argument("--revision", help="a branch (publish creates it) or, for fetch, a tag or commit")
        h.set_defaults(fn=_cmd_lab)
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    if getattr(a, "offline", False):  # env, so papermill's kernels are offline too
        os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        from . import environment, plugins

        environment.check()  # every CLIPSTUDY_* variable that is set parses, before any work
        plugins.load()  # CLIPSTUDY_PLUGINS: registered extensions (OOD scores, ...)
        if getattr(a, "model_info", None):  # validated before any work; env, so kernels and workers see it too
            from .models import info

            info.use(a.model_info)
        return a.fn(a)
    except ClipstudyError as e:
        print(f"clipstudy: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"clipstudy: {str(e) or 'interrupted; finished work is cached and the next run resumes from it'}",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
