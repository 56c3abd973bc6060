Feature: Follow-up of patients already taking low-dose naltrexone
  At each visit: is LDN working (judged only after 12 weeks, 8 of them at the current dose), is it
  safe, and what is due. Response thresholds: pain down 30 % or 2 points (50 % = substantial),
  ODI down 10 points or 30 %, PROMIS down 3 T-score points.

  Scenario: A responder at week 20 continues, with an overdue week 4-6 visit
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And low-dose naltrexone (RxNorm 7243) at 1.5 mg a day taken from 20 weeks ago until 18 weeks ago
    And low-dose naltrexone (RxNorm 7243) at 3 mg a day taken from 18 weeks ago until 16 weeks ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And a pain score (LOINC 72514-3) of 7.5 measured 21 weeks ago
    And a pain score (LOINC 72514-3) of 4.9 measured 7 weeks ago
    And an Oswestry Disability Index (LOINC 97908-8) of 50.3 measured 21 weeks ago
    And an Oswestry Disability Index (LOINC 97908-8) of 43.4 measured 7 weeks ago
    When the patient is assessed on 2026-03-01
    Then the decision is on_therapy
    And the response is responder
    And measure pain_nrs is important
    And measure odi is not_important
    And the recommendation mentions "continue"
    And reminder baseline_measures is done
    And reminder week_12_response is done
    And reminder week_4_6_visit is overdue by 98 days
    And reminder month_6_review is upcoming
    And the explanation cites rule THER-LDN-01
    And the explanation cites rule DEC-ON-THERAPY-01
    And the explanation cites rule RESP-PAIN-IMPORTANT-01
    And the explanation cites rule RESP-PAIN-IMPORTANT-02
    And the explanation cites rule RESP-ODI-NONE-01
    And the explanation cites rule FU-RESP-RESPONDER-01
    And the explanation cites rule FU-MON-BASELINE-01
    And the explanation cites rule FU-MON-WEEK1-01
    And the explanation cites rule FU-MON-WEEK4-01
    And the explanation cites rule FU-MON-WEEK12-01
    And the explanation cites rule FU-MON-MONTH6-01
    And the explanation cites rule FU-MON-MONTH12-01

  Scenario: A non-responder at week 12 is advised to discuss stopping
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And low-dose naltrexone (RxNorm 7243) at 1.5 mg a day taken from 12 weeks ago until 10 weeks ago
    And low-dose naltrexone (RxNorm 7243) at 3 mg a day taken from 10 weeks ago until 9 weeks ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 9 weeks ago
    And a pain score (LOINC 72514-3) of 7.0 measured 13 weeks ago
    And a pain score (LOINC 72514-3) of 6.5 measured 2 days ago
    And an Oswestry Disability Index (LOINC 97908-8) of 48 measured 13 weeks ago
    And an Oswestry Disability Index (LOINC 97908-8) of 46 measured 2 days ago
    And a PROMIS pain interference T-score (LOINC 77865-4) of 65 measured 13 weeks ago
    And a PROMIS pain interference T-score (LOINC 77865-4) of 64 measured 2 days ago
    And a PROMIS sleep disturbance T-score (LOINC 77860-5) of 60 measured 13 weeks ago
    And a PROMIS sleep disturbance T-score (LOINC 77860-5) of 59 measured 2 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is on_therapy
    And the response is non_responder
    And measure pain_nrs is not_important
    And the recommendation mentions "discuss stopping"
    And the explanation cites rule RESP-PAIN-NONE-01
    And the explanation cites rule RESP-ODI-NONE-01
    And the explanation cites rule RESP-PROMIS-PI-NONE-01
    And the explanation cites rule RESP-PROMIS-SLEEP-NONE-01
    And the explanation cites rule FU-RESP-NON-01

  Scenario: A substantial responder on every measure
    Given a 48-year-old male patient
    And lumbar radiculopathy (ICD-10-CM M54.16) diagnosed 2 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 14 weeks ago
    And a pain score (LOINC 72514-3) of 8 measured 15 weeks ago
    And a pain score (LOINC 72514-3) of 3.5 measured 1 week ago
    And an Oswestry Disability Index (LOINC 97908-8) of 50 measured 15 weeks ago
    And an Oswestry Disability Index (LOINC 97908-8) of 30 measured 1 week ago
    And a PROMIS pain interference T-score (LOINC 77865-4) of 68 measured 15 weeks ago
    And a PROMIS pain interference T-score (LOINC 77865-4) of 60 measured 1 week ago
    And a PROMIS sleep disturbance T-score (LOINC 77860-5) of 62 measured 15 weeks ago
    And a PROMIS sleep disturbance T-score (LOINC 77860-5) of 57 measured 1 week ago
    When the patient is assessed on 2026-03-01
    Then the response is substantial_responder
    And measure pain_nrs is substantial
    And measure odi is important
    And the explanation cites rule RESP-PAIN-SUBSTANTIAL-01
    And the explanation cites rule RESP-ODI-IMPORTANT-01
    And the explanation cites rule RESP-ODI-IMPORTANT-02
    And the explanation cites rule RESP-PROMIS-PI-IMPORTANT-01
    And the explanation cites rule RESP-PROMIS-SLEEP-IMPORTANT-01
    And the explanation cites rule FU-RESP-SUBSTANTIAL-01

  Scenario: Six weeks after the start it is too early to judge
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 6 weeks ago
    And a pain score (LOINC 72514-3) of 7 measured 7 weeks ago
    And a pain score (LOINC 72514-3) of 6.9 measured 1 week ago
    When the patient is assessed on 2026-03-01
    Then the response is too_early
    And measure pain_nrs is too_early
    And the recommendation mentions "too early"
    And the explanation cites rule RESP-TOO-EARLY-01
    And the explanation cites rule FU-RESP-EARLY-01

  Scenario: A dose raised 4 weeks ago needs 8 weeks at that dose before judging
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And low-dose naltrexone (RxNorm 7243) at 3 mg a day taken from 16 weeks ago until 4 weeks ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 4 weeks ago
    And a pain score (LOINC 72514-3) of 7 measured 17 weeks ago
    And a pain score (LOINC 72514-3) of 6.9 measured 1 week ago
    When the patient is assessed on 2026-03-01
    Then the response is too_early
    And the explanation cites rule RESP-TOO-EARLY-02
    And rule RESP-TOO-EARLY-01 does not apply

  Scenario: A missing baseline is reported, never guessed
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And a pain score (LOINC 72514-3) of 5 measured 2 weeks ago
    When the patient is assessed on 2026-03-01
    Then the response is no_baseline
    And measure pain_nrs is no_baseline
    And the recommendation mentions "baseline missing"
    And reminder baseline_measures is overdue by 112 days
    And the explanation cites rule RESP-NO-BASELINE-01
    And the explanation cites rule FU-RESP-NOBASE-01

  Scenario: A baseline but no measure since the start
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And a pain score (LOINC 72514-3) of 7 measured 17 weeks ago
    When the patient is assessed on 2026-03-01
    Then the response is not_measured
    And the explanation cites rule RESP-NOT-MEASURED-01
    And the explanation cites rule FU-RESP-NOTMEASURED-01

  # A change from 0 has no percentage: a baseline at the floor of the scale leaves nothing to reduce.
  Scenario: Pain 0 at baseline shows no pain response
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And a pain score (LOINC 72514-3) of 0 measured 17 weeks ago
    And a pain score (LOINC 72514-3) of 0 measured 2 days ago
    When the patient is assessed on 2026-03-01
    Then measure pain_nrs is not_important
    And the explanation cites rule RESP-PAIN-NONE-02

  Scenario: Pain 1 at baseline is judged by its change
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And a pain score (LOINC 72514-3) of 1 measured 17 weeks ago
    And a pain score (LOINC 72514-3) of 0 measured 2 days ago
    When the patient is assessed on 2026-03-01
    Then measure pain_nrs is substantial
    And rule RESP-PAIN-NONE-02 does not apply

  Scenario: An ODI of 0 % at baseline shows no ODI response
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And an Oswestry Disability Index (LOINC 97908-8) of 0 measured 17 weeks ago
    And an Oswestry Disability Index (LOINC 97908-8) of 0 measured 2 days ago
    When the patient is assessed on 2026-03-01
    Then measure odi is not_important
    And the explanation cites rule RESP-ODI-NONE-02

  Scenario: An ODI of 2 % at baseline is judged by its change
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And an Oswestry Disability Index (LOINC 97908-8) of 2 measured 17 weeks ago
    And an Oswestry Disability Index (LOINC 97908-8) of 0 measured 2 days ago
    When the patient is assessed on 2026-03-01
    Then measure odi is important
    And rule RESP-ODI-NONE-02 does not apply

  # A value off the instrument's scale is not a score (pain 80 is not 8): never a baseline or a follow-up.
  Scenario: A baseline pain score of 11 is off the 0-10 scale and is not used
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And a pain score (LOINC 72514-3) of 11 measured 17 weeks ago
    And a pain score (LOINC 72514-3) of 5 measured 2 days ago
    When the patient is assessed on 2026-03-01
    Then measure pain_nrs is no_baseline
    And a note says "outside its scale"
    And the explanation cites rule CHECK-SCORE-SCALE-01

  Scenario: A baseline pain score of 10 is the top of the scale and is used
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And a pain score (LOINC 72514-3) of 10 measured 17 weeks ago
    And a pain score (LOINC 72514-3) of 5 measured 2 days ago
    When the patient is assessed on 2026-03-01
    Then measure pain_nrs is substantial
    And rule CHECK-SCORE-SCALE-01 does not apply

  Scenario: A follow-up PHQ-9 total of 28 is off the 0-27 scale and is not used
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And a pain score (LOINC 72514-3) of 7 measured 17 weeks ago
    And a pain score (LOINC 72514-3) of 6.5 measured 2 days ago
    And a PHQ-9 total score (LOINC 44261-6) of 28 measured 2 days ago
    When the patient is assessed on 2026-03-01
    Then a note says "outside its scale"
    And the explanation cites rule CHECK-SCORE-SCALE-01

  Scenario: No outcome measure recorded at all
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    When the patient is assessed on 2026-03-01
    Then the decision is on_therapy
    And the response is no_baseline
    And the recommendation mentions "no outcome measures"
    And the explanation cites rule FU-RESP-NODATA-01

  Scenario: An opioid prescribed while on LDN raises a critical alert
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And an active oxycodone hydrochloride 5 MG Oral Tablet prescription (RxNorm 1049621) started 2 days ago
    When the patient is assessed on 2026-03-01
    Then the decision is contraindicated
    And a critical alert is raised
    And caution opioid_while_on_ldn is listed
    And the explanation cites rule THER-OPIOID-01
    And the explanation cites rule THER-OPIOID-02
    And it names "oxycodone"

  Scenario: Planned surgery on LDN: hold it 72 hours before
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 16 weeks ago
    And hip replacement surgery (SNOMED-CT 387713003) planned in 10 days
    When the patient is assessed on 2026-03-01
    Then the decision is on_therapy
    And caution planned_surgery is listed
    And reminder hold_before_surgery is due from 2026-03-08
    And reminder hold_before_surgery is upcoming
    And the explanation cites rule FU-MON-SURGERY-01

  Scenario: On levothyroxine, the TSH at week 4-6 is done once a result is recorded
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active levothyroxine prescription (RxNorm 10582) started 7 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 10 weeks ago
    And a TSH (LOINC 3016-3) of 2.1 measured 5 weeks ago
    When the patient is assessed on 2026-03-01
    Then reminder tsh_week_4_6 is done
    And the explanation cites rule FU-MON-TSH-01

  Scenario: With depression on LDN, a missed PHQ-9 is overdue
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And major depressive disorder (SNOMED-CT 370143000) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 4.5 mg a day started 10 weeks ago
    When the patient is assessed on 2026-03-01
    Then reminder phq9_each_visit is overdue by 28 days
    And the explanation cites rule FU-MON-PHQ9-01

  Scenario: Naltrexone at 9 mg a day is followed as LDN but flagged above the studied range
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active low-dose naltrexone prescription (RxNorm 7243) at 9 mg a day started 16 weeks ago
    When the patient is assessed on 2026-03-01
    Then the decision is on_therapy
    And caution dose_outside_ldn is listed

  Scenario: Naltrexone 50 mg a day is full-dose naltrexone, not LDN
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active naltrexone hydrochloride 50 MG Oral Tablet prescription (RxNorm 1483744) at 50 mg a day started 16 weeks ago
    When the patient is assessed on 2026-03-01
    Then rule THER-LDN-01 does not apply
    And a note says "not LDN"
    And the explanation cites rule THER-FULLDOSE-01

  Scenario: Naltrexone without a recorded dose is not assumed to be LDN; the dose is asked for
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And an active naltrexone prescription (RxNorm 7243) started 16 weeks ago
    When the patient is assessed on 2026-03-01
    Then rule THER-LDN-01 does not apply
    And the explanation cites rule CHECK-NTX-DOSE-01

  Scenario: Off naltrexone for a month: re-titrate if restarted
    Given a 55-year-old female patient
    And fibromyalgia (ICD-10-CM M79.7) diagnosed 3 years ago
    And low-dose naltrexone (RxNorm 7243) at 4.5 mg a day taken from 20 weeks ago until 30 days ago
    When the patient is assessed on 2026-03-01
    Then rule THER-LDN-01 does not apply
    And a note says "re-titrate from 1.5 mg"
    And the explanation cites rule THER-RETITRATE-01
