//! The embedded clinical code tables: encounter types, conditions, medications,
//! procedures, vaccines, allergies, vital signs and lab tests.
//!
//! Codes and display names are real SNOMED CT, LOINC, RxNorm, CVX and NUCC
//! terms, most of them the ones Synthea emits, so that generated records look
//! like the data servers meet in practice and searches by code find them.
//! Weights and prevalences are rough US primary-care figures chosen for
//! plausibility, not epidemiology.

/// SNOMED CT.
pub(crate) const SNOMED: &str = "http://snomed.info/sct";
/// LOINC.
pub(crate) const LOINC: &str = "http://loinc.org";
/// RxNorm.
pub(crate) const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
/// CDC vaccine codes.
pub(crate) const CVX: &str = "http://hl7.org/fhir/sid/cvx";
/// UCUM units.
pub(crate) const UCUM: &str = "http://unitsofmeasure.org";
/// The NUCC health care provider taxonomy.
pub(crate) const NUCC: &str = "http://nucc.org/provider-taxonomy";
/// HL7 v3 ActCode, which holds the encounter classes.
pub(crate) const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

/// Sex as far as a code table cares about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sex {
    /// FHIR administrative gender `female`.
    Female,
    /// FHIR administrative gender `male`.
    Male,
}

impl Sex {
    /// Returns the FHIR `AdministrativeGender` code.
    pub(crate) fn gender_code(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
        }
    }
}

/// A coded concept: system, code and display.
#[derive(Debug)]
pub(crate) struct Concept {
    /// The code system URI.
    pub(crate) system: &'static str,
    /// The code.
    pub(crate) code: &'static str,
    /// The code system's display for the code.
    pub(crate) display: &'static str,
}

const fn snomed(code: &'static str, display: &'static str) -> Concept {
    Concept {
        system: SNOMED,
        code,
        display,
    }
}

const fn rxnorm(code: &'static str, display: &'static str) -> Concept {
    Concept {
        system: RXNORM,
        code,
        display,
    }
}

// ---------------------------------------------------------------------------
// Encounter types.
// ---------------------------------------------------------------------------

/// General examination of an adult, the usual annual wellness visit.
pub(crate) const GENERAL_EXAM: Concept =
    snomed("162673000", "General examination of patient (procedure)");
/// Well child visit.
pub(crate) const WELL_CHILD: Concept = snomed("410620009", "Well child visit (procedure)");
/// Check-up visit.
pub(crate) const CHECK_UP: Concept = snomed("185349003", "Encounter for check up (procedure)");
/// Visit for a symptom.
pub(crate) const SYMPTOM_VISIT: Concept = snomed("185345009", "Encounter for symptom (procedure)");
/// Visit for a problem.
pub(crate) const PROBLEM_VISIT: Concept = snomed("185347001", "Encounter for problem (procedure)");
/// Urgent care visit.
pub(crate) const URGENT_CARE: Concept = snomed("702927004", "Urgent care clinic (procedure)");
/// Follow-up of a chronic condition.
pub(crate) const FOLLOW_UP: Concept = snomed("390906007", "Follow-up encounter (procedure)");
/// Emergency room visit.
pub(crate) const EMERGENCY_ROOM: Concept =
    snomed("50849002", "Emergency room admission (procedure)");
/// Inpatient admission.
pub(crate) const HOSPITAL_ADMISSION: Concept = snomed("32485007", "Hospital admission (procedure)");
/// Admission to a surgical department.
pub(crate) const SURGICAL_ADMISSION: Concept =
    snomed("305408004", "Admission to surgical department (procedure)");
/// Admission to intensive care.
pub(crate) const ICU_ADMISSION: Concept =
    snomed("305351004", "Admission to intensive care unit (procedure)");

// ---------------------------------------------------------------------------
// Medications.
// ---------------------------------------------------------------------------

/// A medication with the sig a prescriber would write for it.
#[derive(Debug)]
pub(crate) struct Medication {
    /// The RxNorm clinical drug.
    pub(crate) concept: Concept,
    /// The patient instruction.
    pub(crate) sig: &'static str,
    /// Doses per day.
    pub(crate) frequency: u32,
    /// Whether the drug is taken only as needed.
    pub(crate) as_needed: bool,
}

const fn med(
    code: &'static str,
    display: &'static str,
    sig: &'static str,
    frequency: u32,
    as_needed: bool,
) -> Medication {
    Medication {
        concept: rxnorm(code, display),
        sig,
        frequency,
        as_needed,
    }
}

const DAILY_TABLET: &str = "Take 1 tablet by mouth once daily.";

