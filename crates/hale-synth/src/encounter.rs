//! What happens at one visit: the Encounter and the Conditions,
//! Observations, DiagnosticReports, Procedures, Immunizations,
//! MedicationRequests and Claims it produces.
//!
//! Every resource of a visit points at the visit's Encounter and is timed
//! within it. Values follow the patient: heights and weights follow growth and
//! the patient's build, blood pressure rises with age and hypertension, lab
//! results shift with the patient's long-term conditions (an A1c near 7.6 %
//! for a diabetic), and a febrile illness shows in the temperature.

use serde_json::Value;

use crate::elements::fhir;

use crate::calendar::{self, DAY, HOUR, Instant, MINUTE, REFERENCE_DAY};
use crate::elements::{codeable, codeable_code, money, period, quantity};
use crate::patient::{Chart, Visit, VisitKind};
use crate::random::round_to;
use crate::reference;
use crate::terminology::{
    self, ANAPHYLAXIS_CODE, CVX, Concept, INFLUENZA_VACCINE, LOINC, LabPanel, Medication,
    ROUTINE_PANELS, SCREENINGS, Sex, VACCINES, Vaccine,
};

/// The HL7 observation category code system.
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// What every resource of a visit shares.
struct VisitContext {
    /// The visit's kind.
    kind: VisitKind,
    /// The Encounter's id.
    encounter_id: String,
    /// A reference to the Encounter.
    encounter: Value,
    /// A reference to the Organization that provides the care.
    organization: Value,
    /// A reference to the Location of the care.
    location: Value,
    /// A reference to the clinician in charge.
    practitioner: Value,
    /// When the visit starts.
    start: Instant,
    /// When the visit ends.
    end: Instant,
    /// The local day the visit starts.
    day: i64,
    /// The patient's age in days on that day.
    age_days: i64,
    /// The patient's age in years on that day.
    age_years: u32,
    /// What the visit's Claim bills: a product or service and its price.
    claim_items: Vec<(Value, f64)>,
    /// References to the Conditions the Claim lists as diagnoses.
    diagnoses: Vec<Value>,
}

impl Chart {
    /// Writes one visit; `first` is true for the first visit of the
    /// history, where allergies are recorded.
    pub(crate) fn write_visit(&mut self, visit: &Visit, first: bool) {
        let zone = self.person.zone;
        let day = visit.start.local_day(zone);
        let age_years = self.person.age_years(day);
        let (site, clinician) = match visit.kind {
            VisitKind::Emergency => (&self.hospital, &self.hospital_team[0]),
            VisitKind::Inpatient => {
                let surgical = visit.acute.is_some_and(|a| a.surgical);
                (
                    &self.hospital,
                    &self.hospital_team[if surgical { 2 } else { 1 }],
                )
            }
            _ => {
                let position = if age_years < 18 {
                    2
                } else if self.random.chance(0.85) {
                    self.primary_position
                } else {
                    1 - self.primary_position
                };
                (&self.clinic, &self.clinic_team[position])
            }
        };
        let encounter_id = self.random.uuid();
        let mut context = VisitContext {
            kind: visit.kind,
            encounter: reference::local(self.style, "Encounter", &encounter_id),
            encounter_id,
            organization: site.organization_reference(self.style),
            location: site.location_reference(self.style),
            practitioner: clinician.practitioner_reference(self.style),
            start: visit.start,
            end: visit.end,
            day,
            age_days: self.person.age_days(day),
            age_years,
            claim_items: Vec::new(),
            diagnoses: Vec::new(),
        };

        self.write_encounter(&context, visit);
        let base_price = match visit.kind {
            VisitKind::Wellness => self.price(120.0, 260.0),
            VisitKind::Sick | VisitKind::FollowUp => self.price(80.0, 180.0),
            VisitKind::Emergency => self.price(600.0, 2_800.0),
            VisitKind::Inpatient => self.price(4_000.0, 22_000.0),
        };
        context
            .claim_items
            .push((codeable(visit.concept), base_price));

        if first {
            for allergy_index in 0..self.allergies.len() {
                self.write_allergy(&context, allergy_index);
            }
        }
        let acute_condition = visit.acute.map(|acute| {
            let reference =
                self.write_acute_condition(&context, &acute.concept, acute.duration_days);
            context.diagnoses.push(reference.clone());
            reference
        });
        for plan_index in 0..self.plans.len() {
            if self.plans[plan_index].diagnosis_visit == visit.id {
                let reference = self.write_chronic_condition(&context, plan_index);
                context.diagnoses.push(reference);
            } else if visit.follows == Some(plan_index) {
                let id = self.plans[plan_index]
                    .condition_id
                    .as_deref()
                    .expect("diagnosed before follow-up");
                context
                    .diagnoses
                    .push(reference::local(self.style, "Condition", id));
            }
        }

        let febrile = visit.acute.is_some_and(|a| a.fever) && self.random.chance(0.7);
        self.write_vitals(&context, febrile);
        if visit.kind == VisitKind::Wellness && age_years >= 18 {
            self.write_smoking_status(&context);
        }
        self.write_labs(&mut context, visit);
        self.write_procedures(&mut context, visit, acute_condition.as_ref());
        if visit.kind == VisitKind::Wellness {
            self.write_immunizations(&mut context);
        }
        self.write_medications(&context, visit, acute_condition.as_ref());
        self.write_encounter_claim(context);
    }

