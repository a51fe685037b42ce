"""``mmlego interference-toy``: Fig. 4 and 5 and their energy numbers."""

from __future__ import annotations

import argparse
import logging

from mmlego.evaluate.interference import additive_inverse, square_waves
from mmlego.evaluate.plotting import save
from mmlego.evaluate.toy_figures import latent_figure, wave_figure
from mmlego.utils.atomic import write_json_atomic
from mmlego.utils.provenance import provenance

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``interference-toy``."""
    parser = sub.add_parser("interference-toy", help="toy signal-interference figures (Fig. 4, 5)")
    parser.add_argument("--seed", type=int, required=True, help="seed of the random signals")
    parser.add_argument("--fig4", required=True, help="Fig. 4 PNG (a PDF is written beside it)")
    parser.add_argument("--fig5", required=True, help="Fig. 5 PNG (a PDF is written beside it)")
    parser.add_argument("--json", required=True, help="energy retained per aggregation")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Draw both figures and record the numbers printed on them."""
    latent = additive_inverse(args.seed)
    waves = square_waves(args.seed)
    save(latent_figure(latent), args.fig4, args.fig4.removesuffix(".png") + ".pdf")
    save(wave_figure(waves), args.fig5, args.fig5.removesuffix(".png") + ".pdf")
    payload = {
        "additive_inverse": latent.retained,
        "square_waves": waves.retained,
        "seed": args.seed,
    }
    write_json_atomic(args.json, payload, provenance=provenance(None, seed=args.seed))
    log.info(
        "energy retained: additive inverse %s; square waves %s", latent.retained, waves.retained
    )
