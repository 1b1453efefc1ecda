//! NodePorts: a host port (port, protocol, host IP) can be used by one pod per node.

use crate::node::NodeInfo;
use crate::pod::PodInfo;

pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

pub fn filter(pod: &PodInfo, info: &NodeInfo) -> Result<(), super::Status> {
    let clash = pod
        .host_ports
        .iter()
        .any(|want| info.used_ports.iter().any(|used| used.conflicts(want)));
    if clash {
        Err(super::Status::unschedulable(REASON))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::*;
    use crate::plugins::Code;
    use crate::pod::HostPort;

    fn with_port(name: &str, port: i32, protocol: &str, ip: &str) -> PodInfo {
        PodInfo {
            host_ports: vec![HostPort {
                port,
                protocol: protocol.into(),
                ip: ip.into(),
            }],
            ..pod(name, &[])
        }
    }

    #[test]
    fn host_port_conflicts() {
        let n = info(node("n", &[]), vec![with_port("a", 80, "TCP", "10.0.0.1")]);
        let err = filter(&with_port("p", 80, "TCP", "0.0.0.0"), &n).err();
        assert_eq!(err.as_ref().map(|e| e.code), Some(Code::Unschedulable));
        assert_eq!(
            err.map(|e| e.reasons[0].to_string()).as_deref(),
            Some(REASON)
        );
        assert!(filter(&with_port("p", 80, "TCP", "10.0.0.1"), &n).is_err());
        assert!(filter(&with_port("p", 80, "TCP", "10.0.0.2"), &n).is_ok());
        assert!(filter(&with_port("p", 80, "UDP", "0.0.0.0"), &n).is_ok());
        assert!(filter(&with_port("p", 81, "TCP", "0.0.0.0"), &n).is_ok());
        assert!(filter(&pod("p", &[]), &n).is_ok());
    }
}
