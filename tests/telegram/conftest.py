"""Fixtures: a fake Bot API server and our channel in a real Sanic server talking to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.telegram.fake_bot_api import FakeBotAPI
from tests.telegram.harness import ChannelServer


@pytest.fixture()
def fake_api() -> Iterator[FakeBotAPI]:
    api = FakeBotAPI().start()
    yield api
    api.stop()


@pytest.fixture()
def make_server(fake_api: FakeBotAPI) -> Iterator[Callable[..., ChannelServer]]:
    servers: list[ChannelServer] = []

    def make(**kwargs: Any) -> ChannelServer:
        server = ChannelServer(fake_api, **kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
