"""The build profiles are one table of objects: each build profile holds its lab profile (training, mini-LLaVA,
set sizes, severity, seeds), names are resolved at the edges, and the keys of what the lab trains stay those its
training fields always gave."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from clipstudy import profiles, store
from clipstudy.errors import UnknownNameError
from clipstudy.profiles import LAB, LAB_PROFILES, PROFILES, SMOKE_LAB, LabProfile, Profile

PKG = Path(__file__).resolve().parents[1] / "clipstudy"

# What a trained lab model's key hashed of its profile before the lab profile became one object (the zoo's own
# profile type: every field but `seeds` and `train_precision`); the same values must give the same key.
ZOO_PROFILE_FIELDS = ("name", "chunk", "chunks", "steps", "batch_size", "lr", "ft_steps", "ft_lr", "image_size")
# What a mini-LLaVA's key hashes of its settings (`lab.llava.Settings`, every field)
LLAVA_FIELDS = ("n_images", "per_image", "steps", "batch_size", "lr", "hidden", "layers", "heads", "grid",
                "max_new_tokens", "threads", "seed")


def test_one_table_each_build_profile_holds_its_lab_profile():
    assert set(LAB_PROFILES) == {"lab", "smoke"}
    for name, p in PROFILES.items():
        assert p.name == name and isinstance(p.lab, LabProfile) and LAB_PROFILES[p.lab.name] is p.lab
    assert PROFILES["smoke"].lab is PROFILES["live-smoke"].lab is SMOKE_LAB
    assert PROFILES["lab"].lab is PROFILES["live"].lab is LAB
    # the names resolve once; an object passes through; a wrong name lists the right ones
    assert profiles.profile("smoke") is PROFILES["smoke"] and profiles.profile(PROFILES["lab"]) is PROFILES["lab"]
    assert profiles.lab_profile("smoke") is SMOKE_LAB and profiles.lab_profile(None) is LAB
    assert profiles.lab_profile(SMOKE_LAB) is SMOKE_LAB
    with pytest.raises(UnknownNameError, match="smoke"):
        profiles.lab_profile("smok")
    with pytest.raises(UnknownNameError, match="live-smoke"):
        profiles.profile("fast")
    # what the old per-profile tables said, now on the object
    assert SMOKE_LAB.severity_scenes == 48 and LAB.severity_scenes == 240
    assert SMOKE_LAB.llava_eval_size("lab-factors") == 2 and SMOKE_LAB.llava_eval_size("lab-val") == 24
    assert LAB.llava_eval_size("lab-val") is None and LAB.set_size("lab-val") is None
    assert SMOKE_LAB.set_size("lab-3dcc") == 12 and SMOKE_LAB.miniature and not LAB.miniature
    assert PROFILES["smoke"].fetch_records is PROFILES["live-smoke"].fetch_records is False
    assert PROFILES["lab"].fetch_records and PROFILES["live"].fetch_records


def test_the_cli_choices_come_from_the_table():
    from clipstudy import cli

    p = cli.parser()
    sub = {a.dest: a for a in p._actions if a.dest == "cmd"}["cmd"].choices

    def choices(parser, dest):
        return next(a for a in parser._actions if a.dest == dest).choices

    assert list(choices(sub["build"], "profile")) == list(PROFILES)
    assert list(choices(sub["run"], "lab_profile")) == list(LAB_PROFILES)
    lab = next(a for a in sub["lab"]._actions if a.dest == "lab_cmd").choices
    for cmd in ("train", "export", "publish", "fetch"):
        assert list(choices(lab[cmd], "profile")) == list(LAB_PROFILES), cmd


@pytest.mark.parametrize("lab", [LAB, SMOKE_LAB], ids=["lab", "smoke"])
def test_a_lab_models_key_is_what_its_training_fields_always_gave(lab):
    """The store key of every lab model (each recipe under each seed) equals the key built, as the zoo built it,
    from the values of the old zoo profile's fields; so the models trained, cached and published on the hub under
    the old tables are found again."""
    from clipstudy.lab import train as T
    from clipstudy.lab import zoo
    from clipstudy.lab.world import WORLD_VERSION

    old_profile = {f: getattr(lab, f) for f in ZOO_PROFILE_FIELDS}
    if lab.schedule != profiles.Schedule():  # a profile that trains under another schedule has it in its keys
        old_profile["schedule"] = dataclasses.asdict(lab.schedule)
    for n in zoo.names():
        for r in zoo.seeded(n, lab):
            parent = zoo.model_key(zoo.parent_of(r), lab) if r.finetuned else None
            want = store.lab_model_key(f"{r.name}-{lab.name}-s{r.seed}", r.key_dict(), old_profile, WORLD_VERSION,
                                       T.TRAIN_VERSION, parent)
            assert zoo.store_key(r, lab) == want, zoo.label(r)
    # what the lab profile holds beyond its training changes no model; a training field does
    r = zoo.recipe("finetuned#1")
    base = zoo.store_key(r, lab).digest()
    for change in (dict(seeds=7), dict(llava=dataclasses.replace(lab.llava, steps=1)), dict(set_sizes=()),
                   dict(severity_scenes=3), dict(train_workers=5), dict(miniature=not lab.miniature),
                   dict(llava_eval_n=1)):
        assert zoo.store_key(r, dataclasses.replace(lab, **change)).digest() == base, change
    assert zoo.store_key(r, dataclasses.replace(lab, ft_lr=lab.ft_lr * 2)).digest() != base
    assert zoo.store_key(r, dataclasses.replace(lab, chunk=lab.chunk + 1)).digest() != base
    flat = dataclasses.replace(lab.schedule, flat_lr=lab.schedule.flat_lr * 2)
    assert zoo.store_key(r, dataclasses.replace(lab, schedule=flat)).digest() != base


def test_a_mini_llavas_settings_and_folder_are_what_they_were():
    from clipstudy.lab import llava

    for lab in (LAB, SMOKE_LAB):
        row = llava.settings_of(lab, 1).row()
        assert tuple(row) == LLAVA_FIELDS and row["seed"] == 1
        assert llava.cache_dir("base", lab, 1).name == f"base-{lab.name}-seed1"
        assert llava.cache_dir("base", lab).name == f"base-{lab.name}"
    assert llava.Settings is profiles.LlavaSettings


def _resolver_calls(path: Path) -> list[str]:
    """The functions of a module that turn a profile's name into its object: they call `lab_profile` or `profile`
    imported from `clipstudy.profiles` (under any alias), or `profiles.lab_profile` / `profiles.profile`."""
    tree = ast.parse(path.read_text())
    aliases = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               and (n.module or "").endswith("profiles") for a in n.names if a.name in ("lab_profile", "profile")}
    found = []
    for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        for call in (c for c in ast.walk(fn) if isinstance(c, ast.Call)):
            f = call.func
            if (isinstance(f, ast.Name) and f.id in aliases) or (
                    isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "profiles"
                    and f.attr in ("lab_profile", "profile")):
                found.append(fn.name)
    return found


# Where a profile's name comes in from outside, and is resolved (once each): the command line, a chapter's
# papermill parameters, the build's entry, a `lab:RECIPE@PROFILE` model name, a runner unit (it travels by name to
# other processes), and the public entries a researcher calls with a name.
EDGES = {
    "cli": {"_cmd_build", "_cmd_lab"},
    "chapter": {"start"},
    "book": {"prepare"},
    "models.sources.lab": {"resolve"},
    "run.plan": {"lab_recipe"},
    "run.data": {"_open_lab"},
    "lab.zoo": {"train", "load"},
    "lab.llava": {"load", "evaluate"},
    "lab.hub": {"publish", "fetch"},
    "lab.export": {"export"},
    "lab.evaluate": {"metrics_table"},
}


def test_profile_names_are_resolved_only_at_the_edges():
    found = {}
    for path in sorted(PKG.rglob("*.py")):
        mod = ".".join(path.relative_to(PKG).with_suffix("").parts).removesuffix(".__init__")
        if mod == "profiles":
            continue
        calls = _resolver_calls(path)
        if calls:
            found[mod] = set(calls)
    assert found == EDGES
    # below the edges nothing looks a profile up in a table by name
    for path in PKG.rglob("*.py"):
        if path.name != "profiles.py":
            text = path.read_text()
            assert "PROFILES[" not in text and "profile_of(" not in text, path


def test_a_profile_object_reaches_the_lab_functions():
    """A chapter's lab profile is the object its build profile holds, and the lab evaluation path takes it."""
    from clipstudy import chapter
    from clipstudy.axes import shifts
    from clipstudy.lab import evaluate as lab_eval

    ch = chapter.Chapter(shifts.AXIS.chapter, Path("r"), "smoke", axis=shifts.AXIS, params=PROFILES["smoke"])
    assert ch.lab_profile is SMOKE_LAB
    assert lab_eval.seeds(ch.lab_profile) == list(range(SMOKE_LAB.seeds))
    assert isinstance(PROFILES["smoke"], Profile) and PROFILES["smoke"].parameters()["lab_profile"] == "smoke"


