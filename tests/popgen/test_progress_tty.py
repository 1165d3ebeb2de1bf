"""§11 item 23, TTY half: on a real terminal (a pseudo-terminal here) `kiln popgen run` and
`kiln popgen sweep` draw tqdm bars with done/total, percentage and ETA, redrawn in place; with
KILN_NO_PROGRESS=1 they fall back to status lines, and --no-progress silences them."""
import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

RUN = ["popgen", "run", "--K", "60", "--n", "1", "--M", "1", "--T", "20", "--horizon", "50",
       "--replicates", "300", "--workers", "2"]
SWEEP = """
[sweep]
seed = 4
task = "runs"
[base]
K = 60
M = 1.0
[grid]
n = [1, 2]
[horizon]
generations = 50
[runs]
T = [20.0]
replicates = 40
"""


def in_pty(args, env=None, cwd=None, argv=None):
    """Runs `python -m kiln ARGS` (or `argv`) with stdin, stdout and stderr on a pseudo-terminal (100x30);
    returns (exit code, everything written to the terminal)."""
    try:
        master, slave = os.openpty()
    except OSError as e:  # pragma: no cover - no pty devices in this sandbox
        pytest.skip(f"no pseudo-terminal: {e}")
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    e = {k: v for k, v in os.environ.items() if k != "KILN_NO_PROGRESS"}
    e.update(env or {})
    p = subprocess.Popen(argv or [sys.executable, "-m", "kiln", *args], stdin=slave, stdout=slave, stderr=slave,
                         env=e, cwd=cwd, close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 1.0)
            if r:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif p.poll() is not None:
                break
        code = p.wait(timeout=60)
    finally:
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def bar_lines(out):
    """The successive states of the bar: tqdm redraws its one line after a carriage return."""
    return [x for x in out.replace("\n", "\r").split("\r") if x.startswith("runs:")]


def test_child_sees_a_terminal():
    code, out = in_pty(None, argv=[sys.executable, "-c", "import sys; print(sys.stderr.isatty(), sys.stdout.isatty())"])
    assert code == 0 and out.split() == ["True", "True"], out


def test_run_draws_a_bar_on_a_tty():
    code, out = in_pty(RUN)
    assert code == 0, out
    assert "300 runs:" in out
    bar = bar_lines(out)
    assert len(bar) >= 2, out  # drawn, then redrawn in place (carriage returns, one line)
    final = bar[-1]
    assert "100%" in final and "300/300" in final and "|" in final and "<" in final and "it/s" in final, final


def test_tty_with_kiln_no_progress_prints_status_lines():
    code, out = in_pty(RUN, env={"KILN_NO_PROGRESS": "1"})
    assert code == 0, out
    assert "runs: 300/300" in out and "%|" not in out and "\r" not in out.replace("\r\n", "")


def test_tty_with_no_progress_flag_is_silent():
    code, out = in_pty(RUN + ["--no-progress"])
    assert code == 0, out
    assert bar_lines(out) == [] and "300 runs: 300 persisted" in out


def test_sweep_bar_shows_runs_and_cells(tmp_path):
    (tmp_path / "sweep.toml").write_text(SWEEP)
    code, out = in_pty(["popgen", "sweep", str(tmp_path / "sweep.toml"), "--store", str(tmp_path / "res"),
                        "--workers", "2"])
    assert code == 0, out
    bar = bar_lines(out)
    assert bar and "80/80" in bar[-1] and "100%" in bar[-1] and "cell 2/2" in bar[-1], out
