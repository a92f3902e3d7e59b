"""Chat settings: generation parameters and conversation options, validated with one-line messages.

``/set key=value`` in the chat input, the headless flags and a saved conversation all go through
:func:`parse_option`, so a bad value is refused the same way everywhere and nothing is changed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..errors import UserInputError

STRATEGIES = ("none", "truncate", "window", "summarize")
DEFAULT_STRATEGY = "window"
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly."


@dataclass(frozen=True)
class GenerationSettings:
    """How a reply is generated. ``temperature`` 0 is greedy (deterministic); top_p, top_k and seed then do nothing."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0  # 0: off
    repetition_penalty: float = 1.1
    seed: int | None = 0  # None: not seeded

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChatSettings:
    """Everything about a conversation that a user can change between turns."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    history: bool = True
    strategy: str = DEFAULT_STRATEGY
    max_context: int | None = None  # prompt token budget cap; None: the model's context minus max_new_tokens
    keep_messages: int = 6  # `truncate`: how many earlier messages are sent
    summary_tokens: int = 96  # `summarize`: the longest summary the model may write
    stream: bool = True  # front ends: show tokens as they come (the engine streams either way)
    generation: GenerationSettings = field(default_factory=GenerationSettings)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["generation"] = self.generation.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "settings") -> ChatSettings:
        """Build and validate settings read from a file; unknown keys are refused (a foreign file)."""
        if not isinstance(d, dict):
            raise UserInputError(f"{where} must be an object")
        gen = d.get("generation", {})
        if not isinstance(gen, dict):
            raise UserInputError(f"{where}.generation must be an object")
        settings = cls()
        for key, value in d.items():
            if key == "generation":
                continue
            if key not in OPTION_KEYS or key in GENERATION_KEYS:
                raise UserInputError(f"{where} has an unknown key '{key}'")
            settings = set_option(settings, key, value)
        for key, value in gen.items():
            if key not in GENERATION_KEYS:
                raise UserInputError(f"{where}.generation has an unknown key '{key}'")
            settings = set_option(settings, key, value)
        return settings


GENERATION_KEYS = tuple(f.name for f in fields(GenerationSettings))
OPTION_KEYS = GENERATION_KEYS + tuple(f.name for f in fields(ChatSettings) if f.name != "generation")
# What `/set` accepts (system prompt, history and strategy have their own commands but work here too).
SETTABLE = GENERATION_KEYS + ("max_context", "keep_messages", "summary_tokens", "stream", "history", "strategy")
ALIASES = {"temp": "temperature", "max_tokens": "max_new_tokens", "n": "max_new_tokens", "rep": "repetition_penalty"}

_TRUE = {"on", "true", "yes", "1"}
_FALSE = {"off", "false", "no", "0"}


def _number(key: str, raw: Any, kind: type, lo: float, hi: float | None, hint: str, none_ok: bool = False) -> Any:
    if none_ok and (raw is None or (isinstance(raw, str) and raw.strip().lower() in ("none", "off", ""))):
        return None

    def show(x: float) -> str:  # 4294967295, not 4.29497e+09; 0.01, not 0.010000
        return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"

    span = f"from {show(lo)} to {show(hi)}" if hi is not None else f"of {show(lo)} or more"
    what = "a whole number" if kind is int else "a number"
    problem = f"{key} must be {what} {span}{hint}"
    if isinstance(raw, bool):
        raise UserInputError(f"{key}={raw}: {problem}")
    try:
        if kind is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            value: float = int(raw) if not isinstance(raw, str) else int(raw.strip())
        else:
            value = float(raw)
    except (TypeError, ValueError):
        raise UserInputError(f"{key}={raw}: {problem}") from None
    if value != value or value < lo or (hi is not None and value > hi):  # NaN or out of range
        raise UserInputError(f"{key}={raw}: {problem}")
    return value


def _flag(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UserInputError(f"{key}={raw}: {key} must be on or off")


def parse_value(key: str, raw: Any) -> Any:
    """Turn a raw value (a string from `/set` or the command line, or a JSON value) into a valid one."""
    key = ALIASES.get(key, key)
    if key == "max_new_tokens":
        return _number(key, raw, int, 1, 32768, " (tokens per reply)")
    if key == "temperature":
        return _number(key, raw, float, 0, 5, " (0 = greedy)")
    if key == "top_p":
        return _number(key, raw, float, 0.01, 1, " (1 = off)")
    if key == "top_k":
        return _number(key, raw, int, 0, 100000, " (0 = off)")
    if key == "repetition_penalty":
        return _number(key, raw, float, 0.5, 3, " (1 = off)")
    if key == "seed":
        return _number(key, raw, int, 0, 2**32 - 1, " or none", none_ok=True)
    if key == "max_context":
        return _number(key, raw, int, 32, None, " (prompt tokens) or none for the model's limit", none_ok=True)
    if key == "keep_messages":
        return _number(key, raw, int, 0, 10000, " (earlier messages `truncate` sends)")
    if key == "summary_tokens":
        return _number(key, raw, int, 8, 4096, " (longest summary)")
    if key in ("stream", "history"):
        return _flag(key, raw)
    if key == "strategy":
        name = str(raw).strip().lower()
        if name not in STRATEGIES:
            raise UserInputError(f"unknown strategy '{raw}'; use one of {', '.join(STRATEGIES)}")
        return name
    if key == "system_prompt":
        if not isinstance(raw, str):
            raise UserInputError(f"system_prompt must be text, not {type(raw).__name__}")
        return raw
    raise UserInputError(f"unknown setting '{key}'; settable: {', '.join(SETTABLE)}")


def set_option(settings: ChatSettings, key: str, raw: Any) -> ChatSettings:
    """A copy of ``settings`` with one option changed; raises UserInputError (and changes nothing) on a bad value."""
    key = ALIASES.get(key, key)
    value = parse_value(key, raw)
    if key in GENERATION_KEYS:
        return replace(settings, generation=replace(settings.generation, **{key: value}))
    return replace(settings, **{key: value})
