"""The weeks of keeping commitments: as text (the console, /export, the words beside the
picture) and as a small picture (Telegram, Discord), from what the weekly check-ins marked.

Why both from one table: the picture and the text must say the same; both are built from
`weeks_table`, a row per commitment the person made and a column per week answered.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.checkins.png import Colour, grid_png
from bot.checkins.texts import CheckinTexts
from bot.messages import Attachment

WEEKS_SHOWN = 8
COLOURS: Mapping[str, Colour] = {
    "kept": (46, 160, 67), "partly": (230, 160, 30), "not_yet": (150, 150, 150),
    "none": (228, 228, 228),
}
PICTURE_NAME = "checkin-weeks.png"


def weeks_table(weeks: Mapping[str, Mapping[str, str]], texts: CheckinTexts
                ) -> tuple[list[str], list[str], list[list[str]]]:
    """(row labels, week columns oldest first, marks): the commitments in the order of the
    wording file, the last WEEKS_SHOWN weeks any of them was answered."""
    slots = [slot for slot in texts.commitments if weeks.get(slot)]
    columns = sorted({week for slot in slots for week in weeks[slot]})[-WEEKS_SHOWN:]
    marks = [[weeks[slot].get(week, "none") for week in columns] for slot in slots]
    return [texts.commitments[slot] for slot in slots], columns, marks


def progress_text(weeks: Mapping[str, Mapping[str, str]], texts: CheckinTexts) -> str:
    labels, _, marks = weeks_table(weeks, texts)
    if not labels:
        return texts.get("progress_none")
    width = max(len(label) for label in labels)
    lines = [texts.get("progress_title")]
    for label, row in zip(labels, marks, strict=True):
        cells = " ".join(texts.marks.get(mark, texts.marks["none"]) for mark in row)
        lines.append(f"{label.ljust(width)}  {cells}")
    lines.append(texts.get("legend"))
    return "\n".join(lines)


def progress_picture(weeks: Mapping[str, Mapping[str, str]],
                     texts: CheckinTexts) -> Attachment | None:
    """The same table as a PNG grid; `text` carries it in words for where pictures are not
    shown (the console)."""
    labels, _, marks = weeks_table(weeks, texts)
    if not labels:
        return None
    data = grid_png([[COLOURS.get(mark, COLOURS["none"]) for mark in row] for row in marks])
    return Attachment(PICTURE_NAME, "image/png", data, text=progress_text(weeks, texts))
