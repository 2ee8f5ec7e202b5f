"""A sweep's trainings on a Dask cluster (``nnctl sweep --scheduler ADDRESS``), through joblib's dask backend.

The runs are the same function calls as on one machine (``sweep.run_one``), so their numbers are too. What a
cluster adds is handled here: the scheduler is reached within a few seconds or refused; every worker must
see the sweep directory and the data files at the same absolute paths (a shared file system), else the sweep
stops before any run starts; and a run whose worker dies is retried by Dask on another worker (the run
starts again) or, when Dask gives it up (``KilledWorker``) or a worker cannot even load it, becomes an
``error`` row instead of leaving joblib waiting forever for a result that will never come.
"""
from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from .config import DATA_PATHS
from .errors import ClusterError, MissingExtra, NnctlError

CONNECT_SECONDS = 5  # an unreachable scheduler is refused after this long
WORKERS_SECONDS = 10  # a scheduler without workers: how long to wait for the first to join
STOP_POLL_SECONDS = 0.5  # a run on the cluster checks this often whether the sweep was interrupted
INSTALL = "pip install 'nnctl[dask]'"


def shared_paths(config, out_dir):
    """The paths a worker must see for this run: the sweep directory and any data files."""
    paths = [str(out_dir)]
    paths += [config["data"][k] for k in DATA_PATHS if isinstance(config["data"].get(k), str)
              and os.path.isabs(config["data"][k])]
    return paths


def _unseen(paths):
    """On a worker: ``(host, [paths it cannot see])``."""
    return socket.gethostname(), [p for p in paths if not os.path.exists(p)]


def _probe(paths):
    """On a worker: ``(host, [paths it cannot see], its nnctl version)``."""
    from . import __version__

    return (*_unseen(paths), __version__)


def check_visible(paths, where):
    """In the task, on the worker: refuse a run whose files this machine cannot see (no shared file system)."""
    host, unseen = _unseen(paths)
    if unseen:
        raise ClusterError(f"{where}: {unseen[0]}: not visible on the Dask worker on {host}; a sweep on a cluster "
                           "needs a file system shared by this machine and every worker, at the same paths")


def cluster_task(index, config, force, resume, where, paths, stop=None):
    """A run as a cluster task: checks that the worker sees its files, then trains it like a local run.
    ``stop``: the name of the Dask ``Event`` that the sweep sets when it is interrupted."""
    from .sweep import error_row, run_one

    try:
        check_visible(paths, where)
    except NnctlError as exc:
        return index, error_row(str(exc))
    return index, run_one(config, force, where, resume, stop=_stop_asked(stop) if stop else None)


def _stop_asked(name):
    """``stop()`` for ``Trainer.fit``: whether the sweep's stop event is set, asked of the scheduler at most
    once every ``STOP_POLL_SECONDS`` (an epoch can take a millisecond). Dask cannot interrupt a running task,
    so this is how an interrupted sweep stops its runs on the cluster: at an epoch's end, checkpoint saved."""
    import time

    from distributed import Event

    event, asked = Event(name), [time.monotonic()]

    def stop():
        now = time.monotonic()
        if now - asked[0] < STOP_POLL_SECONDS:
            return False
        asked[0] = now
        try:
            return event.is_set()
        except Exception:  # the scheduler is gone: the run goes on, as it would without the event
            return False
    return stop


def _lost(exc):
    """The result of a task that Dask gave up on, for each run of its batch."""
    def result(index, config, force, resume, where, paths, stop=None):
        from .sweep import error_row

        return index, error_row(f"{where}: lost on the Dask cluster ({type(exc).__name__}: {exc}); "
                                "see the workers' logs, then --resume to train it again")
    return result


