//! The shared resources: care sites (an Organization with its Location),
//! their clinicians (a Practitioner with a PractitionerRole) and the payers.
//!
//! Every shared resource is a pure function of the seed and its number, so a
//! patient's generator can name its clinic, doctor and insurer (ids, NPIs,
//! display names) without generating the shared set.
//!
//! **The pool grows with the population.** Patient `i` chooses among the
//! first [`site_count_for_patient`]`(i)` sites, and the shared set for `N`
//! patients holds exactly the sites that patients `0..N` can choose. So each
//! patient's records depend on `(seed, i)` alone, the records of the first
//! `N` patients are the same whatever the total, and a million patients get
//! thousands of clinics rather than a dozen, which keeps searches such as
//! `Encounter?practitioner=...` as selective as on real data. Early sites
//! serve more patients than late ones (at most about six times the average
//! at a million patients), much as large health systems do.

use serde_json::Value;

use crate::elements::fhir;

use crate::calendar::Zone;
use crate::demographics::{
    CITIES, City, FAMILY, FEMALE_GIVEN, MALE_GIVEN, SAINTS, STREET_SUFFIXES, STREETS,
};
use crate::random::{Domain, Random};
use crate::reference::{self, ReferenceStyle, SharedTarget};
use crate::terminology::{
    CLINIC_SPECIALTIES, HOSPITAL_SPECIALTIES, NUCC, PAYERS, PayerInfo, Sex, Specialty,
};

/// The identifier system Synthea uses for Organizations and Locations, kept so
/// that tools written for Synthea data work unchanged.
pub(crate) const SYNTHEA_SYSTEM: &str = "https://github.com/synthetichealth/synthea";
/// The US National Provider Identifier system.
pub(crate) const NPI_SYSTEM: &str = "http://hl7.org/fhir/sid/us-npi";

/// Sites that exist however few patients there are: four hospitals and eight
/// clinics.
const BASE_SITES: u64 = 12;
/// Patients per additional site.
const PATIENTS_PER_SITE: u64 = 250;
/// Clinicians per site.
pub(crate) const CLINICIANS_PER_SITE: u32 = 3;

/// Returns how many sites patient `index` chooses among.
pub(crate) fn site_count_for_patient(index: u64) -> u64 {
    BASE_SITES + index / PATIENTS_PER_SITE
}

/// Returns how many sites the shared set for `patients` patients holds.
pub(crate) fn site_count(patients: u64) -> u64 {
    site_count_for_patient(patients.saturating_sub(1))
}

/// Whether a site is a clinic or a hospital.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SiteKind {
    /// A primary-care practice.
    Clinic,
    /// A hospital with an emergency department.
    Hospital,
}

impl SiteKind {
    /// Every third site, starting with the first, is a hospital.
    fn of(number: u64) -> SiteKind {
        if number.is_multiple_of(3) {
            SiteKind::Hospital
        } else {
            SiteKind::Clinic
        }
    }
}

/// Returns the number of the `nth` hospital.
pub(crate) fn hospital_number(nth: u64) -> u64 {
    nth * 3
}

/// Returns how many hospitals there are among the first `sites` sites.
pub(crate) fn hospital_count(sites: u64) -> u64 {
    sites.div_ceil(3)
}

/// Returns the number of the `nth` clinic, skipping the hospitals.
pub(crate) fn clinic_number(nth: u64) -> u64 {
    nth + nth / 2 + 1
}

/// Returns how many clinics there are among the first `sites` sites.
pub(crate) fn clinic_count(sites: u64) -> u64 {
    sites - hospital_count(sites)
}

/// A postal address.
#[derive(Debug)]
pub(crate) struct Address {
    /// The street line.
    pub(crate) line: String,
    /// The city.
    pub(crate) city: &'static City,
    /// The ZIP code.
    pub(crate) postal_code: String,
}

impl Address {
    /// Returns a random address in `city`.
    pub(crate) fn random(random: &mut Random, city: &'static City) -> Address {
        let number = random.below(1, 9_900);
        let street = random.pick(STREETS);
        let suffix = random.pick(STREET_SUFFIXES);
        let mut postal_code = city.zip.to_owned();
        postal_code.pop();
        postal_code.push(char::from(b'0' + random.below(0, 10) as u8));
        Address {
            line: format!("{number} {street} {suffix}"),
            city,
            postal_code,
        }
    }

