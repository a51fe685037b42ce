"""Models composed from a split's trained LegoBlocks (LegoMerge, LegoFuse): one rule each,
from its catalogue entry, with one job per (dataset, split)."""

for _entry in [model_entry(m) for m in model_keys("blocks")]:

    rule:
        name:
            _entry.step
        input:
            unpack(split_inputs),
            blocks=block_checkpoints,
        output:
            **{
                name: getattr(layout, name)(layout.run_dir(DS, _entry.key, "{k}"))
                for name in _entry.outputs
            },
        log:
            layout.log(OUT, f"{_entry.key}/{{ds}}/split{{k}}"),
        benchmark:
            layout.benchmark(OUT, f"{_entry.key}/{{ds}}/split{{k}}")
        conda:
            "../../envs/train.yaml"
        threads: 1
        resources:
            **_entry.resources,
        params:
            step=_entry.step,
            cfg=as_json(job_config(config, _entry.key)),
            blocks=block_args,
            files=split_args,
            out_dir=output_folder("model"),
            seed=config["seed"],
            device=config["device"],
        shell:
            "mmlego --log {log:q} {params.step} {params.files}"
            " --dataset {wildcards.ds:q} --split {wildcards.k} --out-dir {params.out_dir:q}"
            " --cfg {params.cfg:q} --seed {params.seed} --device {params.device:q}"
            " --threads {threads} {params.blocks}"
