package ledger

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeNumber(t *testing.T) {
	for _, tt := range []struct {
		name, raw, region string
		want              Number
		err               error // nil: accepted
	}{
		// The forms PBXs and carriers give, all one number.
		{"E164", "+15557654321", "US", Number{E164: "+15557654321", Region: "US", Type: TypeUnknown, Fictional: true}, nil},
		{"NationalPrefix", "15557654321", "US", Number{E164: "+15557654321", Region: "US", Type: TypeUnknown, Fictional: true}, nil},
		{"National", "5557654321", "US", Number{E164: "+15557654321", Region: "US", Type: TypeUnknown, Fictional: true}, nil},
		{"Formatted", "(555) 765-4321", "us", Number{E164: "+15557654321", Region: "US", Type: TypeUnknown, Fictional: true}, nil},
		{"Dotted", " 555.765.4321 ", "US", Number{E164: "+15557654321", Region: "US", Type: TypeUnknown, Fictional: true}, nil},
		{"TelURI", "tel:+1-555-765-4321", "US", Number{E164: "+15557654321", Region: "US", Type: TypeUnknown, Fictional: true}, nil},
		{"SIPURI", "sip:+15557654321@203.0.113.5:5060;transport=udp", "US", Number{E164: "+15557654321", Region: "US", Type: TypeUnknown, Fictional: true}, nil},
		{"SIPSURIUserParams", "SIPS:5557654321;user=phone@pbx.example", "US", Number{E164: "+15557654321", Region: "US", Type: TypeUnknown, Fictional: true}, nil},
		{"E164WithoutRegion", "+15557654321", "", Number{E164: "+15557654321", Region: "US", Type: TypeUnknown, Fictional: true}, nil},
		{"FictionalLine", "+15555551000", "US", Number{E164: "+15555551000", Region: "US", Type: TypeUnknown, Fictional: true}, nil},

		// Real ranges.
		{"USFictionalExchange", "+14155550123", "US", Number{E164: "+14155550123", Region: "US", Type: TypeFixedOrMobile}, nil},
		{"USBareTrace", "14155550123", "US", Number{E164: "+14155550123", Region: "US", Type: TypeFixedOrMobile}, nil},
		{"USTollFree", "8005550101", "US", Number{E164: "+18005550101", Region: "US", Type: TypeTollFree}, nil},
		{"USPremium900", "+1 900 234 5678", "US", Number{E164: "+19002345678", Region: "US", Type: TypePremium}, nil},
		{"UKLondon", "020 7946 0000", "GB", Number{E164: "+442079460000", Region: "GB", Type: TypeFixed}, nil},
		{"UKDramaMobile", "07700 900123", "GB", Number{E164: "+447700900123", Region: "GB", Type: TypeMobile, Fictional: true}, nil},
		{"UKDramaGeographic", "01632 960123", "GB", Number{E164: "+441632960123", Region: "GB", Type: TypeFixed, Fictional: true}, nil},
		{"UKFromUSWith011", "011 44 7700 900123", "US", Number{E164: "+447700900123", Region: "GB", Type: TypeMobile, Fictional: true}, nil},
		{"UKWith00InUS", "00447700900123", "US", Number{E164: "+447700900123", Region: "GB", Type: TypeMobile, Fictional: true}, nil},
		{"UKWith00NoRegion", "00447700900123", "", Number{E164: "+447700900123", Region: "GB", Type: TypeMobile, Fictional: true}, nil},
		{"UKWithIDDInAU", "0011 44 7700 900123", "AU", Number{E164: "+447700900123", Region: "GB", Type: TypeMobile, Fictional: true}, nil},
		{"UKPremium09", "09098 790000", "GB", Number{E164: "+449098790000", Region: "GB", Type: TypePremium}, nil},
		{"UKPremium087", "+44 871 234 5678", "GB", Number{E164: "+448712345678", Region: "GB", Type: TypePremium}, nil},
		{"UKPersonal070", "07011 234567", "GB", Number{E164: "+447011234567", Region: "GB", Type: TypePersonal}, nil},
		{"UKUAN03", "0300 123 4567", "GB", Number{E164: "+443001234567", Region: "GB", Type: TypeUAN}, nil},
		{"UKFreephone", "0800 123 4567", "GB", Number{E164: "+448001234567", Region: "GB", Type: TypeTollFree}, nil},
		{"FRMobile", "06 12 34 56 78", "FR", Number{E164: "+33612345678", Region: "FR", Type: TypeMobile}, nil},
		{"FRPremium", "+33 8 99 12 34 56", "US", Number{E164: "+33899123456", Region: "FR", Type: TypePremium}, nil},
		{"FRTollFree", "0800 12 34 56", "FR", Number{E164: "+33800123456", Region: "FR", Type: TypeTollFree}, nil},
		{"DEMobile", "0151 23456789", "DE", Number{E164: "+4915123456789", Region: "DE", Type: TypeMobile}, nil},
		{"DEBerlin", "+49 30 12345678", "DE", Number{E164: "+493012345678", Region: "DE", Type: TypeFixed}, nil},
		{"DESharedCost", "+49 180 12345678", "DE", Number{E164: "+4918012345678", Region: "DE", Type: TypeSharedCost}, nil},
		{"GlobalFreephone", "+800 1234 5678", "US", Number{E164: "+80012345678", Region: "001", Type: TypeTollFree}, nil},

		// Refused.
		{"Empty", "", "US", Number{}, ErrNotANumber},
		{"Anonymous", "anonymous", "US", Number{}, ErrNotANumber},
		{"Letters", "555-CALL-NOW", "US", Number{}, ErrNotANumber},
		{"VanityTollFree", "+1 800 FLOWERS", "US", Number{}, ErrNotANumber},
		{"Extension", "5557654321 ext 5", "US", Number{}, ErrNotANumber},
		{"StarCode", "*675557654321", "US", Number{}, ErrNotANumber},
		{"PlusInside", "1+5557654321", "US", Number{}, ErrNotANumber},
		{"OnlyPunctuation", "+()-", "US", Number{}, ErrNotANumber},
		{"FullwidthDigits", "５５５７６５４３２１", "US", Number{}, ErrNotANumber},
		{"ShortCode", "22395", "US", Number{}, ErrInvalidNumber},
		{"ServiceCode", "611", "US", Number{}, ErrInvalidNumber},
		{"LocalWithoutAreaCode", "5551000", "US", Number{}, ErrInvalidNumber},
		{"TooShort", "+1555", "US", Number{}, ErrInvalidNumber},
		{"TooLong", "+1555765432199999", "US", Number{}, ErrInvalidNumber},
		{"WayTooLong", strings.Repeat("9", 40), "US", Number{}, ErrInvalidNumber},
		{"UnassignedAreaCode", "+19995551234", "US", Number{}, ErrInvalidNumber},
		{"UnassignedUKMobile", "+447700901000", "GB", Number{}, ErrInvalidNumber},
		{"UnknownCountryCode", "+99912345678", "US", Number{}, ErrInvalidNumber},
		{"NationalWithoutRegion", "5557654321", "", Number{}, ErrInvalidNumber},
		{"NationalWithUnknownRegion", "5557654321", "UK", Number{}, ErrInvalidNumber},
		{"InternationalWithoutPrefix", "447700900123", "US", Number{}, ErrInvalidNumber},
		{"Zeros", "0000000", "US", Number{}, ErrInvalidNumber},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeNumber(tt.raw, tt.region)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("NormalizeNumber(%q, %q) = %+v, %v; want error %v", tt.raw, tt.region, got, err, tt.err)
				}
				if len(tt.raw) < 40 && !strings.Contains(err.Error(), tt.raw) && tt.raw != "" {
					t.Errorf("error %q does not name the input %q", err, tt.raw)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeNumber(%q, %q) = %+v, %v; want %+v", tt.raw, tt.region, got, err, tt.want)
			}
		})
	}
}

