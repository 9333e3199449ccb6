"""Validate bodies against the Matrix spec's own OpenAPI definitions.

    assert_response_matches_spec(channel.json_body, "client-server/versions.yaml", "/versions", "get")

The spec data lives in ``tests/matrix-spec`` (a copy of the spec's ``data/``; or where
``MATRIX_SPEC_PATH`` says). ``$ref``s, within a file or across files, are resolved
before validation with JSON Schema 2020-12 (which OpenAPI 3.1 schemas are).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SPEC_ROOT = Path(
    os.environ.get("MATRIX_SPEC_PATH", Path(__file__).resolve().parent / "matrix-spec")
)
API_ROOT = SPEC_ROOT / "data" / "api"


def spec_available() -> bool:
    return API_ROOT.is_dir()


@functools.cache
def _load(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _follow_pointer(doc: Any, fragment: str) -> Any:
    node = doc
    for part in [p for p in fragment.lstrip("/").split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def resolve_refs(node: Any, base: Path, _stack: tuple[tuple[Path, str], ...] = ()) -> Any:
    """``node`` with every ``$ref`` replaced by its (resolved) target.

    Keys beside a ``$ref`` (e.g. ``description``) are kept. A cyclic reference is
    replaced by ``{}`` (anything), which only makes validation more permissive there.
    """
    if isinstance(node, list):
        return [resolve_refs(item, base, _stack) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node and isinstance(node["$ref"], str):
        file_part, _, fragment = node["$ref"].partition("#")
        target_file = (base.parent / file_part).resolve() if file_part else base
        key = (target_file, fragment)
        if key in _stack:
            return {}
        target = _follow_pointer(_load(target_file), fragment)
        resolved = resolve_refs(target, target_file, (*_stack, key))
        siblings = {k: resolve_refs(v, base, _stack) for k, v in node.items() if k != "$ref"}
        if isinstance(resolved, dict):
            return {**resolved, **siblings}
        return resolved
    return {k: resolve_refs(v, base, _stack) for k, v in node.items()}


def _operation(api_file: str, path: str, method: str) -> tuple[Any, Path]:
    file_path = (API_ROOT / api_file).resolve()
    doc = _load(file_path)
    try:
        operation = doc["paths"][path][method.lower()]
    except KeyError:
        raise KeyError(f"No {method.upper()} {path} in {api_file}")
    return operation, file_path


def response_schema(
    api_file: str, path: str, method: str, status: int | str = 200
) -> dict[str, Any]:
    """The resolved JSON schema of one response of an operation.

    ``api_file`` is relative to ``data/api`` (``client-server/versions.yaml``); ``path``
    as written in the file (``/versions``, ``/profile/{userId}``).
    """
    operation, file_path = _operation(api_file, path, method)
    response = resolve_refs(operation["responses"][str(status)], file_path)
    return response["content"]["application/json"]["schema"]


def request_schema(api_file: str, path: str, method: str) -> dict[str, Any]:
    """The resolved JSON schema of an operation's request body."""
    operation, file_path = _operation(api_file, path, method)
    body = resolve_refs(operation["requestBody"], file_path)
    return body["content"]["application/json"]["schema"]


def spec_errors(body: Any, schema: dict[str, Any]) -> list[str]:
    """Every way ``body`` breaks ``schema``, as readable lines (empty if it matches)."""
    validator = Draft202012Validator(schema)
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(body)
    ]


def assert_response_matches_spec(
    body: Any, api_file: str, path: str, method: str, status: int | str = 200
) -> None:
    """Raise ``AssertionError`` naming the first mismatch if ``body`` is not what the spec
    says the operation answers with ``status``."""
    schema = response_schema(api_file, path, method, status)
    error = best_match(Draft202012Validator(schema).iter_errors(body))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "<root>"
        raise AssertionError(
            f"Response to {method.upper()} {path} does not match {api_file} ({status}): {where}: {error.message}"
        )
