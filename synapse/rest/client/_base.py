"""Path patterns for the Client-Server API servlets."""

from __future__ import annotations

import re
from collections.abc import Iterable

CLIENT_API_PREFIX = "/_matrix/client"


def client_patterns(
    path_regex: str,
    releases: Iterable[str] = ("r0", "v3"),
    unstable: bool = True,
    v1: bool = False,
) -> list[re.Pattern[str]]:
    """The compiled patterns of ``path_regex`` under each client API prefix.

    ``releases`` are the versioned prefixes (``/_matrix/client/v3``, ...); ``unstable``
    adds ``/_matrix/client/unstable``; ``v1`` adds the legacy ``/_matrix/client/api/v1``.
    ``path_regex`` starts with ``/`` and usually ends with ``$``.
    """
    prefixes = []
    if unstable:
        prefixes.append(f"{CLIENT_API_PREFIX}/unstable")
    if v1:
        prefixes.append(f"{CLIENT_API_PREFIX}/api/v1")
    prefixes.extend(f"{CLIENT_API_PREFIX}/{release}" for release in releases)
    return [re.compile("^" + re.escape(prefix) + path_regex) for prefix in prefixes]
