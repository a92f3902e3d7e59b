"""The live screen's current-document and timing panels (plain Statics rendering rich Text)."""

from __future__ import annotations

import textwrap
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from core.schema import LETTERS, DocRecord, TaskInfo

from ..format import cut, human_bytes, metric_short, rate, seconds


def gold_indexes(record: DocRecord) -> set[int]:
    """The right choices' positions (several for TruthfulQA MC2)."""
    if isinstance(record.gold, list):
        return set(record.gold)
    if isinstance(record.gold, int):
        return {record.gold}
    return {LETTERS.index(a) for a in record.answer.split(",") if len(a) == 1 and a in LETTERS}


def pick_index(record: DocRecord) -> int | None:
    """The choice the model picked under the task's primary metric (acc_norm picks by log-likelihood per char)."""
    if len(record.pick) == 1 and record.pick in LETTERS:
        return LETTERS.index(record.pick)
    return record.predicted


def per_char(record: DocRecord) -> list[float | None]:
    """Each choice's log-likelihood per character of its text (what acc_norm compares)."""
    scores = record.scores or []
    return [s / len(c) if len(c) else None for s, c in zip(scores, record.choices, strict=False)]


def choice_lines(record: DocRecord, task: TaskInfo | None, width: int, rows: int) -> list[Text]:
    """One line per choice (at most ``rows``): label, probability bar, log-likelihood, text, marks.

    With more choices than rows, the model's pick, the right answers and then the most likely others are shown.
    """
    probs = record.probs
    golds = gold_indexes(record)
    pick = pick_index(record)
    norm = task is not None and task.primary_metric == "acc_norm"
    per = per_char(record) if norm else []
    order = list(range(len(record.choices)))
    hidden = 0
    if len(order) > rows:
        first = [i for i in order if i == pick or i in golds]
        rest = sorted((i for i in order if i not in first), key=lambda i: -(probs[i] if probs else 0))
        keep = set((first + rest)[: max(rows - 1, 1)])
        hidden = len(order) - len(keep)
        order = [i for i in order if i in keep]
    lines = []
    for i in order:
        label = LETTERS[i] if i < len(LETTERS) else str(i)
        right, picked = i in golds, i == pick
        style = "green" if right else ("red" if picked else "")
        mark = "✓" if right else ("✗" if picked else " ")
        line = Text(f"{mark} {label} ", style=style or "dim")
        if probs:
            p = probs[i]
            full, part = divmod(round(p * 16), 2)
            bar = "█" * full + ("▌" if part else "")
            line.append(f"{p:4.0%} {bar:<8} ", style="dim")
            score = record.scores[i] if record.scores else 0.0
            line.append(f"{score:8.2f} ", style="dim")
            if norm:
                value = per[i] if i < len(per) else None
                line.append("        " if value is None else f"{value:7.3f} ", style="dim")
        tags = [t for t, on in (("answer", right), ("model", picked)) if on]
        suffix = f"  ← {', '.join(tags)}" if tags else ""
        room = width - line.cell_len - len(suffix)
        line.append(cut(record.choices[i], room) + suffix, style=style)
        lines.append(line)
    if hidden:
        lines.append(Text(f"  … {hidden} more choices", style="dim"))
    return lines


def header_line(record: DocRecord, task: TaskInfo | None, width: int = 0) -> Text:
    """Where the document is, right or wrong, the model's answer and the right one; when ``width`` leaves room,
    what the numbers on the choice lines are."""
    text = Text()
    where = record.subset if record.subset == record.task else f"{record.task}/{record.subset}"
    text.append(f"{where.replace('_', ' ')} #{record.doc_id}  ", style="dim")
    if record.correct:
        text.append("right", style="bold green")
    else:
        text.append("wrong", style="bold red")
    text.append(f"  model {record.pick or '-'}, answer {record.answer}")
    metric = task.primary_metric if task else next(iter(record.metrics), "")
    value = record.metrics.get(metric)
    if value is not None and 0 < value < 1:  # a graded metric (TruthfulQA MC2's probability mass)
        text.append(f"  {metric_short(metric)} {value:.2f}", style="dim")
    if record.scores and record.choices:
        kind = "logit" if record.score_kind == "logit" else "log-lik"
        legend = f"p, {kind}" + (", per char" if task is not None and task.primary_metric == "acc_norm" else "")
        if width - text.cell_len >= len(legend) + 2:
            text.append(" " * (width - text.cell_len - len(legend)) + legend, style="dim")
    return text


