"""Invite codes (bot/pairing/codes.py): typed loosely, stored as a hash, never guessable."""

from __future__ import annotations

from bot.pairing.codes import ALPHABET, LENGTH, code_hash, link_payload, new_code, normal


def test_a_code_reads_the_same_however_it_is_typed() -> None:
    code = new_code()
    assert len(code.replace("-", "")) == LENGTH and code.count("-") == 2
    digest = code_hash(code)
    for typed in (code.lower(), code.replace("-", " "), f"  {code.replace('-', '')} ",
                  link_payload(code)):
        assert code_hash(typed) == digest


def test_only_a_hash_is_kept_and_lookalike_letters_are_never_issued() -> None:
    code = new_code()
    digest = code_hash(code)
    assert digest and len(digest) == 64 and code.replace("-", "") not in digest
    assert not set("0O1IL") & set(ALPHABET)
    assert len({new_code() for _ in range(200)}) == 200


def test_text_that_cannot_be_a_code() -> None:
    for typed in ("", "hello", "ABCD-EFGH-JKM", "ABCD-EFGH-JKM0", "ABCD-EFGH-JKMNP"):
        assert normal(typed) is None and code_hash(typed) is None
