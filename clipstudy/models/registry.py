"""Model names: the curated registry, the name forms that resolve through sources, and collections.

The curated registry is data (`curated.csv` next to this file: open_clip pairs and timm ImageNet-fine-tuned
CLIPs, each with its factors). Its numbers come from the tags themselves (`s34b` = 34B samples seen, `e32` =
32 epochs), open_clip's `docs/PRETRAINED.md` and model cards, the DataComp paper (pool scales small 12.8M,
medium 128M, large 1.28B, xlarge 12.8B samples seen = pool size), and the original papers for OpenAI CLIP
(32 epochs over 400M pairs), SigLIP (40B samples on WebLI) and DFN; rows noted approximate are epoch-count x
dataset-size estimates.

Everything else resolves through a table that each source (`clipstudy.models.sources`) registers into:
a name prefix or form (`ARCH/TAG`, `ARCH@path`, `local-dir:`, `timm:`, `lab:`, `llava:`) and the function that turns
such a name into a `ModelSpec`; a loader per source; and, for sources with their own names, a lister. This
module imports no source (sources import it), so it never cycles; `clipstudy.zoo` imports them all.

Collections (`@NAME`) are parsed here once: named ones are registered (`@live`, `@baselines`, `@lab`, ...)
and `@FIELD=VALUE` filters the registry.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .. import factors
from ..errors import ClipstudyError, UnknownNameError
from ..registry import Registry
from . import info
from .spec import LOCAL_DIR, Loaded, ModelSpec, local_checkpoint, pretrained_tag  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    import pandas as pd

NAME_FORMS = """model names:
  ARCH/TAG                 an open_clip pretrained pair (open_clip.list_pretrained()), e.g. ViT-B-32/openai;
                           `clipstudy models` lists the curated registry with its six factors
  timm:NAME                a timm model with its ImageNet head, e.g. timm:vit_base_patch16_clip_224.openai_ft_in1k
  ARCH@/path/to/file.pt    a local open_clip checkpoint (.pt/.pth/.bin/.safetensors) for architecture ARCH;
                           OpenAI-style weights need the QuickGELU variant, e.g. ViT-B-32-quickgelu@/path/to/file.pt
  local-dir:/path/to/dir   an open_clip model folder (open_clip_config.json + weights), as `clipstudy lab export` writes
  lab:RECIPE[@PROFILE]     a tiny CLIP trained in the lab (`clipstudy lab recipes`)
  hf-hub:ORG/REPO[@REV]    a CLIP hub repo in open_clip's format (open_clip_config.json) or transformers' (config.json
                           with model_type clip, siglip or metaclip_2), read by its own library; @REV pins a branch,
                           tag or commit (default main, resolved to its commit), e.g. hf-hub:timm/ViT-B-16-SigLIP
  ARCH/random              random weights (seeded), for pipeline checks only
  llava:CHECKPOINT[@CLIP]  a LLaVA (an LMM, run by `clipstudy run --axes lmm`): an alias (llava:llava-1.5-7b), a
                           hub id or a local folder in the Hugging Face layout, and after @ its CLIP (the aliases
                           know theirs), e.g. llava:/path/to/folder@ViT-L-14-336/openai
