"""MT-Bench judging (issue 13, part 2): FastChat's prompts and rating parser, a scripted judge server with faults
(429, timeouts, ratings missing), resume with nothing judged twice, pairwise in both orders, bad inputs, and the
results `mtbench show` prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import one_error_line
from fake_server import FakeServer

from core import assets
from core.locations import cache_dir
from core.mtbench import Answer, Question
from core.mtbench.answers import Choice, LlmTuiAnswerInfo, TurnInfo
from core.mtbench.judge import (
    Judgment,
    fill_prompt,
    load_judge_prompts,
    make_matches,
    parse_rating,
    parse_winner,
    read_judgments,
)
from core.mtbench.results import ScoreStat, history_pairs, load_results, summarize, summarize_pairs
from tui.cli import main

QUESTIONS = [
    Question(question_id=81, category="writing", turns=["Write a haiku about rain.", "Now one about snow."]),
    Question(question_id=111, category="math", turns=["What is 2+3?", "And 2*3?"], reference=None),  # fmt: skip
    Question(question_id=101, category="reasoning", turns=["Who is taller, A or B?", "And C?"]),
]


def _answer(qid: int, model: str, turns: list[str], history: bool | None) -> Answer:
    info = None
    if history is not None:
        info = LlmTuiAnswerInfo(model=model, history=history, temperature=0.0, max_new_tokens=64,
                                turns=[TurnInfo(new_tokens=5, prompt_tokens=9) for _ in turns])  # fmt: skip
    return Answer(question_id=qid, answer_id=f"a{qid}", model_id=model, choices=[Choice(turns=turns)], tstamp=1.0,
                  llm_tui=info)  # fmt: skip


@pytest.fixture
def mt(tmp_path: Path) -> dict[str, Path]:
    """Questions, and answer files from three agents: llm-tui with and without history, and one FastChat wrote."""
    questions = tmp_path / "question.jsonl"
    questions.write_text("".join(q.model_dump_json() + "\n" for q in QUESTIONS))
    folder = tmp_path / "model_answer"
    folder.mkdir()
    for model, history in (("tiny", True), ("tiny-nohistory", False)):
        lines = [_answer(q.question_id, model, [f"{model} says {q.turns[0]}", f"{model} then {q.turns[1]}"], history)
                 for q in QUESTIONS]  # fmt: skip
        (folder / f"{model}.jsonl").write_text("".join(a.model_dump_json(exclude_none=True) + "\n" for a in lines))
    # a line as FastChat's gen_model_answer.py writes it: no llm_tui object, its own key order
    fastchat = [{"question_id": q.question_id, "answer_id": "Xy7", "model_id": "vicuna-7b-v1.5",
                 "choices": [{"index": 0, "turns": ["Rain falls.", "Snow falls."]}], "tstamp": 1700000000.5}
                for q in QUESTIONS]  # fmt: skip
    (folder / "vicuna-7b-v1.5.jsonl").write_text("".join(json.dumps(x) + "\n" for x in fastchat))
    return {"questions": questions, "answers": folder, "out": tmp_path / "model_judgment"}


class LongerWins(FakeServer):
    @staticmethod
    def verdict(prompt: str) -> str:
        """The longer answer (or conversation) wins, wherever it is shown: a judge without position bias."""
        a, b = (prompt.split(f"Start of Assistant {x}'s")[1].split(f"End of Assistant {x}'s")[0] for x in "AB")
        return "[[A]]" if len(a) > len(b) else "[[B]]" if len(b) > len(a) else "[[C]]"


def _judge(mt: dict[str, Path], url: str, *extra: str) -> int:
    return main(["mtbench", "judge", "--answers", str(mt["answers"]), "--judge", url, "--questions",
                 str(mt["questions"]), "--output", str(mt["out"]), "--timeout", "0.5", "--concurrency", "1",
                 "--quiet", *extra])  # fmt: skip


def _prompts() -> dict:
    return load_judge_prompts(assets.ensure("mt-bench-judge-prompts", cache_dir(None)))


def test_the_rating_is_read_as_fastchat_reads_it():
    assert parse_rating("Good.\n\nRating: [[7]]") == 7
    assert parse_rating("Rating: [[7.5]]") == 7.5
    assert parse_rating("I give it [6] overall") == 6  # FastChat's backup pattern
    assert parse_rating("[[9]] then [[2]]") == 9  # the first one
    assert parse_rating("Rating: 7/10") is None
    assert parse_rating("[[seven]]") is None
    assert parse_winner("so [[B]].") == "B" and parse_winner("[[C]]") == "tie" and parse_winner("A wins") == "error"


def test_prompts_are_fastchats_four_with_references_where_fastchat_uses_them(mt):
    prompts = _prompts()
    answers = {"tiny": {q.question_id: _answer(q.question_id, "tiny", ["one", "two"], True) for q in QUESTIONS}}
    matches = make_matches(QUESTIONS, answers, prompts)
    names = {(m.question.category, m.turn): m.prompt.name for m in matches}
    assert names == {("writing", 1): "single-v1", ("writing", 2): "single-v1-multi-turn",
                     ("math", 1): "single-math-v1", ("math", 2): "single-math-v1-multi-turn",
                     ("reasoning", 1): "single-math-v1", ("reasoning", 2): "single-math-v1-multi-turn"}  # fmt: skip
    refs = {111: ("ref-model", ["REF ONE", "REF TWO"]), 101: ("ref-model", ["R1", "R2"])}
    math2 = next(m for m in matches if m.question.question_id == 111 and m.turn == 2)
    text, source = fill_prompt(math2, answers, refs)
    assert source == "ref-model"
    for part in ("What is 2+3?", "And 2*3?", "REF ONE", "REF TWO", "one", "two"):
        assert part in text
    writing1 = next(m for m in matches if m.question.question_id == 81 and m.turn == 1)
    text, source = fill_prompt(writing1, answers, refs)
    assert source is None and "REF" not in text and "Write a haiku" in text and "{" not in text


def test_judged_through_a_server_with_faults_retried_failures_recorded_and_excluded(mt, capsys):
    # requests: 0 = /models; then one per attempt. 1: 429, 2: a timeout, 4 and 5: no rating twice (one judgment
    # recorded as -1), 7: no rating once (the sampled retry rates it)
    faults = {1: "429", 2: "slow", 4: "norating", 5: "norating", 7: "norating"}
    with FakeServer(faults, model="judge-7b") as server:
        assert _judge(mt, server.url) == 0
        requests = server.count
    out = capsys.readouterr().out
    path = mt["out"] / "judge-7b_single.jsonl"
    lines = [Judgment.model_validate_json(x) for x in path.read_text().splitlines()]
    assert len(lines) == 3 * 3 * 2  # 3 models x 3 questions x 2 turns
    assert len({(j.question_id, j.model, j.judge, j.turn) for j in lines}) == len(lines)
    assert requests == 1 + len(lines) + 2 + 2  # /models, one per judgment, 2 transport retries, 2 rating retries
    failed = [j for j in lines if j.score == -1]
    assert len(failed) == 1 and failed[0].llm_tui is not None and failed[0].llm_tui.attempts == 2
    assert "-1 (no rating)" in out
    assert sum(1 for j in lines if j.llm_tui and j.llm_tui.attempts == 2) == 2
    raw = json.loads(path.read_text().splitlines()[0])  # FastChat's fields, the judge as [model, prompt name]
    assert set(raw) >= {"question_id", "model", "judge", "user_prompt", "judgment", "score", "turn", "tstamp"}
    assert raw["judge"] == ["judge-7b", "single-v1"]
    # the means exclude the -1
    tiny = next(s for s in summarize(lines) if s.model == failed[0].model)
    good = [j.score for j in lines if j.model == failed[0].model and j.score != -1]
    assert tiny.failed == 1 and tiny.overall.n == len(good) == 5
    assert tiny.overall.mean == pytest.approx(sum(good) / len(good))
    # a rerun judges nothing: the server sees only the model list
    with FakeServer(model="judge-7b") as server:
        assert _judge(mt, server.url) == 0
        assert server.count == 1
    assert "0 judged now" in capsys.readouterr().out
    assert len(path.read_text().splitlines()) == len(lines)


def test_a_judge_that_refuses_midway_stops_with_one_line_and_the_rerun_finishes(mt, capsys):
    with FakeServer({4: "refuse"}, model="judge-7b") as server:
        assert _judge(mt, server.url) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "HTTP 400" in line and "does not take chat requests" in line
    path = mt["out"] / "judge-7b_single.jsonl"
    before = [Judgment.model_validate_json(x) for x in path.read_text().splitlines()]
    assert len(before) == 3  # judged before the refusal, kept
    with FakeServer(model="judge-7b") as server:
        assert _judge(mt, server.url) == 0
        assert server.count == 1 + 18 - 3  # only what was missing
    after = [Judgment.model_validate_json(x) for x in path.read_text().splitlines()]
    assert len(after) == 18 and len({(j.question_id, j.model, j.turn) for j in after}) == 18
    assert [j.model_dump() for j in after[:3]] == [j.model_dump() for j in before]


def test_bad_inputs_give_one_line_and_exit_2(mt, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with FakeServer(model="judge-7b") as server:
        url = server.url
        cases = [
            (["--answers", str(empty)], "no answer files"),
            (["--answers", str(tmp_path / "nowhere")], "no such file or folder"),
        ]
        foreign = tmp_path / "foreign"
        foreign.mkdir()
        (foreign / "run.jsonl").write_text('{"subset": "astronomy", "doc_id": 3}\n')
        cases.append((["--answers", str(foreign)], "is not a FastChat answer line"))
        for args, expected in cases:
            code = main(["mtbench", "judge", *args, "--judge", url, "--output", str(tmp_path / "j")])
            assert code == 2, args
            assert expected in one_error_line(capsys.readouterr().err)
    # the server is gone: unreachable
    assert _judge(mt, url) == 2
    assert "connection failed" in one_error_line(capsys.readouterr().err)
    with FakeServer(model="judge-7b", api_key="sesame") as server:  # refuses a request without its key
        assert _judge(mt, server.url) == 2
    assert "HTTP 401" in one_error_line(capsys.readouterr().err)
    assert not (mt["out"] / "judge-7b_single.jsonl").exists() or not (mt["out"] / "judge-7b_single.jsonl").read_text()


def test_pairwise_both_orders_expose_a_position_biased_judge(mt, capsys):
    with FakeServer(model="judge-7b") as server:  # always "[[A]]": the first answer shown wins
        assert _judge(mt, server.url, "--mode", "pairwise") == 0
    lines, _ = read_judgments(mt["out"] / "judge-7b_pair.jsonl", pairwise=True)
    assert len(lines) == 3 * 3 * 2  # 3 pairs x 3 questions x 2 turns, each judged in both orders
    assert all(p.g1_winner == "model_1" and p.g2_winner == "model_2" for p in lines)  # type: ignore[attr-defined]
    overall = [s for s in summarize_pairs(lines) if s.turn is None]  # type: ignore[arg-type]
    assert all(s.judged == 6 and s.agree == 0 and s.agreement == 0 for s in overall)

    fair_out = mt["out"].parent / "fair"
    with LongerWins(model="judge-7b") as server:
        main(["mtbench", "judge", "--answers", str(mt["answers"]), "--judge", server.url, "--questions",
              str(mt["questions"]), "--output", str(fair_out), "--mode", "pairwise", "--quiet"])  # fmt: skip
    lines, _ = read_judgments(fair_out / "judge-7b_pair.jsonl", pairwise=True)
    overall = [s for s in summarize_pairs(lines) if s.turn is None]  # type: ignore[arg-type]
    assert all(s.agree == s.judged == 6 for s in overall)
    assert sum(s.wins_1 + s.wins_2 + s.ties for s in overall) == 18
    capsys.readouterr()


def test_show_prints_means_intervals_failures_and_history_on_vs_off(mt, capsys):
    with FakeServer({3: "norating", 4: "norating"}, model="judge-7b") as server:
        assert _judge(mt, server.url) == 0
    capsys.readouterr()
    assert main(["mtbench", "show", "--judgments", str(mt["out"])]) == 0
    out = capsys.readouterr().out
    res = load_results([mt["out"]])
    summaries = summarize(res.single)
    for s in summaries:
        assert s.model in out and s.overall.text() in out
    assert "history on vs off, turn 2" in out
    ((on, off),) = history_pairs(summaries)
    assert (on.model, off.model, on.history, off.history) == ("tiny", "tiny-nohistory", True, False)
    assert sum(s.failed for s in summaries) == 1
    assert main(["mtbench", "show", "--judgments", str(mt["out"].parent / "none")]) == 2
    assert "no such file or folder" in one_error_line(capsys.readouterr().err)


def test_score_interval_is_students_t():
    s = ScoreStat.of([6.0, 8.0, 7.0, -1.0])
    assert (s.n, s.failed) == (3, 1) and s.mean == pytest.approx(7.0)
    # t(0.975, 2) = 4.302653; sd = 1; half = 4.302653 / sqrt(3)
    assert s.hi == pytest.approx(min(10.0, 7 + 4.302653 / 3**0.5), abs=1e-5)
    assert ScoreStat.of([-1.0]).text() == "-"


def test_fastchats_show_result_reads_our_files_and_gets_our_means(mt, tmp_path, capsys):
    """Interop: FastChat's own show_result.py (from its wheel) on llm-tui's judgment files, single and pairwise."""
    from fastchat_reference import parse_means, run_show_result, show_result_script

    with LongerWins({3: "norating", 4: "norating", 11: "norating", 12: "norating"}, model="judge-7b") as server:
        assert _judge(mt, server.url) == 0
        assert _judge(mt, server.url, "--mode", "pairwise") == 0
    capsys.readouterr()
    script = show_result_script(tmp_path)
    theirs = parse_means(run_show_result(script, mt["out"] / "judge-7b_single.jsonl", "single"))
    ours = summarize(load_results([mt["out"] / "judge-7b_single.jsonl"]).single)
    assert sum(s.failed for s in ours) == 2  # excluded on both sides
    for s in ours:
        assert theirs["First turn"][s.model] == pytest.approx(s.turn1.mean, abs=1e-5)
        assert theirs["Second turn"][s.model] == pytest.approx(s.turn2.mean, abs=1e-5)
        assert theirs["Average"][s.model] == pytest.approx(s.overall.mean, abs=1e-5)
    text = run_show_result(script, mt["out"] / "judge-7b_pair.jsonl", "pairwise-all")
    pairs = [s for s in summarize_pairs(load_results([mt["out"] / "judge-7b_pair.jsonl"]).pairs) if s.turn is None]
    wins: dict[str, int] = {}
    for p in pairs:  # FastChat counts a win only when both orders agree, as we do
        wins[p.model_1] = wins.get(p.model_1, 0) + p.wins_1
        wins[p.model_2] = wins.get(p.model_2, 0) + p.wins_2
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.split() and line.split()[0] in wins}
    assert sum(wins.values()) > 0
    for model, n in wins.items():
        assert int(rows[model][1]) == n  # its "win" column


def test_the_report_has_an_mtbench_section_and_pages(mt, tmp_path, capsys):
    with LongerWins({5: "norating", 6: "norating"}, model="judge-7b") as server:
        assert _judge(mt, server.url) == 0
        assert _judge(mt, server.url, "--mode", "pairwise") == 0
    rep = tmp_path / "report"
    assert main(["report", "--mtbench", str(mt["out"]), "--out", str(rep)]) == 0
    assert "MT-Bench: 3 model(s), 18 judgments, 18 pairwise" in capsys.readouterr().out
    from test_report_tasks import _pages

    assert _pages(rep / "report.pdf") == 2  # per turn, per category
    md = (rep / "report.md").read_text()
    for s in summarize(load_results([mt["out"]]).single):
        assert f"| {s.model} | {s.turn1.text()} | {s.turn2.text()} | {s.overall.text()} |" in md
    assert "History on vs off, turn 2" in md and "| tiny-nohistory | tiny | 6 | 6/6 (100%) |" in md
    data = json.loads((rep / "analysis.json").read_text())
    assert {x["model"] for x in data["mtbench"]["single"]} == {"tiny", "tiny-nohistory", "vicuna-7b-v1.5"}
    assert main(["report", "--out", str(tmp_path / "r2")]) == 2
    assert "--mtbench" in one_error_line(capsys.readouterr().err)


def test_a_local_judge_that_never_rates_is_stopped_with_one_line(mt, tiny_model, capsys):
    """--judge MODEL_SPEC runs the judge here (transformers); a random tiny model never writes [[N]]: after 8
    judgments in a row without a rating the run stops (exit 2), the 8 recorded -1s are kept."""
    code = main(["mtbench", "judge", "--answers", str(mt["answers"]), "--judge", str(tiny_model), "--questions",
                 str(mt["questions"]), "--output", str(mt["out"]), "--max-tokens", "4", "--quiet"])  # fmt: skip
    assert code == 2
    assert "no usable verdict 8 times in a row" in one_error_line(capsys.readouterr().err)
    (path,) = mt["out"].glob("*_single.jsonl")
    lines = [Judgment.model_validate_json(x) for x in path.read_text().splitlines()]
    assert len(lines) == 8 and all(j.score == -1 and j.llm_tui and j.llm_tui.attempts == 2 for j in lines)
