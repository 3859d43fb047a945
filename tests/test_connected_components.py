"""Connected components in Spark (large-star / small-star) against a tiny union-find oracle."""

from __future__ import annotations

import random

import pytest

pytestmark = pytest.mark.spark


def _union_find_components(edges: list[tuple[int, int]]) -> dict[int, int]:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {node: find(node) for node in list(parent)}


CC = {"checkpoint_every": 3, "max_iterations": 60}  # the values of dedup.minhash.cc_*


def _spark_components(spark, edges: list[tuple[int, int]], **kw) -> dict[int, int]:
    from jobs.dedup_components import connected_components

    df = spark.createDataFrame(edges, "src long, dst long")
    rows = connected_components(df, **{**CC, **kw}).collect()
    result = {r["node"]: r["component"] for r in rows}
    assert len(result) == len(rows), "each node must appear once"
    return result


def _graph_cases() -> dict[str, list[tuple[int, int]]]:
    rng = random.Random(5)
    chain = [(i, i + 1) for i in range(40)]  # long path: the worst case for label propagation
    reversed_chain = [(100 + i + 1, 100 + i) for i in range(25)]
    star = [(1000, 1000 + k) for k in range(1, 30)] + [(2000 + k, 2000) for k in range(1, 10)]
    cycle = [(3000 + i, 3000 + (i + 1) % 12) for i in range(12)]
    with_repeats_and_loops = [(4000, 4001), (4001, 4000), (4001, 4001), (4002, 4002), (4002, 4003)]
    random_graph = [(rng.randrange(5000, 5200), rng.randrange(5000, 5200)) for _ in range(180)]
    return {
        "chain": chain,
        "reversed_chain": reversed_chain,
        "stars": star,
        "cycle": cycle,
        "repeats_and_self_loops": with_repeats_and_loops,
        "random": random_graph,
    }


def test_components_match_union_find(spark):
    # All cases use disjoint node ranges, so one Spark run checks them all (and their union).
    cases = _graph_cases()
    edges = [edge for case in cases.values() for edge in case]
    result = _spark_components(spark, edges, checkpoint_every=2)
    for name, case in cases.items():
        expected = _union_find_components(case)
        # A self-loop alone is no edge: its node is not part of any component.
        isolated_loops = {a for a, b in case if a == b} - {x for a, b in case if a != b for x in (a, b)}
        for node in isolated_loops:
            expected.pop(node)
        assert {node: result.get(node) for node in expected} == expected, name
        assert not isolated_loops & result.keys(), name
    assert len(result) == len({x for a, b in edges if a != b for x in (a, b)})


def test_non_converging_budget_is_an_error(spark):
    from jobs.dedup_components import connected_components

    df = spark.createDataFrame([(i, i + 1) for i in range(64)], "src long, dst long")
    with pytest.raises(RuntimeError, match="did not converge"):
        connected_components(df, checkpoint_every=3, max_iterations=1).collect()


def test_big_star_hub_is_aggregated_not_buffered(spark):
    """A boilerplate hub: one node linked to 100k pages, plus a short chain hanging off one leaf.
    Per-node minimums are group-by aggregates joined back (partial per task), never a window that
    would buffer the hub's whole neighbour list in one task; the answer is one component."""
    from pyspark.sql import functions as F

    from jobs.dedup_components import connected_components, large_star, small_star

    leaves = 100_000
    hub = spark.range(1, leaves + 1).select(F.lit(0).cast("long").alias("src"), F.col("id").alias("dst"))
    tail = spark.range(leaves, leaves + 8).select(F.col("id").alias("src"), (F.col("id") + 1).alias("dst"))
    edges = hub.unionByName(tail)
    for step in (large_star, small_star):
        plan = step(edges)._jdf.queryExecution().executedPlan().toString()
        assert "Window" not in plan and "HashAggregate" in plan, plan
    summary = connected_components(edges, **CC).agg(
        F.count("*").alias("nodes"), F.countDistinct("component").alias("components"), F.max("component")
    )
    assert tuple(summary.first()) == (leaves + 9, 1, 0)
