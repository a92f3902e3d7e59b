"""Run folders: results.json (a ``RunResults``) and questions.jsonl, an append-only journal of ``DocRecord``s.

Each finished batch appends its records in one write, then flushes and fsyncs. A SIGKILL can therefore
tear at most the last line, which `RunStore.open` repairs (the torn bytes are kept in questions.jsonl.torn).
Resuming reads the journal, skips what is done, and refuses a folder whose configuration differs.
Format-1 folders (written before the task layer) are read and migrated in memory; they are never rewritten.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .errors import UserInputError
from .fsutil import (
    LOCK_NAME,
    append_lines,
    atomic_write_text,
    ensure_writable_dir,
    exclusive,
    fs_error,
    read_journal_bytes,
)
from .schema import RUN_FORMAT, RUN_FORMAT_V1, DocRecord, RunIdentity, RunResults, parse_record, parse_results

RESULTS = "results.json"
QUESTIONS = "questions.jsonl"
RecordKey = tuple[str, int]  # (subset, doc_id)


def utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", text)


def default_run_dir(runs_dir: str | Path, model_slug: str, task: str, device: str, quant: str) -> Path:
    return Path(runs_dir) / f"{utc_stamp()}-{model_slug}-{task}-{slug(device)}-{quant}"


@dataclass
class OpenedRun:
    records: dict[RecordKey, DocRecord]
    previous: RunResults | None  # the results.json found, when resuming
    notices: list[str] = field(default_factory=list)

    @property
    def resumed(self) -> bool:
        return self.previous is not None


def read_results(run_dir: Path) -> RunResults:
    path = run_dir / RESULTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{run_dir} has no {RESULTS}; it is not an llm-tui run folder") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path} is unreadable ({exc}); move it away, or give another run folder") from None
    if not isinstance(data, dict) or str(data.get("format", "")).split("/")[0] != "llm-tui-run":
        raise UserInputError(f"{path} was not written by llm-tui; give another run folder")
    try:
        return parse_results(data)
    except ValueError as exc:
        raise UserInputError(
            f"{path} does not fit the llm-tui run format ({exc}); it was edited or written by a newer llm-tui"
        ) from None


def read_records(
    path: Path, repair: bool = True, fmt: str = RUN_FORMAT
) -> tuple[dict[RecordKey, DocRecord], list[str]]:
    """Records of a journal, keyed by (subset, doc_id). A torn last line is cut off (kept in .torn)."""
    if not path.exists():
        return {}, []
    data, notices = read_journal_bytes(path, repair, "that question will be asked again")
    records: dict[RecordKey, DocRecord] = {}
    kept: list[str] = []
    duplicates: list[str] = []
    for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = parse_record(json.loads(line), fmt)
        except ValueError as exc:
            raise UserInputError(
                f"{path} line {n} is corrupt (not a question record: {exc}); delete that line "
                "(resuming the run re-asks its question)"
            ) from None
        if rec.key in records:
            duplicates.append(line)
            continue
        records[rec.key] = rec
        kept.append(line)
    if duplicates:
        # Two processes writing one folder (before run folders were locked) scored documents twice: the first
        # record of each stays; the others are set aside, not lost.
        aside = path.with_name(path.name + ".dup")
        if repair:
            with aside.open("a", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in duplicates))
            atomic_write_text(path, "".join(line + "\n" for line in kept), "--output folder")
        notices.append(
            f"{path.name}: {len(duplicates)} duplicate record(s) of documents already scored"
            + (f" were moved to {aside.name}" if repair else " were ignored")
            + "; the first record of each document counts"
        )
    return records, notices


def dump_record(record: DocRecord) -> str:
    return json.dumps(record.model_dump(mode="json", exclude_none=True), ensure_ascii=False)


class RunStore:
    """One run folder, held exclusively from ``open`` to ``close`` (a second process on the same folder is
    refused with the holder's pid; the lock dies with its process, ``kill -9`` included)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.results_path = self.path / RESULTS
        self.questions_path = self.path / QUESTIONS
        self._stack = contextlib.ExitStack()

    def open(self, identity: RunIdentity) -> OpenedRun:
        """Create the folder, or resume it when it holds a run of the same configuration. Takes the lock."""
        if self.path.exists() and not self.path.is_dir():
            raise UserInputError(f"--output {self.path} is a file; give a folder")
        fresh = not self.path.exists()
        if not fresh:
            self._inspect(identity)  # before the lock too: a folder that is refused gets nothing written into it
        ensure_writable_dir(self.path, "--output folder")
        try:
            self._stack.enter_context(exclusive(self.path / LOCK_NAME, f"--output {self.path}"))
            return self._open(identity)
        except BaseException:
            self.close()
            if fresh:
                with contextlib.suppress(OSError):
                    self.path.rmdir()
            raise

    def close(self) -> None:
        """Release the folder (the lock); idempotent."""
        self._stack.close()

    def _inspect(self, identity: RunIdentity) -> RunResults | None:
        """The run already in the folder (None when it is empty), refused unless this configuration may resume it."""
        try:
            existing = [p.name for p in self.path.iterdir() if not p.name.startswith(LOCK_NAME)]
        except OSError as exc:
            raise fs_error(exc, self.path, "--output folder") from None
        if not existing:
            return None
        if RESULTS not in existing:
            raise UserInputError(
                f"--output {self.path} is not empty and holds no llm-tui run; pick a new or empty folder"
            )
        previous = read_results(self.path)
        if previous.migrated_from == RUN_FORMAT_V1:
            raise UserInputError(
                f"--output {self.path} holds a run written by an earlier llm-tui (format 1); it still opens in the "
                "app and in `llm-tui report`, but cannot be resumed: pick another --output"
            )
        differing = previous.identity.differences(identity)
        if differing:
            detail = "; ".join(f"{k}: {old!r} there, {new!r} now" for k, old, new in differing[:3])
            raise UserInputError(
                f"--output {self.path} holds a run with a different configuration ({detail}); "
                "nothing was changed, pick another --output"
            )
        return previous

    def _open(self, identity: RunIdentity) -> OpenedRun:
        previous = self._inspect(identity)
        if previous is None:
            return OpenedRun({}, None)
        records, notices = read_records(self.questions_path)
        return OpenedRun(records, previous, notices)

    def append(self, records: list[DocRecord]) -> None:
        if not records:
            return
        append_lines(self.questions_path, [dump_record(r) for r in records], "--output folder")

    def discard(self) -> None:
        """Remove a run that holds no answers (its results.json and an empty journal), release it, and remove the
        folder if nothing else is left in it."""
        for path in (self.results_path, self.questions_path):
            if path.exists() and (path == self.results_path or path.stat().st_size == 0):
                path.unlink()
        self.close()
        with contextlib.suppress(OSError):
            for leftover in self.path.glob(LOCK_NAME + "*"):
                leftover.unlink()
            self.path.rmdir()

    def write_results(self, results: RunResults) -> None:
        atomic_write_text(
            self.results_path, json.dumps(results.dump(), indent=2, ensure_ascii=False) + "\n", "--output folder"
        )


def load_records(run_dir: Path, results: RunResults) -> dict[RecordKey, DocRecord]:
    """A run's records, read-only (a torn last line is ignored, not repaired)."""
    fmt = results.migrated_from or RUN_FORMAT
    records, _notices = read_records(run_dir / QUESTIONS, repair=False, fmt=fmt)
    return records


RUN_FILES = (RESULTS, QUESTIONS, QUESTIONS + ".torn", QUESTIONS + ".dup")


def delete_run(run_dir: str | Path) -> None:
    """Remove a run folder: only the files llm-tui writes there, then the folder if nothing else is left in it.
    Refused (UserInputError, nothing removed) for a folder that is not an llm-tui run or that a running llm-tui
    holds."""
    path = Path(run_dir)
    read_results(path)  # an llm-tui run, or a one-line refusal
    with exclusive(path / LOCK_NAME, f"run {path}"):
        try:
            for name in RUN_FILES:
                (path / name).unlink(missing_ok=True)
        except OSError as exc:
            raise fs_error(exc, path, "run folder") from None
    with contextlib.suppress(OSError):
        for leftover in path.glob(LOCK_NAME + "*"):
            leftover.unlink()
        path.rmdir()  # only when empty: what a user put beside the run stays


def rename_run(run_dir: str | Path, new_name: str) -> Path:
    """Give a run folder another name in the same parent folder. Refused (UserInputError, nothing changed) for a
    name that is not a plain folder name or is taken, a folder that is not an llm-tui run, or one in use."""
    path = Path(run_dir)
    name = new_name.strip()
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise UserInputError(f"'{new_name}' is not a folder name; use letters, digits, '-', '_' or '.'")
    target = path.parent / name
    if target.exists():
        raise UserInputError(f"{target} already exists; pick another name")
    read_results(path)  # an llm-tui run, or a one-line refusal
    with exclusive(path / LOCK_NAME, f"run {path}"):
        pass  # in use by a running llm-tui: refused above, naming it
    try:
        path.rename(target)
    except OSError as exc:
        raise fs_error(exc, path, "run folder") from None
    return target


def expand_run_dirs(paths: list[str | Path]) -> list[Path]:
    """Run folders from what a user names: a run folder itself, or a folder holding runs (a multi-run
    ``--output``, ``runs/``), expanded to the runs under it, up to three levels deep, in name order. A folder
    with no run anywhere is kept as given, so that reading it says what is wrong with it."""
    out: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir() and not (path / RESULTS).exists():
            found = sorted(p.parent for d in ("*", "*/*", "*/*/*") for p in path.glob(f"{d}/{RESULTS}"))
            out.extend(found or [path])
        else:
            out.append(path)
    return list(dict.fromkeys(out))


def list_runs(runs_dir: str | Path) -> list[tuple[Path, RunResults]]:
    """Every readable run under ``runs_dir``, up to three levels deep (OUTPUT/<model>/<task>/ for multi-runs)."""
    root = Path(runs_dir)
    found: list[tuple[Path, RunResults]] = []
    if not root.is_dir():
        return found
    candidates = [p for depth in ("*", "*/*", "*/*/*") for p in root.glob(f"{depth}/{RESULTS}")]
    for candidate in sorted(candidates):
        try:
            found.append((candidate.parent, read_results(candidate.parent)))
        except UserInputError:
            continue
    return found
