//! A small synchronous rtnetlink client.
//!
//! Synchronous on purpose: a netlink socket belongs to the network namespace of the thread
//! that opened it, and the pod side of the network is configured from a short-lived thread
//! that has `setns`'d into the pod's namespace. Every call is a request answered by an ACK
//! (or a dump), so blocking sockets used from `spawn_blocking` are simplest and cheap.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

use ipnet::Ipv4Net;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, InfoVxlan,
    LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// `RTPROT_*` number stamped on the routes we install, so that route sync can tell its own
/// routes from everybody else's without keeping state (unassigned in iproute2's rt_protos).
pub const RTPROT_RKUBE: u8 = 201;

/// A netlink error: the kernel's errno, or a local I/O or decoding problem.
#[derive(Debug, thiserror::Error)]
pub enum NlError {
    #[error("netlink: {0}")]
    Kernel(io::Error),
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
    #[error("netlink decode: {0}")]
    Decode(String),
}

impl NlError {
    /// The kernel's errno, when the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NlError::Kernel(e) => e.raw_os_error(),
            _ => None,
        }
    }
}

pub type NlResult<T> = Result<T, NlError>;

/// A route we own (protocol [`RTPROT_RKUBE`]) as read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnRoute {
    pub dst: Ipv4Net,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    pub onlink: bool,
}

