"""Compiled inner loops of the binary indexes.

Numba compiles these to native code (with the CPU's popcount instruction) at first use and caches the result
on disk. It was chosen over a C extension because it installs from a wheel on every platform, needs no
compiler on the user's machine, and keeps the kernels readable next to the Python that calls them.

Every kernel is compiled ``nogil=True`` and answers the queries it is given independently of the others, so
:mod:`l2h.index.parallel` runs them on chunks of a batch in several threads at once.

The bucket tables (:mod:`l2h.index.buckets`) are arrays with one row per table: the merged base (``bstart``,
``brows``: bucket b's rows, ascending), the tail (``tail`` heads, ``nxt`` links, ``tbucket``), and, for hashed
tables, the bucket keys ``bkey`` found through ``slots`` (open addressing, linear probing, ``2^log2cap`` slots)
and the ``present`` bitmap. A direct table's bucket number is the key itself. The kernels take them, and
their other arrays, in named bundles (``Tables``, ``Probes``, ``Search``, ...).

Searches know items by position and break ties by rank (:class:`l2h.index.base.IdMap`): results are ranks."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

# Fibonacci hashing: multiply by 2^64 / golden ratio and keep the top bits, which spreads
# structured keys (codes that differ in a few bits) evenly over the slots.
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# the presence bitmap has 2^FILTER_BITS bits per slot
FILTER_BITS = 3
# a table doubles its slots when more than 3/4 of them hold a bucket
MIN_LOG2CAP = 4

# status codes of insert_hashed
DONE, NEED_BUCKETS, NEED_GROWTH = 0, 1, 2

# ---------------------------------------------------------------------------------------------- argument bundles

# The kernels take their arrays in named bundles, built by keyword: a bundle in the wrong place fails to compile
# (it has no such field), where one of twenty positional arrays of the same type swapped would answer wrongly.

# The bucket tables of l2h.index.buckets.BucketTables, one row per table.
Tables = namedtuple("Tables", "direct base_n bstart nbase brows tail nxt tbucket bkey nb slots present log2cap")
# Which buckets a search reads at radius r: the flip masks ``masks[lims[r]:lims[r + 1]]`` (MultiIndexHash:
# ``lims[c, r]``, per length class c of its substrings), or, where ``scan[r]`` (``scan[t, r]``), every key.
Probes = namedtuple("Probes", "masks lims scan")
# A batch of queries and what is asked of it: the k nearest (k > 0, with r_lo = 0 and r_hi = bits), or (k = 0)
# every item at distance r_lo..r_hi. Ties are broken by ``rank`` (each position's rank; empty: the position
# itself), and results are ranks; ``stats`` (queries, 2) receives each query's buckets probed and candidates.
Search = namedtuple("Search", "queries k r_lo r_hi rank stats")
# What a hash or multi-index search may spend on a query before it stops and leaves the query to a scan
# (l2h.index.costs): ``limit`` per query, ``probe`` per hash lookup, ``key`` per bucket key of a scan of the keys,
# ``candidate`` per row gathered from a bucket. A stopped query is flagged in ``gave_up`` and left unanswered.
Budget = namedtuple("Budget", "limit probe key candidate")
# A FlatIndex's codes: one flat array, ``words`` words per code of ``bits`` bits.
FlatCodes = namedtuple("FlatCodes", "flat words bits")
# A MultiIndexHash's codes ``words`` (n, words) uint64 of ``bits`` bits, substring t ``length[t]`` bits from bit
# ``start[t]``, probed with the flip masks of length class ``mask_class[t]``.
MihCodes = namedtuple("MihCodes", "words bits start length mask_class")


@intrinsic
def popcount(typingctx, x):
    """Number of set bits of a uint64, compiled to one instruction."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def distance(a, i, b, j):
    """Hamming distance between row i of word array a and row j of word array b."""
    d = 0
    for w in range(a.shape[1]):
        d += popcount(np.uint64(a[i, w] ^ b[j, w]))
    return d


@njit(cache=True, nogil=True, inline="always")
def substring(words, row, start, length):
    """Bits [start, start + length) of a code (length <= 64), as an integer."""
    w, offset = start // 64, start % 64
    value = np.uint64(words[row, w]) >> np.uint64(offset)
    if offset + length > 64:
        value |= np.uint64(words[row, w + 1]) << np.uint64(64 - offset)
    if length < 64:
        value &= (np.uint64(1) << np.uint64(length)) - np.uint64(1)
    return value


@njit(cache=True, nogil=True)
def substrings(words, lo, hi, starts, lengths):
    """(hi - lo, m) keys: substring t of rows lo..hi-1."""
    m = starts.shape[0]
    out = np.empty((hi - lo, m), dtype=np.uint64)
    for r in range(lo, hi):
        for t in range(m):
            out[r - lo, t] = substring(words, r, starts[t], lengths[t])
    return out


@njit(cache=True, nogil=True)
def flip_masks(bits, weight, count):
    """All ``count = C(bits, weight)`` masks of ``bits`` bits with exactly ``weight`` ones, in lexicographic order
    of the flipped positions (the caller computes the count: it overflows 64-bit arithmetic on the way)."""
    masks = np.empty(count, dtype=np.uint64)
    pos = np.arange(weight)
    for m in range(count):
        mask = np.uint64(0)
        for i in range(weight):
            mask |= np.uint64(1) << np.uint64(pos[i])
        masks[m] = mask
        # next combination
        i = weight - 1
        while i >= 0 and pos[i] == bits - weight + i:
            i -= 1
        if i < 0:
            break
        pos[i] += 1
        for j in range(i + 1, weight):
            pos[j] = pos[j - 1] + 1
    return masks


# Explicit loops rather than slice assignments, sorts and fancy indexing: numba compiles each of those into a
# broadcasting kernel of its own, which made the first run of a search take tens of seconds to compile. Helpers
# only kernels call have no Python wrapper (``no_cpython_wrapper``), which is most of a many-argument function's
# compile time.

