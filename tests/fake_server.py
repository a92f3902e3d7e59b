"""A scripted OpenAI-compatible server on 127.0.0.1 for the server backend's tests.

Its "model" is arithmetic, not a network: a token's log-probability is derived from a hash of the text before it,
so answers are deterministic and any two servers agree. Faults are scripted per request number (``faults``: request
index -> what to do): "429" (with Retry-After), "500", "slow" (answers after the client's timeout), "cut" (closes
the connection mid-answer), "json" (malformed JSON), "norating" (a chat reply with no ``[[rating]]``), "refuse"
(HTTP 400). ``echo`` says whether prompt log-probabilities are given. ``/chat/completions`` plays an MT-Bench
judge: a rating derived from a hash of the prompt, or for a pairwise prompt ``verdict(prompt)``.
Started and stopped by the tests; it answers a bounded number of requests (``max_requests``).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LETTERS = [" A", " B", " C", " D"]


def logprob(before: str, token: str) -> float:
    h = int(hashlib.sha256((before + "\x00" + token).encode()).hexdigest()[:8], 16)
    return -0.05 - 6.0 * (h / 0xFFFFFFFF)


def tokens_of(text: str) -> list[tuple[int, str]]:
    """(offset, token) pairs: each word with the space before it."""
    out, i = [], 0
    while i < len(text):
        j = i + 1
        while j < len(text) and text[j] != " ":
            j += 1
        out.append((i, text[i:j]))
        i = j
    return out


class FakeServer:
    def __init__(
        self,
        faults: dict[int, str] | None = None,
        echo: bool = True,
        model: str = "fake-model",
        api_key: str | None = None,
        max_requests: int = 2000,
        slow_s: float = 1.5,
    ) -> None:
        self.faults = dict(faults or {})
        self.echo = echo
        self.model = model
        self.api_key = api_key
        self.max_requests = max_requests
        self.slow_s = slow_s
        self.count = 0
        self.stopping = threading.Event()  # set by stop(): a held-back answer goes at once
        self.seen: list[tuple[str, Any]] = []  # (path, prompt) per answered request
        self.auth: list[str | None] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                server._handle(self, json.loads(self.rfile.read(length) or b"{}"))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- answers ---------------------------------------------------------------------------------------------------
    def _send(
        self, h: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str] | None = None
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(payload)

    def _handle(self, h: BaseHTTPRequestHandler, body: dict[str, Any] | None) -> None:
        with self.lock:
            n = self.count
            self.count += 1
            self.auth.append(h.headers.get("Authorization"))
        if n >= self.max_requests:
            self._send(h, 503, b'{"error": "request budget spent"}')
            return
        if self.api_key is not None and h.headers.get("Authorization") != f"Bearer {self.api_key}":
            self._send(h, 401, b'{"error": {"message": "bad API key"}}')
            return
        fault = self.faults.get(n)
        if fault == "429":
            self._send(h, 429, b'{"error": "slow down"}', {"Retry-After": "0.05"})
            return
        if fault == "refuse":
            self._send(h, 400, b'{"error": {"message": "this model does not take chat requests"}}')
            return
        if fault == "500":
            self._send(h, 500, b'{"error": "internal"}')
            return
        if fault == "json":
            self._send(h, 200, b'{"choices": [ {"text": ')
            return
        if fault == "slow":  # the scripted fault itself: an answer later than the client's timeout
            self.stopping.wait(self.slow_s)
        if fault == "cut":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "5000")
            h.end_headers()
            h.wfile.write(b'{"choices": [')
            h.wfile.flush()
            h.close_connection = True
            return
        path = h.path
        if path.endswith("/models"):
            self._send(h, 200, json.dumps({"object": "list", "data": [{"id": self.model}]}).encode())
            return
        assert body is not None
        with self.lock:
            self.seen.append((path, body.get("prompt")))
        if path.endswith("/chat/completions"):
            self._send(h, 200, json.dumps(self.judge_reply(body, fault == "norating")).encode())
            return
        if body.get("stream"):
            self._stream(h, body, cut=fault == "streamcut")
            return
        self._send(h, 200, json.dumps(self.complete(body)).encode())

    @staticmethod
    def verdict(prompt: str) -> str:
        """Pairwise: always the first answer shown (a judge with the worst position bias)."""
        return "[[A]]"

    def judge_reply(self, body: dict[str, Any], no_rating: bool) -> dict[str, Any]:
        with self.lock:
            self.seen.append(("chat", body["messages"]))
        prompt = body["messages"][-1]["content"]
        if no_rating:
            text = "The assistant answered. I cannot decide on a number."
        elif "[[A]]" in body["messages"][0]["content"] + prompt:
            text = f"Both answer the question. Verdict: {self.verdict(prompt)}"
        else:
            rating = 1 + int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16) % 10
            text = f"The answer is adequate. Rating: [[{rating}]]"
        return {
            "id": "x",
            "object": "chat.completion",
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        }

    REPLY = [" Hello", ",", " Alice", "!", " How", " can", " I", " help", "?"]

    def _stream(self, h: BaseHTTPRequestHandler, body: dict[str, Any], cut: bool) -> None:
        """Server-sent events: the reply's pieces, a usage chunk, [DONE]; ``cut``: the connection drops midway."""
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        pieces = self.REPLY[: body.get("max_tokens", 16)]
        for i, piece in enumerate(pieces):
            if cut and i == 3:
                h.wfile.flush()
                h.close_connection = True
                return
            chunk = {"choices": [{"index": 0, "text": piece, "finish_reason": None}]}
            h.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            h.wfile.flush()
        reason = "length" if len(pieces) < len(self.REPLY) else "stop"
        h.wfile.write(
            f"data: {json.dumps({'choices': [{'index': 0, 'text': '', 'finish_reason': reason}]})}\n\n".encode()
        )
        usage = {"prompt_tokens": len(body["prompt"]), "completion_tokens": len(pieces)}
        h.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
        h.wfile.write(b"data: [DONE]\n\n")
        h.wfile.flush()
        h.close_connection = True

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        if prompts and isinstance(prompts[0], int):  # token ids
            prompts = [" ".join(str(x) for x in prompts)]
        choices = []
        prompt_tokens = 0
        for i, prompt in enumerate(prompts):
            toks = tokens_of(prompt)
            prompt_tokens += len(toks)
            top = {t: logprob(prompt, t) for t in LETTERS + [" The", " answer"]}
            next_token = max(top, key=lambda t: top[t])
            if body.get("max_tokens", 16) > 1:  # "generation": a fixed short answer, cut at a stop string
                text = " 42\n\nQuestion: more"
                for stop in body.get("stop") or []:
                    if stop in text:
                        text = text[: text.index(stop)]
                choices.append({"index": i, "text": text, "logprobs": None, "finish_reason": "stop"})
                continue
            logprobs: dict[str, Any] = {"top_logprobs": [dict(list(top.items())[: max(1, body.get("logprobs") or 1)])]}
            if body.get("echo") and self.echo:
                values: list[float | None] = [None] + [logprob(prompt[:o], t) for o, t in toks[1:]]
                logprobs = {
                    "tokens": [t for _, t in toks] + [next_token],
                    "token_logprobs": values + [top[next_token]],
                    "text_offset": [o for o, _ in toks] + [len(prompt)],
                    "top_logprobs": None,
                }
            choices.append({"index": i, "text": next_token, "logprobs": logprobs, "finish_reason": "length"})
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1}
        return {"id": "x", "object": "text_completion", "model": self.model, "choices": choices, "usage": usage}


def expected_letter_logliks(context: str) -> list[float]:
    stripped = context.rstrip(" ")
    return [logprob(stripped, t) for t in LETTERS]


def expected_choice_loglik(context: str, continuation: str) -> float:
    stripped = context.rstrip(" ")
    continuation = context[len(stripped) :] + continuation
    text = stripped + continuation
    return math.fsum(logprob(text[:o], t) for o, t in tokens_of(text) if o >= len(stripped))
