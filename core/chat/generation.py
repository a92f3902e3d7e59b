"""Token-by-token generation with a stop event, text deltas, time to first token and decode speed.

``generate_reply`` runs ``model.generate`` in the calling thread (the chat session runs it in a background
thread) with two small hooks: a streamer that turns each new token into a text delta, and a stopping
criterion that ends generation at the next token once ``stop`` is set or a stop string appears. Greedy when
the temperature is 0, so replies are deterministic.

torch and transformers are imported inside the functions: importing ``core.chat`` stays cheap.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .settings import GenerationSettings

OnDelta = Callable[[str, int], None]  # (text delta, tokens generated so far)


@dataclass(frozen=True)
class GenerationResult:
    text: str
    token_ids: list[int]
    finish_reason: str  # "eos", "length", "stopped" or "stop_string"
    ttft_s: float | None
    tokens_per_s: float | None  # decode speed: (tokens - 1) / (last token time - first token time)
    total_s: float
    token_count: int | None = None  # generated elsewhere (a server): its count; the ids are then not known

    @property
    def new_tokens(self) -> int:
        return self.token_count if self.token_count is not None else len(self.token_ids)

    @property
    def stopped(self) -> bool:
        return self.finish_reason == "stopped"


SPEAKER_LINE = "<speaker line>"
"""A stop that is not a literal string: a new line that opens with a speaker's label ("User:", "Alice:",
"Assistant:"), one capitalised word of up to 20 letters and a colon. A base model in the fallback format
otherwise goes on to write the user's next turn itself, under whatever name it picked up."""
_SPEAKER = re.compile(r"\n[A-Z][A-Za-z]{0,19}:")
_SPEAKER_PREFIX = re.compile(r"\n(?:[A-Z][A-Za-z]{0,19})?\Z")


def _cut_at_stop(text: str, stop_strings: Sequence[str]) -> tuple[str, bool]:
    cuts = [text.find(s) for s in stop_strings if s != SPEAKER_LINE and s in text]
    if SPEAKER_LINE in stop_strings and (m := _SPEAKER.search(text)):
        cuts.append(m.start())
    return (text[: min(cuts)], True) if cuts else (text, False)


def _held_back(visible: str, stop_strings: Sequence[str]) -> int:
    """How many trailing characters of ``visible`` could still become a stop, so are not shown yet."""
    held = 0
    for s in stop_strings:
        if s == SPEAKER_LINE:
            m = _SPEAKER_PREFIX.search(visible[-21:])
            held = max(held, len(m.group()) if m else 0)
            continue
        for k in range(min(len(s) - 1, len(visible)), 0, -1):
            if visible.endswith(s[:k]):
                held = max(held, k)
                break
    return held


class TextStream:
    """Receives token ids (``generate``'s streamer protocol) and hands on text deltas.

    Decoding is incremental (each step decodes only the last few tokens, as vLLM does, so a long reply costs
    no more per token than a short one); a trailing partial UTF-8 character, leading whitespace and any tail
    that could begin a stop string are held back until the next token settles them.
    """

    def __init__(self, tokenizer: Any, on_delta: OnDelta | None, stop_strings: Sequence[str] = ()) -> None:
        self.tokenizer = tokenizer
        self.on_delta = on_delta
        self.stop_strings = tuple(stop_strings)
        self.ids: list[int] = []
        self.decoded = ""  # text of ids[:read]
        self.prefix = 0  # ids[prefix:read] are decoded again with each new token, for context
        self.read = 0
        self.emitted = 0  # characters of the visible text already handed on
        self.hit_stop_string = False
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate() first hands over the prompt itself
            self._prompt_seen = True
            return
        now = time.perf_counter()
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        self.ids.extend(int(x) for x in value.reshape(-1).tolist())
        decode = self.tokenizer.decode
        before = decode(self.ids[self.prefix : self.read], skip_special_tokens=True)
        after = decode(self.ids[self.prefix :], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.decoded += after[len(before) :]
            self.prefix, self.read = self.read, len(self.ids)
        self._flush(final=False)

    def end(self) -> None:
        self._flush(final=True)

    def text(self) -> str:
        """The whole reply, decoded at once (authoritative), cut at any stop string."""
        decoded = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        return _cut_at_stop(decoded.lstrip(), self.stop_strings)[0]

    def _flush(self, final: bool) -> None:
        visible, hit = _cut_at_stop(self.decoded.lstrip(), self.stop_strings)
        self.hit_stop_string = self.hit_stop_string or hit
        safe = len(visible)
        if not final and not hit:
            safe -= _held_back(visible, self.stop_strings)
        if safe > self.emitted:
            delta, self.emitted = visible[self.emitted : safe], safe
            if self.on_delta is not None:
                self.on_delta(delta, len(self.ids))


class StopWhen:
    """A stopping criterion: true for every sequence once ``check()`` is true (looked at after each token)."""

    def __init__(self, check: Callable[[], bool]) -> None:
        self.check = check

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.check(), dtype=torch.bool, device=input_ids.device)


