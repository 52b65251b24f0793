"""Bad and hostile input on the surfaces added since the last round: webdatasets, class folders, exports, the book's
text, model names, paths and the environment. Each trial gets a clear one-line error before any work, or the right
result; text from outside is shown as text. (The built book's pages are scanned in tests/test_book_live.py; the
seeded fuzzing of the same surfaces is tests/test_fuzz.py.)"""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import runner_fixtures as R
from checks import one_line_error, time_limit
from fixtures_wds import image_bytes, shard

from clipstudy import cli, export, records
from clipstudy.datasets import imagefolder, wds
from clipstudy.errors import ClipstudyError, MissingDataError, SchemaError

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
PAYLOADS = ("<img src=x onerror=alert(1)>", "<svg onload=alert(2)>")


def within(seconds: float):
    """Fail, instead of hanging or filling memory, when the body runs past `seconds`."""
    return time_limit(seconds, lambda: AssertionError(f"no outcome within {seconds:g} s"))


# ------------------------------------------------------------------------ the book: names shown as text
def test_names_reach_tables_notices_and_the_factor_summary_as_text(monkeypatch):
    """A model name holding markup is escaped in every book table (the Styler escapes nothing by default), and no
    `<` reaches a computed Markdown cell (notices, findings, the factor summary), where CommonMark passes HTML."""
    import IPython.display

    from clipstudy import chapter, effects, tables

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **k: shown.extend(objs))
    name = f"local-dir:/m/{PAYLOADS[0]}{PAYLOADS[1]}"
    tables.show(pd.DataFrame({"model": [name], PAYLOADS[1]: [0.5]}))
    html = shown[-1].to_html()
    for p in PAYLOADS:
        assert p not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;svg onload=alert(2)&gt;" in html
    chapter.notice("Live rows missing", f"no rows for `{name}` and {name}")
    chapter.finding(f"{name} scores {{x:.2f}}", x=0.5)
    chapter.heading(name)
    for md in shown[1:]:
        assert "<" not in md.data and "&lt;img src=x onerror=alert(1)>" in md.data, md.data
    eff = pd.DataFrame([dict(factor="architecture", metric="acc", effect=0.1, ci_low=0.0, ci_high=0.2, n=6,
                             comparison=f"{name} vs base", source="live")])
    assert "<img" in effects.factor_summary(eff)
    assert "<img" not in tables.safe_markdown(effects.factor_summary(eff))


def test_a_dollar_in_a_name_is_a_dollar_sign_in_figures(tmp_path):
    """matplotlib reads `$...$` as math: a name holding `$\\foo$` would fail to draw (or be typeset)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from clipstudy.chapter import plain_labels

    fig, ax = plt.subplots()
    ax.bar(["a$\\foo$", "b"], [1, 2], label="x$\\bar$")
    ax.legend()
    ax.text(0, 0, "$\\zz$")
    with pytest.raises(ValueError):
        fig.savefig(tmp_path / "f.png")
    plain_labels(fig)
    fig.savefig(tmp_path / "f.png")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a\\$\\foo\\$", "b"]
    plt.close(fig)


def test_the_published_parameters_name_no_folder_of_the_build_machine():
    """papermill's injected cell held `data_root` and `results_dir` as the builder's folders, and its metadata the
    input and output paths: the published notebook shows the notebook's own defaults instead."""
    import nbformat

    from clipstudy import book

    nb = nbformat.v4.new_notebook()
    default = nbformat.v4.new_code_cell('params = {"profile": "lab", "data_root": "", "results_dir": "book/results"}')
    default.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell('# Parameters\nparams = {"profile": "smoke", "device": "cpu", "data_root": '
                                         '"/home/me/secret/data", "results_dir": "/home/me/secret/out/book/results"}\n')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [default, injected]
    nb.metadata["papermill"] = {"input_path": "/home/me/secret/x.ipynb", "output_path": "/home/me/secret/y.ipynb",
                                "parameters": {"params": {"profile": "smoke", "data_root": "/home/me/secret/data",
                                                          "results_dir": "/home/me/secret/out"}}}
    book.chapters._published_parameters(nb)
    text = json.dumps(nb)
    assert "/home/me/secret" not in text
    assert '"profile": "smoke"' in injected.source and '"results_dir": "book/results"' in injected.source


