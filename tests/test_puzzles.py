"""Tests for rlkit.puzzles (knights and knaves, logic grids) and their P3-style rewards.

The checks read the puzzles back from their question text with small parsers of their own, so a
template that says something other than what the generator meant is caught.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterator

import pytest

from rlkit.puzzles import ZEBRA_CATEGORIES, ZEBRA_INSTRUCTION, knights_knaves, zebra
from rlkit.rewards import REQUIRED_COLUMNS, REWARDS

N_CHECKED = 40  # puzzles per family checked by brute force


def _take(stream: Iterator[dict], n: int = N_CHECKED) -> list[dict]:
    return list(itertools.islice(stream, n))


def _wrap(think: str, answer: str) -> str:
    return f"<think>{think}</think>\n<answer>{answer}</answer>"


def _kk_score(answer: str, gold: str) -> float:
    return REWARDS["knights_knaves"]([f"<think>...</think>\n<answer>{answer}</answer>"], answer=[gold])[0]


def _zebra_score(answer: str, gold: str) -> float:
    return REWARDS["zebra"]([f"<answer>{answer}</answer>"], solution=[gold])[0]


# --------------------------------------------------------------------------- knights and knaves: reading the quiz

Roles = tuple[bool, ...]  # True: knight


def _kk_atom(text: str, names: list[str]) -> Callable[[Roles], bool]:
    match = re.fullmatch(r"(\w+) is (not )?a (knight|knave)", text)
    assert match, f"not an atomic claim: {text!r}"
    person, wants_knight = names.index(match[1]), (match[3] == "knight") != bool(match[2])
    return lambda roles: roles[person] == wants_knight


def _kk_claim(text: str, names: list[str]) -> Callable[[Roles], bool]:
    """A claim's truth as a function of the roles, read from its English."""
    conditional = re.fullmatch(r"[Ii]f (.+) then (.+)", text)
    if conditional:
        x, y = (_kk_atom(part, names) for part in conditional.groups())
        return lambda roles: (not x(roles)) or y(roles)
    for word, combine in ((" if and only if ", lambda a, b: a == b), (" and ", lambda a, b: a and b),
                          (" or ", lambda a, b: a or b)):
        if word in text:
            x, y = (_kk_atom(part, names) for part in text.split(word))
            return lambda roles, x=x, y=y, combine=combine: combine(x(roles), y(roles))
    return _kk_atom(text, names)


def _kk_statements(question: str, names: list[str]) -> dict[str, str]:
    """``{speaker: claim}`` read from the quiz text."""
    body = question.split(" inhabitants: ", 1)[1].split(". ", 1)[1].rsplit(" So who is", 1)[0]
    statements: dict[str, str] = {}
    for sentence in filter(None, (part.strip() for part in body.split("."))):
        if '"' in sentence:
            _, claim, _ = sentence.split('"')
            claim, outside = claim.rstrip(","), sentence.replace(claim, "")
            speakers = [name for name in names if re.search(rf"\b{name}\b", outside)]
            assert len(speakers) == 1, sentence
            speaker = speakers[0]
        else:
            prefix, claim = sentence.split(" that ", 1)
            speaker = prefix.split()[0]
        assert speaker not in statements, f"{speaker} speaks twice"
        statements[speaker] = claim
    return statements


def _kk_consistent(item: dict) -> list[Roles]:
    names = item["names"]
    statements = _kk_statements(item["question"], names)
    assert sorted(statements) == sorted(names), "every person makes exactly one statement"
    claims = [_kk_claim(statements[name], names) for name in names]
    return [
        roles
        for roles in itertools.product((True, False), repeat=len(names))
        if all(roles[i] == claim(roles) for i, claim in enumerate(claims))
    ]


# --------------------------------------------------------------------------- knights and knaves: generator


def test_knights_knaves_is_deterministic_per_seed():
    assert _take(knights_knaves(3), 20) == _take(knights_knaves(3), 20)
    assert _take(knights_knaves(3), 20) != _take(knights_knaves(4), 20)


