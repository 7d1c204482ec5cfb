"""Where a mapper's candidates are evaluated: in this process, or on a Dask cluster.

A search hands a pool a batch of mappings (a population, a sample, a step of parallel walks)
and gets their results back in the batch's order, so the search takes the same path whatever
evaluates them: one seed gives one result on one worker or many. ``DaskPool`` sends the
evaluator to every worker once and each task evaluates a slice of the batch (a model
evaluation takes about a millisecond, a Dask task's round trip about as long).
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence


class SerialPool:
    """Every mapping evaluated here, one after another."""
    workers = 1

    def map(self, evaluate: Callable, mappings: Sequence) -> list:
        return [evaluate(m) for m in mappings]

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _evaluate_slice(evaluate: Callable, mappings: Sequence) -> list:
    return [evaluate(m) for m in mappings]


class DaskPool:
    """A batch split into slices (``slices_per_worker`` per worker) evaluated on a Dask
    ``distributed`` cluster: a new ``LocalCluster`` of ``workers`` single-threaded processes, or
    the scheduler at ``address`` (``tcp://HOST:8786``). A batch of fewer than ``min_slice``
    mappings per worker is evaluated here: its round trip would cost more than it saves."""

    def __init__(self, workers: int | None = None, address: str | None = None, slices_per_worker: int = 2,
                 min_slice: int = 16):
        import dask
        from dask.distributed import Client, LocalCluster

        if address is None:
            if not isinstance(workers, int) or workers < 1:
                raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
            self.scratch = tempfile.mkdtemp(prefix="sparseloom-dask-")
            # the scheduler's HTTP server binds 8787 even with the dashboard off: any free port instead
            with dask.config.set({"temporary-directory": self.scratch}):
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=":0", silence_logs=logging.ERROR,
                                            local_directory=self.scratch)
                self.client = Client(self.cluster)
        else:
            self.cluster = None
            try:
                self.client = Client(address, timeout=10)
            except OSError as e:
                raise RuntimeError(f"no Dask scheduler answers at {address!r}: {e}") from None
        self.slices_per_worker, self.min_slice = slices_per_worker, min_slice
        self._sent: tuple[Callable, object] | None = None

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info()["workers"]))

    def map(self, evaluate: Callable, mappings: Sequence) -> list:
        if len(mappings) < self.min_slice * min(self.workers, 2):   # a round trip would cost more
            return [evaluate(m) for m in mappings]
        if self._sent is None or self._sent[0] is not evaluate:
            self._sent = (evaluate, self.client.scatter(evaluate, broadcast=True))
        n = min(len(mappings), self.workers * self.slices_per_worker)
        bounds = [len(mappings) * i // n for i in range(n + 1)]
        futures = [self.client.submit(_evaluate_slice, self._sent[1], list(mappings[a:b]), pure=False)
                   for a, b in zip(bounds, bounds[1:])]
        return [r for part in self.client.gather(futures) for r in part]

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
            shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def local_workers() -> int:
    """The CPUs this process may run on: a local cluster's default size."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def pool(workers: int = 1, address: str | None = None):
    """A ``SerialPool`` for one local worker, else a ``DaskPool``."""
    if address is None and workers == 1:
        return SerialPool()
    return DaskPool(workers, address)