    /// Returns the FHIR `Address`.
    pub(crate) fn to_fhir(&self) -> Value {
        fhir!({
            "line": [&self.line],
            "city": &self.city.name,
            "state": &self.city.state,
            "postalCode": &self.postal_code,
            "country": "US",
        })
    }
}

/// Returns a telephone number in the fictional 555 exchange.
pub(crate) fn phone(random: &mut Random) -> String {
    format!("555-{}-{}", random.digits(3), random.digits(4))
}

/// A care site: an Organization and the Location where it sees patients.
#[derive(Debug)]
pub(crate) struct Site {
    /// The site's number in the pool.
    pub(crate) number: u64,
    /// Clinic or hospital.
    pub(crate) kind: SiteKind,
    /// The Organization's id, also its Synthea identifier.
    pub(crate) organization_id: String,
    /// The Location's id, also its Synthea identifier.
    pub(crate) location_id: String,
    /// The name, shared by the Organization and the Location.
    pub(crate) name: String,
    /// The address.
    pub(crate) address: Address,
    /// The main telephone number.
    pub(crate) phone: String,
}

impl Site {
    /// Returns site `number` of the pool for `seed`.
    pub(crate) fn new(seed: u64, number: u64) -> Site {
        let mut random = Random::new(seed, Domain::Site, number);
        let kind = SiteKind::of(number);
        let organization_id = random.uuid();
        let location_id = random.uuid();
        let city = random
            .pick_weighted(CITIES, |c| c.weight)
            .expect("cities have weights");
        let name = match (kind, random.below(0, 5)) {
            (SiteKind::Hospital, 0) => format!("{} General Hospital", city.name),
            (SiteKind::Hospital, 1) => format!("{} Regional Medical Center", city.name),
            (SiteKind::Hospital, 2) => format!("St. {} Hospital", random.pick(SAINTS)),
            (SiteKind::Hospital, 3) => format!("{} Memorial Hospital", random.pick(FAMILY)),
            (SiteKind::Hospital, _) => format!("{} University Medical Center", city.name),
            (SiteKind::Clinic, 0) => format!("{} Family Medicine", city.name),
            (SiteKind::Clinic, 1) => format!("{} Primary Care", random.pick(STREETS)),
            (SiteKind::Clinic, 2) => format!("{} Family Practice", random.pick(FAMILY)),
            (SiteKind::Clinic, 3) => format!("{} Community Health Center", city.name),
            (SiteKind::Clinic, _) => format!("{} Medical Group", random.pick(STREETS)),
        };
        let address = Address::random(&mut random, city);
        let phone = phone(&mut random);
        Site {
            number,
            kind,
            organization_id,
            location_id,
            name,
            address,
            phone,
        }
    }

    /// Returns the site's time zone.
    pub(crate) fn zone(&self) -> Zone {
        self.address.city.zone
    }

    /// Returns a reference to the site's Organization.
    pub(crate) fn organization_reference(&self, style: ReferenceStyle) -> Value {
        reference::shared(
            style,
            &SharedTarget {
                resource_type: "Organization",
                id: &self.organization_id,
                identifier_system: SYNTHEA_SYSTEM,
                identifier_value: &self.organization_id,
                display: &self.name,
            },
        )
    }

    /// Returns a reference to the site's Location.
    pub(crate) fn location_reference(&self, style: ReferenceStyle) -> Value {
        reference::shared(
            style,
            &SharedTarget {
                resource_type: "Location",
                id: &self.location_id,
                identifier_system: SYNTHEA_SYSTEM,
                identifier_value: &self.location_id,
                display: &self.name,
            },
        )
    }

