"""The ``database``/``databases`` section: which engine, where, and connection pool sizes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from synapse.config._base import (
    Config,
    ConfigError,
    Path,
    quote_yaml,
    read_bool,
    read_dict,
    read_int,
    read_optional_str,
    read_str,
    read_str_list,
)

KNOWN_ENGINES = ("sqlite3", "psycopg2")
DATA_STORES = ("main", "state")


class DatabaseConnectionConfig:
    """One database connection: the engine ``name``, the whole ``config`` and the driver ``args``.

    ``args`` has the pool settings (``cp_min``, ``cp_max`` and other ``cp_*`` keys)
    removed, so that it can be passed to the driver's ``connect`` as it is.
    """

    def __init__(self, connection_name: str, db_config: Mapping[str, Any], path: Path) -> None:
        self.connection_name = connection_name
        self.config: dict[str, Any] = dict(db_config)

        name = read_str(db_config, "name", path=path)
        if name not in KNOWN_ENGINES:
            raise ConfigError(
                f"unsupported database engine {name!r}; use one of {', '.join(KNOWN_ENGINES)}",
                [*path, "name"],
            )
        self.name = name

        args = read_dict(db_config, "args", path)
        apath = [*path, "args"]
        # The pool sizes may sit in args (as Synapse documents) or next to them.
        self.cp_min = read_int(
            args, "cp_min", read_int(db_config, "cp_min", 5, path, minimum=0), apath, minimum=0
        )
        self.cp_max = read_int(
            args, "cp_max", read_int(db_config, "cp_max", 10, path, minimum=1), apath, minimum=1
        )
        if self.cp_min > self.cp_max:
            raise ConfigError("cp_min cannot be larger than cp_max", [*apath, "cp_min"])
        self.args: dict[str, Any] = {k: v for k, v in args.items() if not k.startswith("cp_")}

        if name == "sqlite3":
            database = read_str(args, "database", path=apath)
            if database != ":memory:" and not database.startswith("file:"):
                database = os.path.abspath(os.path.expanduser(database))
            self.args["database"] = database
            self.config["args"] = {**args, "database": database}
            # SQLite takes one writer at a time: one connection serves every transaction.
            self.cp_min = self.cp_max = 1
        else:
            for key in ("database", "dbname", "user", "password", "host", "sslmode", "passfile"):
                read_optional_str(args, key, apath)
            port = args.get("port")
            if port is not None:
                self.args["port"] = read_int(args, "port", 5432, apath)

        self.txn_limit = read_int(db_config, "txn_limit", 0, path, minimum=0)
        self.allow_unsafe_locale = read_bool(db_config, "allow_unsafe_locale", False, path)
        self.data_stores: list[str] = read_str_list(db_config, "data_stores", path, default=[])
        for store in self.data_stores:
            if store not in DATA_STORES:
                raise ConfigError(f"unknown data store {store!r}", [*path, "data_stores"])

    @property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite3"

    @property
    def is_in_memory(self) -> bool:
        return self.is_sqlite and self.args.get("database") == ":memory:"

    def __repr__(self) -> str:
        return f"DatabaseConnectionConfig({self.connection_name!r}, name={self.name!r})"


class DatabaseConfig(Config):
    """``database`` (one database for everything) or ``databases`` (named connections)."""

    section = "database"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        database = config.get("database")
        databases = config.get("databases")
        database_path = read_optional_str(config, "database_path")

        if database is not None and databases is not None:
            raise ConfigError(
                "'database' and 'databases' cannot both be set; use one of them", ["databases"]
            )

        self.databases: list[DatabaseConnectionConfig] = []
        if databases is not None:
            dbs = read_dict(config, "databases")
            if not dbs:
                raise ConfigError("must name at least one database", ["databases"])
            for conn_name, db_conf in dbs.items():
                path = ["databases", str(conn_name)]
                if not isinstance(db_conf, Mapping):
                    raise ConfigError("expected a mapping with 'name' and 'args'", path)
                self.databases.append(DatabaseConnectionConfig(str(conn_name), db_conf, path))
            self._assign_data_stores()
        else:
            if database is None:
                if database_path is None:
                    database_path = os.path.join(data_dir_path, "homeserver.db")
                database = {"name": "sqlite3", "args": {"database": database_path}}
            else:
                database = read_dict(config, "database")
                if database_path is not None:
                    raise ConfigError(
                        "'database_path' cannot be combined with 'database'", ["database_path"]
                    )
            conn = DatabaseConnectionConfig("master", database, ["database"])
            conn.data_stores = list(DATA_STORES)
            self.databases.append(conn)

    def _assign_data_stores(self) -> None:
        """Every data store is served by exactly one connection; one connection serves them all by default."""
        if len(self.databases) == 1 and not self.databases[0].data_stores:
            self.databases[0].data_stores = list(DATA_STORES)
            return
        for conn in self.databases:
            if not conn.data_stores and conn.connection_name in DATA_STORES:
                conn.data_stores = [conn.connection_name]
        served: dict[str, str] = {}
        for conn in self.databases:
            for store in conn.data_stores:
                if store in served:
                    raise ConfigError(
                        f"data store {store!r} is given to both {served[store]!r} and {conn.connection_name!r}",
                        ["databases", conn.connection_name, "data_stores"],
                    )
                served[store] = conn.connection_name
        if "main" not in served:
            raise ConfigError("no database serves the 'main' data store", ["databases"])
        if "state" not in served:
            main = next(c for c in self.databases if "main" in c.data_stores)
            main.data_stores.append("state")

    def get_single_database(self) -> DatabaseConnectionConfig:
        """The connection serving the main data store."""
        for conn in self.databases:
            if "main" in conn.data_stores:
                return conn
        return self.databases[0]

    def set_databasepath(self, database_path: str) -> None:
        """Point the single SQLite database at ``database_path`` (used by scripts)."""
        conn = self.get_single_database()
        if not conn.is_sqlite:
            raise ConfigError("a database path only applies to SQLite", ["database"])
        conn.args["database"] = (
            database_path if database_path == ":memory:" else os.path.abspath(database_path)
        )
        conn.config.setdefault("args", {})["database"] = conn.args["database"]

    def generate_config_section(
        self,
        config_dir_path: str,
        data_dir_path: str,
        server_name: str,
        generate_secrets: bool = False,
        report_stats: bool | None = None,
        **kwargs: Any,
    ) -> str:
        db_path = os.path.join(data_dir_path, "homeserver.db")
        return f"""\
## Database ##

# SQLite (name: sqlite3) suits small servers and development; PostgreSQL
# (name: psycopg2) is for production. For PostgreSQL:
#
#database:
#  name: psycopg2
#  txn_limit: 0
#  args:
#    user: synapse_user
#    password: secretpassword
#    dbname: synapse
#    host: localhost
#    port: 5432
#    cp_min: 5
#    cp_max: 10
#
# Several named connections may be given under 'databases' instead, each with
# name, args and data_stores (main, state).
database:
  name: sqlite3
  args:
    database: {quote_yaml(db_path)}
"""
