"""`records.fetch` against a local HTTP server: verified, atomic; bad checksum refused; offline named."""
from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from dataclasses import replace

import pytest

from clipstudy import records
from clipstudy.download import sha256_file
from clipstudy.errors import ChecksumError, FetchError
from clipstudy.records import sources as S


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def serve(tmp_path):
    """Serve tmp_path/www at http://127.0.0.1:<free port>; yields (root, base_url)."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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
