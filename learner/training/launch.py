"""How a training worker is started: one process, or ``torchrun`` with one process per GPU.

The decision is pure (:func:`plan_launch`) and the GPU count is read without importing torch
(``CUDA_VISIBLE_DEVICES`` when set, else ``nvidia-smi -L``), so the learner process stays light.
With more than one visible GPU the worker runs under ``python -m torch.distributed.run
--standalone --nproc_per_node=N``; each rank trains on its shard through DDP (NCCL) and rank 0
evaluates, registers and writes the job row.

>>> plan_launch(["--job", "j1"], gpus=0, python="py").argv
['py', '-m', 'learner.training.worker', '--job', 'j1']
>>> plan_launch(["--job", "j1"], gpus=4, python="py").kind
<LaunchKind.TORCHRUN: 'torchrun'>
"""

from __future__ import annotations

import enum
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["LaunchKind", "LaunchPlan", "plan_launch", "visible_gpu_count", "nvidia_smi_count"]

WORKER_MODULE = "learner.training.worker"


class LaunchKind(enum.Enum):
    SINGLE = "single"
    TORCHRUN = "torchrun"


@dataclass(frozen=True)
class LaunchPlan:
    kind: LaunchKind
    nproc: int
    argv: list[str]


def plan_launch(worker_args: Sequence[str], *, gpus: int, python: str) -> LaunchPlan:
    """One process unless more than one GPU is visible."""
    if gpus > 1:
        argv = [python, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={gpus}", "-m", WORKER_MODULE, *worker_args]
        return LaunchPlan(LaunchKind.TORCHRUN, gpus, argv)
    return LaunchPlan(LaunchKind.SINGLE, 1, [python, "-m", WORKER_MODULE, *worker_args])


def nvidia_smi_count() -> int:
    """GPUs listed by ``nvidia-smi -L`` (0 without the tool or a driver)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return 0
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def visible_gpu_count(env: Mapping[str, str], probe: Callable[[], int] = nvidia_smi_count) -> int:
    """``CUDA_VISIBLE_DEVICES`` decides when set ("" or "-1": none); otherwise ``probe()``."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return probe()
    ids = [part for part in visible.split(",") if part.strip()]
    if ids and ids[0].strip() == "-1":
        return 0
    return len(ids)
