"""Requests that arrive together run as one inference call (Triton's dynamic batcher): when the detector
is free, the first waiting request opens a window of ``window_s``; every request queued by its end, up to
``max_batch`` images, joins the batch. With no window (the default) a batch is what queued while the last
one ran: a lone request waits for nothing, and under load the batches fill by themselves. One thread runs
the detector, so a backend never sees two calls at once and the event loop never blocks on inference."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from edgedet.runtime.detections import Detections

Infer = Callable[[Sequence[np.ndarray]], list[Detections]]
Observer = Callable[[int, float], None]  # (images in the batch, seconds its inference took)


@dataclass
class _Waiting:
    images: Sequence[np.ndarray]
    done: asyncio.Future = field(repr=False)


class DynamicBatcher:
    def __init__(self, infer: Infer, max_batch: int, window_s: float, observe: Observer | None = None) -> None:
        if max_batch < 1 or window_s < 0:
            raise ValueError(f"max_batch must be at least 1 and window_s at least 0, got {max_batch}, {window_s}")
        self.infer, self.max_batch, self.window_s, self.observe = infer, max_batch, window_s, observe
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="edgedet-infer")
        self._task: asyncio.Task | None = None

    @property
    def depth(self) -> int:
        """Requests waiting for a batch."""
        return self._queue.qsize()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=True)

    async def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """The detections of each image, computed in whatever batch the request lands in."""
        done = asyncio.get_running_loop().create_future()
        await self._queue.put(_Waiting(images, done))
        return await done

    async def _gather(self) -> list[_Waiting]:
        batch = [await self._queue.get()]
        count = len(batch[0].images)
        deadline = time.monotonic() + self.window_s
        while count < self.max_batch:
            left = deadline - time.monotonic()
            try:
                nxt = self._queue.get_nowait() if left <= 0 else await asyncio.wait_for(self._queue.get(), left)
            except (asyncio.QueueEmpty, TimeoutError):
                break
            batch.append(nxt)
            count += len(nxt.images)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [w for w in await self._gather() if not w.done.cancelled()]  # a client that left
            if not batch:
                continue
            frames = [image for waiting in batch for image in waiting.images]
            start = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._pool, self.infer, frames)
            except Exception as exc:  # the backend's failure is every waiting request's
                for waiting in batch:
                    if not waiting.done.done():
                        waiting.done.set_exception(exc)
                continue
            if self.observe is not None:
                self.observe(len(frames), time.perf_counter() - start)
            at = 0
            for waiting in batch:
                if not waiting.done.done():
                    waiting.done.set_result(results[at:at + len(waiting.images)])
                at += len(waiting.images)
