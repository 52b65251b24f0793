"""Seeded fuzzing of the surfaces that read what others made: webdataset shards, record folders, model names (and the
model folders they name) and study folders for the export.

Each generated input is hostile in its own way (names with `..`, links, NUL, markup or formula text; counts and sizes
that lie; bytes that are not UTF-8; wrong types in JSON; members that are links, folders or fifos; files cut short).
Every input runs under its own time limit, and its outcome must be a clean result or a `ClipstudyError`: any other
exception, or running past the limit, is a failure reported with the input's number, so `python -m pytest
tests/test_fuzz.py -k NAME` with the same seed replays it (`FUZZ_SEED` and `FUZZ_SCALE` change the seed and the
count for a longer hunt).
"""
from __future__ import annotations

import io
import json
import os
import random
import struct
import tarfile
import time
import traceback
import zlib
from pathlib import Path
from typing import Callable

import pytest
from checks import time_limit as limit

from clipstudy.errors import ClipstudyError

SEED = int(os.environ.get("FUZZ_SEED", "35"))
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
COUNTS = {"wds": 900, "records": 350, "names": 450, "export": 350}  # 2,050 inputs
LIMIT = 5.0  # seconds per input: a clean parse of these small inputs takes milliseconds

HOSTILE = ["", " ", ".", "..", "../..", "../../../etc/passwd", "/", "/etc/passwd", "/dev/zero", "~", "~root", "a,b",
           "@", "@@", "#", "#-1", "#99999999999999999999", "\x00", "a\x00b", "\n", "a\nb", "\r\n", "\t", "é", "²",
           "٣", "\u202e", "<img src=x onerror=alert(1)>", "<svg onload=alert(2)>", "=cmd|' /C calc'!A0", "+1", "-1",
           "@SUM(1)", "%s%n", "{0}", "${x}", "$(id)", "`id`", "'", '"', "\\", "a" * 300, "nan", "inf", "-0", "1e309",
           "0x10", " 1 ", "1.5", "９", "$\\frac{1}{2}$", "[x](javascript:alert(1))", "null", "[]", "{}", "true"]


class Hang(BaseException):
    """The input ran past its time limit (a BaseException, so no `except Exception` in clipstudy swallows it)."""


def time_limit(seconds: float):
    return limit(seconds, Hang)


def outcome(fn: Callable[[], object]) -> str | None:
    """None when `fn` returns or raises a ClipstudyError within the limit; else what went wrong."""
    try:
        with time_limit(LIMIT):
            fn()
    except ClipstudyError:
        return None
    except Hang:
        return f"no outcome within {LIMIT:g} s (a hang)"
    except Exception as e:  # noqa: BLE001: any other exception is the finding
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb) if "clipstudy" in f.filename), "?")
        return f"{type(e).__name__} at {where}: {str(e)[:200]}"
    return None


def warm() -> None:
    """Import, once and untimed, what the inputs reach: a time limit that fires inside a first import would leave a
    module half-initialised (a failure of the harness, not of clipstudy)."""
    import importlib

    for m in ("numpy", "pandas", "torch", "PIL.Image", "open_clip", "open_clip.model", "timm", "huggingface_hub",
              "huggingface_hub.utils", "clipstudy.zoo", "clipstudy.datasets", "clipstudy.datasets.wds",
              "clipstudy.records", "clipstudy.export", "clipstudy.run.evaluate", "clipstudy.run.runner",
              "clipstudy.lab.zoo", "clipstudy.models.sources.local_dir", "clipstudy.models.sources.llava"):
        importlib.import_module(m)
    from clipstudy import zoo

    zoo.get("ViT-B-32/random")
    zoo.get("lab:base")


def fuzz(kind: str, make: Callable[[random.Random, Path], Callable[[], object]], tmp_path: Path) -> int:
    """Run the kind's inputs; fail listing each input that ended otherwise than cleanly. Returns the count."""
    warm()
    n = max(1, int(COUNTS[kind] * SCALE))
    rng = random.Random(f"{SEED}-{kind}")
    bad = []
    t0 = time.monotonic()
    for i in range(n):
        folder = tmp_path / f"{kind}{i}"
        folder.mkdir()
        try:
            with time_limit(LIMIT):
                run = make(rng, folder)
        except Hang:
            pytest.fail(f"{kind} #{i}: making the input took over {LIMIT:g} s (the generator, not clipstudy)")
        why = outcome(run)
        if why:
            bad.append(f"{kind} #{i} (seed {SEED}): {why}")
    took = time.monotonic() - t0
    print(f"fuzz {kind}: {n} inputs, seed {SEED}, {took:.1f} s")
    assert not bad, f"{len(bad)} of {n} inputs ended otherwise than cleanly:\n" + "\n".join(bad[:15])
    return n