const LISINOPRIL: Medication = med(
    "314076",
    "lisinopril 10 MG Oral Tablet",
    DAILY_TABLET,
    1,
    false,
);
const HYDROCHLOROTHIAZIDE: Medication = med(
    "310798",
    "Hydrochlorothiazide 25 MG Oral Tablet",
    DAILY_TABLET,
    1,
    false,
);
const AMLODIPINE: Medication = med(
    "197361",
    "amLODIPine 5 MG Oral Tablet",
    DAILY_TABLET,
    1,
    false,
);
const METFORMIN: Medication = med(
    "860975",
    "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
    "Take 1 tablet by mouth with the evening meal.",
    1,
    false,
);
const INSULIN: Medication = med(
    "106892",
    "insulin human, isophane 70 UNT/ML / Regular Insulin, Human 30 UNT/ML Injectable Suspension [Humulin]",
    "Inject subcutaneously twice daily before meals as directed.",
    2,
    false,
);
const SIMVASTATIN_10: Medication = med(
    "314231",
    "Simvastatin 10 MG Oral Tablet",
    "Take 1 tablet by mouth at bedtime.",
    1,
    false,
);
const SIMVASTATIN_20: Medication = med(
    "312961",
    "Simvastatin 20 MG Oral Tablet",
    "Take 1 tablet by mouth at bedtime.",
    1,
    false,
);
const FLUTICASONE: Medication = med(
    "895994",
    "120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
    "Inhale 2 puffs twice daily.",
    2,
    false,
);
const ALBUTEROL: Medication = med(
    "2123111",
    "NDA020503 200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
    "Inhale 2 puffs every 4 to 6 hours as needed for wheezing.",
    4,
    true,
);
const FLUTICASONE_SALMETEROL: Medication = med(
    "896209",
    "60 ACTUAT Fluticasone propionate 0.25 MG/ACTUAT / salmeterol 0.05 MG/ACTUAT Dry Powder Inhaler",
    "Inhale 1 puff twice daily.",
    2,
    false,
);
const CLOPIDOGREL: Medication = med(
    "309362",
    "Clopidogrel 75 MG Oral Tablet",
    DAILY_TABLET,
    1,
    false,
);
const NITROGLYCERIN: Medication = med(
    "705129",
    "Nitroglycerin 0.4 MG/ACTUAT Mucosal Spray",
    "Spray 1 dose under the tongue at onset of chest pain; may repeat every 5 minutes.",
    3,
    true,
);
const WARFARIN: Medication = med(
    "855332",
    "Warfarin Sodium 5 MG Oral Tablet",
    DAILY_TABLET,
    1,
    false,
);
const DIGOXIN: Medication = med(
    "197604",
    "Digoxin 0.125 MG Oral Tablet",
    DAILY_TABLET,
    1,
    false,
);
const ALENDRONATE: Medication = med(
    "904419",
    "Alendronic acid 10 MG Oral Tablet",
    "Take 1 tablet by mouth in the morning with a full glass of water.",
    1,
    false,
);
const NAPROXEN_220: Medication = med(
    "849574",
    "Naproxen sodium 220 MG Oral Tablet",
    "Take 1 tablet by mouth every 12 hours as needed for pain.",
    2,
    true,
);
const NAPROXEN_500: Medication = med(
    "198014",
    "Naproxen 500 MG Oral Tablet",
    "Take 1 tablet by mouth twice daily with food as needed for pain.",
    2,
    true,
);
const ACETAMINOPHEN: Medication = med(
    "313782",
    "Acetaminophen 325 MG Oral Tablet",
    "Take 2 tablets by mouth every 6 hours as needed for pain.",
    4,
    true,
);
const TRAMADOL: Medication = med(
    "835603",
    "tramadol hydrochloride 50 MG Oral Tablet",
    "Take 1 tablet by mouth every 6 hours as needed for severe pain.",
    4,
    true,
);
const FLUOXETINE: Medication = med(
    "310385",
    "FLUoxetine 20 MG Oral Capsule",
    "Take 1 capsule by mouth once daily.",
    1,
    false,
);
const FERROUS_SULFATE: Medication = med(
    "310325",
    "ferrous sulfate 325 MG Oral Tablet",
    DAILY_TABLET,
    1,
    false,
);
const GALANTAMINE: Medication = med(
    "310436",
    "Galantamine 4 MG Oral Tablet",
    "Take 1 tablet by mouth twice daily with meals.",
    2,
    false,
);
const DONEPEZIL: Medication = med(
    "997223",
    "Donepezil hydrochloride 10 MG Oral Tablet",
    "Take 1 tablet by mouth at bedtime.",
    1,
    false,
);
const FEXOFENADINE: Medication = med(
    "997488",
    "Fexofenadine hydrochloride 30 MG Oral Tablet",
    "Take 1 tablet by mouth twice daily.",
    2,
    false,
);
const CETIRIZINE: Medication = med(
    "1014676",
    "cetirizine hydrochloride 5 MG Oral Tablet",
    DAILY_TABLET,
    1,
    false,
);
const HYDROCORTISONE_CREAM: Medication = med(
    "106258",
    "Hydrocortisone 10 MG/ML Topical Cream",
    "Apply a thin layer to the affected skin twice daily.",
    2,
    false,
);
const FUROSEMIDE: Medication = med(
    "313988",
    "Furosemide 40 MG Oral Tablet",
    "Take 1 tablet by mouth every morning.",
    1,
    false,
);
const CARVEDILOL: Medication = med(
    "200033",
    "carvedilol 25 MG Oral Tablet",
    "Take 1 tablet by mouth twice daily with food.",
    2,
    false,
);
const AMOXICILLIN: Medication = med(
    "308182",
    "Amoxicillin 250 MG Oral Capsule",
    "Take 1 capsule by mouth three times daily for 10 days.",
    3,
    false,
);
const AMOXICILLIN_CLAVULANATE: Medication = med(
    "562251",
    "Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet",
    "Take 1 tablet by mouth every 8 hours for 10 days.",
    3,
    false,
);
const PENICILLIN_V: Medication = med(
    "834061",
    "Penicillin V Potassium 250 MG Oral Tablet",
    "Take 1 tablet by mouth four times daily for 10 days.",
    4,
    false,
);
const CEFUROXIME: Medication = med(
    "309097",
    "Cefuroxime 250 MG Oral Tablet",
    "Take 1 tablet by mouth twice daily for 10 days.",
    2,
    false,
);
const NITROFURANTOIN: Medication = med(
    "311989",
    "Nitrofurantoin 5 MG/ML Oral Suspension",
    "Take 10 mL by mouth four times daily for 5 days.",
    4,
    false,
);
const PHENAZOPYRIDINE: Medication = med(
    "1094107",
    "Phenazopyridine hydrochloride 100 MG Oral Tablet",
    "Take 1 tablet by mouth three times daily after meals for 2 days.",
    3,
    false,
);
const IBUPROFEN_200: Medication = med(
    "310965",
    "Ibuprofen 200 MG Oral Tablet",
    "Take 2 tablets by mouth every 6 hours as needed for pain.",
    4,
    true,
);
const IBUPROFEN_100: Medication = med(
    "198405",
    "Ibuprofen 100 MG Oral Tablet",
    "Take 1 tablet by mouth every 6 hours as needed for pain or fever.",
    4,
    true,
);
const ACETAMINOPHEN_CHEWABLE: Medication = med(
    "313820",
    "Acetaminophen 160 MG Chewable Tablet",
    "Chew 1 tablet every 6 hours as needed for pain or fever.",
    4,
    true,
);
const COLD_SYRUP: Medication = med(
    "1043400",
    "Acetaminophen 21.7 MG/ML / Dextromethorphan Hydrobromide 1 MG/ML / doxylamine succinate 0.417 MG/ML Oral Solution",
    "Take 30 mL by mouth at bedtime as needed for cold symptoms.",
    1,
    true,
);
const DIPHENHYDRAMINE: Medication = med(
    "1049630",
    "diphenhydrAMINE Hydrochloride 25 MG Oral Tablet",
    "Take 1 tablet by mouth every 6 hours as needed for itching.",
    4,
    true,
);
const LORATADINE: Medication = med(
    "665078",
    "Loratadine 5 MG Chewable Tablet",
    "Chew 1 tablet once daily.",
    1,
    false,
);
const HYDROCODONE_ACETAMINOPHEN: Medication = med(
    "856987",
    "Acetaminophen 300 MG / Hydrocodone Bitartrate 5 MG Oral Tablet",
    "Take 1 tablet by mouth every 6 hours as needed for severe pain.",
    4,
    true,
);
const PIPERACILLIN_TAZOBACTAM: Medication = med(
    "1659149",
    "piperacillin 4000 MG / tazobactam 500 MG Injection",
    "Infuse intravenously every 8 hours.",
    3,
    false,
);
const VANCOMYCIN: Medication = med(
    "1807513",
    "vancomycin 1000 MG Injection",
    "Infuse intravenously every 12 hours.",
    2,
    false,
);
const ENOXAPARIN: Medication = med(
    "854228",
    "0.3 ML Enoxaparin sodium 100 MG/ML Prefilled Syringe",
    "Inject subcutaneously every 12 hours.",
    2,
    false,
);
const ALTEPLASE: Medication = med(
    "1804799",
    "Alteplase 100 MG Injection",
    "Infuse intravenously once as directed.",
    1,
    false,
);
const ASPIRIN: Medication = med(
    "243670",
    "Aspirin 81 MG Oral Tablet",
    DAILY_TABLET,
    1,
    false,
);
const PREDNISONE: Medication = med(
    "312617",
    "predniSONE 5 MG Oral Tablet",
    "Take 1 tablet by mouth once daily for 5 days.",
    1,
    false,
);

// ---------------------------------------------------------------------------
// Procedures.
// ---------------------------------------------------------------------------

/// Medication reconciliation, done at visits of patients on long-term drugs.
pub(crate) const MEDICATION_RECONCILIATION: Concept =
    snomed("430193006", "Medication reconciliation (procedure)");
const DEPRESSION_SCREENING: Concept = snomed("171207006", "Depression screening (procedure)");
const SOCIAL_NEEDS_ASSESSMENT: Concept = snomed(
    "710824005",
    "Assessment of health and social care needs (procedure)",
);
const COLONOSCOPY: Concept = snomed("73761001", "Colonoscopy (procedure)");
const MAMMOGRAPHY: Concept = snomed("71651007", "Mammography (procedure)");
const BONE_DENSITY_SCAN: Concept = snomed("312681000", "Bone density scan (procedure)");
const CERVICAL_SMEAR: Concept = snomed(
    "90226004",
    "Cytopathology procedure, preparation of smear, genital source (procedure)",
);
const HEARING_EXAM: Concept = snomed("398171003", "Hearing examination (procedure)");
const OPHTHALMIC_EXAM: Concept = snomed(
    "36228007",
    "Ophthalmic examination and evaluation (procedure)",
);
const SPIROMETRY: Concept = snomed("127783003", "Spirometry (procedure)");
const ELECTROCARDIOGRAM: Concept = snomed("29303009", "Electrocardiographic procedure (procedure)");
const URINE_GLUCOSE_SCREENING: Concept =
    snomed("268556000", "Urine screening for glucose (procedure)");
const ECHOCARDIOGRAPHY: Concept = snomed("40701008", "Echocardiography (procedure)");
const THROAT_CULTURE: Concept = snomed("117015009", "Throat culture (procedure)");
const URINE_CULTURE: Concept = snomed("117010004", "Urine culture (procedure)");
const ANKLE_XRAY: Concept = snomed("19490002", "Ankle X-ray (procedure)");
const CHEST_XRAY: Concept = snomed("399208008", "Plain chest X-ray (procedure)");
const CLAVICLE_XRAY: Concept = snomed("168594001", "Clavicle X-ray (procedure)");
const BONE_IMMOBILIZATION: Concept = snomed("274474001", "Bone immobilization (procedure)");
const SUTURE_WOUND: Concept = snomed("288086009", "Suture open wound (procedure)");
const OXYGEN_BY_MASK: Concept = snomed("371908008", "Oxygen administration by mask (procedure)");
const APPENDECTOMY: Concept = snomed("80146002", "Appendectomy (procedure)");
const HIP_REPLACEMENT: Concept = snomed("52734007", "Total replacement of hip (procedure)");
const IV_FLUID_RESUSCITATION: Concept = snomed(
    "430701006",
    "Resuscitation using intravenous fluid (procedure)",
);
const CORONARY_INTERVENTION: Concept = snomed(
    "415070008",
    "Percutaneous coronary intervention (procedure)",
);
const BRAIN_MRI: Concept = snomed(
    "698354004",
    "Magnetic resonance imaging for measurement of brain volume (procedure)",
);
const CT_CHEST_ABDOMEN: Concept = snomed(
    "418891003",
    "Computed tomography of chest and abdomen (procedure)",
);

