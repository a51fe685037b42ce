"""The report's study overview page: the weights warning, cohorts, QC outputs, config, provenance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from mmlego.cli import main
from mmlego.data.store import ModalityData, write_modality
from mmlego.evaluate.overview import overview_html, weights_warning
from mmlego.utils.provenance import provenance
from tests.evaluate_fixtures import survival_study

TCGA = {"kind": "tcga", "task": "survival", "slides": "s", "table": "t", "omics_as": "joint"}


def test_weights_warning_only_for_image_modalities_without_weights():
    assert "NO PRETRAINED" in weights_warning(
        {"encoder": {"weights": None}, "datasets": {"tcga": TCGA}}
    )
    assert "tcga.slides" in weights_warning(
        {"encoder": {"weights": None}, "datasets": {"tcga": TCGA}}
    )
    assert weights_warning({"encoder": {"weights": "k.pt"}, "datasets": {"tcga": TCGA}}) is None
    mimic = {"kind": "mimic", "task": "binary", "mimic_dir": "m", "target": "icd9"}
    assert weights_warning({"encoder": {"weights": None}, "datasets": {"icd9": mimic}}) is None


def test_overview_page_shows_cohort_qc_config_and_provenance(tmp_path, capsys):
    out = tmp_path / "out"
    paths = survival_study(out / "tcga", n=30, stores=False)  # the test writes its own
    ids = pd.read_parquet(paths["labels"])["patient_id"].to_numpy()
    present = np.arange(len(ids)) % 3 != 0
    store = out / "tcga" / "modalities" / "omics.h5"
    store.parent.mkdir(parents=True)
    data = ModalityData(
        name="omics",
        kind="vector",
        ids=ids,
        present=present,
        values=np.zeros((len(ids), 2), np.float32),
        feature_names=["a", "b"],
        type="tabular",
    )
    write_modality(store, data, provenance=provenance(None))
    qc = out / "tcga" / "qc"
    (qc / "tissue" / "slides").mkdir(parents=True)
    pd.DataFrame({"patient_id": ["x1", "x2"], "reason": ["no survival time", "duplicate"]}).to_csv(
        qc / "cohort_exclusions.csv", index=False
    )
    Image.new("RGB", (40, 30), "pink").save(qc / "tissue" / "slides" / "TCGA-AA-0001.png")
    config = {
        "output_dir": str(out),
        "encoder": {"weights": None},
        "datasets": {"tcga": TCGA},
        "provenance": provenance({"a": 1}, seed=0),
    }
    (out / "config.resolved.yaml").write_text(yaml.safe_dump(config))
    page_path = out / "report" / "study_overview.html"
    argv = [
        "study-overview",
        "--resolved-config",
        str(out / "config.resolved.yaml"),
        "--labels",
        f"tcga={paths['labels']}",
        "--store",
        f"tcga.omics={store}",
        "--qc",
        f"tcga={qc / 'cohort_exclusions.csv'}",
        "--qc",
        f"tcga={qc / 'tissue' / 'slides'}",
        "--out",
        str(page_path),
    ]
    assert main(argv) == 0
    page = page_path.read_text()
    assert "class='warning'" in page and "NO PRETRAINED ENCODER WEIGHTS" in page
    assert f"omics {present.sum()}/30" in page
    assert "cohort_exclusions.csv (2 rows)" in page and "no survival time" in page
    assert "data:image/png;base64," in page and "TCGA-AA-0001" in page
    assert "config_hash" in page and "omics_as: joint" in page
    assert "created_utc" not in page  # same study, same page bytes
    assert "NO PRETRAINED" in capsys.readouterr().err  # and loudly in the job's log


def test_overview_counts_qc_rows_by_modality_and_shows_ids_as_written(tmp_path):
    qc = tmp_path / "mine" / "qc"
    qc.mkdir(parents=True)
    dropped = "dropped: id not in the label file (extra_ids: drop)"
    window = "no measurement inside the window"
    pd.DataFrame(
        {
            "patient_id": ["0007", "0008", "0009", "NA"],
            "modality": ["labs", "labs", "clinical", "labs"],
            "reason": [window, window, dropped, dropped],
        }
    ).to_csv(qc / "tables.csv", index=False)
    (tmp_path / "config.resolved.yaml").write_text(yaml.safe_dump({"datasets": {}}))
    page = overview_html(tmp_path / "config.resolved.yaml", {}, {}, [("mine", qc / "tables.csv")])
    counts = (
        "<tr><th>modality</th><th>reason</th><th>patients</th></tr>"
        f"<tr><td>clinical</td><td>{dropped}</td><td>1</td></tr>"
        f"<tr><td>labs</td><td>{dropped}</td><td>1</td></tr>"
        f"<tr><td>labs</td><td>{window}</td><td>2</td></tr>"
    )
    assert counts in page
    assert "<td>0007</td>" in page and "<td>NA</td>" in page
