"""Number formatting shared by the charts and the Markdown summary, and the Markdown table helpers."""

from __future__ import annotations

from collections.abc import Sequence


def fmt_p(p: float | None, floor: float | None = None) -> str:
    """A p-value: 3 decimals down to 0.001, then scientific; "<= floor" at a permutation test's floor."""
    if p is None:
        return "-"
    if floor is not None and p <= floor * (1 + 1e-9):
        return f"≤ {floor:.1e}" if floor < 0.001 else f"≤ {floor:.3f}"
    if p >= 0.001:
        return f"{p:.3f}"
    if p < 1e-300:  # below what a double holds: the computed value underflowed to zero
        return "< 1e-300"
    return f"{p:.1e}"


def p_text(p: float | None, floor: float | None = None) -> str:
    """ "p = 0.012", or "p ≤ 4.0e-04" at a permutation test's floor."""
    text = fmt_p(p, floor)
    return f"p {text}" if text.startswith(("≤", "<")) else f"p = {text}"


def pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}" if abs(x) < 10**digits else f"{x:,.0f}"


def fixed(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def mebibytes(n: int | float | None) -> float | None:
    return None if n is None else n / 2**20


def ratio(x: float | None) -> str:
    return "" if x is None else f" (x{x:.2f})"


def interval(lo: float | None, hi: float | None) -> str:
    """A 95% interval in percent: "[40.1, 52.3]"; "-" when there is none."""
    return "-" if lo is None or hi is None else f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return out + [""]
