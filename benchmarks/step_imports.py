"""What each workflow step's process imports, and what its start costs, on a finished run.

For every rule of a finished run (its working folder's ``.snakemake/metadata`` records each
job's shell command), one job's ``mmlego`` command runs again under ``python -X importtime``
(the first step of a ``batch``), its outputs and log redirected to a temporary folder. Per
rule: the CPU seconds of the process, the seconds spent importing, and the heavy packages it
imported with their cumulative import time. A step should import what it uses: no
scikit-learn in a training job, no torch in a metrics job.

    python benchmarks/step_imports.py --workdir RUN_FOLDER [--rules train metrics ...] \
        [--name step_imports]

writes ``results/benchmarks/<name>.{json,md}``. With ``PYTHONPATH=<other checkout>/src`` the
steps run another checkout's code, for a before/after comparison in one session.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

from child_time import run_timed
from summary import write_report

OUT = Path("results/benchmarks")
HEAVY = (
    "torch", "pandas", "pyarrow", "numpy", "h5py", "scipy", "sklearn", "sksurv",
    "matplotlib", "optuna", "PIL", "tifffile", "yaml", "jsonschema",
)  # fmt: skip
RUNNER = "import sys; from mmlego.cli import main; sys.exit(main(sys.argv[1:]))"


def rule_commands(workdir: Path) -> dict[str, str]:
    """One finished job's shell command per rule (the first record found, in name order)."""
    folder = workdir / ".snakemake" / "metadata"
    commands: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        record = json.loads(path.read_text())
        rule, command = record.get("rule"), record.get("shellcmd")
        if rule and command and rule not in commands and command.startswith("mmlego "):
            commands[rule] = command
    return commands


def one_step(command: str, scratch: Path) -> list[str]:
    """The ``mmlego`` arguments of ``command`` (a batch's first step), every ``--out*`` and
    ``--log`` value moved into ``scratch``: the run's own files stay as they are."""
    args = shlex.split(command)[1:]
    if args and args[0] == "batch":
        args = json.loads(args[1])
    moved = []
    for i, arg in enumerate(args):
        option = args[i - 1] if i else ""
        if option == "--log" or option.startswith("--out"):
            arg = str(scratch / f"{i}_{Path(arg).name}")
        moved.append(arg)
    return moved


def parse_importtime(stderr: str) -> tuple[float, dict[str, float]]:
    """(seconds importing, {heavy top-level package: cumulative seconds}) from importtime."""
    total, heavy = 0.0, {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        depth = len(name) - len(name.lstrip(" "))
        name = name.strip()
        if depth == 1:
            total += int(cumulative) / 1e6
        if name in HEAVY:
            heavy[name] = heavy.get(name, 0.0) + int(cumulative) / 1e6
    return total, heavy


def measure(workdir: Path, rule: str, command: str) -> dict:
    """Run one step of ``rule`` under importtime; its CPU and import seconds."""
    with tempfile.TemporaryDirectory() as scratch:
        args = one_step(command, Path(scratch))
        done, _, cpu = run_timed(
            [sys.executable, "-X", "importtime", "-c", RUNNER, *args],
            cwd=workdir, capture_output=True, text=True, env=os.environ,
        )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"{rule}: the step failed:\n{done.stderr[-2000:]}")
    import_s, heavy = parse_importtime(done.stderr)
    return {
        "rule": rule,
        "step": args[2] if args[:1] == ["--log"] else args[0],
        "cpu_s": round(cpu, 2),
        "import_s": round(import_s, 2),
        "heavy": {k: round(v, 2) for k, v in sorted(heavy.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="folder snakemake ran in")
    parser.add_argument("--rules", nargs="*", default=None, help="only these rules")
    parser.add_argument("--name", default="step_imports", help="report name")
    args = parser.parse_args()
    commands = rule_commands(args.workdir)
    rules = args.rules or sorted(commands)
    rows = [measure(args.workdir, rule, commands[rule]) for rule in rules if rule in commands]
    load = os.getloadavg()[0]
    lines = [
        f"One step per rule under `python -X importtime` (load average {load:.1f} at the end;"
        " seconds are stretched by load, the package lists are not).",
        "",
        "| rule | step | CPU s | import s | heavy packages imported (cumulative s) |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for row in rows:
        heavy = ", ".join(f"{k} {v}" for k, v in row["heavy"].items() if k != "numpy")
        lines.append(
            f"| {row['rule']} | {row['step']} | {row['cpu_s']} | {row['import_s']} | {heavy} |"
        )
    write_report(OUT, args.name, {"load_average": load, "steps": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