def pick(rng: random.Random, *options):
    return rng.choice(options)


def hostile(rng: random.Random) -> str:
    return rng.choice(HOSTILE)


def mangle(rng: random.Random, data: bytes) -> bytes:
    """Bytes cut, flipped, stuffed with non-UTF-8 or emptied."""
    how = rng.randrange(6)
    if how == 0 or not data:
        return b""
    if how == 1:
        return data[:rng.randrange(len(data))]
    if how == 2:
        i = rng.randrange(len(data))
        return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:]
    if how == 3:
        i = rng.randrange(len(data) + 1)
        return data[:i] + rng.choice([b"\xff\xfe", b"\x80", b"\x00", b"\xc3"]) + data[i:]
    if how == 4:
        return b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n")
    return data * rng.randint(2, 5)


def replace_with_odd_file(rng: random.Random, path: Path) -> None:
    """What stands where a file should: nothing, a folder, a fifo, a link to a device or to itself."""
    if not path.parent.is_dir():
        return
    if path.is_dir() and not path.is_symlink():
        return
    if path.exists() or path.is_symlink():
        path.unlink()
    how = rng.randrange(5)
    if how == 1:
        path.mkdir()
    elif how == 2:
        os.mkfifo(path)
    elif how == 3:
        path.symlink_to(pick(rng, "/dev/zero", "/dev/null", "/nonexistent"))
    elif how == 4:
        path.symlink_to(path.name)  # a loop


