"""Couple mode: one partner invites the other, both answer the boundary and needs questions
apart, and see them side by side only when both choose to. What two people share lives in
records of its own in the store (`pair:<id>`, `invite:<hash>`); everything else stays in each
person's own session. docs/couples.md says how it works and what is shared."""
