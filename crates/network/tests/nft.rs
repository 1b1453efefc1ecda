//! Scripts applied in-process (libnftables) and through the `nft` command: the same effect,
//! errors that carry nft's message, and a session that stays usable after a failed
//! transaction or a change made by somebody else.

mod common;

use common::Netns;
use rkube_network::netns;
use rkube_network::nft::Nft;

const TABLE: &str = "table ip t {\n\tset s { type ipv4_addr; }\n}\n";

fn set_of(ns: &Netns) -> String {
    ns.sh("nft list set ip t s")
}

#[test]
fn library_and_command_apply_alike() {
    for lib in [true, false] {
        let ns = Netns::new("nft");
        let nft = if lib {
            Nft::new(Some(ns.path()))
        } else {
            Nft::cli_only(Some(ns.path()))
        };
        nft.apply(TABLE).unwrap();
        assert_eq!(nft.in_process(), lib, "libnftables must be installed");
        nft.apply("add element ip t s { 10.0.0.1 }\n").unwrap();
        assert!(set_of(&ns).contains("10.0.0.1"));

        // A failed transaction applies nothing of itself and says why.
        let err = nft
            .apply("add element ip t s { 10.0.0.2 }\nadd element ip t nope { 10.0.0.3 }\n")
            .unwrap_err();
        // The line at fault is quoted (nft 1.0.6 quotes the first line of a buffer).
        let msg = format!("{err:#}");
        assert!(msg.contains("add element ip t nope"), "{msg}");
        assert!(!set_of(&ns).contains("10.0.0.2"));

        // A change by somebody else is seen (no stale cache in the long-lived context).
        ns.sh("nft flush ruleset");
        assert!(nft.apply("add element ip t s { 10.0.0.4 }\n").is_err());
        nft.apply(TABLE).unwrap();
        nft.clone()
            .apply("add element ip t s { 10.0.0.5 }\n")
            .unwrap();
        let listed = nft.run(&["list", "set", "ip", "t", "s"]).unwrap();
        assert!(listed.contains("10.0.0.5") && !listed.contains("10.0.0.1"));
        assert_eq!(nft.in_process(), lib);
    }
}

#[test]
fn without_a_namespace_the_calling_threads_is_used() {
    let ns = Netns::new("nft");
    netns::run_in(Some(&ns.path()), || {
        let nft = Nft::new(None);
        nft.apply(TABLE)?;
        nft.apply("add element ip t s { 10.0.0.9 }\n")
    })
    .unwrap();
    assert!(set_of(&ns).contains("10.0.0.9"));
}
