"""Run folders: results.json (configuration, accuracy, timing) and questions.jsonl, an append-only journal.

Each finished batch appends its records in one write, then flushes and fsyncs. A SIGKILL can therefore
tear at most the last line, which `RunStore.open` repairs (the torn bytes are kept in questions.jsonl.torn).
Resuming reads the journal, skips what is done, and refuses a folder whose configuration differs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import UserInputError

RESULTS = "results.json"
QUESTIONS = "questions.jsonl"
RUN_FORMAT = "llm-tui-run/1"
RecordKey = tuple[str, int]


def utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def default_run_dir(runs_dir: str | Path, model_slug: str, device: str, quant: str) -> Path:
    device = re.sub(r"[^A-Za-z0-9]+", "", device)
    return Path(runs_dir) / f"{utc_stamp()}-{model_slug}-{device}-{quant}"


@dataclass
class OpenedRun:
    records: dict[RecordKey, dict[str, Any]]
    previous: dict[str, Any] | None  # the results.json found, when resuming
    notices: list[str] = field(default_factory=list)

    @property
    def resumed(self) -> bool:
        return self.previous is not None


def read_results(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RESULTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{run_dir} has no {RESULTS}; it is not an llm-tui run folder") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserInputError(f"{path} is unreadable ({exc}); move it away or pick another --output") from None
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        raise UserInputError(f"{path} was not written by llm-tui; pick another --output")
    return data


def read_records(path: Path, repair: bool = True) -> tuple[dict[RecordKey, dict[str, Any]], list[str]]:
    """Records of a journal, keyed by (subject, index). A torn last line is cut off (kept in .torn)."""
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
    records: dict[RecordKey, dict[str, Any]] = {}
    for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            key = (str(rec["subject"]), int(rec["index"]))
        except (ValueError, KeyError, TypeError):
            raise UserInputError(
                f"{path} line {n} is corrupt (not a question record); delete that line to "
                "re-ask it, or use a new --output"
            ) from None
        records.setdefault(key, rec)
    return records, notices


class RunStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.results_path = self.path / RESULTS
        self.questions_path = self.path / QUESTIONS

    def open(self, identity: dict[str, Any]) -> OpenedRun:
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
        old = previous.get("identity", {})
        differing = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
        if differing:
            detail = "; ".join(f"{k}: {old.get(k)!r} there, {identity.get(k)!r} now" for k in differing[:3])
            raise UserInputError(
                f"--output {self.path} holds a run with a different configuration ({detail}); "
                "nothing was changed, pick another --output"
            )
        records, notices = read_records(self.questions_path)
        return OpenedRun(records, previous, notices)

    def append(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        blob = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
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

    def write_results(self, results: dict[str, Any]) -> None:
        tmp = self.results_path.with_name(RESULTS + ".tmp")
        tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.results_path)


def list_runs(runs_dir: str | Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every readable run under ``runs_dir`` (one level deep, and one more for multi-model outputs)."""
    root = Path(runs_dir)
    found: list[tuple[Path, dict[str, Any]]] = []
    if not root.is_dir():
        return found
    for candidate in sorted(list(root.glob(f"*/{RESULTS}")) + list(root.glob(f"*/*/{RESULTS}"))):
        try:
            found.append((candidate.parent, read_results(candidate.parent)))
        except UserInputError:
            continue
    return found
