"""The resolved config: the study's validated settings plus provenance, for the report."""


rule resolve_config:
    output:
        layout.resolved_config(OUT),
    log:
        layout.log(OUT, "resolve_config"),
    retries: 0
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        cfg=as_json(config),
    shell:
        "mmlego --log {log:q} resolve-config --cfg {params.cfg:q} --out {output:q}"
