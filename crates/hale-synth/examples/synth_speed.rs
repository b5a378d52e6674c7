//! Measures how fast `hale-synth` generates records and how many it makes.
//!
//! Run with `cargo run --release -p hale-synth --example synth_speed -- [PATIENTS] [SEED]`.
//! It generates the shared set and every patient in the flat form, serializes
//! each resource to JSON as NDJSON import would, and prints resources per
//! second, the average and range of resources per patient, and the count per
//! resource type. It also times the transaction-Bundle form.

#![allow(
    clippy::print_stdout,
    reason = "an example that reports to the terminal"
)]

use std::collections::BTreeMap;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let patients: u64 = args
        .next()
        .map_or(2_000, |a| a.parse().expect("PATIENTS is a number"));
    let seed: u64 = args
        .next()
        .map_or(1, |a| a.parse().expect("SEED is a number"));
    let config = hale_synth::SynthConfig::new(patients, seed);

    // Generation alone, dropping each patient's records: the cost of the
    // `serde_json::Value` trees themselves.
    let started = Instant::now();
    let mut generated = 0usize;
    for index in 0..patients {
        generated += hale_synth::patient_records(&config, index).len();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "generate only       {generated} resources in {elapsed:.3} s ({:.0} resources/s)",
        generated as f64 / elapsed
    );

    // The same on every core: patients are independent, so each thread takes
    // every `threads`-th patient.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let started = Instant::now();
    let generated: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|first| {
                let config = &config;
                scope.spawn(move || {
                    (first..patients)
                        .step_by(threads as usize)
                        .map(|index| hale_synth::patient_records(config, index).len())
                        .sum::<usize>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "generate, {threads} threads {generated} resources in {elapsed:.3} s ({:.0} resources/s)",
        generated as f64 / elapsed
    );

    let started = Instant::now();
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut bytes = 0usize;
    let mut total = 0u64;
    let mut per_patient = Vec::with_capacity(patients as usize);
    let mut buffer = Vec::new();
    let shared = hale_synth::shared_resources(&config);
    let shared_count = shared.len() as u64;
    let count = |resources: Vec<serde_json::Value>,
                 by_type: &mut BTreeMap<String, u64>,
                 buffer: &mut Vec<u8>| {
        let mut bytes = 0;
        let n = resources.len() as u64;
        for resource in resources {
            *by_type
                .entry(resource["resourceType"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
            buffer.clear();
            serde_json::to_writer(&mut *buffer, &resource).expect("serializable");
            bytes += buffer.len() + 1;
        }
        (n, bytes)
    };
    let (n, b) = count(shared, &mut by_type, &mut buffer);
    total += n;
    bytes += b;
    for index in 0..patients {
        let (n, b) = count(
            hale_synth::patient_records(&config, index),
            &mut by_type,
            &mut buffer,
        );
        per_patient.push(n);
        total += n;
        bytes += b;
    }
    let elapsed = started.elapsed().as_secs_f64();

    println!("patients            {patients}");
    println!("shared resources    {shared_count}");
    println!("resources           {total}");
    println!(
        "NDJSON bytes        {bytes} ({:.0} bytes/resource)",
        bytes as f64 / total as f64
    );
    println!("seconds             {elapsed:.3}");
    println!(
        "resources/s         {:.0} (one thread, generate + serialize)",
        total as f64 / elapsed
    );
    if !per_patient.is_empty() {
        per_patient.sort_unstable();
        let sum: u64 = per_patient.iter().sum();
        let pct = |p: usize| per_patient[(per_patient.len() - 1) * p / 100];
        println!(
            "per patient         mean {:.1}, min {}, p10 {}, median {}, p90 {}, max {}",
            sum as f64 / per_patient.len() as f64,
            per_patient[0],
            pct(10),
            pct(50),
            pct(90),
            per_patient[per_patient.len() - 1],
        );
    }
    for (resource_type, n) in &by_type {
        println!(
            "  {resource_type:<22} {n:>9}  {:>7.2}/patient",
            *n as f64 / patients.max(1) as f64
        );
    }

    let started = Instant::now();
    let mut entries = 0usize;
    for index in 0..patients {
        let bundle = hale_synth::patient_transaction_bundle(&config, index);
        entries += bundle["entry"].as_array().map_or(0, Vec::len);
        buffer.clear();
        serde_json::to_writer(&mut buffer, &bundle).expect("serializable");
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "transaction bundles {entries} entries in {elapsed:.3} s ({:.0} entries/s)",
        entries as f64 / elapsed
    );
}
