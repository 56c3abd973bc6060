Feature: A positive opiate screen blocks until a later negative screen
  Time alone does not lift a positive opiate screen; a negative screen dated on a later day does. A
  screen whose result could not be read is never taken as negative.

  Background:
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago

  Scenario: A positive opiate screen 60 days ago with no later screen still blocks
    Given a positive opiate urine screen (LOINC 19295-5) 60 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-SCREEN-01
    And what would change the decision mentions "negative opiate urine screen dated after"

  Scenario: A negative screen 2 days after a positive one lifts the hard stop
    Given a positive opiate urine screen (LOINC 19295-5) 10 days ago
    And a negative opiate urine screen (LOINC 19295-5) 8 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And rule CONTRA-SCREEN-01 does not apply

  Scenario: A negative screen on the same day as the positive one does not lift it
    Given a positive opiate urine screen (LOINC 19295-5) 10 days ago
    And a negative opiate urine screen (LOINC 19295-5) 10 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-SCREEN-01

  Scenario: A negative screen before the positive one does not lift it
    Given a negative opiate urine screen (LOINC 19295-5) 20 days ago
    And a positive opiate urine screen (LOINC 19295-5) 10 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated

  Scenario: An opiate screen whose result could not be read leaves the screen unknown
    Given a final opiate urine screen (LOINC 19295-5) 5 days ago whose result could not be read
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And the explanation cites rule CHECK-SCREEN-UNREAD-01
    And it names "opiate urine screen"

  Scenario: A later negative screen settles an unreadable one
    Given a final opiate urine screen (LOINC 19295-5) 5 days ago whose result could not be read
    And a negative opiate urine screen (LOINC 19295-5) 2 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And rule CHECK-SCREEN-UNREAD-01 does not apply

  Scenario: A positive opiate screen with no date is never ignored
    Given a positive opiate urine screen (LOINC 19295-5) with no date
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And the explanation cites rule CHECK-SCREEN-UNDATED-01