def test_the_html_check_fails_on_warnings_machine_folders_and_live_markup():
    from clipstudy.htmlcheck import machine_paths, static_problems

    paths = machine_paths()
    clean = '<div class="cell_output docutils"><p>&lt;img src=x onerror=alert(1)&gt;</p></div><a onclick="x()">b</a>'
    assert static_problems(clean, paths) == []
    warned = f"<div class='cell_output'><pre>{REPO}/clipstudy/plots.py:177: FutureWarning: observed=False</pre></div>"
    problems = static_problems(warned, paths)
    assert any("FutureWarning" in p for p in problems) and any(str(REPO) in p for p in problems)
    live = f'<div class="cell_output"><div><table><td>{PAYLOADS[0]}</td></table>{PAYLOADS[1]}</div></div>'
    assert any("live markup" in p for p in static_problems(live, paths))


def test_the_shape_bias_strip_shows_no_pandas_warning():
    """Chapter 04 showed pandas' FutureWarning (observed=False), with the builder's path to plots.py."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from clipstudy import plots

    sb = pd.DataFrame({"category": pd.Categorical(["a", "b", "a"], categories=["a", "b", "c"]),
                       "shape_bias": [0.2, 0.5, 0.7], "source": ["x", "y", "x"]})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fig, _ = plots.shape_bias_strip(sb, order=["a", "b"])
    plt.close(fig)
    assert not [w for w in seen if issubclass(w.category, FutureWarning)], [str(w.message) for w in seen]


# ------------------------------------------------------------------------ webdataset shards
def _wds(root: Path, shards: list[bytes], classnames=("cat", "dog"), nshards: str | None = None) -> Path:
    (root / "test").mkdir(parents=True)
    (root / "test" / "nshards.txt").write_text(nshards if nshards is not None else f"{len(shards)}\n")
    (root / "classnames.txt").write_text("\n".join(classnames) + "\n")
    for i, data in enumerate(shards):
        (root / "test" / f"{i}.tar").write_bytes(data)
    return root


def _tar(members: list[tuple[str, bytes | None, bytes]]) -> bytes:
    """Members (name, data, type); data None for a link or folder."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = "/etc/passwd"
            info.size = len(data) if data is not None else 0
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def test_a_key_repeated_in_a_shard_is_refused_naming_it(tmp_path):
    """a.png (image 1), a.cls=0, a.png (image 2), a.cls=1 paired image 1 with label 1 and lost the other sample."""
    data = _tar([("a.png", image_bytes(1, "PNG"), tarfile.REGTYPE), ("a.cls", b"0", tarfile.REGTYPE),
                 ("a.png", image_bytes(2, "PNG"), tarfile.REGTYPE), ("a.cls", b"1", tarfile.REGTYPE)])
    root = _wds(tmp_path / "set", [data])
    with pytest.raises(SchemaError, match="sample 'a' has two 'png' members"):
        wds.open_folder(f"wds:{root}", root, "test")
    scattered = _tar([("a.png", image_bytes(1, "PNG"), tarfile.REGTYPE), ("b.png", image_bytes(2, "PNG"),
                                                                           tarfile.REGTYPE),
                      ("b.cls", b"1", tarfile.REGTYPE), ("a.cls", b"0", tarfile.REGTYPE)])
    root = _wds(tmp_path / "set2", [scattered])
    with pytest.raises(SchemaError, match="members of sample 'a' are not together"):
        wds.open_folder(f"wds:{root}", root, "test")


