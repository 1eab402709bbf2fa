"""scripts/anneal_probe.py: the exercises its probes train on (docs/testbed.md, the zebra probes)."""

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


def test_clue_recall_exercise_asks_for_one_clue_of_a_training_side_zebra_question(monkeypatch):
    """The context is a zebra question up to its choices (no answer line), then ``Clue k again:``; the target is
    clue k's words as the question gives them, with the space before them. Held-out questions are passed over."""
    import rlkit.data

    seen = []
    monkeypatch.setattr(rlkit.data, "is_held_out", lambda question: seen.append(question) or len(seen) == 1)
    context, _ = anneal_probe.clue_recall_exercise(random.Random(0))
    assert len(seen) == 2 and context.startswith(seen[1].split("\nAnswer with")[0])  # the first was held out
    monkeypatch.undo()

    rng = random.Random(0)
    asked = set()
    for _ in range(100):
        context, target = anneal_probe.clue_recall_exercise(rng)
        question, ask = context.rsplit("\n", 1)
        number = ask[len("Clue "):-len(" again:")]
        assert ask == f"Clue {number} again:" and "Answer with" not in question
        assert f"\n{number}. {target[1:-1]}\n" in question and target.startswith(" ") and target.endswith(".\n")
        asked.add(number)
    assert {"1", "2"} <= asked
