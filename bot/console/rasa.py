"""The console's Rasa client: bot.rasa_api.RasaAPI with one long-lived HTTP client.

RasaAPI opens a new httpx client per call, and building one costs about 50 ms of CPU (it loads
the TLS certificate store) on the event loop. The console polls the tracker several times a
second per open conversation, so it keeps one client (per event loop) and its connections.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from bot.rasa_api import RasaAPI, RasaAPIError

logger = logging.getLogger(__name__)


class PooledRasaAPI(RasaAPI):
    def __init__(self, base_url: str, jwt_secret: str, *, timeout: float = 10.0) -> None:
        super().__init__(base_url, jwt_secret, timeout=timeout)
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client_for_this_loop(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # Rasa is reached over plain HTTP on 127.0.0.1; no proxies from the environment.
            self._client = httpx.AsyncClient(timeout=self._timeout, trust_env=False)
            self._loop = loop
        return self._client

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        client = self._client_for_this_loop()
        try:
            response = await client.request(
                method, f"{self._base}{path}", headers=self._headers(), **kwargs
            )
        except httpx.HTTPError as exc:
            raise RasaAPIError(f"Rasa unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise RasaAPIError(f"Rasa answered {response.status_code}")
        return response.json() if response.content else None

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
        self._loop = None