@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _grow(a, needed):
    if needed <= a.shape[0]:
        return a
    out = np.empty(max(needed, 2 * a.shape[0]), dtype=a.dtype)
    for i in range(a.shape[0]):
        out[i] = a[i]
    return out


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _head(a, n):
    """A copy of a[:n]."""
    out = np.empty(n, dtype=a.dtype)
    for i in range(n):
        out[i] = a[i]
    return out


# ---------------------------------------------------------------------------------------------- chained tables

@njit(cache=True, nogil=True, inline="always")
def _fingerprint(key, log2cap):
    """The top log2cap + FILTER_BITS bits of the key's Fibonacci hash: slot = f >> FILTER_BITS, bitmap bit = f."""
    return (np.uint64(key) * GOLDEN) >> np.uint64(64 - FILTER_BITS - log2cap)


@njit(cache=True, nogil=True, inline="always")
def lookup(t, key, bkey, slots, present, L):
    """Bucket of ``key`` in hashed table t of 2^L slots, or -1. Most absent keys stop at the presence bitmap,
    which is small enough to stay in cache. Callers read L = log2cap[t] once, outside their loops: read here, after
    the loop's stores, it would be reloaded at every probe (the compiler cannot tell the arrays apart), which
    measured 3 to 4 times slower."""
    f = _fingerprint(key, L)
    if not (present[t, np.int64(f >> np.uint64(6))] >> (f & np.uint64(63))) & np.uint64(1):
        return -1
    mask = (np.int64(1) << L) - 1
    s = np.int64(f >> np.uint64(FILTER_BITS))
    while True:
        b = slots[t, s]
        if b < 0:
            return -1
        if np.uint64(bkey[t, b]) == key:
            return np.int64(b)
        s = (s + 1) & mask


@njit(cache=True, nogil=True)
def rehash(tables, t):
    """Place buckets 0..nb[t]-1 of table t, in order, into its 2^log2cap[t] slots and bitmap (cleared first).
    The layout depends only on the buckets and the capacity, so every history of adds gives the same table.
    Returns -1, or the first bucket whose key an earlier bucket already holds (a damaged file)."""
    bkey, nb, slots, present = tables.bkey, tables.nb, tables.slots, tables.present
    L = tables.log2cap[t]
    cap = np.int64(1) << L
    for s in range(slots.shape[1]):
        slots[t, s] = -1
    for w in range(present.shape[1]):
        present[t, w] = 0
    mask = cap - 1
    for b in range(nb[t]):
        key = np.uint64(bkey[t, b])
        f = _fingerprint(key, L)
        s = np.int64(f >> np.uint64(FILTER_BITS))
        while slots[t, s] >= 0:
            if np.uint64(bkey[t, slots[t, s]]) == key:
                return b
            s = (s + 1) & mask
        slots[t, s] = b
        present[t, np.int64(f >> np.uint64(6))] |= np.uint64(1) << (f & np.uint64(63))
    return -1


@njit(cache=True, nogil=True)
def insert_hashed(tables, keys, row0, t0, i0):
    """Link rows row0 + i (keys[i, t]) into the tail of each hashed table t, from table t0, item i0 on.
    Returns ``(t, i, status)``: DONE, or where it stopped because the bucket arrays are full (NEED_BUCKETS) or
    table t must double its slots (NEED_GROWTH: bucket created, not yet placed nor linked); the caller makes
    room and calls again from there."""
    base_n, nxt, tbucket, bkey, tail = tables.base_n, tables.nxt, tables.tbucket, tables.bkey, tables.tail
    nb, slots, present, log2cap = tables.nb, tables.slots, tables.present, tables.log2cap
    m, n_new = keys.shape[1], keys.shape[0]
    capacity = bkey.shape[1]
    for t in range(t0, m):
        start = i0 if t == t0 else 0
        L = log2cap[t]
        cap = np.int64(1) << L
        count = nb[t]
        for i in range(start, n_new):
            key = keys[i, t]
            b = lookup(t, key, bkey, slots, present, L)
            if b < 0:
                b = count
                if b >= capacity:
                    nb[t] = count
                    return t, i, NEED_BUCKETS
                bkey[t, b] = key
                tail[t, b] = -1
                count = b + 1
                if 4 * count > 3 * cap:
                    nb[t] = count
                    return t, i, NEED_GROWTH
                f = _fingerprint(key, L)
                s = np.int64(f >> np.uint64(FILTER_BITS))
                while slots[t, s] >= 0:
                    s = (s + 1) & (cap - 1)
                slots[t, s] = b
                present[t, np.int64(f >> np.uint64(6))] |= np.uint64(1) << (f & np.uint64(63))
            row = row0 + i
            nxt[t, row - base_n] = tail[t, b]
            tbucket[t, row - base_n] = b
            tail[t, b] = row
        nb[t] = count
    return m, 0, DONE


@njit(cache=True, nogil=True)
def insert_direct(tables, keys, row0):
    """Link rows row0 + i (keys[i, t]) into the tail of each direct table t."""
    base_n, nxt, tbucket, tail = tables.base_n, tables.nxt, tables.tbucket, tables.tail
    for t in range(keys.shape[1]):
        for i in range(keys.shape[0]):
            key = np.int64(keys[i, t])
            row = row0 + i
            nxt[t, row - base_n] = tail[t, key]
            tbucket[t, row - base_n] = key
            tail[t, key] = row


