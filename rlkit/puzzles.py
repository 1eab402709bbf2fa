"""Offline logic puzzles worded and answered as in P3 (arXiv 2507.17512, "Can one domain help others?").

Two endless, seeded generators (pure Python plus numpy, no downloads):

``knights_knaves(seed, people=(2, 4))``
    Knights-and-knaves quizzes in the wording of the K&K data P3 uses (from Logic-RL): every
    inhabitant makes one statement, either an atomic claim ("Logan is a knave", "Henry is not a
    knight") or two atomic claims joined by "and", "or", "If ... then ..." or "... if and only if
    ...". Statements are drawn at random and a quiz is kept only when exactly one assignment of roles
    is consistent (brute force over all ``2**n`` assignments). The answer is P3's numbered list,
    ``"(1) Aurora is a knight\\n(2) Logan is a knave"``, scored by ``rewards.knights_knaves_reward``.

``zebra(seed, houses=(2, 4), attributes=(2, 3))``
    Logic grid puzzles: houses 1..N from left to right, each with one value of every category
    (Name, Color, ...), every value used once. Random true clues are added until the grid is the
    only one that satisfies them, then every clue whose removal keeps the grid unique is dropped, so
    each puzzle is minimal. The answer is the full grid as JSON, scored cell by cell by
    ``rewards.zebra_reward``.

Items are plain dicts (see each generator); ``level`` is the number of people or houses.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from functools import cache

import numpy as np

__all__ = ["KK_NAMES", "ZEBRA_CATEGORIES", "knights_knaves", "zebra", "zebra_answer", "zebra_form", "zebra_grid"]

# --------------------------------------------------------------------------
# Knights and knaves
# --------------------------------------------------------------------------

KK_NAMES: tuple[str, ...] = (
    "Aurora", "Logan", "Henry", "Zoey", "Oliver", "Noah", "Ethan", "Mason", "Luke", "Emma",
    "Mia", "Liam", "Ava", "Lily", "Jack", "Owen", "Ella", "Grace", "Chloe", "Leo",
    "Sofia", "James", "Ruby", "Sam", "Max", "Jacob", "Lucas", "Nora", "Hazel", "Ivy",
    "Alex", "Ben", "Zara", "Anna", "Kate", "Ryan", "Sara", "Eric", "Rose", "Paul",
)  # fmt: skip
KK_PEOPLE_SUPPORT = (2, 8)

# An atom is (kind, person index). It is true when the person's role "is knight" equals this flag.
_ATOM_TRUE_FOR_KNIGHT = {"knight": True, "knave": False, "not knight": False, "not knave": True}
_ATOM_TEXT = {
    "knight": "is a knight",
    "knave": "is a knave",
    "not knight": "is not a knight",
    "not knave": "is not a knave",
}
_KK_OPERATORS = ("is", "and", "or", "if", "iff")
_KK_OPERATOR_WEIGHTS = (4, 2, 2, 1, 1)  # "is": one atomic claim; the others join two atoms

# Ways of reporting a statement: quoted ("{claim}" as written) or reported speech ("... that {claim}.").
_QUOTED_FRAMES = (
    'According to {speaker}, "{claim}".',
    '{speaker} remarked, "{claim}".',
    '{speaker} stated, "{claim}".',
    '"{claim}," {speaker} declared.',
    'In {speaker}\'s words: "{claim}".',
    '{speaker} was heard saying, "{claim}".',
)
_REPORTED_FRAMES = (
    "{speaker} expressed that {claim}.",
    "{speaker} said that {claim}.",
    "{speaker} told you that {claim}.",
)

Atom = tuple[str, int]
Claim = tuple[str, Atom, "Atom | None"]


def _atom_value(atom: Atom, roles: tuple[bool, ...]) -> bool:
    """Truth of an atomic claim when ``roles[i]`` is True for knights.

    >>> _atom_value(("not knave", 0), (True,)), _atom_value(("knave", 0), (True,))
    (True, False)
    """
    kind, person = atom
    return roles[person] == _ATOM_TRUE_FOR_KNIGHT[kind]


def _claim_value(claim: Claim, roles: tuple[bool, ...]) -> bool:
    """Truth of a claim ``(operator, atom, atom or None)`` under ``roles``.

    >>> _claim_value(("if", ("knave", 0), ("knight", 1)), (True, False))
    True
    """
    operator, left, right = claim
    x = _atom_value(left, roles)
    if operator == "is":
        return x
    y = _atom_value(right, roles)
    return {"and": x and y, "or": x or y, "if": (not x) or y, "iff": x == y}[operator]


def _consistent_roles(claims: list[Claim]) -> list[tuple[bool, ...]]:
    """Every role assignment under which knights' claims are true and knaves' claims false.

    >>> _consistent_roles([("is", ("knave", 1), None), ("is", ("knave", 0), None)])
    [(True, False), (False, True)]
    """
    return [
        roles
        for roles in itertools.product((True, False), repeat=len(claims))
        if all(roles[speaker] == _claim_value(claim, roles) for speaker, claim in enumerate(claims))
    ]


def _random_claim(rng: random.Random, n_people: int) -> Claim:
    """One random claim: an atom, or two different atoms joined by an operator."""
    operator = rng.choices(_KK_OPERATORS, weights=_KK_OPERATOR_WEIGHTS)[0]
    kinds = tuple(_ATOM_TEXT)
    left = (rng.choice(kinds), rng.randrange(n_people))
    if operator == "is":
        return (operator, left, None)
    right = left
    while right == left:
        right = (rng.choice(kinds), rng.randrange(n_people))
    return (operator, left, right)


def _claim_text(claim: Claim, names: list[str]) -> str:
    """English for a claim, as spoken (a conditional starts with a capital "If").

    >>> _claim_text(("iff", ("knave", 0), ("not knight", 1)), ["Zoey", "Luke"])
    'Zoey is a knave if and only if Luke is not a knight'
    """
    operator, left, right = claim
    x = f"{names[left[1]]} {_ATOM_TEXT[left[0]]}"
    if operator == "is":
        return x
    y = f"{names[right[1]]} {_ATOM_TEXT[right[0]]}"
    if operator == "if":
        return f"If {x} then {y}"
    if operator == "iff":
        return f"{x} if and only if {y}"
    return f"{x} {operator} {y}"


def _statement_text(rng: random.Random, speaker: str, claim: str) -> str:
    """One sentence reporting ``speaker``'s claim in a randomly chosen frame."""
    frames = _QUOTED_FRAMES + _REPORTED_FRAMES
    frame = frames[rng.randrange(len(frames))]
    if frame in _REPORTED_FRAMES and claim.startswith("If "):
        claim = "i" + claim[1:]
    return frame.format(speaker=speaker, claim=claim)


