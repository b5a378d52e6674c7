//! The [Da Vinci PDex Plan-Net](https://hl7.org/fhir/us/davinci-pdex-plan-net/STU1.1/) provider
//! directory: the guide's 49 examples load, the search parameters it adds to R4 work, and every
//! `_include` and `_revinclude` its CapabilityStatement lists finds exactly the resources the
//! examples reference, which the CapabilityStatement of Hale lists too.
//!
//! The examples (and six resources of Hale's own that fill the references they never set) are in
//! `crates/hale/tests/fixtures/plan-net/`; the expected ids below were read off their JSON.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{Key, TestApp, entries, link};

/// The guide's examples, one per line.
const EXAMPLES: &str = include_str!("../fixtures/plan-net/examples.ndjson");

/// Hale's additions, for the references the examples leave empty (see the fixtures' README).
const ADDITIONS: &str = include_str!("../fixtures/plan-net/hale-additions.ndjson");

/// The `searchInclude` values of the guide's CapabilityStatement (`plan-net`), all resources.
const GUIDE_INCLUDES: &[&str] = &[
    "Endpoint:organization",
    "HealthcareService:location",
    "HealthcareService:coverage-area",
    "HealthcareService:organization",
    "HealthcareService:endpoint",
    "InsurancePlan:administered-by",
    "InsurancePlan:owned-by",
    "InsurancePlan:coverage-area",
    "Location:endpoint",
    "Location:organization",
    "Location:partof",
    "Organization:partof",
    "Organization:endpoint",
    "Organization:coverage-area",
    "OrganizationAffiliation:primary-organization",
    "OrganizationAffiliation:participating-organization",
    "OrganizationAffiliation:location",
    "OrganizationAffiliation:service",
    "OrganizationAffiliation:endpoint",
    "OrganizationAffiliation:network",
    "PractitionerRole:practitioner",
    "PractitionerRole:organization",
    "PractitionerRole:location",
    "PractitionerRole:service",
    "PractitionerRole:network",
    "PractitionerRole:endpoint",
];

/// The `searchRevInclude` values of the guide's CapabilityStatement, with the resource type whose
/// entry lists each.
const GUIDE_REVINCLUDES: &[(&str, &str)] = &[
    ("HealthcareService", "PractitionerRole:service"),
    ("HealthcareService", "OrganizationAffiliation:service"),
    ("Location", "HealthcareService:location"),
    ("Location", "InsurancePlan:coverage-area"),
    ("Location", "OrganizationAffiliation:location"),
    ("Location", "PractitionerRole:location"),
    ("Organization", "Endpoint:organization"),
    ("Organization", "HealthcareService:organization"),
    ("Organization", "InsurancePlan:administered-by"),
    ("Organization", "InsurancePlan:owned-by"),
    (
        "Organization",
        "OrganizationAffiliation:primary-organization",
    ),
    ("Organization", "PractitionerRole:organization"),
    ("Organization", "PractitionerRole:network"),
    (
        "Organization",
        "OrganizationAffiliation:participating-organization",
    ),
    ("Practitioner", "PractitionerRole:practitioner"),
];

/// One search: its `_include` (or `_revinclude`) value, the search it is added to, and exactly the
/// resources it must include.
///
/// The matches are narrowed with `_id` where the target type is the searched type (a resource
/// already on the page is never included again) or where a few matches show the point better.
struct Case {
    value: &'static str,
    search: &'static str,
    included: &'static [&'static str],
}

