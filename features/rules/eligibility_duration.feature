Feature: Pain duration is the duration of the qualifying pain
  "More than 3 months" is judged on the fibromyalgia or the radicular pain itself. Radicular pain on
  top of chronic back pain is a new pain: a chronic low-back-pain or chronic-pain code does not make
  a recent sciatica chronic; it is shown as a note so the clinician sees why it did not count.

  Scenario: A 30-day-old sciatica on years of chronic low-back pain has not lasted more than 3 months
    Given a 50-year-old male patient
    And sciatica, left side (ICD-10-CM M54.32) diagnosed 30 days ago
    And chronic low back pain (SNOMED-CT 278860009) diagnosed 5 years ago
    And physical therapy (CPT 97110) done 12 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 2 years ago until 20 months ago
    And gabapentin (RxNorm 25480) taken from 18 months ago until 12 months ago
    And a transforaminal lumbar epidural injection (CPT 64483) done 20 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is not_candidate
    And criterion qualifying_diagnosis is met
    And criterion pain_duration is not_met
    And the explanation cites rule ELIG-DUR-02
    And the explanation cites rule ELIG-DUR-CHRONIC-01
    And a note says "does not say how long the fibromyalgia or radicular pain has lasted"
    And what would change the decision mentions "Reassess after the pain has lasted more than 3 months"

  Scenario: A sciatica of 6 months on chronic low-back pain has lasted more than 3 months
    Given a 50-year-old male patient
    And sciatica, left side (ICD-10-CM M54.32) diagnosed 6 months ago
    And chronic low back pain (SNOMED-CT 278860009) diagnosed 5 years ago
    When the patient is assessed on 2026-03-01
    Then criterion pain_duration is met
    And the explanation cites rule ELIG-DUR-01

  Scenario: A chronic-pain code does not stand in for an unknown onset of the qualifying diagnosis
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) with no onset date, first recorded 20 days ago
    And other chronic pain (ICD-10-CM G89.29) diagnosed 2 years ago
    When the patient is assessed on 2026-03-01
    Then criterion pain_duration is unknown
    And the explanation cites rule ELIG-DUR-03
    And the explanation cites rule ELIG-DUR-CHRONIC-01
