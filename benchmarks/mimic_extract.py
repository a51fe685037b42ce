"""Throughput and memory of the MIMIC-III extraction on a paper-scale generated database.

Writes a MIMIC-III v1.4-shaped database (release column names, mapped and unmapped ITEMIDs,
unit spellings, ERROR rows, times around each stay) in chunks, at full scale (default 48,000
ICU stays, 52 million CHARTEVENTS rows) and at a quarter of it, then runs
``mmlego mimic-extract`` on each in a fresh process. Reports wall time, rows/s and the
extraction process's peak RSS, and the ratio of the two times against the ratio of rows
(time linear in rows: the two should match). Results go to
``results/benchmarks/mimic_extract.{json,md}``.

    .venv/bin/python benchmarks/mimic_extract.py [--stays 48000 --chart-rows 52000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from child_time import run_timed

from mmlego.data.mimic.variables import load_variable_map
from mmlego.utils.provenance import provenance

REPO = Path(__file__).resolve().parents[1]
HOUR = 3600
DAY = 86400
BASE = 4102444800  # 2100-01-01 00:00:00, a shifted MIMIC date
CHUNK = 2_000_000

# Typical value and spread per variable, in each ITEMID's own unit family.
TYPICAL = {
    "heart_rate": (85, 15),
    "sbp": (120, 20),
    "dbp": (65, 12),
    "mbp": (80, 12),
    "resp_rate": (18, 5),
    "temperature": (37, 0.7),
    "spo2": (96, 3),
    "gcs": (12, 3),
    "fio2": (45, 15),
    "glucose": (140, 40),
    "ph": (7.38, 0.06),
    "pao2": (110, 40),
}


def _ts(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds, type=pa.timestamp("s"))


def _write(path: Path, columns: dict[str, pa.Array], header: bool = True) -> None:
    table = pa.table(columns)
    options = pacsv.WriteOptions(include_header=header)
    with open(path, "ab" if not header else "wb") as handle:
        pacsv.write_csv(table, handle, write_options=options)


def _items(table: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mapped ITEMIDs of chart or lab events: ids, typical value, spread, unit spelling."""
    mapping = load_variable_map()
    ids, mean, sd, unit = [], [], [], []
    systems = ("carevue", "metavision") if table == "chart" else ("labevents",)
    for channel in mapping.channels():
        var = mapping.variables[channel.variable]
        for system in systems:
            for itemid, uname in channel.itemids.get(system, {}).items():
                mu, s = TYPICAL[var.name]
                if channel.component:
                    mu, s = (channel.low + channel.high) / 2, 1.0
                spec = var.units[uname]
                ids.append(itemid)
                mean.append((mu - spec.offset) / spec.scale)
                sd.append(s / spec.scale)
                unit.append(spec.spellings[0] if spec.spellings else "")
    return np.array(ids), np.array(mean), np.array(sd), np.array(unit, dtype=object)


