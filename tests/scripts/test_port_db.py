"""``synapse_port_db``: a SQLite homeserver database with real content, ported into a
fresh PostgreSQL database, then served by a homeserver on PostgreSQL.

Run only when PostgreSQL is reachable (``SYNAPSE_POSTGRES_HOST``/``_USER``/``_PASSWORD``/
``_PORT``, default 127.0.0.1 and postgres).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any, cast

import yaml
from signedjson.key import generate_signing_key

from synapse._scripts import synapse_port_db
from synapse._scripts.synapse_port_db import (
    Porter,
    PortError,
    TableCopy,
    _converter,
    _create_progress_table,
    _run,
    read_postgres_config,
)
from synapse.config.database import DatabaseConnectionConfig
from synapse.http.resource_tree import create_resource_tree
from synapse.rest.client import account_data, keys, login, membership, room, room_history, sync
from synapse.server import HomeServer
from synapse.storage.database import make_conn
from synapse.storage.engines import create_engine
from synapse.storage.prepare_database import prepare_database
from synapse.storage.schema import SCHEMA_VERSION
from synapse.types import JsonDict
from tests.app.daemon import daemon_env, start_daemon
from tests.rest.client.e2e_helpers import one_time_keys
from tests.server import _parse_config, make_site
from tests.unittest import HomeserverTestCase
from tests.utils import POSTGRES_HOST, POSTGRES_PASSWORD, POSTGRES_PORT, POSTGRES_USER


def _pg_args(database: str) -> dict[str, Any]:
    args: dict[str, Any] = {"database": database, "user": POSTGRES_USER, "host": POSTGRES_HOST}
    if POSTGRES_PASSWORD:
        args["password"] = POSTGRES_PASSWORD
    if POSTGRES_PORT:
        args["port"] = int(POSTGRES_PORT)
    return args


def _admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(**_pg_args("postgres"), connect_timeout=3)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can."""
    try:
        _admin("SELECT 1")
    except Exception as e:
        return f"PostgreSQL is not reachable at {POSTGRES_HOST}: {str(e).strip()}"
    return None


_SKIP_REASON = _postgres_unreachable()


