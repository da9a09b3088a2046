"""CPU cost of building the team registry from the providers' team lists (what a worker does at start and
on every list change, in a thread: `agents.stages.teams.compile_registry`).

    python -m benchmarks.registry_build --teams 100,300,600,1000 --providers 5 --runs 3 --brute-max 600

Input: synthetic leagues of N teams, each team listed by every provider with its own habits (one adds "FC",
each gives a short name and a code). Figures are CPU time of this process (`time.process_time`), the median
of `--runs` runs, each from cold name caches: the grouping (`build`), and the whole rebuild the worker runs
(`compile_registry`: grouping, spellings, display data). Baseline, in the same run: the brute-force grouping
the registry used before blocking (every team compared with every group of its sport), skipped above
`--brute-max` teams. The ratio is baseline / blocked grouping; the groupings must be the same.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import time
from collections.abc import Callable, Iterable
from functools import partial

from agents.stages import names
from agents.stages import teams as registry
from agents.stages.teams import SAME_TEAM_AT, CanonicalTeam, ReferenceTeam

PROVIDERS = ("sportradar", "apisports", "theoddsapi", "statscore", "sportsdataio", "jolpica")


def brute_force(teams: Iterable[ReferenceTeam]) -> list[CanonicalTeam]:
    """The grouping before blocking: every group of the sport is a candidate."""
    groups: list[CanonicalTeam] = []
    for team in sorted(teams, key=lambda t: (t.sport, -len(t.name.split()), t.provider, t.team_id)):
        spelled = registry._names(CanonicalTeam(team.sport, [team]))
        open_groups = [g for g in groups if g.sport == team.sport and team.provider not in g.provider_ids]
        best = max(open_groups, key=lambda g: registry._similarity(registry._names(g), spelled), default=None)
        if best is not None and registry._similarity(registry._names(best), spelled) >= SAME_TEAM_AT:
            best.members.append(team)
        else:
            groups.append(CanonicalTeam(team.sport, [team]))
    return groups


def team_lists(n_teams: int, providers: int, seed: int = 1) -> list[ReferenceTeam]:
    rng = random.Random(seed)

    def name() -> str:
        return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9))).title()
                        for _ in range(rng.randint(1, 3)))

    base = [name() for _ in range(n_teams)]
    return [ReferenceTeam(p, "soccer", f"{p}-{i}", b + (" FC" if p == "sportradar" else ""), b.split()[0],
                          b[:3].upper())
            for p in PROVIDERS[:providers] for i, b in enumerate(base)]


def cpu(fn: Callable[[], object], runs: int) -> float:
    """Median CPU seconds; name parsing and similarity caches emptied before each run (a cold start)."""
    times = []
    for _ in range(runs):
        names.parse_listed.cache_clear()
        names.team_similarity.cache_clear()
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return statistics.median(times)


def grouping(groups: list[CanonicalTeam]) -> list[list[tuple[str, str]]]:
    return sorted(sorted((m.provider, m.team_id) for m in g.members) for g in groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teams", default="100,300,600,1000")
    parser.add_argument("--providers", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--brute-max", type=int, default=600)
    args = parser.parse_args()
    print("teams  records  grouping_cpu_s  rebuild_cpu_s  brute_force_cpu_s  ratio  same_grouping")
    for n in (int(x) for x in args.teams.split(",")):
        teams = team_lists(n, args.providers)
        blocked = cpu(partial(registry.build, teams), args.runs)
        rebuild = cpu(partial(registry.compile_registry, teams), args.runs)
        row = f"{n:5d}  {len(teams):7d}  {blocked:14.3f}  {rebuild:13.3f}"
        if n <= args.brute_max:
            brute = cpu(partial(brute_force, teams), args.runs)
            same = grouping(brute_force(teams)) == grouping(registry.build(teams))
            print(f"{row}  {brute:17.3f}  {brute / blocked:5.1f}  {same}")
        else:
            print(f"{row}  {'-':>17}  {'-':>5}  -")


if __name__ == "__main__":
    main()
