"""llm-tui's front ends: the `llm-tui` command (headless --batch mode) and the Textual app."""
