"""bot/memory.py: freed heap memory really goes back to the system (glibc's malloc_trim)."""

from __future__ import annotations

from tests.helpers import python_child


def test_trim_returns_freed_memory_to_the_system() -> None:
    # in a child process, so that this test's own heap does not blur the numbers: 300 MB in
    # blocks below glibc's mmap threshold, nine in ten freed (the heap stays fragmented)
    out = python_child(
        "from bot.memory import resident_mb, trim",
        "blocks = [bytearray(b'x' * 100_000) for _ in range(3000)]",
        "kept = blocks[::10]",
        "del blocks",
        "before = resident_mb()",
        "assert trim()",
        "after = resident_mb()",
        "print(round(before), round(after), len(kept))",
        timeout=120,
    )
    before, after, kept = map(int, out.split())
    assert kept == 300
    assert before - after > 150, (before, after)  # most of the freed 270 MB went back
