"""MT-Bench answers (issue 13, part 1): the 80 two-turn questions through llm-tui's own chat engine.

Each question is one conversation: turn 1, then turn 2 with the conversation so far (history on) or alone
(history off, the study's "without memory" agent), at FastChat's per-category temperature, capped at
``max_new_tokens``. An answer file is FastChat's format, one line per question, appended (and fsynced) as each
finishes: ``question_id, answer_id, model_id, choices[{index, turns}], tstamp``, plus an ``llm_tui`` object (format
version, history, settings, per-turn timing and tokens) that FastChat's readers ignore. Rerunning with the same
file resumes: a question already in it is never asked again; a torn last line (a kill mid-write) is repaired.
One process per answer file (a lock naming the holder).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ..errors import UserInputError
from ..events import Event
from ..fsutil import append_lines, ensure_writable_dir, exclusive, read_journal_bytes

ANSWER_FORMAT = "llm-tui-mtbench-answer/1"
CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")
# FastChat's llm_judge temperature_config: creative categories sample, the rest are (near) greedy
TEMPERATURE = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0, "reasoning": 0.0,
               "stem": 0.1, "humanities": 0.1}  # fmt: skip


class Question(BaseModel):
    question_id: int
    category: str
    turns: list[str] = Field(min_length=1)
    reference: list[str] | None = None


class TurnInfo(BaseModel):
    new_tokens: int
    prompt_tokens: int
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    total_s: float | None = None
    finish_reason: str = ""


class LlmTuiAnswerInfo(BaseModel):
    format: str = ANSWER_FORMAT
    model: str  # the spec that answered (alias, folder, served name)
    history: bool
    temperature: float
    max_new_tokens: int
    turns: list[TurnInfo]


class Choice(BaseModel):
    index: int = 0
    turns: list[str]


class Answer(BaseModel):
    """One line of a FastChat answer file (model_answer/<model_id>.jsonl)."""

    question_id: int
    answer_id: str
    model_id: str
    choices: list[Choice]
    tstamp: float
    llm_tui: LlmTuiAnswerInfo | None = None  # absent in files FastChat wrote


@dataclass(frozen=True)
class AnswerStarted(Event):
    question_id: int
    category: str
    done: int
    total: int


@dataclass(frozen=True)
class AnswerDelta(Event):
    question_id: int
    turn: int
    text: str


@dataclass(frozen=True)
class AnswerFinished(Event):
    answer: Answer
    done: int
    total: int


def load_questions(path: Path) -> list[Question]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(Question.model_validate_json(line))
            except ValidationError as exc:
                raise UserInputError(f"{path}:{n} is not an MT-Bench question ({exc.errors()[0]['msg']})") from None
    return out


def bundled_questions(cache: Path, emit: Callable[[Event], None] | None = None) -> list[Question]:
    from .. import assets

    return load_questions(assets.ensure("mt-bench-questions", cache, on_progress=emit))


def read_answers(path: Path, repair: bool = False) -> tuple[dict[int, Answer], list[str]]:
    """The answers of a file, by question id (the first of duplicates), and notices (a torn line repaired)."""
    if not path.exists():
        return {}, []
    data, notices = read_journal_bytes(path, repair, "that question will be answered again")
    answers: dict[int, Answer] = {}
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            answer = Answer.model_validate_json(line)
        except ValidationError as exc:
            raise UserInputError(f"{path}:{n} is not a FastChat answer line ({exc.errors()[0]['msg']})") from None
        answers.setdefault(answer.question_id, answer)
    return answers, notices


def per_category(questions: list[Question], n: int) -> list[Question]:
    """The first ``n`` questions of each category, in the file's order (a balanced subset for slow judges)."""
    seen: dict[str, int] = {}
    out = []
    for q in questions:
        seen[q.category] = seen.get(q.category, 0) + 1
        if seen[q.category] <= n:
            out.append(q)
    return out


def model_id_for(spec: str, history: bool) -> str:
    import re

    name = spec.rstrip("/").rsplit("/", 1)[-1].removesuffix(".gguf")
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lower() or "model"
    return base if history else f"{base}-nohistory"


def answer_questions(
    loaded: Any,
    questions: list[Question],
    output: Path,
    *,
    model_id: str,
    history: bool = True,
    max_new_tokens: int = 512,
    emit: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[Path, int]:
    """Answer every question not yet in ``output``/``model_id``.jsonl; the file and how many were asked now."""
    from ..chat.session import ChatSession
    from ..chat.settings import ChatSettings, GenerationSettings
    from ..events import Notice

    say = emit or (lambda _e: None)
    cancel = cancel or threading.Event()
    folder = ensure_writable_dir(output, "--output folder")
    path = folder / f"{model_id}.jsonl"
    asked = 0
    with exclusive(folder / f".{model_id}.lock", f"answer file {path}"):
        done, notices = read_answers(path, repair=True)
        for message in notices:
            say(Notice(message, "warning"))
        todo = [q for q in questions if q.question_id not in done]
        total = len(questions)
        finished = total - len(todo)
        for q in todo:
            if cancel.is_set():
                break
            say(AnswerStarted(q.question_id, q.category, finished, total))
            temperature = TEMPERATURE.get(q.category, 0.7)
            generation = GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature,
                                            repetition_penalty=1.0, seed=q.question_id)  # fmt: skip
            session = ChatSession(loaded, ChatSettings(system_prompt="", history=history, generation=generation))
            replies, infos = [], []
            for turn, text in enumerate(q.turns, 1):

                def delta(event: Event, turn: int = turn, qid: int = q.question_id) -> None:
                    if type(event).__name__ in ("TurnStarted", "ReplyDelta"):  # the turn begins: an empty delta
                        say(
                            AnswerDelta(
                                qid, turn, getattr(event, "text", "") if type(event).__name__ == "ReplyDelta" else ""
                            )
                        )

                record = session.run_turn(text, delta, cancel)
                replies.append(record.reply)
                infos.append(TurnInfo(new_tokens=record.new_tokens, prompt_tokens=record.prompt_tokens,
                                      ttft_s=record.ttft_s, tokens_per_s=record.tokens_per_s, total_s=record.total_s,
                                      finish_reason=record.finish_reason))  # fmt: skip
                if record.stopped:
                    break
            if cancel.is_set() or len(replies) < len(q.turns):
                break  # a question stopped midway is not written: it is asked again on resume
            answer = Answer(
                question_id=q.question_id, answer_id=uuid.uuid4().hex[:22], model_id=model_id,
                choices=[Choice(index=0, turns=replies)], tstamp=time.time(),
                llm_tui=LlmTuiAnswerInfo(model=loaded.source.spec, history=history, temperature=temperature,
                                         max_new_tokens=max_new_tokens, turns=infos),
            )  # fmt: skip
            append_lines(path, [json.dumps(answer.model_dump(mode="json"), ensure_ascii=False)], "--output folder")
            finished += 1
            asked += 1
            say(AnswerFinished(answer, finished, total))
    return path, asked
