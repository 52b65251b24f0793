"""Fetchers against a local HTTP server on 127.0.0.1 that serves fixture archives (with Range support)."""
from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import clipstudy.datasets as D
import fixtures_layouts as F
from clipstudy.datasets import base, synset_folders
from clipstudy.errors import ChecksumError, FetchError


class Server:
    """Serves `files[path] = bytes`; honours `Range: bytes=N-`; logs (path, Range header)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.log: list[tuple[str, str | None]] = []
        self.cut_once: set[str] = set()  # paths whose next response stops halfway (a dropped connection)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep pytest output clean
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.log.append((self.path, rng))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                if start >= len(body) and rng:
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if self.path in server.cut_once:
                    server.cut_once.discard(self.path)
                    self.wfile.write(body[start:start + (len(body) - start) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def data(tmp_path, monkeypatch):
    root = tmp_path / "data"
    monkeypatch.setenv("CLIPSTUDY_DATA", str(root))
    return root


def tgz(tmp_path: Path, maker, member: str) -> bytes:
    """A .tar.gz whose top folder is `member`, holding a miniature of the real layout."""
    src = tmp_path / "src"
    maker(src)
    return F.tar_folder(src / member, tmp_path / "a.tar.gz", member).read_bytes()


def r_archive(tmp_path) -> bytes:
    return tgz(tmp_path, lambda r: F.make_subset200(r, "imagenet-r", ["n01443537", "n01484850"]), "imagenet-r")


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".extract-") or p.name.endswith(".part")]


def test_fetch_with_checksum_then_load(tmp_path, server, data, monkeypatch):
    body = r_archive(tmp_path)
    server.files["/imagenet-r.tar"] = body
    monkeypatch.setitem(synset_folders.SHA256, "imagenet-r", hashlib.sha256(body).hexdigest())
    out = D.fetch("imagenet-r", url=server.url + "/imagenet-r.tar")
    assert out == data / "imagenet-r" / "imagenet-r"
    ds = D.load("imagenet-r")
    assert len(ds) == 4 and set(ds.labels) == {0, 1}
    assert (data / ".downloads" / "imagenet-r.tar").is_file() and not leftovers(data)
    # present already: nothing is downloaded again
    n = len(server.log)
    D.fetch("imagenet-r", url=server.url + "/imagenet-r.tar")
    assert len(server.log) == n


def test_wrong_checksum_leaves_nothing(tmp_path, server, data, monkeypatch):
    server.files["/imagenet-r.tar"] = r_archive(tmp_path)
    monkeypatch.setitem(synset_folders.SHA256, "imagenet-r", "0" * 64)
    with pytest.raises(ChecksumError):
        D.fetch("imagenet-r", url=server.url + "/imagenet-r.tar")
    assert not (data / "imagenet-r").exists() or not any((data / "imagenet-r").iterdir())
    assert not (data / ".downloads" / "imagenet-r.tar").exists() and not leftovers(data)


def test_resume_from_part_file(tmp_path, server, data, monkeypatch):
    body = r_archive(tmp_path)
    server.files["/imagenet-r.tar"] = body
    monkeypatch.setitem(synset_folders.SHA256, "imagenet-r", hashlib.sha256(body).hexdigest())
    part = data / ".downloads" / "imagenet-r.tar.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(body[:300])  # an earlier, interrupted download
    D.fetch("imagenet-r", url=server.url + "/imagenet-r.tar")
    assert server.log == [("/imagenet-r.tar", "bytes=300-")]
    assert (data / ".downloads" / "imagenet-r.tar").read_bytes() == body
    assert len(D.load("imagenet-r")) == 4


def test_interrupted_download_resumes_on_refetch(tmp_path, server, data, monkeypatch):
    body = r_archive(tmp_path)
    server.files["/imagenet-r.tar"] = body
    server.cut_once.add("/imagenet-r.tar")
    monkeypatch.setitem(synset_folders.SHA256, "imagenet-r", hashlib.sha256(body).hexdigest())
    with pytest.raises(FetchError, match="resume"):
        D.fetch("imagenet-r", url=server.url + "/imagenet-r.tar")
    assert not (data / "imagenet-r" / "imagenet-r").exists()  # nothing half-written is in place
    assert (data / ".downloads" / "imagenet-r.tar.part").stat().st_size == len(body) // 2
    D.fetch("imagenet-r", url=server.url + "/imagenet-r.tar")
    assert server.log[-1] == ("/imagenet-r.tar", f"bytes={len(body) // 2}-")
    assert len(D.load("imagenet-r")) == 4


def test_truncated_archive_rejected(tmp_path, server, data):
    body = r_archive(tmp_path)
    server.files["/imagenet-r.tar"] = body[: len(body) // 2]  # served whole, but the archive is cut
    with pytest.raises(FetchError, match="truncated or corrupt"):
        D.fetch("imagenet-r", url=server.url + "/imagenet-r.tar")
    assert not (data / "imagenet-r" / "imagenet-r").exists()
    assert not (data / ".downloads" / "imagenet-r.tar").exists()  # deleted, so a re-fetch starts clean
    assert not leftovers(data)


def _tar_with(members: dict[str, bytes], links: dict[str, str] = {}) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return buf.getvalue()


@pytest.mark.parametrize("members,links", [
    ({"imagenet-r/n01443537/a.jpg": b"x", "../evil.txt": b"pwned"}, {}),
    ({"/tmp/evil-abs.txt": b"pwned"}, {}),
    ({"imagenet-r/n01443537/a.jpg": b"x"}, {"imagenet-r/n01484850": "/etc"}),
])
def test_path_traversal_and_links_rejected(tmp_path, server, data, members, links):
    server.files["/imagenet-r.tar"] = _tar_with(members, links)
    with pytest.raises(FetchError, match="refusing"):
        D.fetch("imagenet-r", url=server.url + "/imagenet-r.tar")
    assert not (data / "evil.txt").exists() and not (data.parent / "evil.txt").exists()
    assert not (data / "imagenet-r" / "imagenet-r").exists() and not leftovers(data)


def test_zip_traversal_rejected(tmp_path):
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../evil.txt", "pwned")
    with pytest.raises(FetchError, match="outside"):
        base.safe_extract(z, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_offline_is_a_clear_fetch_error(data):
    with pytest.raises(FetchError, match="offline"):
        D.fetch("imagenet-r", url="http://127.0.0.1:9/imagenet-r.tar")


def test_fetch_sketch_zip(tmp_path, server, data):
    src = tmp_path / "src"
    F.make_sketch(src)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted((src / "sketch").rglob("*.JPEG")):
            zf.write(p, p.relative_to(src).as_posix())
    server.files["/ImageNet-Sketch.zip"] = buf.getvalue()
    D.fetch("imagenet-sketch", url=server.url + "/ImageNet-Sketch.zip")
    assert len(D.load("imagenet-sketch")) == 4


def test_fetch_v2_ood_3dcc(tmp_path, server, data):
    server.files["/v2.tar.gz"] = tgz(tmp_path / "v2", F.make_imagenet_v2, "imagenetv2-matched-frequency-format-val")
    D.fetch("imagenet-v2", url=server.url + "/v2.tar.gz")
    assert len(D.load("imagenet-v2")) == 6
    server.files["/SUN.tar.gz"] = tgz(tmp_path / "sun", lambda r: F.make_ood(r, "sun"), "SUN")
    D.fetch("sun", url=server.url + "/SUN.tar.gz")
    assert len(D.load("sun")) == 2
    for c in ("fog_3d", "flash"):
        server.files[f"/{c}.tar.gz"] = tgz(tmp_path / c, lambda r, c=c: F.make_3dcc(r, corruptions=(c,)), c)
    D.fetch("imagenet-3dcc", corruptions=("fog_3d", "flash"), url=server.url + "/{corruption}.tar.gz")
    assert set(D.load("imagenet-3dcc").frame.corruption) == {"fog_3d", "flash"}


def test_fetch_stimuli_from_repository_archive(tmp_path, server, data):
    from clipstudy.datasets import cue_conflict as cc

    top = tmp_path / "repo" / "texture-vs-shape-ccd0c01d42c0a8a834e90ec141e7f24fa915dc23" / "stimuli"
    F.make_cue_conflict(top / "style-transfer-preprocessed-512")
    F.make_plain_stimuli(top / "edges")
    F.make_plain_stimuli(top / "filled-silhouettes", classes=("cat",))
    body = F.tar_folder(top.parent, tmp_path / "tvs.tar.gz", top.parent.name).read_bytes()
    server.files["/tvs.tar.gz"] = body
    for name in ("cue-conflict", "edges", "silhouettes"):
        D.fetch(name, url=server.url + "/tvs.tar.gz")
        assert (data / name).is_dir()  # the default root: $CLIPSTUDY_DATA/<name>
    assert len(server.log) == 1  # one archive serves all three
    assert (len(D.load("cue-conflict")), len(D.load("edges")), len(D.load("silhouettes"))) == (4, 4, 2)
    assert cc.URL.startswith("https://github.com/rgeirhos/texture-vs-shape/archive/")


def test_fetch_retrieval_captions_and_images(tmp_path, server, data):
    src = tmp_path / "src"
    F.make_retrieval(src, "coco-5k", n_test=2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # the real zip holds the three Karpathy files at its top
        zf.write(src / "dataset_coco.json", "dataset_coco.json")
        zf.writestr("dataset_flickr30k.json", '{"images": []}')
    server.files["/caption_datasets.zip"] = buf.getvalue()
    server.files["/val2014.zip"] = _zip_folder(src / "val2014", "val2014")
    D.fetch("coco-5k", captions_url=server.url + "/caption_datasets.zip", image_url=server.url + "/val2014.zip")
    ds = D.load("coco-5k")
    assert len(ds) == 2 and len(ds.texts) == 10
    assert not (data / "coco-5k" / ".captions").exists()


def _zip_folder(folder: Path, arc: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(folder.rglob("*")):
            zf.write(p, f"{arc}/{p.relative_to(folder).as_posix()}")
    return buf.getvalue()


def test_every_fetchable_dataset_records_a_url():
    for name in D.names():
        entry = D.get(name)
        mod = entry.mod
        if not entry.fetchable:
            continue
        if name.startswith("wds/"):  # a hub dataset repo, fetched through huggingface_hub: it names its repo
            repo, _ = mod.repo_of(name)
            assert repo == f"clip-benchmark/wds_{name[4:]}", name
            continue
        urls = [getattr(mod, a) for a in ("URL", "CAPTIONS_URL") if hasattr(mod, a)]
        urls += [v[0] for v in getattr(mod, "VARIANTS", {}).values()]
        urls += [v[0] for v in getattr(mod, "SOURCES", {}).values()]
        assert urls and all(u.startswith(("http://", "https://")) for u in urls), name