const INCLUDE_CASES: &[Case] = &[
    Case {
        value: "Endpoint:organization",
        search: "Endpoint?",
        included: &["Organization/Hospital"],
    },
    Case {
        value: "HealthcareService:location",
        search: "HealthcareService?_id=PharmChainRetailService,HartfordOrthopedicServices,HansSoloService",
        included: &[
            "Location/HansSoloClinic",
            "Location/HospLoc1",
            "Location/HospLoc2",
            "Location/PharmLoc1",
            "Location/PharmLoc2",
            "Location/PharmLoc3",
            "Location/PharmLoc4",
        ],
    },
    Case {
        value: "HealthcareService:coverage-area",
        search: "HealthcareService?",
        included: &["Location/StateOfCTLocation"],
    },
    Case {
        value: "HealthcareService:organization",
        search: "HealthcareService?_id=BurrClinicServices,PharmChainCompService,PharmChainMailService,HansSoloService,hale-service",
        // HansSoloService names no provider.
        included: &[
            "Organization/BurrClinic",
            "Organization/PharmChain",
            "Organization/hale-clinic",
        ],
    },
    Case {
        value: "HealthcareService:endpoint",
        search: "HealthcareService?",
        included: &["Endpoint/hale-endpoint"],
    },
    Case {
        value: "InsurancePlan:administered-by",
        search: "InsurancePlan?",
        included: &["Organization/Acme"],
    },
    Case {
        value: "InsurancePlan:owned-by",
        search: "InsurancePlan?",
        included: &["Organization/Acme"],
    },
    Case {
        value: "InsurancePlan:coverage-area",
        search: "InsurancePlan?",
        included: &["Location/StateOfCTLocation"],
    },
    Case {
        value: "Location:endpoint",
        search: "Location?",
        included: &["Endpoint/AcmeOfCTPortalEndpoint"],
    },
    Case {
        value: "Location:organization",
        search: "Location?_id=HansSoloClinic,HospLoc2,CancerClinicLoc,StateOfCTLocation",
        included: &[
            "Organization/BigBox",
            "Organization/CancerClinic",
            "Organization/Hospital",
        ],
    },
    Case {
        value: "Location:partof",
        search: "Location?_id=hale-wing,PharmLoc1",
        included: &["Location/HospLoc1"],
    },
    Case {
        value: "Organization:partof",
        search: "Organization?_id=AcmeofCTPremNet,AcmeofCTStdNet,HamiltonClinic,hale-clinic,BigBox",
        included: &["Organization/Acme", "Organization/Hospital"],
    },
    Case {
        value: "Organization:endpoint",
        search: "Organization?",
        included: &["Endpoint/hale-endpoint"],
    },
    Case {
        // The Plan-Net parameter on the `location-reference` extension.
        value: "Organization:coverage-area",
        search: "Organization?",
        included: &["Location/StateOfCTLocation"],
    },
    Case {
        value: "OrganizationAffiliation:primary-organization",
        search: "OrganizationAffiliation?",
        included: &["Organization/ConnHIE", "Organization/Hospital"],
    },
    Case {
        value: "OrganizationAffiliation:participating-organization",
        search: "OrganizationAffiliation?_id=ConnHIEAffil,HamiltonClinicAffil,hale-affiliation",
        included: &[
            "Organization/BurrClinic",
            "Organization/HamiltonClinic",
            "Organization/hale-clinic",
        ],
    },
    Case {
        value: "OrganizationAffiliation:location",
        search: "OrganizationAffiliation?_id=BurrClinicAffil,PharmChainAffil1,PharmChainAffil3",
        included: &[
            "Location/HospLoc2",
            "Location/PharmLoc1",
            "Location/PharmLoc2",
        ],
    },
    Case {
        value: "OrganizationAffiliation:service",
        search: "OrganizationAffiliation?_id=HamiltonClinicAffil,PharmChainAffil2,ConnHIEAffil",
        included: &[
            "HealthcareService/HamiltonClinicServices",
            "HealthcareService/PharmChainCompService",
        ],
    },
    Case {
        value: "OrganizationAffiliation:endpoint",
        search: "OrganizationAffiliation?",
        included: &["Endpoint/AcmeOfCTPortalEndpoint"],
    },
    Case {
        value: "OrganizationAffiliation:network",
        search: "OrganizationAffiliation?",
        included: &["Organization/AcmeofCTStdNet"],
    },
    Case {
        value: "PractitionerRole:practitioner",
        search: "PractitionerRole?",
        included: &[
            "Practitioner/Counselor",
            "Practitioner/HansSolo",
            "Practitioner/JoeSmith",
        ],
    },
    Case {
        value: "PractitionerRole:organization",
        search: "PractitionerRole?_id=AnonRole,JoeSmithRole2,CounselorRole1,hale-role",
        included: &[
            "Organization/BurrClinic",
            "Organization/CancerClinic",
            "Organization/hale-clinic",
        ],
    },
    Case {
        value: "PractitionerRole:location",
        search: "PractitionerRole?_id=AnonRole,HansSoloRole1,JoeSmithRole3",
        included: &["Location/HansSoloClinic", "Location/HospLoc2"],
    },
    Case {
        value: "PractitionerRole:service",
        search: "PractitionerRole?_id=AnonRole,CounselorRole1,JoeSmithRole2,JoeSmithRole3",
        included: &[
            "HealthcareService/BurrClinicServices",
            "HealthcareService/VirtualCounselService",
        ],
    },
    Case {
        // The Plan-Net parameter on the `network-reference` extension.
        value: "PractitionerRole:network",
        search: "PractitionerRole?",
        included: &["Organization/AcmeofCTStdNet"],
    },
    Case {
        value: "PractitionerRole:endpoint",
        search: "PractitionerRole?",
        included: &["Endpoint/hale-endpoint"],
    },
];

