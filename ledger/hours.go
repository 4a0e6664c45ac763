package ledger

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Business hours and quiet hours are wall-clock times in a line's time
// zone: "09:00-17:00" means 9 to 5 on the office clock, whatever the UTC
// offset that day. On a daylight-saving change the skipped hour never
// happens and the repeated hour happens twice, as on the office clock.

const minutesPerDay = 24 * 60

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// ParseHours builds a line's Hours from its time zone (an IANA name such
// as "America/New_York"; "" is UTC) and per-day specs:
//
//	{"mon-fri": ["08:30-12:00", "13:00-18:00"], "sat": ["09:00-12:00"], "sun": []}
//
// A key names days: "mon", "monday", a range "mon-fri" (which may wrap,
// "fri-mon"), or a comma list "mon,wed,fri-sat"; case does not matter.
// A value lists the open intervals "HH:MM-HH:MM" of each of those days,
// end after start, "24:00" for midnight at the end; intervals may not
// overlap. A day with no intervals, and a day no key names, is closed;
// no keys at all means always open. A day named by two keys is an error.
// Errors name the entry.
func ParseHours(tz string, spec map[string][]string) (Hours, error) {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return Hours{}, fmt.Errorf("time zone %q: %w", tz, err)
	}
	h := Hours{Location: loc}
	if len(spec) == 0 {
		return h, nil
	}
	h.Open = make(map[time.Weekday][]Interval, 7)
	keys := make([]string, 0, len(spec))
	for k := range spec {
		keys = append(keys, k)
	}
	slices.Sort(keys) // errors do not depend on map order
	from := map[time.Weekday]string{}
	for _, key := range keys {
		days, err := parseDays(key)
		if err != nil {
			return Hours{}, fmt.Errorf("hours %q: %w", key, err)
		}
		ivs := make([]Interval, 0, len(spec[key]))
		for _, s := range spec[key] {
			iv, err := parseInterval(s)
			if err != nil {
				return Hours{}, fmt.Errorf("hours %q: %q: %w", key, s, err)
			}
			ivs = append(ivs, iv)
		}
		slices.SortFunc(ivs, func(a, b Interval) int { return a.Start - b.Start })
		for i := 1; i < len(ivs); i++ {
			if ivs[i].Start < ivs[i-1].End {
				return Hours{}, fmt.Errorf("hours %q: %s and %s overlap", key, ivs[i-1], ivs[i])
			}
		}
		for _, d := range days {
			if other, ok := from[d]; ok {
				return Hours{}, fmt.Errorf("hours %q: %s is also in %q", key, strings.ToLower(d.String()[:3]), other)
			}
			from[d] = key
			h.Open[d] = slices.Clone(ivs)
		}
	}
	return h, nil
}

// parseDays reads "mon", "mon-fri", "mon,wed,fri-sun".
func parseDays(key string) ([]time.Weekday, error) {
	var days []time.Weekday
	seen := map[time.Weekday]bool{}
	for _, part := range strings.Split(key, ",") {
		first, last, isRange := strings.Cut(part, "-")
		a, err := parseWeekday(first)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parseWeekday(last); err != nil {
				return nil, err
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			if seen[d] {
				return nil, fmt.Errorf("%s named twice", strings.ToLower(d.String()[:3]))
			}
			seen[d] = true
			days = append(days, d)
			if d == b {
				break
			}
		}
	}
	return days, nil
}

func parseWeekday(s string) (time.Weekday, error) {
	d, ok := weekdays[strings.ToLower(strings.TrimSpace(s))]
	if !ok {
		return 0, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat or sun)", strings.TrimSpace(s))
	}
	return d, nil
}

// parseInterval reads "09:00-17:00".
func parseInterval(s string) (Interval, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Interval{}, errors.New(`want "HH:MM-HH:MM"`)
	}
	start, err := ParseClock(a)
	if err != nil {
		return Interval{}, err
	}
	end, err := ParseClock(b)
	if err != nil {
		return Interval{}, err
	}
	if start == minutesPerDay {
		return Interval{}, errors.New("24:00 can only end an interval")
	}
	if end <= start {
		return Interval{}, errors.New("the end must be after the start; split hours past midnight across two days")
	}
	return Interval{Start: start, End: end}, nil
}

// String formats an interval as ParseHours reads it: "09:00-17:00".
func (iv Interval) String() string {
	return formatClock(iv.Start) + "-" + formatClock(iv.End)
}