@njit(cache=True, nogil=True)
def merge_table(tables, t, n, old_keys, renumber, new_bstart, new_brows):
    """Table t's base and tail (rows up to n) as one new base, by a counting sort on each row's bucket: bucket
    ob's base rows, then its tail rows (``tbucket``: the bucket of each tail row), ascending, go to bucket ob, or
    to bucket bkey[t, ob] when ``renumber`` (hashed to direct). Reads the tail in order: no chain is followed.
    ``old_keys``: the keys the table had."""
    base_n, bstart, brows, tbucket, bkey = tables.base_n, tables.bstart, tables.brows, tables.tbucket, tables.bkey
    old_nbase = tables.nbase[t]
    width = new_bstart.shape[1] - 1
    for ob in range(min(old_keys, old_nbase)):
        nb_ = np.int64(bkey[t, ob]) if renumber else ob
        new_bstart[t, nb_ + 1] = bstart[t, ob + 1] - bstart[t, ob]
    for i in range(n - base_n):
        ob = np.int64(tbucket[t, i])
        nb_ = np.int64(bkey[t, ob]) if renumber else ob
        new_bstart[t, nb_ + 1] += 1
    for b in range(width):
        new_bstart[t, b + 1] += new_bstart[t, b]
    fill = np.empty(width + 1, dtype=np.int64)
    for b in range(width + 1):
        fill[b] = new_bstart[t, b]
    for ob in range(min(old_keys, old_nbase)):
        nb_ = np.int64(bkey[t, ob]) if renumber else ob
        p = fill[nb_]
        for j in range(bstart[t, ob], bstart[t, ob + 1]):
            new_brows[t, p] = brows[t, j]
            p += 1
        fill[nb_] = p
    for i in range(n - base_n):
        ob = np.int64(tbucket[t, i])
        nb_ = np.int64(bkey[t, ob]) if renumber else ob
        new_brows[t, fill[nb_]] = base_n + i
        fill[nb_] += 1


@njit(cache=True, nogil=True)
def is_grouped_permutation(rows, starts):
    """Whether rows lists 0..n-1 once each, ascending within each group starts[g]:starts[g+1]."""
    n = rows.shape[0]
    seen = np.zeros(n, dtype=np.bool_)
    for g in range(starts.shape[0] - 1):
        for j in range(starts[g], starts[g + 1]):
            r = rows[j]
            if r < 0 or r >= n or seen[r] or (j > starts[g] and rows[j - 1] >= r):
                return False
            seen[r] = True
    return True


@njit(cache=True, nogil=True)
def fill_row_keys(tables, t, keys, out):
    """out[row] = keys[b] for every row of bucket b of table t."""
    base_n, bstart, nbase, brows, tail, nxt = tables.base_n, tables.bstart, tables.nbase, tables.brows, tables.tail, \
        tables.nxt
    for b in range(keys.shape[0]):
        if b < nbase[t]:
            for j in range(bstart[t, b], bstart[t, b + 1]):
                out[brows[t, j]] = keys[b]
        row = np.int64(tail[t, b])
        while row >= 0:
            out[row] = keys[b]
            row = np.int64(nxt[t, row - base_n])


# ---------------------------------------------------------------------------------------------- sorting

@njit(cache=True, nogil=True, inline="always")
def sort_ids(a, lo, hi, scratch):
    """Sort ``a[lo:hi]`` (non-negative ints) in place, ``scratch`` holding at least hi - lo: nothing if already
    sorted, insertion sort for short runs, else an LSD radix sort on bytes, which beats a comparison sort on the
    thousands of ids a wide radius returns."""
    n = hi - lo
    ordered = True
    for i in range(lo + 1, hi):
        if a[i] < a[i - 1]:
            ordered = False
            break
    if not ordered:
        if n < 64:
            for i in range(lo + 1, hi):
                v = a[i]
                j = i - 1
                while j >= lo and a[j] > v:
                    a[j + 1] = a[j]
                    j -= 1
                a[j + 1] = v
        else:
            _radix_sort(a, lo, hi, scratch)


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _radix_sort(a, lo, hi, scratch):
    n = hi - lo
    top = 0
    for i in range(lo, hi):
        top = max(top, a[i])
    counts = np.zeros(257, dtype=np.int64)
    src_is_a = True
    shift = 0
    while shift < 64 and (top >> shift) > 0:  # a shift of 64 would wrap to 0 and never end
        for d in range(257):
            counts[d] = 0
        for i in range(n):
            v = a[lo + i] if src_is_a else scratch[i]
            counts[((v >> shift) & 255) + 1] += 1
        for d in range(256):
            counts[d + 1] += counts[d]
        for i in range(n):
            v = a[lo + i] if src_is_a else scratch[i]
            d = (v >> shift) & 255
            if src_is_a:
                scratch[counts[d]] = v
            else:
                a[lo + counts[d]] = v
            counts[d] += 1
        src_is_a = not src_is_a
        shift += 8
    if not src_is_a:
        for i in range(n):
            a[lo + i] = scratch[i]


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def sort_by_distance_id(D, I, lo, hi, ids_ascending, bits):
    """Order ``D[lo:hi], I[lo:hi]`` (ranks, non-negative) by distance then rank, in place: unless ``ids_ascending``
    (I sorted already), a stable LSD radix sort on the id bytes, then a stable counting sort on the distance."""
    n = hi - lo
    if n <= 1:
        return
    if n <= 16:
        for i in range(lo + 1, hi):
            d, v = D[i], I[i]
            j = i - 1
            while j >= lo and (D[j] > d or (D[j] == d and I[j] > v)):
                D[j + 1] = D[j]
                I[j + 1] = I[j]
                j -= 1
            D[j + 1] = d
            I[j + 1] = v
        return
    src_d = np.empty(n, dtype=D.dtype)
    src_i = np.empty(n, dtype=I.dtype)
    tmp_d = np.empty(n, dtype=D.dtype)
    tmp_i = np.empty(n, dtype=I.dtype)
    top = 0
    for j in range(n):
        src_d[j] = D[lo + j]
        src_i[j] = I[lo + j]
        top = max(top, I[lo + j])
    counts = np.zeros(257, dtype=np.int64)
    shift = 0
    while not ids_ascending and shift < 64 and (top >> shift) > 0:
        for c in range(257):
            counts[c] = 0
        for j in range(n):
            counts[((src_i[j] >> shift) & 255) + 1] += 1
        for c in range(256):
            counts[c + 1] += counts[c]
        for j in range(n):
            c = (src_i[j] >> shift) & 255
            tmp_d[counts[c]] = src_d[j]
            tmp_i[counts[c]] = src_i[j]
            counts[c] += 1
        src_d, tmp_d = tmp_d, src_d
        src_i, tmp_i = tmp_i, src_i
        shift += 8
    by_distance = np.zeros(bits + 2, dtype=np.int64)
    for j in range(n):
        by_distance[src_d[j] + 1] += 1
    for d in range(bits + 1):
        by_distance[d + 1] += by_distance[d]
    for j in range(n):
        p = by_distance[src_d[j]]
        D[lo + p] = src_d[j]
        I[lo + p] = src_i[j]
        by_distance[src_d[j]] += 1


