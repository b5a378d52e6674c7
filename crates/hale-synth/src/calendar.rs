//! Dates, instants and US time zones, and their FHIR formatting.
//!
//! FHIR `date` is `YYYY-MM-DD` and `dateTime`/`instant` with a time part must
//! carry a time-zone offset
//! ([datatypes](https://hl7.org/fhir/R4/datatypes.html#dateTime)). Generated
//! records are placed in the patient's local zone with US daylight-saving rules,
//! so that an afternoon visit in Denver reads `...T14:30:00-06:00` in July and
//! `...-07:00` in January, as real records do.
//!
//! The arithmetic is plain integer arithmetic on days since 1970-01-01 (Howard
//! Hinnant's civil-calendar algorithms) rather than a date library, because it
//! is exact, allocation-free and needs no error handling for the bounded range
//! the generator uses. Nothing here reads the wall clock: every date is an
//! offset from [`REFERENCE_DATE`](crate::REFERENCE_DATE).

/// Seconds in one day.
pub(crate) const DAY: i64 = 86_400;
/// Seconds in one hour.
pub(crate) const HOUR: i64 = 3_600;
/// Seconds in one minute.
pub(crate) const MINUTE: i64 = 60;
/// Days in an average Gregorian year, rounded down; used only to convert ages
/// in years into day counts, where the quarter day does not matter.
pub(crate) const YEAR_DAYS: i64 = 365;

/// Returns the number of days from 1970-01-01 to the given proleptic
/// Gregorian date.
pub(crate) const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Returns the `(year, month, day)` of the given number of days from
/// 1970-01-01.
pub(crate) const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// The day number of [`REFERENCE_DATE`](crate::REFERENCE_DATE).
pub(crate) const REFERENCE_DAY: i64 = days_from_civil(2026, 1, 1);

/// Returns the day of the week of a day number, with 0 for Sunday.
pub(crate) const fn weekday(days: i64) -> i64 {
    // 1970-01-01 was a Thursday.
    (days + 4).rem_euclid(7)
}

/// Returns the day number of the `nth` (1-based) Sunday of a month.
const fn nth_sunday(year: i64, month: u32, nth: i64) -> i64 {
    let first = days_from_civil(year, month, 1);
    first + (7 - weekday(first)) % 7 + 7 * (nth - 1)
}

/// A US time zone: its standard offset and whether it observes daylight
/// saving time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Zone {
    /// The offset from UTC in minutes outside daylight saving time.
    pub(crate) standard_offset_minutes: i64,
    /// Whether clocks go forward an hour from the second Sunday of March to the
    /// first Sunday of November, as in most of the US since 2007.
    pub(crate) observes_dst: bool,
}

impl Zone {
    /// US Eastern time.
    pub(crate) const EASTERN: Zone = Zone {
        standard_offset_minutes: -300,
        observes_dst: true,
    };
    /// US Central time.
    pub(crate) const CENTRAL: Zone = Zone {
        standard_offset_minutes: -360,
        observes_dst: true,
    };
    /// US Mountain time.
    pub(crate) const MOUNTAIN: Zone = Zone {
        standard_offset_minutes: -420,
        observes_dst: true,
    };
    /// Arizona, on Mountain standard time all year.
    pub(crate) const ARIZONA: Zone = Zone {
        standard_offset_minutes: -420,
        observes_dst: false,
    };
    /// US Pacific time.
    pub(crate) const PACIFIC: Zone = Zone {
        standard_offset_minutes: -480,
        observes_dst: true,
    };
    /// Alaska time.
    pub(crate) const ALASKA: Zone = Zone {
        standard_offset_minutes: -540,
        observes_dst: true,
    };
    /// Hawaii, on standard time all year.
    pub(crate) const HAWAII: Zone = Zone {
        standard_offset_minutes: -600,
        observes_dst: false,
    };

    /// Returns the offset from UTC in minutes in force at `instant`.
    pub(crate) fn offset_minutes_at(self, instant: Instant) -> i64 {
        if !self.observes_dst {
            return self.standard_offset_minutes;
        }
        let standard_local = instant.0 + self.standard_offset_minutes * MINUTE;
        let (year, _, _) = civil_from_days(standard_local.div_euclid(DAY));
        // Daylight time starts at 02:00 standard time and ends at 02:00
        // daylight time, which is 01:00 standard time.
        let starts = nth_sunday(year, 3, 2) * DAY + 2 * HOUR;
        let ends = nth_sunday(year, 11, 1) * DAY + HOUR;
        if (starts..ends).contains(&standard_local) {
            self.standard_offset_minutes + 60
        } else {
            self.standard_offset_minutes
        }
    }

    /// Returns the instant at which local clocks in this zone show
    /// `seconds_of_day` on day number `day`.
    pub(crate) fn instant_at(self, day: i64, seconds_of_day: i64) -> Instant {
        let local = day * DAY + seconds_of_day;
        let guess = Instant(local - self.standard_offset_minutes * MINUTE);
        Instant(local - self.offset_minutes_at(guess) * MINUTE)
    }
}