func formatClock(m int) string {
	return fmt.Sprintf("%02d:%02d", m/60, m%60)
}

// ParseClock reads a wall-clock time "HH:MM" (24-hour, "8:30" also
// accepted) as minutes since midnight: "21:00" is 1260. "24:00" is 1440,
// the midnight that ends a day.
func ParseClock(s string) (int, error) {
	s = strings.TrimSpace(s)
	hs, ms, ok := strings.Cut(s, ":")
	if !ok || len(hs) < 1 || len(hs) > 2 || len(ms) != 2 || !allDigits(hs) || !allDigits(ms) {
		return 0, fmt.Errorf("clock time %q: want HH:MM", s)
	}
	h, _ := strconv.Atoi(hs)
	m, _ := strconv.Atoi(ms)
	switch {
	case h == 24 && m == 0:
		return minutesPerDay, nil
	case h > 23 || m > 59:
		return 0, fmt.Errorf("clock time %q: out of range", s)
	}
	return h*60 + m, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsOpen reports whether the business is open at t: whether t's wall
// clock time in h.Location falls in one of that weekday's intervals
// [Start, End). An empty Open means always open; a nil Location is UTC.
func (h Hours) IsOpen(t time.Time) bool {
	if len(h.Open) == 0 {
		return true
	}
	loc := h.Location
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	for _, iv := range h.Open[lt.Weekday()] {
		if iv.Start <= m && m < iv.End {
			return true
		}
	}
	return false
}

// InQuiet reports whether t's wall-clock time in loc (nil: UTC) falls in
// the quiet window [start, end), minutes since midnight. The window may
// wrap midnight (21:00 to 08:00 is start 1260, end 480); start == end
// means no quiet hours. Values are taken modulo a day, so 1440 is
// midnight.
func InQuiet(t time.Time, loc *time.Location, start, end int) bool {
	start, end = clockMod(start), clockMod(end)
	if start == end {
		return false
	}
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	if start < end {
		return start <= m && m < end
	}
	return m >= start || m < end
}

// QuietEnds returns when the quiet window around t ends: the first instant
// at or after t that is not in quiet hours (see InQuiet). That is t
// itself when t is not in quiet hours. Usually it is the day's end time
// on the wall clock; on a daylight-saving change it can be the change
// itself (the clock jumps past the end, or back before the start), and
// when the clock goes back into the window the window runs again.
func QuietEnds(t time.Time, loc *time.Location, start, end int) time.Time {
	if !InQuiet(t, loc, start, end) {
		return t
	}
	if loc == nil {
		loc = time.UTC
	}
	end = clockMod(end)
	lt := t.In(loc)
	best := time.Time{}
	consider := func(c time.Time) {
		if !c.Before(t) && !InQuiet(c, loc, start, end) && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	// The wall clock reaches the end time: on the day of t or the next (a
	// window is shorter than a day; the days around are for zones that
	// change at midnight), at either instant when that wall time happens
	// twice.
	for d := -1; d <= 2; d++ {
		c := time.Date(lt.Year(), lt.Month(), lt.Day()+d, end/60, end%60, 0, 0, loc)
		consider(c)
		_, off := c.Zone()
		zs, ze := c.ZoneBounds()
		for _, z := range []time.Time{zs, ze} {
			if z.IsZero() {
				continue
			}
			if z.Equal(zs) {
				z = z.Add(-time.Nanosecond) // in the zone before c's
			}
			if _, zoff := z.Zone(); zoff != off {
				if other := c.Add(time.Duration(off-zoff) * time.Second); sameWallClock(other.In(loc), c) {
					consider(other)
				}
			}
		}
	}
	// The clock jumps out of the window at a zone change.
	for z, i := t, 0; i < 4; i++ {
		_, next := z.In(loc).ZoneBounds()
		if next.IsZero() || next.Sub(t) > 72*time.Hour {
			break
		}
		consider(next)
		z = next
	}
	if best.IsZero() { // cannot happen: every window ends within a day
		return t.Add(time.Duration(minutesPerDay-clockMod(start)+end) * time.Minute)
	}
	return best
}

func sameWallClock(a, b time.Time) bool {
	return a.Hour() == b.Hour() && a.Minute() == b.Minute() && a.Day() == b.Day()
}

func clockMod(m int) int {
	m %= minutesPerDay
	if m < 0 {
		m += minutesPerDay
	}
	return m
}
