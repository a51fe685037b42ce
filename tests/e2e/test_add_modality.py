"""Adding a modality to a finished study retrains only the new modality's runs (issue 18 item 4).

The runs of a real study of two tabular modalities are trained, then a third modality is added
to its config; the dry run of the whole study must plan the new modality's LegoBlock and unimodal baseline, the merges, LegoFuse, the
multimodal baseline and the tables, and no train job of the two old modalities.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from mmlego import layout
from tests.conftest import run_snakemake

N = 40
OLD, NEW = ["clin", "genes"], "prot"
MODELS = ["lego_block", "lego_merge", "lego_fuse", "snn", "late_concat"]


def _files(root) -> None:
    """Survival labels and three tables sharing the patients' risk."""
    rng = np.random.default_rng(11)
    ids = [f"p{i:02d}" for i in range(N)]
    risk = rng.normal(size=N)
    pd.DataFrame(
        {"pid": ids, "months": np.exp(-risk) * 20 + 1, "dead": rng.integers(0, 2, N)}
    ).to_csv(root / "labels.csv", index=False)
    for name, width in (("clin", 3), ("genes", 4), ("prot", 2)):
        table = pd.DataFrame(
            risk[:, None] + rng.normal(size=(N, width)),
            columns=[f"{name}{j}" for j in range(width)],
        )
        table.insert(0, "pid", ids)
        table.iloc[: N - 2].to_csv(root / f"{name}.csv", index=False)  # two patients lack it


def _config(root, mods, batch_splits) -> dict:
    return {
        "output_dir": str(root / "out"),
        "device": "cpu",
        "batch_splits": batch_splits,
        "splits": {"repeats": 2},
        "datasets": {
            "mine": {
                "kind": "generic",
                "task": "survival",
                "labels": {"path": str(root / "labels.csv"), "id": "pid", "time": "months",
                           "event": "dead"},
                "modalities": {
                    m: {"type": "tabular", "path": str(root / f"{m}.csv"), "id": "pid"}
                    for m in mods
                },
            }
        },
        "models": MODELS,
        "lego": {"latent_len": 4, "latent_dim": 8, "heads": 2, "dim_head": 4, "encoder_dim": 8},
        "train": {"epochs": 1, "batch_size": 16, "patience": 1},
        "fuse": {"epochs": 1},
        "evaluate": {"bootstrap": 10, "unpaired": {"enabled": False}},
    }  # fmt: skip


