"""False alarms and power of the regression checks, on simulated results.

A training result moves with its seed. This simulates results ``base × (1 + noise)``
(noise normal, 3 % standard deviation by default) for a baseline group and a new group of
10 seeds each, many times over, in two cases: no real change, and a real drop of 10 %. Each
pair is judged by the plugin's own check code (``pytest_sacred.compare``: the rule parser,
``judge_group`` for groups, ``Rule.violated`` for one run against one run, as
``Comparison.check`` calls it), so what is measured is what a session would decide:

- ``result:-5%@95`` over the groups (Welch's t-test, or ``--test bootstrap``);
- ``result:-5%`` over one run a side (each group's first seed), for contrast.

It prints, per case, how often each check fails the new code: with no change that is the
false-alarm rate (the target for the group rule: at most 5 %), with the real drop the power
(the target: at least 95 %), each with its 95 % binomial interval (Clopper–Pearson). A third
case, a drop of exactly the tolerance, shows the test's size where it matters. It
takes no subprocess and a few seconds (the bootstrap: about a minute for 200 pairs a case).

    python benchmarks/bench_regression.py [--pairs 400] [--test welch|bootstrap]
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import harness

sys.path.insert(0, str(harness.REPO))

from pytest_sacred.compare import Change, judge_group, parse_rule  # noqa: E402

GROUP_RULE = "result:-5%@95"
SINGLE_RULE = "result:-5%"
#: what the group rule must reach (the single-run rule has no target: it is the contrast)
MAX_FALSE_ALARMS = 0.05
MIN_POWER = 0.95


def simulate(rng: random.Random, base: float, noise: float, seeds: int) -> list[float]:
    """One group's results: ``base × (1 + noise)``, one per seed."""
    return [base * (1 + rng.gauss(0, noise)) for _ in range(seeds)]


def rates(pairs: int, seeds: int, noise: float, drop: float, test: str, seed: int
          ) -> dict[str, tuple[int, int]]:
    """How many of ``pairs`` simulated comparisons each check failed, for the case of a
    real change of ``-drop`` (0: none): ``{check: (failed, pairs)}``."""
    rng = random.Random(seed)
    group_rule, single_rule = parse_rule(GROUP_RULE), parse_rule(SINGLE_RULE)
    failed = {GROUP_RULE: 0, SINGLE_RULE: 0}
    for _ in range(pairs):
        old = simulate(rng, 1.0, noise, seeds)
        new = simulate(rng, 1.0 - drop, noise, seeds)
        verdict, _ = judge_group(group_rule, old, new, test)
        failed[GROUP_RULE] += bool(verdict)
        failed[SINGLE_RULE] += bool(single_rule.violated(Change(None, old[0], new[0])))
    return {check: (count, pairs) for check, count in failed.items()}


def binomial_interval(failed: int, total: int) -> tuple[float, float]:
    """The 95 % Clopper–Pearson interval of a rate."""
    from scipy.stats import binomtest

    interval = binomtest(failed, total).proportion_ci(0.95, method="exact")
    return float(interval.low), float(interval.high)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=400,
                        help="compared pairs of groups per case (at least 200)")
    parser.add_argument("--seeds", type=int, default=10, help="runs per group")
    parser.add_argument("--noise", type=float, default=0.03, help="relative noise sd")
    parser.add_argument("--drop", type=float, default=0.10, help="the real drop")
    parser.add_argument("--test", choices=("welch", "bootstrap"), default="welch")
    parser.add_argument("--seed", type=int, default=2026, help="of the simulation")
    args = parser.parse_args(argv)
    if args.pairs < 200:
        parser.error("--pairs: at least 200 pairs per case")
    print(f"{args.pairs} pairs per case, {args.seeds} seeds a side, noise sd "
          f"{args.noise * 100:g} %, test {args.test}, simulation seed {args.seed}")
    cases = (("no change: false alarms", 0.0, f"<= {MAX_FALSE_ALARMS:.0%}"),
             (f"real drop of {args.drop * 100:g} %: power", args.drop, f">= {MIN_POWER:.0%}"),
             # not one of the four rates: the hardest honest case, a drop of exactly the
             # tolerance, where a test at 95 % confidence may fail up to 5 % of the time
             ("drop of exactly the tolerance (5 %): the test's size", 0.05, None))
    met = True
    for index, (title, drop, target) in enumerate(cases):
        started = time.perf_counter()
        found = rates(args.pairs, args.seeds, args.noise, drop, args.test, args.seed + index)
        seconds = time.perf_counter() - started
        print(f"{title} ({seconds:.1f} s)")
        for check, (failed, total) in found.items():
            low, high = binomial_interval(failed, total)
            rate = failed / total
            goal = ""
            if check == GROUP_RULE and target is not None:
                ok = rate <= MAX_FALSE_ALARMS if drop == 0 else rate >= MIN_POWER
                met &= ok
                goal = f"  target {target}: {'met' if ok else 'NOT MET'}"
            kind = "groups" if check == GROUP_RULE else "one run a side"
            print(f"  {check:<15} ({kind:<14}) fails {failed:>4}/{total} = {rate:6.1%} "
                  f"(95 % interval {low:.1%}…{high:.1%}){goal}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
