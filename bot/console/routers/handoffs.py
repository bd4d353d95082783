"""The queue, a conversation's transcript, and what a counsellor does with a handoff.

Who may read what (issue 20, security review M3): any counsellor sees the queue and may read a
waiting conversation (to decide whether to claim it). Once claimed, only the claimer (or an
admin) reads, replies, hands back or closes it; a counsellor closes only what they claimed (an
admin may also close a waiting one). After the handoff ends, its claimer may still read it for
CONSOLE_READ_HOURS (default 24), then not at all. Whoever reads a handoff that has ended sees
the conversation up to its end plus that window, and never past the start of the
conversation's next handoff: not the person's later conversation, not another counsellor's
later handoff. The live stream runs only while the handoff is open.

Every read of a transcript (the page and every start of its stream, whatever ``after`` or
Last-Event-ID), every claim, reply, hand-back and close, and every refusal (403) is audited,
never with message text. Rasa is called before the database changes state where the order
matters: a hand-back that could not resume the bot must not look done.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.console.config import ConsoleConfig
from bot.console.deps import DB, AppSettings, Config, CurrentCounsellor, Rasa, Staff, StaffWrite
from bot.console.messages import user_text
from bot.console.redaction import redact_reply
from bot.console.schemas import (
    ActionOut,
    ClaimOut,
    CloseIn,
    HandoffDetail,
    HandoffOut,
    QueueOut,
    RemovedOut,
    ReplyIn,
    ReplyOut,
    as_utc,
)
from bot.console.transcript import event_count, turns_from_tracker
from bot.rasa_api import RasaAPI, RasaAPIError
from bot.settings import Settings
from bot.store import handoffs, sessions
from bot.store.db import session as open_session
from bot.store.models import Handoff, HandoffStatus, utcnow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/console/api", tags=["handoffs"])

SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


# -- rules ------------------------------------------------------------------------------------


def read_window(settings: Settings) -> timedelta:
    return timedelta(hours=settings.console_read_hours)


def may_view(
    user: CurrentCounsellor, handoff: Handoff, *, window: timedelta, now: datetime | None = None
) -> bool:
    """Whether ``user`` may read this handoff's conversation now."""
    if user.is_admin or handoff.status == HandoffStatus.WAITING:
        return True
    if handoff.claimed_by != user.username:  # closing or handing back is not enough
        return False
    if handoff.status == HandoffStatus.CLAIMED:
        return True
    ended = handoff.closed_at
    return ended is not None and (now or utcnow()) <= ended + window


def may_stream(user: CurrentCounsellor, handoff: Handoff) -> bool:
    """Live only while the handoff is open, and only for who may read it then."""
    if handoff.status == HandoffStatus.WAITING:
        return True
    return handoff.status == HandoffStatus.CLAIMED and (
        user.is_admin or handoff.claimed_by == user.username
    )


def read_until(db: Session, handoff: Handoff, window: timedelta) -> float | None:
    """Up to when (epoch seconds) the handoff's conversation may be read: None while it is open;
    after, its end plus the window, and never past the start of the conversation's next
    handoff."""
    if handoff.status in HandoffStatus.OPEN:
        return None
    end = (handoff.closed_at or handoff.updated_at) + window
    following = db.execute(
        select(func.min(Handoff.created_at)).where(
            Handoff.conversation_id == handoff.conversation_id,
            Handoff.created_at > handoff.created_at, Handoff.id != handoff.id,
        )
    ).scalar()  # fmt: skip
    if following is not None:
        end = min(end, following)
    return end.replace(tzinfo=timezone.utc).timestamp()


def _refuse_reading(user: CurrentCounsellor, handoff: Handoff) -> None:
    if handoff.status == HandoffStatus.CLAIMED and handoff.claimed_by != user.username:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            {"message": "Claimed by another counsellor", "claimed_by": handoff.claimed_by},
        )
    if handoff.claimed_by == user.username:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            {"message": "This conversation ended too long ago for you to read it"},
        )
    raise HTTPException(
        status.HTTP_403_FORBIDDEN, {"message": "Only the counsellor who claimed it may read it"}
    )


def _owner_or_admin(user: CurrentCounsellor, handoff: Handoff) -> None:
    if not user.is_admin and handoff.claimed_by != user.username:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            {"message": "Claimed by another counsellor", "claimed_by": handoff.claimed_by},
        )


def _load(db: Session, handoff_id: str) -> Handoff:
    handoff = handoffs.get_handoff(db, handoff_id=handoff_id)
    if handoff is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such handoff")
    return handoff


def _fresh(db: Session, handoff_id: str) -> Handoff:
    """The row as it is now in the database, not as this session last saw it."""
    db.expire_all()
    return _load(db, handoff_id)


