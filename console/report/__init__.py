"""Reports from an incident log, above the journal: the postmortem and the timeline.

``postmortem`` computes what a postmortem holds from the fold, ``sections`` names its sections
in order, ``markdown`` and ``html`` lay those sections out, and ``timeline`` prints a log one
line an event.
"""
