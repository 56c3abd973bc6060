Feature: Only a lumbar, sacral or caudal epidural steroid injection counts for lumbar radiculopathy
  An epidural injection treats the spinal level it is given at. For a lumbar radiculopathy only a
  lumbar, sacral or caudal injection is standard care tried; a neck or mid-back injection is not.

  Scenario: A cervical epidural injection does not count for a lumbar radiculopathy
    Given a 45-year-old male patient
    And lumbar radiculopathy (ICD-10-CM M54.16) diagnosed 8 months ago
    And physical therapy evaluation (CPT 97161) done 6 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 7 months ago until 5 months ago
    And gabapentin (RxNorm 25480) taken from 6 months ago until 2 months ago
    And a cervical interlaminar epidural injection (CPT 62321) done 3 months ago
    And a thoracic transforaminal epidural injection (CPT 64479) done 2 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_epidural_steroid_injection is unknown
    And the missing information includes failed_epidural_steroid_injection
    And rule ELIG-ESI-01 does not apply
    And the explanation cites rule ELIG-ESI-NOTE-02
    And a note says "does not count as an epidural steroid injection for lumbar radiculopathy"

  Scenario: A caudal (lumbar or sacral interlaminar) epidural injection counts
    Given a 45-year-old male patient
    And lumbar radiculopathy (ICD-10-CM M54.16) diagnosed 8 months ago
    And physical therapy evaluation (CPT 97161) done 6 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 7 months ago until 5 months ago
    And gabapentin (RxNorm 25480) taken from 6 months ago until 2 months ago
    And a caudal epidural injection with imaging guidance (CPT 62323) done 3 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And criterion failed_epidural_steroid_injection is met
    And the explanation cites rule ELIG-ESI-01