func TestNormalizeNumber_ErrorText(t *testing.T) {
	for _, tt := range []struct{ raw, region, want string }{
		{"abc", "US", `not a phone number "abc": unexpected 'a'`},
		{"", "US", `not a phone number "": no digits`},
		{"+1555", "US", `invalid phone number "+1555": too short for country code +1`},
		{"5551000", "US", `invalid phone number "5551000": a local number without its area code`},
		{"+19995551234", "US", `invalid phone number "+19995551234": not an assigned number range of country code +1`},
		{"5557654321", "", `invalid phone number "5557654321": no country code, and no default region to read it in`},
		{"5557654321", "UK", `invalid phone number "5557654321": no country code, and the default region "UK" is unknown`},
		{"+99912345678", "US", `invalid phone number "+99912345678": unknown country code`},
	} {
		_, err := NormalizeNumber(tt.raw, tt.region)
		if err == nil || err.Error() != tt.want {
			t.Errorf("NormalizeNumber(%q, %q): %v; want %s", tt.raw, tt.region, err, tt.want)
		}
	}
	_, err := NormalizeNumber(strings.Repeat("x", 100), "US")
	if err == nil || len(err.Error()) > 80 {
		t.Errorf("long input: error %q, want it cut short", err)
	}
}

func TestNumber_Premium(t *testing.T) {
	for _, tt := range []struct {
		raw, region string
		want        bool
	}{
		{"+15557654321", "US", false},
		{"+14155550123", "US", false},
		{"+18005550101", "US", false}, // toll-free costs the caller nothing
		{"+19002345678", "US", true},
		{"+449098790000", "GB", true},
		{"+448712345678", "GB", true},
		{"+447011234567", "GB", true}, // personal numbers, a pumping favourite
		{"+443001234567", "GB", true},
		{"+447700900123", "GB", false},
		{"+33899123456", "FR", true},
		{"+33612345678", "FR", false},
		{"+4918012345678", "DE", true},
		{"+4915123456789", "DE", false},
		{"+80012345678", "", true}, // non-geographic
	} {
		n, err := NormalizeNumber(tt.raw, tt.region)
		if err != nil {
			t.Fatalf("NormalizeNumber(%q): %v", tt.raw, err)
		}
		if got := n.Premium(); got != tt.want {
			t.Errorf("%s (%s, %s).Premium() = %v, want %v", n.E164, n.Region, n.Type, got, tt.want)
		}
	}
}

