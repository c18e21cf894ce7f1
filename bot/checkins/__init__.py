"""Check-ins: the days after a talk and the weeks of keeping commitments.

Why a package: the time arithmetic (schedule.py), what is kept in the session (plan.py), when a
due check-in is sent, postponed or let go (due.py), what flows may ask for (actions.py), the
weeks as text and as a picture (progress.py, png.py) and the wording file (texts.py) each
have one job. The core decides and commits; adapters only deliver (bot/pipeline.py).
"""
