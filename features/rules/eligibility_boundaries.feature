Feature: Eligibility thresholds, one scenario on each side
  Pain lasts "more than 3 months" when the qualifying diagnosis began more than 90 days before the
  evaluation date: day 91 is met, day 90 is not (the comparison is duration > 90 days). An NSAID
  counts after 21 days (or stopped after 7), a neuropathic agent after 42 days (or stopped after
  14), physical therapy once it began 42 days ago. An eGFR below 30 (29 yes, 30 no) in the last
  365 days makes NSAIDs contraindicated, so no NSAID trial is needed.

  # ------------------------------------------------------------------ pain duration
  Scenario: Fibromyalgia that began 91 days ago has lasted more than 3 months
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 91 days ago
    When the patient is assessed on 2026-03-01
    Then criterion pain_duration is met
    And the explanation cites rule ELIG-DUR-01
    And rule ELIG-DUR-02 does not apply

  Scenario: Fibromyalgia that began 90 days ago has not lasted more than 3 months
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 90 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is not_candidate
    And criterion pain_duration is not_met
    And the explanation cites rule ELIG-DUR-02
    And rule ELIG-DUR-01 does not apply

  Scenario: Fibromyalgia that began 89 days ago has not lasted more than 3 months
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 89 days ago
    When the patient is assessed on 2026-03-01
    Then criterion pain_duration is not_met
    And the explanation cites rule ELIG-DUR-02

  Scenario: A diagnosis first recorded 91 days ago, onset unknown, has lasted more than 3 months
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) with no onset date, first recorded 91 days ago
    When the patient is assessed on 2026-03-01
    Then criterion pain_duration is met
    And the explanation cites rule ELIG-DUR-01

  Scenario: A diagnosis first recorded 90 days ago, onset unknown, may be older: asked, not refused
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) with no onset date, first recorded 90 days ago
    When the patient is assessed on 2026-03-01
    Then criterion pain_duration is unknown
    And the explanation cites rule ELIG-DUR-03

  # ------------------------------------------------------------------ neuropathic agent
  Scenario: A neuropathic agent taken for 42 days is an adequate trial
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And an active duloxetine prescription (RxNorm 72625) started 42 days ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_neuropathic_agent is met
    And the explanation cites rule ELIG-NEURO-01
    And rule ELIG-NEURO-03 does not apply

  Scenario: A neuropathic agent taken for 41 days is not yet an adequate trial
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And an active duloxetine prescription (RxNorm 72625) started 41 days ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_neuropathic_agent is unknown
    And the explanation cites rule ELIG-NEURO-03
    And rule ELIG-NEURO-01 does not apply

  Scenario: A neuropathic agent stopped after 14 days is a minimal trial
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And gabapentin (RxNorm 25480) taken from 60 days ago until 46 days ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_neuropathic_agent is met
    And the explanation cites rule ELIG-NEURO-02
    And rule ELIG-NEURO-04 does not apply

  Scenario: A neuropathic agent stopped after 13 days is not a trial without a reason
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And gabapentin (RxNorm 25480) taken from 60 days ago until 47 days ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_neuropathic_agent is unknown
    And the explanation cites rule ELIG-NEURO-04
    And rule ELIG-NEURO-02 does not apply

  # ------------------------------------------------------------------ NSAID
  Scenario: An NSAID taken for 21 days is an adequate trial
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And an active ibuprofen 400 mg tablet prescription (RxNorm 206905) started 21 days ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_anti_inflammatory is met
    And the explanation cites rule ELIG-NSAID-01
    And rule ELIG-NSAID-07 does not apply

  Scenario: An NSAID taken for 20 days is not yet an adequate trial
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And an active ibuprofen 400 mg tablet prescription (RxNorm 206905) started 20 days ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_anti_inflammatory is unknown
    And the explanation cites rule ELIG-NSAID-07
    And rule ELIG-NSAID-01 does not apply

  Scenario: An NSAID stopped after 7 days is a minimal trial
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 40 days ago until 33 days ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_anti_inflammatory is met
    And the explanation cites rule ELIG-NSAID-06
    And rule ELIG-NSAID-08 does not apply

  Scenario: An NSAID stopped after 6 days is not a trial without a reason
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 40 days ago until 34 days ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_anti_inflammatory is unknown
    And the explanation cites rule ELIG-NSAID-08
    And rule ELIG-NSAID-06 does not apply

  # ------------------------------------------------------------------ physical therapy
  Scenario: Physical therapy that began 42 days ago counts as a course
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy evaluation (CPT 97161) done 42 days ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_physical_therapy is met
    And the explanation cites rule ELIG-PT-01
    And rule ELIG-PT-02 does not apply

  Scenario: Physical therapy that began 41 days ago may still be running
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy evaluation (CPT 97161) done 41 days ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_physical_therapy is unknown
    And the explanation cites rule ELIG-PT-02
    And rule ELIG-PT-01 does not apply
    And what would change the decision mentions "has run for 6 weeks"

  # ------------------------------------------------------------------ eGFR
  Scenario: An eGFR of 29 without a CKD code makes NSAIDs contraindicated, and the value is shown
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And physical therapy (CPT 97110) done 12 months ago
    And pregabalin (RxNorm 187832) taken from 12 months ago until 6 months ago
    And an eGFR (LOINC 62238-1) of 29 mL/min/1.73m2 measured 20 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And criterion failed_anti_inflammatory is met
    And criterion failed_anti_inflammatory is decided from "29"
    And the explanation cites rule ELIG-NSAID-05
    And caution severe_renal_impairment is listed

  Scenario: An eGFR of 30 does not make NSAIDs contraindicated
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And physical therapy (CPT 97110) done 12 months ago
    And pregabalin (RxNorm 187832) taken from 12 months ago until 6 months ago
    And an eGFR (LOINC 62238-1) of 30 mL/min/1.73m2 measured 20 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_anti_inflammatory is unknown
    And rule ELIG-NSAID-05 does not apply

  Scenario: An eGFR of 24 measured 365 days ago still counts
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an eGFR (LOINC 62238-1) of 24 mL/min/1.73m2 measured 365 days ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_anti_inflammatory is met
    And the explanation cites rule ELIG-NSAID-05

  Scenario: An eGFR of 24 measured 366 days ago is too old to decide on
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an eGFR (LOINC 62238-1) of 24 mL/min/1.73m2 measured 366 days ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_anti_inflammatory is unknown
    And rule ELIG-NSAID-05 does not apply

  # Labs report eGFR as a bound ("<15", ">60"), in SI units (mL/s) or without a unit.
  Scenario: An eGFR reported as "<15" is below 30: the renal caution, but no NSAID criterion from a bound
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an eGFR (LOINC 62238-1) of <15 mL/min/1.73m2 measured 20 days ago
    When the patient is assessed on 2026-03-01
    Then caution severe_renal_impairment is listed
    And the explanation cites rule CAUT-RENAL-03
    And rule ELIG-NSAID-05 does not apply

  Scenario: An eGFR reported as ">60" rules out severe renal impairment
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an eGFR (LOINC 62238-1) of >60 mL/min/1.73m2 measured 20 days ago
    When the patient is assessed on 2026-03-01
    Then caution severe_renal_impairment is not listed

  Scenario: An eGFR reported only as "<60" may be below 30
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an eGFR (LOINC 62238-1) of <60 mL/min/1.73m2 measured 20 days ago
    When the patient is assessed on 2026-03-01
    Then caution severe_renal_impairment is listed
    And the explanation cites rule CAUT-RENAL-EGFR-UNKNOWN-02

  Scenario: An eGFR reported only as ">20" may be below 30
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an eGFR (LOINC 62238-1) of >20 mL/min/1.73m2 measured 20 days ago
    When the patient is assessed on 2026-03-01
    Then caution severe_renal_impairment is listed
    And the explanation cites rule CAUT-RENAL-EGFR-UNKNOWN-03

  Scenario: An eGFR of 1.2 mL/s (72 mL/min) is not below 30 and meets no criterion
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an eGFR (LOINC 62238-1) of 1.2 mL/s/{1.73_m2} measured 20 days ago
    When the patient is assessed on 2026-03-01
    Then caution severe_renal_impairment is not listed
    And rule ELIG-NSAID-05 does not apply

  Scenario: An eGFR of 0.4 mL/s (24 mL/min) is below 30
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an eGFR (LOINC 62238-1) of 0.4 mL/s/{1.73_m2} measured 20 days ago
    When the patient is assessed on 2026-03-01
    Then caution severe_renal_impairment is listed
    And criterion failed_anti_inflammatory is met
    And the explanation cites rule ELIG-NSAID-05

  Scenario: A preliminary eGFR of 24, newer than any final one, cautions but meets no criterion
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And a preliminary eGFR (LOINC 62238-1) of 24 mL/min/1.73m2 measured 20 days ago
    When the patient is assessed on 2026-03-01
    Then caution severe_renal_impairment is listed
    And the explanation cites rule CAUT-RENAL-PRELIM-01
    And rule ELIG-NSAID-05 does not apply

  Scenario: A preliminary eGFR of 24 older than a final 45 does not caution
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And a preliminary eGFR (LOINC 62238-1) of 24 mL/min/1.73m2 measured 40 days ago
    And an eGFR (LOINC 62238-1) of 45 mL/min/1.73m2 measured 20 days ago
    When the patient is assessed on 2026-03-01
    Then caution severe_renal_impairment is not listed

  Scenario: A preliminary PHQ-9 of 14 is a depression caution
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And a preliminary PHQ-9 total score (LOINC 44261-6) of 14 measured 10 days ago
    When the patient is assessed on 2026-03-01
    Then caution depression_or_suicidality is listed
    And the explanation cites rule CAUT-DEPRESSION-PRELIM-01

  Scenario: A preliminary PHQ-9 of 9 is no depression caution
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And a preliminary PHQ-9 total score (LOINC 44261-6) of 9 measured 10 days ago
    When the patient is assessed on 2026-03-01
    Then caution depression_or_suicidality is not listed

  Scenario: An eGFR of 24 without a unit cautions, but does not meet the NSAID criterion
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an eGFR (LOINC 62238-1) of 24 measured 20 days ago
    When the patient is assessed on 2026-03-01
    Then caution severe_renal_impairment is listed
    And rule ELIG-NSAID-05 does not apply

  Scenario: A newer eGFR of 45 replaces an older one of 24
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an eGFR (LOINC 62238-1) of 24 mL/min/1.73m2 measured 200 days ago
    And an eGFR (LOINC 62238-1) of 45 mL/min/1.73m2 measured 20 days ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_anti_inflammatory is unknown
    And rule ELIG-NSAID-05 does not apply
