"""MM-Lego study workflow: raw data -> modality store -> LegoBlocks -> LegoMerge/LegoFuse -> report."""

from snakemake.utils import min_version, validate

from mmlego.config import ConfigError, check_config

min_version("9.0")


# The demo config applies only when no --configfile is given, so that a user's study is
# never merged with the demo datasets (DESIGN §5).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Our own check first: it names the offending key path and the allowed values.
try:
    check_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/study.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/mimic.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/splits.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/combine.smk"
include: "workflow/rules/ensemble.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/merge_ablation.smk"
include: "workflow/rules/unpaired.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
    localrule: True
