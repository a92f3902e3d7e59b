"""Setup: pick model(s), task(s), device, dtype, quantization, MMLU subjects and options; queue and start runs.

Every (model, task) pair is one run: ticking three tasks and queueing two models starts six runs, one after
another. MMLU's subject list only applies to the MMLU run; it is dimmed while MMLU is not ticked.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Checkbox,
    Header,
    Input,
    Label,
    OptionList,
    RadioButton,
    RadioSet,
    SelectionList,
    Static,
)  # fmt: skip
from textual.widgets.option_list import Option
from textual.widgets.selection_list import Selection

from core import assets
from core.config import EvalConfig
from core.devices import DTYPES, QUANTS, quant_problem
from core.mmlu.subjects import CATEGORIES, CATEGORY_OF, DEFAULT_SUBJECTS, pretty
from core.tasks import DEFAULT_TASK

from ..format import metric_short, state_mark
from ..messages import DataSubjects, ServerChecked, StartRuns, WarmupDone
from ..widgets.key_bar import KeyBar

SHORT = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
OTHER = "other subjects"  # the group of a data file's subjects that are not MMLU's
SUBJECT_TASK = "mmlu"  # the task whose subsets the subject list picks


def task_label(row: Any) -> str:
    """One line of the task list: name, documents, primary metric, data state (a mark; the note says it in words)."""
    size = "" if row.size is None else (f"{row.size / 1000:.1f}k" if row.size >= 1000 else str(row.size))
    mark = state_mark(row.data_state)
    return f"{row.name:<14} {size:>5} {metric_short(row.metrics[0]):<8} {mark}"


def task_note(row: Any) -> str:
    """The highlighted task in two short lines: title, size, shots; metrics and where its data is."""
    size = "?" if row.size is None else f"{row.size:,}"
    also = f" +{','.join(metric_short(m) for m in row.metrics[1:])}" if len(row.metrics) > 1 else ""
    state = {
        "cached": "data cached",
        "not fetched": f"fetched on 1st run ({row.origin})",
        "hub": "from the HF hub (network)",
        "hub, cached": "HF hub, cached",
    }.get(row.data_state, row.data_state)
    return (
        f"[b]{escape(row.title)}[/]: {size} docs, {escape(row.shots)}-shot\n"
        f"{metric_short(row.metrics[0])}{also}; {escape(state)}"
    )


def group_subjects(subjects: list[str]) -> dict[str, tuple[str, ...]]:
    """A data file's subjects under MMLU's categories, in MMLU's order; unknown names in a group of their own."""
    present = set(subjects)
    groups = {c: tuple(s for s in members if s in present) for c, members in CATEGORIES.items()}
    groups[OTHER] = tuple(sorted(s for s in present if s not in CATEGORY_OF))
    return {c: members for c, members in groups.items() if members}


def dtype_problem(dtype: str, device: str, bf16: bool) -> str | None:
    """Why ``dtype`` cannot run on ``device``, or None."""
    if dtype == "bfloat16" and device == "mps":
        return "bf16 not on mps"
    if dtype == "bfloat16" and device.startswith("cuda") and not bf16:
        return "this GPU has no bf16"
    return None


