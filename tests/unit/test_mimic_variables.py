"""The packaged MIMIC-III variable mapping: content checks and the loader's error messages."""

from __future__ import annotations

import pytest

from mmlego.data.mimic.variables import load_variable_map, normalise_unit, parse_variable_map


def test_packaged_mapping_has_twelve_variables_with_both_systems():
    mapping = load_variable_map()
    assert len(mapping.names) == 12
    for var in mapping.variables.values():
        systems = set(var.itemids)
        for component in var.components.values():
            systems |= set(component.itemids)
        assert {"carevue", "metavision"} <= systems, var.name
        assert var.low < var.high


def test_temperature_units_convert_fahrenheit_to_celsius():
    temp = load_variable_map().variables["temperature"]
    units = temp.spelling_to_unit()
    for spelling in ("Deg. F", "?F", "°F"):
        unit = units[normalise_unit(spelling)]
        assert unit.name == "degF"
        assert 98.6 * unit.scale + unit.offset == pytest.approx(37.0)
    assert temp.itemids["carevue"][678] == "degF"
    assert temp.itemids["metavision"][223762] == "degC"


def test_itemid_lookup_separates_chart_and_lab_items():
    mapping = load_variable_map()
    chart = mapping.itemid_channels("chart")
    lab = mapping.itemid_channels("lab")
    names = [c.name for c in mapping.channels()]
    assert names[chart[211][0]] == "heart_rate"
    assert names[chart[223900][0]] == "gcs.verbal"
    assert names[lab[50821][0]] == "pao2"
    assert not set(chart) & set(lab)


def test_comorbidity_prefixes():
    flags = load_variable_map().comorbidities
    assert set(flags) == {"aids", "haem_malignancy", "metastatic_cancer"}
    assert "042" in flags["aids"] and "197" in flags["metastatic_cancer"]


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        (
            "version: 1\nvariables: {hr: {unit: bpm, range: [5, 1], units: {bpm: {scale: 1, offset: 0}}, itemids: {carevue: {211: bpm}}}}",
            "variables.hr.range",
        ),
        (
            "version: 1\nvariables: {hr: {unit: bpm, range: [1, 5], units: {bpm: {scale: 1, offset: 0}}, itemids: {carevue: {211: bps}}}}",
            "variables.hr.itemids.carevue.211",
        ),
        (
            "version: 1\nvariables: {hr: {unit: bpm, range: [1, 5], units: {bpm: {scale: 1, offset: 0}}, itemids: {carevu: {211: bpm}}}}",
            "variables.hr.itemids.carevu",
        ),
        (
            "version: 1\nvariables:\n  a: {unit: u, range: [1, 5], units: {u: {scale: 1, offset: 0}}, itemids: {carevue: {7: u}}}\n"
            "  b: {unit: u, range: [1, 5], units: {u: {scale: 1, offset: 0}}, itemids: {metavision: {7: u}}}",
            "variables.b",
        ),
    ],
)
def test_bad_mapping_names_the_key(doc, key):
    with pytest.raises(ValueError, match=f"my.yaml: key '{key}'"):
        parse_variable_map(doc, "my.yaml")
