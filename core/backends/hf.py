"""The transformers backend: log-likelihoods of choices and greedy generation, batched, in-process.

Tokenisation follows lm-eval's HF model exactly: a context's trailing spaces move to the continuation; the
continuation's tokens are those of ``encode(context + continuation)`` after the first ``len(encode(context))``
tokens; ``encode`` uses the tokenizer's default special tokens unless the text already starts with the BOS
token; an empty context is replaced by the BOS (or EOS) token; a pair longer than the model's context is cut
from the left.

Where lm-eval runs one sequence per choice and a full-vocabulary softmax at every position, this backend:

- reads single-token continuations (MMLU's letters, BoolQ's yes/no) off one next-token distribution, asking the
  model for the last position's logits only;
- packs a question's context and all its continuations into one sequence, the continuations side by side after
  the context, with an attention mask that lets each continuation see the context and itself only, and
  position ids that restart after the context for each one. The context is computed once instead of once per
  choice, and the softmax runs only at the positions that are scored. The numbers are the same as scoring each
  choice on its own (within float rounding).
- falls back to one sequence per choice for "multiple input" tasks (Winogrande), for pairs longer than the
  context, and for models with sliding-window layers when the packed sequence is longer than the window;
- for k-shot prompts, computes the prefix the batch's contexts share (the task description and its exemplars)
  once per subset and keeps its key/value cache: each batch then runs only its documents' own tokens after it
  (``prefix_reuse``; single-token scoring, models without sliding-window layers). Same predictions as
  recomputing; scores equal within float rounding (other kernel shapes).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UserInputError
from ..models import LoadedModel
from ..tasks.base import (
    ChatFormat,
    ChoiceResult,
    GenerateRequest,
    GenerateResult,
    Request,
    Result,
)  # fmt: skip
from .base import BatchOutput, Cancelled, Prepared


@dataclass
class _Choice:
    pairs: list[tuple[list[int], list[int]]]  # (context tokens, continuation tokens) per choice
    shared: bool  # every choice has the same context: pack them into one row
    single: bool  # shared, and every continuation is one token: one next-token distribution


@dataclass
class _Row:
    tokens: list[int]
    positions: list[int]
    segments: list[int]  # 0 = context (everyone sees it), j = continuation j (sees the context and itself)
    # (position in the row whose logits predict, target token, which (request, choice) it adds to)
    targets: list[tuple[int, int, int, int]]


def _max_length(model: Any, tokenizer: Any) -> int:
    """lm-eval's rule: the model config's context length, else the tokenizer's, else 2048."""
    config = model.config
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000_000:
        return limit
    return 2048


def _common_prefix(seqs: Sequence[list[int]]) -> int:
    """How many leading tokens every sequence shares."""
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for other in seqs[1:]:
        i = 0
        while i < n and other[i] == first[i]:
            i += 1
        n = i
    return n


def _sliding_window(config: Any) -> int | None:
    layer_types = getattr(config, "layer_types", None) or []
    window = getattr(config, "sliding_window", None)
    if window and any("sliding" in str(t) for t in layer_types):
        return int(window)
    if window and getattr(config, "use_sliding_window", False):
        return int(window)
    return None