    /// Returns the site's Organization resource.
    fn organization(&self) -> Value {
        fhir!({
            "resourceType": "Organization",
            "id": &self.organization_id,
            "identifier": [{ "system": SYNTHEA_SYSTEM, "value": &self.organization_id }],
            "active": true,
            "type": [{
                "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                    "code": "prov",
                    "display": "Healthcare Provider",
                }],
                "text": "Healthcare Provider",
            }],
            "name": &self.name,
            "telecom": [{ "system": "phone", "value": &self.phone, "use": "work" }],
            "address": [self.address.to_fhir()],
        })
    }

    /// Returns the site's Location resource.
    fn location(&self, style: ReferenceStyle) -> Value {
        let (code, display) = match self.kind {
            SiteKind::Clinic => ("OF", "Outpatient facility"),
            SiteKind::Hospital => ("HOSP", "Hospital"),
        };
        fhir!({
            "resourceType": "Location",
            "id": &self.location_id,
            "identifier": [{ "system": SYNTHEA_SYSTEM, "value": &self.location_id }],
            "status": "active",
            "name": &self.name,
            "mode": "instance",
            "type": [{
                "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                    "code": code,
                    "display": display,
                }],
                "text": display,
            }],
            "telecom": [{ "system": "phone", "value": &self.phone, "use": "work" }],
            "address": self.address.to_fhir(),
            "managingOrganization": &self.organization_reference(style),
        })
    }
}

/// A clinician: a Practitioner and the PractitionerRole placing them at a
/// site.
#[derive(Debug)]
pub(crate) struct Clinician {
    /// The Practitioner's id.
    pub(crate) practitioner_id: String,
    /// The PractitionerRole's id, also its Synthea identifier.
    pub(crate) role_id: String,
    /// The National Provider Identifier, a valid 10-digit NPI starting with 9,
    /// a range never issued to real providers.
    pub(crate) npi: String,
    /// The sex.
    pub(crate) sex: Sex,
    /// The given name.
    pub(crate) given: &'static str,
    /// The family name.
    pub(crate) family: &'static str,
    /// The display name, for example `Dr. Linda Nguyen`.
    pub(crate) display: String,
    /// The work e-mail.
    pub(crate) email: String,
    /// The specialty.
    pub(crate) specialty: &'static Specialty,
}

impl Clinician {
    /// Returns the clinician at `position` of `site`.
    pub(crate) fn new(seed: u64, site: &Site, position: u32) -> Clinician {
        let number = site.number * u64::from(CLINICIANS_PER_SITE) + u64::from(position);
        let mut random = Random::new(seed, Domain::Clinician, number);
        let practitioner_id = random.uuid();
        let role_id = random.uuid();
        let sex = if random.chance(0.5) {
            Sex::Female
        } else {
            Sex::Male
        };
        let given = *random.pick(if sex == Sex::Female {
            FEMALE_GIVEN
        } else {
            MALE_GIVEN
        });
        let family = *random.pick(FAMILY);
        let email_number = random.below(1, 100);
        let specialties = match site.kind {
            SiteKind::Clinic => &CLINIC_SPECIALTIES,
            SiteKind::Hospital => &HOSPITAL_SPECIALTIES,
        };
        let email = format!(
            "{}.{}{email_number}@example.com",
            given.to_lowercase(),
            family.to_lowercase().replace('\'', "")
        );
        Clinician {
            practitioner_id,
            role_id,
            npi: SeedConstants::new(seed).npi(number),
            sex,
            given,
            family,
            display: format!("Dr. {given} {family}"),
            email,
            specialty: &specialties[position as usize],
        }
    }

    /// Returns a reference to the clinician's Practitioner.
    pub(crate) fn practitioner_reference(&self, style: ReferenceStyle) -> Value {
        reference::shared(
            style,
            &SharedTarget {
                resource_type: "Practitioner",
                id: &self.practitioner_id,
                identifier_system: NPI_SYSTEM,
                identifier_value: &self.npi,
                display: &self.display,
            },
        )
    }

    /// Returns the Practitioner resource.
    fn practitioner(&self, site: &Site) -> Value {
        fhir!({
            "resourceType": "Practitioner",
            "id": &self.practitioner_id,
            "identifier": [{ "system": NPI_SYSTEM, "value": &self.npi }],
            "active": true,
            "name": [{ "use": "official", "family": &self.family, "given": [&self.given], "prefix": ["Dr."] }],
            "telecom": [{ "system": "email", "value": &self.email, "use": "work" }],
            "address": [site.address.to_fhir()],
            "gender": self.sex.gender_code(),
        })
    }

