"""MMLU: subjects and categories, data sources, the lm-evaluation-harness prompt, batched scoring."""
