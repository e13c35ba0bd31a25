"""Which number format a run computes in, decided from what the processor can do.

bfloat16 autocast speeds training up only where the hardware has bf16 arithmetic: on a
2-core AMD EPYC with AVX512-BF16 a Pix2Pix step ran 1.5x faster in bf16, on one with AVX2
only it ran 16x slower (0.7 against 11.5 images/s), because every bf16 operation is
emulated. So ``auto`` picks bf16 on a CPU only where the processor reports native bf16
(AVX512-BF16 or AMX on x86, the BF16 extension on Arm), and on CUDA bf16 where the GPU
supports it, else fp16 with a gradient scaler.
"""

from __future__ import annotations

import os
import platform
import sys
from contextlib import nullcontext
from functools import lru_cache

import torch

from ..presets import PRECISIONS

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# Measured on a 2-core AMD EPYC with AVX2 only (benchmarks/README.md): Pix2Pix cpu-profile step.
EMULATED_BF16_SLOWDOWN = "16x slower there (0.7 against 11.5 images/s for a Pix2Pix step on a 2-core AVX2-only EPYC)"


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's entries of /proc/cpuinfo (empty where Linux does not give it)."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


# oneDNN, which runs PyTorch's CPU convolutions, can be capped below what the processor
# has (ONEDNN_MAX_CPU_ISA=AVX2): then only the features up to the cap count. Each cap
# here removes the flags of the instructions it forbids.
_ISA_CAPS = {
    "SSE41": ("avx", "f16c", "fma"), "AVX": ("avx2", "fma"), "AVX2": ("avx512", "amx"), "AVX2_VNNI": ("avx512", "amx"),
    "AVX2_VNNI_2": ("avx512", "amx"), "AVX512_CORE": ("avx512_bf16", "avx512_fp16", "amx"),
    "AVX512_CORE_VNNI": ("avx512_bf16", "avx512_fp16", "amx"), "AVX512_CORE_BF16": ("avx512_fp16", "amx"),
    "AVX512_CORE_FP16": ("amx",), "AVX10_1_512": ("amx",),
}


def isa_cap() -> str:
    """The oneDNN instruction-set cap in force, or '' for none."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or ""
    return cap.upper() if cap.upper() in _ISA_CAPS else ""


def cpu_flags() -> frozenset[str]:
    """The processor's feature flags as Linux reports them (empty where unknown), less
    those above a oneDNN cap (isa_cap)."""
    info = _cpuinfo()
    flags = frozenset((info.get("flags") or info.get("Features") or "").split())
    forbidden = _ISA_CAPS.get(isa_cap(), ())
    return frozenset(f for f in flags if not f.startswith(forbidden)) if forbidden else flags


def native_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU computes in bfloat16 natively (not by emulation)."""
    flags = cpu_flags() if flags is None else flags
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def cpu_capability(flags: frozenset[str] | None = None) -> str:
    """One line naming the processor and its vector and bf16 features, printed beside
    every timing so that numbers from different machines are never compared blind."""
    flags = cpu_flags() if flags is None else flags
    name = _cpuinfo().get("model name") or platform.processor() or platform.machine()
    if not flags:
        return f"{name}, {torch.backends.cpu.get_cpu_capability()} (feature flags unknown)"
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "NEON" if "asimd" in flags else "no AVX2"
    bf16 = [label for flag, label in (("avx512_bf16", "AVX512-BF16"), ("amx_bf16", "AMX"), ("bf16", "Arm BF16")) if flag in flags]
    cap = f" (oneDNN capped at {isa_cap()})" if isa_cap() else ""
    return f"{name}, {vector}, " + (" + ".join(bf16) + " (native bf16)" if bf16 else "no native bf16") + cap


def describe_device(device: torch.device) -> str:
    """What a timing was measured on: the CPU with its capability, or the GPU's name."""
    if device.type == "cpu":
        return cpu_capability()
    return torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)


def resolve_precision(requested: str, device: torch.device, flags: frozenset[str] | None = None, warn: bool = True) -> str:
    """The precision a run on `device` computes in: 'fp32', 'bf16' or 'fp16'. Asking for
    bf16 (or fp16) on a CPU without native support prints one line and gives fp32."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r}: expected one of {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        if requested == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return requested
    if device.type != "cpu" or requested == "fp32":
        return "fp32"
    native = native_bf16(flags)
    if requested == "auto":
        return "bf16" if native else "fp32"
    if requested == "bf16" and native:
        return "bf16"
    if warn:
        why = (f"this CPU ({cpu_capability(flags)}) has no native bf16 and emulating it is {EMULATED_BF16_SLOWDOWN}"
               if requested == "bf16" else "fp16 autocast is for GPUs")
        print(f"note: {requested} asked for, but {why}; training in fp32", file=sys.stderr)
    return "fp32"


def autocast(device: torch.device, precision: str):
    """The autocast context of a resolved precision (none for fp32)."""
    return torch.autocast(device.type, dtype=DTYPES[precision]) if precision in DTYPES else nullcontext()


def pick_device(name: str = "auto") -> torch.device:
    """'auto' means CUDA when a GPU is present, else the CPU; a device that is not there is
    refused by name."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name}: not a device; expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"--device {name}: this machine has no CUDA GPU that PyTorch can use; use --device cpu (or auto)")
        if device.index is not None and device.index >= count:
            raise ValueError(f"--device {name}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    elif device.type != "cpu":
        raise ValueError(f"--device {name}: derain runs on cpu or cuda")
    return device
