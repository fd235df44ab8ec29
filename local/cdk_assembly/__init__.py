"""The one reader of the cloud assembly (``cdk.out``): templates, file assets, and
CloudFormation's intrinsic functions resolved with the local runtime's names.

``intrinsics`` resolves ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``, ... (strict, or
lenient with tokens); ``stage`` reads one stage's templates and names their resources as
CloudFormation would; ``training`` reads the training pipeline and the Glue jobs.
"""

from local.cdk_assembly.intrinsics import (
    TOKEN,
    AssemblyError,
    Lookup,
    by_name,
    has_intrinsic,
    no_values,
    resolve,
    token,
)
from local.cdk_assembly.stage import (
    Stage,
    StageAssembly,
    all_templates,
    file_assets,
    read_template,
    resources_of,
    stage_assembly,
    stage_names,
    template_assets,
)
from local.cdk_assembly.training import (
    GlueJobTemplate,
    PipelineTemplate,
    load_glue_jobs,
    load_pipeline_template,
)

__all__ = [
    "TOKEN",
    "AssemblyError",
    "GlueJobTemplate",
    "Lookup",
    "PipelineTemplate",
    "Stage",
    "StageAssembly",
    "all_templates",
    "by_name",
    "file_assets",
    "has_intrinsic",
    "load_glue_jobs",
    "load_pipeline_template",
    "no_values",
    "read_template",
    "resolve",
    "resources_of",
    "stage_assembly",
    "stage_names",
    "template_assets",
    "token",
]
