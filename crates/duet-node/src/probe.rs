//! ICMP echo for the network checks (gateways, NetTest, the primary's
//! address), behind a trait so tests can replace it; and the gateways of
//! this host, read from its routing table.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use futures::future::BoxFuture;

pub trait EchoProber: Send + Sync + 'static {
    /// Whether `address` answers an echo within `timeout`.
    fn echo(&self, address: IpAddr, timeout: Duration) -> BoxFuture<'static, bool>;
}

/// Real ICMP echo (needs root or an unprivileged ICMP socket).
pub struct IcmpProber {
    v4: Option<surge_ping::Client>,
    v6: Option<surge_ping::Client>,
}

impl IcmpProber {
    pub fn new() -> IcmpProber {
        let v4 = surge_ping::Client::new(&surge_ping::Config::default())
            .map_err(|e| tracing::warn!("ICMP (IPv4) unavailable, echo checks will fail: {e}"))
            .ok();
        let v6 = surge_ping::Client::new(
            &surge_ping::Config::builder()
                .kind(surge_ping::ICMP::V6)
                .build(),
        )
        .ok();
        IcmpProber { v4, v6 }
    }
}

impl Default for IcmpProber {
    fn default() -> Self {
        Self::new()
    }
}

impl EchoProber for IcmpProber {
    fn echo(&self, address: IpAddr, timeout: Duration) -> BoxFuture<'static, bool> {
        let client = match address {
            IpAddr::V4(_) => self.v4.clone(),
            IpAddr::V6(_) => self.v6.clone(),
        };
        Box::pin(async move {
            let Some(client) = client else { return false };
            let id = surge_ping::PingIdentifier(rand_u16());
            let mut pinger = client.pinger(address, id).await;
            pinger.timeout(timeout);
            pinger
                .ping(surge_ping::PingSequence(0), &[0u8; 16])
                .await
                .is_ok()
        })
    }
}

fn rand_u16() -> u16 {
    (crate::events::unix_ms() as u16) ^ (std::process::id() as u16)
}

/// The IPv4 default gateways in `/proc/net/route`, loopback and empty
/// addresses excluded (the seed's enumeration of adapter gateways).
pub fn gateways() -> Vec<IpAddr> {
    std::fs::read_to_string("/proc/net/route")
        .map(|text| parse_routes(&text))
        .unwrap_or_default()
}

fn parse_routes(text: &str) -> Vec<IpAddr> {
    let mut found = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(gateway), Some(flags)) = (fields.get(2), fields.get(3)) else {
            continue;
        };
        let flags = u32::from_str_radix(flags, 16).unwrap_or(0);
        let Ok(raw) = u32::from_str_radix(gateway, 16) else {
            continue;
        };
        // RTF_GATEWAY (0x2): the route goes through a gateway.
        let address = Ipv4Addr::from(raw.swap_bytes());
        if flags & 0x2 != 0 && !address.is_unspecified() && !address.is_loopback() {
            let address = IpAddr::V4(address);
            if !found.contains(&address) {
                found.push(address);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateways_come_from_the_routing_table() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
                     eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(
            parse_routes(table),
            vec!["192.168.1.1".parse::<IpAddr>().unwrap()]
        );
    }
}
