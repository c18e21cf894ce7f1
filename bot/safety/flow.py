"""The safety flow as the core knows it: the one flow it enters by itself, at the state that
fits what the screen found. Everything said there lives in flows/safety.yaml."""

SAFETY_FLOW = "safety"
SAFETY_ENTRY_STATES = ("violence", "coercive_control", "self_harm", "unsure")
