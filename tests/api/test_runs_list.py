"""The runs list over HTTP (issue 26): labels given to runs, tags of workflows, filters answered
by the store, cursor pages, and pause/unpause through the API under the API's auth and site rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Server, start_server, stop_server

CONF = """
tagged:
  type: Workflow
  desc: One stage, two tags.
  tags: [finance, daily]
  on: [{cronjob: "0 3 * * *"}]
  params:
    region: {type: str, default: north}
  jobs:
    only:
      stages:
        - id: one
          echo: "${{ params.region }}"

plain:
  type: Workflow
  jobs:
    only:
      stages:
        - id: fail
          bash: 'echo "no rows for $REGION" >&2; exit 3'
"""

TOKEN = "tok-" + "r" * 24


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("runs-list")
    running = start_server(
        root,
        token=TOKEN,
        extra_args=("--workers", "0"),
        env={"RUNWRIGHT_AUDIT_URL": f"sqlite:///{root / 'audit.db'}"},
        conf_text=CONF,
    )
    yield running
    stop_server(running)


def start(server: Server, workflow: str, **body: object) -> str:
    response = server.client.post(server.api(f"/workflows/{workflow}/runs"), json=body)
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    server.wait_status(run_id)
    return run_id


def listed(server: Server, **params: object) -> list[dict]:
    response = server.client.get(server.api("/audits"), params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_labels_tags_and_how_a_run_started_are_stored_and_filterable(served: Server) -> None:
    finance = start(
        served, "tagged", labels={"team": "finance", "ticket": "OPS-17"}, params={"region": "Zürich"}
    )
    ops = start(served, "tagged", labels={"team": "ops"})
    failed = start(served, "plain")
    run = served.client.get(served.api(f"/runs/{finance}")).json()
    assert run["labels"] == {"team": "finance", "ticket": "OPS-17"}
    assert run["tags"] == ["finance", "daily"]
    assert run["started_by"] == "api"
    assert run["workflow_paused"] is False
    assert [r["run_id"] for r in listed(served, label="team=finance")] == [finance]
    assert [r["run_id"] for r in listed(served, label=["team=ops"], workflow="tagged")] == [ops]
    assert {r["run_id"] for r in listed(served, tag="finance")} >= {finance, ops}
    assert failed not in {r["run_id"] for r in listed(served, tag="finance")}
    assert [r["run_id"] for r in listed(served, q="zürich")] == [finance]  # a param's value
    assert [r["run_id"] for r in listed(served, q=failed[-8:])] == [failed]  # part of a run id
    assert failed in {r["run_id"] for r in listed(served, status="FAILED", q="exit")}  # the error
    for item in listed(served):
        assert {"release", "started", "ended", "duration_seconds", "started_by", "tags", "labels"} <= set(
            item
        )


def test_a_rerun_keeps_its_runs_labels(served: Server) -> None:
    failed = start(served, "plain", labels={"team": "rerunners"})
    again = served.client.post(served.api(f"/runs/{failed}/rerun"), json={})
    assert again.status_code == 202, again.text
    rerun = served.wait_status(again.json()["run_id"])
    assert rerun["labels"] == {"team": "rerunners"} and rerun["started_by"] == "rerun"
    assert len(listed(served, label="team=rerunners")) == 2


@pytest.mark.parametrize(
    ("labels", "said"),
    [
        ({"bad key": "x"}, "key 'bad key' is not a label key"),
        ({"team": "a\nb"}, "control character"),
        ({"team": "x" * 201}, "at most 200"),
        ({"team": ["a"]}, "must be text"),
    ],
)
def test_a_bad_label_is_a_clear_422_and_starts_nothing(served: Server, labels: dict, said: str) -> None:
    before = len(listed(served, limit=500))
    response = served.client.post(served.api("/workflows/tagged/runs"), json={"labels": labels})
    assert response.status_code == 422, response.text
    assert said in response.text
    assert len(listed(served, limit=500)) == before


def test_bad_filters_are_422_not_an_empty_list(served: Server) -> None:
    for params, said in (
        ({"label": "team"}, "expected KEY=VALUE"),
        ({"since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"}, "the date range is empty"),
        ({"cursor": "nonsense"}, "not one this server gave out"),
    ):
        response = served.client.get(served.api("/audits"), params=params)
        assert response.status_code == 422 and said in response.text, (params, response.text)


def test_cursor_pages_stay_put_while_runs_start(served: Server) -> None:
    for _ in range(4):
        start(served, "tagged", labels={"batch": "paging"})
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"label": "batch=paging", "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = served.client.get(served.api("/audits"), params=params).json()
        seen += [r["run_id"] for r in page["items"]]
        start(served, "tagged", labels={"batch": "paging"})  # newer than every page still to read
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 4


def test_pause_and_unpause_through_the_api(served: Server) -> None:
    answer = served.client.post(served.api("/workflows/tagged/pause"))
    assert answer.status_code == 200 and answer.json()["paused"] and answer.json()["changed"]
    assert served.client.post(served.api("/workflows/tagged/pause")).json()["changed"] is False
    workflows = {w["name"]: w for w in served.client.get(served.api("/workflows")).json()}
    assert workflows["tagged"]["paused"]["by"] == "api" and workflows["plain"]["paused"] is None
    assert workflows["tagged"]["tags"] == ["finance", "daily"]
    assert all(r["workflow_paused"] for r in listed(served, workflow="tagged"))
    page = served.client.get(served.url + "/").text
    assert "paused" in page and "Unpause" in page
    lifted = served.client.post(served.api("/workflows/tagged/unpause")).json()
    assert lifted == {"workflow": "tagged", "paused": False, "changed": True, "by": None, "since": None}
    missing = served.client.post(served.api("/workflows/nope/pause"))
    assert missing.status_code == 404


def test_pause_needs_the_token_and_the_same_site(served: Server) -> None:
    anonymous = httpx.post(served.api("/workflows/tagged/pause"), timeout=10)
    assert anonymous.status_code == 401
    cross_site = served.client.post(
        served.api("/workflows/tagged/pause"), headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    assert served.client.get(served.api("/workflows/tagged")).json()["paused"] is None


def test_the_runs_page_filters_in_the_store(served: Server, tmp_path: Path) -> None:
    start(served, "tagged", labels={"team": "pagecheck"})
    html = served.client.get(served.url + "/runs", params={"label": "team=pagecheck"}).text
    assert html.count('data-label="Run"') == 1 and "team=pagecheck" in html
    assert "finance" in html and "api" in html  # the tags, and how it started
    bad = served.client.get(served.url + "/runs", params={"from": "yesterday-ish"}).text
    assert "expected a date" in bad
