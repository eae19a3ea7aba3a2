//! The topology of a scenario in simulator form: one [`Link`] per path and direction, one per
//! shared bottleneck and direction, a [`Route`] per path and direction through them, and the
//! timeline of link changes. Datagrams hop link by link through the event queue.

use std::net::SocketAddr;

use bytes::BytesMut;
use mpquic_proto::EcnCodepoint;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::link::{Link, LinkParams, QueueCap, Verdict};
use super::loss::LossModel;
use super::{ms_to_nanos, EventQueue, Nanos};
use crate::scenario::{self, Action, LinkSpec, Scenario};

/// Index of a link in [`Network::links`].
pub type LinkId = usize;

/// Direction of travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

/// The links a path's datagrams cross in one direction, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Link indices.
    pub links: Vec<LinkId>,
}

/// A UDP datagram in the simulated network.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// Direction.
    pub direction: Direction,
    /// Scenario path index it travels on.
    pub path: usize,
    /// Source address.
    pub src: SocketAddr,
    /// Destination address.
    pub dst: SocketAddr,
    /// ECN codepoint (CE after marking).
    pub ecn: Option<EcnCodepoint>,
    /// Payload (one UDP datagram; the segments of one GSO transmit share an allocation).
    pub data: BytesMut,
}

/// What the network's event queue holds.
#[derive(Debug)]
pub enum NetworkEvent {
    /// `datagram` reaches the end of link `hop - 1` of its route (`hop` == route length: the
    /// receiver). `generation` is that link's generation when it was sent.
    Hop {
        /// The datagram.
        datagram: Datagram,
        /// Next hop index.
        hop: usize,
        /// Generation of the link just crossed.
        generation: u64,
    },
    /// Timeline event number `index` of the scenario fires.
    Timeline(usize),
}

/// All links, routes and the pending events of a run.
#[derive(Debug)]
pub struct Network {
    /// Every link direction.
    pub links: Vec<Link>,
    /// Per scenario path, then per competing flow (index `paths.len() + k`): `[up, down]`.
    pub routes: Vec<[Route; 2]>,
    /// Per scenario path, then per competing flow: its own `[up, down]` links (not the
    /// bottleneck).
    pub path_links: Vec<[LinkId; 2]>,
    /// Per bottleneck name: `[up, down]`.
    bottleneck_links: Vec<(String, [LinkId; 2])>,
    path_names: Vec<String>,
    timeline: Vec<scenario::EventSpec>,
    events: EventQueue<NetworkEvent>,
}

fn link_params(spec: &LinkSpec, rtt: Nanos) -> LinkParams {
    let rate_bps = (spec.rate_mbps * 1e6).round() as u64;
    let queue = match spec.queue {
        None => QueueCap::Unlimited,
        Some(q) => {
            if let Some(p) = q.packets {
                QueueCap::Packets(p)
            } else if let Some(b) = q.bytes {
                QueueCap::Bytes(b)
            } else {
                // A multiple of the BDP, never below one full-size packet.
                let bdp_bytes = rate_bps as f64 / 8.0 * rtt as f64 / 1e9 * q.bdp.unwrap_or(1.0);
                QueueCap::Bytes((bdp_bytes.round() as u64).max(1500))
            }
        }
    };
    let loss = match spec.gilbert_elliott {
        Some(ge) => LossModel::GilbertElliott {
            p_good_to_bad: ge.p_good_to_bad,
            p_bad_to_good: ge.p_bad_to_good,
            loss_good: ge.loss_good,
            loss_bad: ge.loss_bad,
        },
        None => LossModel::Bernoulli(spec.loss),
    };
    LinkParams {
        rate_bps,
        delay: ms_to_nanos(spec.delay_ms),
        queue,
        loss,
        jitter: ms_to_nanos(spec.jitter_ms),
        reorder: spec.reorder,
        reorder_delay: ms_to_nanos(spec.reorder_delay_ms),
        duplicate: spec.duplicate,
        ecn_threshold_packets: spec.ecn_threshold_packets,
    }
}