/// A screening or wellness procedure offered at wellness visits to patients
/// who fit its age and sex.
#[derive(Debug)]
pub(crate) struct Screening {
    /// The procedure.
    pub(crate) concept: &'static Concept,
    /// The youngest age in years at which it is offered.
    pub(crate) min_age: u32,
    /// The oldest age in years at which it is offered.
    pub(crate) max_age: u32,
    /// The sex it is limited to, if any.
    pub(crate) sex: Option<Sex>,
    /// The chance that an eligible wellness visit includes it.
    pub(crate) chance: f64,
}

/// Screenings offered at wellness visits.
pub(crate) const SCREENINGS: &[Screening] = &[
    Screening {
        concept: &DEPRESSION_SCREENING,
        min_age: 12,
        max_age: 120,
        sex: None,
        chance: 0.30,
    },
    Screening {
        concept: &SOCIAL_NEEDS_ASSESSMENT,
        min_age: 18,
        max_age: 120,
        sex: None,
        chance: 0.15,
    },
    Screening {
        concept: &COLONOSCOPY,
        min_age: 45,
        max_age: 75,
        sex: None,
        chance: 0.06,
    },
    Screening {
        concept: &MAMMOGRAPHY,
        min_age: 40,
        max_age: 75,
        sex: Some(Sex::Female),
        chance: 0.35,
    },
    Screening {
        concept: &BONE_DENSITY_SCAN,
        min_age: 65,
        max_age: 120,
        sex: Some(Sex::Female),
        chance: 0.15,
    },
    Screening {
        concept: &CERVICAL_SMEAR,
        min_age: 21,
        max_age: 65,
        sex: Some(Sex::Female),
        chance: 0.20,
    },
    Screening {
        concept: &HEARING_EXAM,
        min_age: 3,
        max_age: 17,
        sex: None,
        chance: 0.30,
    },
];

// ---------------------------------------------------------------------------
// Observations: vital signs, lab tests, panels.
// ---------------------------------------------------------------------------

/// Heart rate, `/min`.
pub(crate) const HEART_RATE: Concept = Concept {
    system: LOINC,
    code: "8867-4",
    display: "Heart rate",
};
/// Respiratory rate, `/min`.
pub(crate) const RESPIRATORY_RATE: Concept = Concept {
    system: LOINC,
    code: "9279-1",
    display: "Respiratory rate",
};
/// Body temperature, `Cel`.
pub(crate) const BODY_TEMPERATURE: Concept = Concept {
    system: LOINC,
    code: "8310-5",
    display: "Body temperature",
};
/// Body height, `cm`.
pub(crate) const BODY_HEIGHT: Concept = Concept {
    system: LOINC,
    code: "8302-2",
    display: "Body height",
};
/// Body weight, `kg`.
pub(crate) const BODY_WEIGHT: Concept = Concept {
    system: LOINC,
    code: "29463-7",
    display: "Body weight",
};
/// Body mass index, `kg/m2`.
pub(crate) const BMI: Concept = Concept {
    system: LOINC,
    code: "39156-5",
    display: "Body mass index (BMI) [Ratio]",
};
/// Head circumference of infants, `cm`.
pub(crate) const HEAD_CIRCUMFERENCE: Concept = Concept {
    system: LOINC,
    code: "9843-4",
    display: "Head Occipital-frontal circumference",
};
/// Oxygen saturation by pulse oximetry, `%`.
pub(crate) const OXYGEN_SATURATION: Concept = Concept {
    system: LOINC,
    code: "59408-5",
    display: "Oxygen saturation in Arterial blood by Pulse oximetry",
};
/// The blood pressure panel, which carries its values in components.
pub(crate) const BLOOD_PRESSURE: Concept = Concept {
    system: LOINC,
    code: "85354-9",
    display: "Blood pressure panel with all children optional",
};
/// Systolic blood pressure, `mm[Hg]`.
pub(crate) const SYSTOLIC: Concept = Concept {
    system: LOINC,
    code: "8480-6",
    display: "Systolic blood pressure",
};
/// Diastolic blood pressure, `mm[Hg]`.
pub(crate) const DIASTOLIC: Concept = Concept {
    system: LOINC,
    code: "8462-4",
    display: "Diastolic blood pressure",
};
/// Tobacco smoking status, valued with a SNOMED finding.
pub(crate) const SMOKING_STATUS: Concept = Concept {
    system: LOINC,
    code: "72166-2",
    display: "Tobacco smoking status",
};

/// Smoking status findings with their share of adults.
pub(crate) const SMOKING_FINDINGS: &[(Concept, u32)] = &[
    (snomed("266919005", "Never smoked tobacco (finding)"), 62),
    (snomed("8517006", "Ex-smoker (finding)"), 24),
    (snomed("449868002", "Smokes tobacco daily (finding)"), 11),
    (
        snomed("428041000124106", "Occasional tobacco smoker (finding)"),
        3,
    ),
];

/// A quantitative lab test with its usual distribution and reference range.
#[derive(Debug)]
pub(crate) struct LabTest {
    /// The LOINC code.
    pub(crate) code: &'static str,
    /// The LOINC long common name.
    pub(crate) display: &'static str,
    /// The UCUM unit, used as both `unit` and `code`.
    pub(crate) unit: &'static str,
    /// The mean in a healthy population.
    pub(crate) mean: f64,
    /// The standard deviation in a healthy population.
    pub(crate) sd: f64,
    /// The decimals reported.
    pub(crate) decimals: u32,
    /// The low end of the reference range, if it has one.
    pub(crate) low: Option<f64>,
    /// The high end of the reference range, if it has one.
    pub(crate) high: Option<f64>,
}

#[expect(
    clippy::too_many_arguments,
    reason = "a row of the lab table reads best as one positional call"
)]
const fn lab(
    code: &'static str,
    display: &'static str,
    unit: &'static str,
    mean: f64,
    sd: f64,
    decimals: u32,
    low: Option<f64>,
    high: Option<f64>,
) -> LabTest {
    LabTest {
        code,
        display,
        unit,
        mean,
        sd,
        decimals,
        low,
        high,
    }
}

/// A lab panel: the report's code and the tests it reports.
#[derive(Debug)]
pub(crate) struct LabPanel {
    /// The LOINC code of the panel, used as `DiagnosticReport.code`.
    pub(crate) code: &'static str,
    /// The panel's LOINC long common name.
    pub(crate) display: &'static str,
    /// The member tests.
    pub(crate) tests: &'static [LabTest],
}

/// The basic metabolic panel on whole blood.
pub(crate) const BASIC_METABOLIC: LabPanel = LabPanel {
    code: "51990-0",
    display: "Basic metabolic panel - Blood",
    tests: &[
        lab(
            "2339-0",
            "Glucose [Mass/volume] in Blood",
            "mg/dL",
            88.0,
            9.0,
            1,
            Some(70.0),
            Some(99.0),
        ),
        lab(
            "6299-2",
            "Urea nitrogen [Mass/volume] in Blood",
            "mg/dL",
            14.0,
            3.5,
            1,
            Some(7.0),
            Some(20.0),
        ),
        lab(
            "38483-4",
            "Creatinine [Mass/volume] in Blood",
            "mg/dL",
            0.95,
            0.15,
            2,
            Some(0.6),
            Some(1.3),
        ),
        lab(
            "49765-1",
            "Calcium [Mass/volume] in Blood",
            "mg/dL",
            9.5,
            0.35,
            1,
            Some(8.6),
            Some(10.3),
        ),
        lab(
            "2947-0",
            "Sodium [Moles/volume] in Blood",
            "mmol/L",
            140.0,
            1.8,
            0,
            Some(136.0),
            Some(145.0),
        ),
        lab(
            "6298-4",
            "Potassium [Moles/volume] in Blood",
            "mmol/L",
            4.2,
            0.3,
            1,
            Some(3.5),
            Some(5.1),
        ),
        lab(
            "2069-3",
            "Chloride [Moles/volume] in Blood",
            "mmol/L",
            103.0,
            2.0,
            0,
            Some(98.0),
            Some(107.0),
        ),
        lab(
            "20565-8",
            "Carbon dioxide, total [Moles/volume] in Blood",
            "mmol/L",
            25.5,
            1.8,
            0,
            Some(22.0),
            Some(29.0),
        ),
    ],
};

