"""The production path as an operator walks it: the README's Deploy section run on a fresh
directory against a real S3 endpoint (the local rclone server standing in for R2), `serve`'s
start-up failures, SIGTERM under load, the systemd unit, and the README's command reference.

systemd, apt, useradd and git cannot run here: the Deploy test replaces exactly those commands
(and `runuser`, which only drops privileges) with shell functions that record their arguments,
and starts the unit's ExecStart itself, as systemd would, with its EnvironmentFile and a
notify socket. Everything else the README says to type runs as written.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import select
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from storage import migrations
from storage.config import load_config, read_env_file
from storage.r2 import R2Bucket
from storage.s3local import LocalS3Server, S3Endpoint, free_port
from tests.tracking import BROWSER, ORIGIN, batch, event

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
LEADLIGHT = Path(sys.executable).parent / "leadlight"
_LISTENING = re.compile(r"leadlight: listening on (http://\S+) with")
# The checkout's bindings: a deployment's configuration repeats every one of them.
_DEV = load_config(ROOT / "wrangler.toml", local=True, environ={})
BUCKETS = [binding.binding for binding in _DEV.r2_buckets]


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.DOTALL)


async def _create_buckets(endpoint: S3Endpoint, names: list[str]) -> None:
    for name in names:
        # Through the S3 API: a directory made behind the server's back may be hidden by its listing cache.
        async with R2Bucket(name, endpoint_url=endpoint.url, access_key_id=endpoint.access_key_id,
                            secret_access_key=endpoint.secret_access_key) as bucket:
            await bucket.create_bucket()


# -- the README's Deploy section ----------------------------------------------------------------

_STAND_INS = r'''
set -euo pipefail
stand_in() { printf '%s\n' "$*" >> "$CONTROL/stood-in"; }
apt-get() { stand_in apt-get "$@"; }
useradd() { stand_in useradd "$@"; }
chgrp() { stand_in chgrp "$@"; }
git() { stand_in git "$@"; }
runuser() { [ "$1 $2 $3" = "-u leadlight --" ] || return 64; stand_in runuser "$1" "$2"; shift 3; "$@"; }
systemctl() {
  stand_in systemctl "$@"
  case "$*" in
    "enable --now leadlight") echo start > "$CONTROL/request.new" ;;
    "restart leadlight") echo restart > "$CONTROL/request.new" ;;
    *) return 0 ;;
  esac
  rm -f "$CONTROL/done"
  mv "$CONTROL/request.new" "$CONTROL/request"
  while [ ! -e "$CONTROL/done" ]; do sleep 0.2; done
  [ "$(cat "$CONTROL/done")" = ok ]
}
'''


@dataclass
class Service:
    """The unit's ExecStart run as systemd runs a Type=notify service."""

    unit: Path
    rewrite: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None
    notify: socket.socket | None = None
    exits: list[int] = field(default_factory=list)
    notified: list[bytes] = field(default_factory=list)

    def _value(self, key: str) -> str:
        [value] = re.findall(rf"^{key}=(.*)$", self.unit.read_text(), re.MULTILINE)
        return _rewritten(value, self.rewrite)

    def start(self) -> bool:
        assert self._value("Type") == "notify"
        notify_path = self.log.parent / "notify.sock"
        notify_path.unlink(missing_ok=True)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(notify_path))
        env = {"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": str(notify_path),
               **read_env_file(self._value("EnvironmentFile"))}
        self.process = subprocess.Popen(shlex.split(self._value("ExecStart")), cwd=self._value("WorkingDirectory"),
                                        env=env, stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 170
        while time.monotonic() < deadline and self.process.poll() is None:
            if select.select([self.notify], [], [], 1.0)[0]:
                self.notified.append(self.notify.recv(100))
                if self.notified[-1] == b"READY=1":
                    return True
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.exits.append(self.process.wait(timeout=120))
        if self.notify is not None:
            self.notify.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                while True:
                    self.notified.append(self.notify.recv(100))
            self.notify.close()
            self.notify = None


def _rewritten(text: str, rewrite: dict[str, str]) -> str:
    for old, new in rewrite.items():
        text = text.replace(old, new)
    return text


def test_the_readme_deploy_section_runs_on_a_fresh_server(tmp_path: Path) -> None:
    s3 = LocalS3Server(tmp_path / "r2")
    endpoint = s3.start()
    port = free_port()
    rewrite = {"/opt/leadlight": str(ROOT), "/etc/leadlight": str(tmp_path / "etc/leadlight"),
               "/var/lib/leadlight": str(tmp_path / "var/lib/leadlight"),
               "/etc/systemd/system": str(tmp_path / "etc/systemd/system"), "8787": str(port)}
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    (tmp_path / "var/lib").mkdir(parents=True)
    control = tmp_path / "control"
    control.mkdir()
    script = "\n".join(_shell_blocks(_section("Deploy")))
    values = {"LEADLIGHT_REPO": "https://git.example/leadlight.git", "S3_ENDPOINT": endpoint.url,
              "S3_ACCESS_KEY_ID": endpoint.access_key_id, "S3_SECRET_ACCESS_KEY": endpoint.secret_access_key,
              "SITE_ORIGIN": ORIGIN}
    for name, value in values.items():
        script, found = re.subn(rf"^{name}=.*$", f"{name}={shlex.quote(value)}", script, flags=re.MULTILINE)
        assert found == 1, f"the Deploy section sets {name} once"
    (tmp_path / "deploy.sh").write_text(_STAND_INS + _rewritten(script, rewrite))
    service = Service(tmp_path / "etc/systemd/system/leadlight.service", rewrite, tmp_path / "service.log")
    output = tmp_path / "deploy.out"
    shell = subprocess.Popen(["bash", str(tmp_path / "deploy.sh")], cwd=tmp_path, stdout=output.open("w"),
                             stderr=subprocess.STDOUT,
                             env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CONTROL": str(control)})
    deadline = time.monotonic() + 900
    try:
        while shell.poll() is None:  # systemd's part, when the script asks for it
            assert time.monotonic() < deadline, output.read_text()
            request = control / "request"
            if request.exists():
                action = request.read_text().strip()
                request.unlink()
                if action == "restart":
                    service.stop()
                (control / "done").write_text("ok" if service.start() else "failed")
            time.sleep(0.1)
        log = f"{output.read_text()}\n--- service ---\n{service.log.read_text() if service.log.exists() else ''}"
        assert shell.returncode == 0, log
        printed = output.read_text()
        key = re.search(r"API key of workspace acme \(shown once, keep it\): (ll_\S+)", printed).group(1)
        site_key = re.search(r'data-site="(site_[^"]+)"', printed).group(1)
        assert '"ok":true' in printed  # the README's curl of /healthz, after the restart too

        url = f"http://127.0.0.1:{port}"
        sent = httpx.post(f"{url}/track", json=batch(site_key, [event("page_view"), event("click")]),
                          headers={"Origin": ORIGIN, "User-Agent": BROWSER}, timeout=30)
        assert (sent.status_code, sent.json()) == (202, {"accepted": 2, "duplicates": 0})
        read = httpx.get(f"{url}/analytics/overview", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert read.status_code == 200
        assert (read.json()["total_sessions"], read.json()["total_events"]) == (1, 2)
        health = httpx.get(f"{url}/healthz", timeout=30).json()
        assert health["ok"] is True and set(health["checks"]) == {"DB", *BUCKETS}
        service.stop()
        assert service.exits == [0, 0], log  # the upgrade's restart, then this stop
        assert service.notified == [b"READY=1", b"STOPPING=1"] * 2
    finally:
        if shell.poll() is None:
            shell.kill()
        if service.process is not None and service.process.poll() is None:
            service.process.kill()
        s3.stop()
    stood_in = (control / "stood-in").read_text().splitlines()
    assert sorted({line.split()[0] for line in stood_in}) == ["apt-get", "chgrp", "git", "runuser", "systemctl",
                                                              "useradd"]
    assert [line for line in stood_in if line.startswith("systemctl")] == [
        "systemctl daemon-reload", "systemctl enable --now leadlight", "systemctl restart leadlight"]
    assert {line for line in stood_in if line.startswith("runuser")} == {"runuser -u leadlight"}
    database = tmp_path / "var/lib/leadlight/leadlight.sqlite"
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (2,)


def test_the_readme_deploy_configuration_has_every_binding_and_secret(tmp_path: Path) -> None:
    """A binding added to wrangler.toml must reach the Deploy section too, or a deployment lacks it."""
    [config] = re.findall(r"cat > /etc/leadlight/wrangler.toml <<EOF\n(.*?)\nEOF\n", _section("Deploy"), re.DOTALL)
    (tmp_path / "wrangler.toml").write_text(config.replace("$S3_ENDPOINT", "https://abc.r2.cloudflarestorage.com"))
    deployed = load_config(tmp_path / "wrangler.toml", "production", local=False, environ={})
    assert [b.binding for b in deployed.d1_databases] == [b.binding for b in _DEV.d1_databases]
    assert [b.binding for b in deployed.r2_buckets] == BUCKETS
    created = re.search(r"for bucket in (.*); do", _section("Deploy")).group(1).split()
    assert created == [b.bucket_name for b in deployed.r2_buckets]
    declared = tomllib.loads((ROOT / "wrangler.toml").read_text()).get("secrets", [])
    assert set(declared) <= set(tomllib.loads(config).get("secrets", []))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (apt-get install systemd; make test does)")
def test_the_unit_file_passes_systemd_analyze(tmp_path: Path) -> None:
    unit = tmp_path / "leadlight.service"
    unit.write_text((ROOT / "deploy/leadlight.service").read_text().replace("/opt/leadlight", str(ROOT)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    text = unit.read_text()
    for setting in ("Type=notify", "Restart=on-failure", "RestartPreventExitStatus=78",
                    "EnvironmentFile=/etc/leadlight/leadlight.env", "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert f"\n{setting}\n" in text


# -- serve's start-up failures -------------------------------------------------------------------

@dataclass
class Deployment:
    root: Path
    endpoint: S3Endpoint
    names: dict[str, str]  # binding: bucket name
    environ: dict[str, str]

    def config(self, *, s3_endpoint: str | None = None, migrations_dir: str = str(ROOT / "migrations"),
               bucket_prefix: str = "") -> Path:
        buckets = "".join(
            f'\n[[env.production.r2_buckets]]\nbinding = "{binding}"\nbucket_name = "{bucket_prefix}{name}"\n'
            f's3_endpoint = "{s3_endpoint or self.endpoint.url}"\n'
            for binding, name in self.names.items())
        path = self.root / "wrangler.toml"
        path.write_text(
            'name = "leadlight"\nmain = "worker.py"\ncompatibility_date = "2026-11-01"\n'
            'secrets = ["ANALYTICS_API_KEY"]\n[triggers]\ncrons = []\n\n[env.production]\n'
            '[[env.production.d1_databases]]\nbinding = "DB"\ndatabase_name = "leadlight"\n'
            f'database_id = "leadlight-production"\ndatabase_path = "{self.root / "leadlight.sqlite"}"\n'
            f'migrations_dir = "{migrations_dir}"\n{buckets}')
        return path

    def leadlight(self, *args: str, environ: dict[str, str] | None = None,
                  timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([str(LEADLIGHT), "--config", str(self.root / "wrangler.toml"), *args],
                              cwd=self.root, env=self.environ if environ is None else environ,
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture
async def deployment(tmp_path: Path, s3_server: LocalS3Server) -> Deployment:
    if not s3_server.running:
        s3_server.start()
    endpoint = s3_server.endpoint
    tag = f"{tmp_path.name.lower().replace('_', '-')[-20:]}-{os.getpid()}"
    names = {binding: f"{binding.lower()}-{tag}" for binding in BUCKETS}
    await _create_buckets(endpoint, list(names.values()))
    environ = {"PATH": "/usr/bin:/bin", "S3_ACCESS_KEY_ID": endpoint.access_key_id,
               "S3_SECRET_ACCESS_KEY": endpoint.secret_access_key, "ANALYTICS_API_KEY": "deploy-test-key"}
    deployment = Deployment(tmp_path, endpoint, names, environ)
    deployment.config()
    return deployment


def _without(environ: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in environ.items() if key != name}


def _closed_port() -> str:
    return f"http://127.0.0.1:{free_port()}"


FAILURES = {
    # case: (how the deployment is broken, serve's extra arguments, exit status, the one line)
    "missing S3 secret": (
        lambda d: d.leadlight("serve", "--env", "production", environ=_without(d.environ, "S3_SECRET_ACCESS_KEY")),
        os.EX_CONFIG, r"error: {config}: env\.production\.r2_buckets\[0\]: secret S3_SECRET_ACCESS_KEY is not set "
                      r"\(in the process environment\)"),
    "placeholder endpoint": (
        lambda d: (d.config(s3_endpoint="https://ACCOUNT_ID.r2.cloudflarestorage.com"),
                   d.leadlight("serve", "--env", "production"))[1],
        os.EX_CONFIG, r"error: {config}: env\.production\.r2_buckets\[0\]\.s3_endpoint: "
                      r"'https://ACCOUNT_ID\.r2\.cloudflarestorage\.com' is not an endpoint URL like "
                      r"https://<ACCOUNT_ID>\.r2\.cloudflarestorage\.com"),
    "missing migrations folder": (
        lambda d: (d.config(migrations_dir="migrations"), d.leadlight("serve", "--env", "production"))[1],
        os.EX_CONFIG, r"error: {config}: env\.production\.d1_databases\[0\]\.migrations_dir: folder {root}/migrations "
                      r"does not exist \(relative paths start at {root}\)"),
    "no API key at all": (
        lambda d: d.leadlight("serve", "--env", "production", environ=_without(d.environ, "ANALYTICS_API_KEY")),
        os.EX_CONFIG, r"error: no API key: ANALYTICS_API_KEY is not set and the database has no active key, so no "
                      r"request could authenticate; set the secret, or create a key with: leadlight --config "
                      r"{config} --env production keys create --workspace default"),
    "bucket does not exist": (
        lambda d: (d.config(bucket_prefix="gone-"), d.leadlight("serve", "--env", "production"))[1],
        os.EX_CONFIG, r"error: {config}: env\.production\.r2_buckets\[0\]: http://127\.0\.0\.1:\d+: bucket "
                      r"'gone-sessions-[a-z0-9-]+' does not exist"),
    "credentials refused": (
        lambda d: d.leadlight("serve", "--env", "production",
                              environ={**d.environ, "S3_SECRET_ACCESS_KEY": "not-the-secret"}),
        os.EX_CONFIG, r"error: {config}: env\.production\.r2_buckets\[0\]: http://127\.0\.0\.1:\d+: the credentials "
                      r"were refused \(.+\)"),
    "endpoint unreachable": (
        lambda d: (d.config(s3_endpoint=_closed_port()), d.leadlight("serve", "--env", "production"))[1],
        os.EX_TEMPFAIL, r"error: {config}: env\.production\.r2_buckets\[0\]: cannot reach http://127\.0\.0\.1:\d+: .+"),
    "pending migrations and --no-migrate": (
        lambda d: d.leadlight("serve", "--env", "production", "--no-migrate"),
        os.EX_CONFIG, r"error: {config}: env\.production\.d1_databases\[0\]: database {root}/leadlight\.sqlite: no "
                      r"schema \(no migration applied\), and --no-migrate was given; apply them with: leadlight "
                      r"--config {config} --env production d1 migrations apply leadlight"),
}


@pytest.mark.parametrize("case", FAILURES)
def test_each_start_up_failure_is_one_line_and_its_status(deployment: Deployment, case: str) -> None:
    breaks, status, line = FAILURES[case]
    result = breaks(deployment)
    pattern = line.format(config=re.escape(str(deployment.root / "wrangler.toml")), root=re.escape(str(deployment.root)))
    assert result.returncode == status, result.stderr
    assert len(result.stderr.splitlines()) == 1 and re.fullmatch(pattern, result.stderr.strip()), result.stderr
    assert result.stdout == ""  # nothing started, so nothing announced


# -- SIGTERM under load ----------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_under_load_exits_0_and_loses_no_acknowledged_event(deployment: Deployment,
                                                                          workers: int) -> None:
    created = deployment.leadlight("sites", "create", "--workspace", "default", "--origin", ORIGIN, "--env", "production")
    assert created.returncode == 0, created.stderr
    site_key = re.search(r'data-site="(site_[^"]+)"', created.stdout).group(1)
    log = deployment.root / "serve.log"
    process = subprocess.Popen([str(LEADLIGHT), "--config", str(deployment.root / "wrangler.toml"), "serve",
                                "--env", "production", "--port", "0", "--workers", str(workers)],
                               cwd=deployment.root, env=deployment.environ, stdout=log.open("w"),
                               stderr=subprocess.STDOUT)
    acknowledged: list[str] = []
    try:
        url = await _listening(process, log)
        numbers = itertools.count()
        stop_sending = asyncio.Event()
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=32)) as http:

            async def sender() -> None:
                while not stop_sending.is_set():
                    n = next(numbers)
                    ids = [f"term_{n:05d}_{i}" for i in range(5)]
                    body = batch(site_key, [event("click", id=i) for i in ids], session=f"s_{n % 20}",
                                 visitor=f"v_{n % 10}")
                    try:
                        response = await http.post("/track", json=body, headers={"Origin": ORIGIN,
                                                                                  "User-Agent": BROWSER})
                    except httpx.TransportError:  # refused or cut once the server stops accepting
                        stop_sending.set()
                        return
                    if response.status_code == 202:
                        acknowledged.extend(ids)

            senders = [asyncio.create_task(sender()) for _ in range(16)]
            deadline = time.monotonic() + 120
            while len(acknowledged) < 500:
                assert time.monotonic() < deadline and not stop_sending.is_set(), log.read_text()[-3000:]
                await asyncio.sleep(0.05)
            process.send_signal(signal.SIGTERM)  # with requests in flight
            status = await asyncio.to_thread(process.wait, 120)
            stop_sending.set()
            await asyncio.gather(*senders)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log.read_text()
    assert status == 0, output
    announced = [line for line in output.splitlines() if line.startswith("leadlight: ")]  # not the request log
    assert announced[-2:] == [
        f"leadlight: SIGTERM: draining {workers} worker{'s' if workers > 1 else ''} (up to 45 s)", "leadlight: stopped"]
    with sqlite3.connect(deployment.root / "leadlight.sqlite") as conn:
        stored = {row[0] for row in conn.execute("SELECT event_id FROM events")}
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged events were lost"


async def _listening(process: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + 170
    while time.monotonic() < deadline:
        found = _LISTENING.search(log.read_text())
        if found:
            return found.group(1)
        assert process.poll() is None, f"serve exited with {process.returncode}: {log.read_text()}"
        await asyncio.sleep(0.2)
    raise AssertionError(f"serve was not ready: {log.read_text()}")


def test_serve_announces_what_it_serves(deployment: Deployment) -> None:
    log = deployment.root / "serve.log"
    process = subprocess.Popen([str(LEADLIGHT), "serve", "--config", str(deployment.root / "wrangler.toml"),
                                "--env", "production", "--port", "0", "--workers", "1"],
                               cwd=deployment.root, env=deployment.environ, stdout=log.open("w"),
                               stderr=(deployment.root / "serve.err").open("w"))
    try:
        url = asyncio.run(_listening(process, log))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
    applied = [p.name for p in migrations.migration_files(ROOT / "migrations")]
    config = deployment.root / "wrangler.toml"
    assert log.read_text().splitlines() == [
        f"leadlight: leadlight-production, environment production, configured by {config}",
        f"leadlight: database DB: {deployment.root / 'leadlight.sqlite'} (schema {applied[-1]}; applied now: "
        f"{', '.join(applied)})",
        *[f"leadlight: bucket {binding}: {name} at {deployment.endpoint.url}" for binding, name in deployment.names.items()],
        "leadlight: API keys: ANALYTICS_API_KEY (workspace default) and 0 active keys in the database",
        "leadlight: starting 1 worker",
        f"leadlight: listening on {url} with 1 worker",
        "leadlight: SIGTERM: draining 1 worker (up to 45 s)",
        "leadlight: stopped",
    ]


# -- make, and the README's command reference ---------------------------------------------------

def test_make_run_takes_a_port() -> None:
    result = subprocess.run(["make", "-n", "-C", str(ROOT), "run", "PORT=8788"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    assert ".venv/bin/leadlight dev --port 8788" in [line.strip() for line in result.stdout.splitlines()]
    default = subprocess.run(["make", "-n", "-C", str(ROOT), "run"], capture_output=True, text=True, timeout=60)
    assert ".venv/bin/leadlight dev" in [line.strip() for line in default.stdout.splitlines()]


def _reference() -> Iterator[tuple[list[str], list[str]]]:
    """(command words, options) of each line of the Operator CLI reference."""
    [block] = _shell_blocks(_section("Operator CLI"))
    for line in block.splitlines():
        words = shlex.split(line.split("  #")[0])
        assert words[0] == "leadlight", line
        command = list(itertools.takewhile(lambda w: re.fullmatch(r"[a-z0-9]+", w), words[1:]))
        yield command, [w.strip("[]") for w in words if w.lstrip("[").startswith("--")]


@pytest.mark.parametrize(("command", "options"), list(_reference()), ids=lambda v: " ".join(v) if v else "-")
def test_every_command_of_the_readme_reference_exists_with_its_options(command: list[str], options: list[str]) -> None:
    result = subprocess.run([str(LEADLIGHT), *command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for option in options:
        assert option in result.stdout, f"leadlight {' '.join(command)} has no {option}"
