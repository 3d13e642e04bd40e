"""Library calls release the GIL: two Python threads encode at the same time."""
import os
import threading
import time

import numpy as np
import pytest

import mmfuse
from conftest import TEXT_MODEL

TEXTS = ["the cat sat on the mat %d" % i for i in range(3000)]   # within the model's 12 tokens


def one_call(enc):
    t = time.perf_counter()
    enc.encode(TEXTS)
    return time.perf_counter() - t


def busy_seconds():
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")   # all but idle and iowait


def two_calls(encs):
    """(wall seconds of two concurrent encode calls, cores' worth of CPU other processes used meanwhile)"""
    ts = [threading.Thread(target=e.encode, args=(TEXTS,)) for e in encs]
    b0, c0, t = busy_seconds(), sum(os.times()[:2]), time.perf_counter()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    wall = time.perf_counter() - t
    others = (busy_seconds() - b0) - (sum(os.times()[:2]) - c0)
    return wall, max(0.0, others / wall)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores to run two encoders at once")
def test_two_threads_encode_in_parallel():
    encs = [mmfuse.TextEncoder(TEXT_MODEL, threads=1) for _ in range(2)]
    ref = encs[0].encode(TEXTS)
    # best of a few rounds: the machine may be shared; a GIL held during the call gives ratio >= 2
    ratios, others = [], []
    for _ in range(3):
        single = min(one_call(encs[0]) for _ in range(2))
        wall, busy = two_calls(encs)
        ratios.append(wall / single)
        others.append(busy)
        if ratios[-1] < 1.6:
            break
    cores = len(os.sched_getaffinity(0))
    print("two concurrent calls / one call (wall): %s; other processes meanwhile: %s cores of %d" % (
        " ".join("%.2f" % r for r in ratios), " ".join("%.2f" % o for o in others), cores))
    if min(ratios) >= 1.6 and min(others) > cores - 2 + 0.3:
        # other processes held a core (make test runs tests side by side): wall time cannot show
        # parallelism then; test_python_runs_while_a_call_is_in_the_library still can
        pytest.skip("machine busy: other processes used %.2f of %d cores; two calls took %.2fx one"
                    % (min(others), cores, min(ratios)))
    assert min(ratios) < 1.6, (ratios, others)
    np.testing.assert_array_equal(encs[1].encode(TEXTS), ref)   # same path, same threads: identical


def test_one_handle_from_many_threads_is_serialised_not_corrupted():
    enc = mmfuse.TextEncoder(TEXT_MODEL, threads=1)
    ref = enc.encode(TEXTS[:400])
    out = [None] * 4

    def work(i):
        out[i] = enc.encode(TEXTS[:400])
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for o in out:
        np.testing.assert_array_equal(o, ref)


def test_python_runs_while_a_call_is_in_the_library():
    """Load-independent: while a worker thread sits in one long encode call, this thread
    keeps executing bytecode. Were the GIL held for the call, this loop would stall for
    the whole call (one gap as long as the call)."""
    enc = mmfuse.TextEncoder(TEXT_MODEL, threads=1)
    texts = TEXTS * 3                       # one call of a few tenths of a second
    t = time.perf_counter()
    enc.encode(texts)
    call = time.perf_counter() - t
    worker = threading.Thread(target=enc.encode, args=(texts,))
    gaps, last = [], time.perf_counter()
    worker.start()
    while worker.is_alive():
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    worker.join()
    print("call %.3f s, longest stall of the Python thread %.3f s over %d iterations" % (call, max(gaps), len(gaps)))
    assert max(gaps) < call / 2, (max(gaps), call)


def test_many_threads_search_one_index_while_another_adds():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2000, 32)).astype(np.float32)
    ix = mmfuse.Index(32, M=8, ef_construction=40)
    ix.add(x[:1000], np.arange(1000))
    ref_ids, ref_scores = ix.search(x[:200], k=5)
    out, errors = [None] * 4, []

    def search(i):
        try:
            for _ in range(5):
                ids, _ = ix.search(x[:200], k=5)
                # vectors added meanwhile may enter a top 5; the first hit (the query itself) stays
                assert (ids[:, 0] == ref_ids[:, 0]).all()
            out[i] = ids
        except Exception as e:   # surfaced below: a failure in a thread must fail the test
            errors.append(e)

    def add():
        try:
            for a in range(1000, 2000, 250):
                ix.add(x[a:a + 250], np.arange(a, a + 250))
        except Exception as e:
            errors.append(e)
    ts = [threading.Thread(target=search, args=(i,)) for i in range(4)] + [threading.Thread(target=add)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    assert len(ix) == 2000
    np.testing.assert_array_equal(ix.search(x[1500], k=1)[0], [1500])
