"""Which devices exist, which dtype each runs best in, and which quantizations can run where."""

from __future__ import annotations

import functools
import importlib.util
import platform
from dataclasses import dataclass
from pathlib import Path

from .errors import UserInputError

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "float32", "bfloat16", "float16")
QUANTS = ("none", "8bit", "4bit")


@dataclass(frozen=True)
class DeviceInfo:
    name: str  # "cpu", "cuda", "mps"
    label: str  # human description: GPU name, CPU model
    memory_bytes: int | None
    bf16: bool  # runs bfloat16 at full speed


@functools.cache
def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_fast_bf16() -> bool:
    """AVX-512-BF16 or AMX: bfloat16 matrix work is native, and faster than float32."""
    flags = cpu_flags()
    return bool({"avx512_bf16", "amx_bf16"} & flags)


@functools.cache
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def available_devices() -> list[DeviceInfo]:
    """Devices present on this machine, CPU last. Imports torch."""
    import psutil
    import torch

    found: list[DeviceInfo] = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            name = "cuda" if i == 0 else f"cuda:{i}"
            found.append(DeviceInfo(name, props.name, props.total_memory, torch.cuda.is_bf16_supported()))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append(DeviceInfo("mps", "Apple GPU (Metal)", None, False))
    found.append(DeviceInfo("cpu", cpu_name(), psutil.virtual_memory().total, cpu_fast_bf16()))
    return found


def resolve_device(requested: str) -> str:
    """'auto' becomes cuda, then mps, then cpu; an absent device is refused."""
    import torch

    if requested not in DEVICES and not requested.startswith("cuda:"):
        raise UserInputError(f"unknown device '{requested}'; use one of {', '.join(DEVICES)}")
    has_cuda = torch.cuda.is_available()
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        return "cuda" if has_cuda else "mps" if has_mps else "cpu"
    if requested.startswith("cuda") and not has_cuda:
        why = "this torch is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise UserInputError(f"--device {requested}: {why}; use --device cpu (or auto)")
    if requested == "mps" and not has_mps:
        raise UserInputError("--device mps: Apple Metal is not available here; use --device cpu (or auto)")
    return requested


def resolve_dtype(requested: str, device: str) -> str:
    """'auto': bfloat16 on CUDA with bf16 and on CPUs with AVX-512-BF16/AMX, float16 on MPS, else float32."""
    if requested not in DTYPES:
        raise UserInputError(f"unknown dtype '{requested}'; use one of {', '.join(DTYPES)}")
    if requested != "auto":
        if requested == "bfloat16" and device == "mps":
            raise UserInputError("--dtype bfloat16 is not supported on mps; use float16 or float32")
        return requested
    if device.startswith("cuda"):
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device == "mps":
        return "float16"
    return "bfloat16" if cpu_fast_bf16() else "float32"


def quant_problem(quant: str, device: str) -> str | None:
    """Why ``quant`` cannot run on ``device`` here, or None when it can. Never loads a model."""
    if quant not in QUANTS:
        return f"unknown quantization '{quant}'; use one of {', '.join(QUANTS)}"
    if quant == "none":
        return None
    if device == "mps":
        return f"--quant {quant} needs bitsandbytes, which does not run on mps; use --quant none or --device cpu"
    if importlib.util.find_spec("bitsandbytes") is None:
        return f"--quant {quant} needs bitsandbytes; install it with `pip install bitsandbytes` or use --quant none"
    if device == "cpu":
        from importlib.metadata import version

        try:
            major, minor = (int(x) for x in version("bitsandbytes").split(".")[:2])
        except ValueError:
            return None
        if (major, minor) < (0, 46):
            return (
                f"--quant {quant} on cpu needs bitsandbytes 0.46 or newer (found {version('bitsandbytes')}); "
                "run `pip install -U bitsandbytes`, or use --device cuda"
            )
    return None


def check_combination(device: str, dtype: str, quant: str) -> None:
    """Refuse, before any loading, a device/dtype/quantization combination that cannot run."""
    problem = quant_problem(quant, device)
    if problem:
        raise UserInputError(problem)
