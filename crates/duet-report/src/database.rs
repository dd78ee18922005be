//! One way to name a reporting database everywhere (`duet report
//! --database`, the node's `reporting_databases`): a `postgres://` or
//! `postgresql://` URL (libpq's form, as tokio-postgres reads it) names a
//! PostgreSQL database, anything else an SQLite file. Shown, a URL's
//! password is `***`; only the database's own connection sees it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::postgres::PostgresDb;
use crate::sql::{Backend, Store, Tx};
use crate::sqlite::SqliteDb;
use crate::store::Result;

#[derive(Clone)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(PostgresUrl),
}

/// A PostgreSQL URL, as given and as read.
#[derive(Clone)]
pub struct PostgresUrl {
    text: String,
    config: Box<tokio_postgres::Config>,
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("a reporting database is an SQLite file's path or a postgres:// URL, not nothing")]
    Empty,
    #[error(
        "{url} is not a PostgreSQL URL (postgres://user:password@host:port/database?option=value): {}",
        crate::store::chain(.error)
    )]
    Url {
        url: String,
        error: tokio_postgres::Error,
    },
}

const SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

impl FromStr for Database {
    type Err = DatabaseError;

    fn from_str(text: &str) -> Result<Database, DatabaseError> {
        if text.is_empty() {
            return Err(DatabaseError::Empty);
        }
        if !SCHEMES.iter().any(|s| text.starts_with(s)) {
            return Ok(Database::Sqlite(PathBuf::from(text)));
        }
        let config = text.parse().map_err(|error| DatabaseError::Url {
            url: redacted(text),
            error,
        })?;
        Ok(Database::Postgres(PostgresUrl {
            text: text.to_string(),
            config: Box::new(config),
        }))
    }
}

/// `url` with the password of its user part and a `password=` option
/// replaced by `***`.
fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_at(url.find("://").map_or(0, |i| i + 3));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rfind('@') {
        Some(at) => match authority[..at].split_once(':') {
            Some((user, _)) => format!("{user}:***{}", &authority[at..]),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let options: Vec<String> = query
                .split('&')
                .map(|o| match o.split_once('=') {
                    Some((key, _)) if key == "password" => format!("{key}=***"),
                    _ => o.to_string(),
                })
                .collect();
            format!("{path}?{}", options.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

impl fmt::Display for Database {
    /// The path, or the URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&redacted(&url.text)),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({self})")
    }
}

impl PartialEq for Database {
    fn eq(&self, other: &Database) -> bool {
        match (self, other) {
            (Database::Sqlite(a), Database::Sqlite(b)) => a == b,
            (Database::Postgres(a), Database::Postgres(b)) => a.text == b.text,
            _ => false,
        }
    }
}

impl Eq for Database {}

impl From<PathBuf> for Database {
    fn from(path: PathBuf) -> Database {
        Database::Sqlite(path)
    }
}

/// Written as given (a bootstrap file keeps the password it was given).
impl serde::Serialize for Database {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Database::Sqlite(path) => path.serialize(s),
            Database::Postgres(url) => s.serialize_str(&url.text),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Database {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Database, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Either database, opened.
pub enum AnyDb {
    Sqlite(SqliteDb),
    Postgres(PostgresDb),
}

/// A reporting database of either kind.
pub type AnyStore = Store<AnyDb>;

impl Database {
    /// Opens (creating an SQLite file if need be) and migrates it.
    pub fn open(&self) -> Result<AnyStore> {
        Ok(Store::new(match self {
            Database::Sqlite(path) => AnyDb::Sqlite(SqliteDb::open(path)?),
            Database::Postgres(url) => AnyDb::Postgres(PostgresDb::connect(&url.config)?),
        }))
    }

    /// Opens it to read reports from, as it is.
    pub fn open_read_only(&self) -> Result<AnyStore> {
        Ok(Store::new(match self {
            Database::Sqlite(path) => AnyDb::Sqlite(SqliteDb::open_read_only(path)?),
            Database::Postgres(url) => AnyDb::Postgres(PostgresDb::connect_read_only(&url.config)?),
        }))
    }

    /// An SQLite file's path (to resolve it against a directory).
    pub fn path_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            Database::Sqlite(path) => Some(path),
            Database::Postgres(_) => None,
        }
    }
}

impl Backend for AnyDb {
    fn write<R>(&mut self, f: impl FnOnce(&mut dyn Tx) -> Result<R>) -> Result<R> {
        match self {
            AnyDb::Sqlite(db) => db.write(f),
            AnyDb::Postgres(db) => db.write(f),
        }
    }

    fn read<R>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<R>) -> Result<R> {
        match self {
            AnyDb::Sqlite(db) => db.read(f),
            AnyDb::Postgres(db) => db.read(f),
        }
    }

    fn schema_version(&self) -> Result<i64> {
        match self {
            AnyDb::Sqlite(db) => db.schema_version(),
            AnyDb::Postgres(db) => db.schema_version(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_postgresql_anything_else_an_sqlite_file_and_no_password_is_shown() {
        let db: Database =
            "postgres://duet:s3cret@127.0.0.1:5433/reports?password=other&application_name=w"
                .parse()
                .unwrap();
        assert!(matches!(db, Database::Postgres(_)));
        let shown = format!("{db} {db:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("other"),
            "{shown}"
        );
        assert_eq!(
            db.to_string(),
            "postgres://duet:***@127.0.0.1:5433/reports?password=***&application_name=w"
        );
        let db: Database = "postgresql://duet@db.example/reports".parse().unwrap();
        assert_eq!(db.to_string(), "postgresql://duet@db.example/reports");
        let db: Database = "reports/one.db".parse().unwrap();
        assert_eq!(db, Database::Sqlite("reports/one.db".into()));
        assert!(matches!("".parse::<Database>(), Err(DatabaseError::Empty)));
        let bad = "postgres://duet:s3cret@host:notaport/x"
            .parse::<Database>()
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("duet:***@host") && !bad.contains("s3cret"),
            "{bad}"
        );
    }
}
