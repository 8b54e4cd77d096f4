//! An honest clock for the page: the offset between the visitor's clock and a server's, from
//! an HTTP `Date` header the page already receives (the module's own download, the JWKS, or a
//! `timeUrl`). Visitors' clocks are often minutes or hours off; a page that trusted them would
//! call valid tokens `expired` or `issued_in_future` while the server accepts them.
//!
//! The estimate: the server's time when it answered is within the second its `Date` names
//! (RFC 9110 §6.6.1: 1-second resolution, truncated), so its midpoint, `Date + 500 ms`; the
//! visitor's time at that moment is taken as the midpoint of the request's round trip. The
//! error is at most half the round trip plus half a second, far inside any clock tolerance.
//! The server's verdict remains the authority: this only keeps the page from disagreeing.

/// Seconds since the epoch of an RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the
/// form servers must send; `None` for anything else (the obsolete forms included).
pub fn parse_http_date(text: &str) -> Option<u64> {
    let text = text.trim();
    // The weekday is three letters (checked below), then ", ".
    let (weekday, rest) = (text.get(..3)?, text.get(3..)?.strip_prefix(", ")?);
    if !matches!(
        weekday,
        "Mon" | "Tue" | "Wed" | "Thu" | "Fri" | "Sat" | "Sun"
    ) {
        return None;
    }
    let mut parts = rest.split(' ');
    let day: u64 = two_digits(parts.next()?)?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year = parts.next().filter(|y| y.len() == 4)?.parse::<u64>().ok()?;
    let mut hms = parts.next()?.split(':');
    let (h, m, s) = (
        two_digits(hms.next()?)?,
        two_digits(hms.next()?)?,
        two_digits(hms.next()?)?,
    );
    if parts.next()? != "GMT" || parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    if year < 1970 || !(1..=days_in_month(year, month)).contains(&day) || h > 23 || m > 59 || s > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + h * 3600 + m * 60 + s.min(59))
}

/// The visitor's clock offset in milliseconds (server minus visitor: add it to the visitor's
/// clock), from a response's `Date` header (seconds, [`parse_http_date`]) and the visitor's
/// clock when the request was sent and when the response arrived (milliseconds). `None` when
/// the round trip is negative or over a minute (a clock that jumped, or a stalled request).
pub fn offset_ms(server_date: u64, sent_ms: f64, received_ms: f64) -> Option<i64> {
    let round_trip = received_ms - sent_ms;
    if !(0.0..=60_000.0).contains(&round_trip) || !sent_ms.is_finite() {
        return None;
    }
    let server_ms = (server_date as f64) * 1000.0 + 500.0;
    let visitor_ms = sent_ms + round_trip / 2.0;
    let offset = (server_ms - visitor_ms).round();
    // Within ±100 years: anything else is not a clock error but garbage.
    (offset.abs() < 3.2e12).then_some(offset as i64)
}

fn two_digits(s: &str) -> Option<u64> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn is_leap(y: u64) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (year ≥ 1970).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let years = (1970..y)
        .map(|y| if is_leap(y) { 366 } else { 365 })
        .sum::<u64>();
    let months = (1..m).map(|m| days_in_month(y, m)).sum::<u64>();
    years + months + d - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_imf_fixdates_only() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sat, 28 Nov 2026 23:55:14 GMT"),
            Some(1_795_910_114)
        );
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            Some(1_835_438_400)
        );
        for bad in [
            "Sunday, 06-Nov-94 08:49:37 GMT", // RFC 850
            "Sun Nov  6 08:49:37 1994",       // asctime
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 29 Feb 2027 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            // The weekday is exactly three letters and ", " (read without a substring search).
            "Sun,06 Nov 1994 08:49:37 GMT",
            "Sun , 06 Nov 1994 08:49:37 GMT",
            "Su, 06 Nov 1994 08:49:37 GMT",
            "é, 06 Nov 1994 08:49:37 GMT",
            "Sun",
            "Sun,",
            "",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_offset_is_the_server_second_midpoint_minus_the_round_trip_midpoint() {
        // The visitor's clock is 3 hours behind: sent at T, received at T + 200 ms.
        let server = 1_795_910_114u64;
        let visitor_sent = (server * 1000) as f64 - 3.0 * 3_600_000.0 + 400.0;
        let got = offset_ms(server, visitor_sent, visitor_sent + 200.0).unwrap();
        assert_eq!(got, 3 * 3_600_000 + 500 - 400 - 100);
        assert_eq!(
            offset_ms(server, 1000.0, 999.0),
            None,
            "negative round trip"
        );
        assert_eq!(offset_ms(server, 0.0, 70_000.0), None, "stalled");
        assert_eq!(offset_ms(server, f64::NAN, 1.0), None);
    }
}
