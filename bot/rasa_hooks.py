"""Work that runs beside the Rasa server: started once the server is up (the model is loaded by
then), stopped before it stops. Rasa builds its Sanic app in ``rasa.core.run.configure_app``;
each caller wraps it once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


def on_server_start(
    *, ready: Callable[[Any], Awaitable[None]] | None = None,
    background: Callable[[], Awaitable[None]] | None = None,
) -> None:  # fmt: skip
    """After the server started: ``await ready(app)``, then ``background()`` as a task until
    the server stops."""
    import rasa.core.run

    original_configure = rasa.core.run.configure_app

    def configure_app(*args: Any, **kwargs: Any) -> Any:
        app = original_configure(*args, **kwargs)
        tasks: list[asyncio.Task] = []

        async def after_start(running: Any, _loop: Any) -> None:
            if ready is not None:
                await ready(running)
            if background is not None:
                tasks.append(asyncio.get_running_loop().create_task(background()))

        async def before_stop(_running: Any, _loop: Any) -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            tasks.clear()

        app.register_listener(after_start, "after_server_start")
        app.register_listener(before_stop, "before_server_stop")
        return app

    rasa.core.run.configure_app = configure_app
