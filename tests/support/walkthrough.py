"""Run a document's console walkthrough as written: its ``$ …`` lines, in order, in one shell.

Why it reads the markdown instead of copying the commands: a walkthrough that a test copies drifts from the
page users follow, and the test keeps passing. Here the page *is* the script. :func:`blocks` takes the
`````console`` blocks of one section, joins ``\\``-continued lines and keeps each command exactly as printed
(trailing ``# …`` comments included: the shell ignores them as a user's shell does). :class:`Shell` feeds
them one at a time to one long-lived ``bash``, so ``export``s carry over and ``&`` backgrounds a job, as in
the terminal a user pastes them into; each command's output goes to its own log and its exit code comes back.

What a page asks the reader to run *in a second terminal* is named, for the test only, by an HTML comment
just before the block that needs it (invisible on the rendered page)::

    <!-- walkthrough-test: background `python -m sandbox.loopback out/sandbox-router` ready when `out/sandbox-router/green.url` exists -->

The command in backticks must appear verbatim in the section's visible text (:func:`blocks` refuses it
otherwise), so the comment can only point at what the page tells the reader to run, never add a command.
The test starts it in the background of the same shell before the block and waits until the named path
(relative to the working directory) exists.
"""
from __future__ import annotations

import dataclasses
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

DIRECTIVE = re.compile(r"<!--\s*walkthrough-test:(.*?)-->", re.S)
BACKGROUND = re.compile(r"background\s+`([^`]+)`\s+ready when\s+`([^`]+)`\s+exists")
FENCE = re.compile(r"^```console\n(.*?)^```", re.S | re.M)
HEADING = re.compile(r"^(#+) ", re.M)
RC = "__walkthrough_rc__"
BG = "__walkthrough_bg__"


@dataclasses.dataclass(frozen=True)
class Background:
    """A command the page runs in a second terminal, and the path whose existence says it is ready."""

    command: str
    ready: str


@dataclasses.dataclass(frozen=True)
class Block:
    """One ``console`` block: its commands in order, and what must run in the background first."""

    commands: tuple[str, ...]
    background: tuple[Background, ...]

    def has(self, text: str) -> bool:
        """Whether one of the block's commands contains ``text``."""
        return any(text in c for c in self.commands)


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole heading line, ``## …``) up to the next heading of its level or above.

    Raises:
        ValueError: no such heading.
    """
    text = "\n" + text
    start = text.find(f"\n{heading}\n")
    if start < 0:
        raise ValueError(f"no heading {heading!r}")
    level = len(heading.split(" ", 1)[0])
    body = text[start + len(heading) + 2:]
    for m in HEADING.finditer(body):
        if len(m.group(1)) <= level:
            return body[:m.start()]
    return body


def commands(console: str) -> list[str]:
    """The ``$ …`` commands of one console block's text, ``\\``-continued lines joined (prompt removed)."""
    out: list[str] = []
    lines = console.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.startswith("$ "):
            continue  # output the page shows
        command = line[2:]
        while command.rstrip().endswith("\\") and i < len(lines):
            command = command.rstrip()[:-1].rstrip() + " " + lines[i].strip()
            i += 1
        out.append(command.strip())
    return out


def plain(command: str) -> str:
    """A command without its trailing ``  # …`` comment and with single spaces: what two pages share."""
    return " ".join(command.split("  #", 1)[0].split())


def blocks(doc: Path, heading: str) -> list[Block]:
    """The console blocks of ``heading``'s section in ``doc``, with the background commands their directives name.

    Raises:
        ValueError: a directive that is not ``background `CMD` ready when `PATH` exists``, or whose command
            does not appear in the section's visible text.
    """
    text = section(doc.read_text(), heading)
    visible = DIRECTIVE.sub("", text)
    out: list[Block] = []
    pending: list[Background] = []
    pos = 0
    fences = list(FENCE.finditer(text))
    for fence in fences:
        for d in DIRECTIVE.finditer(text, pos, fence.start()):
            m = BACKGROUND.fullmatch(d.group(1).strip())
            if m is None:
                raise ValueError(f"{doc}: unreadable walkthrough-test directive {d.group(0)!r}")
            if m.group(1) not in visible:
                raise ValueError(f"{doc}: directive names `{m.group(1)}`, which the page never tells the reader to run")
            pending.append(Background(m.group(1), m.group(2)))
        out.append(Block(tuple(commands(fence.group(1))), tuple(pending)))
        pending = []
        pos = fence.end()
    return out


