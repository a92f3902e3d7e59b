"""Batched letter scoring: one forward pass per question, logits only at the last position.

When each of " A".." D" is a single token (the usual case) the score of a letter is its next-token logit.
Otherwise each continuation's full log-likelihood is computed, as lm-evaluation-harness does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .data import LETTERS
from .prompts import continuation_prefix


@dataclass
class BatchScores:
    scores: list[list[float]]  # 4 per question (logits, or log-likelihoods)
    probs: list[list[float]]  # softmax over the 4 scores
    predicted: list[int]
    gpu_ms: float | None


def is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "defaultcpuallocator" in text


class LetterScorer:
    def __init__(self, model: Any, tokenizer: Any, device: str, chat_template: bool = False) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.chat_template = chat_template
        model_type = str(getattr(model.config, "model_type", ""))
        # lm-evaluation-harness adds the BOS token for Gemma models only; chat templates carry their own.
        self.add_special_tokens = model_type.startswith("gemma") and not chat_template
        prefix = continuation_prefix(chat_template)
        self.continuations = [tokenizer.encode(prefix + L, add_special_tokens=False) for L in LETTERS]
        firsts = [c[0] for c in self.continuations]
        self.single_token = all(len(c) == 1 for c in self.continuations) and len(set(firsts)) == 4
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._logits_to_keep = True

    def encode(self, prompt: str) -> list[int]:
        return self.tokenizer.encode(prompt, add_special_tokens=self.add_special_tokens)

    def _forward(self, seqs: list[list[int]], keep: int) -> Any:
        """Logits of the last ``keep`` positions of each left-padded sequence, as float32 on the CPU."""
        torch = self.torch
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        ids, mask, position_ids = (t.to(self.model.device) for t in (ids, mask, position_ids))
        kwargs = {"input_ids": ids, "attention_mask": mask, "position_ids": position_ids, "use_cache": False}
        if self._logits_to_keep:
            try:
                logits = self.model(**kwargs, logits_to_keep=keep).logits
            except TypeError:
                self._logits_to_keep = False
                logits = self.model(**kwargs).logits
        else:
            logits = self.model(**kwargs).logits
        return logits[:, -keep:, :].float().cpu()

    def score(self, prompts_ids: list[list[int]]) -> BatchScores:
        torch = self.torch
        timed = str(self.model.device).startswith("cuda")
        if timed:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        with torch.inference_mode():
            if self.single_token:
                logits = self._forward(prompts_ids, 1)[:, -1, :]
                scores = logits[:, [c[0] for c in self.continuations]]
            else:
                scores = self._loglikelihoods(prompts_ids)
        gpu_ms = None
        if timed:
            end.record()
            torch.cuda.synchronize()
            gpu_ms = start.elapsed_time(end)
        probs = torch.softmax(scores, dim=-1)
        return BatchScores(scores.tolist(), probs.tolist(), scores.argmax(dim=-1).tolist(), gpu_ms)

    def _loglikelihoods(self, prompts_ids: list[list[int]]) -> Any:
        """Sum of log-probabilities of each continuation's tokens after the prompt."""
        torch = self.torch
        seqs = [p + c for p in prompts_ids for c in self.continuations]
        keep = max(len(c) for c in self.continuations) + 1
        logprobs = torch.log_softmax(self._forward(seqs, keep), dim=-1)
        out = torch.empty(len(seqs))
        for row in range(len(seqs)):
            cont = self.continuations[row % 4]
            n = len(cont)
            # logits at position t predict token t+1; the continuation occupies the last n tokens.
            positions = range(keep - 1 - n, keep - 1)
            out[row] = sum(logprobs[row, p, tok] for p, tok in zip(positions, cont, strict=True))
        return out.view(len(prompts_ids), 4)
