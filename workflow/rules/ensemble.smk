"""Models averaged from other runs' predictions (ensemble, lego_ensemble): one job per
(dataset, split).

The trained baselines (snn, abmil, perceiver, perceiver_early, late_*, multimodn, mcat,
healnet) are jobs of the shared train rule (train.smk), one per (dataset, run, split).
"""


rule ensemble:
    input:
        unpack(member_inputs),
    output:
        layout.predictions(layout.run_dir(DS, "{model}", "{k}")),
    log:
        layout.log(OUT, "{model}/{ds}/split{k}"),
    wildcard_constraints:
        model="|".join(model_keys("predictions")),
    retries: 0
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    threads: 1
    params:
        members=lambda wildcards, input: pair_args(
            "member", members_of(wildcards), input.predictions
        ),
        stores=lambda wildcards, input: pair_args(
            "store", members_of(wildcards), input.stores
        ),
        cfg=lambda wildcards: as_json(job_config(config, wildcards.model)),
        survival_mean=lambda wildcards: model_entry(wildcards.model).survival_mean,
        seed=config["seed"],
    shell:
        "mmlego --log {log:q} ensemble {params.members} {params.stores} --run {wildcards.model}"
        " --survival-mean {params.survival_mean} --dataset {wildcards.ds:q} --split {wildcards.k}"
        " --cfg {params.cfg:q}"
        " --seed {params.seed} --out {output:q}"
