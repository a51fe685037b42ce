"""MM-Lego study workflow: raw data -> modality store -> LegoBlocks -> LegoMerge/LegoFuse -> report."""

from snakemake.utils import min_version, validate

from mmlego.config import ConfigError, check_config
from mmlego.config_paths import rebase_paths, snakemake_sources

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
# A config file's relative paths are taken from its folder; --config values and defaults from
# the working directory (DESIGN §5). CONFIG_PATHS says where each one came from, for messages.
CONFIG_PATHS = rebase_paths(
    config,
    snakemake_sources(
        workflow.configfiles,
        workflow.overwrite_configfiles,
        workflow.config_settings.config,
    ),
)
validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/steps.smk"
include: "workflow/rules/study.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/mimic.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/splits.smk"
include: "workflow/rules/tune.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/combine.smk"
include: "workflow/rules/ensemble.smk"
include: "workflow/rules/classical.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/merge_ablation.smk"
include: "workflow/rules/composition.smk"
include: "workflow/rules/unpaired.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
    localrule: True
