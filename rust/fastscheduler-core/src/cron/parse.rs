//! Cron grammar → per-field bitsets.
//!
//! Fields: `minute hour day-of-month month day-of-week [second [year]]`, as croniter 7 reads them
//! (a sixth field is seconds, a seventh the year 1970-2099). Case-insensitive. See the README's
//! "Cron grammar" section for every rule and every deliberate difference from croniter.
use crate::error::CronError;

/// Which field a token belongs to; its name appears in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
    Second,
    Year,
}

impl Field {
    pub fn name(self) -> &'static str {
        match self {
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
            Field::Second => "second",
            Field::Year => "year",
        }
    }

    /// Inclusive value range as croniter reads it.
    fn range(self) -> (u32, u32) {
        match self {
            Field::Minute | Field::Second => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 6),
            Field::Year => (YEAR_MIN, YEAR_MAX),
        }
    }

    /// How many distinct values the field cycles through, and what they are: the largest step
    /// allowed (a step is at most one full cycle, so `*/60` is hourly and day-of-week `*/7` is
    /// weekly, but `*/61` and `*/8` are errors). Day-of-week has 7 (0 and 7 are both Sunday).
    fn cycle(self) -> (u32, &'static str) {
        match self {
            Field::Second => (60, "seconds in a minute"),
            Field::Minute => (60, "minutes in an hour"),
            Field::Hour => (24, "hours in a day"),
            Field::DayOfMonth => (31, "days in the longest month"),
            Field::Month => (12, "months in a year"),
            Field::DayOfWeek => (7, "days in a week"),
            Field::Year => (YEAR_MAX - YEAR_MIN + 1, "years in the range 1970-2099"),
        }
    }

    /// The largest value written in the field: as `range`, except that day-of-week goes up to
    /// 7 (Sunday again), so `5/2` (= `5-7/2`) is Friday and Sunday.
    fn written_max(self) -> u32 {
        match self {
            Field::DayOfWeek => 7,
            f => f.range().1,
        }
    }

    /// The range written in error messages (day-of-week accepts 7 for Sunday).
    fn range_text(self) -> String {
        match self {
            Field::DayOfWeek => "0-7 (0 and 7 are Sunday) or SUN-SAT".to_string(),
            Field::Month => "1-12 or JAN-DEC".to_string(),
            f => {
                let (lo, hi) = f.range();
                format!("{lo}-{hi}")
            }
        }
    }
}

pub const YEAR_MIN: u32 = 1970;
pub const YEAR_MAX: u32 = 2099;
/// Longest expression accepted; longer input is rejected before any work.
pub const MAX_EXPR_LEN: usize = 4096;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A set of up to 192 small integers (years use bits `year - 1970`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BitSet192(pub [u64; 3]);

impl BitSet192 {
    #[inline]
    pub fn insert(&mut self, v: u32) {
        self.0[(v / 64) as usize] |= 1u64 << (v % 64);
    }
    #[inline]
    pub fn contains(&self, v: u32) -> bool {
        v < 192 && self.0[(v / 64) as usize] & (1u64 << (v % 64)) != 0
    }
    pub fn is_empty(&self) -> bool {
        self.0 == [0; 3]
    }
    /// Smallest member >= v.
    pub fn next_at_or_after(&self, v: u32) -> Option<u32> {
        let mut i = v / 64;
        if i >= 3 {
            return None;
        }
        let mut word = self.0[i as usize] & (u64::MAX << (v % 64));
        loop {
            if word != 0 {
                return Some(i * 64 + word.trailing_zeros());
            }
            i += 1;
            if i >= 3 {
                return None;
            }
            word = self.0[i as usize];
        }
    }
    /// Largest member <= v.
    pub fn prev_at_or_before(&self, v: u32) -> Option<u32> {
        let v = v.min(191);
        let mut i = v / 64;
        let shift = 63 - (v % 64);
        let mut word = self.0[i as usize] & (u64::MAX >> shift);
        loop {
            if word != 0 {
                return Some(i * 64 + 63 - word.leading_zeros());
            }
            if i == 0 {
                return None;
            }
            i -= 1;
            word = self.0[i as usize];
        }
    }
}

/// The day-of-month and day-of-week fields together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DaySpec {
    /// The day-of-month field places no restriction (`*`, `?`, or croniter's collapse rule).
    pub dom_star: bool,
    /// The day-of-week field places no restriction.
    pub dow_star: bool,
    /// Plain days of month, bits 1..=31.
    pub dom_days: u64,
    /// `L` and `L-n`: bit n set means "n days before the last day" (`L` is n = 0).
    pub dom_from_last: u32,
    /// `nW`: nearest weekday to day n (0 = none).
    pub dom_nearest_weekday: u8,
    /// `LW`: last weekday (Mon-Fri) of the month.
    pub dom_last_weekday: bool,
    /// Plain weekdays, bits 0 (Sunday) ..= 6.
    pub dow_days: u8,
    /// `d#n`: for weekday d, bits 1..=5 are the wanted occurrences.
    pub dow_nth: [u8; 7],
    /// `dL`: bit d set means the last such weekday of the month.
    pub dow_last: u8,
}

