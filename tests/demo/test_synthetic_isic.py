"""The ISIC-like challenge: SIIM-ISIC 2020 train.csv, JPEG lesions, imbalance, planted signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from mmlego.demo.isic import (
    COLUMNS,
    SITES,
    draw_lesion,
    generate_isic,
    simulate_isic,
)


@pytest.fixture(scope="module")
def challenge(tmp_path_factory):
    out = tmp_path_factory.mktemp("isic")
    return out, generate_isic(out, patients=120, image_size=96, seed=2, melanoma_rate=0.05)


def test_train_csv_has_the_challenge_columns_and_values(challenge):
    out, _ = challenge
    table = pd.read_csv(out / "train.csv")
    assert tuple(table.columns) == COLUMNS
    assert table["image_name"].str.fullmatch(r"ISIC_[0-9]{7}").all()
    assert table["image_name"].is_unique and table["image_name"].is_monotonic_increasing
    assert table["patient_id"].str.fullmatch(r"IP_[0-9]{7}").all()
    assert set(table["sex"].dropna()) <= {"male", "female"}
    assert table["age_approx"].dtype == np.float64
    assert (table["age_approx"].dropna() % 5 == 0).all()
    assert set(table["anatom_site_general_challenge"].dropna()) <= set(SITES)
    assert table["target"].dtype == np.int64 and set(table["target"]) <= {0, 1}
    malignant = table["benign_malignant"] == "malignant"
    assert (malignant == (table["target"] == 1)).all()
    assert (table.loc[malignant, "diagnosis"] == "melanoma").all()
    assert not (table.loc[~malignant, "diagnosis"] == "melanoma").any()
    # A patient's sex and age are the same on each of their images.
    per_patient = table.groupby("patient_id")[["sex", "age_approx"]].nunique()
    assert (per_patient <= 1).all().all()
    assert table.groupby("patient_id").size().max() > 1


def test_every_row_has_one_jpeg_of_the_configured_size(challenge):
    out, _ = challenge
    table = pd.read_csv(out / "train.csv")
    files = sorted(p.name for p in (out / "train").iterdir())
    assert files == sorted(f"{name}.jpg" for name in table["image_name"])
    for name in files[:20]:
        with Image.open(out / "train" / name) as image:
            assert image.format == "JPEG" and image.mode == "RGB" and image.size == (96, 96)


def test_melanoma_is_rare_one_image_per_melanoma_patient(challenge):
    out, result = challenge
    table = pd.read_csv(out / "train.csv")
    assert 0.02 < table["target"].mean() < 0.09
    per_patient = table.groupby("patient_id")["target"].sum()
    truth = result.truth.set_index("patient_id")
    assert (per_patient == truth.loc[per_patient.index, "melanoma"]).all()
    assert per_patient.max() == 1


def test_demo_size_leaves_enough_patients_after_5_to_1_downsampling():
    truth = simulate_isic(patients=1500, seed=0).truth
    melanoma = int(truth["melanoma"].sum())
    assert min(len(truth), 6 * melanoma) >= 100
    images = simulate_isic(patients=1500, seed=0).table
    assert images["target"].mean() == pytest.approx(0.02, abs=0.003)


def _lesion_stats(atypia: float) -> tuple[float, float]:
    """Mean dark-area fraction and colour spread inside the dark area, over a few seeds."""
    dark, spread = [], []
    for seed in range(6):
        pixels = draw_lesion(size=128, seed=seed, atypia=atypia, tone=0.2).astype(float)
        lesion = pixels.mean(-1) < 150
        dark.append(lesion.mean())
        spread.append(pixels[lesion].std(0).mean())
    return float(np.mean(dark)), float(np.mean(spread))


def test_atypical_lesions_are_larger_and_more_variegated():
    benign_area, benign_spread = _lesion_stats(-2.0)
    atypical_area, atypical_spread = _lesion_stats(3.0)
    assert atypical_area > 1.3 * benign_area
    assert atypical_spread > benign_spread + 5


def test_same_seed_same_pixels_other_seed_differs(challenge, tmp_path):
    out, _ = challenge
    generate_isic(tmp_path, patients=120, image_size=96, seed=2, melanoma_rate=0.05)
    assert (tmp_path / "train.csv").read_bytes() == (out / "train.csv").read_bytes()
    names = sorted(p.name for p in (out / "train").iterdir())[:10]
    for name in names:
        a = np.asarray(Image.open(out / "train" / name))
        b = np.asarray(Image.open(tmp_path / "train" / name))
        assert np.array_equal(a, b)
    other = simulate_isic(patients=120, seed=3, melanoma_rate=0.05)
    assert not other.table["image_name"].equals(
        simulate_isic(patients=120, seed=2, melanoma_rate=0.05).table["image_name"]
    )


def test_oracle_on_true_factors_beats_each_modality_alone():
    truth = simulate_isic(patients=20000, seed=1).truth
    truth = truth.assign(interaction=truth["atypia_factor"] * truth["meta_score"])
    train, test = truth.iloc[:10000], truth.iloc[10000:]

    def auc(columns):
        model = LogisticRegression().fit(train[columns], train["melanoma"])
        return roc_auc_score(test["melanoma"], model.predict_proba(test[columns])[:, 1])

    oracle = auc(["atypia_factor", "meta_score", "interaction"])
    assert oracle >= 0.8
    assert auc(["atypia_factor"]) < oracle - 0.04
    assert auc(["meta_score"]) < oracle - 0.04
