"""Training on several GPUs or machines: `torchrun --nproc_per_node N -m derain_utils train ...`.

torchrun starts one process per GPU and tells each its rank through the environment.
Every process builds the same networks (same seed; DistributedDataParallel also
broadcasts rank 0's weights) and takes its share of each global batch: the batch size
of the profile is the global one, so N GPUs run the same optimisation as one GPU with
the whole batch. Gradients are averaged by DistributedDataParallel; rank 0 alone
validates, prints and writes the checkpoint.

Batch norm stays per GPU: each process normalises its own share of the batch, as
nn.DataParallel does in pix2pix's PyTorch code. SyncBatchNorm would reproduce the one-GPU statistics
exactly, but it all-reduces at each of the U-Net's 11 and the PatchGAN's 3 batch-norm
layers in every forward pass, three discriminator passes a step, and it does not run on
CPUs, where the gloo backend tests this code.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Rank:
    rank: int = 0
    world: int = 1
    local: int = 0

    @property
    def main(self) -> bool:
        """The process that validates, prints and writes."""
        return self.rank == 0


def main_process() -> bool:
    """Whether this is rank 0 (or the only process)."""
    return int(os.environ.get("RANK", "0")) == 0


def join() -> Rank:
    """This process's place in a torchrun launch (rank 0 of 1 without one); the process
    group is started on first use: NCCL between GPUs, gloo between CPU processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Rank()
    rank = Rank(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return rank


def device_of(rank: Rank, device: torch.device) -> torch.device:
    """One GPU per process: the local rank's."""
    if device.type == "cuda" and rank.world > 1:
        torch.cuda.set_device(rank.local)
        return torch.device("cuda", rank.local)
    return device


def wrap(module: torch.nn.Module, rank: Rank) -> torch.nn.Module:
    """The module itself in one process, else in DistributedDataParallel."""
    if rank.world == 1:
        return module
    on_gpu = next(module.parameters()).is_cuda
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=[rank.local] if on_gpu else None)


def steps_per_epoch(items: int, batch: int, rank: Rank) -> int:
    """Steps of an epoch: several processes leave out a last, incomplete global batch,
    which could not give every process a share."""
    return math.ceil(items / batch) if rank.world == 1 else items // batch


def share(order: torch.Tensor, batch: int, rank: Rank) -> list[int]:
    """This rank's items of an epoch: its slice of every global batch, so that the
    ranks' batches of one step together are the one-process batch of that step."""
    if batch % rank.world:
        raise ValueError(f"batch size {batch} cannot be shared by {rank.world} processes; use a multiple of {rank.world}")
    if rank.world == 1:
        return order.tolist()
    per = batch // rank.world
    return [int(i) for first in range(0, steps_per_epoch(len(order), batch, rank) * batch, batch)
            for i in order[first + rank.rank * per : first + (rank.rank + 1) * per]]


def _collective(tensor: torch.Tensor) -> torch.Tensor:
    """NCCL moves only GPU tensors."""
    return tensor.cuda() if dist.get_backend() == "nccl" else tensor


def same_order(order: torch.Tensor, rank: Rank) -> torch.Tensor:
    """Rank 0's order of the epoch, on every rank (their random streams differ)."""
    if rank.world == 1:
        return order
    order = _collective(order)
    dist.broadcast(order, src=0)
    return order.cpu()


def mean_over_ranks(values: dict[str, float], rank: Rank) -> dict[str, float]:
    """A step's losses and accuracies averaged over the ranks: the global batch's."""
    if rank.world == 1:
        return values
    tensor = _collective(torch.tensor(list(values.values()), dtype=torch.float64))
    dist.all_reduce(tensor)
    return dict(zip(values, (tensor / rank.world).tolist()))


def gather(obj, rank: Rank) -> list:
    """Every rank's `obj` (a random state, say), in rank order."""
    if rank.world == 1:
        return [obj]
    objects = [None] * rank.world
    dist.all_gather_object(objects, obj)
    return objects


def leave() -> None:
    """End this process's part in a torchrun launch, if it had one."""
    if dist.is_initialized():
        dist.destroy_process_group()
