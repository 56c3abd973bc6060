Feature: Diagnoses recorded without a clinical status may block or caution, never qualify
  Encounter diagnoses and billing-style records often carry no clinicalStatus. Recorded in the last
  90 days, such a diagnosis raises its hard stop or caution; older ones are not assumed current.

  Background:
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago

  Scenario: Long-term opioid use recorded 10 days ago without a status is a hard stop
    Given long-term current use of opiate analgesic (ICD-10-CM Z79.891) recorded 10 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop long_term_opioid_use is listed
    And the explanation cites rule CONTRA-LTOU-02

  Scenario: Long-term opioid use recorded 90 days ago without a status still blocks
    Given long-term current use of opiate analgesic (ICD-10-CM Z79.891) recorded 90 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-LTOU-02

  Scenario: Long-term opioid use recorded 91 days ago without a status is not assumed current
    Given long-term current use of opiate analgesic (ICD-10-CM Z79.891) recorded 91 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And rule CONTRA-LTOU-02 does not apply

  Scenario: Opioid dependence with withdrawal from an emergency visit 4 days ago is a hard stop
    Given opioid dependence with withdrawal (ICD-10-CM F11.23) recorded 4 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop opioid_withdrawal_or_positive_screen is listed
    And the explanation cites rule CONTRA-WITHDRAWAL-02
    And the explanation cites rule CONTRA-OUD-02

  Scenario: Opioid dependence on agonist therapy recorded without a status is a hard stop
    Given opioid dependence on agonist therapy (SNOMED-CT 1081000119105) recorded 40 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-MAINT-04

  Scenario: Acute hepatitis B recorded without a status is a hard stop
    Given acute hepatitis B without delta-agent and without hepatic coma (ICD-10-CM B16.9) recorded 20 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-LIVER-02

  Scenario: Alcoholic hepatic failure is acute hepatitis or liver failure
    Given alcoholic hepatic failure without coma (ICD-10-CM K70.40) diagnosed 2 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop acute_hepatitis_liver_failure is listed
    And the explanation cites rule CONTRA-LIVER-01

  Scenario: A pregnancy code from 20 days ago without a status is a caution
    Given pregnant state, incidental (ICD-10-CM Z33.1) recorded 20 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And caution pregnancy_or_breastfeeding is listed
    And the explanation cites rule CAUT-PREG-03

  Scenario: Chronic kidney disease stage 4 recorded without a status is a caution
    Given chronic kidney disease, stage 4 (ICD-10-CM N18.4) recorded 60 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then caution severe_renal_impairment is listed
    And the explanation cites rule CAUT-RENAL-04

  Scenario: Autoimmune thyroiditis recorded without a status is a caution
    Given autoimmune thyroiditis (ICD-10-CM E06.3) recorded 30 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then caution thyroid_autoimmune_on_replacement is listed
    And the explanation cites rule CAUT-THYROID-03

  Scenario: Depression recorded without a status is a caution
    Given major depressive disorder, single episode (ICD-10-CM F32.9) recorded 30 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then caution depression_or_suicidality is listed
    And the explanation cites rule CAUT-DEPRESSION-03

  Scenario: Suicidal ideation recorded without a status raises a same-day alert
    Given suicidal ideations (ICD-10-CM R45.851) recorded 5 days ago with no clinical status
    When the patient is assessed on 2026-03-01
    Then caution depression_or_suicidality is listed
    And a same-day safety alert is raised
    And the explanation cites rule CAUT-SUICIDE-03
