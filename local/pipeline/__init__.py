"""The training pipeline, locally: the synthesized definition interpreted step by step, each
step run as the SageMaker job it would be."""
