"""Models composed from a split's trained LegoBlocks (LegoMerge, LegoFuse): one rule each,
from its catalogue entry, with one job per (dataset, split), or per dataset over every split
when ``batch_splits`` batches them (like train.smk)."""

for _entry in [model_entry(m) for m in model_keys("blocks")]:
    _log = f"{_entry.key}/{{ds}}/split{{k}}"

    rule:
        name:
            _entry.step
        input:
            unpack(over_splits(split_blocks)),
        output:
            **{
                name: split_job(
                    getattr(layout, name)(layout.run_dir(DS, _entry.key, "{k}"))
                )
                for name in _entry.outputs
            },
        log:
            split_job(layout.log(OUT, _log)),
        benchmark:
            layout.benchmark(OUT, split_job_name(f"{_entry.key}/{{ds}}"))
        conda:
            "../../envs/train.yaml"
        threads: 1
        resources:
            **_entry.resources,
        params:
            # Each split's `mmlego --log LOG <step> ...` (under `mmlego batch` when batched).
            command=split_command(combine_step(_entry), _log, split_blocks),
            cfg=as_json(job_config(config, _entry.key)),
            seed=config["seed"],
            device=config["device"],
        shell:
            "mmlego {params.command}"
