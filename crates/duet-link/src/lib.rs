//! The link between the two nodes of a pair: the versioned envelope and its
//! messages ([`protocol`]), the change the stream carries ([`Change`]), length-delimited frames with a maximum size, the
//! pair's certificate authority ([`pki`]) and mutual TLS ([`tls`]).

mod change;
pub mod pki;
pub mod protocol;
pub mod tls;

pub use change::Change;
