#!/usr/bin/env bash
# The reference runs committed under runs/reference/, measured on this project's CPU machine (2 cores).
# Run them one at a time on an otherwise idle machine: their timing fields are what NOTES.md quotes.
# Each command resumes if interrupted (same --output). `scripts/reference_runs.sh tasks` runs only the
# task-layer set (issue 9); `configs` only the format-1 MMLU set (issue 5); no argument runs both.
set -euo pipefail
cd "$(dirname "$0")/.."
LLM=${LLM:-.venv/bin/llm-tui}
SEED10=astronomy,business_ethics,abstract_algebra,anatomy,computer_security,econometrics,electrical_engineering,high_school_physics,machine_learning,professional_law
what=${1:-all}

if [ "$what" = all ] || [ "$what" = configs ]; then
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
fi

if [ "$what" = all ] || [ "$what" = tasks ]; then
  # Four bundled models on five benchmarks (issue 9), CPU, bfloat16, each task's lm-eval default prompt.
  # Limits (the same for every model; each task's documents in file order) keep the whole set to about two
  # hours on 2 cores: MMLU 0-shot the first 100 questions of each of the seed's 10 subjects (1,000), MMLU
  # 5-shot (Qwen only; 5-shot prompts are about five times longer) the first 40 of each (400, all among the
  # 0-shot ones), HellaSwag the first 250 documents, GSM8K (8-shot chain of thought, up to 256 generated
  # tokens) the first 20 problems; ARC-Challenge (1,172) and Winogrande (1,267) in full.
  out=runs/reference/tasks
  MODELS=(-m smollm2-135m-instruct -m gemma-3-270m -m qwen2.5-coder-0.5b-instruct -m qwen2.5-coder-1.5b-instruct)
  QWEN=(-m qwen2.5-coder-0.5b-instruct -m qwen2.5-coder-1.5b-instruct)
  run() { $LLM --batch --device cpu --dtype bfloat16 "$@"; }
  run "${MODELS[@]}" --task mmlu --subjects $SEED10 --limit 100 --output $out/mmlu-0shot
  # The issue's check: Qwen2.5-Coder-1.5B-Instruct on astronomy + business_ethics (all 252), 0-shot
  run -m qwen2.5-coder-1.5b-instruct --task mmlu --subjects astronomy,business_ethics --output $out/qwen15-astro-be-0shot
  run "${MODELS[@]}" --task arc_challenge --output $out/arc_challenge
  run "${MODELS[@]}" --task winogrande --output $out/winogrande
  run "${MODELS[@]}" --task hellaswag --limit 250 --output $out/hellaswag
  run "${MODELS[@]}" --task gsm8k --limit 20 --output $out/gsm8k
  run "${QWEN[@]}"   --task mmlu --subjects $SEED10 --limit 40 --shots 5 --output $out/mmlu-5shot
  # ... and 5-shot on the same 252 questions
  run -m qwen2.5-coder-1.5b-instruct --task mmlu --subjects astronomy,business_ethics --shots 5 \
    --output $out/qwen15-astro-be-5shot
fi
