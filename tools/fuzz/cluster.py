"""Where a campaign's independent units run (fuzz units, race seeds):
worker processes forked on this machine (`--jobs`), or the workers of a
Dask distributed cluster, either one started here (one worker process per
core, nothing to set up) or an existing one named by its scheduler's
address (`--scheduler tcp://HOST:8786`). Both give the same results for
the same units: a unit's result depends only on its arguments and the
code, so a Dask worker that imports other sources than this process
(tools/fuzz/sameness.py) runs no unit.

Every executor has the same two calls: run(fn, args) yields (index,
fn(shared, args[index])) as units complete, and workers() says how many
run at once. shared (a race scenario, say) reaches each worker once."""

import logging
import multiprocessing
import os
import socket
import sys
import threading
from collections import Counter

from tools.fuzz import sameness

_SHARED = None
ONE_AT_A_TIME = threading.Lock()    # a multi-threaded worker runs units
#                                     one at a time: they patch globals


def default_jobs():
    """Every core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def whoami():
    """The name of the worker running this: its Dask address, or the host
    and process id. A Dask worker has imported distributed already; any
    other process does not pay for importing it here."""
    dask = sys.modules.get("distributed")
    if dask is not None:
        try:
            return dask.get_worker().address
        except ValueError:          # distributed loaded, not in a worker
            pass
    return f"{socket.gethostname()}:{os.getpid()}"


def _call(job):
    fn, i, arg = job
    with ONE_AT_A_TIME:
        return i, fn(_SHARED, arg)


def _dask_call(fn, shared, arg, digest):
    sameness.require(digest, whoami())
    with ONE_AT_A_TIME:
        return fn(shared, arg)


class Inline:
    """This process, one unit after another (--jobs 0)."""

    def __init__(self, shared=None):
        self.shared = shared

    def workers(self):
        return 1

    def run(self, fn, args):
        for i, a in enumerate(args):
            yield i, fn(self.shared, a)

    def close(self):
        pass


class Local:
    """jobs worker processes forked from this one (they inherit shared and
    whatever this process has built)."""

    def __init__(self, jobs, shared=None):
        global _SHARED
        _SHARED = shared
        self.jobs = jobs
        self.pool = multiprocessing.get_context("fork").Pool(jobs)

    def workers(self):
        return self.jobs

    def run(self, fn, args):
        yield from self.pool.imap_unordered(
            _call, [(fn, i, a) for i, a in enumerate(args)])

    def close(self):
        self.pool.terminate()
        self.pool.join()


class Dask:
    """The workers of a Dask cluster: the one at scheduler (an address
    such as tcp://HOST:8786), or a local one of `workers` processes (one
    per core by default) with one thread each, started here."""

    def __init__(self, scheduler=None, workers=None, shared=None):
        from distributed import Client, LocalCluster
        self.cluster = None
        if scheduler:
            self.client = Client(scheduler)
        else:
            self.cluster = LocalCluster(
                n_workers=workers or default_jobs(), threads_per_worker=1,
                processes=True, dashboard_address=None,
                silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        self.shared = None
        self.used = Counter()       # worker address -> units it ran
        if shared is not None:
            self.shared = self.client.scatter(shared, broadcast=True)

    def workers(self):
        return max(1, len(self.client.scheduler_info()["workers"]))

    def run(self, fn, args):
        from distributed import as_completed
        n = len(args)
        futures = self.client.map(_dask_call, [fn] * n, [self.shared] * n,
                                  args, [sameness.code_digest()] * n,
                                  pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for f, result in as_completed(futures, with_results=True):
                yield index[f.key], result
        finally:
            self.client.cancel([f for f in futures if not f.done()])
            done = [f for f in futures if f.status == "finished"]
            for where in self.client.who_has(done).values():
                self.used.update(where[:1])

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def executor(jobs=None, dask=False, scheduler=None, shared=None):
    """A Dask executor when dask or scheduler is given, else Local(jobs)
    (Inline when jobs is 0)."""
    if dask or scheduler:
        return Dask(scheduler, jobs, shared)
    if jobs == 0:
        return Inline(shared)
    return Local(jobs or default_jobs(), shared)


def in_order(results):
    """Turn run()'s (index, result) pairs back into results in index
    order, yielding each as soon as those before it are in."""
    held, nxt = {}, 0
    for i, r in results:
        held[i] = r
        while nxt in held:
            yield held.pop(nxt)
            nxt += 1