def _name_list(names: list[str]) -> str:
    """``"Zoey and Oliver"`` for two people, ``"A, B, and C"`` for more (K&K's Oxford comma).

    >>> _name_list(["Zoey", "Oliver"]), _name_list(["A", "B", "C"])
    ('Zoey and Oliver', 'A, B, and C')
    """
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return ", ".join(names[:-1]) + f", and {names[-1]}"


def _unique_claims(rng: random.Random, n_people: int) -> tuple[list[Claim], tuple[bool, ...]]:
    """Draw one claim per person until exactly one role assignment is consistent."""
    while True:
        claims = [_random_claim(rng, n_people) for _ in range(n_people)]
        solutions = _consistent_roles(claims)
        if len(solutions) == 1:
            return claims, solutions[0]


def _kk_item(rng: random.Random, n_people: int) -> dict:
    """One knights-and-knaves puzzle with ``n_people`` inhabitants."""
    names = rng.sample(KK_NAMES, n_people)
    claims, solution = _unique_claims(rng, n_people)
    roles = ["knight" if is_knight else "knave" for is_knight in solution]
    texts = [_claim_text(claim, names) for claim in claims]
    statements = " ".join(_statement_text(rng, name, text) for name, text in zip(names, texts))
    question = (
        "A very special island is inhabited only by knights and knaves. Knights always tell the truth, and "
        f"knaves always lie. You meet {n_people} inhabitants: {_name_list(names)}. {statements} "
        "So who is a knight and who is a knave?"
    )
    answer = "\n".join(f"({i}) {name} is a {role}" for i, (name, role) in enumerate(zip(names, roles), start=1))
    think = "\n".join(
        f'{name} is a {role}: "{text}" is {"true" if role == "knight" else "false"}.'
        for name, role, text in zip(names, roles, texts)
    )
    return {"question": question, "answer": answer, "names": names, "roles": roles, "think": think,
            "cases": kk_cases(names, claims), "level": n_people}