/// The comprehensive metabolic panel on serum or plasma.
pub(crate) const COMPREHENSIVE_METABOLIC: LabPanel = LabPanel {
    code: "24323-8",
    display: "Comprehensive metabolic 2000 panel - Serum or Plasma",
    tests: &[
        lab(
            "2345-7",
            "Glucose [Mass/volume] in Serum or Plasma",
            "mg/dL",
            90.0,
            9.0,
            1,
            Some(70.0),
            Some(99.0),
        ),
        lab(
            "3094-0",
            "Urea nitrogen [Mass/volume] in Serum or Plasma",
            "mg/dL",
            14.0,
            3.5,
            1,
            Some(7.0),
            Some(20.0),
        ),
        lab(
            "2160-0",
            "Creatinine [Mass/volume] in Serum or Plasma",
            "mg/dL",
            0.95,
            0.15,
            2,
            Some(0.6),
            Some(1.3),
        ),
        lab(
            "17861-6",
            "Calcium [Mass/volume] in Serum or Plasma",
            "mg/dL",
            9.5,
            0.35,
            1,
            Some(8.6),
            Some(10.3),
        ),
        lab(
            "2951-2",
            "Sodium [Moles/volume] in Serum or Plasma",
            "mmol/L",
            140.0,
            1.8,
            0,
            Some(136.0),
            Some(145.0),
        ),
        lab(
            "2823-3",
            "Potassium [Moles/volume] in Serum or Plasma",
            "mmol/L",
            4.2,
            0.3,
            1,
            Some(3.5),
            Some(5.1),
        ),
        lab(
            "2075-0",
            "Chloride [Moles/volume] in Serum or Plasma",
            "mmol/L",
            103.0,
            2.0,
            0,
            Some(98.0),
            Some(107.0),
        ),
        lab(
            "2028-9",
            "Carbon dioxide, total [Moles/volume] in Serum or Plasma",
            "mmol/L",
            25.5,
            1.8,
            0,
            Some(22.0),
            Some(29.0),
        ),
        lab(
            "2885-2",
            "Protein [Mass/volume] in Serum or Plasma",
            "g/dL",
            7.0,
            0.4,
            1,
            Some(6.0),
            Some(8.3),
        ),
        lab(
            "1751-7",
            "Albumin [Mass/volume] in Serum or Plasma",
            "g/dL",
            4.2,
            0.3,
            1,
            Some(3.5),
            Some(5.0),
        ),
        lab(
            "1975-2",
            "Bilirubin.total [Mass/volume] in Serum or Plasma",
            "mg/dL",
            0.6,
            0.18,
            1,
            Some(0.1),
            Some(1.2),
        ),
        lab(
            "6768-6",
            "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L",
            80.0,
            18.0,
            0,
            Some(44.0),
            Some(147.0),
        ),
        lab(
            "1742-6",
            "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L",
            25.0,
            7.0,
            0,
            Some(7.0),
            Some(56.0),
        ),
        lab(
            "1920-8",
            "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L",
            24.0,
            6.0,
            0,
            Some(10.0),
            Some(40.0),
        ),
    ],
};

/// The lipid panel.
pub(crate) const LIPID: LabPanel = LabPanel {
    code: "57698-3",
    display: "Lipid panel with direct LDL - Serum or Plasma",
    tests: &[
        lab(
            "2093-3",
            "Cholesterol [Mass/volume] in Serum or Plasma",
            "mg/dL",
            185.0,
            22.0,
            0,
            None,
            Some(200.0),
        ),
        lab(
            "2571-8",
            "Triglyceride [Mass/volume] in Serum or Plasma",
            "mg/dL",
            120.0,
            28.0,
            0,
            None,
            Some(150.0),
        ),
        lab(
            "18262-6",
            "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay",
            "mg/dL",
            105.0,
            20.0,
            0,
            None,
            Some(100.0),
        ),
        lab(
            "2085-9",
            "Cholesterol in HDL [Mass/volume] in Serum or Plasma",
            "mg/dL",
            52.0,
            9.0,
            0,
            Some(40.0),
            None,
        ),
    ],
};

/// The complete blood count.
pub(crate) const COMPLETE_BLOOD_COUNT: LabPanel = LabPanel {
    code: "58410-2",
    display: "CBC panel - Blood by Automated count",
    tests: &[
        lab(
            "6690-2",
            "Leukocytes [#/volume] in Blood by Automated count",
            "10*3/uL",
            7.0,
            1.5,
            1,
            Some(4.5),
            Some(11.0),
        ),
        lab(
            "789-8",
            "Erythrocytes [#/volume] in Blood by Automated count",
            "10*6/uL",
            4.8,
            0.35,
            2,
            Some(4.2),
            Some(5.9),
        ),
        lab(
            "718-7",
            "Hemoglobin [Mass/volume] in Blood",
            "g/dL",
            14.2,
            1.1,
            1,
            Some(12.0),
            Some(17.5),
        ),
        lab(
            "4544-3",
            "Hematocrit [Volume Fraction] of Blood by Automated count",
            "%",
            42.0,
            3.0,
            1,
            Some(36.0),
            Some(50.0),
        ),
        lab(
            "787-2",
            "MCV [Entitic volume] by Automated count",
            "fL",
            89.0,
            4.0,
            1,
            Some(80.0),
            Some(100.0),
        ),
        lab(
            "785-6",
            "MCH [Entitic mass] by Automated count",
            "pg",
            30.0,
            1.3,
            1,
            Some(27.0),
            Some(33.0),
        ),
        lab(
            "786-4",
            "MCHC [Mass/volume] by Automated count",
            "g/dL",
            34.0,
            0.8,
            1,
            Some(32.0),
            Some(36.0),
        ),
        lab(
            "777-3",
            "Platelets [#/volume] in Blood by Automated count",
            "10*3/uL",
            250.0,
            45.0,
            0,
            Some(150.0),
            Some(400.0),
        ),
    ],
};

/// Hemoglobin A1c, reported on its own.
pub(crate) const HEMOGLOBIN_A1C: LabPanel = LabPanel {
    code: "4548-4",
    display: "Hemoglobin A1c/Hemoglobin.total in Blood",
    tests: &[lab(
        "4548-4",
        "Hemoglobin A1c/Hemoglobin.total in Blood",
        "%",
        5.3,
        0.3,
        1,
        Some(4.0),
        Some(5.6),
    )],
};

/// Thyroid-stimulating hormone, reported on its own.
pub(crate) const THYROTROPIN: LabPanel = LabPanel {
    code: "3016-3",
    display: "Thyrotropin [Units/volume] in Serum or Plasma",
    tests: &[lab(
        "3016-3",
        "Thyrotropin [Units/volume] in Serum or Plasma",
        "m[IU]/L",
        1.8,
        0.55,
        2,
        Some(0.4),
        Some(4.0),
    )],
};

/// Panels ordered at adult wellness visits, with their weights.
pub(crate) const ROUTINE_PANELS: &[(&LabPanel, u32)] = &[
    (&COMPREHENSIVE_METABOLIC, 3),
    (&BASIC_METABOLIC, 3),
    (&LIPID, 3),
    (&COMPLETE_BLOOD_COUNT, 3),
    (&HEMOGLOBIN_A1C, 1),
];

// ---------------------------------------------------------------------------
// Chronic conditions.
// ---------------------------------------------------------------------------