# ----------------------------------------------------------------------------- webdataset shards
def _png(w: int = 4, h: int = 3) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 200, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _bomb(png: bytes, w: int, h: int) -> bytes:
    """A PNG whose header claims w x h pixels (its CRC right), with the small image's data."""
    ihdr = png[12:16] + struct.pack(">II", w, h) + png[24:29]
    return png[:8] + png[8:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


PNG = None


def _image(rng: random.Random) -> bytes:
    global PNG
    PNG = PNG or _png()
    return pick(rng, PNG, PNG, PNG, PNG[:20], b"GIF89a" + os.urandom(8), b"", _bomb(PNG, 100_000, 100_000),
                _bomb(PNG, 0, 3), os.urandom(30))


def _member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple:
    return name, data, kind, link


def _shard(rng: random.Random, retrieval: bool, n_classes: int) -> bytes:
    members = []
    for i in range(rng.randint(0, 4)):
        key = f"s{i}" if rng.random() < 0.7 else hostile(rng).replace("\x00", "") or "k"
        key = pick(rng, key, f"dir/{key}", f"/abs/{key}", f"../{key}", f"{key}.x")
        for ext in rng.sample(["png", "jpg", "webp", "jpeg", "PNG", "json"], rng.randint(0, 2)):
            members.append(_member(f"{key}.{ext}", _image(rng)))
        if retrieval:
            members.append(_member(f"{key}.txt", pick(rng, b"a photo\nanother one\n", b"", b"\xff\xfe", "é\n".encode(),
                                                      b"x" * rng.randint(1, 3000))))
        else:
            label = pick(rng, str(rng.randrange(max(n_classes, 1))), str(rng.randrange(-2, n_classes + 3)), "²", "٣",
                         " 1 ", "1.0", "", "99999999999999999999", "-0", hostile(rng))
            members.append(_member(f"{key}.cls", label.encode("utf-8", "surrogateescape")
                                   if rng.random() < 0.9 else b"\xff"))
    for _ in range(rng.choice([0, 0, 0, 1, 2])):  # odd members
        name, data, kind, link = rng.choice(members) if members and rng.random() < 0.5 else _member("z.png")
        kind = pick(rng, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE,
                    tarfile.REGTYPE)
        members.append(_member(name, b"" if kind != tarfile.REGTYPE else data, kind,
                               pick(rng, "/etc/passwd", "../../x", name, "s0.png")))
    if members and rng.random() < 0.2:
        rng.shuffle(members)  # a sample's members apart
    if members and rng.random() < 0.1:
        members.append(members[0])  # a repeated suffix
    buf = io.BytesIO()
    fmt = pick(rng, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT)
    try:
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
            for name, data, kind, link in members:
                info = tarfile.TarInfo(name)
                info.type, info.linkname = kind, link
                info.size = len(data) if kind == tarfile.REGTYPE else 0
                tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    except (ValueError, UnicodeError):  # a name USTAR cannot hold: an empty shard instead
        buf = io.BytesIO()
        tarfile.open(fileobj=buf, mode="w").close()
    raw = buf.getvalue()
    return mangle(rng, raw) if rng.random() < 0.15 else raw


def make_wds(rng: random.Random, folder: Path) -> Callable[[], object]:
    from clipstudy.datasets import wds

    root = folder / pick(rng, "set", "set", "wds_objectnet", "wds_imagenet-o", "wds_flickr30k")
    (root / "test").mkdir(parents=True)
    retrieval = root.name == "wds_flickr30k" or rng.random() < 0.15
    n_classes = rng.randint(0, 5)
    n_shards = rng.randint(1, 3)
    (root / "test" / "nshards.txt").write_bytes(pick(rng, f"{n_shards}\n", f"{n_shards}", " 1 ", "0", "-1", "abc",
                                                     "²", "٣", "99999999", "1e3", "", "1\n2", str(n_shards) * 400)
                                                .encode())
    if rng.random() < 0.05:
        replace_with_odd_file(rng, root / "test" / "nshards.txt")
    names = [pick(rng, f"class {i}", hostile(rng)) for i in range(n_classes)]
    if rng.random() < 0.9:
        (root / "classnames.txt").write_bytes(mangle(rng, "\n".join(names).encode("utf-8", "surrogateescape"))
                                              if rng.random() < 0.2 else "\n".join(names).encode("utf-8", "replace"))
    if rng.random() < 0.8:
        (root / "dataset_type.txt").write_bytes(pick(rng, b"retrieval", b"classification", b"\xff", b"", b"RETRIEVAL\n")
                                                if not retrieval else b"retrieval\n")
    for i in range(n_shards):
        (root / "test" / f"{i}.tar").write_bytes(_shard(rng, retrieval, n_classes))
    if rng.random() < 0.08:
        replace_with_odd_file(rng, root / "test" / f"{rng.randrange(n_shards)}.tar")

    def run():
        ds = wds.open_folder(f"wds:{root}", root, "test")
        for i in range(min(len(ds), 4)):
            ds[i]
        ds.fingerprint()
        return ds

    return run


def test_webdataset_reader_under_hostile_shards(tmp_path):
    fuzz("wds", make_wds, tmp_path)


# ----------------------------------------------------------------------------- record folders
TEMPLATES: dict[str, dict[str, bytes]] = {}


def _templates(base: Path) -> dict[str, dict[str, bytes]]:
    """Each fixture record set (tests/fixtures_records.py: the real layouts in miniature) as {path: bytes}."""
    if not TEMPLATES:
        import fixtures_records as R

        for name, make in (("model_vs_human", R.make_model_vs_human), ("vlm_shapebias", R.make_vlm_shapebias),
                           ("scaling_laws_openclip", R.make_scaling_laws)):
            root = base / name
            make(root)
            TEMPLATES[name] = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
                               if p.is_file()}
    return TEMPLATES


def _csv_mutation(rng: random.Random, data: bytes) -> bytes:
    lines = data.decode("utf-8", "replace").splitlines()
    if not lines:
        return data
    how = rng.randrange(8)
    if how == 0:  # a cell becomes hostile text, quoted or not
        i = rng.randrange(len(lines))
        cells = lines[i].split(",")
        j = rng.randrange(len(cells))
        text = hostile(rng)
        cells[j] = '"' + text.replace('"', '""') + '"' if rng.random() < 0.5 else text
        lines[i] = ",".join(cells)
    elif how == 1:  # a header column dropped or renamed
        cells = lines[0].split(",")
        j = rng.randrange(len(cells))
        if rng.random() < 0.5:
            del cells[j]
        else:
            cells[j] = hostile(rng)
        lines[0] = ",".join(cells)
    elif how == 2:
        lines = lines[:1]  # header only
    elif how == 3:
        lines = lines + lines[1:] * rng.randint(1, 3)  # repeated rows
    elif how == 4:
        lines.insert(rng.randrange(1, len(lines) + 1), ",".join(hostile(rng) for _ in lines[0].split(",")))
    elif how == 5:
        i = rng.randrange(len(lines))
        lines[i] = lines[i] + "," + hostile(rng)  # a row with one field too many
    elif how == 6:
        return mangle(rng, data)
    else:
        lines = [ln.replace(",", pick(rng, ";", "\t", ",,")) for ln in lines]
    return ("\n".join(lines) + pick(rng, "\n", "", "\r\n")).encode("utf-8", "surrogateescape")


