"""The learned second stage of the safety screen and the coach: sentence embeddings of
labelled examples, so wording the rules have not seen is still understood. Rules come first
(clear cases, explanations); this stage reads what they pass over and names the examples it
found nearest, so an operator can see why."""