Hub weights (ARCH/TAG, timm:NAME, hf-hub:) download on first use unless offline (--offline or HF_HUB_OFFLINE=1);
`clipstudy fetch model NAME` downloads them ahead."""

# the registry's sortable columns: the factors' columns, then the extra ones (`clipstudy models --factor`)
FACTORS: tuple[str, ...] = tuple(factors.COLUMN[k] for k in factors.TRAINING) + ("resolution",)
CURATED_CSV = Path(__file__).with_name("curated.csv")


def model_id(spec: ModelSpec) -> str:
    """The cache id of a model: its name, plus a hash of the bytes of a local checkpoint file, or of every file
    of a local model folder (names and contents). The hash is `store.file_digest`'s, cached per file's
    (path, size, mtime_ns, inode), so a file replaced by another of the same size and mtime (`cp -p`) is a
    new id, and an unchanged one is hashed once per process. A hub repo (`hf-hub:`) is its name and the commit it
    resolved to (and those of the second repos its config names), so a repo that changes is a new model."""
    import os

    if spec.revision:
        return f"{spec.name}#{spec.revision}" + (f"+{spec.pretrained}" if spec.pretrained else "")

    if spec.pretrained and os.path.isfile(spec.pretrained):
        from ..store import file_digest

        return f"{spec.name}#{file_digest(spec.pretrained)[:16]}"
    if spec.arch.startswith(LOCAL_DIR):
        import hashlib

        from ..store import file_digest

        folder = Path(spec.arch[len(LOCAL_DIR):]).expanduser()
        h = hashlib.sha256()
        for f in sorted(f for f in folder.iterdir() if f.is_file()):
            h.update(f"{f.name}\0{file_digest(f)}\n".encode())
        return f"{spec.name}#{h.hexdigest()[:16]}"
    return spec.name


def _curated() -> Registry[ModelSpec]:
    out: Registry[ModelSpec] = Registry("model")
    with CURATED_CSV.open(newline="") as f:
        for r in csv.DictReader(line for line in f if not line.startswith("#")):
            out.register(r["name"], ModelSpec(
                name=r["name"], source=r["source"], arch=r["arch"], pretrained=r["pretrained"] or None,
                family=r["family"], data=r["data"], samples_seen=float(r["samples_seen"]),
                finetuned=r["finetuned"] == "True", loss=r["loss"], resolution=int(r["resolution"]),
                notes=r["notes"]))
    return out


# the curated rows are loaded with the module, so `register` before the first `get` adds to them
REGISTRY: Registry[ModelSpec] = _curated()


def register(spec: ModelSpec) -> ModelSpec:
    """Add (or replace) a named model; the curated registry stays."""
    return REGISTRY.register(spec.name, spec, replace=True)


# ----------------------------------------------------------------- the source table
@dataclass(frozen=True)
class Resolver:
    """One name form: `prefix` (at the start of a name) or `infix` (anywhere), and how to resolve it."""

    form: str
    resolve: Callable[[str], ModelSpec]
    prefix: str = ""
    infix: str = ""

    def matches(self, name: str) -> bool:
        return name.startswith(self.prefix) if self.prefix else self.infix in name


RESOLVERS: list[Resolver] = []
LOADERS: Registry[Callable[[ModelSpec, str], Loaded]] = Registry("model source")
LISTERS: Registry[Callable[[], list[ModelSpec]]] = Registry("model lister")  # sources listed beside the registry
# sources whose files `clipstudy fetch model` downloads itself (hf-hub): (spec, verify cached files) -> their folder
FETCHERS: Registry[Callable[[ModelSpec, bool], Path]] = Registry("model fetcher")
SUGGESTERS: list[Callable[[], list[str]]] = []


def register_resolver(form: str, resolve: Callable[[str], ModelSpec], *, prefix: str = "", infix: str = "") -> None:
    """A source claims names that start with `prefix` (or contain `infix`); prefixes are tried first."""
    if bool(prefix) == bool(infix):
        raise ValueError("give exactly one of prefix and infix")
    RESOLVERS[:] = [r for r in RESOLVERS if r.form != form] + [Resolver(form, resolve, prefix, infix)]
    RESOLVERS.sort(key=lambda r: 0 if r.prefix else 1)  # stable: infix forms keep their registration order


def register_source(source: str, load: Callable[[ModelSpec, str], Loaded], *,
                    lister: Callable[[], list[ModelSpec]] | None = None,
                    suggest: Callable[[], list[str]] | None = None,
                    fetch: Callable[[ModelSpec, bool], Path] | None = None) -> None:
    """A source's loader, and optionally the models it lists, the names it suggests for typos and how its files are
    fetched ahead (`clipstudy fetch model`)."""
    LOADERS[source] = load
    if fetch is not None:
        FETCHERS[source] = fetch
    if lister is not None:
        LISTERS[source] = lister
    if suggest is not None and suggest not in SUGGESTERS:
        SUGGESTERS.append(suggest)


def entries() -> dict[str, ModelSpec]:
    """The registry plus every listing source's models (the lab zoo), by name."""
    out = {n: info.apply(s) for n, s in REGISTRY.items()}
    for lister in LISTERS.values():
        for s in lister():
            out.setdefault(s.name, s)
    return out


