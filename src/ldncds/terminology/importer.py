"""Import published value sets into rules/valuesets/NAME.csv, with provenance, and say what changed.

An import never drops a hand-curated row: rows of other sources are always kept, and rows of the
same source that the new version no longer lists are only reported (removed with `prune=True`).
Codes whose system is not one the rules know are skipped and counted, never guessed.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ldncds.engine import (
    CODE_SYSTEMS,
    META_SUFFIX,
    SOURCE_SEPARATOR,
    VALUESET_DIR,
    VALUESET_FIELDS,
    ImportRecipe,
    Source,
    ValueSetMeta,
    canonical_code,
    canonical_system,
    load_valueset_meta,
)

from .readers import RawCode, SourceError, SourceSet, read_source

FIELDS = [*VALUESET_FIELDS, "source"]
SOURCE_SUFFIXES = (".json", ".xml", ".csv")
Key = tuple[str, str]  # (canonical system, canonical code)


class ImportError_(Exception):
    """The import cannot be done as asked (the message says why); nothing was written."""


@dataclass
class Skipped:
    file: Path
    reason: str


@dataclass
class Plan:
    """What one source contributes to one value set, after systems are normalised and filters applied."""

    source: Source
    codes: dict[Key, str | None]  # key -> display
    skipped_systems: Counter[str] = field(default_factory=Counter)
    filtered: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class SetDiff:
    name: str
    added: list[dict[str, str]] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)  # rows of the source no longer listed
    unlinked: list[dict[str, str]] = field(default_factory=list)  # ... but still listed by another source
    pruned: bool = False
    kept: int = 0  # rows unchanged (any source)
    before: int = 0
    after: int = 0
    plans: list[Plan] = field(default_factory=list)


# ------------------------------------------------------------------ reading sources


def source_files(paths: list[Path]) -> list[Path]:
    """Files named, plus the value-set files inside any folder named (sorted, for determinism)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix.lower() in SOURCE_SUFFIXES)
        else:
            out.append(path)
    return out


def read_pool(paths: list[Path], system: str | None = None) -> tuple[list[SourceSet], list[Skipped]]:
    pool: list[SourceSet] = []
    skipped: list[Skipped] = []
    for path in source_files(paths):
        try:
            found = read_source(path, system=system)
        except SourceError as exc:
            skipped.append(Skipped(path, str(exc).removeprefix(f"{path}: ")))
            continue
        for vs in found:
            if not vs.codes and not vs.includes:
                why = f"{vs.filters} intensional filter(s) not evaluated" if vs.filters else "lists no codes"
                skipped.append(Skipped(path, f"{vs.title}: {why}"))
            else:
                pool.append(vs)
    return pool, skipped


def top_level(pool: list[SourceSet]) -> list[SourceSet]:
    """Sets of the pool that no other set of the pool includes by canonical URL."""
    referenced = {url for vs in pool for url in vs.includes}
    return [vs for vs in pool if vs.url not in referenced]


def expand(vs: SourceSet, pool: list[SourceSet], seen: frozenset[str] = frozenset()) -> list[RawCode]:
    """Codes of a set with its `compose.include.valueSet` references resolved within the pool."""
    by_url = {s.url: s for s in pool if s.url}
    codes = list(vs.codes)
    for url in vs.includes:
        if url in seen:
            raise ImportError_(f"{vs.file}: value set {url} includes itself")
        target = by_url.get(url)
        if target is None:
            raise ImportError_(
                f"{vs.file}: includes {url}, which is in none of the given sources (add its file)"
            )
        codes += expand(target, pool, seen | {vs.key})
    excluded = {(r.system, r.code) for r in vs.excluded}
    return [c for c in codes if (c.system, c.code) not in excluded]


def included_files(vs: SourceSet, pool: list[SourceSet], seen: frozenset[str] = frozenset()) -> set[Path]:
    """Files of every value set `vs` includes, directly or not (recorded so a refresh can re-read them)."""
    by_url = {s.url: s for s in pool if s.url}
    found: set[Path] = set()
    for url in vs.includes:
        target = by_url.get(url)
        if target is not None and url not in seen:
            found |= {target.file} | included_files(target, pool, seen | {url})
    return found


# ------------------------------------------------------------------ planning


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")[:80] or "source"