@pytest.mark.parametrize("people", [(2, 4), (2, 2), (5, 8)])
def test_knights_knaves_has_exactly_one_consistent_assignment(people):
    items = _take(knights_knaves(11, people=people))
    for item in items:
        n = item["level"]
        assert people[0] <= n <= people[1] and len(item["names"]) == len(item["roles"]) == n
        assert len(set(item["names"])) == n
        assert _kk_consistent(item) == [tuple(role == "knight" for role in item["roles"])]
        lines = [f"({i}) {name} is a {role}" for i, (name, role) in enumerate(zip(item["names"], item["roles"]), 1)]
        assert item["answer"] == "\n".join(lines)
        assert len(item["think"].splitlines()) == n
    assert {item["level"] for item in items} == set(range(people[0], people[1] + 1))


def _kk_said(said: str, statement: str, names: list[str], roles: Roles) -> bool:
    """Check one spelled-out claim of a case line (``"Zoey knave false or Luke not knave true so true"``) against
    the speaker's statement read from the quiz: the same atoms in the same order, each atom's truth right, the
    claim's truth right; returns that truth."""
    atoms = re.findall(r"(\w+) ((?:not )?(?:knight|knave)) (true|false)", said)
    assert 1 <= len(atoms) <= 2, said
    expected = re.findall(r"(\w+) is ((?:not )?a (?:knight|knave))", statement)
    assert [(name, kind) for name, kind, _ in atoms] == [(name, kind.replace("a ", "")) for name, kind in expected]
    for name, kind, value in atoms:
        assert value == str(_kk_atom(f"{name} is {kind.replace('knight', 'a knight').replace('knave', 'a knave')}",
                                     names)(roles)).lower(), said
    truth = _kk_claim(statement, names)(roles)
    if len(atoms) == 2:
        assert said.endswith(f" so {str(truth).lower()}"), said
    return truth


@pytest.mark.parametrize("people", [(2, 3), (4, 4)])
def test_knights_knaves_cases_follow_the_quiz(people):
    """The worked solution by cases (recipe 13's), checked line by line against the statements read back from the
    quiz text: every case in order (knights first) up to the answer, each atom and claim judged right, "no" exactly
    at the first speaker whose claim contradicts his role, and "yes" only on the answer."""
    for item in _take(knights_knaves(5, people=people)):
        names = item["names"]
        statements = _kk_statements(item["question"], names)
        lines = item["cases"].splitlines()
        cases = list(itertools.product((True, False), repeat=len(names)))
        gold = tuple(role == "knight" for role in item["roles"])
        assert len(lines) == cases.index(gold) + 1
        for line, roles in zip(lines, cases):
            case, checks = line.split(": ", 1)
            assert case == ", ".join(f"{n} {'knight' if r else 'knave'}" for n, r in zip(names, roles))
            *judged, verdict = checks.rstrip(".").split("; ")
            assert verdict == ("yes" if roles == gold else "no")
            for i, check in enumerate(judged):
                speaker, said = check.split(" says ", 1)
                assert speaker == names[i]
                consistent = _kk_said(said, statements[speaker], names, roles) == roles[i]
                assert consistent == (i < len(judged) - 1 or verdict == "yes"), line
            assert len(judged) == len(names) or verdict == "no"


def test_knights_knaves_wording_follows_p3():
    item = next(knights_knaves(0, people=(3, 3)))
    question = item["question"]
    assert question.startswith("A very special island is inhabited only by knights and knaves. Knights always "
                               "tell the truth, and knaves always lie. You meet 3 inhabitants: ")
    assert f"{item['names'][0]}, {item['names'][1]}, and {item['names'][2]}." in question
    assert question.endswith("So who is a knight and who is a knave?")
    two = next(knights_knaves(0, people=(2, 2)))
    assert f"You meet 2 inhabitants: {two['names'][0]} and {two['names'][1]}." in two["question"]


@pytest.mark.parametrize("people", [(1, 3), (2, 9), (4, 3)])
def test_knights_knaves_rejects_unsupported_ranges(people):
    with pytest.raises(ValueError, match="people"):
        next(knights_knaves(0, people=people))


# --------------------------------------------------------------------------- knights and knaves: reward


