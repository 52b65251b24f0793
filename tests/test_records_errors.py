"""Bad records input: absent folder, renamed column, malformed rows; each error names what and where."""
from __future__ import annotations

import shutil

import pytest

from clipstudy import records
from clipstudy.errors import MissingDataError, SchemaError


def _copy(shared_data, tmp_path, folder):
    shutil.copytree(shared_data / "records" / folder, tmp_path / "records" / folder)
    return tmp_path / "records" / folder


def _edit_line(path, lineno, fn):
    lines = path.read_text().splitlines(keepends=True)
    lines[lineno - 1] = fn(lines[lineno - 1])
    path.write_text("".join(lines))


@pytest.mark.parametrize("name", ["open_clip", "timm", "clip_benchmark", "imagenet_x", "cue_conflict"])
def test_absent_records_folder_names_fetch_command(tmp_path, monkeypatch, name):
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path))
    with pytest.raises(MissingDataError, match="clipstudy fetch records") as e:
        records.load(name)
    assert str(tmp_path) in str(e.value)


def test_renamed_column(shared_data, tmp_path):
    d = _copy(shared_data, tmp_path, "open_clip")
    _edit_line(d / "openclip_results.csv", 1, lambda s: s.replace("ImageNet 1k", "ImageNet-1k"))
    with pytest.raises(SchemaError) as e:
        records.load("open_clip", tmp_path)
    msg = str(e.value)
    assert "openclip_results.csv" in msg and "'ImageNet 1k'" in msg and "Expected schema" in msg


def test_missing_column_timm(shared_data, tmp_path):
    d = _copy(shared_data, tmp_path, "timm")
    f = d / "results-sketch.csv"
    lines = f.read_text().splitlines()
    f.write_text("\n".join(",".join(l.split(",")[:2] + l.split(",")[3:]) for l in lines[:5]) + "\n")  # drop top1
    with pytest.raises(SchemaError, match=r"(?s)results-sketch.csv.*missing column.*top1.*Expected schema"):
        records.load("timm", tmp_path)


def test_non_number_cell_names_row(shared_data, tmp_path):
    d = _copy(shared_data, tmp_path, "timm")
    # data row 4 is line 5; its top1 (3rd field) becomes text
    _edit_line(d / "results-imagenet-r.csv", 5, lambda s: ",".join(s.split(",")[:2] + ["abc"] + s.split(",")[3:]))
    with pytest.raises(SchemaError, match=r"(?s)results-imagenet-r.csv, row 4 \(line 5\).*top1.*'abc'"):
        records.load("timm", tmp_path)


def test_row_with_extra_fields_names_row(shared_data, tmp_path):
    d = _copy(shared_data, tmp_path, "open_clip")
    _edit_line(d / "openclip_retrieval_results.csv", 7, lambda s: s.rstrip("\n") + ",1,2\n")
    with pytest.raises(SchemaError, match=r"(?s)openclip_retrieval_results.csv, row 6 \(line 7\).*malformed"):
        records.load("open_clip", tmp_path)


def test_short_row_misses_required_value(shared_data, tmp_path):
    d = _copy(shared_data, tmp_path, "imagenet_x")
    f = d / "top_factor/base/class/accuracies_per_factor.csv"
    _edit_line(f, 3, lambda s: ",".join(s.split(",")[:3]) + "\n")
    with pytest.raises(SchemaError, match=r"(?s)top_factor/base/class/accuracies_per_factor.csv, row 2.*number"):
        records.load("imagenet_x", tmp_path)


def test_bad_cue_conflict_image_name(shared_data, tmp_path):
    d = _copy(shared_data, tmp_path, "texture_vs_shape")
    f = next((d / "style-transfer-512-nomask-experiment").glob("*vgg*.csv"))
    _edit_line(f, 11, lambda s: s.rsplit(",", 1)[0] + ",oops.png\n")
    with pytest.raises(SchemaError, match=r"(?s)vgg_session_1.csv, row 10 \(line 11\).*oops.png.*imagename"):
        records.load("cue_conflict", tmp_path)


# ---- strict reading: truncation and encoding (issue 12) -------------------------------------------

