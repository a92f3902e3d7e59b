"""MT-Bench judging (issue 13, part 2): FastChat's single-answer grading and pairwise comparison, resumable.

What FastChat's ``gen_judgment.py`` does, and what it does here:

- single-answer grading, four prompts: ``single-v1`` (turn 1) and ``single-v1-multi-turn`` (turn 2, the whole
  conversation shown, the second answer judged); for math, reasoning and coding the reference-based
  ``single-math-v1`` and ``single-math-v1-multi-turn``, with a reference answer from a file the user picks
  (default: the corrected gpt-4-0125-preview file; FastChat's gpt-4 file has 13 known-wrong references);
- the rating is ``[[N]]`` (else ``[N]``) read with FastChat's two patterns; a judgment without one is asked again
  (sampled at temperature 0.7, since greedy would repeat itself) and, failing that, recorded with score -1, which
  every mean excludes (FastChat records -1 at once and never retries);
- judgment lines are FastChat's (``question_id, model, judge, user_prompt, judgment, score, turn, tstamp``) in
  ``<output>/<judge>_single.jsonl``, plus an ``llm_tui`` object; pairwise lines (``model_1, model_2, g1_winner,
  g2_winner, g1/g2 prompts and judgments``) in ``<judge>_pair.jsonl``: each pair judged in both orders, so
  position bias shows as disagreement;
- resumable: a (question, model, judge, turn) already in the file is never judged again (FastChat appends
  duplicates on every run); lines are appended and fsynced as each judgment finishes; one process per file.
"""

from __future__ import annotations

import ast
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import UserInputError
from ..events import Event, Notice
from ..fsutil import append_lines, ensure_writable_dir, exclusive, read_journal_bytes
from .answers import Answer, Question
from .judges import Judge, JudgeError

T = TypeVar("T")
JUDGMENT_FORMAT = "llm-tui-mtbench-judgment/1"
NEED_REF_CATS = ("math", "reasoning", "coding")  # FastChat's categories judged against a reference answer
MAX_TOKENS = 2048  # FastChat's judge budget
PARSE_ATTEMPTS = 2  # the greedy judgment, then one sampled retry when it holds no rating
RETRY_TEMPERATURE = 0.7
FAILED_STREAK = 8  # this many judgments in a row without a rating: the judge cannot do this job; stop

_SCORE = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_SCORE_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")


class JudgePrompt(BaseModel):
    name: str
    type: str  # "single" or "pairwise"
    system_prompt: str
    prompt_template: str
    description: str = ""
    category: str = "general"
    output_format: str


class JudgmentInfo(BaseModel):
    format: str = JUDGMENT_FORMAT
    category: str
    attempts: int
    seconds: float
    history: bool | None = None  # the answering agent's history setting, when its answer file says
    reference: str | None = None  # which reference file's answer the prompt held


class Judgment(BaseModel):
    """One line of FastChat's ``<judge>_single.jsonl``."""

    question_id: int
    model: str
    judge: tuple[str, str]
    user_prompt: str
    judgment: str
    score: float
    turn: int
    tstamp: float
    llm_tui: JudgmentInfo | None = None


class PairJudgment(BaseModel):
    """One line of FastChat's ``<judge>_pair.jsonl``: both orders of one pair on one question and turn."""

    question_id: int
    model_1: str
    model_2: str
    g1_winner: str  # "model_1", "model_2", "tie" or "error"
    g2_winner: str
    judge: tuple[str, str]
    g1_user_prompt: str
    g1_judgment: str
    g2_user_prompt: str
    g2_judgment: str
    turn: int
    tstamp: float
    llm_tui: JudgmentInfo | None = None


@dataclass(frozen=True)
class JudgingStarted(Event):
    judge: str
    where: str
    total: int  # judgments the answers call for
    todo: int  # not yet in the file


