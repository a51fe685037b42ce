"""Models averaged from other runs' predictions (ensemble, lego_ensemble): one job per
(dataset, model, split), or per (dataset, model) over every split when ``batch_splits``
batches them (like train.smk).

The trained baselines (snn, abmil, perceiver, perceiver_early, late_*, multimodn, mcat,
healnet) are jobs of the shared train rule (train.smk).
"""

ENSEMBLE_LOG = "{model}/{ds}/split{k}"


rule ensemble:
    input:
        unpack(over_splits(member_predictions, shared=member_stores)),
    output:
        predictions=split_job(layout.predictions(layout.run_dir(DS, "{model}", "{k}"))),
    log:
        split_job(layout.log(OUT, ENSEMBLE_LOG)),
    wildcard_constraints:
        model="|".join(model_keys("predictions")),
    retries: 0
    localrule: True
    conda:
        "../../envs/evaluate.yaml"
    threads: 1
    params:
        command=split_command(ensemble_step, ENSEMBLE_LOG, member_predictions),
        cfg=lambda wildcards: as_json(job_config(config, wildcards.model)),
        survival_mean=lambda wildcards: model_entry(wildcards.model).survival_mean,
        seed=config["seed"],
    shell:
        "mmlego {params.command}"
