"""Each task's prompt builder against hand-written expected prompts (lm-eval 0.4.13's text, character for
character), its choices/continuations, few-shot handling and metrics; MMLU subjects parsing."""

import pytest

from core.errors import UserInputError
from core.mmlu.subjects import CATEGORIES, SUBJECTS, normalise, parse_subjects
from core.tasks import ChoiceRequest, ChoiceResult, Doc, GenerateRequest, GenerateResult, TaskData, get_task
from core.tasks.gsm8k import exemplars_from_context


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
    assert parse_subjects("anatomy,stem")[:2] == ["anatomy", "abstract_algebra"]
    assert len(parse_subjects("anatomy,stem")) == 19


def test_unknown_subject_names_the_closest_valid_ones():
    with pytest.raises(UserInputError) as err:
        parse_subjects("astronmy")
    assert "unknown subject 'astronmy'" in str(err.value) and "astronomy" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(UserInputError):
        parse_subjects(" , ")
    assert normalise("us foreign-policy") == "us_foreign_policy"


def test_unknown_task_names_the_closest():
    with pytest.raises(UserInputError, match=r"unknown task 'hellaswg'; did you mean hellaswag"):
        get_task("hellaswg")
    with pytest.raises(UserInputError, match="arc_challenge"):
        get_task("arc_chalenge")
    assert get_task("gsm8k_cot").name == "gsm8k"


# -- MMLU ------------------------------------------------------------------------------------------------------

MMLU = get_task("mmlu")
Q = Doc("high_school_physics", 0, {"question": "  What is 2+2? \n", "choices": ["3", "4", "5", "6"], "answer": 1})
SHOT = Doc(
    "high_school_physics", 0, {"question": "Sky colour?", "choices": ["red", "blue", "green", "black"], "answer": 1}
)
HEADER = "The following are multiple choice questions (with answers) about high school physics.\n\n"


def test_mmlu_zero_shot_prompt_and_letter_continuations():
    req = MMLU.build(Q)
    assert req == ChoiceRequest((HEADER + "What is 2+2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:",), (" A", " B", " C", " D"))
    assert MMLU.kind == "letter_choice" and MMLU.display_choices(Q) == ["3", "4", "5", "6"]


def test_mmlu_few_shot_exemplars_end_with_their_letter():
    req = MMLU.build(Q, [SHOT, SHOT])
    shot = "Sky colour?\nA. red\nB. blue\nC. green\nD. black\nAnswer: B\n\n"
    assert req.contexts == (HEADER + shot + shot + "What is 2+2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:",)


def test_chat_template_puts_the_description_in_the_system_turn_and_drops_the_delimiter():
    seen = []

    def chat(system, user):
        seen.append((system, user))
        return f"<sys>{system}</sys><user>{user}</user><bot>"

    req = MMLU.build(Q, [SHOT], chat)
    assert seen == [
        (
            HEADER,
            "Sky colour?\nA. red\nB. blue\nC. green\nD. black\nAnswer: B\n\n"
            + "What is 2+2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:",
        )
    ]
    assert req.continuations == ("A", "B", "C", "D")


def test_shots_beyond_the_pool_are_refused():
    data = TaskData({"astronomy": [Q]}, {"astronomy": [SHOT] * 5})
    MMLU.check_shots(5, data, ["astronomy"])
    with pytest.raises(UserInputError, match=r"--shots 6: mmlu's few-shot pool has only 5 exemplars"):
        MMLU.check_shots(6, data, ["astronomy"])
    with pytest.raises(UserInputError, match="needs a dev split"):
        MMLU.check_shots(1, TaskData({"astronomy": [Q]}), ["astronomy"])


def test_tasks_without_an_offline_pool_refuse_shots():
    arc = get_task("arc_challenge")
    with pytest.raises(
        UserInputError, match=r"--shots 1: arc_challenge has no few-shot pool offline .*train split.*--shots 0"
    ):
        arc.check_shots(1, TaskData({"arc_challenge": []}), ["arc_challenge"])
    arc.check_shots(0, TaskData({"arc_challenge": []}), ["arc_challenge"])


