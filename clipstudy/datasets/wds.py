"""CLIP_benchmark's webdatasets: `wds/NAME` from the Hugging Face hub, `wds:PATH` from a local folder.

`wds/NAME` is the dataset repo `clip-benchmark/wds_NAME` (`wds/NAME@REV` pins a branch, tag or commit), in
the layout CLIP_benchmark's `build_wds_dataset` reads:

    {split}/nshards.txt              the number of shards
    {split}/{i}.tar                  i = 0 .. nshards-1; members KEY.webp|png|jpg|jpeg with KEY.cls (a class index)
                                     or KEY.txt (captions, one a line, for retrieval)
    classnames.txt                   one class name a line
    zeroshot_classification_templates.txt
    dataset_type.txt                 "retrieval" for caption sets, else classification

Files come through the hub cache service (`clipstudy.hubcache`: `huggingface_hub.hf_hub_download(repo_type=
"dataset")`, as CLIP_benchmark and open_clip fetch theirs: the same cache, `HF_ENDPOINT`, progress bars and
resumable `.incomplete` files; offline (`HF_HUB_OFFLINE=1`, `--offline`) only the cache is read; each new file is
checked against the hash the hub gave as its ETag, and one whose bytes differ is deleted). The branch is resolved
to its commit once, and every file is then fetched at that commit, so one dataset never mixes two revisions.

Each name maps to the study's family (`FAMILIES`), so every axis reads it as it reads the folder form: the
family's task, class names, class order and class subset of the 1000-way head (`imagenet_indices`), and its
per-image frame columns. The feature-store identity (`fingerprint`) of a hub dataset holds the repo, its commit
and every shard's hash; that of a local folder its resolved root and each file's size and mtime.

Shards are read with the standard library's `tarfile`, not `webdataset`: the engine wants a map-style dataset
(item i, a known length, resumable encodes that skip finished images, per-image keys for the frame), while
webdataset streams an iterable; a tar shard is indexed once (member offsets, read from the headers only) and
each image is then one seek and read. webdataset is not a dependency of clipstudy.
"""
from __future__ import annotations

import io
import re
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .. import hubcache
from ..errors import ClipstudyError, FetchError, MissingDataError, SchemaError, UnknownNameError
from .base import ImageListDataset, _to_tensor, read_image
from .retrieval import RetrievalDataset

PREFIX = "wds/"  # wds/NAME: the hub repo clip-benchmark/wds_NAME
LOCAL = "wds:"  # wds:PATH: a local folder in the same layout
ORG = "clip-benchmark"
SPLIT = "test"
IMAGE_EXTS = ("webp", "png", "jpg", "jpeg")  # CLIP_benchmark's order of preference
FETCHABLE = True


@dataclass(frozen=True)
class Family:
    """What a `wds/NAME` is in the study: the folder-form family it stands for and how its labels map."""

    family: str  # the folder-form dataset name (clipstudy datasets)
    task: str  # classification | ood | retrieval
    classes: str = "family"  # family: the family's class names and order; own: classnames.txt (objectnet)
    description: str = ""