def test_knights_knaves_gold_and_broken_answers():
    assert REQUIRED_COLUMNS["knights_knaves"] == ("answer",)
    for item in _take(knights_knaves(5, people=(2, 6)), 20):
        gold, lines = item["answer"], item["answer"].splitlines()
        n = item["level"]
        last_role = item["roles"][-1]
        flipped = lines[:-1] + [lines[-1].replace(last_role, "knave" if last_role == "knight" else "knight")]
        assert REWARDS["knights_knaves"]([_wrap(item["think"], gold)], answer=[gold]) == [1.0]
        assert _kk_score("\n".join(flipped), gold) == 0.0
        assert _kk_score("", gold) == 0.0
        assert _kk_score(gold + f"\n({n + 1}) Zed is a knight", gold) == 0.0
        assert _kk_score("\n".join(lines[:-1]), gold) == 0.0


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("(1) Aurora is a knight\n(2) Logan is a knave\n(3) Henry is a knave", 1.0),
        ("(2) Logan is a knave\n(3) Henry is a knave\n(1) Aurora is a knight", 1.0),
        ("1. Aurora is a knight\n2. Logan is a knave\n3. Henry is a knave", 1.0),
        ("(1) aurora is a KNIGHT, (2) Logan is a knave, and (3) Henry is a knave.", 1.0),
        ("Aurora is a knight, Logan is a knave, and Henry is a knave.", 1.0),
        ("(1) Aurora is a knight\n(2) Logan is a knave\n(3) Henry is a knight", 0.0),
        ("(1) Aurora is a knight\n(2) Logan is a knave\n(3) Henry is a knave\n(4) Henry is a knight", 0.0),
        ("(1) Aurora is a knight\n(2) Logan is a knave\n(3) Henry is a knave or a knight", 0.0),
        ("(1) Aurora is a knight\n(2) Logan is a knave\n(3) Henry is a knave. Knights lie", 0.0),
        ("Aurora, Logan, Henry: knight, knave, knave", 0.0),
        ("(1) Aurora is a hero\n(2) Logan is a villain\n(3) Henry is a villain", 0.0),
    ],
)
def test_knights_knaves_numbered_gold_table(answer, score):
    gold = "(1) Aurora is a knight\n(2) Logan is a knave\n(3) Henry is a knave"
    assert _kk_score(answer, gold) == score


def test_knights_knaves_role_count_ignores_other_role_pairs():
    gold = "(1) Sage is a knight\n(2) Luke is a knave"  # "sage" is a role word of another pair
    assert _kk_score("(1) Sage is a knight\n(2) Luke is a knave", gold) == 1.0


# --------------------------------------------------------------------------- zebra: reading the puzzle

ZebraClue = tuple[str, list[str], list[int]]  # kind, values named (in order), house numbers named


def _zebra_parts(question: str) -> tuple[int, dict[str, list[str]], list[ZebraClue]]:
    """Houses, choices per category and the clues, read from the question text."""
    lines = question.splitlines()
    n_houses = int(re.match(r"There are (\d) houses", lines[0])[1])
    clue_lines = lines[lines.index("Clues:") + 1 : lines.index("Choices:")]
    choice_lines = lines[lines.index("Choices:") + 1 : -1]
    choices = {line.split(": ")[0]: line.split(": ")[1].split(", ") for line in choice_lines}
    known = {value for values in choices.values() for value in values}
    clues = []
    for number, line in enumerate(clue_lines, start=1):
        assert line.startswith(f"{number}. ")
        sentence = line.split(". ", 1)[1]
        values = [word for word in re.findall(r"[A-Za-z]+", sentence) if word in known]
        houses = [int(h) for h in re.findall(r"house (\d)", sentence)]
        clues.append((_zebra_kind(sentence), values, houses))
    return n_houses, choices, clues


def _zebra_kind(sentence: str) -> str:
    for phrase, kind in (("does not live in house", "not_at"), ("lives in house", "at"),
                         ("directly left of", "next_left"), ("somewhere to the left of", "left"),
                         ("live next to each other", "beside")):
        if phrase in sentence:
            return kind
    assert re.search(r" is | lives in the \w+ house", sentence), sentence
    return "same"


def _zebra_holds(clue: ZebraClue, where: dict[str, int]) -> bool:
    """Whether a clue holds when value ``v`` is in house ``where[v]``."""
    kind, values, houses = clue
    if kind in ("at", "not_at"):
        assert len(values) == 1 and len(houses) == 1
        return (where[values[0]] == houses[0]) == (kind == "at")
    assert len(values) == 2 and not houses
    x, y = where[values[0]], where[values[1]]
    return {"same": x == y, "next_left": x + 1 == y, "left": x < y, "beside": abs(x - y) == 1}[kind]


