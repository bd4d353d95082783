"""Fixtures: a fake Bot API server and our channel in a real Sanic server talking to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.store.db import init_db
from tests.telegram.fake_bot_api import FakeBotAPI
from tests.telegram.harness import PSEUDONYM_KEY, ChannelServer


@pytest.fixture(autouse=True)
def pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here keys Telegram conversations with a known PSEUDONYM_KEY."""
    monkeypatch.setenv("PSEUDONYM_KEY", PSEUDONYM_KEY)
    return PSEUDONYM_KEY


@pytest.fixture()
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database of the project's tables (the channel keeps chat ids there)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('telegram_db') / 'channel.db'}"
    init_db(url)
    return url


@pytest.fixture()
def fake_api() -> Iterator[FakeBotAPI]:
    api = FakeBotAPI().start()
    yield api
    api.stop()


@pytest.fixture()
def make_server(fake_api: FakeBotAPI,
                database_url: str) -> Iterator[Callable[..., ChannelServer]]:  # fmt: skip
    servers: list[ChannelServer] = []

    def make(**kwargs: Any) -> ChannelServer:
        kwargs.setdefault("database_url", database_url)
        server = ChannelServer(fake_api, **kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
