"""The project's own suite through its plugin: every built-in layer and every example network,
symbolic vs backward() vs finite differences, with the ``symgrad_check`` fixture.

Built-in layers are right, so a failure here is a false alarm of the checker (or a bug in a
layer): every layer case is checked at 100 seeded points (seeds 0..99), and must pass with no
note either (notes are for users' layers that write into dout, ignore it, ...).
"""

from __future__ import annotations

from symgrad.testing import parametrize_layers, parametrize_networks

SEEDS = range(100)


@parametrize_layers(seeds=SEEDS)
def test_built_in_layer_agrees_three_ways(symgrad_check, case, seed):
    report = symgrad_check.case(case, seed)
    assert report.ok
    assert report.notes == ()
    assert [row.name for row in report.rows] == ["x", *case.spec.roles]


@parametrize_networks(seeds=range(3))
def test_example_network_agrees_three_ways(symgrad_check, case, seed):
    report = symgrad_check.case(case, seed)
    assert report.ok
    assert report.mode == case.mode
    assert {row.name for row in report.rows} == {"x", *case.network().params}