def _zebra_solutions(n_houses: int, choices: dict[str, list[str]], clues: list[ZebraClue],
                     limit: int = 2) -> list[dict[str, int]]:
    """Up to ``limit`` placements satisfying every clue (backtracking one category at a time)."""
    categories = list(choices)

    def search(depth: int, where: dict[str, int]) -> Iterator[dict[str, int]]:
        if depth == len(categories):
            yield where
            return
        for houses in itertools.permutations(range(1, n_houses + 1)):
            trial = {**where, **dict(zip(choices[categories[depth]], houses))}
            ready = [clue for clue in clues if all(value in trial for value in clue[1])]
            if all(_zebra_holds(clue, trial) for clue in ready):
                yield from search(depth + 1, trial)

    return list(itertools.islice(search(0, {}), limit))


def _gold_where(item: dict) -> dict[str, int]:
    grid = json.loads(item["solution"])
    return {value: int(house.split()[1]) for house, row in grid.items() for value in row.values()}


# --------------------------------------------------------------------------- zebra: generator


def test_zebra_is_deterministic_per_seed():
    assert _take(zebra(3), 20) == _take(zebra(3), 20)
    assert _take(zebra(3), 20) != _take(zebra(4), 20)


@pytest.mark.parametrize(("houses", "attributes", "n"), [((2, 4), (2, 3), N_CHECKED), ((5, 5), (4, 4), 3)])
def test_zebra_gold_grid_is_the_only_solution(houses, attributes, n):
    items = _take(zebra(11, houses=houses, attributes=attributes), n)
    for item in items:
        n_houses, choices, clues = _zebra_parts(item["question"])
        grid = json.loads(item["solution"])
        assert n_houses == item["level"] and houses[0] <= n_houses <= houses[1]
        assert attributes[0] <= len(item["categories"]) <= attributes[1]
        assert item["categories"] == [cat for cat in ZEBRA_CATEGORIES if cat in item["categories"]]
        assert list(grid) == [f"House {h}" for h in range(1, n_houses + 1)]
        assert all(list(row) == item["categories"] for row in grid.values())
        assert {cat: sorted(values) for cat, values in choices.items()} == {
            cat: sorted(row[cat] for row in grid.values()) for cat in item["categories"]
        }
        gold = _gold_where(item)
        assert all(_zebra_holds(clue, gold) for clue in clues)
        assert _zebra_solutions(n_houses, choices, clues) == [gold]
        assert len(item["think"].splitlines()) == len(clues)
    if n >= N_CHECKED:
        assert {item["level"] for item in items} == set(range(houses[0], houses[1] + 1))


def _zebra_fact(fact: str) -> ZebraClue:
    """One fact of a worked deduction, ``"Carol in house 3"`` or ``"bird not in house 2"``, as a clue."""
    value, verb, house = re.fullmatch(r"(\w+) (in|not in) house (\d)", fact).groups()
    return ("at" if verb == "in" else "not_at", [value], [int(house)])


@pytest.mark.parametrize(("houses", "n"), [((2, 3), N_CHECKED), ((4, 4), 6)])
def test_zebra_deduction_follows_the_clues(houses, n):
    """The worked solution by deduction (recipe 19's), read back line by line against the clues read from the
    question: every fact a clue line states holds in every grid that its clue and the facts above allow, every fact
    a category line states in every grid the facts above allow, no fact is stated twice, every value gets its
    house once, and the facts leave one grid, the gold one. Two-house puzzles are always solved this way."""
    solved = {}
    for item in _take(zebra(7, houses=houses), n):
        solved.setdefault(item["level"], []).append(item["deduction"] is not None)
        if item["deduction"] is None:
            continue
        n_houses, choices, clues = _zebra_parts(item["question"])
        facts: list[ZebraClue] = []
        for line in item["deduction"].splitlines():
            head, said = line.rstrip(".").split(": ", 1)
            new = [_zebra_fact(fact) for fact in said.split(", ")]
            if head.startswith("Clue "):
                given = facts + [clues[int(head.removeprefix("Clue ")) - 1]]
            else:
                assert all(values[0] in choices[head] and kind == "at" for kind, values, _ in new), line
                given = facts
            worlds = _zebra_solutions(n_houses, choices, given, limit=10**6)
            assert worlds and all(_zebra_holds(fact, where) for fact in new for where in worlds), line
            assert not set(map(str, new)) & set(map(str, facts)), line
            facts += new
        placed = [values[0] for kind, values, _ in facts if kind == "at"]
        assert sorted(placed) == sorted(v for values in choices.values() for v in values)
        assert _zebra_solutions(n_houses, choices, facts) == [_gold_where(item)]
    assert all(solved.get(2, [True])) and sum(sum(flags) for flags in solved.values()) >= n // 2


