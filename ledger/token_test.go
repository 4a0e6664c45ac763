package ledger

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func TestSignToken(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	tok := SignToken(testSecret, "asterisk:1795711522.0", now.Add(72*time.Hour))
	if len(tok) != 56 {
		t.Errorf("token %q is %d characters, want 56", tok, len(tok))
	}
	if strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Errorf("token %q is not URL-safe", tok)
	}
	if again := SignToken(testSecret, "asterisk:1795711522.0", now.Add(72*time.Hour)); again != tok {
		t.Errorf("signing is not deterministic: %q, %q", tok, again)
	}
	for _, call := range []string{"asterisk:1795711522.0", "freeswitch:0b6c1d2e-9f1a-4c1b-8e8a-2f7f5a0d3c11", "", "ünïcode/\x00\xff"} {
		tok := SignToken(testSecret, call, now.Add(time.Hour))
		got, err := VerifyToken(testSecret, tok, now)
		if err != nil || got != call {
			t.Errorf("VerifyToken(SignToken(%q)) = %q, %v", call, got, err)
		}
	}
}

func TestVerifyToken(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	const call = "asterisk:1795711522.0"
	good := SignToken(testSecret, call, now.Add(time.Hour))
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	reencode := func(edit func([]byte) []byte) string {
		b := append([]byte(nil), raw...)
		return base64.RawURLEncoding.EncodeToString(edit(b))
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, tt := range []struct {
		name   string
		secret []byte
		token  string
		now    time.Time
		want   error
		call   string
	}{
		{"Good", testSecret, good, now, nil, call},
		{"LastSecond", testSecret, good, now.Add(time.Hour - time.Second), nil, call},
		{"ExpiredAtExpiry", testSecret, good, now.Add(time.Hour), ErrTokenExpired, call},
		{"Expired", testSecret, good, now.Add(48 * time.Hour), ErrTokenExpired, call},
		{"WrongSecret", []byte("another secret"), good, now, ErrTokenInvalid, ""},
		{"NoSecret", nil, good, now, ErrTokenInvalid, ""},
		{"Empty", testSecret, "", now, ErrTokenInvalid, ""},
		{"TruncatedByOne", testSecret, good[:len(good)-1], now, ErrTokenInvalid, ""},
		{"TruncatedMAC", testSecret, reencode(func(b []byte) []byte { return b[:len(b)-1] }), now, ErrTokenInvalid, ""},
		{"OnlyHead", testSecret, good[:8], now, ErrTokenInvalid, ""},
		{"TamperedCall", testSecret, reencode(func(b []byte) []byte { b[10] ^= 1; return b }), now, ErrTokenInvalid, ""},
		{"TamperedExpiry", testSecret, reencode(func(b []byte) []byte { b[1]++; return b }), now.Add(2 * time.Hour), ErrTokenInvalid, ""},
		{"TamperedMAC", testSecret, reencode(func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }), now, ErrTokenInvalid, ""},
		{"WrongVersion", testSecret, reencode(func(b []byte) []byte { b[0] = 2; return b }), now, ErrTokenInvalid, ""},
		{"FirstCharFlipped", testSecret, flip(good, 0), now, ErrTokenInvalid, ""},
		{"MiddleCharFlipped", testSecret, flip(good, 30), now, ErrTokenInvalid, ""},
		{"NonCanonicalLastChar", testSecret, good[:len(good)-1] + string(good[len(good)-1]+1), now, ErrTokenInvalid, ""},
		{"Padded", testSecret, good + "==", now, ErrTokenInvalid, ""},
		{"StdAlphabet", testSecret, strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+", now, ErrTokenInvalid, ""},
		{"Newline", testSecret, good[:20] + "\n" + good[20:], now, ErrTokenInvalid, ""},
		{"Space", testSecret, " " + good, now, ErrTokenInvalid, ""},
		{"Appended", testSecret, good + "AAAA", now, ErrTokenInvalid, ""},
		{"Huge", testSecret, strings.Repeat("A", 100000), now, ErrTokenInvalid, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyToken(tt.secret, tt.token, tt.now)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) || got != tt.call {
				t.Fatalf("VerifyToken = %q, %v; want %q, %v", got, err, tt.call, tt.want)
			}
		})
	}
}

