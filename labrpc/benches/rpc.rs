//! The reference's labrpc benchmark: the wall-clock cost of one simulated RPC.
//!
//! Runs 100,000 sequential RPCs inside a simulation (virtual time, so network
//! latency costs nothing in wall time) and prints microseconds per RPC. The
//! reference Go comment quotes 22 µs per RPC on a 2016 laptop.
//!
//! `cargo bench -p labrpc`

use std::time::Instant; // wall time is what a benchmark measures

use labrpc::{Network, Server, Service, sim::Sim};

labrpc::rpc!(Handler2 = "Junk.Handler2": i64 => String);

const CALLS: i64 = 100_000;

fn main() {
    for (label, zero_latency) in [("default latency", false), ("zero latency", true)] {
        let wall = Instant::now();
        let virtual_time = Sim::new()
            .seed(1)
            .time_limit(std::time::Duration::from_secs(3600))
            .run(move || async move {
                let net = Network::new();
                if zero_latency {
                    net.set_latency(Default::default(), Default::default());
                }
                let server = Server::new();
                server.add_service(
                    Service::new("Junk")
                        .handle::<Handler2, _, _>(|n| async move { format!("handler2-{n}") }),
                );
                net.add_server("server", server);
                let end = net.make_end("end1-99");
                net.connect("end1-99", "server");
                net.enable("end1-99", true);
                for i in 0..CALLS {
                    let reply = end
                        .call::<Handler2>(&i)
                        .await
                        .expect("reliable call failed");
                    assert_eq!(reply.len(), format!("handler2-{i}").len());
                }
                labrpc::sim::elapsed()
            });
        let took = wall.elapsed();
        println!(
            "labrpc {label:>15}: {CALLS} sequential RPCs in {:.3} s wall ({:.2} µs/RPC), {:.1} s virtual",
            took.as_secs_f64(),
            took.as_secs_f64() * 1e6 / CALLS as f64,
            virtual_time.as_secs_f64()
        );
    }
}
