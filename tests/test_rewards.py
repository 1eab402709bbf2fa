"""Table tests for rlkit.rewards: gold answers, missing answers, known hacks, hostile text."""

from __future__ import annotations

import signal
import threading

import pytest

from rlkit import rewards
from rlkit.rewards import (
    REQUIRED_COLUMNS,
    REWARDS,
    completion_text,
    countdown_reward,
    extract_answer,
    format_reward,
    get_reward,
    knights_knaves_reward,
    make_verifier,
    math_reward,
    parse_identities,
)

KK_GOLD = "Amelia is a hero, and Elizabeth is a villain."
CD_NUMBERS, CD_TARGET = [34, 83, 4], 298

# Keyword arguments TRL passes to every reward function besides the dataset columns.
TRL_KWARGS = {
    "prompts": ["p"],
    "completion_ids": [[1, 2, 3]],
    "trainer_state": object(),
    "log_extra": lambda *a, **k: None,
    "log_metric": lambda *a, **k: None,
}

HOSTILE = [
    "<answer>",
    "<answer>14",
    "<answer><answer>",
    "</answer><answer>",
    "<answer></answer></answer>",
    "x" * 10_000,
    "<answer>" + "q(]{" * 2_500 + "</answer>",
    "<answer>\x00</answer>",
    "\x00<answer>\x00\x00</answer>\x00",
    "<answer>" + "9" * 5_000 + "</answer>",
    "<answer>9**9**9**9</answer>",
    "<answer>9^{9^{9^{9}}}</answer>",
    "<answer>" + "(" * 500 + "1" + ")" * 500 + "</answer>",
    "<answer>" + "(" * 500 + "</answer>",
    "<answer>1/0</answer>",
    "<answer>\\frac{1}{0}</answer>",
    "<answer>0/0</answer>",
    "<answer>🙂 ∑ ≠ 十四 ١٤</answer>",
    "<answer>(10^{100})!</answer>",
    "<answer>__import__('os').system('true')</answer>",
    "<think>" * 1_000 + "</think>" * 1_000 + "<answer>x</answer>",
    "",
]


def _one(reward, text, **columns) -> float | None:
    """Score a single string completion."""
    return reward([text], **{k: [v] for k, v in columns.items()})[0]


def _as_chat(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<answer>14</answer>", "14"),
        ("reasoning <answer> 14 \n</answer>", "14"),
        ("<answer>14</answer> and <answer>15</answer>", "15"),
        ("<answer>14</answer> <answer>15", "14"),
        ("<answer><answer>14</answer>", "14"),
        ("<answer></answer>", ""),
        ("<answer>14", None),
        ("14</answer>", None),
        ("no tags", None),
        ("", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("plain", "plain"),
        (_as_chat("chat"), "chat"),
        ([{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}], "b"),
        ([{"role": "assistant", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}], "xy"),
        ([], ""),
        ([{"role": "assistant", "content": None}], ""),
    ],
)
def test_completion_text(completion, expected):
    assert completion_text(completion) == expected


# --------------------------------------------------------------------------- math


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("14", "14"),
        ("-4", "-4"),
        ("−4", "-4"),
        ("3/4", "3/4"),
        ("\\frac{3}{4}", "3/4"),
        ("0.75", "\\frac{3}{4}"),
        ("0.5", "1/2"),
        ("\\boxed{14}", "14"),
        ("$14$", "14"),
        ("14.0", "14"),
        ("14.", "14"),
        ("x = 14", "14"),
        ("1,000", "1000"),
        ("1\\,000", "1000"),
        ("106475279601", "106475279601"),
        ("\\sqrt{12}", "2\\sqrt{3}"),
        ("1 + x^2", "x^2+1"),
    ],
)
def test_math_gold_scores_one(answer, gold):
    text = f"Let me think. <answer>{answer}</answer>"
    assert math_reward([text], answer=[gold]) == [1.0]
    assert math_reward([_as_chat(text)], answer=[gold]) == [1.0]


@pytest.mark.parametrize(
    "text",
    [
        "The answer is 14.",
        "\\boxed{14}",
        "<answer>14",
        "<answer></answer>",
        "<answer>   </answer>",
        "<answer>.</answer>",
    ],
)
def test_math_missing_or_empty_answer_scores_zero(text):
    assert _one(math_reward, text, answer="14") == 0.0


