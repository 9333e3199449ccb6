"""``register_new_matrix_user``: create an account through the shared-secret admin API."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import yaml

from synapse.rest.admin.register import compute_registration_mac

DEFAULT_SERVER_URL = "http://localhost:8008"
REGISTER_PATH = "/_synapse/admin/v1/register"


class RegistrationError(Exception):
    """The server refused the registration; ``errcode`` is its Matrix errcode, if any."""

    def __init__(self, msg: str, errcode: str | None = None) -> None:
        super().__init__(msg)
        self.errcode = errcode


def _request(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode("utf-8") if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method="POST" if body is not None else "GET",
        headers={"Content-Type": "application/json"},
    )
    # Local admin tooling: a self-signed certificate on localhost is the common case.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as resp:
            return json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        try:
            err = json.loads(e.read().decode("utf-8"))
        except ValueError:
            err = {}
        raise RegistrationError(
            f"{e.code}: {err.get('error', e.reason)}", err.get("errcode")
        ) from None
    except urllib.error.URLError as e:
        raise RegistrationError(f"Could not reach {url}: {e.reason}") from None


def request_registration(
    user: str,
    password: str,
    server_location: str,
    shared_secret: str,
    admin: bool = False,
    user_type: str | None = None,
    exists_ok: bool = False,
    _print: Callable[[str], None] = print,
) -> None:
    """Register ``user`` on the server at ``server_location``; raise RegistrationError."""
    url = server_location.rstrip("/") + REGISTER_PATH
    nonce = _request(url)["nonce"]
    mac = compute_registration_mac(shared_secret, nonce, user, password, admin, user_type)
    body: dict[str, Any] = {
        "nonce": nonce,
        "username": user,
        "displayname": user,
        "password": password,
        "mac": mac,
        "admin": admin,
        "user_type": user_type,
    }
    _print("Sending registration request...")
    try:
        _request(url, body)
    except RegistrationError as e:
        if exists_ok and e.errcode == "M_USER_IN_USE":
            _print("User already exists. Skipping.")
            return
        raise
    _print("Success!")


def _server_url_from_config(config: dict[str, Any]) -> str | None:
    """The URL of the first plain-HTTP client listener of the config, if any."""
    for listener in config.get("listeners") or []:
        if not isinstance(listener, dict) or listener.get("type", "http") != "http":
            continue
        if listener.get("tls"):
            continue
        names = {
            name
            for res in listener.get("resources") or []
            if isinstance(res, dict)
            for name in res.get("names") or []
        }
        if "client" in names and listener.get("port"):
            return f"http://localhost:{listener['port']}"
    return None


def _read_config(path: str) -> dict[str, Any]:
    with open(path) as f:
        config = yaml.safe_load(f)
    if not isinstance(config, dict):
        raise ValueError(f"{path} is not a YAML mapping")
    return config


def _shared_secret_from_config(config: dict[str, Any], config_path: str) -> str | None:
    secret = config.get("registration_shared_secret")
    if secret:
        return str(secret)
    secret_path = config.get("registration_shared_secret_path")
    if secret_path:
        path = os.path.join(os.path.dirname(os.path.abspath(config_path)), secret_path)
        with open(path) as f:
            return f.read().strip()
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Used to register new users with a given homeserver when"
        " registration has been disabled. The homeserver must have"
        " registration_shared_secret (or registration_shared_secret_path) configured."
    )
    parser.add_argument("-u", "--user", default=None, help="Local part of the new user.")
    password_group = parser.add_mutually_exclusive_group()
    password_group.add_argument("-p", "--password", default=None, help="New password for user.")
    password_group.add_argument(
        "--password-file",
        default=None,
        help="File holding the new password for user (its first line).",
    )
    parser.add_argument(
        "-t",
        "--user_type",
        default=None,
        help="User type as specified in synapse.api.constants.UserTypes",
    )
    admin_group = parser.add_mutually_exclusive_group()
    admin_group.add_argument(
        "-a", "--admin", action="store_true", help="Register new user as an admin."
    )
    admin_group.add_argument(
        "--no-admin", action="store_true", help="Register new user as a regular user."
    )
    parser.add_argument(
        "--exists-ok", action="store_true", help="Do not fail if the user already exists."
    )
    secret_group = parser.add_mutually_exclusive_group(required=True)
    secret_group.add_argument(
        "-c",
        "--config",
        type=str,
        help="Path to the server config file, which holds the shared secret.",
    )
    secret_group.add_argument(
        "-k", "--shared-secret", help="Shared secret as defined in the config."
    )
    parser.add_argument(
        "server_url",
        nargs="?",
        default=None,
        help="URL of the homeserver. By default taken from the client listener of the"
        f" config file, else {DEFAULT_SERVER_URL}.",
    )
    args = parser.parse_args(argv)

    config: dict[str, Any] = {}
    if args.config:
        try:
            config = _read_config(args.config)
            secret = _shared_secret_from_config(config, args.config)
        except (OSError, ValueError, yaml.YAMLError) as e:
            print(f"Could not read the config: {e}", file=sys.stderr)
            sys.exit(1)
        if not secret:
            print(
                "No 'registration_shared_secret' or 'registration_shared_secret_path' defined"
                " in config.",
                file=sys.stderr,
            )
            sys.exit(1)
    else:
        secret = args.shared_secret

    server_url = args.server_url or _server_url_from_config(config) or DEFAULT_SERVER_URL

    user = args.user
    if user is None:
        default_user = getpass.getuser()
        user = input(f"New user localpart [{default_user}]: ") or default_user

    password = args.password
    if args.password_file is not None:
        try:
            with open(args.password_file) as f:
                password = f.readline().rstrip("\r\n")
        except OSError as e:
            print(f"Could not read the password file: {e}", file=sys.stderr)
            sys.exit(1)
    if password is None:
        password = getpass.getpass("Password: ")
        if not password:
            print("Password cannot be blank.", file=sys.stderr)
            sys.exit(1)
        if getpass.getpass("Confirm password: ") != password:
            print("Passwords do not match", file=sys.stderr)
            sys.exit(1)

    if args.admin:
        admin = True
    elif args.no_admin:
        admin = False
    else:
        admin = input("Make admin [no]: ").strip().lower() in ("y", "yes", "true")

    try:
        request_registration(
            user, password, server_url, secret, admin, args.user_type, exists_ok=args.exists_ok
        )
    except RegistrationError as e:
        print(f"ERROR! Received {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