def generate(root: Path, stays: int, chart_rows: int, seed: int = 0) -> dict[str, int]:
    """Write the six tables under ``root``; returns row counts."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    patients = int(stays * 0.85)
    subject = np.concatenate([np.arange(patients), rng.integers(0, patients, stays - patients)]) + 1
    hadm = np.arange(stays) + 100_000
    icustay = np.arange(stays) + 200_000
    admit = BASE + rng.integers(0, 100 * 365, stays) * DAY + rng.integers(0, DAY, stays)
    intime = admit + rng.integers(0, 12 * HOUR, stays)
    los = rng.gamma(1.6, 1.9, stays) * DAY  # median about 2.4 days, a fifth under 24 h
    outtime = intime + los.astype(np.int64) + HOUR
    age = rng.uniform(18, 89, patients)
    age[rng.random(patients) < 0.05] = 300  # the release's >89 shift
    first_admit = np.full(patients, np.iinfo(np.int64).max)
    np.minimum.at(first_admit, subject - 1, admit)
    dob = first_admit - (age * 365.2425 * DAY).astype(np.int64)
    dies = rng.random(stays) < 0.12
    death = np.where(dies, admit + (rng.exponential(30, stays) * DAY).astype(np.int64), 0)

    _write(
        root / "PATIENTS.csv",
        {
            "ROW_ID": np.arange(patients),
            "SUBJECT_ID": np.arange(patients) + 1,
            "GENDER": pa.array(np.where(rng.random(patients) < 0.5, "F", "M")),
            "DOB": _ts(dob),
            "DOD": pa.array(np.full(patients, None), pa.timestamp("s")),
            "EXPIRE_FLAG": np.zeros(patients, dtype=np.int64),
        },
    )
    _write(
        root / "ADMISSIONS.csv",
        {
            "ROW_ID": np.arange(stays),
            "SUBJECT_ID": subject,
            "HADM_ID": hadm,
            "ADMITTIME": _ts(admit),
            "DISCHTIME": _ts(outtime + DAY),
            "DEATHTIME": pa.array(np.where(dies, death, 0), pa.timestamp("s"), mask=~dies),
            "ADMISSION_TYPE": pa.array(
                rng.choice(["EMERGENCY", "ELECTIVE", "URGENT"], stays, p=[0.8, 0.15, 0.05])
            ),
        },
    )
    _write(
        root / "ICUSTAYS.csv",
        {
            "ROW_ID": np.arange(stays),
            "SUBJECT_ID": subject,
            "HADM_ID": hadm,
            "ICUSTAY_ID": icustay,
            "DBSOURCE": pa.array(np.where(rng.random(stays) < 0.6, "carevue", "metavision")),
            "INTIME": _ts(intime),
            "OUTTIME": _ts(outtime),
            "LOS": los / DAY,
        },
    )
    n_diag = stays * 12
    codes = np.array(
        [
            "4280",
            "5070",
            "486",
            "0389",
            "42731",
            "5849",
            "1970",
            "20300",
            "042",
            "V4581",
            "E8782",
            "2724",
        ]
    )
    _write(
        root / "DIAGNOSES_ICD.csv",
        {
            "ROW_ID": np.arange(n_diag),
            "SUBJECT_ID": np.repeat(subject, 12),
            "HADM_ID": np.repeat(hadm, 12),
            "SEQ_NUM": np.tile(np.arange(1, 13), stays),
            "ICD9_CODE": pa.array(rng.choice(codes, n_diag)),
        },
    )

    counts = {"CHARTEVENTS": chart_rows, "LABEVENTS": chart_rows // 10}
    for table, rows in counts.items():
        kind = "chart" if table == "CHARTEVENTS" else "lab"
        ids, mean, sd, unit = _items(kind)
        other = rng.choice(np.setdiff1d(np.arange(1, 230_000), ids), 300, replace=False)
        path = root / f"{table}.csv"
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            stay = rng.integers(0, stays, n)
            mapped = rng.random(n) < 0.5
            k = rng.integers(0, len(ids), n)
            itemid = np.where(mapped, ids[k], other[rng.integers(0, len(other), n)])
            span = (outtime[stay] - intime[stay]) + 12 * HOUR
            charttime = intime[stay] - 6 * HOUR + (rng.random(n) * span).astype(np.int64)
            value = np.round(np.where(mapped, rng.normal(mean[k], sd[k]), rng.normal(50, 20, n)), 2)
            uom = np.where(mapped, unit[k], "")
            cols = {
                "ROW_ID": np.arange(start, start + n),
                "SUBJECT_ID": subject[stay],
                "HADM_ID": hadm[stay],
            }
            if kind == "chart":
                cols["ICUSTAY_ID"] = icustay[stay]
            cols |= {"ITEMID": itemid, "CHARTTIME": _ts(charttime)}
            if kind == "chart":
                cols |= {"STORETIME": _ts(charttime + 600), "CGID": rng.integers(14000, 21000, n)}
            cols |= {"VALUE": value, "VALUENUM": value, "VALUEUOM": pa.array(uom.astype(str))}
            if kind == "chart":
                error = rng.random(n) < 0.01
                cols |= {"WARNING": np.zeros(n, dtype=np.int64), "ERROR": error.astype(np.int64)}
            else:
                cols["FLAG"] = pa.array(np.where(value > mean[k] + sd[k], "abnormal", ""))
            _write(path, cols, header=start == 0)
    return {"stays": stays, "patients": patients, **counts}


def run_extraction(root: Path, out: Path) -> dict[str, float]:
    """``mmlego mimic-extract`` in a fresh process; wall time and the summary it writes."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "mmlego.cli",
        "mimic-extract",
        "--mimic-dir",
        str(root),
        "--cfg",
        json.dumps({"chunk_rows": 2_000_000}),
        "--out-dir",
        str(out),
        "--threads",
        "2",
    ]
    load = os.getloadavg()[0]
    _, wall, cpu = run_timed(cmd, check=True)
    summary = json.loads((out / "summary.json").read_text())
    return {
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "cpu_us_per_row": round(1e6 * cpu / summary["rows_streamed"], 3),
        "load_average_1min": [round(load, 1), round(os.getloadavg()[0], 1)],
        "stream_seconds": summary["stream_seconds"],
        "rows_streamed": summary["rows_streamed"],
        "rows_per_second": round(summary["rows_streamed"] / wall),
        "stream_rows_per_second": summary["rows_per_second"],
        "peak_rss_mb": summary["peak_rss_mb"],
        "cohort_stays": summary["stays"],
    }


