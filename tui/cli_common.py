"""What every `llm-tui` subcommand shares: exit codes, the one-line error, the argument parser, model flags."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag on one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"llm-tui: error: {message} (see `{self.prog} --help`)\n")


def fail(message: str, code: int) -> int:
    """Print the one-line error and return the exit code."""
    print(f"llm-tui: error: {message}", file=sys.stderr)
    return code


def add_model_options(p: argparse.ArgumentParser) -> None:
    """--device, --dtype, --quant, --cache-dir, --trust-remote-code: where and how a model is loaded."""
    from core.devices import DEVICES, DTYPES, QUANTS

    p.add_argument("--device", default="auto", choices=DEVICES, help="default %(default)s: cuda, mps, then cpu")
    p.add_argument(
        "--dtype",
        default="auto",
        choices=DTYPES,
        help="default auto: bfloat16 on CUDA/bf16 CPUs, float16 on mps, else float32",
    )
    p.add_argument("--quant", default="none", choices=QUANTS, help="bitsandbytes quantization (4bit = NF4)")
    p.add_argument("--cache-dir", help="asset and converted-model cache (default $LLM_TUI_CACHE or ~/.cache/llm-tui)")
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow a hub model's own Python code to run (off unless you ask)",
    )
