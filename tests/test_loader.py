"""Finding templates, safe YAML, ${VAR} substitution, secrets, and readable errors."""

from __future__ import annotations

import json

import pytest
from runwright import Status, Workflow
from runwright.errors import ConfError, EnvSubstitutionError, TemplateError, WorkflowNotFound
from runwright.loader import discover

SIMPLE = """
{name}:
  type: Workflow
  jobs:
    j:
      stages:
        - name: hello
          echo: hi
"""


def test_finds_templates_recursively_in_yml_and_yaml(conf, runtime) -> None:
    conf(SIMPLE.format(name="one"), "a.yml")
    folder = conf(SIMPLE.format(name="two") + SIMPLE.format(name="three"), "deep/er/b.yaml")
    (folder / "notes.txt").write_text("ignored: true")
    assert sorted(discover(folder)) == ["one", "three", "two"]
    assert Workflow.from_conf("three", folder, runtime=runtime).name == "three"


def test_conf_from_environment(conf, runtime, monkeypatch) -> None:
    folder = conf(SIMPLE.format(name="from-env"))
    monkeypatch.setenv("RUNWRIGHT_CONF", str(folder))
    assert Workflow.from_loader("from-env").execute().status is Status.SUCCESS


def test_duplicate_names_across_files_name_both_files(conf) -> None:
    conf(SIMPLE.format(name="dup"), "a.yml")
    folder = conf(SIMPLE.format(name="dup"), "sub/b.yml")
    with pytest.raises(ConfError) as info:
        discover(folder)
    message = str(info.value)
    assert "'dup' is defined twice" in message
    assert "a.yml" in message and os_path("sub/b.yml") in message


def os_path(text: str) -> str:
    import os

    return text.replace("/", os.sep)


def test_duplicate_keys_inside_a_file_are_errors(conf) -> None:
    folder = conf("x:\n  type: Workflow\n  type: Workflow\n")
    with pytest.raises(ConfError, match="duplicate key 'type'"):
        discover(folder)


def test_unknown_template_suggests_close_names(conf, runtime) -> None:
    folder = conf(SIMPLE.format(name="hello-world"))
    with pytest.raises(WorkflowNotFound, match="did you mean 'hello-world'"):
        Workflow.from_conf("hello-wrld", folder, runtime=runtime)


def test_yaml_is_safe(conf) -> None:
    folder = conf("x: !!python/object/apply:os.system ['echo owned']\n")
    with pytest.raises(ConfError, match="invalid YAML"):
        discover(folder)


def test_on_stays_a_key_and_yes_no_stay_strings(workflow_from) -> None:
    wf = workflow_from("""
    wf:
      type: Workflow
      on: {cronjob: '0 * * * *'}
      params: {answer: {type: str, default: no}}
      jobs: {j: {stages: [{name: a, echo: b}]}}
    """)
    assert wf.on[0].cronjob == "0 * * * *"
    assert wf.parameterize({})["answer"] == "no"


def test_env_substitution_defaults_and_secrets(workflow_from, monkeypatch) -> None:
    monkeypatch.setenv("PLAIN_VALUE", "visible")
    monkeypatch.setenv("MY_API_TOKEN", "tok-123-secret")
    wf = workflow_from("""
    wf:
      type: Workflow
      jobs:
        j:
          stages:
            - id: show
              run: |
                plain = "${PLAIN_VALUE}"
                token = "${MY_API_TOKEN}"
                fallback = "${NOT_SET_ANYWHERE:-dflt}"
                print("token is", token)
    """)
    result = wf.execute()
    outputs = result.context["jobs"]["j"]["stages"]["show"]["outputs"]
    assert outputs["plain"] == "visible"
    assert outputs["token"] == "tok-123-secret"  # reaches the stage
    assert outputs["fallback"] == "dflt"
    shown = result.to_json()
    assert "tok-123-secret" not in shown and "***" in shown
    assert "tok-123-secret" not in repr(result)
    log = open(result.log_file, encoding="utf-8").read()
    assert "tok-123-secret" not in log
    assert "token is ***" in log


def test_missing_env_var_names_file_template_and_path(conf, runtime) -> None:
    folder = conf("""
    wf:
      type: Workflow
      jobs:
        j:
          stages:
            - name: a
              echo: "${DEFINITELY_NOT_SET_VAR}"
    """)
    with pytest.raises(EnvSubstitutionError) as info:
        Workflow.from_conf("wf", folder, runtime=runtime)
    message = str(info.value)
    assert "templates.yml" in message and "template 'wf'" in message
    assert "jobs.j.stages[0].echo" in message
    assert "DEFINITELY_NOT_SET_VAR" in message and ":-default" in message


def test_bash_body_is_left_for_the_shell(workflow_from, monkeypatch) -> None:
    monkeypatch.setenv("SHELL_SIDE", "from-shell")
    wf = workflow_from("""
    wf:
      type: Workflow
      jobs:
        j:
          stages:
            - id: sh
              bash: |
                LOCAL=inner
                echo "${LOCAL} ${SHELL_SIDE} ${UNSET_IN_BOTH:-fallback}"
              env:
                FROM_YAML: "${SHELL_SIDE}-yaml"
            - id: sh2
              bash: echo "$FROM_YAML"
              env:
                FROM_YAML: "${SHELL_SIDE}-yaml"
    """)
    result = wf.execute()
    stages = result.context["jobs"]["j"]["stages"]
    assert stages["sh"]["outputs"]["stdout"] == "inner from-shell fallback"
    assert stages["sh2"]["outputs"]["stdout"] == "from-shell-yaml"


