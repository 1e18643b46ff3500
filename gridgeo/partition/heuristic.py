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
    work_template.add_edges_from(sorted((tuple(sorted((u, v), key=_order_key)) for u, v in graph.edges), key=lambda e: (_order_key(e[0]), _order_key(e[1]))))
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
                        cost.get(frozenset((a, b)), 1.0) for a in part for b in work.adj[a] if b not in pset
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
    restarts: int = 6,
    candidates: int = 8,
) -> dict | None:
    """Split a connected graph into connected parts in the band by recursive tree bisection.

    Each step draws a random spanning tree of a piece and cuts the tree edge that leaves both
    sides splittable into parts in the band (or into the wanted numbers of parts), preferring
    balanced sides and, among the most balanced, the cheapest boundary. A piece whose weight
    fits the band becomes a part. With ``log k`` levels instead of ``k`` steps it scales to
    thousands of nodes.

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
    tree_tries, restarts, candidates : int
        Effort: trees per split, fresh starts, cuts compared per tree.

    Returns
    -------
    dict or None
        Node -> part index, parts numbered by their lowest node; None when none was found.
    """
    rng = np.random.default_rng(seed)
    cost = cost or {}
    nodes0 = sorted(graph.nodes, key=_order_key)
    total = sum(weight[n] for n in nodes0)
    if _feasible_counts(total, lower, upper, n_parts) is None:
        return None
    if n_parts is not None and not -(-total // upper) <= n_parts <= total // max(lower, 1):
        return None
    base = nx.Graph()
    base.add_nodes_from(nodes0)
    base.add_edges_from(sorted((tuple(sorted(e, key=_order_key)) for e in graph.edges), key=lambda e: (_order_key(e[0]), _order_key(e[1]))))
    for _ in range(restarts):
        parts: list[list] = []
        stack = [(nodes0, n_parts, total)]
        ok = True
        while stack:
            piece, k, w = stack.pop()
            if (k is None and w <= upper) or k == 1:
                if lower <= w <= upper:
                    parts.append(piece)
                    continue
                ok = False
                break
            sub = base.subgraph(piece)
            found = None
            for _t in range(tree_tries):
                tree = _spanning_tree(nx.Graph(sub), rng)
                root = piece[int(rng.integers(len(piece)))]
                parent, subw = _subtree_weights(tree, root, weight)
                cands = []
                for n in piece:
                    if n == root:
                        continue
                    ks = _split_counts(subw[n], w - subw[n], lower, upper, k)
                    if ks is not None:
                        cands.append((abs(2 * subw[n] - w), _order_key(n), n, ks))
                if not cands:
                    continue
                cands.sort()
                best = None
                for _bal, _key, top, ks in cands[:candidates]:
                    side = _subtree_nodes(tree, parent, top)
                    sset = set(side)
                    boundary = sum(cost.get(frozenset((a, b)), 1.0) for a in side for b in sub.adj[a] if b not in sset)
                    if best is None or boundary < best[0]:
                        best = (boundary, side, ks)
                found = best
                break
            if found is None:
                ok = False
                break
            _b, side, (ka, kb) = found
            sset = set(side)
            other = [n for n in piece if n not in sset]
            wa = sum(weight[n] for n in side)
            stack.append((other, kb, w - wa))
            stack.append((sorted(side, key=_order_key), ka, wa))
        if ok:
            parts.sort(key=lambda p: _order_key(min(p, key=_order_key)))
            return {n: i for i, p in enumerate(parts) for n in p}
    return None


def _order_key(node: Hashable) -> tuple:
    return (type(node).__name__, str(node))
