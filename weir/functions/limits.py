"""The limits of one run, enforced by the SDK and documented in docs/protocol.md.

The values come from settings (declared once there) so the worker enforces
the same numbers the SDK does.
"""

from __future__ import annotations

from dataclasses import dataclass

from weir.settings import Settings, get_settings

STEP_ID_MAX = 256
STACK_MAX_CHARS = 16 * 1024


@dataclass(frozen=True)
class Limits:
    step_output_bytes: int = 4 * 1024 * 1024
    run_state_bytes: int = 32 * 1024 * 1024
    steps_per_run: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Limits:
        current = settings or get_settings()
        return cls(
            step_output_bytes=current.step_output_max_bytes,
            run_state_bytes=current.run_state_max_bytes,
            steps_per_run=current.run_max_steps,
        )