# -- ARC, HellaSwag, Winogrande ------------------------------------------------------------------------------


ARC_DOC = Doc("arc_challenge", 3, {
    "question": "Which gas do plants take in?",
    "choices": {"text": ["Oxygen", "Carbon dioxide", "Helium"], "label": ["1", "2", "3"]},
    "answerKey": "2",
})  # fmt: skip


def test_arc_prompt_choices_and_gold_by_label_index():
    arc = get_task("arc_challenge")
    assert arc.build(ARC_DOC) == ChoiceRequest(
        ("Question: Which gas do plants take in?\nAnswer:",), (" Oxygen", " Carbon dioxide", " Helium")
    )
    assert arc.gold(ARC_DOC) == 1 and arc.question_text(ARC_DOC) == "Which gas do plants take in?"


def test_arc_offline_request_rows_become_the_hub_schema():
    arc = get_task("arc_easy")
    row = arc.from_source(
        {"id": "X1", "query": "Question: Why?\nAnswer:", "choices": ["a", "b", "c", "d"], "gold": 3, "_request": {}}
    )
    assert row == {
        "id": "X1",
        "question": "Why?",
        "choices": {"text": ["a", "b", "c", "d"], "label": list("ABCD")},
        "answerKey": "D",
    }


def test_acc_and_acc_norm_as_lm_eval_defines_them():
    arc = get_task("arc_challenge")
    # choices "Oxygen", "Carbon dioxide", "Helium": 6, 14 and 6 characters
    rec = arc.score(ARC_DOC, arc.build(ARC_DOC), ChoiceResult([-9.0, -4.0, -3.0], 30))
    # acc: argmax -3.0 is Helium (wrong); acc_norm: -9/6=-1.5, -4/14=-0.29, -3/6=-0.5 -> Carbon dioxide (right)
    assert (rec.predicted, rec.predicted_norm) == (2, 1)
    assert rec.metrics == {"acc": 0.0, "acc_norm": 1.0}
    assert rec.correct and rec.pick == "B" and rec.answer == "B"  # arc's primary metric is acc_norm
    assert rec.scores == [-9.0, -4.0, -3.0] and abs(sum(rec.probs) - 1) < 1e-9


def test_hellaswag_preprocessing_and_prompt():
    hs = get_task("hellaswag")
    doc = Doc("hellaswag", 0, {
        "activity_label": "Home and Garden",
        "ctx_a": "[header] How to plant a tree [title] Dig a hole.",
        "ctx_b": "then you",
        "endings": ["water it [step] well.", "  eat  it."],
        "label": "0",
    })  # fmt: skip
    req = hs.build(doc)
    # " [title]" -> ". ", "[header]" removed, double spaces once collapsed; ctx_b capitalised
    assert req.contexts == ("Home and Garden: How to plant a tree. Dig a hole. Then you",)
    assert req.continuations == (" water it well.", " eat it.")
    assert hs.gold(doc) == 0 and hs.primary_metric == "acc_norm"


def test_winogrande_partial_evaluation():
    wg = get_task("winogrande")
    doc = Doc("winogrande", 0, {
        "sentence": "Sarah was a better surgeon than Maria so _ got the easier cases.",
        "option1": "Sarah", "option2": "Maria", "answer": "2",
    })  # fmt: skip
    req = wg.build(doc)
    assert req == ChoiceRequest(
        ("Sarah was a better surgeon than Maria so Sarah", "Sarah was a better surgeon than Maria so Maria"),
        (" got the easier cases.",),
    )
    assert req.pairs()[1] == ("Sarah was a better surgeon than Maria so Maria", " got the easier cases.")
    rec = wg.score(doc, req, ChoiceResult([-7.0, -6.0], 20))
    assert rec.gold == 1 and rec.correct and rec.choices == ["Sarah", "Maria"] and rec.metrics == {"acc": 1.0}
    # an exemplar is the right option's context and the rest of the sentence
    assert wg.fewshot_text(doc) + wg.target_delimiter + wg.fewshot_target(doc) == (
        "Sarah was a better surgeon than Maria so Maria got the easier cases."
    )


