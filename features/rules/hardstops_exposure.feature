Feature: Opioid exposure as EHRs record it: no end date, drafts, entries in error, unreadable codes
  Stopped and completed orders usually arrive without an end date. Started inside the washout they
  certainly still block; started within the possibly-current window (14-day washout plus a typical
  30-day supply: 44 days) the stop date is asked for; older ones are listed as judged not to block.
  Every scenario is a patient who otherwise meets all criteria.

  Background:
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago

  Scenario: A short-acting opioid started 6 days ago and stopped without an end date is still inside its washout
    Given oxycodone hydrochloride 5 MG Oral Tablet (RxNorm 1049621) started 6 days ago and stopped, end date not recorded
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And no earliest start date is given
    And the explanation cites rule CONTRA-OPIOID-ENDUNKNOWN-01
    And what would change the decision mentions "record when"

  Scenario: A short-acting opioid started 7 days ago and stopped without an end date asks for the stop date
    Given oxycodone hydrochloride 5 MG Oral Tablet (RxNorm 1049621) started 7 days ago and stopped, end date not recorded
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And rule CONTRA-OPIOID-ENDUNKNOWN-01 does not apply
    And the explanation cites rule CHECK-OPIOID-ENDUNKNOWN-01
    And the missing information includes contraindication_screen_complete

  Scenario: An opioid named in text, started 3 days ago and stopped without an end date, blocks
    Given a medication recorded only as text "hydrocodone/APAP 5/325" with status stopped, started 3 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-OPIOID-ENDUNKNOWN-02

  Scenario: A long-acting opioid started 13 days ago and stopped without an end date is still inside its washout
    Given 12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet (RxNorm 1049502) started 13 days ago and stopped, end date not recorded
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-OPIOID-ENDUNKNOWN-03

  Scenario: A long-acting opioid started 14 days ago and stopped without an end date asks for the stop date
    Given 12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet (RxNorm 1049502) started 14 days ago and stopped, end date not recorded
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And rule CONTRA-OPIOID-ENDUNKNOWN-03 does not apply
    And the explanation cites rule CHECK-OPIOID-ENDUNKNOWN-01

  Scenario: A long-acting opioid named in text, started 10 days ago and stopped without an end date, blocks
    Given a medication recorded only as text "oxycodone ER 10 mg twice daily" with status stopped, started 10 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-OPIOID-ENDUNKNOWN-04

  Scenario: An opioid started 44 days ago and stopped without an end date is possibly current
    Given oxycodone hydrochloride 5 MG Oral Tablet (RxNorm 1049621) started 44 days ago and stopped, end date not recorded
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And the explanation cites rule CHECK-OPIOID-ENDUNKNOWN-01
    And what would change the decision mentions "last taken"

  Scenario: An opioid started 45 days ago and stopped without an end date is listed as judged not to block
    Given oxycodone hydrochloride 5 MG Oral Tablet (RxNorm 1049621) started 45 days ago and stopped, end date not recorded
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And rule CHECK-OPIOID-ENDUNKNOWN-01 does not apply
    And the explanation cites rule NOTE-OPIOID-ENDED-02
    And a note says "judged not to block"

  Scenario: An opioid named in text, started 20 days ago and stopped without an end date, is possibly current
    Given a medication recorded only as text "Percocet 5/325" with status stopped, started 20 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And the explanation cites rule CHECK-OPIOID-ENDUNKNOWN-02

  Scenario: A stopped opioid with neither a start nor an end date asks when it was last taken
    Given oxycodone hydrochloride 5 MG Oral Tablet (RxNorm 1049621) recorded as completed with no start or end date
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And the explanation cites rule CHECK-OPIOID-ENDUNKNOWN-03

  Scenario: A stopped opioid named in text with no dates asks when it was last taken
    Given a medication recorded only as text "tramadol 50 mg" with status stopped with no dates
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And the explanation cites rule CHECK-OPIOID-ENDUNKNOWN-04

  Scenario: An opioid order being drafted today is a hard stop
    Given a draft oxycodone hydrochloride 5 MG Oral Tablet order (RxNorm 1049621)
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop current_opioid_agonist is listed
    And the explanation cites rule CONTRA-OPIOID-PLANNED-01

  Scenario: An intended opioid named in text is a hard stop
    Given a medication recorded only as text "morphine 15 mg for post-op pain" with status intended
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-OPIOID-PLANNED-02

  Scenario: An opioid that ended 14 days ago is listed as outside every washout
    Given tramadol hydrochloride 50 MG Oral Tablet (RxNorm 835603) taken from 40 days ago until 14 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And the explanation cites rule NOTE-OPIOID-ENDED-01
    And a note says "outside the 7- and 14-day opioid washouts"

  Scenario: An opioid that ended 13 days ago is not listed as outside the washouts
    Given 12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet (RxNorm 1049502) taken from 40 days ago until 13 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And rule NOTE-OPIOID-ENDED-01 does not apply

  Scenario: An opioid entry marked entered in error is listed, not counted
    Given oxycodone hydrochloride 5 MG Oral Tablet (RxNorm 1049621) started 3 days ago, marked entered in error
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And the explanation cites rule NOTE-OPIOID-ERROR-01
    And a note says "entered in error"

  Scenario: An opioid named in text marked entered in error is listed, not counted
    Given a medication recorded only as text "oxycodone 5 mg" with status entered-in-error, started 3 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And the explanation cites rule NOTE-OPIOID-ERROR-02

  Scenario: An unidentified SNOMED-coded current medication
    Given an active medication coded only as (SNOMED-CT 412307009) "Drug product"
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And the explanation cites rule CHECK-MED-UNIDENTIFIED-01
    And the missing information includes contraindication_screen_complete
    And it names "Drug product"

  Scenario: A SNOMED-coded medication whose name is an opioid blocks by its name
    Given an active medication coded only as (SNOMED-CT 10312003) "Oxycodone hydrochloride 5 mg oral tablet"
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-OPIOID-02
    And rule CHECK-MED-UNIDENTIFIED-01 does not apply

  Scenario: An NDC-coded current medication the rules cannot read is unidentified
    Given an active medication coded only as (NDC 0093-0058-01) "Tab 58"
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And the explanation cites rule CHECK-MED-UNIDENTIFIED-01

  Scenario: An RxNorm-coded medication on no list counts as identified
    Given an active amlodipine 5 MG Oral Tablet prescription (RxNorm 308135) started 3 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And rule CHECK-MED-UNIDENTIFIED-01 does not apply

  Scenario: A cancelled opioid order is listed, not counted
    Given oxycodone hydrochloride 5 MG Oral Tablet (RxNorm 1049621) started 2 days ago, marked cancelled
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And the explanation cites rule NOTE-OPIOID-NOTTAKEN-01
    And a note says "cancelled or not taken"
