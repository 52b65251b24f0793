"""`records.fetch` against a local HTTP server: verified, atomic; bad checksum refused; offline named."""
from __future__ import annotations

import os
import http.server
import shutil
import socket
from dataclasses import replace

import pytest

from clipstudy import records
from clipstudy.download import sha256_file
from clipstudy.errors import ChecksumError, FetchError
from clipstudy.records import sources as S


@pytest.fixture
def serve(tmp_path, serve_folder):
    """Serve tmp_path/www at http://127.0.0.1:<free port> (conftest's serve_folder); gives (root, base_url)."""
    root = tmp_path / "www"
    root.mkdir()
    return root, serve_folder(root)


def _publish(root, shared_data, sources):
    """Lay the shared files out as <repo>/<commit>/<path>, as raw.githubusercontent.com does."""
    for s in sources:
        dst = root / s.repo / s.commit / s.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / "records" / s.local, dst)


def test_manifest_urls_are_pinned_raw_github():
    for s in records.manifest():
        assert s.url().startswith(f"https://raw.githubusercontent.com/{s.repo}/{s.commit}/")
        assert len(s.commit) == 40 and len(s.sha256) == 64


def test_fetch_all_from_local_server(serve, shared_data, tmp_path):
    root, base = serve
    _publish(root, shared_data, records.manifest())
    dest = tmp_path / "data" / "records"
    got = records.fetch(dest=dest, base_url=base)
    assert len(got) == len(records.manifest())
    for s in records.manifest():
        assert sha256_file(dest / s.local) == s.sha256
    assert not list(dest.rglob("*.part"))
    # what was fetched is loadable as records
    assert records.load("timm", tmp_path / "data")["model"].nunique() > 1000


def test_fetch_refuses_wrong_checksum(serve, shared_data, tmp_path, monkeypatch):
    root, base = serve
    good = next(s for s in records.manifest() if s.local == "timm/results-sketch.csv")
    bad = replace(good, sha256="0" * 64)
    monkeypatch.setattr(S, "manifest", lambda: (bad,))
    _publish(root, shared_data, [bad])
    dest = tmp_path / "records"
    with pytest.raises(ChecksumError, match="results-sketch.csv"):
        records.fetch(dest=dest, base_url=base)
    assert not (dest / bad.local).exists()
    assert not list(dest.rglob("*.part"))


def test_fetch_offline_names_url(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    first = records.manifest()[0]
    with pytest.raises(FetchError) as e:
        records.fetch(dest=tmp_path / "records", base_url=base)
    assert first.url(base) in str(e.value)


def test_fetch_missing_file_on_server(serve, tmp_path):
    _, base = serve  # serves nothing: HTTP 404
    with pytest.raises(FetchError, match="404"):
        records.fetch(dest=tmp_path / "records", base_url=base)


def test_fetch_default_dest_and_keeps_intact_files(serve, shared_data, tmp_path, monkeypatch):
    root, base = serve
    one = next(s for s in records.manifest() if s.local == "open_clip/model_profile.csv")
    monkeypatch.setattr(S, "manifest", lambda: (one,))
    _publish(root, shared_data, [one])
    monkeypatch.setenv("CLIPSTUDY_DATA", str(tmp_path / "data"))
    (path,) = records.fetch(base_url=base)
    assert path == tmp_path / "data" / "records" / one.local and sha256_file(path) == one.sha256
    (root / one.repo / one.commit / one.path).unlink()  # server copy gone: an intact local file is kept
    assert records.fetch(base_url=base) == [path]


class _Ranged(http.server.SimpleHTTPRequestHandler):
    """Honours `Range: bytes=N-` with 206, as raw.githubusercontent.com and most mirrors do."""

    def do_GET(self):
        rng = self.headers.get("Range", "")
        path = self.translate_path(self.path)
        if not rng.startswith("bytes=") or not os.path.isfile(path):
            return super().do_GET()
        data = open(path, "rb").read()
        start = int(rng[6:].split("-")[0])
        if start >= len(data):
            self.send_response(416)
            self.end_headers()
            return
        self.send_response(206)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


class _HtmlPage(http.server.SimpleHTTPRequestHandler):
    """Serves a proxy's error page, with status 200, for every path."""

    def do_GET(self):
        body = b"<!DOCTYPE html>\n<html><head><title>Access denied</title></head><body>blocked</body></html>\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _one(monkeypatch, local="open_clip/model_profile.csv"):
    one = next(s for s in records.manifest() if s.local == local)
    monkeypatch.setattr(S, "manifest", lambda: (one,))
    return one


def test_an_html_page_served_with_status_200_is_named_not_only_a_checksum_mismatch(tmp_path, monkeypatch,
                                                                                   serve_folder):
    one = _one(monkeypatch)
    base = serve_folder(tmp_path, _HtmlPage)
    with pytest.raises(FetchError, match="the server returned an HTML page, not the file: ") as e:
        records.fetch(dest=tmp_path / "records", base_url=base, progress=False)
    assert one.url(base) in str(e.value) and "Access denied" in str(e.value)
    assert not list((tmp_path / "records").rglob("*"))[1:]  # the page was discarded (only the folder is left)
    assert not (tmp_path / "records" / one.local).exists()


def test_a_garbage_part_is_discarded_and_fetched_again_in_the_same_run(tmp_path, shared_data, monkeypatch, capsys,
                                                                       serve_folder):
    one = _one(monkeypatch)
    www = tmp_path / "www"
    _publish(www, shared_data, [one])
    dest = tmp_path / "records"
    part = dest / (one.local + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\x00garbage from an earlier download\xff" * 10)  # shorter than the file: a Range resumes it
    base = serve_folder(www, _Ranged)
    (got,) = records.fetch(dest=dest, base_url=base, progress=False)
    assert got == dest / one.local and sha256_file(got) == one.sha256 and not part.exists()
    err = capsys.readouterr().err
    assert "left by an earlier download" in err and "fetched again from the start" in err, err


def test_cli_fetch_records_takes_a_mirror_and_checks_dest_up_front(serve, shared_data, tmp_path, monkeypatch, capsys):
    from clipstudy import cli

    root, base = serve
    one = _one(monkeypatch)
    _publish(root, shared_data, [one])
    assert cli.main(["fetch", "records", "--dest", str(tmp_path / "rec"), "--base-url", base]) == 0
    assert sha256_file(tmp_path / "rec" / one.local) == one.sha256
    (tmp_path / "afile").write_text("x")
    for dest, says in ((tmp_path / "afile", "is a file; give a folder"), (tmp_path / "afile" / "sub", "is a file, so")):
        assert cli.main(["fetch", "records", "--dest", str(dest), "--base-url", base]) == 2
        err = capsys.readouterr().err
        assert "clipstudy: error: --dest" in err and says in err and "Traceback" not in err, err
    assert cli.main(["fetch", "imagenet-v2", "--base-url", base]) == 2
    assert "--base-url" in capsys.readouterr().err
