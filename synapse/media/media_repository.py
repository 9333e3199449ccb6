"""``MediaRepository``: uploads, downloads, thumbnails and the admin operations on media.

Servlets parse requests and send what this returns (``FileResponse``); the rows are in
``MediaStore`` and the files in the media store directory (``MediaStorage``).
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Collection, Iterable
from http import HTTPStatus
from typing import IO, TYPE_CHECKING, TypeVar

import attr
from twisted.internet import defer
from twisted.python.failure import Failure

from synapse.api.errors import Codes, LimitExceededError, NotFoundError, SynapseError
from synapse.api.ratelimiting import Ratelimiter
from synapse.media._base import FileResponse, base_media_type, is_valid_media_id, run_in_thread
from synapse.media.media_storage import MediaFilePaths, MediaStorage
from synapse.media.thumbnailer import (
    THUMBNAILABLE_TYPES,
    Thumbnailer,
    ThumbnailError,
    ThumbnailTooLarge,
    animated_thumbnail_type,
    static_thumbnail_type,
    thumbnail_size,
)
from synapse.storage.databases.main.media_repository import LocalMedia, ThumbnailInfo
from synapse.types import Requester
from synapse.util.cancellation import shield_from_cancellation
from synapse.util.linearizer import Linearizer

if TYPE_CHECKING:
    from synapse.server import HomeServer

logger = logging.getLogger(__name__)

R = TypeVar("R")

MEDIA_ID_LENGTH = 24
_MEDIA_ID_ALPHABET = string.ascii_letters

# How long a download waits for content that is not uploaded yet, by default and at most.
DEFAULT_MAX_TIMEOUT_MS = 20_000
MAXIMUM_ALLOWED_MAX_TIMEOUT_MS = 60_000
# How often a waiting download looks again (uploads by another process are seen this way).
_UPLOAD_POLL_INTERVAL_S = 0.5

# The types a thumbnail response may have (the spec's list).
THUMBNAIL_CONTENT_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/apng", "image/gif", "image/webp"}
)

# Download times are written in batches, this often.
_ACCESS_TIME_FLUSH_INTERVAL_MS = 60_000


def _uncancellable(d: defer.Deferred[R]) -> defer.Deferred[R]:
    """A Deferred with ``d``'s result; cancelling it leaves ``d`` to run to its end."""

    def _abandoned(result: R | Failure) -> None:
        if isinstance(result, Failure):
            logger.info("Abandoned media work failed: %s", result.value)

    return shield_from_cancellation(d, _abandoned)


def random_media_id() -> str:
    return "".join(secrets.choice(_MEDIA_ID_ALPHABET) for _ in range(MEDIA_ID_LENGTH))


@attr.s(slots=True, frozen=True, auto_attribs=True)
class ThumbnailSpec:
    """A thumbnail to serve: its real size, method and type."""

    width: int
    height: int
    method: str
    type: str


def select_thumbnail(
    candidates: Iterable[ThumbnailSpec], width: int, height: int, method: str
) -> ThumbnailSpec | None:
    """The candidate that best answers a request for ``width`` x ``height`` by ``method``.

    Thumbnails of the requested method come first. For ``crop``, the smallest thumbnail
    at least as large as the request, with the closest aspect ratio; for ``scale``, the
    smallest one that reaches the requested width or height. Failing that, the largest.
    """
    candidates = list(candidates)
    if not candidates:
        return None
    same_method = [c for c in candidates if c.method == method]
    pool = same_method or candidates

    def key(c: ThumbnailSpec) -> tuple[int, int, int]:
        if method == "crop":
            big_enough = c.width >= width and c.height >= height
        else:
            big_enough = c.width >= width or c.height >= height
        aspect = abs(c.width * height - c.height * width) if method == "crop" else 0
        area = c.width * c.height
        # Big enough ones: smallest first; the others: largest first.
        return (0 if big_enough else 1, aspect, area if big_enough else -area)

    return min(pool, key=key)


