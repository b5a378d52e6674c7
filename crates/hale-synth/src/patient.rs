//! One patient's chart: who the patient is, their insurance, allergies and
//! long-term conditions, and the timeline of their visits. The `encounter`
//! module writes what happens at each visit.
//!
//! Generation runs in a fixed order from one random stream, so the chart is a
//! pure function of `(seed, index, history_years)`:
//!
//! 1. the person (demographics, body size, smoking), their clinic and
//!    hospital, and their Coverage;
//! 2. the visit timeline: yearly wellness visits (a well-baby schedule under
//!    three), sick visits, emergency visits and hospital stays, each with an
//!    acute condition chosen for the patient's age, sex and the year;
//! 3. long-term conditions by age-specific prevalence, each diagnosed at a
//!    wellness visit (often the first, meaning it was already known) and
//!    followed up in later years;
//! 4. the visits, in time order.

use serde_json::Value;

use crate::elements::fhir;

use crate::SynthConfig;
use crate::calendar::{self, DAY, HOUR, Instant, MINUTE, REFERENCE_DAY, YEAR_DAYS, Zone};
use crate::demographics::{
    self, FAMILY, FEMALE_GIVEN, HISPANIC, MALE_GIVEN, MARITAL_STATUSES, NOT_HISPANIC,
    OTHER_LANGUAGES, RACES,
};
use crate::elements::typed_identifier;
use crate::random::{Domain, Random};
use crate::reference::{self, ReferenceStyle};
use crate::shared::{
    self, Address, Clinician, Payer, SYNTHEA_SYSTEM, SeedConstants, Site, clinic_count,
    clinic_number, hospital_count, hospital_number, site_count_for_patient,
};
use crate::terminology::{
    self, ACUTE_CONDITIONS, ALLERGIES, AcuteCondition, Allergy, CHRONIC_CONDITIONS,
    ChronicCondition, Concept, Medication, OBESITY, PAYERS, PayerKind, SMOKING_FINDINGS, Setting,
    Sex,
};

/// Returns the records of patient `index` in the given reference style.
pub(crate) fn records(config: &SynthConfig, index: u64, style: ReferenceStyle) -> Vec<Value> {
    let history_years = config.effective_history_years();
    let mut chart = Chart::new(config.seed, index, style);
    let mut visits = chart.plan_visits(history_years);
    chart.plan_conditions(&mut visits, history_years);
    chart.write(&visits);
    chart.resources
}

/// The person behind the chart.
pub(crate) struct Person {
    /// The Patient's id.
    pub(crate) id: String,
    /// The sex, used both as administrative gender and birth sex.
    pub(crate) sex: Sex,
    /// The display name, for example `Maria Lopez`.
    pub(crate) display: String,
    /// The day of birth.
    pub(crate) birth_day: i64,
    /// The home time zone.
    pub(crate) zone: Zone,
    /// Adult height relative to the average for the sex.
    pub(crate) height_factor: f64,
    /// Adult body mass index.
    pub(crate) bmi: f64,
    /// The smoking status finding of an adult.
    pub(crate) smoking: &'static Concept,
}

impl Person {
    /// Returns the age in days on `day`.
    pub(crate) fn age_days(&self, day: i64) -> i64 {
        day - self.birth_day
    }

    /// Returns the age in whole years on `day`.
    pub(crate) fn age_years(&self, day: i64) -> u32 {
        // 1461 days are four years including one leap day.
        u32::try_from(self.age_days(day).max(0) * 4 / 1_461).expect("ages are small")
    }
}

/// The kind of a visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VisitKind {
    /// An annual physical, or a well-baby visit.
    Wellness,
    /// A clinic visit for an acute problem.
    Sick,
    /// A clinic visit to follow up a long-term condition.
    FollowUp,
    /// An emergency department visit.
    Emergency,
    /// A hospital stay.
    Inpatient,
}