def _backend_class():
    from joblib._dask import DaskDistributedBackend

    class Backend(DaskDistributedBackend):
        """joblib's dask backend, with a result for a task that failed on the cluster rather than in the run
        (a worker died too often, the task could not be unpickled): joblib's own leaves that future unanswered
        and ``Parallel`` waiting for it."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._calls = {}

        def submit(self, func, callback=None):
            future = super().submit(func, callback)
            self._calls[future] = func.items
            return future

        async def _collect(self):
            import asyncio

            while self._continue:
                async for future, result in self.waiting_futures:
                    cf_future = self._results.pop(future)
                    callback = self._callbacks.pop(future)
                    calls = self._calls.pop(cf_future, [])
                    if future.status == "error":
                        _, exc, _ = result
                        result = [_lost(exc)(*args, **kwargs) for _, args, kwargs in calls]
                    cf_future.set_result(result)
                    callback(result)
                await asyncio.sleep(0.01)

    return Backend


@contextlib.contextmanager
def connect(address):
    """A ``distributed.Client`` of the scheduler at ``address``, with at least one worker; closed on leaving."""
    try:
        import distributed
        from distributed.comm import get_address_host_port
    except ImportError:
        raise MissingExtra(f"--scheduler: needs Dask distributed; {INSTALL}") from None
    import logging

    try:
        get_address_host_port(address)
    except ValueError as exc:
        raise ClusterError(f"--scheduler {address}: not a scheduler address ({exc}); e.g. tcp://10.0.0.5:8786") \
            from None
    logging.getLogger("distributed").setLevel(logging.ERROR)  # its connection warnings would repeat our one line
    try:
        client = distributed.Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except Exception as exc:  # OSError, TimeoutError
        raise ClusterError(f"--scheduler {address}: no Dask scheduler answers there within {CONNECT_SECONDS} s "
                           f"({type(exc).__name__}: {exc or 'no answer'})") from None
    try:
        try:
            client.wait_for_workers(1, timeout=WORKERS_SECONDS)
        except Exception:
            raise ClusterError(f"--scheduler {address}: no worker has joined the scheduler within "
                               f"{WORKERS_SECONDS} s; start some with: dask worker {address}") from None
        yield client
    finally:
        client.close()


def execute(client, todo, force, resume, out_dir):
    """``(index, row)`` of each ``(index, config, where)`` of ``todo`` as it finishes on the cluster, after
    checking that every worker sees the sweep directory and the data files."""
    from joblib import Parallel, delayed, parallel_config

    from . import __version__

    address = client.scheduler.address
    paths = {i: shared_paths(config, out_dir) for i, config, _ in todo}
    try:
        seen = client.run(_probe, sorted({p for ps in paths.values() for p in ps}))
    except Exception as exc:  # the function could not be unpickled there: no nnctl on the worker
        raise ClusterError(f"--scheduler {address}: the workers cannot run nnctl ({type(exc).__name__}: "
                           f"{exc}); install nnctl on every worker") from None
    for worker, (host, unseen, version) in sorted(seen.items()):
        if version != __version__:
            raise ClusterError(f"--scheduler {address}: worker {worker} ({host}) runs nnctl {version}, this "
                               f"machine {__version__}; install the same nnctl on every worker")
        if unseen:
            raise ClusterError(f"--scheduler {address}: {unseen[0]}: not visible on worker {worker} ({host}); "
                               "a sweep on a cluster needs a file system shared by this machine and every "
                               "worker, at the same paths")
    from uuid import uuid4

    from distributed import Event

    stop = Event(f"nnctl-sweep-stop-{uuid4().hex}", client=client)
    tasks = (delayed(cluster_task)(i, config, force, resume, where, paths[i], stop.name) for i, config, where in todo)
    try:
        with parallel_config(backend=_backend_class()(client=client, wait_for_workers_timeout=WORKERS_SECONDS)):
            # one run per task, so that each streams back as it finishes and a lost worker costs one run
            yield from Parallel(n_jobs=-1, batch_size=1, return_as="generator_unordered")(tasks)
    except BaseException:  # Ctrl-C, SIGTERM: the runs under way on the cluster stop at their epoch's end
        stop.set()
        raise


def absolute(out_dir, runs):
    """The sweep directory and every run's ``output.dir`` as absolute paths, which a worker with another
    current directory finds; data paths are absolute already (``config.load``)."""
    out_dir = Path(out_dir).absolute()
    for name, _, config in runs:
        config["output"]["dir"] = str(out_dir / name)
    return out_dir