def make_records(rng: random.Random, folder: Path) -> Callable[[], object]:
    from clipstudy import records

    name = rng.choice(sorted(_templates(folder.parent / "_templates")))
    files = dict(TEMPLATES[name])
    root = folder / "root"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    for _ in range(rng.randint(1, 3)):
        rel = rng.choice(sorted(files))
        path = root / rel
        how = rng.random()
        if how < 0.7:
            if path.is_file():
                path.write_bytes(_csv_mutation(rng, path.read_bytes()))
        elif how < 0.8:
            replace_with_odd_file(rng, path)
        elif how < 0.9:  # a file of a name the layout does not have
            odd = path.parent / (hostile(rng).replace("/", "_").replace("\x00", "_")[:100] or "x")
            if odd.parent.is_dir() and not odd.exists() and odd.name not in (".", ".."):
                odd.with_name(odd.name + ".csv").write_bytes(files[rel])
        else:  # the dataset folder renamed
            parent = path.parent
            if parent.name != "raw-data" and parent.exists():
                new = parent.with_name(hostile(rng).replace("/", "_").replace("\x00", "_")[:80] or "y")
                if new.name not in (".", "..") and not new.exists():
                    parent.rename(new)
    options = {}
    if name == "model_vs_human" and rng.random() < 0.2:
        options["datasets"] = pick(rng, [hostile(rng)], "cue-conflict", ["contrast", "nosuch"])
    where = pick(rng, root, root, str(root), str(root) + "/", folder / "missing")

    def run():
        df = records.load(name, root=where, **options)
        if "decision" in df.columns:
            records.decisions.models(df)
        return df

    return run


def test_records_loaders_under_hostile_folders(tmp_path):
    fuzz("records", make_records, tmp_path)


