"""The 57 MMLU subjects and lm-evaluation-harness's four categories; parsing --subjects."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ..errors import UserInputError

CATEGORIES: dict[str, tuple[str, ...]] = {
    "stem": (
        "abstract_algebra", "anatomy", "astronomy", "college_biology", "college_chemistry",
        "college_computer_science", "college_mathematics", "college_physics", "computer_security",
        "conceptual_physics", "electrical_engineering", "elementary_mathematics", "high_school_biology",
        "high_school_chemistry", "high_school_computer_science", "high_school_mathematics",
        "high_school_physics", "high_school_statistics", "machine_learning",
    ),
    "humanities": (
        "formal_logic", "high_school_european_history", "high_school_us_history",
        "high_school_world_history", "international_law", "jurisprudence", "logical_fallacies",
        "moral_disputes", "moral_scenarios", "philosophy", "prehistory", "professional_law",
        "world_religions",
    ),
    "social_sciences": (
        "econometrics", "high_school_geography", "high_school_government_and_politics",
        "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology",
        "human_sexuality", "professional_psychology", "public_relations", "security_studies",
        "sociology", "us_foreign_policy",
    ),
    "other": (
        "business_ethics", "clinical_knowledge", "college_medicine", "global_facts", "human_aging",
        "management", "marketing", "medical_genetics", "miscellaneous", "nutrition",
        "professional_accounting", "professional_medicine", "virology",
    ),
}  # fmt: skip

SUBJECTS: tuple[str, ...] = tuple(sorted(s for group in CATEGORIES.values() for s in group))
CATEGORY_OF: dict[str, str] = {s: c for c, group in CATEGORIES.items() for s in group}
DEFAULT_SUBJECTS = ("astronomy", "business_ethics")
SEED_SUBJECTS = (
    "astronomy", "business_ethics", "abstract_algebra", "anatomy", "computer_security", "econometrics",
    "electrical_engineering", "high_school_physics", "machine_learning", "professional_law",
)  # fmt: skip


def normalise(name: str) -> str:
    """'High School Physics' and 'high-school-physics' both become 'high_school_physics'."""
    return "_".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


def pretty(subject: str) -> str:
    return subject.replace("_", " ")


def parse_subjects(text: str | Iterable[str], known: Iterable[str] = SUBJECTS) -> list[str]:
    """Expand names, comma lists, 'all' and category names; reject unknown names with the closest valid ones."""
    items = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    known_list = list(known)
    known_set = set(known_list)
    chosen: list[str] = []
    for raw in items:
        name = normalise(raw)
        if not name:
            continue
        if name == "all":
            expanded = sorted(known_set)
        elif name in CATEGORIES:
            expanded = [s for s in CATEGORIES[name] if s in known_set]
        elif name in known_set:
            expanded = [name]
        else:
            vocabulary = known_list + list(CATEGORIES) + ["all"]
            close = difflib.get_close_matches(name, vocabulary, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else "run `llm-tui subjects` to list them"
            raise UserInputError(f"unknown subject '{raw.strip()}'; {hint}")
        chosen.extend(s for s in expanded if s not in chosen)
    if not chosen:
        raise UserInputError("no subjects given; pass --subjects astronomy,business_ethics (or all, stem, ...)")
    return chosen
