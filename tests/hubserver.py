"""A tiny Hugging Face hub on 127.0.0.1 that speaks what `hf_hub_download` (huggingface_hub 0.36) uses.

- HEAD/GET `/{repo_id}/resolve/{revision}/{filename}` (a dataset repo: `/datasets/{repo_id}/resolve/...`);
  every answer carries `X-Repo-Commit` (`Hub.commit`: change it to publish a new revision).
- An LFS file answers HEAD with a 302 to `/lfs/{sha256}` (the real hub redirects to its CDN), with
  `X-Linked-Etag` (its sha256) and `X-Linked-Size`; a small git file answers 200 with its git-sha1 `ETag`.
- GET honours `Range: bytes=N-` (206 + `Content-Range`).
- GET `/api/{models|datasets}/{repo_id}/tree/{revision}[/{path}]` lists the files under `path` (what transformers'
  tokenizers ask for, `additional_chat_templates/`); an empty path is 404 `EntryNotFound`, as on the real hub.
- An unknown repo is 404 with `X-Error-Code: RepoNotFound`; an unknown file in a known repo is 404 with
  `X-Error-Code: EntryNotFound`.
- Faults, per file name: "truncate" (announce the full length, send half, close; once) and "corrupt"
  (announce the true sha256, send other bytes of the same length).
- Uploads, what `HfApi.create_repo`, `create_branch`, `create_commit` and `upload_folder` use, for regular
  (non-LFS) files only: POST `/api/repos/create` (409 when the repo exists), POST
  `/api/{models|datasets}/{repo_id}/branch/{branch}`, POST `.../preupload/{revision}` (every file "regular") and
  POST `.../commit/{revision}` (an ndjson body of base64 `file` and `deletedFile` lines; an `lfsFile` is refused
  with 422). A commit changes `Hub.commit`; revisions are not kept apart (every revision serves the same files),
  except those `Hub.freeze` kept: `freeze(repo, ref)` keeps the repo's files as they are now under `ref` and under
  the current commit, so `/{repo}/resolve/{ref or that commit}/...` serves them with that commit while the repo
  changes on (`Hub.bump` starts a new commit). `Hub.commits` records (repo, summary, paths added).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_RESOLVE = re.compile(r"^/(?P<repo>(?:datasets/)?[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_TREE = re.compile(r"^/api/(?P<type>models|datasets)/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/?]+)(?:/(?P<path>[^?]*))?"
                   r"(?:\?.*)?$")
_API = re.compile(r"^/api/(?P<type>models|datasets)/(?P<repo>[^/]+/[^/]+)/(?P<op>preupload|commit|branch)/"
                  r"(?P<rev>[^/?]+)(?:\?.*)?$")


class Hub:
    """Repos of files served by a threaded HTTP server; `log` records (method, path, Range header)."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.faults: dict[str, str] = {}
        self.log: list[tuple[str, str, str | None]] = []
        self.commit = COMMIT
        self.commits: list[tuple[str, str, list[str]]] = []
        self.frozen: dict[tuple[str, str], tuple[str, dict[str, bytes]]] = {}  # (repo, ref) -> (commit, files)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, repo: str, filename: str, data: bytes, repo_type: str | None = None) -> str:
        """Serve `data` as repo/filename (of a dataset repo with repo_type="dataset"); returns its sha256."""
        if repo_type == "dataset":
            repo = f"datasets/{repo}"
        self.repos.setdefault(repo, {})[filename] = data
        return hashlib.sha256(data).hexdigest()

    def freeze(self, repo: str, ref: str | None = None) -> str:
        """Keep the repo's files as they are now under `ref` (a tag or branch) and the current commit; returns it."""
        kept = (self.commit, dict(self.repos[repo]))
        self.frozen[(repo, self.commit)] = kept
        if ref:
            self.frozen[(repo, ref)] = kept
        return self.commit

    def bump(self) -> str:
        """A new commit: what `main` (and any unfrozen revision) serves from now on."""
        self.commit = hashlib.sha1(self.commit.encode()).hexdigest()
        return self.commit

    def blob(self, sha: str) -> tuple[str, bytes] | None:
        for files in [*self.repos.values(), *(f for _, f in self.frozen.values())]:
            for name, data in files.items():
                if hashlib.sha256(data).hexdigest() == sha:
                    return name, data
        return None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _is_lfs(data: bytes) -> bool:
    return len(data) > 1024 or b"\0" in data


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _handler(hub: Hub) -> type:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            hub.log.append((self.command, self.path, self.headers.get("Range")))
            tree = _TREE.match(urllib.parse.unquote(self.path))
            if tree is not None:
                return self._tree(tree)
            if self.path.startswith("/lfs/"):
                found = hub.blob(self.path[5:].split("?")[0])
                if found is None:
                    return self._error(404, "EntryNotFound")
                return self._send(*found, etag=hashlib.sha256(found[1]).hexdigest(), body=body)
            m = _RESOLVE.match(urllib.parse.unquote(self.path))
            if m is None or m["repo"] not in hub.repos:
                return self._error(404, "RepoNotFound")
            commit, files = hub.frozen.get((m["repo"], m["rev"]), (hub.commit, hub.repos[m["repo"]]))
            data = files.get(m["file"])
            if data is None:
                return self._error(404, "EntryNotFound", commit)
            if _is_lfs(data):
                sha = hashlib.sha256(data).hexdigest()
                self.send_response(302)
                self.send_header("Location", f"{hub.url}/lfs/{sha}")
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", f'"{_git_sha1(sha.encode())}"')
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._send(m["file"], data, etag=_git_sha1(data), body=body, commit=commit)

        def do_POST(self) -> None:
            hub.log.append((self.command, self.path, None))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.split("?")[0] == "/api/repos/create":
                req = json.loads(body or b"{}")
                repo = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
                key = f"datasets/{repo}" if req.get("type") == "dataset" else repo
                if key in hub.repos:
                    return self._json(409, {"error": "You already created this repo", "url": f"{hub.url}/{key}"},
                                      "RepoExists")
                hub.repos[key] = {}
                return self._json(200, {"url": f"{hub.url}/{key}"})
            m = _API.match(urllib.parse.unquote(self.path))
            if m is None:
                return self._error(404, "RepoNotFound")
            key = m["repo"] if m["type"] == "models" else f"datasets/{m['repo']}"
            if key not in hub.repos:
                return self._error(404, "RepoNotFound")
            if m["op"] == "branch":
                return self._json(200, {})
            if m["op"] == "preupload":
                files = json.loads(body)["files"]
                return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                                   "oid": None} for f in files], "commitOid": hub.commit})
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            if any(x["key"] == "lfsFile" for x in lines):
                return self._json(422, {"error": "this hub takes regular files only"}, "LfsUnsupported")
            added = []
            for x in lines:
                if x["key"] == "file":
                    hub.repos[key][x["value"]["path"]] = base64.b64decode(x["value"]["content"])
                    added.append(x["value"]["path"])
                elif x["key"] == "deletedFile":
                    hub.repos[key].pop(x["value"]["path"], None)
            summary = next((x["value"].get("summary", "") for x in lines if x["key"] == "header"), "")
            hub.commit = hashlib.sha1((hub.commit + summary + json.dumps(added)).encode()).hexdigest()
            hub.commits.append((key, summary, added))
            return self._json(200, {"commitUrl": f"{hub.url}/{key}/commit/{hub.commit}", "commitOid": hub.commit,
                                    "pullRequestUrl": None})

        def _tree(self, m) -> None:
            """GET /api/{models|datasets}/{repo}/tree/{rev}[/{path}]: the files under `path` (what
            `list_repo_tree` reads); a path with nothing under it is EntryNotFound, as on the real hub."""
            key = m["repo"] if m["type"] == "models" else f"datasets/{m['repo']}"
            if key not in hub.repos:
                return self._error(404, "RepoNotFound")
            commit, files = hub.frozen.get((key, m["rev"]), (hub.commit, hub.repos[key]))
            prefix = (m["path"] or "").strip("/")
            under = [f for f in files if not prefix or f.startswith(prefix + "/")]
            if prefix and not under:
                return self._error(404, "EntryNotFound", commit)
            return self._json(200, [{"type": "file", "path": f, "size": len(files[f]), "oid": _git_sha1(files[f])}
                                    for f in sorted(under)])

        def _json(self, code: int, obj: dict | list, error_code: str | None = None) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            if error_code:
                self.send_header("X-Error-Code", error_code)
                self.send_header("X-Error-Message", obj.get("error", error_code))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send(self, name: str, data: bytes, etag: str, body: bool, commit: str | None = None) -> None:
            start = 0
            rng = self.headers.get("Range")
            if rng and (r := re.match(r"bytes=(\d+)-$", rng)):
                start = int(r[1])
            part = data[start:]
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", commit or hub.commit)
            self.send_header("ETag", f'"{etag}"')
            self.send_header("Content-Length", str(len(part)))
            self.send_header("Accept-Ranges", "bytes")
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if not body:
                return
            fault = hub.faults.get(name)
            if fault == "truncate":
                hub.faults.pop(name)
                self.wfile.write(part[: len(part) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault == "corrupt":
                part = bytes(b ^ 0xFF for b in part[:64]) + part[64:]
            self.wfile.write(part)

        def _error(self, code: int, error_code: str, commit: str | None = None) -> None:
            self.send_response(code)
            self.send_header("X-Error-Code", error_code)
            self.send_header("X-Error-Message", f"{error_code}: {self.path}")
            if error_code == "EntryNotFound":
                self.send_header("X-Repo-Commit", commit or hub.commit)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


def env_for(endpoint: str, home, **extra: str) -> dict[str, str]:
    """This process's environment for a CLI subprocess that uses the hub at `endpoint` and the cache `home`."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1", **extra)
    return env


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Silent:
    """A port that accepts connections and never answers: a hub that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()
