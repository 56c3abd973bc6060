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
    source = _source_entry(vs, pool, recipe, root=root, source_id=source_id, extra=extra)
    plan = Plan(source, {}, notes=list(vs.notes))
    recipe_filter = _RecipeFilter.of(recipe, root)  # reads the subtract files before any code is looked at
    for i, raw in enumerate(_published_codes(vs, pool)):
        system = _known_system(raw.system)
        if system is None:  # never guessed: counted so the report can name the system
            plan.skipped_systems[raw.system or "(none)"] += 1
            continue
        code = _Candidate(raw, (system, canonical_code(system, raw.code)), _csv_row(vs, i))
        if recipe_filter.leaves_out(code):
            plan.filtered += 1
            continue
        plan.codes.setdefault(code.key, raw.display)  # the first display of a code wins
    return plan


def _source_entry(
    vs: SourceSet,
    pool: list[SourceSet],
    recipe: ImportRecipe,
    *,
    root: Path | None,
    source_id: str | None,
    extra: dict[str, str | None] | None,
) -> Source:
    """The provenance entry of a published set: what it is, where its files are, how it was filtered."""
    return Source(
        id=source_id or _default_source_id(vs),
        kind=vs.kind,  # type: ignore[arg-type]
        title=vs.title,
        url=vs.url,
        oid=vs.oid,
        version=vs.version,
        date=vs.date,
        file=_relative(vs.file, root),
        includes=_included_paths(vs, pool, root),
        recipe=_recorded_recipe(recipe),
        **(extra or {}),
    )


def _default_source_id(vs: SourceSet) -> str:
    """Last segment of the set's canonical URL (its file name when it has none), as a slug."""
    return slug(vs.url.rstrip("/").rsplit("/", 1)[-1] if vs.url else vs.file.stem)


def _included_paths(vs: SourceSet, pool: list[SourceSet], root: Path | None) -> list[str] | None:
    """Files of the sets `vs` includes, as recorded (sorted, without its own file); None when none."""
    own = _relative(vs.file, root)
    return sorted({_relative(f, root) for f in included_files(vs, pool)} - {own}) or None


def _recorded_recipe(recipe: ImportRecipe) -> ImportRecipe | None:
    """The recipe to record with the source: an empty one (nothing set) is not written."""
    return recipe if recipe.model_dump(exclude_none=True) else None


def _published_codes(vs: SourceSet, pool: list[SourceSet]) -> list[RawCode]:
    """Codes the set lists: a CSV list as written, a ValueSet with its includes and excludes resolved."""
    return expand(vs, pool) if not vs.columns else vs.codes


def _known_system(system: str | None) -> str | None:
    """Canonical name of a code system the rules know; None for any other (the code is skipped)."""
    canonical = canonical_system(system)
    return canonical if canonical is not None and canonical in CODE_SYSTEMS else None


def _csv_row(vs: SourceSet, i: int) -> dict[str, str]:
    """The whole CSV row of the set's i-th code (read by `where` filters); other formats have none."""
    return vs.columns[i] if vs.columns else {}


@dataclass(frozen=True)
class _Candidate:
    """One code of a source, its system known, as the recipe's filters see it."""

    raw: RawCode  # as published (an exclusion may name the code as published)
    key: Key  # canonical system and code
    row: dict[str, str]  # CSV sources: the code's whole row

    @property
    def display(self) -> str:
        return self.raw.display or ""


@dataclass(frozen=True)
class _RecipeFilter:
    """The filters of a recipe, compiled once per source: each says whether a code is left out."""

    recipe: ImportRecipe
    include: re.Pattern[str] | None  # include_display, case-insensitive
    exclude: re.Pattern[str] | None  # exclude_display, case-insensitive
    subtract: set[Key]  # codes of the recipe's subtract files

    @classmethod
    def of(cls, recipe: ImportRecipe, root: Path | None) -> _RecipeFilter:
        subtract = _subtracted(recipe, root)
        return cls(
            recipe,
            _display_pattern(recipe.include_display),
            _display_pattern(recipe.exclude_display),
            subtract,
        )

    def leaves_out(self, code: _Candidate) -> bool:
        """True when any filter of the recipe drops the code (counted as filtered, never imported)."""
        checks = (
            self._other_system,
            self._where_not_met,
            self._display_not_included,
            self._display_excluded,
            self._code_excluded,
            self._in_subtracted_set,
        )
        return any(check(code) for check in checks)

    def _other_system(self, code: _Candidate) -> bool:
        """`systems`: only codes of these systems are kept."""
        systems = self.recipe.systems
        return code.key[0] not in systems if systems else False

    def _where_not_met(self, code: _Candidate) -> bool:
        """`where`: every named column must hold its value (a non-CSV code has no columns, so fails)."""
        where = self.recipe.where or {}
        return any(code.row.get(column) != value for column, value in where.items())

    def _display_not_included(self, code: _Candidate) -> bool:
        return self.include is not None and not self.include.search(code.display)

    def _display_excluded(self, code: _Candidate) -> bool:
        return self.exclude is not None and self.exclude.search(code.display) is not None

    def _code_excluded(self, code: _Candidate) -> bool:
        """`exclude_codes`: codes judged wrong for this set, matched as published or as the rules
        spell them (an ICD-10-CM exclusion F11.20 also leaves out a published F1120)."""
        excluded = self.recipe.exclude_codes or []
        system, canonical = code.key
        return code.raw.code in excluded or any(canonical_code(system, e) == canonical for e in excluded)

    def _in_subtracted_set(self, code: _Candidate) -> bool:
        """`subtract`: codes of other value-set files (e.g. PDDI-CDS *-exclude.xml) are removed."""
        return code.key in self.subtract


