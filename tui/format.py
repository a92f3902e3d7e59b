"""Small formatting helpers shared by the batch output and the app."""

from __future__ import annotations

from typing import Any


def human_bytes(n: int | float | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.1f} s"
    minutes, sec = divmod(s, 60)
    if minutes < 60:
        return f"{int(minutes)}m{sec:04.1f}s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h{int(minutes):02d}m"


def percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def rate(x: float | None, unit: str) -> str:
    return "-" if x is None else f"{x:,.1f} {unit}"


METRIC_SHORT = {"exact_match": "em", "exact_match_flex": "em_flex"}


def metric_short(metric: str) -> str:
    """A metric's name where columns are narrow: acc, acc_norm, em (exact match), em_flex."""
    return METRIC_SHORT.get(metric, metric)


def state_mark(data_state: str) -> str:
    """A task's data state, short: ✓ cached, ↓ fetched on the first run, hub (read through `datasets`)."""
    if data_state == "cached":
        return "✓"
    if data_state == "not fetched":
        return "↓"
    if data_state.startswith("hub"):
        return "hub"
    return data_state[:3]


def cut(text: str, width: int) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``width`` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    if width <= 0:
        return ""
    return flat if len(flat) <= width else flat[: max(0, width - 1)] + "…"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 run``, ``2 runs``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def where_model_runs(device: str, dtype: str, quant: str, source: str = "") -> str:
    """Where a loaded model runs, as the live and chat screens say it: "on cpu (bfloat16, quant none)",
    "in llama.cpp on cpu (the GGUF's quantization)", "on the server http://..."."""
    if device == "server":
        where = source.removeprefix("openai server").strip()
        return f"on the server {where}".rstrip()
    if dtype == "gguf":
        return f"in llama.cpp on {device} (the GGUF's quantization)"
    return f"on {device} ({dtype}, quant {quant})"


def server_words(in_flight: int, retries: int, alive: int, replicas: int) -> str:
    """A server run's state: "4 in flight, 1 retry, 1/2 replicas"."""
    words = [f"{in_flight} in flight", plural(retries, "retry", "retries")]
    if replicas > 1:
        words.append(f"{alive}/{replicas} replicas")
    return ", ".join(words)


def in_flight_words(first: int, last: int) -> str:
    """The documents a batch is scoring: "document 17" or "documents 17-32"."""
    return f"document {first}" if first == last else f"documents {first}-{last}"


def model_name(spec: str, width: int | None = None) -> str:
    """A model as tables show it: a path's file name without ``.gguf``, a hub id's name, an alias as it is;
    cut to ``width`` with an ellipsis (never leaving a dangling dot or dash before it)."""
    name = str(spec).rstrip("/").split("/")[-1]
    name = name[:-5] if name.lower().endswith(".gguf") else name
    if width is None or len(name) <= width:
        return name
    return name[: max(0, width - 1)].rstrip(".-_ ") + "…"


def tail(text: str, width: int) -> str:
    """The end of ``text`` on one line, cut from the left to ``width`` characters."""
    flat = " ".join(str(text).split())
    if width <= 0:
        return ""
    return flat if len(flat) <= width else "…" + flat[-(width - 1) :]


def keep_line_breaks(markdown: str) -> str:
    """A model's reply as Markdown that keeps its line breaks: every newline becomes a hard break (two trailing
    spaces), since Markdown otherwise joins the lines of a paragraph into one. Lists, headings and code blocks
    are unaffected (trailing spaces at the end of a block or inside code show nothing)."""
    return markdown.replace("\n", "  \n")


def engine_words(status: Any) -> str:
    """What the engine process holds: "engine (pid 4242): smollm2-135m-instruct cpu bfloat16, RSS 812.0 MiB"."""
    what = "no model" if status.model is None else f"{status.model} {status.device} {status.dtype}".strip()
    if status.quant and status.quant != "none":
        what += f" {status.quant}"
    return f"engine (pid {status.pid}): {what}, RSS {human_bytes(status.rss_bytes)}"