def test_quoted_zebra_worksheet_copies_the_question_then_deduces_as_the_plain_one():
    """Recipe 20's form: each clue line is the question's own clue line then the plain form's facts, each category
    line the question's choices line then its facts; nothing else differs."""
    for item in _take(zebra(7, houses=(2, 3)), 40):
        assert (item["quoted"] is None) == (item["deduction"] is None)
        if item["deduction"] is None:
            continue
        lines = item["question"].splitlines()
        clue_lines, choice_lines = lines[lines.index("Clues:") + 1 : lines.index("Choices:")], lines[lines.index(
            "Choices:") + 1 : -1]
        quoted, plain = item["quoted"].splitlines(), item["deduction"].splitlines()
        assert len(quoted) == len(plain)
        for q, d in zip(quoted, plain):
            head, facts = d.split(": ", 1)
            if head.startswith("Clue "):
                assert q == f"{clue_lines[int(head.removeprefix('Clue ')) - 1]} So {facts}", (q, d)
            else:
                assert q == f"{next(c for c in choice_lines if c.startswith(head + ': '))}. So {facts}", (q, d)


def test_zebra_puzzles_are_minimal():
    for item in _take(zebra(21, houses=(3, 4)), 10):
        n_houses, choices, clues = _zebra_parts(item["question"])
        for index in range(len(clues)):
            rest = clues[:index] + clues[index + 1 :]
            assert len(_zebra_solutions(n_houses, choices, rest)) == 2, "a clue could be dropped"


def test_zebra_question_shows_the_answer_layout():
    item = next(zebra(0, houses=(3, 3), attributes=(2, 2)))
    lines = item["question"].splitlines()
    cats = item["categories"]
    assert lines[0] == f"There are 3 houses, numbered 1 to 3 from left to right. Each house has a different " \
                       f"{cats[0]} and {cats[1]}."
    instruction, layout = lines[-1].split(": ", 1)
    assert instruction + ":" == ZEBRA_INSTRUCTION
    assert layout == json.dumps({"House 1": {cat: "___" for cat in cats}})[:-1] + ", ...}"


@pytest.mark.parametrize(("houses", "attributes"), [((1, 3), (2, 3)), ((2, 6), (2, 3)), ((2, 4), (1, 3)),
                                                    ((2, 4), (3, 5)), ((4, 2), (2, 3))])
def test_zebra_rejects_unsupported_ranges(houses, attributes):
    with pytest.raises(ValueError):
        next(zebra(0, houses=houses, attributes=attributes))


# --------------------------------------------------------------------------- zebra: reward

GOLD_GRID = {
    "House 1": {"Name": "Alice", "Color": "red", "Pet": "cat"},
    "House 2": {"Name": "Bob", "Color": "green", "Pet": "dog"},
    "House 3": {"Name": "Carol", "Color": "blue", "Pet": "fish"},
}
GOLD = json.dumps(GOLD_GRID)


def _edited(house: str, category: str, value: object) -> str:
    grid = json.loads(GOLD)
    grid[house][category] = value
    return json.dumps(grid)


