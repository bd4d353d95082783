"""A small client of Rasa's HTTP API, for the console and the action server.

Authenticates with a short-lived JWT in the ``Authorization`` header (never a ``?token=`` that
ends up in access logs). The secret stays on the server side: it never reaches a browser.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx
import jwt


def _path(conversation_id: str) -> str:
    """The id as a path segment. ``:`` stays as it is (``rest:<sender>``, ``tg:<pseudonym>``,
    bot/conversation_ids.py): Sanic 21.12 does not unquote path parameters, so ``%3A`` would
    name another conversation."""
    return quote(conversation_id, safe=":")


class RasaAPIError(RuntimeError):
    """Rasa answered with an error or could not be reached."""


class RasaAPI:
    def __init__(self, base_url: str, jwt_secret: str, *, timeout: float = 10.0) -> None:
        self._base = base_url.rstrip("/")
        self._secret = jwt_secret
        self._timeout = timeout

    def _headers(self) -> dict[str, str]:
        now = int(time.time())
        token = jwt.encode(
            {"user": {"username": "console", "role": "admin"}, "iat": now, "exp": now + 60},
            self._secret,
            algorithm="HS256",
        )
        return {"Authorization": f"Bearer {token}"}

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.request(
                    method, f"{self._base}{path}", headers=self._headers(), **kwargs
                )
        except httpx.HTTPError as exc:
            raise RasaAPIError(f"Rasa unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise RasaAPIError(f"Rasa answered {response.status_code}")
        return response.json() if response.content else None

    # Rasa's routes (Sanic 21.12, unquote=False) take the id as written in the path: a ":" of
    # "tg:<pseudonym>" / "rest:<sender>" stays a ":" (quoted, it would name another conversation)

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        """The whole conversation, every event."""
        return await self._request(
            "GET", f"/conversations/{_path(conversation_id)}/tracker",
            params={"include_events": "ALL"},
        )  # fmt: skip

    async def append_events(
        self, conversation_id: str, events: list[dict[str, Any]], *, deliver: bool = True
    ) -> dict[str, Any]:
        """Append events; bot messages are delivered on the user's own (latest) channel."""
        params = {"output_channel": "latest", "execute_side_effects": "true"} if deliver else {}
        return await self._request(
            "POST", f"/conversations/{_path(conversation_id)}/tracker/events",
            params=params, json=events,
        )  # fmt: skip

    async def say(self, conversation_id: str, text: str, **metadata: Any) -> None:
        """A message to the user, kept in the transcript as a bot turn."""
        await self.append_events(
            conversation_id, [{"event": "bot", "text": text, "metadata": metadata}]
        )

    async def resume(self, conversation_id: str) -> None:
        """The bot answers again. Rasa stops predicting right after the action that paused
        the conversation, so no ``action_listen`` was logged; without one the policies see the
        next user message as coming after the escalation action, predict ``action_listen`` and
        the bot stays silent. The ``action_listen`` is added here, as Rasa would have."""
        await self.append_events(
            conversation_id,
            [{"event": "resume"}, {"event": "action", "name": "action_listen"}],
            deliver=False,
        )

    async def pause(self, conversation_id: str) -> None:
        await self.append_events(conversation_id, [{"event": "pause"}], deliver=False)
