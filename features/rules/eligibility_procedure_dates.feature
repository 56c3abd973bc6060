Feature: Physical therapy and injections dated only in part, or not at all
  EHRs send a procedure dated only by its year, or with no date. A procedure on record is never
  "none recorded": when its date cannot show that a course has run (physical therapy begun 6 weeks
  ago) or that an injection came before today, the criterion is unknown and the date is asked for.

  Scenario: Physical therapy dated only by this year cannot show a course begun 6 weeks ago
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done, dated only by the year 2026
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_physical_therapy is unknown
    And the explanation cites rule ELIG-PT-03

  Scenario: Physical therapy dated only by last year began at least 2 months ago
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done, dated only by the year 2025
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And criterion failed_physical_therapy is met
    And rule ELIG-PT-03 does not apply

  Scenario: Physical therapy with no date is asked about, not taken as none
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done, with no date
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_physical_therapy is unknown
    And the explanation cites rule ELIG-PT-04

  Scenario: A lumbar injection dated only by this year may not have happened yet
    Given a 45-year-old male patient
    And lumbar radiculopathy (ICD-10-CM M54.16) diagnosed 8 months ago
    And physical therapy evaluation (CPT 97161) done 6 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 7 months ago until 5 months ago
    And gabapentin (RxNorm 25480) taken from 6 months ago until 2 months ago
    And a transforaminal lumbar epidural injection (CPT 64483) done, dated only by the year 2026
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_epidural_steroid_injection is unknown
    And the explanation cites rule ELIG-ESI-02

  Scenario: A lumbar injection dated only by last year came before today
    Given a 45-year-old male patient
    And lumbar radiculopathy (ICD-10-CM M54.16) diagnosed 8 months ago
    And physical therapy evaluation (CPT 97161) done 6 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 7 months ago until 5 months ago
    And gabapentin (RxNorm 25480) taken from 6 months ago until 2 months ago
    And a transforaminal lumbar epidural injection (CPT 64483) done, dated only by the year 2025
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And criterion failed_epidural_steroid_injection is met
    And rule ELIG-ESI-02 does not apply

  Scenario: A lumbar injection with no date is asked about, not taken as none
    Given a 45-year-old male patient
    And lumbar radiculopathy (ICD-10-CM M54.16) diagnosed 8 months ago
    And physical therapy evaluation (CPT 97161) done 6 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 7 months ago until 5 months ago
    And gabapentin (RxNorm 25480) taken from 6 months ago until 2 months ago
    And a transforaminal lumbar epidural injection (CPT 64483) done, with no date
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_epidural_steroid_injection is unknown
    And the explanation cites rule ELIG-ESI-03
