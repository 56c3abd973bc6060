Feature: Every threshold, on each side of it
  Each threshold in the rules is pinned by a scenario on each side (and on it), so moving a
  number in one place without the others shows up here: pain for more than 90 days, the 7-day
  short-acting opioid washout, and the 6 and 10 mg a day naltrexone dose limits.

  Background:
    Given a 52-year-old female patient
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago

  Scenario: Fibromyalgia for 89 days is not yet chronic pain
    Given fibromyalgia (ICD-10-CM M79.7) diagnosed 89 days ago
    When the patient is assessed on 2026-03-01
    Then criterion pain_duration is not_met
    And the explanation cites rule ELIG-DUR-02
    And rule ELIG-DUR-01 does not apply

  Scenario: Fibromyalgia for exactly 90 days is not yet chronic pain
    Given fibromyalgia (ICD-10-CM M79.7) diagnosed 90 days ago
    When the patient is assessed on 2026-03-01
    Then criterion pain_duration is not_met
    And the explanation cites rule ELIG-DUR-02
    And rule ELIG-DUR-01 does not apply

  Scenario: Fibromyalgia for 91 days is chronic pain
    Given fibromyalgia (ICD-10-CM M79.7) diagnosed 91 days ago
    When the patient is assessed on 2026-03-01
    Then criterion pain_duration is met
    And the explanation cites rule ELIG-DUR-01
    And rule ELIG-DUR-02 does not apply
    And the decision is candidate

  Scenario: Tramadol that ended 6 days ago is still inside its 7-day washout
    Given fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And tramadol hydrochloride 50 MG Oral Tablet (RxNorm 835603) taken from 40 days ago until 6 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-OPIOID-WASHOUT-01
    And the earliest start date is 2026-03-02

  Scenario: Tramadol that ended exactly 7 days ago has completed its washout
    Given fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And tramadol hydrochloride 50 MG Oral Tablet (RxNorm 835603) taken from 40 days ago until 7 days ago
    When the patient is assessed on 2026-03-01
    Then rule CONTRA-OPIOID-WASHOUT-01 does not apply
    And the decision is candidate

  Scenario: Tramadol that ended 8 days ago has completed its washout
    Given fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And tramadol hydrochloride 50 MG Oral Tablet (RxNorm 835603) taken from 40 days ago until 8 days ago
    When the patient is assessed on 2026-03-01
    Then rule CONTRA-OPIOID-WASHOUT-01 does not apply
    And the decision is candidate

  Scenario: Naltrexone at 6 mg a day is low-dose naltrexone inside the studied range
    Given fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And an active naltrexone prescription (RxNorm 7243) at 6 mg a day started 1 month ago
    When the patient is assessed on 2026-03-01
    Then the decision is on_therapy
    And the explanation cites rule THER-LDN-01
    And rule CAUT-DOSE-01 does not apply

  Scenario: Naltrexone at 6.5 mg a day is above the studied range
    Given fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And an active naltrexone prescription (RxNorm 7243) at 6.5 mg a day started 1 month ago
    When the patient is assessed on 2026-03-01
    Then the decision is on_therapy
    And the explanation cites rule THER-LDN-01
    And the explanation cites rule CAUT-DOSE-01

  Scenario: Naltrexone at 10 mg a day is still low-dose naltrexone
    Given fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And an active naltrexone prescription (RxNorm 7243) at 10 mg a day started 1 month ago
    When the patient is assessed on 2026-03-01
    Then the decision is on_therapy
    And the explanation cites rule THER-LDN-01
    And rule THER-FULLDOSE-01 does not apply

  Scenario: Naltrexone at 10.5 mg a day is full-dose naltrexone
    Given fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And an active naltrexone prescription (RxNorm 7243) at 10.5 mg a day started 1 month ago
    When the patient is assessed on 2026-03-01
    Then the explanation cites rule THER-FULLDOSE-01
    And rule THER-LDN-01 does not apply
