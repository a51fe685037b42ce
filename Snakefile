"""MM-Lego study workflow: raw data -> modality store -> LegoBlocks -> LegoMerge/LegoFuse -> report."""

from pathlib import Path

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


# Stage files are included in pipeline order when present, so a stage lands as one file.
for _stage in STAGES:
    if Path(workflow.basedir, "workflow", "rules", f"{_stage}.smk").exists():

        include: f"workflow/rules/{_stage}.smk"


rule all:
    default_target: True
    input:
        ALL_TARGETS,
    localrule: True