def test_what_the_lab_build_computes_stays_when_its_training_gets_cheaper():
    """A schedule may train the lab zoo for less compute (issue 34), never compute less of the study: 13 recipes, each
    under 3 seeds, 4 mini-LLaVAs, the lab sets at their sizes and the chapters' evaluation sizes are pinned here."""
    from clipstudy.axes import lmm
    from clipstudy.lab import zoo
    from clipstudy.tasks import LAB_SETS

    assert len(zoo.names()) == 13 and LAB.seeds == 3
    assert sum(len(zoo.seeded(n, LAB)) for n in zoo.names()) == 39
    assert lmm.lab_pairs(LAB) == [("base", 0), ("base", 1), ("base", 2), ("arch-vit", 0)]
    assert LAB.chunk == 1000 and dict(LAB.chunks) == {"small": 1, "medium": 3, "large": 10} and LAB.image_size == 64
    assert LAB.set_sizes == () and all(LAB.set_size(s) is None for s in LAB_SETS)
    assert LAB.llava.n_images == 3000 and LAB.llava.per_image == 6 and LAB.severity_scenes == 240
    for name in ("lab", "live"):
        p = PROFILES[name]
        assert p.n_eval == 600 and p.lab_n("lab-factors") == 150 and p.lab_n("lab-3dcc") == 60