def _must_be_claimed(handoff: Handoff) -> None:
    if handoff.status == HandoffStatus.WAITING:
        raise HTTPException(status.HTTP_409_CONFLICT, {"message": "Claim the conversation first"})
    if handoff.status != HandoffStatus.CLAIMED:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {"message": f"The conversation is no longer open ({handoff.status})"},
        )


async def _tell_user(
    rasa: RasaAPI, settings: Settings, handoff: Handoff, key: str, **metadata: Any
) -> bool:
    """A content text to the user in their language; False if it could not be sent."""
    text = user_text(settings, key, handoff.language)
    if text is None:
        return False
    try:
        await rasa.say(handoff.conversation_id, text, console_event=key, **metadata)
    except RasaAPIError as exc:
        logger.warning("Could not send %s for handoff %s: %s", key, handoff.id, exc)
        return False
    return True


# -- reading ----------------------------------------------------------------------------------


def _queue(db: Session) -> QueueOut:
    return QueueOut(
        server_time=as_utc(utcnow()), handoffs=[HandoffOut.of(h) for h in handoffs.queue(db)]
    )


@router.get("/handoffs", response_model=QueueOut)
def list_queue(user: Staff, db: DB) -> QueueOut:
    """Open handoffs: urgent first, then longest waiting."""
    return _queue(db)


@router.get("/handoffs/{handoff_id}", response_model=HandoffDetail)
async def open_handoff(
    handoff_id: str, user: Staff, db: DB, rasa: Rasa, settings: AppSettings
) -> HandoffDetail:
    """The transcript from Rasa's tracker, as far as this reader may see it; audited."""
    window = read_window(settings)

    def load() -> tuple[Handoff, float | None]:
        handoff = _load(db, handoff_id)
        if not may_view(user, handoff, window=window):
            _refuse_reading(user, handoff)
        return handoff, read_until(db, handoff, window)

    handoff, until = await run_in_threadpool(load)
    tracker = await rasa.tracker(handoff.conversation_id)

    def record() -> None:
        handoffs.audit(db, actor=user.username, action="open", handoff_id=handoff.id)
        db.commit()

    await run_in_threadpool(record)
    return HandoffDetail(
        handoff=HandoffOut.of(handoff), turns=turns_from_tracker(tracker, until=until),
        next_seq=event_count(tracker, until),
    )  # fmt: skip


