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
# the presence bitmap has 2^FILTER_BITS bits per directory slot
FILTER_BITS = np.uint64(3)


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
        d += popcount(np.uint64(a[i, w] ^ b[j, w]))
    return d


@njit(cache=True, inline="always")
def bucket_of(key, directory, bucket_keys, present, shift):
    """Index of the bucket holding ``key``, or -1. ``present`` is a bitmap over the top p + FILTER_BITS bits of
    the key's hash: most absent keys are rejected there, in a structure small enough to stay in cache, before
    the directory is read."""
    f = (np.uint64(key) * GOLDEN) >> (shift - FILTER_BITS)
    if not (present[f >> np.uint64(6)] >> (f & np.uint64(63))) & np.uint64(1):
        return -1
    h = f >> FILTER_BITS
    for b in range(directory[h], directory[h + 1]):
        if bucket_keys[b] == key:
            return b
    return -1


@njit(cache=True)
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
    if n < 64:
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
def probe_shells(qkeys, radii, masks, mask_lims, direct, directory, bucket_keys, present, bucket_starts, ids, shift,
                 stats):
    """Items whose code is at Hamming distance exactly ``radii[s]`` from each query, for each shell s, probing
    the flips ``masks[mask_lims[s]:mask_lims[s+1]]``; a shell with no masks is answered by scanning the bucket
    keys instead (cheaper than C(bits, r) probes). ``direct`` tables use the key as the bucket number.

    Returns ``lims, D, I``: query q's results are ``I[lims[q]:lims[q+1]]``, by distance then id.
    ``stats`` (nq, 2) receives buckets probed and candidates per query."""
    nq, shells = qkeys.shape[0], radii.shape[0]
    lims = np.zeros(nq + 1, dtype=np.int64)
    shell_end = np.empty(nq * shells, dtype=np.int64)  # distances are filled from these once, at the end
    out_i = np.empty(max(1024, 8 * nq), dtype=np.int64)
    n = 0
    n_buckets = bucket_starts.shape[0] - 1
    scratch = np.empty(1024, dtype=np.int64)
    for q in range(nq):
        key = qkeys[q]
        probed = 0
        for s in range(shells):
            r = radii[s]
            lo_m, hi_m = mask_lims[s], mask_lims[s + 1]
            start = n
            scan = lo_m == hi_m
            probes = n_buckets if scan else hi_m - lo_m
            probed += probes
            # written out again in multi_index_range: a shared inlined helper measured 2-3x slower at radius 3
            for p in range(probes):
                if direct:
                    b = np.int64(key ^ masks[lo_m + p])
                elif scan:
                    b = p if popcount(np.uint64(bucket_keys[p]) ^ key) == r else -1
                else:
                    b = bucket_of(key ^ masks[lo_m + p], directory, bucket_keys, present, shift)
                if b < 0:
                    continue
                lo, hi = bucket_starts[b], bucket_starts[b + 1]
                if n + hi - lo > out_i.shape[0]:
                    out_i = _grow(out_i, n + hi - lo)
                for j in range(lo, hi):
                    out_i[n] = ids[j]
                    n += 1
            if n - start > 1:
                scratch = sort_ids(out_i, start, n, scratch)
            shell_end[q * shells + s] = n
        lims[q + 1] = n
        stats[q, 0] = probed
        stats[q, 1] = n - lims[q]
    out_d = np.empty(n, dtype=np.int32)
    start = 0
    for t in range(nq * shells):
        out_d[start:shell_end[t]] = radii[t % shells]
        start = shell_end[t]
    return lims, out_d, out_i[:n].copy()


