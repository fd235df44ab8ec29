"""Local stand-ins for what moto cannot do in the monitoring loop, each labelled as such:
``alarms`` (CloudWatch alarm evaluation and its state-change event) and
``event_patterns`` (EventBridge event-pattern matching). Import-light: standard library
only, so the local runtime imports them without CDK or the SageMaker SDK."""
