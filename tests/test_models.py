"""Parameter counts: a tied embedding counts once, also when a GGUF stored it twice at two precisions."""

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from core.models import count_parameters


def _model(tie: bool) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=300, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, tie_word_embeddings=tie,
    )  # fmt: skip
    torch.manual_seed(0)
    return LlamaForCausalLM(config)


def test_tied_embedding_counts_once():
    tied = _model(tie=True)
    assert count_parameters(tied) == (tied.num_parameters(), tied.num_parameters())
    untied = _model(tie=False)
    assert untied.num_parameters() == tied.num_parameters() + 300 * 16


def test_a_requantised_copy_of_the_embedding_is_not_counted_twice_but_an_independent_head_is():
    model = _model(tie=False)
    embedding = model.get_input_embeddings().weight
    with torch.no_grad():  # the output matrix: the input embedding plus 5% noise (a different quantisation)
        model.get_output_embeddings().weight.copy_(embedding + 0.05 * embedding.std() * torch.randn_like(embedding))
    params, stored = count_parameters(model)
    assert stored == model.num_parameters() and params == stored - 300 * 16
    with torch.no_grad():  # an independently trained head (about sqrt(2) of its norm away)
        model.get_output_embeddings().weight.normal_(std=float(embedding.std()))
    assert count_parameters(model) == (model.num_parameters(), model.num_parameters())
