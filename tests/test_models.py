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


def test_a_narrowed_copy_holds_the_same_weights_in_bfloat16(tiny_model, tmp_path):
    """The bfloat16 copy a converted model gets (issue 14: its load no longer maps the float32 file too): every
    tensor is the float32 one cast, config and tokenizer come along, and the model gives the same logits as the
    float32 folder loaded as bfloat16."""
    import json
    import shutil

    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    from core.convert import CONVERTED_MARKER, main

    source = tmp_path / "converted"
    shutil.copytree(tiny_model, source)
    (source / CONVERTED_MARKER).write_text(json.dumps({"gguf": "tiny.gguf", "name": "tiny.gguf"}))
    target = tmp_path / "converted-bfloat16"
    assert main(["--narrow", "bfloat16", str(source), str(target)]) == 0
    assert (target / CONVERTED_MARKER).is_file() and (target / "tokenizer.json").is_file()
    assert json.loads((target / "config.json").read_text())["dtype"] == "bfloat16"
    with safe_open(source / "model.safetensors", "pt") as a, safe_open(target / "model.safetensors", "pt") as b:
        assert set(a.keys()) == set(b.keys())
        for key in a.keys():  # noqa: SIM118
            assert b.get_tensor(key).dtype == torch.bfloat16
            assert torch.equal(b.get_tensor(key), a.get_tensor(key).to(torch.bfloat16))
    ids = torch.tensor([[1, 5, 9, 3]])
    narrow = AutoModelForCausalLM.from_pretrained(target, dtype=torch.bfloat16)
    cast = AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16)
    with torch.inference_mode():
        assert torch.equal(narrow(ids).logits, cast(ids).logits)
