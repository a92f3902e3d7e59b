"""Any OpenAI-compatible server as a backend (vLLM, SGLang, llama.cpp's server, Ollama, a hosted API).

Scoring goes through ``/v1/completions``:

- a choice's log-likelihood needs the log-probabilities of the prompt's own tokens: ``echo: true`` with
  ``logprobs`` (what lm-eval's ``local-completions`` uses; vLLM gives them). Every choice of a document goes in
  one request (a list of prompts); the continuation's tokens are those that start at or after the end of the
  context (``text_offset``), summed;
- a single-token continuation (MMLU's letters) can also be read off the next token's top log-probabilities
  (``logprobs: N``), which llama.cpp's server gives; a continuation missing from the top N has no exact score,
  so the document stops the run with the reason instead of a guessed number;
- generation is a greedy completion with the task's stop strings.

What a server can do is probed once at connect time; a task it cannot score exactly is refused before any
document is sent. Requests run concurrently (``concurrency`` per replica); several base URLs are replicas of one
model that share the documents, and a replica that stops answering hands its requests to the others. Retries
(429, 5xx, timeouts, connection errors, malformed JSON) back off exponentially with jitter (tenacity), honouring
``Retry-After``. The API key is read from the environment variable the user names, sent as a bearer token, and
never stored: not in a run file, an event or an error message.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ..errors import LlmTuiError, UserInputError
from ..tasks.base import ChatFormat, ChoiceRequest, ChoiceResult, GenerateRequest, GenerateResult, Request, Result
from .base import BatchOutput, Cancelled, Prepared

# Next-token alternatives asked for: 20 is the OpenAI API's limit; when a choice is not among them the request is
# repeated with more (llama.cpp's server gives up to its vocabulary; a server that caps lower is refused then).
TOP_LOGPROBS = (20, 1000)


class ServerError(LlmTuiError):
    """A server that cannot be reached, keeps failing, or answers what cannot be used; the run is resumable."""


class NotInTop(ServerError):
    """A single-token choice is not among the next token's alternatives the server gave: no exact score."""


@dataclass(frozen=True)
class ServerSpec:
    """Where the model is served, and how to talk to it (no secret here: only the variable's name)."""

    base_urls: tuple[str, ...]
    model: str | None = None  # the served model's name; None: the server's only model
    api_key_env: str | None = None
    concurrency: int = 4  # requests in flight per replica
    timeout_s: float = 120.0
    retries: int = 4  # attempts after the first, per replica

    def validate(self) -> None:
        if not self.base_urls:
            raise UserInputError("--base-url: give the server's address, e.g. http://127.0.0.1:8000/v1")
        for url in self.base_urls:
            if not url.startswith(("http://", "https://")):
                raise UserInputError(
                    f"--base-url {url}: use an http:// or https:// address, e.g. http://127.0.0.1:8000/v1"
                )
        if self.concurrency < 1:
            raise UserInputError(f"--concurrency {self.concurrency}: must be 1 or more")
        if self.api_key_env and not os.environ.get(self.api_key_env):
            raise UserInputError(
                f"--api-key-env {self.api_key_env}: that environment variable is empty or unset; export it first"
            )