@dataclass(frozen=True)
class JudgmentFinished(Event):
    question_id: int
    models: tuple[str, ...]
    turn: int
    verdict: str  # the score ("7", "-1") or the pair's verdict
    failed: bool  # no rating / no verdict, even after the retry
    done: int
    total: int
    retries: int  # transport retries so far


def parse_rating(text: str) -> float | None:
    """FastChat's reading of ``[[rating]]``: the first ``[[N]]``, else the first ``[N]``; None when neither."""
    match = _SCORE.search(text) or _SCORE_BACKUP.search(text)
    if not match:
        return None
    value = ast.literal_eval(match.group(1))
    return float(value)


def parse_winner(text: str) -> str:
    """FastChat's reading of a pairwise verdict: ``[[A]]``, ``[[B]]``, ``[[C]]`` (tie), else "error"."""
    if "[[A]]" in text:
        return "A"
    if "[[B]]" in text:
        return "B"
    if "[[C]]" in text:
        return "tie"
    return "error"


def load_judge_prompts(path: Path) -> dict[str, JudgePrompt]:
    prompts = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                p = JudgePrompt.model_validate_json(line)
            except ValidationError as exc:
                raise UserInputError(f"{path}:{n} is not a FastChat judge prompt ({exc.errors()[0]['msg']})") from None
            prompts[p.name] = p
    missing = {"single-v1", "single-math-v1", "single-v1-multi-turn", "single-math-v1-multi-turn"} - set(prompts)
    if missing:
        raise UserInputError(f"{path} lacks the judge prompts {', '.join(sorted(missing))}; use FastChat's file")
    return prompts


def load_answer_files(paths: list[Path]) -> dict[str, dict[int, Answer]]:
    """Answer files by model name (the file's stem, as FastChat names them); a folder means its ``*.jsonl``."""
    from .answers import read_answers

    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(p.glob("*.jsonl"))
            if not found:
                raise UserInputError(f"--answers {p}: no answer files (*.jsonl) in that folder; "
                                     "run `llm-tui mtbench answer --output` there first")  # fmt: skip
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise UserInputError(f"--answers {p}: no such file or folder")
    out: dict[str, dict[int, Answer]] = {}
    for f in files:
        model = f.stem
        if model in out:
            raise UserInputError(f"--answers: two answer files are named {f.name}; a model's name is its file's "
                                 "name, so rename one")  # fmt: skip
        try:
            answers, _ = read_answers(f)
        except UserInputError as exc:
            raise UserInputError(
                f"{exc}; give folders of FastChat answer files (model_answer/), not other files"
            ) from None
        except UnicodeDecodeError:
            raise UserInputError(f"{f} is not a FastChat answer file (not text); give model_answer/ folders") from None
        if not answers:
            raise UserInputError(f"{f} holds no answers; answer first (`llm-tui mtbench answer`), then judge")
        out[model] = answers
    return out


def load_references(path: Path, fallback: Path | None = None) -> dict[int, tuple[str, list[str]]]:
    """Reference turns by question id, with the file they came from (the fallback fills what the first lacks)."""
    refs: dict[int, tuple[str, list[str]]] = {}
    for source in [p for p in (fallback, path) if p is not None]:  # the chosen file last: it wins
        try:
            answers = [Answer.model_validate_json(line) for line in source.read_text("utf-8").splitlines() if line]
        except (ValidationError, UnicodeDecodeError):
            raise UserInputError(f"--reference {source} is not a FastChat answer file (reference_answer/)") from None
        for a in answers:
            refs[a.question_id] = (a.model_id, a.choices[0].turns)
    return refs


@dataclass(frozen=True)
class Match:
    question: Question
    models: tuple[str, ...]  # one (single grading) or two (pairwise: model_1, model_2)
    turn: int
    prompt: JudgePrompt

    @property
    def key(self) -> tuple[int, tuple[str, ...], str, int]:
        return (self.question.question_id, self.models, self.prompt.name, self.turn)


