"""Shared pieces of the report's charts: the Chart record, a constrained-layout Agg Figure, colours and a footer.

matplotlib is imported here, and this module only when a report is written (from ``charts`` and
``matrix_charts``), so importing ``core`` or ``core.report`` stays cheap.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


@dataclass(frozen=True)
class Chart:
    name: str  # file stem: <name>.png
    title: str
    figure: Any  # matplotlib.figure.Figure
    kind: str = ""  # what the chart shows ("overlap", "matrix_heatmap"...), the same for every task


def colour(i: int) -> str:
    return f"C{i % 10}"


def wrap(label: str, width: int = 18) -> str:
    """A label broken into lines so neighbouring tick labels do not overlap."""
    return "\n".join(textwrap.wrap(label, width)) or label


def figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def footer(fig: Figure, text: str) -> None:
    """Small grey text under the axes (which questions, which runs, which test), the layout shrunk to fit."""
    lines = textwrap.wrap(text, int(fig.get_figwidth() * 15.5))
    fig.text(0.01, 0.005, "\n".join(lines), ha="left", va="bottom", fontsize=7, color="0.3")
    bottom = (len(lines) * 8.5 + 6) / (fig.get_figheight() * 72)
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.set(rect=(0, bottom, 1, 1 - bottom))  # type: ignore[call-arg]


def title(fig: Figure, text: str) -> None:
    """The figure's title, broken into lines that fit its width."""
    fig.suptitle("\n".join(textwrap.wrap(text, int(fig.get_figwidth() * 8.5))))
