"""Pieces of the media repository handler that HTTP tests cannot reach."""

from __future__ import annotations

import unittest

from twisted.internet import defer
from twisted.python.failure import Failure

from synapse.media._base import content_disposition, is_valid_media_id
from synapse.media.media_repository import MEDIA_ID_LENGTH, _uncancellable, random_media_id


class HelpersTestCase(unittest.TestCase):
    def test_media_ids(self) -> None:
        ids = {random_media_id() for _ in range(100)}
        self.assertEqual(len(ids), 100)
        for media_id in ids:
            self.assertEqual(len(media_id), MEDIA_ID_LENGTH)
            self.assertTrue(is_valid_media_id(media_id))
        for bad in ["", "a/b", "a.b", "..", "a b", "é"]:
            self.assertFalse(is_valid_media_id(bad), bad)

    def test_cancelling_leaves_the_work_running(self) -> None:
        work: defer.Deferred[int] = defer.Deferred()
        waiter = _uncancellable(work)
        waiter.cancel()
        failures: list[Failure] = []

        def _failed(f: Failure) -> None:
            failures.append(f)

        waiter.addErrback(_failed)
        self.assertIsInstance(failures[0].value, defer.CancelledError)
        self.assertFalse(work.called)
        work.callback(1)
        # Its result (or failure) goes nowhere, quietly.
        self.assertIsNone(work.result)

        work2: defer.Deferred[int] = defer.Deferred()
        results: list[int] = []
        _uncancellable(work2).addCallback(results.append)
        work2.callback(2)
        self.assertEqual(results, [2])

    def test_content_disposition(self) -> None:
        self.assertEqual(content_disposition("image/png", None), b"inline")
        self.assertEqual(
            content_disposition("IMAGE/PNG; x=y", "a.png"), b'inline; filename="a.png"'
        )
        self.assertEqual(
            content_disposition("text/html", "a.html"), b'attachment; filename="a.html"'
        )
        self.assertEqual(content_disposition("application/pdf", None), b"attachment")
        self.assertEqual(content_disposition("text/html", None, force_inline=True), b"inline")
        self.assertEqual(
            content_disposition("text/plain", "a\r\nb"), b"inline; filename*=utf-8''a%0D%0Ab"
        )
