"""Retention: the periodic prune of the mirror (executions/prune.py), with what it must
never delete that only the rooms above the mirror know: executions named in an open bulk
job, a held approval, or a guardrail's firing that is not final. A top room, like api/:
it stands on actions/ and guardrails/, and nothing imports it but console/."""
