"""Review messages: a batch's incidents due at the same time asked for in one message, none lost."""

from __future__ import annotations

from datetime import timedelta

import schemas
from services.analyst._incident_review import REVIEWS_PER_MESSAGE, review_messages, reviewed
from tests.unit.incidents._alerts import T0


def review(
    n: int, due_in: float = 5.0, kind: schemas.IncidentReviewKind = "analyse"
) -> schemas.IncidentReview:
    return schemas.IncidentReview(
        id=f"inc-{n:012d}",
        kind=kind,
        generation=n % 3 + 1,
        due=T0 + timedelta(seconds=due_in),
        requested_at=T0,
    )


def listed(messages: list[tuple[str, bytes, str]]) -> list[list[schemas.IncidentReview]]:
    return [reviewed(schemas.decode(payload, schemas.IncidentReview)) for _, payload, _ in messages]


def test_a_batch_opening_many_incidents_asks_for_one_review_listing_each_once() -> None:
    asked = [review(n) for n in range(100)]

    messages = review_messages(asked)

    assert len(messages) == 1
    assert listed(messages) == [asked]
    assert messages[0][0] == schemas.REVIEW


def test_reviews_due_at_different_times_go_in_different_messages() -> None:
    asked = [review(1), review(2, due_in=60, kind="resolve"), review(3), review(4, due_in=60)]

    by_message = listed(review_messages(asked))

    assert [[r.id for r in reviews] for reviews in by_message] == [
        [asked[0].id, asked[2].id],
        [asked[1].id, asked[3].id],
    ]
    assert [r.kind for r in by_message[1]] == ["resolve", "analyse"]
    assert all(r.due == reviews[0].due for reviews in by_message for r in reviews)


def test_a_huge_batch_is_split_so_no_message_outgrows_the_server_limit() -> None:
    asked = [review(n) for n in range(2 * REVIEWS_PER_MESSAGE + 1)]

    messages = review_messages(asked)

    assert [len(reviews) for reviews in listed(messages)] == [REVIEWS_PER_MESSAGE, REVIEWS_PER_MESSAGE, 1]
    assert [r for reviews in listed(messages) for r in reviews] == asked
    assert max(len(payload) for _, payload, _ in messages) < 128 * 1024


def test_a_lone_review_keeps_its_id_and_the_same_list_asked_twice_is_one_message_to_jetstream() -> None:
    (lone,) = review_messages([review(7)])
    assert lone[2] == f"review:{review(7).id}:{review(7).generation}:analyse"

    first = review_messages([review(1), review(2)])
    again = review_messages([review(1), review(2)])
    other = review_messages([review(1), review(3)])
    assert first[0][2] == again[0][2]  # a redelivered batch's review is dropped as a duplicate
    assert first[0][2] != other[0][2]
