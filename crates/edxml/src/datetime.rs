//! edXML dates (`yyyy/MM/dd`) and timestamps (`yyyy/MM/dd HH:mm:ss`).
//!
//! The wire format carries local time with no zone. The axis serves one
//! country, so docaxis reads it as Vietnam time (UTC+07:00, no daylight
//! saving) whenever it needs an instant: [`EdTimestamp::to_offset`].

use std::fmt;
use std::str::FromStr;

use time::macros::{format_description, offset};
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// The zone edXML's local times are read in: Vietnam, UTC+07:00.
pub const VIETNAM: UtcOffset = offset!(+7);

/// A calendar date in edXML form, `yyyy/MM/dd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EdDate(Date);

/// A local timestamp in edXML form, `yyyy/MM/dd HH:mm:ss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EdTimestamp(PrimitiveDateTime);

/// A date or timestamp that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {what} in the form {form}")]
pub struct DateError {
    value: String,
    what: &'static str,
    form: &'static str,
}

impl EdDate {
    /// Wraps a calendar date.
    pub fn new(date: Date) -> Self {
        EdDate(date)
    }

    /// The calendar date.
    pub fn date(self) -> Date {
        self.0
    }

    /// Parses `yyyy/MM/dd` (exactly: two-digit month and day).
    pub fn parse(s: &str) -> Result<Self, DateError> {
        let fmt = format_description!("[year]/[month]/[day]");
        if s.len() != 10 {
            return Err(date_error(s, "date", "yyyy/MM/dd"));
        }
        Date::parse(s, &fmt)
            .map(EdDate)
            .map_err(|_| date_error(s, "date", "yyyy/MM/dd"))
    }
}

impl EdTimestamp {
    /// Wraps a local date and time (seconds precision is kept on the wire).
    pub fn new(t: PrimitiveDateTime) -> Self {
        EdTimestamp(t.replace_nanosecond(0).unwrap_or(t))
    }

    /// The timestamp of an instant, in Vietnam time.
    pub fn from_offset(t: OffsetDateTime) -> Self {
        let local = t.to_offset(VIETNAM);
        EdTimestamp::new(PrimitiveDateTime::new(local.date(), local.time()))
    }

    /// Now, in Vietnam time.
    pub fn now() -> Self {
        EdTimestamp::from_offset(OffsetDateTime::now_utc())
    }

    /// The local date and time.
    pub fn local(self) -> PrimitiveDateTime {
        self.0
    }

    /// The instant, reading the local time as Vietnam time.
    pub fn to_offset(self) -> OffsetDateTime {
        self.0.assume_offset(VIETNAM)
    }

    /// Parses `yyyy/MM/dd HH:mm:ss`.
    pub fn parse(s: &str) -> Result<Self, DateError> {
        let fmt = format_description!("[year]/[month]/[day] [hour]:[minute]:[second]");
        if s.len() != 19 {
            return Err(date_error(s, "timestamp", "yyyy/MM/dd HH:mm:ss"));
        }
        PrimitiveDateTime::parse(s, &fmt)
            .map(EdTimestamp)
            .map_err(|_| date_error(s, "timestamp", "yyyy/MM/dd HH:mm:ss"))
    }
}

fn date_error(value: &str, what: &'static str, form: &'static str) -> DateError {
    DateError {
        value: value.chars().take(40).collect(),
        what,
        form,
    }
}

impl fmt::Display for EdDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(f, "{:04}/{:02}/{:02}", d.year(), d.month() as u8, d.day())
    }
}

impl fmt::Display for EdTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{} {:02}:{:02}:{:02}",
            EdDate(t.date()),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

impl FromStr for EdDate {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, DateError> {
        EdDate::parse(s)
    }
}

impl FromStr for EdTimestamp {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, DateError> {
        EdTimestamp::parse(s)
    }
}

macro_rules! serde_as_string {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_as_string!(EdDate);
serde_as_string!(EdTimestamp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_refuse_bad_forms() {
        let d = EdDate::parse("2024/02/29").unwrap();
        assert_eq!(d.to_string(), "2024/02/29");
        for bad in [
            "2023/02/29",
            "2024-02-01",
            "2024/2/01",
            "2024/02/01 ",
            "",
            "2024/13/01",
        ] {
            assert!(EdDate::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn timestamps_round_trip_and_read_as_vietnam_time() {
        let t = EdTimestamp::parse("2022/07/01 08:30:05").unwrap();
        assert_eq!(t.to_string(), "2022/07/01 08:30:05");
        assert_eq!(t.to_offset().to_offset(UtcOffset::UTC).hour(), 1);
        assert_eq!(EdTimestamp::from_offset(t.to_offset()), t);
        for bad in [
            "2022/07/01 24:00:00",
            "2022/07/01T08:30:05",
            "2022/07/01 8:30:05",
        ] {
            assert!(EdTimestamp::parse(bad).is_err(), "{bad:?}");
        }
    }
}
