# SPDX-License-Identifier: Apache-2.0
"""A turn's derived trace id is the Langfuse SDK's ``create_trace_id(seed=...)``: a rating's score, sent with the SDK's
client, lands on the trace the filter wrote. (Here, not in tests/filter: the oldest-dependency run has no SDK.)"""

from __future__ import annotations

import pytest
from langfuse import Langfuse

from otel_filter.trace_ids import trace_id_from_seed, turn_trace_id
from tests.filter.test_trace_ids import SEEDS

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("seed", SEEDS)
def test_trace_id_is_the_langfuse_sdks(seed: str) -> None:
    assert trace_id_from_seed(seed) == Langfuse.create_trace_id(seed=seed)


def test_a_turns_trace_id_is_the_sdks_for_its_seed() -> None:
    assert turn_trace_id("c1", "m1") == Langfuse.create_trace_id(seed="c1:m1")