def _dropped(house: str, category: str | None = None) -> str:
    grid = json.loads(GOLD)
    if category is None:
        del grid[house]
    else:
        del grid[house][category]
    return json.dumps(grid)


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        (GOLD, 1.0),
        (json.dumps(GOLD_GRID, indent=2), 1.0),
        (f"```json\n{GOLD}\n```", 1.0),
        (json.dumps({"reasoning": "Alice is in house 1 ...", "solution": GOLD_GRID}), 1.0),
        (json.dumps({h.upper().replace(" ", "  "): {f" {c.lower()} ": v.upper() for c, v in row.items()}
                     for h, row in GOLD_GRID.items()}), 1.0),
        (json.dumps({h.lower().replace(" ", ""): row for h, row in GOLD_GRID.items()}), 1.0),
        (json.dumps({**GOLD_GRID, "House 4": {"Name": "Dave"}, "note": "hi"}), 1.0),
        (_edited("House 2", "Pet", "cat"), 8 / 9),
        (_edited("House 3", "Name", 3), 8 / 9),
        (_edited("House 3", "Name", ["Carol"]), 8 / 9),
        (_dropped("House 1", "Color"), 8 / 9),
        (_dropped("House 3"), 6 / 9),
        (json.dumps({h: GOLD_GRID["House 1"] for h in GOLD_GRID}), 1 / 3),  # P3's scorer: 1.0
        (json.dumps({"House 2": GOLD_GRID["House 1"], "House 3": GOLD_GRID["House 2"],
                     "House 1": GOLD_GRID["House 3"]}), 0.0),
        ('{"House 1": {"Name": "Bob"}, "house1": {"Name": "Alice"}, "House 2": {"Name": "Bob"}}', 1 / 9),
        (json.dumps({"solution": "see above"}), 0.0),
        ("", 0.0),
        ("Alice red cat, Bob green dog, Carol blue fish", 0.0),
    ],
)
def test_zebra_reward_table(answer, score):
    assert _zebra_score(answer, GOLD) == pytest.approx(score)


def test_zebra_generated_gold_and_one_wrong_cell():
    assert REQUIRED_COLUMNS["zebra"] == ("solution",)
    for item in _take(zebra(8), 20):
        gold, grid = item["solution"], json.loads(item["solution"])
        cells = sum(len(row) for row in grid.values())
        assert REWARDS["zebra"]([_wrap(item["think"], gold)], solution=[gold]) == [1.0]
        grid["House 1"][item["categories"][0]] = "nobody"
        assert _zebra_score(json.dumps(grid), gold) == pytest.approx((cells - 1) / cells)
        repeated = {house: dict(json.loads(gold)["House 1"]) for house in grid}
        assert _zebra_score(json.dumps(repeated), gold) == pytest.approx(1 / item["level"])


def test_zebra_reward_without_gold_or_answer():
    assert REWARDS["zebra"](["<answer>{}</answer>", "no tags", "<answer></answer>"],
                            solution=[None, GOLD, GOLD]) == [None, 0.0, 0.0]
    assert REWARDS["zebra"]([[{"role": "assistant", "content": f"<answer>{GOLD}</answer>"}]],
                            solution=[GOLD], prompts=["p"], trainer_state=object()) == [1.0]


HOSTILE_ZEBRA = [
    "null",
    "[]",
    "42",
    "NaN",
    '"House 1"',
    '{"House 1": null}',
    '{"House 1": {"Name": NaN, "Color": Infinity, "Pet": -Infinity}}',
    '{"House 1": {"Name": {"Name": "Alice"}}}',
    '{"House 1": [["Alice"]], "solution": ["x"]}',
    '{"solution": {"solution": {"House 1": {}}}}',
    "[" * 2400 + "]" * 2400,  # nested deeper than json's recursion limit
    '{"a":' * 1200 + "1" + "}" * 1200,
    json.dumps({f"House {i}": {"Name": "Alice"} for i in range(1, 400)}),  # over the length cap
    "x" * 100_000,
    "1" * 4500,  # an integer longer than Python converts
    '{"House 1": {"Name": "Alice"',
    '{"House 1": {"Name": "\\ud800"}}',
    "{\"House 1\": {\"Name\": \"Alice\"}}\x00",
    "<answer>" + GOLD,
    "</answer><answer>",
]


@pytest.mark.parametrize("answer", HOSTILE_ZEBRA)
def test_zebra_hostile_answers_give_a_float(answer):
    for text in (f"<answer>{answer}</answer>", answer):
        score = REWARDS["zebra"]([text], solution=[GOLD])[0]
        assert isinstance(score, float) and 0.0 <= score <= 1.0


# --------------------------------------------------------------------------- speed (printed, not asserted)


@pytest.mark.parametrize(("name", "make"), [("knights_knaves", knights_knaves), ("zebra", zebra)])
def test_generation_speed_is_printed(name, make, capsys):
    start = time.perf_counter()
    _take(make(123), 1000)
    with capsys.disabled():
        print(f"\n{name}: 1,000 puzzles (default sizes) in {time.perf_counter() - start:.2f} s")