def _sse(event: str, data: str, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


def _still_logged_in(url: str, token_hash: str, config: ConsoleConfig) -> bool:
    with open_session(url) as db:
        return (
            sessions.find_session(
                db,
                token_hash=token_hash,
                idle=config.session_idle,
                max_age=config.session_max_age,
                touch=False,
            )  # fmt: skip
            is not None
        )


def _queue_from(url: str) -> QueueOut:
    with open_session(url) as db:
        return _queue(db)


def _handoff_from(url: str, handoff_id: str) -> Handoff | None:
    with open_session(url) as db:
        return handoffs.get_handoff(db, handoff_id=handoff_id)


class _AuthTimer:
    """Re-checks the login of a long-lived stream every few seconds (logout, expiry)."""

    def __init__(self, url: str, user: CurrentCounsellor, config: ConsoleConfig) -> None:
        self.url, self.user, self.config = url, user, config
        self.checked = time.monotonic()

    async def ok(self) -> bool:
        if time.monotonic() - self.checked < self.config.stream_auth_seconds:
            return True
        self.checked = time.monotonic()
        return await run_in_threadpool(
            _still_logged_in, self.url, self.user.token_hash, self.config
        )


@router.get("/stream")
async def queue_stream(
    request: Request, user: Staff, config: Config, settings: AppSettings
) -> StreamingResponse:
    """Server-sent events: the whole queue whenever it changes (polled every half second)."""
    url = settings.database_url
    auth = _AuthTimer(url, user, config)
    stopping = request.app.state.stopping

    async def events() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        last: str | None = None
        beat = time.monotonic()
        while not stopping.is_set() and not await request.is_disconnected():
            if not await auth.ok():
                yield _sse("logout", "{}")
                return
            current = await run_in_threadpool(_queue_from, url)
            body = json.dumps([json.loads(h.json()) for h in current.handoffs])
            if body != last:
                last = body
                beat = time.monotonic()
                yield _sse("queue", current.json())
            elif time.monotonic() - beat >= config.heartbeat_seconds:
                beat = time.monotonic()
                yield ": ping\n\n"
            await asyncio.sleep(config.queue_poll_seconds)

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/handoffs/{handoff_id}/stream")
async def transcript_stream(
    handoff_id: str,
    request: Request,
    user: Staff,
    db: DB,
    rasa: Rasa,
    config: Config,
    settings: AppSettings,
    after: int = Query(0, ge=0),
) -> StreamingResponse:
    """Server-sent events: new turns of the transcript (``seq >= after``) and status changes.

    The browser's automatic reconnect sends Last-Event-ID, so nothing is sent twice. Open
    handoffs only. Every start is audited, whatever ``after`` is: any start can read turns.
    """
    window = read_window(settings)
    handoff = await run_in_threadpool(_load, db, handoff_id)
    if not may_view(user, handoff, window=window):
        _refuse_reading(user, handoff)
    if not may_stream(user, handoff):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            {"message": f"The conversation is no longer open ({handoff.status})"},
        )
    try:
        after = max(after, int(request.headers.get("last-event-id", "-1")[:20]) + 1)
    except ValueError:
        pass

    def record() -> None:
        handoffs.audit(db, actor=user.username, action="stream", handoff_id=handoff_id,
                       detail=f"after={after}")  # fmt: skip
        db.commit()

    await run_in_threadpool(record)
    url = settings.database_url
    conversation_id = handoff.conversation_id
    auth = _AuthTimer(url, user, config)
    stopping = request.app.state.stopping

    async def events() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        next_seq = after
        last_state: str | None = None
        rasa_down = False
        beat = time.monotonic()
        # the production profile: woken by the event broker (bot/console/live.py); polled
        # when there is none, or while it is down ("not live")
        live = getattr(request.app.state, "live", None)
        was_live: bool | None = None
        while not stopping.is_set() and not await request.is_disconnected():
            since = live.version(conversation_id) if live is not None else 0
            if live is not None and live.live != was_live:
                was_live = live.live
                yield _sse("live", json.dumps({"ok": was_live}))
            if not await auth.ok():
                yield _sse("logout", "{}")
                return
            current = await run_in_threadpool(_handoff_from, url, handoff_id)
            if current is None:
                yield _sse("gone", "{}")
                return
            state = HandoffOut.of(current).json()
            if state != last_state:
                last_state = state
                yield _sse("handoff", state)
            if not may_stream(user, current):
                if current.status == HandoffStatus.CLAIMED:
                    yield _sse("taken", json.dumps({"claimed_by": current.claimed_by}))
                    return
                # ended (closed, handed back, cancelled): the last turns up to its end, for
                # whoever may still read it (the hand-back itself, say), then no more
                if may_view(user, current, window=window):
                    until = current.closed_at or current.updated_at
                    try:
                        tracker = await rasa.tracker(conversation_id)
                    except RasaAPIError:
                        tracker = None
                    stamp = until.replace(tzinfo=timezone.utc).timestamp() + 1.0
                    turns = turns_from_tracker(tracker, after=next_seq, until=stamp)
                    if turns:
                        data = json.dumps([json.loads(t.json()) for t in turns])
                        yield _sse("turns", data, event_id=turns[-1].seq)
                yield _sse("ended", json.dumps({"status": current.status}))
                return
            try:
                tracker = await rasa.tracker(conversation_id)
            except RasaAPIError:
                if not rasa_down:
                    rasa_down = True
                    yield _sse("rasa", json.dumps({"ok": False}))
                await asyncio.sleep(1.0)
                continue
            if rasa_down:
                rasa_down = False
                yield _sse("rasa", json.dumps({"ok": True}))
            turns = turns_from_tracker(tracker, after=next_seq)
            count = event_count(tracker)
            if count > next_seq:
                next_seq = count
            if turns:
                beat = time.monotonic()
                data = json.dumps([json.loads(t.json()) for t in turns])
                yield _sse("turns", data, event_id=next_seq - 1)
            elif time.monotonic() - beat >= config.heartbeat_seconds:
                beat = time.monotonic()
                yield ": ping\n\n"
            if live is not None:
                # status changes and logouts are still looked at every live_check_seconds;
                # not live: polled, and woken when the broker is back
                wait = config.live_check_seconds if live.live else config.transcript_poll_seconds
                await live.wait(conversation_id, since, wait)
            else:
                await asyncio.sleep(config.transcript_poll_seconds)

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)


# -- acting -----------------------------------------------------------------------------------