def _display_pattern(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern, re.I) if pattern else None


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
    _one_plan_per_source(plans)
    diff = SetDiff(name, pruned=prune, before=len(rows), plans=plans)
    out = _rows_naming_sources(rows, meta)
    for plan in plans:  # plan by plan: a later plan sees the rows and links the earlier ones left
        # Indexed again for each plan: an earlier plan's prune removed rows and moved the others.
        _add_or_link(plan, out, _exact_index(out), diff)
        _unlist_stale(plan, out, diff, prune=prune)
    diff.after = len(out)
    diff.kept = diff.after - len(diff.added)
    return out, _merged_meta(name, meta, plans), diff


def _one_plan_per_source(plans: list[Plan]) -> None:
    """Two plans recorded under one source id would each take the other's codes for stale ones (and
    prune them), and only one file would stay in the provenance: refused before anything is merged."""
    seen: dict[str, Plan] = {}
    for plan in plans:
        first = seen.setdefault(plan.source.id, plan)
        if first is not plan:
            files = f"{first.source.file or first.source.url} and {plan.source.file or plan.source.url}"
            raise ImportError_(
                f"two value sets would both be recorded as source {plan.source.id!r} ({files}): "
                "import them one at a time, each with its own --source-id"
            )


def _rows_naming_sources(rows: list[dict[str, str]], meta: ValueSetMeta | None) -> list[dict[str, str]]:
    """Copies of the rows, each naming its source: a row without one gets the set's default source."""
    default = meta.default_source if meta else None
    return [dict(r, source=r.get("source") or (default or "")) for r in rows]


def _exact_index(rows: list[dict[str, str]]) -> dict[Key, int]:
    """Position of each exact-match row by (system, code); prefix and keyword rows are not indexed."""
    return {k: i for i, r in enumerate(rows) if (k := _key(r)) is not None}


def _add_or_link(plan: Plan, out: list[dict[str, str]], index: dict[Key, int], diff: SetDiff) -> None:
    """Each code of the plan: a row already there (curated or not) names the source, else a new row."""
    for key, display in plan.codes.items():
        if key in index:
            _link_source(out[index[key]], plan.source.id)
            continue
        row = _imported_row(key, display, plan.source)
        index[key] = len(out)
        out.append(row)
        diff.added.append(row)


def _link_source(row: dict[str, str], sid: str) -> None:
    """Add a source id to the row's `a|b` source list, once; its other fields are left as curated."""
    ids = row["source"].split(SOURCE_SEPARATOR) if row["source"] else []
    if sid not in ids:
        row["source"] = SOURCE_SEPARATOR.join([*ids, sid])


def _imported_row(key: Key, display: str | None, source: Source) -> dict[str, str]:
    """A new exact-match row; its note is the recipe's note or says which source it came from."""
    recipe_note = source.recipe.note if source.recipe else None
    return {
        "system": key[0],
        "code": key[1],
        "display": display or "",
        "match": "exact",
        "note": recipe_note or f"imported: {source.title}",
        "source": source.id,
    }


def _unlist_stale(plan: Plan, out: list[dict[str, str]], diff: SetDiff, *, prune: bool) -> None:
    """Rows naming the plan's source that it no longer lists: reported; with `prune`, unlinked or removed."""
    sid = plan.source.id
    for row in list(out):
        ids = row["source"].split(SOURCE_SEPARATOR)
        if not _no_longer_listed(row, ids, sid, plan.codes):
            continue
        rest = [i for i in ids if i != sid]
        # still listed by another source: only the link to this source goes
        (diff.unlinked if rest else diff.removed).append(row)
        if prune:
            _prune_row(out, row, rest)


def _no_longer_listed(row: dict[str, str], ids: list[str], sid: str, codes: dict[Key, str | None]) -> bool:
    """The row names source `sid`, is an exact-match row, and `sid` no longer lists its code."""
    return sid in ids and (key := _key(row)) is not None and key not in codes


def _prune_row(out: list[dict[str, str]], row: dict[str, str], rest: list[str]) -> None:
    """Drop the stale link: a row other sources still list keeps them, any other row goes."""
    if rest:
        row["source"] = SOURCE_SEPARATOR.join(rest)
    else:
        out.remove(row)


def _merged_meta(name: str, meta: ValueSetMeta | None, plans: list[Plan]) -> ValueSetMeta:
    """Provenance after the import: the set's own fields kept, each plan's source added or replaced."""
    return ValueSetMeta(
        title=meta.title if meta else name.replace("_", " "),
        description=meta.description if meta else None,
        policy=meta.policy if meta else None,
        default_source=None,  # every row now names its source
        sources=_merged_sources(meta, plans),
    )


def _merged_sources(meta: ValueSetMeta | None, plans: list[Plan]) -> list[Source]:
    """Recorded sources in their order, a re-imported one replaced in place, new ones at the end."""
    sources = {s.id: s for s in (meta.sources if meta else [])}
    for plan in plans:
        sources[plan.source.id] = plan.source
    return list(sources.values())


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
    if source_id is not None and not source_id.strip():
        raise ImportError_("--source-id is empty: give the source a name, or leave the option out")
    if source_id and len(chosen) > 1:
        raise ImportError_("--source-id names one source, but the files hold several top-level value sets")
    if recipe.where and (not_csv := [vs.file.name for vs in chosen if vs.file.suffix.lower() != ".csv"]):
        # a published ValueSet has no columns: the filter would leave out every code, silently
        raise ImportError_(f"--where filters CSV columns, and {', '.join(not_csv)} is not a CSV source")
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