def _v1(url: str) -> str:
    """The API root: ``http://host:port`` and ``http://host:port/v1`` both mean ``.../v1``."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Replica:
    url: str
    alive: bool = True
    in_flight: int = 0
    requests: int = 0
    retries: int = 0
    last_error: str = ""


@dataclass
class ServerStats:
    """What the live screen shows for a server run: requests in flight, retries, replicas still answering."""

    in_flight: int = 0
    requests: int = 0
    retries: int = 0
    replicas: list[tuple[str, bool]] = field(default_factory=list)


class ModelClient:
    """What ServerBackend needs from wherever requests go: ``request`` plus the probes built on it."""

    spec: ServerSpec
    replicas: list[Replica]
    label = "openai"  # the backend's name in a run's identity

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def stats(self) -> ServerStats:
        return ServerStats(replicas=[(r.url, r.alive) for r in self.replicas])

    def stream(self, path: str, body: dict[str, Any], on_chunk: Callable[[dict[str, Any]], bool]) -> None:
        """A streamed answer, chunk by chunk; ``on_chunk`` returning True stops it."""
        raise NotImplementedError

    def context_length(self, model: str) -> int | None:
        """The served model's context, where the model list says it (vLLM: max_model_len; llama.cpp: n_ctx)."""
        try:
            data = self.request("GET", "/models")
        except ServerError:
            return None
        for m in data.get("data") or []:
            if isinstance(m, dict) and m.get("id") == model:
                meta = m.get("meta")
                value = m.get("max_model_len") or (meta.get("n_ctx") if isinstance(meta, dict) else None)
                return int(value) if isinstance(value, int) and value > 0 else None
        return None

    def models(self) -> list[str]:
        data = self.request("GET", "/models")
        items = data.get("data")
        if not isinstance(items, list):
            raise ServerError(f"{self.replicas[0].url}/models: no model list in the answer")
        return [str(m.get("id")) for m in items if isinstance(m, dict) and m.get("id")]

    def resolve_model(self) -> str:
        served = self.models()
        if self.spec.model:
            if served and self.spec.model not in served:
                raise UserInputError(
                    f"--model {self.spec.model}: the server serves {', '.join(served[:6])}; pick one of those"
                )
            return self.spec.model
        if len(served) == 1:
            return served[0]
        raise UserInputError(
            f"the server serves {len(served)} models ({', '.join(served[:6])}); name one with --model NAME"
        )

    def echoes_prompt_logprobs(self, model: str) -> bool:
        """Whether ``echo`` gives the prompt's own token log-probabilities (vLLM yes, llama.cpp's server no)."""
        return _echoes(self.request("POST", "/completions", _echo_probe(model)))