@router.post("/handoffs/{handoff_id}/claim", response_model=ClaimOut)
async def claim(
    handoff_id: str, user: StaffWrite, db: DB, rasa: Rasa, settings: AppSettings
) -> ClaimOut:
    """Atomic: of two counsellors claiming at once, one gets it and the other a 409."""

    def take() -> tuple[bool, Handoff]:
        _load(db, handoff_id)
        won = handoffs.claim(db, handoff_id=handoff_id, counsellor=user.username)
        return won, _fresh(db, handoff_id)

    won, handoff = await run_in_threadpool(take)
    if not won:
        if handoff.status == HandoffStatus.CLAIMED:
            message = f"Already taken by {handoff.claimed_by}"
        else:
            message = f"The conversation is no longer waiting ({handoff.status})"
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {"message": message, "claimed_by": handoff.claimed_by, "status": handoff.status},
        )
    logger.info("Handoff %s claimed", handoff.id)
    notified = await _tell_user(rasa, settings, handoff, "counsellor_joined")
    return ClaimOut(handoff=HandoffOut.of(handoff), user_notified=notified)


@router.post("/handoffs/{handoff_id}/reply", response_model=ReplyOut)
async def reply(
    handoff_id: str, body: ReplyIn, user: StaffWrite, db: DB, rasa: Rasa, config: Config
) -> ReplyOut:
    """Redacted (bot.privacy.redact, as what people write), then delivered on the user's own
    channel by Rasa and kept in the transcript as a bot turn marked with the counsellor's
    name. The answer says what was removed (to the counsellor who wrote it, nowhere else)."""
    if len(body.text) > config.reply_max_chars:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            {"message": f"A reply has at most {config.reply_max_chars} characters"},
        )
    handoff = await run_in_threadpool(_fresh, db, handoff_id)
    _must_be_claimed(handoff)
    _owner_or_admin(user, handoff)
    text, removed = await run_in_threadpool(redact_reply, body.text)
    await rasa.say(handoff.conversation_id, text, counsellor=user.username)

    def record() -> None:
        handoffs.audit(db, actor=user.username, action="reply", handoff_id=handoff_id,
                       detail=f"redacted={len(removed)}" if removed else None)  # fmt: skip
        db.commit()

    await run_in_threadpool(record)
    return ReplyOut(
        handoff=HandoffOut.of(handoff), text=text,
        removed=[RemovedOut(original=r.original, placeholder=r.placeholder) for r in removed],
    )  # fmt: skip


@router.post("/handoffs/{handoff_id}/handback", response_model=ActionOut)
async def hand_back(
    handoff_id: str, user: StaffWrite, db: DB, rasa: Rasa, settings: AppSettings
) -> ActionOut:
    """The bot answers again (ConversationResumed) and the user is told so."""
    handoff = await run_in_threadpool(_fresh, db, handoff_id)
    _must_be_claimed(handoff)
    _owner_or_admin(user, handoff)
    await rasa.resume(handoff.conversation_id)

    def finish() -> tuple[bool, Handoff]:
        done = handoffs.hand_back(
            db, handoff_id=handoff_id, actor=user.username, any_claimer=user.is_admin
        )
        return done, _fresh(db, handoff_id)

    done, handoff = await run_in_threadpool(finish)
    if not done:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {"message": f"The conversation is no longer open ({handoff.status})"},
        )
    logger.info("Handoff %s handed back", handoff.id)
    notified = await _tell_user(rasa, settings, handoff, "bot_back")
    return ActionOut(handoff=HandoffOut.of(handoff), user_notified=notified)


@router.post("/handoffs/{handoff_id}/close", response_model=ActionOut)
async def close(
    handoff_id: str,
    body: CloseIn,
    user: StaffWrite,
    db: DB,
    rasa: Rasa,
    settings: AppSettings,
) -> ActionOut:
    """Closed with an outcome; the bot answers again and the user is told so.

    A counsellor closes only a handoff they claimed (closing a waiting one would take the
    person out of the queue unseen); an admin may close any open one."""
    handoff = await run_in_threadpool(_fresh, db, handoff_id)
    if handoff.status not in HandoffStatus.OPEN:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {"message": f"The conversation is no longer open ({handoff.status})"},
        )
    if handoff.status == HandoffStatus.WAITING and not user.is_admin:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            {"message": "Claim the conversation first: you can close only what you claimed"},
        )
    _owner_or_admin(user, handoff)
    await rasa.resume(handoff.conversation_id)

    def finish() -> tuple[bool, Handoff]:
        done = handoffs.close_handoff(
            db, handoff_id=handoff_id, actor=user.username, outcome=body.outcome,
            any_claimer=user.is_admin,
        )  # fmt: skip
        return done, _fresh(db, handoff_id)

    done, handoff = await run_in_threadpool(finish)
    if not done:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {"message": f"The conversation is no longer open ({handoff.status})"},
        )
    logger.info("Handoff %s closed (%s)", handoff.id, body.outcome)
    notified = await _tell_user(rasa, settings, handoff, "bot_back")
    return ActionOut(handoff=HandoffOut.of(handoff), user_notified=notified)
