"""Baselines that are not trained: the ensemble averages its members' predictions per split.

The trained baselines (snn, abmil, perceiver, perceiver_early, late_*, multimodn, mcat,
healnet) are jobs of the shared train rule (train.smk), one per (dataset, run, split).
"""

from mmlego.config import ensemble_inputs

# The ensemble needs trained members; evaluation requests every run's metrics as soon as any
# rule writes predictions, so the rule exists only alongside the train rule.
TRAIN_RULE_PRESENT = any(r.name == "train" for r in workflow.rules)


if TRAIN_RULE_PRESENT:

    rule ensemble:
        input:
            predictions=lambda wc: ensemble_inputs(config, wc.ds, wc.k)["predictions"],
            stores=lambda wc: ensemble_inputs(config, wc.ds, wc.k)["stores"],
        output:
            f"{OUT}/{{ds}}/ensemble/split{{k}}/predictions.parquet",
        log:
            f"{OUT}/logs/ensemble/{{ds}}/split{{k}}.log",
        localrule: True
        conda:
            "../../envs/evaluate.yaml"
        threads: 1
        params:
            cfg=as_json({"seed": config["seed"], "baselines": config["baselines"]}),
        shell:
            "mmlego --log {log:q} ensemble --members {input.predictions:q} "
            "--stores {input.stores:q} --dataset {wildcards.ds:q} "
            "--split {wildcards.k} --cfg {params.cfg:q} --out {output:q}"
