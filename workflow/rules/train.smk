"""Training: one job per (dataset, run, split) for LegoBlocks and every trained baseline."""

from mmlego.config import run_config

# Models that are not trained by the generic rule: the LegoMerge/LegoFuse jobs (combine.smk)
# and the ensemble of unimodal predictions (its own rule).
NOT_TRAINED = ("lego_merge", "lego_fuse", "ensemble")
TRAINED_RUN = (
    f"(?!(?:{'|'.join(NOT_TRAINED)})(?![A-Za-z0-9_]))"
    "[A-Za-z][A-Za-z0-9_]*(\\.[A-Za-z][A-Za-z0-9_]*)?"
)


# The model rules exist only once every dataset's inputs can be made: evaluation requests
# every run's metrics as soon as a rule writes predictions, so a half-built study must not
# define them (the workflow then still plans while earlier stages are missing).
MODELS_READY = all(dataset_ready(ds) for ds in DATASETS)

if MODELS_READY:

    rule train:
        input:
            unpack(split_inputs),
        output:
            model=f"{OUT}/{{ds}}/{{run}}/split{{k}}/model.pt",
            log_csv=f"{OUT}/{{ds}}/{{run}}/split{{k}}/train_log.csv",
            predictions=f"{OUT}/{{ds}}/{{run}}/split{{k}}/predictions.parquet",
        log:
            f"{OUT}/logs/train/{{ds}}/{{run}}/split{{k}}.log",
        benchmark:
            f"{OUT}/benchmarks/train/{{ds}}/{{run}}/split{{k}}.tsv"
        wildcard_constraints:
            # Never the runs that other rules write (merge, fuse, ensemble).
            run=TRAINED_RUN,
        conda:
            "../../envs/train.yaml"
        threads: 1
        resources:
            gpu=1,
            mem_mb=8000,
            runtime=120,
        params:
            cfg=lambda wc: as_json(run_config(config, wc.run)),
            ds_dir=lambda wc: f"{OUT}/{wc.ds}",
            out_dir=lambda wc, output: str(Path(output.model).parent),
            seed=config["seed"],
            device=config["device"],
        shell:
            "mmlego --log {log:q} train --dataset-dir {params.ds_dir:q} --dataset {wildcards.ds:q}"
            " --split {wildcards.k} --run {wildcards.run:q} --out-dir {params.out_dir:q}"
            " --cfg {params.cfg:q} --seed {params.seed} --device {params.device:q} --threads {threads}"

    ALL_TARGETS += [
        f"{OUT}/{ds}/{run}/split{k}/predictions.parquet"
        for ds in DATASETS
        for run in trained_runs(ds)
        for k in SPLITS
    ]
