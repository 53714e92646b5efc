//! Bad input reaches the caller as a clear error; nothing hangs or panics
//! inside the network.

use labrpc::{Network, RpcError, Server, Service, sim};

labrpc::rpc!(Add = "Math.Add": (u32, u32) => u32);
labrpc::rpc!(AddWrongReply = "Math.Add": (u32, u32) => String);
labrpc::rpc!(AddWrongArgs = "Math.Add": String => u32);
labrpc::rpc!(Missing = "Math.Subtract": (u32, u32) => u32);
labrpc::rpc!(NoService = "Physics.Add": (u32, u32) => u32);
labrpc::rpc!(Boom = "Math.Boom": () => ());

fn math() -> Service {
    Service::new("Math")
        .handle::<Add, _, _>(|(a, b)| async move { a + b })
        .handle::<Boom, _, _>(|()| async move { panic!("handler bug") })
}

fn network() -> (Network, labrpc::ClientEnd) {
    let net = Network::new();
    let server = Server::new();
    server.add_service(math());
    net.add_server("s", server);
    let end = net.make_end("c");
    net.connect("c", "s");
    net.enable("c", true);
    (net, end)
}

#[test]
fn unknown_method_and_service_are_clear_errors() {
    sim::run(|| async {
        let (_net, end) = network();
        let e = end.call::<Missing>(&(1, 2)).await.unwrap_err();
        assert!(matches!(e, RpcError::UnknownMethod { .. }), "{e:?}");
        assert!(
            e.to_string().contains("Subtract") && e.to_string().contains("Add"),
            "{e}"
        );
        let e = end.call::<NoService>(&(1, 2)).await.unwrap_err();
        assert!(matches!(e, RpcError::UnknownService { .. }), "{e:?}");
        assert!(e.to_string().contains("Math"), "{e}");
        // The network still works afterwards.
        assert_eq!(end.call::<Add>(&(2, 3)).await.unwrap(), 5);
    });
}

#[test]
fn mismatched_types_are_clear_errors() {
    sim::run(|| async {
        let (_net, end) = network();
        let e = end.call::<AddWrongReply>(&(1, 2)).await.unwrap_err();
        assert!(matches!(e, RpcError::BadReply { .. }), "{e:?}");
        let e = end.call::<AddWrongArgs>(&"hello".into()).await.unwrap_err();
        assert!(matches!(e, RpcError::BadArgs { .. }), "{e:?}");
    });
}

#[test]
fn call_after_network_is_gone() {
    sim::run(|| async {
        let (net, end) = network();
        net.cleanup();
        let e = end.call::<Add>(&(1, 2)).await.unwrap_err();
        assert!(matches!(e, RpcError::NetworkClosed { .. }), "{e:?}");

        let (net, end) = network();
        drop(net);
        let e = end.call::<Add>(&(1, 2)).await.unwrap_err();
        assert!(matches!(e, RpcError::NetworkClosed { .. }), "{e:?}");
    });
}

/// Outside a simulation (a plain tokio runtime) a panicking handler is
/// reported to its caller and the network keeps working.
#[tokio::test(start_paused = true)]
async fn handler_panic_outside_simulation_is_reported() {
    let (_net, end) = network();
    let e = end.call::<Boom>(&()).await.unwrap_err();
    assert!(matches!(e, RpcError::HandlerPanicked { .. }), "{e:?}");
    assert_eq!(end.call::<Add>(&(2, 3)).await.unwrap(), 5);
}

/// Inside a simulation a panicking task fails the whole test at once.
#[test]
#[should_panic(expected = "a simulated task panicked: handler bug")]
fn handler_panic_fails_the_simulation() {
    sim::run(|| async {
        let (_net, end) = network();
        let _ = end.call::<Boom>(&()).await;
        // Never reached in practice: the simulation stops at the panic.
        std::future::pending::<()>().await;
    });
}
