//! Where the endpoints and relays of a real run live. A scenario's addresses are those of the
//! network it describes (`10.0.0.2:50000`, ...); a real run maps them onto addresses this
//! machine has: on loopback, one client IP per path, one relay IP per path and one server IP per
//! distinct server address of the scenario, every port chosen by the kernel.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::scenario::Scenario;

/// The addresses of a real run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPlan {
    /// Per scenario path: the client's source IP (its "interface" on the path).
    pub client_ips: Vec<IpAddr>,
    /// Per scenario path: the relay's client-facing IP (where the client sends).
    pub relay_ips: Vec<IpAddr>,
    /// Per scenario path: the IP of the relay's server-facing socket (what the server sees).
    pub relay_server_side_ips: Vec<IpAddr>,
    /// Per distinct scenario server address, in order of first use: the server's IP.
    pub server_ips: Vec<IpAddr>,
    /// Per scenario path: its index in `server_ips`.
    pub server_of_path: Vec<usize>,
}

/// Most paths a loopback plan has room for (one /24 of 127.0.0.0/8 per role).
pub const MAX_LOOPBACK_PATHS: usize = 250;

impl AddressPlan {
    /// Loopback: path `p`'s client on 127.0.1.(p+1), its relay on 127.0.2.(p+1), the `k`-th
    /// distinct server address of the scenario on 127.0.3.(k+1). `None` with more than
    /// [`MAX_LOOPBACK_PATHS`] paths.
    pub fn loopback(scenario: &Scenario) -> Option<Self> {
        let n = scenario.paths.len();
        if n > MAX_LOOPBACK_PATHS {
            return None;
        }
        let (servers, server_of_path) = distinct_servers(scenario);
        Some(Self {
            client_ips: (0..n).map(|p| loopback(1, p)).collect(),
            relay_ips: (0..n).map(|p| loopback(2, p)).collect(),
            relay_server_side_ips: (0..n).map(|p| loopback(2, p)).collect(),
            server_ips: (0..servers.len()).map(|k| loopback(3, k)).collect(),
            server_of_path,
        })
    }

    /// Network namespaces joined by TUN pairs (`super::netns`): path `p`'s client on
    /// 10.77.p.1 in the client namespace, the server on 10.77.p.2 in the server namespace (one
    /// server socket per path), no relay: the client sends straight to the server's address on
    /// the path and the IP-level emulator sits on the route. `None` with more than
    /// `netns::MAX_PATHS` paths.
    pub fn netns(scenario: &Scenario) -> Option<Self> {
        let n = scenario.paths.len();
        if n > super::netns::MAX_PATHS {
            return None;
        }
        let client_ips: Vec<IpAddr> = (0..n).map(|p| super::netns::path_ip(p, super::one::Side::Client)).collect();
        let server_ips: Vec<IpAddr> = (0..n).map(|p| super::netns::path_ip(p, super::one::Side::Server)).collect();
        Some(Self {
            relay_ips: server_ips.clone(),
            relay_server_side_ips: client_ips.clone(),
            client_ips,
            server_ips,
            server_of_path: (0..n).collect(),
        })
    }
}

/// 127.0.`subnet`.(`host` + 1).
fn loopback(subnet: u8, host: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, subnet, host as u8 + 1))
}

/// The scenario's distinct server addresses in order of first use, and each path's index among
/// them.
pub fn distinct_servers(scenario: &Scenario) -> (Vec<SocketAddr>, Vec<usize>) {
    let mut servers: Vec<SocketAddr> = Vec::new();
    let mut of_path = Vec::new();
    for p in &scenario.paths {
        let k = match servers.iter().position(|s| *s == p.server) {
            Some(k) => k,
            None => {
                servers.push(p.server);
                servers.len() - 1
            }
        };
        of_path.push(k);
    }
    (servers, of_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_sharing_a_server_address_share_the_server_ip() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/shared_bottleneck.toml"))
            .expect("scenario file");
        let s = Scenario::from_toml(&text, "shared_bottleneck.toml").expect("valid");
        let plan = AddressPlan::loopback(&s).expect("two paths fit");
        assert_eq!(plan.client_ips, ["127.0.1.1".parse::<IpAddr>().unwrap(), "127.0.1.2".parse().unwrap()]);
        assert_eq!(plan.relay_ips[1], "127.0.2.2".parse::<IpAddr>().unwrap());
        assert_eq!(plan.server_ips, ["127.0.3.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(plan.server_of_path, [0, 0]);
        let ns = AddressPlan::netns(&s).expect("two paths fit");
        assert_eq!(ns.client_ips[1], "10.77.1.1".parse::<IpAddr>().unwrap());
        assert_eq!(ns.server_ips, ["10.77.0.2".parse::<IpAddr>().unwrap(), "10.77.1.2".parse().unwrap()]);
        assert_eq!(ns.server_of_path, [0, 1]);
    }
}
