//! Names, places and the demographic code tables used for patients,
//! clinicians and care sites.
//!
//! Names are common US given names and surnames, and places are real US cities
//! with a ZIP code in their range and their time zone, so that addresses look
//! right and searches by city, state or postal code have something to find.
//! Street numbers, telephone numbers (all in the fictional 555 exchange),
//! e-mail addresses (all at the reserved `example.com`) and identifiers are
//! made up.

use crate::calendar::Zone;

/// Common female given names.
#[rustfmt::skip]
pub(crate) const FEMALE_GIVEN: &[&str] = &[
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah",
    "Karen", "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily", "Donna",
    "Michelle", "Carol", "Amanda", "Dorothy", "Melissa", "Deborah", "Stephanie", "Rebecca",
    "Sharon", "Laura", "Cynthia", "Kathleen", "Amy", "Angela", "Shirley", "Anna", "Brenda",
    "Pamela", "Emma", "Nicole", "Helen", "Samantha", "Katherine", "Christine", "Debra", "Rachel",
    "Carolyn", "Janet", "Catherine", "Maria", "Heather", "Diane", "Ruth", "Julie", "Olivia",
    "Joyce", "Virginia", "Victoria", "Kelly", "Lauren", "Christina", "Joan", "Evelyn", "Judith",
    "Megan", "Andrea", "Cheryl", "Hannah", "Jacqueline", "Martha", "Gloria", "Teresa", "Ann",
    "Sara", "Madison", "Frances", "Kathryn", "Janice", "Jean", "Abigail", "Alice", "Judy", "Sophia",
    "Grace", "Denise", "Amber", "Doris", "Marilyn", "Danielle", "Beverly", "Isabella", "Theresa",
    "Diana", "Natalie", "Brittany", "Charlotte", "Marie", "Kayla", "Alexis", "Lori", "Ava", "Mia",
    "Harper", "Chloe", "Zoe", "Lily", "Aaliyah", "Camila", "Lucia", "Rosa", "Mei", "Priya", "Aisha",
    "Fatima", "Yesenia", "Guadalupe", "Ximena", "Keisha", "Leah", "Nora", "Ellie",
];

/// Common male given names.
#[rustfmt::skip]
pub(crate) const MALE_GIVEN: &[&str] = &[
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
    "Christopher", "Charles", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Andrew",
    "Paul", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Jason", "Edward",
    "Jeffrey", "Ryan", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen", "Larry",
    "Justin", "Scott", "Brandon", "Benjamin", "Samuel", "Gregory", "Alexander", "Patrick", "Frank",
    "Raymond", "Jack", "Dennis", "Jerry", "Tyler", "Aaron", "Jose", "Adam", "Nathan", "Henry",
    "Zachary", "Douglas", "Peter", "Kyle", "Noah", "Ethan", "Jeremy", "Walter", "Christian",
    "Keith", "Roger", "Terry", "Austin", "Sean", "Gerald", "Carl", "Harold", "Dylan", "Arthur",
    "Lawrence", "Jordan", "Jesse", "Bryan", "Billy", "Bruce", "Gabriel", "Joe", "Logan", "Alan",
    "Juan", "Albert", "Willie", "Elijah", "Wayne", "Randy", "Vincent", "Liam", "Mason", "Lucas",
    "Oliver", "Carlos", "Luis", "Miguel", "Diego", "Wei", "Raj", "Omar", "Ahmed", "Hiroshi",
    "Malik", "Andre", "Darnell", "Mateo", "Santiago", "Caleb", "Isaac", "Owen", "Hunter", "Connor",
    "Eli",
];