/// A long-term condition, with what it brings to the record: the drugs that
/// treat it, the labs that monitor it and how it shifts their results.
#[derive(Debug)]
pub(crate) struct ChronicCondition {
    /// The SNOMED concept.
    pub(crate) concept: Concept,
    /// The youngest age in years at which it is diagnosed.
    pub(crate) min_age: u32,
    /// The oldest age in years at which it is diagnosed.
    pub(crate) max_age: u32,
    /// The sex it is limited to, if any.
    pub(crate) sex: Option<Sex>,
    /// The chance that a patient has it, by current age: under 45, 45 to 64,
    /// 65 and over.
    pub(crate) prevalence: [f64; 3],
    /// Conditions sharing a non-zero group exclude each other (prediabetes and
    /// diabetes, for example).
    pub(crate) group: u32,
    /// Alternative long-term drugs; one is prescribed.
    pub(crate) medications: &'static [Medication],
    /// Panels ordered to monitor it.
    pub(crate) panels: &'static [&'static LabPanel],
    /// Procedures done to monitor it.
    pub(crate) monitoring: &'static [Concept],
    /// Lab means it changes: `(LOINC code, new mean)`.
    pub(crate) lab_effects: &'static [(&'static str, f64)],
    /// Added to the mean systolic and diastolic blood pressure.
    pub(crate) blood_pressure_effect: f64,
}

const fn chronic(
    code: &'static str,
    display: &'static str,
    min_age: u32,
    prevalence: [f64; 3],
) -> ChronicCondition {
    ChronicCondition {
        concept: snomed(code, display),
        min_age,
        max_age: 120,
        sex: None,
        prevalence,
        group: 0,
        medications: &[],
        panels: &[],
        monitoring: &[],
        lab_effects: &[],
        blood_pressure_effect: 0.0,
    }
}

/// Obesity, which is recorded from the patient's measured BMI rather than
/// drawn from a prevalence, so it is not in [`CHRONIC_CONDITIONS`].
pub(crate) const OBESITY: ChronicCondition = ChronicCondition {
    panels: &[&LIPID],
    ..chronic(
        "162864005",
        "Body mass index 30+ - obesity (finding)",
        18,
        [0.0; 3],
    )
};

/// Long-term conditions.
pub(crate) const CHRONIC_CONDITIONS: &[ChronicCondition] = &[
    ChronicCondition {
        medications: &[LISINOPRIL, HYDROCHLOROTHIAZIDE, AMLODIPINE],
        panels: &[&BASIC_METABOLIC],
        blood_pressure_effect: 16.0,
        ..chronic(
            "59621000",
            "Essential hypertension (disorder)",
            18,
            [0.10, 0.33, 0.55],
        )
    },
    ChronicCondition {
        group: 1,
        panels: &[&HEMOGLOBIN_A1C],
        lab_effects: &[("4548-4", 6.0), ("2339-0", 110.0), ("2345-7", 110.0)],
        ..chronic("15777000", "Prediabetes (finding)", 18, [0.07, 0.14, 0.18])
    },
    ChronicCondition {
        group: 1,
        medications: &[METFORMIN, METFORMIN, INSULIN],
        panels: &[&HEMOGLOBIN_A1C, &COMPREHENSIVE_METABOLIC],
        monitoring: &[OPHTHALMIC_EXAM, URINE_GLUCOSE_SCREENING],
        lab_effects: &[("4548-4", 7.6), ("2339-0", 150.0), ("2345-7", 150.0)],
        ..chronic(
            "44054006",
            "Diabetes mellitus type 2 (disorder)",
            18,
            [0.03, 0.12, 0.20],
        )
    },
    ChronicCondition {
        medications: &[SIMVASTATIN_10, SIMVASTATIN_20],
        panels: &[&LIPID],
        lab_effects: &[("2093-3", 238.0), ("18262-6", 158.0), ("2571-8", 185.0)],
        ..chronic(
            "55822004",
            "Hyperlipidemia (disorder)",
            25,
            [0.05, 0.25, 0.35],
        )
    },
    ChronicCondition {
        medications: &[FLUTICASONE, ALBUTEROL],
        monitoring: &[SPIROMETRY],
        ..chronic("195967001", "Asthma (disorder)", 2, [0.08, 0.08, 0.07])
    },
    ChronicCondition {
        medications: &[FLUTICASONE_SALMETEROL],
        monitoring: &[SPIROMETRY],
        ..chronic(
            "185086009",
            "Chronic obstructive bronchitis (disorder)",
            45,
            [0.0, 0.04, 0.10],
        )
    },
    ChronicCondition {
        medications: &[CLOPIDOGREL, NITROGLYCERIN],
        panels: &[&LIPID],
        monitoring: &[ELECTROCARDIOGRAM],
        ..chronic(
            "53741008",
            "Coronary arteriosclerosis (disorder)",
            40,
            [0.0, 0.04, 0.12],
        )
    },
    ChronicCondition {
        medications: &[WARFARIN, DIGOXIN],
        monitoring: &[ELECTROCARDIOGRAM],
        ..chronic(
            "49436004",
            "Atrial fibrillation (disorder)",
            50,
            [0.0, 0.01, 0.08],
        )
    },
    ChronicCondition {
        medications: &[FUROSEMIDE, CARVEDILOL],
        panels: &[&BASIC_METABOLIC],
        monitoring: &[ECHOCARDIOGRAPHY],
        ..chronic(
            "88805009",
            "Chronic congestive heart failure (disorder)",
            50,
            [0.0, 0.01, 0.05],
        )
    },
    ChronicCondition {
        sex: Some(Sex::Female),
        medications: &[ALENDRONATE],
        monitoring: &[BONE_DENSITY_SCAN],
        ..chronic("64859006", "Osteoporosis (disorder)", 50, [0.0, 0.06, 0.18])
    },
    ChronicCondition {
        medications: &[NAPROXEN_220, NAPROXEN_500],
        ..chronic(
            "239873007",
            "Osteoarthritis of knee (disorder)",
            45,
            [0.0, 0.08, 0.20],
        )
    },
    ChronicCondition {
        medications: &[ACETAMINOPHEN, TRAMADOL, NAPROXEN_220],
        ..chronic(
            "278860009",
            "Chronic low back pain (finding)",
            18,
            [0.05, 0.08, 0.08],
        )
    },
    ChronicCondition {
        medications: &[FLUOXETINE],
        ..chronic(
            "370143000",
            "Major depressive disorder (disorder)",
            12,
            [0.07, 0.07, 0.05],
        )
    },
    ChronicCondition {
        ..chronic(
            "40055000",
            "Chronic sinusitis (disorder)",
            5,
            [0.05, 0.05, 0.04],
        )
    },
    ChronicCondition {
        medications: &[FERROUS_SULFATE],
        panels: &[&COMPLETE_BLOOD_COUNT],
        lab_effects: &[("718-7", 10.6), ("4544-3", 33.0), ("787-2", 76.0)],
        ..chronic("271737000", "Anemia (disorder)", 0, [0.03, 0.03, 0.06])
    },
    ChronicCondition {
        panels: &[&THYROTROPIN],
        lab_effects: &[("3016-3", 7.5)],
        ..chronic(
            "40930008",
            "Hypothyroidism (disorder)",
            18,
            [0.03, 0.06, 0.08],
        )
    },
    ChronicCondition {
        panels: &[&COMPREHENSIVE_METABOLIC],
        lab_effects: &[
            ("2160-0", 1.5),
            ("38483-4", 1.5),
            ("3094-0", 24.0),
            ("6299-2", 24.0),
        ],
        ..chronic(
            "431856006",
            "Chronic kidney disease stage 2 (disorder)",
            50,
            [0.0, 0.03, 0.08],
        )
    },
    ChronicCondition {
        medications: &[GALANTAMINE, DONEPEZIL],
        ..chronic(
            "26929004",
            "Alzheimer's disease (disorder)",
            65,
            [0.0, 0.0, 0.04],
        )
    },
    ChronicCondition {
        medications: &[FEXOFENADINE, CETIRIZINE, LORATADINE],
        ..chronic(
            "446096008",
            "Perennial allergic rhinitis (disorder)",
            3,
            [0.07, 0.05, 0.03],
        )
    },
    ChronicCondition {
        medications: &[NAPROXEN_500],
        ..chronic("37796009", "Migraine (disorder)", 10, [0.06, 0.05, 0.02])
    },
    ChronicCondition {
        ..chronic(
            "235595009",
            "Gastroesophageal reflux disease (disorder)",
            18,
            [0.05, 0.08, 0.10],
        )
    },
    ChronicCondition {
        max_age: 15,
        medications: &[HYDROCORTISONE_CREAM],
        ..chronic(
            "24079001",
            "Atopic dermatitis (disorder)",
            0,
            [0.10, 0.0, 0.0],
        )
    },
];

