"""README.md and docs/*.md show what the commands really print, and their links lead somewhere.

How a page marks up its examples (docs/testing.md says the same for writers):

- A ```sh block is run with bash; a ```python block with the interpreter running these tests. The blocks of one
  page run in order, in one temporary directory holding copies of the repository's configs/, data/ and
  scripts/, so `runs/...` paths land there and a page may train a run and use it further down. On that PATH,
  `nnctl` is `python -m nnctl` of this repository and `python` is the interpreter running the tests.
  A block must exit with 0.
- A plain ``` block right after a ```sh or ```python block (only blank lines between) is that block's stdout,
  compared line by line (trailing spaces ignored). A line that is only `…` stands for any number of lines
  (an excerpt). A plain ``` block anywhere else is an error: write ```text for text that is not an output.
- HTML comments on the lines just above a ```sh or ```python block direct the test:
    <!-- doc-test: skip REASON -->   the block is not run, nor its output compared (slow, timing, builds .venv)
    <!-- doc-test: mask REGEX -->    every match of the Python regex REGEX (multiline mode) is replaced by
                                     `<masked>` in both the shown and the actual output before comparing
                                     (timings, temporary paths); repeatable
    <!-- doc-test: exit N -->       the block exits with N instead of 0
    <!-- doc-test: stderr -->       compare stdout and stderr together, as a terminal shows them
- Every ```sh block, run or not, must paste into bash and into zsh: no unquoted `[`, `]`, `?` (zsh globs
  them and fails on no match), no `!` outside single quotes, no `#` comments (an interactive zsh without
  INTERACTIVE_COMMENTS passes them on as arguments).

Also checked: every relative link and image of these pages names an existing file, and every `#anchor` a
heading of its page; docs/explain-testnet.md is what `nnctl explain` writes.
"""
from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COPIED = ("configs", "data", "scripts")
TIMEOUT = 300
WORKERS = max(1, min(4, os.cpu_count() or 1))
FENCE = re.compile(r"^```(\S*)\s*$")
DIRECTIVE = re.compile(r"^<!-- doc-test: (skip|mask|exit|stderr)\b ?(.*?) -->$")
RUNNABLE = {"sh": ["bash", "-e"], "python": [sys.executable]}
LANGUAGES = {"", "sh", "python", "yaml", "text", "markdown", "latex"}


@dataclass
class Block:
    page: Path
    line: int                   # 1-based line of the opening fence
    end: int                    # 1-based line of the closing fence
    lang: str
    text: str
    directives: list = field(default_factory=list)
    output: "Block | None" = None

    def where(self):
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def directive(self, name):
        return [value for key, value in self.directives if key == name]