class SetupScreen(Screen[None]):
    """Everything a run needs, chosen with the keyboard."""

    BINDINGS = [
        Binding("ctrl+r", "start", "Start", priority=True),
        Binding("ctrl+t", "queue_model", "Queue", priority=True),
        Binding("ctrl+g", "clear_queue", "Clear queue", show=False, priority=True),
        Binding("ctrl+f", "find_subject", "Find subject", priority=True),
        Binding("ctrl+n", "toggle_all_subjects", "All/none subjects", show=False, priority=True),
        Binding("ctrl+k", "focus_tasks", "Tasks", priority=True),
    ]

    AUTO_FOCUS = "#models"

    def __init__(self) -> None:
        super().__init__()
        self.devices: list[Any] = []
        self.counts: dict[str, int] | None = None
        self.bundled_counts: dict[str, int] | None = None
        self.groups: dict[str, tuple[str, ...]] = dict(CATEGORIES)  # what the subject list offers
        self.data_spec = ""  # the data source the list shows ("" = bundled)
        self.selected: set[str] = set(DEFAULT_SUBJECTS)
        self.tasks: list[Any] = []  # catalogue rows (core.tasks.catalog.TaskRow), in the registry's order
        self.tasks_selected: set[str] = {DEFAULT_TASK}
        self.queue: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="setup"):
            with VerticalScroll(id="setup-left"):
                yield Label("Model", classes="section")
                yield OptionList(id="models")
                yield Input(
                    assets.DEFAULT_MODEL, placeholder="alias, org/name, folder or .gguf", id="model-input", compact=True
                )
                with Horizontal(id="backend-row", classes="field-row"):  # where the model runs
                    yield RadioSet(
                        RadioButton("PyTorch", value=True, name="transformers"),  # transformers on PyTorch
                        RadioButton("llama.cpp", name="llamacpp"),
                        RadioButton("server", name="openai"),
                        id="backend",
                        compact=True,
                    )
                with Horizontal(id="url-row", classes="field-row"):
                    yield Label("url    ", classes="field-label")
                    yield Input(placeholder="http://127.0.0.1:8000/v1 (enter checks it)", id="base-url", compact=True)
                yield Static("", id="backend-note", classes="note")
                yield Label("Device", classes="section local-only")
                yield RadioSet(RadioButton("cpu", value=True, name="cpu"), id="device", classes="local-only")
                yield Static("detecting devices...", id="device-note", classes="note local-only")
                yield Label("dtype", classes="section torch-only")
                yield RadioSet(
                    *[RadioButton(SHORT.get(d, d), value=d == "auto", name=d) for d in DTYPES],
                    id="dtype",
                    classes="torch-only",
                )
                yield Label("Quantization", classes="section torch-only")
                yield RadioSet(
                    *[RadioButton(q, value=q == "none", name=q) for q in QUANTS], id="quant", classes="torch-only"
                )
                yield Static("", id="quant-note", classes="note torch-only")
                yield Label("Options", classes="section")
                with Horizontal(id="numbers"):  # labelled, so that a typed value still says what it is
                    yield Label("shots ", classes="field-label")
                    yield Input(placeholder="task's", type="integer", id="shots", compact=True)
                    yield Label(" limit ", classes="field-label")
                    yield Input(placeholder="all", type="integer", id="limit", compact=True)
                yield Checkbox("use the chat template", id="chat-template", compact=True)
                with Horizontal(classes="field-row"):
                    yield Label("data   ", classes="field-label")
                    yield Input(placeholder="bundled, hub, or a .jsonl/.json/.parquet", id="data", compact=True)
                with Horizontal(classes="field-row"):
                    yield Label("output ", classes="field-label")
                    yield Input(placeholder="runs/<time>-<model>-<task>", id="output", compact=True)
                yield Static("", id="queue", classes="note")
            with Vertical(id="setup-right"):
                yield Label("Tasks", id="tasks-label", classes="section")
                yield SelectionList[str](id="tasks", compact=True)
                yield Static("", id="task-note", classes="note")
                with Vertical(id="subject-box"):
                    yield Label("MMLU subjects", id="subjects-label", classes="section")
                    yield Input(
                        placeholder="find subject (↑↓, enter ticks)",
                        id="subject-search",
                    )
                    yield SelectionList[str](id="subjects")
                    yield Static("", id="subject-summary", classes="note")
        yield KeyBar()

    def on_mount(self) -> None:
        # styled as it mounted: Textual's full CSS refresh when the user first comes back here would be redundant
        # (~100 ms; see LlmTuiApp.switch_mode)
        self._css_update_count = self.app._css_update_count
        self.title = "llm-tui"
        self.sub_title = "setup"
        self._recall()
        self._backend_changed()
        self._fill_models()
        self._fill_tasks()
        self._fill_subjects()
        self._refresh_constraints()
        self._show_queue()
        app: Any = self.app
        if app.warmup_result is not None:
            self.post_message(app.warmup_result)

    def _recall(self) -> None:
        """The choices of the last run started (settings.json), where they still make sense."""
        app: Any = self.app
        last = app.settings.last_setup
        if last is None:
            return
        if last.model:
            self.query_one("#model-input", Input).value = last.model
        known_tasks = {r.name for r in app.task_rows()}
        tasks = {t for t in last.tasks if t in known_tasks}
        if tasks:
            self.tasks_selected = tasks
        known = {s for group in CATEGORIES.values() for s in group}
        subjects = {s for s in last.subjects if s in known}
        if subjects:
            self.selected = subjects
        for field_id, value in (("#limit", last.limit), ("#shots", last.shots)):
            if value is not None:
                self.query_one(field_id, Input).value = str(value)
        self.query_one("#base-url", Input).value = last.base_url
        for radio_id, name in (("#dtype", last.dtype), ("#quant", last.quant), ("#backend", last.backend)):
            for button in self.query_one(radio_id, RadioSet).query(RadioButton):
                if button.name == name:
                    button.value = True

    def on_screen_resume(self) -> None:
        if self.tasks:  # a run may have fetched a task's data since: show it cached
            self._fill_tasks()

    # -- model -------------------------------------------------------------------------------------
    def _fill_models(self) -> None:
        app: Any = self.app
        options: list[Option] = []
        cache = app.settings.cache
        for name in sorted(assets.MODEL_ALIASES, key=lambda n: (n != assets.DEFAULT_MODEL, n)):
            state = "cached" if assets.asset_path(assets.ASSETS[name], cache).exists() else "not fetched yet"
            options.append(Option(f"{name}  [dim]({state})[/]", id=name))
        for spec in app.settings.recent_models:
            if spec not in assets.MODEL_ALIASES:
                options.append(Option(f"{spec}  [dim](recent)[/]", id=spec))
        models = self.query_one("#models", OptionList)
        models.clear_options()
        models.add_options(options)

    @on(OptionList.OptionSelected, "#models")
    def _model_picked(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.query_one("#model-input", Input).value = event.option.id

    # -- devices, dtype, quantization -------------------------------------------------------------
    @on(WarmupDone)
    async def _warmup_done(self, message: WarmupDone) -> None:
        message.stop()  # handled here; it must not bubble back up to the app, which forwarded it
        self.devices = message.devices
        self.bundled_counts = message.counts
        if not self.data_spec:
            self.counts = message.counts
        note = self.query_one("#device-note", Static)
        if message.error:
            note.update(f"[red]{message.error}[/]")
        radio = self.query_one("#device", RadioSet)
        present = [str(b.name) for b in radio.query(RadioButton)]
        # The RadioSet starts with "cpu"; GPUs found by the warm-up are added in front of it, the first pressed.
        gpus = [d for d in self.devices if d.name != "cpu" and d.name not in present]
        if gpus:
            await radio.mount_all([RadioButton(d.name, name=d.name) for d in gpus], before=0)
            radio.query(RadioButton).first().value = True
            radio.refresh(layout=True)
        self._describe_device()
        self._fill_subjects()
        self._refresh_constraints()

    def _device_info(self) -> Any | None:
        name = self.selected_device
        return next((d for d in self.devices if d.name == name), None)

    @property
    def selected_device(self) -> str:
        button = self.query_one("#device", RadioSet).pressed_button
        return button.name if button and button.name else "cpu"

    def _describe_device(self) -> None:
        from ..format import human_bytes

        info = self._device_info()
        if info is not None:
            bf16 = ", native bf16" if info.bf16 else ""
            self.query_one("#device-note", Static).update(f"{info.label}, {human_bytes(info.memory_bytes)}{bf16}")

    # -- backend -----------------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return self._pressed("#backend", "transformers")

    @on(RadioSet.Changed, "#backend")
    def _backend_changed(self) -> None:
        """Only what applies shows: device, dtype and quantization for transformers; the device for llama.cpp (a
        GGUF keeps its own quantization); the server's address for a server."""
        from core.backends.llamacpp import available

        backend = self.backend
        left = self.query_one("#setup-left")
        left.set_class(backend != "transformers", "-no-torch")
        left.set_class(backend == "openai", "-server")
        missing = available()
        llama = next(b for b in self.query_one("#backend", RadioSet).query(RadioButton) if b.name == "llamacpp")
        llama.disabled = missing is not None and backend != "llamacpp"
        note = self.query_one("#backend-note", Static)
        if backend == "openai":
            note.update("the model field names the served model (empty: the server's only one)")
        elif missing is not None:
            note.update(f"llama.cpp: {escape(missing)}")
        else:
            note.update("")
        note.display = bool(str(note.render()).strip())

    @on(Input.Submitted, "#base-url")
    def _check_server(self) -> None:
        url = self.query_one("#base-url", Input).value.strip()
        if not url:
            self.notify("type the server's address first, e.g. http://127.0.0.1:8000/v1", severity="warning")
            return
        self.query_one("#backend-note", Static).update(f"asking {escape(url)} for its models...")
        self.query_one("#backend-note", Static).display = True
        self.check_server(url)

    @work(thread=True, exclusive=True, exit_on_error=False, group="server-check")
    def check_server(self, url: str) -> None:
        from core.backends.server import ServerClient, ServerSpec
        from core.errors import LlmTuiError

        try:
            client = ServerClient(ServerSpec(tuple(u.strip() for u in url.split(",") if u.strip()), retries=0,
                                             timeout_s=10.0))  # fmt: skip
            try:
                served = client.models()
            finally:
                client.close()
        except LlmTuiError as exc:
            self.post_message(ServerChecked(url, [], str(exc)))
            return
        self.post_message(ServerChecked(url, served, None))

    @on(ServerChecked)
    def _server_checked(self, message: ServerChecked) -> None:
        note = self.query_one("#backend-note", Static)
        note.display = True
        if message.error is not None:
            note.update(f"[red]{escape(message.error)}[/]")
            return
        models = ", ".join(message.models[:4]) + (f" (+{len(message.models) - 4})" if len(message.models) > 4 else "")
        note.update(f"[green]server answers[/]: {escape(models or 'no model listed')}")
        box = self.query_one("#model-input", Input)
        if message.models and box.value.strip() not in message.models:
            box.value = message.models[0]  # the served model, so that the run asks for one the server has

    @on(RadioSet.Changed, "#device")
    def _device_changed(self) -> None:
        self._describe_device()
        self._refresh_constraints()

    def _refresh_constraints(self) -> None:
        device = self.selected_device
        info = self._device_info()
        bf16 = bool(info and info.bf16)
        reasons = []
        for button in self.query_one("#dtype", RadioSet).query(RadioButton):
            problem = dtype_problem(str(button.name), device, bf16)
            button.disabled = problem is not None
            if problem:
                reasons.append(f"{button.name}: {problem}")
        for button in self.query_one("#quant", RadioSet).query(RadioButton):
            problem = quant_problem(str(button.name), device)
            button.disabled = problem is not None
            if problem:
                reasons.append(f"{button.name}: {problem.split(';')[0].replace('--quant ', '')}")
        self.query_one("#quant-note", Static).update("\n".join(reasons))

    # -- tasks -------------------------------------------------------------------------------------
    def _fill_tasks(self) -> None:
        app: Any = self.app
        self.tasks = app.task_rows()
        widget = self.query_one("#tasks", SelectionList)
        highlighted = widget.highlighted
        widget.clear_options()
        widget.add_options([Selection(task_label(r), r.name, r.name in self.tasks_selected) for r in self.tasks])
        if self.tasks:
            widget.highlighted = min(highlighted or 0, len(self.tasks) - 1)
        self._tasks_changed()

    @property
    def chosen_tasks(self) -> list[str]:
        """The ticked tasks, in the list's order."""
        return [r.name for r in self.tasks if r.name in self.tasks_selected]

    @on(SelectionList.SelectionToggled, "#tasks")
    def _task_toggled(self, event: SelectionList.SelectionToggled) -> None:
        event.stop()
        name = str(event.selection.value)
        if name in self.query_one("#tasks", SelectionList).selected:
            self.tasks_selected.add(name)
        else:
            self.tasks_selected.discard(name)
        self._tasks_changed()

    @on(SelectionList.SelectionHighlighted, "#tasks")
    def _task_highlighted(self, event: SelectionList.SelectionHighlighted) -> None:
        event.stop()
        self._describe_task(str(event.selection.value))

    def _describe_task(self, name: str) -> None:
        row = next((r for r in self.tasks if r.name == name), None)
        if row is not None:
            self.query_one("#task-note", Static).update(task_note(row))

    def _tasks_changed(self) -> None:
        """The subject picker is live only while MMLU is ticked; a data file is read for its subjects only then."""
        mmlu = SUBJECT_TASK in self.tasks_selected
        box = self.query_one("#subject-box")
        box.set_class(not mmlu, "inactive")
        for widget in box.query("Input, SelectionList"):
            widget.disabled = not mmlu
        label = "MMLU subjects" if mmlu else "MMLU subjects [dim](tick mmlu to use)[/]"
        self.query_one("#subjects-label", Label).update(label)
        n = len(self.tasks_selected)
        self.query_one("#tasks-label", Label).update(f"Tasks ({n} ticked) [dim]✓ cached ↓ to fetch[/]")
        if mmlu:
            self._data_entered()
        self._summarise_subjects()
        self._show_queue()

    def action_focus_tasks(self) -> None:
        self.query_one("#tasks", SelectionList).focus()

    # -- subjects ----------------------------------------------------------------------------------
    def _fill_subjects(self) -> None:
        needle = self.query_one("#subject-search", Input).value.strip().lower().replace(" ", "_")
        widget = self.query_one("#subjects", SelectionList)
        widget.clear_options()
        options: list[Selection[str]] = []
        for category, subjects in self.groups.items():
            shown = [s for s in subjects if needle in s or needle in category]
            if not shown:
                continue
            n_questions = sum(self.counts.get(s, 0) for s in subjects) if self.counts else None
            size = f", {n_questions:,} q" if n_questions else ""
            every = all(s in self.selected for s in subjects)
            options.append(Selection(f"[b]{category}[/] ({len(subjects)} subjects{size})", f"cat:{category}", every))
            for s in shown:
                count = f" ({self.counts[s]})" if self.counts and s in self.counts else ""
                options.append(Selection(f"  {pretty(s)}{count}", s, s in self.selected))
        widget.add_options(options)
        if needle:  # searching: the first matching subject is highlighted, so tab then space ticks it
            first = next((i for i, o in enumerate(options) if not str(o.value).startswith("cat:")), None)
            if first is not None:
                widget.highlighted = first
        self._summarise_subjects()

    @on(Input.Changed, "#subject-search")
    def _search(self) -> None:
        self._fill_subjects()

    @on(Input.Submitted, "#subject-search")
    def _tick_found(self) -> None:
        """enter in the search box ticks (or unticks) the highlighted subject; the search text stays."""
        widget = self.query_one("#subjects", SelectionList)
        if widget.highlighted is not None:
            widget.action_select()

    def on_key(self, event: events.Key) -> None:
        """up/down in the search box move the subject list's highlight without leaving the box."""
        search = self.query_one("#subject-search", Input)
        if self.focused is search and event.key in ("up", "down"):
            widget = self.query_one("#subjects", SelectionList)
            (widget.action_cursor_down if event.key == "down" else widget.action_cursor_up)()
            event.stop()
            event.prevent_default()

    @on(SelectionList.SelectionToggled, "#subjects")
    def _toggled(self, event: SelectionList.SelectionToggled) -> None:
        value = str(event.selection.value)
        widget = self.query_one("#subjects", SelectionList)
        now_on = value in widget.selected
        if value.startswith("cat:"):
            members = self.groups[value[4:]]
            if now_on:
                self.selected.update(members)
            else:
                self.selected.difference_update(members)
            self._fill_subjects()
            return
        if now_on:
            self.selected.add(value)
        else:
            self.selected.discard(value)
        self._summarise_subjects()

    # -- data source: a local file brings its own subjects ----------------------------------------------
    @on(Input.Submitted, "#data")
    @on(Input.Blurred, "#data")
    def _data_entered(self) -> None:
        if SUBJECT_TASK not in self.tasks_selected:
            return  # the file is for another task: its rows are not MMLU's (read when MMLU is ticked)
        spec = self.query_one("#data", Input).value.strip()
        spec = "" if spec in ("bundled", "hub") else spec  # the hub's cais/mmlu has the bundled subjects
        if spec != self.data_spec:
            self.data_spec = spec
            if spec:
                self.query_one("#subject-summary", Static).update(f"reading {spec}...")
                self.read_data_subjects(spec)
            else:
                self._show_data_subjects(DataSubjects("", self.bundled_counts))

    @work(thread=True, exclusive=True, exit_on_error=False, group="data")
    def read_data_subjects(self, spec: str) -> None:
        """Read a local data file off the event loop; only its subjects and counts come back."""
        from pathlib import Path

        from core.errors import LlmTuiError
        from core.mmlu.data import load_file

        try:
            self.post_message(DataSubjects(spec, load_file(Path(spec).expanduser()).counts()))
        except LlmTuiError as exc:
            self.post_message(DataSubjects(spec, None, str(exc)))

    @on(DataSubjects)
    def _show_data_subjects(self, message: DataSubjects) -> None:
        message.stop()
        if message.spec != self.data_spec:
            return  # an older file's answer, overtaken by what the user typed since
        if message.error:
            self.groups, self.counts = dict(CATEGORIES), self.bundled_counts
            self._fill_subjects()
            self.query_one("#subject-summary", Static).update(f"[red]{escape(message.error)}[/]")
            return
        had = bool(self.selected)
        if message.spec:
            assert message.counts is not None
            self.groups, self.counts = group_subjects(list(message.counts)), message.counts
        else:
            self.groups, self.counts = dict(CATEGORIES), message.counts
        offered = {s for group in self.groups.values() for s in group}
        self.selected &= offered
        if had and not self.selected:  # nothing chosen is in the new source: start from all of it
            self.selected = set(offered)
        self._fill_subjects()

    def action_find_subject(self) -> None:
        if SUBJECT_TASK not in self.tasks_selected:
            self.notify("subjects are MMLU's: tick mmlu in the task list first (ctrl+k, space)", severity="warning")
            return
        self.query_one("#subject-search", Input).focus()

    def action_toggle_all_subjects(self) -> None:
        if SUBJECT_TASK not in self.tasks_selected:
            return
        all_subjects = {s for group in self.groups.values() for s in group}
        self.selected = set() if self.selected >= all_subjects else set(all_subjects)
        self._fill_subjects()

    def _summarise_subjects(self) -> None:
        n = len(self.selected)
        questions = sum(self.counts.get(s, 0) for s in self.selected) if self.counts else None
        limit = self._int("#limit")
        if questions is not None and limit:
            questions = sum(min(limit, self.counts.get(s, 0)) for s in self.selected) if self.counts else None
        text = f"{n} subject{'s' if n != 1 else ''} selected"
        if questions is not None:
            text += f", {questions:,} questions"
        if SUBJECT_TASK not in self.tasks_selected:
            text = "[dim]not used: mmlu is not ticked[/]"
        self.query_one("#subject-summary", Static).update(text)

    @on(Input.Changed, "#limit")
    def _limit_changed(self) -> None:
        self._summarise_subjects()

    # -- queue and start ---------------------------------------------------------------------------
    def _int(self, selector: str) -> int | None:
        text = self.query_one(selector, Input).value.strip()
        return int(text) if text.lstrip("-").isdigit() else None

    def _show_queue(self) -> None:
        tasks = self.chosen_tasks
        runs = max(1, len(self.queue)) * len(tasks)
        on = f" on {', '.join(tasks)}" if len(tasks) > 1 else ""
        if self.queue:
            text = "queue: " + " -> ".join(self.queue) + on
        else:
            text = "queue empty: ctrl+r runs the model above" + on
        if runs > 1:
            text += f" ({runs} runs, one per model and task)"
        self.query_one("#queue", Static).update(escape(text))

    def action_queue_model(self) -> None:
        spec = self.query_one("#model-input", Input).value.strip()
        if spec:
            self.queue.append(spec)
            self._show_queue()

    def action_clear_queue(self) -> None:
        self.queue.clear()
        self._show_queue()

    def _pressed(self, selector: str, default: str) -> str:
        button = self.query_one(selector, RadioSet).pressed_button
        return str(button.name) if button is not None and button.name else default

    def backend_fields(self) -> dict[str, Any]:
        """The EvalConfig fields of the chosen backend; dtype and quantization belong to transformers only."""
        backend = self.backend
        if backend == "transformers":
            return {"backend": backend}
        fields: dict[str, Any] = {"backend": backend, "dtype": "auto", "quant": "none", "chat_template": False}
        if backend == "openai":
            fields["base_url"] = self.query_one("#base-url", Input).value.strip() or None
            fields["device"] = "auto"
        return fields

    def build_configs(self) -> list[EvalConfig]:
        """One configuration per (model, task), models in queue order, each model's tasks in list order."""
        app: Any = self.app
        specs = self.queue or [self.query_one("#model-input", Input).value.strip() or assets.DEFAULT_MODEL]
        tasks = self.chosen_tasks or [DEFAULT_TASK]
        subjects = [s for group in self.groups.values() for s in group if s in self.selected]
        output = self.query_one("#output", Input).value.strip() or None
        configs = []
        for spec in specs:
            for task in tasks:
                out = output
                if output and len(specs) * len(tasks) > 1:  # as the CLI: OUTPUT/<model>/<task>/
                    from pathlib import Path

                    from core.models import describe_spec

                    out = str(Path(output) / describe_spec(spec).slug / task)
                fields: dict[str, Any] = dict(
                    model=spec, task=task, subsets=",".join(subjects) if task == SUBJECT_TASK else None,
                    device=self.selected_device, dtype=self._pressed("#dtype", "auto"),
                    quant=self._pressed("#quant", "none"), shots=self._int("#shots"), limit=self._int("#limit"),
                    chat_template=self.query_one("#chat-template", Checkbox).value, output=out,
                    data=self.query_one("#data", Input).value.strip() or "bundled",
                    runs_dir=app.settings.runs_dir, cache_dir=app.settings.cache_dir,
                )  # fmt: skip
                configs.append(EvalConfig(**{**fields, **self.backend_fields()}))
        return configs

    def action_start(self) -> None:
        from core.errors import LlmTuiError

        if not self.tasks_selected:
            self.notify("tick at least one task (ctrl+k goes to the task list, space ticks)", severity="error")
            return
        if SUBJECT_TASK in self.tasks_selected and not self.selected:
            self.notify("tick at least one MMLU subject (space toggles, ctrl+n selects all)", severity="error")
            return
        shots = self._int("#shots")
        if shots is not None and shots < 0:
            self.notify("shots must be 0 or more (empty = each task's default)", severity="error")
            return
        limit = self._int("#limit")
        if limit is not None and limit < 1:
            self.notify("limit must be 1 or more (empty = all documents)", severity="error")
            return
        data = self.query_one("#data", Input).value.strip()
        if data not in ("", "bundled", "hub") and len(self.tasks_selected) > 1:
            self.notify(
                "a data file holds one task's documents: tick only that task, or clear the data field",
                severity="error",
            )
            return
        try:
            configs = self.build_configs()
        except LlmTuiError as exc:
            self.notify(str(exc), severity="error")
            return
        app: Any = self.app
        from ..settings import SetupMemory

        # models go into "recent" once they have loaded (the live screen), not before they are checked
        app.settings.remember_setup(
            SetupMemory(
                model=configs[0].model, tasks=self.chosen_tasks, subjects=sorted(self.selected),
                limit=limit, shots=shots, dtype=self._pressed("#dtype", "auto"), quant=self._pressed("#quant", "none"),
                backend=self.backend, base_url=self.query_one("#base-url", Input).value.strip(),
            )
        )  # fmt: skip
        self.queue.clear()
        self._show_queue()
        self._fill_models()
        self.app.post_message(StartRuns(configs))
