//! The smallest use of labrpc: one echo service, one client, virtual time.
//!
//! `cargo run -p labrpc --example echo`

use labrpc::{Network, Server, Service, sim};

labrpc::rpc!(Echo = "Echo.Say": String => String);

fn main() {
    sim::run(|| async {
        let net = Network::new();
        let server = Server::new();
        server.add_service(Service::new("Echo").handle::<Echo, _, _>(|s| async move { s }));
        net.add_server("echo-server", server);

        let end = net.make_end("client");
        net.connect("client", "echo-server");
        net.enable("client", true);

        let reply = end.call::<Echo>(&"hello, labrpc".to_string()).await;
        println!(
            "reply: {reply:?} after {:?} of virtual time",
            sim::elapsed()
        );
    });
}