/// A parsed expression: one bitset per field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Spec {
    pub seconds: u64,
    pub minutes: u64,
    pub hours: u64,
    pub months: u64,
    pub days: DaySpec,
    /// `None` when there is no year field or it is `*`.
    pub years: Option<BitSet192>,
    /// Fixed wall-clock schedule: the second, minute and hour fields each name single values
    /// only (no `*`, range or step). Decides the DST policy (see `crate::cron`).
    pub fixed_time: bool,
    /// The expression has a seconds field (croniter's 6- or 7-field form).
    pub has_seconds: bool,
}

struct Ctx<'a> {
    expr: &'a str,
}

impl Ctx<'_> {
    fn err(&self, field: Option<Field>, msg: impl Into<String>) -> CronError {
        let msg = msg.into();
        // Quote very long input only in part.
        let expr = match self.expr.char_indices().nth(120) {
            Some((cut, _)) => format!("{}…", &self.expr[..cut]),
            None => self.expr.to_string(),
        };
        CronError {
            expr,
            message: match field {
                Some(f) => format!("{} field: {msg}", f.name()),
                None => msg,
            },
        }
    }
}

fn macro_expansion(token: &str) -> Option<&'static str> {
    Some(match token {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => return None,
    })
}

/// Byte-level helpers: fields are short ASCII strings, where these beat generic `char` patterns.
#[inline]
fn has(s: &str, b: u8) -> bool {
    s.bytes().any(|x| x == b)
}

#[inline]
fn split_at_byte(s: &str, b: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|x| x == b)?;
    Some((&s[..i], &s[i + 1..]))
}

/// Is `b` a field separator? croniter splits on ASCII whitespace.
#[inline]
fn is_sep(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\x0b'
}

