"""Fuzz the template loader and the expression compiler: whatever the input, the only errors are
runwright's own (a clear message, never a traceback), and every example finishes quickly.

Bounded: a fixed number of examples per test and a per-example deadline (hostile inputs that
once took minutes now fail in milliseconds; the deadline is what says "no hang").
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runwright.errors import RunwrightError
from runwright.loader import build_model, discover
from runwright.runtime import Runtime

FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)

VALID = """\
wf:
  type: Workflow
  params: {n: {type: int, default: 2}, name: {type: str, default: x}}
  jobs:
    first:
      strategy: {matrix: {a: [1, 2]}}
      stages:
        - id: s
          bash: echo "${#x} ${{ params.n * 2 }}"
        - {id: t, echo: "${{ matrix.a }}", timeout-minutes: 1, sleep: 0}
    second:
      needs: first
      stages: [{id: u, run: "v = ${{ params.name }}"}]
"""

YAML_FRAGMENTS = [
    "wf:", "\n", "  ", "    ", "type: Workflow", "type: Schedule", "jobs:", "j:", "stages:", "- ",
    "id: s", "echo: ", "bash: ", "params:", "strategy:", "matrix:", "timeout-minutes: ", "sleep: ",
    "[", "]", "{", "}", ", ", ": ", "? ", "&a ", "*a", "&b ", "*b", "<<: ", "!!binary ", "!!python/object ",
    "!!str ", "!!int ", ".inf", ".nan", "-.inf", "1e308", "2024-13-45", "99" * 40, "'", '"', "|", ">",
    "${{", "}}", "${{ params.n }}", "${#x}", "{#", "#}", "{%", "%}", "${VAR}", "${HOME:-x}", "#", "---",
    "...", "\t", "\x00", "\xff", "é", "\ufeff", "~", "null", "true", "on", "%YAML 1.1", "@", "`",
]


@st.composite
def mutated_template(draw: st.DrawFn) -> bytes:
    """The valid template with a few bytes inserted, deleted or replaced."""
    data = bytearray(VALID.encode())
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = draw(st.sampled_from(YAML_FRAGMENTS)).encode("utf-8", "surrogatepass")
        if action == "insert":
            data[at:at] = chunk
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        else:
            data[at : at + len(chunk)] = chunk
    return bytes(data)


TEMPLATE_BYTES = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=400).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.text(max_size=200).map(lambda text: text.encode("utf-16", "surrogatepass")),
    st.lists(st.sampled_from(YAML_FRAGMENTS), max_size=60).map(lambda parts: "".join(parts).encode()),
    mutated_template(),
)


@pytest.fixture
def fuzz_runtime() -> Runtime:
    return Runtime.default()


@pytest.mark.timeout(120)
@FUZZ
@given(content=TEMPLATE_BYTES)
def test_loader_never_raises_anything_but_its_own_errors(
    tmp_path: Path, fuzz_runtime: Runtime, content: bytes
) -> None:
    file = tmp_path / "fuzz.yml"
    file.write_bytes(content)
    try:
        sources = discover(file)
    except RunwrightError:
        return
    for source in sources.values():
        try:
            build_model(source, fuzz_runtime)
        except RunwrightError:
            pass


EXPRESSION_FRAGMENTS = [
    "1", "0", "-1", "7", "10", "2.5", "1e308", "10**9", "10**(10**8)", "9" * 50, "'a'", "''", '"b"', "'%0999999999d'",
    "'{:>999999999}'", "'%s'", "'%*d'", " ", "+", "-", "*", "**", "/", "//", "%", "~", "(", ")", "[", "]", "{", "}",
    ",", ":", ".", "|", "==", "<", "and", "or", "not", "in", "is", "if", "else", "params", "params.n", "params.s",
    "params.items", "matrix", "range(", "lipsum(", "dict(", "center(", ".center(", ".ljust(", ".zfill(", ".join(",
    ".replace(", ".format(", ".__class__", "|center", "|join", "|slice(", "|batch(", "|indent(", "|format(",
    "|replace(", "|tojson", "|json(", "|list", "|length", "|int", "|sort", "|map('string')", "|fmt", "|upper",
    "|shell_quote", "|unknown_filter", "}}", "${{", "{#", "#}", "{%", "%}", "${#x}", "\\", "\n", "'}}'",
]

EXPRESSIONS = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(EXPRESSION_FRAGMENTS), max_size=25).map(lambda parts: "${{ " + "".join(parts) + " }}"),
    st.lists(st.sampled_from(EXPRESSION_FRAGMENTS), max_size=25).map("".join),
)

CONTEXT = {"params": {"n": 3, "s": "text", "items": [1, 2, 3]}, "matrix": {}}


@pytest.mark.timeout(120)
@FUZZ
@given(source=EXPRESSIONS)
def test_expression_compiler_never_raises_anything_but_expression_errors(
    fuzz_runtime: Runtime, source: str
) -> None:
    engine = fuzz_runtime.expressions
    try:
        engine.render(source, CONTEXT)
    except RunwrightError:
        pass
    try:
        engine.render_as_variables(source, CONTEXT, lambda name: "${" + name + "}")
    except RunwrightError:
        pass