FAMILIES: dict[str, Family] = {
    "imagenet1k": Family("imagenet", "classification", description="ImageNet-1k val (50k) as CLIP_benchmark's wds"),
    "imagenetv2": Family("imagenet-v2", "classification", description="ImageNetV2 matched-frequency (10k)"),
    "imagenet_sketch": Family("imagenet-sketch", "classification", description="ImageNet-Sketch (50,889)"),
    "imagenet-a": Family("imagenet-a", "classification", description="ImageNet-A, its 200 classes (7.5k)"),
    "imagenet-r": Family("imagenet-r", "classification", description="ImageNet-R, its 200 classes (30k)"),
    "objectnet": Family("objectnet", "classification", classes="own",
                        description="ObjectNet, the 113 ImageNet-overlapping classes, with a 113-way head"),
    "imagenet-o": Family("imagenet-o", "ood", description="ImageNet-O (2k), OOD for ImageNet"),
    "mscoco_captions": Family("coco-5k", "retrieval", description="COCO Karpathy test (5k images, 25k captions)"),
    "flickr30k": Family("flickr30k-1k", "retrieval", description="Flickr30k Karpathy test (1k images, 5k captions)"),
}
# folder-form families an axis needs that CLIP_benchmark publishes no wds form of, and why
NO_WDS: dict[str, str] = {
    "imagenet-x": "its factor annotations are keyed by ILSVRC2012 val file names, which wds_imagenet1k's "
                  "sample keys do not keep",
    "imagenet-3dcc": "no CLIP_benchmark wds form",
    "imagenet-d": "no CLIP_benchmark wds form",
    "cue-conflict": "no CLIP_benchmark wds form (the stimuli ship with clipstudy's records)",
    "edges": "no CLIP_benchmark wds form", "silhouettes": "no CLIP_benchmark wds form",
    "inaturalist": "no CLIP_benchmark wds form", "sun": "no CLIP_benchmark wds form",
    "places": "no CLIP_benchmark wds form", "textures": "no CLIP_benchmark wds form (wds_dtd is the full DTD, "
                                                       "not the MOS subset)",
    "ninco": "no CLIP_benchmark wds form",
}
LAYOUT = """\
<root>/test/nshards.txt                          the number of shards, N
<root>/test/0.tar ... <root>/test/{N-1}.tar      KEY.webp|png|jpg|jpeg + KEY.cls (class index) or KEY.txt (captions)
<root>/classnames.txt                            one class name a line (classification)
<root>/zeroshot_classification_templates.txt     (optional; clipstudy uses its own prompt sets)
<root>/dataset_type.txt                          "retrieval" for caption sets (optional otherwise)
   wds/NAME: the hub dataset repo clip-benchmark/wds_NAME, fetched into the Hugging Face cache (HF_HOME);
   wds:PATH: a local folder in this layout (a folder named wds_NAME is read as that family)"""
SPECS = {PREFIX + n: {"layout": f"hub dataset repo {ORG}/wds_{n}, read as the folder family {f.family!r}:\n{LAYOUT}"}
         for n, f in FAMILIES.items()}


def names() -> list[str]:
    return [PREFIX + n for n in FAMILIES]


def wds_form(family: str) -> str | None:
    """The `wds/NAME` of a folder-form family, if CLIP_benchmark publishes one."""
    return next((PREFIX + n for n, f in FAMILIES.items() if f.family == family), None)


def family_of(name: str) -> str:
    """The folder-form family a dataset name stands for (the name itself when it is not a wds name)."""
    fam = _family(name)
    return fam.family if fam is not None else name


def _split_name(name: str) -> tuple[str, str | None]:
    """`wds/NAME[@REV]` -> (NAME, REV)."""
    body = name[len(PREFIX):]
    short, _, rev = body.partition("@")
    return short, rev or None


def _family(name: str) -> Family | None:
    if name.startswith(PREFIX):
        return FAMILIES.get(_split_name(name)[0])
    if name.startswith(LOCAL):
        folder = Path(name[len(LOCAL):]).expanduser().name
        return FAMILIES.get(folder[len("wds_"):]) if folder.startswith("wds_") else None
    return None


def check_name(name: str) -> Family | None:
    if name.startswith(PREFIX):
        short = _split_name(name)[0]
        if short not in FAMILIES:
            raise UnknownNameError("wds dataset", name, names(),
                                   hint="a local folder in CLIP_benchmark's wds layout loads as wds:PATH")
        return FAMILIES[short]
    return _family(name)


def task_of(name: str) -> str:
    """The registry task of a wds name; a local `wds:PATH` of no known family reads its dataset_type.txt."""
    fam = check_name(name)
    if fam is not None:
        return fam.task
    try:
        kind = _dataset_type(Path(name[len(LOCAL):]).expanduser() / "dataset_type.txt")
    except OSError as e:
        raise ClipstudyError(f"{name}: cannot be read ({e.strerror or e})") from None
    return "retrieval" if kind == "retrieval" else "classification"