# -- the validation-split multiple-choice tasks -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fields", "context", "continuations", "gold"),
    [
        ("boolq", {"passage": "Cats purr.", "question": "do cats purr", "answer": True},
         "Cats purr.\nQuestion: do cats purr?\nAnswer:", (" no", " yes"), 1),
        ("boolq", {"passage": "P", "question": "q", "label": 0}, "P\nQuestion: q?\nAnswer:", (" no", " yes"), 0),
        ("piqa", {"goal": "Open a jar", "sol1": "twist", "sol2": "bite", "label": 0},
         "Question: Open a jar\nAnswer:", (" twist", " bite"), 0),
        ("openbookqa", {"question_stem": "The sun is a", "choices": {"text": ["star", "moon"], "label": ["A", "B"]},
                        "answerKey": " A"}, "The sun is a", (" star", " moon"), 0),
        ("sciq", {"support": "  Plants make food.", "question": "What makes food?", "distractor1": "rocks",
                  "distractor2": "air", "distractor3": "salt", "correct_answer": "plants"},
         "Plants make food.\nQuestion: What makes food?\nAnswer:", (" rocks", " air", " salt", " plants"), 3),
        ("social_iqa", {"context": "Tracy left.", "question": "Why?", "answerA": "tired", "answerB": "bored",
                        "answerC": "late", "label": "3"}, "Q: Tracy left. Why?\nA:", (" tired", " bored", " late"), 2),
    ],
)  # fmt: skip
def test_simple_multiple_choice_prompts(name, fields, context, continuations, gold):
    task = get_task(name)
    doc = Doc(name, 0, fields)
    assert task.build(doc) == ChoiceRequest((context,), continuations)
    assert task.gold(doc) == gold


# -- GSM8K ------------------------------------------------------------------------------------------------------

OLMES_CONTEXT = (
    "Question: There are 15 trees. Now 21. How many planted?\nAnswer: 21 - 15 = 6. So the answer is 6.\n\n"
    "Question: 3 cars and 2 more?\nAnswer: 3 + 2 = 5. So the answer is 5.\n\n"
    "Question: the document's own question\nAnswer:"
)


def test_gsm8k_exemplars_restore_lm_eval_wording():
    shots = exemplars_from_context(OLMES_CONTEXT)
    assert shots == [
        {"question": "There are 15 trees. Now 21. How many planted?", "target": "21 - 15 = 6. The answer is 6."},
        {"question": "3 cars and 2 more?", "target": "3 + 2 = 5. The answer is 5."},
    ]


def test_gsm8k_cot_prompt_stops_and_cap():
    gsm = get_task("gsm8k")
    shots = [Doc("fewshot", i, s) for i, s in enumerate(exemplars_from_context(OLMES_CONTEXT))]
    doc = Doc("gsm8k", 0, {"question": "Janet has 3 eggs and buys 2. How many?", "answer": "3+2=<<3+2=5>>5\n#### 5"})
    req = gsm.build(doc, shots)
    assert req == GenerateRequest(
        "Q: There are 15 trees. Now 21. How many planted?\nA: 21 - 15 = 6. The answer is 6.\n\n"
        "Q: 3 cars and 2 more?\nA: 3 + 2 = 5. The answer is 5.\n\n"
        "Q: Janet has 3 eggs and buys 2. How many?\nA:",
        ("Q:", "</s>", "<|im_end|>"),
        256,
    )
    assert gsm.doc_to_target(doc) == "5" and gsm.default_shots == 8 and gsm.lm_eval_task == "gsm8k_cot"