# ---------------------------------------------------------------------------------------------- HashIndex

# Hot loops never reassign an array: numba then keeps reference-count updates out of them (a loop that might
# grow its output array measured 3 times slower, even when it never grew). Each search is run by a worker over
# the queries q0, q0 + 1, ... that writes into arrays of fixed size and returns the first query it could not
# finish for lack of room (or nq when done); the caller grows the arrays and calls it again from there.

@njit(cache=True, nogil=True, inline="always")
def _write_bucket(tables, t, b, out, n):
    """Append bucket b's rows at out[n:], ascending: its base rows, then its tail chain (which runs from the
    newest row down, so it is written from the end). -1 if out is too small."""
    cap = out.shape[0]
    bstart, brows, tail, nxt, base_n = tables.bstart, tables.brows, tables.tail, tables.nxt, tables.base_n
    if b < tables.nbase[t]:
        lo, hi = bstart[t, b], bstart[t, b + 1]
        if n + hi - lo > cap:
            return -1
        for j in range(lo, hi):
            out[n] = brows[t, j]
            n += 1
    row = np.int64(tail[t, b])
    if row >= 0:
        size = 0
        r = row
        while r >= 0:
            size += 1
            r = np.int64(nxt[t, r - base_n])
        if n + size > cap:
            return -1
        end = n + size
        while row >= 0:
            end -= 1
            out[end] = row
            row = np.int64(nxt[t, row - base_n])
        n += size
    return n


@njit(cache=True, nogil=True, inline="always")
def _key_of(t, b, direct, bkey):
    """Key of entry b of a scan of table t: the key itself when direct, else bucket b's."""
    return np.uint64(b) if direct else np.uint64(bkey[t, b])


@njit(cache=True, nogil=True, inline="always")
def _keys_in(tables, t, key_bits):
    """Keys a scan of table t (of key_bits-bit keys) visits."""
    return (np.int64(1) << key_bits) if tables.direct else tables.nb[t]


@njit(cache=True, nogil=True, inline="always")
def _shell_of(tables, t, n_keys, key, r, scan_r, masks, lo_m, hi_m, out, n):
    """Append the rows of table t's buckets whose key is at distance r from ``key``: probing the flips
    masks[lo_m:hi_m], or, where scan_r, one pass over its n_keys keys. The new n, or -1 if out is too small."""
    direct, bkey = tables.direct, tables.bkey
    if scan_r:
        for b in range(n_keys):
            if popcount(_key_of(t, b, direct, bkey) ^ key) == r:
                n = _write_bucket(tables, t, b, out, n)
                if n < 0:
                    return -1
    else:
        slots, present, L = tables.slots, tables.present, tables.log2cap[t]
        for p in range(lo_m, hi_m):
            probe = key ^ masks[p]
            if direct:
                b = np.int64(probe)
            else:
                b = lookup(t, probe, bkey, slots, present, L)
                if b < 0:
                    continue
            n = _write_bucket(tables, t, b, out, n)
            if n < 0:
                return -1
    return n


@njit(cache=True, nogil=True, inline="always")
def _to_ranks(out, lo, hi, rank):
    """Rows out[lo:hi] replaced by their ranks (nothing where the rank is the row)."""
    if rank.shape[0] > 0:
        for j in range(lo, hi):
            out[j] = rank[out[j]]


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _hash_probe_run(q0, search, probes, tables, lims, shell_end, out):
    qkeys, r_lo, r_hi, rank, stats = search.queries, search.r_lo, search.r_hi, search.rank, search.stats
    masks, mask_lims, scan = probes.masks, probes.lims, probes.scan
    n_keys = _keys_in(tables, 0, scan.shape[0] - 1)
    scratch = np.empty(out.shape[0], dtype=np.int64)
    shells = r_hi - r_lo + 1
    for q in range(q0, qkeys.shape[0]):
        key = np.uint64(qkeys[q])
        n = lims[q]
        probed = 0
        for s in range(shells):
            r = r_lo + s
            start = n
            n = _shell_of(tables, 0, n_keys, key, r, scan[r], masks, mask_lims[r], mask_lims[r + 1], out, n)
            if n < 0:
                return q
            probed += n_keys if scan[r] else mask_lims[r + 1] - mask_lims[r]
            _to_ranks(out, start, n, rank)
            if n - start > 1:
                sort_ids(out, start, n, scratch)
            shell_end[q * shells + s] = n
        lims[q + 1] = n
        stats[q, 0] = probed
        stats[q, 1] = n - lims[q]
    return qkeys.shape[0]


