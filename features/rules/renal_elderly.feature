Feature: Severe kidney disease in an older patient
  Severe kidney disease makes NSAIDs contraindicated (so no NSAID trial is required), is a
  caution of its own, and asks to start low; age 65 or over is a note, not a caution.

  Scenario: A 72-year-old with fibromyalgia and CKD stage 4 who never took an NSAID
    Given a 72-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And chronic kidney disease stage 4 (SNOMED-CT 431857002) diagnosed 4 years ago
    And an eGFR CKD-EPI 2021 (LOINC 98979-8) of 24 mL/min/1.73m2 measured 6 weeks ago
    And physical therapy (CPT 97110) done 12 months ago
    And pregabalin (RxNorm 187832) taken from 2 years ago until 18 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And criterion failed_anti_inflammatory is met
    And caution severe_renal_impairment is listed
    And the explanation cites rule ELIG-NSAID-03
    And the explanation cites rule CAUT-RENAL-01
    And the explanation cites rule CAUT-RENAL-03
    And the explanation cites rule DOSE-START-LOW-AGE-01
    And the explanation cites rule DOSE-START-LOW-RENAL-01
    And the explanation cites rule MON-RENAL-01
    And the plan notes "0.5-1 mg"

  Scenario: A patient who may be 65 (birth date recorded only as a year) is told to consider a lower start
    Given a female patient whose birth date is recorded only as 1961
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And pregabalin (RxNorm 187832) taken from 2 years ago until 18 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And the explanation cites rule DOSE-START-LOW-AGE-01
    And the plan notes "0.5-1 mg"

  Scenario: A 64-year-old gets the usual start
    Given a 64-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And pregabalin (RxNorm 187832) taken from 2 years ago until 18 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And rule DOSE-START-LOW-AGE-01 does not apply
