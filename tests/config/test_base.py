"""The typed readers every config section uses: lenient booleans, durations, sizes, types."""

from __future__ import annotations

import unittest
from typing import Any

from synapse.config._base import (
    ConfigError,
    parse_bool,
    parse_duration,
    parse_size,
    read_bool,
    read_dict,
    read_duration,
    read_float,
    read_int,
    read_list,
    read_str,
    read_str_list,
)


class ParseBoolTestCase(unittest.TestCase):
    def test_true_values(self) -> None:
        for value in (True, 1, 2, "true", "True", "TRUE", "yes", "y", "on", "t", "1", " true "):
            self.assertIs(parse_bool(value), True, value)

    def test_false_values(self) -> None:
        for value in (False, 0, None, "", "false", "False", "no", "n", "off", "f", "0"):
            self.assertIs(parse_bool(value), False, value)

    def test_garbage_is_an_error_naming_the_key(self) -> None:
        with self.assertRaises(ConfigError) as cm:
            read_bool({"enable_registration": "maybe"}, "enable_registration", False)
        self.assertIn("enable_registration", str(cm.exception))
        self.assertIn("maybe", str(cm.exception))
        with self.assertRaises(ConfigError) as cm:
            read_bool({"x": [True]}, "x", False, ["outer"])
        self.assertEqual(cm.exception.path, ["outer", "x"])

    def test_absent_is_default_and_null_is_false(self) -> None:
        self.assertIs(read_bool({}, "x", True), True)
        self.assertIs(read_bool({"x": None}, "x", True), False)


class DurationTestCase(unittest.TestCase):
    def test_units(self) -> None:
        self.assertEqual(parse_duration(1500), 1500)
        self.assertEqual(parse_duration("1500"), 1500)
        self.assertEqual(parse_duration("250ms"), 250)
        self.assertEqual(parse_duration("30s"), 30_000)
        self.assertEqual(parse_duration("5m"), 300_000)
        self.assertEqual(parse_duration("1h"), 3_600_000)
        self.assertEqual(parse_duration("7d"), 7 * 86_400_000)
        self.assertEqual(parse_duration("2w"), 14 * 86_400_000)
        self.assertEqual(parse_duration("1y"), 365 * 86_400_000)

    def test_bad_durations(self) -> None:
        bad: list[Any] = ["1 fortnight", "h", "-5s", [], True, -1]
        for value in bad:
            with self.assertRaises(ConfigError, msg=repr(value)):
                parse_duration(value, ["k"])

    def test_read_duration_default_string(self) -> None:
        self.assertEqual(read_duration({}, "k", "1d"), 86_400_000)
        self.assertEqual(read_duration({"k": "2h"}, "k", "1d"), 7_200_000)


class SizeTestCase(unittest.TestCase):
    def test_units(self) -> None:
        self.assertEqual(parse_size(100), 100)
        self.assertEqual(parse_size("100"), 100)
        self.assertEqual(parse_size("10K"), 10 * 1024)
        self.assertEqual(parse_size("50M"), 50 * 1024 * 1024)
        self.assertEqual(parse_size("50m"), 50 * 1024 * 1024)
        self.assertEqual(parse_size("1G"), 1024**3)
        self.assertEqual(parse_size("2T"), 2 * 1024**4)

    def test_bad_sizes(self) -> None:
        bad: list[Any] = ["50Q", "big", None, False, {}]
        for value in bad:
            with self.assertRaises(ConfigError, msg=repr(value)):
                parse_size(value)


class TypedReadersTestCase(unittest.TestCase):
    def test_int(self) -> None:
        self.assertEqual(read_int({"k": 5}, "k", 1), 5)
        self.assertEqual(read_int({"k": "5"}, "k", 1), 5)
        self.assertEqual(read_int({}, "k", 1), 1)
        for bad in ("five", 1.5, True, [1]):
            with self.assertRaises(ConfigError) as cm:
                read_int({"k": bad}, "k", 1, ["section"])
            self.assertEqual(cm.exception.path, ["section", "k"])
            self.assertIn("section.k", str(cm.exception))
        with self.assertRaises(ConfigError):
            read_int({"k": 0}, "k", 1, minimum=1)

    def test_required(self) -> None:
        with self.assertRaises(ConfigError) as cm:
            read_str({}, "server_name")
        self.assertEqual(cm.exception.path, ["server_name"])
        self.assertIn("missing", str(cm.exception))

    def test_float(self) -> None:
        self.assertEqual(read_float({"k": 1}, "k", 0.5), 1.0)
        self.assertEqual(read_float({"k": "0.25"}, "k", 0.5), 0.25)
        with self.assertRaises(ConfigError):
            read_float({"k": "fast"}, "k", 0.5)

    def test_str(self) -> None:
        self.assertEqual(read_str({"k": "v"}, "k", "d"), "v")
        with self.assertRaises(ConfigError) as cm:
            read_str({"k": 5}, "k", "d")
        self.assertIn("expected a string", str(cm.exception))

    def test_collections(self) -> None:
        self.assertEqual(read_list({}, "k"), [])
        self.assertEqual(read_list({"k": None}, "k"), [])
        self.assertEqual(read_dict({"k": {"a": 1}}, "k"), {"a": 1})
        with self.assertRaises(ConfigError):
            read_list({"k": "a"}, "k")
        with self.assertRaises(ConfigError):
            read_dict({"k": [1]}, "k")
        with self.assertRaises(ConfigError) as cm:
            read_str_list({"k": ["a", 2]}, "k")
        self.assertEqual(cm.exception.path, ["k", "1"])
