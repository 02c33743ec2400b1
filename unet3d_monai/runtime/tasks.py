"""Where the tasks of block-wise work run: one after the other in this process, or on a cluster.

Block-wise prediction (:class:`~unet3d_monai.inference.BlockwisePrediction`) and block-wise segmentation
(:class:`~unet3d_monai.segmentation.BlockwiseSegmentation`) hand their per-block tasks to a :class:`TaskRunner`:
:class:`SequentialTasks` here, or ``unet3d_monai.inference.distributed.DaskTasks`` on a Dask cluster.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from monai.utils import optional_import

tqdm, _ = optional_import("tqdm", name="tqdm")

__all__ = ["SequentialTasks", "TaskRunner", "watched"]


class TaskRunner(Protocol):
    """Runs the tasks of block-wise prediction: in this process (:class:`SequentialTasks`) or on a Dask cluster
    (:class:`~unet3d_monai.inference.distributed.DaskTasks`)."""

    #: threads each task gives torch: a number, worker threads per host (tasks share the host's cores), or None
    torch_threads: int | dict[str, int] | None

    def share(self, value: Any) -> Any:
        """``value`` as the tasks receive it (sent once to every worker)."""
        ...

    def submit(self, function: Callable, *args: Any) -> Any:
        """Start ``function(*args)``; returns a future with ``result()``."""
        ...

    def completed(self) -> Iterator[Any]:
        """The submitted futures as they finish, including those submitted while iterating."""
        ...

    def cancel(self) -> None:
        """Drop every task not finished."""
        ...


class _Deferred:
    def __init__(self, function: Callable, args: tuple) -> None:
        self.function, self.args, self.value, self.error = function, args, None, None

    def run(self) -> None:
        try:
            self.value = self.function(*self.args)
        except BaseException as e:  # handed to result(), where the caller sees it
            self.error = e

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class SequentialTasks:
    """Runs the tasks one after the other in this process, in the order they were submitted."""

    torch_threads: int | None = None

    def __init__(self) -> None:
        self._queue: list[_Deferred] = []

    def share(self, value: Any) -> Any:
        return value

    def submit(self, function: Callable, *args: Any) -> _Deferred:
        deferred = _Deferred(function, args)
        self._queue.append(deferred)
        return deferred

    def completed(self) -> Iterator[_Deferred]:
        while self._queue:
            deferred = self._queue.pop(0)
            deferred.run()
            yield deferred

    def cancel(self) -> None:
        self._queue.clear()


@contextlib.contextmanager
def watched(runner: TaskRunner, total: int, description: str, progress: bool) -> Iterator[Callable[[], None]]:
    """While the caller collects ``runner``'s tasks: a progress bar of ``total`` blocks (with ``progress``), advanced by
    the function this yields, and, should the caller fail, every task not finished dropped.

    Example::

        with watched(runner, len(keys), "blocks", progress=True) as tick:
            for future in runner.completed():
                future.result()
                tick()
    """
    bar = tqdm(total=total, desc=description, unit="block") if progress and total else None
    try:
        yield (lambda: bar.update(1)) if bar is not None else (lambda: None)
    except BaseException:
        runner.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
