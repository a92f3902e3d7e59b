import pytest

from core.errors import UserInputError
from core.mmlu.data import Question
from core.mmlu.prompts import build_prompt, format_question
from core.mmlu.subjects import CATEGORIES, SUBJECTS, normalise, parse_subjects


def test_57_subjects_in_four_categories():
    assert len(SUBJECTS) == 57
    assert {k: len(v) for k, v in CATEGORIES.items()} == {
        "stem": 19,
        "humanities": 13,
        "social_sciences": 12,
        "other": 13,
    }


def test_parse_names_lists_all_and_categories():
    assert parse_subjects("astronomy,business_ethics") == ["astronomy", "business_ethics"]
    assert parse_subjects("High School Physics") == ["high_school_physics"]
    assert len(parse_subjects("all")) == 57
    assert parse_subjects("humanities") == list(CATEGORIES["humanities"])
    # duplicates collapse, order kept
    assert parse_subjects("anatomy,stem")[:2] == ["anatomy", "abstract_algebra"]
    assert len(parse_subjects("anatomy,stem")) == 19


def test_unknown_subject_names_the_closest_valid_ones():
    with pytest.raises(UserInputError) as err:
        parse_subjects("astronmy")
    assert "unknown subject 'astronmy'" in str(err.value)
    assert "astronomy" in str(err.value)
    assert "\n" not in str(err.value)


def test_empty_subjects_refused():
    with pytest.raises(UserInputError):
        parse_subjects(" , ")


def test_normalise():
    assert normalise("us foreign-policy") == "us_foreign_policy"


Q = Question("high_school_physics", 0, "  What is 2+2? \n", ("3", "4", "5", "6"), 1)


def test_prompt_is_lm_eval_default_mmlu_exactly():
    expected = (
        "The following are multiple choice questions (with answers) about high school physics.\n\n"
        "What is 2+2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:"
    )
    assert build_prompt(Q) == expected


def test_few_shot_exemplars_end_with_their_answer():
    shot = Question("high_school_physics", 0, "Sky colour?", ("red", "blue", "green", "black"), 1)
    prompt = build_prompt(Q, [shot, shot])
    assert prompt.count("Answer: B\n\n") == 2
    assert prompt.endswith(format_question(Q))
    assert prompt.startswith(
        "The following are multiple choice questions (with answers) about high school physics.\n\nSky colour?\nA. red\n"
    )


def test_chat_template_wraps_the_prompt(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    wrapped = build_prompt(Q, tokenizer=tok, chat_template=True)
    assert wrapped.startswith("<|user|>The following")
    assert wrapped.endswith("Answer:</s><|assistant|>")


def test_chat_template_refused_without_template():
    class NoTemplate:
        chat_template = None

    with pytest.raises(UserInputError):
        build_prompt(Q, tokenizer=NoTemplate(), chat_template=True)
