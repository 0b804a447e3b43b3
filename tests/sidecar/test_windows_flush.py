"""A pull that flushes while the flush thread is writing sees every window written before it."""

from __future__ import annotations

import pathlib
import threading

import numpy as np

import statcore
from sidecar.windows import WindowBook


def test_a_flush_waits_for_one_in_progress_so_the_store_read_after_it_misses_nothing(tmp_path: pathlib.Path) -> None:
    store = statcore.Store(tmp_path / "db")
    layout = statcore.Layout([])
    book = WindowBook(store, 60_000, lambda model_type: layout)
    now = 10 ** 12
    missed = 0
    for round_ in range(40):
        starts = [now + (round_ * 300 + i) * 60_000 for i in range(300)]
        for start in starts:
            book.update(("m", "m1", start), confidence=np.ones(2), latency_ms=np.ones(2))
        background = threading.Thread(target=book.flush, args=(starts[-1],))
        background.start()  # the sidecar's flush thread
        book.flush(starts[-1])  # a pull: flush, then read the store
        seen = {start for _, _, start, _ in store.windows_since(starts[0])}
        missed += len(set(starts) - seen)
        background.join()
    store.close()
    assert missed == 0
