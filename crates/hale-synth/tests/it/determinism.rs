//! Output is a pure function of the configuration.

use hale_synth::SynthConfig;

use crate::support::config;

fn text(resources: &[serde_json::Value]) -> String {
    resources.iter().map(|r| format!("{r}\n")).collect()
}

#[test]
fn the_same_configuration_gives_the_same_bytes() {
    let config = config();
    assert_eq!(
        text(&hale_synth::shared_resources(&config)),
        text(&hale_synth::shared_resources(&config))
    );
    for index in [0, 1, 17, 599] {
        let first = text(&hale_synth::patient_records(&config, index));
        let second = text(&hale_synth::patient_records(&config, index));
        assert_eq!(first, second, "patient {index}");
    }
    assert_eq!(
        hale_synth::patient_transaction_bundle(&config, 3).to_string(),
        hale_synth::patient_transaction_bundle(&config, 3).to_string()
    );
    assert_eq!(
        hale_synth::shared_batch_bundle(&config).to_string(),
        hale_synth::shared_batch_bundle(&config).to_string()
    );
}

#[test]
fn a_different_seed_gives_different_data() {
    let config = config();
    let other = SynthConfig {
        seed: config.seed + 1,
        ..config.clone()
    };
    assert_ne!(
        text(&hale_synth::patient_records(&config, 0)),
        text(&hale_synth::patient_records(&other, 0))
    );
    assert_ne!(
        text(&hale_synth::shared_resources(&config)),
        text(&hale_synth::shared_resources(&other))
    );
    assert_ne!(
        hale_synth::patient_records(&config, 0)[0]["id"],
        hale_synth::patient_records(&other, 0)[0]["id"]
    );
}

#[test]
fn different_patients_differ() {
    let config = config();
    assert_ne!(
        text(&hale_synth::patient_records(&config, 0)),
        text(&hale_synth::patient_records(&config, 1))
    );
}

#[test]
fn a_patient_does_not_depend_on_the_population_size() {
    // The first patients of a big set are the patients of a small set, so a
    // data set can be extended and patients generated in any order.
    let small = SynthConfig::new(10, 7);
    let big = SynthConfig::new(100_000, 7);
    for index in 0..10 {
        assert_eq!(
            text(&hale_synth::patient_records(&small, index)),
            text(&hale_synth::patient_records(&big, index))
        );
    }
    let small_shared = hale_synth::shared_resources(&small);
    let big_shared = hale_synth::shared_resources(&big);
    assert!(big_shared.len() > small_shared.len());
    assert_eq!(text(&small_shared), text(&big_shared[..small_shared.len()]));
}

#[test]
fn the_history_length_scales_the_record() {
    let short = SynthConfig {
        history_years: 2,
        ..config()
    };
    let long = SynthConfig {
        history_years: 20,
        ..config()
    };
    let count = |config: &SynthConfig| -> usize {
        (0..40)
            .map(|i| hale_synth::patient_records(config, i).len())
            .sum()
    };
    assert!(
        count(&long) > 3 * count(&short),
        "{} vs {}",
        count(&long),
        count(&short)
    );
}

#[test]
fn the_records_iterator_streams_shared_then_patients() {
    let config = SynthConfig::new(3, 5);
    let all: Vec<_> = hale_synth::records(&config).collect();
    let mut expected = hale_synth::shared_resources(&config);
    for index in 0..3 {
        expected.extend(hale_synth::patient_records(&config, index));
    }
    assert_eq!(all, expected);
}

/// FNV-1a, 64-bit: a stable digest without a hashing dependency.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[test]
fn the_output_is_pinned() {
    // The bytes of a small data set are pinned, so that output that changes
    // between runs, platforms or builds (a different float formatting, a
    // HashMap's order, a serde_json built without `preserve_order`) fails
    // here. A deliberate change to the generator changes the digest too:
    // then update it here, and say in the commit that generated data changed.
    let config = SynthConfig::new(3, 1);
    let ndjson: String = hale_synth::records(&config)
        .map(|r| format!("{r}\n"))
        .collect();
    let first = hale_synth::patient_records(&config, 0);
    assert_eq!(first[0]["id"], "e7e13963-b06e-49b6-b37f-6a23d761aa14");
    assert_eq!(
        (ndjson.len(), fnv1a(ndjson.as_bytes())),
        (438_023, 2_427_265_519_137_179_888)
    );
}
