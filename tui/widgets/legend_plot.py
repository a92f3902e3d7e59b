"""A plotext plot whose legend is drawn on its own lines above the chart.

Plotext draws a multiple-bar legend inside the plotting area, over the first bars; here the series are drawn
without labels, in colours chosen here, and the legend is rendered above the chart in the same colours (seen
first, even when the chart is scrolled).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

# Distinct colours that read on dark and light themes (plotext takes RGB tuples; Rich takes the same values)
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 130, 200),
    (60, 180, 75),
    (230, 25, 75),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (170, 110, 40),
)


def series_color(i: int) -> tuple[int, int, int]:
    return PALETTE[i % len(PALETTE)]


def legend_text(names: Sequence[str], width: int) -> Text:
    """One entry per series ("■ name"), wrapped at ``width``."""
    text = Text(no_wrap=False, overflow="fold")
    line = 0
    for i, name in enumerate(names):
        entry = 2 + len(name)
        if line and line + 2 + entry > width:
            text.append("\n")
            line = 0
        elif line:
            text.append("  ")
            line += 2
        text.append("■ ", style=Style(color=f"rgb{series_color(i)}"))
        text.append(name)
        line += entry
    return text


class LegendPlot(PlotextPlot):
    """A PlotextPlot with ``series`` names shown as a legend above the chart."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.series: list[str] = []

    def render(self) -> RenderResult:
        if not self.series:
            return super().render()
        width, height = self.size.width, self.size.height
        legend = legend_text(self.series, width)
        rows = legend.plain.count("\n") + 1
        chart_height = max(height - rows, 1)
        plt = self.plt
        plt.plotsize(width, chart_height)
        plt._set_size(width, chart_height)  # as PlotextPlot.render does (textual-plotext issue 5)
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        legend.append("\n")
        legend.append_text(Text.from_ansi(plt.build()))
        return legend


def grouped_bars(
    plot: PlotextPlot, plt: Any, groups: Sequence[str], series: Sequence[Sequence[float]], names: Sequence[str]
) -> None:
    """Bars grouped per ``groups``, one series per name, with the legend above the chart (never over the bars)."""
    colors = [series_color(i) for i in range(len(series))]
    plt.multiple_bar(list(groups), [list(s) for s in series], color=colors)
    if isinstance(plot, LegendPlot):
        plot.series = list(names)
