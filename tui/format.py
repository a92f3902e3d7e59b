"""Small formatting helpers shared by the batch output and the app."""

from __future__ import annotations


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
