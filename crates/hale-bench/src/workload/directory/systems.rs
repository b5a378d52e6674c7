//! W8's data: synthetic provider-directory systems, generated deterministically from a seed, and
//! written as the JSON list `hale directory import` loads.
//!
//! Names are made the way real directories read: "Saint Mary Regional Medical Center",
//! "Boston Community Hospital", "Hartwell Memorial Hospital", "Peña Family Medicine Associates",
//! "Blue Cross Blue Shield of Ohio". Each system has one to three locations, the first in its
//! home city and the others in cities of the same state, with a street address, a ZIP code near
//! the city's and coordinates near its centre. A few surnames and one city carry accents, so
//! that plain queries test accent folding. Ids are digits, [`FIRST_ID`] upwards, so the server
//! answers them as JSON numbers and the harness maps an id back to its system by subtraction.

use serde_json::{Value, json};

use crate::workload::read::splitmix64;

/// The id of the first system; the system at index `i` has id `FIRST_ID + i`.
pub const FIRST_ID: u64 = 100_001;

/// The types of the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SystemType {
    /// A provider: a hospital, health system or practice.
    HealthSystem,
    /// A payer's endpoint for payer-to-payer exchange.
    Payer2Payer,
    /// A payer's Patient Access API.
    PayerPatientAccess,
}

impl SystemType {
    /// Every type, in the order the harness cycles through them.
    pub const ALL: [SystemType; 3] = [
        SystemType::HealthSystem,
        SystemType::PayerPatientAccess,
        SystemType::Payer2Payer,
    ];

    /// The name on the wire, as `system_type` and the import file spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SystemType::HealthSystem => "HealthSystem",
            SystemType::Payer2Payer => "Payer2Payer",
            SystemType::PayerPatientAccess => "PayerPatientAccess",
        }
    }
}

/// One generated system.
#[derive(Clone, Debug, PartialEq)]
pub struct System {
    /// Its id, all digits.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its type.
    pub system_type: SystemType,
    /// The FHIR base URL, unique per system.
    pub fhir_base_url: String,
    /// `R4`, `STU3` or `DSTU2`.
    pub fhir_version: &'static str,
    /// The EHR vendor, for providers that have one.
    pub ehr: Option<&'static str>,
    /// A logo URL, for most systems.
    pub logo: Option<String>,
    /// One to three locations.
    pub locations: Vec<Location>,
}

/// A location of a system.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    /// Its name.
    pub name: String,
    /// The street address, one line.
    pub address_line: String,
    /// The city.
    pub city: &'static str,
    /// The state's two-letter code.
    pub state: &'static str,
    /// The five-digit ZIP code.
    pub postal_code: String,
    /// Latitude, degrees.
    pub latitude: f64,
    /// Longitude, degrees.
    pub longitude: f64,
}

impl System {
    /// The system as an object of the import file's JSON list.
    pub fn to_json(&self) -> Value {
        let locations: Vec<Value> = self
            .locations
            .iter()
            .map(|l| {
                json!({
                    "name": l.name,
                    "address_line": [l.address_line],
                    "city": l.city,
                    "state": l.state,
                    "postal_code": l.postal_code,
                    "latitude": l.latitude,
                    "longitude": l.longitude,
                })
            })
            .collect();
        let mut object = json!({
            "id": self.id.to_string(),
            "name": self.name,
            "type": self.system_type.as_str(),
            "fhir_base_url": self.fhir_base_url,
            "fhir_version": self.fhir_version,
            "status": "active",
            "locations": locations,
        });
        if let Some(ehr) = self.ehr {
            object["ehr"] = json!(ehr);
            object["authorize_url"] = json!(format!("{}/oauth2/authorize", self.auth_base()));
            object["token_url"] = json!(format!("{}/oauth2/token", self.auth_base()));
        }
        if let Some(logo) = &self.logo {
            object["logo"] = json!(logo);
        }
        object
    }

    fn auth_base(&self) -> String {
        format!("https://auth{}.systems.example", self.id)
    }
}

/// The whole list as the JSON array `hale directory import` reads.
pub fn to_json_list(systems: &[System]) -> Vec<u8> {
    let list: Vec<Value> = systems.iter().map(System::to_json).collect();
    serde_json::to_vec(&list).unwrap_or_default()
}