def measure(args: argparse.Namespace) -> dict[str, dict]:
    """Generate and extract at a quarter and at full scale."""
    results = {}
    for name, factor in (("quarter", 4), ("full", 1)):
        root = args.workdir / name
        started = time.perf_counter()
        sizes = generate(root, args.stays // factor, args.chart_rows // factor)
        gen_seconds = time.perf_counter() - started
        size_gb = sum(f.stat().st_size for f in root.iterdir()) / 1e9
        results[name] = {
            **sizes,
            "database_gb": round(size_gb, 2),
            "generate_seconds": round(gen_seconds, 1),
            **run_extraction(root, args.workdir / f"{name}_out"),
        }
        print(name, results[name], flush=True)
        if not args.keep:
            shutil.rmtree(root)
    return results


def report(results: dict[str, dict], record: dict) -> None:
    """Write ``results/benchmarks/mimic_extract.{json,md}``."""
    full, quarter = results["full"], results["quarter"]
    rows = full["rows_streamed"] - quarter["rows_streamed"]
    marginal = (full["cpu_seconds"] - quarter["cpu_seconds"]) / rows
    payload = {
        "benchmark": "mimic_extract",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "results": results,
        "rows_ratio": round(full["rows_streamed"] / quarter["rows_streamed"], 3),
        "wall_ratio": round(full["wall_seconds"] / quarter["wall_seconds"], 3),
        "stream_ratio": round(full["stream_seconds"] / quarter["stream_seconds"], 3),
        "cpu_ratio": round(full["cpu_seconds"] / quarter["cpu_seconds"], 3),
        # CPU time = fixed + per_row * rows, solved from the two scales
        "cpu_us_per_row_marginal": round(1e6 * marginal, 3),
        "cpu_seconds_fixed": round(full["cpu_seconds"] - marginal * full["rows_streamed"], 1),
        "peak_rss_target_mb": 4096,
    }
    out = REPO / "results" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / "mimic_extract.json").write_text(
        json.dumps({**payload, "provenance": record}, indent=2, default=str)
    )
    lines = [
        "# MIMIC-III extraction benchmark",
        "",
        f"Generated MIMIC-III-shaped databases; `mmlego mimic-extract` with 2 threads on "
        f"{os.cpu_count()} CPU cores.",
        "",
        "| scale | ICU stays | cohort stays | rows streamed | DB size (GB) | wall (s) | rows/s | CPU (s) | CPU µs/row | peak RSS (MB) | load (1 min) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['stays']:,} | {r['cohort_stays']:,} | {r['rows_streamed']:,} | "
            f"{r['database_gb']} | {r['wall_seconds']} | {r['rows_per_second']:,} | "
            f"{r['cpu_seconds']} | {r['cpu_us_per_row']} | {r['peak_rss_mb']:.0f} | "
            f"{r['load_average_1min'][0]}-{r['load_average_1min'][1]} |"
        )
    lines += [
        "",
        f"Rows ratio full/quarter {payload['rows_ratio']}; CPU-time ratio {payload['cpu_ratio']}; "
        f"wall-time ratio {payload['wall_ratio']}; streaming-time ratio {payload['stream_ratio']}. "
        "Wall times depend on the machine's load; CPU time much less. CPU time fitted as fixed + "
        f"per-row cost: {payload['cpu_seconds_fixed']} s fixed (process start, imports, cohort, "
        f"writing) + {payload['cpu_us_per_row_marginal']} µs per row. "
        f"Peak RSS target: < {payload['peak_rss_target_mb']} MB.",
    ]
    (out / "mimic_extract.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stays", type=int, default=48_000)
    parser.add_argument("--chart-rows", type=int, default=52_000_000)
    parser.add_argument(
        "--workdir", type=Path, default=REPO / "results" / "benchmarks" / "mimic_db"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated databases")
    parser.add_argument(
        "--from-json", type=Path, help="only rewrite the report from an earlier run's JSON"
    )
    args = parser.parse_args()
    if args.from_json:
        earlier = json.loads(args.from_json.read_text())
        report(earlier["results"], earlier["provenance"])
        return
    results = measure(args)
    report(results, provenance(vars(args) | {"workdir": str(args.workdir)}))


if __name__ == "__main__":
    main()