impl Network {
    /// Builds the links of `scenario`; every link gets its own RNG stream derived from `seed`.
    pub fn new(scenario: &Scenario, seed: u64) -> Self {
        let mut links = Vec::new();
        let mut stream = 0u64;
        let mut rng = || {
            stream += 1;
            let mut r = ChaCha8Rng::seed_from_u64(seed);
            r.set_stream(stream);
            r
        };
        // Scenario paths, then competing flows: (name, up, down, bottleneck, starts_down).
        let routed: Vec<(&str, &LinkSpec, &LinkSpec, Option<&String>, bool)> = scenario
            .paths
            .iter()
            .map(|p| (p.name.as_str(), &p.up, &p.down, p.bottleneck.as_ref(), p.starts_down))
            .chain(scenario.competing.iter().map(|c| (c.name.as_str(), &c.up, &c.down, Some(&c.bottleneck), false)))
            .collect();
        let rtt_of = |&(_, up, down, bottleneck, _): &(&str, &LinkSpec, &LinkSpec, Option<&String>, bool)| -> Nanos {
            let b = bottleneck.and_then(|n| scenario.bottlenecks.iter().find(|b| &b.name == n));
            let extra = b.map_or(0.0, |b| b.up.delay_ms + b.down.delay_ms);
            ms_to_nanos(up.delay_ms + down.delay_ms + extra)
        };
        let mut bottleneck_links = Vec::new();
        for b in &scenario.bottlenecks {
            // BDP of a shared link: its rate times the longest round trip of the paths (and
            // competing flows) crossing it.
            let rtt = routed
                .iter()
                .filter(|r| r.3 == Some(&b.name))
                .map(rtt_of)
                .max()
                .unwrap_or(ms_to_nanos(b.up.delay_ms + b.down.delay_ms));
            let up = links.len();
            links.push(Link::new(format!("{}.up", b.name), link_params(&b.up, rtt), rng()));
            links.push(Link::new(format!("{}.down", b.name), link_params(&b.down, rtt), rng()));
            bottleneck_links.push((b.name.clone(), [up, up + 1]));
        }
        let mut routes = Vec::new();
        let mut path_links = Vec::new();
        for r in &routed {
            let rtt = rtt_of(r);
            let &(name, spec_up, spec_down, bottleneck, starts_down) = r;
            let up = links.len();
            let mut l_up = Link::new(format!("{name}.up"), link_params(spec_up, rtt), rng());
            let mut l_down = Link::new(format!("{name}.down"), link_params(spec_down, rtt), rng());
            if starts_down {
                l_up.set_down(0);
                l_down.set_down(0);
            }
            links.push(l_up);
            links.push(l_down);
            let shared = bottleneck.and_then(|n| bottleneck_links.iter().find(|(b, _)| b == n));
            // Up: access link, then the shared link; down: shared link, then the access link.
            let (r_up, r_down) = match shared {
                Some((_, [bu, bd])) => (vec![up, *bu], vec![*bd, up + 1]),
                None => (vec![up], vec![up + 1]),
            };
            routes.push([Route { links: r_up }, Route { links: r_down }]);
            path_links.push([up, up + 1]);
        }
        let mut events = EventQueue::default();
        for (i, e) in scenario.events.iter().enumerate() {
            events.push((e.at_s * 1e9).round() as Nanos, NetworkEvent::Timeline(i));
        }
        Self {
            links,
            routes,
            path_links,
            bottleneck_links,
            path_names: scenario.paths.iter().map(|p| p.name.clone()).collect(),
            timeline: scenario.events.clone(),
            events,
        }
    }

    /// Whether both of a path's own links are up.
    pub fn path_up(&self, path: usize) -> bool {
        self.path_links[path].iter().all(|&l| self.links[l].up)
    }

    /// Time of the next network event.
    pub fn next_time(&self) -> Option<Nanos> {
        self.events.peek_time()
    }

