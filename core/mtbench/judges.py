"""Who judges: any OpenAI-compatible endpoint (``--judge URL``) or a model llm-tui runs itself (``--judge SPEC``).

Both answer one question: given FastChat's system prompt and the filled-in user prompt, what does the judge say?
A served judge gets ``/v1/chat/completions`` (the server applies its own chat template, as FastChat's OpenAI judge
does) through the backend interface's client, so 429s, 5xx, timeouts and cut connections are retried with
back-off; a judge llm-tui loads runs through the chat engine (transformers or llama.cpp in-process) with the
judge prompt as the system prompt and no history.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import LlmTuiError
from .answers import model_id_for


class JudgeError(LlmTuiError):
    """The judge cannot be asked (unreachable after retries) or refuses the requests; what was judged is kept."""

    exit_code = 2


class Judge:
    """One judging model. ``name`` is the first half of FastChat's ``judge`` pair in the judgment lines."""

    name: str
    where: str  # for the front ends: "llama.cpp server at http://127.0.0.1:8080/v1", "local (llamacpp)"
    parallel: int = 1  # judgments in flight at once

    def complete(self, system: str, user: str, *, temperature: float, seed: int, max_tokens: int,
                 cancel: threading.Event) -> str:  # fmt: skip
        raise NotImplementedError

    def retries(self) -> int:
        """Transport retries so far (429, 5xx, timeouts): shown live and in the summary."""
        return 0

    def close(self) -> None:
        pass


class ServedJudge(Judge):
    def __init__(self, client: Any, model: str, parallel: int) -> None:
        self.client = client
        self.name = model
        self.where = f"server at {client.replicas[0].url}"
        self.parallel = parallel

    def complete(self, system: str, user: str, *, temperature: float, seed: int, max_tokens: int,
                 cancel: threading.Event) -> str:  # fmt: skip
        from ..backends.server import ServerError

        body = {
            "model": self.name,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": seed,
        }
        try:
            data = self.client.request("POST", "/chat/completions", body)
        except ServerError as exc:
            raise JudgeError(f"the judge: {exc}") from None
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            content = None
        return content if isinstance(content, str) else ""

    def retries(self) -> int:
        return int(self.client.stats().retries)

    def close(self) -> None:
        self.client.close()


class LocalJudge(Judge):
    """A judge llm-tui runs: each judgment is a fresh one-turn conversation through the chat engine."""

    def __init__(self, loaded: Any, name: str, backend: str) -> None:
        self.loaded = loaded
        self.name = name
        self.where = f"this machine ({backend}, {getattr(loaded.info, 'device', 'cpu')})"
        self.parallel = 1

    def complete(self, system: str, user: str, *, temperature: float, seed: int, max_tokens: int,
                 cancel: threading.Event) -> str:  # fmt: skip
        from ..chat.session import ChatSession
        from ..chat.settings import ChatSettings, GenerationSettings

        generation = GenerationSettings(max_new_tokens=max_tokens, temperature=temperature, repetition_penalty=1.0,
                                        seed=seed)  # fmt: skip
        session = ChatSession(self.loaded, ChatSettings(system_prompt=system, history=False, generation=generation))
        return str(session.run_turn(user, None, cancel).reply)

    def close(self) -> None:
        client = getattr(self.loaded, "client", None)
        if client is not None:
            client.close()


def open_judge(
    judge: str,
    cache: Path,
    *,
    judge_model: str | None = None,
    backend: str = "transformers",
    device: str = "auto",
    dtype: str = "auto",
    api_key_env: str | None = None,
    concurrency: int = 2,
    timeout_s: float = 600.0,
    on_retry: Callable[[str], None] | None = None,
    emit: Callable[[Any], None] | None = None,
    cancel: threading.Event | None = None,
) -> Judge:
    """``judge`` is an http(s) URL (any OpenAI-compatible server; comma-separated replicas) or a model spec."""
    if judge.startswith(("http://", "https://")):
        from ..backends.server import ServerClient, ServerError, ServerSpec
        from ..errors import UserInputError

        urls = tuple(u.strip() for u in judge.split(",") if u.strip())
        client = ServerClient(ServerSpec(urls, judge_model, api_key_env, concurrency, timeout_s), on_retry=on_retry)
        try:
            name = client.resolve_model()
        except ServerError as exc:
            client.close()
            raise JudgeError(f"--judge {judge}: {exc}") from None
        except UserInputError as exc:
            client.close()
            raise UserInputError(str(exc).replace("--model NAME", "--judge-model NAME")) from None
        return ServedJudge(client, name, concurrency)
    from ..chat.remote import open_chat_model

    loaded = open_chat_model(backend, judge, cache, device=device, dtype=dtype, emit=emit, cancel=cancel)
    return LocalJudge(loaded, judge_model or model_id_for(loaded.source.spec, True), backend)
