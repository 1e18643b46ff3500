"""Shared helpers of the benchmarks: the machine, and one section of RESULTS.md per benchmark."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    """One line naming the machine: CPU model, cores, memory, OS, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(
            next(
                x
                for x in Path("/proc/meminfo").read_text().splitlines()
                if x.startswith("MemTotal")
            ).split()[1]
        )
        mem = f", {kb / 1024**2:.1f} GiB RAM"
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def git_rev() -> str:
    """The commit the benchmark ran on."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=RESULTS.parent, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


#: A line in a section after which its text is written by hand (earlier runs, their reading) and kept
#: by :func:`write_section` when it replaces the section.
KEEP_MARK = "<!-- kept by write_section: earlier runs below -->"


def write_section(title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of RESULTS.md, stamped with machine and date.

    What follows :data:`KEEP_MARK` in the old section (the history of earlier runs) is kept after
    the new body.
    """
    stamp = f"_Run {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} on {machine()}, commit {git_rev()}._\n\n"
    text = (
        RESULTS.read_text(encoding="utf-8")
        if RESULTS.exists()
        else "# Benchmark results\n\nRun by hand; see each script's docstring.\n"
    )
    section = f"## {title}\n\n{stamp}{body.rstrip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    found = pattern.search(text)
    if found and KEEP_MARK in found.group(0):
        kept = found.group(0).split(KEEP_MARK, 1)[1].rstrip()
        section = f"{section}\n{KEEP_MARK}{kept}\n"
    if found:
        text = pattern.sub(lambda _m: section + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text.rstrip() + "\n", encoding="utf-8")