/// Common surnames.
#[rustfmt::skip]
pub(crate) const FAMILY: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres",
    "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell",
    "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker",
    "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy", "Cook",
    "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey", "Reed", "Kelly",
    "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks", "Chavez", "Wood",
    "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez", "Castillo",
    "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Powell", "Jenkins", "Perry",
    "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes", "Gonzales", "Fisher",
    "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander", "Hamilton", "Graham",
    "Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes", "Bryant", "Herrera",
    "Gibson", "Ellis", "Tran", "Medina", "Aguilar", "Stevens", "Murray", "Ford", "Castro",
    "Marshall", "Owens", "Harrison", "Fernandez", "McDonald", "Woods", "Washington", "Kennedy",
    "Wells", "Vargas", "Henry", "Chen", "Freeman", "Webb", "Tucker", "Guzman", "Burns", "Crawford",
    "Olson", "Simpson", "Porter", "Hunter", "Gordon", "Mendez", "Silva", "Shaw", "Snyder", "Mason",
    "Dixon", "Munoz", "Hunt", "Hicks", "Holmes", "Palmer", "Wagner", "Black", "Robertson", "Boyd",
    "Rose", "Stone", "Salazar", "Fox", "Warren", "Mills", "Meyer", "Rice", "Schmidt", "Garza",
    "Daniels", "Ferguson", "Nichols", "Stephens", "Soto", "Weaver", "Ryan", "Gardner", "Payne",
    "Grant", "Dunn", "Kelley", "Spencer", "Hawkins", "Arnold", "Pierce", "Vazquez", "Hansen",
    "Peters", "Santos", "Hart", "Bradley", "Knight", "Elliott", "Cunningham", "Duncan", "Armstrong",
    "Hudson", "Carroll", "Lane", "Riley", "Andrews", "Alvarado", "Ray", "Delgado", "Berry",
    "Perkins", "Hoffman", "Johnston", "Matthews", "Pena", "Richards", "Contreras", "Willis",
    "Carpenter", "Lawrence", "Sandoval", "Wong", "Liu", "Wang", "Yang", "Zhang", "Singh", "Shah",
    "Khan", "Ali", "O'Brien", "Novak", "Kowalski", "Larsen", "Nakamura",
];

/// Street names.
#[rustfmt::skip]
pub(crate) const STREETS: &[&str] = &[
    "Main", "Oak", "Maple", "Cedar", "Elm", "Pine", "Washington", "Lake", "Hill", "Park", "Walnut",
    "Church", "Spring", "Highland", "Center", "Union", "River", "Mill", "Chestnut", "Franklin",
    "Jefferson", "Lincoln", "Madison", "Jackson", "Forest", "Meadow", "Sunset", "Ridge", "Valley",
    "Prospect", "Cherry", "Willow", "Birch", "Adams", "Monroe", "Grove", "Summit", "Pleasant",
    "Broad", "Water", "Market", "School", "Liberty", "Harbor", "Orchard", "Spruce", "Hickory",
    "Magnolia", "Dogwood", "Juniper", "Aspen", "Sycamore", "Laurel", "Riverside", "Fairview",
    "Woodland", "Lakeview", "College", "Mountain View", "Heritage",
];

/// Street suffixes.
pub(crate) const STREET_SUFFIXES: &[&str] = &[
    "Street",
    "Avenue",
    "Road",
    "Lane",
    "Drive",
    "Court",
    "Way",
    "Place",
    "Boulevard",
    "Circle",
    "Terrace",
];

/// Saints that hospitals are named after.
pub(crate) const SAINTS: &[&str] = &[
    "Mary",
    "Joseph",
    "Luke",
    "Francis",
    "Vincent",
    "Anthony",
    "Elizabeth",
    "Jude",
    "Michael",
    "Catherine",
];

/// A US city with a ZIP code in its range and its time zone.
#[derive(Debug)]
pub(crate) struct City {
    /// The city's name.
    pub(crate) name: &'static str,
    /// The USPS state abbreviation.
    pub(crate) state: &'static str,
    /// A ZIP code of the city; generated addresses vary its last digit.
    pub(crate) zip: &'static str,
    /// The city's time zone.
    pub(crate) zone: Zone,
    /// A rough population weight, so that big cities get more care sites.
    pub(crate) weight: u32,
}

const fn city(
    name: &'static str,
    state: &'static str,
    zip: &'static str,
    zone: Zone,
    weight: u32,
) -> City {
    City {
        name,
        state,
        zip,
        zone,
        weight,
    }
}