/// A planned visit.
pub(crate) struct Visit {
    /// The order in which the visit was planned, which identifies it.
    pub(crate) id: u32,
    /// The kind.
    pub(crate) kind: VisitKind,
    /// When it starts.
    pub(crate) start: Instant,
    /// When it ends.
    pub(crate) end: Instant,
    /// The Encounter.type.
    pub(crate) concept: &'static Concept,
    /// The acute condition seen, for sick, emergency and inpatient visits.
    pub(crate) acute: Option<&'static AcuteCondition>,
    /// The long-term condition followed up, as an index into the plans.
    pub(crate) follows: Option<usize>,
}

/// A long-term condition and how it enters the chart.
pub(crate) struct Plan {
    /// The condition.
    pub(crate) condition: &'static ChronicCondition,
    /// The visit at which it is first recorded.
    pub(crate) diagnosis_visit: u32,
    /// When it began.
    pub(crate) onset: Instant,
    /// The long-term drug, if any.
    pub(crate) medication: Option<&'static Medication>,
    /// The last visit that renews the drug, whose MedicationRequest stays
    /// active.
    pub(crate) last_renewal_visit: Option<u32>,
    /// The Condition's id once it has been written.
    pub(crate) condition_id: Option<String>,
}

/// A patient's generator state.
pub(crate) struct Chart {
    /// The reference style.
    pub(crate) style: ReferenceStyle,
    /// The patient's random stream.
    pub(crate) random: Random,
    /// The person.
    pub(crate) person: Person,
    /// A reference to the Patient.
    pub(crate) patient_reference: Value,
    /// The primary-care clinic.
    pub(crate) clinic: Site,
    /// The clinic's clinicians, by position.
    pub(crate) clinic_team: Vec<Clinician>,
    /// The position of the adult patient's usual doctor in the clinic team.
    pub(crate) primary_position: usize,
    /// The hospital.
    pub(crate) hospital: Site,
    /// The hospital's clinicians, by position.
    pub(crate) hospital_team: Vec<Clinician>,
    /// A reference to the Coverage.
    pub(crate) coverage_reference: Value,
    /// The allergies, written at the first visit.
    pub(crate) allergies: Vec<&'static Allergy>,
    /// The long-term conditions.
    pub(crate) plans: Vec<Plan>,
    /// The resources written so far.
    pub(crate) resources: Vec<Value>,
}

/// Age bands `(from years, to years, weight)`, roughly the US population.
const AGE_BANDS: &[(i64, i64, u32)] = &[
    (0, 5, 6),
    (5, 18, 16),
    (18, 30, 16),
    (30, 45, 19),
    (45, 65, 25),
    (65, 80, 13),
    (80, 98, 5),
];

/// Ages in days of the well-baby visits before the yearly schedule starts at
/// three.
const WELL_BABY_AGES: &[i64] = &[5, 30, 60, 120, 180, 270, 365, 456, 548, 730, 913];

impl Chart {
    /// Draws the person, their care sites and Coverage, and writes the
    /// Patient and Coverage resources.
    fn new(seed: u64, index: u64, style: ReferenceStyle) -> Chart {
        let mut random = Random::new(seed, Domain::Patient, index);
        let id = random.uuid();
        let patient_reference = reference::local(style, "Patient", &id);

        let sites = site_count_for_patient(index);
        let clinic = Site::new(
            seed,
            clinic_number(random.below_u64(0, clinic_count(sites))),
        );
        let hospital = Site::new(
            seed,
            hospital_number(random.below_u64(0, hospital_count(sites))),
        );
        let clinic_team: Vec<Clinician> = (0..shared::CLINICIANS_PER_SITE)
            .map(|position| Clinician::new(seed, &clinic, position))
            .collect();
        let hospital_team: Vec<Clinician> = (0..shared::CLINICIANS_PER_SITE)
            .map(|position| Clinician::new(seed, &hospital, position))
            .collect();
        let primary_position = random.below(0, 2) as usize;

        let sex = if random.chance(0.51) {
            Sex::Female
        } else {
            Sex::Male
        };
        let &(from, to, _) = random
            .pick_weighted(AGE_BANDS, |band| band.2)
            .expect("bands have weights");
        let age_days = random.between(from * YEAR_DAYS, to * YEAR_DAYS) + 1;
        let birth_day = REFERENCE_DAY - age_days;
        let given = *random.pick(if sex == Sex::Female {
            FEMALE_GIVEN
        } else {
            MALE_GIVEN
        });
        let middle = random
            .chance(0.4)
            .then(|| {
                *random.pick(if sex == Sex::Female {
                    FEMALE_GIVEN
                } else {
                    MALE_GIVEN
                })
            })
            .filter(|middle| *middle != given);
        let family = *random.pick(FAMILY);
        let height_factor = random.normal(1.0, 0.04);
        let bmi = random.normal(27.5, 4.8).max(17.0);
        let smoking = &random
            .pick_weighted(SMOKING_FINDINGS, |finding| finding.1)
            .expect("findings have weights")
            .0;
        let person = Person {
            id,
            sex,
            display: format!("{given} {family}"),
            birth_day,
            zone: clinic.zone(),
            height_factor,
            bmi,
            smoking,
        };

        let mut chart = Chart {
            style,
            random,
            person,
            patient_reference,
            clinic,
            clinic_team,
            primary_position,
            hospital,
            hospital_team,
            coverage_reference: Value::Null,
            allergies: Vec::new(),
            plans: Vec::new(),
            resources: Vec::with_capacity(160),
        };
        chart.write_patient(seed, index, given, middle, family);
        chart.write_coverage(seed);
        chart.draw_allergies();
        chart
    }

