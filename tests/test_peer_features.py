"""Template forms the peer (ddeutil-workflow) accepts: empty stages, case else, retry: N,
job id, templated max-parallel, its filters, and one template per file with a top-level name."""

from __future__ import annotations

import pytest
from runwright import Status, Workflow
from runwright.errors import TemplateError


def stages_of(result, job="j"):
    return result.context["jobs"][job]["stages"]


def test_a_stage_with_only_a_name_succeeds_and_does_nothing(workflow_from) -> None:
    result = workflow_from("""
    empty:
      type: Workflow
      jobs:
        j:
          stages:
            - name: Final of Next running job
            - name: Wait a little
              sleep: 0.01
            - name: After
              run: "after = 1"
    """).execute()
    assert result.status is Status.SUCCESS, result.errors
    recorded = stages_of(result)
    assert recorded["final-of-next-running-job"] == {"status": "SUCCESS", "outputs": {}}
    assert recorded["wait-a-little"]["status"] == "SUCCESS"
    assert recorded["after"]["outputs"] == {"after": 1}


def test_a_stage_with_a_misspelt_key_is_still_an_error(conf, runtime) -> None:
    folder = conf("""
    typo:
      type: Workflow
      jobs:
        j:
          stages:
            - name: Say
              eche: hello
    """)
    with pytest.raises(TemplateError) as caught:
        Workflow.from_conf("typo", folder, runtime=runtime)
    assert "did you mean 'echo' instead of 'eche'" in str(caught.value)


def test_case_else_branch_is_the_default(workflow_from) -> None:
    wf = workflow_from("""
    route:
      type: Workflow
      params: {name: str}
      jobs:
        j:
          stages:
            - id: s
              case: "${{ params.name }}"
              match:
                - case: bar
                  stages: [{id: picked, run: "who = 'bar'"}]
                - else:
                    - id: picked
                      run: "who = 'else ' + ${{ case }}"
    """)
    assert stages_of(wf.execute({"name": "bar"}))["s"]["outputs"]["stages"]["picked"]["outputs"] == {
        "who": "bar"
    }
    other = wf.execute({"name": "baz"})
    assert other.status is Status.SUCCESS, other.errors
    assert stages_of(other)["s"]["outputs"]["stages"]["picked"]["outputs"] == {"who": "else baz"}


@pytest.mark.parametrize(
    "second",
    ["- else: [{id: y, echo: b}]", "- {case: _, stages: [{id: y, echo: b}]}"],
)
def test_case_with_two_default_branches_is_refused(conf, runtime, second) -> None:
    folder = conf(f"""
    two-else:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              case: x
              match:
                - else: [{{id: x, echo: a}}]
                {second}
    """)
    with pytest.raises(TemplateError) as caught:
        Workflow.from_conf("two-else", folder, runtime=runtime)
    assert "one default branch" in str(caught.value)


def test_integer_retry_retries_that_many_times(workflow_from, tmp_path) -> None:
    counter = tmp_path / "tries"
    result = workflow_from(f"""
    flaky:
      type: Workflow
      jobs:
        j:
          stages:
            - id: s
              retry: 1
              bash: |
                echo x >> {counter}
                [ "$(wc -l < {counter})" -ge 2 ]
            - id: never
              retry: 0
              raise: always
    """).execute()
    recorded = stages_of(result)
    assert recorded["s"]["status"] == "SUCCESS"
    assert recorded["s"]["attempts"] == 2
    assert counter.read_text().count("x") == 2
    assert recorded["never"]["status"] == "FAILED" and recorded["never"]["attempts"] == 1


def test_negative_retry_is_refused(conf, runtime) -> None:
    folder = conf("""
    neg:
      type: Workflow
      jobs: {j: {stages: [{id: s, echo: x, retry: -1}]}}
    """)
    with pytest.raises(TemplateError) as caught:
        Workflow.from_conf("neg", folder, runtime=runtime)
    assert "retry must be a count of retries" in str(caught.value)


def test_job_id_equal_to_its_key_is_accepted_and_a_different_one_refused(conf, runtime) -> None:
    folder = conf("""
    same:
      type: Workflow
      jobs: {first-job: {id: first-job, stages: [{id: s, echo: x}]}}
    other:
      type: Workflow
      jobs: {first-job: {id: second-job, stages: [{id: s, echo: x}]}}
    """)
    assert Workflow.from_conf("same", folder, runtime=runtime).execute().status is Status.SUCCESS
    with pytest.raises(TemplateError) as caught:
        Workflow.from_conf("other", folder, runtime=runtime)
    assert "job 'first-job' has id 'second-job'" in str(caught.value)


def test_templated_max_parallel_limits_strategies(workflow_from, tmp_path) -> None:
    wf = workflow_from(f"""
    par:
      type: Workflow
      params: {{workers: int}}
      jobs:
        j:
          strategy:
            max-parallel: "${{{{ params.workers }}}}"
            matrix: {{n: [1, 2]}}
          stages:
            - id: s
              bash: |
                touch {tmp_path}/started-${{{{ matrix.n }}}}
                for i in $(seq 30); do [ -e {tmp_path}/started-1 ] && [ -e {tmp_path}/started-2 ] && exit 0; sleep 0.05; done
                exit 1
    """)
    together = wf.execute({"workers": 2})
    assert together.status is Status.SUCCESS, together.errors
    for marker in tmp_path.glob("started-*"):
        marker.unlink()
    one_at_a_time = wf.execute({"workers": 1})
    assert one_at_a_time.status is Status.FAILED  # the first strategy never sees the second start
    bad = wf.execute({"workers": 0})
    assert "max-parallel '${{ params.workers }}' gave 0" in bad.errors[0]["message"]


