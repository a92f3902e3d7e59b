"""Run folders: results.json (a ``RunResults``) and questions.jsonl, an append-only journal of ``DocRecord``s.

Each finished batch appends its records in one write, then flushes and fsyncs. A SIGKILL can therefore
tear at most the last line, which `RunStore.open` repairs (the torn bytes are kept in questions.jsonl.torn).
Resuming reads the journal, skips what is done, and refuses a folder whose configuration differs.
Format-1 folders (written before the task layer) are read and migrated in memory; they are never rewritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .errors import UserInputError
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
    notices: list[str] = []
    if not path.exists():
        return {}, notices
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        torn = data[cut:]
        try:
            json.loads(torn)
            fixed = data + b"\n"  # a complete record that only lacks its newline
        except ValueError:
            fixed = data[:cut]
            if repair:
                with path.with_name(path.name + ".torn").open("ab") as f:
                    f.write(torn + b"\n")
            notices.append(
                f"{path.name}: repaired a torn last line ({len(torn)} bytes, an interrupted write); "
                "that question will be asked again"
            )
        if repair:
            with path.open("r+b") as f:
                f.truncate(cut)
                f.seek(cut)
                f.write(fixed[cut:])
                f.flush()
                os.fsync(f.fileno())
        data = fixed
    records: dict[RecordKey, DocRecord] = {}
    for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = parse_record(json.loads(line), fmt)
        except ValueError as exc:
            raise UserInputError(
                f"{path} line {n} is corrupt (not a question record: {exc}); delete that line to "
                "re-ask it, or use a new --output"
            ) from None
        records.setdefault(rec.key, rec)
    return records, notices


def dump_record(record: DocRecord) -> str:
    return json.dumps(record.model_dump(mode="json", exclude_none=True), ensure_ascii=False)


class RunStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.results_path = self.path / RESULTS
        self.questions_path = self.path / QUESTIONS

    def open(self, identity: RunIdentity) -> OpenedRun:
        """Create the folder, or resume it when it holds a run of the same configuration."""
        if self.path.exists() and not self.path.is_dir():
            raise UserInputError(f"--output {self.path} is a file; give a folder")
        existing = [p.name for p in self.path.iterdir()] if self.path.is_dir() else []
        if not existing:
            self.path.mkdir(parents=True, exist_ok=True)
            return OpenedRun({}, None)
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
        records, notices = read_records(self.questions_path)
        return OpenedRun(records, previous, notices)

    def append(self, records: list[DocRecord]) -> None:
        if not records:
            return
        blob = "".join(dump_record(r) + "\n" for r in records).encode("utf-8")
        with self.questions_path.open("ab") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())

    def discard(self) -> None:
        """Remove a run that holds no answers (its results.json and an empty journal), and the folder if empty."""
        for path in (self.results_path, self.questions_path):
            if path.exists() and (path == self.results_path or path.stat().st_size == 0):
                path.unlink()
        with contextlib.suppress(OSError):
            self.path.rmdir()

    def write_results(self, results: RunResults) -> None:
        tmp = self.results_path.with_name(RESULTS + ".tmp")
        tmp.write_text(json.dumps(results.dump(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.results_path)


def load_records(run_dir: Path, results: RunResults) -> dict[RecordKey, DocRecord]:
    """A run's records, read-only (a torn last line is ignored, not repaired)."""
    fmt = results.migrated_from or RUN_FORMAT
    records, _notices = read_records(run_dir / QUESTIONS, repair=False, fmt=fmt)
    return records


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
