Feature: Order checks: naltrexone and opioids must not meet
  When a clinician orders a drug, the order is checked with the patient's record by the same
  rules engine: an opioid ordered for a patient taking naltrexone will be blocked, and a naltrexone
  order above the studied low-dose range is flagged. Every check is recorded like any assessment.

  Background:
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago

  Scenario: An opioid ordered for a patient taking low-dose naltrexone is blocked
    Given an active naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 2 months ago
    And a draft order for oxycodone hydrochloride 5 MG Oral Tablet (RxNorm 1049621)
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop opioid_order_with_naltrexone is listed
    And the explanation cites rule ORDER-OPIOID-ON-NTX-01
    And it names "oxycodone"

  Scenario: An opioid ordered by name only is blocked too
    Given an active naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 2 months ago
    And a draft order written only as text "Percocet 5/325 one tablet as needed"
    When the patient is assessed on 2026-03-01
    Then hard stop opioid_order_with_naltrexone is listed
    And the explanation cites rule ORDER-OPIOID-ON-NTX-02

  Scenario: An opioid ordered while naltrexone is recorded only as text is blocked
    Given an active medication recorded only as text "low dose naltrexone 4.5 mg at night"
    And a draft order for oxycodone hydrochloride 5 MG Oral Tablet (RxNorm 1049621)
    When the patient is assessed on 2026-03-01
    Then hard stop opioid_order_with_naltrexone is listed
    And the explanation cites rule ORDER-OPIOID-ON-NTX-03

  Scenario: An opioid ordered for a patient not taking naltrexone raises no order check
    Given a draft order for oxycodone hydrochloride 5 MG Oral Tablet (RxNorm 1049621)
    When the patient is assessed on 2026-03-01
    Then rule ORDER-OPIOID-ON-NTX-01 does not apply
    And rule ORDER-OPIOID-ON-NTX-02 does not apply

  Scenario: Naltrexone ordered at 6 mg a day is inside the studied range
    Given a draft order for naltrexone (RxNorm 7243) at 6 mg a day
    When the patient is assessed on 2026-03-01
    Then rule ORDER-NTX-DOSE-01 does not apply

  Scenario: Naltrexone ordered at 6.5 mg a day is above the studied range
    Given a draft order for naltrexone (RxNorm 7243) at 6.5 mg a day
    When the patient is assessed on 2026-03-01
    Then caution dose_outside_ldn is listed
    And the explanation cites rule ORDER-NTX-DOSE-01

  Scenario: Naltrexone ordered at 10 mg a day is still flagged as above the studied range
    Given a draft order for naltrexone (RxNorm 7243) at 10 mg a day
    When the patient is assessed on 2026-03-01
    Then the explanation cites rule ORDER-NTX-DOSE-01

  Scenario: Full-dose naltrexone ordered for a patient not on LDN is not an LDN question
    Given a draft order for naltrexone (RxNorm 7243) at 50 mg a day
    When the patient is assessed on 2026-03-01
    Then rule ORDER-NTX-DOSE-01 does not apply
    And rule ORDER-NTX-DOSE-02 does not apply

  Scenario: Full-dose naltrexone ordered for a patient taking LDN is flagged
    Given an active naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 2 months ago
    And a draft order for naltrexone (RxNorm 7243) at 50 mg a day
    When the patient is assessed on 2026-03-01
    Then caution dose_outside_ldn is listed
    And the explanation cites rule ORDER-NTX-DOSE-02

  Scenario: Full-dose naltrexone ordered beside naltrexone of unrecorded dose is flagged
    Given an active naltrexone prescription (RxNorm 7243) started 2 months ago
    And a draft order for naltrexone (RxNorm 7243) at 50 mg a day
    When the patient is assessed on 2026-03-01
    Then the explanation cites rule ORDER-NTX-DOSE-03