// ---------------------------------------------------------------------------
// Acute conditions.
// ---------------------------------------------------------------------------

/// Where an acute condition is seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Setting {
    /// In the clinic, as a sick visit.
    Clinic,
    /// In the emergency department.
    Emergency,
    /// On admission to hospital.
    Inpatient,
}

/// An acute condition and its usual care.
#[derive(Debug)]
pub(crate) struct AcuteCondition {
    /// The SNOMED concept.
    pub(crate) concept: Concept,
    /// Where it is seen.
    pub(crate) setting: Setting,
    /// Its relative frequency within its setting.
    pub(crate) weight: u32,
    /// The youngest age in years.
    pub(crate) min_age: u32,
    /// The oldest age in years.
    pub(crate) max_age: u32,
    /// The sex it is limited to, if any.
    pub(crate) sex: Option<Sex>,
    /// The first calendar year in which it occurs (COVID-19 from 2020).
    pub(crate) since_year: i64,
    /// Days until it resolves.
    pub(crate) duration_days: u32,
    /// Alternative drugs; at most one is prescribed.
    pub(crate) medications: &'static [Medication],
    /// The chance that one of the drugs is prescribed.
    pub(crate) medication_chance: f64,
    /// Procedures done for it, each with certainty.
    pub(crate) procedures: &'static [Concept],
    /// Panels ordered for it.
    pub(crate) panels: &'static [&'static LabPanel],
    /// Whether the patient is febrile.
    pub(crate) fever: bool,
    /// Whether a surgeon rather than a hospitalist leads the stay.
    pub(crate) surgical: bool,
    /// Whether the stay starts in intensive care.
    pub(crate) intensive_care: bool,
}

const fn acute(
    code: &'static str,
    display: &'static str,
    setting: Setting,
    weight: u32,
    duration_days: u32,
) -> AcuteCondition {
    AcuteCondition {
        concept: snomed(code, display),
        setting,
        weight,
        min_age: 0,
        max_age: 120,
        sex: None,
        since_year: 0,
        duration_days,
        medications: &[],
        medication_chance: 0.0,
        procedures: &[],
        panels: &[],
        fever: false,
        surgical: false,
        intensive_care: false,
    }
}

/// Acute conditions in all settings.
pub(crate) const ACUTE_CONDITIONS: &[AcuteCondition] = &[
    AcuteCondition {
        medications: &[ACETAMINOPHEN, COLD_SYRUP],
        medication_chance: 0.4,
        ..acute(
            "444814009",
            "Viral sinusitis (disorder)",
            Setting::Clinic,
            25,
            14,
        )
    },
    AcuteCondition {
        medications: &[ACETAMINOPHEN, IBUPROFEN_200],
        medication_chance: 0.4,
        fever: true,
        ..acute(
            "195662009",
            "Acute viral pharyngitis (disorder)",
            Setting::Clinic,
            15,
            10,
        )
    },
    AcuteCondition {
        medications: &[COLD_SYRUP, ACETAMINOPHEN],
        medication_chance: 0.5,
        ..acute(
            "10509002",
            "Acute bronchitis (disorder)",
            Setting::Clinic,
            12,
            21,
        )
    },
    AcuteCondition {
        medications: &[AMOXICILLIN, PENICILLIN_V],
        medication_chance: 0.95,
        procedures: &[THROAT_CULTURE],
        fever: true,
        ..acute(
            "43878008",
            "Streptococcal sore throat (disorder)",
            Setting::Clinic,
            8,
            10,
        )
    },
    AcuteCondition {
        max_age: 12,
        medications: &[AMOXICILLIN, AMOXICILLIN_CLAVULANATE, ACETAMINOPHEN_CHEWABLE],
        medication_chance: 0.8,
        fever: true,
        ..acute(
            "65363002",
            "Otitis media (disorder)",
            Setting::Clinic,
            12,
            10,
        )
    },
    AcuteCondition {
        min_age: 14,
        sex: Some(Sex::Female),
        medications: &[NITROFURANTOIN, PHENAZOPYRIDINE],
        medication_chance: 0.95,
        procedures: &[URINE_CULTURE],
        ..acute("38822007", "Cystitis (disorder)", Setting::Clinic, 7, 7)
    },
    AcuteCondition {
        medications: &[AMOXICILLIN_CLAVULANATE, CEFUROXIME],
        medication_chance: 0.9,
        ..acute(
            "75498004",
            "Acute bacterial sinusitis (disorder)",
            Setting::Clinic,
            6,
            14,
        )
    },
    AcuteCondition {
        min_age: 5,
        medications: &[IBUPROFEN_200, NAPROXEN_220],
        medication_chance: 0.7,
        procedures: &[ANKLE_XRAY],
        ..acute(
            "44465007",
            "Sprain of ankle (disorder)",
            Setting::Clinic,
            6,
            28,
        )
    },
    AcuteCondition {
        min_age: 5,
        medications: &[IBUPROFEN_200],
        medication_chance: 0.5,
        ..acute(
            "70704007",
            "Sprain of wrist (disorder)",
            Setting::Clinic,
            3,
            21,
        )
    },
    AcuteCondition {
        min_age: 12,
        medications: &[NAPROXEN_220, IBUPROFEN_200],
        medication_chance: 0.6,
        ..acute("68962001", "Muscle pain (finding)", Setting::Clinic, 4, 10)
    },
    AcuteCondition {
        min_age: 8,
        medications: &[ACETAMINOPHEN, IBUPROFEN_200],
        medication_chance: 0.5,
        ..acute("25064002", "Headache (finding)", Setting::Clinic, 4, 3)
    },
    AcuteCondition {
        since_year: 2020,
        medications: &[ACETAMINOPHEN],
        medication_chance: 0.5,
        fever: true,
        ..acute(
            "840539006",
            "Disease caused by severe acute respiratory syndrome coronavirus 2 (disorder)",
            Setting::Clinic,
            8,
            14,
        )
    },
    AcuteCondition {
        medications: &[ACETAMINOPHEN, IBUPROFEN_100],
        medication_chance: 0.5,
        fever: true,
        ..acute("6142004", "Influenza (disorder)", Setting::Clinic, 6, 10)
    },
    AcuteCondition {
        medications: &[DIPHENHYDRAMINE, PREDNISONE],
        medication_chance: 0.8,
        ..acute(
            "241929008",
            "Acute allergic reaction (disorder)",
            Setting::Clinic,
            2,
            3,
        )
    },
    AcuteCondition {
        min_age: 18,
        medications: &[NAPROXEN_220],
        medication_chance: 0.5,
        ..acute("57676002", "Joint pain (finding)", Setting::Clinic, 3, 14)
    },
    AcuteCondition {
        min_age: 5,
        procedures: &[ANKLE_XRAY, BONE_IMMOBILIZATION],
        medications: &[HYDROCODONE_ACETAMINOPHEN, IBUPROFEN_200],
        medication_chance: 0.8,
        ..acute(
            "16114001",
            "Fracture of ankle (disorder)",
            Setting::Emergency,
            4,
            56,
        )
    },
    AcuteCondition {
        min_age: 3,
        procedures: &[BONE_IMMOBILIZATION],
        medications: &[IBUPROFEN_200, HYDROCODONE_ACETAMINOPHEN],
        medication_chance: 0.7,
        ..acute(
            "65966004",
            "Fracture of forearm (disorder)",
            Setting::Emergency,
            4,
            56,
        )
    },
    AcuteCondition {
        min_age: 3,
        procedures: &[CLAVICLE_XRAY, BONE_IMMOBILIZATION],
        medications: &[IBUPROFEN_200],
        medication_chance: 0.6,
        ..acute(
            "58150001",
            "Fracture of clavicle (disorder)",
            Setting::Emergency,
            2,
            42,
        )
    },
    AcuteCondition {
        min_age: 18,
        procedures: &[CHEST_XRAY],
        medications: &[HYDROCODONE_ACETAMINOPHEN],
        medication_chance: 0.6,
        ..acute(
            "33737001",
            "Fracture of rib (disorder)",
            Setting::Emergency,
            2,
            42,
        )
    },
    AcuteCondition {
        procedures: &[SUTURE_WOUND],
        ..acute(
            "284551006",
            "Laceration of foot (disorder)",
            Setting::Emergency,
            3,
            14,
        )
    },
    AcuteCondition {
        procedures: &[SUTURE_WOUND],
        ..acute(
            "283371005",
            "Laceration of forearm (disorder)",
            Setting::Emergency,
            4,
            14,
        )
    },
    AcuteCondition {
        procedures: &[SUTURE_WOUND],
        ..acute(
            "370247008",
            "Facial laceration (disorder)",
            Setting::Emergency,
            3,
            14,
        )
    },
    AcuteCondition {
        min_age: 3,
        medications: &[ACETAMINOPHEN],
        medication_chance: 0.5,
        ..acute(
            "62106007",
            "Concussion with no loss of consciousness (disorder)",
            Setting::Emergency,
            4,
            21,
        )
    },
    AcuteCondition {
        min_age: 16,
        medications: &[NAPROXEN_220],
        medication_chance: 0.6,
        ..acute(
            "39848009",
            "Whiplash injury to neck (disorder)",
            Setting::Emergency,
            3,
            28,
        )
    },
    AcuteCondition {
        min_age: 30,
        procedures: &[ELECTROCARDIOGRAM, CHEST_XRAY],
        panels: &[&COMPLETE_BLOOD_COUNT, &BASIC_METABOLIC],
        medications: &[ASPIRIN],
        medication_chance: 0.3,
        ..acute("29857009", "Chest pain (finding)", Setting::Emergency, 5, 2)
    },
    AcuteCondition {
        min_age: 2,
        medications: &[ALBUTEROL, PREDNISONE],
        medication_chance: 0.9,
        procedures: &[OXYGEN_BY_MASK],
        ..acute(
            "281239006",
            "Exacerbation of asthma (disorder)",
            Setting::Emergency,
            2,
            7,
        )
    },
    AcuteCondition {
        procedures: &[CHEST_XRAY, OXYGEN_BY_MASK],
        panels: &[&COMPLETE_BLOOD_COUNT, &COMPREHENSIVE_METABOLIC],
        medications: &[PIPERACILLIN_TAZOBACTAM, VANCOMYCIN],
        medication_chance: 0.9,
        fever: true,
        ..acute(
            "233604007",
            "Pneumonia (disorder)",
            Setting::Inpatient,
            6,
            21,
        )
    },
    AcuteCondition {
        min_age: 5,
        max_age: 70,
        procedures: &[CT_CHEST_ABDOMEN, APPENDECTOMY],
        panels: &[&COMPLETE_BLOOD_COUNT, &BASIC_METABOLIC],
        medications: &[HYDROCODONE_ACETAMINOPHEN],
        medication_chance: 0.8,
        surgical: true,
        fever: true,
        ..acute(
            "74400008",
            "Appendicitis (disorder)",
            Setting::Inpatient,
            3,
            21,
        )
    },
    AcuteCondition {
        min_age: 55,
        procedures: &[ECHOCARDIOGRAPHY, CHEST_XRAY],
        panels: &[&BASIC_METABOLIC],
        medications: &[FUROSEMIDE],
        medication_chance: 0.9,
        ..acute(
            "84114007",
            "Heart failure (disorder)",
            Setting::Inpatient,
            3,
            14,
        )
    },
    AcuteCondition {
        min_age: 55,
        procedures: &[BRAIN_MRI],
        panels: &[&COMPLETE_BLOOD_COUNT, &BASIC_METABOLIC],
        medications: &[ALTEPLASE, CLOPIDOGREL],
        medication_chance: 0.8,
        ..acute(
            "230690007",
            "Cerebrovascular accident (disorder)",
            Setting::Inpatient,
            2,
            90,
        )
    },
    AcuteCondition {
        min_age: 65,
        procedures: &[HIP_REPLACEMENT],
        panels: &[&COMPLETE_BLOOD_COUNT],
        medications: &[HYDROCODONE_ACETAMINOPHEN, ENOXAPARIN],
        medication_chance: 0.9,
        surgical: true,
        ..acute(
            "359817006",
            "Closed fracture of hip (disorder)",
            Setting::Inpatient,
            2,
            90,
        )
    },
    AcuteCondition {
        procedures: &[IV_FLUID_RESUSCITATION],
        panels: &[&COMPLETE_BLOOD_COUNT, &COMPREHENSIVE_METABOLIC],
        medications: &[VANCOMYCIN, PIPERACILLIN_TAZOBACTAM],
        medication_chance: 1.0,
        fever: true,
        intensive_care: true,
        ..acute("91302008", "Sepsis (disorder)", Setting::Inpatient, 1, 21)
    },
    AcuteCondition {
        min_age: 18,
        panels: &[&COMPLETE_BLOOD_COUNT],
        medications: &[ENOXAPARIN, WARFARIN],
        medication_chance: 1.0,
        ..acute(
            "132281000119108",
            "Acute deep venous thrombosis (disorder)",
            Setting::Inpatient,
            1,
            90,
        )
    },
    AcuteCondition {
        min_age: 40,
        procedures: &[ELECTROCARDIOGRAM, CORONARY_INTERVENTION],
        panels: &[&COMPLETE_BLOOD_COUNT, &BASIC_METABOLIC, &LIPID],
        medications: &[CLOPIDOGREL, ASPIRIN],
        medication_chance: 1.0,
        ..acute(
            "22298006",
            "Myocardial infarction (disorder)",
            Setting::Inpatient,
            2,
            60,
        )
    },
];