@pytest.mark.parametrize(
    "answer",
    [
        "14 or 15",
        "14, 15, 16",
        "\\{14, 15\\}",
        "14 \\text{ or } 15",
        "x = 14 or x = 15",
        "14 \\pm 1",
        "7*2 = 14",  # equation restating the question
        "15 - 1 = 14",
        "14 = 14",
        "15 = 14",
        "x = 15 = 14",
        "2 + 12",  # unevaluated arithmetic
        "7 \\cdot 2",
        "7 7",  # math_verify adds juxtaposed numbers
        "0 14",
        "10\\,4",
        "2(7)",
        "0.1000001 * 140",
        "13.999999",
        "-14",
        "15",
    ],
)
def test_math_hacks_and_wrong_answers_score_zero(answer):
    assert _one(math_reward, f"<answer>{answer}</answer>", answer="14") == 0.0


def test_math_only_last_answer_tag_counts():
    text = "<answer>14</answer> wait, no: <answer>15</answer>"
    assert _one(math_reward, text, answer="14") == 0.0
    assert _one(math_reward, text, answer="15") == 1.0


def test_math_close_but_different_large_integers():
    assert _one(math_reward, "<answer>12345678901234568</answer>", answer="12345678901234567") == 0.0


@pytest.mark.parametrize("text", HOSTILE)
def test_math_hostile_text_returns_float(text):
    assert _one(math_reward, text, answer="14") in (0.0, 1.0)
    assert _one(math_reward, text, answer="x^2 + 1") in (0.0, 1.0)


def test_math_slow_comparison_is_cut_off(monkeypatch):
    monkeypatch.setattr(rewards.math, "MATH_TIME_LIMIT_S", 0.2)
    assert _one(math_reward, "<answer>(x+y+z)^{300}</answer>", answer="x^2+1") == 0.0


def test_math_restores_an_outer_timer():
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 60)
        math_reward(["<answer>14</answer>"], answer=["14"])
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 50
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not fired


def test_math_works_outside_the_main_thread():
    results = []
    texts = ["<answer>14</answer>", "<answer>13</answer>"]
    worker = threading.Thread(target=lambda: results.append(math_reward(texts, answer=["14"] * 2)))
    worker.start()
    worker.join(timeout=30)
    assert results == [[1.0, 0.0]]


# --------------------------------------------------------------------------- countdown


@pytest.mark.parametrize(
    "expr",
    ["4*83 - 34", "83*4-34", "(4 * 83) - 34", "((((4))))*83 - (34)", "4*83 - 34 = 298", " 4*83-34\n"],
)
def test_countdown_gold_scores_one(expr):
    text = f"<answer>{expr}</answer>"
    for completion in (text, _as_chat(text)):
        assert countdown_reward([completion], numbers=[CD_NUMBERS], target=[CD_TARGET]) == [1.0]


def test_countdown_exact_division():
    assert _one(countdown_reward, "<answer>(1 + 2) / 3 * 9</answer>", numbers=[1, 2, 3, 9], target=9) == 1.0


@pytest.mark.parametrize("text", ["4*83 - 34", "", "<answer>4*83 - 34", "4*83 - 34</answer>"])
def test_countdown_no_answer_scores_zero(text):
    assert _one(countdown_reward, text, numbers=CD_NUMBERS, target=CD_TARGET) == 0.0


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "   ",
        "298",  # the target itself
        "4*83",  # a number omitted
        "4*83 - 34 + 4 - 4",  # a number used twice
        "4*83 - 34 + 0",  # a number not given
        "-34 + 4*83",  # unary minus
        "4*83 - +34",  # unary plus
        "4*83 - 34 = 299",  # wrong claimed target
        "4*83 - 34 = 298 = 298",
        "x = 4*83 - 34",
        "4.0*83 - 34",
        "4*83 - 034",
        "4*83 - 0x22",
        "4*83 - 3_4",
        "4*83//1 - 34",
        "4*83 % 1000 - 34",
        "4 ** 83 - 34",
        "4×83 - 34",
        "4*83 − 34",
        "4 83 34",
        "4 * (83 - 34)",  # valid numbers, wrong value
    ],
)
def test_countdown_invalid_or_wrong_scores_point_one(expr):
    assert _one(countdown_reward, f"<answer>{expr}</answer>", numbers=CD_NUMBERS, target=CD_TARGET) == 0.1


