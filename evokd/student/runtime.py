"""Where and how the student trains: device, mixed precision and this process's share of the work.

One training loop (`evokd.student.loop.fit`) serves a plain CPU run, a GPU and several DDP
processes started by `accelerate launch` (see `evokd.student.launch`). Hugging Face `accelerate`
does the device placement, the gradient all-reduce and mixed precision; this module only decides
what to ask it for, in pure functions that can be tested without a GPU:

- `train.device: auto` trains on CUDA when torch sees a GPU, else on the CPU; `cpu` forces the
  CPU; `cuda` insists on a GPU and stops with a ConfigError when there is none.
- Evaluation, the simulated teacher's scoring and the pool embeddings run on the same device,
  in fp32 (`inference_device`).
- `train.precision: auto` trains with mixed precision wherever the hardware does it natively:
  on CUDA in bf16 where the GPU supports it (Ampere and later), else fp16 (with loss scaling);
  on a CPU with native bf16 (AVX512-BF16 or AMX) in bf16 autocast, 1.6x faster than fp32 for
  MiniLM on this project's 2-core machine (BENCHMARKS.md); other CPUs train in fp32 (emulated
  bf16 is slower there). The weights, the optimizer and the checkpoint stay fp32 everywhere.
  `fp32` gives the same numbers on every CPU; `bf16` and `fp16` insist.
- Under DDP every process draws the same batch order (same seed) and takes every N-th batch;
  the last round of batches is topped up with repeats so that all processes step the same number
  of times (DDP hangs otherwise), and repeats do not count in the reported loss.
"""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass

from evokd.config import TrainConfig
from evokd.errors import ConfigError


@dataclass(frozen=True)
class Placement:
    """The device the student trains on and the mixed precision mode `accelerate` uses there."""

    device: str  # "cpu" | "cuda"
    precision: str  # "no" | "bf16" | "fp16" (accelerate's names)

    @property
    def precision_name(self) -> str:
        """As `train.precision` spells it, for logs and meta files: fp32 | bf16 | fp16."""
        return "fp32" if self.precision == "no" else self.precision


PRECISIONS = typing.get_args(TrainConfig.model_fields["precision"].annotation)  # auto, fp32, bf16, fp16


def select_placement(requested: str, cuda_available: bool, bf16_supported: bool,
                     precision: str = "auto", cpu_bf16: bool = False) -> Placement:
    """Resolve `train.device` (auto | cpu | cuda) and `train.precision` (auto | fp32 | bf16 | fp16)
    against what torch sees: `bf16_supported` for the GPU, `cpu_bf16` for native bf16 on the CPU."""
    if requested not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"train.device: {requested!r} is not one of auto, cpu, cuda")
    if precision not in PRECISIONS:
        raise ConfigError(f"train.precision: {precision!r} is not one of {', '.join(PRECISIONS)}")
    if requested == "cuda" and not cuda_available:
        raise ConfigError("train.device is cuda but torch sees no CUDA GPU (torch.cuda.is_available() is "
                          "False): install a CUDA build of torch on a GPU machine, or set train.device: auto")
    device = "cpu" if requested == "cpu" or not cuda_available else "cuda"
    if precision == "fp32":
        return Placement(device, "no")
    if device == "cpu":
        if precision == "fp16":
            raise ConfigError("train.precision: fp16 needs a CUDA GPU; on the CPU use bf16, fp32 or auto")
        return Placement("cpu", "bf16" if precision == "bf16" or cpu_bf16 else "no")
    if precision == "bf16" and not bf16_supported:
        raise ConfigError("train.precision: bf16 but this GPU has no bf16 (before Ampere): use fp16 or auto")
    if precision == "fp16":
        return Placement("cuda", "fp16")
    return Placement("cuda", "bf16" if bf16_supported else "fp16")


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 in hardware (AVX512-BF16 or AMX), where bf16 autocast
    pays off; elsewhere torch emulates it, slower than fp32. torch's own check (private API,
    hence the guard: an older or newer torch without it gets fp32)."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def detect_placement(requested: str, precision: str = "auto") -> Placement:
    """`select_placement` with what this machine's torch reports."""
    import torch

    cuda = torch.cuda.is_available()
    return select_placement(requested, cuda, bool(cuda and torch.cuda.is_bf16_supported()), precision,
                            cpu_bf16=precision == "auto" and cpu_has_native_bf16())


def inference_device(requested: str) -> str:
    """Where predictions and embeddings run, for `train.device`: the training device.

    Inference stays in fp32 there: MiniLM is small enough that a GPU is not the bottleneck, and
    fp32 keeps a GPU's scores next to the CPU's (bf16 flips the argmax of near-ties)."""
    return detect_placement(requested).device


def world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless started by a distributed launcher."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True in a plain run and in rank 0 of a distributed one (the process that writes files)."""
    return world()[0] == 0


def local_threads(threads: int | None) -> int:
    """Intra-op threads per process: `train.threads`, else the cores split among the processes
    of this machine (two processes with all cores each would fight over them)."""
    if threads:
        return threads
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, (os.cpu_count() or 1) // max(1, local))


def shard(batches: list[list[int]], rank: int, size: int) -> list[tuple[list[int], bool]]:
    """This process's batches, each with whether its loss counts (False for a top-up repeat).

    Every process gets ceil(len(batches) / size) batches: batch i goes to process i % size, and
    the missing tail is filled with batches from the start of the list.
    """
    if size <= 1:
        return [(b, True) for b in batches]
    if not batches:
        return []
    per = -(-len(batches) // size)
    out = []
    for step in range(per):
        i = step * size + rank
        out.append((batches[i], True) if i < len(batches) else (batches[i % len(batches)], False))
    return out


def make_accelerator(device: str, precision: str = "auto"):
    """An `accelerate.Accelerator` for `train.device` and `train.precision`, and the Placement it
    was built for."""
    from accelerate import Accelerator

    placement = detect_placement(device, precision)
    return fresh_accelerator(Accelerator, placement), placement


def fresh_accelerator(accelerator_cls, placement: Placement):
    """Build an Accelerator for `placement` even when an earlier one in this process chose
    another device or precision.

    accelerate keeps one process-wide state and refuses a second Accelerator with other
    settings ("AcceleratorState has already been initialized"): a GPU run followed by
    `train.device: cpu` in one Python process (a notebook, a test, the simulated teacher's
    student) failed on a GPU machine. In a single process the state holds nothing else worth
    keeping, so it is reset; under a distributed launcher it is left alone (it holds the
    process group)."""
    if world()[1] == 1:
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    return accelerator_cls(cpu=placement.device == "cpu", mixed_precision=placement.precision)
