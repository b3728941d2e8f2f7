"""A TCP proxy on 127.0.0.1 that adds a fixed delay in each direction, to stand for a remote API server.

Why: on one 2-core machine the sandbox API server shares the CPU with the client, so a benchmark there
measures CPU contention, not what users see. A real AKS API server is a managed control plane across a
network (2–10 ms round trip in-region, 30–100 ms across regions), where a sequential client waits one
round trip per object and a concurrent one does not. Only used by bench/; forwards bytes unchanged (TLS
passes through), so certificates for 127.0.0.1 stay valid.
"""
from __future__ import annotations

import asyncio
import threading
import time


class LatencyProxy:
    """Forward ``127.0.0.1:<port>`` to ``127.0.0.1:<target_port>``, delaying every chunk by ``rtt_ms / 2``."""

    def __init__(self, target_port: int, rtt_ms: float):
        self.target_port = target_port
        self.delay = rtt_ms / 2000.0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:  # cancel the pipes first: a loop stopped under them prints their tracebacks
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    writer.close()
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()

        task = asyncio.ensure_future(deliver())
        try:
            while chunk := await reader.read(65536):
                queue.put_nowait((time.monotonic() + self.delay, chunk))
        finally:
            queue.put_nowait((0.0, b""))
            await task

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w), return_exceptions=True)
        except asyncio.CancelledError:  # the proxy is shutting down: end quietly
            client_w.close()
            server_w.close()
