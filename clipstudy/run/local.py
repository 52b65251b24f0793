"""The local executor: one worker per visible GPU, or one on CPU (`workers` sets another count).

One worker runs the units in this process. Several run in spawned processes, each with its own GPU
(CUDA_VISIBLE_DEVICES) or its share of the CPU cores; on Ctrl-C they are stopped at once, which loses
only their unfinished shards.
"""
from __future__ import annotations

import os
from typing import Callable, Sequence

from .executors import failed
from .unit import Unit, UnitResult, execute


def _init_worker(gpus, threads: int) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    if gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpus.get())
    if threads:
        import torch

        torch.set_num_threads(threads)


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
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = mp.get_context("spawn")
        gpus = None
        if self.device_kind(units[0].device) == "cuda":
            gpus = ctx.Queue()
            for i in range(n):
                gpus.put(i)
        threads = self.threads or max(1, (os.cpu_count() or 1) // n)
        pool = ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=(gpus, threads))
        futures = {pool.submit(execute, u): u for u in units}
        try:
            for f in as_completed(futures):
                try:
                    on_result(f.result())
                except Exception as e:  # noqa: BLE001: a worker that died fails its unit
                    on_result(failed([futures[f]], f"worker failed: {type(e).__name__}: {e}")[0])
        except KeyboardInterrupt:
            for p in list(getattr(pool, "_processes", {}).values()):
                p.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
