"""Name patterns, as rules, grants, policies and scopes write them: shell-style (`orders-*`,
`*approval*`), matched without regard to case, a blank pattern matching every name."""

from __future__ import annotations

import fnmatch


def glob_matches(value: str, pattern: str) -> bool:
    return not pattern.strip() or fnmatch.fnmatchcase(
        (value or "").lower(), pattern.strip().lower()
    )


def pattern_weight(pattern: str) -> int:
    """How specific a name pattern is: a name (2) beats a pattern (1) beats blank (0)."""
    if not pattern.strip():
        return 0
    return 1 if any(c in pattern for c in "*?[") else 2
