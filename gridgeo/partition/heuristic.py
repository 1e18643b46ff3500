"""A fast feasible plan: recursive spanning-tree bipartition.

The idea is GerryChain's ``recursive_tree_part`` (DeFord, Duchin and Solomon): draw a random
spanning tree, cut one tree edge so that one side has a weight in the band and the rest can
still be split, take that side as a part, repeat on the rest. Each side of a cut tree edge is
a subtree, so every part is connected by construction. Among the admissible cuts of a tree
the one whose part has the cheapest boundary in the graph is taken, which keeps parts compact.

This module uses only networkx and numpy; it is the warm start of the CP-SAT model and the
whole answer where that model would be too large.
"""

from __future__ import annotations

from collections.abc import Hashable

import networkx as nx
import numpy as np


def _spanning_tree(graph: nx.Graph, rng: np.random.Generator) -> nx.Graph:
    for u, v in graph.edges:
        graph.edges[u, v]["_rand"] = float(rng.random())
    return nx.minimum_spanning_tree(graph, weight="_rand", algorithm="kruskal")


def _subtree_weights(tree: nx.Graph, root: Hashable, weight: dict) -> tuple[dict, dict]:
    """Parent of each node and the weight of the subtree under it, rooted at ``root``."""
    parent = {root: None}
    order = [root]
    stack = [root]
    while stack:
        n = stack.pop()
        for m in tree.adj[n]:
            if m not in parent:
                parent[m] = n
                order.append(m)
                stack.append(m)
    sub = {n: weight[n] for n in order}
    for n in reversed(order[1:]):
        sub[parent[n]] += sub[n]
    return parent, sub


def _subtree_nodes(tree: nx.Graph, parent: dict, top: Hashable) -> list:
    out = [top]
    stack = [top]
    while stack:
        n = stack.pop()
        for m in tree.adj[n]:
            if parent.get(m) == n:
                out.append(m)
                stack.append(m)
    return out


def recursive_tree_part(
    graph: nx.Graph,
    weight: dict,
    lower: int,
    upper: int,
    n_parts: int,
    *,
    cost: dict | None = None,
    seed: int = 0,
    tree_tries: int = 40,
    restarts: int = 8,
) -> dict | None:
    """Split a connected graph into ``n_parts`` connected parts with weights in the band.

    Parameters
    ----------
    graph : networkx.Graph
        Connected; not modified.
    weight : dict
        Node -> weight (households), integers >= 0.
    lower, upper : int
        The band every part's weight must lie in.
    n_parts : int
        How many parts.
    cost : dict, optional
        Frozenset({u, v}) -> cost of cutting that edge (1 when absent).
    seed : int
        Seed of the random trees.
    tree_tries : int
        Trees drawn per part before a restart.
    restarts : int
        Fresh starts before giving up.

    Returns
    -------
    dict or None
        Node -> part index (0-based), or None when no plan was found.
    """
    rng = np.random.default_rng(seed)
    cost = cost or {}
    total = sum(weight[n] for n in graph)
    if not n_parts * lower <= total <= n_parts * upper:
        return None
    if n_parts == 1:
        return {n: 0 for n in graph}
    work_template = nx.Graph()
    work_template.add_nodes_from(sorted(graph.nodes, key=_order_key))
    work_template.add_edges_from(
        sorted(
            (tuple(sorted((u, v), key=_order_key)) for u, v in graph.edges),
            key=lambda e: (_order_key(e[0]), _order_key(e[1])),
        )
    )
    for _ in range(restarts):
        work = work_template.copy()
        plan: dict = {}
        remaining_weight = total
        ok = True
        for p in range(n_parts - 1):
            left = n_parts - p - 1
            found = None
            for _t in range(tree_tries):
                tree = _spanning_tree(work, rng)
                nodes = list(work.nodes)
                root = nodes[int(rng.integers(len(nodes)))]
                parent, sub = _subtree_weights(tree, root, weight)
                cands = []
                for n, w in sub.items():
                    if n == root:
                        continue
                    rest = remaining_weight - w
                    if lower <= w <= upper and left * lower <= rest <= left * upper:
                        cands.append(n)
                    elif lower <= rest <= upper and left == 1 and lower <= w <= upper:
                        cands.append(n)
                if not cands:
                    continue
                if len(cands) > 12:
                    cands = [cands[i] for i in sorted(rng.choice(len(cands), 12, replace=False))]
                best = None
                for top in cands:
                    part = _subtree_nodes(tree, parent, top)
                    pset = set(part)
                    boundary = sum(
                        cost.get(frozenset((a, b)), 1.0)
                        for a in part
                        for b in work.adj[a]
                        if b not in pset
                    )
                    if best is None or boundary < best[0]:
                        best = (boundary, part)
                found = best[1]
                break
            if found is None:
                ok = False
                break
            for n in found:
                plan[n] = p
            remaining_weight -= sum(weight[n] for n in found)
            work.remove_nodes_from(found)
        if not ok:
            continue
        if not lower <= remaining_weight <= upper or not nx.is_connected(work):
            continue
        for n in work.nodes:
            plan[n] = n_parts - 1
        return plan
    return None


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