@pytest.mark.parametrize(
    ("text", "strict", "flex", "em", "em_flex"),
    [
        # strict: "." after the number needs a character that is not a newline, so the group backtracks to "5"
        (" She has 3 + 2 = 5 eggs. The answer is 5.\n\n", "5", "5.", 1.0, 1.0),
        (" 3 + 2 = 5. The answer is $1,005.", "[invalid]", "$1,005.", 0.0, 0.0),
        (" 2 + 3 = 5, so 5 eggs", "[invalid]", "5", 0.0, 1.0),
        (" The answer is 5,000.", "5,000", "5,000.", 0.0, 0.0),
        (" nothing here", "[invalid]", "[invalid]", 0.0, 0.0),
    ],
)
def test_gsm8k_answer_extraction_and_exact_match(text, strict, flex, em, em_flex):
    gsm = get_task("gsm8k")
    doc = Doc("gsm8k", 0, {"question": "q", "answer": "#### 5"})
    rec = gsm.score(doc, gsm.build(doc), GenerateResult(text, 100, 12))
    assert gsm.extract(text, "exact_match") == strict and gsm.extract(text, "exact_match_flex") == flex
    assert rec.metrics == {"exact_match": em, "exact_match_flex": em_flex}
    assert rec.pick == strict and rec.generated == text and rec.correct == (em == 1.0) and rec.answer == "5"


def test_gsm8k_normalisation_ignores_commas_dollars_and_a_final_dot():
    gsm = get_task("gsm8k")
    assert gsm.normalise("$1,005.") == gsm.normalise("1005") == "1005"


# -- hub tasks ----------------------------------------------------------------------------------------------------


def test_truthfulqa_mc1_prompt_has_lm_eval_primer():
    mc1 = get_task("truthfulqa_mc1")
    doc = Doc(
        "truthfulqa_mc1",
        0,
        {"question": "Is the sky green?", "mc1_targets": {"choices": ["No.", "Yes."], "labels": [1, 0]}},
    )
    req = mc1.build(doc)
    assert req.contexts[0].startswith("Q: What is human life expectancy in the United States?\nA: Human life")
    assert req.contexts[0].endswith("A: The 1992 Olympics were held in Barcelona, Spain.\n\nQ: Is the sky green?\nA:")
    assert req.contexts[0].count("\n\nQ: ") == 6 and req.continuations == (" No.", " Yes.")


def test_truthfulqa_mc2_is_the_probability_mass_on_true_answers():
    mc2 = get_task("truthfulqa_mc2")
    doc = Doc("truthfulqa_mc2", 0, {"question": "q", "mc2_targets": {"choices": ["a", "b", "c"], "labels": [1, 1, 0]}})
    import math

    lls = [math.log(0.2), math.log(0.1), math.log(0.3)]
    rec = mc2.score(doc, mc2.build(doc), ChoiceResult(lls, 10))
    assert rec.metrics["acc"] == pytest.approx(0.5, abs=1e-6)
    assert rec.gold == [0, 1] and rec.pick == "C" and rec.correct


def test_mmlu_pro_chain_of_thought_prompt_and_extraction():
    pro = get_task("mmlu_pro")
    shot = Doc("physics", 0, {"question": "Q1?", "options": ["x", " y "], "answer": "B", "category": "physics",
                              "cot_content": "A: Let's think step by step. Because y. The answer is (B)."})  # fmt: skip
    doc = Doc("physics", 1, {"question": "Q2?", "options": ["p", "q"], "answer": "A", "category": "physics"})
    req = pro.build(doc, [shot])
    assert req.context == (
        "The following are multiple choice questions (with answers) about physics. Think step by step and then finish "
        'your answer with "the answer is (X)" where X is the correct letter choice.\n'
        "Question:\nQ1?\nOptions:\nA. x\nB. y\nAnswer: Let's think step by step. Because y. The answer is (B).\n\n"
        "Question:\nQ2?\nOptions:\nA. p\nB. q\nAnswer: Let's think step by step."
    )
    assert req.until == ("Question:",) and req.max_new_tokens == 2048
    rec = pro.score(doc, req, GenerateResult(" p is right, so the answer is (A).", 50, 9))
    assert rec.pick == "A" and rec.metrics == {"exact_match": 1.0}
