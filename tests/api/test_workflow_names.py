"""Every name `runwright validate` accepts is reachable: through the API (encoded as a client
encodes a path segment) and through the links of the pages."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from tests.api.conftest import Server, start_server, stop_server
from tests.conftest import run_cli
from tests.validate.test_template_names import VALID_NAMES

NAMES = VALID_NAMES  # every one `runwright validate` accepts
BODY = "  type: Workflow\n  jobs:\n    j:\n      stages:\n        - id: s\n          echo: hi\n"
CONF = "".join(f"{json.dumps(name)}:\n{BODY}" for name in NAMES)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("names"), conf_text=CONF)
    yield running
    stop_server(running)


def test_the_names_are_valid(server: Server) -> None:
    done = run_cli("validate", "--conf", str(Path(server.root) / "conf"))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", NAMES)
def test_the_api_finds_and_runs_each_name(server: Server, name: str) -> None:
    segment = quote(name, safe="")
    detail = server.client.get(server.api(f"/workflows/{segment}"))
    assert detail.status_code == 200, detail.text
    assert detail.json()["name"] == name
    accepted = server.client.post(server.api(f"/workflows/{segment}/runs"), json={"params": {}})
    assert accepted.status_code == 202, accepted.text
    run = server.wait_status(accepted.json()["run_id"])
    assert (run["workflow"], run["status"]) == (name, "SUCCESS")


def test_every_workflow_link_of_the_index_page_opens_its_page(server: Server) -> None:
    index = server.client.get(f"{server.url}/")
    assert index.status_code == 200
    links = sorted(set(re.findall(r'href="(/workflows/[^"]+)"', index.text)))
    assert len(links) == len(NAMES), links
    opened = []
    for link in links:
        page = server.client.get(server.url + html.unescape(link))
        assert page.status_code == 200, (link, page.text[:300])
        name = unquote(html.unescape(link).removeprefix("/workflows/"))
        assert html.escape(name, quote=False) in page.text, name
        opened.append(name)
    assert sorted(opened) == sorted(NAMES)
