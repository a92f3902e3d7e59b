"""Foreseeable failures, each with a one-line message that names the problem and the fix."""


class LlmTuiError(Exception):
    """A problem the user can act on. ``str(error)`` is shown as is, without a traceback."""

    exit_code = 1


class UserInputError(LlmTuiError):
    """Bad input: an unknown subject, a missing path, an impossible device/quantization..."""

    exit_code = 2


class AssetError(LlmTuiError):
    """An offline asset could not be fetched or did not verify."""

    exit_code = 1


class ModelLoadError(LlmTuiError):
    """The model exists but could not be loaded (gated, unreachable hub, broken files)."""

    exit_code = 2


class EvaluationError(LlmTuiError):
    """The evaluation itself failed (for example out of memory at batch size 1)."""

    exit_code = 1


def one_line(exc: BaseException) -> str:
    """An exception's first line (at most 200 characters), or its type's name when it has no text."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
