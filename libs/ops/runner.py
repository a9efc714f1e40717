"""Run a service's async main until SIGINT/SIGTERM, then let it shut down cleanly."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from typing import Any

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
    uvloop = None


def run(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    """Call `main(stop)`; `stop` is set on the first SIGINT or SIGTERM."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    if uvloop is not None:
        uvloop.run(runner())
    else:
        asyncio.run(runner())