// ---------------------------------------------------------------------------
// Vaccines.
// ---------------------------------------------------------------------------

/// A vaccine with the ages at which it is given.
#[derive(Debug)]
pub(crate) struct Vaccine {
    /// The CVX code.
    pub(crate) code: &'static str,
    /// The CVX short description.
    pub(crate) display: &'static str,
    /// The youngest age in days.
    pub(crate) min_age_days: i64,
    /// The oldest age in days.
    pub(crate) max_age_days: i64,
    /// The chance that an eligible wellness visit includes it.
    pub(crate) chance: f64,
    /// The first calendar year in which it is given.
    pub(crate) since_year: i64,
}

const Y: i64 = 365;

const fn vaccine(
    code: &'static str,
    display: &'static str,
    min_age_days: i64,
    max_age_days: i64,
    chance: f64,
) -> Vaccine {
    Vaccine {
        code,
        display,
        min_age_days,
        max_age_days,
        chance,
        since_year: 0,
    }
}

/// The seasonal influenza vaccine, offered at every age from six months.
pub(crate) const INFLUENZA_VACCINE: Vaccine = vaccine(
    "140",
    "Influenza, seasonal, injectable, preservative free",
    180,
    120 * Y,
    0.0,
);

/// Vaccines other than seasonal influenza.
pub(crate) const VACCINES: &[Vaccine] = &[
    vaccine("08", "Hep B, adolescent or pediatric", 0, Y, 0.5),
    vaccine("20", "DTaP", 60, 7 * Y, 0.4),
    vaccine("10", "IPV", 60, 7 * Y, 0.35),
    vaccine("49", "Hib (PRP-OMP)", 60, 5 * Y, 0.35),
    vaccine("133", "Pneumococcal conjugate PCV 13", 60, 5 * Y, 0.35),
    vaccine("119", "rotavirus, monovalent", 60, Y, 0.4),
    vaccine("03", "MMR", Y, 7 * Y, 0.3),
    vaccine("21", "varicella", Y, 13 * Y, 0.3),
    vaccine("83", "Hep A, ped/adol, 2 dose", Y, 3 * Y, 0.3),
    vaccine("165", "HPV9", 9 * Y, 27 * Y, 0.12),
    vaccine("114", "meningococcal MCV4P", 11 * Y, 19 * Y, 0.15),
    vaccine("115", "Tdap", 11 * Y, 120 * Y, 0.04),
    vaccine("113", "Td (adult) preservative free", 19 * Y, 120 * Y, 0.05),
    vaccine("52", "Hep A, adult", 19 * Y, 120 * Y, 0.02),
    vaccine("43", "Hep B, adult", 19 * Y, 120 * Y, 0.03),
    vaccine("187", "zoster recombinant", 50 * Y, 120 * Y, 0.08),
    vaccine(
        "33",
        "pneumococcal polysaccharide vaccine, 23 valent",
        65 * Y,
        120 * Y,
        0.08,
    ),
    Vaccine {
        since_year: 2021,
        ..vaccine(
            "208",
            "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose",
            12 * Y,
            120 * Y,
            0.15,
        )
    },
    Vaccine {
        since_year: 2021,
        ..vaccine(
            "207",
            "COVID-19, mRNA, LNP-S, PF, 100 mcg/0.5mL dose or 50 mcg/0.25mL dose",
            18 * Y,
            120 * Y,
            0.08,
        )
    },
];