@njit(cache=True)
def knn_scan(qwords, dbwords, k, bits):
    """Exact k nearest codes by exhaustive scan, ordered by distance then id; missing entries are -1.

    One pass per query. Items are kept in per-distance lists (at most k each, in id order) while their distance
    is within the threshold T, the smallest distance whose list sizes up to T already sum to k; T only shrinks,
    so after the first few thousand items nearly every item is rejected by one predictable comparison."""
    nq, n = qwords.shape[0], dbwords.shape[0]
    D = np.full((nq, k), -1, dtype=np.int32)
    I = np.full((nq, k), -1, dtype=np.int64)
    kept = np.empty((bits + 1, k), dtype=np.int64)
    sizes = np.zeros(bits + 1, dtype=np.int64)
    for q in range(nq):
        sizes[:] = 0
        threshold = bits
        for i in range(n):
            d = distance(qwords, q, dbwords, i)
            if d > threshold or sizes[d] >= k:
                continue
            kept[d, sizes[d]] = i
            sizes[d] += 1
            total = 0
            for t in range(threshold + 1):  # lower the threshold once the lists below it hold k items
                total += sizes[t]
                if total >= k:
                    threshold = t
                    break
        filled = 0
        for d in range(threshold + 1):
            for j in range(min(sizes[d], k - filled)):
                D[q, filled] = d
                I[q, filled] = kept[d, j]
                filled += 1
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
                      direct, directories, keys, presents, starts, rows, shifts, stats):
    """Norouzi's multi-index hashing: every item within ``radius`` of a query matches it within
    ``sub_radius[t]`` on some substring t (pigeonhole), so probe each substring table within its radius and
    verify each candidate by full popcount. A candidate within the radius met in table t that an earlier table
    also matches is skipped: that table reported it already, so no per-item "seen" array is needed.

    ``masks[mask_lims[w]:mask_lims[w+1]]`` are the flips of weight w; ``scan_weight[w]`` means scanning the
    buckets is cheaper. Per-table arrays are tuples. Returns ``lims, D, rows``, by distance then row."""
    nq, n = qwords.shape[0], dbwords.shape[0]
    lims = np.zeros(nq + 1, dtype=np.int64)
    out_r = np.empty(max(1024, 8 * nq), dtype=np.int64)
    out_d = np.empty(out_r.shape[0], dtype=np.int32)
    qsub = np.empty(len(directories), dtype=np.uint64)
    candidates = np.empty(4096, dtype=np.int64)
    dist = np.empty(4096, dtype=np.int32)
    count = 0
    for q in range(nq):
        start = count
        probed = 0
        verified = 0
        for t in range(len(directories)):
            qsub[t] = substring(qwords, q, t * sub_bits, sub_bits)
        for t in range(len(directories)):
            key = qsub[t]
            directory, bucket_keys, present = directories[t], keys[t], presents[t]
            bucket_starts, table_rows = starts[t], rows[t]
            n_buckets = bucket_starts.shape[0] - 1
            gathered = 0
            for w in range(sub_radius[t] + 1):
                lo_m, hi_m = mask_lims[w], mask_lims[w + 1]
                probes = n_buckets if scan_weight[w] else hi_m - lo_m
                probed += probes
                for p in range(probes):
                    if direct:
                        b = np.int64(key ^ masks[lo_m + p])
                    elif scan_weight[w]:
                        b = p if popcount(np.uint64(bucket_keys[p]) ^ key) == w else -1
                    else:
                        b = bucket_of(key ^ masks[lo_m + p], directory, bucket_keys, present, shifts[t])
                    if b >= 0:
                        lo, hi = bucket_starts[b], bucket_starts[b + 1]
                        if gathered + hi - lo > candidates.shape[0]:
                            candidates = _grow(candidates, gathered + hi - lo)
                        for j in range(lo, hi):  # rows are stored in 3 little-endian bytes
                            candidates[gathered] = (np.int64(table_rows[3 * j]) | (np.int64(table_rows[3 * j + 1]) << 8)
                                                    | (np.int64(table_rows[3 * j + 2]) << 16))
                            gathered += 1
            # verify in a tight loop, so the cache misses of many candidates overlap
            if dist.shape[0] < gathered:
                dist = np.empty(candidates.shape[0], dtype=np.int32)
            for c in range(gathered):
                dist[c] = distance(qwords, q, dbwords, candidates[c])
            verified += gathered
            for c in range(gathered):
                if dist[c] > radius:
                    continue
                row = candidates[c]
                seen = False  # an earlier table matching this row has reported it already
                for u in range(t):
                    if popcount(substring(dbwords, row, u * sub_bits, sub_bits) ^ qsub[u]) <= sub_radius[u]:
                        seen = True
                        break
                if seen:
                    continue
                if count >= out_r.shape[0]:
                    out_r = _grow(out_r, count + 1)
                    out_d = _grow(out_d, count + 1)
                out_r[count] = row
                out_d[count] = dist[c]
                count += 1
        if count - start > 1:  # order by (distance, row) through one integer sort key
            key_sort = np.sort(out_d[start:count].astype(np.int64) * n + out_r[start:count])
            out_d[start:count] = key_sort // n
            out_r[start:count] = key_sort % n
        lims[q + 1] = count
        stats[q, 0] = probed
        stats[q, 1] = verified
    return lims, out_d[:count].copy(), out_r[:count].copy()
