package ledger

import (
	"strings"
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

func TestParseClock(t *testing.T) {
	for s, want := range map[string]int{
		"00:00": 0, "08:00": 480, "8:30": 510, "21:00": 1260, "23:59": 1439, "24:00": 1440, " 09:15 ": 555,
	} {
		if got, err := ParseClock(s); err != nil || got != want {
			t.Errorf("ParseClock(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "9", "900", "09:0", "09:000", "24:01", "25:00", "12:60", "-1:00", "+9:00", "9:00am", "09.00", "１２:００", "123:00"} {
		if got, err := ParseClock(s); err == nil {
			t.Errorf("ParseClock(%q) = %d, want an error", s, got)
		} else if !strings.Contains(err.Error(), "clock time") {
			t.Errorf("ParseClock(%q): error %q does not say what it parsed", s, err)
		}
	}
}

func TestParseHours(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	t.Run("Week", func(t *testing.T) {
		h, err := ParseHours("America/New_York", map[string][]string{
			"mon":     {"09:00-17:00"},
			"tue-fri": {"13:00-18:00", "08:30-12:00"},
			"sat":     {},
		})
		if err != nil {
			t.Fatal(err)
		}
		if h.Location.String() != ny.String() {
			t.Errorf("location %s", h.Location)
		}
		want := map[time.Weekday][]Interval{
			time.Monday:    {{540, 1020}},
			time.Tuesday:   {{510, 720}, {780, 1080}},
			time.Wednesday: {{510, 720}, {780, 1080}},
			time.Thursday:  {{510, 720}, {780, 1080}},
			time.Friday:    {{510, 720}, {780, 1080}},
			time.Saturday:  {},
		}
		if len(h.Open) != len(want) {
			t.Fatalf("Open = %v, want %v", h.Open, want)
		}
		for d, ivs := range want {
			got, ok := h.Open[d]
			if !ok || len(got) != len(ivs) {
				t.Fatalf("%s: %v, want %v", d, got, ivs)
			}
			for i := range ivs {
				if got[i] != ivs[i] {
					t.Fatalf("%s: %v, want %v", d, got, ivs)
				}
			}
		}
	})
	t.Run("Lists", func(t *testing.T) {
		h, err := ParseHours("", map[string][]string{"Mon,WED,fri-Sun": {"10:00-24:00"}})
		if err != nil {
			t.Fatal(err)
		}
		if h.Location != time.UTC || len(h.Open) != 5 || h.Open[time.Sunday][0] != (Interval{600, 1440}) || h.Open[time.Tuesday] != nil {
			t.Fatalf("ParseHours = %+v", h)
		}
	})
	t.Run("WrappingRange", func(t *testing.T) {
		h, err := ParseHours("UTC", map[string][]string{"fri-mon": {"10:00-12:00"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Open) != 4 || h.Open[time.Saturday] == nil || h.Open[time.Tuesday] != nil {
			t.Fatalf("ParseHours = %+v", h)
		}
	})
	t.Run("EmptyIsAlwaysOpen", func(t *testing.T) {
		h, err := ParseHours("Europe/London", nil)
		if err != nil || len(h.Open) != 0 || !h.IsOpen(time.Date(2026, 1, 4, 3, 0, 0, 0, time.UTC)) {
			t.Fatalf("ParseHours = %+v, %v", h, err)
		}
	})
	t.Run("AllClosed", func(t *testing.T) {
		h, err := ParseHours("UTC", map[string][]string{"mon-sun": nil})
		if err != nil {
			t.Fatal(err)
		}
		if h.IsOpen(time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)) {
			t.Fatal("open on a closed week")
		}
	})
	for _, tt := range []struct {
		name string
		tz   string
		spec map[string][]string
		want string
	}{
		{"BadZone", "Mars/Olympus", nil, `time zone "Mars/Olympus"`},
		{"BadDay", "UTC", map[string][]string{"mon-fry": {"09:00-17:00"}}, `hours "mon-fry": unknown day "fry"`},
		{"EmptyDay", "UTC", map[string][]string{"": {"09:00-17:00"}}, `hours "": unknown day ""`},
		{"BadClock", "UTC", map[string][]string{"mon": {"09:00-17:60"}}, `hours "mon": "09:00-17:60": clock time "17:60": out of range`},
		{"NoDash", "UTC", map[string][]string{"tue": {"09:00"}}, `hours "tue": "09:00": want "HH:MM-HH:MM"`},
		{"Backwards", "UTC", map[string][]string{"wed": {"17:00-09:00"}}, `hours "wed": "17:00-09:00": the end must be after the start`},
		{"Empty", "UTC", map[string][]string{"wed": {"09:00-09:00"}}, `the end must be after the start`},
		{"StartAt24", "UTC", map[string][]string{"wed": {"24:00-24:00"}}, `24:00 can only end an interval`},
		{"Overlap", "UTC", map[string][]string{"thu": {"09:00-12:00", "11:00-13:00"}}, `hours "thu": 09:00-12:00 and 11:00-13:00 overlap`},
		{"DayTwice", "UTC", map[string][]string{"mon-fri": {"09:00-17:00"}, "fri": {"09:00-12:00"}}, `hours "mon-fri": fri is also in "fri"`},
		{"DayTwiceInKey", "UTC", map[string][]string{"mon,mon": {"09:00-17:00"}}, `hours "mon,mon": mon named twice`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHours(tt.tz, tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseHours = %+v, %v; want an error containing %q", h, err, tt.want)
			}
		})
	}
}

func TestHours_IsOpen(t *testing.T) {
	h, err := ParseHours("Europe/London", map[string][]string{"mon-fri": {"09:00-12:00", "13:00-17:30"}, "sat": {"10:00-24:00"}})
	if err != nil {
		t.Fatal(err)
	}
	london := h.Location
	for _, tt := range []struct {
		name string
		t    time.Time
		want bool
	}{
		{"MondayMorning", time.Date(2026, 1, 5, 9, 0, 0, 0, london), true},
		{"BeforeOpening", time.Date(2026, 1, 5, 8, 59, 59, 0, london), false},
		{"Lunch", time.Date(2026, 1, 5, 12, 0, 0, 0, london), false},
		{"LastSecond", time.Date(2026, 1, 5, 17, 29, 59, 0, london), true},
		{"Closing", time.Date(2026, 1, 5, 17, 30, 0, 0, london), false},
		{"SaturdayLate", time.Date(2026, 1, 10, 23, 59, 0, 0, london), true},
		{"Sunday", time.Date(2026, 1, 11, 12, 0, 0, 0, london), false},
		// The instant is what counts, whatever zone it is given in.
		{"NewYorkInstant", time.Date(2026, 1, 5, 4, 30, 0, 0, mustLoad(t, "America/New_York")), true}, // 09:30 GMT
		// Summer time: 08:30 UTC is 09:30 BST in July, 08:30 GMT in January.
		{"SummerUTC", time.Date(2026, 7, 6, 8, 30, 0, 0, time.UTC), true},
		{"WinterUTC", time.Date(2026, 1, 5, 8, 30, 0, 0, time.UTC), false},
		// The Monday after the spring change (29 March 2026).
		{"AfterSpringChange", time.Date(2026, 3, 30, 8, 0, 0, 0, time.UTC), true},
		{"BeforeSpringChange", time.Date(2026, 3, 27, 8, 30, 0, 0, time.UTC), false},
	} {
		if got := h.IsOpen(tt.t); got != tt.want {
			t.Errorf("%s: IsOpen(%s) = %v, want %v", tt.name, tt.t.In(london), got, tt.want)
		}
	}
	if !(Hours{}).IsOpen(time.Now()) {
		t.Error("zero Hours is not always open")
	}
	utc := Hours{Open: map[time.Weekday][]Interval{time.Monday: {{0, 60}}}} // nil Location: UTC
	if !utc.IsOpen(time.Date(2026, 1, 5, 0, 30, 0, 0, time.UTC)) || utc.IsOpen(time.Date(2026, 1, 5, 1, 0, 0, 0, time.UTC)) {
		t.Error("nil Location is not UTC")
	}
}

func TestInQuiet(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	at := func(h, m int) time.Time { return time.Date(2026, 6, 10, h, m, 0, 0, ny) }
	for _, tt := range []struct {
		name       string
		t          time.Time
		start, end int
		want       bool
	}{
		{"WrapEvening", at(21, 0), 1260, 480, true},
		{"WrapBeforeStart", at(20, 59), 1260, 480, false},
		{"WrapMidnight", at(0, 0), 1260, 480, true},
		{"WrapMorning", at(7, 59), 1260, 480, true},
		{"WrapEnd", at(8, 0), 1260, 480, false},
		{"WrapDay", at(12, 0), 1260, 480, false},
		{"Plain", at(13, 0), 720, 840, true},
		{"PlainEnd", at(14, 0), 720, 840, false},
		{"PlainBefore", at(11, 59), 720, 840, false},
		{"NoQuietHours", at(22, 0), 600, 600, false},
		{"UntilMidnight1440", at(23, 0), 1260, 1440, true},
		{"UntilMidnight0", at(23, 59), 1260, 0, true},
		{"AfterMidnight0", at(0, 0), 1260, 0, false},
		{"OtherZoneInstant", time.Date(2026, 6, 11, 1, 30, 0, 0, time.UTC), 1260, 480, true}, // 21:30 EDT
		{"OtherZoneInstantDay", time.Date(2026, 6, 10, 15, 0, 0, 0, time.UTC), 1260, 480, false},
	} {
		if got := InQuiet(tt.t, ny, tt.start, tt.end); got != tt.want {
			t.Errorf("%s: InQuiet(%s, %d, %d) = %v, want %v", tt.name, tt.t.In(ny), tt.start, tt.end, got, tt.want)
		}
	}
	if !InQuiet(time.Date(2026, 6, 10, 22, 0, 0, 0, time.UTC), nil, 1260, 480) {
		t.Error("nil location is not UTC")
	}
}

func TestQuietEnds(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	london := mustLoad(t, "Europe/London")
	for _, tt := range []struct {
		name       string
		loc        *time.Location
		t          time.Time
		start, end int
		want       time.Time
	}{
		{"Evening", ny, time.Date(2026, 6, 10, 22, 15, 30, 0, ny), 1260, 480, time.Date(2026, 6, 11, 8, 0, 0, 0, ny)},
		{"Morning", ny, time.Date(2026, 6, 11, 3, 0, 0, 0, ny), 1260, 480, time.Date(2026, 6, 11, 8, 0, 0, 0, ny)},
		{"NotQuiet", ny, time.Date(2026, 6, 11, 12, 0, 0, 0, ny), 1260, 480, time.Date(2026, 6, 11, 12, 0, 0, 0, ny)},
		{"NoQuietHours", ny, time.Date(2026, 6, 11, 3, 0, 0, 0, ny), 0, 0, time.Date(2026, 6, 11, 3, 0, 0, 0, ny)},
		{"Plain", ny, time.Date(2026, 6, 11, 12, 30, 0, 0, ny), 720, 840, time.Date(2026, 6, 11, 14, 0, 0, 0, ny)},
		{"UntilMidnight", ny, time.Date(2026, 6, 11, 23, 30, 0, 0, ny), 1260, 1440, time.Date(2026, 6, 12, 0, 0, 0, 0, ny)},
		{"NilLocation", nil, time.Date(2026, 6, 11, 23, 0, 0, 0, time.UTC), 1260, 480, time.Date(2026, 6, 12, 8, 0, 0, 0, time.UTC)},
		// The night of a spring change is an hour shorter: 21:00 EST to
		// 08:00 EDT is 10 hours.
		{"NewYorkSpring", ny, time.Date(2026, 3, 7, 21, 0, 0, 0, ny), 1260, 480, time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)},
		{"NewYorkFall", ny, time.Date(2026, 10, 31, 21, 0, 0, 0, ny), 1260, 480, time.Date(2026, 11, 1, 13, 0, 0, 0, time.UTC)},
		{"LondonSpring", london, time.Date(2026, 3, 28, 23, 0, 0, 0, london), 1260, 480, time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC)},
		{"LondonAutumn", london, time.Date(2026, 10, 24, 23, 0, 0, 0, london), 1260, 480, time.Date(2026, 10, 25, 8, 0, 0, 0, time.UTC)},
		// The end time falls in the skipped hour (02:00-03:00 EST/EDT): the
		// window ends when the clock jumps, at 03:00 EDT.
		{"EndInSpringGap", ny, time.Date(2026, 3, 8, 1, 0, 0, 0, ny), 1260, 150, time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)},
		// The end time happens twice (01:30 EDT, then 01:30 EST): from
		// before the change the first, from the repeated hour the second.
		{"EndRepeatedFirst", ny, time.Date(2026, 11, 1, 0, 30, 0, 0, ny), 1260, 90, time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)},
		{"EndRepeatedSecond", ny, time.Date(2026, 11, 1, 6, 10, 0, 0, time.UTC), 1260, 90, time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC)},
		// Quiet 01:30-03:00: at 02:00 EDT the clock goes back to 01:00
		// EST, out of the window.
		{"FallBackOutOfWindow", ny, time.Date(2026, 11, 1, 1, 45, 0, 0, ny), 90, 180, time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)},
		// London: quiet until 01:30 on the autumn night; 01:00-02:00 BST
		// is followed by 01:00-02:00 GMT.
		{"LondonRepeatedSecond", london, time.Date(2026, 10, 25, 1, 15, 0, 0, time.UTC), 1260, 90, time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := QuietEnds(tt.t, tt.loc, tt.start, tt.end)
			if !got.Equal(tt.want) {
				t.Fatalf("QuietEnds(%s) = %s, want %s", tt.t, got.UTC(), tt.want.UTC())
			}
			if oracle := quietEndsByStepping(tt.t, tt.loc, tt.start, tt.end); !got.Equal(oracle) {
				t.Fatalf("QuietEnds(%s) = %s, stepping says %s", tt.t, got.UTC(), oracle.UTC())
			}
		})
	}
}