    /// Sends a datagram into its route at `now`.
    pub fn send(&mut self, now: Nanos, datagram: Datagram) {
        self.forward(now, datagram, 0);
    }

    fn forward(&mut self, now: Nanos, mut datagram: Datagram, hop: usize) {
        let dir = match datagram.direction {
            Direction::Up => 0,
            Direction::Down => 1,
        };
        let id = self.routes[datagram.path][dir].links[hop];
        let link = &mut self.links[id];
        let ect = matches!(datagram.ecn, Some(EcnCodepoint::Ect0 | EcnCodepoint::Ect1));
        match link.offer(now, datagram.data.len() as u64, ect) {
            Verdict::Dropped => {}
            Verdict::Deliver { at, ce, duplicate } => {
                if ce {
                    datagram.ecn = Some(EcnCodepoint::Ce);
                }
                let generation = link.generation;
                if duplicate {
                    let copy = datagram.clone();
                    self.events.push(at, NetworkEvent::Hop { datagram: copy, hop: hop + 1, generation });
                }
                self.events.push(at, NetworkEvent::Hop { datagram, hop: hop + 1, generation });
            }
        }
    }

    /// Processes one event due at or before `now`: returns a datagram that reached its receiver,
    /// `Some(None)` for an event that delivered nothing, `None` when nothing is due.
    ///
    /// The event takes effect at its own time, not at `now`: a datagram enters its next link, and
    /// a timeline event changes a link, when they were due. The simulator polls exactly then; the
    /// real-time emulator polls a little late, and must not let the next link see a burst of
    /// datagrams that were due one after the other.
    pub fn poll(&mut self, now: Nanos) -> Option<Option<Datagram>> {
        let (due, event) = self.events.pop_due(now)?;
        let now = due;
        match event {
            NetworkEvent::Hop { datagram, hop, generation } => {
                let dir = usize::from(datagram.direction == Direction::Down);
                let route = &self.routes[datagram.path][dir].links;
                // The link went down while the datagram was on it.
                if self.links[route[hop - 1]].generation != generation {
                    return Some(None);
                }
                if hop == route.len() {
                    return Some(Some(datagram));
                }
                self.forward(now, datagram, hop);
                Some(None)
            }
            NetworkEvent::Timeline(i) => {
                self.apply(now, i);
                Some(None)
            }
        }
    }

    fn links_of(&self, name: &str, direction: scenario::Direction) -> Vec<LinkId> {
        let pair = match self.path_names.iter().position(|n| n == name) {
            Some(p) => self.path_links[p],
            None => match self.bottleneck_links.iter().find(|(n, _)| n == name) {
                Some((_, pair)) => *pair,
                None => return Vec::new(),
            },
        };
        match direction {
            scenario::Direction::Both => pair.to_vec(),
            scenario::Direction::Up => vec![pair[0]],
            scenario::Direction::Down => vec![pair[1]],
        }
    }