def document_text(record: DocRecord, task: TaskInfo | None, width: int, height: int) -> Text:
    """The document just scored, fitted into ``width`` x ``height`` cells: long texts are cut, not wrapped."""
    width = max(width, 20)
    height = max(height, 3)
    out = [header_line(record, task, width)]
    if record.generated is not None:
        # generate_until (GSM8K, MMLU-Pro): the question, what the model wrote (its end), what was extracted
        extracted = Text("extracted ", style="dim")
        extracted.append(record.pick or "-", style="bold green" if record.correct else "bold red")
        extracted.append("  reference ", style="dim")
        extracted.append(record.answer, style="green")
        if record.generated_tokens:
            extracted.append(f"  ({record.generated_tokens} tokens generated)", style="dim")
        wrote = textwrap.wrap("wrote: " + " ".join(record.generated.split()), width) or ["wrote: (nothing)"]
        room = height - 2
        wrote_rows = max(1, min(3, room - 1, len(wrote)))
        if len(wrote) > wrote_rows:  # the end is what matters: the answer is stated last
            wrote = wrote[-wrote_rows:]
            wrote[0] = "…" + wrote[0][1:]
        out += _wrapped(record.question, width, max(1, room - wrote_rows))
        out += [Text(line) for line in wrote]
        out.append(extracted)
        return Text("\n").join(out[:height])
    rows_for_choices = min(len(record.choices), max(height - 2, 1))
    question_rows = max(1, height - 1 - rows_for_choices)
    out += _wrapped(record.question, width, question_rows)
    out += choice_lines(record, task, width, height - len(out))
    return Text("\n").join(out[:height])


def _wrapped(text: str, width: int, rows: int, style: str = "") -> list[Text]:
    """``text`` flattened and cut into at most ``rows`` lines of ``width``; the last one ends with … when cut."""
    flat = " ".join(str(text).split())
    lines = []
    for _ in range(rows):
        if not flat:
            break
        if len(flat) <= width:
            lines.append(flat)
            flat = ""
            break
        cut_at = flat.rfind(" ", 0, width + 1)
        cut_at = cut_at if cut_at > width // 2 else width
        lines.append(flat[:cut_at])
        flat = flat[cut_at:].lstrip()
    if flat and lines:
        lines[-1] = cut(lines[-1] + " " + flat, width)
    return [Text(line, style=style) for line in lines]


class DocumentPanel(Static):
    """The document just scored: question, choices with the model's scores and pick, the right answer; or, for
    generated answers, what the model wrote, the answer extracted from it and the reference."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record: DocRecord | None = None
        self.task_info: TaskInfo | None = None

    def show(self, record: DocRecord, task: TaskInfo | None) -> None:
        self.record, self.task_info = record, task
        self._draw()

    def clear(self, text: str = "") -> None:
        """Nothing scored yet in this run (the previous run's last document must not stay on screen)."""
        self.record = None
        self.update(text)

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        if self.record is None:
            return
        size = self.content_size
        # its size is the layout's (CSS), never its text's: no layout pass for each document shown
        self.update(document_text(self.record, self.task_info, size.width or 76, size.height or 6), layout=False)


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
            ("docs/s", rate(t.get("questions_per_s"), "")),
            ("tokens/s", rate(t.get("tokens_per_s"), "")),
            ("ETA", seconds(t.get("eta_s"))),
            ("RSS", human_bytes(t.get("rss_bytes"))),
            ("GPU memory", human_bytes(t.get("peak_gpu_bytes"))),
        ]
        for row in rows:
            table.add_row(*row)
        self.update(table, layout=False)  # a fixed-size panel (app.tcss): no layout pass per update
