//! A lab of network namespaces for the pair: `a` and `b` each have a
//! pair-network interface into a third namespace `g` (a bridge that is also
//! their gateway at .254 and the NetTest host at .253), plus a control
//! interface to the test process, which watches both nodes over it even
//! while the pair network is cut. Only these namespaces' own addresses are
//! used. Dropping the lab deletes the namespaces.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::Placement;

pub const GATEWAY: &str = "10.77.0.254";
pub const NET_TEST: &str = "10.77.0.253";

pub struct Lab {
    pub ns: [String; 2],
    pub gw: String,
    host_veths: Vec<String>,
    control: [String; 2],
}

static LABS: AtomicU32 = AtomicU32::new(0);

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// What the host reaches directly, as (network, prefix length): its
/// addresses (each a /32), its connected networks (`scope link` routes, of
/// any width: a lab inside one would hide the host's neighbours there),
/// and any route as narrow as a /24 or narrower (a wider route through a
/// gateway does not matter: the lab's own /24 is more specific).
fn host_networks() -> Result<Vec<(u32, u32)>, String> {
    let ip = |args: &[&str]| -> Result<String, String> {
        let out = Command::new("ip")
            .args(args)
            .output()
            .map_err(|e| format!("ip: {e}"))?;
        if !out.status.success() {
            return Err(format!("ip {}: {}", args.join(" "), out.status));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let network = |word: &str| -> Option<(u32, u32)> {
        let (address, length) = word.split_once('/').unwrap_or((word, "32"));
        let address: std::net::Ipv4Addr = address.parse().ok()?;
        let length: u32 = length.parse().ok().filter(|l| *l <= 32)?;
        Some((u32::from(address), length))
    };
    let mut taken = Vec::new();
    for line in ip(&["-4", "-o", "addr", "show"])?.lines() {
        // "2: eth0    inet 192.0.2.2/24 brd ...": the address itself.
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(at) = words.iter().position(|w| *w == "inet")
            && let Some((address, _)) = words.get(at + 1).and_then(|w| network(w))
        {
            taken.push((address, 32));
        }
    }
    for line in ip(&["-4", "route", "show", "table", "all"])?.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        // A route's destination is its first word, or its second after a
        // type ("local", "broadcast", ...).
        let destination = words.iter().take(2).find_map(|w| network(w));
        if let Some((net, length)) = destination
            && (length >= 24 || line.contains("scope link"))
        {
            taken.push((net, length));
        }
    }
    Ok(taken)
}

/// A free `/24` for a lab's control network, as its first three octets:
/// the first from `first` on, in 10.78.0.0/16, then 172.30.0.0/16, then
/// 192.168.0.0/16, that overlaps nothing the host reaches directly.
fn free_control_subnet(first: u32) -> Result<[u8; 3], String> {
    let taken = host_networks()?;
    let overlaps = |candidate: u32| {
        taken.iter().any(|&(net, length)| {
            let length = length.min(24);
            let mask = u32::MAX.checked_shl(32 - length).unwrap_or(0);
            net & mask == candidate & mask
        })
    };
    [[10, 78], [172, 30], [192, 168]]
        .into_iter()
        .flat_map(|[a, b]| (first..=254).chain(1..first).map(move |c| [a, b, c as u8]))
        .find(|&[a, b, c]| !overlaps(u32::from(std::net::Ipv4Addr::new(a, b, c, 0))))
        .ok_or_else(|| {
            "no free /24 for the control network in 10.78, 172.30 or 192.168".to_string()
        })
}

impl Lab {
    /// Creates the lab, or says why it cannot (then the caller skips).
    pub fn create() -> Result<Lab, String> {
        if Command::new("ip").arg("-V").output().is_err() {
            return Err("the ip command (iproute2) is not installed".into());
        }
        let k = LABS.fetch_add(1, Ordering::SeqCst);
        let id = format!("d{}{k}", std::process::id() % 10_000);
        let ns = [format!("{id}a"), format!("{id}b")];
        let gw = format!("{id}g");
        let mut lab = Lab {
            ns: ns.clone(),
            gw: gw.clone(),
            host_veths: Vec::new(),
            control: [String::new(), String::new()],
        };
        for n in [&ns[0], &ns[1], &gw] {
            ip(&["netns", "add", n])?;
        }
        ip(&["-n", &gw, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &gw, "link", "set", "br0", "up"])?;
        ip(&["-n", &gw, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &gw,
            "addr",
            "add",
            &format!("{GATEWAY}/24"),
            "dev",
            "br0",
        ])?;
        ip(&[
            "-n",
            &gw,
            "addr",
            "add",
            &format!("{NET_TEST}/24"),
            "dev",
            "br0",
        ])?;
        for (i, n) in ns.iter().enumerate() {
            let host = i + 1;
            ip(&[
                "link",
                "add",
                "p0",
                "netns",
                n,
                "type",
                "veth",
                "peer",
                "name",
                &format!("g{host}"),
                "netns",
                &gw,
            ])?;
            ip(&["-n", n, "link", "set", "lo", "up"])?;
            ip(&[
                "-n",
                n,
                "addr",
                "add",
                &format!("10.77.0.{host}/24"),
                "dev",
                "p0",
            ])?;
            ip(&["-n", n, "link", "set", "p0", "up"])?;
            ip(&[
                "-n",
                &gw,
                "link",
                "set",
                &format!("g{host}"),
                "master",
                "br0",
            ])?;
            ip(&["-n", &gw, "link", "set", &format!("g{host}"), "up"])?;
            ip(&["-n", n, "route", "add", "default", "via", GATEWAY])?;
            // The control network: a /24 per node per lab, one the host
            // does not already reach (its own network may be anywhere).
            let [a, b, c] = free_control_subnet(2 * (k % 120) + i as u32 + 1)?;
            let subnet = format!("{a}.{b}.{c}");
            let host_veth = format!("{id}c{i}");
            ip(&[
                "link", "add", &host_veth, "type", "veth", "peer", "name", "c0", "netns", n,
            ])?;
            lab.host_veths.push(host_veth.clone());
            ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &host_veth])?;
            ip(&["link", "set", &host_veth, "up"])?;
            ip(&[
                "-n",
                n,
                "addr",
                "add",
                &format!("{subnet}.2/24"),
                "dev",
                "c0",
            ])?;
            ip(&["-n", n, "link", "set", "c0", "up"])?;
            lab.control[i] = format!("{subnet}.2");
        }
        Ok(lab)
    }

    pub fn placements(&self) -> [Placement; 2] {
        [0, 1].map(|i| Placement {
            address: format!("10.77.0.{}", i + 1),
            control: self.control[i].clone(),
            arbiter_port: 3633,
            link_port: 3634,
            http_port: 8080,
            smtp_port: 2525,
            netns: Some(self.ns[i].clone()),
        })
    }

    /// Cuts node `i` off the pair network at the bridge: from the other
    /// node's side it vanished (no reset, no ICMP).
    pub fn cut(&self, i: usize) {
        ip(&[
            "-n",
            &self.gw,
            "link",
            "set",
            &format!("g{}", i + 1),
            "down",
        ])
        .expect("cut");
    }

    pub fn repair(&self, i: usize) {
        ip(&["-n", &self.gw, "link", "set", &format!("g{}", i + 1), "up"]).expect("repair");
    }

    /// Node `i`'s own network interface goes down.
    pub fn own_network_down(&self, i: usize) {
        ip(&["-n", &self.ns[i], "link", "set", "p0", "down"]).expect("link down");
    }

    pub fn own_network_up(&self, i: usize) {
        ip(&["-n", &self.ns[i], "link", "set", "p0", "up"]).expect("link up");
        let _ = ip(&["-n", &self.ns[i], "route", "add", "default", "via", GATEWAY]);
    }

    /// Cuts the pair network between the two nodes only (a blackhole
    /// route to each other in each namespace): both still reach their
    /// gateway and NetTest host, and the test reaches both.
    pub fn cut_between(&self) {
        for (i, n) in self.ns.iter().enumerate() {
            let other = format!("10.77.0.{}/32", 2 - i);
            ip(&["-n", n, "route", "add", "blackhole", &other]).expect("cut between");
        }
    }

    pub fn repair_between(&self) {
        for (i, n) in self.ns.iter().enumerate() {
            let other = format!("10.77.0.{}/32", 2 - i);
            let _ = ip(&["-n", n, "route", "del", "blackhole", &other]);
        }
    }

    /// The NetTest host stops answering ICMP (its address is removed).
    pub fn net_test_down(&self) {
        ip(&[
            "-n",
            &self.gw,
            "addr",
            "del",
            &format!("{NET_TEST}/24"),
            "dev",
            "br0",
        ])
        .expect("NetTest down");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for veth in &self.host_veths {
            let _ = ip(&["link", "del", veth]);
        }
        for n in self.ns.iter().chain([&self.gw]) {
            let _ = ip(&["netns", "del", n]);
        }
    }
}
