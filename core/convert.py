"""GGUF -> float32 safetensors folder (model and tokenizer), run as its own process by ``models.convert_gguf``.

    python -m core.convert MODEL.gguf TARGET_FOLDER

Exit 0 when TARGET_FOLDER holds the converted model; otherwise the last line on stderr is "error: <one line>".
The folder appears whole or not at all (written beside it, then renamed).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
from pathlib import Path

CONVERTED_MARKER = "llm-tui-source.json"


def convert(gguf: Path, target: Path) -> None:
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
        raise SystemExit(
            f"error: cannot read {gguf.name} as a transformers model ({first}); "
            "only GGUF architectures that transformers supports can be loaded"
        ) from None
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = type(loaded.config).from_dict(config_dict)
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), assign=True, strict=False)
    plain.tie_weights()
    del loaded
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / CONVERTED_MARKER).write_text(json.dumps({"gguf": str(gguf), "name": gguf.name}, indent=2))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit(
            f"error: cannot write the converted model to {target.parent} ({exc.strerror or exc}); "
            "free disk space there or point LLM_TUI_CACHE elsewhere"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("error: usage: python -m core.convert MODEL.gguf TARGET_FOLDER", file=sys.stderr)
        return 2
    convert(Path(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
