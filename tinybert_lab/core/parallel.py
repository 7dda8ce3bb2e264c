"""Data-parallel training on several processes: what ``training.fit`` does when a launcher
(``torchrun``, or any that sets ``WORLD_SIZE``, ``RANK`` and ``MASTER_ADDR``) starts it on N
processes.

Every process holds the same student, sees the same seeded stream of micro-batches and keeps
every N-th one (rank r: micro-batches r, r+N, r+2N, ...). ``training.fit`` wraps the objective in
PyTorch's ``DistributedDataParallel``, which averages the gradients over the processes in buckets
while the last micro-batch's backward pass runs (``no_sync`` for the ones before it). So N
processes with ``grad_accumulation=a`` take exactly the steps of one process with
``grad_accumulation=a·N``: the same global batch, split the same way. Accelerate's launcher starts
the same processes (its ``Accelerator`` wraps the same ``DistributedDataParallel``).

The teacher is frozen and stays outside the exchange (its weights are neither broadcast nor reduced). Logging, evaluation, progress
bars and checkpoints happen on the main process (rank 0). Without a launcher, ``World`` is one
process and none of this runs: the single-process path is unchanged.

    torchrun --nproc_per_node 2 my_training_script.py     # CPU: gloo; GPUs: nccl
    accelerate launch --multi_gpu --num_processes 8 my_training_script.py    # the same, via Accelerate
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from .errors import TinyBertLabError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.size > 1

    def average(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` averaged over the processes (logged losses: one call per logging step)."""
        if not self.parallel:
            return values
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values / self.size

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every process's ``tensor`` (same shape on all), in rank order."""
        if not self.parallel:
            return [tensor]
        parts = [torch.empty_like(tensor) for _ in range(self.size)]
        dist.all_gather(parts, tensor)
        return parts

    def main_says(self, value: bool) -> bool:
        """The main process's ``value`` on every process (e.g. "is the cache file there?"), so all
        take the same branch even when a file appears while they look."""
        if not self.parallel:
            return value
        flag = torch.tensor([int(value)])
        dist.broadcast(flag, src=0)
        return bool(flag.item())

    def barrier(self) -> None:
        if self.parallel:
            dist.barrier()


def _close_group() -> None:
    """At exit, close the process group ``world()`` started (unless the script already did)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def world() -> World:
    """The current world: from the process group if one is running, else from the launcher's
    environment (``WORLD_SIZE``, ``RANK``; the group is started here, gloo on CPU, nccl with
    CUDA), else one process."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_available():
        raise TinyBertLabError("WORLD_SIZE > 1 but this PyTorch has no torch.distributed: run one process.")
    if "MASTER_ADDR" not in os.environ:
        raise TinyBertLabError(
            f"WORLD_SIZE={size} is set but MASTER_ADDR is not: start the processes with a launcher, "
            "e.g. `torchrun --nproc_per_node 2 ...`, or unset WORLD_SIZE.")
    backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=timedelta(minutes=30))
    atexit.register(_close_group)
    return World(dist.get_rank(), dist.get_world_size())

