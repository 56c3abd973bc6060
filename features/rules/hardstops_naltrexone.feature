Feature: Naltrexone that is not LDN is never offered a start nor followed up as LDN
  Full-dose naltrexone (above 10 mg a day, or 50 mg tablets with no daily dose), the naltrexone/
  bupropion combination and extended-release naltrexone injections (about 4 weeks each) are hard
  stops. A naltrexone order whose dose could not be read is asked about, never assumed to be LDN.

  Background:
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago

  Scenario: Naltrexone 50 mg a day is full-dose naltrexone: no LDN start, no LDN follow-up
    Given an active naltrexone hydrochloride 50 MG Oral Tablet prescription (RxNorm 1483744) at 50 mg a day started 1 month ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop naltrexone_not_ldn is listed
    And no titration plan is given
    And the explanation cites rule CONTRA-NTX-FULLDOSE-01

  Scenario: Naltrexone at 10 mg a day is still LDN
    Given an active naltrexone prescription (RxNorm 7243) at 10 mg a day started 16 weeks ago
    When the patient is assessed on 2026-03-01
    Then the decision is on_therapy
    And rule CONTRA-NTX-FULLDOSE-01 does not apply

  Scenario: Naltrexone at 11 mg a day is full-dose naltrexone
    Given an active naltrexone prescription (RxNorm 7243) at 11 mg a day started 16 weeks ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-NTX-FULLDOSE-01

  Scenario: 50 mg naltrexone tablets with no daily dose are full-dose naltrexone
    Given an active naltrexone hydrochloride 50 MG Oral Tablet prescription (RxNorm 1483744) started 1 month ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop naltrexone_not_ldn is listed
    And the explanation cites rule CONTRA-NTX-FULLDOSE-02
    And what would change the decision mentions "record the daily dose"

  Scenario: 50 mg naltrexone tablets dissolved to 4.5 mg a day are LDN
    Given an active naltrexone hydrochloride 50 MG Oral Tablet prescription (RxNorm 1483744) at 4.5 mg a day started 16 weeks ago
    When the patient is assessed on 2026-03-01
    Then the decision is on_therapy
    And rule CONTRA-NTX-FULLDOSE-02 does not apply

  Scenario: The naltrexone/bupropion weight-loss combination is not LDN
    Given an active 12 HR bupropion hydrochloride 90 MG / naltrexone hydrochloride 8 MG Extended Release Oral Tablet [Contrave] prescription (RxNorm 1551474) started 3 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop naltrexone_not_ldn is listed
    And the explanation cites rule CONTRA-NTX-COMBO-01

  Scenario: A current extended-release naltrexone injection order is not LDN
    Given an active naltrexone 380 MG Injection [Vivitrol] prescription (RxNorm 637216) started 5 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-NTX-DEPOT-01

  Scenario: An extended-release naltrexone injection 29 days ago blocks until it wears off
    Given naltrexone 380 MG Injection [Vivitrol] (RxNorm 637216) injected 29 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop naltrexone_not_ldn is listed
    And the earliest start date is 2026-03-02
    And the explanation cites rule CONTRA-NTX-DEPOT-02

  Scenario: An extended-release naltrexone injection 30 days ago has worn off
    Given naltrexone 380 MG Injection [Vivitrol] (RxNorm 637216) injected 30 days ago
    When the patient is assessed on 2026-03-01
    Then rule CONTRA-NTX-DEPOT-02 does not apply

  Scenario: Extended-release naltrexone started 20 days ago with no last injection recorded blocks
    Given naltrexone 380 MG Injection [Vivitrol] (RxNorm 637216) started 20 days ago and stopped, end date not recorded
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-NTX-DEPOT-03

  Scenario: Naltrexone with no recorded dose is not assumed to be LDN: the dose is asked for
    Given an active naltrexone prescription (RxNorm 7243) started 16 weeks ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And the explanation cites rule CHECK-NTX-DOSE-01
    And the missing information includes contraindication_screen_complete
    And what would change the decision mentions "record the daily dose"

  Scenario: Naltrexone named in text with no dose is asked about
    Given an active medication recorded only as text "compounded naltrexone capsules"
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And the explanation cites rule CHECK-NTX-DOSE-02
