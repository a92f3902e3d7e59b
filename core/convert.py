"""GGUF -> float32 safetensors folder (model and tokenizer), run as its own process by ``models.convert_gguf``;
and a converted folder's bfloat16/float16 copy (``models.narrowed_folder``).

    python -m core.convert MODEL.gguf TARGET_FOLDER
    python -m core.convert --narrow bfloat16 CONVERTED_FOLDER TARGET_FOLDER

Exit 0 when TARGET_FOLDER holds the converted model; otherwise the last line on stderr is "error: <one line>".
The folder appears whole or not at all (written beside it, then renamed).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONVERTED_MARKER = "llm-tui-source.json"


def convert(gguf: Path, target: Path) -> None:
    model, tokenizer = load_gguf(gguf)
    save_converted(model, tokenizer, gguf, target)


def load_gguf(gguf: Path) -> tuple[Any, Any]:
    """The GGUF file de-quantised to a plain float32 model (no quantization config left) and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .models import _quiet_transformers

    _quiet_transformers()
    try:
        # transformers draws its own tqdm bar while de-quantising; keep the caller's terminal clean.
        with contextlib.redirect_stderr(io.StringIO()):
            loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except Exception as exc:  # transformers raises many types for unsupported GGUF architectures
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        unsupported = "architecture" in first.lower() or "not supported" in first.lower()
        fix = (
            "only GGUF architectures that transformers supports can be loaded"
            if unsupported
            else f"the file may be truncated or damaged ({gguf.stat().st_size:,} bytes): download it again"
        )
        raise SystemExit(f"error: cannot read {gguf.name} as a transformers model ({first}); {fix}") from None
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = type(loaded.config).from_dict(config_dict)
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), assign=True, strict=False)
    plain.tie_weights()
    return plain, tokenizer


def save_converted(
    model: Any, tokenizer: Any, gguf: Path, target: Path, save: Callable[[Path], None] | None = None
) -> None:
    """Write ``model`` and ``tokenizer`` to ``target`` whole or not at all (beside it, then renamed); a full or
    unwritable disk is one line, with the half-written folder removed. ``save`` writes the weights (tests)."""
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        (save or model.save_pretrained)(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        (tmp / CONVERTED_MARKER).write_text(json.dumps({"gguf": str(gguf), "name": gguf.name}, indent=2))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except Exception as exc:  # OSError, or safetensors' own error type wrapping one ("No space left on device")
        if not isinstance(exc, OSError) and "no space left" not in str(exc).lower():
            raise
        reason = getattr(exc, "strerror", None) or (str(exc).strip().splitlines() or ["write error"])[0][:120]
        full = "no space left" in str(exc).lower() or getattr(exc, "errno", None) == errno.ENOSPC
        raise SystemExit(
            f"error: no space left on the device holding {target.parent} (cache folder) for the converted model; "
            "free space there or point LLM_TUI_CACHE elsewhere"
            if full
            else f"error: cannot write the converted model to {target.parent} ({reason}); "
            "check the cache folder (LLM_TUI_CACHE) and its file system"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def narrow(source: Path, dtype: str, target: Path) -> None:
    """A converted folder's weights cast to ``dtype``, tensor by tensor, with its config and tokenizer files."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    tensors = {}
    with safe_open(source / "model.safetensors", "pt") as fh:
        metadata = fh.metadata() or {"format": "pt"}
        for key in fh.keys():  # noqa: SIM118 (safe_open is not a mapping)
            tensors[key] = fh.get_tensor(key).to(getattr(torch, dtype))

    def save(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        for f in source.iterdir():
            if f.is_file() and f.name not in ("model.safetensors", CONVERTED_MARKER):
                shutil.copy2(f, tmp / f.name)
        config = json.loads((tmp / "config.json").read_text())
        config["dtype"] = dtype
        config.pop("torch_dtype", None)
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        save_file(tensors, str(tmp / "model.safetensors"), metadata=metadata)

    origin = json.loads((source / CONVERTED_MARKER).read_text())
    save_converted(None, None, Path(origin.get("gguf", source)), target, save=save)


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "--narrow":
        narrow(Path(argv[2]), argv[1], Path(argv[3]))
        return 0
    if len(argv) != 2:
        print("error: usage: python -m core.convert MODEL.gguf TARGET_FOLDER", file=sys.stderr)
        return 2
    convert(Path(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
