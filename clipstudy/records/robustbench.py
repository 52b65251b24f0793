"""RobustBench's per-corruption ImageNet results for 12 ImageNet models, `robustbench/imagenet/corruptions/`.

`unaggregated_results_3d.csv` (3D Common Corruptions: 12 corruptions) and `unaggregated_results.csv` (ImageNet-C: 15
corruptions) share one layout: two header rows (corruption, then severity 1-5), then one row per model with its
accuracy (a fraction) at each (corruption, severity). One `<model>.json` per model gives its `architecture`,
`clean_acc`, `corruptions_acc`, `corruptions_acc_3d` (percent, as strings), `additional_data` and the paper. No CLIP
is among them: they are the ImageNet-model context for the 3D chapter.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from .. import factors as F
from . import tags as T
from .schema import json_error, read_json, text_of
from .sources import check_published, require

FOLDER = "robustbench/imagenet/corruptions"
FILES = {"3dcc": "unaggregated_results_3d.csv", "imagenet-c": "unaggregated_results.csv"}
SEVERITIES = (1, 2, 3, 4, 5)
CSV_EXPECTED = ("two header rows, ',<corruption>,...' then ',<severity 1-5>,...', then one row per model: "
                "<model>,<accuracy in [0, 1]>,... (RobustBench model_info/imagenet/corruptions/unaggregated_*.csv)")
JSON_EXPECTED = ('{"architecture": <text>, "clean_acc": "<percent>", "corruptions_acc": "<percent>", '
                 '"corruptions_acc_3d": "<percent>", "additional_data": true|false, "name": <paper title>, ...} '
                 '(RobustBench model_info/imagenet/corruptions/<model>.json)')
PERCENT_FIELDS = {"clean_acc": "clean_acc", "corruptions_acc": "corruptions_acc",
                  "corruptions_acc_3d": "corruptions_acc_3d"}


def _csv_error(path: Path, where: str, why: str):
    return json_error(path, where, why, CSV_EXPECTED)


def read_two_header(path: Path) -> pd.DataFrame:
    """One unaggregated CSV, tidy: model, corruption, severity, value; each error names the file and row."""
    raw, text = text_of(path, CSV_EXPECTED)
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if r]
    if len(rows) < 3:
        raise _csv_error(path, "", f"{len(rows)} line(s): two header rows and at least one model are expected")
    corr, sev = rows[0], rows[1]
    if corr[0] != "" or sev[0] != "" or len(corr) != len(sev) or len(corr) < 2:
        raise _csv_error(path, "lines 1-2", "the two header rows should start with an empty cell and have the same "
                                            "number of fields")
    pairs = []
    for j, (c, s) in enumerate(zip(corr[1:], sev[1:]), start=2):
        if not c.strip() or s not in {str(v) for v in SEVERITIES}:
            raise _csv_error(path, f"line 2, field {j}", f"corruption {c!r} with severity {s!r} (1-5 expected)")
        pairs.append((c, int(s)))
    if len(set(pairs)) != len(pairs):
        raise _csv_error(path, "lines 1-2", "a (corruption, severity) column appears twice")
    out = []
    for i, r in enumerate(rows[2:], start=1):
        where = f"row {i} (line {i + 2})"
        if len(r) != len(corr):
            why = f"malformed row: {len(r)} fields, the header has {len(corr)}"
            raise _csv_error(path, where, why + ("; the row ends early (truncated?)" if len(r) < len(corr) else ""))
        if not r[0].strip():
            raise _csv_error(path, where, "the model name is empty")
        for (c, s), v in zip(pairs, r[1:]):
            try:
                x = float(v)
            except ValueError:
                raise _csv_error(path, where, f"{c} severity {s} should be an accuracy, got {v!r}") from None
            if not 0 <= x <= 1:
                raise _csv_error(path, where, f"{c} severity {s} should be an accuracy in [0, 1], got {v!r}")
            out.append({"model": r[0], "corruption": c, "severity": s, "value": x})
    df = pd.DataFrame(out)
    if df.duplicated(["model", "corruption", "severity"]).any():
        m = df.loc[df.duplicated(["model", "corruption", "severity"]), "model"].iloc[0]
        raise _csv_error(path, "", f"a second row for model {m!r}")
    check_published(path, raw, len(rows) - 2)
    return df


def _percent(path: Path, key: str, v) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise json_error(path, f"key {key!r}", f"should be a percentage, got {v!r}", JSON_EXPECTED) from None
    if not 0 <= x <= 100:
        raise json_error(path, f"key {key!r}", f"should be a percentage (0-100), got {v!r}", JSON_EXPECTED)
    return x / 100.0


def read_model_json(path: Path) -> dict:
    """A model's JSON: architecture, paper (its `name`), venue, additional_data, clean_acc, corruptions_acc,
    corruptions_acc_3d (fractions)."""
    data, raw = read_json(path, JSON_EXPECTED)
    if not isinstance(data, dict):
        raise json_error(path, "", f"the top level should be an object, got {type(data).__name__}", JSON_EXPECTED)
    missing = [k for k in ("architecture", "additional_data", *PERCENT_FIELDS) if k not in data]
    if missing:
        raise json_error(path, "", f"missing key(s) {missing}", JSON_EXPECTED)
    if not isinstance(data["architecture"], str) or not data["architecture"].strip():
        raise json_error(path, "key 'architecture'", f"should be a name, got {data['architecture']!r}", JSON_EXPECTED)
    if not isinstance(data["additional_data"], bool):
        raise json_error(path, "key 'additional_data'", f"should be true or false, got {data['additional_data']!r}",
                         JSON_EXPECTED)
    out = {"architecture": data["architecture"], "paper": data.get("name"), "venue": data.get("venue"),
           "additional_data": data["additional_data"]}
    out.update({col: _percent(path, k, data[k]) for k, col in PERCENT_FIELDS.items()})
    check_published(path, raw)
    return out


def robustbench_tags(architecture: str, additional_data: bool) -> dict:
    """An ImageNet model: family from its architecture (AlexNet: other; ResNet-50, WideResNet-50-2: resnet; DeiT:
    vit), data ImageNet-1k unless it used additional data (then not recorded)."""
    data = None if additional_data else "imagenet-1k"
    return {"family": F.family_of(architecture), "data": data, "dataset_size": T.DATA_SIZES.get(data, T.NAN),
            "samples_seen": T.NAN, "finetuned": False, "finetune_data": None, "loss": None, "resolution": T.NAN,
            "group": T.IMAGENET, "kind": "model", "prompts": None}


def load_robustbench(root=None, benchmarks=tuple(FILES)) -> pd.DataFrame:
    """Accuracy per (model, benchmark, corruption, severity), tidy: source, model, benchmark ('3dcc' | 'imagenet-c'),
    corruption, severity, metric ('acc1'), value (a fraction), table, each model's JSON fields (architecture,
    paper, venue, additional_data, clean_acc, corruptions_acc, corruptions_acc_3d) and the tag columns. A model
    with no JSON beside the CSVs is an error naming the file expected."""
    from ..errors import MissingDataError
    from .sources import FETCH_CMD

    d = require(FOLDER, root)
    frames = []
    for b in benchmarks:
        if b not in FILES:
            from ..errors import UnknownNameError

            raise UnknownNameError("RobustBench benchmark", b, list(FILES))
        f = read_two_header(d / FILES[b])
        f["benchmark"], f["table"] = b, Path(FILES[b]).stem
        frames.append(f)
    df = pd.concat(frames, ignore_index=True)
    info = {}
    for m in df["model"].unique():
        p = d / f"{m}.json"
        if not p.is_file():
            raise MissingDataError(f"RobustBench model card {p.name} (model {m!r} of the CSVs)", p, fetch=FETCH_CMD)
        info[m] = read_model_json(p)
    meta = pd.DataFrame.from_dict(info, orient="index")
    df = df.join(meta, on="model")
    tags = pd.DataFrame([robustbench_tags(info[m]["architecture"], info[m]["additional_data"]) for m in df["model"]])
    df = pd.concat([df.reset_index(drop=True), tags], axis=1)
    df["metric"] = "acc1"
    df.insert(0, "source", "robustbench")
    first = ["source", "model", "benchmark", "corruption", "severity", "metric", "value", "table"]
    return df[first + [c for c in df.columns if c not in first]]


__all__ = ["load_robustbench", "read_two_header", "read_model_json", "robustbench_tags", "FILES", "SEVERITIES"]
