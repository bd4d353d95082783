"""The chat widget's demo page (``GET /``) and its files (``GET /widget/<name>``).

The console app includes ``router`` (bot/console/app.py, EXTRA_ROUTER_MODULES). The widget is
built from widget/ by ``make widget`` into static/widget/widget.js (git-ignored). The page
embeds it with one script tag, as an organisation's own page would, under a
Content-Security-Policy without inline script or style that lets the page reach nothing but
this server and Rasa's socket.io.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from bot.settings import LANGUAGES, get_settings

STATIC = Path(__file__).resolve().parent / "static" / "widget"
FILES = {
    "widget.js": "text/javascript; charset=utf-8",
    "demo.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",  # else the browser asks for /favicon.ico and gets a 404
}

router = APIRouter(tags=["widget"])


def server_url() -> str:
    """Where browsers reach Rasa's socket.io: WIDGET_SERVER_URL, else the Rasa server."""
    return (os.environ.get("WIDGET_SERVER_URL") or get_settings().rasa_url).rstrip("/")


def content_security_policy(server: str) -> str:
    parts = urlsplit(server)
    origin = f"{parts.scheme}://{parts.netloc}"
    socket = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self' {origin} {socket}; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def demo_page(server: str, lang: str, retention_days: int) -> str:
    attr = lambda value: html.escape(str(value), quote=True)  # noqa: E731
    return f"""<!doctype html>
<html lang="{attr(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stöd inför återvändande – demo</title>
<link rel="stylesheet" href="/widget/demo.css">
<link rel="icon" href="/widget/favicon.svg" type="image/svg+xml">
</head>
<body>
<main>
<h1>Stöd inför återvändande</h1>
<p>Demo page of the assistant's chat widget, embedded the way an organisation's own page
would embed it: one script tag.</p>
<p lang="sv">Har du fått avslag på din asylansökan? Assistenten svarar på frågor om överklagande,
juridisk hjälp, boende, vård och återvändande – på svenska, engelska, arabiska, persiska/dari,
somaliska, tigrinska och ryska. Du kan alltid be att få prata med en människa.</p>
</main>
<script src="/widget/widget.js" defer
 data-server-url="{attr(server)}" data-lang="{attr(lang)}"
 data-retention-days="{attr(retention_days)}" data-open="true"></script>
</body>
</html>
"""


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def demo() -> HTMLResponse:
    settings = get_settings()
    server = server_url()
    lang = settings.default_language if settings.default_language in LANGUAGES else "sv"
    return HTMLResponse(
        demo_page(server, lang, settings.retention_days),
        headers={
            "Content-Security-Policy": content_security_policy(server),
            "Cache-Control": "no-cache",
        },
    )


@router.get("/widget/{name}", include_in_schema=False)
def widget_file(name: str, request: Request) -> Response:
    """The built widget (gzipped when the browser takes it), the demo page's styles and icon."""
    if name not in FILES:
        raise HTTPException(404)
    path = STATIC / name
    if not path.is_file():
        raise HTTPException(404, "The widget is not built: run `make widget`")
    headers = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    packed = path.with_name(f"{name}.gz")
    if "gzip" in request.headers.get("accept-encoding", "") and packed.is_file():
        if packed.stat().st_mtime >= path.stat().st_mtime:
            path = packed
            headers["Content-Encoding"] = "gzip"
    stat = path.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={**headers, "ETag": etag})
    return FileResponse(path, media_type=FILES[name], headers={**headers, "ETag": etag},
                        stat_result=stat)  # fmt: skip