def _dataset_type(path: Path) -> str:
    """dataset_type.txt's word, lower case ("classification" when the file is absent)."""
    if not path.is_file():
        return "classification"
    raw = path.read_bytes()[:4096]
    try:
        return raw.decode("utf-8").strip().lower()
    except UnicodeDecodeError:
        raise SchemaError(f"{path} should hold one word (retrieval or classification), not {raw[:20]!r}") from None


def repo_of(name: str) -> tuple[str, str | None]:
    short, rev = _split_name(name)
    return f"{ORG}/wds_{short}", rev


# --------------------------------------------------------------------------- the hub
@dataclass(frozen=True)
class Snapshot:
    """A wds dataset's files on this machine: the folder, and (from the hub) the repo, commit and file hashes."""

    root: Path
    repo: str | None = None
    commit: str | None = None
    hashes: tuple = ()  # (file, blob name: sha256 of an LFS file, git sha1 of a small one)


def _how(name: str, repo: str, lead: str = "Get it with ") -> str:
    return (f"{lead}`clipstudy fetch {name}` on a machine that reaches the hub (HF_ENDPOINT selects a "
            f"mirror), or `hf download {repo} --repo-type dataset`, and copy the Hugging Face cache (HF_HOME, "
            f"default ~/.cache/huggingface) here; a local copy in the same layout loads as wds:PATH.")


def _get(repo: str, filename: str, commit: str | None, rev: str, name: str, *, local: bool,
         verify: bool, missing_ok: bool = False, ask: bool = False) -> Path | None:
    """One file of the repo, from the cache or the hub (`ask`: ask the hub even when it is cached, to resolve
    a branch to its current commit); a new (or, with `verify`, any) file is checked against its hash and
    deleted when its bytes differ."""
    before = hubcache.cached(repo, filename, commit or rev, "dataset")
    if before is not None and not verify and not (ask and not local):
        return before
    try:
        return hubcache.get(repo, filename, revision=commit or rev, repo_type="dataset", local=local, verify=verify,
                            subject=name, again=f"run `clipstudy fetch {name}` again")
    except hubcache.EntryMissing:
        if missing_ok:
            return None
        raise MissingDataError(f"{name}: file {filename} of the hub dataset repo {repo}", hubcache.endpoint(),
                               layout=LAYOUT, fetch=_how(name, repo, lead="")) from None
    except hubcache.NotCached as e:
        if missing_ok:
            return None
        raise FetchError(f"{name}: {e.reason}. {_how(name, repo)}") from e


def snapshot(name: str, split: str = SPLIT, *, verify: bool = False, progress: bool = True) -> Snapshot:
    """Every file of `wds/NAME` for `split` in the local hub cache, fetched at one commit where missing."""
    check_name(name)
    repo, rev = repo_of(name)
    rev = rev or "main"
    first = f"{split}/nshards.txt"
    local = hubcache.offline()
    if not local:
        why = hubcache.probe(repo, first, revision=rev, repo_type="dataset")
        if why is not None:
            if hubcache.cached_commit(repo, rev, "dataset") is None:
                raise FetchError(f"{name}: cannot reach the hub at {hubcache.endpoint()} ({why}), and the dataset "
                                 f"repo {repo} is not in the local hub cache. {_how(name, repo)}")
            print(f"clipstudy: the hub at {hubcache.endpoint()} is unreachable ({why}); using the cached {repo}. "
                  "To skip this check, work offline: HF_HUB_OFFLINE=1 or --offline.", file=sys.stderr)
            local = True
    commit = hubcache.cached_commit(repo, rev, "dataset") if local else None
    if local and commit is None:
        raise FetchError(f"{name}: the dataset repo {repo} is not in the local hub cache and offline mode is on "
                         f"(HF_HUB_OFFLINE=1 or --offline). {_how(name, repo)}")
    # online, the first file resolves the branch to its commit; the rest are fetched at that commit
    nshards_path = _get(repo, first, commit if local else None, rev, name, local=local, verify=verify, ask=True)
    commit = hubcache.commit_of(nshards_path, first)
    n = _nshards(nshards_path)
    files = [first] + [f"{split}/{i}.tar" for i in range(n)]
    meta = ["classnames.txt", "dataset_type.txt", "zeroshot_classification_templates.txt"]
    todo = [f for f in files[1:] if hubcache.cached(repo, f, commit, "dataset") is None]
    if todo and not local and progress:
        print(f"clipstudy: {name}: fetching {len(todo)} of {n} shard(s) of {repo}@{commit[:10]} into "
              f"{hubcache.cache_dir()}", file=sys.stderr)
    hashes = [(first, nshards_path.resolve().name)]
    for f in files[1:]:
        p = _get(repo, f, commit, rev, name, local=local, verify=verify)
        hashes.append((f, p.resolve().name))
    for f in meta:
        p = _get(repo, f, commit, rev, name, local=local, verify=verify, missing_ok=True)
        if p is not None:
            hashes.append((f, p.resolve().name))
    return Snapshot(hubcache.snapshot_of(nshards_path, first), repo, commit, tuple(hashes))