def test_truncated_published_file_is_refused(shared_data, tmp_path, monkeypatch):
    """A file cut inside its last value still parses; in the default layout (CLIPSTUDY_DATA) its pinned
    SHA-256 catches it, naming where it ends."""
    d = _copy(shared_data, tmp_path, "open_clip")
    f = d / "openclip_results.csv"
    data = f.read_bytes()
    f.write_bytes(data[: len(data.rstrip()) - 3])  # the last number loses its last digits
    n = len(data.rstrip().splitlines()) - 1
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path))
    with pytest.raises(SchemaError, match=rf"(?s)openclip_results.csv, row {n} \(line {n + 1}\).*shorter than the "
                                          r"published.*SHA-256 [0-9a-f]{64}.*clipstudy fetch records"):
        records.load("open_clip")
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path / "elsewhere"))  # the same folder as a user's own root=
    assert len(records.load("open_clip", tmp_path))  # strict parsing only: the cut value cannot be seen


def test_a_record_file_linked_to_an_edited_copy_elsewhere_fails_its_checksum(shared_data, tmp_path, monkeypatch):
    """The pinned SHA-256 applies to what is read: a file under CLIPSTUDY_DATA/records replaced by a symlink
    to an edited copy outside it (or the whole folder linked) is refused, as the edited file itself is."""
    d = _copy(shared_data, tmp_path / "data", "open_clip")
    f = d / "openclip_results.csv"
    shutil.copytree(d, tmp_path / "elsewhere")
    edited = tmp_path / "elsewhere" / "openclip_results.csv"
    lines = f.read_text().splitlines(keepends=True)
    edited.write_text("".join(lines[:1] + lines[2:]))  # one model's row dropped: still parses
    f.unlink()
    f.symlink_to(edited)
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path / "data"))
    with pytest.raises(SchemaError, match=r"(?s)openclip_results.csv.*published file.*SHA-256 [0-9a-f]{64}"):
        records.load("open_clip")
    shutil.rmtree(d)
    d.symlink_to(edited.parent, target_is_directory=True)  # the folder a link to the edited copy's
    with pytest.raises(SchemaError, match=r"(?s)openclip_results.csv.*SHA-256"):
        records.load("open_clip")
    edited.write_bytes((shared_data / "records" / "open_clip" / "openclip_results.csv").read_bytes())
    assert len(records.load("open_clip"))  # a link to an unmodified copy is fine


def test_a_deleted_record_file_names_the_fetch_command(shared_data, tmp_path, monkeypatch):
    d = _copy(shared_data, tmp_path, "open_clip")
    (d / "openclip_retrieval_results.csv").unlink()
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path))
    with pytest.raises(MissingDataError, match=r"(?s)openclip_retrieval_results.csv not found at .*"
                                               r"clipstudy fetch records \(it is .*@[0-9a-f]{12}:"):
        records.load("open_clip")


def test_row_cut_short_is_malformed(shared_data, tmp_path):
    d = _copy(shared_data, tmp_path, "timm")
    f = d / "results-imagenet-a.csv"
    lines = f.read_text().splitlines(keepends=True)
    f.write_text("".join(lines[:9]) + lines[9][:12])  # data row 9 ends after its first field
    with pytest.raises(SchemaError, match=r"(?s)results-imagenet-a.csv, row 9 \(line 10\).*ends early"):
        records.load("timm", tmp_path)


def test_non_utf8_file_names_row(shared_data, tmp_path):
    d = _copy(shared_data, tmp_path, "timm")
    f = d / "results-sketch.csv"
    lines = f.read_bytes().splitlines(keepends=True)
    lines[4] = lines[4].replace(b",", "é,".encode("latin-1"), 1)
    f.write_bytes(b"".join(lines))
    with pytest.raises(SchemaError, match=r"(?s)results-sketch.csv, row 4 \(line 5\).*not UTF-8"):
        records.load("timm", tmp_path)


def test_users_own_file_loads_with_strict_parsing_only(shared_data, tmp_path):
    """A file the manifest does not list is not checksummed (it is the user's), but it is parsed strictly."""
    d = _copy(shared_data, tmp_path, "texture_vs_shape") / "style-transfer-512-nomask-experiment"
    src = next(d.glob("*vgg*.csv"))
    mine = d / "style-transfer-512-nomask-experiment_mynet_session_1.csv"
    mine.write_text(src.read_text().replace("vgg", "mynet"))
    c = records.load("cue_conflict", tmp_path)
    assert (c["subject"] == "mynet").sum() == 1280
    text = mine.read_text()
    mine.write_text(text[: text.rindex(",")])  # the last row loses its last field
    with pytest.raises(SchemaError, match=r"(?s)mynet_session_1.csv, row 1280 \(line 1281\).*ends early"):
        records.load("cue_conflict", tmp_path)
