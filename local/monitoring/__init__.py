"""The monitoring loop, locally: synthetic traffic with a known shift (``capture_traffic``)
and the stand-ins for what moto cannot do, each labelled as such in output: ``alarms``
(CloudWatch alarm evaluation and its state-change event) and ``event_patterns``
(EventBridge event-pattern matching). The stand-ins are standard library only, so the
local runtime imports them without CDK or the SageMaker SDK."""