/// A point in time, in seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Instant(pub(crate) i64);

impl Instant {
    /// Returns this instant moved by `seconds`.
    pub(crate) const fn plus(self, seconds: i64) -> Instant {
        Instant(self.0 + seconds)
    }

    /// Returns the local day number of this instant in `zone`.
    pub(crate) fn local_day(self, zone: Zone) -> i64 {
        (self.0 + zone.offset_minutes_at(self) * MINUTE).div_euclid(DAY)
    }

    /// Formats this instant as a FHIR `dateTime` (also a valid `instant`) in
    /// `zone`, for example `2024-07-04T14:30:00-04:00`.
    pub(crate) fn date_time(self, zone: Zone) -> String {
        let offset = zone.offset_minutes_at(self);
        let local = self.0 + offset * MINUTE;
        let (year, month, day) = civil_from_days(local.div_euclid(DAY));
        let second_of_day = local.rem_euclid(DAY);
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.abs();
        // Formatting by hand rather than with `write!` matters here: every
        // generated resource has a few timestamps.
        let mut text = String::with_capacity(25);
        push_digits(&mut text, year, 4);
        text.push('-');
        push_digits(&mut text, i64::from(month), 2);
        text.push('-');
        push_digits(&mut text, i64::from(day), 2);
        text.push('T');
        push_digits(&mut text, second_of_day / HOUR, 2);
        text.push(':');
        push_digits(&mut text, second_of_day % HOUR / MINUTE, 2);
        text.push(':');
        push_digits(&mut text, second_of_day % MINUTE, 2);
        text.push(sign);
        push_digits(&mut text, offset / 60, 2);
        text.push(':');
        push_digits(&mut text, offset % 60, 2);
        text
    }
}

/// Formats a day number as a FHIR `date`, for example `1987-03-21`.
pub(crate) fn date(day: i64) -> String {
    let (year, month, day) = civil_from_days(day);
    let mut text = String::with_capacity(10);
    push_digits(&mut text, year, 4);
    text.push('-');
    push_digits(&mut text, i64::from(month), 2);
    text.push('-');
    push_digits(&mut text, i64::from(day), 2);
    text
}

/// Appends the last `width` decimal digits of a non-negative `value`,
/// zero-padded.
fn push_digits(text: &mut String, value: i64, width: u32) {
    debug_assert!(
        value >= 0 && value < 10_i64.pow(width),
        "{value} has more than {width} digits"
    );
    for position in (0..width).rev() {
        let digit = value / 10_i64.pow(position) % 10;
        text.push(char::from(b'0' + digit as u8));
    }
}

/// Returns the calendar year of a day number.
pub(crate) fn year_of(day: i64) -> i64 {
    civil_from_days(day).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 1, 1), 20_454);
        for days in -40_000..40_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn formats_with_daylight_saving() {
        let winter =
            Zone::MOUNTAIN.instant_at(days_from_civil(2025, 1, 15), 14 * HOUR + 30 * MINUTE);
        assert_eq!(
            winter.date_time(Zone::MOUNTAIN),
            "2025-01-15T14:30:00-07:00"
        );
        let summer = Zone::MOUNTAIN.instant_at(days_from_civil(2025, 7, 4), 9 * HOUR);
        assert_eq!(
            summer.date_time(Zone::MOUNTAIN),
            "2025-07-04T09:00:00-06:00"
        );
        assert_eq!(summer.date_time(Zone::ARIZONA), "2025-07-04T08:00:00-07:00");
        let kolkata_like = Zone {
            standard_offset_minutes: 330,
            observes_dst: false,
        };
        assert_eq!(
            Instant(0).date_time(kolkata_like),
            "1970-01-01T05:30:00+05:30"
        );
    }

    #[test]
    fn daylight_saving_boundaries_2025() {
        // In 2025 daylight time ran from March 9 to November 2.
        let before = Zone::EASTERN.instant_at(days_from_civil(2025, 3, 8), 12 * HOUR);
        let after = Zone::EASTERN.instant_at(days_from_civil(2025, 3, 9), 12 * HOUR);
        assert_eq!(Zone::EASTERN.offset_minutes_at(before), -300);
        assert_eq!(Zone::EASTERN.offset_minutes_at(after), -240);
        let last = Zone::EASTERN.instant_at(days_from_civil(2025, 11, 1), 12 * HOUR);
        let back = Zone::EASTERN.instant_at(days_from_civil(2025, 11, 2), 12 * HOUR);
        assert_eq!(Zone::EASTERN.offset_minutes_at(last), -240);
        assert_eq!(Zone::EASTERN.offset_minutes_at(back), -300);
    }

    #[test]
    fn formats_dates() {
        assert_eq!(date(REFERENCE_DAY), crate::REFERENCE_DATE);
        assert_eq!(date(days_from_civil(1987, 3, 21)), "1987-03-21");
        assert_eq!(date(days_from_civil(1905, 12, 31)), "1905-12-31");
        assert_eq!(year_of(days_from_civil(2026, 1, 1)), 2026);
    }
}
