"""The media repository: uploads, downloads and thumbnails of local media."""