func TestIsShortCode(t *testing.T) {
	for _, tt := range []struct {
		raw, region string
		want        bool
	}{
		{"22395", "US", true},
		{"611", "US", true},
		{" 611 ", "US", true},
		{"116111", "GB", true},
		{"5551000", "US", true}, // a line's bare DID, not textable either
		{"0000000", "US", true},
		{"12345678", "US", true},
		{"99", "US", false},        // too short to be anything
		{"123456789", "US", false}, // too long for a short code
		{"+22395", "US", false},
		{"223-95", "US", false},
		{"anonymous", "US", false},
		{"", "US", false},
		{"5557654321", "US", false},
		{"+15557654321", "US", false},
		{"8005550101", "US", false},
		{"03012345", "DE", false}, // a valid Berlin number with 8 digits
	} {
		if got := IsShortCode(tt.raw, tt.region); got != tt.want {
			t.Errorf("IsShortCode(%q, %q) = %v, want %v", tt.raw, tt.region, got, tt.want)
		}
	}
}

func TestPresented(t *testing.T) {
	for raw, want := range map[string]bool{
		"": false, " ": false, "anonymous": false, "Anonymous": false, "unknown": false, "RESTRICTED": false,
		"private": false, "unavailable": false, "withheld": false, "+15557654321": true, "5551000": true,
	} {
		if got := presented(raw); got != want {
			t.Errorf("presented(%q) = %v, want %v", raw, got, want)
		}
	}
}

func FuzzNormalizeNumber(f *testing.F) {
	for _, s := range []string{
		"+15557654321", "15557654321", "5557654321", "(555) 765-4321", "00447700900123", "011447700900123",
		"tel:+15557654321", "sip:+15557654321@host", "22395", "611", "+19002345678", "+449098790000",
		"+33612345678", "0151 23456789", "anonymous", "", "+", "++1", "5551000", "+80012345678", "tel:;@",
	} {
		f.Add(s, "US")
		f.Add(s, "GB")
	}
	f.Add("0301234567", "DE")
	f.Add("06 12 34 56 78", "FR")
	f.Fuzz(func(t *testing.T, raw, region string) {
		n, err := NormalizeNumber(raw, region)
		if err != nil {
			if !errors.Is(err, ErrNotANumber) && !errors.Is(err, ErrInvalidNumber) {
				t.Fatalf("NormalizeNumber(%q, %q): error %v wraps neither sentinel", raw, region, err)
			}
			if n != (Number{}) {
				t.Fatalf("NormalizeNumber(%q, %q): error %v with a number %+v", raw, region, err, n)
			}
			return
		}
		if len(n.E164) < 3 || len(n.E164) > 16 || n.E164[0] != '+' || strings.Trim(n.E164[1:], "0123456789") != "" {
			t.Fatalf("NormalizeNumber(%q, %q) = %+v: not E.164", raw, region, n)
		}
		if n.Region == "" || n.Type == "" {
			t.Fatalf("NormalizeNumber(%q, %q) = %+v: no region or type", raw, region, n)
		}
		for _, r := range []string{"", region, "US"} {
			again, err := NormalizeNumber(n.E164, r)
			if err != nil || again != n {
				t.Fatalf("NormalizeNumber(%q, %q) = %+v, but its E.164 in %q gives %+v, %v", raw, region, n, r, again, err)
			}
		}
		if IsShortCode(raw, region) {
			t.Fatalf("IsShortCode(%q, %q) for a valid number %s", raw, region, n.E164)
		}
	})
}

func BenchmarkNormalizeNumber(b *testing.B) {
	for _, bb := range []struct{ name, raw, region string }{
		{"E164", "+14155550123", "US"},
		{"National", "(415) 555-0123", "US"},
		{"Fictional", "+15557654321", "US"},
		{"UKWith00", "00447700900123", "US"},
		{"Garbage", "not-a-number", "US"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = NormalizeNumber(bb.raw, bb.region)
			}
		})
	}
}