def _suggestions() -> list[str]:
    out = list(entries())
    for suggest in SUGGESTERS:
        try:
            out += suggest()
        except Exception:  # an optional source's list is for suggestions only
            pass
    return list(dict.fromkeys(out))


def get(name: str | ModelSpec) -> ModelSpec:
    """Resolve a model name (see NAME_FORMS) to a ModelSpec, with what `--model-info` declares for it laid over
    (`models.info`); unknown names suggest close ones."""
    if isinstance(name, ModelSpec):
        return name
    if name in REGISTRY:
        return info.apply(REGISTRY[name])
    for r in RESOLVERS:
        if r.matches(name):
            spec = r.resolve(name)
            if spec is not None:
                return info.apply(spec)
    hub = f" A hub repo is hf-hub:{name}." if _looks_like_repo(name) else ""
    raise UnknownNameError("model", name, _suggestions(),
                           hint=f"Use ARCH/TAG from open_clip.list_pretrained(), timm:NAME, hf-hub:ORG/REPO, "
                                f"ARCH@CHECKPOINT, local-dir:FOLDER, lab:RECIPE, ARCH/random, or a name from "
                                f"`clipstudy models`.{hub}")


def _looks_like_repo(name: str) -> bool:
    """ORG/REPO with no name form of its own (what a researcher copies from a hub page)."""
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", name))


def load(spec: ModelSpec | str, device: str = "cpu") -> Loaded:
    """Build the model with its preprocess and tokenizer, through its source's loader."""
    spec = get(spec)
    if spec.source not in LOADERS:
        raise ClipstudyError(f"unknown model source {spec.source!r} for {spec.name}")
    return LOADERS[spec.source](spec, device)


def specs(names_: Iterable[str]) -> list[ModelSpec]:
    return [get(n) for n in names_]


def names(**filters: Any) -> list[str]:
    """Registry (and listed) names whose fields equal the given values."""
    return [n for n, s in entries().items() if all(getattr(s, k) == v for k, v in filters.items())]


def frame(factor: str | None = None) -> pd.DataFrame:
    """The registry as a table; `factor` (a factor in any spelling, or `resolution`) sorts and groups it."""
    import pandas as pd

    df = pd.DataFrame([s.row() for s in entries().values()])
    if df.empty:
        return df
    if factor is not None:
        col = factors.column(factor)
        df = df.sort_values([col, "name"], na_position="last")
        df = df[["name", col] + [c for c in df.columns if c not in ("name", col)]]
    return df.reset_index(drop=True)


def factor_table(names_: Iterable[str]) -> pd.DataFrame:
    """The factor columns (`factors.COLUMN`), `parent` and `revision` of each model as the study reads them
    (declared `--model-info` values included): one row per model, for a chapter's live model table. A name that
    no longer resolves gets a row of its name alone."""
    import pandas as pd

    cols = ["model", *info.FACTOR_COLUMNS, info.PARENT, "revision"]
    rows = []
    for n in names_:
        try:
            s = get(n)
        except ClipstudyError:
            rows.append({"model": n})
            continue
        rows.append({"model": n, **{c: getattr(s, c) for c in cols[1:]}})
    return pd.DataFrame(rows, columns=cols)


# ----------------------------------------------------------------- collections
COLLECTIONS: Registry[Callable[[], list[str]]] = Registry("model collection")
FIELDS: tuple[str, ...] = ("source", "family", "data", "loss", "finetuned", "resolution")
HUB_SOURCES = ("open_clip", "timm")


def register_collection(name: str, members: Callable[[], list[str]]) -> None:
    """`@name` expands to `members()` (called on use, so it sees recipes registered later)."""
    COLLECTIONS.register(name, members, replace=True)


