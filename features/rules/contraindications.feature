Feature: Hard stops
  Any hard stop makes the decision "contraindicated", even when other data are missing. Opioids
  above all: naltrexone blocks them and can precipitate withdrawal. An opioid that ended inside
  its washout still blocks, and the earliest start date is given.

  Scenario: An active oxycodone prescription is a hard stop
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And an active oxycodone hydrochloride 5 MG Oral Tablet prescription (RxNorm 1049621) started 2 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop current_opioid_agonist is listed
    And the explanation cites rule CONTRA-OPIOID-01
    And the explanation cites rule CONTRA-OPIOID-02
    And the explanation cites rule DEC-CONTRA-01
    And it names "oxycodone"
    And no earliest start date is given
    And no titration plan is given

  Scenario: An opioid written only as text still blocks
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And an active medication recorded only as text "Percocet 5/325 one tablet twice daily"
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-OPIOID-02
    And it names "Percocet"

  Scenario: Tramadol that ended 5 days ago blocks until its 7-day washout has passed
    Given a 45-year-old male patient
    And lumbar radiculopathy (ICD-10-CM M54.16) diagnosed 8 months ago
    And tramadol hydrochloride 50 MG Oral Tablet (RxNorm 835603) taken from 40 days ago until 5 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the earliest start date is 2026-03-03
    And the explanation cites rule CONTRA-OPIOID-WASHOUT-01
    And the explanation cites rule CONTRA-OPIOID-WASHOUT-03
    And it names "tramadol"
    And what would change the decision mentions "earliest start 2026-03-03"

  Scenario: Tramadol that ended 8 days ago no longer blocks
    Given a 45-year-old male patient
    And lumbar radiculopathy (ICD-10-CM M54.16) diagnosed 8 months ago
    And tramadol hydrochloride 50 MG Oral Tablet (RxNorm 835603) taken from 40 days ago until 8 days ago
    When the patient is assessed on 2026-03-01
    Then rule CONTRA-OPIOID-WASHOUT-01 does not apply
    And the decision is insufficient_information

  Scenario: An extended-release opioid needs a 14-day washout
    Given a 58-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And 12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet (RxNorm 1049502) taken from 6 months ago until 10 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the earliest start date is 2026-03-05
    And the explanation cites rule CONTRA-OPIOID-WASHOUT-02
    And the explanation cites rule CONTRA-OPIOID-WASHOUT-04
    And rule CONTRA-OPIOID-WASHOUT-01 does not apply

  Scenario: An opioid written only as text that ended 3 days ago blocks for 7 days
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And a stopped medication recorded only as text "Norco 5/325 as needed", ended 3 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the earliest start date is 2026-03-05
    And the explanation cites rule CONTRA-OPIOID-WASHOUT-03

  Scenario: A codeine cough syrup counts as an opioid; dextromethorphan does not
    Given a 50-year-old male patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And codeine phosphate 0.5 MG/ML / guaifenesin 15 MG/ML Oral Solution (RxNorm 995226) taken from 4 days ago until 1 day ago
    And acetaminophen / dextromethorphan / doxylamine oral solution (RxNorm 1043400) taken from 7 days ago until 2 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the earliest start date is 2026-03-07
    And it names "codeine"

  Scenario: A recent opioid with no recorded end date is assumed to be inside its washout
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And oxycodone hydrochloride 5 MG Oral Tablet (RxNorm 1049621) started 5 days ago and stopped, end date not recorded
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And no earliest start date is given
    And the explanation cites rule CONTRA-OPIOID-ENDUNKNOWN-01
    And the explanation cites rule CONTRA-OPIOID-ENDUNKNOWN-02

  Scenario: Buprenorphine/naloxone maintenance is a hard stop with no earliest start
    Given a 60-year-old male patient
    And sciatica (SNOMED-CT 23056005) diagnosed 2 years ago
    And an active buprenorphine 2 MG / naloxone 0.5 MG Sublingual Film prescription (RxNorm 1010600) started 11 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop opioid_maintenance is listed
    And no earliest start date is given
    And the explanation cites rule CONTRA-MAINT-01
    And the explanation cites rule CONTRA-MAINT-02
    And what would change the decision mentions "addiction care team"

  Scenario: Methadone written only as text is opioid maintenance
    Given a 44-year-old male patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active medication recorded only as text "Methadose 60 mg daily (clinic dosed)"
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop opioid_maintenance is listed
    And the explanation cites rule CONTRA-MAINT-02

  Scenario: Opioid dependence on agonist therapy on the problem list is a hard stop
    Given a 39-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And opioid dependence on agonist therapy (SNOMED-CT 1081000119105) diagnosed 2 years ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-MAINT-03

  Scenario: Opioid withdrawal is a hard stop
    Given a 39-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And opioid withdrawal syndrome (SNOMED-CT 87132004) diagnosed 3 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop opioid_withdrawal_or_positive_screen is listed
    And the explanation cites rule CONTRA-WITHDRAWAL-01

  Scenario: A positive opiate urine screen within 14 days is a hard stop
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And a positive opiate urine screen (LOINC 19295-5) 5 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-SCREEN-01

  Scenario: A positive opiate screen 30 days ago is lifted only by a later negative screen
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And a positive opiate urine screen (LOINC 19295-5) 30 days ago
    And a negative opiate urine screen (LOINC 19295-5) 28 days ago
    When the patient is assessed on 2026-03-01
    Then rule CONTRA-SCREEN-01 does not apply

  Scenario: A preliminary positive opiate screen waits for the final result
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And a preliminary positive opiate urine screen (LOINC 19295-5) 1 day ago
    When the patient is assessed on 2026-03-01
    Then criterion contraindication_screen_complete is unknown
    And the explanation cites rule CONTRA-SCREEN-02

  Scenario: A naltrexone allergy is a hard stop
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And an active allergy to naltrexone (RxNorm 7243)
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop naltrexone_hypersensitivity is listed
    And the explanation cites rule CONTRA-ALLERGY-01

  Scenario: A naltrexone allergy written as text is a hard stop
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And an active allergy recorded only as text "Naltrexone - hives"
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-ALLERGY-02

  Scenario: A Narcan allergy written as text is a hard stop like a naltrexone allergy
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And an active allergy recorded only as text "Narcan (anaphylaxis)"
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop naltrexone_hypersensitivity is listed
    And the explanation cites rule CONTRA-ALLERGY-02

  Scenario: Acute liver failure is a hard stop
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And acute hepatic failure (ICD-10-CM K72.00) diagnosed 10 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop acute_hepatitis_liver_failure is listed
    And the explanation cites rule CONTRA-LIVER-01

  Scenario: Documented long-term opioid use is a hard stop
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And long term current use of opiate analgesic (ICD-10-CM Z79.891) diagnosed 2 years ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-LTOU-01

  Scenario: Without the medication list opioid use cannot be excluded
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And the medication list is not available
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion contraindication_screen_complete is unknown
    And the explanation cites rule CHECK-MEDS-MISSING-01

  Scenario: Without the allergy list a naltrexone allergy cannot be excluded
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And the allergy list is not available
    When the patient is assessed on 2026-03-01
    Then criterion contraindication_screen_complete is unknown
    And the explanation cites rule CHECK-ALLERGIES-MISSING-01

  Scenario: An incomplete medication list cannot show that there are no opioids
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And the medication list is incomplete
    When the patient is assessed on 2026-03-01
    Then criterion contraindication_screen_complete is unknown
    And the explanation cites rule CHECK-MEDS-INCOMPLETE-01

  Scenario: An incomplete problem list or allergy list cannot show that there is no hard stop
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    And the condition list is incomplete
    And the allergy list is incomplete
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion contraindication_screen_complete is unknown
    And the explanation cites rule CHECK-CONDITIONS-INCOMPLETE-01
    And the explanation cites rule CHECK-ALLERGIES-INCOMPLETE-01

  Scenario: A current medication that cannot be identified blocks a recommendation
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    And an active medication that cannot be identified
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion contraindication_screen_complete is unknown
    And the explanation cites rule CHECK-MED-UNIDENTIFIED-01

  Scenario: An opioid of unknown status may be current
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And an oxycodone hydrochloride 5 MG Oral Tablet prescription (RxNorm 1049621) with unknown status
    When the patient is assessed on 2026-03-01
    Then criterion contraindication_screen_complete is unknown
    And the explanation cites rule CHECK-OPIOID-STATUS-01
    And the explanation cites rule CHECK-OPIOID-STATUS-02

  Scenario: A hard stop wins even when other information is missing
    Given a patient with no recorded birth date
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 1 month ago
    And an active oxycodone hydrochloride 5 MG Oral Tablet prescription (RxNorm 1049621) started 2 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And criterion pain_duration is not_met
    And criterion adult is unknown
    And the explanation cites rule DEC-CONTRA-01

  Scenario: Results sent in part, with a record that could not be read, block a recommendation
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    And the observation list is incomplete
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion contraindication_screen_complete is unknown
    And the explanation cites rule CHECK-RESULTS-INCOMPLETE-01
    And rule CHECK-RESULTS-MISSING-01 does not apply

  Scenario: Without results the assessment says what could not be checked
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    And the observation list is not available
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And the explanation cites rule CHECK-RESULTS-MISSING-01
    And a note says "opiate screen"
