"""The steps of ``make run`` (``local/run.py``): each runs one part of the lifecycle and
records it in the run's summary; ``local/report.py`` prints what they return."""
