"""The API and runs over time (issue 23): a trigger for a logical date, a rerun with params
(checked as a trigger's) and from-failed, a backfill (dry run: the plan; else 202 with the
ticks claimed, run oldest first)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import Server, start_server, stop_server

CONF = """
daily:
  type: Workflow
  on: [{cronjob: '30 6 * * *', timezone: Europe/Paris}]
  params:
    run-date: date
    marker: {type: str, default: "none"}
    times: {type: int, default: 1}
  jobs:
    first:
      stages:
        - id: ok
          echo: "day ${{ params.run-date }}"
    second:
      needs: [first]
      stages:
        - id: check
          bash: 'test "${{ params.marker }}" = none || test -f "${{ params.marker }}"'
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("release-api"), conf_text=CONF)
    yield running
    stop_server(running)


def test_a_trigger_runs_for_the_logical_date_in_its_body(server: Server) -> None:
    response = server.client.post(
        server.api("/workflows/daily/runs"), json={"logical_date": "2024-03-01T06:30", "params": {}}
    )
    assert response.status_code == 202, response.text
    run = server.wait_status(response.json()["run_id"])
    assert run["status"] == "SUCCESS", run["errors"]
    assert run["release"] == "2024-03-01T05:30:00Z"  # 06:30 in Paris
    assert run["params"]["run-date"] == "2024-03-01"
    release = run["context"]["release"]
    assert release["logical_date"] == "2024-03-01T06:30:00+01:00" and release["type"] == "manual"
    assert release["data_interval_start"] == "2024-02-29T06:30:00+01:00"
    bad = server.client.post(server.api("/workflows/daily/runs"), json={"logical_date": "someday"})
    assert bad.status_code == 422, bad.text


def test_a_rerun_takes_params_checked_like_a_trigger_and_from_failed(server: Server) -> None:
    marker = server.root / "marker-file"
    first = server.client.post(
        server.api("/workflows/daily/runs"),
        json={"logical_date": "2024-03-02T06:30", "params": {"marker": str(marker)}},
    )
    run_id = first.json()["run_id"]
    assert server.wait_status(run_id)["status"] == "FAILED"
    for bad in ({"times": "many"}, {"marker-fil": "x"}):
        refused = server.client.post(server.api(f"/runs/{run_id}/rerun"), json={"params": bad})
        assert refused.status_code == 422, refused.text
    marker.write_text("here")
    other = server.root / "other-marker"
    other.write_text("here")
    response = server.client.post(
        server.api(f"/runs/{run_id}/rerun"), json={"params": {"marker": str(other)}}
    )
    assert response.status_code == 202, response.text
    rerun = server.wait_status(response.json()["run_id"])
    assert rerun["status"] == "SUCCESS", rerun["errors"]
    assert rerun["params"]["marker"] == str(other)  # the body's params, not ignored
    assert rerun["params"]["run-date"] == "2024-03-02"  # the run's own date
    assert rerun["release"] == "2024-03-02T05:30:00Z" and rerun["attempt"] == 2
    assert rerun["context"]["release"]["type"] == "rerun"
    assert rerun["context"]["jobs"]["first"].get("reused") is True
    whole = server.client.post(server.api(f"/runs/{rerun['run_id']}/rerun"), json={"from_failed": False})
    assert whole.status_code == 409, whole.text  # a SUCCESS attempt: no new attempt


def test_backfill_dry_run_plans_and_a_backfill_claims_the_ticks(server: Server) -> None:
    window = {"start": "2024-04-01", "end": "2024-04-03"}
    plan = server.client.post(server.api("/workflows/daily/backfill"), json={**window, "dry_run": True})
    assert plan.status_code == 200, plan.text
    ticks = plan.json()["ticks"]
    assert [t["logical_date"] for t in ticks] == [f"2024-04-0{d}T06:30:00+02:00" for d in (1, 2, 3)]
    assert [t["action"] for t in ticks] == ["run"] * 3
    assert [t["params"]["run-date"] for t in ticks] == ["2024-04-01", "2024-04-02", "2024-04-03"]
    assert server.client.get(server.api("/audits"), params={"workflow": "daily"}).json()[
        "items"
    ] == [] or all(
        not r["release"].startswith("2024-04")
        for r in server.client.get(server.api("/audits")).json()["items"]
    )

    bad = server.client.post(
        server.api("/workflows/daily/backfill"), json={**window, "params": {"times": "x"}}
    )
    assert bad.status_code == 422, bad.text

    response = server.client.post(server.api("/workflows/daily/backfill"), json=window)
    assert response.status_code == 202, response.text
    claimed = response.json()["ticks"]
    assert [t["logical_date"] for t in claimed] == [t["logical_date"] for t in ticks]
    runs = [server.wait_status(t["run_id"]) for t in claimed]
    assert [r["status"] for r in runs] == ["SUCCESS"] * 3
    assert [r["params"]["run-date"] for r in runs] == ["2024-04-01", "2024-04-02", "2024-04-03"]
    assert all(r["type"] == "backfill" for r in runs)
    ended = [r["ended"] for r in runs]
    assert ended == sorted(ended)  # one after another, oldest first

    again = server.client.post(server.api("/workflows/daily/backfill"), json={**window, "force": True})
    assert again.status_code == 202 and [t["attempt"] for t in again.json()["ticks"]] == [2, 2, 2]
    for tick in again.json()["ticks"]:
        server.wait_status(tick["run_id"])
    unknown = server.client.post(server.api("/workflows/nope/backfill"), json=window)
    assert unknown.status_code == 404, unknown.text


def test_the_pages_show_logical_dates_durations_and_a_rerun_params_form(server: Server) -> None:
    response = server.client.post(
        server.api("/workflows/daily/runs"),
        json={"logical_date": "2024-05-01T06:30", "params": {"marker": str(server.root / "nowhere")}},
    )
    run_id = response.json()["run_id"]
    assert server.wait_status(run_id)["status"] == "FAILED"
    listed = server.client.get(f"{server.url}/runs", params={"workflow": "daily"})
    assert listed.status_code == 200, listed.text
    assert "Logical date" in listed.text and "Duration" in listed.text
    assert "2024-05-01T04:30:00+00:00" in listed.text  # 06:30 in Paris
    page = server.client.get(f"{server.url}/runs/{run_id}").text
    assert "Logical date" in page and "2024-05-01T04:30:00+00:00" in page
    assert 'class="rerun-form"' in page and 'id="rerun-marker"' in page  # one field per param
    assert "nowhere" in page.split('id="rerun-marker"', 1)[1].split(">", 1)[0]  # filled in
    index = server.client.get(f"{server.url}/").text
    assert "data-logical-date" in index
