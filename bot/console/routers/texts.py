"""Standard reply texts (greeting, "I'll check and come back", closing) in a user's language."""

from __future__ import annotations

from fastapi import APIRouter, Query

from bot.console.deps import AppSettings, Staff
from bot.console.messages import standard_texts
from bot.console.schemas import StandardText, StandardTextsOut

router = APIRouter(prefix="/console/api", tags=["texts"])


@router.get("/texts", response_model=StandardTextsOut)
def list_texts(
    user: Staff, settings: AppSettings, lang: str = Query("sv", min_length=2, max_length=8)
) -> StandardTextsOut:
    items = standard_texts(settings, lang)
    return StandardTextsOut(
        language=lang,
        texts=[StandardText(key=k, label=label, language=used, text=text)
               for k, label, used, text in items],
    )  # fmt: skip
