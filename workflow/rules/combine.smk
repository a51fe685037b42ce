"""LegoMerge and LegoFuse: one job each per (dataset, split), on that split's trained blocks."""

if MODELS_READY:

    rule merge:
        input:
            unpack(split_inputs),
            blocks=block_checkpoints,
        output:
            model=f"{OUT}/{{ds}}/lego_merge/split{{k}}/model.pt",
            predictions=f"{OUT}/{{ds}}/lego_merge/split{{k}}/predictions.parquet",
            missing=f"{OUT}/{{ds}}/lego_merge/split{{k}}/missing_modality.json",
        log:
            f"{OUT}/logs/lego_merge/{{ds}}/split{{k}}.log",
        benchmark:
            f"{OUT}/benchmarks/lego_merge/{{ds}}/split{{k}}.tsv"
        conda:
            "../../envs/train.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            cfg=as_json({"merge": config["merge"]}),
            blocks=block_args,
            ds_dir=lambda wc: f"{OUT}/{wc.ds}",
            out_dir=lambda wc, output: str(Path(output.model).parent),
            seed=config["seed"],
            device=config["device"],
        shell:
            "mmlego --log {log:q} merge --dataset-dir {params.ds_dir:q} --dataset {wildcards.ds:q}"
            " --split {wildcards.k} --out-dir {params.out_dir:q} --cfg {params.cfg:q}"
            " --seed {params.seed} --device {params.device:q} --threads {threads} {params.blocks}"

    rule fuse:
        input:
            unpack(split_inputs),
            blocks=block_checkpoints,
        output:
            model=f"{OUT}/{{ds}}/lego_fuse/split{{k}}/model.pt",
            log_csv=f"{OUT}/{{ds}}/lego_fuse/split{{k}}/train_log.csv",
            predictions=f"{OUT}/{{ds}}/lego_fuse/split{{k}}/predictions.parquet",
        log:
            f"{OUT}/logs/lego_fuse/{{ds}}/split{{k}}.log",
        benchmark:
            f"{OUT}/benchmarks/lego_fuse/{{ds}}/split{{k}}.tsv"
        conda:
            "../../envs/train.yaml"
        threads: 1
        resources:
            gpu=1,
            mem_mb=8000,
            runtime=60,
        params:
            cfg=as_json(
                {
                    "fuse": config["fuse"],
                    "merge": {"head": config["merge"]["head"]},
                    "train": config["train"],
                }
            ),
            blocks=block_args,
            ds_dir=lambda wc: f"{OUT}/{wc.ds}",
            out_dir=lambda wc, output: str(Path(output.model).parent),
            seed=config["seed"],
            device=config["device"],
        shell:
            "mmlego --log {log:q} fuse --dataset-dir {params.ds_dir:q} --dataset {wildcards.ds:q}"
            " --split {wildcards.k} --out-dir {params.out_dir:q} --cfg {params.cfg:q}"
            " --seed {params.seed} --device {params.device:q} --threads {threads} {params.blocks}"

    ALL_TARGETS += [
        f"{OUT}/{ds}/{run}/split{k}/predictions.parquet"
        for ds in DATASETS
        for run in ("lego_merge", "lego_fuse")
        if run in runs(ds)
        for k in SPLITS
    ]