def planned_jobs(text: str) -> list[tuple[str, list[str]]]:
    """(rule, outputs) of every job of a ``snakemake -n --quiet host`` listing."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule |checkpoint )", text):
        head = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", block)
        outputs = re.search(r"\n\s+output: (.*)", block)
        if head:
            jobs.append((head[1], outputs[1].split(", ") if outputs else []))
    return jobs


def _runs_of(jobs, rule: str) -> set[str]:
    """The run folders (``lego_block.clin``) of the planned jobs of ``rule``."""
    return {path.split("/")[-3] for name, outs in jobs if name == rule for path in outs}


def _trained(root) -> list[str]:
    """The predictions of every run of the two-modality study that trains or combines blocks
    (its metrics, tables and figures are left out to keep the test short: the plan after the
    change names them in any case)."""
    runs = [f"{m}.{mod}" for m in ("lego_block", "snn") for mod in OLD]
    runs += ["late_concat", "lego_merge", "lego_fuse"]
    ds = layout.dataset_dir(str(root / "out"), "mine")
    return [layout.predictions(layout.run_dir(ds, run, k)) for run in runs for k in (0, 1)]


@pytest.mark.parametrize("batch_splits", [True, False])
def test_adding_a_modality_retrains_only_its_own_runs(tmp_path, batch_splits):
    _files(tmp_path)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path, OLD, batch_splits)))
    targets = _trained(tmp_path)
    done = run_snakemake(*targets, "--cores", "2", "--configfile", str(path), timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    again = run_snakemake(*targets, "-n", "--cores", "1", "--configfile", str(path))
    assert "Nothing to be done" in again.stdout + again.stderr

    path.write_text(yaml.safe_dump(_config(tmp_path, [*OLD, NEW], batch_splits)))
    plan = run_snakemake("-n", "--quiet", "host", "--cores", "1", "--configfile", str(path))
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = planned_jobs(plan.stdout)
    rules = {name for name, _ in jobs}
    # The new modality's runs train; every old unimodal run is reused as it was.
    assert _runs_of(jobs, "train") == {f"lego_block.{NEW}", f"snn.{NEW}", "late_concat"}
    # Nothing they were trained on is rebuilt: not the labels, the splits, the old stores,
    # nor the old modalities' transforms.
    assert {
        "read_tables_mine",
        "splits",
        "read_table_mine_clin",
        "read_table_mine_genes",
    }.isdisjoint(rules)
    fitted = {
        out.split("/")[-1] for name, outs in jobs if name == "modality_transforms" for out in outs
    }
    assert fitted == {f"{NEW}.json"}
    # What combines modalities is redone: the merge and LegoFuse of every split, the joined
    # transforms, the tables and figures.
    assert {"read_table_mine_prot", "transforms", "tables", "result_figures"} <= rules
    for rule, run in (("merge", "lego_merge"), ("fuse", "lego_fuse")):
        assert _runs_of(jobs, rule) == {run}
        # One job per split, or one for both when batch_splits batches them.
        assert sum(name == rule for name, _ in jobs) == (1 if batch_splits else 2)


def planned_commands(text: str) -> dict[tuple[str, ...], tuple[str, str]]:
    """{outputs: (rule, shell command)} of every job of a ``snakemake -n -p --quiet host``
    listing."""
    jobs = {}
    for block in re.split(r"\n(?=\[[^\n]*\]\n(?:local)?(?:rule|checkpoint) )", text):
        head = re.search(r"(?:local)?(?:rule|checkpoint) (\w+):", block)
        outputs = re.search(r"\n\s+output: (.*)", block)
        command = re.search(r"\nShell command: (.*)", block)
        if head and outputs:
            jobs[tuple(outputs[1].split(", "))] = (head[1], command[1] if command else "")
    return jobs


def _plan(root, datasets: dict, models: list[str]) -> dict[tuple[str, ...], tuple[str, str]]:
    """The dry-run jobs of a study of these datasets and models (no raw file is read)."""
    config = {
        "output_dir": str(root / "out"),
        "device": "cpu",
        "splits": {"repeats": 2},
        "demo": {"enabled": False},
        "datasets": datasets,
        "models": models,
    }
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    plan = run_snakemake("-n", "-p", "--quiet", "host", "--cores", "1", "--configfile", str(path),
                         cwd=root)  # fmt: skip
    assert plan.returncode == 0, plan.stderr[-3000:]
    return planned_commands(plan.stdout)


def _tcga_plan(root, omics: list[str]) -> dict[tuple[str, ...], tuple[str, str]]:
    """The dry-run jobs of a TCGA study with these omics groups (a slide modality too)."""
    (root / "slides").mkdir(exist_ok=True)
    (root / "table.csv").write_text("case_id,slide_id,survival_months,censorship\n")
    tc = {"kind": "tcga", "task": "survival", "slides": str(root / "slides"),
          "table": str(root / "table.csv"), "omics_as": "separate", "omics": omics}  # fmt: skip
    return _plan(root, {"tc": tc}, ["lego_block", "lego_merge"])


# The jobs that make what a LegoBlock is trained on (and train it): with the same outputs and
# the same command (so the same params and config fragments), snakemake reuses their outputs.
BLOCK_INPUT_RULES = ("read_tables_tc", "read_table_tc_", "splits", "manifest", "build_bags",
                     "tissue_qc", "modality_transforms", "train")  # fmt: skip


def test_adding_a_tcga_omics_group_leaves_the_other_blocks_inputs_as_they_were(tmp_path):
    before = _tcga_plan(tmp_path, ["rna", "cnv"])
    after = _tcga_plan(tmp_path, ["rna", "cnv", "mut"])
    kept = {out: job for out, job in before.items() if job[0].startswith(BLOCK_INPUT_RULES)}
    trained = {path.split("/")[-3] for out, (rule, _) in kept.items() if rule == "train"
               for path in out}  # fmt: skip
    assert trained == {"lego_block.slides", "lego_block.rna", "lego_block.cnv"}
    # Every job that the old blocks depend on is planned again exactly as it was: the labels,
    # each old group's store, the slides' manifest and bags, the transforms, the training.
    assert {out: after.get(out) for out in kept} == kept
    new = {job for out, job in after.items() if out not in before}
    new_rules = {rule for rule, _ in new}
    assert {"read_table_tc_mut", "modality_transforms", "train"} <= new_rules
    assert not new_rules & {"read_tables_tc", "splits", "manifest", "build_bags"}
    retrained = {path.split("/")[-3] for out, (rule, _) in after.items() if rule == "train"
                 and out not in before for path in out}  # fmt: skip
    assert retrained == {"lego_block.mut"}


def _isic_plan(root, **options) -> dict[tuple[str, ...], tuple[str, str]]:
    """The dry-run jobs of an ISIC study (image and metadata blocks) with these options."""
    (root / "images").mkdir(exist_ok=True)
    (root / "train.csv").write_text("image_name,patient_id,target\n")
    isic = {"kind": "isic", "task": "binary", "images": str(root / "images"),
            "metadata": str(root / "train.csv"), **options}  # fmt: skip
    return _plan(root, {"isic": isic}, ["lego_block", "lego_merge", "snn"])


def _kept(before, after, rules) -> tuple[dict, set[str]]:
    """The jobs of ``before`` whose rule starts with one of ``rules`` that ``after`` plans
    with other outputs or another command, and the runs ``before`` trains."""
    kept = {out: job for out, job in before.items() if job[0].startswith(rules)}
    changed = {out: after.get(out) for out, job in kept.items() if after.get(out) != job}
    trained = {path.split("/")[-3] for out, (rule, _) in kept.items() if rule == "train"
               for path in out}  # fmt: skip
    return changed, trained


def test_changing_the_isic_image_settings_leaves_the_metadata_blocks_inputs_as_they_were(
    tmp_path,
):
    # An ISIC dataset's modalities are fixed (image, metadata): what a user changes of one
    # modality is its options. The image settings are read by the image bags alone.
    before = _isic_plan(tmp_path)
    after = _isic_plan(tmp_path, image_size=256, image_mode="whole")
    changed, trained = _kept(
        before, after, ("read_tables_isic", "splits", "manifest", "modality_transforms", "train")
    )
    assert trained >= {"lego_block.metadata", "snn.metadata", "lego_block.image"}
    # The labels and metadata store (one read of train.csv), the splits, the image manifest
    # and every block's transforms and training are planned exactly as they were; the image
    # bags, behind the manifest checkpoint, are the jobs whose params change.
    assert changed == {}


def _mimic_plan(root, **options) -> dict[tuple[str, ...], tuple[str, str]]:
    """The dry-run jobs of a study of two MIMIC datasets of one database (static and vitals
    blocks each), with these options for the ``icd9`` dataset."""
    (root / "mimic").mkdir(exist_ok=True)
    for table in ("PATIENTS", "ADMISSIONS", "ICUSTAYS", "CHARTEVENTS", "LABEVENTS",
                  "DIAGNOSES_ICD"):  # fmt: skip
        (root / "mimic" / f"{table}.csv").write_text("ROW_ID\n")
    db = str(root / "mimic")
    datasets = {
        "icd9": {"kind": "mimic", "task": "binary", "mimic_dir": db, "target": "icd9", **options},
        "mort": {"kind": "mimic", "task": "multiclass", "mimic_dir": db, "target": "mortality"},
    }
    return _plan(root, datasets, ["lego_block", "lego_merge", "snn"])


MIMIC_BLOCK_INPUT_RULES = ("mimic_", "splits", "modality_transforms", "train")


def test_changing_the_mimic_vitals_window_leaves_the_static_blocks_inputs_as_they_were(tmp_path):
    # A MIMIC dataset's modalities are fixed (static, vitals): what a user changes of one
    # modality is its options, and `hours` (the vitals window) is the vitals' own.
    before = _mimic_plan(tmp_path)
    after = _mimic_plan(tmp_path, hours=12)
    changed, trained = _kept(before, after, MIMIC_BLOCK_INPUT_RULES)
    assert trained >= {f"lego_block.{m}" for m in ("static", "vitals")}
    # icd9's vitals store is the one old job planned otherwise: its extraction is a new one;
    # icd9's labels and static store, the cohort, every split and transforms, mort's every
    # job and every block's training are as they were.
    assert {rule for rule, _ in changed.values()} == {"mimic_vitals_icd9"}
    new = [rule for out, (rule, _) in after.items()
           if out not in before and rule.startswith(MIMIC_BLOCK_INPUT_RULES)]  # fmt: skip
    assert len(new) == 1 and new[0].startswith("mimic_extract_")