def _prompt_name(mode: str, category: str, turn: int) -> str:
    ref = category in NEED_REF_CATS
    base = ("single-math-v1" if ref else "single-v1") if mode == "single" else "pair-math-v1" if ref else "pair-v2"
    return base + ("-multi-turn" if turn == 2 else "")


def make_matches(
    questions: list[Question],
    answers: dict[str, dict[int, Answer]],
    prompts: dict[str, JudgePrompt],
    mode: str = "single",
) -> list[Match]:
    """FastChat's match list: every answered question, turn 1 then turn 2, per model (or per pair of models)."""
    groups: list[tuple[str, ...]] = [(m,) for m in answers]
    if mode == "pairwise":
        names = list(answers)
        groups = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
        if not groups:
            raise UserInputError("--mode pairwise compares two or more models; give their answer files")
    matches = []
    for turn in (1, 2):
        for q in questions:
            if turn > len(q.turns):
                continue
            name = _prompt_name(mode, q.category, turn)
            if name not in prompts:
                raise UserInputError(f"the judge prompts lack {name}; use FastChat's judge_prompts.jsonl")
            for group in groups:
                if all(q.question_id in answers[m] and len(answers[m][q.question_id].choices[0].turns) >= turn
                       for m in group):  # fmt: skip
                    matches.append(Match(q, group, turn, prompts[name]))
    return matches


def fill_prompt(match: Match, answers: dict[str, dict[int, Answer]], refs: dict[int, tuple[str, list[str]]],
                swap: bool = False) -> tuple[str, str | None]:  # fmt: skip
    """The user prompt for a match (pairwise: ``swap`` puts model_2 first), and the reference's source."""
    q = match.question
    fields: dict[str, str] = {}
    source = None
    if match.question.category in NEED_REF_CATS:
        if q.question_id not in refs:
            raise UserInputError(f"no reference answer for question {q.question_id}; give a --reference file with one")
        source, ref_turns = refs[q.question_id]
        fields["ref_answer_1"] = ref_turns[0]
        if match.turn == 2:
            fields["ref_answer_2"] = ref_turns[1] if len(ref_turns) > 1 else ""
    turns = [answers[m][q.question_id].choices[0].turns for m in match.models]
    if swap:
        turns = turns[::-1]
    if match.turn == 1:
        fields["question"] = q.turns[0]
    else:
        fields["question_1"], fields["question_2"] = q.turns[0], q.turns[1]
    if len(turns) == 1:
        if match.turn == 1:
            fields["answer"] = turns[0][0]
        else:
            fields["answer_1"], fields["answer_2"] = turns[0][0], turns[0][1]
    else:
        for label, t in zip("ab", turns, strict=True):
            if match.turn == 1:
                fields[f"answer_{label}"] = t[0]
            else:
                fields[f"answer_{label}_1"], fields[f"answer_{label}_2"] = t[0], t[1]
    return match.prompt.prompt_template.format(**fields), source


def read_judgments(path: Path, pairwise: bool = False, repair: bool = False) -> tuple[list[BaseModel], list[str]]:
    """The lines of a judgment file (single or pairwise), and notices (a torn last line repaired)."""
    if not path.exists():
        return [], []
    data, notices = read_journal_bytes(path, repair, "that judgment will be made again")
    kind = PairJudgment if pairwise else Judgment
    out: list[BaseModel] = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(kind.model_validate_json(line))
            except ValidationError as exc:
                raise UserInputError(
                    f"{path}:{n} is not a FastChat {'pairwise ' if pairwise else ''}judgment "
                    f"({exc.errors()[0]['msg']}); choose another --output folder"
                ) from None
    return out, notices


def _done_keys(lines: list[BaseModel]) -> set[tuple[int, tuple[str, ...], str, int]]:
    keys: set[tuple[int, tuple[str, ...], str, int]] = set()
    for j in lines:
        assert isinstance(j, (Judgment, PairJudgment))
        keys.add((j.question_id, _models(j), j.judge[1], j.turn))
    return keys


