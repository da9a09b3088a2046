"""The live board's files (`sinks/websocket/board/`), served by the broadcaster at `/board`.

Plain HTML, CSS and JavaScript committed in the repository: no build step, no CDN, so the page
works offline and from a laptop. Files are read once at start and served from memory; only the
names listed here are served (no path from the request ever reaches the file system).
The page gets a strict Content-Security-Policy: its own scripts and styles only, WebSocket
connections back to this server, no framing, and no Referer (the token may be in the URL).
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Final

from websockets.datastructures import Headers
from websockets.http11 import Response

BOARD_DIR: Final = Path(__file__).resolve().parent / "board"
BOARD_PATH: Final = "/board"
# URL path -> (file, content type).
FILES: Final = {
    BOARD_PATH: ("index.html", "text/html; charset=utf-8"),
    f"{BOARD_PATH}/": ("index.html", "text/html; charset=utf-8"),
    f"{BOARD_PATH}/board.css": ("board.css", "text/css; charset=utf-8"),
    f"{BOARD_PATH}/feed.js": ("feed.js", "text/javascript; charset=utf-8"),
    f"{BOARD_PATH}/render.js": ("render.js", "text/javascript; charset=utf-8"),
    f"{BOARD_PATH}/board.js": ("board.js", "text/javascript; charset=utf-8"),
}
SECURITY_HEADERS: Final = (
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
)


class StaticFiles:
    """The board's files in memory, answered as complete HTTP responses."""

    def __init__(self, root: Path = BOARD_DIR) -> None:
        self.bodies = {path: ((root / name).read_bytes(), kind) for path, (name, kind) in FILES.items()}

    def response(self, path: str) -> Response | None:
        """The response for `path`, or None when it is not one of the board's files."""
        found = self.bodies.get(path)
        if found is None:
            return None
        body, kind = found
        headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))), ("Connection", "close"),
                           *SECURITY_HEADERS])
        return Response(HTTPStatus.OK, "OK", headers, body)

    @staticmethod
    def redirect_to_board() -> Response:
        return Response(HTTPStatus.FOUND, "Found", Headers([("Location", BOARD_PATH), ("Content-Length", "0"),
                                                               ("Connection", "close")]), b"")
