Feature: On LDN: drafted opioids and status-less withdrawal records are not missed

  Scenario: An opioid being drafted for a patient on LDN raises a critical alert
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And a draft oxycodone hydrochloride 5 MG Oral Tablet order (RxNorm 1049621)
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And a critical alert is raised
    And the explanation cites rule THER-OPIOID-03

  Scenario: Opioid withdrawal from an emergency visit, recorded without a status, on LDN means stop now
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And opioid withdrawal syndrome (SNOMED-CT 87132004) recorded 3 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then adverse effect opioid_withdrawal is listed with the action "Stop LDN now"
    And the explanation cites rule AE-WITHDRAWAL-02
