"""MT-Bench: answers through the chat engine (FastChat's answer format, resumable); judging comes next."""

from .answers import (
    ANSWER_FORMAT,
    TEMPERATURE,
    Answer,
    AnswerDelta,
    AnswerFinished,
    AnswerStarted,
    Question,
    answer_questions,
    bundled_questions,
    load_questions,
    model_id_for,
    per_category,
    read_answers,
)

__all__ = [
    "ANSWER_FORMAT",
    "TEMPERATURE",
    "Answer",
    "AnswerDelta",
    "AnswerFinished",
    "AnswerStarted",
    "Question",
    "answer_questions",
    "bundled_questions",
    "load_questions",
    "model_id_for",
    "per_category",
    "read_answers",
]
