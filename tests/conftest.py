"""Shared fixtures: the real shared data copy, an isolated cache per test session, and local servers on 127.0.0.1 (a
Hugging Face hub, a folder over HTTP)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    env = os.environ.get("CLIPSTUDY_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (cand / "records").is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` (or CLIPSTUDY_DATA): real published records and stimuli."""
    root = _shared_data()
    if root is None:
        pytest.skip("shared data not present: set CLIPSTUDY_DATA to a folder with records/ and stimuli/")
    return root


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session gets its own feature cache, so no test reads another run's features."""
    root = tmp_path_factory.getbasetemp() / "clipstudy-cache"
    monkeypatch.setenv("CLIPSTUDY_CACHE", str(root))
    yield


@pytest.fixture
def point_hub(monkeypatch):
    """Point this process's huggingface_hub at `endpoint` and the cache under `home` (as HF_ENDPOINT and
    HF_HOME would at its import); the local hub is tests/hubserver.py."""
    from huggingface_hub import constants, file_download

    from clipstudy import hubcache

    def point(endpoint: str, home: Path) -> None:
        template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(hubcache, "_unreachable", {})

    return point


@pytest.fixture
def local_hub():
    """A fresh, empty local Hugging Face hub on 127.0.0.1 (tests/hubserver.py's `Hub`), closed after the test."""
    from hubserver import Hub

    hub = Hub()
    yield hub
    hub.close()


@pytest.fixture
def serve_folder():
    """`serve_folder(root, handler=SimpleHTTPRequestHandler) -> base_url`: serve the folder `root` over HTTP at
    http://127.0.0.1:<free port> (the handler's request log silenced); every server is shut down after the test."""
    import functools
    import http.server
    import threading

    servers = []

    def serve(root, handler=http.server.SimpleHTTPRequestHandler) -> str:
        quiet = type(f"Quiet{handler.__name__}", (handler,), {"log_message": lambda self, *a: None})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(quiet, directory=str(root)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def read_only():
    """Make folders truly read-only for this process: chmod for a user, the immutable flag (`chattr +i`) for root,
    whom chmod does not stop; skips where neither holds. clipstudy probes with a real file, not os.access."""
    import subprocess
    import tempfile

    made: list[Path] = []

    def make(path) -> None:
        path = Path(path)
        if os.geteuid() != 0:
            path.chmod(0o555)
        elif subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("running as root without the immutable flag (chattr +i): no folder is read-only")
        made.append(path)
        try:
            tempfile.mkstemp(dir=path)
        except OSError:
            return
        pytest.skip(f"{path} is still writable after chmod/chattr on this file system")

    yield make
    for path in made:
        if os.geteuid() != 0:
            path.chmod(0o755)
        else:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