    /// Returns the PractitionerRole resource.
    fn role(&self, site: &Site, style: ReferenceStyle) -> Value {
        let specialty = fhir!([{
            "coding": [{ "system": NUCC, "code": &self.specialty.code, "display": &self.specialty.display }],
            "text": &self.specialty.display,
        }]);
        fhir!({
            "resourceType": "PractitionerRole",
            "id": &self.role_id,
            "identifier": [{ "system": SYNTHEA_SYSTEM, "value": &self.role_id }],
            "active": true,
            "practitioner": &self.practitioner_reference(style),
            "organization": &site.organization_reference(style),
            "code": &specialty,
            "specialty": specialty,
            "location": [site.location_reference(style)],
            "telecom": [
                { "system": "phone", "value": &site.phone, "use": "work" },
                { "system": "email", "value": &self.email, "use": "work" },
            ],
        })
    }
}

/// A payer: an insurer Organization that patients' Coverage points at.
#[derive(Debug)]
pub(crate) struct Payer {
    /// The Organization's id, also its Synthea identifier.
    pub(crate) id: String,
    /// The payer's table entry.
    pub(crate) info: &'static PayerInfo,
    /// The headquarters address.
    pub(crate) address: Address,
    /// The customer service number.
    pub(crate) phone: String,
}

impl Payer {
    /// Returns payer `number` (an index into [`PAYERS`]).
    pub(crate) fn new(seed: u64, number: usize) -> Payer {
        let mut random = Random::new(seed, Domain::Payer, number as u64);
        let id = random.uuid();
        let city = random
            .pick_weighted(CITIES, |c| c.weight)
            .expect("cities have weights");
        let address = Address::random(&mut random, city);
        let phone = phone(&mut random);
        Payer {
            id,
            info: &PAYERS[number],
            address,
            phone,
        }
    }

    /// Returns a reference to the payer's Organization.
    pub(crate) fn reference(&self, style: ReferenceStyle) -> Value {
        reference::shared(
            style,
            &SharedTarget {
                resource_type: "Organization",
                id: &self.id,
                identifier_system: SYNTHEA_SYSTEM,
                identifier_value: &self.id,
                display: self.info.name,
            },
        )
    }

    /// Returns the payer's Organization resource.
    fn organization(&self) -> Value {
        fhir!({
            "resourceType": "Organization",
            "id": &self.id,
            "identifier": [{ "system": SYNTHEA_SYSTEM, "value": &self.id }],
            "active": true,
            "type": [{
                "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                    "code": "pay",
                    "display": "Payer",
                }],
                "text": "Payer",
            }],
            "name": &self.info.name,
            "telecom": [{ "system": "phone", "value": &self.phone, "use": "work" }],
            "address": [self.address.to_fhir()],
        })
    }
}

/// Seed-wide constants: offsets of the permutations that turn patient and
/// clinician numbers into identifiers.
///
/// An identifier is `(number * multiplier + offset) mod 10^k` with the
/// multiplier coprime to 10, which is a bijection on `0..10^k`. So
/// identifiers look random, differ between seeds, and never repeat within a
/// seed, which random draws could not promise at a million patients.
pub(crate) struct SeedConstants {
    mrn_offset: u64,
    ssn_offset: u64,
    npi_offset: u64,
}

impl SeedConstants {
    /// Returns the constants of `seed`.
    pub(crate) fn new(seed: u64) -> SeedConstants {
        let mut random = Random::new(seed, Domain::Constants, 0);
        SeedConstants {
            mrn_offset: random.below_u64(0, 1_000_000_000),
            ssn_offset: random.below_u64(0, 100_000_000),
            npi_offset: random.below_u64(0, 100_000_000),
        }
    }

    /// Returns the medical record number of patient `index`: nine digits,
    /// unique for the first billion patients.
    pub(crate) fn mrn(&self, index: u64) -> String {
        format!(
            "{:09}",
            permute(index, 1_000_000_000, 387_420_489, self.mrn_offset)
        )
    }