class TransformersBackend:
    name = "transformers"

    MIN_PREFIX = 32  # shared tokens worth a cached prefix

    def __init__(self, loaded: LoadedModel, chat_template: bool = False, prefix_reuse: bool = True) -> None:
        import torch

        self.torch = torch
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = tok = loaded.tokenizer
        self.device = loaded.device
        self.max_length = _max_length(self.model, tok)
        self.window = _sliding_window(self.model.config)
        self.bos_text = tok.bos_token if tok.bos_token else None
        self.prefix_token_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        self._logits_to_keep = True
        if chat_template and not getattr(tok, "chat_template", None):
            raise UserInputError("--chat-template: this model's tokenizer has no chat template; drop the flag")
        self._chat = chat_template
        self.prefix_reuse = prefix_reuse and self.window is None
        self._prefix: tuple[tuple[int, ...], list[tuple[Any, Any]]] | None = None  # (tokens, per-layer k/v)
        self._subset_prefix: list[int] = []
        self.prefix_stats = {"computed": 0, "reused": 0}

    # -- prompts --------------------------------------------------------------------------------------------------
    @property
    def chat_format(self) -> ChatFormat | None:
        return self._format_chat if self._chat else None

    def _format_chat(self, system: str | None, user: str) -> str:
        from jinja2 import TemplateError

        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except TemplateError:  # a template without a system role (lm-eval drops the system message too)
            return self.tokenizer.apply_chat_template(messages[-1:], tokenize=False, add_generation_prompt=True)

    def encode(self, text: str) -> list[int]:
        add = not (self.bos_text and text.startswith(self.bos_text))
        return list(self.tokenizer.encode(text, add_special_tokens=add))

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        if not context:
            cont = list(self.tokenizer.encode(continuation, add_special_tokens=False))
            if cont and cont[0] == self.prefix_token_id:
                return cont[:1], cont[1:]
            return [self.prefix_token_id], cont
        spaces = len(context) - len(context.rstrip())
        if spaces:
            continuation = context[-spaces:] + continuation
            context = context[:-spaces]
        whole = self.encode(context + continuation)
        ctx = self.encode(context)
        return ctx, whole[len(ctx) :]

    def prepare(self, request: Request) -> Prepared:
        if isinstance(request, GenerateRequest):
            ctx = self.encode(request.context)
            room = max(1, self.max_length - request.max_new_tokens)
            ctx = ctx[-room:]
            return Prepared(request, len(ctx), ctx)
        pairs = [self.encode_pair(c, k) for c, k in request.pairs()]
        for _ctx, cont in pairs:
            if not cont:
                raise UserInputError("a choice encodes to no tokens; the task's data has an empty answer")
        fits = all(len(c) + len(k) <= self.max_length + 1 for c, k in pairs)
        shared = fits and len({tuple(c) for c, _ in pairs}) == 1
        if shared:
            ctx = pairs[0][0]
            packed = len(ctx) + sum(len(k) for _, k in pairs)
            if self.window is not None and packed > self.window:
                shared = False
        single = shared and all(len(k) == 1 for _, k in pairs)
        if single:
            length = len(pairs[0][0])
        elif shared:
            length = len(pairs[0][0]) + sum(len(k) for _, k in pairs)
        else:
            length = sum(min(len(c) + len(k) - 1, self.max_length) for c, k in pairs)
        return Prepared(request, length, _Choice(pairs, shared, single))

    # -- running --------------------------------------------------------------------------------------------------
    def run(self, batch: Sequence[Prepared], cancel: threading.Event | None = None) -> BatchOutput:
        torch = self.torch
        timed = self.device.startswith("cuda")
        if timed:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        results: list[Result | None] = [None] * len(batch)
        with torch.inference_mode():
            gen = [i for i, p in enumerate(batch) if isinstance(p.request, GenerateRequest)]
            single = [i for i, p in enumerate(batch) if isinstance(p.data, _Choice) and p.data.single]
            other = [i for i, p in enumerate(batch) if isinstance(p.data, _Choice) and not p.data.single]
            done: list[tuple[list[int], Sequence[Result]]] = []
            if single:
                done.append((single, self._score_single([batch[i] for i in single])))
            if other:
                done.append((other, self._score_rows([batch[i] for i in other])))
            if gen:
                done.append((gen, self._generate([batch[i] for i in gen], cancel)))
            for indexes, outputs in done:
                for i, res in zip(indexes, outputs, strict=True):
                    results[i] = res
        gpu_ms = None
        if timed:
            end.record()
            torch.cuda.synchronize()
            gpu_ms = start.elapsed_time(end)
        assert all(r is not None for r in results)
        return BatchOutput(results, gpu_ms)  # type: ignore[arg-type]

    def _call(self, ids: Any, mask: Any, positions: Any, keep: int) -> Any:
        kwargs = {"input_ids": ids, "attention_mask": mask, "position_ids": positions, "use_cache": False}
        if self._logits_to_keep:
            try:
                return self.model(**kwargs, logits_to_keep=keep).logits[:, -keep:, :]
            except TypeError:
                self._logits_to_keep = False
        return self.model(**kwargs).logits[:, -keep:, :]

    def _left_pad(self, seqs: Sequence[list[int]]) -> tuple[Any, Any]:
        """Token ids and attention mask of ``seqs`` padded on the left to one width (content right-aligned)."""
        torch = self.torch
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
        return ids, mask

    def _score_single(self, batch: Sequence[Prepared]) -> list[ChoiceResult]:
        """Contexts whose continuations are one token each: the last position's distribution holds every score."""
        torch = self.torch
        contexts = [p.data.pairs[0][0] for p in batch]
        prefix = self._subset_prefix
        if len(prefix) >= self.MIN_PREFIX and all(c[: len(prefix)] == prefix for c in contexts):
            logits = self._after_prefix(contexts, len(prefix))
        else:
            ids, mask = self._left_pad(contexts)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            dev = self.model.device
            logits = self._call(ids.to(dev), mask.to(dev), positions.to(dev), 1)[:, -1, :].float()
        logprobs = torch.log_softmax(logits, dim=-1).cpu()
        out = []
        for row, p in enumerate(batch):
            tokens = [k[0] for _, k in p.data.pairs]
            out.append(ChoiceResult([float(logprobs[row, t]) for t in tokens], len(contexts[row]) + len(tokens)))
        return out

    def fit_batch_size(self, device: str, longest: int, cap: int) -> int:
        """At most ``cap``: the batch of ``longest``-token sequences whose activations fit the memory free."""
        import torch

        from ..batching import fit_batch_size

        element = 4 if self.model.dtype == torch.float32 else 2
        return fit_batch_size(self.model.config, device, longest, element, cap)

    def begin_subset(self, prepared: Sequence[Prepared]) -> None:
        """The prefix every single-token context of a subset shares (a k-shot prompt's description and exemplars),
        found once per subset from all its documents; batches that start with it run after its cached keys."""
        contexts = [p.data.pairs[0][0] for p in prepared if isinstance(p.data, _Choice) and p.data.single]
        self._subset_prefix = []
        if self.prefix_reuse and len(contexts) >= 2:
            self._subset_prefix = list(contexts[0][: _common_prefix(contexts)])

    def _prefix_cache(self, prefix: list[int]) -> list[tuple[Any, Any]]:
        """The per-layer keys and values of ``prefix`` (batch 1), computed once and kept until another prefix."""
        key = tuple(prefix)
        if self._prefix is not None and self._prefix[0] == key:
            self.prefix_stats["reused"] += 1
            return self._prefix[1]
        self._prefix = None  # the previous subset's cache goes before the next is computed
        torch = self.torch
        dev = self.model.device
        ids = torch.tensor([prefix], dtype=torch.long, device=dev)
        out = self.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        self._prefix = (key, layers)
        self.prefix_stats["computed"] += 1
        return layers

    def _after_prefix(self, contexts: Sequence[list[int]], shared: int) -> Any:
        """Last-position logits of each context, running only the tokens after the cached shared prefix.

        The suffixes are left-padded (so the last position is every row's last token); the 2D mask covers the
        prefix, the padding (masked) and the suffix; positions continue after the prefix."""
        from transformers import DynamicCache

        torch = self.torch
        shared = min(shared, min(len(c) for c in contexts) - 1)  # every row keeps at least one token of its own
        layers = self._prefix_cache(list(contexts[0][:shared]))
        suffixes = [c[shared:] for c in contexts]
        ids, mask = self._left_pad(suffixes)
        n, width = ids.shape
        positions = (shared + mask.cumsum(-1) - 1).clamp(min=shared)
        full_mask = torch.cat([torch.ones((n, shared), dtype=torch.long), mask], dim=1)
        cache = DynamicCache()
        for i, (k, v) in enumerate(layers):
            cache.update(k.expand(n, *k.shape[1:]), v.expand(n, *v.shape[1:]), i)
        dev = self.model.device
        # transformers 5.x names the argument ``cache`` (``past_key_values`` is deprecated); older models take the old
        name = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        out = self.model(input_ids=ids.to(dev), attention_mask=full_mask.to(dev), position_ids=positions.to(dev),
                         use_cache=True, logits_to_keep=1, **{name: cache})  # fmt: skip
        return out.logits[:, -1, :].float()

    def _rows(self, p: Prepared, index: int) -> list[_Row]:
        data: _Choice = p.data
        rows = []
        if data.shared:
            ctx = data.pairs[0][0]
            tokens, positions, segments = list(ctx), list(range(len(ctx))), [0] * len(ctx)
            targets = []
            for j, (_, cont) in enumerate(data.pairs):
                start = len(tokens)
                for t, tok in enumerate(cont):
                    query = len(ctx) - 1 if t == 0 else start + t - 1
                    targets.append((query, tok, index, j))
                tokens += cont
                positions += range(len(ctx), len(ctx) + len(cont))
                segments += [j + 1] * len(cont)
            rows.append(_Row(tokens, positions, segments, targets))
            return rows
        for j, (ctx, cont) in enumerate(data.pairs):
            seq = (ctx + cont)[-(self.max_length + 1) :][:-1]
            n = len(seq)
            targets = [(n - len(cont) + t, tok, index, j) for t, tok in enumerate(cont)]
            rows.append(_Row(seq, list(range(n)), [0] * n, targets))
        return rows

    def _score_rows(self, batch: Sequence[Prepared]) -> list[ChoiceResult]:
        """Packed (and plain) rows in one forward pass with a per-row attention mask."""
        torch = self.torch
        rows: list[_Row] = []
        tokens_of: list[int] = []
        for index, p in enumerate(batch):
            own = self._rows(p, index)
            rows.extend(own)
            tokens_of.append(sum(len(r.tokens) for r in own))
        width = max(len(r.tokens) for r in rows)
        keep = max(len(r.tokens) - min(q for q, *_ in r.targets) for r in rows)
        n = len(rows)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        pos = torch.zeros((n, width), dtype=torch.long)
        seg = torch.full((n, width), -1, dtype=torch.long)
        for i, r in enumerate(rows):
            off = width - len(r.tokens)
            ids[i, off:] = torch.tensor(r.tokens, dtype=torch.long)
            pos[i, off:] = torch.tensor(r.positions, dtype=torch.long)
            seg[i, off:] = torch.tensor(r.segments, dtype=torch.long)
        packed = any(max(r.segments) > 0 for r in rows)
        dev = self.model.device
        mask = self._packed_mask(seg).to(dev) if packed else (seg >= 0).long().to(dev)
        logits = self._call(ids.to(dev), mask, pos.to(dev), keep)
        row_idx, col_idx, tok_idx, slot = [], [], [], []
        for i, r in enumerate(rows):
            off = width - len(r.tokens) - (width - keep)
            for query, tok, req, choice in r.targets:
                row_idx.append(i)
                col_idx.append(off + query)
                tok_idx.append(tok)
                slot.append((req, choice))
        picked = logits[torch.tensor(row_idx), torch.tensor(col_idx)].float()
        logprobs = torch.log_softmax(picked, dim=-1)
        values = logprobs.gather(1, torch.tensor(tok_idx, device=logprobs.device).unsqueeze(1)).squeeze(1).cpu()
        sums = [[0.0] * len(p.data.pairs) for p in batch]
        for (req, choice), v in zip(slot, values.tolist(), strict=True):
            sums[req][choice] += v
        return [ChoiceResult(sums[i], tokens_of[i]) for i in range(len(batch))]

    def _packed_mask(self, seg: Any) -> Any:
        """A 4D mask: query i sees key k when k <= i and k is context or in i's own continuation.

        Boolean (True = attend) for SDPA, additive (0 / dtype minimum) for eager attention."""
        torch = self.torch
        width = seg.shape[1]
        idx = torch.arange(width)
        causal = idx.view(1, width, 1) >= idx.view(1, 1, width)
        q, k = seg.unsqueeze(2), seg.unsqueeze(1)
        allowed = causal & (k >= 0) & ((k == 0) | (k == q))
        allowed |= torch.eye(width, dtype=torch.bool).unsqueeze(0)  # padding rows see themselves (no empty softmax)
        if getattr(self.model.config, "_attn_implementation", "sdpa") == "sdpa":
            return allowed.unsqueeze(1)
        dtype = self.model.dtype if self.model.dtype.is_floating_point else torch.float32
        mask = torch.zeros(allowed.shape, dtype=dtype)
        mask.masked_fill_(~allowed, torch.finfo(dtype).min)
        return mask.unsqueeze(1)

    def _generate(self, batch: Sequence[Prepared], cancel: threading.Event | None) -> list[GenerateResult]:
        torch = self.torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                stop = cancel is not None and cancel.is_set()
                return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

        contexts = [p.data for p in batch]
        requests: list[GenerateRequest] = [p.request for p in batch]  # type: ignore[misc]
        ids, mask = self._left_pad(contexts)
        width = ids.shape[1]
        until = sorted({u for r in requests for u in r.until})
        max_new = max(r.max_new_tokens for r in requests)
        from ..chat.generation import eos_ids

        ends = eos_ids(self.model, self.tokenizer)
        dev = self.model.device
        out = self.model.generate(
            input_ids=ids.to(dev),
            attention_mask=mask.to(dev),
            max_new_tokens=max_new,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=self.pad_id,
            eos_token_id=ends or None,
            stop_strings=until or None,
            tokenizer=self.tokenizer,
            stopping_criteria=StoppingCriteriaList([_Cancel()]),
        )
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        end_set = set(ends)
        results = []
        for row, req in enumerate(requests):
            new = out[row, width:].tolist()[: req.max_new_tokens]
            count = len(new)
            for n, tok in enumerate(new):
                if tok in end_set or (tok == self.pad_id and all(t == self.pad_id for t in new[n:])):
                    count = n
                    break
            text = self.tokenizer.decode(new[:count], skip_special_tokens=True)
            for stop in req.until:
                text = text.split(stop)[0]
            results.append(GenerateResult(text, len(contexts[row]), count))
        return results
