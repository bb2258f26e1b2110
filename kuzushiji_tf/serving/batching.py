"""Concurrent requests' pages batched into one model call, as TF Serving's batching does: the first page
waits at most `max_wait` seconds for others, a batch holds at most `max_batch` pages, and the model runs
on one worker thread, off the event loop. The queue is bounded: past `max_queue` pages waiting or
running, `submit` raises `QueueFull` at once (the server answers 503 with Retry-After) instead of letting
latency and memory grow without bound."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from kuzushiji_tf.recognition.batch_recognition import PageResult, recognize_files


class QueueFull(RuntimeError):
    pass


def model_runner(model) -> Callable[[Sequence[bytes]], list[PageResult]]:
    """A batch of encoded pages -> one PageResult each; a refused page fails alone (`recognize_files`)."""

    def run(pages: Sequence[bytes]) -> list[PageResult]:
        return list(
            recognize_files(
                model,
                list(pages),
                batch_size=max(len(pages), 1),
                progress=False,
                load=lambda page: page,  # every detection: TF Serving's predict and /recognize give them all
                context=False,  # predict answers as TF Serving would: the graph's outputs; /recognize reads in context
            )
        )

    return run


class Batcher:
    """`await batcher.submit(page_bytes)` -> PageResult. Start with `start()` on the serving loop."""

    def __init__(
        self,
        run: Callable[[Sequence[bytes]], list[PageResult]],
        *,
        max_batch: int = 4,
        max_wait: float = 0.005,
        max_queue: int = 32,
        on_batch: Callable[[int, float], None] = lambda size, seconds: None,
    ):
        if max_batch < 1 or max_queue < 1 or max_wait < 0:
            raise ValueError("max_batch and max_queue must be at least 1 and max_wait at least 0")
        self.run, self.max_batch, self.max_wait, self.max_queue = run, max_batch, max_wait, max_queue
        self.on_batch = on_batch
        self.pending = 0  # pages queued or in the running batch
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._serve(), name="batcher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, page: bytes) -> PageResult:
        if self._queue is None:
            raise RuntimeError("Batcher.start() was not awaited")
        if self.pending >= self.max_queue:
            raise QueueFull(f"{self.pending} pages waiting, the limit is {self.max_queue}")
        self.pending += 1
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((page, future))
        return await future  # a cancelled wait (timeout, client gone) leaves the page to be skipped

    async def _next_batch(self) -> list:
        batch = [await self._queue.get()]
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except asyncio.TimeoutError:
                break
        return batch

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            live = [(page, future) for page, future in batch if not future.done()]  # nobody waits for the rest
            self.pending -= len(batch) - len(live)
            if not live:
                continue
            start = loop.time()
            try:
                results = await loop.run_in_executor(self._executor, self.run, [page for page, _ in live])
            except Exception as error:  # the model itself failed: every page of the batch gets the error
                results = [error] * len(live)
            self.on_batch(len(live), loop.time() - start)
            self.pending -= len(live)
            for (_, future), result in zip(live, results):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