// TestQuietEnds_MatchesStepping compares QuietEnds with a minute-by-minute
// walk across a year of daylight-saving changes in several zones and
// windows.
func TestQuietEnds_MatchesStepping(t *testing.T) {
	windows := [][2]int{{1260, 480}, {1260, 90}, {90, 180}, {120, 150}, {60, 120}, {0, 480}, {1260, 0}, {720, 840}, {150, 1380}}
	for _, zone := range []string{"America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Havana", "Asia/Kolkata", "UTC"} {
		loc := mustLoad(t, zone)
		for _, w := range windows {
			// Every 37 minutes across the spring and autumn changes of 2026.
			for _, from := range []time.Time{time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 26, 0, 0, 0, 0, time.UTC),
				time.Date(2026, 4, 3, 0, 0, 0, 0, time.UTC), time.Date(2026, 9, 25, 0, 0, 0, 0, time.UTC),
				time.Date(2026, 10, 23, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC)} {
				for tt := from; tt.Before(from.Add(4 * 24 * time.Hour)); tt = tt.Add(37*time.Minute + 7*time.Second) {
					got := QuietEnds(tt, loc, w[0], w[1])
					if want := quietEndsByStepping(tt, loc, w[0], w[1]); !got.Equal(want) {
						t.Fatalf("%s window %v: QuietEnds(%s) = %s, stepping says %s", zone, w, tt.In(loc), got.In(loc), want.In(loc))
					}
				}
			}
		}
	}
}

// quietEndsByStepping is QuietEnds the slow, obvious way.
func quietEndsByStepping(t time.Time, loc *time.Location, start, end int) time.Time {
	if !InQuiet(t, loc, start, end) {
		return t
	}
	for x := t.Truncate(time.Minute).Add(time.Minute); x.Sub(t) < 72*time.Hour; x = x.Add(time.Minute) {
		if !InQuiet(x, loc, start, end) {
			return x
		}
	}
	return time.Time{} // quiet hours never end: no answer matches
}

func BenchmarkQuietEnds(b *testing.B) {
	ny := mustLoad(b, "America/New_York")
	t := time.Date(2026, 6, 10, 22, 15, 0, 0, ny)
	for b.Loop() {
		QuietEnds(t, ny, 1260, 480)
	}
}