def kk_cases(names: list[str], claims: list[Claim]) -> str:
    """A worked solution by cases, for the tiny model's recipe 13 (``data.worked_puzzles``): every role
    assignment in turn, knights first, and under it each speaker's claim spelled out atom by atom, each atom with its
    truth, then (for two atoms) the claim's truth, up to the first speaker whose claim contradicts his role ("no"), or
    every speaker on the one consistent case ("yes", where it stops: the generator keeps only puzzles with one).

    Each step reads one thing: an atom's truth needs only that person's role in the case at the start of its line.
    A trace that judged whole claims at once ("Zoey false") was learned barely above its majority class
    (docs/testbed.md).

    >>> print(kk_cases(["Zoey", "Luke"], [("is", ("knave", 1), None), ("or", ("knave", 0), ("not knave", 1))]))
    Zoey knight, Luke knight: Zoey says Luke knave false; no.
    Zoey knight, Luke knave: Zoey says Luke knave true; Luke says Zoey knave false or Luke not knave false so false; yes.
    """
    def atom(a: Atom, roles: tuple[bool, ...]) -> str:
        return f"{names[a[1]]} {a[0]} {str(_atom_value(a, roles)).lower()}"

    lines = []
    for roles in itertools.product((True, False), repeat=len(names)):
        checks, consistent = [], True
        for speaker, claim in enumerate(claims):
            operator, left, right = claim
            if operator == "is":
                said = atom(left, roles)
            else:
                said = f"{atom(left, roles)} {operator} {atom(right, roles)}" if operator != "if" else \
                    f"if {atom(left, roles)} then {atom(right, roles)}"
                said += f" so {str(_claim_value(claim, roles)).lower()}"
            checks.append(f"{names[speaker]} says {said}")
            if _claim_value(claim, roles) != roles[speaker]:
                consistent = False
                break
        case = ", ".join(f"{name} {'knight' if knight else 'knave'}" for name, knight in zip(names, roles))
        lines.append(f"{case}: {'; '.join(checks)}; {'yes' if consistent else 'no'}.")
        if consistent:
            break
    return "\n".join(lines)


def _check_range(name: str, bounds: tuple[int, int], support: tuple[int, int]) -> tuple[int, int]:
    """Validate an inclusive ``(low, high)`` range against the supported one.

    >>> _check_range("people", (2, 9), (2, 8))
    Traceback (most recent call last):
    ...
    ValueError: people must be an inclusive range (low, high) within 2..8, got (2, 9)
    """
    low, high = (int(b) for b in bounds)
    if not support[0] <= low <= high <= support[1]:
        raise ValueError(f"{name} must be an inclusive range (low, high) within {support[0]}..{support[1]}, "
                         f"got {tuple(bounds)}")
    return low, high


def knights_knaves(seed: int, people: tuple[int, int] = (2, 4)) -> Iterator[dict]:
    """Endless knights-and-knaves puzzles; each has between ``people[0]`` and ``people[1]`` inhabitants.

    Items: ``question`` (the quiz), ``answer`` (``"(1) Zoey is a knight\\n(2) ..."``), ``names``,
    ``roles`` (``"knight"``/``"knave"`` per name), ``think`` (one check per speaker), ``cases`` (the
    worked solution by cases, :func:`kk_cases`), ``level`` (the number of people). The same seed always gives
    the same stream.

    >>> item = next(knights_knaves(0, people=(2, 2)))
    >>> item["level"], item["answer"].count("\\n") + 1, item["question"].endswith("who is a knave?")
    (2, 2, True)
    """
    low, high = _check_range("people", people, KK_PEOPLE_SUPPORT)
    rng = random.Random(seed)
    while True:
        yield _kk_item(rng, rng.randint(low, high))


# --------------------------------------------------------------------------
# Logic grid (zebra) puzzles
# --------------------------------------------------------------------------

