"""Wall, process CPU and GPU time, peak memory, and throughput for a stretch of work."""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass
from typing import Any


def peak_rss_bytes() -> int:
    """The process's peak resident set size so far."""
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
    peak_rss: int = 0
    peak_gpu: int | None = None
    _wall0: float = 0.0
    _cpu0: float = 0.0

    def start(self) -> None:
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        reset_gpu_peak(self.device)

    def stop(self, questions: int, prompt_tokens: int, gpu_ms: float | None) -> None:
        self.wall_s += time.perf_counter() - self._wall0
        self.cpu_s += time.process_time() - self._cpu0
        self.questions += questions
        self.prompt_tokens += prompt_tokens
        if gpu_ms is not None:
            self.gpu_ms = (self.gpu_ms or 0.0) + gpu_ms
        self.peak_rss = max(self.peak_rss, peak_rss_bytes())
        gpu_peak = gpu_peak_bytes(self.device)
        if gpu_peak is not None:
            self.peak_gpu = max(self.peak_gpu or 0, gpu_peak)

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 4),
            "cpu_s": round(self.cpu_s, 4),
            "gpu_s": None if self.gpu_ms is None else round(self.gpu_ms / 1000, 4),
            "questions": self.questions,
            "prompt_tokens": self.prompt_tokens,
            "questions_per_s": round(self.questions / self.wall_s, 3) if self.wall_s else None,
            "tokens_per_s": round(self.prompt_tokens / self.wall_s, 1) if self.wall_s else None,
            "peak_rss_bytes": self.peak_rss,
            "peak_gpu_bytes": self.peak_gpu,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, device: str) -> Meter:
        m = cls(device=device)
        if d:
            m.wall_s = float(d.get("wall_s") or 0.0)
            m.cpu_s = float(d.get("cpu_s") or 0.0)
            m.gpu_ms = None if d.get("gpu_s") is None else float(d["gpu_s"]) * 1000
            m.questions = int(d.get("questions") or 0)
            m.prompt_tokens = int(d.get("prompt_tokens") or 0)
            m.peak_rss = int(d.get("peak_rss_bytes") or 0)
            m.peak_gpu = d.get("peak_gpu_bytes")
        return m

    def merged(self, other: Meter) -> Meter:
        m = Meter(device=self.device)
        m.wall_s = self.wall_s + other.wall_s
        m.cpu_s = self.cpu_s + other.cpu_s
        if self.gpu_ms is not None or other.gpu_ms is not None:
            m.gpu_ms = (self.gpu_ms or 0.0) + (other.gpu_ms or 0.0)
        m.questions = self.questions + other.questions
        m.prompt_tokens = self.prompt_tokens + other.prompt_tokens
        m.peak_rss = max(self.peak_rss, other.peak_rss)
        if self.peak_gpu is not None or other.peak_gpu is not None:
            m.peak_gpu = max(self.peak_gpu or 0, other.peak_gpu or 0)
        return m
