Feature: Qualifying diagnoses as EHRs code them
  Lumbar radiculopathy is also coded as spondylosis or a disc disorder "with radiculopathy"; an
  unspecified radiculopathy with low-back pain is a lumbar one; chronic axial low-back pain coded
  as low-back pain plus G89.29 is a specific, recorded, non-qualifying diagnosis. A diagnosis with
  no clinical status (an encounter diagnosis) never qualifies a patient.

  Scenario: Lumbar spondylosis with radiculopathy qualifies
    Given a 58-year-old male patient
    And spondylosis with radiculopathy, lumbar region (ICD-10-CM M47.26) diagnosed 14 months ago
    And physical therapy evaluation (CPT 97161) done 12 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 11 months ago until 9 months ago
    And gabapentin (RxNorm 25480) taken from 9 months ago until 5 months ago
    And a transforaminal lumbar epidural injection (CPT 64483) done 3 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And criterion qualifying_diagnosis is met
    And criterion pain_duration is met
    And the explanation cites rule ELIG-DX-RAD-01

  Scenario: Lumbosacral spondylosis with radiculopathy qualifies and needs a lumbar injection
    Given a 58-year-old male patient
    And spondylosis with radiculopathy, lumbosacral region (ICD-10-CM M47.27) diagnosed 14 months ago
    When the patient is assessed on 2026-03-01
    Then criterion qualifying_diagnosis is met
    And criterion failed_epidural_steroid_injection is unknown
    And the explanation cites rule ELIG-DX-RAD-01

  Scenario: A lumbosacral disc disorder with radiculopathy qualifies
    Given a 49-year-old female patient
    And intervertebral disc disorder with radiculopathy, lumbosacral region (ICD-10-CM M51.17) diagnosed 10 months ago
    When the patient is assessed on 2026-03-01
    Then criterion qualifying_diagnosis is met
    And the explanation cites rule ELIG-DX-RAD-01

  Scenario: Radiculopathy of unspecified site with low-back pain is not axial low-back pain
    Given a 49-year-old female patient
    And radiculopathy, site unspecified (ICD-10-CM M54.10) diagnosed 10 months ago
    And low back pain, unspecified (ICD-10-CM M54.50) diagnosed 2 years ago
    And physical therapy evaluation (CPT 97161) done 8 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 7 months ago until 5 months ago
    And gabapentin (RxNorm 25480) taken from 6 months ago until 2 months ago
    And a transforaminal lumbar epidural injection (CPT 64483) done 3 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And criterion qualifying_diagnosis is met
    And the explanation cites rule ELIG-DX-RAD-02

  Scenario: Chronic axial low-back pain coded as M54.50 with G89.29 is not a candidate, not a question
    Given a 47-year-old female patient
    And low back pain, unspecified (ICD-10-CM M54.50) diagnosed 3 years ago
    And other chronic pain (ICD-10-CM G89.29) diagnosed 3 years ago
    And physical therapy (CPT 97110) done 12 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is not_candidate
    And criterion qualifying_diagnosis is not_met
    And the explanation cites rule ELIG-DX-LBP-01
    And the explanation cites rule ELIG-DX-GENERIC-01
    And what would change the decision mentions "axial low-back pain alone does not qualify"

  Scenario: Low-back pain beside a problem list read only in part leaves the diagnosis unknown
    Given a 47-year-old female patient
    And low back pain, unspecified (ICD-10-CM M54.50) diagnosed 3 years ago
    And physical therapy (CPT 97110) done 12 months ago
    And the condition list is incomplete
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion qualifying_diagnosis is unknown
    And the explanation cites rule ELIG-DX-INCOMPLETE-01
    And rule ELIG-DX-LBP-01 does not apply

  Scenario: A problem list read only in part never shows there is no qualifying diagnosis
    Given a 47-year-old female patient
    And physical therapy (CPT 97110) done 12 months ago
    And the condition list is incomplete
    When the patient is assessed on 2026-03-01
    Then criterion qualifying_diagnosis is unknown
    And the explanation cites rule ELIG-DX-INCOMPLETE-01

  Scenario: Fibromyalgia recorded only as an encounter diagnosis without a clinical status does not qualify
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) recorded as an encounter diagnosis 10 months ago with no clinical status
    And physical therapy (CPT 97110) done 8 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 8 months ago until 6 months ago
    And duloxetine (RxNorm 72625) taken from 7 months ago until 3 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion qualifying_diagnosis is unknown
    And the missing information includes qualifying_diagnosis
    And rule ELIG-DX-FM-01 does not apply
    And the explanation cites rule ELIG-DX-STATUS-01

  Scenario: An unspecified radiculopathy without a clinical status does not qualify with low-back pain
    Given a 49-year-old female patient
    And radiculopathy, site unspecified (ICD-10-CM M54.10) recorded as an encounter diagnosis 10 months ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion qualifying_diagnosis is unknown
    And the explanation cites rule ELIG-DX-STATUS-01
    And rule ELIG-DX-RAD-02 does not apply

  Scenario: Lumbosacral radiculopathy coded in SNOMED CT qualifies
    Given a 49-year-old female patient
    And lumbosacral radiculopathy (SNOMED-CT 2415007) diagnosed 10 months ago
    When the patient is assessed on 2026-03-01
    Then criterion qualifying_diagnosis is met
    And the explanation cites rule ELIG-DX-RAD-01

  Scenario: A provisional sciatica beside axial low-back pain is not counted, and the card says how to count it
    Given a 47-year-old female patient
    And low back pain, unspecified (ICD-10-CM M54.50) diagnosed 3 years ago
    And sciatica, left side (ICD-10-CM M54.32) diagnosed 5 months ago, provisional
    When the patient is assessed on 2026-03-01
    Then the decision is not_candidate
    And criterion qualifying_diagnosis is not_met
    And rule ELIG-DX-RAD-01 does not apply
    And the explanation cites rule ELIG-DX-POSSIBLE-01
    And the explanation cites rule ELIG-DX-LBP-01
    And what would change the decision mentions "a provisional entry or one without a clinical status does not count"
