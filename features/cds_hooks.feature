Feature: CDS Hooks contract of the low-dose naltrexone service
  What the EHR sends and what the service answers, as an auditor reads it.
  The EHR's requests are in tests/fixtures/http/; every card is stored with its assessment first,
  and the card's uuid is the stored assessment's id.

  Background:
    Given the LDN decision support service is running

  Scenario: The EHR discovers the services and the data they need
    When the EHR asks which services are offered
    Then ldn-candidacy is offered on patient-view, ldn-order-select on order-select and ldn-order-sign on order-sign
    And ldn-candidacy asks for Patient, Condition, MedicationRequest, MedicationStatement, MedicationDispense, MedicationAdministration, Procedure, ServiceRequest, Appointment, AllergyIntolerance and Observation
    And the medication searches have no status filter, so recently stopped opioids are seen

  Scenario: A patient who meets every criterion gets an information card with a suggestion
    When the EHR opens the chart of a patient with fibromyalgia who has tried physical therapy, naproxen and duloxetine
    Then one info card says "Candidate"
    And the card suggests a draft order for naltrexone 1.5 mg at bedtime
    And the card links to the full explanation of its stored assessment
    And the card cites rule DEC-CAND-01

  Scenario: An active opioid prescription makes naltrexone contraindicated
    When the EHR opens the chart of a patient with fibromyalgia and an active tramadol prescription
    Then a warning card names the tramadol prescription
    And the card offers no suggestion
    And the card cites rule CONTRA-OPIOID-01

  Scenario Outline: Each decision has its own indicator
    When the EHR opens the chart described in "<request>"
    Then one <indicator> card says "<decision>"

    Examples:
      | request                                    | indicator | decision                 |
      | patient_view_candidate.json                | info      | Candidate                |
      | patient_view_cautions_thyroid.json         | warning   | Candidate with cautions  |
      | patient_view_insufficient_no_pt.json       | info      | Insufficient information |
      | patient_view_not_candidate_minor.json      | info      | Not a candidate          |
      | patient_view_contraindicated_tramadol.json | warning   | Contraindicated          |

  Scenario: No card for a patient without an in-scope pain condition
    When the EHR opens the chart of a patient whose only condition is hypertension
    Then no card is returned
    And nothing is stored

  Scenario: No card for a patient who has died
    When the EHR opens the chart of a patient with fibromyalgia whose record gives a date of death 30 days ago
    Then no card is returned
    And nothing is stored

  Scenario: A date of death after today is a record to correct, never a reason for silence
    When the EHR opens the chart of a patient with fibromyalgia whose record gives a date of death 30 days from today
    Then one info card says "Candidate"
    And the card notes "date of death after today"
    And the card cites rule DEC-CAND-01

  Scenario: A diagnosis recorded before its onset is named on the card
    When the EHR opens the chart of a patient with fibromyalgia whose diagnosis was recorded 200 days before its onset
    Then one info card says "Candidate"
    And the card notes "recorded before its onset"
    And the card cites rule DEC-CAND-01
    And the decision log shows rule CHECK-ONSET-AFTER-RECORDED-01 fired

  Scenario: A diagnosis recorded after its onset needs no note
    When the EHR opens the chart of a patient with fibromyalgia whose diagnosis was recorded 1 day after its onset
    Then one info card says "Candidate"
    And the card does not note "recorded before its onset"

  Scenario: Required data neither sent nor fetchable
    When the EHR opens the chart of a patient with fibromyalgia but sends no conditions and no FHIR access
    Then the service answers 412 naming prefetch.conditions

  Scenario: A required list that was not sent is unknown, never empty
    When the EHR opens the chart of a patient with fibromyalgia but sends no allergy list
    Then the service answers 412 naming prefetch.allergies

  Scenario: Signing an opioid order for a patient on low-dose naltrexone
    When the clinician signs an oxycodone order for a patient taking naltrexone 4.5 mg a day
    Then a critical card names the oxycodone order and the naltrexone prescription
    And the card suggests cancelling the oxycodone order

  Scenario: Signing a naltrexone order for a patient taking an opioid
    When the clinician signs a naltrexone order for a patient with an active tramadol prescription
    Then a critical card names the tramadol prescription
    And the card cites rule CONTRA-OPIOID-01

  Scenario: The clinician's response to a card is recorded once
    Given the EHR has shown a candidate card
    When the EHR reports twice that the clinician accepted the suggestion
    Then the stored assessment has exactly one feedback item, "accepted"
