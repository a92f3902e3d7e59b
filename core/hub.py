"""What to tell a user who cannot reach the Hugging Face hub."""

from __future__ import annotations


def network_fix() -> str:
    """The fix for "the hub is not reachable": names HF_HUB_OFFLINE / HF_DATASETS_OFFLINE when they are set."""
    import os

    from huggingface_hub import constants

    set_vars = [v for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") if os.environ.get(v, "").strip() not in ("", "0")]
    if constants.HF_HUB_OFFLINE and "HF_HUB_OFFLINE" not in set_vars:
        set_vars.insert(0, "HF_HUB_OFFLINE")
    if set_vars:
        return f"unset {' and '.join(set_vars)} (it keeps the hub offline) and connect to the network"
    return "connect to the network (the hub is not reachable from here)"
