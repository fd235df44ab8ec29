"""The platform's own monitor: drift, data quality and model quality of captured traffic.

``monitoring/monitor.py`` is a SageMaker script-mode processing entry point; the other
modules are what it composes (capture parsing, fixed-size per-feature state, Model
Monitor's distances and checks, ground truth, CloudWatch metrics, the HTML report).
"""
