"""Hourly binning of CHARTEVENTS and LABEVENTS for the cohort's stays, one block at a time.

Per block: keep mapped ITEMIDs, find the cohort stay (CHARTEVENTS: ICUSTAY_ID, else HADM_ID;
LABEVENTS: HADM_ID), drop ERROR = 1 rows, rows without a numeric value, rows outside the first
``hours`` hours after INTIME, rows whose VALUEUOM spelling is unknown, and values outside the
physiological range after unit conversion; then add value and count into per-(stay, hour,
channel) sums. Memory is the accumulators (stays x hours x channels) plus one block.
After the last block, bins hold means; variables with components (MetaVision GCS) take the
sum of their components' means where the variable itself was not charted; a mask marks the
observed bins; values are forward-filled within each stay.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmlego.data.mimic.tables import MISSING_TIME
from mmlego.data.mimic.variables import Channel, VariableMap, normalise_unit

DROP_REASONS = (
    "error_flag",
    "no_numeric_value",
    "stay_not_in_cohort",
    "outside_window",
    "unknown_unit",
    "out_of_range",
)


@dataclass
class EventCounts:
    """Row counts for the events QC table, per channel and per ITEMID."""

    channels: list[str]
    rows_read: dict[str, int] = field(default_factory=dict)
    per_channel: dict[str, np.ndarray] = field(default_factory=dict)
    per_itemid: dict[int, int] = field(default_factory=dict)
    unknown_units: Counter = field(default_factory=Counter)

    def add(self, reason: str, channel: np.ndarray) -> None:
        """Count rows of ``reason`` by channel index."""
        counts = np.bincount(channel, minlength=len(self.channels))
        self.per_channel[reason] = self.per_channel.get(reason, 0) + counts


class HourlyBins:
    """Per-(stay, hour, channel) sums and counts, filled block by block."""

    def __init__(self, mapping: VariableMap, stays: pd.DataFrame, hours: int) -> None:
        self.mapping = mapping
        self.channels: list[Channel] = mapping.channels()
        self.hours = hours
        self.n = len(stays)
        self.intime = stays["INTIME"].to_numpy(np.int64)
        self.by_icustay = pd.Index(stays["ICUSTAY_ID"].to_numpy())
        self.by_hadm = pd.Index(stays["HADM_ID"].to_numpy())
        shape = self.n * hours * len(self.channels)
        self.sums = np.zeros(shape, dtype=np.float64)
        self.counts = np.zeros(shape, dtype=np.int32)
        self.low = np.array([c.low for c in self.channels])
        self.high = np.array([c.high for c in self.channels])
        self.counts_qc = EventCounts([c.name for c in self.channels])
        self._spellings = [mapping.variables[c.variable].spelling_to_unit() for c in self.channels]
        self._fraction = np.array(
            [mapping.variables[c.variable].fraction_at_most or np.nan for c in self.channels]
        )
        self._item = {table: self._item_table(table) for table in ("chart", "lab")}
        for index, *_ in self._item.values():
            self.counts_qc.per_itemid.update(dict.fromkeys(index.tolist(), 0))

    def _item_table(self, table: str) -> tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]:
        """ITEMID index -> channel, and the ITEMID's own unit conversion (for empty VALUEUOM)."""
        items = self.mapping.itemid_channels(table)
        ids = np.array(sorted(items), dtype=np.int64)
        channel = np.array([items[i][0] for i in ids], dtype=np.int64)
        scale, offset = [], []
        for i in ids:
            k, unit = items[i]
            spec = self.mapping.variables[self.channels[k].variable].units[unit]
            scale.append(spec.scale)
            offset.append(spec.offset)
        return pd.Index(ids), channel, np.array(scale), np.array(offset)

    def itemids(self, table: str) -> np.ndarray:
        """The mapped ITEMIDs of ``chart`` or ``lab`` events."""
        return self._item[table][0].to_numpy()

    def add_block(self, table: str, rows_read: int, block: pd.DataFrame) -> None:
        """Bin one block of mapped rows of ``CHARTEVENTS`` (``chart``) or ``LABEVENTS`` (``lab``)."""
        qc = self.counts_qc
        qc.rows_read[table] = qc.rows_read.get(table, 0) + rows_read
        if block.empty:
            return
        index, item_channel, item_scale, item_offset = self._item[table]
        item = index.get_indexer(block["ITEMID"].to_numpy())
        for itemid, count in zip(index, np.bincount(item, minlength=len(index)), strict=True):
            qc.per_itemid[int(itemid)] = qc.per_itemid.get(int(itemid), 0) + int(count)
        channel = item_channel[item]
        qc.add("mapped_rows", channel)

        keep = np.ones(len(block), dtype=bool)
        if "ERROR" in block:
            error = block["ERROR"].to_numpy() == 1
            qc.add("error_flag", channel[error])
            keep &= ~error
        value = block["VALUENUM"].to_numpy(np.float64)
        missing = keep & ~np.isfinite(value)
        qc.add("no_numeric_value", channel[missing])
        keep &= ~missing

        stay = self.by_hadm.get_indexer(block["HADM_ID"].to_numpy())
        if "ICUSTAY_ID" in block:
            icu = block["ICUSTAY_ID"].to_numpy()
            stay = np.where(icu >= 0, self.by_icustay.get_indexer(icu), stay)
        outside = keep & (stay < 0)
        qc.add("stay_not_in_cohort", channel[outside])
        keep &= ~outside

        time = block["CHARTTIME"].to_numpy(np.int64)
        hour = np.full(len(block), -1, dtype=np.int64)
        ok = keep & (time != MISSING_TIME)
        hour[ok] = (time[ok] - self.intime[stay[ok]]) // 3600
        late = keep & ((hour < 0) | (hour >= self.hours))
        qc.add("outside_window", channel[late])
        keep &= ~late

        scale, offset = self._convert(pd.Categorical(block["VALUEUOM"]), channel, keep)
        scale = np.where(np.isnan(scale), item_scale[item], scale)
        offset = np.where(np.isnan(offset), item_offset[item], offset)
        unknown = keep & np.isinf(scale)
        qc.add("unknown_unit", channel[unknown])
        keep &= ~unknown

        converted = value * scale + offset
        fraction = self._fraction[channel]
        converted = np.where(value <= fraction, value * 100.0, converted)
        bad = keep & ~((converted >= self.low[channel]) & (converted <= self.high[channel]))
        qc.add("out_of_range", channel[bad])
        keep &= ~bad

        qc.add("kept", channel[keep])
        flat = (stay[keep] * self.hours + hour[keep]) * len(self.channels) + channel[keep]
        np.add.at(self.sums, flat, converted[keep])
        np.add.at(self.counts, flat, 1)

    def _convert(
        self, units: pd.Categorical, channel: np.ndarray, keep: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-row (scale, offset) from VALUEUOM: NaN = use the ITEMID's unit, inf = unknown."""
        n_ch = len(self.channels)
        table = np.full((len(units.categories) + 1, n_ch, 2), np.nan)  # row 0: no VALUEUOM
        for code, raw in enumerate(units.categories, start=1):
            spelling = normalise_unit(raw)
            for k in range(n_ch) if spelling else ():
                unit = self._spellings[k].get(spelling)
                table[code, k] = (np.inf, 0.0) if unit is None else (unit.scale, unit.offset)
        codes = np.asarray(units.codes, dtype=np.int64) + 1
        scale, offset = table[codes, channel, 0], table[codes, channel, 1]
        unknown = keep & np.isinf(scale)
        if unknown.any():
            pairs, counts = np.unique(codes[unknown] * n_ch + channel[unknown], return_counts=True)
            for pair, count in zip(pairs.tolist(), counts.tolist(), strict=True):
                code, k = divmod(pair, n_ch)
                key = (self.channels[k].variable, str(units.categories[code - 1]))
                self.counts_qc.unknown_units[key] += count
        return scale, offset

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, mask), each (stays, hours, variables): bin means forward-filled, and observed bins."""
        n_ch = len(self.channels)
        sums = self.sums.reshape(self.n, self.hours, n_ch)
        counts = self.counts.reshape(self.n, self.hours, n_ch)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        names = self.mapping.names
        values = np.full((self.n, self.hours, len(names)), np.nan, dtype=np.float64)
        for f, name in enumerate(names):
            own = [c.name for c in self.channels].index(name)
            parts = [k for k, c in enumerate(self.channels) if c.variable == name and c.component]
            values[..., f] = means[..., own]
            if parts:
                total = means[..., parts].sum(axis=-1)
                fill = np.isnan(values[..., f]) & np.all(counts[..., parts] > 0, axis=-1)
                values[..., f] = np.where(fill, total, values[..., f])
        mask = np.isfinite(values)
        return forward_fill(values).astype(np.float32), mask


def forward_fill(values: np.ndarray) -> np.ndarray:
    """Carry the last observed value forward along axis 1 (time), per stay and variable."""
    t = values.shape[1]
    idx = np.where(np.isfinite(values), np.arange(t)[None, :, None], 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    return np.take_along_axis(values, idx, axis=1)
