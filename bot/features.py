"""Importing this registers every action and condition the core offers to flows.

Core features keep their flow actions beside their code; this module is the one list of
them, so a flow check always sees the full registry.
"""

from bot.coach import actions as coach_actions
from bot.safety import actions as safety_actions

__all__ = ["coach_actions", "safety_actions"]
