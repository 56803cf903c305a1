import warnings
from pathlib import Path

import pytest

from storage.config import ConfigError, load_config

BASE = """
name = "leadlight"
main = "worker.py"
compatibility_date = "2025-01-15"
compatibility_flags = ["python_workers"]
secrets = ["ANALYTICS_API_KEY"]

[vars]
SITE_NAME = "dev"
RETENTION_DAYS = 30

[[d1_databases]]
binding = "DB"
database_name = "leadlight"
database_id = "dev-id"
preview_database_id = "preview-id"

[[r2_buckets]]
binding = "SESSIONS"
bucket_name = "sessions"
preview_bucket_name = "sessions-preview"

[triggers]
crons = ["*/5 * * * *"]

[leadlight]
max_body_bytes = 2048
workers = 2

[env.production]
compatibility_flags = []

[env.production.vars]
SITE_NAME = "prod"

[[env.production.d1_databases]]
binding = "DB"
database_name = "leadlight-prod"
database_id = "prod-id"
database_path = "data/leadlight.sqlite"

[[env.production.r2_buckets]]
binding = "SESSIONS"
bucket_name = "sessions-prod"
preview_bucket_name = "sessions-prod-preview"
s3_endpoint = "https://acc.r2.cloudflarestorage.com"
s3_access_key_id_secret = "R2_KEY_ID"

[env.production.leadlight]
workers = 8

[env.staging]
name = "leadlight-stage"
[env.staging.triggers]
crons = []
"""


