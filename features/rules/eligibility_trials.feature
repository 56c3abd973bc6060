Feature: A failed trial needs an adequate trial
  Standard care must have been tried and have failed before LDN. A prescription written yesterday
  is not a failed trial. A trial counts when the drug has been taken long enough (NSAID 3 weeks,
  neuropathic agent 6 weeks), or was stopped after at least a minimal trial (NSAID 1 week,
  neuropathic agent 2 weeks), or was not tolerated. Physical therapy counts once it began at least
  6 weeks ago. Anything shorter, or of unknown length, is asked about, never counted.

  Scenario: A gabapentin prescription written yesterday is not a failed trial
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And an active gabapentin prescription (RxNorm 25480) started 1 day ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_neuropathic_agent is unknown
    And the missing information includes failed_neuropathic_agent
    And rule ELIG-NEURO-01 does not apply
    And the explanation cites rule ELIG-NEURO-03
    And what would change the decision mentions "has been taken for 6 weeks"

  Scenario: A neuropathic agent stopped after a few days without a recorded reason is asked about
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And pregabalin (RxNorm 187832) taken from 30 days ago until 25 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_neuropathic_agent is unknown
    And the explanation cites rule ELIG-NEURO-04
    And what would change the decision mentions "an intolerance counts as a failed trial"

  Scenario: A neuropathic agent that was not tolerated is a failed trial, however short
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And pregabalin (RxNorm 187832) taken from 30 days ago until 25 days ago
    And an intolerance to pregabalin (RxNorm 187832) is recorded
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And criterion failed_neuropathic_agent is met
    And the explanation cites rule ELIG-NEURO-06

  Scenario: A stopped neuropathic agent with no stop date is a trial of unknown length
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) started 10 months ago and stopped, end date not recorded
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_neuropathic_agent is unknown
    And the explanation cites rule ELIG-NEURO-05
    And what would change the decision mentions "was started and stopped"

  Scenario: An NSAID started last week is not a failed trial
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And an active ibuprofen 400 mg tablet prescription (RxNorm 206905) started 7 days ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_anti_inflammatory is unknown
    And the explanation cites rule ELIG-NSAID-07

  Scenario: An NSAID stopped after 3 days without a recorded reason is asked about
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 40 days ago until 37 days ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_anti_inflammatory is unknown
    And the explanation cites rule ELIG-NSAID-08

  Scenario: An NSAID not tolerated is a failed trial
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 40 days ago until 37 days ago
    And an intolerance to ibuprofen (RxNorm 5640) is recorded
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And criterion failed_anti_inflammatory is met
    And the explanation cites rule ELIG-NSAID-04

  Scenario: A stopped NSAID with no stop date is a trial of unknown length
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) started 6 months ago and stopped, end date not recorded
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_anti_inflammatory is unknown
    And the explanation cites rule ELIG-NSAID-09

  Scenario: An earlier adequate trial still counts beside a new short one
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And physical therapy (CPT 97110) done 10 days ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    And an active gabapentin prescription (RxNorm 25480) started 3 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And criterion failed_neuropathic_agent is met
    And criterion failed_physical_therapy is met
    And the explanation cites rule ELIG-NEURO-01
    And the explanation cites rule ELIG-NEURO-03
    And the explanation cites rule ELIG-PT-01
    And the explanation cites rule ELIG-PT-02
