Feature: Real EHR codes: products, laboratory result strings and brand names
  Electronic records code prescriptions at the product level ("duloxetine 60 MG Delayed Release
  Oral Capsule"), send urine drug tests as the laboratory wrote them ("Presumptive positive", an
  HL7 flag), and sometimes hold a medication as its brand name only. Each must count exactly as
  the ingredient would.

  Background:
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago

  Scenario: Product-coded NSAID and duloxetine prescriptions count as failed trials
    Given ibuprofen 800 MG Oral Tablet (RxNorm 197807) taken from 20 months ago until 17 months ago
    And duloxetine 60 MG Delayed Release Oral Capsule (RxNorm 596934) taken from 18 months ago until 9 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And criterion failed_anti_inflammatory is met
    And criterion failed_neuropathic_agent is met
    And the explanation cites rule ELIG-NSAID-01
    And the explanation cites rule ELIG-NEURO-01

  Scenario: A topical diclofenac gel is not an anti-inflammatory trial
    Given diclofenac sodium 0.01 MG/MG Topical Gel (RxNorm 855633) taken from 20 months ago until 17 months ago
    And duloxetine 60 MG Delayed Release Oral Capsule (RxNorm 596934) taken from 18 months ago until 9 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_anti_inflammatory is unknown

  Scenario: A product-coded levothyroxine prescription is a thyroid caution
    Given ibuprofen 800 MG Oral Tablet (RxNorm 197807) taken from 20 months ago until 17 months ago
    And duloxetine 60 MG Delayed Release Oral Capsule (RxNorm 596934) taken from 18 months ago until 9 months ago
    And an active levothyroxine sodium 0.075 MG Oral Tablet prescription (RxNorm 966222) started 3 years ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And caution thyroid_autoimmune_on_replacement is listed
    And the explanation cites rule CAUT-THYROID-02

  Scenario: A positive fentanyl urine screen, as the laboratory wrote it, is a hard stop
    Given ibuprofen 800 MG Oral Tablet (RxNorm 197807) taken from 20 months ago until 17 months ago
    And duloxetine 60 MG Delayed Release Oral Capsule (RxNorm 596934) taken from 18 months ago until 9 months ago
    And a fentanyl and norfentanyl urine screen (LOINC 58379-9) reported as "Presumptive positive" 3 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop opioid_withdrawal_or_positive_screen is listed
    And the explanation cites rule CONTRA-SCREEN-01

  Scenario: A urine oxycodone test flagged positive in the HL7 v2 table is a hard stop
    Given ibuprofen 800 MG Oral Tablet (RxNorm 197807) taken from 20 months ago until 17 months ago
    And duloxetine 60 MG Delayed Release Oral Capsule (RxNorm 596934) taken from 18 months ago until 9 months ago
    And an oxycodone urine screen (LOINC 19642-8) flagged POS in the HL7 v2 table 0078 5 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-SCREEN-01

  Scenario: An opioid brand name written only as text blocks
    Given ibuprofen 800 MG Oral Tablet (RxNorm 197807) taken from 20 months ago until 17 months ago
    And duloxetine 60 MG Delayed Release Oral Capsule (RxNorm 596934) taken from 18 months ago until 9 months ago
    And an active medication recorded only as text "Norco 10/325 every 6 hours as needed"
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop current_opioid_agonist is listed
    And the explanation cites rule CONTRA-OPIOID-02
    And it names "Norco"

  Scenario: Kratom written only as text blocks
    Given ibuprofen 800 MG Oral Tablet (RxNorm 197807) taken from 20 months ago until 17 months ago
    And duloxetine 60 MG Delayed Release Oral Capsule (RxNorm 596934) taken from 18 months ago until 9 months ago
    And an active medication recorded only as text "kratom powder daily"
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-OPIOID-02