def test_validation_errors_are_readable_and_complete(conf, runtime) -> None:
    folder = conf(
        """
    broken:
      type: Workflow
      jobs:
        first:
          stages:
            - name: typo
              eche: hello
            - name: two kinds
              echo: a
              bash: b
            - name: bad key
              bash: echo
              timeout: 3
            - name: bad type
              uses: 5
              with: [1]
    """,
        "broken.yml",
    )
    with pytest.raises(TemplateError) as info:
        Workflow.from_conf("broken", folder, runtime=runtime)
    message = str(info.value)
    assert message.startswith(f"{folder / 'broken.yml'}: template 'broken' is invalid:")
    assert "jobs.first.stages[0]: cannot tell the stage's kind: found keys name, eche" in message
    assert "did you mean 'echo' instead of 'eche'" in message
    assert (
        "jobs.first.stages[1]: a stage must have exactly one kind key, found several: echo, bash" in message
    )
    assert "jobs.first.stages[2].timeout: unknown key 'timeout' (did you mean 'timeout-minutes'?)" in message
    assert "jobs.first.stages[3].uses: Input should be a valid string (got 5)" in message
    assert "jobs.first.stages[3].with: Input should be a valid dictionary" in message
    assert "Traceback" not in message


def test_unknown_key_suggestion_at_job_level(workflow_from) -> None:
    with pytest.raises(TemplateError, match=r"jobs\.j\.need: unknown key 'need' \(did you mean 'needs'\?\)"):
        workflow_from("""
        wf:
          type: Workflow
          jobs: {j: {need: [x], stages: [{name: a, echo: b}]}}
        """)


def test_missing_type_and_unknown_type(conf, runtime) -> None:
    folder = conf("a:\n  jobs: {}\nb:\n  type: Pipeline\n")
    with pytest.raises(TemplateError, match="the key 'type' is missing"):
        Workflow.from_conf("a", folder, runtime=runtime)
    with pytest.raises(TemplateError, match="unknown template type 'Pipeline'.*Workflow"):
        Workflow.from_conf("b", folder, runtime=runtime)


@pytest.mark.parametrize(
    ("on", "words"),
    [
        ("[{cronjob: '61 * * * *'}]", "on[0].cronjob: '61 * * * *' is not a valid 5-field cron"),
        (
            "[{cronjob: '* * * * *', timezone: Mars/Olympus}]",
            "on[0].timezone: unknown IANA timezone",
        ),
        ("{schedule: [{cronjob: '* * * *'}]}", "on[0].cronjob"),
        ("[{cron: '* * * * *'}]", "unknown key 'cron' (did you mean 'cronjob'?)"),
    ],
)
def test_bad_on_entries(workflow_from, on: str, words: str) -> None:
    with pytest.raises(TemplateError) as info:
        workflow_from(f"""
        wf:
          type: Workflow
          on: {on}
          jobs: {{j: {{stages: [{{name: a, echo: b}}]}}}}
        """)
    assert words in str(info.value)


def test_on_forms(workflow_from) -> None:
    for on in (
        "[{cronjob: '*/5 * * * *', timezone: Asia/Bangkok}]",
        "{schedule: [{cronjob: '*/5 * * * *', timezone: Asia/Bangkok}]}",
        "{cronjob: '*/5 * * * *', timezone: Asia/Bangkok}",
    ):
        wf = workflow_from(f"""
        wf:
          type: Workflow
          on: {on}
          jobs: {{j: {{stages: [{{name: a, echo: b}}]}}}}
        """)
        assert [(e.cronjob, e.timezone) for e in wf.on] == [("*/5 * * * *", "Asia/Bangkok")]


def test_needs_unknown_and_cycles(workflow_from) -> None:
    with pytest.raises(TemplateError, match="job 'a' needs unknown job\\(s\\) zzz"):
        workflow_from("""
        wf:
          type: Workflow
          jobs: {a: {needs: [zzz], stages: [{name: s, echo: x}]}}
        """)
    with pytest.raises(
        TemplateError,
        match="jobs form a cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)",
    ):
        workflow_from("""
        wf:
          type: Workflow
          jobs:
            a: {needs: [c], stages: [{name: s, echo: x}]}
            b: {needs: [a], stages: [{name: s, echo: x}]}
            c: {needs: [b], stages: [{name: s, echo: x}]}
        """)


def test_duplicate_stage_ids_in_a_job(workflow_from) -> None:
    with pytest.raises(TemplateError, match="two stages in this job have the id 'same'"):
        workflow_from("""
        wf:
          type: Workflow
          jobs: {a: {stages: [{name: Same, echo: x}, {id: same, echo: y}]}}
        """)


def test_definition_hash_changes_with_the_template(conf, runtime) -> None:
    folder = conf(SIMPLE.format(name="h"))
    first = Workflow.from_conf("h", folder, runtime=runtime).definition_hash
    conf(SIMPLE.format(name="h").replace("echo: hi", "echo: bye"))
    second = Workflow.from_conf("h", folder, runtime=runtime).definition_hash
    assert first and second and first != second
    assert json.dumps(first)
