"""Slot groups: each group's hash tag lies in its own share of the slots, and a customer's
group is its Kafka partition when there are as many groups as partitions."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from clv_stream.store.slot_groups import SLOTS, group_tags, groups_of, slot_names


@given(st.integers(min_value=1, max_value=SLOTS))
def test_every_tag_lies_in_its_groups_share_of_the_slots(groups: int) -> None:
    tags = group_tags(groups)
    assert len(tags) == groups
    assert len(set(tags)) == groups
    for g, tag in enumerate(tags):
        assert g * SLOTS // groups <= key_slot(tag.encode()) < (g + 1) * SLOTS // groups


def test_tags_are_the_same_in_every_process() -> None:
    """Fixed names, not a hash of process state: a cluster's layout cannot drift."""
    assert len(slot_names()) == SLOTS
    assert group_tags(4) == ("g7486", "g28384", "g12715", "g1943")


_ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
               max_size=40)


@given(st.lists(_ids, min_size=1, max_size=60), st.integers(min_value=1, max_value=64))
def test_with_as_many_groups_as_partitions_a_customers_group_is_its_partition(
        ids: list[str], partitions: int) -> None:
    parts = list(range(partitions))
    expected = [DefaultPartitioner()(cid.encode(), parts, parts) for cid in ids]
    assert groups_of(ids, partitions) == expected


@given(st.lists(_ids, min_size=1, max_size=60), st.integers(min_value=1, max_value=64))
def test_a_batch_of_one_partition_keyed_by_customer_is_one_group(
        ids: list[str], partitions: int) -> None:
    groups = groups_of(ids, partitions)
    for p in set(groups):
        one_partition = [cid for cid, g in zip(ids, groups, strict=True) if g == p]
        assert set(groups_of(one_partition, partitions)) == {p}