def judgment_file(output: Path, judge_name: str, mode: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", judge_name).strip("-") or "judge"
    return output / f"{safe}_{'pair' if mode == 'pairwise' else 'single'}.jsonl"


def _ask(judge: Judge, prompt: JudgePrompt, user: str, seed: int, max_tokens: int, cancel: threading.Event,
         read: Callable[[str], T | None]) -> tuple[str, T | None, int]:  # fmt: skip
    """The judge's text, what ``read`` finds in it (None: nothing, even after the sampled retry), attempts."""
    text = ""
    for attempt in range(1, PARSE_ATTEMPTS + 1):
        temperature = 0.0 if attempt == 1 else RETRY_TEMPERATURE
        text = judge.complete(prompt.system_prompt, user, temperature=temperature, seed=seed + attempt - 1,
                              max_tokens=max_tokens, cancel=cancel)  # fmt: skip
        found = read(text)
        if found is not None:
            return text, found, attempt
        if cancel.is_set():
            break
    return text, None, PARSE_ATTEMPTS


def _winner_or_none(text: str) -> str | None:
    winner = parse_winner(text)
    return None if winner == "error" else winner


def _history(answer: Answer) -> bool | None:
    return answer.llm_tui.history if answer.llm_tui else None


def judge_one(
    match: Match,
    judge: Judge,
    answers: dict[str, dict[int, Answer]],
    refs: dict[int, tuple[str, list[str]]],
    max_tokens: int,
    cancel: threading.Event,
) -> BaseModel:
    """One judgment line (both orders for a pair), ready to append."""
    q = match.question
    started = time.perf_counter()
    seed = q.question_id * 10 + match.turn
    judge_pair = (judge.name, match.prompt.name)
    if len(match.models) == 1:
        user, source = fill_prompt(match, answers, refs)
        text, rating, attempts = _ask(judge, match.prompt, user, seed, max_tokens, cancel, parse_rating)
        score = -1.0 if rating is None else rating
        info = JudgmentInfo(category=q.category, attempts=attempts, seconds=round(time.perf_counter() - started, 2),
                            history=_history(answers[match.models[0]][q.question_id]), reference=source)  # fmt: skip
        return Judgment(question_id=q.question_id, model=match.models[0], judge=judge_pair, user_prompt=user,
                        judgment=text, score=score, turn=match.turn, tstamp=time.time(), llm_tui=info)  # fmt: skip
    user_1, source = fill_prompt(match, answers, refs)
    user_2, _ = fill_prompt(match, answers, refs, swap=True)
    text_1, w1, a1 = _ask(judge, match.prompt, user_1, seed, max_tokens, cancel, _winner_or_none)
    text_2, w2, a2 = _ask(judge, match.prompt, user_2, seed, max_tokens, cancel, _winner_or_none)
    g1 = {"A": "model_1", "B": "model_2", "tie": "tie"}.get(w1 or "", "error")
    g2 = {"A": "model_2", "B": "model_1", "tie": "tie"}.get(w2 or "", "error")
    info = JudgmentInfo(category=q.category, attempts=a1 + a2, seconds=round(time.perf_counter() - started, 2),
                        reference=source)  # fmt: skip
    return PairJudgment(question_id=q.question_id, model_1=match.models[0], model_2=match.models[1], g1_winner=g1,
                        g2_winner=g2, judge=judge_pair, g1_user_prompt=user_1, g1_judgment=text_1,
                        g2_user_prompt=user_2, g2_judgment=text_2, turn=match.turn, tstamp=time.time(),
                        llm_tui=info)  # fmt: skip


def _verdict(line: BaseModel) -> tuple[str, bool]:
    """What the front ends print for a finished judgment, and whether it failed (-1 / error)."""
    if isinstance(line, Judgment):
        failed = line.score == -1
        return ("-1 (no rating)" if failed else f"{line.score:g}"), failed
    assert isinstance(line, PairJudgment)
    g1, g2 = line.g1_winner, line.g2_winner
    failed = "error" in (g1, g2)
    if failed:
        return "error (no verdict)", True
    if g1 == g2:
        return {"model_1": line.model_1, "model_2": line.model_2}.get(g1, "tie") + " (both orders)", False
    return f"orders disagree ({g1} / {g2})", False


def run_judging(
    judge: Judge,
    questions: list[Question],
    answers: dict[str, dict[int, Answer]],
    prompts: dict[str, JudgePrompt],
    refs: dict[int, tuple[str, list[str]]],
    output: Path,
    *,
    mode: str = "single",
    max_tokens: int = MAX_TOKENS,
    emit: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[Path, int]:
    """Judge every match not yet in the judgment file; the file and how many were judged now."""
    say = emit or (lambda _e: None)
    cancel = cancel or threading.Event()
    known = {q.question_id for q in questions}
    for model, by_q in answers.items():
        foreign = sorted(set(by_q) - known)
        if foreign:
            raise UserInputError(f"the answers of {model} include question {foreign[0]}, which is not among the "
                                 "questions; give the --questions file they answer")  # fmt: skip
    matches = make_matches(questions, answers, prompts, mode)
    folder = ensure_writable_dir(output, "--output folder")
    path = judgment_file(folder, judge.name, mode)
    judged = 0
    with exclusive(folder / f".{path.stem}.lock", f"judgment file {path}"):
        lines, notices = read_judgments(path, mode == "pairwise", repair=True)
        for message in notices:
            say(Notice(message, "warning"))
        done_keys = _done_keys(lines)
        todo = [m for m in matches if m.key not in done_keys]
        total = len(matches)
        finished = total - len(todo)
        say(JudgingStarted(judge.name, judge.where, total, len(todo)))
        streak = 0
        pending: dict[Future[BaseModel], Match] = {}
        queue: Iterator[Match] = iter(todo)
        # leaving the pool waits for the judgments in flight (a server's); after an error they are not written
        with ThreadPoolExecutor(max_workers=max(1, judge.parallel), thread_name_prefix="judge") as pool:
            while True:
                while len(pending) < max(1, judge.parallel) and not cancel.is_set():
                    nxt = next(queue, None)
                    if nxt is None:
                        break
                    pending[pool.submit(judge_one, nxt, judge, answers, refs, max_tokens, cancel)] = nxt
                if not pending:
                    break
                completed, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for future in completed:
                    pending.pop(future)
                    line = future.result()  # a JudgeError stops the loop; lines already written stay
                    if cancel.is_set() and _verdict(line)[1]:
                        continue  # cut short by the stop, not the judge's doing: judged again on resume
                    append_lines(
                        path, [json.dumps(line.model_dump(mode="json"), ensure_ascii=False)], "--output folder"
                    )
                    finished += 1
                    judged += 1
                    verdict, failed = _verdict(line)
                    streak = streak + 1 if failed else 0
                    say(JudgmentFinished(line.question_id, _models(line), line.turn,  # type: ignore[attr-defined]
                                         verdict, failed, finished, total, judge.retries()))  # fmt: skip
                    if streak >= FAILED_STREAK:
                        raise JudgeError(
                            f"the judge {judge.name} gave no usable verdict {streak} times in a row; it cannot "
                            "follow FastChat's format: choose a stronger judge (judged lines are kept)"
                        )
    return path, judged


def _models(line: BaseModel) -> tuple[str, ...]:
    if isinstance(line, Judgment):
        return (line.model,)
    assert isinstance(line, PairJudgment)
    return (line.model_1, line.model_2)


__all__ = [
    "JUDGMENT_FORMAT",
    "Judge",
    "JudgeError",
    "JudgePrompt",
    "Judgment",
    "JudgingStarted",
    "JudgmentFinished",
    "Match",
    "PairJudgment",
    "fill_prompt",
    "judge_one",
    "judgment_file",
    "load_answer_files",
    "load_judge_prompts",
    "load_references",
    "make_matches",
    "parse_rating",
    "parse_winner",
    "read_judgments",
    "run_judging",
]