def test_countdown_only_last_answer_tag_counts():
    text = "<answer>4*83 - 34</answer> <answer>4*83</answer>"
    assert _one(countdown_reward, text, numbers=CD_NUMBERS, target=CD_TARGET) == 0.1


@pytest.mark.parametrize("text", HOSTILE)
def test_countdown_hostile_text_returns_float(text):
    assert _one(countdown_reward, text, numbers=CD_NUMBERS, target=CD_TARGET) in (0.0, 0.1)


# --------------------------------------------------------------------------- knights and knaves


@pytest.mark.parametrize(
    "answer",
    [
        KK_GOLD,
        "Elizabeth is a villain, and Amelia is a hero",
        "amelia is a HERO and ELIZABETH is a villain",
        "Amelia is hero; Elizabeth is villain.",
        "Amelia is a hero.\nElizabeth is a villain.",
        '"Amelia is a hero, and Elizabeth is a villain."',
    ],
)
def test_knights_knaves_gold_scores_one(answer):
    text = f"<think>...</think><answer>{answer}</answer>"
    assert knights_knaves_reward([text], answer=[KK_GOLD]) == [1.0]
    assert knights_knaves_reward([_as_chat(text)], answer=[KK_GOLD]) == [1.0]


@pytest.mark.parametrize(
    "text",
    [KK_GOLD, "<answer>" + KK_GOLD, "<answer></answer>", "<answer> . </answer>"],
)
def test_knights_knaves_missing_or_empty_answer_scores_zero(text):
    assert _one(knights_knaves_reward, text, answer=KK_GOLD) == 0.0


@pytest.mark.parametrize(
    "answer",
    [
        "Amelia is a hero or a villain, and Elizabeth is a villain",
        "Amelia is a hero and a villain, and Elizabeth is a villain",
        "Amelia is a hero/villain, and Elizabeth is a villain",
        "Amelia is a hero",
        "Amelia is a hero, Amelia is a villain, Elizabeth is a villain",
        "Amelia is a hero, Elizabeth is a villain, Bob is a hero",
        "Amelia is a villain, and Elizabeth is a hero",
        "Amelia is a knight, and Elizabeth is a knave",
        "Amelia is a hero, and Elizabeth is not a hero",
        "Amelia: hero, Elizabeth: villain",
        "Amelia and Elizabeth are heroes",
    ],
)
def test_knights_knaves_hacks_score_zero(answer):
    assert _one(knights_knaves_reward, f"<answer>{answer}</answer>", answer=KK_GOLD) == 0.0


def test_knights_knaves_only_last_answer_tag_counts():
    text = f"<answer>{KK_GOLD}</answer> hmm <answer>Amelia is a villain, and Elizabeth is a villain</answer>"
    assert _one(knights_knaves_reward, text, answer=KK_GOLD) == 0.0


def test_parse_identities_knows_every_role_pair():
    for truthful, liar in rewards.KNIGHTS_KNAVES_ROLES:
        article = "an" if liar[0] in "aeiou" else "a"
        assert parse_identities(f"Zoey is {article} {liar}, and Luke is a {truthful}") == {
            "zoey": liar,
            "luke": truthful,
        }


@pytest.mark.parametrize("text", HOSTILE)
def test_knights_knaves_hostile_text_returns_float(text):
    assert _one(knights_knaves_reward, text, answer=KK_GOLD) == 0.0


# --------------------------------------------------------------------------- format


@pytest.mark.parametrize(
    "text",
    [
        "<answer>4</answer>",
        "<think>2 + 2 = 4</think>\n<answer>4</answer>\n",
        "<think></think><answer>4</answer>",
        "2 + 2 = 4, so\n<answer>4</answer>",
        "2 + 2 = 4</think>\n\n<answer>4</answer>",  # think block opened by the chat template
    ],
)
def test_format_good_scores_one(text):
    assert format_reward([text]) == [1.0]
    assert format_reward([_as_chat(text)]) == [1.0]


