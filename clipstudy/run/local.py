"""The local executor: one worker per visible GPU, or one on CPU (`workers` sets another count).

One worker runs the units in this process. Several run in spawned processes, each with its own GPU
(CUDA_VISIBLE_DEVICES) or its share of the CPU cores. Each worker is a pool of one process, so a worker
that dies (SIGKILL, an OOM kill) fails only the unit it was running: its pool is rebuilt and the other
units go on. Workers die with this process (a parent-death signal, and a check of the parent's pid), so
killing the run leaves no worker holding a GPU. On Ctrl-C they are stopped at once, which loses only their
unfinished shards; their temporary files are removed then, and by the next run if this one was killed.
"""
from __future__ import annotations

import os
import signal
from typing import Callable, Sequence

from .executors import failed
from .unit import Unit, UnitResult, execute

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG), then exit now if the
    parent is already gone (it could die before the call). Elsewhere, a thread watches the parent's pid."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        import threading
        import time

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()
    if os.getppid() != parent:
        os._exit(1)


def _init_worker(gpu: int | None, threads: int, parent: int) -> None:
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    if threads:
        import torch

        torch.set_num_threads(threads)


def _reap(procs, timeout: float = 5.0) -> None:
    """Wait for the dead worker's exit status. The pool's own thread may reap it at the same time (then our
    waitpid finds nothing and the status appears on the shared Process object a moment later)."""
    import time

    t0 = time.time()
    for p in procs:
        p.join(timeout=timeout)
    while any(p.exitcode is None for p in procs) and time.time() - t0 < timeout:
        time.sleep(0.05)


def _death(procs) -> str:
    """Why a worker's process ended, in words (its exit code or signal)."""
    codes = [p.exitcode for p in procs if p.exitcode is not None]
    if not codes:
        return "it ended without a result"
    code = codes[0]
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (an out-of-memory kill sends SIGKILL)" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int | None = None, threads: int | None = None):
        self.workers, self.threads = workers, threads

    def device_kind(self, device: str) -> str:
        from ..config import resolve_device

        return "cuda" if resolve_device(device).startswith("cuda") else "cpu"

    def n_workers(self, device: str = "auto") -> int:
        import torch

        if self.workers:
            return self.workers
        return max(1, torch.cuda.device_count()) if self.device_kind(device) == "cuda" else 1

    def run(self, units: Sequence[Unit], on_result: Callable[[UnitResult], None]) -> None:
        if not units:
            return
        n = min(self.n_workers(units[0].device), len(units))
        if n <= 1:
            from ..encode import intra_op_threads
            import torch

            with intra_op_threads(self.threads or torch.get_num_threads()):
                for u in units:
                    on_result(execute(u))
            return
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        ctx = mp.get_context("spawn")
        cuda = self.device_kind(units[0].device) == "cuda"
        threads = self.threads or max(1, (os.cpu_count() or 1) // n)
        parent = os.getpid()

        def pool(slot: int) -> ProcessPoolExecutor:
            return ProcessPoolExecutor(1, mp_context=ctx, initializer=_init_worker,
                                       initargs=(slot if cuda else None, threads, parent))

        pools = {slot: pool(slot) for slot in range(n)}
        todo = list(units)
        running: dict = {}  # future -> (slot, unit, the slot's processes)
        seen: list = []  # every worker process started, to stop and sweep after

        def start(slot: int) -> None:
            u = todo.pop(0)
            f = pools[slot].submit(execute, u)
            procs = list(getattr(pools[slot], "_processes", {}).values())
            seen.extend(p for p in procs if p not in seen)
            running[f] = (slot, u, procs)

        try:
            for slot in range(n):
                start(slot)
            while running:
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for f in done:
                    slot, u, procs = running.pop(f)
                    try:
                        r = f.result()
                    except BrokenProcessPool:  # this worker died: its unit fails, a new worker takes its place
                        _reap(procs)
                        r = failed([u], f"the worker running it died ({_death(procs)}); the other units went "
                                        "on. Run again to retry it (it resumes from its finished shards)")[0]
                        pools[slot].shutdown(wait=False, cancel_futures=True)
                        pools[slot] = pool(slot)
                    except Exception as e:  # noqa: BLE001: a worker that failed otherwise fails its unit
                        r = failed([u], f"worker failed: {type(e).__name__}: {e}")[0]
                    on_result(r)
                    if todo:
                        start(slot)
        except KeyboardInterrupt:
            for p in seen:
                if p.is_alive():
                    p.kill()
            for p in seen:
                p.join(timeout=5)
            for pl in pools.values():
                pl.shutdown(wait=False, cancel_futures=True)
            _sweep(units)
            raise
        for pl in pools.values():
            pl.shutdown(wait=True)


def _sweep(units: Sequence[Unit]) -> None:
    """Remove the temporary files the stopped workers left in the store (the store's sweep: dead writers'
    only)."""
    from pathlib import Path

    from ..store import sweep_tmp

    for root in sorted({u.cache_root for u in units}):
        for sub in ("features", "units"):
            sweep_tmp(Path(root) / sub)