def _relative(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def plan_source(
    vs: SourceSet,
    pool: list[SourceSet],
    recipe: ImportRecipe,
    *,
    root: Path | None,
    source_id: str | None = None,
    extra: dict[str, str | None] | None = None,
) -> Plan:
    """The rows one published set gives a value set, with the recipe applied."""
    source = Source(
        id=source_id or slug(vs.url.rstrip("/").rsplit("/", 1)[-1] if vs.url else vs.file.stem),
        kind=vs.kind,  # type: ignore[arg-type]
        title=vs.title,
        url=vs.url,
        oid=vs.oid,
        version=vs.version,
        date=vs.date,
        file=_relative(vs.file, root),
        includes=sorted({_relative(f, root) for f in included_files(vs, pool)} - {_relative(vs.file, root)})
        or None,
        recipe=recipe if recipe.model_dump(exclude_none=True) else None,
        **(extra or {}),
    )
    plan = Plan(source, {}, notes=list(vs.notes))
    subtract = _subtracted(recipe, root)
    include = re.compile(recipe.include_display, re.I) if recipe.include_display else None
    exclude = re.compile(recipe.exclude_display, re.I) if recipe.exclude_display else None
    rows = vs.columns or [{}] * len(vs.codes)
    candidates = expand(vs, pool) if not vs.columns else vs.codes
    for i, raw in enumerate(candidates):
        system = canonical_system(raw.system)
        if system is None or system not in CODE_SYSTEMS:
            plan.skipped_systems[raw.system or "(none)"] += 1
            continue
        key = (system, canonical_code(system, raw.code))
        display = raw.display or ""
        row = rows[i] if vs.columns else {}
        if (
            (recipe.systems and system not in recipe.systems)
            or (recipe.where and any(row.get(k) != v for k, v in recipe.where.items()))
            or (include and not include.search(display))
            or (exclude and exclude.search(display))
            or (recipe.exclude_codes and raw.code in recipe.exclude_codes)
            or key in subtract
        ):
            plan.filtered += 1
            continue
        plan.codes.setdefault(key, raw.display)
    return plan


def _subtracted(recipe: ImportRecipe, root: Path | None) -> set[Key]:
    out: set[Key] = set()
    for name in recipe.subtract or []:
        path = (root / name) if root is not None and not Path(name).is_absolute() else Path(name)
        try:
            sets = read_source(path, system=recipe.system)
        except SourceError as exc:
            raise ImportError_(f"cannot subtract: {exc}") from exc
        for vs in sets:
            for raw in vs.codes:
                if system := canonical_system(raw.system):
                    out.add((system, canonical_code(system, raw.code)))
    return out


# ------------------------------------------------------------------ applying


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    if not csv_path.is_file():
        return []
    with csv_path.open(newline="", encoding="utf-8") as fh:
        return [{k: (v or "") for k, v in row.items()} for row in csv.DictReader(fh)]


def _key(row: dict[str, str]) -> Key | None:
    if row["match"] != "exact":
        return None  # prefix and keyword rows are curated, never matched against an import
    return row["system"], canonical_code(row["system"], row["code"])


def merge(
    name: str,
    rows: list[dict[str, str]],
    meta: ValueSetMeta | None,
    plans: list[Plan],
    *,
    prune: bool = False,
) -> tuple[list[dict[str, str]], ValueSetMeta, SetDiff]:
    """Rows and provenance after the plans are applied (pure: the caller writes them)."""
    diff = SetDiff(name, pruned=prune, before=len(rows), plans=plans)
    default = meta.default_source if meta else None
    out = [dict(r, source=r.get("source") or (default or "")) for r in rows]
    index = {k: i for i, r in enumerate(out) if (k := _key(r)) is not None}
    for plan in plans:
        sid = plan.source.id
        for key, display in plan.codes.items():
            if key in index:
                row = out[index[key]]
                ids = row["source"].split(SOURCE_SEPARATOR) if row["source"] else []
                if sid not in ids:
                    row["source"] = SOURCE_SEPARATOR.join([*ids, sid])
                continue
            note = plan.source.recipe.note if plan.source.recipe and plan.source.recipe.note else None
            row = {
                "system": key[0],
                "code": key[1],
                "display": display or "",
                "match": "exact",
                "note": note or f"imported: {plan.source.title}",
                "source": sid,
            }
            index[key] = len(out)
            out.append(row)
            diff.added.append(row)
        for row in list(out):
            ids = row["source"].split(SOURCE_SEPARATOR)
            if sid in ids and _key(row) is not None and _key(row) not in plan.codes:
                rest = [i for i in ids if i != sid]
                # still listed by another source: only the link to this source goes
                (diff.unlinked if rest else diff.removed).append(row)
                if prune:
                    if rest:
                        row["source"] = SOURCE_SEPARATOR.join(rest)
                    else:
                        out.remove(row)
    diff.after = len(out)
    diff.kept = diff.after - len(diff.added)
    sources = {s.id: s for s in (meta.sources if meta else [])}
    for plan in plans:
        sources[plan.source.id] = plan.source
    new_meta = ValueSetMeta(
        title=meta.title if meta else name.replace("_", " "),
        description=meta.description if meta else None,
        policy=meta.policy if meta else None,
        default_source=None,  # every row now names its source
        sources=list(sources.values()),
    )
    return out, new_meta, diff


def render_csv(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, FIELDS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def render_meta(meta: ValueSetMeta) -> str:
    data = meta.model_dump(exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def write_set(rules_dir: Path, name: str, rows: list[dict[str, str]], meta: ValueSetMeta) -> None:
    folder = rules_dir / VALUESET_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_text(render_csv(rows), encoding="utf-8")
    (folder / f"{name}{META_SUFFIX}").write_text(render_meta(meta), encoding="utf-8")


def existing(rules_dir: Path, name: str) -> tuple[list[dict[str, str]], ValueSetMeta | None]:
    csv_path = rules_dir / VALUESET_DIR / f"{name}.csv"
    meta_path = csv_path.with_name(name + META_SUFFIX)
    meta = load_valueset_meta(csv_path) if meta_path.is_file() else None
    return read_rows(csv_path), meta


def import_sources(
    sources: list[Path],
    into: str,
    rules_dir: Path,
    recipe: ImportRecipe | None = None,
    *,
    root: Path | None = None,
    system: str | None = None,
    source_id: str | None = None,
    prune: bool = False,
    write: bool = True,
    extra: dict[str, str | None] | None = None,
) -> tuple[SetDiff, list[Skipped]]:
    """Import every top-level value set found in `sources` into value set `into`."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", into):
        raise ImportError_(f"value set name {into!r}: use lower case letters, digits and _")
    recipe = recipe or ImportRecipe()
    if system:
        recipe = recipe.model_copy(update={"system": system})
    pool, skipped = read_pool(sources, recipe.system)
    chosen = top_level(pool)
    if not chosen:
        why = "; ".join(f"{s.file.name}: {s.reason}" for s in skipped)
        raise ImportError_("no value set with codes in the given sources" + (f" ({why})" if why else ""))
    if source_id and len(chosen) > 1:
        raise ImportError_("--source-id names one source, but the files hold several top-level value sets")
    plans = [plan_source(vs, pool, recipe, root=root, source_id=source_id, extra=extra) for vs in chosen]
    if not any(plan.codes for plan in plans) and not prune:
        unknown = sorted({system for plan in plans for system in plan.skipped_systems})
        raise ImportError_(
            "no code in a system the rules know"
            + (f" (skipped systems: {', '.join(unknown)})" if unknown else " (every code was filtered out)")
        )
    rows, meta = existing(rules_dir, into)
    new_rows, new_meta, diff = merge(into, rows, meta, plans, prune=prune)
    if write:
        write_set(rules_dir, into, new_rows, new_meta)
    return diff, skipped


def refresh_plans(rules_dir: Path, name: str, root: Path) -> tuple[list[Plan], list[Skipped]]:
    """Re-read every imported source of a value set from `root`, with its recorded recipe."""
    _, meta = existing(rules_dir, name)
    plans: list[Plan] = []
    skipped: list[Skipped] = []
    for src in meta.sources if meta else []:
        if src.kind == "curated" or not src.file:
            continue
        path = root / src.file
        if not path.is_file():
            skipped.append(Skipped(path, f"{name}: source {src.id} not found under {root}"))
            continue
        extra_files = [root / f for f in src.includes or []]
        pool, bad = read_pool([path, *extra_files], src.recipe.system if src.recipe else None)
        skipped += bad
        match = [vs for vs in pool if (vs.url or None) == src.url] or top_level(pool)
        if not match:
            continue
        extra = {k: getattr(src, k) for k in ("repository", "licence") if getattr(src, k)}
        plan = plan_source(
            match[0], pool, src.recipe or ImportRecipe(), root=root, source_id=src.id, extra=extra
        )
        plan.source = plan.source.model_copy(update={"title": src.title, "kind": src.kind})
        plans.append(plan)
    return plans, skipped