def write(tmp_path: Path, text: str, name: str = "wrangler.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str = BASE, env: str | None = None, **kwargs):
    kwargs.setdefault("environ", {})
    return load_config(write(tmp_path, text), env, **kwargs)


def test_top_level(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert config.env_name is None
    assert config.name == "leadlight"
    assert config.root == tmp_path.resolve()
    assert config.compatibility_flags == ("python_workers",)
    assert config.vars == {"SITE_NAME": "dev", "RETENTION_DAYS": 30}
    assert config.crons == ("*/5 * * * *",)
    assert (config.dev_ip, config.dev_port) == ("127.0.0.1", 8787)
    assert (config.settings.max_body_bytes, config.settings.workers) == (2048, 2)
    db = config.d1_databases[0]
    assert (db.binding, db.migrations_dir, db.migrations_table) == ("DB", "migrations", "d1_migrations")


def test_environment_inherits_top_level_keys_but_not_bindings(tmp_path: Path) -> None:
    config = load(tmp_path, env="production")
    assert config.name == "leadlight-production"
    assert config.main == "worker.py"
    assert config.compatibility_date == "2025-01-15"
    assert config.compatibility_flags == ()
    assert config.crons == ("*/5 * * * *",)
    assert config.vars == {"SITE_NAME": "prod"}
    assert config.d1_databases[0].database_id == "prod-id"
    assert config.d1_databases[0].database_path == "data/leadlight.sqlite"
    assert config.r2_buckets[0].s3_endpoint == "https://acc.r2.cloudflarestorage.com"
    # [leadlight] merges key by key
    assert (config.settings.max_body_bytes, config.settings.workers) == (2048, 8)


def test_environment_own_name_and_empty_crons(tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        config = load(tmp_path, env="staging")
    assert config.name == "leadlight-stage"
    assert config.crons == ()
    assert config.vars == {}
    assert config.d1_databases == () and config.r2_buckets == ()


def test_warning_when_top_level_binding_missing_from_environment(tmp_path: Path) -> None:
    text = BASE + '\n[env.lean.vars]\nA = "1"\n[[env.lean.d1_databases]]\nbinding = "DB"\n' \
                  'database_name = "x"\ndatabase_id = "y"\n'
    with pytest.warns(UserWarning) as caught:
        config = load(tmp_path, text, env="lean")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    assert "'SESSIONS'" in messages[0] and '"env.lean"' in messages[0]
    assert config.r2_buckets == ()


def test_no_warning_when_environment_repeats_bindings(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(tmp_path, env="production")


def test_preview_names_used_only_in_local_mode(tmp_path: Path) -> None:
    local = load(tmp_path)
    assert local.r2_buckets[0].bucket_for(local.local) == "sessions-preview"
    assert local.d1_databases[0].database_id_for(local.local) == "preview-id"
    remote = load(tmp_path, local=False)
    assert remote.r2_buckets[0].bucket_for(remote.local) == "sessions"
    assert remote.d1_databases[0].database_id_for(remote.local) == "dev-id"
    prod = load(tmp_path, env="production")
    assert prod.d1_databases[0].database_id_for(True) == "prod-id"  # no preview id set


def test_dev_vars_for_environment_wins(tmp_path: Path) -> None:
    write(tmp_path, "TOKEN=base\n", ".dev.vars")
    write(tmp_path, "TOKEN=prod\n", ".dev.vars.production")
    assert load(tmp_path, env="production").secrets == {"TOKEN": "prod"}
    with pytest.warns(UserWarning):
        assert load(tmp_path, env="staging").secrets == {"TOKEN": "base"}
    assert load(tmp_path).secrets == {"TOKEN": "base"}


def test_env_file_ignored_when_dev_vars_exists(tmp_path: Path) -> None:
    write(tmp_path, "FROM_ENV=1\n", ".env")
    write(tmp_path, "# comment\nFROM_DEV_VARS='quoted value'\n", ".dev.vars")
    assert load(tmp_path).secrets == {"FROM_DEV_VARS": "quoted value"}


def test_env_file_used_without_dev_vars(tmp_path: Path) -> None:
    write(tmp_path, "FROM_ENV=1\n", ".env")
    assert load(tmp_path).secrets == {"FROM_ENV": "1"}


def test_local_secrets_ignore_process_environment(tmp_path: Path) -> None:
    config = load(tmp_path, environ={"SITE_NAME": "shell", "ANALYTICS_API_KEY": "k"})
    assert config.secrets == {}
    assert config.bindings_env()["SITE_NAME"] == "dev"


def test_secret_overrides_var(tmp_path: Path) -> None:
    write(tmp_path, "SITE_NAME=secret\nAPI_KEY=abc\n", ".dev.vars")
    env = load(tmp_path).bindings_env()
    assert env == {"SITE_NAME": "secret", "RETENTION_DAYS": 30, "API_KEY": "abc"}


def test_production_secrets_from_declared_names_only(tmp_path: Path) -> None:
    write(tmp_path, "FROM_FILE=1\n", ".dev.vars")
    environ = {"SITE_NAME": "from-env", "ANALYTICS_API_KEY": "k", "R2_KEY_ID": "id",
               "S3_SECRET_ACCESS_KEY": "sk", "S3_ACCESS_KEY_ID": "default-name", "HOME": "/root"}
    config = load(tmp_path, env="production", local=False, environ=environ)
    assert config.secrets == {"SITE_NAME": "from-env", "ANALYTICS_API_KEY": "k",
                              "R2_KEY_ID": "id", "S3_SECRET_ACCESS_KEY": "sk"}
    assert config.bindings_env()["SITE_NAME"] == "from-env"


def test_worker_env_selects_environment(tmp_path: Path) -> None:
    assert load(tmp_path, environ={"WORKER_ENV": "production"}).env_name == "production"
    assert load(tmp_path, environ={"WORKER_ENV": ""}).env_name is None
    with pytest.warns(UserWarning):
        assert load(tmp_path, env="staging", environ={"WORKER_ENV": "production"}).env_name == "staging"


def test_config_is_immutable(tmp_path: Path) -> None:
    config = load(tmp_path)
    with pytest.raises(TypeError):
        config.vars["X"] = 1  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.name = "other"  # type: ignore[misc]


def test_dev_table(tmp_path: Path) -> None:
    config = load(tmp_path, BASE.replace("[vars]", '[dev]\nip = "0.0.0.0"\nport = 9000\n\n[vars]'))
    assert (config.dev_ip, config.dev_port) == ("0.0.0.0", 9000)


MINIMAL = 'name = "w"\nmain = "worker.py"\ncompatibility_date = "2025-01-15"\n'


@pytest.mark.parametrize(("text", "env", "message"), [
    ('name = "w"\nmain = [', None, "wrangler.toml: invalid TOML: "),
    ('main = "worker.py"\ncompatibility_date = "2025-01-15"\n', None,
     "wrangler.toml: missing required key 'name'"),
    (MINIMAL.replace('"w"', '"my_worker"'), None,
     "wrangler.toml: name: 'my_worker' must be letters, digits and dashes only"),
    ('name = "w"\ncompatibility_date = "2025-01-15"\n', None,
     "wrangler.toml: missing required key 'main'"),
    ('name = "w"\nmain = "worker.py"\n', None,
     "wrangler.toml: missing required key 'compatibility_date'"),
    (MINIMAL.replace('"2025-01-15"', '"15/01/2025"'), None,
     "wrangler.toml: compatibility_date: '15/01/2025' is not a YYYY-MM-DD date"),
    (MINIMAL.replace('"2025-01-15"', '"2025-02-30"'), None,
     "wrangler.toml: compatibility_date: '2025-02-30' is not a YYYY-MM-DD date"),
    (MINIMAL + '[[env.production.d1_databases]]\nbinding = "DB"\ndatabase_name = "x"\n', "production",
     "wrangler.toml: env.production.d1_databases[0]: missing required key 'database_id'"),
    (MINIMAL + '[[r2_buckets]]\nbinding = "B"\n', None,
     "wrangler.toml: r2_buckets[0]: missing required key 'bucket_name'"),
    (MINIMAL + "[env.production]\n[env.staging]\n", "qa",
     "wrangler.toml: env: unknown environment 'qa' (known: production, staging)"),
    (MINIMAL, "qa", "wrangler.toml: env: unknown environment 'qa' (known: none)"),
    (MINIMAL + '[triggers]\ncrons = ["0 0 * * *", "* * * *"]\n', None,
     "wrangler.toml: triggers.crons[1]: '* * * *' is not a five-field cron expression"),
    (MINIMAL + '[triggers]\ncrons = ["0 0 * * * *"]\n', None,
     "wrangler.toml: triggers.crons[0]: '0 0 * * * *' is not a five-field cron expression"),
    (MINIMAL + '[triggers]\ncrons = ["61 * * * *"]\n', None,
     "wrangler.toml: triggers.crons[0]: '61 * * * *' is not a five-field cron expression"),
    (MINIMAL + '[vars]\nDB = "x"\n[[d1_databases]]\nbinding = "DB"\ndatabase_name = "x"\n'
     'database_id = "y"\n', None,
     "wrangler.toml: d1_databases[0].binding: 'DB' is already bound at vars.DB"),
    (MINIMAL + '[[r2_buckets]]\nbinding = "B"\nbucket_name = "a"\n'
     '[[r2_buckets]]\nbinding = "B"\nbucket_name = "b"\n', None,
     "wrangler.toml: r2_buckets[1].binding: 'B' is already bound at r2_buckets[0].binding"),
    (MINIMAL + '[[r2_buckets]]\nbinding = "MY-BUCKET"\nbucket_name = "a"\n', None,
     "wrangler.toml: r2_buckets[0].binding: 'MY-BUCKET' is not a valid identifier"),
    (MINIMAL + '[[r2_buckets]]\nbinding = "B"\nbucket_name = "a"\ns3_endpiont = "http://x"\n', None,
     "wrangler.toml: r2_buckets[0].s3_endpiont: unknown key"),
    (MINIMAL + "[leadlight]\nmax_body = 10\n", None,
     "wrangler.toml: leadlight.max_body: unknown key (known: max_body_bytes, workers, trust_proxy, raw_event_retention_days, "
     "max_header_bytes, max_headers, header_timeout_seconds, body_timeout_seconds, keep_alive_seconds, "
     "max_connections)"),
    (MINIMAL + "[env.production.leadlight]\nworkrs = 2\n", "production",
     "wrangler.toml: env.production.leadlight.workrs: unknown key (known: max_body_bytes, workers, trust_proxy, raw_event_retention_days, "
     "max_header_bytes, max_headers, header_timeout_seconds, body_timeout_seconds, keep_alive_seconds, "
     "max_connections)"),
    (MINIMAL + "[leadlight]\nworkers = 0\n", None, "wrangler.toml: leadlight.workers: 0 must be at least 1"),
    (MINIMAL + '[dev]\nport = "x"\n', None, "wrangler.toml: dev.port: expected an integer, got str 'x'"),
    (MINIMAL + "[dev]\nport = true\n", None, "wrangler.toml: dev.port: expected an integer, got bool True"),
    (MINIMAL + "[dev]\nport = 70000\n", None, "wrangler.toml: dev.port: 70000 is not a TCP port"),
    (MINIMAL.replace('"2025-01-15"', "2025-01-15"), None,
     "wrangler.toml: compatibility_date: expected a string, got date datetime.date(2025, 1, 15)"),
    (MINIMAL + 'd1_databases = ["DB"]\n', None,
     "wrangler.toml: d1_databases[0]: expected a table, got str"),
    (MINIMAL + 'secrets = ["A", 1]\n', None, "wrangler.toml: secrets[1]: expected a string, got int 1"),
])
def test_errors_name_file_key_and_problem(tmp_path: Path, text: str, env: str | None, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, env=env, local=False)
    expected = f"{tmp_path}/{message}"
    if message.endswith(": "):  # tomllib's own wording follows
        assert str(caught.value).startswith(expected)
    else:
        assert str(caught.value) == expected


def test_bad_toml_reports_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 2, column"):
        load(tmp_path, 'name = "w"\nmain = = 1\n')


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="wrangler.toml: file not found"):
        load_config(tmp_path / "wrangler.toml", environ={})


def test_relative_path_is_named_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, MINIMAL + '[dev]\nport = "x"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(environ={})
    assert str(caught.value) == "wrangler.toml: dev.port: expected an integer, got str 'x'"


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "wrangler.toml").mkdir()
    with pytest.raises(ConfigError, match="wrangler.toml: cannot read: "):
        load_config(tmp_path / "wrangler.toml", environ={})