/// One rtnetlink socket in the calling thread's network namespace.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    pub fn open() -> NlResult<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Sends one request and collects the answers until ACK/DONE.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> NlResult<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
        packet.header.flags = NLM_F_REQUEST | flags;
        packet.header.sequence_number = self.seq;
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf[..]);
        self.socket.send(&buf, 0)?;

        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        let mut rx = vec![0u8; 64 * 1024];
        loop {
            let size = self.socket.recv(&mut &mut rx[..], 0)?;
            let mut offset = 0;
            while offset < size {
                let msg: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(&rx[offset..size])
                        .map_err(|e| NlError::Decode(e.to_string()))?;
                let len = msg.header.length as usize;
                let seq = msg.header.sequence_number;
                match msg.payload {
                    NetlinkPayload::Error(e) if seq == self.seq => {
                        return match e.code {
                            None => Ok(out),
                            Some(code) => {
                                Err(NlError::Kernel(io::Error::from_raw_os_error(-code.get())))
                            }
                        };
                    }
                    NetlinkPayload::Done(_) if seq == self.seq => return Ok(out),
                    NetlinkPayload::InnerMessage(m) if seq == self.seq => {
                        out.push(m);
                        if !dump {
                            // Answers to a non-dump GET come without a DONE.
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }

    fn ack(&mut self, msg: RouteNetlinkMessage, flags: u16) -> NlResult<()> {
        self.request(msg, flags | NLM_F_ACK).map(|_| ())
    }

    /// The index of the link called `name`, `None` when there is none.
    pub fn link_index(&mut self, name: &str) -> NlResult<Option<u32>> {
        Ok(self.link_by_name(name)?.map(|l| l.header.index))
    }

    pub fn link_by_name(&mut self, name: &str) -> NlResult<Option<LinkMessage>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(mut v) => Ok(v.pop().and_then(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn link_by_index(&mut self, index: u32) -> NlResult<Option<LinkMessage>> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(mut v) => Ok(v.pop().and_then(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a bridge with a fixed MAC (a bridge otherwise takes the lowest MAC of its ports,
    /// so its address would change as pods come and go and stale ARP entries would follow).
    pub fn add_bridge(&mut self, name: &str, mtu: u32, mac: [u8; 6]) -> NlResult<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.ack(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Creates a veth pair whose peer is born inside the namespace `peer_netns` (an open fd)
    /// under the name `peer_name`, as `ip link add … type veth peer name eth0 netns …` does.
    pub fn add_veth(
        &mut self,
        host_name: &str,
        peer_name: &str,
        peer_netns: RawFd,
        mtu: u32,
    ) -> NlResult<()> {
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(peer_name.to_string()));
        peer.attributes.push(LinkAttribute::Mtu(mtu));
        peer.attributes.push(LinkAttribute::NetNsFd(peer_netns));
        let mut msg = LinkMessage::default();
        msg.attributes
            .push(LinkAttribute::IfName(host_name.to_string()));
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.ack(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Creates a VXLAN device (no learning: the FDB is programmed from the peers we know).
    pub fn add_vxlan(
        &mut self,
        name: &str,
        vni: u32,
        port: u16,
        local: Option<Ipv4Addr>,
        mtu: u32,
        mac: [u8; 6],
    ) -> NlResult<()> {
        let mut data = vec![
            InfoVxlan::Id(vni),
            InfoVxlan::Port(port),
            InfoVxlan::Learning(false),
        ];
        if let Some(l) = local {
            data.push(InfoVxlan::Local(l));
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vxlan),
            LinkInfo::Data(InfoData::Vxlan(data)),
        ]));
        self.ack(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    pub fn del_link(&mut self, index: u32) -> NlResult<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.ack(RouteNetlinkMessage::DelLink(msg), 0)
    }

    pub fn set_up(&mut self, index: u32) -> NlResult<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.ack(RouteNetlinkMessage::SetLink(msg), 0)
    }

    /// Enslaves `index` to the bridge `master` and turns on hairpin mode on the port, as the
    /// CNI bridge plugin does for kube-proxy: a pod reaching itself through a Service gets
    /// its own packet back through the port it came from.
    pub fn set_master(&mut self, index: u32, master: u32) -> NlResult<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::Controller(master));
        self.ack(RouteNetlinkMessage::SetLink(msg), 0)?;
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        // Port (slave) data is only applied through RTM_NEWLINK on the existing device.
        self.ack(RouteNetlinkMessage::NewLink(msg), 0)
    }

    /// IPv4 addresses (with prefix length) on a link.
    pub fn addresses(&mut self, index: u32) -> NlResult<Vec<Ipv4Net>> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let mut out = Vec::new();
        for m in self.request(RouteNetlinkMessage::GetAddress(msg), NLM_F_DUMP)? {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                if a.header.index != index {
                    continue;
                }
                for attr in &a.attributes {
                    if let AddressAttribute::Local(IpAddr::V4(ip)) = attr {
                        if let Ok(net) = Ipv4Net::new(*ip, a.header.prefix_len) {
                            out.push(net);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Adds an address; an address already there is not an error.
    pub fn add_address(&mut self, index: u32, addr: Ipv4Net) -> NlResult<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = addr.prefix_len();
        msg.header.index = index;
        msg.attributes
            .push(AddressAttribute::Local(IpAddr::V4(addr.addr())));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(addr.addr())));
        if addr.prefix_len() < 31 {
            msg.attributes
                .push(AddressAttribute::Broadcast(addr.broadcast()));
        }
        match self.ack(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    fn route_message(dst: Ipv4Net, gateway: Option<Ipv4Addr>, oif: Option<u32>) -> RouteMessage {
        let mut msg = RouteMessage::default();
        msg.header = RouteHeader {
            address_family: AddressFamily::Inet,
            destination_prefix_length: dst.prefix_len(),
            table: RouteHeader::RT_TABLE_MAIN,
            protocol: RouteProtocol::Other(RTPROT_RKUBE),
            scope: if gateway.is_some() {
                RouteScope::Universe
            } else {
                RouteScope::Link
            },
            kind: RouteType::Unicast,
            ..Default::default()
        };
        if dst.prefix_len() > 0 {
            msg.attributes
                .push(RouteAttribute::Destination(RouteAddress::Inet(
                    dst.network(),
                )));
        }
        if let Some(gw) = gateway {
            msg.attributes
                .push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
        }
        if let Some(oif) = oif {
            msg.attributes.push(RouteAttribute::Oif(oif));
        }
        msg
    }

    /// Adds or replaces a route in the main table, stamped with our protocol.
    /// `onlink` lets a gateway that is not on a connected subnet be used (VXLAN peers).
    pub fn replace_route(
        &mut self,
        dst: Ipv4Net,
        gateway: Option<Ipv4Addr>,
        oif: Option<u32>,
        onlink: bool,
    ) -> NlResult<()> {
        let mut msg = Self::route_message(dst, gateway, oif);
        if onlink {
            msg.header.flags = RouteFlags::Onlink;
        }
        self.ack(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    pub fn del_route(&mut self, route: &OwnRoute) -> NlResult<()> {
        let msg = Self::route_message(route.dst, route.gateway, route.oif);
        match self.ack(RouteNetlinkMessage::DelRoute(msg), 0) {
            Err(e) if e.errno() == Some(libc::ESRCH) => Ok(()),
            r => r,
        }
    }

    /// IPv4 routes of the main table installed by us.
    pub fn own_routes(&mut self) -> NlResult<Vec<OwnRoute>> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        let mut out = Vec::new();
        for m in self.request(RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP)? {
            let RouteNetlinkMessage::NewRoute(r) = m else {
                continue;
            };
            if r.header.protocol != RouteProtocol::Other(RTPROT_RKUBE)
                || r.header.table != RouteHeader::RT_TABLE_MAIN
            {
                continue;
            }
            let mut dst = Ipv4Addr::UNSPECIFIED;
            let mut gateway = None;
            let mut oif = None;
            for a in &r.attributes {
                match a {
                    RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = *d,
                    RouteAttribute::Gateway(RouteAddress::Inet(g)) => gateway = Some(*g),
                    RouteAttribute::Oif(o) => oif = Some(*o),
                    _ => {}
                }
            }
            if let Ok(dst) = Ipv4Net::new(dst, r.header.destination_prefix_length) {
                out.push(OwnRoute {
                    dst,
                    gateway,
                    oif,
                    onlink: r.header.flags.contains(RouteFlags::Onlink),
                });
            }
        }
        Ok(out)
    }

    /// The output interface and gateway the kernel would use to reach `dst`.
    pub fn route_get(&mut self, dst: Ipv4Addr) -> NlResult<(Option<u32>, Option<Ipv4Addr>)> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.destination_prefix_length = 32;
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        let mut oif = None;
        let mut gw = None;
        for m in self.request(RouteNetlinkMessage::GetRoute(msg), 0)? {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                for a in &r.attributes {
                    match a {
                        RouteAttribute::Oif(o) => oif = Some(*o),
                        RouteAttribute::Gateway(RouteAddress::Inet(g)) => gw = Some(*g),
                        _ => {}
                    }
                }
            }
        }
        Ok((oif, gw))
    }

    /// Adds or replaces a permanent neighbour (ARP) entry.
    pub fn replace_neighbour(&mut self, index: u32, ip: Ipv4Addr, mac: [u8; 6]) -> NlResult<()> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.ifindex = index;
        msg.header.state = NeighbourState::Permanent;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        self.ack(
            RouteNetlinkMessage::NewNeighbour(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// Adds or replaces a bridge FDB entry on a VXLAN device: frames for `mac` go to `dst`.
    pub fn replace_fdb(&mut self, index: u32, mac: [u8; 6], dst: Ipv4Addr) -> NlResult<()> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.header.ifindex = index;
        msg.header.state = NeighbourState::Permanent;
        msg.header.flags = NeighbourFlags::Own;
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(dst)));
        self.ack(
            RouteNetlinkMessage::NewNeighbour(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// Deletes a bridge FDB entry (missing is fine).
    pub fn del_fdb(&mut self, index: u32, mac: [u8; 6], dst: Ipv4Addr) -> NlResult<()> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.header.ifindex = index;
        msg.header.flags = NeighbourFlags::Own;
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(dst)));
        match self.ack(RouteNetlinkMessage::DelNeighbour(msg), 0) {
            Err(e) if e.errno() == Some(libc::ENOENT) => Ok(()),
            r => r,
        }
    }

    /// Deletes a neighbour entry (missing is fine).
    pub fn del_neighbour(&mut self, index: u32, ip: Ipv4Addr) -> NlResult<()> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.ifindex = index;
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
        match self.ack(RouteNetlinkMessage::DelNeighbour(msg), 0) {
            Err(e) if e.errno() == Some(libc::ENOENT) => Ok(()),
            r => r,
        }
    }
}

/// The MTU and MAC address of a link message.
pub fn link_mtu(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(m) => Some(*m),
        _ => None,
    })
}

/// The index of the bridge a link is enslaved to.
pub fn link_master(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(m) => Some(*m),
        _ => None,
    })
}
