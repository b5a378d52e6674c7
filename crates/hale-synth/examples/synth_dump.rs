//! Prints the records of one patient, or the shared set, as NDJSON.
//!
//! Run with `cargo run -p hale-synth --example synth_dump -- [PATIENT|shared|bundle PATIENT|batch] [SEED]`.

#![allow(
    clippy::print_stdout,
    reason = "an example that writes to the terminal"
)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map_or("0", String::as_str);
    let config = hale_synth::SynthConfig::new(1_000, 1);
    let index_at = |position: usize| {
        args.get(position)
            .map_or(0, |a| a.parse().expect("a patient number"))
    };
    let resources = match what {
        "shared" => hale_synth::shared_resources(&config),
        "batch" => vec![hale_synth::shared_batch_bundle(&config)],
        "bundle" => vec![hale_synth::patient_transaction_bundle(&config, index_at(1))],
        _ => hale_synth::patient_records(&config, index_at(0)),
    };
    for resource in resources {
        println!("{resource}");
    }
}
