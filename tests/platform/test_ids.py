import threading
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel, ValidationError

from casebook.platform.ids import IdGenerator, IdStr, id_timestamp


def test_ids_are_unique_and_increasing_across_threads() -> None:
    generator = IdGenerator(worker_id=7)
    results: list[list[int]] = [[] for _ in range(4)]

    def take(bucket: list[int]) -> None:
        bucket.extend(generator.next_id() for _ in range(5000))

    threads = [threading.Thread(target=take, args=(b,)) for b in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for bucket in results for i in bucket]
    assert len(set(every)) == len(every)
    for bucket in results:
        assert bucket == sorted(bucket)


def test_two_workers_never_issue_the_same_id() -> None:
    a, b = IdGenerator(1), IdGenerator(2)
    ids = {a.next_id() for _ in range(3000)} | {b.next_id() for _ in range(3000)}
    assert len(ids) == 6000


def test_id_encodes_its_creation_time_and_fits_a_signed_bigint() -> None:
    generated = IdGenerator(3).next_id()
    assert 0 < generated < 2**63
    assert abs(id_timestamp(generated) - datetime.now(UTC)) < timedelta(seconds=2)


def test_worker_id_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        IdGenerator(1024)


class _Thing(BaseModel):
    id: IdStr


def test_ids_render_as_strings_in_json_and_parse_from_strings() -> None:
    big = 2**62 + 12345
    assert _Thing(id=big).model_dump_json() == f'{{"id":"{big}"}}'
    assert _Thing.model_validate_json(f'{{"id":"{big}"}}').id == big
    with pytest.raises(ValidationError):
        _Thing.model_validate({"id": "12a"})
