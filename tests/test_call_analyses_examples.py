"""call-analyses-api.md's own Python examples, run unchanged but for the base URL, with `requests`,
against a real `python worker.py dev` process on 127.0.0.1.

The examples' key "sk_live_abc123..." is the development server's configured API key, so not a
character of theirs changes but the host. Their indentation, lost in the document's text, is
restored. The workspace holds 150 completed analyses (i = 0..149: agent_00{i % 3 + 1},
customer_{12300 + i}, effort i % 5 + 1, greeting when i is even, identity flagged when i % 4 == 0),
then 3 failed and 2 processing ones, each a minute newer than the one before.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from domain import calls
from storage.bindings import open_database
from storage.config import load_config
from storage.s3local import free_port

ROOT = Path(__file__).resolve().parent.parent
DOC_HOST = "https://api.callcov.com"
BASE = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE = 60_000

# The document's examples, in its order, each exactly as written.
BASIC_PAGINATION = '''
import requests

url = "https://api.callcov.com/api/v1/analysis/"
headers = {"X-API-Key": "sk_live_abc123..."}

# Get first page (analyses 0-99)
response = requests.get(url, headers=headers, params={
    "limit": 100,
    "offset": 0
})

# Get second page (analyses 100-199)
response = requests.get(url, headers=headers, params={
    "limit": 100,
    "offset": 100
})
'''
ITERATE_ALL_PAGES = '''
import requests

def get_all_analyses(api_key, status_filter=None):
    """
    Fetch all analyses across all pages.

    Args:
        api_key: Your API key
        status_filter: Optional status filter

    Returns:
        List of all analyses
    """
    url = "https://api.callcov.com/api/v1/analysis/"
    headers = {"X-API-Key": api_key}

    all_analyses = []
    offset = 0
    limit = 100

    while True:
        params = {"limit": limit, "offset": offset}
        if status_filter:
            params["status_filter"] = status_filter

        response = requests.get(url, headers=headers, params=params)
        data = response.json()

        all_analyses.extend(data['data'])

        if not data['has_more']:
            break

        offset += limit

    return all_analyses

# Usage
completed_analyses = get_all_analyses(
    api_key="sk_live_abc123...",
    status_filter="completed"
)
print(f"Total completed analyses: {len(completed_analyses)}")
'''
RECENT_COMPLETED = '''
import requests

url = "https://api.callcov.com/api/v1/analysis/"
headers = {"X-API-Key": "sk_live_abc123..."}

response = requests.get(url, headers=headers, params={
    "status_filter": "completed",
    "limit": 10 # Last 10 completed
})

analyses = response.json()['data']
for analysis in analyses:
    effort_score = analysis['results']['coaching']['customer_effort_score']
    greeting_ok = analysis['results']['quality']['greeting']['present']
    print(f"{analysis['call']['contact_id']}: CES={effort_score}/5, Greeting={greeting_ok}")
'''
AGENT_ANALYSES = '''
def get_agent_analyses(api_key, agent_id):
    """Get all analyses for a specific agent"""
    url = "https://api.callcov.com/api/v1/analysis/"
    headers = {"X-API-Key": api_key}

    response = requests.get(url, headers=headers, params={
        "agent_id": agent_id,
        "limit": 1000 # Adjust as needed
    })

    data = response.json()
    return data['data'], data['total']

analyses, total = get_agent_analyses("sk_live_abc123...", "agent_001")
print(f"Agent agent_001 has {total} total analyses")
'''
SEARCH = '''
# Search for analyses containing "customer_123"
response = requests.get(url, headers=headers, params={
    "search": "customer_123"
})

# This searches in both agent_id AND contact_id fields
'''
FAILED = '''
response = requests.get(url, headers=headers, params={
    "status_filter": "failed",
    "limit": 50
})

failed_analyses = response.json()['data']
for analysis in failed_analyses:
    error = analysis['metadata']['error_message']
    print(f"Analysis {analysis['id']} failed: {error}")
'''
DASHBOARD = '''
# Get last 20 analyses for dashboard
response = requests.get(url, headers=headers, params={"limit": 20})
recent = response.json()['data']
'''
AVERAGE_EFFORT = '''
# Get all completed analyses
all_analyses = get_all_analyses(
    api_key="sk_live_abc123...",
    status_filter="completed"
)

# Calculate average customer effort score
total_effort = sum(
    a['results']['coaching']['customer_effort_score']
    for a in all_analyses
    if a['results']
)
avg_effort = total_effort / len(all_analyses)
print(f"Average customer effort score: {avg_effort:.2f}/5")
'''
AGENT_REPORT = '''
# Get all completed analyses for specific agent
response = requests.get(url, headers=headers, params={
    "agent_id": "agent_001",
    "status_filter": "completed"
})

agent_analyses = response.json()['data']

# Calculate metrics
total_calls = len(agent_analyses)
avg_effort = sum(a['results']['coaching']['customer_effort_score'] for a in agent_analyses) / total_calls
compliance_rate = sum(1 for a in agent_analyses
    if not a['results']['compliance']['identity_verification']['flagged']) / total_calls

print(f"Agent agent_001 Report:")
print(f" Total calls: {total_calls}")
print(f" Avg customer effort: {avg_effort:.2f}/5")
print(f" Compliance rate: {compliance_rate:.1%}")
'''


def _results(i: int) -> dict[str, object]:
    return {
        "compliance": {"identity_verification": {"flagged": i % 4 == 0, "summary": "", "evidence": []},
                       "mandatory_disclosures": {"flagged": False, "summary": "", "disclosures": [], "evidence": []},
                       "purpose_declaration": {"flagged": False, "summary": "", "evidence": []}},
        "quality": {"greeting": {"present": i % 2 == 0, "evidence": []}},
        "coaching": {"recommendations": [], "customer_effort_score": i % 5 + 1},
    }


async def _seed(config_path: Path, state: Path) -> None:
    config = load_config(config_path, local=True, environ={})
    async with open_database(config, config.d1_databases[0], state) as db:
        rows = [calls.FinishedAnalysis(
            id=f"00000000-0000-4000-8000-{i:012d}", workspace_id="default", created_at=BASE + i * MINUTE,
            status="completed", agent_id=f"agent_00{i % 3 + 1}", contact_id=f"customer_{12300 + i}",
            audio_key=f"recordings/default/{i}.wav", audio_size=1000, audio_format="wav", duration_ms=60_000,
            results=_results(i), completed_at=BASE + i * MINUTE + 5000) for i in range(150)]  # type: ignore[arg-type]
        rows += [calls.FinishedAnalysis(
            id=f"00000000-0000-4000-9000-{j:012d}", workspace_id="default", created_at=BASE + (150 + j) * MINUTE,
            status="failed", agent_id="agent_002", contact_id=f"customer_9990{j}", audio_key=f"recordings/f{j}.mp3",
            audio_size=10, audio_format="mp3", error_message=f"audio could not be decoded: sample {j}")
            for j in range(3)]
        rows += [calls.FinishedAnalysis(
            id=f"00000000-0000-4000-a000-{j:012d}", workspace_id="default", created_at=BASE + (160 + j) * MINUTE,
            status="processing", agent_id="agent_001", contact_id=f"customer_7770{j}", audio_key=f"recordings/p{j}.wav",
            audio_size=10, audio_format="wav", lease_until=BASE + 10**12) for j in range(2)]
        for row in rows:
            await calls.record_finished_analysis(db, row)


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[str]:
    """`python worker.py dev` on a free port, over a seeded state directory; its base URL."""
    config_path = tmp_path / "wrangler.toml"
    config_path.write_text(textwrap.dedent(f"""
        name = "leadlight-examples"
        main = "worker.py"
        compatibility_date = "2026-11-01"

        [vars]
        ANALYTICS_API_KEY = "sk_live_abc123..."

        [[d1_databases]]
        binding = "DB"
        database_name = "leadlight"
        database_id = "examples"
        migrations_dir = "{ROOT / 'migrations'}"

        [[r2_buckets]]
        binding = "RECORDINGS"
        bucket_name = "recordings"

        [triggers]
        crons = []
    """))
    state = tmp_path / "state"
    asyncio.run(_seed(config_path, state))
    port = free_port()
    log = (tmp_path / "dev.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "worker.py", "--config", str(config_path), "--persist-to", str(state), "dev", "--no-reload",
         "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "dev.log").read_text()
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "dev.log").read_text()
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_the_documents_python_examples_run_unchanged(dev_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {}
    for example in (BASIC_PAGINATION, ITERATE_ALL_PAGES, RECENT_COMPLETED, AGENT_ANALYSES, SEARCH, FAILED, DASHBOARD,
                    AVERAGE_EFFORT, AGENT_REPORT):
        exec(compile(example.replace(DOC_HOST, dev_server), "call-analyses-api.md", "exec"), namespace)
        if example is BASIC_PAGINATION:  # the second page of everything: analyses 100-154
            page = namespace["response"].json()  # type: ignore[attr-defined]
            assert (len(page["data"]), page["has_more"], page["total"]) == (55, False, 155)
        if example is SEARCH:  # customer_12300 .. customer_12399
            found = namespace["response"].json()  # type: ignore[attr-defined]
            assert (len(found["data"]), found["total"], found["has_more"]) == (100, 100, False)
        if example is DASHBOARD:  # the 2 processing, the 3 failed, then the 15 newest completed
            assert [a["status"] for a in namespace["recent"]] == (  # type: ignore[attr-defined]
                ["processing"] * 2 + ["failed"] * 3 + ["completed"] * 15)
    printed = capsys.readouterr().out.splitlines()
    newest_completed = [f"customer_{12300 + i}: CES={i % 5 + 1}/5, Greeting={i % 2 == 0}" for i in range(149, 139, -1)]
    assert newest_completed[:2] == ["customer_12449: CES=5/5, Greeting=False", "customer_12448: CES=4/5, Greeting=True"]
    failed = [f"Analysis 00000000-0000-4000-9000-{j:012d} failed: audio could not be decoded: sample {j}"
              for j in (2, 1, 0)]
    assert printed == [
        "Total completed analyses: 150",
        *newest_completed,
        "Agent agent_001 has 52 total analyses",  # i % 3 == 0: 50 completed, and the 2 processing
        *failed,
        # Efforts 1..5 thirty times each: 450 / 150.
        "Average customer effort score: 3.00/5",
        "Agent agent_001 Report:",
        " Total calls: 50",
        # i = 0, 3, ..., 147: efforts cycle 1, 4, 2, 5, 3 (mean 3); identity flagged when i % 12 == 0: 13 of 50.
        " Avg customer effort: 3.00/5",
        " Compliance rate: 74.0%",
    ]