    fn apply(&mut self, now: Nanos, index: usize) {
        let e = self.timeline[index].clone();
        let targets = self.links_of(&e.path, e.direction);
        match e.action {
            Action::Down => targets.iter().for_each(|&l| self.links[l].set_down(now)),
            Action::Up => targets.iter().for_each(|&l| self.links[l].set_up()),
            Action::Handover => {
                targets.iter().for_each(|&l| self.links[l].set_down(now));
                if let Some(to) = &e.to {
                    for l in self.links_of(to, e.direction) {
                        self.links[l].set_up();
                    }
                }
            }
            Action::Set => {
                for &l in &targets {
                    let p = &mut self.links[l].params;
                    if let Some(r) = e.rate_mbps {
                        p.rate_bps = (r * 1e6).round() as u64;
                    }
                    if let Some(d) = e.delay_ms {
                        p.delay = ms_to_nanos(d);
                    }
                    if let Some(loss) = e.loss {
                        p.loss = LossModel::Bernoulli(loss);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{MS, SEC};

    const SHARED: &str = r#"
name = "t"
[[bottlenecks]]
name = "core"
up = { rate_mbps = 10.0, delay_ms = 5.0 }
down = { rate_mbps = 10.0, delay_ms = 5.0 }
[[paths]]
name = "a"
client = "10.0.0.2:1"
server = "10.9.0.1:2"
bottleneck = "core"
up = { rate_mbps = 100.0, delay_ms = 1.0 }
down = { rate_mbps = 100.0, delay_ms = 1.0 }
[[paths]]
name = "b"
client = "10.1.0.2:1"
server = "10.9.0.1:2"
bottleneck = "core"
up = { rate_mbps = 100.0, delay_ms = 1.0 }
down = { rate_mbps = 100.0, delay_ms = 1.0 }
[[events]]
at_s = 2.0
action = "down"
path = "a"
[workload]
kind = "bulk"
bytes = 1
"#;

    fn datagram(path: usize) -> Datagram {
        Datagram {
            direction: Direction::Down,
            path,
            src: "10.9.0.1:2".parse().unwrap(),
            dst: "10.0.0.2:1".parse().unwrap(),
            ecn: None,
            data: BytesMut::zeroed(1250),
        }
    }

    /// Runs the network until idle; returns (delivery time, path) of each datagram delivered.
    fn drain(net: &mut Network) -> Vec<(Nanos, usize)> {
        let mut out = Vec::new();
        while let Some(t) = net.next_time() {
            while let Some(d) = net.poll(t) {
                if let Some(d) = d {
                    out.push((t, d.path));
                }
            }
        }
        out
    }

    #[test]
    fn two_paths_share_the_bottleneck_rate() {
        let mut s = Scenario::from_toml(SHARED, "t").unwrap();
        s.events.clear();
        let mut net = Network::new(&s, 1);
        // 1000 datagrams of 1250 B on each path at once: 20 Mbit through a 10 Mbit/s bottleneck.
        for _ in 0..1000 {
            net.send(0, datagram(0));
            net.send(0, datagram(1));
        }
        let got = drain(&mut net);
        assert_eq!(got.len(), 2000);
        let last = got.iter().map(|g| g.0).max().unwrap();
        // 2 s of serialisation at the shared link plus 6 ms of delay, give or take one packet.
        assert!((2 * SEC..=2 * SEC + 8 * MS).contains(&last), "{last}");
        assert_eq!(net.links[1].stats.packets_delivered, 2000, "the core's down link carried both");
    }

    #[test]
    fn a_late_poll_forwards_each_datagram_at_its_own_time() {
        let mut s = Scenario::from_toml(SHARED, "t").unwrap();
        s.events.clear();
        let mut net = Network::new(&s, 1);
        // Down: the 10 Mbit/s core (1 ms per datagram) then path a's 100 Mbit/s access link.
        for _ in 0..10 {
            net.send(0, datagram(0));
        }
        // One poll long after everything was due, as a busy real-time emulator might.
        let mut delivered = 0;
        while let Some(d) = net.poll(SEC) {
            delivered += usize::from(d.is_some());
        }
        assert_eq!(delivered, 10);
        let access = net.links.iter().find(|l| l.name == "a.down").unwrap();
        // They reached the access link 1 ms apart, not all at once.
        assert_eq!(access.stats.max_queue_packets, 1);
    }

    #[test]
    fn down_event_loses_packets_on_the_wire() {
        let s = Scenario::from_toml(SHARED, "t").unwrap();
        let mut net = Network::new(&s, 1);
        // Path a's packets are still queued at the core at 2 s; the access link goes down then.
        for _ in 0..3000 {
            net.send(0, datagram(0));
        }
        let got = drain(&mut net);
        // 10 Mbit/s = 1000 packets/s: about 2000 leave the core before 2 s, the rest die.
        assert!(got.len() > 1900 && got.len() < 2100, "{}", got.len());
        assert!(!net.path_up(0) && net.path_up(1));
    }
}
