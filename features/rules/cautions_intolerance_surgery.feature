Feature: Naltrexone intolerance is a caution; planned surgery is recognised by CPT and SNOMED codes
  An intolerance (e.g. GI upset) is not a hypersensitivity: it is a caution unless recorded with high
  criticality. Any planned operation in the CPT surgery range (injections and nerve blocks left out)
  or a common SNOMED operation within 30 days raises the planned-surgery caution.

  Background:
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago

  Scenario: A naltrexone intolerance (GI upset) is a caution, not a hard stop
    Given an active intolerance to naltrexone (RxNorm 7243)
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And caution naltrexone_intolerance is listed
    And the explanation cites rule CAUT-INTOLERANCE-01
    And rule CONTRA-ALLERGY-01 does not apply

  Scenario: A naltrexone intolerance of high criticality is treated as a hypersensitivity
    Given an active intolerance to naltrexone (RxNorm 7243) of high criticality
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop naltrexone_hypersensitivity is listed
    And the explanation cites rule CONTRA-ALLERGY-03

  Scenario: A naltrexone intolerance written as text is a caution
    Given an active intolerance recorded only as text "naltrexone - nausea"
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And the explanation cites rule CAUT-INTOLERANCE-02

  Scenario: A naltrexone allergy with no type recorded is still a hard stop
    Given an active allergy to naltrexone (RxNorm 7243)
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-ALLERGY-01

  Scenario: A total knee replacement coded in CPT, planned in 14 days, is planned surgery
    Given total knee arthroplasty (CPT 27447) planned in 14 days
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And caution planned_surgery is listed
    And the explanation cites rule CAUT-SURGERY-01

  Scenario: A lumbar discectomy coded in CPT is planned surgery
    Given lumbar laminotomy with discectomy (CPT 63030) planned in 3 weeks
    When the patient is assessed on 2026-03-01
    Then caution planned_surgery is listed

  Scenario: A planned epidural steroid injection is not planned surgery
    Given transforaminal epidural injection, lumbar or sacral, single level (CPT 64483) planned in 14 days
    When the patient is assessed on 2026-03-01
    Then rule CAUT-SURGERY-01 does not apply

  Scenario: A scheduled caesarean section coded in SNOMED is planned surgery
    Given cesarean section (SNOMED-CT 11466000) planned in 10 days
    When the patient is assessed on 2026-03-01
    Then caution planned_surgery is listed
