"""The adaptive concurrency policy, I/O-free: a simulated server with a hidden limit."""

from __future__ import annotations

import heapq

import pytest

from glm_notebook.bulk._limiter import MAX_PROBE_GAP, AdaptiveLimit


def simulate(policy, limit, rows, latency=0.05, retry_after=None, start=0.0):
    """Run ``rows`` answers against a server that refuses a request over ``limit`` in flight at
    once, from time ``start``; returns (seconds taken, rejections, peak of ours in flight)."""
    now, done, queue, in_flight, peak = start, 0, rows, 0, 0
    events: list[tuple[float, int, bool, object]] = []
    seq = 0
    while done < rows:
        while queue and (wait := policy.wait_s(in_flight, now)) == 0.0:
            queue -= 1
            in_flight += 1
            peak = max(peak, in_flight)
            ticket = policy.start(in_flight)
            server_busy = sum(1 for e in events if e[2])
            ok = server_busy < limit
            seq += 1
            heapq.heappush(events, (now + (latency if ok else 0.001), seq, ok, ticket))
        else:
            wait = policy.wait_s(in_flight, now)
        if not events:  # paused with nothing in flight: the pause ends first
            now += wait or 0.0
            continue
        at, _, ok, ticket = heapq.heappop(events)
        now = max(at, now)
        in_flight -= 1
        if ok:
            done += 1
            policy.succeeded(ticket)
        else:
            queue += 1
            policy.rate_limited(ticket, now, retry_after)
    return now - start, policy.rejections, peak


def test_the_first_request_goes_alone():
    policy = AdaptiveLimit()
    assert policy.wait_s(0, 0.0) == 0.0
    policy.start(1)
    assert policy.wait_s(1, 0.0) is None  # nothing else until it answered


@pytest.mark.parametrize("limit", [1, 2, 5, 8, 20])
def test_finds_an_unpublished_limit_and_keeps_it_busy(limit):
    rows = 2000
    seconds, rejections, peak = simulate(AdaptiveLimit(max_concurrency=32), limit, rows)
    ideal = rows / limit * 0.05  # the loop told the limit: exactly `limit` always in flight
    assert ideal / seconds >= 0.9, (ideal, seconds)
    assert rejections <= 40  # a few while finding it, then one per failed probe, ever rarer


def test_remembers_the_ceiling_instead_of_halving():
    policy = AdaptiveLimit()
    simulate(policy, 8, 500)
    assert policy.ceiling == 8 and policy.limit in (8, 9)
    assert policy.probe_gap > 2  # probes at 9 failed, so they come ever more rarely
    assert policy.probe_gap <= MAX_PROBE_GAP


def test_tightest_bound_of_a_burst_wins_in_any_order():
    policy = AdaptiveLimit()
    tickets = []
    for level in range(1, 13):
        policy.limit = 12
        tickets.append(policy.start(level))
    for ticket in reversed(tickets[8:]):  # levels 12, 11, 10, 9 come back in that order
        policy.rate_limited(ticket, 0.0)
    assert policy.limit == policy.ceiling == 8


def test_retry_after_pauses_new_requests():
    policy = AdaptiveLimit()
    t = policy.start(1)
    policy.rate_limited(t, now=10.0, retry_after=2.0)
    assert policy.wait_s(0, 10.5) == pytest.approx(1.5)
    assert policy.wait_s(0, 12.0) == 0.0


def test_a_step_down_needs_no_pause_but_refusals_that_cannot_step_back_off():
    policy = AdaptiveLimit()
    policy.limit = 6
    policy.rate_limited(policy.start(6), now=0.0)
    assert policy.limit == 5 and policy.wait_s(0, 0.0) == 0.0  # stepped down: go on at once
    pauses = []
    policy.limit = policy.ceiling = 1
    for i in range(8):  # at one request nothing is left to step: back off
        policy.rate_limited(policy.start(1), now=100.0 * i)
        pauses.append(policy.paused_until - 100.0 * i)
    assert pauses[:3] == pytest.approx([0.05, 0.1, 0.2]) and pauses[-1] == 3.0
    policy.succeeded(policy.start(1))
    policy.rate_limited(policy.start(1), now=1000.0)
    assert policy.paused_until == pytest.approx(1000.05)
    assert policy.limit == 1  # never below one


def test_a_limit_that_drops_mid_run_is_followed():
    policy = AdaptiveLimit()
    first, _, _ = simulate(policy, 8, 300)
    seconds, _, _ = simulate(policy, 3, 600, start=first)
    assert policy.ceiling == 3
    assert (600 / 3 * 0.05) / seconds >= 0.9


def test_a_fixed_concurrency_never_moves_but_still_pauses():
    policy = AdaptiveLimit(fixed=4)
    assert policy.limit == 4
    t = policy.start(4)
    policy.rate_limited(t, 0.0, retry_after=1.0)
    policy.succeeded(policy.start(1))
    assert policy.limit == 4 and policy.wait_s(0, 0.5) == pytest.approx(0.5)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        AdaptiveLimit(fixed=0)
    with pytest.raises(ValueError):
        AdaptiveLimit(max_concurrency=0)
