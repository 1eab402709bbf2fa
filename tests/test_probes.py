"""scripts/anneal_probe.py: the exercises its probes train on (README, the offline testbed's zebra probes)."""

from __future__ import annotations

import random

from script_helpers import load_script

anneal_probe = load_script("anneal_probe")


def test_recall_exercise_asks_for_one_of_its_lists_and_its_target_is_that_list():
    """The target is the asked list, in order, with the space before it (a prompt ending in a space asks the model
    to continue from a token it never saw there)."""
    rng = random.Random(0)
    asked = set()
    for _ in range(200):
        context, target = anneal_probe.recall_exercise(rng)
        lists = dict(line[len("List "):].split(": ", 1) for line in context.splitlines()[:-1])
        letter = context.splitlines()[-1][len("List "):].split(" ")[0]
        asked.add(letter)
        assert 2 <= len(lists) <= 3 and letter in lists
        assert target == " " + lists[letter] + "\n" and 3 <= len(target.split(", ")) <= 8
        assert context.endswith(f"List {letter} again:")
    assert asked == {"A", "B", "C"}
