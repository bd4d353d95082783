"""Rasa tracker events -> the turns the console shows. Pure functions, no I/O."""

from __future__ import annotations

from typing import Any

from bot.console.schemas import Turn

SYSTEM_EVENTS = {"pause", "resume"}


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _topic(event: dict[str, Any]) -> str | None:
    """The answer's topic: actions send it as ``custom_topic`` (Rasa keeps unknown keys of a
    bot message in its metadata); also accepted in ``data.custom.topic``."""
    metadata = event.get("metadata") or {}
    custom = (event.get("data") or {}).get("custom") or {}
    for value in (metadata.get("custom_topic"), metadata.get("topic"),
                  custom.get("topic") if isinstance(custom, dict) else None):  # fmt: skip
        if isinstance(value, str) and value:
            return value
    return None


def _buttons(event: dict[str, Any]) -> list[str]:
    buttons = (event.get("data") or {}).get("buttons") or []
    return [str(b.get("title", "")) for b in buttons if isinstance(b, dict)][:10]


def to_turn(seq: int, event: dict[str, Any]) -> Turn | None:
    """One tracker event as a turn, or None for events a counsellor does not need to see."""
    kind = event.get("event")
    at = _float(event.get("timestamp"))
    if kind == "user":
        parse = event.get("parse_data") or {}
        language = parse.get("language") or {}
        intent = parse.get("intent") or {}
        return Turn(
            seq=seq, kind="user", event="user", text=event.get("text"), at=at,
            language=language.get("name") if isinstance(language, dict) else None,
            language_confidence=_float(language.get("confidence"))
            if isinstance(language, dict) else None,
            intent=intent.get("name") if isinstance(intent, dict) else None,
            intent_confidence=_float(intent.get("confidence"))
            if isinstance(intent, dict) else None,
            channel=event.get("input_channel"),
        )  # fmt: skip
    if kind == "bot":
        metadata = event.get("metadata") or {}
        counsellor = metadata.get("counsellor")
        return Turn(
            seq=seq, kind="counsellor" if counsellor else "bot", event="bot",
            text=event.get("text"), at=at, topic=_topic(event),
            counsellor=str(counsellor) if counsellor else None, buttons=_buttons(event),
        )  # fmt: skip
    if kind in SYSTEM_EVENTS:
        return Turn(seq=seq, kind="system", event=kind, at=at)
    return None


def visible_events(tracker: dict[str, Any] | None, until: float | None = None) -> list[Any]:
    """The tracker's events a reader may see: all of them, or (``until``, epoch seconds) the
    ones up to that moment. The cut is a prefix: nothing after the first later event shows,
    whatever its own timestamp says."""
    events = (tracker or {}).get("events") or []
    if until is None:
        return list(events)
    for index, event in enumerate(events):
        at = _float(event.get("timestamp")) if isinstance(event, dict) else None
        if at is not None and at > until:
            return list(events[:index])
    return list(events)


def turns_from_tracker(
    tracker: dict[str, Any] | None, *, after: int = 0, until: float | None = None
) -> list[Turn]:
    """The transcript's turns with ``seq >= after`` (and, with ``until``, up to that moment)."""
    events = visible_events(tracker, until)
    turns: list[Turn] = []
    for seq, event in enumerate(events):
        if seq < after or not isinstance(event, dict):
            continue
        turn = to_turn(seq, event)
        if turn is not None:
            turns.append(turn)
    return turns


def event_count(tracker: dict[str, Any] | None, until: float | None = None) -> int:
    return len(visible_events(tracker, until))
