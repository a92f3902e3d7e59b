#!/usr/bin/env bash
# The reference runs committed under runs/reference/ (issue 5), measured on this project's CPU machine.
# Run them one at a time on an otherwise idle machine: their timing fields are the configuration table's.
# Each command resumes if interrupted (same --output).
set -euo pipefail
cd "$(dirname "$0")/.."
LLM=${LLM:-.venv/bin/llm-tui}
SEED10=astronomy,business_ethics,abstract_algebra,anatomy,computer_security,econometrics,electrical_engineering,high_school_physics,machine_learning,professional_law
out=runs/reference
run() { $LLM --batch --subjects $SEED10 --device cpu "$@"; }
# Two models (mistake patterns)
run --model smollm2-135m-instruct --dtype bfloat16 --output $out/smollm2-cpu-bf16
run --model gemma-3-270m          --dtype bfloat16 --output $out/gemma-cpu-bf16
# The prompt as a chat turn (Gemma-3-270M is a base model without a chat template)
run --model smollm2-135m-instruct --dtype bfloat16 --chat-template --output $out/smollm2-cpu-bf16-chat
# One model, four configurations (time, memory, accuracy): float32, and bitsandbytes 4-bit / 8-bit on CPU
run --model smollm2-135m-instruct --dtype float32                --output $out/smollm2-cpu-fp32
run --model smollm2-135m-instruct --dtype bfloat16 --quant 4bit  --output $out/smollm2-cpu-4bit
run --model smollm2-135m-instruct --dtype bfloat16 --quant 8bit  --output $out/smollm2-cpu-8bit
