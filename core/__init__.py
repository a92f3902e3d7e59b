"""llm-tui's engine: model loading, MMLU evaluation, timing and run storage.

Importing ``core`` is cheap and pulls in no UI package and no torch; the heavy modules
(``core.models``, ``core.backends.hf``) import torch when they are used.
"""

__version__ = "0.1.0"