/// Parse an expression. Never panics; every error names the field and the offending text.
pub fn parse(expr: &str) -> Result<Spec, CronError> {
    let ctx = Ctx { expr };
    if expr.len() > MAX_EXPR_LEN {
        return Err(ctx.err(
            None,
            format!("expression is longer than {MAX_EXPR_LEN} characters"),
        ));
    }
    // Names and letters compare in lower case; most expressions have none to fold.
    let lower: std::borrow::Cow<'_, str> = if expr.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(expr.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(expr)
    };
    let trimmed = lower.trim_matches(is_sep);
    let body: &str = if trimmed.starts_with('@') {
        match macro_expansion(trimmed) {
            Some(b) => b,
            None => {
                return Err(ctx.err(
                    None,
                    format!(
                        "unknown macro '{}' (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)",
                        trimmed
                    ),
                ))
            }
        }
    } else {
        trimmed
    };
    // Fields are separated by ASCII whitespace, as in croniter (`\S+` with re.ASCII).
    let mut buf = [""; 7];
    let mut count = 0;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if is_sep(char::from(bytes[i])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_sep(char::from(bytes[i])) {
            i += 1;
        }
        if count < 7 {
            // Separators are ASCII, so these are char boundaries.
            buf[count] = &body[start..i];
        }
        count += 1;
    }
    if !(5..=7).contains(&count) {
        return Err(ctx.err(
            None,
            format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), 6 (+ second) or 7 (+ second, year), got {count}"
            ),
        ));
    }
    let fields = &buf[..count];
    for f in fields {
        if let Some(bad) = f.chars().find(|&c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '*' | '?' | ',' | '-' | '/' | '#'))
        }) {
            let field = [
                Field::Minute,
                Field::Hour,
                Field::DayOfMonth,
                Field::Month,
                Field::DayOfWeek,
                Field::Second,
                Field::Year,
            ][fields.iter().position(|x| x == f).unwrap_or(0)];
            return Err(ctx.err(
                Some(field),
                format!("unexpected character {bad:?} in '{f}'"),
            ));
        }
    }

    let minutes = parse_simple(&ctx, Field::Minute, fields[0])?;
    let hours = parse_simple(&ctx, Field::Hour, fields[1])?;
    let months = parse_simple(&ctx, Field::Month, fields[3])?;
    let (seconds, has_seconds) = match fields.get(5) {
        Some(s) => (parse_simple(&ctx, Field::Second, s)?, true),
        None => (1u64, false),
    };
    let years = match fields.get(6) {
        Some(y) => parse_years(&ctx, y)?,
        None => None,
    };
    let mut days = parse_days(&ctx, fields[2], fields[4])?;
    // croniter collapses a day field with as many distinct entries as the field has values
    // (31; `L` counts as one) to `*`, unless the other day field is written without a `*` (then it
    // stays a restriction and the two are OR-ed).
    if !days.dom_star
        && (days.dom_days & FULL_DOM).count_ones() + (days.dom_from_last & 1) == 31
        && days.dom_from_last & !1 == 0
        && days.dom_nearest_weekday == 0
        && !days.dom_last_weekday
        && has(fields[4], b'*')
    {
        days.dom_star = true;
    }
    if !days.dow_star
        && days.dow_days == 0x7f
        && days.dow_last == 0
        && days.dow_nth == [0; 7]
        && has(fields[2], b'*')
    {
        days.dow_star = true;
    }
    let fixed_time = [fields[0], fields[1]]
        .iter()
        .chain(fields.get(5))
        .all(|f| !f.bytes().any(|b| matches!(b, b'*' | b'-' | b'/' | b'?')));
    let spec = Spec {
        seconds,
        minutes,
        hours,
        months,
        days,
        years,
        fixed_time,
        has_seconds,
    };
    check_satisfiable(&ctx, &spec, fields[2], fields[3], fields.get(6).copied())?;
    Ok(spec)
}

const FULL_DOM: u64 = 0xffff_fffe; // bits 1..=31

fn split_list<'a>(
    ctx: &Ctx<'_>,
    field: Field,
    text: &'a str,
) -> Result<std::str::Split<'a, char>, CronError> {
    if text.is_empty() || text.starts_with(',') || text.ends_with(',') || text.contains(",,") {
        return Err(ctx.err(Some(field), format!("empty list element in '{text}'")));
    }
    Ok(text.split(','))
}

/// A number or a name of this field (months, weekdays). Returns the raw value (7 stays 7).
fn parse_value(ctx: &Ctx<'_>, field: Field, tok: &str, whole: &str) -> Result<u32, CronError> {
    if tok.is_empty() {
        return Err(ctx.err(Some(field), format!("missing value in '{whole}'")));
    }
    if tok.bytes().all(|b| b.is_ascii_digit()) {
        let v: u32 = tok.parse().unwrap_or(u32::MAX);
        let (lo, _) = field.range();
        if v < lo || v > field.written_max() {
            return Err(ctx.err(
                Some(field),
                format!("{tok} is out of range {}", field.range_text()),
            ));
        }
        return Ok(v);
    }
    let names: &[&str] = match field {
        Field::Month => &MONTHS,
        Field::DayOfWeek => &WEEKDAYS,
        _ => &[],
    };
    if let Some(i) = names.iter().position(|n| *n == tok) {
        return Ok(if field == Field::Month {
            i as u32 + 1
        } else {
            i as u32
        });
    }
    let what = match field {
        Field::Month => "a month number or name (JAN-DEC)",
        Field::DayOfWeek => "a day-of-week number or name (SUN-SAT)",
        _ => "a number",
    };
    Err(ctx.err(Some(field), format!("'{tok}' is not {what} in '{whole}'")))
}

