"""The template index: `run NAME` reads one file, and never serves a stale or wrong template."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from runwright import Workflow
from runwright.errors import ConfError, WorkflowNotFound
from runwright.state import index_file

from tests.conftest import REPO, run_cli

HOUR_AGO = time.time() - 3600

WORKFLOW = """
{name}:
  type: Workflow
  jobs:
    only:
      stages:
        - {{id: say, echo: "{message}"}}
"""

FOLLOWER = """
{name}:
  type: Workflow
  on:
    release: [{upstream}]
  jobs:
    only:
      stages:
        - {{id: say, echo: "following"}}
"""

# Records every YAML file the process opens (Python audit hooks see every open()).
OPEN_RECORDER = textwrap.dedent(
    """
    import json, os, sys
    opened = []
    def hook(event, args):
        if event == "open" and isinstance(args[0], (str, os.PathLike)):
            path = os.fspath(args[0])
            if isinstance(path, str) and path.endswith((".yml", ".yaml")):
                opened.append(os.path.basename(path))
    sys.addaudithook(hook)
    from runwright import Workflow
    from runwright.schedule.release_triggers import Followers
    workflow = Workflow.from_conf(sys.argv[2], sys.argv[1])
    loading = sorted(opened)
    opened.clear()
    followers = sorted(Followers.of(workflow).workflows)
    print(json.dumps({"loading": loading, "followers": followers, "following": sorted(opened)}))
    """
)


def write(folder: Path, filename: str, text: str, age: float | None = HOUR_AGO) -> Path:
    path = folder / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    if age is not None:  # files edited long ago, as in a real conf folder
        os.utime(path, (age, age))
    return path


def many_files(folder: Path, files: int = 20, per_file: int = 5) -> None:
    for f in range(files):
        text = "".join(WORKFLOW.format(name=f"wf-{f}-{t}", message=f"{f}/{t}") for t in range(per_file))
        write(folder, f"group-{f // 5}/file-{f}.yml", text)


def load_recording_opens(folder: Path, name: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", OPEN_RECORDER, str(folder), name],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def message_of(workflow: Workflow) -> str:
    return workflow.jobs["only"].stages[0].echo


def test_a_warm_index_reads_only_the_templates_own_file(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    many_files(folder)
    write(folder, "followers.yml", FOLLOWER.format(name="after-wf-7-2", upstream="wf-7-2"))
    cold = load_recording_opens(folder, "wf-7-2")
    assert len(set(cold["loading"])) == 21  # no index yet: every file is read
    assert index_file(folder).is_file()

    warm = load_recording_opens(folder, "wf-7-2")
    assert warm["loading"] == ["file-7.yml"]
    assert warm["followers"] == ["after-wf-7-2", "wf-7-2"]
    assert warm["following"] == ["followers.yml"]  # only the file holding `on: release` templates


def test_an_edited_file_is_read_again_even_within_the_same_second(tmp_path: Path, runtime) -> None:
    folder = tmp_path / "conf"
    many_files(folder, files=3)
    target = write(folder, "target.yml", WORKFLOW.format(name="target", message="first"), age=None)
    assert message_of(Workflow.from_conf("target", folder, runtime=runtime)) == "first"
    stat = target.stat()
    target.write_text(textwrap.dedent(WORKFLOW.format(name="target", message="again")), encoding="utf-8")
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime
    assert message_of(Workflow.from_conf("target", folder, runtime=runtime)) == "again"
    write(folder, "target.yml", WORKFLOW.format(name="target", message="a longer message"))
    assert message_of(Workflow.from_conf("target", folder, runtime=runtime)) == "a longer message"


def test_renamed_and_deleted_files(tmp_path: Path, runtime) -> None:
    folder = tmp_path / "conf"
    many_files(folder, files=3)
    old = write(folder, "old.yml", WORKFLOW.format(name="moving", message="here"))
    assert Workflow.from_conf("moving", folder, runtime=runtime).source == old
    new = folder / "sub" / "new.yml"
    new.parent.mkdir()
    old.rename(new)
    assert Workflow.from_conf("moving", folder, runtime=runtime).source == new
    new.unlink()
    with pytest.raises(WorkflowNotFound, match=r"no template named 'moving' in"):
        Workflow.from_conf("moving", folder, runtime=runtime)
    with pytest.raises(WorkflowNotFound, match=r"no template named 'wf-1-11'.*did you mean 'wf-1-1'"):
        Workflow.from_conf("wf-1-11", folder, runtime=runtime)
    # a template moved from one file into another that is also indexed already
    write(folder, "a.yml", WORKFLOW.format(name="hop", message="in a"))
    write(folder, "b.yml", WORKFLOW.format(name="other", message="in b"))
    assert message_of(Workflow.from_conf("hop", folder, runtime=runtime)) == "in a"
    write(folder, "a.yml", WORKFLOW.format(name="other2", message="x"))
    write(folder, "b.yml", WORKFLOW.format(name="hop", message="in b now"))
    assert message_of(Workflow.from_conf("hop", folder, runtime=runtime)) == "in b now"


def test_a_duplicate_name_in_a_new_file_is_an_error_naming_both(tmp_path: Path, runtime) -> None:
    folder = tmp_path / "conf"
    many_files(folder, files=3)
    first = write(folder, "first.yml", WORKFLOW.format(name="twice", message="one"))
    assert Workflow.from_conf("twice", folder, runtime=runtime)
    second = write(folder, "second.yml", WORKFLOW.format(name="twice", message="two"))
    with pytest.raises(ConfError) as caught:
        Workflow.from_conf("twice", folder, runtime=runtime)
    assert f"template 'twice' is defined twice: in {first} (line 2) and in {second} (line 2)" in str(
        caught.value
    )
    assert Workflow.from_conf("wf-1-1", folder, runtime=runtime)  # other names still run


@pytest.mark.parametrize(
    "corruption",
    [b"\x00garbage{", b'{"header": {"version": 999}, "files": {}}', b"[]", b'{"header": 1}', "forged"],
)
def test_a_corrupt_or_foreign_index_is_rebuilt(tmp_path: Path, runtime, corruption) -> None:
    folder = tmp_path / "conf"
    many_files(folder, files=3)
    assert Workflow.from_conf("wf-2-4", folder, runtime=runtime)
    index = index_file(folder)
    if corruption == "forged":  # valid JSON that sends names nowhere and files to wrong hashes
        document = json.loads(index.read_text())
        document["catalog"]["found"] = {name: 999 for name in document["catalog"]["found"]}
        for entry in document["files"].values():
            entry["sha256"] = "0" * 64
        corruption = json.dumps(document).encode()
    index.write_bytes(corruption)
    assert message_of(Workflow.from_conf("wf-2-4", folder, runtime=runtime)) == "2/4"
    rebuilt = json.loads(index.read_text())
    assert sorted(rebuilt["files"]) == ["group-0/file-0.yml", "group-0/file-1.yml", "group-0/file-2.yml"]


def test_broken_files_never_stop_other_templates_and_validate_still_reports_them(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    many_files(folder, files=3)
    broken = write(folder, "broken.yml", "oops:\n  type: Workflow\n  jobs: [unclosed\n")
    assert Workflow.from_conf("wf-0-0", folder)  # warm the index
    done = run_cli("run", "wf-1-1", "--conf", str(folder))
    assert done.returncode == 0, done.stderr
    assert f"skipped a broken template file: {broken}: invalid YAML" in done.stderr
    asked = run_cli("run", "oops", "--conf", str(folder))
    assert asked.returncode == 2 and f"{broken}: invalid YAML" in asked.stderr
    checked = run_cli("validate", str(folder))
    assert checked.returncode != 0 and "broken.yml" in checked.stdout + checked.stderr


def test_processes_refreshing_the_index_at_once_all_succeed(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    many_files(folder, files=60)
    load = (
        "import sys; from runwright import Workflow; print(Workflow.from_conf(sys.argv[2], sys.argv[1]).name)"
    )
    names = [f"wf-{f}-1" for f in (3, 17, 42, 59)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", load, str(folder), name],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], [err for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == names
    document = json.loads(index_file(folder).read_text())
    assert len(document["files"]) == 60
    assert not [p for p in index_file(folder).parent.iterdir() if p.suffix == ".tmp"]


def test_a_state_folder_that_cannot_be_written_is_no_error(tmp_path: Path, monkeypatch, runtime) -> None:
    folder = tmp_path / "conf"
    many_files(folder, files=2)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("RUNWRIGHT_HOME", str(blocker))
    assert message_of(Workflow.from_conf("wf-1-3", folder, runtime=runtime)) == "1/3"
