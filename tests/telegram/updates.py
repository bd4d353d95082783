"""Telegram updates shaped exactly like the ones Telegram posts (Bot API 7.x)."""

from __future__ import annotations

import itertools
import time
from typing import Any

_ids = itertools.count(int(time.time()) % 100_000 * 1000)
_messages = itertools.count(1)


def next_update_id() -> int:
    return next(_ids)


def user(user_id: int, language_code: str | None = "en") -> dict[str, Any]:
    found: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Amal"}
    if language_code is not None:
        found["language_code"] = language_code
    return found


def private_chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "first_name": "Amal", "type": "private"}


def _message(chat_id: int, language_code: str | None, **content: Any) -> dict[str, Any]:
    return {
        "message_id": next(_messages), "from": user(chat_id, language_code),
        "chat": private_chat(chat_id), "date": int(time.time()), **content,
    }  # fmt: skip


def text_update(chat_id: int, text: str, language_code: str | None = "en",
                update_id: int | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        command = text.split()[0]
        content["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
    return {"update_id": update_id if update_id is not None else next_update_id(),
            "message": _message(chat_id, language_code, **content)}


def callback_update(chat_id: int, data: str, language_code: str | None = "en",
                    chat: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "update_id": next_update_id(),
        "callback_query": {
            "id": f"{chat_id}{next(_messages)}-cbq", "from": user(abs(chat_id), language_code),
            "message": {
                "message_id": next(_messages),
                "from": {"id": 7000000001, "is_bot": True, "first_name": "Return help",
                         "username": "return_help_bot"},
                "chat": chat or private_chat(chat_id), "date": int(time.time()),
                "text": "…",
                "reply_markup": {"inline_keyboard": [[{"text": "A topic", "callback_data": data}]]},
            },
            "chat_instance": "-5287346982374523", "data": data,
        },
    }  # fmt: skip


def edited_update(chat_id: int, text: str, language_code: str | None = "en") -> dict[str, Any]:
    message = _message(chat_id, language_code, text=text)
    message["edit_date"] = message["date"] + 5
    return {"update_id": next_update_id(), "edited_message": message}


def voice_update(chat_id: int, language_code: str | None = "en") -> dict[str, Any]:
    voice = {"duration": 4, "mime_type": "audio/ogg", "file_id": "AwACAgQAAxkBAAIBZ2VoX",
             "file_unique_id": "AgADwxMAAo5e", "file_size": 15872}
    return {"update_id": next_update_id(), "message": _message(chat_id, language_code, voice=voice)}


def photo_update(chat_id: int, language_code: str | None = "en",
                 caption: str | None = None) -> dict[str, Any]:
    sizes = [
        {"file_id": "AgACAgQAAxkBAAIBaGVoY1", "file_unique_id": "AQADsMAxG1", "file_size": 1404,
         "width": 90, "height": 67},
        {"file_id": "AgACAgQAAxkBAAIBaGVoY2", "file_unique_id": "AQADsMAxG2", "file_size": 21788,
         "width": 320, "height": 240},
    ]  # fmt: skip
    content: dict[str, Any] = {"photo": sizes}
    if caption:
        content["caption"] = caption
    return {"update_id": next_update_id(), "message": _message(chat_id, language_code, **content)}


def sticker_update(chat_id: int, language_code: str | None = "en") -> dict[str, Any]:
    sticker = {
        "width": 512, "height": 512, "emoji": "🙏", "set_name": "HotCherry", "is_animated": False,
        "is_video": False, "type": "regular", "file_id": "CAACAgIAAxkBAAIBa2VoZ",
        "file_unique_id": "AgADGAADwDZPEw", "file_size": 22348,
        "thumbnail": {"file_id": "AAMCAgADGQEAAgFr", "file_unique_id": "AQADGAADwDZPE3I",
                      "file_size": 5352, "width": 128, "height": 128},
    }  # fmt: skip
    return {"update_id": next_update_id(),
            "message": _message(chat_id, language_code, sticker=sticker)}


def document_update(chat_id: int, language_code: str | None = "en") -> dict[str, Any]:
    document = {"file_name": "beslut.pdf", "mime_type": "application/pdf",
                "file_id": "BQACAgQAAxkBAAIBbGVoa", "file_unique_id": "AgADpBMAAo5e",
                "file_size": 104857}
    return {"update_id": next_update_id(),
            "message": _message(chat_id, language_code, document=document)}


def location_update(chat_id: int, language_code: str | None = "en") -> dict[str, Any]:
    return {"update_id": next_update_id(),
            "message": _message(chat_id, language_code,
                                location={"latitude": 59.329323, "longitude": 18.068581})}


def group_update(chat_id: int, text: str, language_code: str | None = "en",
                 chat_type: str = "supergroup") -> dict[str, Any]:
    chat = {"id": chat_id, "title": "Stöd i Malmö", "type": chat_type}
    if chat_type == "group":
        chat["all_members_are_administrators"] = True
    message = {
        "message_id": next(_messages), "from": user(555000111, language_code), "chat": chat,
        "date": int(time.time()), "text": text,
    }  # fmt: skip
    return {"update_id": next_update_id(), "message": message}


def channel_post_update(chat_id: int, text: str) -> dict[str, Any]:
    post = {"message_id": next(_messages),
            "sender_chat": {"id": chat_id, "title": "Nyheter", "type": "channel"},
            "chat": {"id": chat_id, "title": "Nyheter", "type": "channel"},
            "date": int(time.time()), "text": text}
    return {"update_id": next_update_id(), "channel_post": post}
