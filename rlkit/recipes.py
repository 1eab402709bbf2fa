"""The offline tiny model's recipes: everything that determines a build (rlkit.tiny builds them).

A recipe is a plain dict; its hash names the cached model's folder, so changing any value rebuilds it.
``RLKIT_TINY_RECIPE`` picks the recipe the kit uses (:func:`active_recipe`). This module sits below rlkit.data and
rlkit.tiny because both read the active recipe: the task rows of a recipe that teaches worked puzzle solutions
(``"puzzle_think"``) differ, in the pretraining corpus as in 01's SFT data.
"""

from __future__ import annotations

import hashlib
import json
import os

# Everything that determines the built model. Change any value and the model is rebuilt.
RECIPE = {
    "version": 7,  # bump whenever a generator's output changes: the hash then rebuilds cached models
    "seed": 1234,
    "vocab_size": 1024,
    "hidden_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 512,
    "max_position_embeddings": 1024,
    "corpus": {"arithmetic": 30000, "countdown": 1500, "knights_knaves": 800, "zebra": 800, "code": 4000,
               "instruct": 3000},
    "seq_len": 256,  # long enough for a code or zebra worksheet with its answer
    "batch_size": 16,
    "steps": 800,  # at 500, whether the model learned to copy operands hung on details (one more phrase token lost it)
    "learning_rate": 3e-3,
    "warmup_steps": 30,
}

# The candidate for the next default, measured on 01's headroom table and on some lessons but not yet stored in every
# lesson (README, "The offline testbed"; every measurement in docs/testbed.md).
# Recipe 11 (``RECIPE_11``) is recipe 7's corpus plus 20,000 copy exercises (``tiny.copy_exercise``) and 4,000 grid
# forms (``tiny.form_exercise``), trained in 2,400 steps of 8 blocks instead of 800 of 16, since copying appears only
# after a plateau that the number of steps decides (scripts/copy_probe.py).
# Recipe 13 (``RECIPE_13``) adds knights and knaves solved by cases (``puzzle_think``: puzzles.kk_cases, in the
# corpus and in 01's SFT rows, data.worked_puzzles), 12,000 of them, in 448-token blocks that hold the longest.
# Recipe 14 (``RECIPE_14``) adds Countdown solved by search (``countdown_think``: data.countdown_search), 10,000
# of them instead of 1,500 worked gold expressions; measured, it did not give Countdown headroom and cost arithmetic
# some, so the candidate stays recipe 13. It is no longer selectable: its searches now start by restating the
# question (recipe 15), so its cached model would not match its data; it was measured at commit 8f14d8e.
# Recipe 15 (``RECIPE_15``) is recipe 14 plus 20,000 one-operation facts (``tiny.facts_exercise``) and 400 more
# steps, with the searches' first line in the question's own words ("Using the numbers [...]", data.countdown_search).
# Recipe 16 (``RECIPE_16``) is recipe 15 with the regular search (``"countdown_think": "regular"``): no division, so
# that every line of the search has the same shape (data.countdown_search).
# Recipe 17 (``RECIPE_17``) is recipe 16 whose four-number searches always join the first two numbers
# (``"countdown_think": "first_pair"``): the pair is copied from a fixed place and the operation is the one choice.
# Recipe 18 (``RECIPE_18``) is recipe 17 in a wider model (width 192, 6 heads, 2.4M parameters instead of 1.1M): does
# capacity limit the searches?
# Recipe 19 (``RECIPE_19``) is recipe 17 with zebra solved by deduction (``"zebra_think": "deduce"``,
# puzzles.zebra_deduction), 6,000 of them instead of 800, and 400 more steps for the larger corpus.
# Recipe 20 (``RECIPE_20``) is recipe 19 whose zebra worksheets copy before they reason (``"zebra_think": "quote"``):
# each clue's line starts with the clue as the question words it, each category's line with its choices.
# ``RLKIT_TINY_RECIPE=next`` builds and uses recipe 13 (``NEXT_RECIPE``); ``20``, ``19``, ``18``, ``17``, ``16``,
# ``15``, ``13`` and ``11`` name candidates.
RECIPE_11 = {**RECIPE, "version": 11, "corpus": {**RECIPE["corpus"], "copy": 20000, "form": 4000},
             "batch_size": 8, "steps": 2400}
RECIPE_13 = {**RECIPE_11, "version": 13, "corpus": {**RECIPE_11["corpus"], "knights_knaves": 12000},
             "seq_len": 448, "puzzle_think": "cases"}
RECIPE_14 = {**RECIPE_13, "version": 14, "corpus": {**RECIPE_13["corpus"], "countdown": 10000},
             "countdown_think": "search"}
RECIPE_15 = {**RECIPE_14, "version": 15, "corpus": {**RECIPE_14["corpus"], "facts": 20000}, "steps": 2800}
RECIPE_16 = {**RECIPE_15, "version": 16, "countdown_think": "regular"}
RECIPE_17 = {**RECIPE_16, "version": 17, "countdown_think": "first_pair"}
RECIPE_18 = {**RECIPE_17, "version": 18, "hidden_size": 192, "num_attention_heads": 6, "intermediate_size": 768}
RECIPE_19 = {**RECIPE_17, "version": 19, "corpus": {**RECIPE_17["corpus"], "zebra": 6000}, "steps": 3200,
             "zebra_think": "deduce"}
RECIPE_20 = {**RECIPE_19, "version": 20, "zebra_think": "quote"}
NEXT_RECIPE = RECIPE_13
RECIPES = {"default": RECIPE, "next": NEXT_RECIPE, "20": RECIPE_20, "19": RECIPE_19, "18": RECIPE_18, "17": RECIPE_17,
           "16": RECIPE_16, "15": RECIPE_15, "13": RECIPE_13, "11": RECIPE_11}


def active_recipe() -> dict:
    """:data:`RECIPE`, or the recipe that ``RLKIT_TINY_RECIPE`` names (``default``, ``next`` or a candidate's number,
    the keys of :data:`RECIPES`)."""
    from rlkit.errors import RlkitError

    name = os.environ.get("RLKIT_TINY_RECIPE", "").strip() or "default"
    if name not in RECIPES:
        raise RlkitError(f"Unknown RLKIT_TINY_RECIPE={name!r} in the environment. Use one of {sorted(RECIPES)}, "
                         "or unset it for the default.")
    return RECIPES[name]


def recipe_hash(recipe: dict = RECIPE) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