ZEBRA_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Name": ("Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace"),
    "Color": ("red", "green", "blue", "yellow", "white", "black", "pink"),
    "Pet": ("cat", "dog", "fish", "bird", "horse", "rabbit", "hamster"),
    "Drink": ("tea", "coffee", "milk", "juice", "water", "soda", "cocoa"),
    "Sport": ("tennis", "golf", "soccer", "hockey", "rugby", "baseball", "cricket"),
}
_PHRASES = {
    "Name": "{}",
    "Color": "the person in the {} house",
    "Pet": "the {} owner",
    "Drink": "the {} drinker",
    "Sport": "the {} player",
}
ZEBRA_HOUSES_SUPPORT, ZEBRA_ATTRIBUTES_SUPPORT = (2, 5), (2, 4)
ZEBRA_INSTRUCTION = "Answer with the whole grid as JSON, one entry per house, every ___ replaced by a choice:"
_CLUE_KINDS = ("at", "not_at", "same", "next_left", "left", "beside")

# Internally the gold grid puts value v of every category in house v (the names are shuffled
# instead), so a value is a pair (category, v) and its gold house is v. A clue is
# (kind, value, house) for "at"/"not_at" and (kind, value, value) otherwise.
Value = tuple[int, int]
Clue = tuple[str, Value, "Value | int"]


@cache
def _permutations(n_houses: int) -> np.ndarray:
    """Array ``(n!, n)``: row p gives the house of each value; row 0 is the identity (the gold grid)."""
    return np.array(list(itertools.permutations(range(n_houses))), dtype=np.int8)


