"""The per-channel positions: a check still running holds the position back, so a later-numbered failure that ended
first does not make the sensor skip it (Dagster numbers a check's execution when the run plans it)."""

import logging

from ic3_pipeline.notifications.channels import WebhookChannel
from ic3_pipeline.notifications.delivery import Candidate, Position, deliver, read_cursor
from ic3_pipeline.notifications.message import Notice
from ic3_pipeline.notifications.settings import WebhookSettings

LOG = logging.getLogger("test_delivery")


def notice(event_id: int):
    return lambda: Notice("check_failed", event_id, f"check {event_id} failed", {"check": f"c{event_id}"})


def test_a_running_check_holds_the_position_until_it_ends(receiver):
    channel = WebhookChannel(WebhookSettings(f"{receiver.base_url}/hook"))
    positions = {"webhook": Position(9)}
    first = deliver([channel], positions, [Candidate(10, None, settled=False), Candidate(11, notice(11)),
                                           Candidate(12, None)], LOG)
    assert first.sent == {"webhook": 1} and [r.body["check"] for r in receiver.requests] == ["c11"]
    assert (positions["webhook"].after, positions["webhook"].sent) == (9, {11})  # 10 is still open

    cursor = first.cursor()
    positions = read_cursor(cursor)
    again = deliver([channel], positions, [Candidate(10, notice(10)), Candidate(11, notice(11)), Candidate(12, None)], LOG)
    assert again.sent == {"webhook": 1} and [r.body["check"] for r in receiver.requests] == ["c11", "c10"]
    assert (positions["webhook"].after, positions["webhook"].sent) == (12, set())

    assert deliver([channel], positions, [Candidate(11, notice(11)), Candidate(13, None)], LOG).sent == {"webhook": 0}
    assert positions["webhook"].after == 13 and len(receiver.requests) == 2


def test_a_failed_delivery_keeps_its_place_and_order(receiver):
    channel = WebhookChannel(WebhookSettings(f"{receiver.base_url}/hook"))
    positions = {"webhook": Position(0)}
    receiver.status = 502
    down = deliver([channel], positions, [Candidate(1, notice(1)), Candidate(2, notice(2))], LOG)
    assert down.sent == {"webhook": 0} and down.errors == [f"webhook at {receiver.base_url[7:]} answered HTTP 502"]
    assert positions["webhook"].after == 0
    receiver.status = 200
    deliver([channel], positions, [Candidate(1, notice(1)), Candidate(2, notice(2))], LOG)
    assert [r.body["check"] for r in receiver.requests] == ["c1", "c2"] and positions["webhook"].after == 2


def test_an_unreadable_cursor_restarts_rather_than_failing_every_tick():
    assert read_cursor("not json") == {} and read_cursor('{"webhook": 3}') == {}
