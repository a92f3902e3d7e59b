"""How many documents go in one forward pass: as many as the memory actually free holds, at most a cap.

The estimate is a forward pass's transient memory per sequence of ``length`` tokens: the hidden states and the
MLP's intermediate activations of one layer at a time (kept a few times over by the kernels), and the attention
scores when they are materialised (``heads x length x length`` in float32, what SDPA's math path on CPU does).
Half the memory free now (RAM on CPU, ``torch.cuda.mem_get_info`` on CUDA) is the budget; an out-of-memory error
still halves the batch and retries it (``evaluate``), so the estimate only has to be roughly right.
"""

from __future__ import annotations

from typing import Any

BUDGET_SHARE = 0.5
KEEP_FACTOR = 4  # copies of a layer's activations alive at once (residual, norm, projections)


def free_bytes(device: str) -> int:
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def bytes_per_sequence(config: Any, length: int, element_bytes: int) -> int:
    hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "n_embd", 0) or 1024)
    inter = int(getattr(config, "intermediate_size", 0) or 4 * hidden)
    heads = int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_head", 0) or 16)
    activations = KEEP_FACTOR * length * (hidden + 2 * inter) * element_bytes
    scores = heads * length * length * 4
    return activations + scores


def fit_batch_size(config: Any, device: str, length: int, element_bytes: int, cap: int) -> int:
    """At most ``cap``, at least 1: the batch whose estimated transient memory fits half the free memory."""
    per = max(1, bytes_per_sequence(config, max(1, length), element_bytes))
    return max(1, min(cap, int(free_bytes(device) * BUDGET_SHARE) // per))
