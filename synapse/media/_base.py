"""Shared pieces of the media repository: identifiers, response headers, sending files."""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, TypeVar

import attr
from twisted.internet import defer, threads
from twisted.internet.interfaces import IPushProducer
from twisted.web.server import Request
from zope.interface import implementer

from synapse.http.server import set_cors_headers

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

R = TypeVar("R")

# The spec's media ID grammar: safe as a path component and in URLs.
_MEDIA_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")

# Content types the spec allows to be served with ``Content-Disposition: inline``.
INLINE_CONTENT_TYPES = frozenset(
    {
        "text/css",
        "text/plain",
        "text/csv",
        "application/json",
        "application/ld+json",
        "image/jpeg",
        "image/gif",
        "image/png",
        "image/apng",
        "image/webp",
        "image/avif",
        "video/mp4",
        "video/webm",
        "video/ogg",
        "video/quicktime",
        "audio/mp4",
        "audio/webm",
        "audio/aac",
        "audio/mpeg",
        "audio/ogg",
        "audio/wave",
        "audio/wav",
        "audio/x-wav",
        "audio/x-pn-wav",
        "audio/flac",
        "audio/x-flac",
    }
)

# The policy the spec recommends for media: nothing served here may run scripts.
CONTENT_SECURITY_POLICY = (
    b"sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf;"
    b" style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"
)

# Characters of an RFC 6266 ``filename="..."`` value sent as they are.
_PLAIN_FILENAME_RE = re.compile(r"^[\x20-\x7e]+$")

# How much of a file is read at a time when sending it.
FILE_CHUNK_SIZE = 64 * 1024


def is_valid_media_id(media_id: str) -> bool:
    """Whether ``media_id`` has only the characters the spec allows (``A-Za-z0-9_-``)."""
    return bool(_MEDIA_ID_RE.match(media_id))


def base_media_type(media_type: str) -> str:
    """``image/png`` for ``Image/PNG; charset=x``: the type without parameters, lowercased."""
    return media_type.split(";", 1)[0].strip().lower()


@attr.s(slots=True, frozen=True, auto_attribs=True)
class FileResponse:
    """A file of the media store to send: its path, type, size and the name to give it."""

    path: str
    media_type: str
    length: int
    upload_name: str | None
    # Thumbnails are always shown inline.
    force_inline: bool = False


def content_disposition(
    media_type: str, upload_name: str | None, force_inline: bool = False
) -> bytes:
    """``inline`` for the types the spec deems safe, ``attachment`` for the rest, with the
    file name as ``filename="..."`` when it is plain ASCII, else as RFC 5987 ``filename*``."""
    inline = force_inline or base_media_type(media_type) in INLINE_CONTENT_TYPES
    disposition = "inline" if inline else "attachment"
    if upload_name:
        if _PLAIN_FILENAME_RE.match(upload_name) and not any(c in upload_name for c in '"\\'):
            disposition += f'; filename="{upload_name}"'
        else:
            disposition += "; filename*=utf-8''" + urllib.parse.quote(upload_name, safe="")
    return disposition.encode("ascii")


def add_file_headers(request: Request, file: FileResponse) -> None:
    """The headers of a media response: type, size, disposition, and what keeps browsers
    and crawlers from treating the content as part of a page."""
    media_type = file.media_type
    if base_media_type(media_type).startswith("text/") and "charset" not in media_type.lower():
        media_type += "; charset=UTF-8"
    request.setHeader(b"Content-Type", media_type.encode("utf-8", errors="replace"))
    request.setHeader(b"Content-Length", str(file.length).encode("ascii"))
    request.setHeader(
        b"Content-Disposition",
        content_disposition(file.media_type, file.upload_name, file.force_inline),
    )
    request.setHeader(b"Content-Security-Policy", CONTENT_SECURITY_POLICY)
    request.setHeader(b"X-Content-Security-Policy", CONTENT_SECURITY_POLICY)
    request.setHeader(b"Cross-Origin-Resource-Policy", b"cross-origin")
    request.setHeader(b"X-Robots-Tag", b"noindex, nofollow, noarchive, noimageindex")
    # Media never changes once uploaded.
    request.setHeader(b"Cache-Control", b"public,max-age=86400,s-maxage=86400")
    set_cors_headers(request)


async def run_in_thread(hs: HomeServer, func: Callable[..., R], *args: Any) -> R:
    """Run blocking file or image work on the reactor's thread pool."""
    reactor = hs.get_reactor()
    return await threads.deferToThreadPool(reactor, reactor.getThreadPool(), func, *args)


@implementer(IPushProducer)
class ThreadedFileSender:
    """Streams a file to a consumer, reading each chunk on the thread pool so that the
    reactor never waits for the disk, and pausing while the consumer's buffer is full."""

    def __init__(self, hs: HomeServer) -> None:
        self._hs = hs
        self._file: IO[bytes] | None = None
        self._consumer: Request | None = None
        self._paused = False
        self._reading = False
        self._done: defer.Deferred[None] = defer.Deferred()

    def begin(self, file: IO[bytes], consumer: Request) -> defer.Deferred[None]:
        """Start sending; the Deferred fires once the file is sent (or the consumer left)."""
        self._file = file
        self._consumer = consumer
        consumer.registerProducer(self, True)
        self._read_next()
        return self._done

    def _read_next(self) -> None:
        if self._paused or self._reading or self._file is None:
            return
        self._reading = True
        d = defer.ensureDeferred(run_in_thread(self._hs, self._file.read, FILE_CHUNK_SIZE))
        d.addCallbacks(self._got_chunk, self._failed)

    def _got_chunk(self, data: bytes) -> None:
        self._reading = False
        if self._consumer is None:
            return
        if not data:
            self._finish(None)
            return
        self._consumer.write(data)
        self._read_next()

    def _failed(self, failure: Any) -> None:
        self._reading = False
        logger.error("Failed to read a media file: %s", failure.getErrorMessage())
        self._finish(failure)

    def _finish(self, failure: Any) -> None:
        consumer, self._consumer = self._consumer, None
        file, self._file = self._file, None
        if file is not None:
            file.close()
        if consumer is not None:
            consumer.unregisterProducer()
        if not self._done.called:
            if failure is None:
                self._done.callback(None)
            else:
                self._done.errback(failure)

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._read_next()

    def stopProducing(self) -> None:
        """The client went away: stop reading and let the sender finish quietly."""
        self._finish(None)


def _open_for_reading(path: str) -> IO[bytes]:
    return open(path, "rb")


async def respond_with_file(hs: HomeServer, request: Request, file: FileResponse) -> None:
    """Send ``file`` with the media headers and finish the request.

    A file that has disappeared from the media store is a 404 (and a warning).
    """
    from synapse.api.errors import NotFoundError

    try:
        handle = await run_in_thread(hs, _open_for_reading, file.path)
    except FileNotFoundError:
        logger.warning("Media file %s is missing from the media store", file.path)
        raise NotFoundError("Not found")

    if getattr(request, "_disconnected", False) or request.finished:
        handle.close()
        return
    request.setResponseCode(200)
    add_file_headers(request, file)
    if request.method == b"HEAD":
        handle.close()
        request.finish()
        return
    try:
        await ThreadedFileSender(hs).begin(handle, request)
    except Exception:
        # Part of the body is out: all that can be done is to drop the connection.
        request.loseConnection()
        return
    if not (getattr(request, "_disconnected", False) or request.finished):
        request.finish()
