Feature: Buprenorphine: depot injections need manual review, analgesic patches get the long-acting washout
  Depot buprenorphine (Sublocade, Brixadi, Probuphine) keeps releasing buprenorphine for months; its
  label says it may be detectable 12 months or longer after the last injection, so no automatic
  candidate within 365 days of the last dose. Buprenorphine for pain (Butrans, Belbuca) is an opioid
  for pain with the 14-day long-acting washout and an earliest start date.

  Background:
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago

  Scenario: A current depot buprenorphine order is a hard stop for manual review
    Given an active 0.5 ML buprenorphine 200 MG/ML Prefilled Syringe [Sublocade] prescription (RxNorm 1996189) started 8 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop depot_buprenorphine is listed
    And no earliest start date is given
    And the explanation cites rule CONTRA-DEPOT-BUP-01
    And what would change the decision mentions "addiction care team"

  Scenario: A depot buprenorphine injection 60 days ago still blocks, beyond the 14-day washout
    Given 0.5 ML buprenorphine 200 MG/ML Prefilled Syringe [Sublocade] (RxNorm 1996189) injected 60 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop depot_buprenorphine is listed
    And no earliest start date is given
    And the explanation cites rule CONTRA-DEPOT-BUP-02

  Scenario: A depot buprenorphine injection 364 days ago still blocks
    Given 0.5 ML buprenorphine 200 MG/ML Prefilled Syringe [Sublocade] (RxNorm 1996189) injected 364 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-DEPOT-BUP-02

  Scenario: A depot buprenorphine injection 365 days ago no longer blocks on its own
    Given 0.5 ML buprenorphine 200 MG/ML Prefilled Syringe [Sublocade] (RxNorm 1996189) injected 365 days ago
    When the patient is assessed on 2026-03-01
    Then rule CONTRA-DEPOT-BUP-02 does not apply

  Scenario: Depot buprenorphine stopped without an end date, started 200 days ago, still blocks
    Given 0.5 ML buprenorphine 200 MG/ML Prefilled Syringe [Sublocade] (RxNorm 1996189) started 200 days ago and stopped, end date not recorded
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-DEPOT-BUP-03

  Scenario: Depot buprenorphine named in text is a hard stop
    Given an active medication recorded only as text "Brixadi weekly injection"
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop depot_buprenorphine is listed
    And the explanation cites rule CONTRA-DEPOT-BUP-04

  Scenario: Depot buprenorphine named in text and stopped 100 days ago still blocks
    Given a stopped medication recorded only as text "Sublocade 300 mg monthly", ended 100 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-DEPOT-BUP-05

  Scenario: A buprenorphine patch for pain stopped 10 days ago gets the long-acting washout and an earliest start date
    Given 168 HR buprenorphine 0.01 MG/HR Transdermal System [BuTrans] (RxNorm 904874) taken from 6 months ago until 10 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop current_opioid_agonist is listed
    And the earliest start date is 2026-03-05
    And the explanation cites rule CONTRA-OPIOID-WASHOUT-02