def bisection_plan(
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
    band becomes a part. With ``log k`` levels instead of ``k`` steps it scales to thousands of
    nodes.

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
    rng = np.random.default_rng(seed)
    cost = cost or {}
    nodes = sorted(graph.nodes, key=_order_key)
    index = {n: i for i, n in enumerate(nodes)}
    w = [int(weight[n]) for n in nodes]
    total = sum(w)
    if _feasible_counts(total, lower, upper, n_parts) is None:
        return None
    if n_parts is not None and not -(-total // upper) <= n_parts <= total // max(lower, 1):
        return None
    adj: list[list[tuple[int, float]]] = [[] for _ in nodes]
    edge_list = []
    for u, v in graph.edges:
        i, j = sorted((index[u], index[v]))
        c = float(cost.get(frozenset((u, v)), 1.0))
        edge_list.append((i, j))
        adj[i].append((j, c))
        adj[j].append((i, c))
    edge_list.sort()
    for a in adj:
        a.sort()
    budget = [max_trees if max_trees is not None else 200 + 20 * len(nodes)]
    member = np.zeros(len(nodes), dtype=np.int64)
    stamp = [0]

    def random_tree(piece: list[int]) -> list[list[int]]:
        stamp[0] += 1
        s = stamp[0]
        member[piece] = s
        es = [e for e in edge_list if member[e[0]] == s and member[e[1]] == s]
        order = rng.permutation(len(es))
        parent = {n: n for n in piece}

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        tadj: dict[int, list[int]] = {n: [] for n in piece}
        joined = 0
        for o in order:
            a, b = es[o]
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[ra] = rb
                tadj[a].append(b)
                tadj[b].append(a)
                joined += 1
                if joined == len(piece) - 1:
                    break
        return tadj

    def find_cut(piece: list[int], k: int | None, wsum: int, seen: set):
        for _ in range(tree_tries):
            if budget[0] <= 0:
                return None
            budget[0] -= 1
            tadj = random_tree(piece)
            root = piece[int(rng.integers(len(piece)))]
            par = {root: -1}
            order = [root]
            for n in order:
                for m in tadj[n]:
                    if m not in par:
                        par[m] = n
                        order.append(m)
            sub = {n: w[n] for n in order}
            for n in reversed(order[1:]):
                sub[par[n]] += sub[n]
            cands = []
            for n in order[1:]:
                ks = _split_counts(sub[n], wsum - sub[n], lower, upper, k)
                if ks is not None:
                    cands.append((abs(2 * sub[n] - wsum), n, ks))
            if not cands:
                continue
            cands.sort()
            best = None
            for _bal, top, ks in cands[:candidates]:
                side = [top]
                for n in side:
                    side.extend(m for m in tadj[n] if par.get(m) == n)
                side.sort()
                key = tuple(side)
                if key in seen:
                    continue
                stamp[0] += 1
                member[side] = stamp[0]
                boundary = sum(c for a in side for b, c in adj[a] if member[b] != stamp[0])
                if best is None or boundary < best[0]:
                    best = (boundary, side, ks, key)
            if best is None:
                continue
            seen.add(best[3])
            side = best[1]
            sset = set(side)
            other = [n for n in piece if n not in sset]
            wa = sum(w[n] for n in side)
            return side, other, best[2], wa
        return None

    def split(piece: list[int], k: int | None, wsum: int) -> list[list[int]] | None:
        if (k is None and wsum <= upper) or k == 1:
            return [piece] if lower <= wsum <= upper else None
        seen: set = set()
        for _ in range(attempts):
            cut = find_cut(piece, k, wsum, seen)
            if cut is None:
                return None
            side, other, (ka, kb), wa = cut
            left = split(side, ka, wa)
            if left is None:
                continue
            right = split(other, kb, wsum - wa)
            if right is None:
                continue
            return left + right
        return None

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * len(nodes) + 100))
    try:
        parts = split(list(range(len(nodes))), n_parts, total)
    finally:
        sys.setrecursionlimit(limit)
    if parts is None:
        return None
    parts.sort(key=min)
    return {nodes[n]: p for p, part in enumerate(parts) for n in part}


def _order_key(node: Hashable) -> tuple:
    return (type(node).__name__, str(node))
