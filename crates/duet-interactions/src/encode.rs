//! A byte-stream view of any serialisable value, without an encoding
//! dependency: its FNV-1a hash (for digests equal on both nodes) and its
//! size as postcard would encode it (an upper bound; for limits and pages).
//! Maps here are BTreeMaps, so the stream's order is stable.

use serde::Serialize;
use serde::ser;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Feeds a value's bytes through FNV-1a, counting postcard-sized bytes.
#[derive(Debug, Clone)]
pub struct Digest {
    hash: u64,
    size_bytes: usize,
    /// Off when only the size is wanted: hashing goes byte by byte, and
    /// sizing a chunk of content (256 KiB) should not.
    hashing: bool,
}

impl Default for Digest {
    fn default() -> Self {
        Digest {
            hash: FNV_OFFSET,
            size_bytes: 0,
            hashing: true,
        }
    }
}

impl Digest {
    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn size_bytes(&self) -> usize {
        self.size_bytes
    }

    /// Adds `value` to the stream. Serialising plain data cannot fail; a
    /// custom impl that fails only leaves its bytes out.
    pub fn add<T: Serialize + ?Sized>(&mut self, value: &T) {
        let _ = value.serialize(&mut *self);
    }

    fn bytes(&mut self, bytes: &[u8]) {
        if !self.hashing {
            return;
        }
        for b in bytes {
            self.hash ^= u64::from(*b);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
    }

    /// An integer: hashed as 8 little-endian bytes, counted as a varint.
    fn int(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
        self.size_bytes += varint_len(v);
    }

    fn len(&mut self, len: usize) {
        self.int(len as u64);
    }
}

fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// The hash of one value.
pub fn hash_of<T: Serialize + ?Sized>(value: &T) -> u64 {
    let mut d = Digest::default();
    d.add(value);
    d.hash()
}

/// The size of one value as postcard would encode it.
pub fn size_of<T: Serialize + ?Sized>(value: &T) -> usize {
    let mut d = Digest {
        hashing: false,
        ..Digest::default()
    };
    d.add(value);
    d.size_bytes()
}

#[derive(Debug)]
pub struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("serialisation failed")
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        Never
    }
}

type R = Result<(), Never>;

impl ser::Serializer for &mut Digest {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> R {
        self.int(u64::from(v));
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> R {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> R {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> R {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> R {
        // Zigzag, as postcard does.
        self.int(((v << 1) ^ (v >> 63)) as u64);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> R {
        self.int(u64::from(v));
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> R {
        self.int(u64::from(v));
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> R {
        self.int(u64::from(v));
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> R {
        self.int(v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> R {
        self.int(u64::from(v.to_bits()));
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> R {
        self.int(v.to_bits());
        Ok(())
    }
    fn serialize_char(self, v: char) -> R {
        self.int(u64::from(v));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> R {
        self.serialize_bytes(v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> R {
        self.len(v.len());
        self.bytes(v);
        self.size_bytes += v.len();
        Ok(())
    }
    fn serialize_none(self) -> R {
        self.int(0);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> R {
        self.int(1);
        value.serialize(self)
    }
    fn serialize_unit(self) -> R {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> R {
        Ok(())
    }
    fn serialize_unit_variant(self, _n: &'static str, index: u32, _v: &'static str) -> R {
        self.int(u64::from(index));
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _n: &'static str, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _n: &'static str,
        index: u32,
        _v: &'static str,
        value: &T,
    ) -> R {
        self.int(u64::from(index));
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, Never> {
        self.len(len.unwrap_or(0));
        Ok(self)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _n: &'static str, _len: usize) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _n: &'static str,
        index: u32,
        _v: &'static str,
        _len: usize,
    ) -> Result<Self, Never> {
        self.int(u64::from(index));
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self, Never> {
        self.len(len.unwrap_or(0));
        Ok(self)
    }
    fn serialize_struct(self, _n: &'static str, _len: usize) -> Result<Self, Never> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _n: &'static str,
        index: u32,
        _v: &'static str,
        _len: usize,
    ) -> Result<Self, Never> {
        self.int(u64::from(index));
        Ok(self)
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident) => {
        impl ser::$trait for &mut Digest {
            type Ok = ();
            type Error = Never;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
                value.serialize(&mut **self)
            }
            fn end(self) -> R {
                Ok(())
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);

impl ser::SerializeMap for &mut Digest {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> R {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> R {
        value.serialize(&mut **self)
    }
    fn end(self) -> R {
        Ok(())
    }
}

macro_rules! fields {
    ($trait:ident) => {
        impl ser::$trait for &mut Digest {
            type Ok = ();
            type Error = Never;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                _key: &'static str,
                value: &T,
            ) -> R {
                value.serialize(&mut **self)
            }
            fn end(self) -> R {
                Ok(())
            }
        }
    };
}

fields!(SerializeStruct);
fields!(SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_postcard_varints() {
        assert_eq!(size_of(&0u64), 1);
        assert_eq!(size_of(&127u64), 1);
        assert_eq!(size_of(&128u64), 2);
        assert_eq!(size_of(&u64::MAX), 10);
        assert_eq!(size_of("abc"), 4);
        assert_ne!(hash_of("abc"), hash_of("abd"));
    }
}