def collection(name: str, *, hub_only: bool = False) -> list[str]:
    """The members of `@name`: a registered collection, or `FIELD=VALUE` over the registry (with `hub_only`,
    only models whose weights come from the hub; any factor spelling works as FIELD)."""
    if name in COLLECTIONS:
        return list(COLLECTIONS[name]())
    field, eq, value = name.partition("=")
    if eq and field not in FIELDS and (field in factors.KEYS or field in factors.ALIASES):
        field = factors.column(field)
    if eq and field in FIELDS:
        pool = {n: s for n, s in entries().items() if not hub_only or s.source in HUB_SOURCES}
        members = [n for n, s in pool.items() if str(getattr(s, field)).lower() == value.lower()]
        if not members:
            raise UnknownNameError(f"{field} in the registry", value, sorted({str(getattr(s, field))
                                                                              for s in pool.values()}))
        return members
    raise UnknownNameError("model collection", f"@{name}", [f"@{c}" for c in COLLECTIONS],
                           hint=f"Or @FIELD=VALUE over `clipstudy models` with FIELD one of {', '.join(FIELDS)} "
                                "(e.g. @data=laion2b or @loss=siglip).")


class Whole(str):
    """A name read whole (from a names file, one a line): never split at its commas."""


PATH_PREFIXES = (LOCAL_DIR, "imagefolder:", "wds:")  # name forms whose rest is a folder path


def _path_of(name: str) -> tuple[str, str] | None:
    """(the name up to its path, the path) of a name that holds a local path, else None."""
    for p in PATH_PREFIXES:
        if name.startswith(p):
            return p, name[len(p):]
    arch, at, rest = name.partition("@")
    if at and arch and ":" not in arch and rest.startswith(("/", "~", ".")):  # ARCH@/path/to/checkpoint
        return arch + at, rest
    return None


def identity(name: str) -> str:
    """What a name refers to: a name holding a local path names its real path (`mine`, `mine/` and `./mine` are
    one folder); any other name is itself."""
    import os

    split = _path_of(name)
    if split is None or not split[1]:
        return name
    return split[0] + os.path.realpath(os.path.expanduser(split[1]))


def _comma_path(item: str) -> str | None:
    """The existing file or folder an item names whole, when a comma in its path would split it."""
    import os

    split = _path_of(item.strip())
    return split[1] if split is not None and "," in split[1] and os.path.exists(os.path.expanduser(split[1])) \
        else None


def expand(items: Iterable[str] | str, resolve: Callable[[str], list[str]] | None = None) -> list[str]:
    """Names with each `@COLLECTION` replaced by its members, each once, in order ("a,b" splits; a `Whole` name,
    one line of a names file, does not). Names of one local path (`local-dir:mine`, `local-dir:./mine/`) are one
    name, the first given. `resolve` maps a collection name (without @) to members; model collections by default."""
    resolve = resolve or collection
    out: list[str] = []
    for item in ([items] if isinstance(items, str) else items):
        if not isinstance(item, Whole) and (path := _comma_path(str(item))) is not None:
            raise ClipstudyError(f"{item!r}: names are split at commas, but {path} is one path with a comma in it. "
                                 "List such names one a line in a file and pass it with --models-file FILE (or "
                                 "--datasets-file FILE), or rename the folder")
        for part in ([str(item)] if isinstance(item, Whole) else str(item).split(",")):
            part = part.strip()
            if any(ord(c) < 32 or ord(c) == 127 for c in part):
                raise ClipstudyError(f"{part!r}: a name holds a control character (a NUL, a line break, ...); "
                                     "rename the folder or give the name without it")
            if part:
                out += resolve(part[1:]) if part.startswith("@") else [part]
    first: dict[str, str] = {}
    for name in out:
        first.setdefault(identity(name), name)
    return list(dict.fromkeys(first.values()))


def read_names(path: str) -> list[Whole]:
    """The names in a file, one a line (blank lines and `#` comments skipped), each read whole."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ClipstudyError(f"cannot read the names file {path} ({type(e).__name__}: {e})") from e
    return [Whole(ln.strip()) for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