// ---------------------------------------------------------------------------
// Allergies.
// ---------------------------------------------------------------------------

/// An allergy with its category and the reactions it causes.
#[derive(Debug)]
pub(crate) struct Allergy {
    /// The SNOMED concept.
    pub(crate) concept: Concept,
    /// The `AllergyIntolerance.category` code.
    pub(crate) category: &'static str,
    /// Its relative frequency.
    pub(crate) weight: u32,
    /// Possible manifestations.
    pub(crate) reactions: &'static [Concept],
}

const ENVIRONMENTAL_REACTIONS: &[Concept] = &[
    snomed("76067001", "Sneezing (finding)"),
    snomed("70076002", "Rhinitis (disorder)"),
    snomed("49727002", "Cough (finding)"),
    snomed("418290006", "Itching (finding)"),
    snomed("247472004", "Wheal (finding)"),
];
const FOOD_REACTIONS: &[Concept] = &[
    snomed("126485001", "Urticaria (disorder)"),
    snomed("271807003", "Eruption of skin (disorder)"),
    snomed("422587007", "Nausea (finding)"),
    snomed("62315008", "Diarrhea (finding)"),
    snomed("39579001", "Anaphylaxis (disorder)"),
];
const DRUG_REACTIONS: &[Concept] = &[
    snomed("126485001", "Urticaria (disorder)"),
    snomed("271807003", "Eruption of skin (disorder)"),
    snomed("418290006", "Itching (finding)"),
    snomed("267036007", "Dyspnea (finding)"),
    snomed("39579001", "Anaphylaxis (disorder)"),
];

/// The anaphylaxis manifestation, which makes an allergy severe and
/// high-criticality.
pub(crate) const ANAPHYLAXIS_CODE: &str = "39579001";

const fn allergy(
    code: &'static str,
    display: &'static str,
    category: &'static str,
    weight: u32,
) -> Allergy {
    let reactions = match category.as_bytes()[0] {
        b'f' => FOOD_REACTIONS,
        b'm' => DRUG_REACTIONS,
        _ => ENVIRONMENTAL_REACTIONS,
    };
    Allergy {
        concept: snomed(code, display),
        category,
        weight,
        reactions,
    }
}

/// Allergies.
pub(crate) const ALLERGIES: &[Allergy] = &[
    allergy("419474003", "Allergy to mould (finding)", "environment", 12),
    allergy(
        "232350006",
        "House dust mite allergy (finding)",
        "environment",
        10,
    ),
    allergy(
        "232347008",
        "Dander (animal) allergy (finding)",
        "environment",
        9,
    ),
    allergy(
        "418689008",
        "Allergy to grass pollen (finding)",
        "environment",
        9,
    ),
    allergy(
        "419263009",
        "Allergy to tree pollen (finding)",
        "environment",
        8,
    ),
    allergy("300916003", "Latex allergy (finding)", "environment", 3),
    allergy(
        "424213003",
        "Allergy to bee venom (finding)",
        "environment",
        3,
    ),
    allergy("91934008", "Allergy to nut (finding)", "food", 6),
    allergy("91935009", "Allergy to peanuts (finding)", "food", 5),
    allergy("417532002", "Allergy to fish (finding)", "food", 4),
    allergy("300913006", "Shellfish allergy (finding)", "food", 3),
    allergy("91930004", "Allergy to eggs (finding)", "food", 3),
    allergy("420174000", "Allergy to wheat (finding)", "food", 2),
    allergy("714035009", "Allergy to soya (finding)", "food", 1),
    allergy(
        "91936005",
        "Allergy to penicillin (finding)",
        "medication",
        10,
    ),
    allergy("293586001", "Allergy to aspirin (finding)", "medication", 3),
];

// ---------------------------------------------------------------------------
// Clinician specialties and payers.
// ---------------------------------------------------------------------------

/// A NUCC provider taxonomy code.
#[derive(Debug)]
pub(crate) struct Specialty {
    /// The NUCC code.
    pub(crate) code: &'static str,
    /// The NUCC classification name.
    pub(crate) display: &'static str,
}

/// The clinicians of a clinic, by their position in the clinic; the last one
/// sees the children.
pub(crate) const CLINIC_SPECIALTIES: [Specialty; 3] = [
    Specialty {
        code: "207Q00000X",
        display: "Family Medicine",
    },
    Specialty {
        code: "207R00000X",
        display: "Internal Medicine",
    },
    Specialty {
        code: "208000000X",
        display: "Pediatrics",
    },
];

/// The clinicians of a hospital, by their position: the emergency physician,
/// the hospitalist and the surgeon.
pub(crate) const HOSPITAL_SPECIALTIES: [Specialty; 3] = [
    Specialty {
        code: "207P00000X",
        display: "Emergency Medicine",
    },
    Specialty {
        code: "208M00000X",
        display: "Hospitalist",
    },
    Specialty {
        code: "208600000X",
        display: "Surgery",
    },
];

/// How a payer is chosen for a patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PayerKind {
    /// Federal insurance for people 65 and over.
    Medicare,
    /// State insurance for people on low incomes.
    Medicaid,
    /// Employer or individual insurance.
    Commercial,
}

/// A health insurer.
#[derive(Debug)]
pub(crate) struct PayerInfo {
    /// The payer's name.
    pub(crate) name: &'static str,
    /// How it is chosen.
    pub(crate) kind: PayerKind,
    /// Its share among commercial payers.
    pub(crate) weight: u32,
}

/// The payers, in the order their Organizations are generated.
pub(crate) const PAYERS: &[PayerInfo] = &[
    PayerInfo {
        name: "Medicare",
        kind: PayerKind::Medicare,
        weight: 0,
    },
    PayerInfo {
        name: "Medicaid",
        kind: PayerKind::Medicaid,
        weight: 0,
    },
    PayerInfo {
        name: "Blue Cross Blue Shield",
        kind: PayerKind::Commercial,
        weight: 30,
    },
    PayerInfo {
        name: "UnitedHealthcare",
        kind: PayerKind::Commercial,
        weight: 25,
    },
    PayerInfo {
        name: "Aetna",
        kind: PayerKind::Commercial,
        weight: 15,
    },
    PayerInfo {
        name: "Cigna Health",
        kind: PayerKind::Commercial,
        weight: 12,
    },
    PayerInfo {
        name: "Humana",
        kind: PayerKind::Commercial,
        weight: 8,
    },
    PayerInfo {
        name: "Anthem",
        kind: PayerKind::Commercial,
        weight: 6,
    },
    PayerInfo {
        name: "Kaiser Foundation",
        kind: PayerKind::Commercial,
        weight: 4,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_well_formed() {
        for panel in [
            &BASIC_METABOLIC,
            &COMPREHENSIVE_METABOLIC,
            &LIPID,
            &COMPLETE_BLOOD_COUNT,
            &HEMOGLOBIN_A1C,
            &THYROTROPIN,
        ] {
            for test in panel.tests {
                assert!(
                    test.sd > 0.0 && test.mean > 3.0 * test.sd,
                    "{} would go negative",
                    test.code
                );
            }
        }
        for condition in CHRONIC_CONDITIONS {
            assert!(
                condition.min_age <= condition.max_age,
                "{}",
                condition.concept.code
            );
            for (code, _) in condition.lab_effects {
                let monitored = condition
                    .panels
                    .iter()
                    .any(|p| p.tests.iter().any(|t| t.code == *code));
                let routine = ROUTINE_PANELS
                    .iter()
                    .any(|(p, _)| p.tests.iter().any(|t| t.code == *code));
                assert!(
                    monitored || routine,
                    "{} shifts {code}, which no panel reports",
                    condition.concept.code
                );
            }
        }
        for condition in ACUTE_CONDITIONS {
            assert!(condition.medication_chance == 0.0 || !condition.medications.is_empty());
        }
        assert!(ALLERGIES.iter().all(|a| a.reactions.len() >= 3));
    }
}