def _relation(kind: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Where house ``x`` and house ``y`` satisfy a two-value clue kind (broadcasting).

    >>> _relation("next_left", np.array([0, 1]), np.array([1, 1])).tolist()
    [True, False]
    """
    if kind == "same":
        return x == y
    if kind == "next_left":
        return x + 1 == y
    if kind == "left":
        return x < y
    return np.abs(x - y) == 1  # beside


def _clue_mask(clue: Clue, perms: np.ndarray) -> tuple[tuple[int, ...], np.ndarray]:
    """The categories a clue constrains and its truth over their permutations.

    One category: a vector over its permutations; two categories ``(a, b)`` with ``a < b``: a matrix
    indexed ``[perm of a, perm of b]``.
    """
    kind, (cat, value), other = clue
    x = perms[:, value]
    if kind in ("at", "not_at"):
        return (cat,), (x == other) if kind == "at" else (x != other)
    cat2, value2 = other
    y = perms[:, value2]
    if cat == cat2:
        return (cat,), _relation(kind, x, y)
    matrix = _relation(kind, x[:, None], y[None, :])
    return ((cat, cat2), matrix) if cat < cat2 else ((cat2, cat), matrix.T)


def _constraints(masks: list, n_cats: int, n_perms: int) -> tuple[list[np.ndarray], dict]:
    """Combine clue masks into per-category domains and per-pair compatibility matrices."""
    domains = [np.ones(n_perms, dtype=bool) for _ in range(n_cats)]
    pairs: dict[tuple[int, int], np.ndarray] = {}
    for cats, mask in masks:
        if len(cats) == 1:
            domains[cats[0]] = domains[cats[0]] & mask
        else:
            pairs[cats] = pairs[cats] & mask if cats in pairs else mask
    return domains, pairs


def _count_grids(masks: list, n_cats: int, n_perms: int, limit: int = 2) -> int:
    """Number of grids satisfying all clue masks, counted up to about ``limit`` (then it stops early).

    Backtracks over categories, smallest domain first, narrowing each next category's domain with
    the pair matrices of the categories already placed.
    """
    domains, pairs = _constraints(masks, n_cats, n_perms)
    order = sorted(range(n_cats), key=lambda c: int(domains[c].sum()))

    def allowed(cat: int, placed: list[tuple[int, int]]) -> np.ndarray:
        result = domains[cat]
        for other, perm in placed:
            if (other, cat) in pairs:
                result = result & pairs[(other, cat)][perm]
            elif (cat, other) in pairs:
                result = result & pairs[(cat, other)][:, perm]
        return result

    def extend(placed: list[tuple[int, int]]) -> int:
        cat = order[len(placed)]
        options = allowed(cat, placed)
        if len(placed) == n_cats - 1:
            return int(options.sum())
        total = 0
        for perm in np.flatnonzero(options):
            total += extend(placed + [(cat, int(perm))])
            if total >= limit:
                break
        return total

    return extend([])


def _random_clue(rng: random.Random, n_houses: int, n_cats: int) -> Clue:
    """One random clue that is true of the gold grid (value v of every category in house v)."""
    kind = rng.choice(_CLUE_KINDS)
    cat, cat2 = rng.randrange(n_cats), rng.randrange(n_cats)
    if kind in ("at", "not_at"):
        house = rng.randrange(n_houses)
        other = house if kind == "at" else rng.choice([h for h in range(n_houses) if h != house])
        return (kind, (cat, house), other)
    if kind == "same":
        house = rng.randrange(n_houses)
        cat, cat2 = rng.sample(range(n_cats), 2)
        return (kind, (cat, house), (cat2, house))
    if kind == "left":
        first, second = sorted(rng.sample(range(n_houses), 2))
        return (kind, (cat, first), (cat2, second))
    house = rng.randrange(n_houses - 1)
    pair = [(cat, house), (cat2, house + 1)]
    if kind == "beside":
        rng.shuffle(pair)
    return (kind, pair[0], pair[1])


def _unique_clues(rng: random.Random, n_houses: int, n_cats: int) -> list[Clue]:
    """Random true clues until the gold grid is the only solution, then drop every redundant clue."""
    perms = _permutations(n_houses)
    clues: list[Clue] = []
    masks: list = []
    while not masks or _count_grids(masks, n_cats, len(perms)) > 1:
        clue = _random_clue(rng, n_houses, n_cats)
        if clue not in clues:
            clues.append(clue)
            masks.append(_clue_mask(clue, perms))
    for index in sorted(range(len(clues)), key=lambda _: rng.random()):
        rest = [mask for i, mask in enumerate(masks) if i != index and clues[i] is not None]
        if _count_grids(rest, n_cats, len(perms)) == 1:
            clues[index] = None  # redundant: the others already fix the grid
    return [clue for clue in clues if clue is not None]


def _phrase(value: Value, categories: list[str], grid: list[list[str]]) -> str:
    """How a clue names a value: ``"Alice"``, ``"the cat owner"``, ``"the person in the red house"``."""
    cat, index = value
    return _PHRASES[categories[cat]].format(grid[cat][index])


def _clue_text(clue: Clue, categories: list[str], grid: list[list[str]]) -> str:
    """One clue as a short English sentence.

    >>> cats, grid = ["Name", "Color", "Pet"], [["Bob", "Eve"], ["red", "blue"], ["cat", "dog"]]
    >>> _clue_text(("same", (2, 1), (1, 1)), cats, grid)
    'The dog owner lives in the blue house.'
    >>> _clue_text(("next_left", (0, 0), (2, 1)), cats, grid)
    'Bob lives directly left of the dog owner.'
    """
    kind, value, other = clue
    if kind in ("at", "not_at"):
        verb = "lives" if kind == "at" else "does not live"
        sentence = f"{_phrase(value, categories, grid)} {verb} in house {other + 1}."
    elif kind == "same" and "Color" in (categories[value[0]], categories[other[0]]):
        person, color = (value, other) if categories[other[0]] == "Color" else (other, value)
        sentence = f"{_phrase(person, categories, grid)} lives in the {grid[color[0]][color[1]]} house."
    else:
        if kind == "same" and categories[other[0]] == "Name":
            value, other = other, value  # "Eve is the tea drinker", not "The tea drinker is Eve"
        x, y = _phrase(value, categories, grid), _phrase(other, categories, grid)
        sentence = {
            "same": f"{x} is {y}.",
            "next_left": f"{x} lives directly left of {y}.",
            "left": f"{x} lives somewhere to the left of {y}.",
            "beside": f"{x} and {y} live next to each other.",
        }[kind]
    return sentence[0].upper() + sentence[1:]


def _clue_check(number: int, clue: Clue, categories: list[str], grid: list[list[str]]) -> str:
    """One ``think`` line: where the clue's values are in the gold grid (so the clue holds)."""
    kind, value, other = clue
    where = f"{_phrase(value, categories, grid)} is in house {value[1] + 1}"
    if kind not in ("at", "not_at"):
        where += f", {_phrase(other, categories, grid)} is in house {other[1] + 1}"
    return f"Clue {number}: {where[0].upper()}{where[1:]}."


def _choices_line(category: str, values: list[str]) -> str:
    """A category's choices as the question lists them (and a quoted worksheet copies them): ``"Pet: cat, dog"``."""
    return f"{category}: {', '.join(sorted(values, key=str.lower))}"


def zebra_deduction(clues: list[Clue], categories: list[str], grid: list[list[str]],
                    quote: bool = False) -> str | None:
    """A worked solution by deduction, for the tiny model's recipe 19 (``data.worked_form``): the clues in their
    order, again and again, each written only where it tells something new about its values' houses, then, under
    a category's name, every value that the category's other values leave only one house (a value in a house rules
    that house out for its category's other values, unsaid). It stops once every value has its house; None where
    these steps never get there (about 1 in 5 three-house puzzles needs a guess).

    Each line is read off the question and the lines above it: a line says ``X in house h`` once X has one house
    left, else ``X not in house h`` for each house it rules out.

    >>> cats, grid = ["Name", "Pet"], [["Alice", "Frank"], ["dog", "fish"]]
    >>> print(zebra_deduction([("not_at", (0, 0), 1), ("same", (1, 0), (0, 0))], cats, grid))
    Clue 1: Alice in house 1.
    Name: Frank in house 2.
    Clue 2: dog in house 1.
    Pet: fish in house 2.

    ``quote=True`` (recipe 20) starts each clue's line with the clue as the question words it, and each category
    line with the question's choices for it, so that what a line reasons from is copied, not recalled:

    >>> print(zebra_deduction([("not_at", (0, 0), 1), ("same", (1, 0), (0, 0))], cats, grid, quote=True))
    1. Alice does not live in house 2. So Alice in house 1.
    Name: Alice, Frank. So Frank in house 2.
    2. Alice is the dog owner. So dog in house 1.
    Pet: dog, fish. So fish in house 2.
    """
    n_houses = len(grid[0])
    domain = {(c, v): set(range(n_houses)) for c in range(len(categories)) for v in range(n_houses)}
    said = set()  # the values whose house a line has given

    def placed(value: Value) -> str:
        said.add(value)
        return f"{grid[value[0]][value[1]]} in house {min(domain[value]) + 1}"

    def narrow(value: Value, keep: set[int]) -> list[str]:
        old, new = domain[value], domain[value] & keep
        if new == old:
            return []
        domain[value] = new
        if len(new) == 1:
            return [placed(value)]
        return [f"{grid[value[0]][value[1]]} not in house {h + 1}" for h in sorted(old - new)]

    def apply(clue: Clue) -> list[str]:
        kind, value, other = clue
        if kind == "at":
            return narrow(value, {other})
        if kind == "not_at":
            return narrow(value, set(range(n_houses)) - {other})
        facts = narrow(value, {a for a in domain[value] if any(_relation(kind, a, b) for b in domain[other])})
        return facts + narrow(other, {b for b in domain[other] if any(_relation(kind, a, b) for a in domain[value])})

    def by_category() -> list[str]:
        lines = []
        for c, name in enumerate(categories):
            facts = []
            while True:  # a house taken rules it out for the others; a value or a house with one option left
                for v in range(n_houses):
                    if len(domain[(c, v)]) == 1:
                        for w in range(n_houses):
                            if w != v:
                                domain[(c, w)] -= domain[(c, v)]
                single = [v for v in range(n_houses) if (c, v) not in said and len(domain[(c, v)]) == 1]
                for h in range(n_houses):
                    holders = [v for v in range(n_houses) if h in domain[(c, v)]]
                    if len(holders) == 1 and (c, holders[0]) not in said and holders[0] not in single:
                        domain[(c, holders[0])] = {h}
                        single.append(holders[0])
                if not single:
                    break
                facts += [placed((c, v)) for v in sorted(single, key=lambda v: min(domain[(c, v)]))]
            if facts and quote:
                lines.append(f"{_choices_line(name, grid[c])}. So {', '.join(facts)}.")
            elif facts:
                lines.append(f"{name}: {', '.join(facts)}.")
        return lines

    lines: list[str] = []
    while len(said) < len(domain):
        progress = False
        for number, clue in enumerate(clues, start=1):
            facts = apply(clue)
            if facts:
                progress = True
                lines.append(f"{number}. {_clue_text(clue, categories, grid)} So {', '.join(facts)}." if quote
                             else f"Clue {number}: {', '.join(facts)}.")
                lines.extend(by_category())
                if len(said) == len(domain):
                    break
        if not progress:
            return None
    return "\n".join(lines)


def _and_list(words: list[str]) -> str:
    """``"A and B"``, ``"A, B and C"``.

    >>> _and_list(["Name", "Color", "Pet"])
    'Name, Color and Pet'
    """
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" and {words[-1]}"


def zebra_grid(rng: random.Random, n_houses: int, n_cats: int) -> tuple[list[str], list[list[str]]]:
    """``n_cats`` categories drawn at random (kept in ``ZEBRA_CATEGORIES`` order) and a random grid of their values:
    ``grid[c][h]`` is category ``c``'s value in house ``h``, each value used once per category."""
    chosen = set(rng.sample(list(ZEBRA_CATEGORIES), n_cats))
    categories = [name for name in ZEBRA_CATEGORIES if name in chosen]
    return categories, [rng.sample(ZEBRA_CATEGORIES[cat], n_houses) for cat in categories]


def zebra_form(categories: list[str]) -> str:
    """The JSON layout a zebra answer fills in.

    >>> zebra_form(["Name", "Pet"])
    '{"House 1": {"Name": "___", "Pet": "___"}, ...}'
    """
    return json.dumps({"House 1": {cat: "___" for cat in categories}})[:-1] + ", ...}"


def zebra_answer(categories: list[str], grid: list[list[str]]) -> dict:
    """The whole grid as the answer's JSON object: ``{"House 1": {category: value, ...}, ...}``."""
    return {f"House {h + 1}": {cat: grid[c][h] for c, cat in enumerate(categories)} for h in range(len(grid[0]))}


def _zebra_question(n_houses: int, categories: list[str], grid: list[list[str]], clues: list[Clue]) -> str:
    """Setup line, numbered clues, choices per category (sorted) and the JSON layout to fill in."""
    setup = (
        f"There are {n_houses} houses, numbered 1 to {n_houses} from left to right. "
        f"Each house has a different {_and_list(categories)}."
    )
    lines = [
        setup,
        "Clues:",
        *(f"{i}. {_clue_text(clue, categories, grid)}" for i, clue in enumerate(clues, start=1)),
        "Choices:",
        *(_choices_line(cat, values) for cat, values in zip(categories, grid)),
        f"{ZEBRA_INSTRUCTION} {zebra_form(categories)}",
    ]
    return "\n".join(lines)


def _zebra_item(rng: random.Random, n_houses: int, n_cats: int) -> dict:
    """One minimal logic grid puzzle with ``n_houses`` houses and ``n_cats`` categories."""
    categories, grid = zebra_grid(rng, n_houses, n_cats)
    clues = _unique_clues(rng, n_houses, n_cats)
    rng.shuffle(clues)
    solution = zebra_answer(categories, grid)
    think = "\n".join(_clue_check(i, clue, categories, grid) for i, clue in enumerate(clues, start=1))
    return {
        "question": _zebra_question(n_houses, categories, grid, clues),
        "solution": json.dumps(solution),
        "categories": categories,
        "think": think,
        "deduction": zebra_deduction(clues, categories, grid),
        "quoted": zebra_deduction(clues, categories, grid, quote=True),
        "level": n_houses,
    }


def zebra(seed: int, houses: tuple[int, int] = (2, 4), attributes: tuple[int, int] = (2, 3)) -> Iterator[dict]:
    """Endless minimal logic grid puzzles with a unique solution.

    Each puzzle draws its number of houses and of categories uniformly from the inclusive ranges
    ``houses`` (within 2..5) and ``attributes`` (within 2..4). Items: ``question``, ``solution``
    (the gold grid as one-line JSON, ``{"House 1": {"Name": ..., ...}, ...}``, categories in
    ``ZEBRA_CATEGORIES`` order), ``categories``, ``think`` (where each clue's values sit in the gold
    grid) and ``level`` (the number of houses). The same seed always gives the same stream.

    >>> item = next(zebra(0, houses=(3, 3), attributes=(2, 2)))
    >>> item["level"], len(item["categories"]), sorted(json.loads(item["solution"]))
    (3, 2, ['House 1', 'House 2', 'House 3'])
    """
    low, high = _check_range("houses", houses, ZEBRA_HOUSES_SUPPORT)
    fewest, most = _check_range("attributes", attributes, ZEBRA_ATTRIBUTES_SUPPORT)
    rng = random.Random(seed)
    while True:
        n_houses = rng.randint(low, high)
        yield _zebra_item(rng, n_houses, rng.randint(fewest, most))
