"""Each role's requests decided against its synthesized policies: what it called, what
it was granted and never used, what IAM would deny. The table goes to docs/security.md."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from local.iam.authorization_requests import CALLED, Authorization
from local.iam.policy_evaluation import LABEL, Decision, action_matches, evaluate, granted_actions
from local.iam.role_policies import Role


@dataclass
class RoleResult:
    """One role's requests and their decisions."""

    role: Role
    runtime: str
    decided: list[tuple[Authorization, Decision]] = field(default_factory=list)

    @property
    def denied(self) -> list[tuple[Authorization, Decision]]:
        return [(a, d) for a, d in self.decided if not d.allowed]

    def actions(self, *, called: bool) -> list[str]:
        """Actions requested by the runtime's own calls (``called``) or modelled ones."""
        return sorted({a.request.action for a, _ in self.decided if (a.origin == CALLED) == called})

    def unused_grants(self) -> list[str]:
        """``Sid: action`` of every granted action no allowed request used via that Sid."""
        unused = []
        for sid, pattern in granted_actions(self.role.policies):
            used = any(
                d.allowed and sid in d.statements and action_matches(pattern, a.request.action)
                for a, d in self.decided
            )
            if not used:
                unused.append(f"{sid}: {pattern}")
        return unused


def decide(role: Role, runtime: str, requests: Iterable[Authorization]) -> RoleResult:
    """Every request of ``role``'s runtime, decided by the local IAM stand-in."""
    result = RoleResult(role=role, runtime=runtime)
    for authorization in requests:
        result.decided.append((authorization, evaluate(role.policies, authorization.request)))
    return result


def describe_denials(result: RoleResult) -> str:
    return "\n".join(
        f"{result.role.logical_id} {LABEL} {d.effect}: {a.request.action} on {a.request.resource}"
        f" {dict(a.request.context)} ({a.origin}: {a.call})"
        for a, d in result.denied
    )


def markdown_table(results: Iterable[RoleResult]) -> str:
    """The per-role table of docs/security.md."""
    lines = [
        "| Role | Runtime | Actions called (recorded) | Actions the service uses with the role "
        "(modelled) | Granted, never used | Denied |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        cells = [
            f"`{r.role.logical_id}`",
            r.runtime,
            "<br>".join(r.actions(called=True)) or "-",
            "<br>".join(r.actions(called=False)) or "-",
            "<br>".join(r.unused_grants()) or "-",
            str(len(r.denied)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