fn parse_step(ctx: &Ctx<'_>, field: Field, step: &str, whole: &str) -> Result<u32, CronError> {
    if step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ctx.err(
            Some(field),
            format!("step '{step}' is not a positive number in '{whole}'"),
        ));
    }
    let v: u32 = step.parse().unwrap_or(u32::MAX);
    if v == 0 {
        return Err(ctx.err(
            Some(field),
            format!("step 0 in '{whole}' must be at least 1"),
        ));
    }
    // One rule for every field and every element, wherever it stands in a list: a step is at
    // most one full cycle of the field.
    let (cycle, what) = field.cycle();
    if v > cycle {
        return Err(ctx.err(
            Some(field),
            format!(
                "step {v} in '{whole}' is larger than the {cycle} {what} (a step is at most one full cycle of the field)"
            ),
        ));
    }
    Ok(v)
}

/// One range-or-value element: `*`, `v`, `a-b`, with an optional `/step`. Calls `add` with each
/// value (day-of-week 7 folded to 0), expanding exactly as croniter 7 does.
fn expand_element(
    ctx: &Ctx<'_>,
    field: Field,
    elem: &str,
    whole: &str,
    add: &mut dyn FnMut(u32),
) -> Result<(), CronError> {
    let (lo_f, hi_f) = field.range();
    let (range_part, step) = match split_at_byte(elem, b'/') {
        Some((r, s)) => (r, Some(parse_step(ctx, field, s, whole)?)),
        None => (elem, None),
    };
    let fold = |v: u32| {
        if field == Field::DayOfWeek && v == 7 {
            0
        } else {
            v
        }
    };
    let mut emit = |from: u32, to: u32, step: u32| {
        let mut v = from;
        while v <= to {
            add(v);
            v += step;
        }
    };
    if range_part == "*" {
        emit(lo_f, hi_f, step.unwrap_or(1));
        return Ok(());
    }
    if let Some((a, b)) = split_at_byte(range_part, b'-') {
        let a_raw = parse_value(ctx, field, a, whole)?;
        let b_raw = if field == Field::DayOfMonth && b == "l" {
            31
        } else {
            parse_value(ctx, field, b, whole)?
        };
        let step = step.unwrap_or(1);
        let (low, high) = (fold(a_raw), fold(b_raw));
        if a_raw == b_raw {
            // Deliberate difference from croniter, which reads `5-5` as the whole field.
            emit(low, low, 1);
        } else if low == high {
            // `0-7` in day-of-week: every day, as croniter reads it.
            emit(lo_f, hi_f, step);
        } else if low < high {
            emit(low, high, step);
        } else {
            // Wrapping range (`FRI-MON`, `22-2`): croniter's expansion, step phase included.
            emit(low, hi_f, step);
            let last = low + (hi_f - low) / step * step;
            let already_skipped = hi_f - last;
            let curpos = last - lo_f;
            let to_skip = if curpos + step > hi_f - lo_f + 1 && already_skipped < step {
                step - already_skipped
            } else {
                0
            };
            emit(lo_f + to_skip, high, step);
        }
        return Ok(());
    }
    let v = parse_value(ctx, field, range_part, whole)?;
    match step {
        // `5/15` means 5-max/15, max as written: day-of-week `5/2` is 5-7/2, Friday and Sunday.
        Some(step) => {
            let mut x = v;
            while x <= field.written_max() {
                add(fold(x));
                x += step;
            }
        }
        None => add(fold(v)),
    }
    Ok(())
}

fn parse_simple(ctx: &Ctx<'_>, field: Field, text: &str) -> Result<u64, CronError> {
    let mut bits = 0u64;
    for elem in split_list(ctx, field, text)? {
        if elem == "?" {
            return Err(ctx.err(
                Some(field),
                "'?' is only allowed in the day-of-month and day-of-week fields",
            ));
        }
        expand_element(ctx, field, elem, text, &mut |v| bits |= 1u64 << v)?;
    }
    Ok(bits)
}

fn parse_years(ctx: &Ctx<'_>, text: &str) -> Result<Option<BitSet192>, CronError> {
    if text == "*" {
        return Ok(None);
    }
    let mut set = BitSet192::default();
    for elem in split_list(ctx, Field::Year, text)? {
        expand_element(ctx, Field::Year, elem, text, &mut |v| {
            set.insert(v - YEAR_MIN)
        })?;
    }
    // A year field that lists every year is `*`, as croniter reads it (so it runs on past 2099).
    if (YEAR_MIN..=YEAR_MAX).all(|y| set.contains(y - YEAR_MIN)) {
        return Ok(None);
    }
    Ok(Some(set))
}

