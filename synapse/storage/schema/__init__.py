"""The database schema: numbered delta files under ``<database>/delta/<N>/``.

``SCHEMA_VERSION`` is the newest delta directory this code knows. A database records the
deltas it has had applied (``applied_schema_deltas``) and the schema version it was last
brought up to (``schema_version``); see ``synapse/storage/prepare_database.py``.

To change the schema, add a file ``main/delta/<SCHEMA_VERSION>/<NN>_<name>.sql``, where
``NN`` orders it among its neighbours (files are applied in name order). Write SQL that
runs on both SQLite and PostgreSQL (``BIGINT``, ``TEXT``, ``BOOLEAN``, ``BYTEA``; no
``AUTOINCREMENT``/``SERIAL``); where they differ, write ``.sql.postgres`` and
``.sql.sqlite`` files of the same name. A ``.py`` delta defines
``run_upgrade(txn, engine)``. Never edit a delta that has been released: add a new one.
When a release needs a new version, create the directory ``<N+1>`` and bump
``SCHEMA_VERSION``.
"""

SCHEMA_VERSION = 1
