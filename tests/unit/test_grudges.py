"""Grudges are pure functions of the node names and the rng: their shapes, checked as properties."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.nemesis import grudges
from raft_jepsen.harness.nemesis.grudges import majority

sizes = st.integers(min_value=2, max_value=9)
seeds = st.integers(min_value=0, max_value=2**32)


def names(n):
    return [f"n{i}" for i in range(1, n + 1)]


def sees(grudge, node):
    return set(grudge) - grudge[node]


def assert_symmetric(grudge):
    for a, peers in grudge.items():
        for b in peers:
            assert a in grudge[b], f"{a} drops {b} but {b} does not drop {a}"


def components(grudge):
    """The groups of nodes that see each other fully (for grudges made by `complete`)."""
    return {frozenset(sees(grudge, n)) for n in grudge}


def test_complete_cuts_exactly_between_components():
    g = grudges.complete([["n1", "n2"], ["n3"], ["n4", "n5"]])
    assert g == {
        "n1": {"n3", "n4", "n5"},
        "n2": {"n3", "n4", "n5"},
        "n3": {"n1", "n2", "n4", "n5"},
        "n4": {"n1", "n2", "n3"},
        "n5": {"n1", "n2", "n3"},
    }


@given(sizes, seeds)
def test_halves_split_a_minority_from_a_majority(n, seed):
    g = grudges.halves(names(n), random.Random(seed))
    assert_symmetric(g)
    assert sorted(len(c) for c in components(g)) == [n // 2, n - n // 2]


@given(st.integers(min_value=3, max_value=9), seeds)
def test_isolate_one_cuts_one_node_from_all_others(n, seed):
    g = grudges.isolate_one(names(n), random.Random(seed))
    assert_symmetric(g)
    alone = [node for node, peers in g.items() if len(peers) == n - 1]
    assert len(alone) == 1
    assert all(peers == {alone[0]} for node, peers in g.items() if node != alone[0])


def test_isolate_names_the_node():
    assert grudges.isolate(["n1", "n2", "n3"], "n2")["n2"] == {"n1", "n3"}
    with pytest.raises(UsageError, match="n9"):
        grudges.isolate(["n1", "n2"], "n9")


@given(st.integers(min_value=4, max_value=11), seeds)
def test_majorities_ring_every_node_sees_its_own_majority(n, seed):
    g = grudges.majorities_ring(names(n), random.Random(seed))
    assert_symmetric(g)
    views = [frozenset(sees(g, node)) for node in g]
    assert all(node in view for node, view in zip(g, views))
    assert all(len(view) >= majority(n) for view in views)
    assert len(set(views)) == n, "two nodes see the same majority"
    assert any(g.values()), "a ring that cuts nothing"


@pytest.mark.parametrize("n", [1, 2, 3])
def test_majorities_ring_needs_four_nodes(n):
    with pytest.raises(UsageError, match="at least 4 nodes"):
        grudges.majorities_ring(names(n), random.Random(0))


@given(st.integers(min_value=3, max_value=11), seeds)
def test_bridge_joins_two_cut_sides_through_one_node(n, seed):
    g = grudges.bridge(names(n), random.Random(seed))
    assert_symmetric(g)
    bridges = [node for node, peers in g.items() if not peers]
    assert len(bridges) == 1
    others = [node for node in g if node != bridges[0]]
    sides = {frozenset(sees(g, node) - {bridges[0]}) for node in others}
    assert len(sides) == 2 and set().union(*sides) == set(others)
    assert all(sees(g, node) >= {bridges[0]} for node in others)


@given(sizes, seeds)
def test_same_seed_same_grudge_whatever_the_order_of_the_nodes(n, seed):
    nodes = names(n)
    for make in (grudges.halves, grudges.isolate_one):
        assert make(nodes, random.Random(seed)) == make(list(reversed(nodes)), random.Random(seed))


def test_different_seeds_give_different_partitions():
    made = {frozenset(components(grudges.halves(names(5), random.Random(s)))) for s in range(20)}
    assert len(made) > 1


def test_symmetric_closes_one_sided_drops():
    assert grudges.symmetric({"n1": ["n2"], "n2": [], "n3": []}) == {
        "n1": {"n2"},
        "n2": {"n1"},
        "n3": set(),
    }


def test_to_json_lists_only_nodes_that_drop_someone():
    g = grudges.bridge(names(3), random.Random(1))
    out = grudges.to_json(g)
    assert len(out) == 2 and all(isinstance(v, list) and len(v) == 1 for v in out.values())


@pytest.mark.parametrize("make", [grudges.halves, grudges.isolate_one, grudges.bridge])
def test_too_few_nodes_is_a_usage_error(make):
    with pytest.raises(UsageError):
        make(["n1"], random.Random(0))
