"""The SLURM executor, through submitit: the missing units as one job array.

Options: partition, GPUs per job, CPUs per job, time limit, array parallelism. A preempted or timed-out
job is requeued (submitit's checkpointing: the unit job resubmits itself, up to `max_requeue` times), and
since units resume from their finished shards a requeued job loses at most one shard. Where SLURM is absent
(no `srun`) it says so and runs the same jobs with submitit's local executor: real subprocess jobs,
`array_parallelism` of them at once, each taking a share of the units.
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Callable, Sequence

import submitit

from .executors import chunks, failed
from .unit import Unit, UnitResult, execute_many


class UnitJob(submitit.helpers.Checkpointable):
    """A job: its units in turn. On preemption or timeout submitit calls `checkpoint`, which (inherited)
    resubmits the same call; the units that finished are then found complete and skipped."""

    def __init__(self, threads: int = 0):
        self.threads = threads

    def __call__(self, units: list[Unit]) -> list[UnitResult]:
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        return execute_many(units)


class _DryRunSlurm(submitit.SlurmExecutor):
    """submitit's SlurmExecutor on a machine without SLURM, for writing the sbatch script only."""

    @classmethod
    def affinity(cls) -> int:
        return 1


def slurm_available() -> bool:
    return submitit.SlurmExecutor.affinity() > 0


class SlurmExecutor:
    name = "slurm"

    def __init__(self, partition: str | None = None, gpus_per_job: int = 0, cpus_per_job: int | None = None,
                 time_min: int = 240, array_parallelism: int = 16, mem_gb: float | None = None,
                 max_requeue: int = 3, folder: str | os.PathLike | None = None, poll_s: float = 1.0):
        self.partition, self.gpus, self.cpus = partition, gpus_per_job, cpus_per_job
        self.time_min, self.parallelism, self.mem_gb = time_min, array_parallelism, mem_gb
        self.max_requeue, self.folder, self.poll_s = max_requeue, folder, poll_s

    def device_kind(self, device: str) -> str:
        if slurm_available():
            return "cuda" if self.gpus > 0 or device.startswith("cuda") else "cpu"
        from ..config import resolve_device

        return "cuda" if resolve_device(device).startswith("cuda") else "cpu"

    def sbatch_parameters(self, n_units: int) -> dict:
        """submitit's SlurmExecutor parameters (sbatch names) for an array of `n_units` jobs."""
        p = dict(job_name="clipstudy-run", time=self.time_min, gpus_per_node=self.gpus or None,
                 cpus_per_task=self.cpus or None, array_parallelism=self.parallelism, ntasks_per_node=1, nodes=1)
        if self.partition:
            p["partition"] = self.partition
        if self.mem_gb:
            p["mem"] = f"{int(self.mem_gb)}GB"
        return {k: v for k, v in p.items() if v is not None}

    def _folder(self, units: Sequence[Unit]) -> Path:
        base = Path(self.folder) if self.folder else Path(units[0].study or ".") / "submitit"
        return base.resolve()

    def dry_run(self, units: Sequence[Unit]) -> dict:
        """The sbatch script and array size that `run` would submit, written to the job folder; nothing runs."""
        folder = self._folder(units)
        ex = _DryRunSlurm(folder, max_num_timeout=self.max_requeue)
        ex.update_parameters(**self.sbatch_parameters(len(units)))
        ex.parameters["map_count"] = len(units)  # what submitit sets for a job array
        script = ex._make_submission_file_text(ex._submitit_command_str, uuid.uuid4().hex)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "dry-run.sbatch"
        path.write_text(script)
        return dict(script=script, path=str(path), array_size=len(units), folder=str(folder))

    def run(self, units: Sequence[Unit], on_result: Callable[[UnitResult], None]) -> None:
        if not units:
            return
        folder = self._folder(units)
        if slurm_available():
            ex = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_max_num_timeout=self.max_requeue)
            ex.update_parameters(**{f"slurm_{k}": v for k, v in self.sbatch_parameters(len(units)).items()})
            groups = [[u] for u in units]
            jobs = ex.map_array(UnitJob(self.cpus or 0), groups)
        else:
            print("clipstudy run: SLURM is not available on this machine (no srun); running the jobs with "
                  f"submitit's local executor ({min(self.parallelism, len(units))} subprocess jobs at once)",
                  flush=True)
            ex = submitit.AutoExecutor(folder=folder, cluster="local")
            ex.update_parameters(timeout_min=self.time_min, gpus_per_node=self.gpus or 0)
            groups = chunks(units, self.parallelism)
            threads = self.cpus or max(1, (os.cpu_count() or 1) // len(groups))
            jobs = [ex.submit(UnitJob(threads), g) for g in groups]
        pending = list(zip(jobs, groups))
        try:
            while pending:
                still = []
                for job, group in pending:
                    if not job.done():
                        still.append((job, group))
                        continue
                    try:
                        results = job.result()
                    except Exception as e:  # noqa: BLE001: the job itself died (killed, out of memory)
                        results = failed(group, f"job {job.job_id} failed: {' '.join(str(e).split())[-500:]}")
                    for r in results:
                        on_result(r)
                pending = still
                if pending:
                    time.sleep(self.poll_s)
        except KeyboardInterrupt:
            for job, _ in pending:
                job.cancel(check=False)
            raise
