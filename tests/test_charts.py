"""Charts: a grouped bar chart's legend is drawn above the chart, in the bars' colours, never over the bars
(issue 11, item 9: plotext drew it inside the plotting area, over the first bars)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui.widgets.charts import drawing
from tui.widgets.legend_plot import PALETTE, LegendPlot, grouped_bars, legend_text


class ChartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LegendPlot(id="plot")


async def test_the_legend_is_above_the_bars_and_names_each_series_in_its_colour():
    app = ChartApp()
    async with app.run_test(size=(60, 16)) as pilot:
        plot = app.query_one(LegendPlot)
        names = ["observed", "expected if independent", "third series"]
        with drawing(plot) as plt:
            grouped_bars(plot, plt, ["0", "1", "2"], [[90, 5, 5], [80, 15, 5], [100, 100, 100]], names)
            plt.title("runs wrong per document")
        await pilot.pause()
        rendered = plot.render()
        lines = rendered.plain.splitlines()
        assert len(lines) == 16 and "■ observed  ■ expected if independent  ■ third series" in lines[0]
        assert not any(name in line for line in lines[1:] for name in names)  # nothing drawn over the bars
        assert any("█" in line or "▄" in line for line in lines[2:])
        colours = {span.style.color.triplet for span in rendered.spans if "■" in rendered.plain[span.start : span.end]}
        assert colours == {tuple(PALETTE[i]) for i in range(3)}
        with drawing(plot) as plt:  # a redraw without series drops the legend
            plt.bar(["a"], [1])
        assert "observed" not in plot.render().plain


def test_a_long_legend_wraps_at_the_width():
    text = legend_text(["smollm2-135m-instruct cpu float32", "gemma-3-270m cpu float32", "qwen"], 40)
    lines = text.plain.splitlines()
    assert len(lines) == 2 and all(len(line) <= 40 for line in lines) and lines[1].endswith("■ qwen")