fn parse_days(ctx: &Ctx<'_>, dom_text: &str, dow_text: &str) -> Result<DaySpec, CronError> {
    let mut d = DaySpec::default();
    // Day of month.
    // A `*` anywhere in a day field's list leaves that field unrestricted (croniter 7); the
    // list's other elements are still checked, by the same rules as anywhere else.
    let star_in = |text: &str| has(text, b'*') && text.split(',').any(|e| e == "*");
    if dom_text == "?" {
        d.dom_star = true;
    } else {
        let f = Field::DayOfMonth;
        for elem in split_list(ctx, f, dom_text)? {
            if elem == "?" {
                return Err(ctx.err(
                    Some(f),
                    format!("'?' cannot be combined with other values in '{dom_text}'"),
                ));
            }
            if elem == "l" {
                d.dom_from_last |= 1;
            } else if let Some(n) = elem.strip_prefix("l-") {
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(
                        ctx.err(Some(f), format!("'{elem}' must be L-n with n from 0 to 30"))
                    );
                }
                let n: u32 = n.parse().unwrap_or(u32::MAX);
                if n > 30 {
                    return Err(
                        ctx.err(Some(f), format!("'{elem}' must be L-n with n from 0 to 30"))
                    );
                }
                d.dom_from_last |= 1 << n;
            } else if elem == "lw" || elem.ends_with('w') || elem.starts_with('w') {
                if has(dom_text, b',') {
                    return Err(ctx.err(
                        Some(f),
                        format!("'W' can only be used with a single day value, not in a list: '{dom_text}'"),
                    ));
                }
                if elem == "lw" {
                    d.dom_last_weekday = true;
                } else {
                    // `15W`, or croniter's `W15`.
                    let n = elem
                        .strip_suffix('w')
                        .or_else(|| elem.strip_prefix('w'))
                        .unwrap_or(elem);
                    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(ctx.err(
                            Some(f),
                            format!("'{elem}' must be nW with n a day from 1 to 31, or LW"),
                        ));
                    }
                    let v = parse_value(ctx, f, n, dom_text)?;
                    d.dom_nearest_weekday = v as u8;
                }
            } else {
                expand_element(ctx, f, elem, dom_text, &mut |v| d.dom_days |= 1u64 << v)?;
            }
        }
    }
    if star_in(dom_text) {
        d = DaySpec {
            dom_star: true,
            ..DaySpec::default()
        };
    }
    // Day of week.
    if dow_text == "?" {
        d.dow_star = true;
    } else {
        let f = Field::DayOfWeek;
        for elem in split_list(ctx, f, dow_text)? {
            if elem == "?" {
                return Err(ctx.err(
                    Some(f),
                    format!("'?' cannot be combined with other values in '{dow_text}'"),
                ));
            }
            if let Some((days, nth)) = split_at_byte(elem, b'#') {
                let n_ok = nth.len() == 1 && (b'1'..=b'5').contains(&nth.as_bytes()[0]);
                if !n_ok {
                    return Err(ctx.err(
                        Some(f),
                        format!("'#{nth}' in '{elem}' must be #1 to #5 (the nth such weekday of the month)"),
                    ));
                }
                let n = u32::from(nth.as_bytes()[0] - b'0');
                if has(days, b'/') {
                    return Err(ctx.err(
                        Some(f),
                        format!("a step cannot be combined with '#' in '{elem}'"),
                    ));
                }
                let nth = &mut d.dow_nth;
                expand_element(ctx, f, days, dow_text, &mut |v| nth[v as usize] |= 1 << n)?;
            } else if elem.len() > 1 && (elem.ends_with('l') || elem.starts_with('l')) {
                // `5L` / `FRIL` (Quartz) and `L5` (croniter): the last such weekday of the month.
                let day = elem
                    .strip_suffix('l')
                    .or_else(|| elem.strip_prefix('l'))
                    .unwrap_or(elem);
                let v = parse_value(ctx, f, day, dow_text)?;
                d.dow_last |= 1 << (if v == 7 { 0 } else { v });
            } else {
                expand_element(ctx, f, elem, dow_text, &mut |v| d.dow_days |= 1 << v)?;
            }
        }
    }
    if star_in(dow_text) {
        d = DaySpec {
            dow_star: true,
            dow_days: 0,
            dow_nth: [0; 7],
            dow_last: 0,
            ..d
        };
    }
    Ok(d)
}