MAX_SHARDS = 1_000_000  # far above any published set (wds_imagenet1k: tens); a larger count is a damaged file
MAX_TEXT_MEMBER = 1 << 20  # bytes of a KEY.cls or KEY.txt member read into memory (a label, a few captions)


def _nshards(path: Path) -> int:
    data = path.read_bytes()[:4096]
    text = data.decode("utf-8", "replace").strip()
    if not re.fullmatch(r"[0-9]{1,7}", text) or not 1 <= int(text) <= MAX_SHARDS:
        raise SchemaError(f"{path} should hold the number of shards (a whole number from 1 to {MAX_SHARDS:,}), "
                          f"not {text[:40]!r}")
    return int(text)


# --------------------------------------------------------------------------- reading shards
def split_key(member: str) -> tuple[str, str] | None:
    """webdataset's sample grouping: `dir/KEY.ext.ext2` -> (`dir/KEY`, `ext.ext2`): the key is the path up to
    the first dot of its file name."""
    m = re.match(r"^((?:.*/|)[^./]+)\.([^/]*)$", member)
    return (m[1], m[2].lower()) if m else None


def _kind(m: tarfile.TarInfo) -> str:
    return ("a symbolic link" if m.issym() else "a hard link" if m.islnk() else "a folder" if m.isdir() else
            "a device or fifo")


def index_shard(path: Path) -> list[dict]:
    """The samples of one tar shard, in order: key, the image member's offset and size, and the label or
    caption text (read now: they are a few bytes). Headers are read, images are not.

    As webdataset groups them, a sample is a run of consecutive members sharing a key; a key whose members
    come back after another sample's, or that repeats a suffix, would pair one sample's image with another's
    label, and the shard is refused naming it. A sample whose image is not a regular file (a link or folder
    member) keeps `image` None and says why in `missing`, as does a label or caption with no image: the
    reader counts them instead of losing them."""
    samples: dict[str, dict] = {}
    last = None
    try:
        with tarfile.open(path, "r:") as tf:  # plain tar (what CLIP_benchmark writes); random access needs it
            for m in tf:
                kx = split_key(m.name)
                if kx is None:
                    continue
                key, ext = kx
                if ext not in IMAGE_EXTS and ext not in ("cls", "txt"):
                    continue
                if key in samples and key != last:
                    raise SchemaError(f"{path}: the members of sample {key!r} are not together (another sample's "
                                      f"come between them, before {m.name!r}); webdataset would read them as two "
                                      "samples. Write each sample's members one after another")
                last = key
                s = samples.setdefault(key, {"key": key})
                if ext in s.setdefault("_exts", set()):
                    raise SchemaError(f"{path}: the sample {key!r} has two {ext!r} members ({m.name!r} again); "
                                      "each key must name one sample, as webdataset requires")
                s["_exts"].add(ext)
                if not m.isfile():
                    if ext in IMAGE_EXTS:
                        s.setdefault("missing", f"its image member {m.name} is {_kind(m)}, not a file")
                    else:
                        raise SchemaError(f"{path}: the {ext} member {m.name!r} is {_kind(m)}, not a file")
                    continue
                if ext in IMAGE_EXTS:
                    if "image" not in s or IMAGE_EXTS.index(ext) < IMAGE_EXTS.index(s["image_ext"]):
                        s.update(image=(m.offset_data, m.size), image_ext=ext)
                else:
                    if m.size > MAX_TEXT_MEMBER:
                        raise SchemaError(f"{path}: the {ext} member {m.name!r} holds {m.size:,} bytes; a label or "
                                          f"captions file is at most {MAX_TEXT_MEMBER:,}")
                    raw = tf.extractfile(m).read()
                    try:
                        s[ext] = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        raise SchemaError(f"{path}: the {ext} member {m.name!r} is not UTF-8 text "
                                          f"({raw[:20]!r})") from None
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ClipstudyError(f"{path} is not a readable tar shard ({type(e).__name__}: {e})") from e
    out = []
    for s in samples.values():
        s.pop("_exts", None)
        if "image" in s:
            s.pop("missing", None)
        else:
            s.setdefault("missing", "no image member (KEY.webp|png|jpg|jpeg)")
            s["image"] = None
        out.append(s)
    return out