    /// Returns a moment `from..=to` minutes into the visit, pulled in so that
    /// it falls before the visit ends.
    fn moment_within(&mut self, context: &VisitContext, from: i64, to: i64) -> Instant {
        let last = ((context.end.0 - context.start.0) / MINUTE - 1).max(0);
        let to = to.min(last);
        let from = from.min(to);
        context
            .start
            .plus(self.random.between(from, to + 1) * MINUTE)
    }

    /// Returns a price in US dollars drawn uniformly from `low..high`.
    fn price(&mut self, low: f64, high: f64) -> f64 {
        round_to(low + (high - low) * self.random.unit(), 2)
    }

    /// Returns a reference to a generated resource of the visit's patient.
    fn local(&self, resource_type: &str, id: &str) -> Value {
        reference::local(self.style, resource_type, id)
    }

    /// Writes the Encounter.
    fn write_encounter(&mut self, context: &VisitContext, visit: &Visit) {
        let zone = self.person.zone;
        let (class_code, class_display) = match visit.kind {
            VisitKind::Emergency => ("EMER", "emergency"),
            VisitKind::Inpatient => ("IMP", "inpatient encounter"),
            _ => ("AMB", "ambulatory"),
        };
        let period = period(visit.start, visit.end, zone);
        let mut subject = self.patient_reference.clone();
        subject["display"] = fhir!(&self.person.display);
        let mut encounter = fhir!({
            "resourceType": "Encounter",
            "id": &context.encounter_id,
            "status": "finished",
            "class": { "system": terminology::ACT_CODE, "code": class_code, "display": class_display },
            "type": [codeable(visit.concept)],
            "subject": subject,
            "participant": [{
                "type": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                        "code": "PPRF",
                        "display": "primary performer",
                    }],
                    "text": "primary performer",
                }],
                "period": &period,
                "individual": &context.practitioner,
            }],
            "period": period,
        });
        let fields = encounter.as_object_mut().expect("resources are objects");
        if let Some(acute) = visit.acute {
            fields.insert("reasonCode".to_owned(), fhir!([codeable(&acute.concept)]));
        } else if let Some(plan_index) = visit.follows {
            let plan = &self.plans[plan_index];
            fields.insert(
                "reasonCode".to_owned(),
                fhir!([codeable(&plan.condition.concept)]),
            );
            let id = plan
                .condition_id
                .as_deref()
                .expect("diagnosed before follow-up");
            fields.insert(
                "reasonReference".to_owned(),
                fhir!([reference::local(self.style, "Condition", id)]),
            );
        }
        if visit.kind == VisitKind::Inpatient {
            fields.insert(
                "hospitalization".to_owned(),
                fhir!({
                    "admitSource": codeable_code(
                        "http://terminology.hl7.org/CodeSystem/admit-source",
                        "emd",
                        "From accident/emergency department",
                    ),
                    "dischargeDisposition": codeable_code(
                        "http://terminology.hl7.org/CodeSystem/discharge-disposition",
                        "home",
                        "Home",
                    ),
                }),
            );
        }
        fields.insert(
            "location".to_owned(),
            fhir!([{ "location": &context.location }]),
        );
        fields.insert("serviceProvider".to_owned(), context.organization.clone());
        self.resources.push(encounter);
    }

    /// Writes an AllergyIntolerance recorded at the visit.
    fn write_allergy(&mut self, context: &VisitContext, allergy_index: usize) {
        let allergy = self.allergies[allergy_index];
        let id = self.random.uuid();
        let manifestation = self.random.pick(allergy.reactions);
        let anaphylaxis = manifestation.code == ANAPHYLAXIS_CODE;
        let (criticality, severity) = if anaphylaxis {
            ("high", "severe")
        } else if self.random.chance(0.7) {
            ("low", "mild")
        } else {
            ("low", "moderate")
        };
        let (clinical, clinical_display) = if self.random.chance(0.9) {
            ("active", "Active")
        } else {
            ("inactive", "Inactive")
        };
        let (verification, verification_display) = if self.random.chance(0.85) {
            ("confirmed", "Confirmed")
        } else {
            ("unconfirmed", "Unconfirmed")
        };
        let recorded = context.start.plus(5 * MINUTE).date_time(self.person.zone);
        self.resources.push(fhir!({
            "resourceType": "AllergyIntolerance",
            "id": &id,
            "clinicalStatus": codeable_code(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                clinical,
                clinical_display,
            ),
            "verificationStatus": codeable_code(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                verification,
                verification_display,
            ),
            "type": "allergy",
            "category": [allergy.category],
            "criticality": criticality,
            "code": codeable(&allergy.concept),
            "patient": &self.patient_reference,
            "encounter": &context.encounter,
            "recordedDate": recorded,
            "recorder": &context.practitioner,
            "reaction": [{ "manifestation": [codeable(manifestation)], "severity": severity }],
        }));
    }

    /// Writes the Condition of an acute problem and returns a reference to it.
    fn write_acute_condition(
        &mut self,
        context: &VisitContext,
        concept: &Concept,
        duration_days: u32,
    ) -> Value {
        let zone = self.person.zone;
        let id = self.random.uuid();
        // Symptoms start up to three days before a clinic visit; injuries and
        // emergencies are seen the day they happen.
        let lead_days = match context.kind {
            VisitKind::Sick => self.random.between(0, 4).min(context.age_days),
            _ => 0,
        };
        let onset = context
            .start
            .plus(-lead_days * DAY - self.random.between(0, 6) * HOUR)
            .max(context.start.plus(-context.age_days * DAY));
        let abatement = onset.plus(i64::from(duration_days) * DAY);
        let resolved = abatement.local_day(zone) < REFERENCE_DAY;
        let mut condition = fhir!({
            "resourceType": "Condition",
            "id": &id,
            "clinicalStatus": codeable_code(
                "http://terminology.hl7.org/CodeSystem/condition-clinical",
                if resolved { "resolved" } else { "active" },
                if resolved { "Resolved" } else { "Active" },
            ),
            "verificationStatus": codeable_code(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "confirmed",
                "Confirmed",
            ),
            "category": [codeable_code(
                "http://terminology.hl7.org/CodeSystem/condition-category",
                "encounter-diagnosis",
                "Encounter Diagnosis",
            )],
            "code": codeable(concept),
            "subject": &self.patient_reference,
            "encounter": &context.encounter,
            "onsetDateTime": onset.date_time(zone),
        });
        let fields = condition.as_object_mut().expect("resources are objects");
        if resolved {
            fields.insert(
                "abatementDateTime".to_owned(),
                fhir!(abatement.date_time(zone)),
            );
        }
        fields.insert(
            "recordedDate".to_owned(),
            fhir!(&context.start.date_time(zone)),
        );
        fields.insert("recorder".to_owned(), context.practitioner.clone());
        let reference = self.local("Condition", &id);
        self.resources.push(condition);
        reference
    }

    /// Writes the Condition of a long-term problem diagnosed at the visit and
    /// returns a reference to it.
    fn write_chronic_condition(&mut self, context: &VisitContext, plan_index: usize) -> Value {
        let zone = self.person.zone;
        let id = self.random.uuid();
        let plan = &self.plans[plan_index];
        let condition = fhir!({
            "resourceType": "Condition",
            "id": &id,
            "clinicalStatus": codeable_code(
                "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "active",
                "Active",
            ),
            "verificationStatus": codeable_code(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "confirmed",
                "Confirmed",
            ),
            "category": [codeable_code(
                "http://terminology.hl7.org/CodeSystem/condition-category",
                "problem-list-item",
                "Problem List Item",
            )],
            "code": codeable(&plan.condition.concept),
            "subject": &self.patient_reference,
            "encounter": &context.encounter,
            "onsetDateTime": &plan.onset.date_time(zone),
            "recordedDate": &context.start.date_time(zone),
            "recorder": &context.practitioner,
        });
        let reference = self.local("Condition", &id);
        self.plans[plan_index].condition_id = Some(id);
        self.resources.push(condition);
        reference
    }

    /// Writes an Observation and returns its id. `value` holds the value
    /// elements (`valueQuantity`, `component`, ...) in order.
    fn write_observation(
        &mut self,
        context: &VisitContext,
        category: (&str, &str),
        concept: &Concept,
        effective: Instant,
        issued: Instant,
        value: Vec<(&str, Value)>,
    ) -> String {
        let zone = self.person.zone;
        let id = self.random.uuid();
        let mut observation = fhir!({
            "resourceType": "Observation",
            "id": &id,
            "status": "final",
            "category": [{
                "coding": [{ "system": OBSERVATION_CATEGORY, "code": category.0, "display": category.1 }],
            }],
            "code": codeable(concept),
            "subject": &self.patient_reference,
            "encounter": &context.encounter,
            "effectiveDateTime": effective.date_time(zone),
            "issued": issued.date_time(zone),
        });
        let fields = observation.as_object_mut().expect("resources are objects");
        for (name, element) in value {
            fields.insert(name.to_owned(), element);
        }
        self.resources.push(observation);
        id
    }

    /// Writes a vital sign with a UCUM quantity.
    fn write_vital(
        &mut self,
        context: &VisitContext,
        at: Instant,
        concept: &Concept,
        value: Value,
        unit: &str,
    ) {
        self.write_observation(
            context,
            ("vital-signs", "Vital Signs"),
            concept,
            at,
            at,
            vec![("valueQuantity", quantity(value, unit))],
        );
    }

    /// Writes the vital signs measured at the visit.
    fn write_vitals(&mut self, context: &VisitContext, febrile: bool) {
        let at = self.moment_within(context, 3, 15);
        let years = context.age_days as f64 / 365.25;
        let age = context.age_years;
        let full_set = context.kind == VisitKind::Wellness;
        let acute_care = matches!(context.kind, VisitKind::Emergency | VisitKind::Inpatient);

        let height = self.height_cm(years);
        let weight = self.weight_kg(years, height);
        if full_set {
            self.write_vital(
                context,
                at,
                &terminology::BODY_HEIGHT,
                fhir!(round_to(height, 1)),
                "cm",
            );
        }
        if full_set || context.kind == VisitKind::FollowUp || self.random.chance(0.5) {
            self.write_vital(
                context,
                at,
                &terminology::BODY_WEIGHT,
                fhir!(round_to(weight, 1)),
                "kg",
            );
        }
        if full_set && age >= 2 {
            let bmi = weight / (height / 100.0 * height / 100.0);
            self.write_vital(
                context,
                at,
                &terminology::BMI,
                fhir!(round_to(bmi, 1)),
                "kg/m2",
            );
        }
        if full_set && context.age_days < 730 {
            let circumference =
                interpolate(years, &[(0.0, 35.0), (0.5, 43.0), (1.0, 46.0), (2.0, 48.5)])
                    + self.random.normal(0.0, 0.8);
            self.write_vital(
                context,
                at,
                &terminology::HEAD_CIRCUMFERENCE,
                fhir!(round_to(circumference, 1)),
                "cm",
            );
        }
        if age >= 3 {
            let effect: f64 = self
                .plans
                .iter()
                .filter(|plan| plan.condition_id.is_some())
                .map(|plan| plan.condition.blood_pressure_effect)
                .sum();
            let (systolic, diastolic) = if age >= 18 {
                let aging = (f64::from(age) - 40.0).max(0.0) * 0.3;
                (
                    self.random.normal(116.0 + aging + effect, 9.0),
                    self.random.normal(75.0 + effect / 2.0, 6.0),
                )
            } else {
                let age = f64::from(age);
                (
                    self.random.normal(98.0 + age, 7.0),
                    self.random.normal(58.0 + age / 2.0, 5.0),
                )
            };
            let component = |concept: &Concept, value: f64| fhir!({ "code": codeable(concept), "valueQuantity": quantity(value.round() as i64, "mm[Hg]") });
            let components = vec![
                component(&terminology::SYSTOLIC, systolic),
                component(&terminology::DIASTOLIC, diastolic),
            ];
            self.write_observation(
                context,
                ("vital-signs", "Vital Signs"),
                &terminology::BLOOD_PRESSURE,
                at,
                at,
                vec![("component", fhir!(components))],
            );
        }
        let (heart_rate, respiratory_rate) = match age {
            0 => (
                self.random.normal(125.0, 10.0),
                self.random.normal(35.0, 4.0),
            ),
            1..=5 => (
                self.random.normal(105.0, 10.0),
                self.random.normal(26.0, 3.0),
            ),
            6..=12 => (self.random.normal(88.0, 9.0), self.random.normal(20.0, 2.0)),
            _ => (self.random.normal(72.0, 8.0), self.random.normal(15.0, 1.5)),
        };
        let heart_rate = heart_rate + if febrile { 12.0 } else { 0.0 };
        self.write_vital(
            context,
            at,
            &terminology::HEART_RATE,
            fhir!(heart_rate.round() as i64),
            "/min",
        );
        if context.kind != VisitKind::FollowUp {
            self.write_vital(
                context,
                at,
                &terminology::RESPIRATORY_RATE,
                fhir!(respiratory_rate.round() as i64),
                "/min",
            );
        }
        if febrile || acute_care || context.kind == VisitKind::Sick || self.random.chance(0.4) {
            let temperature = if febrile {
                self.random.normal(38.5, 0.4)
            } else {
                self.random.normal(36.8, 0.25)
            };
            self.write_vital(
                context,
                at,
                &terminology::BODY_TEMPERATURE,
                fhir!(round_to(temperature, 1)),
                "Cel",
            );
        }
        if acute_care {
            let saturation =
                self.random.normal(97.0, 1.0).min(100.0) - if febrile { 3.0 } else { 0.0 };
            self.write_vital(
                context,
                at,
                &terminology::OXYGEN_SATURATION,
                fhir!(saturation.round() as i64),
                "%",
            );
        }
    }

    /// Returns the patient's height at `years` of age: the adult height for
    /// the sex scaled by the patient's build, along a simple growth curve.
    fn height_cm(&mut self, years: f64) -> f64 {
        let adult = match self.person.sex {
            Sex::Female => 162.5,
            Sex::Male => 176.0,
        } * self.person.height_factor;
        let fraction = interpolate(
            years,
            &[
                (0.0, 0.29),
                (1.0, 0.44),
                (2.0, 0.51),
                (5.0, 0.63),
                (10.0, 0.80),
                (14.0, 0.93),
                (18.0, 1.0),
            ],
        );
        adult * fraction + self.random.normal(0.0, 0.4)
    }

    /// Returns the patient's weight at `years` of age and `height_cm`.
    fn weight_kg(&mut self, years: f64, height_cm: f64) -> f64 {
        let adult_bmi = self.person.bmi + (years - 40.0).clamp(0.0, 30.0) * 0.04;
        // Children's BMI follows the usual curve, nudged toward the adult
        // build so heavy adults were heavier children.
        let child_bmi = interpolate(
            years,
            &[
                (0.0, 13.0),
                (0.5, 17.0),
                (1.0, 17.2),
                (2.0, 16.5),
                (5.0, 15.5),
                (10.0, 17.5),
                (14.0, 20.0),
            ],
        ) * (1.0 + (self.person.bmi - 27.5) / 80.0);
        let bmi = if years >= 18.0 {
            adult_bmi
        } else if years >= 14.0 {
            child_bmi + (adult_bmi - child_bmi) * (years - 14.0) / 4.0
        } else {
            child_bmi
        };
        bmi * (height_cm / 100.0) * (height_cm / 100.0) + self.random.normal(0.0, 0.3)
    }

    /// Writes the smoking status of an adult.
    fn write_smoking_status(&mut self, context: &VisitContext) {
        let at = context.start.plus(2 * MINUTE);
        let finding = codeable(self.person.smoking);
        self.write_observation(
            context,
            ("social-history", "Social History"),
            &terminology::SMOKING_STATUS,
            at,
            at,
            vec![("valueCodeableConcept", finding)],
        );
    }

    /// Chooses the lab panels of the visit and writes their Observations and
    /// DiagnosticReports.
    fn write_labs(&mut self, context: &mut VisitContext, visit: &Visit) {
        let mut panels: Vec<&'static LabPanel> = Vec::new();
        if let Some(acute) = visit.acute {
            panels.extend(acute.panels);
        }
        if visit.kind == VisitKind::Wellness && context.age_years >= 18 && self.random.chance(0.3) {
            let (panel, _) = self
                .random
                .pick_weighted(ROUTINE_PANELS, |p| p.1)
                .expect("panels have weights");
            panels.push(panel);
        }
        for (plan_index, plan) in self.plans.iter().enumerate() {
            if plan.condition_id.is_none() || plan.condition.panels.is_empty() {
                continue;
            }
            let chance = match visit.kind {
                VisitKind::Wellness => 0.4,
                VisitKind::FollowUp if visit.follows == Some(plan_index) => 0.7,
                _ => 0.0,
            };
            if self.random.chance(chance) {
                panels.extend(plan.condition.panels);
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        panels.retain(|panel| {
            let new = !seen.contains(&panel.code);
            seen.push(panel.code);
            new
        });
        for panel in panels {
            self.write_panel(context, panel);
        }
    }

    /// Writes one lab panel: an Observation per test and the DiagnosticReport
    /// that lists them.
    fn write_panel(&mut self, context: &mut VisitContext, panel: &'static LabPanel) {
        let zone = self.person.zone;
        let effective = self.moment_within(context, 10, 30);
        let issued = effective.plus(self.random.between(2 * 60, 8 * 60) * MINUTE);
        let mut results = Vec::with_capacity(panel.tests.len());
        for test in panel.tests {
            let mean = self
                .plans
                .iter()
                .filter(|plan| plan.condition_id.is_some())
                .flat_map(|plan| plan.condition.lab_effects)
                .filter(|(code, _)| *code == test.code)
                .map(|(_, mean)| *mean)
                .next_back()
                .unwrap_or(test.mean);
            let sd = test.sd * (mean / test.mean).max(1.0);
            let value = decimal(self.random.normal(mean, sd), test.decimals);
            let mut range = serde_json::Map::new();
            if let Some(low) = test.low {
                range.insert(
                    "low".to_owned(),
                    quantity(decimal(low, test.decimals), test.unit),
                );
            }
            if let Some(high) = test.high {
                range.insert(
                    "high".to_owned(),
                    quantity(decimal(high, test.decimals), test.unit),
                );
            }
            let concept = Concept {
                system: LOINC,
                code: test.code,
                display: test.display,
            };
            let id = self.write_observation(
                context,
                ("laboratory", "Laboratory"),
                &concept,
                effective,
                issued,
                vec![
                    ("valueQuantity", quantity(value, test.unit)),
                    ("referenceRange", fhir!([range])),
                ],
            );
            let mut result = self.local("Observation", &id);
            result["display"] = fhir!(test.display);
            results.push(result);
        }
        let id = self.random.uuid();
        let concept = Concept {
            system: LOINC,
            code: panel.code,
            display: panel.display,
        };
        self.resources.push(fhir!({
            "resourceType": "DiagnosticReport",
            "id": &id,
            "status": "final",
            "category": [codeable_code("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")],
            "code": codeable(&concept),
            "subject": &self.patient_reference,
            "encounter": &context.encounter,
            "effectiveDateTime": effective.date_time(zone),
            "issued": issued.date_time(zone),
            "performer": [&context.organization],
            "result": results,
        }));
        let price = self.price(20.0, 120.0);
        context.claim_items.push((codeable(&concept), price));
    }

    /// Chooses the procedures of the visit and writes them.
    fn write_procedures(
        &mut self,
        context: &mut VisitContext,
        visit: &Visit,
        acute_condition: Option<&Value>,
    ) {
        let mut procedures: Vec<(&'static Concept, Option<Value>)> = Vec::new();
        if let Some(acute) = visit.acute {
            procedures.extend(
                acute
                    .procedures
                    .iter()
                    .map(|p| (p, acute_condition.cloned())),
            );
        }
        let age = context.age_years;
        let sex = self.person.sex;
        if visit.kind == VisitKind::Wellness {
            for screening in SCREENINGS {
                let fits = (screening.min_age..=screening.max_age).contains(&age)
                    && screening.sex.is_none_or(|s| s == sex);
                if fits && self.random.chance(screening.chance) {
                    procedures.push((screening.concept, None));
                }
            }
            let on_long_term_drugs = self
                .plans
                .iter()
                .any(|p| p.condition_id.is_some() && p.medication.is_some());
            if on_long_term_drugs && self.random.chance(0.5) {
                procedures.push((&terminology::MEDICATION_RECONCILIATION, None));
            }
        }
        for plan_index in 0..self.plans.len() {
            let plan = &self.plans[plan_index];
            let Some(condition_id) = plan.condition_id.as_deref() else {
                continue;
            };
            let chance = match visit.kind {
                VisitKind::Wellness => 0.15,
                VisitKind::FollowUp if visit.follows == Some(plan_index) => 0.4,
                _ => 0.0,
            };
            if chance == 0.0 {
                continue;
            }
            let reason = reference::local(self.style, "Condition", condition_id);
            for concept in plan.condition.monitoring {
                if self.random.chance(chance) {
                    procedures.push((concept, Some(reason.clone())));
                }
            }
        }

        let zone = self.person.zone;
        for (concept, reason) in procedures {
            let (start, minutes) = if visit.kind == VisitKind::Inpatient {
                (
                    self.moment_within(context, 60, 12 * 60),
                    self.random.between(30, 180),
                )
            } else {
                (
                    self.moment_within(context, 3, 60),
                    self.random.between(5, 45),
                )
            };
            let end = start.plus(minutes * MINUTE).min(context.end);
            let id = self.random.uuid();
            let mut procedure = fhir!({
                "resourceType": "Procedure",
                "id": &id,
                "status": "completed",
                "code": codeable(concept),
                "subject": &self.patient_reference,
                "encounter": &context.encounter,
                "performedPeriod": period(start, end, zone),
                "performer": [{ "actor": &context.practitioner }],
                "location": &context.location,
            });
            if let Some(reason) = reason {
                procedure["reasonReference"] = fhir!([reason]);
            }
            self.resources.push(procedure);
            let price = self.price(60.0, 1_500.0);
            context.claim_items.push((codeable(concept), price));
        }
    }

    /// Chooses the vaccines given at a wellness visit and writes their
    /// Immunizations.
    fn write_immunizations(&mut self, context: &mut VisitContext) {
        let (_, month, _) = calendar::civil_from_days(context.day);
        let year = calendar::year_of(context.day);
        let mut given: Vec<&'static Vaccine> = Vec::new();
        let flu_season = !(4..=8).contains(&month);
        if context.age_days >= INFLUENZA_VACCINE.min_age_days
            && self.random.chance(if flu_season { 0.6 } else { 0.05 })
        {
            given.push(&INFLUENZA_VACCINE);
        }
        for vaccine in VACCINES {
            let fits = (vaccine.min_age_days..=vaccine.max_age_days).contains(&context.age_days)
                && year >= vaccine.since_year;
            if given.len() < 4 && fits && self.random.chance(vaccine.chance) {
                given.push(vaccine);
            }
        }
        let zone = self.person.zone;
        for vaccine in given {
            let id = self.random.uuid();
            let at = self.moment_within(context, 10, 20);
            let lot = format!("{}{}", self.random.below(10, 100), self.random.digits(5));
            let concept = Concept {
                system: CVX,
                code: vaccine.code,
                display: vaccine.display,
            };
            self.resources.push(fhir!({
                "resourceType": "Immunization",
                "id": &id,
                "status": "completed",
                "vaccineCode": codeable(&concept),
                "patient": &self.patient_reference,
                "encounter": &context.encounter,
                "occurrenceDateTime": at.date_time(zone),
                "primarySource": true,
                "location": &context.location,
                "lotNumber": lot,
                "performer": [{
                    "function": codeable_code("http://terminology.hl7.org/CodeSystem/v2-0443", "AP", "Administering Provider"),
                    "actor": &context.practitioner,
                }],
            }));
            let price = self.price(25.0, 140.0);
            context.claim_items.push((codeable(&concept), price));
        }
    }

    /// Writes the visit's prescriptions: the acute problem's drug, and the
    /// renewals of long-term drugs.
    fn write_medications(
        &mut self,
        context: &VisitContext,
        visit: &Visit,
        acute_condition: Option<&Value>,
    ) {
        if let (Some(acute), Some(reason)) = (visit.acute, acute_condition)
            && !acute.medications.is_empty()
            && self.random.chance(acute.medication_chance)
        {
            let medication = self.random.pick(acute.medications);
            let finished = context.day + 30 < REFERENCE_DAY;
            let status = if finished { "completed" } else { "active" };
            self.write_medication_request(context, medication, status, false, reason.clone());
        }
        for plan_index in 0..self.plans.len() {
            let plan = &self.plans[plan_index];
            let (Some(medication), Some(condition_id)) =
                (plan.medication, plan.condition_id.as_deref())
            else {
                continue;
            };
            let renews = plan.diagnosis_visit == visit.id
                || visit.kind == VisitKind::Wellness
                || visit.follows == Some(plan_index);
            if !renews {
                continue;
            }
            let status = if plan.last_renewal_visit == Some(visit.id) {
                "active"
            } else {
                "completed"
            };
            let reason = reference::local(self.style, "Condition", condition_id);
            self.write_medication_request(context, medication, status, true, reason);
        }
    }

    /// Writes a MedicationRequest and the pharmacy Claim for it.
    fn write_medication_request(
        &mut self,
        context: &VisitContext,
        medication: &Medication,
        status: &str,
        long_term: bool,
        reason: Value,
    ) {
        let zone = self.person.zone;
        let id = self.random.uuid();
        let authored = context.end.plus(-2 * MINUTE);
        let (course, course_display) = if long_term {
            ("continuous", "Continuous long term therapy")
        } else {
            ("acute", "Short course (acute) therapy")
        };
        self.resources.push(fhir!({
            "resourceType": "MedicationRequest",
            "id": &id,
            "status": status,
            "intent": "order",
            "courseOfTherapyType": codeable_code(
                "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy",
                course,
                course_display,
            ),
            "medicationCodeableConcept": codeable(&medication.concept),
            "subject": &self.patient_reference,
            "encounter": &context.encounter,
            "authoredOn": authored.date_time(zone),
            "requester": &context.practitioner,
            "reasonReference": [reason],
            "dosageInstruction": [{
                "sequence": 1,
                "text": medication.sig,
                "timing": { "repeat": { "frequency": medication.frequency, "period": 1, "periodUnit": "d" } },
                "asNeededBoolean": medication.as_needed,
                "doseAndRate": [{ "doseQuantity": { "value": 1 } }],
            }],
        }));

        let claim_id = self.random.uuid();
        let price = self.price(5.0, 250.0);
        let prescription = self.local("MedicationRequest", &id);
        let claim = fhir!({
            "resourceType": "Claim",
            "id": claim_id,
            "status": "active",
            "type": codeable_code("http://terminology.hl7.org/CodeSystem/claim-type", "pharmacy", "Pharmacy"),
            "use": "claim",
            "patient": &self.patient_reference,
            "billablePeriod": period(authored, authored.plus(self.random.between(20, 180) * MINUTE), zone),
            "created": authored.date_time(zone),
            "provider": &context.organization,
            "priority": codeable_code("http://terminology.hl7.org/CodeSystem/processpriority", "normal", "Normal"),
            "prescription": prescription,
            "careTeam": [care_team_member(&context.practitioner)],
            "insurance": [{ "sequence": 1, "focal": true, "coverage": &self.coverage_reference }],
            "item": [{
                "sequence": 1,
                "careTeamSequence": [1],
                "productOrService": codeable(&medication.concept),
                "servicedDate": calendar::date(context.day),
                "encounter": [&context.encounter],
                "net": money(price),
            }],
            "total": money(price),
        });
        self.resources.push(claim);
    }

    /// Writes the Claim for the visit.
    fn write_encounter_claim(&mut self, context: VisitContext) {
        let zone = self.person.zone;
        let id = self.random.uuid();
        let claim_type = match context.kind {
            VisitKind::Emergency | VisitKind::Inpatient => ("institutional", "Institutional"),
            _ => ("professional", "Professional"),
        };
        let diagnosis_sequences: Vec<usize> = (1..=context.diagnoses.len()).collect();
        let diagnoses: Vec<Value> = context
            .diagnoses
            .iter()
            .zip(&diagnosis_sequences)
            .map(|(condition, sequence)| fhir!({ "sequence": *sequence, "diagnosisReference": condition }))
            .collect();
        let mut total = 0.0;
        let items: Vec<Value> = context
            .claim_items
            .into_iter()
            .enumerate()
            .map(|(index, (product, net))| {
                total += net;
                let mut item = fhir!({
                    "sequence": index + 1,
                    "careTeamSequence": [1],
                    "productOrService": product,
                    "servicedDate": calendar::date(context.day),
                    "net": money(net),
                });
                if index == 0 {
                    let fields = item.as_object_mut().expect("items are objects");
                    if !diagnosis_sequences.is_empty() {
                        fields.insert(
                            "diagnosisSequence".to_owned(),
                            fhir!(diagnosis_sequences.clone()),
                        );
                    }
                    fields.insert("encounter".to_owned(), fhir!([&context.encounter]));
                }
                item
            })
            .collect();
        let mut claim = fhir!({
            "resourceType": "Claim",
            "id": &id,
            "status": "active",
            "type": codeable_code("http://terminology.hl7.org/CodeSystem/claim-type", claim_type.0, claim_type.1),
            "use": "claim",
            "patient": &self.patient_reference,
            "billablePeriod": period(context.start, context.end, zone),
            "created": &context.end.date_time(zone),
            "provider": &context.organization,
            "priority": codeable_code("http://terminology.hl7.org/CodeSystem/processpriority", "normal", "Normal"),
            "facility": &context.location,
            "careTeam": [care_team_member(&context.practitioner)],
        });
        let fields = claim.as_object_mut().expect("resources are objects");
        if !diagnoses.is_empty() {
            fields.insert("diagnosis".to_owned(), fhir!(diagnoses));
        }
        fields.insert(
            "insurance".to_owned(),
            fhir!([{ "sequence": 1, "focal": true, "coverage": &self.coverage_reference }]),
        );
        fields.insert("item".to_owned(), fhir!(items));
        fields.insert("total".to_owned(), money(round_to(total, 2)));
        self.resources.push(claim);
    }
}

/// Returns `value` rounded to `decimals` places as a JSON number, an integer
/// when there are no decimals, so that a cholesterol of 174 prints as `174`
/// rather than `174.0`.
fn decimal(value: f64, decimals: u32) -> Value {
    if decimals == 0 {
        Value::from(value.round() as i64)
    } else {
        Value::from(round_to(value, decimals))
    }
}

/// Returns the Claim care team entry of the clinician in charge.
fn care_team_member(practitioner: &Value) -> Value {
    fhir!({
        "sequence": 1,
        "provider": practitioner,
        "role": codeable_code("http://terminology.hl7.org/CodeSystem/claimcareteamrole", "primary", "Primary provider"),
    })
}

/// Returns the piecewise-linear interpolation of `points` (sorted by x) at
/// `x`, holding the end values beyond the ends.
fn interpolate(x: f64, points: &[(f64, f64)]) -> f64 {
    let (first_x, first_y) = points[0];
    if x <= first_x {
        return first_y;
    }
    for pair in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    points[points.len() - 1].1
}
