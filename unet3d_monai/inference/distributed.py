"""Block-wise prediction on a Dask cluster: ``scheduler="tcp://host:8786"`` or ``"local:N"``.

Dask is optional (``pip install 'unet3d-monai[distributed]'``). A scheduler address connects to a running
cluster (started by hand, or by ``dask-jobqueue`` on SLURM/LSF/PBS); ``local:N`` starts a ``LocalCluster`` of
``N`` worker processes on this machine, each running one block at a time with its share of the cores.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["WORKER_ENVIRONMENT", "DaskTasks", "connect", "local_cluster", "parse_scheduler"]

_LOCAL = re.compile(r"^local:(\d+)$")

#: Set in the environment of every worker process a ``local:N`` cluster starts. Dask runs tasks in a worker thread,
#: and glibc gives each thread its own arena, whose large blocks are always fresh ``mmap`` s, whatever ``mallopt``
#: says: each window's buffers are then faulted in again page by page (measured here: 1.6 million page faults and
#: as much system time as user time, twice the wall time of the same windows in the main thread). One arena serves
#: every thread from the main heap, where freed memory is kept for the next window. It must be in the environment
#: when the process starts; workers of a cluster started otherwise need it too (docs/blockwise.md).
WORKER_ENVIRONMENT = {"MALLOC_ARENA_MAX": "1"}


def parse_scheduler(scheduler: str) -> tuple[str, int | None]:
    """``("local", N)`` for ``"local:N"``, ``("address", None)`` for a scheduler address.

    Example:
        >>> parse_scheduler("local:2"), parse_scheduler("tcp://10.0.0.5:8786")
        (('local', 2), ('address', None))

    Raises:
        ValueError: ``local:`` without a positive number of workers, or an empty string.
    """
    text = str(scheduler).strip()
    match = _LOCAL.match(text)
    if match:
        workers = int(match.group(1))
        if workers < 1:
            raise ValueError(f"--scheduler {scheduler!r}: local:N needs at least one worker.")
        return "local", workers
    if text.startswith("local") or not text:
        raise ValueError(
            f"--scheduler {scheduler!r} is neither local:N (N worker processes on this machine) nor the address "
            "of a Dask scheduler such as tcp://host:8786."
        )
    return "address", None


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as e:
        raise ImportError(
            "--scheduler needs Dask: pip install 'unet3d-monai[distributed]' (dask, distributed and zarr)."
        ) from e
    return distributed


def _shared_value(value: Any) -> Any:
    """The task that holds a value every block task uses (see :meth:`DaskTasks.share`)."""
    return value


class DaskTasks:
    """Runs the tasks of block-wise prediction on a Dask ``Client`` (see
    :class:`~unet3d_monai.runtime.tasks.TaskRunner`).

    Values shared by every task (the network, an in-memory volume) are tasks themselves, whose result Dask copies to
    the workers that need it and computes again if every worker holding it dies (scattered data would be lost with
    its worker, and every task still to run with it). Tasks are submitted as impure (each runs once per submission)
    and Dask retries a task whose worker died. A task's result is released once the run has taken it, so that a
    worker dying later does not make Dask run finished blocks again.

    Args:
        client: a connected ``distributed.Client``.
        torch_threads: threads each task gives torch; None: the cores of the worker's machine divided by the
            threads of all the workers on that machine (known when the run starts).
    """

    def __init__(self, client: Any, torch_threads: int | None = None) -> None:
        distributed = _import_distributed()
        self.client = client
        if torch_threads is None:
            per_host: dict[str, int] = {}
            for address, worker in client.scheduler_info().get("workers", {}).items():
                host = address.rsplit(":", 1)[0]
                per_host[host] = per_host.get(host, 0) + int(worker.get("nthreads", 1))
            self.torch_threads: int | dict[str, int] | None = per_host
        else:
            self.torch_threads = torch_threads
        self._completed = distributed.as_completed()
        self._futures: set[Any] = set()

    def share(self, value: Any) -> Any:
        with warnings.catch_warnings():
            # the value travels in the task graph on purpose (that is what makes it recoverable)
            warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
            return self.client.submit(_shared_value, value, pure=False)

    def submit(self, function: Callable, *args: Any) -> Any:
        future = self.client.submit(function, *args, pure=False)
        self._futures.add(future)
        self._completed.add(future)
        return future

    def completed(self) -> Iterator[Any]:
        for future in self._completed:
            yield future
            self._futures.discard(future)

    def cancel(self) -> None:
        self.client.cancel([f for f in self._futures if not f.done()])
        self._futures.clear()


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A Dask ``LocalCluster`` of ``workers`` processes with one thread each, started with
    :data:`WORKER_ENVIRONMENT`; closed on exit.

    Dask's nanny sets a worker's start-up environment in its own process before starting the worker; this
    process's environment is put back as it was once the workers run (a nanny that restarts a dead worker later
    sets it here again, as Dask does with its own start-up settings).

    Example::

        with local_cluster(2) as cluster, distributed.Client(cluster) as client:
            ...
    """
    distributed = _import_distributed()
    import dask

    key = "distributed.nanny.pre-spawn-environ"
    environment = {**dask.config.get(key, default={}), **WORKER_ENVIRONMENT}
    saved = {name: os.environ.get(name) for name in WORKER_ENVIRONMENT}
    try:
        with dask.config.set({key: environment}):
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    with cluster:
        yield cluster


@contextlib.contextmanager
def connect(scheduler: Any) -> Iterator[DaskTasks]:
    """A :class:`DaskTasks` on the cluster named by ``scheduler`` (``local:N``, an address, or a connected
    ``distributed.Client``, which is left open); what this opened is closed on exit.

    Example::

        with connect("local:2") as runner:
            BlockwisePrediction(..., runner=runner).run(VolumeOnDisk.of_file("big.zarr", "raw"), write)

    Raises:
        ValueError: an unreadable ``scheduler``.
        ImportError: Dask is not installed.
        ConnectionError: no scheduler answers at the address.
    """
    distributed = _import_distributed()
    if isinstance(scheduler, distributed.Client):
        yield DaskTasks(scheduler)
        return
    kind, workers = parse_scheduler(scheduler)
    with contextlib.ExitStack() as stack:
        if kind == "local":
            cores = len(os.sched_getaffinity(0))
            cluster = stack.enter_context(local_cluster(workers))
            client = stack.enter_context(distributed.Client(cluster))
            runner = DaskTasks(client, torch_threads=max(1, cores // workers))
        else:
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout="20s"))
            except OSError as e:
                raise ConnectionError(f"--scheduler {scheduler}: no Dask scheduler answers there ({e}).") from e
            runner = DaskTasks(client)
        yield runner
