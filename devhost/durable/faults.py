"""At-least-once activity delivery, on demand: the `DEVHOST_ACTIVITY_FAULTS` setting.

Durable runs an activity at least once. With the Azure Storage backend, a worker that loses its
lease on the work item (a long pause, a crash, a scale-in) sees the activity run again on
another worker, and a completion message lost after the activity ran makes it run again too.
The devhost never does either on its own, so an activity that is not safe to repeat would pass
every local test. These modes make it happen to every activity:

- `replay`: the completion is delivered, then the activity runs again at once; the second
  result is dropped (the task already has its result), but its side effects happen.
- `drop`: the first completion (a result or a failure) is lost and the activity runs again;
  the second one is delivered.

Off by default; a comma-separated value turns on several (`replay,drop`: run, lose, run,
deliver, run again).
"""

from __future__ import annotations

from collections.abc import Mapping

from devhost.settings import SettingsError

ACTIVITY_FAULTS_SETTING = "DEVHOST_ACTIVITY_FAULTS"
REPLAY = "replay"
DROP = "drop"
MODES = (REPLAY, DROP)


def activity_faults(environ: Mapping[str, str]) -> frozenset[str]:
    """The modes the setting turns on; an unknown one stops the host (a typo must not pass
    for a run without faults)."""
    named = {part.strip() for part in environ.get(ACTIVITY_FAULTS_SETTING, "").split(",")}
    named.discard("")
    unknown = sorted(named - set(MODES))
    if unknown:
        raise SettingsError(
            f"{ACTIVITY_FAULTS_SETTING}: unknown mode(s) {', '.join(unknown)}; "
            f"use {' or '.join(MODES)} (comma-separated for both)"
        )
    return frozenset(named)
