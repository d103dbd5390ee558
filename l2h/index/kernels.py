"""Compiled inner loops of the binary indexes.

Numba compiles these to native code (with the CPU's popcount instruction) at first use and caches the result
on disk. It was chosen over a C extension because it installs from a wheel on every platform, needs no
compiler on the user's machine, and keeps the kernels readable next to the Python that calls them.
All kernels are single-threaded; callers parallelise over query batches if they want to."""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

# Fibonacci hashing: multiply by 2^64 / golden ratio and keep the top bits, which spreads
# structured keys (codes that differ in a few bits) evenly over the directory.
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@intrinsic
def popcount(typingctx, x):
    """Number of set bits of a uint64, compiled to one instruction."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@njit(cache=True, inline="always")
def distance(a, i, b, j):
    """Hamming distance between row i of word array a and row j of word array b."""
    d = 0
    for w in range(a.shape[1]):
        d += popcount(a[i, w] ^ b[j, w])
    return d


@njit(cache=True, inline="always")
def bucket_of(key, directory, bucket_keys, shift):
    """Index of the bucket holding ``key``, or -1."""
    h = (np.uint64(key) * GOLDEN) >> shift
    for b in range(directory[h], directory[h + 1]):
        if bucket_keys[b] == key:
            return b
    return -1


@njit(cache=True)
def flip_masks(bits, weight):
    """All ``bits``-bit masks with exactly ``weight`` ones, in lexicographic order of the flipped positions."""
    count = 1
    for i in range(weight):
        count = count * (bits - i) // (i + 1)
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


@njit(cache=True)
def _grow(a, needed):
    if needed <= a.shape[0]:
        return a
    out = np.empty(max(needed, 2 * a.shape[0]), dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def sort_ids(a, lo, hi, scratch):
    """Sort ``a[lo:hi]`` (non-negative ints) in place: insertion sort for short runs, else an LSD radix sort
    on bytes, which beats a comparison sort on the thousands of ids a wide radius returns."""
    n = hi - lo
    if n < 48:
        for i in range(lo + 1, hi):
            v = a[i]
            j = i - 1
            while j >= lo and a[j] > v:
                a[j + 1] = a[j]
                j -= 1
            a[j + 1] = v
        return scratch
    top = 0
    for i in range(lo, hi):
        top = max(top, a[i])
    if scratch.shape[0] < n:
        scratch = np.empty(2 * n, dtype=a.dtype)
    src_is_a = True
    shift = 0
    while (top >> shift) > 0:
        counts = np.zeros(257, dtype=np.int64)
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
        a[lo:hi] = scratch[:n]
    return scratch


@njit(cache=True)
def probe_shells(qkeys, shells, directory, bucket_keys, bucket_starts, ids, shift, stats):
    """Items whose code is at Hamming distance exactly r from each query, for every r in the typed list ``shells``
    of (r, masks) pairs; an empty ``masks`` means "scan the buckets" (cheaper than C(bits, r) probes).

    Returns ``lims, D, I``: query q's results are ``I[lims[q]:lims[q+1]]``, by distance then id.
    ``stats`` (nq, 2) receives buckets probed and candidates per query."""
    nq = qkeys.shape[0]
    lims = np.zeros(nq + 1, dtype=np.int64)
    out_i = np.empty(max(1024, 8 * nq), dtype=np.int64)
    out_d = np.empty(out_i.shape[0], dtype=np.int32)
    n = 0
    n_buckets = bucket_keys.shape[0]
    scratch = np.empty(1024, dtype=np.int64)
    for q in range(nq):
        key = qkeys[q]
        probed = 0
        for s in range(len(shells)):
            r, masks = shells[s]
            start = n
            if masks.shape[0] == 0:
                probed += n_buckets
                for b in range(n_buckets):
                    if popcount(np.uint64(bucket_keys[b]) ^ key) == r:
                        lo, hi = bucket_starts[b], bucket_starts[b + 1]
                        out_i = _grow(out_i, n + hi - lo)
                        for j in range(lo, hi):
                            out_i[n] = ids[j]
                            n += 1
            else:
                probed += masks.shape[0]
                for m in range(masks.shape[0]):
                    b = bucket_of(key ^ masks[m], directory, bucket_keys, shift)
                    if b >= 0:
                        lo, hi = bucket_starts[b], bucket_starts[b + 1]
                        out_i = _grow(out_i, n + hi - lo)
                        for j in range(lo, hi):
                            out_i[n] = ids[j]
                            n += 1
            if n - start > 1:
                scratch = sort_ids(out_i, start, n, scratch)
            out_d = _grow(out_d, n)
            out_d[start:n] = r
        lims[q + 1] = n
        stats[q, 0] = probed
        stats[q, 1] = n - lims[q]
    return lims, out_d[:n].copy(), out_i[:n].copy()


@njit(cache=True)
def knn_scan(qwords, dbwords, k, bits):
    """Exact k nearest codes by exhaustive scan, ordered by distance then id; missing entries are -1.

    Two linear passes per query: distances with a histogram, then a counting sort of the items under the
    k-th distance, which yields (distance, id) order without a heap or a comparison sort."""
    nq, n = qwords.shape[0], dbwords.shape[0]
    D = np.full((nq, k), -1, dtype=np.int32)
    I = np.full((nq, k), -1, dtype=np.int64)
    dist = np.empty(n, dtype=np.int32)
    hist = np.zeros(bits + 1, dtype=np.int64)
    slot = np.zeros(bits + 1, dtype=np.int64)
    for q in range(nq):
        hist[:] = 0
        for i in range(n):
            d = distance(qwords, q, dbwords, i)
            dist[i] = d
            hist[d] += 1
        # threshold t: all items with d < t are in, items with d == t fill the rest
        taken, t = 0, 0
        while t <= bits and taken + hist[t] < k:
            slot[t] = taken
            taken += hist[t]
            t += 1
        if t <= bits:
            slot[t] = taken
        limit = min(t, bits)
        for i in range(n):
            d = dist[i]
            if d <= limit and slot[d] < k:
                D[q, slot[d]] = d
                I[q, slot[d]] = i
                slot[d] += 1
    return D, I


@njit(cache=True)
def distances_to(qwords, dbwords, q, out):
    """Hamming distances from query q to every database code, into ``out``."""
    for i in range(dbwords.shape[0]):
        out[i] = distance(qwords, q, dbwords, i)


@njit(cache=True, inline="always")
def substring(words, row, start, length):
    """Bits [start, start + length) of a code (length <= 64), as an integer."""
    w, offset = start // 64, start % 64
    value = words[row, w] >> np.uint64(offset)
    if offset + length > 64:
        value |= words[row, w + 1] << np.uint64(64 - offset)
    if length < 64:
        value &= (np.uint64(1) << np.uint64(length)) - np.uint64(1)
    return value


@njit(cache=True)
def multi_index_range(qwords, dbwords, radius, sub_bits, sub_radius, masks, mask_lims, scan_weight,
                      directories, keys, starts, rows, shifts, stamp, stats):
    """Norouzi's multi-index hashing: every item within ``radius`` of a query matches it within
    ``sub_radius[t]`` on some substring t (pigeonhole), so probe each substring table within its radius,
    verify each new candidate once by full popcount, and keep those within ``radius``.

    ``masks[mask_lims[w]:mask_lims[w+1]]`` are the flips of weight w; ``scan_weight[w]`` means scanning the
    buckets is cheaper. Per-table arrays are tuples. ``stamp`` (n,) marks rows already verified for a query.
    Returns ``lims, D, rows``, by distance then row."""
    nq, n = qwords.shape[0], dbwords.shape[0]
    lims = np.zeros(nq + 1, dtype=np.int64)
    out_r = np.empty(max(1024, 8 * nq), dtype=np.int64)
    out_d = np.empty(out_r.shape[0], dtype=np.int32)
    count = 0
    for q in range(nq):
        start = count
        probed = 0
        verified = 0
        for t in range(len(directories)):
            key = substring(qwords, q, t * sub_bits, sub_bits)
            directory, bucket_keys, bucket_starts, table_rows = directories[t], keys[t], starts[t], rows[t]
            for w in range(sub_radius[t] + 1):
                n_buckets = bucket_keys.shape[0]
                lo_m, hi_m = mask_lims[w], mask_lims[w + 1]
                probes = n_buckets if scan_weight[w] else hi_m - lo_m
                probed += probes
                for p in range(probes):
                    if scan_weight[w]:
                        b = p if popcount(np.uint64(bucket_keys[p]) ^ key) == w else -1
                    else:
                        b = bucket_of(key ^ masks[lo_m + p], directory, bucket_keys, shifts[t])
                    if b < 0:
                        continue
                    for j in range(bucket_starts[b], bucket_starts[b + 1]):
                        row = table_rows[j]
                        if stamp[row] == q:
                            continue
                        stamp[row] = q
                        verified += 1
                        d = distance(qwords, q, dbwords, row)
                        if d <= radius:
                            out_r = _grow(out_r, count + 1)
                            out_d = _grow(out_d, count + 1)
                            out_r[count] = row
                            out_d[count] = d
                            count += 1
        if count - start > 1:  # order by (distance, row) through one integer sort key
            key_sort = np.sort(out_d[start:count].astype(np.int64) * n + out_r[start:count])
            out_d[start:count] = key_sort // n
            out_r[start:count] = key_sort % n
        lims[q + 1] = count
        stats[q, 0] = probed
        stats[q, 1] = verified
    return lims, out_d[:count].copy(), out_r[:count].copy()
