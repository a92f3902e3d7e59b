"""`llm-tui chat --batch`: play a chat script headless and write a transcript.

    llm-tui chat --batch --model smollm2-135m-instruct --script bench/scripts/alice.json --output alice.json
    llm-tui chat --batch --script bench/scripts/long60.txt --strategy summarize --max-context 512 -o long.json
    llm-tui chat --batch --script bench/scripts/alice.json --compare-history -o alice-compare.json

Exit codes: 0 done (refused turns included: they are recorded), 1 failure, 2 bad input, 130 interrupted
(the transcript so far is written).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .cli_common import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Parser,
    add_backend_options,
    add_model_options,
    backend_fields,
    foreseeable_os_error,
    install_stop_signals,
)

GEN_FLAGS = {
    "max_new_tokens": "tokens per reply (default 256)",
    "temperature": "0 = greedy and deterministic (default 0)",
    "top_p": "nucleus sampling, 1 = off (default 1)",
    "top_k": "top-k sampling, 0 = off (default 0)",
    "seed": "random seed when sampling, or none (default 0)",
    "repetition_penalty": "1 = off (default 1.1)",
}


def chat_parser() -> argparse.ArgumentParser:
    from core.assets import DEFAULT_MODEL
    from core.chat.settings import STRATEGIES

    p = Parser(
        prog="llm-tui chat",
        description="Chat with a model. With --batch: play a script headless and write a JSON transcript.",
        epilog="Script: a text file, one user message per line (/clear and other slash commands allowed), or JSON "
        '{"system": "...", "turns": [{"user": "..."}, {"user": "...", "expect": "..."}]}.',
    )
    p.add_argument("--batch", action="store_true", help="headless: play --script and write --output")
    p.add_argument(
        "--model",
        "-m",
        help=f"alias, Hugging Face id, model folder or .gguf file (default {DEFAULT_MODEL}); with a server, the "
        "served model's name (default: its only one)",
    )
    p.add_argument("--script", help="the conversation to play (text or JSON)")
    p.add_argument("--output", "-o", help="transcript file to write (JSON)")
    p.add_argument("--strategy", choices=STRATEGIES, default="window", help="context strategy (default %(default)s)")
    p.add_argument("--max-context", metavar="N", help="prompt token budget (default: model context - max new tokens)")
    p.add_argument("--history", choices=("on", "off"), default="on", help="send the conversation (default on)")
    p.add_argument("--keep-messages", metavar="N", help="`truncate`: earlier messages sent (default 6)")
    p.add_argument("--summary-tokens", metavar="N", help="`summarize`: longest summary (default 96)")
    p.add_argument("--system", metavar="TEXT", help="system prompt (default: the script's, else a short helpful one)")
    for key, what in GEN_FLAGS.items():
        p.add_argument("--" + key.replace("_", "-"), metavar="X", help=what)
    p.add_argument(
        "--compare-history",
        action="store_true",
        help="play the script with history on and off; probe each 'expect' under both",
    )
    add_model_options(p)
    add_backend_options(p)
    p.add_argument(
        "--tokenizer",
        metavar="SPEC",
        help="a served model's tokenizer (alias, folder or hub id), to fit the conversation into its context "
        "(default: the served model's name)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="print only the summary")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks for unexpected errors")
    return p


def settings_from_args(ns: argparse.Namespace, script_system: str | None) -> Any:
    """Build ChatSettings from flags, each value validated exactly as `/set` validates it."""
    from core.chat.settings import DEFAULT_SYSTEM_PROMPT, ChatSettings, set_option

    s = ChatSettings()
    system = ns.system if ns.system is not None else script_system
    s = set_option(s, "system_prompt", DEFAULT_SYSTEM_PROMPT if system is None else system)
    s = set_option(s, "strategy", ns.strategy)
    s = set_option(s, "history", ns.history)
    for key in ("max_context", "keep_messages", "summary_tokens", *GEN_FLAGS):
        raw = getattr(ns, key)
        if raw is not None:
            try:
                s = set_option(s, key, raw)
            except Exception as exc:
                from core.errors import UserInputError

                raise UserInputError(f"--{key.replace('_', '-')} {raw}: {str(exc).split(': ', 1)[-1]}") from None
    return s


def write_json(path: Path, data: dict[str, Any]) -> None:
    """The transcript, replaced whole after every turn (a failure names the path and the fix)."""
    from core.fsutil import atomic_write_json

    atomic_write_json(path, data, "--output transcript")


class ChatRenderer:
    """Prints a headless chat: replies streamed on a terminal, one block per turn otherwise."""

    def __init__(self, console: Console, quiet: bool = False, stream: bool | None = None) -> None:
        self.console = console
        self.quiet = quiet
        self.stream = console.is_terminal if stream is None else stream
        self.total = 0
        self.seen = 0  # messages of the script played so far (turn numbers restart after /clear)
        self.label = ""
        self._streaming = False

    def __call__(self, event: Any) -> None:
        handler = getattr(self, f"on_{type(event).__name__}", None)
        if handler is not None and not self.quiet:
            handler(event)

    def on_Notice(self, e: Any) -> None:
        self.console.print(f"[yellow]note:[/] {escape(e.message)}" if e.level == "warning" else escape(e.message))

    def on_ModelLoading(self, e: Any) -> None:
        self.console.print(f"[dim]model {escape(e.model)}: {e.stage}{' - ' + e.detail if e.detail else ''}[/]")

    def on_ScriptStarted(self, e: Any) -> None:
        self.total, self.label, self.seen = e.messages, e.label, 0
        label = f" ({e.label.replace('_', ' ')})" if e.label else ""
        self.console.rule(f"{escape(Path(e.path).name)}{label}: {e.messages} messages")

    def _you(self, text: str) -> None:
        self.seen += 1
        self.console.print(f"[bold cyan][{self.seen}/{self.total}] you:[/] {escape(text)}")

    def on_TurnStarted(self, e: Any) -> None:
        self._you(e.user)
        if self.stream:
            self.console.print("[bold green]model:[/] ", end="")
            self._streaming = True

    def on_ReplyDelta(self, e: Any) -> None:
        if self._streaming:
            self.console.file.write(e.text)
            self.console.file.flush()

    def on_Summarizing(self, e: Any) -> None:
        self.console.print(f"[dim]summarizing {e.messages} earlier messages...[/]")

    def on_SummaryUpdated(self, e: Any) -> None:
        self.console.print(f"[dim]summary of messages 1-{e.upto}: {escape(e.summary)}[/]")

    def on_TurnFinished(self, e: Any) -> None:
        r = e.record
        if self._streaming:
            self.console.print()
            self._streaming = False
        else:
            self.console.print(f"[bold green]model:[/] {escape(r.reply)}")
        cut = " [yellow](stopped)[/]" if r.stopped else ""
        speed = "-" if r.tokens_per_s is None else f"{r.tokens_per_s:.1f}"
        ttft = "-" if r.ttft_s is None else f"{r.ttft_s:.2f}"
        self.console.print(
            f"[dim]  {r.prompt_tokens}/{r.budget} tokens sent ({r.strategy}, history {'on' if r.history else 'off'}: "
            f"{len(r.kept)} kept, {len(r.dropped)} dropped, {len(r.summarized)} summarized); first token {ttft} s; "
            f"{r.new_tokens} tokens at {speed} tokens/s[/]{cut}"
        )

    def on_TurnRefused(self, e: Any) -> None:
        self._you(e.record.user)
        self.console.print(f"[yellow]  refused:[/] {escape(e.message)}")

    def on_CommandApplied(self, e: Any) -> None:
        self.console.print(f"[magenta]{escape(e.command)}[/] {escape('; '.join(e.lines))}")


def summary_table(t: dict[str, Any]) -> Table:
    table = Table(title="chat run", title_justify="left")
    for col in ("turns", "refused", "stopped", "largest prompt / budget", "mean first token", "mean tokens/s"):
        table.add_column(col, justify="right")
    turns = t["turns"]
    done = [x for x in turns if x.get("refused") is None]
    ttfts = [x["ttft_s"] for x in done if x.get("ttft_s") is not None]
    speeds = [x["tokens_per_s"] for x in done if x.get("tokens_per_s") is not None]
    table.add_row(
        str(len(turns)),
        str(len(turns) - len(done)),
        str(sum(bool(x.get("stopped")) for x in turns)),
        f"{max((x['prompt_tokens'] for x in done), default=0)} / {t['budget']}",
        f"{sum(ttfts) / len(ttfts):.2f} s" if ttfts else "-",
        f"{sum(speeds) / len(speeds):.1f}" if speeds else "-",
    )
    return table


def probe_table(t: dict[str, Any]) -> Table:
    table = Table(title="recall probe: log-likelihood of the expected reply", title_justify="left")
    for col, justify in (("turn", "right"), ("expected", "left"), ("history on", "right"), ("history off", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for x in t["turns"]:
        if "expect" in x:
            on, off = x.get("probe_history_on"), x.get("probe_history_off")
            table.add_row(
                str(x["turn"]),
                escape(x["expect"]),
                "-" if on is None else f"{on:.3f}",
                "-" if off is None else f"{off:.3f}",
            )
    return table


def _fail(message: str, code: int) -> int:
    print(f"llm-tui: error: {message}", file=sys.stderr)
    return code


def run_chat(argv: Sequence[str]) -> int:
    """`llm-tui chat ...` (the interactive pane is started by the app; this runs --batch)."""
    from core.errors import LlmTuiError

    argv = list(argv)
    try:
        ns = chat_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    if not ns.batch:
        return _fail(
            "headless chat needs --batch (llm-tui chat --batch --script FILE --output OUT.json)", EXIT_BAD_INPUT
        )
    try:
        return _run_batch(ns)
    except LlmTuiError as exc:
        return _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        foreseeable = foreseeable_os_error(exc) if isinstance(exc, OSError) else None
        if foreseeable is not None:  # a file-system problem the user can fix, that slipped past the checks
            return _fail(foreseeable, EXIT_BAD_INPUT)
        if ns.debug:
            raise
        return _fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", EXIT_FAILURE)


def _run_batch(ns: argparse.Namespace) -> int:
    from core.assets import DEFAULT_MODEL
    from core.chat.headless import check_script_commands, compare_history, play_script
    from core.chat.script import load_script
    from core.chat.session import ChatSession
    from core.chat.store import ChatStore
    from core.errors import UserInputError
    from core.fsutil import ensure_writable_file
    from core.models import describe_spec

    if not ns.script or not ns.output:
        raise UserInputError("--batch needs --script FILE and --output OUT.json")
    # Everything a user can get wrong is checked before the model loads: the transcript's path, every line
    # of the script, the chats that its /load lines name and the folder its /save lines write to.
    output = ensure_writable_file(ns.output, "--output transcript")
    script = load_script(ns.script)
    store = ChatStore()
    check_script_commands(script, store)
    settings = settings_from_args(ns, script.system)
    backend = backend_fields(ns)
    if backend["backend"] == "transformers" and (ns.base_url or ns.api_key_env):
        raise UserInputError("--base-url and --api-key-env are for a server: add --backend openai")
    if backend["backend"] != "openai":
        ns.model = ns.model or DEFAULT_MODEL
        describe_spec(ns.model)
    console = Console(highlight=False)
    render = ChatRenderer(console, quiet=ns.quiet)
    cancel = threading.Event()
    restore = install_stop_signals(cancel, "stopping the reply in flight; the transcript keeps the turns so far")
    try:
        cache = Path(ns.cache_dir).expanduser() if ns.cache_dir else None

        def load(spec: str) -> Any:  # the first model, and a /model line's (same backend, device, dtype, quant)
            from core.chat.remote import open_chat_model
            from core.locations import cache_dir

            return open_chat_model(
                backend["backend"], spec, cache_dir(cache), device=ns.device, dtype=ns.dtype, quant=ns.quant,
                trust_remote_code=ns.trust_remote_code, base_url=backend["base_url"], api_key_env=ns.api_key_env,
                tokenizer=ns.tokenizer, concurrency=ns.concurrency or 2, emit=render, cancel=cancel,
            )  # fmt: skip

        loaded = load(ns.model or "")
        console.print(
            f"loaded [bold]{escape(loaded.source.spec)}[/] in {loaded.info.load_s or 0:.1f} s "
            f"({loaded.device}, {loaded.info.dtype}); context {loaded.info.context_length} tokens"
        )

        def checkpoint(t: dict[str, Any]) -> None:
            write_json(output, t)

        def switch(spec: str) -> Any:
            return load(spec)

        if ns.compare_history:
            ChatSession(loaded, settings)  # refuse impossible settings before playing
            transcript = compare_history(loaded, settings, script, render, cancel, checkpoint, store, switch)
        else:
            session = ChatSession(loaded, settings, store=store)
            console.print(
                f"budget {session.budget} prompt tokens, strategy {settings.strategy}, "
                f"history {'on' if settings.history else 'off'}, prompt format: {session.format.name}"
            )
            transcript = play_script(session, script, render, cancel, checkpoint, load_model=switch)
        write_json(output, transcript)
    finally:
        restore()
    if ns.compare_history:
        for label in ("history_on", "history_off"):
            if label in transcript["runs"]:
                console.print(f"{label.replace('_', ' ')}:", summary_table(transcript["runs"][label]))
        console.print(probe_table(transcript))
    else:
        console.print(summary_table(transcript))
        if transcript["summary"]["text"]:
            console.print(f"summary: {escape(transcript['summary']['text'])}")
    console.print(f"transcript: {output}")
    if transcript["status"] == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_OK


def main() -> None:
    sys.exit(run_chat(sys.argv[1:]))


if __name__ == "__main__":
    main()
