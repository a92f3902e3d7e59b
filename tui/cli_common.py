"""What every `llm-tui` subcommand shares: exit codes, the one-line error, the argument parser, model flags."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag on one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"llm-tui: error: {message} (see `{self.prog} --help`)\n")


def fail(message: str, code: int) -> int:
    """Print the one-line error and return the exit code."""
    print(f"llm-tui: error: {message}", file=sys.stderr)
    return code


def add_model_options(p: argparse.ArgumentParser) -> None:
    """--device, --dtype, --quant, --cache-dir, --trust-remote-code: where and how a model is loaded."""
    from core.devices import DEVICES, DTYPES, QUANTS

    p.add_argument("--device", default="auto", choices=DEVICES, help="default %(default)s: cuda, mps, then cpu")
    p.add_argument(
        "--dtype",
        default="auto",
        choices=DTYPES,
        help="default auto: bfloat16 on CUDA/bf16 CPUs, float16 on mps, else float32",
    )
    p.add_argument("--quant", default="none", choices=QUANTS, help="bitsandbytes quantization (4bit = NF4)")
    p.add_argument(
        "--device-map",
        choices=("auto",),
        help="auto: spread the model's layers over the local GPUs (a model too big for one; CUDA only)",
    )
    p.add_argument("--cache-dir", help="asset and converted-model cache (default $LLM_TUI_CACHE or ~/.cache/llm-tui)")
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow a hub model's own Python code to run (off unless you ask)",
    )


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """--backend, --base-url, --api-key-env, --concurrency: where the model runs (this process or a server)."""
    from core.config import BACKENDS

    p.add_argument(
        "--backend",
        choices=BACKENDS,
        help="transformers (default), llamacpp (a GGUF in-process; the [llamacpp] extra) or openai (any "
        "OpenAI-compatible server; implied by --base-url)",
    )
    p.add_argument(
        "--base-url",
        action="append",
        metavar="URL",
        help="the server, e.g. http://127.0.0.1:8000/v1; repeat (or comma-separate) for replicas of one model, "
        "which share the documents; --model then names the served model (default: the server's only one)",
    )
    p.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="the environment variable holding the server's API key (the key is sent, never saved)",
    )
    p.add_argument(
        "--concurrency", type=int, help="requests in flight per server replica, or llama.cpp slots (default 4)"
    )
    p.add_argument(
        "--request-timeout", type=float, metavar="SECONDS", help="a server request's time limit, then retried (120)"
    )


def backend_fields(ns: argparse.Namespace) -> dict[str, Any]:
    """The EvalConfig fields of the backend options; --base-url alone means --backend openai."""
    urls = ",".join(ns.base_url) if ns.base_url else None
    backend = ns.backend or ("openai" if urls else "transformers")
    return {
        "backend": backend,
        "base_url": urls,
        "api_key_env": ns.api_key_env,
        "concurrency": ns.concurrency,
        "request_timeout": ns.request_timeout,
    }


STOP_SIGNALS = tuple(
    s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None
)


def install_stop_signals(cancel: threading.Event, stopping: str) -> Callable[[], None]:
    """Ctrl+C, SIGTERM (kill, systemd, timeout) and SIGHUP (a closed SSH session) all ask for a clean stop.

    The first sets ``cancel`` and prints ``stopping`` (the work stops after what is in flight, with its progress
    saved); a second one raises KeyboardInterrupt (stop at once). Returns a function restoring the previous
    handlers. Outside the main thread (tests driving the CLI from a worker) nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        name = signal.Signals(signum).name
        again = "Ctrl+C again" if signum == signal.SIGINT else f"{name} again"
        print(f"\n{name}: {stopping} ({again} to stop at once)...", file=sys.stderr)

    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, handler)

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore


def foreseeable_os_error(exc: OSError) -> str | None:
    """A file-system error a user can cause (full disk, read-only, permissions, a file in the way) that slipped
    past the checks, as the one line to print; None for anything else (a real bug: reported as unexpected)."""
    import errno

    from core.fsutil import fs_error

    causes = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST)
    if exc.errno not in causes:
        return None
    return str(fs_error(exc, exc.filename or "a file", "path"))