# Special tokens that end a generation whatever the configuration says (llama.cpp calls them EOG tokens). A
# GGUF file names one end token; its model's original generation config may name several (Qwen2.5's instruct
# models: <|im_end|> and <|endoftext|>), so a converted model would otherwise write on past <|endoftext|>.
END_OF_GENERATION = (
    "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<end_of_turn>", "<|end|>", "</s>",
)  # fmt: skip


def eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every token id that ends a generation: the model's and tokenizer's end tokens, and the special tokens of
    END_OF_GENERATION that this tokenizer has."""
    found: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for x in [configured] if isinstance(configured, int) else list(configured or []):
        found.append(int(x))
    if tokenizer.eos_token_id is not None:
        found.append(int(tokenizer.eos_token_id))
    special = set(getattr(tokenizer, "all_special_tokens", []) or [])
    special |= {
        str(t) for t in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).values() if getattr(t, "special", False)
    }
    for text in END_OF_GENERATION:
        if text in special:
            token_id = tokenizer.convert_tokens_to_ids(text)
            if isinstance(token_id, int) and token_id != getattr(tokenizer, "unk_token_id", None):
                found.append(token_id)
    return sorted(set(found))


def generation_kwargs(model: Any, tokenizer: Any, settings: GenerationSettings) -> dict[str, Any]:
    """The ``generate`` keyword arguments for ``settings`` (the benchmark passes the same to a plain call)."""
    from transformers import GenerationConfig

    eos = eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos[0] if eos else 0)
    kw: dict[str, Any] = {
        "max_new_tokens": settings.max_new_tokens,
        "do_sample": not settings.greedy,
        "eos_token_id": eos or None,
        "pad_token_id": pad,
    }
    if settings.repetition_penalty != 1.0:
        kw["repetition_penalty"] = settings.repetition_penalty
    if not settings.greedy:
        kw.update(temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
    return {"generation_config": GenerationConfig(**kw)}


def generate_reply(
    model: Any,
    tokenizer: Any,
    prompt_ids: Sequence[int],
    settings: GenerationSettings,
    *,
    stop: threading.Event | None = None,
    on_delta: OnDelta | None = None,
    stop_strings: Sequence[str] = (),
) -> GenerationResult:
    """Generate one reply to ``prompt_ids``, streaming text deltas to ``on_delta``. Blocking."""
    import torch

    stop = stop or threading.Event()
    device = next(model.parameters()).device
    stream = TextStream(tokenizer, on_delta, stop_strings)
    criterion = StopWhen(lambda: stop.is_set() or stream.hit_stop_string)
    kwargs = generation_kwargs(model, tokenizer, settings)
    input_ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)
    if not settings.greedy and settings.seed is not None:
        torch.manual_seed(settings.seed)
    started = time.perf_counter()
    if stop.is_set():  # stopped before the first token: nothing to generate
        return GenerationResult("", [], "stopped", None, None, 0.0)
    with torch.inference_mode():
        out = model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            streamer=stream,
            stopping_criteria=[criterion],
            **kwargs,
        )
    total = time.perf_counter() - started
    new_ids = [int(x) for x in out[0, input_ids.shape[1] :].tolist()]
    stream.ids = new_ids  # the authoritative tokens (the streamer saw the same ones)
    eos = set(eos_ids(model, tokenizer))
    if stop.is_set():
        reason = "stopped"
    elif stream.hit_stop_string:
        reason = "stop_string"
    elif new_ids and new_ids[-1] in eos:
        reason = "eos"
    else:
        reason = "length"
    first, last = stream.first_at, stream.last_at
    ttft = None if first is None else first - started
    speed = None
    if first is not None and last is not None and len(new_ids) > 1 and last > first:
        speed = (len(new_ids) - 1) / (last - first)
    return GenerationResult(stream.text().rstrip(), new_ids, reason, ttft, speed, total)


def reply_logprob(model: Any, prompt_ids: Sequence[int], reply_ids: Sequence[int]) -> float:
    """Log-likelihood of ``reply_ids`` following ``prompt_ids``: one forward pass over both."""
    import torch

    if not reply_ids:
        return 0.0
    device = next(model.parameters()).device
    ids = torch.tensor([list(prompt_ids) + list(reply_ids)], dtype=torch.long, device=device)
    with torch.inference_mode():
        logits = model(ids).logits[0, len(prompt_ids) - 1 : -1].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    target = torch.tensor(list(reply_ids), dtype=torch.long, device=device)
    return float(logprobs.gather(1, target[:, None]).sum())