class WdsDataset(ImageListDataset):
    """A wds split in the engine protocol: item i -> (image or None, label, key[, note])."""

    members: list[tuple[int, int]]
    snapshot: Snapshot

    def __getitem__(self, i: int):
        if self.members[i] is None:  # a sample with a label and no image file: counted as skipped, named
            if self.keys[i] not in self.skipped:
                self.skipped.append(self.keys[i])
            return None, self.labels[i], self.keys[i], f"unreadable ({self.missing[self.keys[i]]})"
        offset, size = self.members[i]
        try:
            with open(self.paths[i], "rb") as f:
                f.seek(offset)
                data = f.read(size)
        except OSError as e:
            data, why = None, f"unreadable ({type(e).__name__})"
        img, note = read_image(io.BytesIO(data)) if data is not None and len(data) == size else \
            (None, why if data is None else "unreadable (shard cut short)")
        if img is None:
            if self.keys[i] not in self.skipped:
                self.skipped.append(self.keys[i])
            return None, self.labels[i], self.keys[i], note
        img = self.transform(img) if self.transform is not None else _to_tensor(img)
        return (img, self.labels[i], self.keys[i]) + ((note,) if note else ())

    def fingerprint(self) -> str:
        """From the hub: the repo, its commit and every file's hash (the shards' sha256). A local folder: its
        resolved root and every shard's and metadata file's size and mtime."""
        from ..store import digest

        if self._fingerprint is None:
            s = self.snapshot
            if s.repo is not None:
                ident = ["wds", s.repo, s.commit, self.split, list(map(list, s.hashes))]
            else:
                files = sorted({*self.paths, *(s.root / f for f, _ in s.hashes)})
                ident = ["wds-local", str(s.root.resolve()), self.split,
                         [(p.relative_to(s.root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                          for p in files if p.exists()]]
            self._fingerprint = digest(ident + [self.family], 24)
        return self._fingerprint

    def verify(self) -> list[str]:
        bad = [k for i, k in enumerate(self.keys) if self[i][0] is None]
        self.skipped = sorted(set(self.skipped) | set(bad))
        return bad


class WdsRetrievalDataset(WdsDataset, RetrievalDataset):
    """A wds caption split: images with `texts`, `image_to_texts` and `text_to_image`, as the folder form."""


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SchemaError(f"{path} is not UTF-8 text (byte {e.start}); it should hold one class name a line") from None
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def open_folder(name: str, root: Path, split: str, transform=None, snap: Snapshot | None = None,
                verify: bool = False) -> WdsDataset:
    """A wds split from a folder in CLIP_benchmark's layout, read as `name`'s family."""
    root = Path(root).expanduser()
    counts = root / split / "nshards.txt"
    if not counts.is_file():
        raise MissingDataError(f"{name} ({split}/nshards.txt)", root, layout=LAYOUT,
                               fetch=f"`clipstudy fetch {name}`" if name.startswith(PREFIX) else
                               "point wds:PATH at a folder in CLIP_benchmark's wds layout")
    n = _nshards(counts)
    shards = [root / split / f"{i}.tar" for i in range(n)]
    absent = [p.name for p in shards if not p.is_file()]
    if absent:
        raise MissingDataError(f"{name}: {len(absent)} of {n} shard(s), e.g. {', '.join(absent[:3])}", root / split,
                               layout=LAYOUT, fetch=f"`clipstudy fetch {name}`" if name.startswith(PREFIX) else
                               f"copy the missing shards into {root / split}, or fix {counts.name} to the number "
                               "of shards the folder holds")
    if snap is None:
        snap = Snapshot(root, hashes=tuple((f, "") for f in ("classnames.txt", "dataset_type.txt",
                                                             "zeroshot_classification_templates.txt",
                                                             f"{split}/nshards.txt") if (root / f).is_file()))
    fam = _family(name)
    kind_file = root / "dataset_type.txt"
    kind = _dataset_type(kind_file)
    task = fam.task if fam is not None else ("retrieval" if kind == "retrieval" else "classification")
    if task == "retrieval" and kind != "retrieval":
        raise SchemaError(f"{name}: {kind_file} should say 'retrieval' for a caption set, not {kind!r}")
    samples, paths = [], []
    for p in shards:
        got = index_shard(p)
        samples += got
        paths += [p] * len(got)
    if not any(s["image"] is not None for s in samples):
        raise MissingDataError(f"{name} images (its shards hold no KEY.webp|png|jpg|jpeg members)", root / split,
                               layout=LAYOUT)
    keys = [s["key"] for s in samples]
    if len(set(keys)) < len(keys):  # keys unique within a shard only: name them by shard too
        keys = [f"{p.stem}/{k}" for p, k in zip(paths, keys)]
    missing = {k: s["missing"] for k, s in zip(keys, samples) if s["image"] is None}
    gone: list[str] = []
    if task == "retrieval" and missing:  # as the folder form: an absent image is left out with its captions
        gone = [k for k in keys if k in missing]
        keep = [i for i, k in enumerate(keys) if k not in missing]
        samples, paths, keys = [samples[i] for i in keep], [paths[i] for i in keep], [keys[i] for i in keep]
        print(f"clipstudy: {name}: {len(gone)} sample(s) have captions but no image file, left out with their "
              f"captions (e.g. {gone[0]}: {missing[gone[0]]})", file=sys.stderr)
    members = [s["image"] for s in samples]
    extra: dict = {"shard": [p.name for p in paths]}
    own = _read_lines(root / "classnames.txt") if (root / "classnames.txt").is_file() else []
    imagenet_indices, texts = None, None
    if task == "retrieval":
        no_text = [k for k, s in zip(keys, samples) if "txt" not in s]
        if no_text:
            raise SchemaError(f"{name}: {len(no_text)} sample(s) have no KEY.txt captions, e.g. {no_text[:3]}")
        caps = [[c.strip() for c in s["txt"].splitlines() if c.strip()] for s in samples]
        labels, classnames = list(range(len(samples))), []
        texts, i2t, t2i = [], [], []
        for i, c in enumerate(caps):
            i2t.append(list(range(len(texts), len(texts) + len(c))))
            t2i += [i] * len(c)
            texts += c
        extra["n_captions"] = [len(c) for c in caps]
    else:
        bad = [k for k, s in zip(keys, samples) if not re.fullmatch(r"-?[0-9]{1,9}", s.get("cls", "").strip())]
        if bad:
            shown = ", ".join(f"{k} ({samples[keys.index(k)].get('cls', 'none')[:12]!r})" for k in bad[:3])
            raise SchemaError(f"{name}: {len(bad)} sample(s) have no integer KEY.cls label (ASCII digits), e.g. "
                              f"{shown}")
        cls = [int(s["cls"].strip()) for s in samples]
        if task == "ood":
            from .ood import OOD_LABEL

            labels, classnames = [OOD_LABEL] * len(cls), []
            extra["group"] = [own[c] if 0 <= c < len(own) else str(c) for c in cls]
        else:
            classnames, imagenet_indices = _classes(name, fam, own, root)
            out = sorted({c for c in cls if not 0 <= c < len(classnames)})
            if out:
                raise SchemaError(f"{name}: labels {out[:5]} are outside its {len(classnames)} classes")
            labels = cls
    cls_ = WdsRetrievalDataset if task == "retrieval" else WdsDataset
    ds = cls_(name, root / split, paths, labels, classnames, transform, extra=extra, keys=keys,
              imagenet_indices=imagenet_indices)
    ds.members, ds.snapshot, ds.split, ds.missing = members, snap, split, missing
    ds.family = fam.family if fam is not None else ""
    ds.own_classes = task == "classification" and imagenet_indices is None and (fam is None or fam.classes == "own")
    ds.task = task
    if task == "retrieval":
        import numpy as np

        ds.texts, ds.image_to_texts, ds.text_to_image = texts, i2t, np.asarray(t2i, dtype=int)
        ds.missing_images = gone
    if verify:
        ds.verify()
    return ds


def _classes(name: str, fam: Family | None, own: list[str], root: Path):
    """(class names, imagenet_indices) of a classification split: the family's (as its folder form), checked
    against classnames.txt's count; a set of no known family (or ObjectNet) uses classnames.txt itself."""
    if fam is None or fam.classes == "own":
        if not own:
            raise MissingDataError(f"{name}: classnames.txt", root, layout=LAYOUT)
        return own, None
    from . import REGISTRY

    entry = REGISTRY[fam.family]
    names = entry.classnames()
    if own and len(own) != len(names):
        raise SchemaError(f"{name}: classnames.txt has {len(own)} classes, but {fam.family} has {len(names)}; "
                          "is this the right dataset?")
    idx = None
    if fam.family in ("imagenet-r", "imagenet-a"):
        from . import synset_folders

        idx = synset_folders.imagenet_indices(fam.family)
    return names, idx


# --------------------------------------------------------------------------- the registry's entry points
def load(name: str, root=None, transform=None, split: str = SPLIT, verify: bool = False, **kw) -> WdsDataset:
    """`wds/NAME` (from the hub into its cache, or from `root`, a local copy) or `wds:PATH`."""
    check_name(name)
    if name.startswith(LOCAL) or root is not None:
        folder = Path(root if root is not None else name[len(LOCAL):]).expanduser()
        try:
            return open_folder(name, folder, split, transform, verify=verify)
        except ClipstudyError:
            raise
        except OSError as e:  # a folder name too long for a file, a file that cannot be read
            raise ClipstudyError(f"{name}: {e.filename or folder} cannot be read ({e.strerror or e})") from None
    snap = snapshot(name, split)
    return open_folder(name, snap.root, split, transform, snap=snap, verify=verify)


def classnames(name: str) -> list[str]:
    fam = check_name(name)
    if fam is not None and fam.classes == "family" and fam.task == "classification":
        from . import REGISTRY

        return REGISTRY[fam.family].classnames()
    return []


def fetch(name: str, dest=None, split: str = SPLIT) -> Path:
    """Download `wds/NAME` into the Hugging Face cache (every file checked, cached ones too)."""
    if dest is not None:
        raise ClipstudyError(f"{name} is fetched into the Hugging Face cache (HF_HOME); --dest does not apply. "
                             f"For a folder of your own, `hf download {repo_of(name)[0]} --repo-type dataset "
                             "--local-dir DIR` and load it as wds:DIR.")
    return snapshot(name, split, verify=True).root
