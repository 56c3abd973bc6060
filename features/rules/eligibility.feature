Feature: Eligibility for low-dose naltrexone
  Adults with fibromyalgia, or low-back pain with lumbar radiculopathy, in pain for more than
  3 months, who have tried physical therapy, an anti-inflammatory, a neuropathic agent and (for
  radiculopathy) an epidural steroid injection. Unknown is never treated as "not met".

  Scenario: A fibromyalgia patient who has tried standard care is a candidate
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And criterion adult is met
    And criterion qualifying_diagnosis is met
    And criterion pain_duration is met
    And criterion failed_physical_therapy is met
    And criterion failed_anti_inflammatory is met
    And criterion failed_neuropathic_agent is met
    And criterion failed_epidural_steroid_injection is not_applicable
    And criterion contraindication_screen_complete is met
    And the explanation cites rule ELIG-ADULT-01
    And the explanation cites rule ELIG-DX-FM-01
    And the explanation cites rule ELIG-DUR-01
    And the explanation cites rule ELIG-PT-01
    And the explanation cites rule ELIG-NSAID-01
    And the explanation cites rule ELIG-NEURO-01
    And the explanation cites rule CHECK-RECORDS-01
    And the explanation cites rule DEC-CAND-01
    And it names "fibromyalgia"
    And it names "duloxetine"

  Scenario: Low-back pain with lumbar radiculopathy after an epidural steroid injection is a candidate
    Given a 45-year-old male patient
    And lumbar radiculopathy (ICD-10-CM M54.16) diagnosed 8 months ago
    And physical therapy evaluation (CPT 97161) done 6 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 7 months ago until 5 months ago
    And gabapentin (RxNorm 25480) taken from 6 months ago until 2 months ago
    And a transforaminal lumbar epidural injection (CPT 64483) done 3 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And criterion failed_epidural_steroid_injection is met
    And the explanation cites rule ELIG-DX-RAD-01
    And the explanation cites rule ELIG-ESI-01

  Scenario: An unspecified radiculopathy with low-back pain counts as lumbar radiculopathy
    Given a 45-year-old male patient
    And radiculopathy (SNOMED-CT 72274001) diagnosed 8 months ago
    And low back pain (SNOMED-CT 279039007) diagnosed 9 months ago
    And physical therapy evaluation (CPT 97161) done 6 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 7 months ago until 5 months ago
    And gabapentin (RxNorm 25480) taken from 6 months ago until 2 months ago
    And a transforaminal lumbar epidural injection (CPT 64483) done 3 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is candidate
    And criterion qualifying_diagnosis is met
    And the explanation cites rule ELIG-DX-RAD-02
    And the explanation cites rule ELIG-DX-RAD-03
    And the explanation cites rule ELIG-DX-LBP-01

  Scenario: A 16-year-old is not a candidate
    Given a 16-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is not_candidate
    And criterion adult is not_met
    And the explanation cites rule ELIG-ADULT-02
    And the explanation cites rule DEC-NOT-01

  Scenario: Only the birth year is known and the patient may not yet be 18
    Given the patient facts recorded in the chart:
      """
      {"source": "Patient/partial-birth", "birth_date": "2008", "sex": "female",
       "conditions": [], "medications": [], "procedures": [], "allergies": [], "observations": []}
      """
    When the patient is assessed on 2026-03-01
    Then criterion adult is unknown
    And the explanation cites rule ELIG-ADULT-03

  Scenario: With no birth date the patient's age is unknown, not a reason to exclude
    Given a patient with no recorded birth date
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And duloxetine (RxNorm 72625) taken from 18 months ago until 9 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion adult is unknown
    And the missing information includes adult
    And the explanation cites rule DEC-INSUFF-01

  Scenario: A provisional fibromyalgia diagnosis must be confirmed first
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago, provisional
    When the patient is assessed on 2026-03-01
    Then criterion qualifying_diagnosis is unknown
    And the explanation cites rule ELIG-DX-POSSIBLE-01
    And what would change the decision mentions "confirm the diagnosis"

  Scenario: A fibromyalgia diagnosis without a clinical status is not assumed active
    Given the patient facts recorded in the chart:
      """
      {"source": "Patient/no-status", "birth_date": "1970-05-05", "sex": "female",
       "conditions": [{"source": "Condition/fm-nostatus", "codes": [{"system": "ICD-10-CM", "code": "M79.7", "display": "Fibromyalgia"}],
                       "verification_status": "confirmed", "onset": "2022-01-01"}],
       "medications": [], "procedures": [], "allergies": [], "observations": []}
      """
    When the patient is assessed on 2026-03-01
    Then criterion qualifying_diagnosis is unknown
    And the explanation cites rule ELIG-DX-STATUS-01

  Scenario: A generic chronic pain code asks for the specific diagnosis
    Given a 60-year-old male patient
    And chronic pain (SNOMED-CT 82423001) diagnosed 12 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion qualifying_diagnosis is unknown
    And criterion pain_duration is unknown
    And the explanation cites rule ELIG-DX-GENERIC-01
    And the explanation cites rule ELIG-DUR-CHRONIC-01

  Scenario: Low-back pain without radiculopathy does not qualify
    Given a 47-year-old female patient
    And chronic low back pain (SNOMED-CT 278860009) diagnosed 5 years ago
    And physical therapy (CPT 97110) done 12 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is not_candidate
    And criterion qualifying_diagnosis is not_met
    And the explanation cites rule ELIG-DX-LBP-01
    And what would change the decision mentions "radiculopathy"

  Scenario: Without the problem list the diagnosis is unknown
    Given a 52-year-old female patient
    And the condition list is not available
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion qualifying_diagnosis is unknown
    And the explanation cites rule ELIG-DX-NORECORD-01

  Scenario: Fibromyalgia diagnosed 2 months ago is not yet chronic
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 2 months ago
    When the patient is assessed on 2026-03-01
    Then the decision is not_candidate
    And criterion pain_duration is not_met
    And the explanation cites rule ELIG-DUR-02

  Scenario: A diagnosis first recorded last month may be older than that
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) with no onset date, first recorded 1 month ago
    When the patient is assessed on 2026-03-01
    Then criterion pain_duration is unknown
    And the explanation cites rule ELIG-DUR-03

  Scenario: A diagnosis with no date at all leaves the duration unknown
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) with no date at all
    When the patient is assessed on 2026-03-01
    Then criterion pain_duration is unknown
    And the explanation cites rule ELIG-DUR-04

  Scenario: An onset after today contradicts the chart, so an old recorded date does not count
    Given the patient facts recorded in the chart:
      """
      {"source": "Patient/future-onset", "birth_date": "1970-05-05", "sex": "female",
       "conditions": [{"source": "Condition/fm-future", "codes": [{"system": "ICD-10-CM", "code": "M79.7", "display": "Fibromyalgia"}],
                       "clinical_status": "active", "verification_status": "confirmed",
                       "onset": "2027-03-01", "recorded_date": "2021-01-01"}],
       "medications": [], "procedures": [], "allergies": [], "observations": []}
      """
    When the patient is assessed on 2026-03-15
    Then criterion pain_duration is unknown
    And the explanation cites rule ELIG-DUR-04
    And rule ELIG-DUR-03 does not apply
    And the decision is insufficient_information

  Scenario: An onset recorded only as a month may fall either side of 3 months
    Given the patient facts recorded in the chart:
      """
      {"source": "Patient/partial-onset", "birth_date": "1970-05-05", "sex": "female",
       "conditions": [{"source": "Condition/fm-month", "codes": [{"system": "ICD-10-CM", "code": "M79.7", "display": "Fibromyalgia"}],
                       "clinical_status": "active", "verification_status": "confirmed", "onset": "2025-12"}],
       "medications": [], "procedures": [], "allergies": [], "observations": []}
      """
    When the patient is assessed on 2026-03-15
    Then criterion pain_duration is unknown
    And the explanation cites rule ELIG-DUR-05

  Scenario: Low-dose aspirin is not an anti-inflammatory trial, but anti-inflammatory doses are
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And aspirin 81 mg tablet (RxNorm 243670) at 81 mg a day taken from 24 months ago until 1 months ago
    And aspirin (RxNorm 1191) at 1950 mg a day taken from 20 months ago until 19 months ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_anti_inflammatory is met
    And the explanation cites rule ELIG-NSAID-02
    And it names "aspirin"

  Scenario: Only low-dose aspirin leaves the anti-inflammatory trial unknown
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And aspirin 81 mg tablet (RxNorm 243670) at 81 mg a day taken from 24 months ago until 1 months ago
    When the patient is assessed on 2026-03-01
    Then criterion failed_anti_inflammatory is unknown
    And rule ELIG-NSAID-02 does not apply

  Scenario: An NSAID allergy counts as a contraindication to NSAIDs
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And an active allergy to ibuprofen (RxNorm 5640)
    When the patient is assessed on 2026-03-01
    Then criterion failed_anti_inflammatory is met
    And the explanation cites rule ELIG-NSAID-04

  Scenario: Epidural anaesthesia in labour is not an epidural steroid injection
    Given a 41-year-old female patient
    And lumbosacral radiculopathy (ICD-10-CM M54.17) diagnosed 14 months ago
    And physical therapy (CPT 97110) done 10 months ago
    And ibuprofen 400 mg tablet (RxNorm 206905) taken from 12 months ago until 10 months ago
    And gabapentin (RxNorm 25480) taken from 9 months ago until 3 months ago
    And epidural anesthesia (SNOMED-CT 18946005) done 6 years ago
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_epidural_steroid_injection is unknown
    And the missing information includes failed_epidural_steroid_injection
    And the explanation cites rule ELIG-ESI-NOTE-01
    And a note says "not an epidural steroid injection"

  Scenario: A neuropathic agent written only as text does not count as a trial
    Given a 52-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 24 months ago
    And physical therapy (CPT 97110) done 12 months ago
    And naproxen sodium 220 mg tablet (RxNorm 849574) taken from 20 months ago until 17 months ago
    And an active medication recorded only as text "gabapentin 300 mg three times a day"
    When the patient is assessed on 2026-03-01
    Then the decision is insufficient_information
    And criterion failed_neuropathic_agent is unknown
    And rule ELIG-NEURO-01 does not apply