def test_max_parallel_that_is_neither_number_nor_expression_is_refused(conf, runtime) -> None:
    folder = conf("""
    par:
      type: Workflow
      jobs: {j: {strategy: {max-parallel: lots, matrix: {n: [1]}}, stages: [{id: s, echo: x}]}}
    """)
    with pytest.raises(TemplateError) as caught:
        Workflow.from_conf("par", folder, runtime=runtime)
    assert "max-parallel must be a number or a ${{ }} expression, got 'lots'" in str(caught.value)


def test_the_peers_filters(workflow_from) -> None:
    result = workflow_from("""
    filters:
      type: Workflow
      params:
        data: {type: map, default: {a: 1, b: 2}}
        word: {type: str, default: "it's"}
      jobs:
        j:
          stages:
            - id: s
              run: |
                keys = ${{ params.data | keys }}
                values = ${{ params.data | values }}
                copied = ${{ params.data | dict }}
                letters = ${{ 'ab' | list }}
                literal = ${{ params.word | rstr }}
                title = ${{ params.word | title }}
                absolute = ${{ -3 | abs }}
                number = ${{ '7' | int }}
                text = ${{ 7 | str }}
                upper = ${{ 'x' | upper }}
                lower = ${{ 'X' | lower }}
                first = ${{ [5, 6] | getindex(0) }}
                item = ${{ params.data | getitem('b') }}
                fallback = ${{ none | coalesce('d') }}
    """).execute()
    assert result.status is Status.SUCCESS, result.errors
    assert stages_of(result)["s"]["outputs"] == {
        "keys": ["a", "b"],
        "values": [1, 2],
        "copied": {"a": 1, "b": 2},
        "letters": ["a", "b"],
        "literal": '"it\'s"',
        "title": "It'S",
        "absolute": 3,
        "number": 7,
        "text": "7",
        "upper": "X",
        "lower": "x",
        "first": 5,
        "item": 2,
        "fallback": "d",
    }


def test_keys_of_something_that_is_not_a_mapping_says_so(workflow_from) -> None:
    result = workflow_from("""
    bad-keys:
      type: Workflow
      jobs: {j: {stages: [{id: s, echo: "${{ 3 | keys }}"}]}}
    """).execute()
    assert "keys expects a mapping, got int" in result.errors[0]["message"]


def test_one_template_per_file_with_a_top_level_name(conf, runtime) -> None:
    conf(
        """
        name: wf-solo
        type: Workflow
        params: {who: {type: str, default: Ada}}
        jobs:
          j:
            stages: [{id: s, run: "hello = 'hi ' + ${{ params.who }}"}]
        """,
        "solo.yml",
    )
    folder = conf("keyed:\n  type: Workflow\n  jobs: {j: {stages: [{id: s, echo: x}]}}\n", "keyed.yml")
    result = Workflow.from_conf("wf-solo", folder, runtime=runtime).execute()
    assert result.status is Status.SUCCESS, result.errors
    assert stages_of(result)["s"]["outputs"] == {"hello": "hi Ada"}
    assert Workflow.from_conf("keyed", folder, runtime=runtime).name == "keyed"


def test_top_level_name_clashing_with_a_keyed_template_is_an_error(conf, runtime) -> None:
    from runwright.errors import ConfError

    conf("name: twice\ntype: Workflow\njobs: {j: {stages: [{id: s, echo: x}]}}\n", "a.yml")
    folder = conf("twice:\n  type: Workflow\n  jobs: {j: {stages: [{id: s, echo: x}]}}\n", "b.yml")
    with pytest.raises(ConfError) as caught:
        Workflow.from_conf("twice", folder, runtime=runtime)
    assert "template 'twice' is defined twice" in str(caught.value)


def test_templated_max_workers_of_a_parallel_stage(workflow_from, tmp_path) -> None:
    wf = workflow_from(f"""
    branches:
      type: Workflow
      params: {{max-workers: int}}
      jobs:
        j:
          stages:
            - id: s
              max-workers: "${{{{ params.max-workers }}}}"
              parallel:
                branch01:
                  - {{id: a, bash: "touch {tmp_path}/one; for i in $(seq 30); do [ -e {tmp_path}/two ] && exit 0; sleep 0.05; done; exit 1"}}
                branch02:
                  - {{id: a, bash: "touch {tmp_path}/two; for i in $(seq 30); do [ -e {tmp_path}/one ] && exit 0; sleep 0.05; done; exit 1"}}
    """)
    assert wf.execute({"max-workers": 2}).status is Status.SUCCESS
    for marker in tmp_path.glob("one"), tmp_path.glob("two"):
        for path in marker:
            path.unlink()
    assert wf.execute({"max-workers": 1}).status is Status.FAILED  # one branch at a time
    too_many = wf.execute({"max-workers": 1000})
    assert (
        "max-workers '${{ params.max-workers }}' gave 1000; it must be between 1 and 256"
        in (too_many.errors[0]["message"])
    )


def test_a_misspelt_key_on_a_name_only_stage_gets_a_hint(conf, runtime) -> None:
    folder = conf("""
    typo-sleep:
      type: Workflow
      jobs: {j: {stages: [{name: Wait, slep: 1}]}}
    """)
    with pytest.raises(TemplateError) as caught:
        Workflow.from_conf("typo-sleep", folder, runtime=runtime)
    assert "did you mean 'sleep' instead of 'slep'" in str(caught.value)