@njit(cache=True, nogil=True)
def hash_probe(search, probes, tables):
    """Items whose code is at Hamming distance search.r_lo..r_hi of each query key, shell by shell: radius r
    probes the flips ``probes.masks[probes.lims[r]:probes.lims[r+1]]``, or, where ``probes.scan[r]``, scans the
    bucket keys (cheaper than C(bits, r) probes). Returns ``lims, D, I`` by distance then rank."""
    nq = search.queries.shape[0]
    shells = search.r_hi - search.r_lo + 1
    lims = np.zeros(nq + 1, dtype=np.int64)
    shell_end = np.empty(nq * shells, dtype=np.int64)  # distances are filled from these once, at the end
    out = np.empty(max(1024, 8 * nq), dtype=np.int64)
    q = 0
    while True:
        q = _hash_probe_run(q, search, probes, tables, lims, shell_end, out)
        if q >= nq:
            break
        out = _grow(out, 2 * out.shape[0])
    n = lims[nq]
    out_d = np.empty(n, dtype=np.int32)
    start = 0
    for t in range(nq * shells):
        for j in range(start, shell_end[t]):
            out_d[j] = search.r_lo + t % shells
        start = shell_end[t]
    return lims, out_d, _head(out, n)


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _order_keys(key, n_keys, direct, bkey, bucket_dist, by_dist, dist_lims):
    """Counting sort of the buckets by distance to key: bucket numbers in by_dist, distance d at
    dist_lims[d]:dist_lims[d+1]."""
    for d in range(dist_lims.shape[0]):
        dist_lims[d] = 0
    for b in range(n_keys):
        d = np.int64(popcount(_key_of(0, b, direct, bkey) ^ key))
        bucket_dist[b] = d
        dist_lims[d + 1] += 1
    for d in range(dist_lims.shape[0] - 1):
        dist_lims[d + 1] += dist_lims[d]
    fill = _head(dist_lims, dist_lims.shape[0])
    for b in range(n_keys):
        by_dist[fill[bucket_dist[b]]] = b
        fill[bucket_dist[b]] += 1


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _hash_knn_run(q0, search, probes, tables, budget, D, I, buf, gave_up):
    qkeys, k, rank, stats = search.queries, search.k, search.rank, search.stats
    masks, mask_lims, scan = probes.masks, probes.lims, probes.scan
    n_keys = _keys_in(tables, 0, scan.shape[0] - 1)
    scratch = np.empty(buf.shape[0], dtype=np.int64)
    listed = n_keys if scan.any() else 0  # buckets in distance order, for the radii that scan
    bucket_dist = np.empty(listed, dtype=np.int64)
    by_dist = np.empty(listed, dtype=np.int64)
    dist_lims = np.zeros(scan.shape[0] + 1, dtype=np.int64)
    for q in range(q0, qkeys.shape[0]):
        key = np.uint64(qkeys[q])
        found = 0
        probed = 0
        candidates = 0
        scanned = False
        spent = 0.0
        for r in range(search.r_hi + 1):
            if scanned:
                cost = 0.0
            elif scan[r]:
                cost = n_keys * budget.key
            else:
                cost = (mask_lims[r + 1] - mask_lims[r]) * budget.probe
            if spent + cost > budget.limit:  # this shell costs more than what is left of a scan's cost: scan
                gave_up[q] = True
                break
            spent += cost
            if scan[r] and not scanned:
                probed += n_keys
                _order_keys(key, n_keys, tables.direct, tables.bkey, bucket_dist, by_dist, dist_lims)
                scanned = True
            n = 0
            if scanned:
                for j in range(dist_lims[r], dist_lims[r + 1]):
                    n = _write_bucket(tables, 0, by_dist[j], buf, n)
                    if n < 0:
                        break
            else:
                n = _shell_of(tables, 0, n_keys, key, r, False, masks, mask_lims[r], mask_lims[r + 1], buf, 0)
                probed += mask_lims[r + 1] - mask_lims[r]
            if n < 0:
                return q
            _to_ranks(buf, 0, n, rank)
            if n > 1:
                sort_ids(buf, 0, n, scratch)
            candidates += n
            spent += n * budget.candidate
            take = min(k - found, n)
            for j in range(take):
                D[q, found + j] = r
                I[q, found + j] = buf[j]
            found += take
            if found >= k:
                break
        stats[q, 0] = probed
        stats[q, 1] = candidates
    return qkeys.shape[0]


@njit(cache=True, nogil=True)
def hash_knn(search, probes, tables, budget, D, I, gave_up):
    """The search.k nearest items of each query key (k <= items) into D, I, shell by shell until k are found.
    From the first radius where probing costs more than scanning the buckets, one scan sorts every bucket by its
    distance and the remaining shells are read from that order. A query whose next shell would take it past
    ``budget.limit`` is flagged in ``gave_up`` (its row of D, I left as it is) for the caller to scan."""
    nq = search.queries.shape[0]
    buf = np.empty(1024, dtype=np.int64)
    q = 0
    while True:
        q = _hash_knn_run(q, search, probes, tables, budget, D, I, buf, gave_up)
        if q >= nq:
            break
        buf = np.empty(2 * buf.shape[0], dtype=np.int64)


# ---------------------------------------------------------------------------------------------- FlatIndex

# k-NN keeps each query's k best as a max-heap of keys ``distance << RANK_BITS | rank`` (ranks < 2^40, the most
# rows an index holds): one integer compare orders by distance then rank. A slot not yet filled holds EMPTY_KEY.
RANK_BITS = 40
EMPTY_KEY = np.int64(2**62)


@njit(cache=True, nogil=True, inline="always")
def _replace_top(h, q, k, v):
    """Max-heap h[q, :k]: put v in place of the largest key and sift it down (2-D indexing: a view made in the
    scan loop would cost reference counting on every item)."""
    pos = 0
    while True:
        c = 2 * pos + 1
        if c >= k:
            break
        if c + 1 < k and h[q, c + 1] > h[q, c]:
            c += 1
        if h[q, c] <= v:
            break
        h[q, pos] = h[q, c]
        pos = c
    h[q, pos] = v


