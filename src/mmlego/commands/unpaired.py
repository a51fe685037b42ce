"""``mmlego unpaired-sets``, ``unpaired-train`` and ``unpaired-figure``: the Fig. 6 study."""

from __future__ import annotations

import argparse
import logging

from mmlego.commands.train import (
    add_common_arguments,
    name_path_pairs,
    prepare_step,
    split_files,
)

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the three steps of the unpaired-data study."""
    sets = sub.add_parser(
        "unpaired-sets", help="draw the blocks' patient sets of the unpaired study (every split)"
    )
    sets.add_argument("--splits", required=True, help="the dataset's splits.json")
    sets.add_argument(
        "--store", action="append", required=True, metavar="MODALITY=STORE_H5",
        help="a modality store ({ds}/modalities/{mod}.h5); give both, in the dataset's order",
    )  # fmt: skip
    sets.add_argument("--dataset", required=True, help="dataset key (for seeds and provenance)")
    sets.add_argument("--overlaps", type=float, nargs="+", required=True, help="overlaps in [0, 1]")
    sets.add_argument("--patients", type=int, default=None, help="cap on the pool per split")
    sets.add_argument("--seed", type=int, default=0, help="the study's master seed")
    sets.add_argument("--out", required=True, help="sets.json to write")
    sets.set_defaults(func=run_sets)

    train = sub.add_parser(
        "unpaired-train",
        help="one split of the unpaired study: blocks, merge, ensemble and metrics per overlap",
    )
    add_common_arguments(train)
    train.add_argument("--sets", required=True, help="the study's sets.json")
    train.set_defaults(func=run_train)

    figure = sub.add_parser("unpaired-figure", help="the unpaired study's table and Fig. 6")
    figure.add_argument(
        "--metrics", nargs="+", required=True, help="the study's metrics.json files"
    )
    figure.add_argument("--out-csv", required=True, help="tidy table to write")
    figure.add_argument("--out-png", required=True, help="figure to write (the PDF goes beside it)")
    figure.set_defaults(func=run_figure)


def run_sets(args: argparse.Namespace) -> None:
    """Read the splits and the stores' presence flags, draw, write ``sets.json``."""
    from mmlego.data.splits import read_splits
    from mmlego.data.store import read_presence
    from mmlego.data.unpaired import study_sets
    from mmlego.utils.atomic import write_json_atomic
    from mmlego.utils.provenance import provenance

    stores = name_path_pairs(args.store, "--store")
    presence = {name: read_presence(path) for name, path in stores.items()}
    splits = read_splits(args.splits)["splits"]
    payload = study_sets(
        splits, presence, dataset=args.dataset, overlaps=args.overlaps, seed=args.seed,
        patients=args.patients,
    )  # fmt: skip
    cfg = {"overlaps": args.overlaps, "patients": args.patients}
    record = provenance(cfg, seed=args.seed, inputs=[args.splits, *stores.values()])
    write_json_atomic(args.out, payload, provenance=record)
    for k, split in enumerate(payload["splits"]):
        log.info(
            "split %d: pool %d, %d patients per block, paired test %d (%d without both modalities)",
            k,
            split["pool"],
            split["set_size"],
            len(split["test"]),
            split["test_dropped"],
        )


def run_train(args: argparse.Namespace) -> None:
    """Load the split and its study sets; train, merge, ensemble and score every overlap."""
    from mmlego.data.labels import read_labels
    from mmlego.data.transforms import load_split
    from mmlego.data.unpaired import read_study_split
    from mmlego.studies.unpaired import run_unpaired_split

    cfg, device, _, record = prepare_step(args, "unpaired")
    plan = read_study_split(args.sets, args.split)
    data = load_split(split_files(args), args.split, modalities=plan["modalities"])
    labels, _ = read_labels(args.labels)
    written = run_unpaired_split(
        data, plan, dataset=args.dataset, split=args.split, cfg=cfg, out_root=args.out_dir,
        labels=labels, inputs=[args.sets, args.labels, args.splits],
        base_provenance=record, seed=args.seed, device=device,
    )  # fmt: skip
    log.info("wrote %d metrics files under %s", len(written), args.out_dir)


def run_figure(args: argparse.Namespace) -> None:
    """Collect the study's metrics into the tidy table and draw Fig. 6."""
    from mmlego.evaluate.unpaired import write_unpaired_outputs

    stats = write_unpaired_outputs(args.metrics, args.out_csv, args.out_png)
    log.info("test metric per run and overlap (mean, std over splits):\n%s", stats.to_string())
