"""What a search costs, and when a hash table or a multi-index search hands a query to a scan of its own codes.

An exact k-NN by hash probing grows the radius until k items lie within it; the probes of radius r number
C(bits, r) (per substring table for multi-index hashing), so on codes whose k-th neighbour is far (random codes,
long codes, a small database) probing costs many times an exhaustive scan. Each query is therefore given a
budget, half the estimated cost of scanning every code once: before each shell the search adds what that shell will
cost (its probes, known in advance), after it what its candidates cost, and a query whose next shell would pass the
budget stops and is answered by the scan (:func:`l2h.index.kernels.flat_knn`) with the rest of the batch's
stopped queries. A query therefore costs at most about one and a half scans, and a query whose k nearest are
close (near duplicates, clustered codes) costs a few probes.

A range search knows its probes in advance: the whole batch scans when the probes alone cost more than a scan, and
a query whose candidates (rows gathered from the buckets) pass the budget on the way stops and scans as well.

The unit is about a nanosecond of one core, measured with ``benchmarks/peers.py`` on an AMD EPYC (AVX-512); only
the ratios matter, and an error in them costs time, never a wrong answer: every strategy gives the same results.

``strategy`` (an attribute of every hash and multi-index index, not saved with it): ``"auto"`` (the budget),
``"probe"`` (never scan) or ``"scan"`` (always scan), the last two to compare the strategies or to force one."""

from __future__ import annotations

import math

from l2h.errors import L2HError
from l2h.index import kernels

STRATEGIES = ("auto", "probe", "scan")

# the flat k-NN scan, per code per query: a fixed part (the threshold compare, the loop) and one per 64-bit word
SCAN_PER_CODE = 0.3
SCAN_PER_WORD = 0.12
# one probe of a hash table: a lookup that usually misses the cache when hashed, one array read when direct
PROBE_HASHED = 12.0
PROBE_DIRECT = 3.0
# the share of a scan's cost a query may spend probing before it scans: a query that stops costs at most
# 1 + PROBE_SHARE scans, one that does not at most PROBE_SHARE of a scan
PROBE_SHARE = 0.5
# one bucket key when a search orders every key of a table by its distance instead of probing
KEY_ORDERED = 1.5
# one row gathered from a bucket by a hash table: written out and sorted
CANDIDATE = 3.0
# one row gathered by multi-index hashing: read at random, verified by a full popcount, checked against the other
# tables' balls and sorted; measured 280 ns at 64 bits (m = 4) to 1000 ns at 256 and 512 bits (m = 16, 32)
VERIFIED_PER_WORD = 300.0
VERIFIED_MAX = 1000.0


def check_strategy(strategy) -> str:
    if strategy not in STRATEGIES:
        raise L2HError(f"unknown search strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    return strategy


def scan_cost(n: int, words: int) -> float:
    """One query's exhaustive scan of n codes of ``words`` 64-bit words."""
    return n * (SCAN_PER_CODE + SCAN_PER_WORD * words)


def limit(strategy: str, n: int, words: int, share: float = 1.0) -> float:
    """What a search may spend per query before it scans n codes instead: ``share`` of a scan's cost under "auto",
    nothing under "scan", no limit under "probe"."""
    return {"auto": share * scan_cost(n, words), "scan": -1.0, "probe": math.inf}[check_strategy(strategy)]


def budget(strategy: str, n: int, words: int, direct: bool, candidate: float) -> kernels.Budget:
    """The kernels' per-query budget for a k-NN or multi-index search of n codes (PROBE_SHARE of a scan)."""
    return kernels.Budget(limit=limit(strategy, n, words, PROBE_SHARE), probe=PROBE_DIRECT if direct else PROBE_HASHED,
                          key=KEY_ORDERED, candidate=candidate)


def verified(words: int) -> float:
    """What one multi-index candidate costs, for codes of ``words`` 64-bit words."""
    return min(VERIFIED_MAX, VERIFIED_PER_WORD * words)


def probes_cost(probes: int, keys_ordered: int, direct: bool) -> float:
    """What a range search's probes cost: ``probes`` lookups and ``keys_ordered`` keys read by scans of the keys."""
    return probes * (PROBE_DIRECT if direct else PROBE_HASHED) + keys_ordered * KEY_ORDERED


def plan(kind: str, strategy: str, asked: str, scanned: int, queries: int, n: int, why: str) -> str:
    """One line that says how the last search was answered, and why (an index's ``last_plan``)."""
    if strategy != "auto":
        why = "forced"
    if not queries:
        return f"{kind}: {asked} of no queries"
    if scanned == 0:
        return f"{kind}: {asked} by probing for all {queries} queries (strategy={strategy}; {why})"
    if scanned == queries:
        return f"{kind}: {asked} by scanning the {n} codes for all {queries} queries (strategy={strategy}; {why})"
    return (f"{kind}: {asked} by probing for {queries - scanned} queries, by scanning the {n} codes for {scanned} "
            f"(strategy={strategy}; {why})")
