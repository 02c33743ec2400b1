"""Block-wise prediction on a Dask cluster: ``scheduler="tcp://host:8786"`` or ``"local:N"``.

Dask is optional (``pip install 'unet3d-monai[distributed]'``). A scheduler address connects to a running
cluster (started by hand, or by ``dask-jobqueue`` on SLURM/LSF/PBS); ``local:N`` starts a ``LocalCluster`` of
``N`` worker processes on this machine, each running one block at a time with its share of the cores.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["DaskTasks", "connect", "parse_scheduler"]

_LOCAL = re.compile(r"^local:(\d+)$")


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


class DaskTasks:
    """Runs the tasks of block-wise prediction on a Dask ``Client`` (see
    :class:`~unet3d_monai.inference.block_prediction.TaskRunner`).

    Values shared by every task (the network) are scattered once to every worker; tasks are submitted as
    impure (each runs once per submission) and Dask retries a task whose worker died.

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
        self._futures: list[Any] = []

    def share(self, value: Any) -> Any:
        return self.client.scatter(value, broadcast=True, hash=False)

    def submit(self, function: Callable, *args: Any) -> Any:
        future = self.client.submit(function, *args, pure=False)
        self._futures.append(future)
        self._completed.add(future)
        return future

    def completed(self) -> Iterator[Any]:
        yield from self._completed

    def cancel(self) -> None:
        self.client.cancel([f for f in self._futures if not f.done()])
        self._futures.clear()


@contextlib.contextmanager
def connect(scheduler: Any) -> Iterator[DaskTasks]:
    """A :class:`DaskTasks` on the cluster named by ``scheduler`` (``local:N``, an address, or a connected
    ``distributed.Client``, which is left open); what this opened is closed on exit.

    Example::

        with connect("local:2") as runner:
            BlockwisePrediction(..., runner=runner).run(VolumeFile("big.zarr", "raw", "standardize"), write)

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
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
            runner = DaskTasks(client, torch_threads=max(1, cores // workers))
        else:
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout="20s"))
            except OSError as e:
                raise ConnectionError(f"--scheduler {scheduler}: no Dask scheduler answers there ({e}).") from e
            runner = DaskTasks(client)
        yield runner
