"""What every family's training shares: the divergence error and the check of a config's choices."""
from __future__ import annotations


class TrainingDiverged(RuntimeError):
    """Training produced NaN/inf and was stopped, never hidden.

    ``.reason`` says what went wrong, ``.step`` where, and ``.model`` is the model as the family
    leaves it (see the family's ``train`` docstring: usually the last finite weights), so a page
    can still show how far training got.
    """

    def __init__(self, reason: str, step: int | None = None, model=None):
        where = f" at step {step}" if step is not None else ""
        super().__init__(f"Training diverged{where}: {reason}. Try a smaller learning rate or another seed.")
        self.reason = reason
        self.step = step
        self.model = model


def check_choice(name: str, value, valid) -> None:
    """Raise a ValueError that lists the valid choices (diffusers' style) when ``value`` is not one of them."""
    if value not in valid:
        raise ValueError(f"Unknown {name} {value!r}; valid choices are {list(valid)}.")
