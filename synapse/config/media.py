"""The ``media`` section: the media repository, thumbnails and URL previews."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any

import attr

from synapse.config._base import (
    Config,
    ConfigError,
    Path,
    abspath,
    quote_yaml,
    read_bool,
    read_duration,
    read_int,
    read_list,
    read_size,
    read_str,
    read_str_list,
)

THUMBNAIL_METHODS = ("crop", "scale")

DEFAULT_THUMBNAIL_SIZES: list[dict[str, Any]] = [
    {"width": 32, "height": 32, "method": "crop"},
    {"width": 96, "height": 96, "method": "crop"},
    {"width": 320, "height": 240, "method": "scale"},
    {"width": 640, "height": 480, "method": "scale"},
    {"width": 800, "height": 600, "method": "scale"},
]


@attr.s(slots=True, frozen=True, auto_attribs=True)
class MediaUploadLimit:
    """At most ``max_bytes`` uploaded by one user within ``time_period_ms``."""

    time_period_ms: int
    max_bytes: int


@attr.s(slots=True, frozen=True, auto_attribs=True)
class ThumbnailRequirement:
    width: int
    height: int
    method: str
    media_type: str = "image/jpeg"


def parse_ip_networks(
    values: list[str], path: Path
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """A list of CIDR ranges; a bad one is an error naming its index."""
    networks = []
    for i, value in enumerate(values):
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError as e:
            raise ConfigError(f"not an IP range: {e}", [*path, str(i)])
    return networks


class MediaConfig(Config):
    """``enable_media_repo``, ``media_store_path``, ``max_upload_size``, thumbnails and ``url_preview_*``."""

    section = "media"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        self.enable_media_repo = read_bool(config, "enable_media_repo", True)
        self.media_store_path = abspath(
            read_str(config, "media_store_path", os.path.join(data_dir_path, "media_store"))
        )
        self.uploads_path = abspath(
            read_str(config, "uploads_path", os.path.join(data_dir_path, "uploads"))
        )
        self.max_upload_size = read_size(config, "max_upload_size", "50M")
        self.max_image_pixels = read_size(config, "max_image_pixels", "32M")
        self.max_spider_size = read_size(config, "max_spider_size", "10M")
        self.prevent_media_downloads_from = read_str_list(config, "prevent_media_downloads_from")
        self.enable_authenticated_media = read_bool(config, "enable_authenticated_media", True)
        self.media_upload_limits: list[MediaUploadLimit] = []
        for i, limit in enumerate(read_list(config, "media_upload_limits")):
            lpath = ["media_upload_limits", str(i)]
            if not isinstance(limit, Mapping) or not {"time_period", "max_size"} <= set(limit):
                raise ConfigError("expected a mapping with time_period and max_size", lpath)
            self.media_upload_limits.append(
                MediaUploadLimit(
                    time_period_ms=read_duration(limit, "time_period", None, lpath),
                    max_bytes=read_size(limit, "max_size", 0, lpath),
                )
            )
        self.unused_expiration_time = read_duration(config, "unused_expiration_time", "24h")
        self.max_pending_media_uploads = read_int(config, "max_pending_media_uploads", 5, minimum=1)

        self.dynamic_thumbnails = read_bool(config, "dynamic_thumbnails", False)
        self.thumbnail_requirements: list[ThumbnailRequirement] = []
        for i, size in enumerate(
            read_list(config, "thumbnail_sizes", default=DEFAULT_THUMBNAIL_SIZES)
        ):
            tpath = ["thumbnail_sizes", str(i)]
            if not isinstance(size, Mapping):
                raise ConfigError("expected a mapping with width, height and method", tpath)
            method = read_str(size, "method", "scale", tpath)
            if method not in THUMBNAIL_METHODS:
                raise ConfigError("must be 'crop' or 'scale'", [*tpath, "method"])
            dims = [read_int(size, dim, None, tpath, minimum=1) for dim in ("width", "height")]
            if dims[0] is None or dims[1] is None:
                raise ConfigError("each thumbnail size needs a width and a height", tpath)
            self.thumbnail_requirements.append(
                ThumbnailRequirement(width=dims[0], height=dims[1], method=method)
            )

        self.url_preview_enabled = read_bool(config, "url_preview_enabled", False)
        blacklist = read_str_list(config, "url_preview_ip_range_blacklist")
        if self.url_preview_enabled and "url_preview_ip_range_blacklist" not in config:
            raise ConfigError(
                "url_preview_enabled needs url_preview_ip_range_blacklist (at least the private ranges)",
                ["url_preview_ip_range_blacklist"],
            )
        self.url_preview_ip_range_blacklist = parse_ip_networks(
            blacklist, ["url_preview_ip_range_blacklist"]
        )
        self.url_preview_ip_range_whitelist = parse_ip_networks(
            read_str_list(config, "url_preview_ip_range_whitelist"),
            ["url_preview_ip_range_whitelist"],
        )
        self.url_preview_url_blacklist = read_list(config, "url_preview_url_blacklist")
        self.url_preview_accept_language = read_str_list(
            config, "url_preview_accept_language", default=["en"]
        )

    def generate_config_section(
        self,
        config_dir_path: str,
        data_dir_path: str,
        server_name: str,
        generate_secrets: bool = False,
        report_stats: bool | None = None,
        **kwargs: Any,
    ) -> str:
        media_store = os.path.join(data_dir_path, "media_store")
        return f"""\
## Media repository ##

#enable_media_repo: true

# Where uploaded and downloaded media is kept.
media_store_path: {quote_yaml(media_store)}

# The largest upload accepted (K, M, G suffixes).
#max_upload_size: 50M
#max_image_pixels: 32M

# Per-user upload quotas: at most max_size uploaded in any time_period.
#media_upload_limits:
#  - time_period: 1h
#    max_size: 100M
#  - time_period: 1w
#    max_size: 500M

# Media IDs reserved with POST /_matrix/media/v1/create expire unused after this long;
# a user may hold this many unexpired reservations at once.
#unused_expiration_time: 24h
#max_pending_media_uploads: 5

# Make thumbnails of any size on request, not only the listed ones.
#dynamic_thumbnails: false
#thumbnail_sizes:
#  - width: 32
#    height: 32
#    method: crop
#  - width: 96
#    height: 96
#    method: crop
#  - width: 320
#    height: 240
#    method: scale
#  - width: 640
#    height: 480
#    method: scale
#  - width: 800
#    height: 600
#    method: scale

# URL previews fetch pages on behalf of clients; the blacklist must keep the
# server away from private networks.
#url_preview_enabled: false
#url_preview_ip_range_blacklist:
#  - '127.0.0.0/8'
#  - '10.0.0.0/8'
#  - '172.16.0.0/12'
#  - '192.168.0.0/16'
#  - '100.64.0.0/10'
#  - '169.254.0.0/16'
#  - '::1/128'
#  - 'fe80::/10'
#  - 'fc00::/7'
#url_preview_ip_range_whitelist: []
"""