# The flat k-NN scan reads the codes a tile at a time: a tile (TILE_BYTES, in L1 cache) is transposed once to
# word-major order, ``tile[w, t]`` word w of code t, and every query of the batch is compared with it before the
# next tile is read, so the codes cross the memory bus once per batch, not once per query. Word-major order
# makes the distance loop run over contiguous codes, which the compiler turns into vector popcounts over 8 codes
# per instruction (AVX-512 VPOPCNTQ where the CPU has it); the query's words stay in registers.
TILE_BYTES = 16384
# at most this many codes per tile: a tile that holds a candidate is read a second time, code by code
TILE_CODES = 1024


@njit(cache=True, nogil=True, inline="always")
def _tile_distances(a, tile, count, buf):
    """buf[t] = distance from query words ``a`` to code t of ``tile`` (word-major), t < count: eight, four, then
    one word at a time, each a loop over the tile's codes."""
    words = tile.shape[0]
    for t in range(count):
        buf[t] = 0
    w = 0
    while words - w >= 8:
        a0, a1, a2, a3, a4, a5, a6, a7 = a[w], a[w + 1], a[w + 2], a[w + 3], a[w + 4], a[w + 5], a[w + 6], a[w + 7]
        for t in range(count):
            buf[t] += np.int32(popcount(np.uint64(a0 ^ tile[w, t])) + popcount(np.uint64(a1 ^ tile[w + 1, t]))
                               + popcount(np.uint64(a2 ^ tile[w + 2, t])) + popcount(np.uint64(a3 ^ tile[w + 3, t]))
                               + popcount(np.uint64(a4 ^ tile[w + 4, t])) + popcount(np.uint64(a5 ^ tile[w + 5, t]))
                               + popcount(np.uint64(a6 ^ tile[w + 6, t])) + popcount(np.uint64(a7 ^ tile[w + 7, t])))
        w += 8
    if words - w >= 4:
        a0, a1, a2, a3 = a[w], a[w + 1], a[w + 2], a[w + 3]
        for t in range(count):
            buf[t] += np.int32(popcount(np.uint64(a0 ^ tile[w, t])) + popcount(np.uint64(a1 ^ tile[w + 1, t]))
                               + popcount(np.uint64(a2 ^ tile[w + 2, t])) + popcount(np.uint64(a3 ^ tile[w + 3, t])))
        w += 4
    while w < words:
        a0 = a[w]
        for t in range(count):
            buf[t] += np.int32(popcount(np.uint64(a0 ^ tile[w, t])))
        w += 1


@njit(cache=True, nogil=True, inline="always")
def _hits(buf, count, limit):
    """How many of buf[:count] are <= limit (a vectorised count: most tiles hold none, and are passed by)."""
    hits = 0
    limit = np.int32(limit)  # an int64 limit would widen every lane of the comparison
    for t in range(count):
        hits += np.int32(buf[t] <= limit)
    return hits


