Feature: Opioid use disorder: active is a hard stop, remission a caution, no status asks
  Active opioid use disorder without treatment implies current, possibly illicit, opioid use. Only
  a disorder coded or recorded as in remission is the caution; when the record does not say, the
  clinician is asked (and a recent status-less diagnosis blocks).

  Background:
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago

  Scenario: Active opioid dependence is a hard stop, not a caution
    Given opioid dependence, uncomplicated (ICD-10-CM F11.20) diagnosed 2 years ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop active_opioid_use_disorder is listed
    And the explanation cites rule CONTRA-OUD-01
    And rule CAUT-OUD-01 does not apply

  Scenario: Opioid dependence with intoxication is active use, never "history"
    Given opioid dependence with intoxication, uncomplicated (ICD-10-CM F11.220) diagnosed 3 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop active_opioid_use_disorder is listed
    And the answer does not say "(history)"

  Scenario: Opioid dependence coded in remission is a caution
    Given opioid dependence, in remission (ICD-10-CM F11.21) diagnosed 4 years ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And caution oud_in_remission is listed
    And the explanation cites rule CAUT-OUD-01
    And the answer does not say "(history)"

  Scenario: Opioid dependence whose clinical status is remission is a caution
    Given opioid dependence, uncomplicated (ICD-10-CM F11.20) with clinical status remission, diagnosed 4 years ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And caution oud_in_remission is listed
    And the explanation cites rule CAUT-OUD-02
    And rule CONTRA-OUD-01 does not apply

  Scenario: Opioid dependence recorded 30 days ago without a status blocks
    Given opioid dependence, uncomplicated (ICD-10-CM F11.20) recorded 30 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-OUD-02
    And the explanation cites rule CHECK-OUD-STATUS-01

  Scenario: Opioid dependence recorded 200 days ago without a status asks the clinician
    Given opioid dependence, uncomplicated (ICD-10-CM F11.20) recorded 200 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And rule CONTRA-OUD-02 does not apply
    And the explanation cites rule CHECK-OUD-STATUS-01
    And what would change the decision mentions "active or in remission"