class MediaRepository:
    """Local media: the only media there is until federation fetches remote media."""

    def __init__(self, hs: HomeServer) -> None:
        self.hs = hs
        self.server_name = hs.hostname
        self.clock = hs.get_clock()
        self.store = hs.get_datastores().main.media
        config = hs.config.media
        self.max_upload_size: int = config.max_upload_size
        self.max_image_pixels: int = config.max_image_pixels
        self.dynamic_thumbnails: bool = config.dynamic_thumbnails
        self.thumbnail_requirements = list(config.thumbnail_requirements)
        self.unused_expiration_time: int = config.unused_expiration_time
        self.max_pending_media_uploads: int = config.max_pending_media_uploads
        self.upload_limits = list(config.media_upload_limits)
        self.filepaths = MediaFilePaths(config.media_store_path)
        self.media_storage = MediaStorage(hs, self.filepaths)
        self._create_limiter = Ratelimiter(
            hs.get_datastores().main, self.clock, hs.config.ratelimiting.rc_media_create
        )
        self._upload_linearizer = Linearizer("media_upload")
        self._thumbnail_linearizer = Linearizer("media_thumbnail")
        self._upload_waiters: dict[str, list[defer.Deferred[None]]] = {}
        self._recently_accessed: set[str] = set()
        self._access_flusher = self.clock.looping_call(
            self._flush_access_times, _ACCESS_TIME_FLUSH_INTERVAL_MS
        )

    def mxc_uri(self, media_id: str) -> str:
        return f"mxc://{self.server_name}/{media_id}"

    # --- uploads --------------------------------------------------------------------------

    def check_upload_size(self, length: int | None) -> None:
        """413 M_TOO_LARGE for content over ``max_upload_size``."""
        if length is not None and length > self.max_upload_size:
            raise SynapseError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"Upload request body is too large (limit {self.max_upload_size} bytes)",
                Codes.TOO_LARGE,
            )

    async def check_upload_quota(self, user_id: str, length: int) -> None:
        """403 M_FORBIDDEN if ``length`` more bytes would exceed one of the user's
        ``media_upload_limits``."""
        now = self.clock.time_msec()
        for limit in self.upload_limits:
            used = await self.store.get_media_uploaded_size_for_user(
                user_id, now - limit.time_period_ms
            )
            if used + length > limit.max_bytes:
                raise SynapseError(
                    HTTPStatus.FORBIDDEN, "Media upload limit exceeded", Codes.FORBIDDEN
                )

    async def create_content(
        self,
        media_type: str,
        upload_name: str | None,
        content: IO[bytes],
        content_length: int,
        requester: Requester,
    ) -> str:
        """Store uploaded content under a new media ID; returns its ``mxc://`` URI."""
        self.check_upload_size(content_length)
        await self.check_upload_quota(requester.user.to_string(), content_length)
        media_id = random_media_id()
        path = self.filepaths.local_media_filepath(media_id)
        length, sha256 = await self.media_storage.store_file(path, content)
        self.check_upload_size(length)
        try:
            await self.store.store_local_media(
                media_id=media_id,
                media_type=media_type,
                time_now_ms=self.clock.time_msec(),
                upload_name=upload_name,
                media_length=length,
                user_id=requester.user.to_string(),
                sha256=sha256,
            )
        except BaseException:
            await self.media_storage.delete_local_media(media_id)
            raise
        logger.info("Stored local media %s (%d bytes, %s)", media_id, length, media_type)
        await self._pregenerate_thumbnails(media_id, media_type)
        return self.mxc_uri(media_id)

    async def create_media_id(self, requester: Requester) -> tuple[str, int]:
        """Reserve a media ID for content uploaded later: ``(mxc URI, unused_expires_at)``.

        Limited by ``rc_media_create`` and by ``max_pending_media_uploads`` unexpired
        reservations per user (both 429 M_LIMIT_EXCEEDED).
        """
        await self._create_limiter.ratelimit(requester)
        user_id = requester.user.to_string()
        now = self.clock.time_msec()
        pending = await self.store.count_pending_media(user_id, now - self.unused_expiration_time)
        if pending >= self.max_pending_media_uploads:
            raise LimitExceededError(msg="Too many pending media uploads")
        media_id = random_media_id()
        await self.store.store_local_media_id(media_id, now, user_id)
        return self.mxc_uri(media_id), now + self.unused_expiration_time

    def _is_expired(self, media: LocalMedia) -> bool:
        """Whether a reserved media ID was left unused for too long."""
        return (
            not media.is_uploaded
            and media.created_ts + self.unused_expiration_time < self.clock.time_msec()
        )

    async def update_content(
        self,
        media_id: str,
        media_type: str,
        upload_name: str | None,
        content: IO[bytes],
        content_length: int,
        requester: Requester,
    ) -> None:
        """Upload the content of a media ID reserved by ``create_media_id``.

        404 for an unknown or expired ID, 403 for another user's, 409
        M_CANNOT_OVERWRITE_MEDIA once it has content, 413 for content too large.
        """
        self.check_upload_size(content_length)
        user_id = requester.user.to_string()
        async with self._upload_linearizer.queue(media_id):
            media = (
                await self.store.get_local_media(media_id) if is_valid_media_id(media_id) else None
            )
            if media is None or self._is_expired(media):
                raise NotFoundError("Unknown media ID")
            if media.user_id != user_id:
                raise SynapseError(
                    HTTPStatus.FORBIDDEN,
                    "You may not upload to a media ID you did not create",
                    Codes.FORBIDDEN,
                )
            if media.is_uploaded:
                raise SynapseError(
                    HTTPStatus.CONFLICT,
                    "Media ID already has content",
                    Codes.CANNOT_OVERWRITE_MEDIA,
                )
            await self.check_upload_quota(user_id, content_length)
            path = self.filepaths.local_media_filepath(media_id)
            length, sha256 = await self.media_storage.store_file(path, content)
            self.check_upload_size(length)
            updated = await self.store.update_local_media(
                media_id, media_type, upload_name, length, user_id, sha256
            )
            if not updated:
                raise SynapseError(
                    HTTPStatus.CONFLICT,
                    "Media ID already has content",
                    Codes.CANNOT_OVERWRITE_MEDIA,
                )
        logger.info("Stored local media %s (%d bytes, %s)", media_id, length, media_type)
        self._wake_upload_waiters(media_id)
        await self._pregenerate_thumbnails(media_id, media_type)

    def _wake_upload_waiters(self, media_id: str) -> None:
        for waiter in self._upload_waiters.pop(media_id, []):
            if not waiter.called:
                waiter.callback(None)

    async def _wait_for_upload(self, media_id: str, seconds: float) -> None:
        """Sleep until ``media_id`` is uploaded here, or ``seconds`` pass."""
        waiter: defer.Deferred[None] = defer.Deferred()
        self._upload_waiters.setdefault(media_id, []).append(waiter)

        def _time_out() -> None:
            if not waiter.called:
                waiter.callback(None)

        timer = self.clock.call_later(seconds, _time_out)
        try:
            await waiter
        finally:
            if timer.active():
                timer.cancel()
            waiters = self._upload_waiters.get(media_id)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._upload_waiters[media_id]

    # --- downloads ------------------------------------------------------------------------

    async def get_local_media_info(self, media_id: str, max_timeout_ms: int) -> LocalMedia:
        """The uploaded media ``media_id``, waiting up to ``max_timeout_ms`` for content
        that was reserved but not uploaded yet (then 504 M_NOT_YET_UPLOADED).

        Unknown, expired and quarantined media are 404 M_NOT_FOUND.
        """
        if not is_valid_media_id(media_id):
            raise NotFoundError("Unknown media")
        timeout_ms = min(max(max_timeout_ms, 0), MAXIMUM_ALLOWED_MAX_TIMEOUT_MS)
        deadline = self.clock.time_msec() + timeout_ms
        while True:
            media = await self.store.get_local_media(media_id)
            if media is None or media.quarantined_by is not None or self._is_expired(media):
                raise NotFoundError("Unknown media")
            if media.is_uploaded:
                return media
            remaining_ms = deadline - self.clock.time_msec()
            if remaining_ms <= 0:
                raise SynapseError(
                    HTTPStatus.GATEWAY_TIMEOUT,
                    "Content has not yet been uploaded",
                    Codes.NOT_YET_UPLOADED,
                )
            await self._wait_for_upload(media_id, min(_UPLOAD_POLL_INTERVAL_S, remaining_ms / 1000))

    async def get_local_media(
        self, media_id: str, name: str | None, max_timeout_ms: int
    ) -> FileResponse:
        """The file of local media ``media_id``; ``name`` overrides its upload name."""
        media = await self.get_local_media_info(media_id, max_timeout_ms)
        self._recently_accessed.add(media_id)
        assert media.media_length is not None
        return FileResponse(
            path=self.filepaths.local_media_filepath(media_id),
            media_type=media.media_type or "application/octet-stream",
            length=media.media_length,
            upload_name=name if name else media.upload_name,
        )

    async def get_remote_media(
        self, server_name: str, media_id: str, name: str | None, max_timeout_ms: int
    ) -> FileResponse:
        """Media of another server. Fetching it needs federation, which is not built yet:
        until then this is 404 M_NOT_FOUND."""
        raise NotFoundError("Remote media is not available on this server")

    async def get_remote_thumbnail(
        self, server_name: str, media_id: str, width: int, height: int, method: str
    ) -> FileResponse:
        """A thumbnail of another server's media: 404 until federation fetches remote media."""
        raise NotFoundError("Remote media is not available on this server")

    async def _flush_access_times(self) -> None:
        media_ids, self._recently_accessed = self._recently_accessed, set()
        if media_ids:
            await self.store.update_cached_last_access_time(media_ids, self.clock.time_msec())

    # --- thumbnails -----------------------------------------------------------------------

    def _configured_specs(self, image: Thumbnailer, output_type: str) -> list[ThumbnailSpec]:
        """The configured thumbnail sizes, each at its real size for this image."""
        return self._specs(
            image,
            output_type,
            [(r.width, r.height, r.method) for r in self.thumbnail_requirements],
        )

    @staticmethod
    def _specs(
        image: Thumbnailer, output_type: str, sizes: Iterable[tuple[int, int, str]]
    ) -> list[ThumbnailSpec]:
        specs: dict[ThumbnailSpec, None] = {}
        for req_width, req_height, method in sizes:
            t_width, t_height = thumbnail_size(
                image.width, image.height, req_width, req_height, method
            )
            specs[ThumbnailSpec(t_width, t_height, method, output_type)] = None
        return list(specs)

    async def get_local_thumbnail(
        self,
        media_id: str,
        width: int,
        height: int,
        method: str,
        animated: bool,
        max_timeout_ms: int,
    ) -> FileResponse:
        """A thumbnail of local media, made now if it does not exist yet.

        Content that is no image this server can read is 400 M_UNKNOWN; an image with
        more than ``max_image_pixels`` pixels is 413 M_TOO_LARGE. An image no larger
        than the thumbnail asked for is served as it is (unless it is animated and
        ``animated`` is false).
        """
        media = await self.get_local_media_info(media_id, max_timeout_ms)
        media_type = base_media_type(media.media_type or "")
        if media_type not in THUMBNAILABLE_TYPES:
            raise SynapseError(
                HTTPStatus.BAD_REQUEST,
                "Cannot generate thumbnails for the requested content",
                Codes.UNKNOWN,
            )
        self._recently_accessed.add(media_id)
        # Image work on a thread cannot be stopped: a client that goes away does not
        # cancel it (the image stays open until the thread is done with it).
        return await _uncancellable(
            defer.ensureDeferred(
                self._local_thumbnail(media, media_type, width, height, method, animated)
            )
        )

    async def _local_thumbnail(
        self,
        media: LocalMedia,
        media_type: str,
        width: int,
        height: int,
        method: str,
        animated: bool,
    ) -> FileResponse:
        media_id = media.media_id
        path = self.filepaths.local_media_filepath(media_id)
        image = await self._open_image(path)
        try:
            want_animated = animated and image.animated
            output_type = (
                animated_thumbnail_type() if want_animated else static_thumbnail_type(media_type)
            )
            if self.dynamic_thumbnails:
                candidates = self._specs(image, output_type, [(width, height, method)])
            else:
                candidates = self._configured_specs(image, output_type)
            spec = select_thumbnail(candidates, width, height, method)
            if spec is None:
                # No thumbnail_sizes are configured.
                raise SynapseError(
                    HTTPStatus.BAD_REQUEST,
                    "Cannot generate thumbnails for the requested content",
                    Codes.UNKNOWN,
                )
            if (
                (spec.width, spec.height) == (image.width, image.height)
                and (want_animated or not image.animated)
                and not image.rotated
                and media_type in THUMBNAIL_CONTENT_TYPES
            ):
                # Thumbnailing would not make it smaller: the original is the answer.
                assert media.media_length is not None
                return FileResponse(
                    path=path,
                    media_type=media_type,
                    length=media.media_length,
                    upload_name="thumbnail." + media_type.partition("/")[2],
                    force_inline=True,
                )
            return await self._get_or_generate_thumbnail(media_id, image, spec, want_animated)
        finally:
            image.close()

    async def _open_image(self, path: str) -> Thumbnailer:
        try:
            return await run_in_thread(self.hs, Thumbnailer, path, self.max_image_pixels)
        except ThumbnailTooLarge:
            raise SynapseError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "Content is too large to thumbnail",
                Codes.TOO_LARGE,
            )
        except FileNotFoundError:
            logger.warning("Media file %s is missing from the media store", path)
            raise NotFoundError("Unknown media")
        except ThumbnailError as e:
            logger.info("Cannot thumbnail %s: %s", path, e)
            raise SynapseError(
                HTTPStatus.BAD_REQUEST,
                "Cannot generate thumbnails for the requested content",
                Codes.UNKNOWN,
            )

    def _thumbnail_response(self, media_id: str, info: ThumbnailInfo) -> FileResponse:
        path = self.filepaths.local_media_thumbnail(
            media_id, info.width, info.height, info.type, info.method
        )
        extension = info.type.partition("/")[2]
        return FileResponse(
            path=path,
            media_type=info.type,
            length=info.length,
            upload_name=f"thumbnail.{extension}",
            force_inline=True,
        )

    async def _get_or_generate_thumbnail(
        self, media_id: str, image: Thumbnailer, spec: ThumbnailSpec, animated: bool
    ) -> FileResponse:
        key = (media_id, spec)
        async with self._thumbnail_linearizer.queue(key):
            for info in await self.store.get_local_media_thumbnails(media_id):
                if (info.width, info.height, info.method, info.type) == (
                    spec.width,
                    spec.height,
                    spec.method,
                    spec.type,
                ):
                    path = self.filepaths.local_media_thumbnail(
                        media_id, info.width, info.height, info.type, info.method
                    )
                    if await self.media_storage.exists(path):
                        return self._thumbnail_response(media_id, info)
            info = await self._generate_thumbnail(media_id, image, spec, animated)
            return self._thumbnail_response(media_id, info)

    async def _generate_thumbnail(
        self, media_id: str, image: Thumbnailer, spec: ThumbnailSpec, animated: bool
    ) -> ThumbnailInfo:
        make = image.crop if spec.method == "crop" else image.scale
        try:
            data = await run_in_thread(self.hs, make, spec.width, spec.height, spec.type, animated)
        except ThumbnailError as e:
            logger.warning("Failed to thumbnail media %s: %s", media_id, e)
            raise SynapseError(
                HTTPStatus.BAD_REQUEST,
                "Cannot generate thumbnails for the requested content",
                Codes.UNKNOWN,
            )
        path = self.filepaths.local_media_thumbnail(
            media_id, spec.width, spec.height, spec.type, spec.method
        )
        length, _ = await self.media_storage.store_file(path, data)
        info = ThumbnailInfo(spec.width, spec.height, spec.type, spec.method, length)
        await self.store.store_local_thumbnail(media_id, info)
        return info

    async def _pregenerate_thumbnails(self, media_id: str, media_type: str) -> None:
        """Make the configured thumbnails of a new image (unless they are made on request).

        A failure is logged: the upload itself has succeeded.
        """
        media_type = base_media_type(media_type)
        if self.dynamic_thumbnails or media_type not in THUMBNAILABLE_TYPES:
            return
        path = self.filepaths.local_media_filepath(media_id)
        try:
            image = await run_in_thread(self.hs, Thumbnailer, path, self.max_image_pixels)
        except (ThumbnailError, OSError) as e:
            logger.info("Not thumbnailing media %s: %s", media_id, e)
            return
        try:
            output_type = static_thumbnail_type(media_type)
            for spec in self._configured_specs(image, output_type):
                if (
                    (spec.width, spec.height) == (image.width, image.height)
                    and not (image.animated or image.rotated)
                    and media_type in THUMBNAIL_CONTENT_TYPES
                ):
                    continue
                async with self._thumbnail_linearizer.queue((media_id, spec)):
                    await self._generate_thumbnail(media_id, image, spec, False)
        except SynapseError:
            pass
        except Exception:
            logger.exception("Failed to make the thumbnails of media %s", media_id)
        finally:
            image.close()

    # --- admin ------------------------------------------------------------------------------

    async def delete_local_media_ids(self, media_ids: Collection[str]) -> list[str]:
        """Delete the files and rows of ``media_ids``; returns those that existed."""
        deleted: list[str] = []
        for media_id in media_ids:
            media = await self.store.get_local_media(media_id)
            if media is None:
                continue
            await self.media_storage.delete_local_media(media_id)
            await self.store.delete_local_media([media_id])
            self._recently_accessed.discard(media_id)
            deleted.append(media_id)
        if deleted:
            logger.info("Deleted %d pieces of local media", len(deleted))
        return deleted

    async def delete_old_local_media(
        self, before_ts: int, size_gt: int = 0, keep_profiles: bool = True
    ) -> list[str]:
        """Delete local media last used before ``before_ts`` and larger than ``size_gt``
        (leaving quarantined and protected media, and avatars with ``keep_profiles``)."""
        await self._flush_access_times()
        media_ids = await self.store.get_local_media_ids_before(before_ts, size_gt, keep_profiles)
        return await self.delete_local_media_ids(media_ids)
