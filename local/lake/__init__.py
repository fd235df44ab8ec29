"""The data lake, locally: the seeded synthetic dataset and the Glue jobs on local Spark."""