const REVINCLUDE_CASES: &[Case] = &[
    Case {
        value: "PractitionerRole:service",
        search: "HealthcareService?_id=BurrClinicServices,HansSoloService",
        included: &[
            "PractitionerRole/AnonRole",
            "PractitionerRole/HansSoloRole1",
            "PractitionerRole/JoeSmithRole2",
        ],
    },
    Case {
        value: "OrganizationAffiliation:service",
        search: "HealthcareService?_id=PharmChainRetailService,PharmChainMailService,HospERService",
        included: &[
            "OrganizationAffiliation/PharmChainAffil1",
            "OrganizationAffiliation/PharmChainAffil3",
        ],
    },
    Case {
        value: "HealthcareService:location",
        search: "Location?_id=HospLoc2,PharmLoc3,hale-wing",
        included: &[
            "HealthcareService/HartfordOrthopedicServices",
            "HealthcareService/PharmChainRetailService",
            "HealthcareService/hale-service",
        ],
    },
    Case {
        value: "InsurancePlan:coverage-area",
        search: "Location?_id=StateOfCTLocation",
        included: &["InsurancePlan/AcmeQHPBronze", "InsurancePlan/AcmeQHPGold"],
    },
    Case {
        value: "OrganizationAffiliation:location",
        search: "Location?_id=HospLoc2,PharmLoc1",
        included: &[
            "OrganizationAffiliation/BurrClinicAffil",
            "OrganizationAffiliation/HartfordOrthopedicAffil",
            "OrganizationAffiliation/PharmChainAffil1",
            "OrganizationAffiliation/PharmChainAffil2",
        ],
    },
    Case {
        value: "PractitionerRole:location",
        search: "Location?_id=HospLoc1,HansSoloClinic",
        included: &[
            "PractitionerRole/HansSoloRole1",
            "PractitionerRole/JoeSmithRole1",
        ],
    },
    Case {
        value: "Endpoint:organization",
        search: "Organization?_id=Hospital",
        included: &["Endpoint/hale-endpoint"],
    },
    Case {
        value: "HealthcareService:organization",
        search: "Organization?_id=PharmChain,hale-clinic",
        included: &[
            "HealthcareService/PharmChainCompService",
            "HealthcareService/PharmChainMailService",
            "HealthcareService/PharmChainRetailService",
            "HealthcareService/hale-service",
        ],
    },
    Case {
        value: "InsurancePlan:administered-by",
        search: "Organization?_id=Acme",
        included: &["InsurancePlan/AcmeQHPBronze", "InsurancePlan/AcmeQHPGold"],
    },
    Case {
        value: "InsurancePlan:owned-by",
        search: "Organization?_id=Acme,Hospital",
        included: &["InsurancePlan/AcmeQHPBronze", "InsurancePlan/AcmeQHPGold"],
    },
    Case {
        value: "OrganizationAffiliation:primary-organization",
        search: "Organization?_id=Hospital,ConnHIE,BurrClinic",
        included: &[
            "OrganizationAffiliation/BurrClinicAffil",
            "OrganizationAffiliation/ConnHIEAffil",
            "OrganizationAffiliation/HartfordOrthopedicAffil",
            "OrganizationAffiliation/hale-affiliation",
        ],
    },
    Case {
        value: "PractitionerRole:organization",
        search: "Organization?_id=Hospital,BurrClinic",
        included: &[
            "PractitionerRole/JoeSmithRole1",
            "PractitionerRole/JoeSmithRole2",
            "PractitionerRole/JoeSmithRole3",
        ],
    },
    Case {
        value: "PractitionerRole:network",
        search: "Organization?_id=AcmeofCTStdNet,AcmeofCTPremNet",
        included: &[
            "PractitionerRole/AnonRole",
            "PractitionerRole/CounselorRole1",
            "PractitionerRole/HansSoloRole1",
            "PractitionerRole/JoeSmithRole1",
            "PractitionerRole/JoeSmithRole2",
            "PractitionerRole/JoeSmithRole3",
        ],
    },
    Case {
        value: "OrganizationAffiliation:participating-organization",
        search: "Organization?_id=BurrClinic,hale-clinic",
        included: &[
            "OrganizationAffiliation/BurrClinicAffil",
            "OrganizationAffiliation/ConnHIEAffil",
            "OrganizationAffiliation/hale-affiliation",
        ],
    },
    Case {
        value: "PractitionerRole:practitioner",
        search: "Practitioner?_id=JoeSmith",
        included: &[
            "PractitionerRole/JoeSmithRole1",
            "PractitionerRole/hale-role",
        ],
    },
];

