"""llama.cpp in this process, through xllamacpp (the optional extra: ``pip install -e .[llamacpp]``).

xllamacpp embeds llama.cpp's server without opening a port (``no_host``): its ``handle_completions`` takes and
returns the same JSON as a llama.cpp server's ``/v1/completions``, so ServerBackend scores through it exactly as
through a server, with ``n_parallel`` slots serving concurrent requests. llama.cpp's own log is switched off
(verbosity -1): it writes to the terminal the app draws on. A GGUF runs at its file's own quantization.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError, UserInputError
from .server import ModelClient, Replica, ServerError, ServerSpec, ServerStats

EXTRA_HINT = "llama.cpp is an optional extra: pip install -e '.[llamacpp]' (or pip install xllamacpp)"


def available() -> str | None:
    """None when xllamacpp imports, else why not (the setup screen greys the choice out with it)."""
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        return EXTRA_HINT
    return None


class LlamaCppClient(ModelClient):
    label = "llamacpp"

    def __init__(self, gguf: Path, alias: str, concurrency: int = 4, context: int = 4096) -> None:
        try:
            import xllamacpp as xlc
        except ImportError:
            raise UserInputError(f"--backend llamacpp: {EXTRA_HINT}") from None
        self.alias = alias
        self.spec = ServerSpec(("llama.cpp in-process",), alias, None, concurrency)
        self.replicas = [Replica("llama.cpp in-process")]
        self._lock = threading.Lock()
        params = xlc.CommonParams()
        params.model.path = str(gguf)
        params.model_alias = {alias}  # a set of names (a str would be taken letter by letter)
        params.n_parallel = concurrency
        params.n_ctx = context * concurrency  # the slots share the context: each gets ``context`` tokens
        threads = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.no_host = True  # no port: requests are function calls
        params.verbosity = -1  # llama.cpp would write its log over the app's screen
        try:
            self._server = xlc.Server(params)
        except Exception as exc:  # llama.cpp reports a bad file as a runtime error
            raise ModelLoadError(f"llama.cpp could not load {gguf.name}: {exc}; check the GGUF file") from None

    def close(self) -> None:
        self._server = None

    def stats(self) -> ServerStats:
        with self._lock:
            r = self.replicas[0]
            return ServerStats(r.in_flight, r.requests, 0, [(r.url, True)])

    def stream(self, path: str, body: dict[str, Any], on_chunk: Callable[[dict[str, Any]], bool]) -> None:
        """llama.cpp calls back with each chunk (a dict, as a server's SSE event); True from ``on_chunk`` stops it."""
        if self._server is None:
            raise ServerError("the llama.cpp model was closed")

        def callback(chunk: Any) -> bool:
            if isinstance(chunk, str):
                chunk = json.loads(chunk)
            if isinstance(chunk, dict) and "error" in chunk and "choices" not in chunk:
                raise ServerError(f"llama.cpp: {chunk['error']}")
            return bool(on_chunk(chunk)) if isinstance(chunk, dict) else False

        self._server.handle_completions(dict(body, stream=True), callback)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if method == "GET" and path == "/models":
            return {"data": [{"id": self.alias}]}
        if self._server is None:
            raise ServerError("the llama.cpp model was closed")
        replica = self.replicas[0]
        with self._lock:
            replica.in_flight += 1
            replica.requests += 1
        try:
            if path == "/completions":
                answer = self._server.handle_completions(dict(body or {}))
            elif path == "/chat/completions":
                answer = self._server.handle_chat_completions(dict(body or {}))
            else:
                raise ServerError(f"llama.cpp in-process has no {path}")
        finally:
            with self._lock:
                replica.in_flight -= 1
        if not isinstance(answer, dict):
            raise ServerError(f"llama.cpp answered {type(answer).__name__}, not a JSON object")
        if "error" in answer and "choices" not in answer:
            error = answer["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise ServerError(f"llama.cpp: {message}")
        return answer
