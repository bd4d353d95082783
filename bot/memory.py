"""Give the Rasa server's freed memory back to the system.

glibc keeps memory that Python and TensorFlow have freed inside the process (the model load
alone leaves about 140 MB of it: measured 1031 -> 888 MB resident after one ``malloc_trim``).
The Rasa server calls ``malloc_trim(0)`` once the model is loaded and then every
``MEMORY_TRIM_SECONDS`` (default 60), in a worker thread so that no message waits for it.
Nothing changes for the process except its resident size; elsewhere than glibc it does
nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
from functools import cache
from typing import Any

logger = logging.getLogger(__name__)


@cache
def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        function = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


def trim() -> bool:
    """Return freed heap memory to the system; False where there is no glibc."""
    function = _malloc_trim()
    if function is None:
        return False
    function(0)  # 1 if memory was released, 0 if there was nothing to release
    return True


def resident_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def trim_every(seconds: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        before = resident_mb()
        await loop.run_in_executor(None, trim)
        logger.debug("memory: %.0f -> %.0f MB resident", before, resident_mb())
        await asyncio.sleep(seconds)


def install() -> None:
    """Start the trimming with the Rasa server (after the model is loaded), stop it with it."""
    import rasa.core.run

    from bot.rasa_hooks import on_server_start

    if getattr(rasa.core.run, "_memory_trim", False) or _malloc_trim() is None:
        return
    seconds = float(os.environ.get("MEMORY_TRIM_SECONDS", "60"))
    on_server_start(background=lambda: trim_every(seconds))
    rasa.core.run._memory_trim = True  # type: ignore[attr-defined]
