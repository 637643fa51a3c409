"""Parse what ansible-playbook prints with the default stdout callback plus the ansible.posix
profile_tasks and profile_roles callbacks (profile_roles with PROFILE_ROLES_SUMMARY_ONLY=true,
so that the only per-task timestamp line is profile_tasks'), into numbers for the bench tables.

- PLAY RECAP: ok / changed / skipped / failed / unreachable per host (exact, from Ansible).
- Per task: its play, its duration (profile_tasks prints, under the banner of task N+1, the
  length of task N in parentheses; the last one comes under TASKS RECAP), and per host whether
  it ran, changed or was skipped (from the result lines; a loop counts once per host).
- Per stage: the plays of each stage playbook (stage_of_play maps a play name to its stage).
- Per role: the ROLES RECAP lines of profile_roles; the top tasks: the TASKS RECAP lines.
"""
from __future__ import annotations

import dataclasses
import re
import typing as t

BANNER = re.compile(r"^(TASK|RUNNING HANDLER) \[(?P<name>.*)\] \*+\s*$")
PLAY = re.compile(r"^PLAY \[(?P<name>.*)\] \*+\s*$")
RECAP_SECTION = re.compile(r"^(?P<what>PLAY RECAP|TASKS RECAP|ROLES RECAP) \*+\s*$")
STAMP = re.compile(r"^\w+ \d+ \w+ \d{4}\s+[\d:]+ [+-]\d{4} \((?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?)\)\s+"
                   r"(?P<th>\d+):(?P<tm>\d\d):(?P<ts>\d\d(?:\.\d+)?) \*+\s*$")
RESULT = re.compile(r"^(?P<status>ok|changed|skipping|fatal|failed|included): \[(?P<host>[^\]\s]+)(?: -> [^\]]+)?\]")
INCLUDED = re.compile(r"^included: .* for (?P<hosts>.+)$")
HOST_RECAP = re.compile(r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                        r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)"
                        r"\s+ignored=(?P<ignored>\d+)")
SUMMARY = re.compile(r"^(?P<name>.*?) -+ (?P<seconds>\d+(?:\.\d+)?)s$")


def _seconds(h: str, m: str, s: str) -> float:
    return int(h) * 3600 + int(m) * 60 + float(s)


@dataclasses.dataclass
class Task:
    name: str
    play: str
    seconds: float = 0.0
    ran: set[str] = dataclasses.field(default_factory=set)
    changed: set[str] = dataclasses.field(default_factory=set)
    skipped: set[str] = dataclasses.field(default_factory=set)

    @property
    def role(self) -> str:
        return self.name.split(" : ", 1)[0] if " : " in self.name else ""


@dataclasses.dataclass
class Run:
    tasks: list[Task]
    recap: dict[str, dict[str, int]]
    roles: list[tuple[str, float]]
    top_tasks: list[tuple[str, float]]
    total_seconds: float

    def totals(self) -> dict[str, int]:
        keys = ("ok", "changed", "skipped", "failed", "unreachable")
        return {k: sum(h[k] for h in self.recap.values()) for k in keys}

    def by_stage(self, stage_of_play: t.Callable[[str], str]) -> dict[str, dict[str, float]]:
        """Seconds, task results run / skipped / changed (summed over hosts) per stage, in run order."""
        stages: dict[str, dict[str, float]] = {}
        for task in self.tasks:
            row = stages.setdefault(stage_of_play(task.play), {"seconds": 0.0, "ran": 0, "skipped": 0, "changed": 0})
            row["seconds"] += task.seconds
            row["ran"] += len(task.ran)
            row["skipped"] += len(task.skipped - task.ran)
            row["changed"] += len(task.changed)
        return stages


def parse(text: str) -> Run:
    tasks: list[Task] = []
    recap: dict[str, dict[str, int]] = {}
    roles: list[tuple[str, float]] = []
    top: list[tuple[str, float]] = []
    play = ""
    section = ""
    total = 0.0
    current: Task | None = None
    for line in text.splitlines():
        m = PLAY.match(line)
        if m:
            play, section, current = m["name"], "", None
            continue
        m = BANNER.match(line)
        if m:
            current = Task(m["name"], play)
            tasks.append(current)
            section = "task"
            continue
        m = RECAP_SECTION.match(line)
        if m:
            section, current = m["what"], None
            continue
        m = STAMP.match(line)
        if m and section != "ROLES RECAP":  # profile_roles' own stamp there counts from its start
            # the length of the task before this banner (or before the recap)
            done = [x for x in tasks if x is not current]
            if done:
                done[-1].seconds = _seconds(m["h"], m["m"], m["s"])
            total = max(total, _seconds(m["th"], m["tm"], m["ts"]))
            continue
        if section == "task" and current is not None:
            m = INCLUDED.match(line)
            if m:
                current.ran.update(h.strip() for h in m["hosts"].split(","))
                continue
            m = RESULT.match(line)
            if m:
                host, status = m["host"], m["status"]
                if status == "skipping":
                    current.skipped.add(host)
                else:
                    current.ran.add(host)
                    if status == "changed":
                        current.changed.add(host)
            continue
        if section == "PLAY RECAP":
            m = HOST_RECAP.match(line)
            if m:
                recap[m["host"]] = {k: int(v) for k, v in m.groupdict().items() if k != "host"}
        elif section in ("TASKS RECAP", "ROLES RECAP"):
            m = SUMMARY.match(line)
            if m and not (section == "ROLES RECAP" and m["name"].strip() == "total"):
                (top if section == "TASKS RECAP" else roles).append((m["name"].strip(), float(m["seconds"])))
    return Run(tasks=tasks, recap=recap, roles=roles, top_tasks=top, total_seconds=total)


def markdown_table(header: t.Sequence[str], rows: t.Iterable[t.Sequence[t.Any]]) -> str:
    """A GitHub markdown table; floats with one decimal, numbers right-aligned."""
    def cell(v: t.Any) -> str:
        return f"{v:.1f}" if isinstance(v, float) else str(v)
    rows = [[cell(v) for v in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
