"""The answer extractor: explicit markers first, then the shape of the reference."""

from __future__ import annotations

import pytest

from autosel.evaluation import exact_match, extract_answer, normalize_answer


@pytest.mark.parametrize(
    ("text", "reference", "choices", "expected"),
    [
        ("Step 1: 3 + 4 = 7.\nFinal answer: 7", "7", None, "7"),
        ("2 + 2 = 4, so... Final Answer: **1,234.**", "1234", None, "1234"),
        ("We get 12 then 15.\nThe answer is 15 apples.", "15", None, "15"),
        ("first 3, then 5, finally 42", "42", None, "42"),
        ("Final answer: 7.50", "7.5", None, "7.5"),
        ("So the result is \\boxed{-3}", "-3", None, "-3"),
        ("Final answer: 1/2", "0.5", None, "1/2"),
        ("The expression evaluates to True.", "true", None, "true"),
        ("Final answer: Yes", "true", None, "true"),
        ("No, there is no path.", "no", None, "false"),
        ("Final answer: (B)", "61", ("59", "61", "63", "66"), "b"),
        ("Final answer: 61", "B", ("59", "61", "63", "66"), "b"),
        ("C. 63 is right", "63", ("59", "61", "63", "66"), "c"),
        ("Final answer: 2017-5-21", "2017-05-21", None, "2017-05-21"),
        ("It falls on 05/21/2017.", "2017-05-21", None, "2017-05-21"),
        ("Final answer: Tuesday.", "tuesday", None, "tuesday"),
        ("", "7", None, ""),
    ],
)
def test_extract(text: str, reference: str, choices: tuple[str, ...] | None, expected: str) -> None:
    assert extract_answer(text, reference, choices) == expected


@pytest.mark.parametrize(
    ("pred", "ref", "choices", "ok"),
    [
        ("Final answer: 1,000", "1000", None, True),
        ("Final answer: 1001", "1000", None, False),
        ("the last number wins: 3 then 4", "3", None, False),
        ("Final answer: false", "no", None, True),
        ("Final answer: true", "false", None, False),
        ("Final answer: 61", "61", ("59", "61"), True),
        ("Final answer: A", "61", ("59", "61"), False),
        ("", "", None, False),  # an empty prediction never matches, even an empty reference
    ],
)
def test_exact_match(pred: str, ref: str, choices: tuple[str, ...] | None, ok: bool) -> None:
    assert exact_match(pred, ref, choices) is ok


def test_normalize() -> None:
    assert normalize_answer("  **Yes**. ") == "true"
    assert normalize_answer("+1,234.50") == "1234.5"
    assert normalize_answer("$12") == "12"
    assert normalize_answer("New   York.") == "new york"