@njit(cache=True, nogil=True)
def flat_knn(search, db, D, I):
    """Exact search.k nearest codes (k <= items) of ``db`` (FlatCodes) by exhaustive scan, by distance then rank,
    into D, I (nq, k).

    Each query keeps a max-heap of its k best keys; ``limit[q]``, the largest distance that could still enter (the
    heap's top distance, one less without ranks: rows come in rank order then, so a tie with the top loses), only
    shrinks, and a tile's distances are compared with it in one vectorised pass: past the first tiles, nearly
    every tile holds no candidate for a query and costs it nothing more."""
    qw, k, rank = search.queries, search.k, search.rank
    flat, words, bits = db.flat, db.words, db.bits
    ranked = rank.shape[0] > 0
    nq, n = qw.shape[0], flat.shape[0] // words
    heap = np.full((nq, k), EMPTY_KEY, dtype=np.int64)
    limit = np.full(nq, bits, dtype=np.int64)
    size = min(TILE_CODES, max(8, TILE_BYTES // (8 * words)))
    tile = np.empty((words, size), dtype=flat.dtype)
    buf = np.empty(size, dtype=np.int32)
    for lo in range(0, n, size):
        count = min(size, n - lo)
        if words == 1:  # one word per code is word-major already
            tile = flat[lo:lo + count].reshape((1, count))
        else:
            for t in range(count):
                for w in range(words):
                    tile[w, t] = flat[(lo + t) * words + w]
        for q in range(nq):
            _tile_distances(qw[q], tile, count, buf)
            if _hits(buf, count, limit[q]) == 0:
                continue
            for t in range(count):
                d = buf[t]
                if d > limit[q]:
                    continue
                i = lo + t
                key = (np.int64(d) << RANK_BITS) | (rank[i] if ranked else i)
                if key < heap[q, 0]:
                    _replace_top(heap, q, k, key)
                    top = heap[q, 0] >> RANK_BITS
                    limit[q] = min(bits, top if ranked else top - 1)
    low = (np.int64(1) << RANK_BITS) - 1
    for q in range(nq):
        for end in range(k - 1, 0, -1):  # heap sort: the largest key to the end, k - 1 times
            v = heap[q, end]
            heap[q, end] = heap[q, 0]
            _replace_top(heap, q, end, v)
        for c in range(k):
            D[q, c] = heap[q, c] >> RANK_BITS
            I[q, c] = heap[q, c] & low


# The other flat scans (range search, and k-NN for a k too large for heaps) take the codes as one flat array of
# ``words`` words per code and compute the distances of a block of codes at a time in a loop the compiler
# vectorises; a block is scanned for a group of queries while it is in cache.
SCAN_BLOCK = 1024
QUERY_GROUP = 8


@njit(cache=True, nogil=True, inline="always")
def _block_distances(qw, q, flat, words, lo, hi, buf, limit):
    """buf[i - lo] = distance from query q to code i, for lo <= i < hi; returns how many are <= limit. The xor
    is taken in the words' own width (32 bits for short codes), then counted: the vectorised loop reads half
    as many bytes per lane."""
    hits = 0
    limit = np.int32(limit)  # an int64 limit would widen every lane of the comparison
    if words == 1:
        a = qw[q, 0]
        for i in range(lo, hi):
            d = np.int32(popcount(np.uint64(a ^ flat[i])))
            buf[i - lo] = d
            hits += np.int32(d <= limit)
    elif words == 2:
        a0, a1 = qw[q, 0], qw[q, 1]
        for i in range(lo, hi):
            d = np.int32(popcount(np.uint64(a0 ^ flat[2 * i])) + popcount(np.uint64(a1 ^ flat[2 * i + 1])))
            buf[i - lo] = d
            hits += np.int32(d <= limit)
    elif words == 4:
        a0, a1, a2, a3 = qw[q, 0], qw[q, 1], qw[q, 2], qw[q, 3]
        for i in range(lo, hi):
            d = np.int32(popcount(np.uint64(a0 ^ flat[4 * i])) + popcount(np.uint64(a1 ^ flat[4 * i + 1]))
                         + popcount(np.uint64(a2 ^ flat[4 * i + 2])) + popcount(np.uint64(a3 ^ flat[4 * i + 3])))
            buf[i - lo] = d
            hits += np.int32(d <= limit)
    else:  # word by word over the block, each pass a vectorisable loop
        for i in range(hi - lo):
            buf[i] = 0
        for w in range(words):
            a = qw[q, w]
            for i in range(lo, hi):
                buf[i - lo] += np.int32(popcount(np.uint64(a ^ flat[i * words + w])))
        for i in range(hi - lo):
            hits += np.int32(buf[i] <= limit)
    return hits



@njit(cache=True, nogil=True)
def flat_knn_wide(search, db, order, D, I):
    """Exact search.k nearest for a k too large for per-distance lists: every distance, then a counting sort
    over the rows in rank order (``order``: the positions by rank), so ties come out by rank."""
    qw, k = search.queries, search.k
    flat, words, bits = db.flat, db.words, db.bits
    nq, n = qw.shape[0], flat.shape[0] // words
    dist = np.empty(n, dtype=np.int32)
    counts = np.empty(bits + 2, dtype=np.int64)
    for q in range(nq):
        for d in range(bits + 2):
            counts[d] = 0
        for lo in range(0, n, SCAN_BLOCK):
            hi = min(lo + SCAN_BLOCK, n)
            _block_distances(qw, q, flat, words, lo, hi, dist[lo:hi], bits)
        for i in range(n):
            counts[dist[i] + 1] += 1
        for d in range(bits + 1):
            counts[d + 1] += counts[d]
        for j in range(n):
            row = order[j]
            p = counts[dist[row]]
            counts[dist[row]] += 1
            if p < k:
                D[q, p] = dist[row]
                I[q, p] = j


@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _flat_range_run(g0, search, db, lims, out_d, out_i, gd, gi):
    """Groups of queries from g0 on: each group's hits gather in gd, gi (group, room), then go to out in query
    order. Returns (first group not done, 0), or (that group, 1) if gd is too small, (that group, 2) if out is."""
    qw, r_lo, r_hi, rank, stats = search.queries, search.r_lo, search.r_hi, search.rank, search.stats
    flat, words, bits = db.flat, db.words, db.bits
    ranked = rank.shape[0] > 0
    nq, n = qw.shape[0], flat.shape[0] // words
    group_size, room = gd.shape[0], gd.shape[1]
    buf = np.empty(SCAN_BLOCK, dtype=np.int32)
    counts = np.zeros(group_size, dtype=np.int64)
    for g in range(g0, nq, group_size):
        group = min(group_size, nq - g)
        for j in range(group_size):
            counts[j] = 0
        for lo in range(0, n, SCAN_BLOCK):
            hi = min(lo + SCAN_BLOCK, n)
            for j in range(group):
                if _block_distances(qw, g + j, flat, words, lo, hi, buf, r_hi) == 0:
                    continue
                c = counts[j]
                for i in range(lo, hi):
                    d = buf[i - lo]
                    if d < r_lo or d > r_hi:
                        continue
                    if c >= room:
                        return g, 1
                    gd[j, c] = d
                    gi[j, c] = rank[i] if ranked else i
                    c += 1
                counts[j] = c
        pos = lims[g]
        total = 0
        for j in range(group):
            total += counts[j]
        if pos + total > out_d.shape[0]:
            return g, 2
        for j in range(group):
            c = counts[j]
            for x in range(c):
                out_d[pos + x] = gd[j, x]
                out_i[pos + x] = gi[j, x]
            sort_by_distance_id(out_d, out_i, pos, pos + c, not ranked, bits)
            pos += c
            lims[g + j + 1] = pos
            stats[g + j, 0] = 0
            stats[g + j, 1] = n
    return nq, 0


@njit(cache=True, nogil=True)
def flat_range(search, db):
    """Every code of ``db`` (FlatCodes) at distance search.r_lo..r_hi of each query, by distance then rank:
    ``lims, D, I``."""
    nq = search.queries.shape[0]
    lims = np.zeros(nq + 1, dtype=np.int64)
    out_d = np.empty(max(1024, 8 * nq), dtype=np.int32)
    out_i = np.empty(out_d.shape[0], dtype=np.int64)
    gd = np.empty((QUERY_GROUP, 256), dtype=np.int32)
    gi = np.empty((QUERY_GROUP, 256), dtype=np.int64)
    g = 0
    while True:
        g, status = _flat_range_run(g, search, db, lims, out_d, out_i, gd, gi)
        if status == 0:
            break
        if status == 1:
            gd = np.empty((QUERY_GROUP, 2 * gd.shape[1]), dtype=np.int32)
            gi = np.empty((QUERY_GROUP, 2 * gi.shape[1]), dtype=np.int64)
        else:
            out_d = _grow(out_d, 2 * out_d.shape[0])
            out_i = _grow(out_i, 2 * out_i.shape[0])
    return lims, _head(out_d, lims[nq]), _head(out_i, lims[nq])


# ---------------------------------------------------------------------------------------------- MultiIndexHash

@njit(cache=True, nogil=True, no_cpython_wrapper=True)
def _mih_run(q0, search, db, probes, tables, budget, lims, out_d, out_i, cand, gave_up):
    qw, k, r_lo, r_hi, rank, stats = search.queries, search.k, search.r_lo, search.r_hi, search.rank, search.stats
    dbw, bits, sub_start, sub_len, mask_class = db.words, db.bits, db.start, db.length, db.mask_class
    masks, mask_lims, scan = probes.masks, probes.lims, probes.scan
    knn = k > 0
    ranked = rank.shape[0] > 0
    m = sub_start.shape[0]
    cap = out_d.shape[0]
    qsub = np.empty(m, dtype=np.uint64)
    rad = np.empty(m, dtype=np.int64)
    hist = np.empty(bits + 1, dtype=np.int64)
    for q in range(q0, qw.shape[0]):
        start = lims[q]
        count = start
        for t in range(m):
            qsub[t] = substring(qw, q, sub_start[t], sub_len[t])
        for t in range(m):
            rad[t] = -1
        for d in range(bits + 1):
            hist[d] = 0
        probed = 0
        verified = 0
        spent = 0.0
        stopped = False
        r = 0
        while True:
            a, b = r // m, r % m
            for t in range(m):
                target = a if t <= b else a - 1
                while rad[t] < target:
                    w = rad[t] + 1
                    if w <= sub_len[t]:
                        # gather the rows of shell (t, w), then verify them in a tight loop
                        cls = mask_class[t]
                        lo_m, hi_m = mask_lims[cls, w], mask_lims[cls, w + 1]
                        n_keys = _keys_in(tables, t, sub_len[t])
                        cost = n_keys * budget.key if scan[t, w] else (hi_m - lo_m) * budget.probe
                        if spent + cost > budget.limit:  # more than what is left of a scan's cost: scan instead
                            stopped = True
                            break
                        gathered = _shell_of(tables, t, n_keys, qsub[t], w, scan[t, w], masks, lo_m, hi_m, cand, 0)
                        if gathered < 0:
                            return q
                        probed += n_keys if scan[t, w] else hi_m - lo_m
                        verified += gathered
                        spent += cost + gathered * budget.candidate
                        for c in range(gathered):
                            row = cand[c]
                            d = distance(qw, q, dbw, row)
                            if not knn and (d < r_lo or d > r_hi):
                                continue
                            new = True  # unless another table's probed ball holds it already
                            for u in range(m):
                                if u != t and rad[u] >= 0 and np.int64(popcount(
                                        substring(dbw, row, sub_start[u], sub_len[u]) ^ qsub[u])) <= rad[u]:
                                    new = False
                                    break
                            if not new:
                                continue
                            if count >= cap:
                                return q
                            out_d[count] = d
                            out_i[count] = rank[row] if ranked else row
                            count += 1
                            hist[d] += 1
                    rad[t] = w
                if stopped:
                    break
            if stopped:
                break
            if knn:
                within = 0
                for d in range(r + 1):
                    within += hist[d]
                if within >= k or r >= bits:
                    break
            elif r >= r_hi:
                break
            r += 1
        stats[q, 0] = probed
        stats[q, 1] = verified
        if stopped:  # no items: the caller scans for this query
            gave_up[q] = True
            lims[q + 1] = start
            continue
        sort_by_distance_id(out_d, out_i, start, count, False, bits)
        lims[q + 1] = min(count, start + k) if knn else count
    return qw.shape[0]


@njit(cache=True, nogil=True)
def mih_search(search, db, probes, tables, budget, gave_up):
    """Norouzi's multi-index hashing, exact, over ``db`` (MihCodes). Radius r = a * m + b (0 <= b < m) is covered
    once every table t <= b has been probed to substring radius a and every other one to a - 1: an item within r
    differs from the query by at most that much on some substring (pigeonhole). The radius grows one step at a time, each
    step probing one more shell of one table, and each candidate is verified by a full popcount. A candidate
    is new unless another table's probed ball already holds it, so no per-item "seen" array is needed.

    k nearest (search.k > 0): stop at the first radius r where k items lie within r (then the k nearest are all
    known); otherwise probe up to r_hi and keep the items at r_lo..r_hi. Returns ``lims, D, I`` by distance then
    rank (the first k per query for k nearest). Shell (t, w) probes ``masks[lims[c, w]:lims[c, w + 1]]`` of
    table t's length class c = db.mask_class[t], or scans its keys where ``probes.scan[t, w]``. A query whose next
    shell would take it past ``budget.limit`` is flagged in ``gave_up``, with no items, for the caller to scan."""
    nq = search.queries.shape[0]
    lims = np.zeros(nq + 1, dtype=np.int64)
    out_d = np.empty(max(1024, 8 * nq), dtype=np.int32)
    out_i = np.empty(out_d.shape[0], dtype=np.int64)
    cand = np.empty(1024, dtype=np.int64)
    q = 0
    while True:
        q = _mih_run(q, search, db, probes, tables, budget, lims, out_d, out_i, cand, gave_up)
        if q >= nq:
            break
        out_d = _grow(out_d, 2 * out_d.shape[0])
        out_i = _grow(out_i, 2 * out_i.shape[0])
        cand = np.empty(2 * cand.shape[0], dtype=np.int64)
    n = lims[nq]
    return lims, _head(out_d, n), _head(out_i, n)
