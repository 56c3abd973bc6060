"""Rebuild the medication, allergy and lab value sets of rules/valuesets from published sources.

Every step is an `ldncds valuesets import` with a recorded recipe, so `ldncds valuesets diff
--sources-root ../shared/clinical` can later show what a refresh of the same sources would change.
Hand-curated rows (the clinical pack, source `curated`) are never dropped by an import; the few
deliberate removals below are policy steps, each with its reason written into the set's meta file.

    PYTHONPATH=src python scripts/import_valuesets.py ../shared/clinical rules

Run it when a source changes, review `git diff rules/valuesets`, run the tests, commit.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ldncds.engine.loader import META_SUFFIX, VALUESET_DIR
from ldncds.engine.provenance import ImportRecipe, Source, ValueSetMeta
from ldncds.terminology.importer import (
    existing,
    import_sources,
    read_rows,
    render_csv,
    render_meta,
    write_set,
)

CURATED = Source(
    id="curated",
    kind="curated",
    title="ldncds clinical knowledge pack: reviewed codes with notes (shared/clinical/codes.csv)",
    file="codes.csv",
)
TEXT = Source(
    id="ldncds-text-names",
    kind="curated",
    title="ldncds: names for text-only entries (scripts/import_valuesets.py); block, never qualify",
    file="scripts/import_valuesets.py",
)
PRODUCTS = "rxnorm-products/products_nonopioid.csv"
NEW_INGREDIENTS = "rxnorm-products/new_ingredient_candidates.csv"
NONSYSTEMIC = "rxnorm-products/nonsystemic_forms.csv"
COMBOS = "rxnorm-products/combos_with_opioid.csv"
CDC = "valuesets-fhir/cdc-opioid-cds-r4/"
PDDI = "valuesets-fhir/pddi-cds/"
PACK_REPO = "shared/clinical/rxnorm-products (see its README for the repositories of each row)"
CDC_REPO = "cqframework/opioid-cds-r4@b29bdcbf6db6f3de26486dbc3820572ee9a78b89"
PDDI_REPO = "HL7/PDDI-CDS@018be88010175fa37e818c27c2925a6767273870"
VSAC_CUMULUS_REPO = "smart-on-fhir/cumulus-library-opioid@134eccdc5d9a0294fa0df6ad8a0763722324450b"
AHRQ_REPO = "AHRQ-CDS/AHRQ-CDS-Connect-PAIN-MANAGEMENT-SUMMARY@f9f63c6c9400e9c4844d47dedf364d8347e360ad"

MY_SETS = {
    "nsaids": "NSAIDs (systemic): a failed anti-inflammatory trial",
    "nsaids_topical": "Topical and ophthalmic NSAIDs: not an anti-inflammatory trial (policy)",
    "aspirin": "Aspirin products: counts as an anti-inflammatory trial only above 325 mg a day",
    "neuropathic_agents": "Neuropathic pain agents: gabapentinoids, SNRIs, tricyclics, carbamazepine",
    "thyroid_replacement": "Thyroid hormone replacement (caution)",
    "immunosuppressants": "Systemic immunosuppressants (caution)",
    "esi_steroid_drug": "Steroid drugs billed with an epidural injection (supporting evidence only)",
    "naloxone": "Naloxone (allergy: possible cross-reactivity with naltrexone)",
    "naltrexone": "Naltrexone, single ingredient (LDN therapy, dose caution, allergy)",
    "naltrexone_depot": "Extended-release injectable naltrexone (Vivitrol)",
    "naltrexone_combination": "Products that combine naltrexone with another drug",
    "naltrexone_full_dose": "Oral naltrexone whose unit strength is a full dose (50 mg)",
    "opioid_antidiarrheals": "Opioid antidiarrheals: loperamide, diphenoxylate, difenoxin (caution)",
    "opioid_agonists": "Opioid agonists and partial agonists, every product (hard stop)",
    "opioid_long_acting": "Long-acting opioids, methadone and buprenorphine (14-day washout)",
    "opioid_maintenance": "Opioid maintenance (MOUD): methadone, buprenorphine for opioid use disorder",
    "buprenorphine_depot": "Extended-release injectable and implanted buprenorphine",
    "buprenorphine_analgesic": "Buprenorphine products for pain (not opioid maintenance)",
    "opiate_urine_screen": "Opioid-class urine drug tests (positive = hard stop)",
}
POLICIES = {
    "nsaids": (
        "Topical, transdermal and ophthalmic NSAIDs are kept apart in nsaids_topical and do not count"
        " as a failed anti-inflammatory trial: their systemic exposure is a few percent of an oral dose"
        " and they are indicated for localised superficial pain (e.g. knee or hand osteoarthritis,"
        " eye surgery), not for fibromyalgia or radicular pain, so persisting pain after them says"
        " nothing about systemic NSAID failure. Opioid combinations (ibuprofen/hydrocodone ...) and"
        " aspirin are never in this set (they block, or count only above 325 mg a day)."
    ),
    "nsaids_topical": (
        "Read by no rule on purpose: a topical NSAID neither qualifies (see nsaids) nor blocks. Kept"
        " so the rulebook shows the decision and a later rule can name these forms."
    ),
    "neuropathic_agents": (
        "Topical doxepin cream is not a systemic tricyclic trial and is left out; low-dose doxepin"
        " tablets for insomnia (3 mg, 6 mg; Silenor) are left out as they are not a neuropathic dose."
    ),
    "immunosuppressants": (
        "Ophthalmic cyclosporine (Restasis, Cequa ...) and topical tacrolimus/sirolimus are not"
        " systemic immunosuppression and are left out."
    ),
    "naltrexone": (
        "Naltrexone combination products (bupropion/naltrexone, morphine/naltrexone,"
        " oxycodone/naltrexone) are not in this set: they are in naltrexone_combination (and the"
        " opioid ones in opioid_agonists), so they are never taken for LDN."
    ),
    "naloxone": (
        "CDC naloxone-medications is 'all naloxone-containing products': 29 of its 50 codes are"
        " buprenorphine/naloxone and pentazocine/naloxone, i.e. opioid agonists, so it is not"
        " imported; the VSAC/AHRQ naloxone set 2.16.840.1.113762.1.4.1032.42 is."
    ),
    "opioid_maintenance": (
        "Buprenorphine products for pain (Butrans transdermal, Belbuca buccal film, Buprenex and other"
        " injections) were removed from this set (they had come in with every buprenorphine product of"
        " the opioid pack): they are in buprenorphine_analgesic, still opioid agonists and long-acting,"
        " but not opioid maintenance. Their text names butrans and belbuca were removed for the same"
        " reason."
    ),
    "opioid_agonists": (
        "Kalopanax septemlobus bark extract (1307713), listed in VSAC 'Opioids', is a herbal extract and"
        " no opioid: left out. Loperamide (6468), listed in VSAC 2.16.840.1.113762.1.4.1200.14 'Opioids',"
        " is a peripheral"
        " antidiarrheal: a caution (opioid_antidiarrheals), not an agonist hard stop; left out."
    ),
    "opiate_urine_screen": (
        "From the CDC opioid urine drug screening sets, naltrexone, 6-beta-naltrexol and naloxone"
        " tests are left out (a positive naltrexone test on LDN is expected), and so are the"
        " 'cutoff' LOINCs (their value is the laboratory's threshold, not a result)."
    ),
}

TOPICAL = (
    r"\b(topical|ophthalmic|otic|transdermal|medicated patch|patch|gel|cream|lotion|foam|ointment"
    r"|mouthwash|irrigation|paste|shampoo|enema)\b"
)
OPIOID_WORDS = (
    r"codeine|hydrocodone|oxycodone|tramadol|propoxyphene|pentazocine|tilidine|morphine|buprenorphine"
)


def recipe(**kw: object) -> ImportRecipe:
    return ImportRecipe(**kw)  # type: ignore[arg-type]


def steps() -> list[tuple[str, list[str], ImportRecipe, str, str | None]]:
    """(value set, source files, recipe, source id, repository)."""
    products = lambda vs, **kw: (  # noqa: E731 - a table of similar imports
        vs,
        [PRODUCTS],
        recipe(system="RxNorm", where={"value_set": vs}, note="product; from shared rxnorm-products", **kw),
        "rxnorm-products",
        PACK_REPO,
    )
    new = lambda vs, **kw: (  # noqa: E731
        vs,
        [NEW_INGREDIENTS],
        recipe(
            system="RxNorm", where={"value_set": vs}, note="product of an ingredient added in issue 11", **kw
        ),
        "rxnorm-new-ingredients",
        PACK_REPO,
    )
    nsaid_subtract = [
        f"{PDDI}valueset-aspirin.xml",
        *(f"{PDDI}valueset-{n}-exclude.xml" for n in _PDDI_EXCLUDES),
        NONSYSTEMIC,
        COMBOS,
    ]
    cdc_uds = [f"{CDC}{n}-urine-drug-screening-tests.json" for n in _CDC_UDS] + [
        f"{CDC}opioid-urine-drug-screening.json"
    ]
    uds_recipe = recipe(
        exclude_display=r"naltrex|naloxone|naloxol|\bcutoff\b|\bCtO\b",
        note="CDC opioid CDS urine drug test; positive = hard stop until a repeat negative",
    )
    cdc_opioids = [f"{CDC}{n}.json" for n in _CDC_OPIOIDS]
    return [
        products("nsaids", exclude_display=TOPICAL),
        new("nsaids", exclude_display=TOPICAL),
        (
            "nsaids",
            [f"{PDDI}valueset-NSAIDS-example.xml", *(f"{PDDI}valueset-{n}.xml" for n in _PDDI_NSAIDS)],
            recipe(
                system="RxNorm",
                exclude_display=TOPICAL + "|" + OPIOID_WORDS,
                subtract=nsaid_subtract,
                note="PDDI-CDS NSAID class (21 ingredient sets), topical forms and aspirin removed",
            ),
            "pddi-nsaids",
            PDDI_REPO,
        ),
        (
            "nsaids_topical",
            [NONSYSTEMIC],
            recipe(system="RxNorm", where={"value_set": "nsaids"}, note="topical/ophthalmic NSAID form"),
            "rxnorm-nonsystemic",
            PACK_REPO,
        ),
        *[
            (
                "nsaids_topical",
                [f"{PDDI}valueset-{n}-exclude.xml"],
                recipe(exclude_display=OPIOID_WORDS, note="PDDI-CDS exclude set: topical/ophthalmic form"),
                f"pddi-{n}-exclude",
                PDDI_REPO,
            )
            for n in _PDDI_EXCLUDES
        ],
        products("aspirin"),
        products("neuropathic_agents"),
        new("neuropathic_agents", exclude_display=TOPICAL + r"|doxepin [36] MG Oral Tablet|Silenor"),
        products("thyroid_replacement"),
        new("thyroid_replacement"),
        products("immunosuppressants", exclude_display=TOPICAL),
        products("esi_steroid_drug"),
        new("esi_steroid_drug"),
        products("naloxone", exclude_display=OPIOID_WORDS),
        (
            "naloxone",
            ["valuesets-fhir/vsac-via-cumulus-library-opioid/valueset_rx_naloxone.json"],
            recipe(exclude_display=OPIOID_WORDS, note="VSAC naloxone medications"),
            "vsac-naloxone",
            VSAC_CUMULUS_REPO,
        ),
        products("naltrexone", exclude_display="bupropion|Contrave"),
        (
            "naltrexone_depot",
            [PRODUCTS],
            recipe(system="RxNorm", where={"value_set": "naltrexone"}, include_display="Injection|Vivitrol"),
            "rxnorm-products",
            PACK_REPO,
        ),
        (
            "naltrexone_full_dose",
            [PRODUCTS],
            recipe(system="RxNorm", where={"value_set": "naltrexone"}, include_display=r"\b50 MG Oral"),
            "rxnorm-products",
            PACK_REPO,
        ),
        (
            "naltrexone_combination",
            [PRODUCTS],
            recipe(system="RxNorm", where={"value_set": "naltrexone"}, include_display="bupropion"),
            "rxnorm-products",
            PACK_REPO,
        ),
        (
            "naltrexone_combination",
            [COMBOS],
            recipe(
                system="RxNorm", where={"value_set": "naltrexone"}, note="opioid/naltrexone: also an opioid"
            ),
            "rxnorm-combos-with-opioid",
            PACK_REPO,
        ),
        products("opioid_antidiarrheals"),
        new("opioid_antidiarrheals"),
        (
            "opioid_agonists",
            [COMBOS],
            recipe(system="RxNorm", note="contains an opioid: blocks, never qualifies"),
            "rxnorm-combos-with-opioid",
            PACK_REPO,
        ),
        *[
            ("opioid_agonists", [f], recipe(note="CDC opioid CDS medication set"), None, CDC_REPO)
            for f in cdc_opioids
        ],
        (
            "opioid_agonists",
            ["valuesets-fhir/vsac-via-cumulus-library-opioid/valueset_rx_opioid.json"],
            recipe(
                exclude_codes=["6468", "1307713"], note="VSAC Opioids (ingredient, brand and product codes)"
            ),
            "vsac-opioids",
            VSAC_CUMULUS_REPO,
        ),
        *[
            (
                into,
                ["valuesets-fhir/vsac-via-cumulus-library-opioid/valueset_rx_opioid.json"],
                recipe(
                    include_display=inc, exclude_display=exc, exclude_codes=["6468", "1307713"], note=note
                ),
                "vsac-opioids",
                VSAC_CUMULUS_REPO,
            )
            for into, inc, exc, note in (
                (
                    "opioid_long_acting",
                    _LONG_ACTING,
                    None,
                    "VSAC Opioids: long-acting, methadone or buprenorphine",
                ),
                (
                    "opioid_maintenance",
                    _MAINTENANCE,
                    _BUP_ANALGESIC,
                    "VSAC Opioids: methadone or MOUD buprenorphine",
                ),
                (
                    "buprenorphine_depot",
                    "Sublocade|Probuphine|Brixadi",
                    None,
                    "VSAC Opioids: depot buprenorphine brand",
                ),
                ("buprenorphine_analgesic", _BUP_ANALGESIC, None, "VSAC Opioids: buprenorphine for pain"),
            )
        ],
        (
            "opioid_long_acting",
            [f"{CDC}extended-release-opioid-with-ambulatory-misuse-potential.json"],
            recipe(note="CDC extended-release opioid: 14-day washout"),
            None,
            CDC_REPO,
        ),
        *[
            (
                "opioid_long_acting",
                [f"{CDC}{n}.json"],
                recipe(note="methadone/buprenorphine: 14-day washout"),
                None,
                CDC_REPO,
            )
            for n in ("buprenorphine-medications", "methadone-medications")
        ],
        (
            "opioid_maintenance",
            [f"{CDC}buprenorphine-and-methadone-medications.json"],
            recipe(exclude_display=_BUP_ANALGESIC, note="CDC MOUD set (buprenorphine and methadone)"),
            None,
            CDC_REPO,
        ),
        (
            "opioid_maintenance",
            [f"{CDC}buprenorphine-medications.json"],
            recipe(exclude_display=_BUP_ANALGESIC, note="CDC buprenorphine set, pain products removed"),
            None,
            CDC_REPO,
        ),
        *[
            (
                into,
                ["opioid_rxnorm_products.csv"],
                recipe(
                    system="RxNorm",
                    where={"ingredient": "buprenorphine"},
                    include_display=inc,
                    exclude_display=exc,
                ),
                "opioid-pack-products",
                "shared/clinical/opioid_rxnorm_products.csv (the opioid pack behind opioid_agonists)",
            )
            for into, inc, exc in (
                ("buprenorphine_depot", _BUP_DEPOT, "naloxone"),
                ("buprenorphine_analgesic", _BUP_ANALGESIC, None),
            )
        ],
        (
            "buprenorphine_depot",
            [f"{CDC}buprenorphine-medications.json"],
            recipe(include_display=_BUP_DEPOT, exclude_display="naloxone"),
            None,
            CDC_REPO,
        ),
        (
            "buprenorphine_analgesic",
            [f"{CDC}buprenorphine-medications.json"],
            recipe(include_display=_BUP_ANALGESIC, exclude_display="naloxone|" + _BUP_DEPOT),
            None,
            CDC_REPO,
        ),
        ("opiate_urine_screen", cdc_uds, uds_recipe, None, CDC_REPO),
    ]


_PDDI_NSAIDS = [
    "aspirin",
    "bromfenac",
    "celecoxib",
    "diclofenac",
    "diflunisal",
    "etodolac",
    "fenoprofen",
    "flurbiprofen",
    "ibuprofen",
    "indomethacin",
    "ketoprofen",
    "ketorolac",
    "mefenamate",
    "meloxicam",
    "nabumetone",
    "naproxen",
    "nepafenac",
    "oxaprozin",
    "piroxicam",
    "sulindac",
    "tolmetin",
]
_PDDI_EXCLUDES = [
    "bromfenac",
    "diclofenac",
    "flurbiprofen",
    "ibuprofen",
    "ketoprofen",
    "ketorolac",
    "nepafenac",
    "piroxicam",
]
_CDC_UDS = (
    "general-opiate opiate-specific fentanyl-type methadone buprenorphine oxycodone heroin synthetic-opioid"
)
_CDC_UDS = _CDC_UDS.split()  # type: ignore[assignment]
_CDC_OPIOIDS = [
    "opioid-analgesics-with-ambulatory-misuse-potential",
    "extended-release-opioid-with-ambulatory-misuse-potential",
    "non-synthetic-opioid-medications",
    "synthetic-opioid-medications",
    "fentanyl-type-medications",
    "oxycodone-medications",
    "methadone-medications",
    "buprenorphine-medications",
    "buprenorphine-and-methadone-medications",
]
_LONG_ACTING = (
    r"Extended Release|\b(12|24|72|168) HR\b|Transdermal|Oxycontin|Xtampza|Hysingla|Zohydro|MS Contin|Kadian"
    r"|Avinza|Arymo|Morphabond|Embeda|Exalgo|Nucynta ER|Duragesic|Depodur|methadone|Methadose|Dolophine"
    r"|Diskets|buprenorphine|Suboxone|Subutex|Zubsolv|Bunavail|Sublocade|Probuphine|Brixadi|Buprenex|BuTrans"
    r"|Belbuca|Conzip|Ultram ER|Opana ER"
)
_MAINTENANCE = (
    r"methadone|Methadose|Dolophine|Diskets|buprenorphine|Suboxone|Subutex|Zubsolv|Bunavail|Sublocade"
    r"|Probuphine|Brixadi"
)
_BUP_DEPOT = r"Prefilled Syringe|Drug Implant|Sublocade|Brixadi|Probuphine|Extended Release Injection"
_BUP_ANALGESIC = (
    r"^(?!.*(naloxone|Sublocade|Brixadi|Probuphine|Prefilled Syringe|Implant|Extended Release))"
    r"(?=.*(buprenorphine|BuTrans|Belbuca|Buprenex))"
    r".*(Transdermal|BuTrans|Buccal|Belbuca|Buprenex|Injection|Injectable|Cartridge|Simbadol|Zorbium|Topical)"
)

# Names a clinician or patient writes when a medication arrives as text only. A text match blocks;
# the loader refuses any rule that would let it qualify. Misspellings only where no other drug is near.
KEYWORDS: dict[str, list[str]] = {
    "opioid_agonists": [
        # brands of hydrocodone, oxycodone, morphine, fentanyl, hydromorphone, tramadol, tapentadol ...
        "lorcet",
        "xodol",
        "verdrocet",
        "vicoprofen",
        "reprexain",
        "ibudone",
        "hycodan",
        "hycet",
        "tussionex",
        "tuzistra",
        "tussicaps",
        "hydromet",
        "oxaydo",
        "roxybond",
        "oxaydo",
        "primlev",
        "xartemis",
        "targiniq",
        "troxyca",
        "oxecta",
        "magnacet",
        "roxicet",
        "tylox",
        "combunox",
        "embeda",
        "arymo",
        "morphabond",
        "avinza",
        "oramorph",
        "roxanol",
        "infumorph",
        "duramorph",
        "mitigo",
        "sublimaze",
        "fentora",
        "abstral",
        "subsys",
        "lazanda",
        "onsolis",
        "ionsys",
        "dsuvia",
        "palladone",
        "dilaudid-hp",
        "levo-dromoran",
        "ultram er",
        "ryzolt",
        "rybix",
        "seglentis",
        "qdolo",
        "nucynta er",
        "olinvyk",
        "oliceridine",
        "meptazinol",
        "stadol",
        "butorphanol",
        "nubain",
        "talwin nx",
        "talacen",
        "bunavail",
        "probuphine",
        "buprenex",
        "fioricet with codeine",
        "fiorinal with codeine",
        "tylenol-codeine",
        "tylenol 3",
        "tylenol #4",
        "tylenol with codeine #3",
        "capital and codeine",
        "tuxarin",
        "robitussin ac",
        "cheratussin",
        "promethazine with codeine",
        "promethazine codeine",
        "phenergan with codeine",
        "tussigon",
        "synalgos-dc",
        "trezix",
        "paregoric",
        "laudanum",
        "tincture of opium",
        "belladonna and opium",
        # ingredients not in the first list
        "tilidine",
        "tilidin",
        "valoron",
        "dextropropoxyphene",
        "darvon",
        "darvocet",
        "nalbuphine",
        "oxymorphone",
        "dihydromorphine",
        "ethylmorphine",
        "hydrocodone bitartrate",
        "oxycodone hcl",
        "carfentanil",
        "remifentanil",
        "nicomorphine",
        "piritramide",
        "dezocine",
        "meptazinol",
        "dextromoramide",
        "dipipanone",
        "ketobemidone",
        "tianeptine",
        "nitazene",
        "isotonitazene",
        "metonitazene",
        "protonitazene",
        "brorphine",
        # street and herbal opioids
        "kratom",
        "mitragynine",
        "7-hydroxymitragynine",
        "mitragyna",
        "diamorphine",
        "black tar heroin",
        "opium poppy",
        "poppy tea",
        "poppy seed tea",
        "perc 30",
        "m30 pill",
        # safe misspellings (no other drug within one or two letters)
        "oxycodon",
        "oxicodone",
        "oxycontine",
        "hydrocodon",
        "hydrocordone",
        "hydrocodine",
        "fentanil",
        "fentanyle",
        "fentynal",
        "phentanyl",
        "morfine",
        "morphin",
        "tramadole",
        "tramodol",
        "tramadal",
        "percoset",
        "percocette",
        "vicadin",
        "vicodine",
        "dilaudad",
        "dilauded",
        "methadon",
        "buprenorphin",
        "bupenorphine",
        "buprenorfine",
        "suboxen",
        "suboxon",
        "codiene",
        "codine",
    ],
    "opioid_long_acting": [
        "probuphine",
        "embeda",
        "arymo",
        "morphabond",
        "avinza",
        "targiniq",
        "troxyca",
        "ultram er",
        "ryzolt",
        "belbuca",
        "butrans",
        "bunavail",
    ],
    "opioid_maintenance": ["bunavail", "probuphine"],
    "buprenorphine_depot": ["sublocade", "brixadi", "probuphine", "buprenorphine extended-release injection"],
    "buprenorphine_analgesic": ["butrans", "belbuca", "buprenex", "buprenorphine patch"],
    "naloxone": ["naloxone", "narcan", "kloxxado", "zimhi", "rextovy", "evzio"],
    "naltrexone_depot": ["vivitrol", "naltrexone extended-release injectable", "naltrexone er injection"],
    "naltrexone_full_dose": ["revia", "depade", "naltrexone 50 mg", "naltrexone hydrochloride 50 mg"],
    "naltrexone_combination": [
        "contrave",
        "mysimba",
        "bupropion / naltrexone",
        "naltrexone / bupropion",
        "bupropion and naltrexone",
        "naltrexone and bupropion",
        "embeda",
        "troxyca",
    ],
}
# Text names removed from a set (policy, see POLICIES).
REMOVE_KEYWORDS = {"opioid_maintenance": {"butrans", "belbuca"}}
# Rows judged wrong (reason written in the row note) and rows whose display the pack got wrong.
DISPLAY_FIXES = {
    ("immunosuppressants", "108515"): "1 ML tacrolimus 5 MG/ML Injection [Prograf]",
    ("immunosuppressants", "1664463"): "24 HR tacrolimus 1 MG Extended Release Oral Tablet [Envarsus]",
}
# Single codes the published sets lack (each verified where its note says).
EXTRA_ROWS = {
    "opioid_agonists": [
        ("RxNorm", "10689", "tramadol", "ingredient; VSAC Opioids lists it"),
    ],
    "naloxone": [
        (
            "SNOMED-CT",
            "372890007",
            "Naloxone (substance)",
            "unverified SNOMED CT substance code for allergy lists; blocks only",
        ),
    ],
    "naltrexone": [
        (
            "SNOMED-CT",
            "373546002",
            "Naltrexone (substance)",
            "unverified SNOMED CT substance code for allergy lists; blocks only",
        ),
    ],
    "thyroid_replacement": [
        (
            "RxNorm",
            "10572",
            "thyroid (USP)",
            "ingredient: desiccated thyroid (shared rxnorm-products README)",
        ),
    ],
    "neuropathic_agents": [
        (
            "RxNorm",
            "588250",
            "milnacipran",
            "ingredient: FDA-approved for fibromyalgia (shared rxnorm-products README)",
        ),
    ],
}


def ensure_meta(rules: Path) -> None:
    """Give every value set a provenance file: the clinical pack for rows written before imports."""
    for csv_path in sorted((rules / VALUESET_DIR).glob("*.csv")):
        meta_path = csv_path.with_name(csv_path.stem + META_SUFFIX)
        if meta_path.is_file():
            continue
        meta = ValueSetMeta(
            title=MY_SETS.get(csv_path.stem, csv_path.stem.replace("_", " ")),
            default_source="curated",
            sources=[CURATED],
        )
        meta_path.write_text(render_meta(meta), encoding="utf-8")


def new_set(rules: Path, name: str) -> None:
    csv_path = rules / VALUESET_DIR / f"{name}.csv"
    if not csv_path.is_file():
        csv_path.write_text(render_csv([]), encoding="utf-8")
        meta = ValueSetMeta(title=MY_SETS[name], sources=[TEXT])
        csv_path.with_name(name + META_SUFFIX).write_text(render_meta(meta), encoding="utf-8")


def curate(rules: Path, name: str) -> None:
    """Text names, extra rows, display fixes and the policy text of one set (idempotent)."""
    rows, meta = existing(rules, name)
    assert meta is not None
    rows = [dict(r, source=r.get("source") or meta.default_source or "curated") for r in rows]
    drop = REMOVE_KEYWORDS.get(name, set())
    rows = [r for r in rows if not (r["match"] == "keyword" and r["code"] in drop)]
    have = {(r["system"], r["code"]) for r in rows}
    for word in dict.fromkeys(KEYWORDS.get(name, [])):
        if ("text", word) not in have:
            rows.append(
                {"system": "text", "code": word, "display": word, "match": "keyword",
                 "note": "recognisable name for text-only entries; blocks, never qualifies",
                 "source": TEXT.id}
            )  # fmt: skip
            have.add(("text", word))
    for system, code, display, note in EXTRA_ROWS.get(name, []):
        if (system, code) not in have:
            rows.append(
                {
                    "system": system,
                    "code": code,
                    "display": display,
                    "match": "exact",
                    "note": note,
                    "source": "curated",
                }
            )
    for row in rows:
        if fixed := DISPLAY_FIXES.get((name, row["code"])):
            row["display"] = fixed
            row["note"] = re.sub(
                r"present with this display in Synthea sample data",
                "display corrected by shared rxnorm-products/verification.csv",
                row["note"],
            )
    sources = {s.id: s for s in meta.sources}
    used = {i for r in rows for i in r["source"].split("|")}
    for src in (CURATED, TEXT):
        if src.id in used:
            sources.setdefault(src.id, src)
    meta = meta.model_copy(
        update={
            "title": MY_SETS.get(name, meta.title),
            "policy": POLICIES.get(name, meta.policy),
            "default_source": None,
            "sources": [s for s in sources.values() if s.id in used or s.kind != "curated"],
        }
    )
    write_set(rules, name, rows, meta)


def policy_removals(rules: Path) -> None:
    """opioid_maintenance: drop the buprenorphine pain products (they stay agonists and long-acting)."""
    name = "opioid_maintenance"
    analgesic = {
        (r["system"], r["code"]) for r in read_rows(rules / VALUESET_DIR / "buprenorphine_analgesic.csv")
    }
    rows = read_rows(rules / VALUESET_DIR / f"{name}.csv")
    kept = [r for r in rows if (r["system"], r["code"]) not in analgesic]
    _, meta = existing(rules, name)
    assert meta is not None
    write_set(rules, name, kept, meta)


def main(shared: Path, rules: Path) -> None:
    ensure_meta(rules)
    for name in MY_SETS:
        new_set(rules, name)
    for into, files, rec, source_id, repo in steps():
        diff, skipped = import_sources(
            [shared / f for f in files],
            into,
            rules,
            rec,
            root=shared,
            source_id=source_id if source_id else None,
            extra={"repository": repo} if repo else None,
        )
        for s in skipped:
            print(f"  skipped {s.file}: {s.reason}")
        print(f"{into}: {diff.before} -> {diff.after} (+{len(diff.added)}) from {', '.join(files)[:90]}")
    for name in MY_SETS:
        curate(rules, name)
    policy_removals(rules)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
