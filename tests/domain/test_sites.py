"""Sites: keys, origins, settings with defaults, the development site, the lookup cache, the CLI."""
import json
from pathlib import Path

import pytest

import cli
from domain import sites
from storage.d1 import D1Database
from tests.conftest import write_config



async def test_create_gives_a_public_key_and_default_settings(db: D1Database) -> None:
    site = await sites.create_site(db, "default", ["https://Example.com/", "https://example.com"], name="shop")
    assert site["site_key"].startswith("site_") and len(site["site_key"]) > 20
    assert site["origins"] == ["https://example.com"]
    assert site["settings"] == {"capture": ["name", "email", "phone", "project", "message"], "respect_dnt": False,
                                "duplicate_window_hours": 24, "session_timeout_minutes": 30}
    assert site["workspace_id"] == "default" and site["name"] == "shop"
    again = await sites.create_site(db, "default", ["https://example.com"])
    assert again["site_key"] != site["site_key"]


@pytest.mark.parametrize(("origins", "error"), [
    (["example.com"], "origins[0]: 'example.com' is not an origin like https://example.com"),
    (["https://example.com/path"], "origins[0]: 'https://example.com/path' is not an origin like https://example.com"),
    (["https://ok.example", "ftp://x.example"], "origins[1]: 'ftp://x.example' is not an origin like https://example.com"),
    ([], "origins: at least one origin is required"),
])
async def test_origins_are_checked(db: D1Database, origins: list, error: str) -> None:
    with pytest.raises(sites.SiteError) as raised:
        await sites.create_site(db, "default", origins)
    assert str(raised.value) == error


async def test_a_wildcard_origin_allows_any(db: D1Database) -> None:
    site = await sites.create_site(db, "default", ["*"])
    found = await sites.site_by_key(db, site["site_key"])
    assert found is not None and found.allows("https://anything.example")


async def test_an_unknown_workspace_is_refused(db: D1Database) -> None:
    with pytest.raises(sites.SiteError, match="workspace: no workspace 'nope'"):
        await sites.create_site(db, "nope", ["https://example.com"])


async def test_list_by_workspace(db: D1Database) -> None:
    await db.prepare("INSERT INTO workspaces (id, name, created_at) VALUES ('other', 'Other', 0)").run()
    first = await sites.create_site(db, "default", ["https://a.example"])
    second = await sites.create_site(db, "other", ["https://b.example"])
    assert [s["site_key"] for s in await sites.list_sites(db)] == [first["site_key"], second["site_key"]]
    assert [s["site_key"] for s in await sites.list_sites(db, "other")] == [second["site_key"]]


async def test_update_merges_settings_and_replaces_origins(db: D1Database) -> None:
    site = await sites.create_site(db, "default", ["https://a.example"])
    updated = await sites.update_site(db, site["site_key"], settings={"respect_dnt": True})
    updated = await sites.update_site(db, site["site_key"], origins=["https://b.example"],
                                      settings={"duplicate_window_hours": 12, "capture": ["phone", "email"]})
    assert updated["origins"] == ["https://b.example"]
    assert updated["settings"] == {"capture": ["email", "phone"], "respect_dnt": True,
                                   "duplicate_window_hours": 12, "session_timeout_minutes": 30}


@pytest.mark.parametrize(("settings", "error"), [
    ({"colour": "red"}, "settings.colour: unknown setting"),
    ({"capture": ["email", "password"]}, "settings.capture: expected a list of name, email, phone, project, message"),
    ({"capture": "email"}, "settings.capture: expected a list"),
    ({"respect_dnt": "yes"}, "settings.respect_dnt: expected true or false"),
    ({"duplicate_window_hours": -1}, "settings.duplicate_window_hours: expected an integer from 0 to 8760"),
    ({"duplicate_window_hours": True}, "settings.duplicate_window_hours: expected an integer"),
    ({"session_timeout_minutes": 0}, "settings.session_timeout_minutes: expected an integer from 1 to 1440"),
])
async def test_settings_are_checked(db: D1Database, settings: dict, error: str) -> None:
    site = await sites.create_site(db, "default", ["https://a.example"])
    with pytest.raises(sites.SiteError, match=error.replace(".", r"\.", 1)):
        await sites.update_site(db, site["site_key"], settings=settings)
    assert (await sites.update_site(db, site["site_key"]))["settings"] == dict(sites.DEFAULT_SETTINGS)


