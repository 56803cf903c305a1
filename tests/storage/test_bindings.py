"""The one "open, migrate" helper: its lock, the schema state /healthz reads, a deployment's paths."""
import asyncio
import fcntl
import sqlite3
from pathlib import Path

import pytest

from storage import migrations
from storage.bindings import (
    database_file,
    migration_lock,
    migrations_dir,
    open_migrated,
    schema_state,
)
from storage.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "migrations"


async def test_processes_starting_together_apply_each_migration_once(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite"

    async def start() -> list[str]:
        applied: list[str] = []
        async with open_migrated(database, MIGRATIONS, applied=applied):
            return applied

    first, second = await asyncio.gather(start(), start())
    names = [p.name for p in migrations.migration_files(MIGRATIONS)]
    assert sorted([first, second]) == [[], names]  # one applied everything, the other found nothing left
    with sqlite3.connect(database) as conn:
        assert [row[0] for row in conn.execute("SELECT name FROM d1_migrations ORDER BY id")] == names


async def test_migrating_waits_for_the_lock_another_process_holds(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite"
    with open(tmp_path / "db.migrate.lock", "w") as held:  # the lock file beside the database
        fcntl.flock(held, fcntl.LOCK_EX)
        opening = asyncio.ensure_future(start_migrated(database))
        await asyncio.sleep(0.5)
        assert not opening.done()
        fcntl.flock(held, fcntl.LOCK_UN)
        assert await asyncio.wait_for(opening, 30) == [p.name for p in migrations.migration_files(MIGRATIONS)]


async def start_migrated(database: Path) -> list[str]:
    applied: list[str] = []
    async with open_migrated(database, MIGRATIONS, applied=applied):
        return applied


async def test_the_lock_is_released_after_a_failed_migration(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_broken.sql").write_text("CREATE TABLE a (id INTEGER);\nNOT SQL;\n")
    with pytest.raises(sqlite3.OperationalError):
        async with open_migrated(tmp_path / "db.sqlite", folder):
            pass
    async with migration_lock(tmp_path / "db.sqlite"):  # would wait forever if it were still held
        pass


async def test_schema_state_reads_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "wrangler.toml"
    path.write_text(f'name = "w"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n[[d1_databases]]\n'
                    f'binding = "DB"\ndatabase_name = "w"\ndatabase_id = "w"\nmigrations_dir = "{MIGRATIONS}"\n')
    config = load_config(path, local=True, environ={})
    binding = config.d1_databases[0]
    names = [p.name for p in migrations.migration_files(MIGRATIONS)]
    async with open_migrated(tmp_path / "db.sqlite", MIGRATIONS, migrate_first=False) as db:
        empty = await schema_state(config, binding, db)
        assert (empty.version, empty.pending, empty.problem) == (None, names, "no schema (no migration applied)")
        assert await db.prepare("SELECT count(*) AS n FROM sqlite_master").first("n") == 0  # nothing created
        await migrations.apply(db, MIGRATIONS)
        done = await schema_state(config, binding, db)
        assert (done.version, done.pending, done.problem) == (names[-1], [], None)


def test_a_deployment_names_its_database_path_and_migrations_folder(tmp_path: Path) -> None:
    path = tmp_path / "wrangler.toml"
    path.write_text('name = "w"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n[env.production]\n'
                    '[[env.production.d1_databases]]\nbinding = "DB"\ndatabase_name = "w"\ndatabase_id = "w"\n'
                    'database_path = "data/w.sqlite"\n')
    deployed = load_config(path, "production", local=False, environ={})
    assert database_file(deployed, deployed.d1_databases[0]) == tmp_path / "data" / "w.sqlite"
    with pytest.raises(ConfigError) as missing:
        migrations_dir(deployed, deployed.d1_databases[0])
    assert str(missing.value) == (f"{path}: env.production.d1_databases[0].migrations_dir: folder "
                                  f"{tmp_path / 'migrations'} does not exist (relative paths start at {tmp_path})")
    assert migrations_dir(deployed, deployed.d1_databases[0], must_exist=False) == tmp_path / "migrations"