/// The resources of an NDJSON fixture.
fn resources(ndjson: &str) -> Vec<Value> {
    ndjson
        .lines()
        .map(|line| serde_json::from_str(line).expect("a fixture line is a resource"))
        .collect()
}

/// `Type/id` of a resource.
fn reference(resource: &Value) -> String {
    format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap_or_default(),
        resource["id"].as_str().unwrap_or_default()
    )
}

/// A server holding the examples and the additions, each under its own id (one batch of PUTs, as
/// the operator, the way `hale import` keeps ids).
async fn plan_net_app() -> TestApp {
    let app = TestApp::start().await;
    let all: Vec<Value> = resources(EXAMPLES)
        .into_iter()
        .chain(resources(ADDITIONS))
        .collect();
    let entries: Vec<Value> = all
        .iter()
        .map(|resource| {
            json!({"resource": resource, "request": {"method": "PUT", "url": reference(resource)}})
        })
        .collect();
    let reply = app
        .post(
            "/r4",
            &json!({"resourceType": "Bundle", "type": "batch", "entry": entries}),
        )
        .await;
    let bundle = reply.resource(200);
    let statuses: Vec<&str> = bundle["entry"]
        .as_array()
        .expect("a batch-response has entries")
        .iter()
        .map(|entry| entry["response"]["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(statuses.len(), all.len());
    for (resource, status) in all.iter().zip(&statuses) {
        assert!(
            status.starts_with("201"),
            "{} did not load: {status}: {bundle}",
            reference(resource)
        );
    }
    app
}

/// The matches and the included resources of a search, as `Type/id`; the search must fit on
/// one page.
async fn search(app: &TestApp, query: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let bundle = app
        .get(&format!("/r4/{query}&_count=100"))
        .await
        .resource(200);
    assert!(link(&bundle, "next").is_none(), "{query} fits on one page");
    let (matches, included) = entries(&bundle);
    let references = |keys: Vec<Key>| -> BTreeSet<String> {
        keys.into_iter()
            .map(|(resource_type, id)| format!("{resource_type}/{id}"))
            .collect()
    };
    (references(matches), references(included))
}

async fn check_cases(app: &TestApp, parameter: &str, cases: &[Case]) {
    for case in cases {
        let query = format!("{}&{parameter}={}", case.search, case.value);
        let (matches, included) = search(app, &query).await;
        let search_type = case.search.split('?').next().unwrap_or_default();
        assert!(!matches.is_empty(), "{query}: no matches");
        assert!(
            matches
                .iter()
                .all(|key| key.starts_with(&format!("{search_type}/"))),
            "{query}: {matches:?}"
        );
        let expected: BTreeSet<String> = case.included.iter().map(|&k| k.to_owned()).collect();
        assert_eq!(included, expected, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_include_of_the_guide_finds_the_referenced_resources() {
    let cases: Vec<&str> = INCLUDE_CASES.iter().map(|case| case.value).collect();
    assert_eq!(cases, GUIDE_INCLUDES, "one case per include of the guide");
    let app = plan_net_app().await;
    check_cases(&app, "_include", INCLUDE_CASES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_revinclude_of_the_guide_finds_the_referring_resources() {
    let cases: Vec<(&str, &str)> = REVINCLUDE_CASES
        .iter()
        .map(|case| {
            (
                case.search.split('?').next().unwrap_or_default(),
                case.value,
            )
        })
        .collect();
    assert_eq!(
        cases, GUIDE_REVINCLUDES,
        "one case per revinclude of the guide"
    );
    let app = plan_net_app().await;
    check_cases(&app, "_revinclude", REVINCLUDE_CASES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_net_search_parameters_match() {
    let app = plan_net_app().await;
    let ids = |keys: BTreeSet<String>| -> Vec<String> { keys.into_iter().collect() };
    // Each of these parameters is Plan-Net's alone; R4 has none of them.
    let cases: &[(&str, &[&str])] = &[
        (
            "Organization?coverage-area=Location/StateOfCTLocation",
            &["Organization/AcmeofCTPremNet"],
        ),
        (
            "InsurancePlan?coverage-area=StateOfCTLocation",
            &["InsurancePlan/AcmeQHPBronze", "InsurancePlan/AcmeQHPGold"],
        ),
        (
            "InsurancePlan?network=Organization/AcmeofCTPremNet",
            &["InsurancePlan/AcmeQHPGold"],
        ),
        (
            "InsurancePlan?plan-type=http://hl7.org/fhir/us/davinci-pdex-plan-net/CodeSystem/InsurancePlanTypeCS|bronze",
            &["InsurancePlan/AcmeQHPBronze"],
        ),
        (
            "PractitionerRole?network=Organization/AcmeofCTStdNet&organization=Organization/Hospital",
            &[
                "PractitionerRole/JoeSmithRole1",
                "PractitionerRole/JoeSmithRole3",
            ],
        ),
        (
            "HealthcareService?delivery-method=virtual",
            &[
                "HealthcareService/PharmChainMailService",
                "HealthcareService/VirtualCounselService",
            ],
        ),
        // JoeSmith's `practitioner-period` starts 2020-07-07 and has no end.
        ("Practitioner?period=ge2021", &["Practitioner/JoeSmith"]),
        ("Practitioner?period=lt2020-07-07", &[]),
    ];
    for (query, expected) in cases {
        let (matches, included) = search(&app, &format!("{query}&_total=accurate")).await;
        assert_eq!(ids(matches), *expected, "{query}");
        assert!(included.is_empty(), "{query}");
    }
    // A chain through a Plan-Net parameter: the roles in networks that cover Connecticut.
    let (matches, _) = search(
        &app,
        "PractitionerRole?network.coverage-area=Location/StateOfCTLocation",
    )
    .await;
    assert!(
        matches.is_empty(),
        "only the premium network covers CT, and no role is in it"
    );
    let (matches, _) = search(&app, "PractitionerRole?network.partof=Organization/Acme").await;
    assert_eq!(matches.len(), 6, "{matches:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capability_statement_lists_the_guides_includes_and_parameters() {
    let app = TestApp::start().await;
    let statement = app.get("/r4/metadata").await.resource(200);
    let resources = statement["rest"][0]["resource"]
        .as_array()
        .expect("the statement lists resources");
    let entry = |resource_type: &str| -> &Value {
        resources
            .iter()
            .find(|entry| entry["type"] == resource_type)
            .unwrap_or_else(|| panic!("no entry for {resource_type}"))
    };
    let listed = |resource_type: &str, key: &str| -> Vec<String> {
        entry(resource_type)[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    for include in GUIDE_INCLUDES {
        let resource_type = include.split(':').next().unwrap_or_default();
        assert!(
            listed(resource_type, "searchInclude").contains(&(*include).to_owned()),
            "{resource_type} lacks the include {include}"
        );
    }
    for (resource_type, revinclude) in GUIDE_REVINCLUDES {
        assert!(
            listed(resource_type, "searchRevInclude").contains(&(*revinclude).to_owned()),
            "{resource_type} lacks the revinclude {revinclude}"
        );
    }
    let base = "http://hl7.org/fhir/us/davinci-pdex-plan-net/SearchParameter";
    for (resource_type, code, definition, kind) in [
        (
            "Organization",
            "coverage-area",
            "organization-coverage-area",
            "reference",
        ),
        (
            "PractitionerRole",
            "network",
            "practitionerrole-network",
            "reference",
        ),
        (
            "InsurancePlan",
            "coverage-area",
            "insuranceplan-coverage-area",
            "reference",
        ),
        (
            "HealthcareService",
            "delivery-method",
            "healthcareservice-delivery-method",
            "token",
        ),
        ("Practitioner", "period", "practitioner-period", "date"),
    ] {
        let params = entry(resource_type)["searchParam"]
            .as_array()
            .expect("searchParam is listed");
        assert!(
            params.contains(
                &json!({"name": code, "definition": format!("{base}/{definition}"), "type": kind})
            ),
            "{resource_type} lacks {code}: {params:?}"
        );
    }
    // Where the guide restates an R4 parameter, R4's definition is listed.
    let organization_params = entry("Organization")["searchParam"].as_array().unwrap();
    let names: Vec<&Value> = organization_params
        .iter()
        .filter(|param| param["name"] == "name")
        .collect();
    assert_eq!(
        names,
        [
            &json!({"name": "name", "definition": "http://hl7.org/fhir/SearchParameter/Organization-name", "type": "string"})
        ]
    );
}
