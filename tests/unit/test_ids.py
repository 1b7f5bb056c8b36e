"""Identifiers: ordered by time, random after; many at once as one at a time would make them."""

from __future__ import annotations

import re

from tests.fakes import SequentialIds

from kopek.clock import new_ids, random_ids

ID = re.compile(r"[0-9a-f]{32}")


def test_ids_made_at_once_have_the_form_of_single_ones_and_are_all_different() -> None:
    single = random_ids()
    many = new_ids(random_ids, 5_000)

    assert len(many) == len(set(many)) == 5_000
    assert all(ID.fullmatch(each) for each in [single, *many])
    # The first 12 digits are the milliseconds since 1970: the batch was made at or after the single id.
    assert all(each[:12] >= single[:12] for each in many)


def test_another_source_is_asked_once_per_id() -> None:
    source = SequentialIds()

    assert new_ids(source, 3) == ["op-000001", "op-000002", "op-000003"]
    assert source() == "op-000004"
    assert new_ids(random_ids, 0) == []