    /// Writes the Patient resource.
    fn write_patient(
        &mut self,
        seed: u64,
        index: u64,
        given: &str,
        middle: Option<&str>,
        family: &str,
    ) {
        let random = &mut self.random;
        let person = &self.person;
        let age = person.age_years(REFERENCE_DAY);
        let adult = age >= 18;

        let marital = if adult {
            random.pick_weighted(MARITAL_STATUSES, |status| match (status.code, age) {
                ("W", 0..=49) => 0,
                ("W", 70..) => status.weight * 5,
                ("S", 60..) => status.weight / 3,
                _ => status.weight,
            })
        } else {
            MARITAL_STATUSES.iter().find(|status| status.code == "S")
        }
        .expect("marital statuses have weights");

        let language = if random.chance(0.12) {
            ("es", "Spanish")
        } else if random.chance(0.05) {
            let other = random
                .pick_weighted(OTHER_LANGUAGES, |l| l.weight)
                .expect("languages have weights");
            (other.code, other.display)
        } else {
            ("en-US", "English (United States)")
        };
        let ethnicity = if language.0 == "es" || random.chance(0.10) {
            &HISPANIC
        } else {
            &NOT_HISPANIC
        };
        let race = random
            .pick_weighted(RACES, |r| r.weight)
            .expect("races have weights");

        let mut given_names = vec![given];
        given_names.extend(middle);
        let mut name = fhir!({ "use": "official", "family": family, "given": given_names });
        if adult {
            let prefix = match (person.sex, marital.code) {
                (Sex::Male, _) => "Mr.",
                (Sex::Female, "M" | "W") => "Mrs.",
                (Sex::Female, _) => "Ms.",
            };
            name["prefix"] = fhir!([prefix]);
        }

        let mut telecom =
            vec![fhir!({ "system": "phone", "value": shared::phone(random), "use": "home" })];
        if adult && random.chance(0.6) {
            let email = format!(
                "{}.{}{}@example.com",
                given.to_lowercase(),
                family.to_lowercase().replace('\'', ""),
                random.below(1, 1_000)
            );
            telecom.push(fhir!({ "system": "email", "value": email, "use": "home" }));
        }
        let home = Address::random(random, self.clinic.address.city);
        let address = fhir!({
            "use": "home",
            "line": [home.line],
            "city": home.city.name,
            "state": home.city.state,
            "postalCode": home.postal_code,
            "country": "US",
        });

        let constants = SeedConstants::new(seed);
        let race_extension = omb_extension("us-core-race", race.code, race.display);
        let ethnicity_extension =
            omb_extension("us-core-ethnicity", ethnicity.code, ethnicity.display);
        let patient = fhir!({
            "resourceType": "Patient",
            "id": &person.id,
            "extension": [
                race_extension,
                ethnicity_extension,
                {
                    "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
                    "valueCode": if person.sex == Sex::Female { "F" } else { "M" },
                },
            ],
            "identifier": [
                { "system": SYNTHEA_SYSTEM, "value": &person.id },
                typed_identifier("MR", "Medical Record Number", "http://hospital.smarthealthit.org", constants.mrn(index)),
                typed_identifier("SS", "Social Security Number", "http://hl7.org/fhir/sid/us-ssn", constants.ssn(index)),
            ],
            "name": [name],
            "telecom": telecom,
            "gender": person.sex.gender_code(),
            "birthDate": calendar::date(person.birth_day),
            "address": [address],
            "maritalStatus": {
                "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                    "code": marital.code,
                    "display": marital.display,
                }],
                "text": marital.display,
            },
            "multipleBirthBoolean": false,
            "communication": [{
                "language": {
                    "coding": [{ "system": "urn:ietf:bcp:47", "code": language.0, "display": language.1 }],
                    "text": language.1,
                },
                "preferred": true,
            }],
        });
        self.resources.push(patient);
    }

    /// Chooses the payer and writes the Coverage resource.
    fn write_coverage(&mut self, seed: u64) {
        let random = &mut self.random;
        let age = self.person.age_years(REFERENCE_DAY);
        let kind = if age >= 65 && random.chance(0.95) {
            Some(PayerKind::Medicare)
        } else if random.chance(if age < 18 { 0.35 } else { 0.15 }) {
            Some(PayerKind::Medicaid)
        } else if random.chance(0.05) {
            // Self-pay patients still have a Coverage, paid by themselves, as
            // FHIR models it, because every Claim needs one.
            None
        } else {
            Some(PayerKind::Commercial)
        };
        let payer = kind.map(|kind| {
            let number = if kind == PayerKind::Commercial {
                let chosen = random
                    .pick_weighted(PAYERS, |p| p.weight)
                    .expect("commercial payers have weights");
                PAYERS
                    .iter()
                    .position(|p| std::ptr::eq(p, chosen))
                    .expect("chosen from the table")
            } else {
                PAYERS
                    .iter()
                    .position(|p| p.kind == kind)
                    .expect("every kind has a payer")
            };
            Payer::new(seed, number)
        });

        let id = random.uuid();
        let since_day =
            (REFERENCE_DAY - random.between(YEAR_DAYS, 15 * YEAR_DAYS)).max(self.person.birth_day);
        let (type_system, type_code, type_display) = match kind {
            None => (
                "http://terminology.hl7.org/CodeSystem/coverage-selfpay",
                "pay",
                "PAY",
            ),
            Some(PayerKind::Commercial) => {
                (terminology::ACT_CODE, "HIP", "health insurance plan policy")
            }
            Some(_) => (terminology::ACT_CODE, "PUBLICPOL", "public healthcare"),
        };
        let (relationship, relationship_display) =
            if age < 18 && kind == Some(PayerKind::Commercial) {
                ("child", "Child")
            } else {
                ("self", "Self")
            };
        let subscriber_id = format!("{}{}", random.below(100, 1_000), random.digits(8));
        let payor = match &payer {
            Some(payer) => payer.reference(self.style),
            None => self.patient_reference.clone(),
        };
        let mut coverage = fhir!({
            "resourceType": "Coverage",
            "id": &id,
            "status": "active",
            "type": {
                "coding": [{ "system": type_system, "code": type_code, "display": type_display }],
                "text": payer.as_ref().map_or("Self-pay", |p| p.info.name),
            },
            "subscriberId": subscriber_id,
            "beneficiary": &self.patient_reference,
            "relationship": {
                "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                    "code": relationship,
                    "display": relationship_display,
                }],
            },
            "period": { "start": calendar::date(since_day) },
            "payor": [payor],
        });
        if kind.is_none() {
            coverage
                .as_object_mut()
                .expect("resources are objects")
                .remove("subscriberId");
        }
        self.coverage_reference = reference::local(self.style, "Coverage", &id);
        self.resources.push(coverage);
    }

    /// Draws the patient's allergies: none for most, up to three.
    fn draw_allergies(&mut self) {
        let mut chance = 0.22;
        while self.allergies.len() < 3 && self.random.chance(chance) {
            let allergies = &self.allergies;
            let drawn = self.random.pick_weighted(ALLERGIES, |a| {
                if allergies.iter().any(|have| std::ptr::eq(*have, a)) {
                    0
                } else {
                    a.weight
                }
            });
            self.allergies.extend(drawn);
            chance = 0.3;
        }
    }

    /// Returns a random day in `from..to` moved off the weekend (backwards, so
    /// it stays before the reference date), or `None` if the range is empty.
    fn clinic_day(&mut self, from: i64, to: i64) -> Option<i64> {
        if from >= to {
            return None;
        }
        let day = self.random.between(from, to);
        let day = match calendar::weekday(day) {
            6 => day - 1,
            0 => day - 2,
            _ => day,
        };
        Some(day.max(self.person.birth_day + 1))
    }

    /// Returns a visit of `kind` on `day` during clinic hours.
    fn clinic_visit(
        &mut self,
        id: u32,
        kind: VisitKind,
        day: i64,
        concept: &'static Concept,
    ) -> Visit {
        let minutes = match kind {
            VisitKind::Wellness => self.random.between(20, 51),
            _ => self.random.between(15, 31),
        };
        let start = self
            .person
            .zone
            .instant_at(day, 8 * HOUR + self.random.between(0, 34) * 15 * MINUTE);
        Visit {
            id,
            kind,
            start,
            end: start.plus(minutes * MINUTE),
            concept,
            acute: None,
            follows: None,
        }
    }

    /// Draws an acute condition for `setting`, fitting the patient on `day`.
    fn draw_acute(&mut self, setting: Setting, day: i64) -> Option<&'static AcuteCondition> {
        let age = self.person.age_years(day);
        let year = calendar::year_of(day);
        let sex = self.person.sex;
        self.random.pick_weighted(ACUTE_CONDITIONS, |c| {
            let fits = c.setting == setting
                && (c.min_age..=c.max_age).contains(&age)
                && c.sex.is_none_or(|s| s == sex)
                && year >= c.since_year;
            if fits { c.weight } else { 0 }
        })
    }

    /// Plans the wellness, sick, emergency and inpatient visits of the last
    /// `history_years` years, in time order.
    fn plan_visits(&mut self, history_years: u32) -> Vec<Visit> {
        let birth_day = self.person.birth_day;
        let last_day = REFERENCE_DAY - 1;
        let window_start = (REFERENCE_DAY - i64::from(history_years) * YEAR_DAYS).max(birth_day);
        let mut visits = Vec::new();
        let mut next_id = 0u32;
        let mut id = || {
            next_id += 1;
            next_id - 1
        };

        for &age_days in WELL_BABY_AGES {
            let day = birth_day + age_days + self.random.between(0, 7);
            if (window_start..last_day).contains(&day) {
                let day = self.clinic_day(day, day + 1).expect("a one-day range");
                visits.push(self.clinic_visit(
                    id(),
                    VisitKind::Wellness,
                    day,
                    &terminology::WELL_CHILD,
                ));
            }
        }

        let mut slot_start = window_start;
        while slot_start < last_day {
            let slot_end = (slot_start + YEAR_DAYS).min(last_day);
            // A partial last year gets a proportional share of visits.
            let share = (slot_end - slot_start) as f64 / YEAR_DAYS as f64;
            let age = self.person.age_years(slot_start);

            let wellness_chance = match age {
                0..=2 => 0.0,
                3..=17 => 0.85,
                18..=64 => 0.7,
                _ => 0.88,
            };
            if self.random.chance(wellness_chance * share) {
                let concept = match age {
                    0..=17 => &terminology::WELL_CHILD,
                    _ if self.random.chance(0.8) => &terminology::GENERAL_EXAM,
                    _ => &terminology::CHECK_UP,
                };
                if let Some(day) = self.clinic_day(slot_start, slot_end) {
                    visits.push(self.clinic_visit(id(), VisitKind::Wellness, day, concept));
                }
            }

            let sick_visits = u32::from(self.random.chance(0.45 * share))
                + u32::from(self.random.chance(0.2 * share))
                + u32::from(age < 6 && self.random.chance(0.3 * share))
                + u32::from(age >= 65 && self.random.chance(0.2 * share));
            for _ in 0..sick_visits {
                let Some(day) = self.clinic_day(slot_start.max(birth_day + 14), slot_end) else {
                    continue;
                };
                let Some(acute) = self.draw_acute(Setting::Clinic, day) else {
                    continue;
                };
                let concept = match self.random.below(0, 10) {
                    0..=4 => &terminology::SYMPTOM_VISIT,
                    5..=7 => &terminology::PROBLEM_VISIT,
                    _ => &terminology::URGENT_CARE,
                };
                let mut visit = self.clinic_visit(id(), VisitKind::Sick, day, concept);
                visit.acute = Some(acute);
                visits.push(visit);
            }

            // Emergency visits and stays must end before the reference date,
            // so they start at least a week before it.
            let hospital_end = slot_end.min(REFERENCE_DAY - 8);
            if self.random.chance(0.07 * share) && slot_start < hospital_end {
                let day = self.random.between(slot_start, hospital_end);
                if let Some(acute) = self.draw_acute(Setting::Emergency, day) {
                    let start = self
                        .person
                        .zone
                        .instant_at(day, self.random.between(0, DAY));
                    let end = start.plus(self.random.between(90, 8 * 60) * MINUTE);
                    visits.push(Visit {
                        id: id(),
                        kind: VisitKind::Emergency,
                        start,
                        end,
                        concept: &terminology::EMERGENCY_ROOM,
                        acute: Some(acute),
                        follows: None,
                    });
                }
            }
            let admission_chance = if age >= 65 { 0.06 } else { 0.015 };
            if self.random.chance(admission_chance * share) && slot_start < hospital_end {
                let day = self.random.between(slot_start, hospital_end);
                if let Some(acute) = self.draw_acute(Setting::Inpatient, day) {
                    let start = self
                        .person
                        .zone
                        .instant_at(day, self.random.between(0, DAY));
                    let nights = self.random.between(1, 6) + i64::from(acute.surgical);
                    let end = start.plus(nights * DAY + self.random.between(-4, 5) * HOUR);
                    let concept = if acute.surgical {
                        &terminology::SURGICAL_ADMISSION
                    } else if acute.intensive_care {
                        &terminology::ICU_ADMISSION
                    } else {
                        &terminology::HOSPITAL_ADMISSION
                    };
                    visits.push(Visit {
                        id: id(),
                        kind: VisitKind::Inpatient,
                        start,
                        end,
                        concept,
                        acute: Some(acute),
                        follows: None,
                    });
                }
            }
            slot_start = slot_end;
        }

        if visits.is_empty() {
            // Every patient has been seen at least once.
            let day = self
                .clinic_day(window_start + 1, last_day)
                .unwrap_or(last_day);
            let concept = if self.person.age_years(day) < 18 {
                &terminology::WELL_CHILD
            } else {
                &terminology::GENERAL_EXAM
            };
            visits.push(self.clinic_visit(id(), VisitKind::Wellness, day, concept));
        }
        visits.sort_by_key(|visit| (visit.start, visit.id));
        visits
    }

    /// Draws the long-term conditions, chooses their diagnosis visits, adds
    /// their follow-up visits, and records which visit last renews each drug.
    fn plan_conditions(&mut self, visits: &mut Vec<Visit>, history_years: u32) {
        let age = self.person.age_years(REFERENCE_DAY);
        let band = match age {
            0..=44 => 0,
            45..=64 => 1,
            _ => 2,
        };
        let sex = self.person.sex;
        let mut groups_taken = Vec::new();
        let mut candidates: Vec<&'static ChronicCondition> = Vec::new();
        for condition in CHRONIC_CONDITIONS {
            let fits = (condition.min_age..=condition.max_age).contains(&age)
                && condition.sex.is_none_or(|s| s == sex)
                && (condition.group == 0 || !groups_taken.contains(&condition.group));
            if fits && self.random.chance(condition.prevalence[band]) {
                candidates.push(condition);
                groups_taken.push(condition.group);
            }
        }
        if age >= 18 && self.person.bmi >= 30.0 {
            candidates.push(&OBESITY);
        }

        for condition in candidates {
            let min_age = condition.min_age;
            let eligible: Vec<&Visit> = visits
                .iter()
                .filter(|v| {
                    v.kind == VisitKind::Wellness
                        && self.person.age_years(v.start.local_day(self.person.zone)) >= min_age
                })
                .collect();
            let Some(&first) = eligible.first() else {
                continue;
            };
            let (visit, onset) = if self.random.chance(0.5) {
                // Already known at the first visit of the history.
                let earliest = self.person.birth_day + i64::from(min_age) * YEAR_DAYS;
                let visit_day = first.start.local_day(self.person.zone);
                let back = self
                    .random
                    .between(30, 5 * YEAR_DAYS)
                    .min(visit_day - earliest)
                    .max(0);
                (first, first.start.plus(-back * DAY))
            } else {
                let len = u32::try_from(eligible.len()).expect("few visits");
                let visit = eligible[self.random.below(0, len) as usize];
                let back = self.random.between(0, 60).min(
                    self.person
                        .age_days(visit.start.local_day(self.person.zone)),
                );
                (visit, visit.start.plus(-back * DAY))
            };
            let medication = (!condition.medications.is_empty() && self.random.chance(0.95))
                .then(|| self.random.pick(condition.medications));
            self.plans.push(Plan {
                condition,
                diagnosis_visit: visit.id,
                onset,
                medication,
                last_renewal_visit: None,
                condition_id: None,
            });
        }

        // Follow-up visits in the years after diagnosis.
        let mut next_id = u32::try_from(visits.len()).expect("few visits");
        let window_start =
            (REFERENCE_DAY - i64::from(history_years) * YEAR_DAYS).max(self.person.birth_day);
        for plan_index in 0..self.plans.len() {
            let plan = &self.plans[plan_index];
            if plan.medication.is_none() && plan.condition.panels.is_empty() {
                continue;
            }
            let diagnosis = visits
                .iter()
                .find(|v| v.id == plan.diagnosis_visit)
                .expect("planned visit");
            let first_day = diagnosis.start.local_day(self.person.zone) + 14;
            let mut slot_start = window_start;
            while slot_start < REFERENCE_DAY - 1 {
                let slot_end = (slot_start + YEAR_DAYS).min(REFERENCE_DAY - 1);
                if slot_end > first_day
                    && self.random.chance(0.3)
                    && let Some(day) = self.clinic_day(slot_start.max(first_day), slot_end)
                {
                    let mut visit = self.clinic_visit(
                        next_id,
                        VisitKind::FollowUp,
                        day,
                        &terminology::FOLLOW_UP,
                    );
                    visit.follows = Some(plan_index);
                    visits.push(visit);
                    next_id += 1;
                }
                slot_start = slot_end;
            }
        }
        visits.sort_by_key(|visit| (visit.start, visit.id));

        for (plan_index, plan) in self.plans.iter_mut().enumerate() {
            if plan.medication.is_none() {
                continue;
            }
            let diagnosis_start = visits
                .iter()
                .find(|v| v.id == plan.diagnosis_visit)
                .expect("planned visit")
                .start;
            plan.last_renewal_visit = visits
                .iter()
                .filter(|v| v.start >= diagnosis_start)
                .filter(|v| v.kind == VisitKind::Wellness || v.follows == Some(plan_index))
                .map(|v| v.id)
                .next_back();
        }
    }

    /// Writes every visit.
    fn write(&mut self, visits: &[Visit]) {
        for (position, visit) in visits.iter().enumerate() {
            self.write_visit(visit, position == 0);
        }
    }
}

/// Returns a US Core race or ethnicity extension with one OMB category.
fn omb_extension(name: &str, code: &str, display: &str) -> Value {
    fhir!({
        "url": format!("http://hl7.org/fhir/us/core/StructureDefinition/{name}"),
        "extension": [
            {
                "url": "ombCategory",
                "valueCoding": { "system": demographics::RACE_AND_ETHNICITY_SYSTEM, "code": code, "display": display },
            },
            { "url": "text", "valueString": display },
        ],
    })
}
