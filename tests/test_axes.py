"""The axis registry, the effects collector that knows its axis, and the one build profile."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clipstudy import axes, book, chapter, config
from clipstudy.errors import ClipstudyError, UnknownNameError


def test_every_summarised_axis_has_a_unique_name_and_a_notebook():
    found = axes.all_axes()
    chapters = {p.stem for p in book.chapters()}
    assert {a.chapter for a in found} == chapters  # one axis module per chapter, none without a notebook
    assert len({a.name for a in found}) == len(found)
    assert [a.chapter[:2] for a in found if a.summarised] == ["02", "03", "04", "05", "06", "07", "08", "09"]
    with pytest.raises(ClipstudyError, match="repeats the name, chapter or runner name"):
        axes.register(axes.Axis("other", found[1].name, "99_other"))


def test_the_collector_stamps_its_axis_and_refuses_another(tmp_path, monkeypatch):
    from clipstudy.axes import shifts

    fx = axes.Effects(shifts.AXIS)
    row = fx.add("architecture", "top1", 0.1, "a vs b", "lab")
    assert row["axis"] == "natural shifts"
    with pytest.raises(ClipstudyError, match="'OOD detection' were added to the 'natural shifts'"):
        fx.extend([dict(row, axis="OOD detection")])
    with pytest.raises(UnknownNameError):
        fx.add("colour", "top1", 0.1, "a vs b", "lab")
    # the prompt effect over seeds: treatment minus base, with an interval from the seed spread
    pe = fx.prompts("top1", [0.6, 0.62, 0.64], [0.5, 0.52, 0.5])
    assert pe["factor"] == "test-time prompts" and np.isclose(pe["effect"], 0.62 - 0.5066666, atol=1e-6)
    assert pe["ci_low"] < pe["effect"] < pe["ci_high"] and pe["n"] == 6
    fx.not_measured("fine-tuning", "no classifier here")
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda x: shown.append(x))
    ch = chapter.Chapter(shifts.AXIS.chapter, tmp_path, "lab", axis=shifts.AXIS)
    eff = fx.write(ch)
    assert list(eff["factor"]) == ["architecture", "test-time prompts"]
    nm = pd.read_csv(tmp_path / shifts.AXIS.chapter / "not_measured.csv")
    assert nm.to_dict("records") == [dict(factor="fine-tuning", axis="natural shifts", reason="no classifier here")]
    assert "no classifier here" in shown[-1].data


def test_one_profile_sets_every_size():
    smoke, lab = config.profile("smoke"), config.profile("lab")
    assert (smoke.lab, smoke.n_eval, smoke.live) == ("smoke", 48, False) and config.profile("live").live
    assert smoke.n_factor_scenes == 12 and lab.n_factor_scenes == 150 and lab.n_3dcc_scenes == 60
    assert smoke.lab_set_size("lab-3dcc") == 12 and lab.lab_set_size("lab-3dcc") is None
    with pytest.raises(UnknownNameError, match="smoke"):
        config.profile("fast")
    assert book.parameters("smoke", "cpu", results_dir="r")["params"] == dict(
        profile="smoke", device="cpu", data_root=str(config.data_root()), results_dir="r", precision="auto")