# ----------------------------------------------------------------------------- model names
def _config(rng: random.Random) -> bytes:
    cfg = {"model_cfg": {"embed_dim": 32, "vision_cfg": {"layers": 2, "width": 64, "patch_size": 8, "image_size": 32},
                         "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}},
           "preprocess_cfg": {"size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}
    how = rng.randrange(9)
    if how == 0:
        return mangle(rng, json.dumps(cfg).encode())
    if how == 1:
        return ("[" * rng.choice([10, 5000, 200000]) + "]" * rng.choice([0, 10])).encode()  # deep nesting
    values = ["wide", -1, 0, 10 ** 12, 1.5, None, True, [], {}, [1, 2, "x", 4], "12", 1e309]
    if how in (2, 3, 4):
        part = rng.choice([cfg["model_cfg"]["vision_cfg"], cfg["model_cfg"]["text_cfg"], cfg["model_cfg"],
                           cfg["preprocess_cfg"]])
        part[rng.choice(sorted(part))] = rng.choice(values)
    elif how == 5:
        cfg["model_cfg"][rng.choice(["vision_cfg", "text_cfg"])][hostile(rng)] = 1
    elif how == 6:
        cfg[rng.choice(sorted(cfg))] = rng.choice(values)
    elif how == 7:
        cfg["model_cfg"]["text_cfg"]["hf_tokenizer_name"] = hostile(rng)
    text = json.dumps(cfg, allow_nan=True)
    return text.encode()


def make_names(rng: random.Random, folder: Path) -> Callable[[], object]:
    from clipstudy import zoo
    from clipstudy.models import registry

    model = folder / pick(rng, "m", "m,n", "m <img src=x onerror=alert(1)>", "é m")
    model.mkdir()
    if rng.random() < 0.9:
        (model / "open_clip_config.json").write_bytes(_config(rng))
    if rng.random() < 0.9:
        (model / pick(rng, "open_clip_pytorch_model.bin", "open_clip_model.safetensors", "x.pth", "w.txt")).write_bytes(
            os.urandom(16))
    if rng.random() < 0.05:
        replace_with_odd_file(rng, model / "open_clip_config.json")
    prefixes = ["", "local-dir:", "llava:", "timm:", "lab:", "hf-hub:", "imagefolder:", "wds:", "wds/", "@",
                "ViT-B-32/", "ViT-B-32@", "RN50/", "ViT-B-32-quickgelu@", "llava:local-dir:"]
    bodies = HOSTILE + ["openai", "random", "base", "base#2", "base#x", "base@smoke", "base@nosuch", "llava-1.5-7b",
                        str(model), str(model) + "/", f"{model}/../{model.name}", "/nonexistent", "~/x",
                        "data=laion2b", "data=", "=", "live", "nosuch", "vit_base_patch32_clip_224.openai_ft_in1k"]

    def one() -> str:
        name = rng.choice(prefixes) + rng.choice(bodies)
        if rng.random() < 0.3:
            name += "@" + rng.choice(prefixes[:4]) + rng.choice(bodies)
        return name

    items = [one() for _ in range(rng.randint(1, 3))]
    text = pick(rng, ",".join(items), items, items[0])

    def run():
        for n in registry.expand(text)[:4]:
            spec = zoo.get(n)
            if spec.source in ("open_clip",) and n.startswith("local-dir:"):
                zoo.model_id(spec)

    return run


def test_model_names_under_hostile_input(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fuzz("names", make_names, tmp_path)


# ----------------------------------------------------------------------------- the export
RECORD = {"model": "local-dir:/m", "model_id": "m", "dataset": "cue-conflict", "data_id": "d", "task": "classification",
          "id_set": "", "features": "m__d__0123456789abcdef", "heads": ["single"], "needs_heads": True, "texts": False,
          "precision": "fp32", "logit_scale": 100.0, "is_classifier": False, "classnames": ["cat", "dog"],
          "class_index": None, "n": 2, "n_skipped": 0, "device": "cpu", "torch": "2", "written": "now"}


def make_export(rng: random.Random, folder: Path) -> Callable[[], object]:
    from clipstudy import export
    from clipstudy.run.runner import UNIT_COLUMNS

    study, cache = folder / "study", folder / "cache"
    study.mkdir()
    rows = []
    for i in range(rng.randint(0, 3)):
        key = pick(rng, f"unit{i}__abc", f"unit{i}__abc", "../../../etc", "/abs", ".", "..", hostile(rng))
        rows.append([key, pick(rng, "local-dir:/m", hostile(rng)), pick(rng, "cue-conflict", "edges", "imagenet",
                                                                         "lab-val", hostile(rng)),
                     pick(rng, "computed", "reused", "failed", hostile(rng)), pick(rng, "4", "0", "-1", "x", ""),
                     pick(rng, "0", "2", "1e9"), pick(rng, "0.5", "nan", "", "x"), pick(rng, "", hostile(rng))])
        if rng.random() < 0.8 and "/" not in key and key not in (".", "..") and "\x00" not in key and key:
            entry = cache / "units" / key
            try:
                entry.mkdir(parents=True, exist_ok=True)
            except OSError:
                continue
            rec = dict(RECORD)
            how = rng.randrange(6)
            if how == 0:
                rec.pop(rng.choice(sorted(rec)))
            elif how == 1:
                rec[rng.choice(sorted(rec))] = rng.choice(["x", 1, 1.5, None, True, [], {}, [1], ["a", 2]])
            elif how == 2:
                rec["features"] = pick(rng, "../../x", "/etc", "..", hostile(rng))
            data = json.dumps(rec).encode()
            (entry / "unit.json").write_bytes(mangle(rng, data) if how == 3 else b"[1,2]" if how == 4 else data)
            if rng.random() < 0.05:
                replace_with_odd_file(rng, entry / "unit.json")

    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n\r') else v

    text = "\n".join([",".join(UNIT_COLUMNS)] + [",".join(cell(v) for v in r) for r in rows]) + "\n"
    data = text.encode("utf-8", "surrogateescape")
    (study / "units.csv").write_bytes(_csv_mutation(rng, data) if rng.random() < 0.3 else data)
    if rng.random() < 0.05:
        replace_with_odd_file(rng, study / "units.csv")
    (folder / "afile").write_text("x")
    out = pick(rng, folder / "out", folder / "afile", folder / "afile" / "sub", study / "units.csv", folder / "o u t")
    fmt = pick(rng, "csv", "imagenet-x", "model-vs-human", "xlsx", "")

    def run():
        return export.export(study, fmt, out, cache_root=cache)

    return run


def test_export_under_hostile_study_folders(tmp_path):
    fuzz("export", make_export, tmp_path)


def test_the_fuzz_feeds_at_least_2000_inputs():
    assert sum(COUNTS.values()) >= 2000
