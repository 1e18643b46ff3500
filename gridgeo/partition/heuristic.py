"""Fast feasible plans from random spanning trees.

The idea is GerryChain's (DeFord, Duchin and Solomon): draw a random spanning tree, cut one tree
edge so that one side has a weight that can be split into parts in the band and the rest too.
Each side of a cut tree edge is a subtree, so every part is connected by construction. Among the
admissible cuts of a tree the one whose side has the cheapest boundary in the graph is taken,
which keeps parts compact.

* :func:`bisection_plan` splits recursively in two (``log k`` levels, scales to thousands of
  nodes); it is the warm start of the search.
* :func:`sequential_plan` cuts one part at a time, each close to the weight the rest still needs
  per part (GerryChain's ``recursive_tree_part``): slower, but it finds plans at a fixed number of
  parts near the minimum where balanced bisection does not.

This module uses only networkx and numpy.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable
from dataclasses import dataclass

import networkx as nx
import numpy as np


def _order_key(node: Hashable) -> tuple:
    return (type(node).__name__, str(node))


def _feasible_counts(w: int, lower: int, upper: int, k: int | None) -> tuple[int, int] | None:
    """Range of part counts for weight ``w`` (capped at ``k`` when given), None if empty."""
    lo = -(-w // upper)
    hi = w // lower if lower > 0 else w
    if k is not None:
        hi = min(hi, k)
    lo = max(lo, 1)
    return (lo, hi) if lo <= hi else None


def _split_counts(wa: int, wb: int, lower: int, upper: int, k: int | None) -> tuple | None:
    """Part counts (ka, kb) for the two sides of a cut, or None when the cut is useless."""
    ra = _feasible_counts(wa, lower, upper, None if k is None else k - 1)
    rb = _feasible_counts(wb, lower, upper, None if k is None else k - 1)
    if ra is None or rb is None:
        return None
    if k is None:
        return (None, None)
    best = None
    for ka in range(ra[0], ra[1] + 1):
        kb = k - ka
        if rb[0] <= kb <= rb[1]:
            score = abs(ka - kb)
            if best is None or score < best[0]:
                best = (score, ka, kb)
    return None if best is None else (best[1], best[2])


@dataclass
class _Cut:
    """One side of a cut tree edge: its nodes (indices, sorted), weight and boundary cost."""

    side: list[int]
    weight: int
    boundary: float


class _Trees:
    """A graph indexed for drawing random spanning trees of its pieces and cutting them.

    Nodes are numbered in gridgeo's stable node order, edges sorted, so the same seed draws the
    same trees on any machine.
    """

    def __init__(self, graph: nx.Graph, weight: dict, cost: dict, seed: int, max_trees: int):
        self.nodes = sorted(graph.nodes, key=_order_key)
        index = {n: i for i, n in enumerate(self.nodes)}
        self.w = [int(weight[n]) for n in self.nodes]
        self.adj: list[list[tuple[int, float]]] = [[] for _ in self.nodes]
        edges = []
        for u, v in graph.edges:
            i, j = sorted((index[u], index[v]))
            c = float(cost.get(frozenset((u, v)), 1.0))
            edges.append((i, j))
            self.adj[i].append((j, c))
            self.adj[j].append((i, c))
        edges.sort()
        self.edges = edges
        ends = np.array(edges, dtype=np.int64).reshape(-1, 2)
        self._ea, self._eb = ends[:, 0], ends[:, 1]
        for a in self.adj:
            a.sort()
        self.rng = np.random.default_rng(seed)
        self.trees_left = max_trees
        self._member = np.zeros(len(self.nodes), dtype=np.int64)
        self._stamp = 0

    def _mark(self, nodes: list[int]) -> int:
        self._stamp += 1
        self._member[nodes] = self._stamp
        return self._stamp

    def draw(self, piece: list[int]) -> tuple[int, dict, list[int], dict] | None:
        """A random spanning tree of ``piece`` rooted at a random node.

        Returns (root, parent, order, subtree weight), or None when the tree budget is spent.
        """
        if self.trees_left <= 0:
            return None
        self.trees_left -= 1
        s = self._mark(piece)
        inside = np.flatnonzero((self._member[self._ea] == s) & (self._member[self._eb] == s))
        ea, eb = self._ea[inside].tolist(), self._eb[inside].tolist()
        parent = {n: n for n in piece}

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        tadj: dict[int, list[int]] = {n: [] for n in piece}
        joined = 0
        for o in self.rng.permutation(len(ea)).tolist():
            a, b = ea[o], eb[o]
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[ra] = rb
                tadj[a].append(b)
                tadj[b].append(a)
                joined += 1
                if joined == len(piece) - 1:
                    break
        root = piece[int(self.rng.integers(len(piece)))]
        par = {root: -1}
        order = [root]
        for n in order:
            for m in tadj[n]:
                if m not in par:
                    par[m] = n
                    order.append(m)
        sub = {n: self.w[n] for n in order}
        for n in reversed(order[1:]):
            sub[par[n]] += sub[n]
        self._tadj = tadj
        return root, par, order, sub

    def cut(self, par: dict, top: int) -> _Cut:
        """The subtree under ``top`` of the last tree drawn, with its boundary cost in the graph."""
        side = [top]
        for n in side:
            side.extend(m for m in self._tadj[n] if par.get(m) == n)
        side.sort()
        s = self._mark(side)
        boundary = sum(c for a in side for b, c in self.adj[a] if self._member[b] != s)
        return _Cut(side, sum(self.w[n] for n in side), boundary)


def bisection_plan(  # noqa: PLR0913 - the graph, band, count, costs, seed and the restart budget
    graph: nx.Graph,
    weight: dict,
    lower: int,
    upper: int,
    *,
    n_parts: int | None = None,
    cost: dict | None = None,
    seed: int = 0,
    tree_tries: int = 30,
    candidates: int = 8,
    attempts: int = 3,
    max_trees: int | None = None,
) -> dict | None:
    """Split a connected graph into connected parts in the band by recursive tree bisection.

    Each step draws random spanning trees of a piece until one has an edge whose cut leaves
    both sides splittable into parts in the band (or into the wanted numbers of parts); among
    the most balanced such cuts the one with the cheapest boundary in the graph is taken. Both
    sides are split in turn; when a side cannot be split, another cut of the piece is tried
    (backtracking), so one unlucky tree does not sink the plan. A piece whose weight fits the
    band becomes a part.

    Parameters
    ----------
    graph : networkx.Graph
        Connected; not modified.
    weight : dict
        Node -> weight (integers >= 0).
    lower, upper : int
        The band.
    n_parts : int, optional
        Exactly this many parts; by default as many as the bisection makes (pieces stop
        being split once they fit the band, which keeps the count low).
    cost : dict, optional
        Frozenset({u, v}) -> cost of cutting the edge (1 when absent).
    seed : int
        Seed of the random trees.
    tree_tries : int
        Trees drawn per cut before the piece is given up.
    candidates : int
        Cuts of one tree whose boundary cost is compared.
    attempts : int
        Different cuts tried per piece when a side cannot be split.
    max_trees : int, optional
        Total trees drawn before giving up; default ``200 + 20 * nodes``.

    Returns
    -------
    dict or None
        Node -> part index, parts numbered by their lowest node; None when none was found.
    """
    total = sum(int(weight[n]) for n in graph)
    if _feasible_counts(total, lower, upper, n_parts) is None:
        return None
    if n_parts is not None and not -(-total // upper) <= n_parts <= total // max(lower, 1):
        return None
    n = graph.number_of_nodes()
    trees = _Trees(graph, weight, cost or {}, seed, max_trees if max_trees is not None else 200 + 20 * n)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * n + 100))
    try:
        parts = _split(trees, list(range(n)), n_parts, total, (lower, upper), (tree_tries, candidates, attempts))
    finally:
        sys.setrecursionlimit(limit)
    return None if parts is None else _numbered(trees.nodes, parts)


def _split(trees: _Trees, piece, k, wsum, band, effort) -> list[list[int]] | None:
    """Bisection of one piece into ``k`` parts (or any number when None), with backtracking."""
    lower, upper = band
    if (k is None and wsum <= upper) or k == 1:
        return [piece] if lower <= wsum <= upper else None
    seen: set = set()
    for _ in range(effort[2]):
        found = _balanced_cut(trees, piece, k, wsum, band, effort, seen)
        if found is None:
            return None
        cut, (ka, kb) = found
        inside = set(cut.side)
        left = _split(trees, cut.side, ka, cut.weight, band, effort)
        if left is None:
            continue
        right = _split(trees, [n for n in piece if n not in inside], kb, wsum - cut.weight, band, effort)
        if right is None:
            continue
        return left + right
    return None


def _balanced_cut(trees: _Trees, piece, k, wsum, band, effort, seen: set):
    """Among the most balanced admissible cuts of random trees, the cheapest not yet tried."""
    lower, upper = band
    for _ in range(effort[0]):
        drawn = trees.draw(piece)
        if drawn is None:
            return None
        _root, par, order, sub = drawn
        cands = []
        for n in order[1:]:
            ks = _split_counts(sub[n], wsum - sub[n], lower, upper, k)
            if ks is not None:
                cands.append((abs(2 * sub[n] - wsum), n, ks))
        cands.sort()
        best = None
        for _bal, top, ks in cands[: effort[1]]:
            cut = trees.cut(par, top)
            key = tuple(cut.side)
            if key not in seen and (best is None or cut.boundary < best[0].boundary):
                best = (cut, ks, key)
        if best is not None:
            seen.add(best[2])
            return best[0], best[1]
    return None


def sequential_plan(  # noqa: PLR0913 - the graph, band, count, costs, seed and the restart budget
    graph: nx.Graph,
    weight: dict,
    lower: int,
    upper: int,
    n_parts: int,
    *,
    cost: dict | None = None,
    seed: int = 0,
    tree_tries: int = 200,
    candidates: int = 4,
    max_trees: int | None = None,
) -> dict | None:
    """Cut ``n_parts`` connected parts in the band one at a time from random spanning trees.

    Each part is a subtree whose weight lies in the band, as close as the tree allows to what the
    rest still needs per part (so that a plan near the fewest parts stays reachable), and the
    rest stays splittable; among the few closest the cheapest boundary is taken. The last part
    is what remains, when it is connected and in the band.

    Parameters
    ----------
    graph : networkx.Graph
        Connected; not modified.
    weight : dict
        Node -> weight (integers >= 0).
    lower, upper : int
        The band.
    n_parts : int
        How many parts.
    cost : dict, optional
        Frozenset({u, v}) -> cost of cutting the edge (1 when absent).
    seed : int
        Seed of the random trees.
    tree_tries : int
        Trees drawn per part before the attempt is given up.
    candidates : int
        Cuts of one tree whose boundary cost is compared.
    max_trees : int, optional
        Total trees drawn before giving up; default ``100 * nodes``.

    Returns
    -------
    dict or None
        Node -> part index, parts numbered by their lowest node; None when none was found.
    """
    n = graph.number_of_nodes()
    trees = _Trees(graph, weight, cost or {}, seed, max_trees if max_trees is not None else 100 * n)
    total = sum(trees.w)
    if not n_parts * lower <= total <= n_parts * upper:
        return None
    rest = list(range(n))
    parts: list[list[int]] = []
    for p in range(n_parts - 1):
        cut = _next_part(trees, rest, total - sum(sum(trees.w[i] for i in q) for q in parts),
                         n_parts - p, (lower, upper), (tree_tries, candidates))  # fmt: skip
        if cut is None:
            return None
        parts.append(cut.side)
        inside = set(cut.side)
        rest = [i for i in rest if i not in inside]
    last = sum(trees.w[i] for i in rest)
    if not lower <= last <= upper or not _is_connected(trees, rest):
        return None
    return _numbered(trees.nodes, [*parts, rest])


def _next_part(trees: _Trees, piece, wsum, left, band, effort) -> _Cut | None:
    """One part cut off ``piece`` (weight ``wsum``, ``left`` parts to make, this one included)."""
    target = wsum / left
    # A part as far below the average still needed as the band allows above it (GerryChain's
    # target +- epsilon): the rest's average then stays inside the band.
    lower, upper = max(band[0], int(np.ceil(2 * target - band[1]))), band[1]
    for _ in range(effort[0]):
        drawn = trees.draw(piece)
        if drawn is None:
            return None
        _root, par, order, sub = drawn
        cands = []
        for n in order[1:]:
            for part_w in (sub[n], wsum - sub[n]):  # either side of the edge may be the part
                rest = wsum - part_w
                if lower <= part_w <= upper and (left - 1) * lower <= rest <= (left - 1) * upper:
                    cands.append((abs(part_w - target), n, part_w == sub[n]))
        if not cands:
            continue
        cands.sort()
        best = None
        for _dev, top, below in cands[: effort[1]]:
            cut = trees.cut(par, top)
            if not below:  # the part is the rest of the piece: its subtree is the complement
                inside = set(cut.side)
                comp = [i for i in piece if i not in inside]
                s = trees._mark(comp)
                boundary = sum(c for a in comp for b, c in trees.adj[a] if trees._member[b] != s)
                cut = _Cut(comp, wsum - cut.weight, boundary)
            if best is None or cut.boundary < best.boundary:
                best = cut
        return best
    return None


def _is_connected(trees: _Trees, nodes: list[int]) -> bool:
    if not nodes:
        return False
    s = trees._mark(nodes)
    seen = {nodes[0]}
    stack = [nodes[0]]
    while stack:
        for b, _c in trees.adj[stack.pop()]:
            if trees._member[b] == s and b not in seen:
                seen.add(b)
                stack.append(b)
    return len(seen) == len(nodes)


def _numbered(nodes: list, parts: list[list[int]]) -> dict:
    """Node -> part, parts numbered by their lowest node."""
    parts = sorted(parts, key=min)
    return {nodes[i]: p for p, part in enumerate(parts) for i in part}