def test_link_and_folder_members_and_labels_without_an_image_are_counted(tmp_path):
    """They used to vanish uncounted: each is now a skipped image, named, with why."""
    data = _tar([("ok.png", image_bytes(1, "PNG"), tarfile.REGTYPE), ("ok.cls", b"0", tarfile.REGTYPE),
                 ("link.png", None, tarfile.SYMTYPE), ("link.cls", b"1", tarfile.REGTYPE),
                 ("dir.jpg", None, tarfile.DIRTYPE), ("dir.cls", b"0", tarfile.REGTYPE),
                 ("lonely.cls", b"1", tarfile.REGTYPE)])
    root = _wds(tmp_path / "set", [data])
    ds = wds.open_folder(f"wds:{root}", root, "test")
    assert len(ds) == 4
    assert sorted(ds.verify()) == ["dir", "link", "lonely"]
    notes = {ds[i][2]: ds[i][3] for i in range(4) if ds[i][0] is None}
    assert "symbolic link" in notes["link"] and "folder" in notes["dir"] and "no image member" in notes["lonely"]
    assert ds[0][0] is not None
    caps = _tar([("i.png", image_bytes(1, "PNG"), tarfile.REGTYPE), ("i.txt", b"a photo\n", tarfile.REGTYPE),
                 ("j.txt", b"no image here\n", tarfile.REGTYPE)])
    root = _wds(tmp_path / "caps", [caps], classnames=())
    (root / "dataset_type.txt").write_text("retrieval\n")
    ds = wds.open_folder(f"wds:{root}", root, "test")
    assert len(ds) == 1 and ds.missing_images == ["j"] and ds.texts == ["a photo"]


@pytest.mark.parametrize("label", ["²".encode(), b"\xff\xfe", "٣".encode(), b"1.0"])
def test_a_label_that_is_not_an_ascii_integer_is_a_clear_error(tmp_path, label):
    data = _tar([("a.png", image_bytes(1, "PNG"), tarfile.REGTYPE), ("a.cls", label, tarfile.REGTYPE)])
    root = _wds(tmp_path / "set", [data])
    with pytest.raises(SchemaError, match="a.cls|KEY.cls"):
        wds.open_folder(f"wds:{root}", root, "test")


@pytest.mark.parametrize("count", ["99999999", "²", "-1", "1e3", "0"])
def test_a_shard_count_that_lies_is_refused_before_any_shard_is_listed(tmp_path, count):
    root = _wds(tmp_path / "set", [shard([{"__key__": "a", "png": image_bytes(1, "PNG"), "cls": b"0"}])],
                nshards=count)
    with within(20), pytest.raises(SchemaError, match="number of shards"):  # 99999999 paths would fill memory
        wds.open_folder(f"wds:{root}", root, "test")