class ServerClient(ModelClient):
    """HTTP to one model served by one or more replicas: retries, back-off, fail-over, counters."""

    def __init__(self, spec: ServerSpec, on_retry: Callable[[str], None] | None = None) -> None:
        import httpx

        spec.validate()
        self.spec = spec
        self.replicas = [Replica(_v1(u)) for u in spec.base_urls]
        self._lock = threading.Lock()
        self._on_retry = on_retry
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_connections=spec.concurrency * len(self.replicas) + 2)
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(spec.timeout_s, connect=10.0), limits=limits)

    def close(self) -> None:
        self._http.close()

    # -- counters --------------------------------------------------------------------------------------------------
    def stats(self) -> ServerStats:
        with self._lock:
            return ServerStats(
                in_flight=sum(r.in_flight for r in self.replicas),
                requests=sum(r.requests for r in self.replicas),
                retries=sum(r.retries for r in self.replicas),
                replicas=[(r.url, r.alive) for r in self.replicas],
            )

    def _pick(self) -> Replica:
        with self._lock:
            alive = [r for r in self.replicas if r.alive]
            if not alive:
                last = "; ".join(f"{r.url}: {r.last_error}" for r in self.replicas)
                raise ServerError(f"no server answers any more ({last}); start it again, then resume the run")
            replica = min(alive, key=lambda r: (r.in_flight, r.requests))
            replica.in_flight += 1
            replica.requests += 1
            return replica

    # -- one request -----------------------------------------------------------------------------------------------
    def _once(self, replica: Replica, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        import httpx

        try:
            response = self._http.request(method, replica.url + path, json=body)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out after {self.spec.timeout_s:.0f} s ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:  # refused, reset, cut mid-body
            raise _Retryable(f"connection failed ({type(exc).__name__}: {exc})") from exc
        if response.status_code == 429 or response.status_code >= 500:
            after = response.headers.get("Retry-After")
            wait_s = float(after) if after and after.replace(".", "", 1).isdigit() else None
            raise _Retryable(f"HTTP {response.status_code}: {_short(response.text)}", wait_s)
        if response.status_code >= 400:
            raise ServerError(f"{replica.url}{path} answered HTTP {response.status_code}: {_short(response.text)}")
        try:
            data = response.json()
        except ValueError as exc:
            raise _Retryable(f"malformed JSON in the answer ({_short(response.text)})") from exc
        if not isinstance(data, dict):
            raise _Retryable(f"unexpected answer ({_short(response.text)})")
        return data

    def stream(self, path: str, body: dict[str, Any], on_chunk: Callable[[dict[str, Any]], bool]) -> None:
        """Server-sent events: retried like ``request`` until the first chunk arrives; a stream cut after that is
        a ServerError (what arrived was shown; nothing is retried behind the user's back)."""
        import httpx

        started = [False]

        def attempt(replica: Replica, method: str, _path: str, _body: dict[str, Any] | None) -> dict[str, Any]:
            try:
                with self._http.stream("POST", replica.url + path, json=body) as response:
                    if response.status_code == 429 or response.status_code >= 500:
                        response.read()
                        raise _Retryable(f"HTTP {response.status_code}: {_short(response.text)}")
                    if response.status_code >= 400:
                        response.read()
                        raise ServerError(f"{replica.url}{path} answered HTTP {response.status_code}: "
                                          f"{_short(response.text)}")  # fmt: skip
                    for line in response.iter_lines():
                        if not line.startswith("data:"):
                            continue
                        payload = line[5:].strip()
                        if payload == "[DONE]":
                            return {}
                        try:
                            chunk = json.loads(payload)
                        except ValueError:
                            message = f"malformed JSON in the stream ({_short(payload)})"
                            raise (ServerError(message) if started[0] else _Retryable(message)) from None
                        started[0] = True
                        if on_chunk(chunk):
                            return {}
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if started[0]:
                    raise ServerError(f"the reply's stream was cut ({type(exc).__name__}); /retry asks again") from exc
                raise _Retryable(f"connection failed ({type(exc).__name__}: {exc})") from exc
            if started[0]:
                raise ServerError("the reply's stream was cut (it ended without [DONE]); /retry asks again")
            return {}

        self._call(attempt, "POST", path, body)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One call, retried with back-off on this replica, then on the others; a ServerError when all fail."""
        return self._call(self._once, method, path, body)

    def echoes_prompt_logprobs(self, model: str) -> bool:
        """Every replica must echo: the documents may go to any of them (one not answering now is skipped)."""
        answers = []
        for replica in [r for r in self.replicas if r.alive]:
            try:
                answers.append(_echoes(self._once(replica, "POST", "/completions", _echo_probe(model))))
            except (_Retryable, ServerError):
                continue
        if not answers:
            return super().echoes_prompt_logprobs(model)  # none answered: retried, then a clear error
        return all(answers)

    def _call(
        self,
        fn: Callable[[Replica, str, str, dict[str, Any] | None], dict[str, Any]],
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> dict[str, Any]:
        from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
        from tenacity.wait import wait_exponential, wait_random

        backoff = wait_exponential(multiplier=0.2, max=8.0) + wait_random(0, 0.2)

        while True:
            replica = self._pick()

            def wait(state: RetryCallState) -> float:
                exc = state.outcome.exception() if state.outcome else None
                base = backoff(state)
                if isinstance(exc, _Retryable) and exc.retry_after is not None:
                    return min(max(exc.retry_after, base), 30.0)
                return base

            def before_sleep(state: RetryCallState, replica: Replica = replica) -> None:
                exc = state.outcome.exception() if state.outcome else None
                with self._lock:
                    replica.retries += 1
                    replica.last_error = str(exc)
                if self._on_retry is not None:
                    self._on_retry(f"{replica.url}: {exc}; retrying")

            retrying = Retrying(
                stop=stop_after_attempt(self.spec.retries + 1),
                wait=wait,
                retry=retry_if_exception_type(_Retryable),
                before_sleep=before_sleep,
                reraise=True,
            )
            try:
                return retrying(fn, replica, method, path, body)
            except _Retryable as exc:
                with self._lock:
                    replica.last_error = str(exc)
                    others = [r for r in self.replicas if r.alive and r is not replica]
                    if others:
                        replica.alive = False  # its requests go to the replicas still answering
                        if self._on_retry is not None:
                            self._on_retry(f"{replica.url} stopped answering ({exc}); its requests go to the others")
                        continue
                raise ServerError(
                    f"{replica.url}{path}: {exc} (after {self.spec.retries + 1} attempts); "
                    "check the server, then resume the run"
                ) from None
            finally:
                with self._lock:
                    replica.in_flight -= 1


def _echo_probe(model: str) -> dict[str, Any]:
    return {"model": model, "prompt": "The sky is blue", "max_tokens": 1, "temperature": 0, "echo": True,
            "logprobs": 1}  # fmt: skip


def _echoes(data: dict[str, Any]) -> bool:
    try:
        logprobs = data["choices"][0]["logprobs"]
        tokens = logprobs.get("tokens") or []
        values = logprobs.get("token_logprobs") or []
        offsets = logprobs.get("text_offset") or []
    except (KeyError, IndexError, TypeError, AttributeError):
        return False
    prompt_tokens = int((data.get("usage") or {}).get("prompt_tokens") or 0)
    return bool(prompt_tokens) and len(tokens) > prompt_tokens - 1 and len(values) == len(tokens) == len(offsets)


def _short(text: str, width: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _move_spaces(context: str, continuation: str) -> tuple[str, str]:
    """lm-eval's rule: a context's trailing spaces belong to the continuation."""
    stripped = context.rstrip(" ")
    return stripped, context[len(stripped) :] + continuation


class ServerBackend:
    """The evaluation loop's backend over a ServerClient (see the module's docstring)."""

    name = "openai"

    def __init__(self, client: ModelClient, model: str, echo: bool) -> None:
        self.name = client.label
        self.client = client
        self.model = model
        self.echo = echo
        self.workers = client.spec.concurrency * len(client.replicas)
        self._top = 0  # which TOP_LOGPROBS size to ask first: once more was needed, ask that from the start
        self._echo_letters = False

    @property
    def chat_format(self) -> ChatFormat | None:
        return None  # prompts are sent as text; a server applies its chat template in chat only

    def refusal(self, kind: str) -> str | None:
        """Why this server cannot score a task of ``kind`` exactly, or None."""
        if kind == "choice_loglik" and not self.echo:
            return (
                "this server gives no log-probabilities for a prompt's own tokens (echo), which multiple-choice "
                "log-likelihoods need (llama.cpp's server does not give them; vLLM does); use a vLLM server or "
                "--backend transformers"
            )
        return None

    def prepare(self, request: Request) -> Prepared:
        if isinstance(request, ChoiceRequest):
            length = max(len(c) + len(x) for c, x in request.pairs())
        else:
            length = len(request.context)
        return Prepared(request, length, None)

    def run(self, batch: Sequence[Prepared], cancel: threading.Event | None = None) -> BatchOutput:
        cancel = cancel or threading.Event()
        results: list[Result | None] = [None] * len(batch)

        def one(i: int) -> None:
            if cancel.is_set():
                return
            results[i] = self._answer(batch[i].request)

        with ThreadPoolExecutor(max_workers=min(self.workers, len(batch)) or 1) as pool:
            futures = [pool.submit(one, i) for i in range(len(batch))]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for f in pending:
                f.cancel()
            for f in futures:
                if f.done() and not f.cancelled() and f.exception() is not None:
                    raise f.exception()  # type: ignore[misc]
        if cancel.is_set():
            raise Cancelled()
        return BatchOutput([r for r in results if r is not None])

    # -- one request per document ------------------------------------------------------------------------------------
    def _answer(self, request: Request) -> Result:
        if isinstance(request, GenerateRequest):
            return self._generate(request)
        single = len(request.contexts) == 1 and all(_one_token_like(c) for c in request.continuations)
        if single and not self._echo_letters:  # one request reads every letter off the next token's alternatives
            try:
                return self._top_logprobs(request)
            except NotInTop:
                if not self.echo:
                    raise
                self._echo_letters = True  # the alternatives fall short here: echo from now on (exact as well)
        if self.echo:
            return self._echo_logliks(request)
        raise ServerError(self.refusal("choice_loglik") or "this server cannot score multi-token choices")

    def _echo_logliks(self, request: ChoiceRequest) -> ChoiceResult:
        pairs = [_move_spaces(c, x) for c, x in request.pairs()]
        body = {"model": self.model, "prompt": [c + x for c, x in pairs], "max_tokens": 1, "temperature": 0,
                "echo": True, "logprobs": 0}  # fmt: skip
        data = self.client.request("POST", "/completions", body)
        choices = _choices(data, len(pairs))
        logliks = []
        prompt_tokens = 0
        for (context, _), choice in zip(pairs, sorted(choices, key=lambda c: c.get("index", 0)), strict=True):
            lp = choice.get("logprobs") or {}
            offsets, values = lp.get("text_offset"), lp.get("token_logprobs")
            if not isinstance(offsets, list) or not isinstance(values, list) or len(offsets) != len(values):
                raise ServerError("the server's echo answer has no token offsets and log-probabilities")
            # the prompt's tokens, then the one generated token (max_tokens 1): score the prompt's only
            n = len(offsets) - 1
            start = next((i for i in range(n) if offsets[i] >= len(context)), n)
            if start > 0 and offsets[start - 1] < len(context) and start < n and offsets[start] > len(context):
                start -= 1  # a token that straddles the boundary belongs to the continuation
            part = values[start:n]
            if not part or any(v is None for v in part):
                raise ServerError("the server gave no log-probability for a continuation's tokens")
            logliks.append(float(sum(part)))
            prompt_tokens += n
        return ChoiceResult(logliks, prompt_tokens)

    def _top_logprobs(self, request: ChoiceRequest) -> ChoiceResult:
        context, _ = _move_spaces(request.contexts[0], "")
        wanted = [_move_spaces(request.contexts[0], c)[1] for c in request.continuations]
        top: dict[str, float] = {}
        missing = wanted
        for i, n in enumerate(TOP_LOGPROBS):
            if i < self._top:
                continue
            body = {"model": self.model, "prompt": context, "max_tokens": 1, "temperature": 0, "logprobs": n}
            try:
                data = self.client.request("POST", "/completions", body)
            except ServerError:
                if i == 0:
                    raise
                break  # the server caps the alternatives lower (vLLM: --max-logprobs)
            top = _first_top_logprobs(_choices(data, 1)[0])
            missing = [text for text in wanted if text not in top]
            if not missing:
                self._top = i
                usage = data.get("usage") or {}
                return ChoiceResult([float(top[t]) for t in wanted], int(usage.get("prompt_tokens") or 0))
        raise NotInTop(
            f"{missing[0]!r} is not among the {len(top)} likeliest next tokens the server returned, so its "
            "log-probability is unknown; exact scores need more alternatives or prompt log-probabilities (echo, "
            "as vLLM gives), or --backend transformers"
        )

    def _generate(self, request: GenerateRequest) -> GenerateResult:
        body: dict[str, Any] = {"model": self.model, "prompt": request.context,
                                "max_tokens": request.max_new_tokens, "temperature": 0}  # fmt: skip
        if request.until:
            body["stop"] = list(request.until[:4])  # the API's limit; the rest are cut here
        data = self.client.request("POST", "/completions", body)
        text = str(_choices(data, 1)[0].get("text") or "")
        for stop in request.until:
            if stop and stop in text:
                text = text[: text.index(stop)]
        usage = data.get("usage") or {}
        return GenerateResult(text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def _one_token_like(text: str) -> bool:
    return len(text.strip()) <= 3 and " " not in text.strip()


def _choices(data: dict[str, Any], n: int) -> list[dict[str, Any]]:
    choices = data.get("choices")
    if not isinstance(choices, list) or len(choices) < n or not all(isinstance(c, dict) for c in choices):
        raise ServerError(f"the server's answer has {0 if not isinstance(choices, list) else len(choices)} choices, "
                          f"expected {n}: {_short(json.dumps(data))}")  # fmt: skip
    return choices


def _first_top_logprobs(choice: dict[str, Any]) -> dict[str, float]:
    """The first generated token's alternatives as {token text: log-probability}: the OpenAI completions shape
    (``top_logprobs: [{text: lp}]``) or llama.cpp's (``content: [{top_logprobs: [{token, logprob}]}]``)."""
    lp = choice.get("logprobs") or {}
    top = lp.get("top_logprobs")
    if isinstance(top, list) and top and isinstance(top[0], dict):
        return {str(k): float(v) for k, v in top[0].items()}
    content = lp.get("content")
    if isinstance(content, list) and content and isinstance(content[0], dict):
        alternatives = content[0].get("top_logprobs") or []
        return {str(a["token"]): float(a["logprob"]) for a in alternatives if isinstance(a, dict) and "token" in a}
    raise ServerError("the server's answer has no top log-probabilities for the next token")
