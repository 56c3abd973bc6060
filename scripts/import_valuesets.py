"""Regenerate rules/valuesets/*.csv from the clinical knowledge pack (../shared/clinical).

Run once when the pack changes, review the diff, commit. The CSV files in rules/valuesets are the
single source of truth at run time; this script only records how they were derived.

    python scripts/import_valuesets.py ../shared/clinical rules/valuesets
"""

from __future__ import annotations

import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

FIELDS = ["system", "code", "display", "match", "note"]

# Pack value sets split or renamed so that every rule can name exactly what it means.
MOVE = {
    ("lumbar_radiculopathy", "72274001"): "radiculopathy_generic",
    ("nsaids", "1191"): "aspirin",
    ("nsaids", "243670"): "aspirin",
    ("neuropathic_agents", "6387"): None,  # lidocaine counts only topically: left out (policy, see note)
    ("opioid_use_disorder", "1081000119105"): "opioid_maintenance_condition",
    ("epidural_steroid_injection", "J1030"): "esi_steroid_drug",
    ("epidural_steroid_injection", "J1040"): "esi_steroid_drug",
    ("epidural_steroid_injection", "J3301"): "esi_steroid_drug",
    ("epidural_steroid_injection", "J1100"): "esi_steroid_drug",
    ("epidural_steroid_injection", "J1010"): "esi_steroid_drug",
    ("suicidality", "44260-8"): "phq9_item9",
    ("instrument_phq9", "44260-8"): "phq9_item9",
    ("opioid_antagonist_not_agonist", "7242"): "naloxone",
    ("opioid_antagonist_not_agonist", "7243"): None,  # already in naltrexone
    ("non_opioid_lookalike", "3289"): None,  # documented only: simply not in opioid_agonists
    ("low_back_pain", "278860009"): "low_back_pain+chronic_low_back_pain",
}
LONG_ACTING = re.compile(r"extended release|\b12 hr\b|\b24 hr\b|\b72 hr\b|\b7 day\b|transdermal", re.I)
MAINTENANCE_INGREDIENTS = {"methadone", "buprenorphine", "levomethadyl", "levomethadone"}

TEXT_KEYWORDS = {
    # Recognisable names for uncoded (text-only) medications. A text match may block; it never qualifies.
    "opioid_agonists": [
        "oxycodone",
        "hydrocodone",
        "morphine",
        "codeine",
        "tramadol",
        "tapentadol",
        "fentanyl",
        "hydromorphone",
        "oxymorphone",
        "methadone",
        "buprenorphine",
        "meperidine",
        "pethidine",
        "levorphanol",
        "butorphanol",
        "nalbuphine",
        "pentazocine",
        "dihydrocodeine",
        "opium",
        "sufentanil",
        "alfentanil",
        "remifentanil",
        "benzhydrocodone",
        "propoxyphene",
        "heroin",
        "percocet",
        "percodan",
        "endocet",
        "roxicodone",
        "oxycontin",
        "xtampza",
        "vicodin",
        "norco",
        "lortab",
        "hysingla",
        "zohydro",
        "dilaudid",
        "exalgo",
        "ultram",
        "conzip",
        "ultracet",
        "nucynta",
        "duragesic",
        "actiq",
        "ms contin",
        "kadian",
        "opana",
        "demerol",
        "dolophine",
        "methadose",
        "suboxone",
        "subutex",
        "zubsolv",
        "sublocade",
        "brixadi",
        "butrans",
        "belbuca",
        "tylenol #3",
        "tylenol with codeine",
        "apadaz",
        "talwin",
    ],
    "opioid_maintenance": [
        "methadone",
        "methadose",
        "dolophine",
        "buprenorphine",
        "suboxone",
        "subutex",
        "zubsolv",
        "sublocade",
        "brixadi",
        "butrans",
        "belbuca",
    ],
    "opioid_long_acting": [
        "extended release",
        "extended-release",
        "er",
        "xr",
        "sr",
        "cr",
        "la",
        "12 hr",
        "24 hr",
        "patch",
        "transdermal",
        "oxycontin",
        "xtampza",
        "hysingla",
        "zohydro",
        "ms contin",
        "kadian",
        "exalgo",
        "nucynta er",
        "duragesic",
        "butrans",
        "methadone",
        "methadose",
        "dolophine",
        "buprenorphine",
        "suboxone",
        "subutex",
        "zubsolv",
        "sublocade",
        "brixadi",
        "belbuca",
    ],
    "naltrexone": ["naltrexone", "low dose naltrexone", "low-dose naltrexone", "ldn", "revia", "vivitrol"],
}

EXTRA = {
    "surgical_procedure": [
        (
            "SNOMED-CT",
            "387713003",
            "Surgical procedure (procedure)",
            "exact",
            "unverified; FHIR Procedure.category example code, used to recognise planned surgery",
        ),
    ],
}


def main(pack: Path, out: Path) -> None:
    sets: dict[str, list[tuple[str, str, str, str, str]]] = defaultdict(list)
    seen: set[tuple[str, str, str]] = set()

    def add(name: str, row: tuple[str, str, str, str, str]) -> None:
        key = (name, row[0], row[1])
        if key not in seen:
            seen.add(key)
            sets[name].append(row)

    with open(pack / "codes.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            code, note = r["code"], r["note"]
            match = "prefix" if note.startswith("pattern:") else "exact"
            if r["value_set"] == "pregnancy" and r["code"] == "O00-O9A":
                code = "O"
            target = MOVE.get((r["value_set"], r["code"]), r["value_set"])
            if target is None:
                continue
            for name in target.split("+"):
                add(name, (r["system"], code, r["display"], match, note))
            if r["value_set"] == "opioid_maintenance":
                add(
                    "opioid_long_acting",
                    (r["system"], code, r["display"], "exact", "methadone/buprenorphine: 14-day washout"),
                )
    with open(pack / "opioid_rxnorm_products.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            row = ("RxNorm", r["code"], r["display"], "exact", f"product; ingredient {r['ingredient']}")
            add("opioid_agonists", row)
            if r["ingredient"] in MAINTENANCE_INGREDIENTS:
                add("opioid_maintenance", row)
            if r["ingredient"] in MAINTENANCE_INGREDIENTS or LONG_ACTING.search(r["display"]):
                add("opioid_long_acting", row)
    for name, words in TEXT_KEYWORDS.items():
        for w in words:
            add(
                name,
                ("text", w, w, "keyword", "recognisable name for text-only entries; blocks, never qualifies"),
            )
    for name, rows in EXTRA.items():
        for row in rows:
            add(name, row)

    out.mkdir(parents=True, exist_ok=True)
    for name, rows in sorted(sets.items()):
        with open(out / f"{name}.csv", "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(FIELDS)
            w.writerows(rows)
    print(f"wrote {len(sets)} value sets to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
