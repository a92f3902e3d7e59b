"""Wall, process CPU and GPU time, peak memory, and throughput for a stretch of work."""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from dataclasses import dataclass

from .schema import Timing


def reset_peak_rss() -> None:
    """Start a new peak-RSS measurement (Linux: the kernel's high-water mark VmHWM, reset through
    /proc/self/clear_refs), so a run's peak is its own and not that of a model an earlier run in the same
    process loaded. Elsewhere the peak stays the process's since it started."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_bytes() -> int:
    """Peak resident set size since ``reset_peak_rss`` (Linux), else the process's peak so far."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def gpu_peak_bytes(device: str) -> int | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return int(torch.cuda.max_memory_allocated())


def reset_gpu_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()


@dataclass
class Meter:
    """Accumulates the cost of one subject (or one whole run) across batches and sessions."""

    device: str = "cpu"
    wall_s: float = 0.0
    cpu_s: float = 0.0
    gpu_ms: float | None = None
    questions: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    peak_rss: int = 0
    peak_gpu: int | None = None
    _wall0: float = 0.0
    _cpu0: float = 0.0

    def start(self) -> None:
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        reset_gpu_peak(self.device)

    def stop(self, questions: int, prompt_tokens: int, gpu_ms: float | None, generated_tokens: int = 0) -> None:
        self.wall_s += time.perf_counter() - self._wall0
        self.cpu_s += time.process_time() - self._cpu0
        self.questions += questions
        self.prompt_tokens += prompt_tokens
        self.generated_tokens += generated_tokens
        if gpu_ms is not None:
            self.gpu_ms = (self.gpu_ms or 0.0) + gpu_ms
        self.peak_rss = max(self.peak_rss, peak_rss_bytes())
        gpu_peak = gpu_peak_bytes(self.device)
        if gpu_peak is not None:
            self.peak_gpu = max(self.peak_gpu or 0, gpu_peak)

    def as_timing(self) -> Timing:
        tokens = self.prompt_tokens + self.generated_tokens
        return Timing(
            wall_s=round(self.wall_s, 4),
            cpu_s=round(self.cpu_s, 4),
            gpu_s=None if self.gpu_ms is None else round(self.gpu_ms / 1000, 4),
            questions=self.questions,
            prompt_tokens=self.prompt_tokens,
            generated_tokens=self.generated_tokens,
            questions_per_s=round(self.questions / self.wall_s, 3) if self.wall_s else None,
            tokens_per_s=round(tokens / self.wall_s, 1) if self.wall_s else None,
            peak_rss_bytes=self.peak_rss,
            peak_gpu_bytes=self.peak_gpu,
        )

    @classmethod
    def from_timing(cls, t: Timing | None, device: str) -> Meter:
        m = cls(device=device)
        if t is not None:
            m.wall_s = t.wall_s
            m.cpu_s = t.cpu_s
            m.gpu_ms = None if t.gpu_s is None else t.gpu_s * 1000
            m.questions = t.questions
            m.prompt_tokens = t.prompt_tokens
            m.generated_tokens = t.generated_tokens
            m.peak_rss = t.peak_rss_bytes
            m.peak_gpu = t.peak_gpu_bytes
        return m

    def merged(self, other: Meter) -> Meter:
        m = Meter(device=self.device)
        m.wall_s = self.wall_s + other.wall_s
        m.cpu_s = self.cpu_s + other.cpu_s
        if self.gpu_ms is not None or other.gpu_ms is not None:
            m.gpu_ms = (self.gpu_ms or 0.0) + (other.gpu_ms or 0.0)
        m.questions = self.questions + other.questions
        m.prompt_tokens = self.prompt_tokens + other.prompt_tokens
        m.generated_tokens = self.generated_tokens + other.generated_tokens
        m.peak_rss = max(self.peak_rss, other.peak_rss)
        if self.peak_gpu is not None or other.peak_gpu is not None:
            m.peak_gpu = max(self.peak_gpu or 0, other.peak_gpu or 0)
        return m
