"""The book without records: chapters still run and say how to get them."""
from __future__ import annotations

import json

import pytest

from clipstudy.book import chapters
from clipstudy.profiles import PROFILES


@pytest.mark.slow
def test_smoke_chapters_without_records_name_the_fetch_command(tmp_path, monkeypatch):
    """With an empty CLIPSTUDY_DATA the chapters whose records need the newer record sets (and the summary)
    still run, and each says in a visible output how to get the records. The other chapters' single
    `chapter.records_ready()` cell is covered by test_book.py (its helper test and the full smoke build); running
    them again here would double the build's cost. The cood_benchmarking sections of 05 and 06 are called directly
    without records in test_records_cood.py."""
    from clipstudy.lab import zoo as lab_zoo

    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv("CLIPSTUDY_DATA", str(empty))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    lab_zoo.train(None, profile="smoke")
    params = chapters.parameters(PROFILES["smoke"], "cpu", results_dir=tmp_path / "results", data_root=str(empty))
    for p in [p for p in chapters.notebooks() if p.name[:2] in ("02", "03", "04", "07", "09", "10")]:
        run = chapters.execute(p, params, out_dir=tmp_path / "chapters")
        assert run.ok, f"{p.name}: {run.error}"
        nb = json.loads((tmp_path / "chapters" / f"{p.name}.ipynb").read_text())
        outputs = json.dumps([o for c in nb["cells"] for o in c.get("outputs", [])])
        assert "clipstudy fetch records" in outputs, f"{p.name} does not say how to get the records"
