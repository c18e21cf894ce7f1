"""The weeks kept as text and as a picture, from one table."""

from __future__ import annotations

from bot.app import load_flows
from bot.checkins.progress import progress_picture, progress_text, weeks_table
from bot.checkins.texts import SERVICE, CheckinTexts

TEXTS = load_flows().services[SERVICE]
assert isinstance(TEXTS, CheckinTexts)
WEEKS = {"commit_open": {"2025-W11": "kept", "2025-W12": "partly"},
         "commit_closeness": {"2025-W12": "not_yet"}}


def test_rows_follow_the_wording_file_and_columns_the_weeks() -> None:
    labels, columns, marks = weeks_table(WEEKS, TEXTS)
    assert labels == ["Being open", "Closeness"]
    assert columns == ["2025-W11", "2025-W12"]
    assert marks == [["kept", "partly"], ["none", "not_yet"]]


def test_text_and_picture_say_the_same() -> None:
    text = progress_text(WEEKS, TEXTS)
    assert "Being open  ✓ ½" in text and "Closeness   · ✗" in text
    picture = progress_picture(WEEKS, TEXTS)
    assert picture is not None and picture.picture and picture.text == text
    assert progress_picture({}, TEXTS) is None
    assert progress_text({}, TEXTS) == TEXTS.get("progress_none")