func TestSignToken_Expiry(t *testing.T) {
	for _, tt := range []struct {
		name    string
		expires time.Time
		now     time.Time
		valid   bool
	}{
		{"BeforeEpochIsExpired", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, 0), false},
		{"FarFutureIsClamped", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"FarFutureExpiresIn2106", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2107, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"SubSecondRoundsDown", time.Unix(1000, 900_000_000), time.Unix(1000, 0), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyToken(testSecret, SignToken(testSecret, "c", tt.expires), tt.now)
			if tt.valid && err != nil || !tt.valid && !errors.Is(err, ErrTokenExpired) {
				t.Fatalf("VerifyToken: %v, want valid=%v", err, tt.valid)
			}
		})
	}
}

func FuzzVerifyToken(f *testing.F) {
	exp := time.Unix(1795711522, 0)
	for _, call := range []string{"asterisk:1795711522.0", "", "x", "freeswitch:0b6c1d2e-9f1a-4c1b-8e8a-2f7f5a0d3c11"} {
		tok := SignToken(testSecret, call, exp)
		f.Add(tok, call, int64(1795700000))
		f.Add(tok[:len(tok)-2], call, int64(1795800000))
		f.Add(SignToken([]byte("other"), call, exp), call, int64(1795700000))
	}
	f.Add("", "", int64(0))
	f.Add("AQAAAAA", "a", int64(-1))
	f.Fuzz(func(t *testing.T, token, call string, now int64) {
		// Whatever comes in: no panic, a classified error, and a token
		// accepted only when it is exactly what SignToken makes for that
		// call and its expiry.
		got, err := VerifyToken(testSecret, token, time.Unix(now, 0))
		switch {
		case err == nil, errors.Is(err, ErrTokenExpired):
			b, derr := base64.RawURLEncoding.DecodeString(token)
			if derr != nil || len(b) < tokenHeadSize {
				t.Fatalf("VerifyToken(%q) accepted an undecodable token: %q, %v", token, got, err)
			}
			exp := time.Unix(int64(uint32(b[1])<<24|uint32(b[2])<<16|uint32(b[3])<<8|uint32(b[4])), 0)
			if want := SignToken(testSecret, got, exp); want != token {
				t.Fatalf("VerifyToken(%q) = %q, %v; SignToken makes %q for that", token, got, err, want)
			}
			if (err == nil) != time.Unix(now, 0).Before(exp) {
				t.Fatalf("VerifyToken(%q) at %d: %v, expiry %d", token, now, err, exp.Unix())
			}
		case errors.Is(err, ErrTokenInvalid):
			if got != "" {
				t.Fatalf("VerifyToken(%q): invalid but names call %q", token, got)
			}
		default:
			t.Fatalf("VerifyToken(%q): unclassified error %v", token, err)
		}
		// A token another secret signed is never accepted.
		if _, err := VerifyToken([]byte("another secret"), SignToken(testSecret, call, time.Unix(now, 0).Add(time.Hour)), time.Unix(now, 0)); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("a token signed with another secret: %v", err)
		}
		// And what SignToken makes round-trips while it lasts.
		if len(call) < 300 && now > 0 && now < 1<<31 {
			tok := SignToken(testSecret, call, time.Unix(now, 0).Add(time.Minute))
			if got, err := VerifyToken(testSecret, tok, time.Unix(now, 0)); err != nil || got != call {
				t.Fatalf("round trip of %q: %q, %v", call, got, err)
			}
		}
	})
}

func BenchmarkSignToken(b *testing.B) {
	exp := time.Unix(1795711522, 0)
	b.ReportAllocs()
	for b.Loop() {
		SignToken(testSecret, "asterisk:1795711522.0", exp)
	}
}

func BenchmarkVerifyToken(b *testing.B) {
	tok := SignToken(testSecret, "asterisk:1795711522.0", time.Unix(1795711522, 0))
	now := time.Unix(1795700000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyToken(testSecret, tok, now); err != nil {
			b.Fatal(err)
		}
	}
}