def parse(page):
    """The fenced blocks of ``page``; a runnable one carries its directives and the output block after it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].rstrip() == "```"), None)
        assert end is not None, f"{page.relative_to(ROOT)}:{i + 1}: a fenced block is never closed"
        block = Block(page, i + 1, end + 1, opening.group(1), "\n".join(lines[i + 1:end]))
        j = i - 1
        while j >= 0 and (not lines[j].strip() or DIRECTIVE.match(lines[j].strip())):
            found = DIRECTIVE.match(lines[j].strip())
            if found:
                block.directives.insert(0, (found.group(1), found.group(2)))
            j -= 1
        previous = blocks[-1] if blocks else None
        if (block.lang == "" and previous is not None and previous.lang in RUNNABLE and previous.output is None
                and not any(line.strip() for line in lines[previous.end:i])):
            previous.output = block
        else:
            blocks.append(block)
        i = end + 1
    return blocks


def page_id(page):
    return str(page.relative_to(ROOT))


def run_block(block, cwd, env):
    stderr = subprocess.STDOUT if block.directive("stderr") else subprocess.PIPE
    return subprocess.run([*RUNNABLE[block.lang], "-c", block.text], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=stderr, text=True, timeout=TIMEOUT)


def normalise(text):
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def masked(text, patterns):
    for pattern in patterns:
        text = re.sub(pattern, "<masked>", text, flags=re.M)
    return text


def matches(shown, actual):
    """Whether the ``actual`` lines fit the ``shown`` ones, where a shown line `…` fits any number of lines."""
    pattern = "".join(r"(?:[^\n]*\n)*?" if line == "…" else re.escape(line) + r"\n" for line in shown)
    return re.fullmatch(pattern, "".join(line + "\n" for line in actual), flags=re.S) is not None


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    """A bin/ directory whose `nnctl` and `python` are this repository's package and the tests' interpreter."""
    bin_dir = tmp_path_factory.mktemp("bin")
    for name, command in (("nnctl", f'"{sys.executable}" -m nnctl'), ("python", f'"{sys.executable}"')):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        script.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT),
               PYTHONIOENCODING="utf-8", MPLBACKEND="Agg")
    env.pop("PYTHONSTARTUP", None)
    return env


def run_page(page, cwd, env):
    """Run the blocks of ``page`` in order in ``cwd``; one message per block that failed or printed otherwise."""
    for folder in COPIED:
        shutil.copytree(ROOT / folder, cwd / folder, ignore=shutil.ignore_patterns("__pycache__"))
    failures = []
    for block in parse(page):
        if block.lang not in RUNNABLE or block.directive("skip"):
            continue
        try:
            proc = run_block(block, cwd, env)
        except subprocess.TimeoutExpired:
            failures.append(f"{block.where()}: still running after {TIMEOUT} s")
            continue
        want_exit = int((block.directive("exit") or ["0"])[0])
        if proc.returncode != want_exit:
            failures.append(f"{block.where()}: exit code {proc.returncode}, expected {want_exit}\n"
                            f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr or ''}")
            continue
        if block.output is None:
            continue
        patterns = block.directive("mask")
        shown = normalise(masked(block.output.text, patterns))
        actual = normalise(masked(proc.stdout, patterns))
        if not matches(shown, actual):
            diff = "\n".join(difflib.unified_diff(shown, actual, f"shown at {block.output.where()}",
                                                  "printed now", lineterm=""))
            failures.append(f"{block.where()}: the output differs\n{diff}")
    return failures


@pytest.fixture(scope="module")
def page_failures(request, shim, tmp_path_factory):
    """The failures of every page this session tests, the pages run WORKERS at a time (each page's blocks in
    order): most of the time goes into starting Python and NumPy, which runs as well side by side."""
    pages = {item.callspec.params["page"] for item in request.session.items
             if getattr(item, "originalname", None) == "test_shown_outputs_are_what_the_commands_print"}
    def runnable(page):
        return sum(block.lang in RUNNABLE and not block.directive("skip") for block in parse(page))

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {page: pool.submit(run_page, page, tmp_path_factory.mktemp("page"), shim)
                   for page in sorted(pages, key=runnable, reverse=True)}
    return {page: future.result() for page, future in futures.items()}


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_shown_outputs_are_what_the_commands_print(page, page_failures):
    failures = page_failures[page]
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_blocks_are_marked_up_as_the_test_reads_them(page):
    problems = []
    for block in parse(page):
        if block.lang not in LANGUAGES:
            problems.append(f"{block.where()}: fence language {block.lang!r}: use one of {sorted(LANGUAGES)}")
        if block.lang == "":
            problems.append(f"{block.where()}: a plain ``` block that is no command's output: write ```text")
        if block.directives and block.lang not in RUNNABLE:
            problems.append(f"{block.where()}: doc-test directives above a block that is not run")
        for pattern in block.directive("mask"):
            re.compile(pattern)
        if block.directive("skip") == [""]:
            problems.append(f"{block.where()}: doc-test: skip needs a reason")
    assert not problems, "\n".join(problems)


def unquoted(line):
    """(index, character, quote) for the characters of a shell line that are not single-quoted or escaped;
    quote is '"' inside double quotes, else None."""
    quote, out, escaped = None, [], False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif quote == "'":
            quote = None if char == "'" else quote
        elif char == "\\":
            escaped = True
        elif char == "'" and quote is None:
            quote = "'"
        elif char == '"':
            quote = None if quote else '"'
        else:
            out.append((i, char, quote))
    return out


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_shell_examples_paste_into_bash_and_zsh(page):
    problems = []
    for block in parse(page):
        if block.lang != "sh":
            continue
        for offset, line in enumerate(block.text.splitlines(), start=1):
            for i, char, quote in unquoted(line):
                bad = (quote is None and char in "[]?") or char == "!" or (
                    quote is None and char == "#" and (i == 0 or line[i - 1] in " \t"))
                if bad:
                    problems.append(f"{block.page.relative_to(ROOT)}:{block.line + offset}: unquoted {char!r} in "
                                    f"{line.strip()!r}")
    assert not problems, "\n".join(problems)


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def headings(page):
    """GitHub's anchors for the headings of ``page``."""
    anchors, seen = set(), {}
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if in_fence or not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def prose(page):
    """The lines of ``page`` outside fenced blocks, with inline code removed."""
    in_fence = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield number, re.sub(r"`[^`]*`", "", line)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_resolve(page):
    problems = []
    for number, line in prose(page):
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}:{number}: {target}"
            if not file.exists():
                problems.append(f"{where}: no such file")
            elif ROOT not in file.parents and file != ROOT:
                problems.append(f"{where}: outside the repository")
            elif anchor and (file.suffix != ".md" or anchor not in headings(file)):
                problems.append(f"{where}: no heading with that anchor")
    assert not problems, "\n".join(problems)


def test_explain_testnet_page_is_what_explain_writes(tmp_path, shim):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    proc = subprocess.run([sys.executable, "-m", "nnctl", "explain", "configs/testnet.yaml", "--index", "0", "--format", "markdown"],
                          cwd=tmp_path, env=shim, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    shown = (ROOT / "docs" / "explain-testnet.md").read_text(encoding="utf-8")
    assert proc.stdout == shown, "\n".join(difflib.unified_diff(
        shown.splitlines(), proc.stdout.splitlines(), "docs/explain-testnet.md", "printed now", lineterm=""))


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_named_tests_and_corpus_cases_exist(page):
    text = page.read_text(encoding="utf-8")
    sources = "\n".join(file.read_text(encoding="utf-8") for file in (ROOT / "tests").rglob("*.py"))
    cases = "\n".join(file.read_text(encoding="utf-8") for file in (ROOT / "tests").rglob("cases.yaml"))
    missing = [name for name in re.findall(r"`(test_\w+)(?:\[[^\]`]*\])?`", text) if f"def {name}(" not in sources]
    for group in re.findall(r"corpus cases? ((?:`\w+`(?:, )?)+)", text):
        missing += [case for case in re.findall(r"`(\w+)`", group) if f"id: {case}," not in cases]
    assert not missing, f"{page_id(page)} names tests or corpus cases that do not exist: {missing}"
