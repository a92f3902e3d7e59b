"""The live screen's current-question and timing panels (plain Statics rendering rich Text)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from core.mmlu.data import LETTERS

from ..format import human_bytes, rate, seconds


class QuestionPanel(Static):
    """The question just answered: its choices with the model's probabilities, the answer, right or wrong."""

    def show(self, record: dict[str, Any]) -> None:
        text = Text()
        verdict = ("right", "bold green") if record["correct"] else ("wrong", "bold red")
        text.append(f"{record['subject'].replace('_', ' ')} #{record['index']}  ", style="dim")
        text.append(verdict[0], style=verdict[1])
        text.append("\n" + " ".join(record["question"].split())[:400] + "\n")
        for letter, choice, p in zip(LETTERS, record["choices"], record["probs"], strict=True):
            mark = ""
            style = ""
            if letter == record["answer"]:
                mark, style = " <- answer", "green"
            if letter == record["predicted"] and not record["correct"]:
                mark, style = " <- model", "red"
            elif letter == record["predicted"]:
                mark = " <- answer, model"
            bar = "#" * round(p * 10)
            text.append(f"{letter}. {p:4.0%} {bar:<10} ", style="dim")
            text.append(" ".join(str(choice).split())[:70] + mark + "\n", style=style)
        self.update(text)


class TimingPanel(Static):
    """Live timing: load, wall, CPU, GPU time, rates, ETA, memory."""

    def show(self, t: dict[str, Any]) -> None:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="dim")
        table.add_column(justify="right")
        rows = [
            ("model load", seconds(t.get("load_s"))),
            ("wall", seconds(t.get("wall_s"))),
            ("CPU time", seconds(t.get("cpu_s"))),
            ("GPU time", "n/a" if t.get("gpu_s") is None else seconds(t.get("gpu_s"))),
            ("questions/s", rate(t.get("questions_per_s"), "")),
            ("tokens/s", rate(t.get("tokens_per_s"), "")),
            ("ETA", seconds(t.get("eta_s"))),
            ("RSS", human_bytes(t.get("rss_bytes"))),
            ("GPU memory", human_bytes(t.get("peak_gpu_bytes"))),
        ]
        for row in rows:
            table.add_row(*row)
        self.update(table)