/// Reject expressions that name no date at all (`0 0 30 2 *`), so that no search can run
/// forever. A day-of-week rule always matches some date (a fifth weekday in February recurs
/// within 28 years); a day-of-month-only rule needs a listed month long enough for it.
fn check_satisfiable(
    ctx: &Ctx<'_>,
    spec: &Spec,
    dom_text: &str,
    month_text: &str,
    year_text: Option<&str>,
) -> Result<(), CronError> {
    if spec.years.is_some() {
        return check_years(ctx, spec, year_text);
    }
    let d = &spec.days;
    if d.dom_star || !d.dow_star || d.dom_last_weekday || d.dom_nearest_weekday != 0 {
        return Ok(());
    }
    let max_len = (1..=12u32)
        .filter(|m| spec.months & (1 << m) != 0)
        .map(|m| u32::from(crate::civil::days_in_month(2000, m as u8)))
        .max()
        .unwrap_or(0);
    let plain_ok = (1..=max_len).any(|v| d.dom_days & (1 << v) != 0);
    let from_last_ok = (0..max_len).any(|n| d.dom_from_last & (1 << n) != 0);
    if plain_ok || from_last_ok {
        return Ok(());
    }
    Err(ctx.err(
        None,
        format!("the expression can never fire: day-of-month '{dom_text}' never occurs in month '{month_text}'"),
    ))
}