class PortDbTestCase(HomeserverTestCase):
    servlets = [
        login.register_servlets,
        room.register_servlets,
        membership.register_servlets,
        room_history.register_servlets,
        sync.register_servlets,
        account_data.register_servlets,
        keys.register_servlets,
    ]

    if _SKIP_REASON is not None:
        skip = _SKIP_REASON

    def make_homeserver(self, reactor: Any, clock: Any) -> HomeServer:
        self.tmpdir = tempfile.mkdtemp(prefix="port_db_test_")
        self.sqlite_path = os.path.join(self.tmpdir, "homeserver.db")
        hs = self._homeserver({"name": "sqlite3", "args": {"database": self.sqlite_path}})
        return hs

    def _homeserver(self, database: JsonDict) -> HomeServer:
        config = self.default_config()
        config["database"] = database
        hs = HomeServer("test", config=_parse_config(config), reactor=cast(Any, self.reactor))
        hs._clock = self.clock  # type: ignore[attr-defined]
        hs.setup()
        self.addCleanup(hs.get_datastores().close)
        return hs

    def _switch_to(self, hs: HomeServer) -> None:
        """Serve the test site from ``hs`` from now on."""
        self.hs = hs
        self.resource = create_resource_tree(self.create_resource_dict())
        self.site = make_site(self.resource, self.reactor, self.max_request_body_size)

    def _new_pg_database(self) -> str:
        name = f"port_db_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        _admin(
            f"CREATE DATABASE {name} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
        self.addCleanup(_admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        return name

    def _pg_config_file(self, dbname: str) -> str:
        path = os.path.join(self.tmpdir, f"{dbname}.yaml")
        config = {
            "server_name": "test",
            "database": {"name": "psycopg2", "args": {**_pg_args(dbname), "cp_min": 1}},
        }
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(config, f)
        return path

    def _port(self, config_path: str, *extra: str) -> tuple[int, str, str]:
        """Run the command line; (exit code, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                synapse_port_db.main(
                    [
                        "--sqlite-database",
                        self.sqlite_path,
                        "--postgres-config",
                        config_path,
                        *extra,
                    ]
                )
            except SystemExit as e:
                code = int(e.code or 0)
        return code, out.getvalue(), err.getvalue()

    @contextlib.contextmanager
    def _pg_cursor(self, dbname: str) -> Iterator[Any]:
        import psycopg2

        conn = psycopg2.connect(**_pg_args(dbname))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def _fill_sqlite(self) -> JsonDict:
        """Users, a room with messages, account data; the SQLite homeserver is then stopped."""
        self.register_user("alice", "alice-password")
        self.register_user("bob", "bob-password")
        alice = self.login("alice", "alice-password")
        bob = self.login("bob", "bob-password", device_id="BOB1")
        # A fallback key, claimed: its ``used`` is a BOOLEAN stored as 1 in SQLite.
        fallback = one_time_keys("@bob:test", generate_signing_key("BOB1"), ["fb"], fallback=True)
        channel = self.make_request(
            "POST", "/_matrix/client/v3/keys/upload", {"fallback_keys": fallback}, access_token=bob
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.make_request(
            "POST",
            "/_matrix/client/v3/keys/claim",
            {"one_time_keys": {"@bob:test": {"BOB1": "signed_curve25519"}}},
            access_token=alice,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertIn("@bob:test", channel.json_body["one_time_keys"])
        channel = self.make_request(
            "POST",
            "/_matrix/client/v3/createRoom",
            {"name": "Port", "preset": "public_chat"},
            access_token=alice,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        room_id = channel.json_body["room_id"]
        channel = self.make_request(
            "POST", f"/_matrix/client/v3/rooms/{room_id}/join", {}, access_token=bob
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        bodies = [f"message {i} ☃" for i in range(12)]
        for i, body in enumerate(bodies):
            channel = self.make_request(
                "PUT",
                f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t{i}",
                {"msgtype": "m.text", "body": body},
                access_token=alice if i % 2 == 0 else bob,
            )
            self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.make_request(
            "PUT",
            "/_matrix/client/v3/user/@alice:test/account_data/org.example.colour",
            {"colour": "blue"},
            access_token=alice,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        # As a server left running long enough would have: the port refuses pending ones.
        for pool in self.hs.get_database_pools():
            self.get_success(pool.updates.run_background_updates())
        self.hs.get_datastores().close()
        return {"room_id": room_id, "bodies": bodies}

    def _sqlite_max(self, sql: str) -> int:
        conn = sqlite3.connect(self.sqlite_path)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()

    # --- tests ------------------------------------------------------------------------

    def test_port_then_serve_from_postgres(self) -> None:
        filled = self._fill_sqlite()
        room_id = filled["room_id"]
        max_stream = self._sqlite_max("SELECT MAX(stream_ordering) FROM events")
        max_group = self._sqlite_max("SELECT MAX(id) FROM state_groups")
        dbname = self._new_pg_database()

        code, out, err = self._port(self._pg_config_file(dbname), "--batch-size", "7", "--curses")
        self.assertEqual(code, 0, err)
        self.assertIn("Port complete", out)
        self.assertIn("events_stream_seq", out)

        # Booleans became booleans, and every event row came over.
        with self._pg_cursor(dbname) as cur:
            cur.execute("SELECT COUNT(*), MAX(stream_ordering) FROM events")
            count, pg_max = cur.fetchone()
            self.assertEqual(pg_max, max_stream)
            self.assertEqual(count, self._sqlite_max("SELECT COUNT(*) FROM events"))
            cur.execute("SELECT used FROM e2e_fallback_keys_json")
            self.assertEqual(cur.fetchall(), [(True,)])
            cur.execute("SELECT version FROM schema_version")
            self.assertEqual(cur.fetchone()[0], SCHEMA_VERSION)

        hs = self._homeserver({"name": "psycopg2", "args": {**_pg_args(dbname), "cp_min": 1}})
        self._switch_to(hs)

        alice = self.login("alice", "alice-password")
        bob = self.login("bob", "bob-password")

        channel = self.make_request(
            "GET",
            f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=50",
            access_token=bob,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        got = [
            e["content"]["body"]
            for e in channel.json_body["chunk"]
            if e["type"] == "m.room.message"
        ]
        self.assertEqual(list(reversed(got)), filled["bodies"])

        channel = self.make_request("GET", "/_matrix/client/v3/sync", access_token=alice)
        self.assertEqual(channel.code, 200, channel.json_body)
        sync_body = channel.json_body
        self.assertIn(room_id, sync_body["rooms"]["join"])
        types = {e["type"] for e in sync_body["account_data"]["events"]}
        self.assertIn("org.example.colour", types)

        channel = self.make_request(
            "GET",
            "/_matrix/client/v3/user/@alice:test/account_data/org.example.colour",
            access_token=alice,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body, {"colour": "blue"})

        # New events (and their state groups) come after the ported ones.
        channel = self.make_request(
            "PUT",
            f"/_matrix/client/v3/rooms/{room_id}/state/m.room.topic",
            {"topic": "after the port"},
            access_token=alice,
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        new_event = channel.json_body["event_id"]
        with self._pg_cursor(dbname) as cur:
            cur.execute("SELECT stream_ordering FROM events WHERE event_id = %s", (new_event,))
            self.assertGreater(cur.fetchone()[0], max_stream)
            cur.execute("SELECT MAX(id) FROM state_groups")
            self.assertGreater(cur.fetchone()[0], max_group)

        channel = self.make_request(
            "GET", f"/_matrix/client/v3/sync?since={sync_body['next_batch']}", access_token=bob
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        timeline = channel.json_body["rooms"]["join"][room_id]["timeline"]["events"]
        self.assertEqual([e["event_id"] for e in timeline], [new_event])

    def test_interrupted_port_resumes(self) -> None:
        self._fill_sqlite()
        dbname = self._new_pg_database()
        pg_config = read_postgres_config(self._pg_config_file(dbname))

        class Interrupt(Exception):
            pass

        def stop_in_events(table: str, copied: int) -> None:
            if table == "events" and copied >= 4:
                raise Interrupt()

        porter = Porter(self.sqlite_path, pg_config, batch_size=2, out=io.StringIO())
        porter.after_batch = stop_in_events
        with self.assertRaises(Interrupt):
            porter.run()
        with self._pg_cursor(dbname) as cur:
            cur.execute("SELECT COUNT(*) FROM events")
            self.assertEqual(cur.fetchone()[0], 4)
            cur.execute("SELECT rows_copied FROM port_progress WHERE table_name = 'events'")
            self.assertEqual(cur.fetchone()[0], 4)

        out = io.StringIO()
        summary = Porter(self.sqlite_path, pg_config, batch_size=2, out=out).run()
        self.assertTrue(summary.resumed)
        self.assertIn("Resuming", out.getvalue())
        total = self._sqlite_max("SELECT COUNT(*) FROM events")
        self.assertEqual(summary.rows_by_table["events"], total)
        with self._pg_cursor(dbname) as cur:
            cur.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events")
            self.assertEqual(cur.fetchone(), (total, total))
            cur.execute("SELECT COUNT(*) FROM users")
            self.assertEqual(cur.fetchone()[0], 2)

    def test_rows_written_during_the_port_are_not_half_copied(self) -> None:
        """The SQLite file is read as of one moment, whatever is written meanwhile."""
        self._fill_sqlite()
        dbname = self._new_pg_database()
        pg_config = read_postgres_config(self._pg_config_file(dbname))
        writes = 0

        def write_to_sqlite(table: str, copied: int) -> None:
            nonlocal writes
            if writes:
                return
            writes += 1
            conn = sqlite3.connect(self.sqlite_path, timeout=5)
            try:
                conn.execute("INSERT INTO users (name, creation_ts) VALUES ('@late:test', 0)")
                conn.commit()
            finally:
                conn.close()

        porter = Porter(self.sqlite_path, pg_config, out=io.StringIO())
        porter.after_batch = write_to_sqlite
        summary = porter.run()
        self.assertEqual(writes, 1)
        self.assertEqual(summary.rows_by_table["users"], 2)
        with self._pg_cursor(dbname) as cur:
            cur.execute("SELECT name FROM users ORDER BY name")
            self.assertEqual(cur.fetchall(), [("@alice:test",), ("@bob:test",)])

    def test_non_empty_target_refused(self) -> None:
        self._fill_sqlite()
        dbname = self._new_pg_database()
        config_path = self._pg_config_file(dbname)
        # A homeserver has run on the target and registered someone.
        hs = self._homeserver({"name": "psycopg2", "args": {**_pg_args(dbname), "cp_min": 1}})
        self._switch_to(hs)
        self.register_user("carol", "carol-password")
        hs.get_datastores().close()

        code, out, err = self._port(config_path)
        self.assertEqual(code, 1)
        self.assertIn("already holds data", err)
        self.assertIn("users", err)
        self.assertEqual(err.count("\n"), 1, err)
        with self._pg_cursor(dbname) as cur:
            cur.execute("SELECT name FROM users")
            self.assertEqual(cur.fetchall(), [("@carol:test",)])

    def test_target_prepared_but_empty_accepted(self) -> None:
        """A target that has only the schema (a homeserver started on it once) is fine."""
        self._fill_sqlite()
        dbname = self._new_pg_database()
        hs = self._homeserver({"name": "psycopg2", "args": {**_pg_args(dbname), "cp_min": 1}})
        hs.get_datastores().close()
        code, out, err = self._port(self._pg_config_file(dbname))
        self.assertEqual(code, 0, err)

    def test_schema_version_mismatch_refused(self) -> None:
        self._fill_sqlite()
        conn = sqlite3.connect(self.sqlite_path)
        try:
            conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
            conn.commit()
        finally:
            conn.close()
        dbname = self._new_pg_database()
        code, out, err = self._port(self._pg_config_file(dbname))
        self.assertEqual(code, 1)
        self.assertIn(f"version {SCHEMA_VERSION + 1}", err)
        with self._pg_cursor(dbname) as cur:
            cur.execute("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'")
            self.assertEqual(cur.fetchone()[0], 0)

    def test_pending_background_update_refused(self) -> None:
        self._fill_sqlite()
        conn = sqlite3.connect(self.sqlite_path)
        try:
            conn.execute(
                "INSERT INTO background_updates (update_name, progress_json) VALUES ('rewrite', '{}')"
            )
            conn.commit()
        finally:
            conn.close()
        code, out, err = self._port(self._pg_config_file(self._new_pg_database()))
        self.assertEqual(code, 1)
        self.assertIn("Background updates are still pending in the SQLite database (rewrite)", err)

    def test_missing_delta_refused(self) -> None:
        self._fill_sqlite()
        conn = sqlite3.connect(self.sqlite_path)
        try:
            conn.execute("DELETE FROM applied_schema_deltas WHERE file LIKE '%accounts%'")
            conn.commit()
        finally:
            conn.close()
        code, out, err = self._port(self._pg_config_file(self._new_pg_database()))
        self.assertEqual(code, 1)
        self.assertIn("lacks schema deltas", err)

    def test_nul_in_text_refused(self) -> None:
        self._fill_sqlite()
        conn = sqlite3.connect(self.sqlite_path)
        try:
            conn.execute(
                "UPDATE users SET appservice_id = ? WHERE name = '@bob:test'", ("bad\x00id",)
            )
            conn.commit()
        finally:
            conn.close()
        dbname = self._new_pg_database()
        code, out, err = self._port(self._pg_config_file(dbname))
        self.assertEqual(code, 1)
        self.assertIn("NUL", err)
        self.assertIn("users.appservice_id", err)
        with self._pg_cursor(dbname) as cur:
            cur.execute("SELECT COUNT(*) FROM events")
            self.assertEqual(cur.fetchone()[0], 0)

    def test_wrong_engine_in_config_refused(self) -> None:
        path = os.path.join(self.tmpdir, "sqlite.yaml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump({"database": {"name": "sqlite3", "args": {"database": "x.db"}}}, f)
        with self.assertRaisesRegex(PortError, "psycopg2"):
            read_postgres_config(path)


class ConversionTestCase(unittest.TestCase):
    """Values whose representation differs between SQLite and PostgreSQL."""

    def test_booleans(self) -> None:
        convert = _converter("boolean")
        assert convert is not None
        self.assertIs(convert(1), True)
        self.assertIs(convert(0), False)
        with self.assertRaises(ValueError):
            convert(2)

    def test_bytes_and_text(self) -> None:
        to_bytea = _converter("bytea")
        to_text = _converter("text")
        assert to_bytea is not None and to_text is not None
        self.assertEqual(to_bytea(b"\x00\xff"), b"\x00\xff")
        self.assertEqual(to_bytea("é"), "é".encode())
        self.assertEqual(to_text("é".encode()), "é")
        with self.assertRaises(ValueError):
            to_text("a\x00b")
        self.assertIsNone(_converter("bigint"))


class CommandLineTestCase(unittest.TestCase):
    def test_missing_sqlite_database_is_one_clear_error(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            config_path = os.path.join(tmp, "pg.yaml")
            with open(config_path, "w", encoding="utf-8") as f:
                yaml.safe_dump({"database": {"name": "psycopg2", "args": {"dbname": "x"}}}, f)
            script = os.path.join(
                os.path.dirname(__file__), "..", "..", "scripts", "synapse_port_db"
            )
            result = subprocess.run(
                [
                    sys.executable,
                    script,
                    "--sqlite-database",
                    os.path.join(tmp, "none.db"),
                    "--postgres-config",
                    config_path,
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(result.stdout, "")
        self.assertEqual(result.stderr.count("\n"), 1, result.stderr)
        self.assertIn("does not exist", result.stderr)

    def test_usage_errors_exit_1(self) -> None:
        for argv in (
            ["--sqlite-database", "x.db"],
            ["--sqlite-database", "x.db", "--postgres-config", "c.yaml", "--batch-size", "0"],
        ):
            err = io.StringIO()
            with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as exited:
                synapse_port_db.main(argv)
            self.assertEqual(exited.exception.code, 1)
            self.assertEqual(err.getvalue().count("\n"), 1, err.getvalue())

    def test_unreachable_postgres_is_one_clear_error(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_path = os.path.join(tmp, "homeserver.db")
            engine = create_engine({"name": "sqlite3", "args": {"database": sqlite_path}})
            conn = make_conn(engine, "test")
            try:
                prepare_database(conn, engine)
            finally:
                conn.close()
            config_path = os.path.join(tmp, "pg.yaml")
            args = {"dbname": "x", "host": "127.0.0.1", "port": 1, "connect_timeout": 2}
            with open(config_path, "w", encoding="utf-8") as f:
                yaml.safe_dump({"database": {"name": "psycopg2", "args": args}}, f)
            err = io.StringIO()
            with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as exited:
                synapse_port_db.main(
                    ["--sqlite-database", sqlite_path, "--postgres-config", config_path]
                )
        self.assertEqual(exited.exception.code, 1)
        self.assertIn("Cannot connect to PostgreSQL", err.getvalue())


def _call(
    base: str, method: str, path: str, body: JsonDict | None = None, token: str | None = None
) -> tuple[int, JsonDict]:
    """One client API request to a running daemon: (status, JSON body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class DaemonPortTestCase(unittest.TestCase):
    """The real daemon on SQLite, stopped, ported with the script, then started on PostgreSQL."""

    if _SKIP_REASON is not None:
        skip = _SKIP_REASON

    def _register(self, base: str, username: str, password: str) -> str:
        body: JsonDict = {"username": username, "password": password}
        code, answer = _call(base, "POST", "/_matrix/client/v3/register", body)
        if code == 401:
            body["auth"] = {"type": "m.login.dummy", "session": answer.get("session")}
            code, answer = _call(base, "POST", "/_matrix/client/v3/register", body)
        self.assertEqual(code, 200, answer)
        return str(answer["access_token"])

    def test_daemon_database_ported_and_served(self) -> None:
        old = start_daemon(self)
        alice = self._register(old.url, "alice", "alice-password")
        code, answer = _call(
            old.url, "POST", "/_matrix/client/v3/createRoom", {"name": "Ported"}, alice
        )
        self.assertEqual(code, 200, answer)
        room_id = answer["room_id"]
        for i in range(5):
            code, answer = _call(
                old.url,
                "PUT",
                f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/m{i}",
                {"msgtype": "m.text", "body": f"before {i}"},
                alice,
            )
            self.assertEqual(code, 200, answer)
        old.process.stop()

        dbname = f"port_db_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        _admin(
            f"CREATE DATABASE {dbname} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
        self.addCleanup(_admin, f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        database = {"name": "psycopg2", "args": {**_pg_args(dbname), "cp_min": 1, "cp_max": 5}}
        with open(old.config_path, encoding="utf-8") as f:
            config = yaml.safe_load(f)
        config["database"] = database
        pg_config_path = os.path.join(old.directory, "homeserver-postgres.yaml")
        with open(pg_config_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(config, f)

        script = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "synapse_port_db")
        result = subprocess.run(
            [
                sys.executable,
                script,
                "--sqlite-database",
                old.sqlite_path,
                "--postgres-config",
                pg_config_path,
            ],
            capture_output=True,
            text=True,
            env=daemon_env(),
            timeout=300,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("Port complete", result.stdout)

        new = start_daemon(self, overrides={"database": database})
        code, answer = _call(
            new.url,
            "POST",
            "/_matrix/client/v3/login",
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": "alice"},
                "password": "alice-password",
            },
        )
        self.assertEqual(code, 200, answer)
        token = answer["access_token"]
        code, answer = _call(
            new.url,
            "PUT",
            f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/after",
            {"msgtype": "m.text", "body": "after"},
            token,
        )
        self.assertEqual(code, 200, answer)
        code, answer = _call(
            new.url,
            "GET",
            f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=20",
            token=token,
        )
        self.assertEqual(code, 200, answer)
        bodies = [e["content"]["body"] for e in answer["chunk"] if e["type"] == "m.room.message"]
        self.assertEqual(bodies, ["after", *(f"before {i}" for i in reversed(range(5)))])
        code, answer = _call(new.url, "GET", "/_matrix/client/v3/sync", token=token)
        self.assertEqual(code, 200, answer)
        timeline = answer["rooms"]["join"][room_id]["timeline"]["events"]
        self.assertEqual(timeline[-1]["content"]["body"], "after")


class TableCopyTestCase(unittest.TestCase):
    """Tables the schema may grow: WITHOUT ROWID (primary key order), bytea, booleans."""

    if _SKIP_REASON is not None:
        skip = _SKIP_REASON

    def test_without_rowid_table_in_key_order_and_resumed(self) -> None:
        dbname = f"port_db_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        _admin(
            f"CREATE DATABASE {dbname} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
        self.addCleanup(_admin, f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        pg_config = DatabaseConnectionConfig(
            "main", {"name": "psycopg2", "args": _pg_args(dbname)}, ["database"]
        )
        engine = create_engine(pg_config.config)
        pg = make_conn(engine, "test")
        self.addCleanup(pg.close)
        _run(
            pg,
            lambda txn: txn.execute(
                "CREATE TABLE kv (a TEXT NOT NULL, b BIGINT NOT NULL, flag BOOLEAN, data BYTEA,"
                " PRIMARY KEY (a, b))"
            ),
        )
        _run(pg, _create_progress_table)

        sqlite = sqlite3.connect(":memory:")
        self.addCleanup(sqlite.close)
        sqlite.execute(
            "CREATE TABLE kv (a TEXT NOT NULL, b BIGINT NOT NULL, flag BOOLEAN, data BYTEA,"
            " PRIMARY KEY (a, b)) WITHOUT ROWID"
        )
        rows = [
            (a, b, (a + str(b)).startswith("x"), bytes([b, 0, 255])) for a in "zxy" for b in (2, 1)
        ]
        sqlite.executemany("INSERT INTO kv VALUES (?, ?, ?, ?)", rows)

        porter = Porter(":memory:", pg_config, batch_size=2, out=io.StringIO())
        plan = TableCopy(
            "kv",
            ["a", "b", "flag", "data"],
            ["a", "b"],
            {"a": "text", "b": "bigint", "flag": "boolean", "data": "bytea"},
        )

        class Interrupt(Exception):
            pass

        def interrupt(table: str, copied: int) -> None:
            raise Interrupt()

        porter.after_batch = interrupt
        with self.assertRaises(Interrupt):
            porter._copy_table(sqlite, pg, plan)
        porter.after_batch = None
        self.assertEqual(porter._copy_table(sqlite, pg, plan), 6)

        txn = pg.cursor()
        try:
            txn.execute("SELECT a, b, flag, data FROM kv ORDER BY a, b")
            got = [(a, b, flag, bytes(data)) for a, b, flag, data in txn.fetchall()]
            txn.execute("SELECT position FROM port_progress WHERE table_name = 'kv'")
            position = txn.fetchone()
        finally:
            txn.close()
            pg.rollback()
        self.assertEqual(got, sorted(rows))
        self.assertEqual(position, ('["z", 2]',))