    /// Returns the Social Security number of patient `index`, in the 9xx
    /// area the SSA never issues, unique for the first hundred million
    /// patients.
    pub(crate) fn ssn(&self, index: u64) -> String {
        let body = permute(index, 100_000_000, 73_939_133, self.ssn_offset);
        format!(
            "9{:02}-{:02}-{:04}",
            body / 1_000_000,
            body / 10_000 % 100,
            body % 10_000
        )
    }

    /// Returns the NPI of clinician `number`: `9`, eight digits, and the Luhn
    /// check digit NPIs carry.
    pub(crate) fn npi(&self, number: u64) -> String {
        let body = 900_000_000 + permute(number, 100_000_000, 73_939_133, self.npi_offset);
        format!("{body}{}", npi_check_digit(body))
    }
}

/// Returns `(index * multiplier + offset) mod modulus`.
fn permute(index: u64, modulus: u64, multiplier: u64, offset: u64) -> u64 {
    let value =
        (u128::from(index) * u128::from(multiplier) + u128::from(offset)) % u128::from(modulus);
    u64::try_from(value).expect("below the modulus")
}

/// Returns the check digit of a nine-digit NPI body: the Luhn digit of the
/// body prefixed with `80840`, as the NPI standard specifies.
fn npi_check_digit(body: u64) -> u64 {
    // The prefix 80840 contributes a fixed 24 to the Luhn sum.
    let mut sum = 24;
    let mut rest = body;
    let mut double = true;
    while rest > 0 {
        let digit = rest % 10;
        sum += if double {
            let twice = digit * 2;
            if twice > 9 { twice - 9 } else { twice }
        } else {
            digit
        };
        double = !double;
        rest /= 10;
    }
    (10 - sum % 10) % 10
}

/// Returns the shared resources in the given style: the payers, then for each
/// site its Organization, Location and clinicians (each Practitioner followed
/// by its PractitionerRole).
pub(crate) fn resources(seed: u64, patients: u64, style: ReferenceStyle) -> Vec<Value> {
    let sites = site_count(patients);
    let per_site = 2 + 2 * CLINICIANS_PER_SITE as usize;
    let mut out = Vec::with_capacity(PAYERS.len() + sites as usize * per_site);
    for number in 0..PAYERS.len() {
        out.push(Payer::new(seed, number).organization());
    }
    for number in 0..sites {
        let site = Site::new(seed, number);
        out.push(site.organization());
        out.push(site.location(style));
        for position in 0..CLINICIANS_PER_SITE {
            let clinician = Clinician::new(seed, &site, position);
            out.push(clinician.practitioner(&site));
            out.push(clinician.role(&site, style));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npi_check_digit_matches_the_standard_example() {
        // CMS's worked example: 123456789 has check digit 3.
        assert_eq!(npi_check_digit(123_456_789), 3);
    }

    #[test]
    fn identifiers_are_unique_and_well_formed() {
        let constants = SeedConstants::new(42);
        let mut seen = std::collections::BTreeSet::new();
        for index in 0..10_000 {
            let ssn = constants.ssn(index);
            assert_eq!(ssn.len(), 11);
            assert!(ssn.starts_with('9'));
            assert!(seen.insert(ssn));
            let npi = constants.npi(index);
            assert_eq!(npi.len(), 10);
            assert!(npi.starts_with('9'));
        }
    }

    #[test]
    fn clinics_and_hospitals_partition_the_sites() {
        for sites in 1..200 {
            let hospitals: Vec<u64> = (0..hospital_count(sites)).map(hospital_number).collect();
            let clinics: Vec<u64> = (0..clinic_count(sites)).map(clinic_number).collect();
            assert!(
                hospitals
                    .iter()
                    .all(|&n| n < sites && SiteKind::of(n) == SiteKind::Hospital)
            );
            assert!(
                clinics
                    .iter()
                    .all(|&n| n < sites && SiteKind::of(n) == SiteKind::Clinic)
            );
            assert_eq!(hospitals.len() + clinics.len(), sites as usize);
        }
    }
}
