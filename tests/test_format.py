"""Formatting helpers shared by the front ends."""


def test_a_reply_keeps_its_line_breaks_as_markdown():
    from markdown_it import MarkdownIt

    from tui.format import keep_line_breaks

    def inline_kinds(text):
        tokens = MarkdownIt("commonmark").parse(text)
        return [c.type for t in tokens if t.type == "inline" for c in t.children]

    reply = "Roses are red,\nviolets are blue.\n\n- one\n- two\n\n```\nx = 1\ny = 2\n```"
    assert "softbreak" in inline_kinds(reply)  # plain Markdown joins the two lines into one
    kinds = inline_kinds(keep_line_breaks(reply))
    assert "hardbreak" in kinds and "softbreak" not in kinds
    tokens = MarkdownIt("commonmark").parse(keep_line_breaks(reply))
    assert [t.type for t in tokens].count("list_item_open") == 2
    assert next(t for t in tokens if t.type == "fence").content.split() == ["x", "=", "1", "y", "=", "2"]


def test_model_names_are_cut_cleanly_and_counts_agree_in_number():
    from tui.format import model_name, plural

    assert model_name("/home/me/models/qwen-coder-0.5b.gguf") == "qwen-coder-0.5b"  # not "...0.5b.g"
    assert model_name("/home/me/models/qwen-coder-0.5b.gguf", 16) == "qwen-coder-0.5b"
    assert model_name("/home/me/models/qwen-coder-0.5b.gguf", 12) == "qwen-coder…"  # no dangling "-" or "."
    assert model_name("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen2.5-0.5B-Instruct"
    assert model_name("qwen2.5-coder-1.5b-instruct", 24) == "qwen2.5-coder-1.5b-inst…"
    assert (plural(1, "run"), plural(2, "run"), plural(0, "run")) == ("1 run", "2 runs", "0 runs")


def test_bar_labels_carry_their_values_and_percent_axes_have_round_ticks():
    from tui.widgets.charts import PERCENT_TICKS, with_values

    assert with_values(["smollm2 cpu bf16", "gemma"], [24.7, 100.0]) == ["smollm2 cpu bf16 24.7%", "gemma 100.0%"]
    assert PERCENT_TICKS == [0, 25, 50, 75, 100]