@pytest.mark.parametrize(
    "text",
    [
        "4",
        "<answer></answer>",
        "<answer>  </answer>",
        "<answer>4</answer>.",
        "<answer>4</answer> because 2 + 2",
        "<answer>4</answer><answer>4</answer>",
        "<answer><answer>4</answer>",
        "<think>unclosed <answer>4</answer>",
        "<think>a</think> then text <answer>4</answer>",
        "text <think>a</think><answer>4</answer>",
        "<think>a</think><think>b</think><answer>4</answer>",
        "<answer>4</answer><think>late</think>",
    ],
)
def test_format_bad_scores_zero(text):
    assert format_reward([text]) == [0.0]


@pytest.mark.parametrize("text", HOSTILE)
def test_format_hostile_text_returns_float(text):
    assert format_reward([text])[0] in (0.0, 1.0)


# --------------------------------------------------------------------------- registry and signature


def test_registry_names_and_required_columns_agree():
    assert set(REWARDS) == set(REQUIRED_COLUMNS) == {"math", "countdown", "knights_knaves", "zebra", "format",
                                                        "exact", "code"}
    assert get_reward("math") is math_reward


def test_get_reward_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="nope") as error:
        get_reward("nope")
    for name in REWARDS:
        assert name in str(error.value)


@pytest.mark.parametrize(
    ("name", "columns", "text"),
    [
        ("math", {"answer": ["14"]}, "<answer>14</answer>"),
        ("countdown", {"numbers": [CD_NUMBERS], "target": [CD_TARGET]}, "<answer>4*83-34</answer>"),
        ("knights_knaves", {"answer": [KK_GOLD]}, f"<answer>{KK_GOLD}</answer>"),
        ("format", {}, "<answer>14</answer>"),
    ],
)
def test_rewards_accept_trl_kwargs_and_extra_columns(name, columns, text):
    reward = get_reward(name)
    assert set(REQUIRED_COLUMNS[name]) == set(columns)
    assert reward(completions=[text], **columns, **TRL_KWARGS, other_column=["x"]) == [1.0]
    assert make_verifier(name)([text], **columns, **TRL_KWARGS) == [True]


@pytest.mark.parametrize(
    ("reward", "columns"),
    [
        (math_reward, {"answer": [None]}),
        (countdown_reward, {"numbers": [None], "target": [None]}),
        (knights_knaves_reward, {"answer": [None]}),
    ],
)
def test_rows_without_gold_are_not_applicable(reward, columns):
    assert reward(["<answer>14</answer>"], **columns) == [None]


def test_make_verifier_means_reward_is_one():
    check = make_verifier("countdown")
    texts = ["<answer>4*83-34</answer>", "<answer>4*83</answer>", "no answer"]
    assert check(texts, numbers=[CD_NUMBERS] * 3, target=[CD_TARGET] * 3) == [True, False, False]



# --------------------------------------------------------------------------- reasoning-gym data


def test_countdown_reasoning_gym_expressions_score_one():
    reasoning_gym = pytest.importorskip("reasoning_gym")
    rows = list(reasoning_gym.create_dataset("countdown", seed=0, size=5, min_numbers=3, max_numbers=4))
    meta = [row["metadata"] for row in rows]
    texts = [f"<answer>{m['expression']}</answer>" for m in meta]
    scores = countdown_reward(texts, numbers=[m["numbers"] for m in meta], target=[m["target"] for m in meta])
    assert scores == [1.0] * len(rows)


@pytest.mark.parametrize(
    ("task", "reward"), [("knights_knaves", knights_knaves_reward), ("basic_arithmetic", math_reward)]
)
def test_reasoning_gym_gold_answers_score_one(task, reward):
    reasoning_gym = pytest.importorskip("reasoning_gym")
    rows = list(reasoning_gym.create_dataset(task, seed=0, size=5))
    texts = [_as_chat(f"<think>...</think>\n<answer>{row['answer']}</answer>") for row in rows]
    assert reward(texts, answer=[row["answer"] for row in rows]) == [1.0] * len(rows)
