#!/usr/bin/env bash
# The reference runs committed under runs/reference/ (issue 5), measured on this project's CPU machine.
# Each command resumes if interrupted (same --output).
set -euo pipefail
cd "$(dirname "$0")/.."
LLM=${LLM:-.venv/bin/llm-tui}
SEED10=astronomy,business_ethics,abstract_algebra,anatomy,computer_security,econometrics,electrical_engineering,high_school_physics,machine_learning,professional_law
out=runs/reference
$LLM --batch --model smollm2-135m-instruct --subjects $SEED10 --device cpu --dtype bfloat16 --output $out/smollm2-cpu-bf16
$LLM --batch --model gemma-3-270m          --subjects $SEED10 --device cpu --dtype bfloat16 --output $out/gemma-cpu-bf16
# Configuration comparison (SmolLM2): bfloat16, float32 and bitsandbytes 8-bit / 4-bit on CPU, first 100 questions
# per subject (timed on the same questions)
$LLM --batch --model smollm2-135m-instruct --subjects $SEED10 --limit 100 --device cpu --dtype bfloat16 --output $out/smollm2-cpu-bf16-limit100
$LLM --batch --model smollm2-135m-instruct --subjects $SEED10 --limit 100 --device cpu --dtype float32  --output $out/smollm2-cpu-fp32-limit100
$LLM --batch --model smollm2-135m-instruct --subjects $SEED10 --limit 100 --device cpu --dtype bfloat16 --quant 8bit --output $out/smollm2-cpu-8bit-limit100
$LLM --batch --model smollm2-135m-instruct --subjects $SEED10 --limit 100 --device cpu --dtype bfloat16 --quant 4bit --output $out/smollm2-cpu-4bit-limit100
