Feature: Cautions, start-low dosing and caution-specific monitoring
  A candidate with a caution becomes "candidate_with_cautions"; each caution brings its own
  reminder. Every scenario below is a patient who otherwise meets all criteria.

  Background:
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago

  Scenario: A pregnant patient needs a prescriber attestation
    Given pregnancy (SNOMED-CT 77386006) diagnosed 2 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And caution pregnancy_or_breastfeeding is listed
    And the explanation cites rule CAUT-PREG-01
    And the explanation cites rule MON-PREG-01
    And the explanation cites rule DEC-CAUTION-01
    And reminder pregnancy_attestation is due from 2026-02-15

  Scenario: A positive pregnancy test in the last 30 days is a caution
    Given a positive urine pregnancy test (LOINC 2106-3) 3 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And the explanation cites rule CAUT-PREG-02

  Scenario: Recent dialysis means severe renal impairment
    Given renal dialysis (SNOMED-CT 265764009) done 10 days ago
    When the patient is assessed on 2026-03-01
    Then caution severe_renal_impairment is listed
    And the explanation cites rule CAUT-RENAL-02

  Scenario: A kidney transplant on tacrolimus asks to inform the transplant team
    Given history of renal transplant (SNOMED-CT 161665007) diagnosed 5 years ago
    And transplant of kidney (SNOMED-CT 70536003) done 5 years ago
    And an active 24 HR tacrolimus 1 MG Extended Release Oral Tablet prescription (RxNorm 1664463) started 5 years ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And caution transplant_or_immunosuppressed is listed
    And the explanation cites rule CAUT-TRANSPLANT-01
    And the explanation cites rule CAUT-TRANSPLANT-02
    And the explanation cites rule CAUT-IMMUNO-01
    And the explanation cites rule MON-TRANSPLANT-01
    And it names "tacrolimus"

  Scenario: Hashimoto's thyroiditis on levothyroxine: start low and check TSH at week 4-6
    Given autoimmune thyroiditis (ICD-10-CM E06.3) diagnosed 7 years ago
    And an active levothyroxine prescription (RxNorm 10582) started 7 years ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And caution thyroid_autoimmune_on_replacement is listed
    And the explanation cites rule CAUT-THYROID-01
    And the explanation cites rule CAUT-THYROID-02
    And the explanation cites rule DOSE-START-LOW-THYROID-01
    And the explanation cites rule MON-THYROID-01
    And reminder tsh_week_4_6 is due from 2026-03-29

  Scenario: Depression asks for a PHQ-9 at each visit
    Given major depressive disorder (SNOMED-CT 370143000) diagnosed 3 years ago
    When the patient is assessed on 2026-03-01
    Then caution depression_or_suicidality is listed
    And the explanation cites rule CAUT-DEPRESSION-01
    And the explanation cites rule MON-DEPRESSION-01

  Scenario: A PHQ-9 score of 14 is a depression caution
    Given a PHQ-9 total score (LOINC 44261-6) of 14 measured 10 days ago
    When the patient is assessed on 2026-03-01
    Then caution depression_or_suicidality is listed
    And the explanation cites rule CAUT-DEPRESSION-02

  Scenario: Thoughts of self-harm on PHQ-9 item 9 raise a same-day safety alert
    Given a PHQ-9 item 9 answer (LOINC 44260-8) of 1 measured 2 days ago
    When the patient is assessed on 2026-03-01
    Then caution depression_or_suicidality is listed
    And a same-day safety alert is raised
    And the explanation cites rule CAUT-SUICIDE-01

  Scenario: Recorded suicidal ideation raises a same-day safety alert
    Given suicidal ideation (ICD-10-CM R45.851) diagnosed 1 week ago
    When the patient is assessed on 2026-03-01
    Then a same-day safety alert is raised
    And the explanation cites rule CAUT-SUICIDE-02

  Scenario: Planned surgery: hold LDN 72 hours before
    Given knee replacement surgery (SNOMED-CT 387713003) planned in 10 days
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And caution planned_surgery is listed
    And the explanation cites rule CAUT-SURGERY-01
    And the explanation cites rule MON-SURGERY-01
    And reminder hold_before_surgery is due from 2026-03-08

  Scenario: Loperamide may stop working on naltrexone
    Given an active loperamide prescription (RxNorm 6468) started 3 months ago
    When the patient is assessed on 2026-03-01
    Then caution opioid_antidiarrheal is listed
    And the explanation cites rule CAUT-ANTIDIARRHEAL-01
    And the explanation cites rule MON-ANTIDIARRHEAL-01

  Scenario: Opioid use disorder in remission needs coordination with addiction care
    Given opioid dependence in remission (SNOMED-CT 191821007) diagnosed 5 years ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate_with_cautions
    And caution oud_in_remission is listed
    And the explanation cites rule CAUT-OUD-01
    And the explanation cites rule MON-OUD-01

  Scenario: An existing naltrexone order at 8 mg a day is above the studied LDN range
    Given an active naltrexone prescription (RxNorm 7243) at 8 mg a day with no start date
    When the patient is assessed on 2026-03-01
    Then caution dose_outside_ldn is listed
    And the explanation cites rule CAUT-DOSE-01
    And the explanation cites rule MON-DOSE-01

  Scenario: A candidate gets the titration plan and the full monitoring schedule
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And the plan starts at 1.5 mg and reaches 4.5 mg
    And the explanation cites rule DOSE-TITRATE-01
    And the explanation cites rule MON-BASELINE-01
    And the explanation cites rule MON-WEEK1-01
    And the explanation cites rule MON-WEEK4-01
    And the explanation cites rule MON-WEEK12-01
    And the explanation cites rule MON-MONTH6-01
    And the explanation cites rule MON-MONTH12-01
    And reminder baseline_measures is due from 2026-02-15
    And reminder week_1_2_check is due from 2026-03-08
    And reminder week_4_6_visit is due from 2026-03-29
    And reminder week_12_response is due from 2026-05-24
    And reminder month_6_review is due from 2026-08-23
    And reminder month_12_review is due from 2027-02-22
