"""A string masked before a secret was known is masked again once the secret is registered."""

from __future__ import annotations

from runwright.masking import MASKER, mask


def test_a_secret_added_later_is_masked_in_strings_seen_before() -> None:
    MASKER.add("first-secret-value")
    line = {"message": "token second-secret-value sent", "second-secret-value": ["x"]}
    assert mask(line) == line  # masked once with the first secret only: nothing to hide
    MASKER.add("second-secret-value")
    assert mask(line) == {"message": "token *** sent", "***": ["x"]}
    assert mask("first-secret-value and second-secret-value") == "*** and ***"
    MASKER.clear()
    assert mask(line) == line
