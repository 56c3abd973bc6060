Feature: Decision precedence
  contraindicated > not_candidate > insufficient_information > candidate_with_cautions > candidate

  Scenario: A criterion not met outweighs missing information
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 2 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is not_candidate
    And criterion failed_physical_therapy is unknown
    And the explanation cites rule DEC-NOT-01

  Scenario: Missing information outweighs cautions
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And major depressive disorder (SNOMED-CT 370143000) diagnosed 3 years ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And caution depression_or_suicidality is listed
    And the explanation cites rule DEC-INSUFF-01
    And no titration plan is given