fn check_years(ctx: &Ctx<'_>, spec: &Spec, year_text: Option<&str>) -> Result<(), CronError> {
    if let Some(years) = spec.years {
        if years.is_empty() {
            return Err(ctx.err(
                Some(Field::Year),
                format!("no year in '{}'", year_text.unwrap_or("")),
            ));
        }
        // With explicit years, confirm by search that some date in them matches.
        let lo = crate::civil::days_from_civil(YEAR_MIN as i32, 1, 1) * 86_400;
        let hi = crate::civil::days_from_civil(YEAR_MAX as i32 + 1, 1, 1) * 86_400 - 1;
        if super::search::next_civil(spec, lo, hi).is_none() {
            return Err(ctx.err(
                None,
                format!(
                    "the expression can never fire: no date in year '{}' matches its other fields",
                    year_text.unwrap_or("*")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(e: &str) -> String {
        parse(e).unwrap_err().to_string()
    }

    #[test]
    fn error_messages_name_field_and_text() {
        assert_eq!(
            msg("61 * * * *"),
            "minute field: 61 is out of range 0-59 in '61 * * * *'"
        );
        assert!(msg("* 24 * * *").starts_with("hour field: 24 is out of range 0-23"));
        assert!(msg("* * * FOO *").contains("month field: 'foo' is not a month number or name"));
        assert!(msg("*/0 * * * *").contains("minute field: step 0"));
        assert!(msg("* * * *").contains("expected 5 fields"));
        assert!(msg("@sometimes").contains("unknown macro"));
        assert!(msg("0 0 30 2 *").contains("can never fire"));
        assert!(msg("0 0 * * 5#6").contains("#1 to #5"));
        assert!(msg("0 ? * * *").contains("'?' is only allowed"));
        assert!(msg("0 0 1W,2 * *").contains("single day value"));
        assert!(msg("1,,2 * * * *").contains("empty list element"));
        assert!(msg("0 0 29 2 * 0 2025-2027").contains("can never fire"));
    }

    #[test]
    fn one_step_rule_for_every_field_and_every_list() {
        // A step is at most one full cycle of its field, in every field...
        for ok in [
            "*/60 * * * *",
            "0 */24 * * *",
            "0 0 */31 * *",
            "0 0 1 */12 *",
            "0 0 * * */7",
            "* * * * * */60",
            "0 0 1 1 * 0 */130",
            "0 0 12-28/31 * *",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        let rule = "(a step is at most one full cycle of the field)";
        for (bad, want) in [
            ("*/61 * * * *", "minute field: step 61 in '*/61' is larger than the 60 minutes in an hour"),
            ("0 */25 * * *", "hour field: step 25 in '*/25' is larger than the 24 hours in a day"),
            ("0 0 12-28/34 * *", "day-of-month field: step 34 in '12-28/34' is larger than the 31 days in the longest month"),
            ("0 0 1 */13 *", "month field: step 13 in '*/13' is larger than the 12 months in a year"),
            ("0 0 * * */8", "day-of-week field: step 8 in '*/8' is larger than the 7 days in a week"),
            ("* * * * * */61", "second field: step 61 in '*/61' is larger than the 60 seconds in a minute"),
            ("0 0 1 1 * 0 */131", "year field: step 131 in '*/131' is larger than the 130 years in the range 1970-2099"),
        ] {
            assert_eq!(msg(bad), format!("{want} {rule} in '{bad}'"));
        }
        // ...and wherever the element stands: a `*` elsewhere in a day field's list makes the
        // field unrestricted, but does not excuse its other elements.
        assert_eq!(
            msg("0 0 12-28/34,* * *"),
            format!("day-of-month field: step 34 in '12-28/34,*' is larger than the 31 days in the longest month {rule} in '0 0 12-28/34,* * *'")
        );
        assert!(msg("0 0 * * */8,*").starts_with("day-of-week field: step 8 in '*/8,*'"));
        assert!(msg("0 0 32,* * *").contains("32 is out of range 1-31"));
        assert!(msg("0 0 * * 8,*").contains("8 is out of range 0-7"));
        assert!(msg("0 0 1W,* * *").contains("single day value"));
        assert!(msg("0 0 * * 5#6,*").contains("#1 to #5"));
        // The `*` still wins once the list is valid, and the spec is the same as for `*` alone.
        assert_eq!(parse("0 0 1-5,* * 1").unwrap(), parse("0 0 * * 1").unwrap());
        assert_eq!(parse("0 0 * * 1-5,*").unwrap(), parse("0 0 * * *").unwrap());
        assert_eq!(
            parse("0 0 5 * MON#2,*").unwrap(),
            parse("0 0 5 * *").unwrap()
        );
    }

    #[test]
    fn day_of_week_start_with_step_runs_to_seven() {
        let dow = |e: &str| parse(&format!("0 0 * * {e}")).unwrap().days.dow_days;
        // `N/step` is `N-7/step`, 7 being Sunday again.
        assert_eq!(dow("5/2"), 1 << 5 | 1);
        assert_eq!(dow("FRI/2"), dow("5-7/2"));
        assert_eq!(dow("5/2"), dow("5-7/2"));
        assert_eq!(dow("6/1"), 1 << 6 | 1);
        assert_eq!(dow("7/2"), 1);
        assert_eq!(dow("7/1"), 1);
        assert_eq!(dow("0/7"), 1);
        assert_eq!(dow("1/3"), 1 << 1 | 1 << 4 | 1);
        assert_eq!(dow("2/3"), 1 << 2 | 1 << 5);
        assert_eq!(dow("SUN/2"), 1 | 1 << 2 | 1 << 4 | 1 << 6);
        assert_eq!(dow("5/7"), 1 << 5);
        assert!(msg("0 0 * * 5/15").contains("step 15 in '5/15' is larger than the 7 days"));
    }

    #[test]
    fn fields_expand_like_croniter() {
        let s = parse("*/15 9-17 * * MON-FRI").unwrap();
        assert_eq!(s.minutes, 1 | 1 << 15 | 1 << 30 | 1 << 45);
        assert_eq!(s.hours, (9..=17).fold(0, |a, h| a | 1 << h));
        assert_eq!(s.days.dow_days, 0b0111110);
        assert!(s.days.dom_star && !s.days.dow_star);
        assert!(!s.fixed_time);
        let s = parse("0 22-2/2 * * *").unwrap();
        assert_eq!(s.hours, 1 << 22 | 1 | 1 << 2);
        let s = parse("0 0 * * 5-7").unwrap();
        assert_eq!(s.days.dow_days, 1 | 1 << 5 | 1 << 6);
        let s = parse("0 0 * * 0-7").unwrap();
        assert!(s.days.dow_star || s.days.dow_days == 0x7f);
        let s = parse("5/15 * * * *").unwrap();
        assert_eq!(s.minutes, 1 << 5 | 1 << 20 | 1 << 35 | 1 << 50);
        assert!(parse("0 9 * * *").unwrap().fixed_time);
        assert!(!parse("0 * * * *").unwrap().fixed_time);
        assert!(parse("@daily").unwrap().fixed_time);
        let s = parse("*/10 * * * * 15").unwrap();
        assert_eq!(s.seconds, 1 << 15);
    }
}
