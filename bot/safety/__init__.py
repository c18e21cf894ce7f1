"""Safety screening: a deterministic, explainable check run on every user message first.

People rehearse hard conversations here while hurting and sometimes while unsafe, so every
message is screened for violence, coercive control and self-harm before any other logic runs.
"""
