"""Staff assignment (S1, 规范 三.1): who serves which grid.

Rules held:

- every grid gets at least one full-time worker (专职网格员);
- one full-time worker may serve two or more grids when they are adjacent (share a boundary),
  lie in one community (by default) and their households together stay at or under ``cap``;
- part-time workers (兼职网格员) are spread over the grids, nearest first, counts kept even;
- a grid with several workers gets a grid leader (网格长): its full-time worker with the fewest
  grids, then the shortest trip, then the smallest id;
- each cluster of adjacent grids (the connected grids of one community) gets a grid instructor
  (网格指导员): a roster ``cadre`` when one can be had, else the cluster's full-time worker with
  the shortest trip to the cluster.

CP-SAT (in :mod:`gridgeo.export._staff_cpsat`) chooses, minimising the travel from home to grid
and the spread of households per full-time worker. A roster that cannot cover the grids raises
:class:`StaffingError` saying how many full-time workers are missing and for which grids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gridgeo.district import metric_crs
from gridgeo.errors import InfeasibleError, InputError, Problem, StaffingError
from gridgeo.export import _staff_cpsat as cpsat
from gridgeo.export._common import DEFAULT_DUTIES, ROLE_LABELS, check_grids
from gridgeo.export._qr import expand
from gridgeo.export.roster import check_roster
from gridgeo.i18n import _

#: Default household cap of the grids one full-time worker serves together.
DEFAULT_CAP = 1000
#: Minimum shared boundary, metres, for two grids to count as adjacent.
MIN_SHARED_M = 1.0

ASSIGNMENT_COLUMNS = [
    "grid_code", "grid_id", "community_code", "community_name", "worker_id", "name", "phone",
    "kind", "role", "role_label", "duties", "photo", "qr_url", "travel_m",
]  # fmt: skip


@dataclass
class StaffPlan:
    """Who serves which grid.

    Attributes
    ----------
    assignments : pandas.DataFrame
        One row per grid and role (:data:`ASSIGNMENT_COLUMNS`): ``role`` is ``leader``,
        ``full_time``, ``part_time`` or ``instructor``; the leader is one of the grid's
        full-time workers and is listed once, as leader.
    workers : pandas.DataFrame
        One row per roster worker: their grids (``;``-joined), households served, trip (m).
    clusters : pandas.DataFrame
        ``cluster_id``, ``community_code``, ``grids`` (``;``-joined) and ``instructor_id``.
    adjacency : list of tuple
        The pairs of adjacent grids (keys) used.
    report : dict
        Solver status, wall time (s), objective, spread of households per full-time worker,
        number of full-time workers left over (given as second workers to the largest grids).
    """

    assignments: pd.DataFrame
    workers: pd.DataFrame
    clusters: pd.DataFrame
    adjacency: list[tuple[str, str]]
    report: dict[str, Any] = field(default_factory=dict)

    def for_grid(self, key: str) -> pd.DataFrame:
        """The assignment rows of one grid, leader first."""
        return self.assignments[self.assignments["grid_code"] == str(key)]


def grid_adjacency(
    grids: gpd.GeoDataFrame, *, min_shared_m: float = MIN_SHARED_M
) -> list[tuple[int, int]]:
    """Pairs of grid row positions whose boundaries share at least ``min_shared_m`` metres.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Grids with a CRS (projected to a metric CRS here).
    min_shared_m : float
        Touching at a corner does not make neighbours.

    Returns
    -------
    list of (int, int)
        Sorted pairs ``i < j``.
    """
    metric = grids.geometry.to_crs(metric_crs(grids))
    geoms = metric.values
    left, right = metric.sindex.query(geoms, predicate="intersects")
    pairs = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        shared = shapely.intersection(shapely.boundary(geoms[i]), shapely.boundary(geoms[j]))
        if shapely.length(shared) >= min_shared_m:
            pairs.append((i, j))
    return sorted(pairs)


def assign_staff(  # noqa: PLR0913 - the planner's staffing knobs (cap, grids per worker, community, spread, budget, seed)
    grids: gpd.GeoDataFrame,
    roster: pd.DataFrame,
    *,
    cap: int = DEFAULT_CAP,
    max_grids: int = 3,
    same_community: bool = True,
    spread_weight: float = 1.0,
    candidates: int = 40,
    time_limit: float = 10.0,
    seed: int = 0,
) -> StaffPlan:
    """Assign a roster's workers to the grids (S1).

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        The grid layer (any CRS): ``grid_code`` (or ``grid_id``), ``households``, geometry and,
        when present, ``community_code``/``community_name``. Not modified.
    roster : pandas.DataFrame
        See :mod:`gridgeo.export.roster` (checked again here; Chinese headers accepted).
    cap : int
        Households, at most, of the grids one full-time worker serves together (a single grid
        above the cap still gets its own worker).
    max_grids : int
        Grids, at most, one full-time worker serves.
    same_community : bool
        Shared grids must lie in one community (default), as a community employs its workers.
    spread_weight : float
        How much one household of spread between the busiest and the idlest full-time worker
        weighs against 100 m of total travel.
    candidates : int
        A worker whose home is known is offered their ``candidates`` nearest patches.
    time_limit : float
        Deterministic seconds (CP-SAT work units, about a second each) per solver phase.
    seed : int
        Solver seed; the same inputs and seed give the same plan.

    Returns
    -------
    StaffPlan

    Raises
    ------
    InputError
        When the grid layer or the roster is unusable.
    StaffingError
        When the roster's full-time workers cannot cover the grids: says how many are missing
        and lists the grids (by community) a new worker would take.
    """
    layer = _layer(grids)
    roster = check_roster(roster)
    pairs = grid_adjacency(layer.g)
    graph = nx.Graph()
    graph.add_nodes_from(range(layer.n))
    graph.add_edges_from((i, j) for i, j in pairs if not same_community or layer.com[i] == layer.com[j])
    patches = _patches(graph, layer.hh, cap, max_grids)
    homes = _homes(roster, layer.crs)
    allowed = _allowed_areas(roster, layer.com)
    ft = roster.index[roster["kind"] == "full_time"].tolist()
    serves, sol, spare = _full_time(layer, roster, ft, homes, allowed, patches,
                                    candidates=candidates, spread_weight=spread_weight,
                                    time_limit=time_limit, seed=seed)  # fmt: skip
    travel = {(w, i): _trip(homes[w], layer.geoms[i]) for w, rows in serves.items() for i in rows}

    # Part-time workers: one grid each.
    pt = roster.index[roster["kind"] == "part_time"].tolist()
    part = _spread_people(pt, roster, homes, allowed, layer.geoms, layer.n, candidates, time_limit, seed,
                          balanced=[i for i in range(layer.n) if layer.hh[i] > 0])  # fmt: skip
    for w, rows in part.items():
        for i in rows:
            travel[(w, i)] = _trip(homes[w], layer.geoms[i])

    # Instructors: one per cluster of adjacent grids in a community.
    clusters = _clusters(graph, pairs, layer.com)
    cadres = roster.index[roster["kind"] == "cadre"].tolist()
    instr = _cluster_instructors(layer, roster, homes, allowed, clusters, cadres, serves, travel,
                                 candidates=candidates, time_limit=time_limit, seed=seed)  # fmt: skip
    table = _assignments(layer, roster, serves, part, clusters, instr, travel)
    workers = _worker_table(roster, table, layer.hh, layer.keys)
    cl = pd.DataFrame(
        {
            "cluster_id": [f"{layer.com[c[0]]}-I{k + 1:02d}" for k, c in enumerate(clusters)],
            "community_code": [layer.com[c[0]] for c in clusters],
            "grids": [";".join(layer.keys[i] for i in c) for c in clusters],
            "instructor_id": [
                roster.at[instr[k], "worker_id"] if k in instr else "" for k in range(len(clusters))
            ],
        }
    )
    ft_loads = [sum(layer.hh[i] for i in serves[w]) for w in serves]
    report = {
        "status": sol.status.value,
        "wall_time_s": round(sol.wall_time, 3),
        "objective": sol.objective,
        "bound": sol.bound,
        "full_time_workers": len(ft),
        "shared_grids": sum(1 for w in serves if len(serves[w]) > 1),
        "spare_full_time": len(spare),
        "households_per_full_time_min": min(ft_loads, default=0),
        "households_per_full_time_max": max(ft_loads, default=0),
        "clusters": len(clusters),
        "clusters_with_cadre": sum(1 for k in instr if instr[k] in cadres),
    }
    adjacency = [(layer.keys[i], layer.keys[j]) for i, j in pairs]
    return StaffPlan(table, workers, cl, adjacency, report)


@dataclass
class _Layer:
    """The grid layer as the staffing phases use it: by row position, in a metric CRS."""

    g: gpd.GeoDataFrame
    key: str
    keys: list[str]
    n: int
    hh: list[int]
    com: list[str]
    com_name: list[str]
    crs: Any
    geoms: np.ndarray


def _layer(grids: gpd.GeoDataFrame) -> _Layer:
    key = check_grids(grids, need=("households",))
    g = grids.reset_index(drop=True)
    n = len(g)
    crs = metric_crs(g)
    return _Layer(
        g, key, g[key].astype(str).tolist(), n, g["households"].fillna(0).astype(int).tolist(),
        g["community_code"].astype(str).tolist() if "community_code" in g else [""] * n,
        g["community_name"].astype(str).tolist() if "community_name" in g else [""] * n,
        crs, g.geometry.to_crs(crs).values,
    )  # fmt: skip


def _allowed_areas(roster: pd.DataFrame, com: list[str]) -> list[np.ndarray]:
    """Per worker, the grids their area allows; a worker whose area holds no grid is an error."""
    allowed = [_area_ok(a, com) for a in roster["area"]]
    problems = [
        Problem("roster", row["worker_id"], _("area {area} contains no grid of the layer").format(area=row["area"]))
        for i, row in roster.iterrows()
        if not allowed[i].any()
    ]
    if problems:
        raise InputError(problems)
    return allowed


def _full_time(  # noqa: PLR0913 - the layer, the roster and its places, and the solver's knobs
    layer: _Layer, roster, ft, homes, allowed, patches, *, candidates, spread_weight, time_limit, seed
):
    """Full-time workers on patches of adjacent grids (CP-SAT); the spare ones placed after.

    Returns
    -------
    (dict, FullTimeSolution, list)
        Worker -> grid rows, the solver's answer, the spare workers.
    """
    patch_geom = [shapely.union_all(layer.geoms[list(p)]) if len(p) > 1 else layer.geoms[p[0]] for p in patches]
    loads = [sum(layer.hh[i] for i in p) for p in patches]
    patch_ok = [np.array([all(allowed[w][i] for i in p) for p in patches]) for w in range(len(roster))]
    located, pools, pool_members = [], [], []
    pool_index: dict[str, int] = {}
    for w in ft:
        if homes[w] is not None:
            ok = np.flatnonzero(patch_ok[w])
            dist = shapely.distance(homes[w], np.asarray(patch_geom, dtype=object)[ok])
            order = np.lexsort((ok, dist))[:candidates]
            located.append((w, [(int(ok[k]), int(round(dist[k] / 10))) for k in order]))
        else:
            a = roster.at[w, "area"]
            if a not in pool_index:
                pool_index[a] = len(pools)
                pools.append([0, np.flatnonzero(patch_ok[w]).tolist()])
                pool_members.append([])
            pools[pool_index[a]][0] += 1
            pool_members[pool_index[a]].append(w)
    problem = cpsat.FullTimeProblem(
        n_grids=layer.n, patches=patches, loads=loads,
        workers=[c for _, c in located], pools=[(c, a) for c, a in pools],
        spread_weight=max(1, int(round(spread_weight * 10))),
    )  # fmt: skip
    sol = cpsat.solve_full_time(problem, time_limit=time_limit, seed=seed)
    if sol.missing != 0:
        raise _short(sol, patches, layer.keys, layer.com, layer.com_name, layer.hh, len(ft), time_limit)
    serves: dict[int, list[int]] = {}  # worker -> grid rows
    for (w, _where), p in zip(located, sol.patch_of_worker, strict=True):
        if p is not None:
            serves[w] = list(patches[p])
    for members, ps in zip(pool_members, sol.pool_patches, strict=True):
        for w, p in zip(sorted(members, key=lambda w: roster.at[w, "worker_id"]), ps, strict=False):
            serves[w] = list(patches[p])
    spare = [w for w in ft if w not in serves]
    _place_spares(spare, serves, homes, allowed, layer.geoms, layer.hh, roster)
    return serves, sol, spare


def _cluster_instructors(  # noqa: PLR0913 - the layer, the roster and its places, the clusters and the solver's knobs
    layer: _Layer, roster, homes, allowed, clusters, cadres, serves, travel, *, candidates, time_limit, seed
) -> dict[int, int]:
    """Cluster -> instructor: a cadre where one can be placed, else its nearest full-time worker."""
    cluster_geom = [shapely.union_all(layer.geoms[c]) for c in clusters]
    instr = _instructors(
        cadres, roster, homes, allowed, clusters, cluster_geom, layer.com, candidates, time_limit, seed
    )
    for ci, cluster in enumerate(clusters):
        if ci not in instr:
            ftw = sorted({w for w, rows in serves.items() if set(rows) & set(cluster)},
                         key=lambda w: (_trip(homes[w], cluster_geom[ci]), roster.at[w, "worker_id"]))  # fmt: skip
            if ftw:
                instr[ci] = ftw[0]
        if ci in instr:
            for i in cluster:
                travel.setdefault((instr[ci], i), _trip(homes[instr[ci]], layer.geoms[i]))
    return instr


def _assignments(layer: _Layer, roster, serves, part, clusters, instr, travel) -> pd.DataFrame:  # noqa: PLR0913 - every role's placement goes into the one table
    """The assignment table: per grid its leader, full-time, part-time workers and instructor."""
    g, key, rows = layer.g, layer.key, []
    for i in range(layer.n):
        fts = sorted((w for w, r in serves.items() if i in r), key=lambda w: roster.at[w, "worker_id"])
        pts = sorted((w for w, r in part.items() if i in r), key=lambda w: roster.at[w, "worker_id"])
        leader = None
        if len(fts) + len(pts) >= 2:
            leader = min(fts, key=lambda w: (len(serves[w]), travel[(w, i)], roster.at[w, "worker_id"]))
        for w in fts:
            rows.append(_row(g, key, i, roster, w, "leader" if w == leader else "full_time", travel))
        for w in pts:
            rows.append(_row(g, key, i, roster, w, "part_time", travel))
    for ci, cluster in enumerate(clusters):
        if ci in instr:
            for i in cluster:
                rows.append(_row(g, key, i, roster, instr[ci], "instructor", travel))
    table = pd.DataFrame(rows, columns=ASSIGNMENT_COLUMNS)
    order = {r: k for k, r in enumerate(("leader", "full_time", "part_time", "instructor"))}
    return (
        table.assign(_o=table["role"].map(order), _g=table["grid_code"].map({k: i for i, k in enumerate(layer.keys)}))
        .sort_values(["_g", "_o", "worker_id"], kind="stable")
        .drop(columns=["_o", "_g"])
        .reset_index(drop=True)
    )


def _patches(graph: nx.Graph, hh: list[int], cap: int, max_grids: int) -> list[tuple[int, ...]]:
    """Every single grid, and every connected set of 2..max_grids grids within the cap."""
    found: set[tuple[int, ...]] = {(i,) for i in graph.nodes}
    frontier = [frozenset([i]) for i in sorted(graph.nodes)]
    for _step in range(max_grids - 1):
        grown: set[frozenset] = set()
        for s in frontier:
            load = sum(hh[i] for i in s)
            for i in s:
                for j in graph.neighbors(i):
                    if j not in s and load + hh[j] <= cap:
                        grown.add(s | {j})
        frontier = sorted(grown, key=lambda s: tuple(sorted(s)))
        found.update(tuple(sorted(s)) for s in frontier)
    return sorted(found, key=lambda p: (len(p), p))


def _homes(roster: pd.DataFrame, crs) -> list[Any]:
    pts = gpd.GeoSeries(gpd.points_from_xy(roster["lon"], roster["lat"]), crs=4326).to_crs(crs)
    return [None if (np.isnan(lon) or np.isnan(lat)) else pt
            for lon, lat, pt in zip(roster["lon"], roster["lat"], pts.values, strict=True)]  # fmt: skip


def _area_ok(area: str, com: list[str]) -> np.ndarray:
    if not area:
        return np.ones(len(com), dtype=bool)
    return np.array([c.startswith(area) for c in com], dtype=bool)


def _trip(home, geom) -> float:
    return 0.0 if home is None else round(float(shapely.distance(home, geom)), 1)


def _place_spares(spare, serves, homes, allowed, geoms, hh, roster) -> None:
    """Full-time workers the cover did not need become second workers of the busiest grids."""
    for w in sorted(spare, key=lambda w: roster.at[w, "worker_id"]):
        count = np.zeros(len(hh))
        for rows in serves.values():
            for i in rows:
                count[i] += 1.0 / len(rows)
        best, best_key = None, None
        for i in np.flatnonzero(allowed[w]):
            k = (-hh[i] / (count[i] + 1), _trip(homes[w], geoms[i]), i)
            if best_key is None or k < best_key:
                best, best_key = int(i), k
        if best is not None:
            serves[w] = [best]


def _spread_people(  # noqa: PLR0913 - the workers, their places and areas, the grids and the solver's knobs
    people, roster, homes, allowed, geoms, n, candidates, time_limit, seed, *, balanced
):
    if not people:
        return {}
    located, pools, members, index = [], [], [], {}
    # A grid nobody lives in is not balanced, so it would cost nothing to pile the workers of
    # unknown address on it (12 part-time workers on a hospital's dedicated grid): they go to
    # the balanced grids only, where there are any in their area.
    busy = np.zeros(n, dtype=bool)
    busy[list(balanced or [])] = True
    for w in people:
        ok = np.flatnonzero(allowed[w])
        if balanced and homes[w] is None and busy[ok].any():
            ok = ok[busy[ok]]
        if homes[w] is not None:
            dist = shapely.distance(homes[w], geoms[ok])
            order = np.lexsort((ok, dist))[:candidates]
            located.append((w, [(int(ok[k]), int(round(dist[k] / 10))) for k in order]))
        else:
            a = roster.at[w, "area"]
            if a not in index:
                index[a] = len(pools)
                pools.append([0, ok.tolist()])
                members.append([])
            pools[index[a]][0] += 1
            members[index[a]].append(w)
    problem = cpsat.SpreadProblem(n_targets=n, people=[c for _, c in located],
                                  pools=[(c, a) for c, a in pools], balanced=balanced)  # fmt: skip
    sol = cpsat.solve_spread(problem, time_limit=time_limit, seed=seed)
    out = {w: t for (w, _), t in zip(located, sol.targets_of_person, strict=True) if t}
    for ms, counts in zip(members, sol.pool_counts, strict=True):
        slots = [t for t in sorted(counts) for _ in range(counts[t])]
        for w, t in zip(sorted(ms, key=lambda w: roster.at[w, "worker_id"]), slots, strict=False):
            out[w] = [t]
    return out


def _clusters(graph: nx.Graph, pairs, com) -> list[list[int]]:
    """Connected groups of adjacent grids of one community."""
    sub = nx.Graph()
    sub.add_nodes_from(graph.nodes)
    sub.add_edges_from((i, j) for i, j in pairs if com[i] == com[j])
    return sorted((sorted(c) for c in nx.connected_components(sub)), key=lambda c: c[0])


def _instructors(  # noqa: PLR0913 - the cadres, their places and areas, the clusters and the solver's knobs
    cadres, roster, homes, allowed, clusters, cluster_geom, com, candidates, time_limit, seed
):
    if not cadres or not clusters:
        return {}
    per_person = max(1, math.ceil(len(clusters) / len(cadres)))
    located, pools, members, index = [], [], [], {}
    cgeom = np.asarray(cluster_geom, dtype=object)
    for w in cadres:
        ok = np.array(
            [k for k, c in enumerate(clusters) if all(allowed[w][i] for i in c)], dtype=int
        )
        if not len(ok):
            continue
        if homes[w] is not None:
            dist = shapely.distance(homes[w], cgeom[ok])
            order = np.lexsort((ok, dist))[:candidates]
            located.append((w, [(int(ok[k]), int(round(dist[k] / 10))) for k in order]))
        else:
            a = roster.at[w, "area"]
            if a not in index:
                index[a] = len(pools)
                pools.append([0, ok.tolist()])
                members.append([])
            pools[index[a]][0] += 1
            members[index[a]].append(w)
    problem = cpsat.SpreadProblem(
        n_targets=len(clusters), people=[c for _, c in located], pools=[(c, a) for c, a in pools],
        per_target=1, cover=True, per_person=per_person,
    )  # fmt: skip
    sol = cpsat.solve_spread(problem, time_limit=time_limit, seed=seed)
    out: dict[int, int] = {}
    for (w, _where), ts in zip(located, sol.targets_of_person, strict=True):
        for t in ts:
            out[t] = w
    for ms, counts in zip(members, sol.pool_counts, strict=True):
        slots = sorted(counts)
        ms = sorted(ms, key=lambda w: roster.at[w, "worker_id"])
        for k, t in enumerate(slots):
            out[t] = ms[k // per_person] if k // per_person < len(ms) else ms[-1]
    return out


def _row(g, key, i, roster, w, role, travel) -> dict:
    r = roster.loc[w]
    return {
        "grid_code": str(g.at[i, key]),
        "grid_id": str(g.at[i, "grid_id"]) if "grid_id" in g else str(g.at[i, key]),
        "community_code": str(g.at[i, "community_code"]) if "community_code" in g else "",
        "community_name": str(g.at[i, "community_name"]) if "community_name" in g else "",
        "worker_id": r["worker_id"],
        "name": r["name"],
        "phone": r["phone"],
        "kind": r["kind"],
        "role": role,
        "role_label": ROLE_LABELS[role],
        "duties": r["duties"] or DEFAULT_DUTIES[role],
        "photo": r["photo"],
        # The worker's QR link for this grid (``{grid_code}`` filled in): printed on its board.
        "qr_url": expand(r["qr_url"], g.at[i, key]) if r.get("qr_url", "") else "",
        "travel_m": travel.get((w, i), 0.0),
    }


def _worker_table(roster, table, hh, keys) -> pd.DataFrame:
    hh_of = dict(zip(keys, hh, strict=True))
    rows = []
    for r in roster.itertuples(index=False):
        mine = table[table["worker_id"] == r.worker_id]
        served = mine[mine["role"].isin(["leader", "full_time", "part_time"])]["grid_code"].tolist()
        rows.append(
            {
                "worker_id": r.worker_id, "name": r.name, "kind": r.kind,
                "roles": ";".join(sorted(set(mine["role"]))),
                "grids": ";".join(served), "n_grids": len(served),
                "households": int(sum(hh_of[k] for k in served)),
                "travel_m": round(float(mine["travel_m"].max()), 1) if len(mine) else 0.0,
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def _short(sol, patches, keys, com, com_name, hh, n_ft, time_limit) -> Exception:
    if sol.missing < 0:
        return InfeasibleError(
            _("the staffing solver found no plan within {seconds:g} s ({status}); "
              "raise time_limit or check the roster's areas").format(seconds=time_limit, status=sol.status.value)
        )
    rows = []
    for k, p in enumerate(sol.missing_patches):
        for i in patches[p]:
            rows.append({"grid_code": keys[i], "community_code": com[i], "community_name": com_name[i],
                         "households": hh[i], "patch": k + 1})  # fmt: skip
    where = pd.DataFrame(rows)
    parts = []
    for (code, name), grp in where.groupby(["community_code", "community_name"], sort=True):
        label = _("{name} ({code})").format(name=name, code=code) if code else _("grids of no community")
        parts.append(_("{label}: {grids}").format(label=label, grids=", ".join(grp["grid_code"])))
    msg = _(
        "the roster is {missing} full-time worker(s) short (has {has}): S1 needs one per grid, or per group "
        "of adjacent grids under the household cap. Grids left without one - {where}. Add full-time workers "
        "whose area covers them, or raise the cap/max grids per worker."
    ).format(missing=sol.missing, has=n_ft, where="; ".join(parts))
    return StaffingError(msg, missing=sol.missing, grids=where)
