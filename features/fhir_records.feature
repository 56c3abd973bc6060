Feature: FHIR records as EHRs send them
  The chart arrives as FHIR R4 resources, one CDS Hooks prefetch key per resource type. Opioids
  reach the record as pharmacy dispenses, administrations and orders with no end date; diagnoses
  arrive without a clinical status; copies of a record arrive with nothing to tell which is newer.
  Each must be read the safe way, and a site that sends only what US Core guarantees can still
  get an answer.

  Background:
    Given a FHIR record of a 52-year-old woman with fibromyalgia for 2 years who has tried physical therapy, naproxen and duloxetine

  Scenario: The record alone makes her a candidate
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate

  Scenario: An opioid dispensed by the pharmacy blocks like a prescription
    Given a MedicationDispense of oxycodone ER 10 mg (RxNorm 1049502) handed over 3 days ago with a 30-day supply
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop current_opioid_agonist is listed

  Scenario: An opioid given in hospital yesterday blocks for its washout
    Given a MedicationAdministration of hydromorphone (RxNorm 3423) given 1 day ago
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop current_opioid_agonist is listed

  # Needs the possibly-current opioid rules from wip-hardstop; expected to pass once merged.
  Scenario: A stopped opioid order with no end date is never taken as long over
    Given a stopped MedicationRequest for oxycodone (RxNorm 7804) authored 40 days ago with no end date and no supply
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is not candidate

  # Needs the no-status condition rules from wip-hardstop; expected to pass once merged.
  Scenario: An encounter diagnosis without a status may still block
    Given an encounter diagnosis of long term use of opiate analgesic (ICD-10-CM Z79.891) recorded 10 days ago without a clinical status
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is not candidate

  Scenario: Two copies of one order that cannot be ordered are both read
    Given two MedicationRequests with the same id and no version: a completed naproxen (RxNorm 7258) and an active tramadol (RxNorm 10689)
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is contraindicated
    And the answer names MedicationRequest/mr-same with a caveat note

  Scenario: A site without medication statements can still get a candidate
    Given the site sends no MedicationStatement, MedicationDispense or MedicationAdministration records
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate
    And the answer names prefetch.medicationStatements with a caveat note

  # A timed record falls on the site's calendar day (setting site_timezone), the calendar the
  # evaluation date and the washout windows count in. 20:00 at -10:00 is 06:00 UTC the next day.
  Scenario: An evening dose written in another offset falls on the site's next day, inside the washout
    Given the site's time zone is UTC
    And a MedicationAdministration of hydromorphone (RxNorm 3423) given 7 days ago at 20:00 -10:00 local time
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop current_opioid_agonist is listed

  Scenario: The same dose at a site on that offset is 7 days ago, past the short-acting washout
    Given the site's time zone is Pacific/Honolulu
    And a MedicationAdministration of hydromorphone (RxNorm 3423) given 7 days ago at 20:00 -10:00 local time
    When the FHIR record is read and assessed on 2026-03-01
    Then hard stop current_opioid_agonist is not listed

  Scenario: A morning dose written east of the site falls on the site's day before, past the washout
    Given the site's time zone is America/Chicago
    And a MedicationAdministration of hydromorphone (RxNorm 3423) given 6 days ago at 09:00 +10:00 local time
    When the FHIR record is read and assessed on 2026-03-01
    Then hard stop current_opioid_agonist is not listed

  Scenario: The same morning dose at a site on its own offset is 6 days ago, inside the washout
    Given the site's time zone is Australia/Brisbane
    And a MedicationAdministration of hydromorphone (RxNorm 3423) given 6 days ago at 09:00 +10:00 local time
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop current_opioid_agonist is listed

  # EHR forms send a PHQ-9 item as its LOINC answer code (answer list LL358-3), not a number.
  Scenario: PHQ-9 item 9 answered "More than half the days" raises a same-day safety alert
    Given a PHQ-9 item 9 Observation (LOINC 44260-8) answered with LOINC LA6570-1 "More than half the days" 2 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then caution depression_or_suicidality is listed
    And a same-day safety alert is raised
    And the explanation cites rule CAUT-SUICIDE-04

  Scenario: PHQ-9 item 9 answered "Not at all" leaves her a candidate
    Given a PHQ-9 item 9 Observation (LOINC 44260-8) answered with LOINC LA6568-5 "Not at all" 2 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate
    And no same-day safety alert is raised

  Scenario: A newer "Not at all" after an older positive item 9 leaves her a candidate
    Given a PHQ-9 item 9 Observation (LOINC 44260-8) answered with LOINC LA6569-3 "Several days" 60 days ago
    And a PHQ-9 item 9 Observation (LOINC 44260-8) answered with LOINC LA6568-5 "Not at all" 2 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate
    And no same-day safety alert is raised

  Scenario: An item 9 answer in text only cannot rule out thoughts of self-harm
    Given a PHQ-9 item 9 Observation (LOINC 44260-8) answered in text only as "some days, not many" 2 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then caution depression_or_suicidality is listed
    And a same-day safety alert is raised
    And the explanation cites rule CAUT-SUICIDE-05

  Scenario: An item 9 answer the form scores 2 is read as its score
    Given a PHQ-9 item 9 Observation (LOINC 44260-8) answered with a local code the form scores 2 2 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then a same-day safety alert is raised
    And the explanation cites rule CAUT-SUICIDE-01

  # Labs send eGFR as a bound, as text, or in SI units; each is read for what it says.
  Scenario: An eGFR of "<15" sent with its comparator brings the renal caution
    Given an eGFR Observation (LOINC 98979-8) of <15 mL/min/{1.73_m2} 20 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then caution severe_renal_impairment is listed
    And the explanation cites rule CAUT-RENAL-03

  Scenario: An eGFR sent as the text "<15" brings the renal caution
    Given an eGFR Observation (LOINC 98979-8) with the text "<15" 20 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then caution severe_renal_impairment is listed
    And the explanation cites rule CAUT-RENAL-03

  Scenario: A newest eGFR without a number does not hide an older 20
    Given an eGFR Observation (LOINC 98979-8) of 20 mL/min/{1.73_m2} 90 days ago
    And an eGFR Observation (LOINC 98979-8) with the text "see scanned report" 20 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then caution severe_renal_impairment is listed
    And the explanation cites rule CAUT-RENAL-EGFR-UNKNOWN-01

  Scenario: An eGFR of ">90" leaves her a candidate
    Given an eGFR Observation (LOINC 98979-8) of >90 mL/min/{1.73_m2} 20 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate

  Scenario: An eGFR of 1.2 mL/s is 72 mL/min: no renal caution
    Given an eGFR Observation (LOINC 98979-8) of 1.2 mL/s/{1.73_m2} 20 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate

  # Every refill an order allows may have been used, the last filled as late as its validity allows:
  # the washout counts from the latest the supply could last. A trial counts only the first fill.
  Scenario: A stopped opioid order with refills may still be supplying her
    Given a stopped MedicationRequest for oxycodone (RxNorm 7804) authored 40 days ago with a 30-day supply and 5 refills
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop current_opioid_agonist is listed

  Scenario: A stopped opioid order with no refills is past its washout
    Given a stopped MedicationRequest for oxycodone (RxNorm 7804) authored 40 days ago with a 30-day supply and 0 refills
    When the FHIR record is read and assessed on 2026-03-01
    Then hard stop current_opioid_agonist is not listed

  Scenario: A refill filled on the last day of the validity period lasts its whole supply
    Given a completed MedicationRequest for tramadol (RxNorm 10689) authored 200 days ago with a 30-day supply and 1 refill valid for 180 days
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop current_opioid_agonist is listed

  Scenario: A refill that even filled last could not reach the washout leaves her a candidate
    Given a completed MedicationRequest for tramadol (RxNorm 10689) authored 300 days ago with a 30-day supply and 1 refill valid for 180 days
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate

  # A preliminary result newer than every final one may caution, never qualify.
  Scenario: A preliminary item 9 answered "Several days" raises the same-day safety alert
    Given a preliminary PHQ-9 item 9 Observation (LOINC 44260-8) answered with LOINC LA6569-3 "Several days" 1 day ago
    When the FHIR record is read and assessed on 2026-03-01
    Then a same-day safety alert is raised
    And the explanation cites rule CAUT-SUICIDE-PRELIM-02

  Scenario: A preliminary item 9 the form scores 1 raises the same-day safety alert
    Given a preliminary PHQ-9 item 9 Observation (LOINC 44260-8) answered with a local code the form scores 1 1 day ago
    When the FHIR record is read and assessed on 2026-03-01
    Then a same-day safety alert is raised
    And the explanation cites rule CAUT-SUICIDE-PRELIM-01

  Scenario: A preliminary item 9 older than a final "Not at all" leaves her a candidate
    Given a preliminary PHQ-9 item 9 Observation (LOINC 44260-8) answered with LOINC LA6569-3 "Several days" 30 days ago
    And a PHQ-9 item 9 Observation (LOINC 44260-8) answered with LOINC LA6568-5 "Not at all" 2 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate
    And no same-day safety alert is raised

  # A result with no date cannot be ordered against the others: it may caution, never qualify.
  Scenario: An undated item 9 answered "Nearly every day" raises the same-day safety alert
    Given a PHQ-9 item 9 Observation (LOINC 44260-8) answered with LOINC LA6571-9 "Nearly every day" and no date
    And a PHQ-9 item 9 Observation (LOINC 44260-8) answered with LOINC LA6568-5 "Not at all" 2 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then a same-day safety alert is raised
    And the explanation cites rule CAUT-SUICIDE-UNDATED-02

  Scenario: An undated item 9 answered "Not at all" leaves her a candidate
    Given a PHQ-9 item 9 Observation (LOINC 44260-8) answered with LOINC LA6568-5 "Not at all" and no date
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate
    And no same-day safety alert is raised

  Scenario: An undated eGFR of 20 brings the renal caution
    Given an eGFR Observation (LOINC 98979-8) of 20 mL/min/{1.73_m2} with no date
    When the FHIR record is read and assessed on 2026-03-01
    Then caution severe_renal_impairment is listed
    And the explanation cites rule CAUT-RENAL-UNDATED-01

  Scenario: An undated eGFR of 45 brings no renal caution
    Given an eGFR Observation (LOINC 98979-8) of 45 mL/min/{1.73_m2} with no date
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate

  Scenario: An undated item 9 the form scores 2 raises the same-day safety alert
    Given a PHQ-9 item 9 Observation (LOINC 44260-8) answered with a local code the form scores 2 and no date
    When the FHIR record is read and assessed on 2026-03-01
    Then a same-day safety alert is raised
    And the explanation cites rule CAUT-SUICIDE-UNDATED-01

  # A dose is read only when the order states it unambiguously: one instruction, one number a day.
  Scenario: Naltrexone 4.5 mg once a day has a dose
    Given an active naltrexone order (RxNorm 7243) of 4.5 mg once a day
    When the FHIR record is read and assessed on 2026-03-01
    Then rule CHECK-NTX-DOSE-01 does not apply

  Scenario: Naltrexone 0 mg once a day is no dose; the dose is asked for
    Given an active naltrexone order (RxNorm 7243) of 0 mg once a day
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is not candidate
    And the explanation cites rule CHECK-NTX-DOSE-01
    And the answer names MedicationRequest/medicationrequest-5 with a caveat note

  Scenario: Naltrexone with two dosage instructions has no dose that can be read
    Given an active naltrexone order (RxNorm 7243) with two dosage instructions, 4.5 mg and 50 mg once a day
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is not candidate
    And the explanation cites rule CHECK-NTX-DOSE-01

  Scenario: Naltrexone "morning and bedtime, once a day" has no dose that can be read
    Given an active naltrexone order (RxNorm 7243) of 4.5 mg in the morning and at bedtime, once a day
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is not candidate
    And the explanation cites rule CHECK-NTX-DOSE-01

  # R4 invariant con-4: an abated condition is inactive, remission or resolved. A record that says
  # "active" and also "abated" contradicts itself: it may block like an active one, never qualify.
  Scenario: Fibromyalgia recorded as active yet abated in text is not a qualifying diagnosis
    Given her fibromyalgia Condition records an abatement as text "resolved"
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is not candidate
    And the explanation cites rule ELIG-DX-CONFLICT-01

  Scenario: Fibromyalgia recorded as active yet abated a month ago is not a qualifying diagnosis
    Given her fibromyalgia Condition records an abatement dated 30 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is not candidate
    And the explanation cites rule ELIG-DX-CONFLICT-01

  Scenario: Fibromyalgia recorded as resolved with its abatement is consistent: no contradiction, not active
    Given her fibromyalgia Condition has clinical status resolved and records an abatement dated 30 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is not candidate
    And rule ELIG-DX-CONFLICT-01 does not apply
    And rule ELIG-DX-FM-01 does not apply

  Scenario: Opioid dependence recorded as active yet abated years ago still blocks
    Given a Condition of opioid dependence (ICD-10-CM F11.20) with clinical status active and an abatement dated 700 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop active_opioid_use_disorder is listed

  Scenario: Opioid dependence recorded as active with an abatement in text still blocks
    Given a Condition of opioid dependence (ICD-10-CM F11.20) with clinical status active and an abatement as text "in remission"
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is contraindicated
    And hard stop active_opioid_use_disorder is listed

  Scenario: Opioid dependence recorded as resolved with its abatement is a remission caution, not a hard stop
    Given a Condition of opioid dependence (ICD-10-CM F11.20) with clinical status resolved and an abatement dated 700 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then hard stop active_opioid_use_disorder is not listed
    And caution oud_in_remission is listed

  Scenario: Depression recorded as active yet abated still brings its caution
    Given a Condition of major depressive disorder (ICD-10-CM F32.9) with clinical status active and an abatement dated 10 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then caution depression_or_suicidality is listed

  Scenario: Depression recorded as resolved with its abatement brings no caution
    Given a Condition of major depressive disorder (ICD-10-CM F32.9) with clinical status resolved and an abatement dated 10 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate

  # R4 MedicationRequest.status "stopped": halted before all of the administrations occurred, on a
  # day no element records. Its supply is only the most it lasted: it may block, never be a trial.
  Scenario: A completed duloxetine order's supply is its trial
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate
    And the explanation cites rule ELIG-NEURO-01

  Scenario: A stopped duloxetine order is a trial of unknown length
    Given her duloxetine order was stopped
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is not candidate
    And the explanation cites rule ELIG-NEURO-05
    And rule ELIG-NEURO-01 does not apply

  Scenario: A stopped naproxen order's one-month supply is not a 3-week trial
    Given her naproxen order was stopped, authored 23 days ago with a 30-day supply
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is not candidate
    And the explanation cites rule ELIG-NSAID-09
    And rule ELIG-NSAID-01 does not apply

  Scenario: A naproxen order on hold since a day not recorded is a trial of unknown length
    Given her naproxen order was put on hold, authored 60 days ago with a 90-day supply
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is not candidate
    And the explanation cites rule ELIG-NSAID-09
    And rule ELIG-NSAID-01 does not apply

  Scenario: The pharmacy's dispenses show how long a stopped order was taken
    Given her duloxetine order was stopped
    And a MedicationDispense of duloxetine (RxNorm 72625) handed over 200 days ago with a 90-day supply
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate

  # Her fibromyalgia began 730 days ago. A record entered before that day contradicts its onset
  # (CHECK-ONSET-AFTER-RECORDED-01): the duration still counts from the onset, and the note says so.
  Scenario: A diagnosis recorded before its onset is named, and its duration counts from the onset
    Given her fibromyalgia Condition was recorded 1000 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate
    And criterion pain_duration is met
    And a note says "recorded before its onset"
    And the explanation cites rule CHECK-ONSET-AFTER-RECORDED-01

  Scenario: A diagnosis recorded the day it began is consistent: no note
    Given her fibromyalgia Condition was recorded 730 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate
    And no note says "recorded before its onset"
    And rule CHECK-ONSET-AFTER-RECORDED-01 does not apply

  Scenario: A diagnosis recorded the day after it began is consistent: no note
    Given her fibromyalgia Condition was recorded 729 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate
    And no note says "recorded before its onset"
    And rule CHECK-ONSET-AFTER-RECORDED-01 does not apply

  # A visit cannot follow the patient's death (CHECK-DEATH-DATE-01); on or before today, the
  # CDS Hooks service gives no card (features/cds_hooks.feature).
  Scenario: A date of death after the visit is named and she is still assessed
    Given her Patient record gives a date of death 30 days after the evaluation date
    When the FHIR record is read and assessed on 2026-03-01
    Then the decision is candidate
    And a note says "date of death after today"
    And the explanation cites rule CHECK-DEATH-DATE-01

  Scenario: A year of death that has not ended yet is named too
    Given her Patient record gives a year of death 2026
    When the FHIR record is read and assessed on 2026-03-01
    Then a note says "date of death after today"
    And the explanation cites rule CHECK-DEATH-DATE-01

  Scenario: A date of death on the day of the evaluation earns no such note
    Given her Patient record gives a date of death 0 days ago
    When the FHIR record is read and assessed on 2026-03-01
    Then no note says "date of death"
