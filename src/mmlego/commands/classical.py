"""``mmlego classical``: fit one classical reference (coxnet, logistic, gbm) on one split."""

from __future__ import annotations

import argparse
import logging

from mmlego.utils.config_arg import load_cfg

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``mmlego classical``."""
    from mmlego.commands.train import add_split_arguments

    parser = sub.add_parser(
        "classical",
        help="fit a classical model's grid on one split's train patients, keep the best on val",
    )
    add_split_arguments(parser)
    parser.add_argument("--model", required=True, help="coxnet, logistic or gbm")
    parser.add_argument("--dataset", required=True, help="dataset key (for provenance and seeds)")
    parser.add_argument("--split", type=int, required=True, help="split index k")
    parser.add_argument("--cfg", required=True, help="the model's config sections as JSON")
    parser.add_argument("--seed", type=int, default=0, help="the study's master seed")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP/BLAS threads")
    parser.add_argument(
        "--out-dir", required=True, help="folder for predictions.parquet and selection.json"
    )
    parser.set_defaults(func=run_classical)


def run_classical(args: argparse.Namespace) -> None:
    """Load the split (every modality), fit, write the predictions and the selection."""
    from mmlego.commands.train import split_files
    from mmlego.data.transforms import load_split
    from mmlego.models.classical.run import fit_classical, write_classical_outputs
    from mmlego.utils.provenance import provenance
    from mmlego.utils.seeding import derive_seed

    cfg = load_cfg(args.cfg)
    seed = derive_seed(args.seed, args.dataset, args.split, args.model)
    data = load_split(split_files(args), args.split)
    fit = fit_classical(data, args.model, cfg, split=args.split, seed=seed, threads=args.threads)
    record = provenance(
        cfg, seed=seed, device="cpu", run=args.model, dataset=args.dataset, split=args.split
    )
    write_classical_outputs(
        args.out_dir, fit, data, run=args.model, dataset=args.dataset, provenance=record
    )
    log.info(
        "%s split %d: %s chosen on validation %s -> %s",
        args.model,
        args.split,
        fit.setting,
        fit.select_on,
        args.out_dir,
    )
