"""rlkit: the plumbing behind the rlkit study-kit notebooks (SFT, DPO, GRPO, RLOO on small LMs)."""

__version__ = "0.1.0"
