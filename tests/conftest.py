"""Shared fixtures: tiny randomly initialised models built from a config, and small MMLU files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

SUBJECT_SIZES = {"astronomy": 13, "anatomy": 9, "virology": 6}
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _questions(seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    words = "star planet orbit mass light galaxy bone muscle virus cell energy moon comet nerve host".split()
    rows = []
    for subject, n in SUBJECT_SIZES.items():
        for i in range(n):
            q = " ".join(rng.choice(words) for _ in range(rng.randint(3, 40)))
            rows.append(
                {
                    "question": f"Q{i}: {q}?",
                    "subject": subject,
                    "choices": [" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))) for _ in range(4)],
                    "answer": rng.randint(0, 3),
                }
            )
    return rows


def _tokenizer(merges: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [json.dumps(r) for r in _questions()] + ["Answer: A Answer: B Answer: C Answer: D"] * 50
    trainer = trainers.BpeTrainer(
        vocab_size=600 if merges else 260,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(folder: Path, merges: bool = True, seed: int = 0) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _tokenizer(merges)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama whose tokenizer has ' A'..' D' as single tokens."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_bytes_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with a byte-level tokenizer: ' A' is two tokens (the log-likelihood path)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-bytes-model"), merges=False)


@pytest.fixture(scope="session")
def mmlu_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local MMLU file in the cais/mmlu schema, three subjects, with a dev split of 5 per subject."""
    path = tmp_path_factory.mktemp("data") / "mini_mmlu.jsonl"
    rows = _questions()
    first_five = {f"Q{i}" for i in range(5)}
    dev = [dict(r, split="dev") for r in _questions(seed=1) if r["question"].split(":")[0] in first_five]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows + dev))
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("LLM_TUI_CACHE", str(folder))
    return folder


@pytest.fixture(scope="module")
def one_torch_thread():
    """A tiny model gains nothing from threads, and OpenMP's spin-waiting slows it badly on a busy 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tiny_model):
    """The tiny model loaded once per module (float32, CPU)."""
    from core.models import load_model

    return load_model(str(tiny_model), device="cpu", dtype="float32")


def _task_rows(seed: int = 0) -> dict[str, list[dict]]:
    """Small documents in each task's hub schema (what `--data FILE` reads), made of the tiny tokenizer's words."""
    rng = random.Random(seed)
    words = "star planet orbit mass light galaxy bone muscle virus cell energy moon comet nerve host".split()

    def text(lo: int, hi: int) -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))

    arc = []
    for i in range(14):
        n = rng.choice([3, 4, 5])
        labels = list("ABCDE"[:n]) if i % 3 else [str(k + 1) for k in range(n)]
        choices = {"text": [text(1, 6) for _ in range(n)], "label": labels}
        arc.append(
            {"id": f"arc-{i}", "question": text(3, 25) + "?", "choices": choices, "answerKey": rng.choice(labels)}
        )
    winogrande = []
    for _ in range(10):
        sentence = f"{text(2, 8)} _ {text(2, 8)}."
        winogrande.append(
            {"sentence": sentence, "option1": text(1, 2), "option2": text(1, 2), "answer": rng.choice("12")}
        )
    hellaswag = []
    for _ in range(10):
        endings = [text(2, 9) for _ in range(4)]
        row = {"activity_label": text(1, 2), "ctx_a": text(3, 12) + ".", "ctx_b": text(1, 3), "endings": endings}
        hellaswag.append(dict(row, label=str(rng.randint(0, 3))))
    gsm8k = []
    for _ in range(6):
        n = rng.randint(2, 40)
        gsm8k.append({"question": f"{text(4, 15)}?", "answer": f"{text(3, 8)} <<{n}={n}>>{n}\n#### {n}"})
    return {"arc_challenge": arc, "winogrande": winogrande, "hellaswag": hellaswag, "gsm8k": gsm8k}


@pytest.fixture(scope="session")
def task_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One local .jsonl per task (arc_challenge, winogrande, hellaswag, gsm8k) in its hub schema."""
    folder = tmp_path_factory.mktemp("task-data")
    files = {}
    for name, rows in _task_rows().items():
        files[name] = folder / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(r) + "\n" for r in rows))
    return files


@pytest.fixture(autouse=True)
def _restore_stop_signals():
    """The commands install SIGINT/SIGTERM/SIGHUP handlers when run in the test process; put the old ones back."""
    import signal

    signals = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    previous = {s: signal.getsignal(s) for s in signals}
    yield
    for s, handler in previous.items():
        signal.signal(s, handler)


@pytest.fixture(autouse=True)
def _collector_as_found():
    """The app freezes what lives as long as it (tui/collector.py) and collects young objects less often; in one
    test process of many apps, give each test's frozen objects back to the collector afterwards."""
    import gc

    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
