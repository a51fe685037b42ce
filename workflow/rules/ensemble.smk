"""Models averaged from other runs' predictions (the ensemble): one job per (dataset, split).

The trained baselines (snn, abmil, perceiver, perceiver_early, late_*, multimodn, mcat,
healnet) are jobs of the shared train rule (train.smk), one per (dataset, run, split).
"""


rule ensemble:
    input:
        unpack(member_inputs),
    output:
        layout.predictions(layout.run_dir(DS, "ensemble", "{k}")),
    log:
        layout.log(OUT, "ensemble/{ds}/split{k}"),
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
