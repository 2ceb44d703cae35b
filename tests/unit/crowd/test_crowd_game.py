"""IEWDS on tables generated from the app's payout function (seed §IV, §VI) and with a cost."""

from __future__ import annotations

import itertools

import pytest

from learnchain.apps.crowd import game as G


def test_table_one_has_the_seeds_cells():
    r, d = 1000, 200
    t = G.table_one(r, d)
    expected = {("e", "e"): (-d, -d), ("e", "t"): (-d, -d // 2), ("e", "f"): (-d, -d // 2),
                ("t", "e"): (-d // 2, -d), ("t", "t"): (r // 2, r // 2),
                ("t", "f"): (-d // 2, -d // 2), ("f", "e"): (-d // 2, -d),
                ("f", "t"): (-d // 2, -d // 2), ("f", "f"): (-d // 2, -d // 2)}
    assert t == expected


@pytest.mark.parametrize("n", [2, 3, 4])
def test_without_cost_only_all_true_survives(n):
    result = G.iewds(G.worker_game(n, 1200, 200))
    assert result.survivors == [["t"]] * n
    # σ_e goes first, strictly; σ_f only weakly (as the seed's argument says)
    first = [e for e in result.log if e.player == "W1"]
    assert (first[0].strategy, first[0].strict) == ("e", True)
    assert ("f", False) in [(e.strategy, e.strict) for e in first]


@pytest.mark.parametrize(("n", "k"), [(3, 1), (3, 2), (4, 1), (4, 2), (4, 3)])
def test_coalitions_up_to_n_minus_one_end_with_sigma_2(n, k):
    result = G.iewds(G.coalition_game(n, k, 1200, 200))
    assert result.survivors == [["σ2"], *([["t"]] * (n - k))]


def test_iewds_survivors_do_not_depend_on_player_order():
    game = G.coalition_game(4, 2, 1200, 200, cost=10)
    base = G.iewds(game).survivors
    for order in itertools.permutations(range(len(game.players))):
        g = G.Game([game.players[i] for i in order], [game.strategies[i] for i in order],
                   lambda p, order=order: _reorder(game, order, p))
        survivors = G.iewds(g).survivors
        assert [survivors[order.index(i)] for i in range(len(order))] == base


def _reorder(game, order, profile):
    original = [None] * len(order)
    for pos, i in enumerate(order):
        original[i] = profile[pos]
    u = game.utility(tuple(original))
    return tuple(u[i] for i in order)


@pytest.mark.parametrize(("n", "r", "d"), [(2, 1000, 200), (3, 900, 200), (4, 1000, 300),
                                           (5, 1003, 50)])
def test_cost_threshold_is_r_over_n_plus_d_over_2(n, r, d):
    threshold = G.cost_threshold(n, r, d)
    assert threshold == r // n + d // 2
    below = G.iewds(G.worker_game(n, r, d, threshold - 1)).survivors
    assert below == [["t", "f"]] * n  # honesty survives but junk does too once c > 0
    assert G.iewds(G.worker_game(n, r, d, threshold)).survivors == [["f"]] * n


def test_table_two_rows_for_a_coalition_of_three_among_four():
    r, d, n, k = 1200, 200, 4, 3
    t = G.table_two(n, k, r, d)
    assert t["σ1"] == {"I": -k * d, "II": -k * d, "III": -k * d}
    # the clauses pay σ2 only when every outsider is also true (situation III)
    assert t["σ2"] == {"I": -k * d // 2, "II": -k * d // 2, "III": k * r // n}
    assert t["σ3"] == {"I": -k * d // 2, "II": -k * d // 2, "III": -k * d // 2}
    assert t["σ7(p=1,q=1,l=1)"] == {s: -(1 + 1) * d // 2 - 1 * d for s in ["I", "II", "III"]}
    with pytest.raises(ValueError):
        G.table_two(4, 4, r, d)
