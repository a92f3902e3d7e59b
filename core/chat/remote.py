"""Chat with a model that runs elsewhere: an OpenAI-compatible server, or llama.cpp in-process (issue 12).

The conversation is still planned here, with the model's own tokenizer, so the context strategies, the token
budget and the context meter stay exact: the prompt goes to the server as token ids (``/v1/completions`` takes a
list of ids; vLLM and llama.cpp both do), and the reply streams back over SSE (or llama.cpp's callback in-process).
The tokenizer comes from the served model's name when it is an llm-tui model (an alias, a folder, a hub id), or
from ``--tokenizer``; without one a chat is refused with the reason, never planned on guessed token counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backends.server import ModelClient, ServerError
from ..errors import UserInputError
from ..models import ModelSource, converted_folder, describe_spec
from ..schema import ModelInfo
from .generation import SPEAKER_LINE, GenerationResult
from .settings import GenerationSettings


def load_tokenizer(spec: str, cache: Path, gguf: Path | None = None) -> Any:
    """The tokenizer of ``spec`` (alias, folder, .gguf, hub id) without loading any weights."""
    from transformers import AutoTokenizer

    from .. import assets

    if gguf is None:
        source = describe_spec(spec)
        if source.kind == "folder" and source.path is not None:
            return AutoTokenizer.from_pretrained(str(source.path))
        if source.kind == "hub":
            return AutoTokenizer.from_pretrained(source.hub_id or spec)
        gguf = source.path if source.kind == "gguf" and source.path else assets.ensure(spec, cache)
    folder = converted_folder(gguf, cache)
    if (folder / "tokenizer.json").is_file():  # converted before: its tokenizer files load at once
        return AutoTokenizer.from_pretrained(str(folder))
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


@dataclass
class RemoteModel:
    """What a ChatSession needs from a model, when generation happens elsewhere."""

    source: ModelSource
    info: ModelInfo
    tokenizer: Any
    client: ModelClient
    served_name: str
    remote: bool = True
    model: Any = None  # no local weights

    @property
    def device(self) -> str:
        return self.info.device

    def generate(
        self,
        prompt_ids: Sequence[int],
        settings: GenerationSettings,
        stop: threading.Event,
        on_delta: Callable[[str, int], None] | None,
        stop_strings: Sequence[str] = (),
    ) -> GenerationResult:
        body: dict[str, Any] = {
            "model": self.served_name,
            "prompt": [int(x) for x in prompt_ids],
            "max_tokens": settings.max_new_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if settings.greedy:
            body["temperature"] = 0
        else:
            body.update(temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
            if settings.seed is not None:
                body["seed"] = settings.seed
        if settings.repetition_penalty != 1.0:
            body["repetition_penalty"] = settings.repetition_penalty
        # A server stops at plain strings; the fallback format's "a new line opening with a speaker's label" rule
        # becomes the labels it uses (cut here too, should a server ignore ``stop``).
        stops = [s for s in stop_strings if isinstance(s, str) and s != SPEAKER_LINE]
        if SPEAKER_LINE in stop_strings:
            stops += ["\nAssistant:", "\nUser:"]
        stops = list(dict.fromkeys(stops))
        if stops:
            body["stop"] = stops[:4]
        started = time.perf_counter()
        if stop.is_set():
            return GenerationResult("", [], "stopped", None, None, 0.0)
        text: list[str] = []
        pieces = 0
        first: float | None = None
        last: float | None = None
        finish = "length"
        completion_tokens: int | None = None

        def on_chunk(chunk: dict[str, Any]) -> bool:
            nonlocal pieces, first, last, finish, completion_tokens
            usage = chunk.get("usage")
            if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
                completion_tokens = int(usage["completion_tokens"])
            for choice in chunk.get("choices") or []:
                delta = choice.get("text") or ""
                if delta:
                    now = time.perf_counter()
                    first = first if first is not None else now
                    last = now
                    pieces += 1
                    text.append(delta)
                    if on_delta is not None:
                        on_delta(delta, pieces)
                reason = choice.get("finish_reason")
                if reason:
                    finish = {"stop": "eos", "length": "length"}.get(reason, reason)
            return stop.is_set()  # True: stop the stream now

        self.client.stream("/completions", body, on_chunk)
        total = time.perf_counter() - started
        reply = "".join(text)
        cut = min((reply.index(s) for s in stops if s in reply), default=None)
        if cut is not None:
            reply = reply[:cut]
        if stop.is_set():
            finish = "stopped"
        elif cut is not None:
            finish = "stop_string"
        # the server's count (usage), else the reply re-tokenized here
        n = (
            completion_tokens
            if completion_tokens is not None
            else len(self.tokenizer.encode(reply, add_special_tokens=False))
        )
        speed = (n - 1) / (last - first) if first is not None and last is not None and n > 1 and last > first else None
        ttft = None if first is None else first - started
        return GenerationResult(
            reply.strip(), [], finish, ttft, speed, total, token_count=n
        )  # a completion often opens with " "


def connect_remote(
    backend: str,
    spec: str,
    cache: Path,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    tokenizer: str | None = None,
    concurrency: int = 2,
    on_notice: Callable[[str], None] | None = None,
) -> RemoteModel:
    """A chat model on ``backend`` (llamacpp or openai); the server is asked for its model and context first."""
    from .. import assets

    if backend == "llamacpp":
        from ..backends.llamacpp import LlamaCppClient

        source = describe_spec(spec)
        if source.kind not in ("gguf", "alias"):
            raise UserInputError(f"--backend llamacpp runs GGUF files; {spec} is not one (give a .gguf or an alias)")
        gguf = source.path if source.kind == "gguf" and source.path else assets.ensure(spec, cache)
        t0 = time.perf_counter()
        client: ModelClient = LlamaCppClient(gguf, source.slug, concurrency)
        tok = load_tokenizer(spec, cache, gguf)
        info = ModelInfo(spec=spec, source="gguf", path=str(gguf), device="cpu", dtype="gguf",
                         context_length=4096, chat_template=bool(tok.chat_template),
                         load_s=round(time.perf_counter() - t0, 3))  # fmt: skip
        return RemoteModel(source, info, tok, client, source.slug)
    from ..backends.server import ServerClient, ServerSpec

    urls = tuple(u.strip() for u in (base_url or "").split(",") if u.strip())
    server = ServerClient(ServerSpec(urls, spec or None, api_key_env, concurrency),
                          on_retry=on_notice)  # fmt: skip
    name = server.resolve_model()
    tok_spec = tokenizer or name
    try:
        tok = load_tokenizer(tok_spec, cache)
    except UserInputError:
        server.close()
        raise UserInputError(
            f"chat over a server plans the conversation with the model's tokenizer, and {tok_spec} names none "
            "here; give --tokenizer (an alias, a model folder or a hub id)"
        ) from None
    context = server.context_length(name) or int(getattr(tok, "model_max_length", 0) or 0)
    context = context if 0 < context < 1_000_000 else 2048
    info = ModelInfo(spec=name, source="openai server", device="server", dtype="server", context_length=context,
                     chat_template=bool(tok.chat_template), load_s=0.0)  # fmt: skip
    return RemoteModel(ModelSource(name, "server"), info, tok, server, name)


def open_chat_model(
    backend: str,
    spec: str,
    cache: Path,
    *,
    device: str = "auto",
    dtype: str = "auto",
    quant: str = "none",
    trust_remote_code: bool = False,
    base_url: str | None = None,
    api_key_env: str | None = None,
    tokenizer: str | None = None,
    concurrency: int = 2,
    models: Any = None,
    emit: Callable[[Any], None] | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """The model a conversation runs on, whatever the backend: the one choice the chat CLI, the app's chat and
    MT-Bench share. ``models``: a ModelCache to load transformers models through (the app's shared copy)."""
    if backend == "transformers":
        if models is not None:
            return models.load(spec, device, dtype, quant, cache=cache, trust_remote_code=trust_remote_code,
                               emit=emit, cancel=cancel)  # fmt: skip
        from ..models import load_model

        return load_model(spec, device, dtype, quant, cache, trust_remote_code, emit, cancel)
    from ..events import Notice

    def notice(message: str) -> None:
        if emit is not None:
            emit(Notice(message, "warning"))

    return connect_remote(backend, spec, cache, base_url=base_url, api_key_env=api_key_env, tokenizer=tokenizer,
                          concurrency=concurrency, on_notice=notice)  # fmt: skip


__all__ = ["RemoteModel", "ServerError", "connect_remote", "load_tokenizer", "open_chat_model"]
