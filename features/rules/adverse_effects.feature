Feature: Adverse effects on low-dose naltrexone
  Each adverse effect recorded while on LDN maps to an action with its reason; a serious one
  (signs of opioid withdrawal, liver injury) means stop and review.

  Background:
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 8 weeks ago

  Scenario: Vivid dreams: move the dose to the morning
    Given nightmare disorder (ICD-10-CM F51.5) diagnosed 5 weeks ago
    When the patient is assessed on 2026-03-01
    Then adverse effect vivid_dreams is listed with the action "morning"
    And the explanation cites rule AE-DREAMS-01

  Scenario: Vivid dreams and nausea reported as symptoms
    Given a nightmares symptom (SNOMED-CT 52464009) observed 2 weeks ago
    And a nausea symptom (SNOMED-CT 422587007) observed 2 weeks ago
    When the patient is assessed on 2026-03-01
    Then adverse effect vivid_dreams is listed with the action "morning"
    And adverse effect gi_upset is listed with the action "with food"
    And the explanation cites rule AE-DREAMS-02
    And the explanation cites rule AE-GI-02

  Scenario: Insomnia: move the dose to the morning
    Given insomnia (SNOMED-CT 193462001) diagnosed 4 weeks ago
    When the patient is assessed on 2026-03-01
    Then adverse effect insomnia is listed with the action "morning"
    And the explanation cites rule AE-INSOMNIA-01

  Scenario: Headache: step back for 1-2 weeks
    Given headache (SNOMED-CT 25064002) diagnosed 6 weeks ago
    When the patient is assessed on 2026-03-01
    Then adverse effect headache is listed with the action "step back 1.5 mg"
    And the explanation cites rule AE-HEADACHE-01

  Scenario: Nausea: take with food or slow the titration
    Given nausea (SNOMED-CT 422587007) diagnosed 6 weeks ago
    When the patient is assessed on 2026-03-01
    Then adverse effect gi_upset is listed with the action "with food"
    And the explanation cites rule AE-GI-01

  Scenario: Dizziness: check blood pressure and falls risk
    Given dizziness (SNOMED-CT 404640003) diagnosed 3 weeks ago
    When the patient is assessed on 2026-03-01
    Then adverse effect dizziness is listed with the action "falls risk"
    And the explanation cites rule AE-DIZZINESS-01

  Scenario: Dry mouth: usually mild
    Given dry mouth (SNOMED-CT 87715008) diagnosed 3 weeks ago
    When the patient is assessed on 2026-03-01
    Then adverse effect dry_mouth is listed with the action "fluids"
    And the explanation cites rule AE-DRY-MOUTH-01

  Scenario: Opioid withdrawal on LDN: stop and look for a hidden opioid
    Given opioid withdrawal syndrome (SNOMED-CT 87132004) diagnosed 2 days ago
    When the patient is assessed on 2026-03-01
    Then adverse effect opioid_withdrawal is listed with the action "stop LDN"
    And the decision is contraindicated
    And the explanation cites rule AE-WITHDRAWAL-01

  Scenario: ALT above 3 times normal on LDN: stop and review
    Given an ALT (LOINC 1742-6) of 160 measured 3 days ago
    When the patient is assessed on 2026-03-01
    Then adverse effect liver_injury is listed with the action "stop LDN"
    And the explanation cites rule AE-LIVER-01

  Scenario: Drug-induced liver injury on LDN: stop and review
    Given toxic liver disease (ICD-10-CM K71.9) diagnosed 1 week ago
    When the patient is assessed on 2026-03-01
    Then adverse effect liver_injury is listed with the action "stop LDN"
    And the explanation cites rule AE-LIVER-02