def test_metadata_files_that_are_not_utf8_are_named(tmp_path):
    root = _wds(tmp_path / "set", [shard([{"__key__": "a", "png": image_bytes(1, "PNG"), "cls": b"0"}])])
    (root / "dataset_type.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(SchemaError, match="dataset_type.txt"):
        wds.open_folder(f"wds:{root}", root, "test")
    (root / "dataset_type.txt").unlink()
    (root / "classnames.txt").write_bytes(b"cat\n\xffdog\n")
    with pytest.raises(SchemaError, match="classnames.txt"):
        wds.open_folder(f"wds:{root}", root, "test")


def test_a_missing_local_shard_says_how_to_fix_the_folder(tmp_path):
    """It suggested `clipstudy fetch wds:/path`, a repo that does not exist."""
    root = _wds(tmp_path / "set", [shard([{"__key__": "a", "png": image_bytes(1, "PNG"), "cls": b"0"}])],
                nshards="2")
    with pytest.raises(MissingDataError) as e:
        wds.open_folder(f"wds:{root}", root, "test")
    assert "clipstudy fetch" not in str(e.value) and "copy the missing shards" in str(e.value)


def test_a_missing_hub_shard_says_get_it_with_once(local_hub, tmp_path, point_hub):
    from clipstudy import datasets
    from fixtures_wds import classification, layout

    files = layout([f"class {i}" for i in range(113)], classification(4, 113))
    files["test/nshards.txt"] = b"3\n"  # the repo has 2
    for name, data in files.items():
        local_hub.add(f"{wds.ORG}/wds_objectnet", name, data, repo_type="dataset")
    point_hub(local_hub.url, tmp_path / "hf")
    with pytest.raises(MissingDataError) as e:
        datasets.load("wds/objectnet")
    assert str(e.value).count("Get it with") == 1, str(e.value)


# ------------------------------------------------------------------------ class folders and zero-shot
def test_an_empty_class_folder_is_refused_naming_it(tmp_path):
    R.class_folders(tmp_path / "d", classes=("cat", "dog"), per_class=2)
    (tmp_path / "d" / "empty_one").mkdir()
    with pytest.raises(ClipstudyError, match="empty_one"):
        imagefolder.load(tmp_path / "d")


def test_a_class_folder_linking_back_to_its_root_is_refused(tmp_path):
    """It counted 18 images where there are 9."""
    R.class_folders(tmp_path / "d", classes=("cat", "dog", "fox"), per_class=3)
    (tmp_path / "d" / "zz").symlink_to(tmp_path / "d")
    with pytest.raises(ClipstudyError, match="'zz' links to"):
        imagefolder.load(tmp_path / "d")
    (tmp_path / "d" / "zz").unlink()
    (tmp_path / "d" / "cat2").symlink_to(tmp_path / "d" / "cat")
    with pytest.raises(ClipstudyError, match="same folder"):
        imagefolder.load(tmp_path / "d")
    (tmp_path / "d" / "cat2").unlink()
    (tmp_path / "d" / "dog" / "twin.png").symlink_to(tmp_path / "d" / "cat" / "cat_0.png")
    with pytest.raises(ClipstudyError, match="listed again"):
        imagefolder.load(tmp_path / "d")
    (tmp_path / "d" / "dog" / "twin.png").unlink()
    assert len(imagefolder.load(tmp_path / "d")) == 9


def test_eval_on_a_one_class_folder_fails_up_front_and_writes_nothing(tmp_path, capsys):
    """It exited 0 with "Empty DataFrame ... saved to" and an eval.csv without metric and value columns."""
    model = R.tiny_local_dir(tmp_path / "m")
    data = R.class_folders(tmp_path / "one", classes=("cat",), per_class=2)
    assert cli.main(["eval", model, data, "--prompts", "single", "--device", "cpu", "--out", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "at least 2 classes")
    assert not (tmp_path / "o" / "eval.csv").exists()


def test_an_exif_rotated_jpeg_is_read_as_stored_and_the_datasets_command_says_so(tmp_path, capsys):
    """As torchvision, open_clip and CLIP_benchmark read it: the orientation tag is not applied."""
    from PIL import Image

    from clipstudy.datasets.base import read_image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display
    Image.new("RGB", (40, 20), (200, 10, 10)).save(tmp_path / "r.jpg", exif=exif.tobytes())
    img, _ = read_image(tmp_path / "r.jpg")
    assert img.size == (40, 20)
    assert cli.main(["datasets"]) == 0
    assert "EXIF orientation tag is not applied" in capsys.readouterr().out


# ------------------------------------------------------------------------ model names
def test_a_wrong_typed_config_field_is_named(tmp_path):
    """`"width": "wide"` failed with "TypeError: unsupported operand type(s) for //"."""
    from clipstudy import zoo

    folder = Path(R.tiny_local_dir(tmp_path / "m")[len("local-dir:"):])
    cfg = json.loads((folder / "open_clip_config.json").read_text())
    cfg["model_cfg"]["vision_cfg"]["width"] = "wide"
    (folder / "open_clip_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ClipstudyError, match=r"model_cfg\.vision_cfg\.width is \"wide\" \(str\); expected int"):
        zoo.get(f"local-dir:{folder}")
    cfg["model_cfg"]["vision_cfg"]["width"] = 10 ** 9  # would allocate before a weight is read
    (folder / "open_clip_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ClipstudyError, match="expected a size from 1 to"):
        zoo.get(f"local-dir:{folder}")
    (folder / "open_clip_config.json").write_text("[" * 100_000)
    with pytest.raises(ClipstudyError, match="unreadable"):
        zoo.get(f"local-dir:{folder}")


@pytest.mark.parametrize("name, says", [("llava:llava-1.5-7b@nosuch/clip", "its CLIP (after the @) does not resolve"),
                                        ("llava:llava-1.5-7b@@", "its CLIP (after the @) does not resolve"),
                                        ("llava:a b@ViT-B-32/openai", "nor a Hugging Face id"),
                                        ("llava:x@llava:llava-1.5-7b", "is itself an LMM")])
def test_llava_names_check_their_clip_and_checkpoint(name, says):
    from clipstudy import zoo

    with pytest.raises(ClipstudyError, match=re.escape(says)):
        zoo.get(name)
    assert zoo.get("llava:llava-1.5-7b").notes.endswith("ViT-L-14-336/openai")


def test_aliases_of_one_model_folder_are_one_model_shown_as_first_given(tmp_path, monkeypatch):
    from clipstudy.models import registry

    R.tiny_local_dir(tmp_path / "mine")
    monkeypatch.chdir(tmp_path)
    names = registry.expand(["local-dir:mine", "local-dir:mine/", f"local-dir:./mine,local-dir:{tmp_path}/mine",
                             "ViT-B-32/openai"])
    assert names == ["local-dir:mine", "ViT-B-32/openai"]


def test_a_path_with_a_comma_is_an_error_with_a_way_in(tmp_path, capsys):
    from clipstudy.models import registry

    folder = Path(R.tiny_local_dir(tmp_path / "a,b")[len("local-dir:"):])
    with pytest.raises(ClipstudyError, match="--models-file"):
        registry.expand([f"local-dir:{folder}"])
    names = tmp_path / "models.txt"
    names.write_text(f"# my models\nlocal-dir:{folder}\n\nViT-B-32/random\n")
    assert registry.expand(registry.read_names(str(names))) == [f"local-dir:{folder}", "ViT-B-32/random"]
    assert cli.main(["run", "--models-file", str(names), "--datasets", "nosuch-set", "--dry-run", "--estimate"]) == 2
    assert "--models-file" not in capsys.readouterr().err  # read whole: no comma error


def test_a_name_with_a_control_character_is_refused():
    from clipstudy.models import registry

    for bad in ("local-dir:/a\x00b", "ViT-B-32/openai\nx"):
        with pytest.raises(ClipstudyError, match="control character"):
            registry.expand([bad])


# ------------------------------------------------------------------------ records
def test_model_vs_human_without_decisions_says_so(tmp_path):
    """Header-only raw-data files raised a raw KeyError."""
    d = tmp_path / "records" / "model_vs_human" / "raw-data" / "cue-conflict"
    d.mkdir(parents=True)
    (d / "cue-conflict_net_session-1.csv").write_text(export.MVH_COLUMNS[0] + "," + ",".join(export.MVH_COLUMNS[1:])
                                                      + "\n")
    with pytest.raises(SchemaError, match="holds no decisions"):
        records.load("model_vs_human", root=tmp_path)


def test_records_root_expands_the_home_folder(tmp_path, monkeypatch):
    import fixtures_records as F

    F.make_model_vs_human(tmp_path / "r")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert len(records.load("model_vs_human", root="~/r")) > 0


def test_an_infinite_record_value_is_refused_naming_its_row(tmp_path):
    """`inf` (or `1e309`) parsed as a number and reached fits and figure limits."""
    import fixtures_records as F

    F.make_scaling_laws(tmp_path)
    f = tmp_path / "records" / "scaling_laws_openclip" / "zeroshot_results.csv"
    f.write_text(f.read_text().replace(",0.5,0.8,0.5,", ",1e309,0.8,0.5,", 1))
    with pytest.raises(SchemaError, match=r"row 1 .*should be a \(finite\) number, got '1e309'"):
        records.load("scaling_laws_openclip", root=tmp_path)


def test_a_record_file_that_is_a_fifo_or_a_device_is_refused_at_once(tmp_path):
    import fixtures_records as F

    F.make_model_vs_human(tmp_path)
    f = next((tmp_path / "records" / "model_vs_human" / "raw-data" / "cue-conflict").glob("*.csv"))
    f.unlink()
    os.mkfifo(f)  # reading it would block forever
    with within(20), pytest.raises(SchemaError, match="not a regular file"):
        records.load("model_vs_human", root=tmp_path)
    f.unlink()
    f.symlink_to("/dev/zero")  # reading it would never end
    with within(20), pytest.raises(SchemaError, match="not a regular file"):
        records.load("model_vs_human", root=tmp_path)


# ------------------------------------------------------------------------ the environment
@pytest.mark.parametrize("var, value", [("CLIPSTUDY_HUB_TIMEOUT", "abc"), ("CLIPSTUDY_SHARD_SECONDS", "abc"),
                                        ("CLIPSTUDY_TRAIN_WORKERS", "1.5"), ("CLIPSTUDY_RAY_CONNECT_TIMEOUT", "inf"),
                                        ("CLIPSTUDY_PLUGINS", "a;b"), ("CLIPSTUDY_LAB_HUB", "../x"),
                                        ("CLIPSTUDY_HUB_TIMEOUT", "-5")])
def test_every_environment_variable_gets_the_same_one_line_error(var, value, monkeypatch, capsys):
    """CLIPSTUDY_HUB_TIMEOUT=abc and CLIPSTUDY_SHARD_SECONDS=abc gave raw tracebacks (the second at import, in
    every command that encodes): each variable is parsed by one helper, and the CLI checks them all first."""
    monkeypatch.setenv(var, value)
    assert cli.main(["models", "--source", "lab"]) == 2
    one_line_error(capsys, f"{var}={value!r}: expected")


def test_a_bad_shard_seconds_value_no_longer_breaks_importing_the_engine(tmp_path):
    import clipstudy

    src = Path(clipstudy.__file__).resolve().parents[1]  # this checkout, not an installed copy
    env = dict(os.environ, CLIPSTUDY_SHARD_SECONDS="abc", PYTHONPATH=os.pathsep.join([str(src), str(HERE)]))
    p = subprocess.run([sys.executable, "-c", "import clipstudy.encode, sys; from clipstudy import cli; "
                        "sys.exit(cli.main(['eval', 'ViT-B-32/random', 'lab-val']))"],
                       env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "CLIPSTUDY_SHARD_SECONDS='abc': expected a number of seconds" in p.stderr


@pytest.mark.parametrize("body, says", [("raise RuntimeError('boom')", "raised RuntimeError: boom"),
                                        ("import sys; sys.exit(3)", "raised SystemExit"),
                                        ("1/0", "raised ZeroDivisionError")])
def test_a_plugin_that_fails_names_the_variable(tmp_path, monkeypatch, capsys, body, says):
    (tmp_path / "bad_plugin_x.py").write_text(body + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CLIPSTUDY_PLUGINS", "bad_plugin_x")
    sys.modules.pop("bad_plugin_x", None)
    assert cli.main(["models", "--source", "lab"]) == 2
    one_line_error(capsys, "CLIPSTUDY_PLUGINS", "bad_plugin_x", says)


# ------------------------------------------------------------------------ paths and options
@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
def test_proc_and_sys_paths_fail_up_front_in_one_line(tmp_path, capsys, monkeypatch):
    """`os.access` says yes to root everywhere; the paths are probed with a real file, before any work."""
    model = R.tiny_local_dir(tmp_path / "m")
    data = R.class_folders(tmp_path / "d", classes=("cat", "dog"), per_class=2)
    eval_ = ["eval", model, data, "--prompts", "single", "--device", "cpu"]
    assert cli.main(eval_ + ["--out", "/proc/clipstudy-out"]) == 2
    one_line_error(capsys, "--out /proc/clipstudy-out", "not writable")
    assert cli.main(["run", "--models", model, "--datasets", data, "--study", "/sys/clipstudy", "--quiet"]) == 2
    one_line_error(capsys, "--study /sys/clipstudy")
    monkeypatch.setenv("CLIPSTUDY_CACHE", "/proc/clipstudy-cache")
    assert cli.main(eval_ + ["--out", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "cache folder /proc/clipstudy-cache", "CLIPSTUDY_CACHE")
    assert not (tmp_path / "o" / "eval.csv").exists()


def test_paths_are_probed_not_asked(tmp_path, read_only, monkeypatch):
    from clipstudy.paths import PathError, writable_dir

    monkeypatch.setattr(os, "access", lambda *a, **k: True)  # what root always hears
    (tmp_path / "ro").mkdir()
    read_only(tmp_path / "ro")
    with pytest.raises(PathError, match="not writable"):
        writable_dir(tmp_path / "ro" / "sub", "--out")
    assert writable_dir(tmp_path / "ok" / "sub", "--out") == tmp_path / "ok" / "sub"
    assert not list(tmp_path.glob("**/.clipstudy-probe-*"))  # the probe leaves nothing


def test_run_device_is_checked_by_the_parser(capsys, tmp_path, monkeypatch):
    """`run --device gpu` was not validated and failed late, inside each unit."""
    from clipstudy import run

    monkeypatch.setattr(run, "run", lambda *a, **k: pytest.fail("the run started with --device gpu"))
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--models", "lab:base", "--datasets", "lab-val:4", "--device", "gpu", "--lab-profile",
                  "smoke", "--study", str(tmp_path / "s")])
    assert e.value.code == 2 and "invalid choice: 'gpu'" in capsys.readouterr().err


def test_an_estimate_with_nothing_priced_is_an_error(tmp_path, monkeypatch, capsys):
    """With no records it printed "0 units", "nanx" and `--array=0--1`, and exited 0."""
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path / "empty"))
    assert cli.main(["run", "--dry-run", "--estimate", "--models", "ViT-B-32/openai", "--datasets",
                     "imagenet-v2"]) == 2
    one_line_error(capsys, "nothing to price", "model_profile.csv")
    assert cli.main(["run", "--dry-run", "--estimate", "--models", "ViT-B-32/openai", "--datasets",
                     f"imagefolder:{tmp_path}"]) == 2
    one_line_error(capsys, "nothing to price", "no published size")


# ------------------------------------------------------------------------ the export
def _frames(model: str, precisions=("fp32", "bf16"), dataset: str = "cue-conflict", n: int = 4) -> pd.DataFrame:
    rows = []
    for prec in precisions:
        for i in range(n):
            rows.append(dict(model=model, dataset=dataset, prompts="single", precision=prec,
                             key=f"k/{['cat', 'dog'][i % 2]}{i + 1}-bird{i + 1}.png",
                             label=i % 2, label_name=["cat", "dog"][i % 2], predicted_class=(i + 1) % 2,
                             predicted_name=["cat", "dog"][(i + 1) % 2], predicted_probability=0.5,
                             correct=False, file_name=None))
    return pd.DataFrame(rows)


def test_model_vs_human_export_writes_one_subject_per_precision(tmp_path, monkeypatch):
    """Two precisions of one model were one subject file with 32 trials for 16 images."""
    monkeypatch.setattr(export, "frames", lambda *a, **k: iter([_frames("ViT-B-32/openai")]))
    (tmp_path / "study").mkdir()
    files = export.export(tmp_path / "study", "model-vs-human", tmp_path / "records" / "model_vs_human")
    assert sorted(f.name for f in files) == ["cue-conflict_ViT-B-32-openai_bf16_session-1.csv",
                                             "cue-conflict_ViT-B-32-openai_fp32_session-1.csv"]
    for f in files:
        raw = pd.read_csv(f)
        assert list(raw["trial"]) == [1, 2, 3, 4] and raw["imagename"].is_unique
    back = records.decisions.load_model_vs_human(root=tmp_path, datasets=["cue-conflict"])
    assert back.groupby("model").size().to_dict() == {"ViT-B-32-openai_bf16": 4, "ViT-B-32-openai_fp32": 4}


def test_imagenet_x_export_writes_one_file_per_precision(tmp_path, monkeypatch):
    from clipstudy.datasets.imagenet import val_labels

    names = list(val_labels())
    rng = np.random.default_rng(0)
    parts = []
    for prec in ("fp32", "bf16"):
        parts.append(pd.DataFrame({"model": "m", "dataset": "imagenet", "prompts": "single", "precision": prec,
                                   "key": names, "label": 0, "label_name": "", "predicted_class":
                                   rng.integers(0, 1000, len(names)), "predicted_name": "", "file_name": names,
                                   "predicted_probability": 0.5}))
    monkeypatch.setattr(export, "frames", lambda *a, **k: iter(parts))
    (tmp_path / "study").mkdir()
    files = export.export(tmp_path / "study", "imagenet-x", tmp_path / "x")
    assert sorted(f.name for f in files) == ["m_bf16.csv", "m_fp32.csv"]
    for f, part in zip(sorted(files), sorted(parts, key=lambda p: p["precision"].iloc[0])):
        got = pd.read_csv(f).set_index("file_name")["predicted_class"]
        assert (got.loc[names].to_numpy() == part["predicted_class"].to_numpy()).all()


def test_csv_export_quotes_formula_text_and_never_numbers(tmp_path, monkeypatch):
    df = _frames("=HYPERLINK(\"http://x\")", precisions=("fp32",))
    df.loc[0, "key"], df.loc[1, "key"], df.loc[2, "key"] = "+1", "-cmd", "@SUM(A1)"
    df["predicted_probability"] = [-0.5, 0.5, 1.0, 0.0]
    monkeypatch.setattr(export, "frames", lambda *a, **k: iter([df]))
    (tmp_path / "study").mkdir()
    [path] = export.export(tmp_path / "study", "csv", tmp_path / "o")
    out = pd.read_csv(path)
    assert set(out["model"]) == {"'=HYPERLINK(\"http://x\")"}
    assert list(out["key"][:3]) == ["'+1", "'-cmd", "'@SUM(A1)"]
    assert list(out["predicted_probability"]) == [-0.5, 0.5, 1.0, 0.0]  # numbers as they are


def _study(tmp_path: Path, record: dict | None, key: str = "unit__abc") -> tuple[Path, Path]:
    from clipstudy.run.runner import UNIT_COLUMNS

    study, cache = tmp_path / "study", tmp_path / "cache"
    study.mkdir(parents=True)
    (study / "units.csv").write_text(",".join(UNIT_COLUMNS) + f"\n{key},local-dir:/m,cue-conflict,computed,4,2,0.5,\n")
    if record is not None:
        (cache / "units" / key).mkdir(parents=True)
        (cache / "units" / key / "unit.json").write_text(json.dumps(record))
    return study, cache


RECORD = {"model": "local-dir:/m", "model_id": "m", "dataset": "cue-conflict", "data_id": "d", "task": "classification",
          "id_set": "", "features": "m__d__0123456789abcdef", "heads": ["single"], "needs_heads": True, "texts": False,
          "precision": "fp32", "logit_scale": 100.0, "is_classifier": False, "classnames": ["cat", "dog"],
          "class_index": None, "n": 4, "n_skipped": 0, "device": "cpu", "torch": "2", "written": "now"}


def test_export_names_a_record_field_that_is_missing_or_of_the_wrong_type(tmp_path):
    """A record lacking a field read as "its unit is not in the store" (and was deleted); a wrong-typed one was
    dropped silently."""
    rec = {k: v for k, v in RECORD.items() if k != "model_id"}
    study, cache = _study(tmp_path / "a", rec)
    with pytest.raises(ClipstudyError, match="lacks the field 'model_id'"):
        export.export(study, "csv", tmp_path / "a" / "out", cache_root=cache)
    assert (cache / "units" / "unit__abc" / "unit.json").exists()  # kept: an export deletes nothing
    study, cache = _study(tmp_path / "b", dict(RECORD, heads="single"))
    with pytest.raises(ClipstudyError, match="holds a str in the field 'heads'"):
        export.export(study, "csv", tmp_path / "b" / "out", cache_root=cache)


def test_export_refuses_keys_that_lead_out_of_the_store(tmp_path):
    study, cache = _study(tmp_path / "a", None, key="../../../etc")
    with pytest.raises(ClipstudyError, match="not a store key"):
        export.export(study, "csv", tmp_path / "a" / "out", cache_root=cache)
    study, cache = _study(tmp_path / "b", dict(RECORD, features="../../elsewhere"))
    with pytest.raises(ClipstudyError, match="not a store key"):
        export.export(study, "csv", tmp_path / "b" / "out", cache_root=cache)


def test_export_out_naming_a_file_fails_before_any_unit_is_read(tmp_path, monkeypatch, capsys):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setattr(export, "units", lambda *a, **k: pytest.fail("units were read before --out was checked"))
    (tmp_path / "study").mkdir()
    assert cli.main(["export", "predictions", "--study", str(tmp_path / "study"), "--format", "csv",
                     "--out", str(tmp_path / "afile")]) == 2
    one_line_error(capsys, "--out", "is a file")


def test_export_stems_of_distinct_models_never_share_a_file():
    df = pd.concat([_frames("org/model", ("fp32",)), _frames("org:model", ("fp32",)), _frames("x" * 400, ("fp32",))])
    stems = export._stems(df)
    assert len(set(stems.values())) == 3 and all(len(s) <= 120 for s in stems.values())
    assert export.stem("../../etc/passwd") == "etc-passwd" and export.stem("..") == "model"