/// US cities.
pub(crate) const CITIES: &[City] = &[
    city("Boston", "MA", "02108", Zone::EASTERN, 7),
    city("Cambridge", "MA", "02138", Zone::EASTERN, 2),
    city("Worcester", "MA", "01608", Zone::EASTERN, 2),
    city("Springfield", "MA", "01103", Zone::EASTERN, 2),
    city("Providence", "RI", "02903", Zone::EASTERN, 2),
    city("Hartford", "CT", "06103", Zone::EASTERN, 2),
    city("New Haven", "CT", "06510", Zone::EASTERN, 2),
    city("Burlington", "VT", "05401", Zone::EASTERN, 1),
    city("Manchester", "NH", "03101", Zone::EASTERN, 1),
    city("Portland", "ME", "04101", Zone::EASTERN, 1),
    city("New York", "NY", "10001", Zone::EASTERN, 40),
    city("Buffalo", "NY", "14202", Zone::EASTERN, 3),
    city("Rochester", "NY", "14604", Zone::EASTERN, 3),
    city("Albany", "NY", "12207", Zone::EASTERN, 2),
    city("Newark", "NJ", "07102", Zone::EASTERN, 3),
    city("Philadelphia", "PA", "19103", Zone::EASTERN, 12),
    city("Pittsburgh", "PA", "15222", Zone::EASTERN, 4),
    city("Wilmington", "DE", "19801", Zone::EASTERN, 1),
    city("Baltimore", "MD", "21201", Zone::EASTERN, 5),
    city("Washington", "DC", "20001", Zone::EASTERN, 6),
    city("Richmond", "VA", "23219", Zone::EASTERN, 3),
    city("Norfolk", "VA", "23510", Zone::EASTERN, 2),
    city("Charleston", "WV", "25301", Zone::EASTERN, 1),
    city("Charlotte", "NC", "28202", Zone::EASTERN, 7),
    city("Raleigh", "NC", "27601", Zone::EASTERN, 4),
    city("Charleston", "SC", "29401", Zone::EASTERN, 2),
    city("Atlanta", "GA", "30303", Zone::EASTERN, 6),
    city("Savannah", "GA", "31401", Zone::EASTERN, 2),
    city("Jacksonville", "FL", "32202", Zone::EASTERN, 7),
    city("Miami", "FL", "33130", Zone::EASTERN, 6),
    city("Tampa", "FL", "33602", Zone::EASTERN, 5),
    city("Orlando", "FL", "32801", Zone::EASTERN, 4),
    city("Columbus", "OH", "43215", Zone::EASTERN, 7),
    city("Cleveland", "OH", "44113", Zone::EASTERN, 5),
    city("Cincinnati", "OH", "45202", Zone::EASTERN, 4),
    city("Detroit", "MI", "48226", Zone::EASTERN, 6),
    city("Grand Rapids", "MI", "49503", Zone::EASTERN, 2),
    city("Indianapolis", "IN", "46204", Zone::EASTERN, 7),
    city("Louisville", "KY", "40202", Zone::EASTERN, 5),
    city("Birmingham", "AL", "35203", Zone::CENTRAL, 2),
    city("Nashville", "TN", "37203", Zone::CENTRAL, 6),
    city("Memphis", "TN", "38103", Zone::CENTRAL, 6),
    city("Chicago", "IL", "60601", Zone::CENTRAL, 25),
    city("Springfield", "IL", "62701", Zone::CENTRAL, 1),
    city("Milwaukee", "WI", "53202", Zone::CENTRAL, 5),
    city("Madison", "WI", "53703", Zone::CENTRAL, 2),
    city("Minneapolis", "MN", "55401", Zone::CENTRAL, 4),
    city("Saint Paul", "MN", "55102", Zone::CENTRAL, 3),
    city("Des Moines", "IA", "50309", Zone::CENTRAL, 2),
    city("St. Louis", "MO", "63101", Zone::CENTRAL, 3),
    city("Kansas City", "MO", "64106", Zone::CENTRAL, 5),
    city("Omaha", "NE", "68102", Zone::CENTRAL, 4),
    city("Wichita", "KS", "67202", Zone::CENTRAL, 3),
    city("Oklahoma City", "OK", "73102", Zone::CENTRAL, 6),
    city("Tulsa", "OK", "74103", Zone::CENTRAL, 4),
    city("Dallas", "TX", "75201", Zone::CENTRAL, 12),
    city("Houston", "TX", "77002", Zone::CENTRAL, 20),
    city("Austin", "TX", "78701", Zone::CENTRAL, 9),
    city("San Antonio", "TX", "78205", Zone::CENTRAL, 14),
    city("New Orleans", "LA", "70112", Zone::CENTRAL, 3),
    city("Baton Rouge", "LA", "70801", Zone::CENTRAL, 2),
    city("Little Rock", "AR", "72201", Zone::CENTRAL, 2),
    city("Jackson", "MS", "39201", Zone::CENTRAL, 2),
    city("Fargo", "ND", "58102", Zone::CENTRAL, 1),
    city("Sioux Falls", "SD", "57104", Zone::CENTRAL, 1),
    city("El Paso", "TX", "79901", Zone::MOUNTAIN, 6),
    city("Denver", "CO", "80202", Zone::MOUNTAIN, 7),
    city("Colorado Springs", "CO", "80903", Zone::MOUNTAIN, 4),
    city("Albuquerque", "NM", "87102", Zone::MOUNTAIN, 5),
    city("Salt Lake City", "UT", "84101", Zone::MOUNTAIN, 2),
    city("Boise", "ID", "83702", Zone::MOUNTAIN, 2),
    city("Billings", "MT", "59101", Zone::MOUNTAIN, 1),
    city("Cheyenne", "WY", "82001", Zone::MOUNTAIN, 1),
    city("Phoenix", "AZ", "85004", Zone::ARIZONA, 15),
    city("Tucson", "AZ", "85701", Zone::ARIZONA, 5),
    city("Las Vegas", "NV", "89101", Zone::PACIFIC, 6),
    city("Reno", "NV", "89501", Zone::PACIFIC, 2),
    city("Los Angeles", "CA", "90012", Zone::PACIFIC, 35),
    city("San Diego", "CA", "92101", Zone::PACIFIC, 13),
    city("San Jose", "CA", "95113", Zone::PACIFIC, 10),
    city("San Francisco", "CA", "94102", Zone::PACIFIC, 8),
    city("Sacramento", "CA", "95814", Zone::PACIFIC, 5),
    city("Fresno", "CA", "93721", Zone::PACIFIC, 5),
    city("Portland", "OR", "97204", Zone::PACIFIC, 6),
    city("Eugene", "OR", "97401", Zone::PACIFIC, 2),
    city("Seattle", "WA", "98101", Zone::PACIFIC, 7),
    city("Spokane", "WA", "99201", Zone::PACIFIC, 2),
    city("Anchorage", "AK", "99501", Zone::ALASKA, 2),
    city("Honolulu", "HI", "96813", Zone::HAWAII, 3),
];