@dataclasses.dataclass(frozen=True)
class Result:
    command: str
    rc: int
    output: str
    seconds: float


class WalkthroughFailed(AssertionError):
    pass


class Shell:
    """One ``bash`` in its own process group, fed commands one at a time (see the module docstring).

    Args:
        cwd: the working directory (the "repository root" of the page).
        env: the whole environment of the shell.
        logs: where each command's output goes (``NN.log``).
    """

    def __init__(self, cwd: Path, env: dict[str, str], logs: Path) -> None:
        self.cwd, self.logs = cwd, logs
        logs.mkdir(parents=True, exist_ok=True)
        # Its own process group (to stop it whole), but not a session leader: a terminal opened for an
        # answer must not become its controlling terminal (closing that would hang the shell up).
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     process_group=0)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.n = 0
        self.background: dict[str, int] = {}  # command → pid
        self.results: list[Result] = []

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def _send(self, script: str, marker: str, timeout: float) -> str:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(script)
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise WalkthroughFailed(f"the shell exited ({self.proc.wait()})") from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                if time.monotonic() >= deadline or self.proc.poll() is not None:
                    raise WalkthroughFailed(f"no answer from the shell after {timeout:.0f}s") from None
                continue
            if line.startswith(marker + " "):
                return line[len(marker) + 1:]

    def run(self, command: str, *, timeout: float = 600, answer: str | None = None) -> Result:
        """Run one command as written; its standard input is /dev/null (nothing may prompt), or, with
        ``answer``, a terminal on which ``answer`` is typed (commands that confirm insist on a terminal).

        Raises:
            WalkthroughFailed: the command did not finish within ``timeout`` (its log tail in the message).
        """
        self.n += 1
        log = self.logs / f"{self.n:02d}.log"
        stdin, terminal = "/dev/null", None
        if answer is not None:
            terminal = os.openpty()
            stdin = os.ttyname(terminal[1])
            os.write(terminal[0], answer.encode())
        t0 = time.monotonic()
        try:
            rc = int(self._send(f"{{ {command}\n}} <{stdin} >{log} 2>&1\necho \"{RC} $?\"\n", RC, timeout))
        except WalkthroughFailed as e:
            raise WalkthroughFailed(f"$ {command}\n{e}\n{_tail(log)}") from None
        finally:
            for fd in terminal or ():
                os.close(fd)
        result = Result(command, rc, log.read_text(), time.monotonic() - t0)
        self.results.append(result)
        return result

    def check(self, command: str, **kw: object) -> Result:
        """:meth:`run`, failing with the command and its output unless it exits 0."""
        r = self.run(command, **kw)  # type: ignore[arg-type]
        if r.rc != 0:
            # The command before often holds the cause (e.g. an `akshift up` whose preview lists what changed).
            before = self.results[-2] if len(self.results) > 1 else None
            context = f"\n--- the command before: $ {before.command} (rc {before.rc}):\n{before.output[-2000:]}" \
                if before is not None else ""
            raise WalkthroughFailed(f"$ {command}\nexited {r.rc}:\n{r.output[-4000:]}{context}")
        return r

    def start(self, bg: Background, timeout: float = 120) -> None:
        """Start a second-terminal command in the background (once) and wait until its ready path exists.

        Raises:
            WalkthroughFailed: it exited, or its path did not appear within ``timeout``.
        """
        if bg.command in self.background:
            return
        self.n += 1
        log = self.logs / f"{self.n:02d}-background.log"
        pid = int(self._send(f"{bg.command} </dev/null >{log} 2>&1 &\necho \"{BG} $!\"\n", BG, 30))
        self.background[bg.command] = pid
        deadline = time.monotonic() + timeout
        while not (self.cwd / bg.ready).exists():
            if not _alive(pid) or time.monotonic() > deadline:
                raise WalkthroughFailed(f"background `{bg.command}` did not create {bg.ready}:\n{_tail(log)}")
            time.sleep(0.2)

    def stop_background(self, timeout: float = 30) -> None:
        """Interrupt the background commands (Ctrl-C in their terminals) and wait for them to exit."""
        for pid in self.background.values():
            if _alive(pid):
                os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        for pid in self.background.values():
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.background.clear()

    def close(self) -> None:
        """Stop everything the shell started (its whole process group) and the shell."""
        self.stop_background(10)
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie the shell has not reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _tail(log: Path, chars: int = 4000) -> str:
    return log.read_text()[-chars:] if log.exists() else "(no output)"
