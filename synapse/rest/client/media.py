"""The authenticated media endpoints: ``/_matrix/client/v1/media/{download,thumbnail,config,preview_url}``.

They are written with the rest of the media repository, in ``synapse.rest.media``.
"""

from __future__ import annotations

from synapse.rest.media import register_client_servlets as register_servlets

__all__ = ["register_servlets"]