async def test_updating_an_unknown_site_is_an_error(db: D1Database) -> None:
    with pytest.raises(sites.SiteError, match="site_key: no site 'site_nope'"):
        await sites.update_site(db, "site_nope", settings={"respect_dnt": True})


async def test_the_development_site_is_created_once_and_widened(db: D1Database) -> None:
    first = await sites.ensure_dev_site(db)
    again = await sites.ensure_dev_site(db)
    assert first == again
    assert first["site_key"] == sites.DEV_SITE_KEY and first["workspace_id"] == "default"
    assert first["origins"] == ["http://127.0.0.1:8787", "http://localhost:8787"]
    widened = await sites.ensure_dev_site(db, ["http://127.0.0.1:9000"])
    assert widened["origins"] == ["http://127.0.0.1:8787", "http://localhost:8787", "http://127.0.0.1:9000"]
    assert len(await sites.list_sites(db)) == 1


async def test_lookups_are_cached_and_updates_in_this_process_seen_at_once(db: D1Database) -> None:
    site = await sites.create_site(db, "default", ["https://a.example"])
    found = await sites.site_by_key(db, site["site_key"])
    assert found is not None and found.allows("https://a.example")
    # Another process (the CLI) changes the row: this process keeps its cached copy for a while.
    await db.prepare("UPDATE sites SET origins = ? WHERE site_key = ?") \
        .bind(json.dumps(["https://c.example"]), site["site_key"]).run()
    cached = await sites.site_by_key(db, site["site_key"])
    assert cached is not None and cached.allows("https://a.example")
    await sites.update_site(db, site["site_key"], origins=["https://b.example"])
    fresh = await sites.site_by_key(db, site["site_key"])
    assert fresh is not None and fresh.allows("https://b.example") and not fresh.allows("https://a.example")
    assert await sites.site_by_key(db, "site_unknown") is None


def test_the_cli_creates_lists_and_updates_sites(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = str(write_config(tmp_path))
    assert cli.main(["--config", config, "sites", "create", "--workspace", "default",
                        "--origin", "https://example.com", "--name", "shop"]) == 0
    created = capsys.readouterr().out
    key = created.split('data-site="')[1].split('"')[0]
    assert key.startswith("site_")
    assert cli.main(["--config", config, "sites", "update", key, "--settings", '{"respect_dnt": true}']) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["respect_dnt"] is True
    assert cli.main(["--config", config, "sites", "list", "--workspace", "default", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["site_key"] for s in listed] == [key]
    assert cli.main(["--config", config, "sites", "update", key, "--settings", '{"nope": 1}']) == 1
    assert "settings.nope: unknown setting" in capsys.readouterr().err


async def test_a_deleted_site_is_refused_everywhere_and_its_row_stays(db: D1Database) -> None:
    site = await sites.create_site(db, "default", ["https://gone.example"], name="Gone")
    assert await sites.site_by_key(db, site["site_key"]) is not None  # cached now
    assert (await sites.delete_site(db, site["site_key"]))["name"] == "Gone"
    assert await sites.site_by_key(db, site["site_key"]) is None  # this process forgets it at once
    assert await sites.any_site_allows(db, "https://gone.example") is False
    assert await sites.list_sites(db) == []
    row = await db.prepare("SELECT name, deleted_at FROM sites WHERE site_key = ?").bind(site["site_key"]).first()
    assert row["name"] == "Gone" and row["deleted_at"] is not None
    with pytest.raises(sites.SiteError, match=f"site_key: no site '{site['site_key']}'"):
        await sites.delete_site(db, site["site_key"])


async def test_a_rename_keeps_everything_else(db: D1Database) -> None:
    site = await sites.create_site(db, "default", ["https://a.example"], name="Old")
    renamed = await sites.update_site(db, site["site_key"], name="  New  ")
    assert renamed == {**site, "name": "New"}
    with pytest.raises(sites.SiteError, match="name: at most 200 characters"):
        await sites.update_site(db, site["site_key"], name="x" * 201)


async def test_the_development_site_comes_back_after_a_delete(db: D1Database) -> None:
    first = await sites.ensure_dev_site(db)
    await sites.delete_site(db, sites.DEV_SITE_KEY)
    assert await sites.ensure_dev_site(db) == first