/// A coding in a US Core demographic value set with its share of the
/// population.
#[derive(Debug)]
pub(crate) struct Demographic {
    /// The code.
    pub(crate) code: &'static str,
    /// The display.
    pub(crate) display: &'static str,
    /// The share in percent, roughly.
    pub(crate) weight: u32,
}

const fn demographic(code: &'static str, display: &'static str, weight: u32) -> Demographic {
    Demographic {
        code,
        display,
        weight,
    }
}

/// The CDC race and ethnicity code system used by US Core.
pub(crate) const RACE_AND_ETHNICITY_SYSTEM: &str = "urn:oid:2.16.840.1.113883.6.238";

/// OMB race categories.
pub(crate) const RACES: &[Demographic] = &[
    demographic("2106-3", "White", 61),
    demographic("2054-5", "Black or African American", 13),
    demographic("2028-9", "Asian", 6),
    demographic("1002-5", "American Indian or Alaska Native", 1),
    demographic("2076-8", "Native Hawaiian or Other Pacific Islander", 1),
    demographic("2131-1", "Other Race", 8),
];

/// OMB Hispanic or Latino ethnicity.
pub(crate) const HISPANIC: Demographic = demographic("2135-2", "Hispanic or Latino", 19);
/// OMB not Hispanic or Latino ethnicity.
pub(crate) const NOT_HISPANIC: Demographic = demographic("2186-5", "Not Hispanic or Latino", 81);

/// Languages other than English spoken at home, as BCP 47 tags.
pub(crate) const OTHER_LANGUAGES: &[Demographic] = &[
    demographic("zh", "Chinese", 3),
    demographic("vi", "Vietnamese", 2),
    demographic("ko", "Korean", 1),
    demographic("fr", "French", 1),
    demographic("ar", "Arabic", 1),
    demographic("ru", "Russian", 1),
    demographic("tl", "Tagalog", 2),
];

/// HL7 v3 marital statuses for adults.
pub(crate) const MARITAL_STATUSES: &[Demographic] = &[
    demographic("M", "Married", 50),
    demographic("S", "Never Married", 30),
    demographic("D", "Divorced", 12),
    demographic("W", "Widowed", 6),
    demographic("L", "Legally Separated", 2),
];
