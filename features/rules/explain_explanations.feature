Feature: What the clinician reads
  An offer of low-dose naltrexone says on the card itself that it is off-label and that the evidence
  is weak and conflicting (the ruleset's own words). "What would change this decision" says each way
  out once, what matters for this decision first; information this decision does not turn on is
  listed apart, and a criterion of a pathway not established is never asked for.

  Scenario: A candidate's card says LDN is off-label and the evidence weak and conflicting
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And the explanation cites rule DEC-CAND-01
    And the card summary says "off-label, weak and conflicting evidence"
    And the card says "the evidence for LDN in chronic pain is weak and conflicting"

  Scenario: A hard stop card does not carry the offer's wording
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And an active oxycodone hydrochloride 5 MG Oral Tablet prescription (RxNorm 1049621) started 2 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule DEC-CONTRA-01
    And the card does not say "off-label"

  Scenario: Buprenorphine maintenance gives one way out, and says who decides first
    Given a 60-year-old male patient
    And sciatica (SNOMED-CT 23056005) diagnosed 2 years ago
    And an active buprenorphine 2 MG / naloxone 0.5 MG Sublingual Film prescription (RxNorm 1010600) started 11 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-MAINT-01
    And what would change the decision is said in 1 item
    And what would change the decision mentions "addiction care team"

  Scenario: Behind a hard stop the missing treatment histories are listed apart
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 14 months ago
    And an active oxycodone hydrochloride 5 MG Oral Tablet prescription (RxNorm 1049621) started 2 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And the explanation cites rule CONTRA-OPIOID-01
    And nothing this decision depends on is missing
    And the information also missing includes failed_physical_therapy
    And the information also missing includes failed_neuropathic_agent

  Scenario: An unconfirmed diagnosis asks for the diagnosis, not for the injection of another pathway
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago, provisional
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And the explanation cites rule ELIG-DX-POSSIBLE-01
    And the missing information includes qualifying_diagnosis
    And the missing information does not include failed_epidural_steroid_injection
    And the information also missing includes failed_epidural_steroid_injection
