"""The Ray executor: one Ray task per unit, with `num_gpus` (and `num_cpus`) per task, on `ray.init()`
(a local instance) or a given cluster address. Workers run the same `unit.execute` as every executor."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import ray

from .unit import Unit, UnitResult, execute


def _execute(unit: Unit, threads: int) -> UnitResult:
    import torch

    if threads:
        torch.set_num_threads(threads)
    return execute(unit)


def runtime_env() -> dict:
    """Workers import this clipstudy and see the same data and cache roots."""
    import clipstudy

    root = str(Path(clipstudy.__file__).resolve().parents[1])
    path = os.pathsep.join([root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    env = {"PYTHONPATH": path}
    for k in ("CLIPSTUDY_DATA", "CLIPSTUDY_CACHE"):  # the lab profile travels in each unit (Unit.lab_profile)
        if os.environ.get(k):
            env[k] = os.environ[k]
    return {"env_vars": env}


CONNECT_TIMEOUT_ENV = "CLIPSTUDY_RAY_CONNECT_TIMEOUT"  # seconds to wait for --ray-address to answer (default 30)


def connect_timeout() -> float:
    from ..environment import ray_connect_timeout

    return ray_connect_timeout()


def check_address(address: str, timeout: float | None = None) -> None:
    """Before any work: something accepts connections at `address` (`HOST:PORT`, a cluster's GCS, or
    `ray://HOST:PORT`, a Ray client server), within `timeout` seconds; else a one-line error. `ray.init` on an
    address where nothing listens retries for minutes with only Ray's own warnings. `auto` (the cluster this
    machine belongs to) is left to Ray."""
    import socket

    from ..errors import ClipstudyError

    if address in ("auto", "local"):
        return
    timeout = connect_timeout() if timeout is None else timeout
    hostport = address.split("://", 1)[1] if "://" in address else address
    host, _, port = hostport.rstrip("/").rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise ClipstudyError(f"--ray-address {address!r}: expected HOST:PORT (the address `ray start --head` "
                             "prints, e.g. 10.0.0.5:6379) or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        why = "timed out" if isinstance(e, TimeoutError) else (e.strerror or type(e).__name__).lower()
        raise ClipstudyError(
            f"--ray-address {address}: nothing answers at {host}:{port} ({why}, waited up to {timeout:g} s). Is the "
            "cluster up? Start it with `ray start --head` (it prints the address), or leave out --ray-address to "
            f"run on a local Ray. {CONNECT_TIMEOUT_ENV} sets the wait.") from e


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, gpus_per_task: float = 0.0, cpus_per_task: float = 1.0,
                 num_cpus: int | None = None):
        if address:
            check_address(address)  # before any work: a cluster that is not there fails now, in words
        self.address, self.gpus, self.cpus, self.num_cpus = address, gpus_per_task, cpus_per_task, num_cpus

    def device_kind(self, device: str) -> str:
        if self.gpus > 0:
            return "cuda"
        from ..config import resolve_device

        return "cuda" if not self.address and resolve_device(device).startswith("cuda") else "cpu"

    def run(self, units: Sequence[Unit], on_result: Callable[[UnitResult], None]) -> None:
        if not units:
            return
        own = not ray.is_initialized()
        if own:
            ray.init(address=self.address, num_cpus=None if self.address else self.num_cpus,
                     include_dashboard=False, runtime_env=runtime_env(), log_to_driver=False)
        task = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=1)(_execute)
        refs = {task.remote(u, max(1, int(self.cpus))): u for u in units}
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    u = refs.pop(ref)
                    try:
                        on_result(ray.get(ref))
                    except Exception as e:  # noqa: BLE001: the task's worker died
                        on_result(UnitResult(u.key, u.model, u.dataset, "failed",
                                             error=f"ray task failed: {' '.join(str(e).split())[-500:]}"))
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref, force=True)
            raise
        finally:
            if own:
                ray.shutdown()
