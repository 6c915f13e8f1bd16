"""How two versions' inputs differ: features added, removed, or of another type.

Only names and types count (numeric, categorical): a version trained on other rows has
other ranges and categories, which a client does not see. A feature whose type changed is
listed under `retyped` and, so that a reader of names alone does not miss it, under both
`added` and `removed` as well.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class SchemaChange:
    added: tuple  # names the new schema has (or types otherwise) that the old does not
    removed: tuple  # names the old schema has (or types otherwise) that the new does not
    retyped: tuple  # ((name, old type, new type), ...)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)

    def as_dict(self) -> dict:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "retyped": [{"name": n, "from": a, "to": b} for n, a, b in self.retyped],
        }

    def words(self) -> str:
        """`added x; removed y; z numeric → categorical` (retyped once, by its types)."""
        retyped = {n for n, _, _ in self.retyped}
        parts = []
        added = [n for n in self.added if n not in retyped]
        removed = [n for n in self.removed if n not in retyped]
        if added:
            parts.append("added " + ", ".join(added))
        if removed:
            parts.append("removed " + ", ".join(removed))
        parts.extend(f"{n} {a} → {b}" for n, a, b in self.retyped)
        return "; ".join(parts)


def _types(schema) -> dict:
    return {f["name"]: f.get("type") for f in schema or []}


def schema_change(*, old, new) -> SchemaChange:
    """What changes for a client sending `old`-shaped rows to a version taking `new`."""
    before, after = _types(old), _types(new)
    retyped = tuple((n, before[n], t) for n, t in after.items() if n in before and before[n] != t)
    kept = {n for n, _, _ in retyped}
    return SchemaChange(
        added=tuple(n for n in after if n not in before or n in kept),
        removed=tuple(n for n in before if n not in after or n in kept),
        retyped=retyped,
    )
