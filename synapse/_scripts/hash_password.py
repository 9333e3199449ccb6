"""``hash_password``: print the bcrypt hash of a password, as the server would store it."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

import bcrypt
import yaml


def hash_password(password: str, pepper: str = "", rounds: int = 12) -> str:
    """The hash the server stores: bcrypt over the first 72 bytes of password and pepper."""
    secret = (password + pepper).encode("utf-8")[:72]
    return bcrypt.hashpw(secret, bcrypt.gensalt(rounds)).decode("ascii")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Calculate the hash of a new password, so that passwords can be reset"
    )
    parser.add_argument(
        "-p", "--password", default=None, help="New password for user. Will prompt if omitted."
    )
    parser.add_argument(
        "-c",
        "--config",
        type=argparse.FileType("r"),
        help="Path to the server config file: its bcrypt_rounds and password_config.pepper are used.",
    )
    args = parser.parse_args(argv)

    rounds = 12
    pepper = ""
    if args.config:
        config: Any = yaml.safe_load(args.config) or {}
        if not isinstance(config, dict):
            print("The config file is not a YAML mapping", file=sys.stderr)
            sys.exit(1)
        rounds = int(config.get("bcrypt_rounds", rounds))
        password_config = config.get("password_config") or {}
        pepper = str(password_config.get("pepper") or "")

    password = args.password
    if password is None:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Confirm password: ") != password:
            print("Passwords do not match", file=sys.stderr)
            sys.exit(1)

    print(hash_password(password, pepper, rounds))


if __name__ == "__main__":
    main()