/// A SplitMix64 stream: the same seed gives the same draws.
pub(crate) struct Draws(u64);

impl Draws {
    pub(crate) fn new(seed: u64) -> Self {
        Draws(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let out = splitmix64(self.0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        out
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// `n` systems drawn from `seed`.
pub fn generate(n: usize, seed: u64) -> Vec<System> {
    let mut draws = Draws::new(seed ^ 0xD1EC_7041);
    (0..n).map(|idx| system(idx, &mut draws)).collect()
}

fn system(idx: usize, draws: &mut Draws) -> System {
    let id = FIRST_ID + idx as u64;
    let home = draws.pick(CITIES);
    let roll = draws.below(100);
    let system_type = match roll {
        0..=81 => SystemType::HealthSystem,
        82..=93 => SystemType::PayerPatientAccess,
        _ => SystemType::Payer2Payer,
    };
    let name = match system_type {
        SystemType::HealthSystem => provider_name(home, draws),
        _ => payer_name(home, draws),
    };
    let ehr = match system_type {
        SystemType::HealthSystem => Some(*draws.pick(EHRS)),
        _ => draws.chance(30).then_some("Smile CDR"),
    };
    let fhir_version = match draws.below(100) {
        0..=84 => "R4",
        85..=94 => "STU3",
        _ => "DSTU2",
    };
    let host = match ehr {
        Some("Epic") => "epicfhir",
        Some(_) => "fhir",
        None => "payer",
    };
    let fhir_base_url = format!("https://{host}.systems.example/{id}/api/FHIR/{fhir_version}");
    let logo = draws
        .chance(70)
        .then(|| format!("https://logos.systems.example/{id}.png"));
    let n_locations = match draws.below(10) {
        0..=5 => 1,
        6..=8 => 2,
        _ => 3,
    };
    let same_state: Vec<&City> = CITIES.iter().filter(|c| c.1 == home.1).collect();
    let locations = (0..n_locations)
        .map(|location_idx| {
            let city = if location_idx == 0 {
                home
            } else {
                *draws.pick(&same_state)
            };
            location(&name, location_idx, city, draws)
        })
        .collect();
    System {
        id,
        name,
        system_type,
        fhir_base_url,
        fhir_version,
        ehr,
        logo,
        locations,
    }
}

fn provider_name(home: &City, draws: &mut Draws) -> String {
    let facility = *draws.pick(FACILITIES);
    match draws.below(100) {
        0..=21 => {
            let saint = format!("Saint {}", draws.pick(SAINTS));
            described(&saint, facility, 60, draws)
        }
        22..=44 => described(home.0, facility, 100, draws),
        45..=69 => {
            let surname = *draws.pick(SURNAMES);
            described(surname, facility, 50, draws)
        }
        70..=89 => {
            let who = if draws.chance(70) {
                *draws.pick(SURNAMES)
            } else {
                home.0
            };
            let practice = draws.pick(PRACTICES);
            match *draws.pick(PRACTICE_SUFFIXES) {
                "" => format!("{who} {practice}"),
                suffix => format!("{who} {practice} {suffix}"),
            }
        }
        _ => {
            let region = *draws.pick(REGIONS);
            described(region, facility, 50, draws)
        }
    }
}

/// `head descriptor facility` (a descriptor such as "Regional" or "Memorial") `percent` times in
/// a hundred, else `head facility`.
fn described(head: &str, facility: &str, percent: u64, draws: &mut Draws) -> String {
    if draws.chance(percent) {
        format!("{head} {} {facility}", draws.pick(DESCRIPTORS))
    } else {
        format!("{head} {facility}")
    }
}

fn payer_name(home: &City, draws: &mut Draws) -> String {
    let state = STATES
        .iter()
        .find(|s| s.0 == home.1)
        .map_or(home.1, |s| s.1);
    match draws.below(9) {
        0 => format!("{} Health Plan", draws.pick(REGIONS)),
        1 => format!("{state} Health Plan"),
        2 => format!("Blue Cross Blue Shield of {state}"),
        3 => format!("{} Mutual Insurance", draws.pick(SURNAMES)),
        4 => format!("{} Care Health Plan", draws.pick(PAYER_WORDS)),
        5 => format!("{state} Medicaid Managed Care"),
        6 => format!("{} Health Insurance Company", draws.pick(PAYER_WORDS)),
        7 => format!("{} Health Partners", draws.pick(REGIONS)),
        _ => format!("{} Benefit Administrators", draws.pick(SURNAMES)),
    }
}

fn location(system_name: &str, location_idx: usize, city: &City, draws: &mut Draws) -> Location {
    let name = if location_idx == 0 {
        system_name.to_owned()
    } else {
        format!("{system_name} {} Campus", city.0)
    };
    let number = 1 + draws.below(9_899);
    let address_line = format!(
        "{number} {} {}",
        draws.pick(STREETS),
        draws.pick(STREET_SUFFIXES)
    );
    let postal_code = format!("{:05}", city.2 + draws.below(40) as u32);
    let jitter = |draws: &mut Draws| (draws.below(2_001) as f64 - 1_000.0) / 10_000.0;
    Location {
        name,
        address_line,
        city: city.0,
        state: city.1,
        postal_code,
        latitude: round6(city.3 + jitter(draws)),
        longitude: round6(city.4 + jitter(draws)),
    }
}

fn round6(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

/// A city: name, state, base ZIP code, latitude, longitude.
type City = (&'static str, &'static str, u32, f64, f64);

/// US cities, some of whose names repeat across states (Rochester, Springfield, Portland,
/// Charleston), as they do in real directories.
const CITIES: &[City] = &[
    ("Boston", "MA", 2114, 42.36, -71.06),
    ("Worcester", "MA", 1608, 42.26, -71.80),
    ("Springfield", "MA", 1103, 42.10, -72.59),
    ("Cambridge", "MA", 2139, 42.37, -71.11),
    ("Providence", "RI", 2903, 41.82, -71.41),
    ("Hartford", "CT", 6103, 41.76, -72.67),
    ("New Haven", "CT", 6510, 41.31, -72.92),
    ("Stamford", "CT", 6901, 41.05, -73.54),
    ("New York", "NY", 10016, 40.74, -73.98),
    ("Buffalo", "NY", 14203, 42.89, -78.87),
    ("Rochester", "NY", 14604, 43.16, -77.61),
    ("Albany", "NY", 12207, 42.65, -73.75),
    ("Syracuse", "NY", 13202, 43.05, -76.15),
    ("Newark", "NJ", 7102, 40.74, -74.17),
    ("Trenton", "NJ", 8608, 40.22, -74.76),
    ("Camden", "NJ", 8102, 39.93, -75.12),
    ("Philadelphia", "PA", 19107, 39.95, -75.16),
    ("Pittsburgh", "PA", 15213, 40.44, -79.96),
    ("Allentown", "PA", 18101, 40.60, -75.47),
    ("Harrisburg", "PA", 17101, 40.27, -76.88),
    ("Baltimore", "MD", 21201, 39.29, -76.61),
    ("Bethesda", "MD", 20814, 38.98, -77.10),
    ("Washington", "DC", 20010, 38.93, -77.03),
    ("Richmond", "VA", 23219, 37.54, -77.44),
    ("Norfolk", "VA", 23507, 36.85, -76.29),
    ("Roanoke", "VA", 24014, 37.27, -79.94),
    ("Charlotte", "NC", 28203, 35.21, -80.84),
    ("Raleigh", "NC", 27610, 35.78, -78.64),
    ("Durham", "NC", 27710, 36.00, -78.94),
    ("Greensboro", "NC", 27401, 36.07, -79.79),
    ("Charleston", "SC", 29425, 32.78, -79.95),
    ("Columbia", "SC", 29203, 34.00, -81.03),
    ("Atlanta", "GA", 30308, 33.75, -84.39),
    ("Savannah", "GA", 31404, 32.08, -81.09),
    ("Augusta", "GA", 30912, 33.47, -81.97),
    ("Jacksonville", "FL", 32209, 30.33, -81.66),
    ("Miami", "FL", 33136, 25.79, -80.21),
    ("Orlando", "FL", 32806, 28.54, -81.38),
    ("Tampa", "FL", 33606, 27.95, -82.46),
    ("Gainesville", "FL", 32610, 29.65, -82.32),
    ("Tallahassee", "FL", 32308, 30.44, -84.28),
    ("Birmingham", "AL", 35233, 33.52, -86.80),
    ("Montgomery", "AL", 36116, 32.37, -86.30),
    ("Mobile", "AL", 36617, 30.69, -88.04),
    ("Nashville", "TN", 37232, 36.16, -86.78),
    ("Memphis", "TN", 38103, 35.15, -90.05),
    ("Knoxville", "TN", 37920, 35.96, -83.92),
    ("Chattanooga", "TN", 37403, 35.05, -85.31),
    ("Louisville", "KY", 40202, 38.25, -85.76),
    ("Lexington", "KY", 40536, 38.04, -84.50),
    ("Cincinnati", "OH", 45219, 39.10, -84.51),
    ("Cleveland", "OH", 44195, 41.50, -81.69),
    ("Columbus", "OH", 43210, 39.96, -83.00),
    ("Toledo", "OH", 43614, 41.65, -83.54),
    ("Akron", "OH", 44307, 41.08, -81.52),
    ("Dayton", "OH", 45409, 39.76, -84.19),
    ("Detroit", "MI", 48201, 42.33, -83.05),
    ("Grand Rapids", "MI", 49503, 42.96, -85.67),
    ("Ann Arbor", "MI", 48109, 42.28, -83.74),
    ("Lansing", "MI", 48912, 42.73, -84.56),
    ("Indianapolis", "IN", 46202, 39.77, -86.16),
    ("Fort Wayne", "IN", 46802, 41.08, -85.14),
    ("Chicago", "IL", 60611, 41.88, -87.63),
    ("Peoria", "IL", 61603, 40.69, -89.59),
    ("Rockford", "IL", 61104, 42.27, -89.09),
    ("Milwaukee", "WI", 53226, 43.04, -87.91),
    ("Madison", "WI", 53792, 43.07, -89.40),
    ("Green Bay", "WI", 54301, 44.51, -88.01),
    ("Minneapolis", "MN", 55415, 44.98, -93.27),
    ("Saint Paul", "MN", 55101, 44.95, -93.09),
    ("Rochester", "MN", 55905, 44.02, -92.47),
    ("Des Moines", "IA", 50309, 41.59, -93.62),
    ("Iowa City", "IA", 52242, 41.66, -91.53),
    ("Omaha", "NE", 68198, 41.26, -95.93),
    ("Lincoln", "NE", 68508, 40.81, -96.70),
    ("Kansas City", "MO", 64108, 39.10, -94.58),
    ("Saint Louis", "MO", 63110, 38.63, -90.20),
    ("Springfield", "MO", 65804, 37.21, -93.29),
    ("Wichita", "KS", 67214, 37.69, -97.34),
    ("Topeka", "KS", 66606, 39.05, -95.68),
    ("Oklahoma City", "OK", 73104, 35.47, -97.52),
    ("Tulsa", "OK", 74104, 36.15, -95.99),
    ("Little Rock", "AR", 72205, 34.75, -92.29),
    ("New Orleans", "LA", 70112, 29.95, -90.07),
    ("Baton Rouge", "LA", 70808, 30.45, -91.15),
    ("Shreveport", "LA", 71103, 32.53, -93.75),
    ("Jackson", "MS", 39216, 32.30, -90.18),
    ("Houston", "TX", 77030, 29.76, -95.37),
    ("Dallas", "TX", 75390, 32.78, -96.80),
    ("San Antonio", "TX", 78229, 29.42, -98.49),
    ("Austin", "TX", 78701, 30.27, -97.74),
    ("Fort Worth", "TX", 76104, 32.76, -97.33),
    ("El Paso", "TX", 79905, 31.76, -106.49),
    ("Lubbock", "TX", 79430, 33.58, -101.86),
    ("Corpus Christi", "TX", 78404, 27.80, -97.40),
    ("Albuquerque", "NM", 87106, 35.08, -106.65),
    ("Santa Fe", "NM", 87505, 35.69, -105.94),
    ("Las Cruces", "NM", 88011, 32.31, -106.78),
    ("Denver", "CO", 80204, 39.74, -104.99),
    ("Colorado Springs", "CO", 80909, 38.83, -104.82),
    ("Aurora", "CO", 80045, 39.73, -104.83),
    ("Salt Lake City", "UT", 84132, 40.76, -111.89),
    ("Provo", "UT", 84604, 40.23, -111.66),
    ("Phoenix", "AZ", 85006, 33.45, -112.07),
    ("Tucson", "AZ", 85724, 32.22, -110.97),
    ("Las Vegas", "NV", 89102, 36.17, -115.14),
    ("Reno", "NV", 89502, 39.53, -119.81),
    ("Boise", "ID", 83712, 43.62, -116.20),
    ("Seattle", "WA", 98104, 47.61, -122.33),
    ("Spokane", "WA", 99204, 47.66, -117.43),
    ("Tacoma", "WA", 98405, 47.25, -122.44),
    ("Portland", "OR", 97239, 45.52, -122.68),
    ("Eugene", "OR", 97401, 44.05, -123.09),
    ("San Francisco", "CA", 94143, 37.77, -122.42),
    ("Los Angeles", "CA", 90033, 34.05, -118.24),
    ("San Diego", "CA", 92103, 32.72, -117.16),
    ("San José", "CA", 95128, 37.34, -121.89),
    ("Sacramento", "CA", 95817, 38.58, -121.49),
    ("Fresno", "CA", 93721, 36.74, -119.79),
    ("Oakland", "CA", 94609, 37.80, -122.27),
    ("Anchorage", "AK", 99508, 61.22, -149.90),
    ("Honolulu", "HI", 96813, 21.31, -157.86),
    ("Portland", "ME", 4102, 43.66, -70.26),
    ("Burlington", "VT", 5401, 44.48, -73.21),
    ("Manchester", "NH", 3103, 42.99, -71.46),
    ("Charleston", "WV", 25304, 38.35, -81.63),
    ("Billings", "MT", 59101, 45.78, -108.50),
    ("Fargo", "ND", 58102, 46.88, -96.79),
    ("Sioux Falls", "SD", 57105, 43.54, -96.73),
    ("Cheyenne", "WY", 82001, 41.14, -104.82),
    ("Wilmington", "DE", 19801, 39.74, -75.55),
];

/// The states of [`CITIES`]: code and name.
const STATES: &[(&str, &str)] = &[
    ("MA", "Massachusetts"),
    ("RI", "Rhode Island"),
    ("CT", "Connecticut"),
    ("NY", "New York"),
    ("NJ", "New Jersey"),
    ("PA", "Pennsylvania"),
    ("MD", "Maryland"),
    ("DC", "District of Columbia"),
    ("VA", "Virginia"),
    ("NC", "North Carolina"),
    ("SC", "South Carolina"),
    ("GA", "Georgia"),
    ("FL", "Florida"),
    ("AL", "Alabama"),
    ("TN", "Tennessee"),
    ("KY", "Kentucky"),
    ("OH", "Ohio"),
    ("MI", "Michigan"),
    ("IN", "Indiana"),
    ("IL", "Illinois"),
    ("WI", "Wisconsin"),
    ("MN", "Minnesota"),
    ("IA", "Iowa"),
    ("NE", "Nebraska"),
    ("MO", "Missouri"),
    ("KS", "Kansas"),
    ("OK", "Oklahoma"),
    ("AR", "Arkansas"),
    ("LA", "Louisiana"),
    ("MS", "Mississippi"),
    ("TX", "Texas"),
    ("NM", "New Mexico"),
    ("CO", "Colorado"),
    ("UT", "Utah"),
    ("AZ", "Arizona"),
    ("NV", "Nevada"),
    ("ID", "Idaho"),
    ("WA", "Washington"),
    ("OR", "Oregon"),
    ("CA", "California"),
    ("AK", "Alaska"),
    ("HI", "Hawaii"),
    ("ME", "Maine"),
    ("VT", "Vermont"),
    ("NH", "New Hampshire"),
    ("WV", "West Virginia"),
    ("MT", "Montana"),
    ("ND", "North Dakota"),
    ("SD", "South Dakota"),
    ("WY", "Wyoming"),
    ("DE", "Delaware"),
];

const SAINTS: &[&str] = &[
    "Mary",
    "Joseph",
    "Luke",
    "Francis",
    "Vincent",
    "Elizabeth",
    "John",
    "Anthony",
    "Catherine",
    "Jude",
    "Agnes",
    "Clare",
    "Peter",
    "Michael",
    "Rose",
    "Thomas",
    "Bernard",
    "Patrick",
    "Teresa",
    "Helena",
    "Margaret",
    "Dominic",
];

const SURNAMES: &[&str] = &[
    "Abbott",
    "Alcott",
    "Ashford",
    "Barlow",
    "Beckett",
    "Bellamy",
    "Bramwell",
    "Brennan",
    "Caldwell",
    "Carrington",
    "Chandler",
    "Whitfield",
    "Crawford",
    "Delaney",
    "Dunmore",
    "Ellison",
    "Fairbanks",
    "Fenwick",
    "Garrison",
    "Gillespie",
    "Grayson",
    "Halloway",
    "Harrington",
    "Hartwell",
    "Hawthorne",
    "Kensington",
    "Kingsley",
    "Langford",
    "Lockhart",
    "Mansfield",
    "Marlowe",
    "Merriweather",
    "Montgomery",
    "Norwood",
    "Oakley",
    "Pembroke",
    "Prescott",
    "Radcliffe",
    "Remington",
    "Rutherford",
    "Sherwood",
    "Stanton",
    "Sutherland",
    "Thornton",
    "Underwood",
    "Vandermeer",
    "Wakefield",
    "Wellington",
    "Westbrook",
    "Whitaker",
    "Winslow",
    "Yardley",
    "Ainsworth",
    "Blackwood",
    "Cromwell",
    "Davenport",
    "Eastwood",
    "Fitzgerald",
    "Goodwin",
    "Hollister",
    "Irving",
    "Kendrick",
    "Lancaster",
    "McAllister",
    "Nightingale",
    "Osgood",
    "Pendleton",
    "Quimby",
    "Rockwell",
    "Sinclair",
    "Templeton",
    "Valentine",
    "Whitmore",
    "Zimmerman",
    "Albright",
    "Bancroft",
    "Calloway",
    "Dempsey",
    "Forsythe",
    "Galloway",
    "Hadley",
    "Ingram",
    "Jennings",
    "Kirkland",
    "Mercer",
    "Newcomb",
    "Ogden",
    "Pryor",
    "Quinlan",
    "Ramsey",
    "Stafford",
    "Talbot",
    "Vaughn",
    "Wyndham",
    "Castillo",
    "Peña",
    "Muñoz",
    "Jiménez",
    "Márquez",
    "Ibáñez",
    "Núñez",
];

const DESCRIPTORS: &[&str] = &[
    "Regional",
    "Community",
    "Memorial",
    "General",
    "University",
    "Children's",
    "Veterans",
    "Methodist",
    "Baptist",
    "Presbyterian",
    "Lutheran",
    "Adventist",
    "Mercy",
    "Providence",
    "County",
    "Specialty",
    "Rehabilitation",
    "Behavioral",
    "Women's",
    "Heart",
    "Cancer",
    "Orthopedic",
    "Teaching",
    "Municipal",
];

const FACILITIES: &[&str] = &[
    "Medical Center",
    "Hospital",
    "Health System",
    "Health",
    "Healthcare",
    "Health Center",
    "Medical Group",
    "Health Network",
    "Clinic",
    "Hospitals",
];

const PRACTICES: &[&str] = &[
    "Family Medicine",
    "Pediatrics",
    "Internal Medicine",
    "Orthopedics",
    "Cardiology",
    "Dermatology",
    "Women's Health",
    "Primary Care",
    "Urgent Care",
    "Surgical",
    "Eye Care",
    "Physical Therapy",
    "Oncology",
    "Neurology",
    "Behavioral Health",
];

const PRACTICE_SUFFIXES: &[&str] = &[
    "Associates",
    "Group",
    "Clinic",
    "Partners",
    "Specialists",
    "",
];

const REGIONS: &[&str] = &[
    "Valley",
    "Mountain",
    "Lakeside",
    "Riverside",
    "Bayside",
    "Coastal",
    "Prairie",
    "Summit",
    "Pinecrest",
    "Cedar Ridge",
    "Northshore",
    "Southwest",
    "Heartland",
    "Tri County",
    "Piedmont",
    "Bluegrass",
    "Gulf Coast",
    "High Plains",
    "Great Lakes",
    "Sunrise",
    "Evergreen",
    "Clearwater",
    "Harbor",
];

const PAYER_WORDS: &[&str] = &[
    "Premier",
    "Liberty",
    "Guardian",
    "Pioneer",
    "Keystone",
    "Unity",
    "Harmony",
    "Beacon",
    "Compass",
    "Horizon",
    "Patriot",
    "Sentinel",
    "Alliance",
    "Heritage",
    "Cornerstone",
];

/// EHR vendors, Epic and Cerner repeated to weigh them as their share of US hospitals does.
const EHRS: &[&str] = &[
    "Epic",
    "Epic",
    "Epic",
    "Epic",
    "Cerner",
    "Cerner",
    "Allscripts",
    "athenahealth",
    "eClinicalWorks",
    "NextGen",
    "Meditech",
];

const STREETS: &[&str] = &[
    "Main",
    "Oak",
    "Maple",
    "Cedar",
    "Elm",
    "Washington",
    "Lincoln",
    "Park",
    "Lake",
    "Hill",
    "Church",
    "Market",
    "Spring",
    "Highland",
    "Center",
    "Broad",
    "Union",
    "Water",
    "Mill",
    "River",
    "Franklin",
    "Jefferson",
    "Madison",
    "Chestnut",
    "Walnut",
];

const STREET_SUFFIXES: &[&str] = &["St", "Ave", "Blvd", "Rd", "Dr", "Way", "Pkwy", "Ln"];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_systems_and_another_seed_others() {
        let first = to_json_list(&generate(2_000, 42));
        assert_eq!(first, to_json_list(&generate(2_000, 42)));
        assert_ne!(first, to_json_list(&generate(2_000, 43)));
    }

    #[test]
    fn fifty_thousand_systems_have_distinct_ids_and_urls_and_every_field() {
        let systems = generate(50_000, 42);
        assert_eq!(systems.len(), 50_000);
        let ids: HashSet<u64> = systems.iter().map(|s| s.id).collect();
        assert_eq!(ids.len(), 50_000);
        let urls: HashSet<&str> = systems.iter().map(|s| s.fhir_base_url.as_str()).collect();
        assert_eq!(urls.len(), 50_000);
        for (idx, system) in systems.iter().enumerate() {
            assert_eq!(system.id, FIRST_ID + idx as u64);
            assert!((1..=3).contains(&system.locations.len()), "{system:?}");
            assert!(system.name.split(' ').count() >= 2, "{system:?}");
            assert!(
                system.locations.iter().all(|l| l.postal_code.len() == 5
                    && l.postal_code.bytes().all(|b| b.is_ascii_digit())),
                "{system:?}"
            );
        }
        let types: HashSet<SystemType> = systems.iter().map(|s| s.system_type).collect();
        assert_eq!(types.len(), 3);
        let names: HashSet<&str> = systems.iter().map(|s| s.name.as_str()).collect();
        assert!(names.len() > 10_000, "only {} distinct names", names.len());
    }

    #[test]
    fn the_json_list_has_the_import_fields() {
        let systems = generate(50, 7);
        let list: Vec<Value> = serde_json::from_slice(&to_json_list(&systems)).unwrap_or_default();
        assert_eq!(list.len(), 50);
        let first = &list[0];
        assert_eq!(first["id"], "100001");
        assert_eq!(first["name"], systems[0].name.as_str());
        assert_eq!(first["fhir_base_url"], systems[0].fhir_base_url.as_str());
        assert!(first["locations"][0]["address_line"][0].is_string());
        assert!(first["locations"][0]["latitude"].is_f64());
    }
}
