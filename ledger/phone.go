package ledger

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Phone numbers arrive as PBXs and carriers give them: "+15557654321",
// "15557654321", "(555) 765-4321", "00447700900123", "tel:+1...",
// "sip:+1...@host". NormalizeNumber turns them into E.164, the only form
// the ledger stores, compares and texts.
//
// Validity follows libphonenumber (github.com/nyaruka/phonenumbers): a
// number must be in a range its country has assigned. The one exception is
// the ranges countries reserve for fiction and tests, which libphonenumber
// rejects but which textback's traces, tests and demo use (see
// fictionalRanges): they are accepted as well-formed numbers of their
// country. A carrier refuses to deliver to them, so accepting them opens
// no door to SMS pumping.

// NumberType is what kind of line a phone number is, as far as the
// numbering plan tells.
type NumberType string

// The number types, from libphonenumber's classification.
const (
	TypeMobile        NumberType = "mobile"
	TypeFixed         NumberType = "fixed"
	TypeFixedOrMobile NumberType = "fixed_or_mobile" // plans that do not tell them apart (US, CA)
	TypeTollFree      NumberType = "toll_free"
	TypePremium       NumberType = "premium"
	TypeSharedCost    NumberType = "shared_cost"
	TypeVoIP          NumberType = "voip"
	TypePersonal      NumberType = "personal" // follow-me numbers: UK 070, DE 700, NANP 5XX
	TypePager         NumberType = "pager"
	TypeUAN           NumberType = "uan" // universal access (company) numbers
	TypeVoicemail     NumberType = "voicemail"
	TypeUnknown       NumberType = "unknown"
)

var numberTypes = map[phonenumbers.PhoneNumberType]NumberType{
	phonenumbers.FIXED_LINE:           TypeFixed,
	phonenumbers.MOBILE:               TypeMobile,
	phonenumbers.FIXED_LINE_OR_MOBILE: TypeFixedOrMobile,
	phonenumbers.TOLL_FREE:            TypeTollFree,
	phonenumbers.PREMIUM_RATE:         TypePremium,
	phonenumbers.SHARED_COST:          TypeSharedCost,
	phonenumbers.VOIP:                 TypeVoIP,
	phonenumbers.PERSONAL_NUMBER:      TypePersonal,
	phonenumbers.PAGER:                TypePager,
	phonenumbers.UAN:                  TypeUAN,
	phonenumbers.VOICEMAIL:            TypeVoicemail,
	phonenumbers.UNKNOWN:              TypeUnknown,
}

// nonGeographic is libphonenumber's region for country codes that belong to
// no country: +800 international freephone, +870 and +881 satellite phones,
// +882 and +883 international networks, +979 international premium rate.
const nonGeographic = "001"

// Number is a valid phone number.
type Number struct {
	// E164 is the number in E.164 form: "+" and at most 15 digits.
	E164 string
	// Region is the ISO 3166 region the number belongs to ("US", "GB"), or
	// "001" for the non-geographic country codes (+800, +870, +881, +882,
	// +883, +979), which are in no region.
	Region string
	// Type is the kind of number the numbering plan says it is.
	Type NumberType
	// Fictional reports that the number is in a range reserved for fiction
	// and tests (US area code 555, UK 07700 900xxx and 01632 960xxx). Such
	// numbers are accepted but reach no one; Type is what the range stands
	// for (mobile for 07700 900xxx), unknown for the US 555 area code.
	Fictional bool
}

// Premium reports whether texting or calling the number costs more than a
// normal one or pays its holder: premium rate, shared cost, universal
// access, personal (follow-me) numbers, and the non-geographic country
// codes (satellite and international networks). These are the numbers SMS
// pumping targets; textback never texts them.
func (n Number) Premium() bool {
	switch n.Type {
	case TypePremium, TypeSharedCost, TypeUAN, TypePersonal:
		return true
	}
	return n.Region == nonGeographic
}

// The errors NormalizeNumber returns, wrapped with the input and the
// reason; test with errors.Is.
var (
	// ErrNotANumber means the input is not written as a phone number at
	// all: empty, letters, or symbols a phone number does not have.
	ErrNotANumber = errors.New("not a phone number")
	// ErrInvalidNumber means the input is written as a phone number but is
	// not one: too short or too long, an unknown country code, a range no
	// country has assigned, or a local number whose area code is missing.
	ErrInvalidNumber = errors.New("invalid phone number")
)

// maxNumberDigits bounds the digits NormalizeNumber looks at: E.164 has at
// most 15, an international prefix adds up to 4 ("0011").
const maxNumberDigits = 20

// NormalizeNumber parses raw as a PBX or carrier gives it and returns the
// number it names. Accepted forms: "+15557654321", "15557654321",
// "5557654321", "(555) 765-4321", "555.765.4321", "00447700900123",
// "011 44 7700 900123", "tel:+15557654321", "sip:+15557654321@host".
// Spaces, dots, dashes, slashes and parentheses are ignored; letters
// (vanity numbers, "ext"), "*", "#" and a "+" anywhere but first are not
// accepted.
//
// A number without a country code is read in defaultRegion (ISO 3166,
// "US"; case does not matter): its national prefix and international
// prefix are understood ("0" and "00" in GB, "1" and "011" in the US).
// A leading "00" is read as an international prefix even where the
// region's own is different, because no national number starts with "00"
// there. International numbers written without "+" or a prefix
// ("447700900123") are not guessed at. With an empty defaultRegion only
// numbers with a country code are accepted.
//
// The number must be valid (in a range its country has assigned) or in a
// range reserved for fiction (see Number.Fictional). Errors wrap
// ErrNotANumber or ErrInvalidNumber and name the input.
func NormalizeNumber(raw, defaultRegion string) (Number, error) {
	s, err := numberText(raw)
	if err != nil {
		return Number{}, err
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	n, why := parseNumber(s, region)
	if why != "" && strings.HasPrefix(s, "00") {
		if alt, altWhy := parseNumber("+"+s[2:], ""); altWhy == "" {
			n, why = alt, ""
		}
	}
	if why != "" {
		return Number{}, fmt.Errorf("%w %s: %s", ErrInvalidNumber, quoteInput(raw), why)
	}
	return n, nil
}

// numberText strips a tel: or sip: URI down to its number and checks that
// what is left is written as a phone number: an optional leading "+",
// digits, and separators.
func numberText(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	for _, scheme := range []string{"tel:", "sip:", "sips:"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) { // a URI: its user part, without parameters
			s = s[len(scheme):]
			if i := strings.IndexByte(s, '@'); i >= 0 {
				s = s[:i]
			}
			if i := strings.IndexByte(s, ';'); i >= 0 {
				s = s[:i]
			}
			s = strings.TrimSpace(s)
			break
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
			b.WriteByte(c)
		case c == '+' && b.Len() == 0:
			b.WriteByte(c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/' || c == '\t':
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return "", fmt.Errorf("%w %s: unexpected %q", ErrNotANumber, quoteInput(raw), r)
		}
	}
	switch {
	case digits == 0:
		return "", fmt.Errorf("%w %s: no digits", ErrNotANumber, quoteInput(raw))
	case digits > maxNumberDigits:
		return "", fmt.Errorf("%w %s: too long", ErrInvalidNumber, quoteInput(raw))
	}
	return b.String(), nil
}

// parseNumber parses s (a "+" and digits, or digits) and says why it is not
// an acceptable number, or "" when it is.
func parseNumber(s, region string) (Number, string) {
	if !strings.HasPrefix(s, "+") {
		switch {
		case region == "":
			return Number{}, "no country code, and no default region to read it in"
		case phonenumbers.GetCountryCodeForRegion(region) == 0:
			return Number{}, fmt.Sprintf("no country code, and the default region %q is unknown", region)
		}
	}
	pn, err := phonenumbers.Parse(s, region)
	if err != nil {
		switch {
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
			return Number{}, "unknown country code"
		case errors.Is(err, phonenumbers.ErrNumTooLong):
			return Number{}, "too long"
		default: // ErrTooShortNSN, ErrTooShortAfterIDD, ErrNotANumber
			return Number{}, "too short"
		}
	}
	cc := int(pn.GetCountryCode())
	if phonenumbers.IsValidNumber(pn) {
		typ, ok := numberTypes[phonenumbers.GetNumberType(pn)]
		if !ok {
			typ = TypeUnknown
		}
		return Number{
			E164:   phonenumbers.Format(pn, phonenumbers.E164),
			Region: phonenumbers.GetRegionCodeForNumber(pn),
			Type:   typ,
		}, ""
	}
	nsn := phonenumbers.GetNationalSignificantNumber(pn)
	if f, ok := fictional(cc, nsn); ok {
		return Number{
			E164:      phonenumbers.Format(pn, phonenumbers.E164),
			Region:    f.region,
			Type:      f.typ,
			Fictional: true,
		}, ""
	}
	switch phonenumbers.IsPossibleNumberWithReason(pn) {
	case phonenumbers.TOO_SHORT:
		return Number{}, fmt.Sprintf("too short for country code +%d", cc)
	case phonenumbers.TOO_LONG:
		return Number{}, fmt.Sprintf("too long for country code +%d", cc)
	case phonenumbers.INVALID_LENGTH:
		return Number{}, fmt.Sprintf("wrong length for country code +%d", cc)
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return Number{}, "a local number without its area code"
	case phonenumbers.INVALID_COUNTRY_CODE:
		return Number{}, "unknown country code"
	}
	return Number{}, fmt.Sprintf("not an assigned number range of country code +%d", cc)
}

// fictionalRange is a block of numbers a numbering plan reserves for
// fiction and tests but libphonenumber does not count as valid.
type fictionalRange struct {
	cc     int    // country calling code
	prefix string // national significant number prefix
	length int    // national significant number length
	region string
	typ    NumberType
}

// fictionalRanges lists the reserved ranges textback accepts. Ranges that
// libphonenumber already accepts (NANP 555-0100 to 555-0199 in real area
// codes such as +1 415 555 0123, Ofcom's 020 7946 0xxx) need no entry.
var fictionalRanges = []fictionalRange{
	// NANP area code 555 is not assigned and never will be; +1 555 NXX XXXX
	// is the traditional fictional number in the US and Canada.
	{cc: 1, prefix: "555", length: 10, region: "US", typ: TypeUnknown},
	// Ofcom's drama ranges: 07700 900000 to 900999 (mobile) and 01632
	// 960000 to 960999 (geographic).
	{cc: 44, prefix: "7700900", length: 10, region: "GB", typ: TypeMobile},
	{cc: 44, prefix: "1632960", length: 10, region: "GB", typ: TypeFixed},
}

func fictional(cc int, nsn string) (fictionalRange, bool) {
	for _, f := range fictionalRanges {
		if f.cc == cc && len(nsn) == f.length && strings.HasPrefix(nsn, f.prefix) {
			return f, true
		}
	}
	return fictionalRange{}, false
}

// IsShortCode reports whether raw is a short code or service number: only
// digits, 3 to 8 of them, and not a valid full number in defaultRegion
// ("22395", "611", "116111", a bare 7-digit local number). Short codes and
// service numbers are never texted.
func IsShortCode(raw, defaultRegion string) bool {
	s := strings.TrimSpace(raw)
	if len(s) < 3 || len(s) > 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	_, err := NormalizeNumber(s, defaultRegion)
	return err != nil
}

// quoteInput quotes raw for an error message, cut short when it is long.
func quoteInput(raw string) string {
	const max = 40
	if r := []rune(raw); len(r) > max {
		return fmt.Sprintf("%q…", string(r[:max]))
	}
	return fmt.Sprintf("%q", raw)
}

// presented reports whether a caller number as the PBX gave it is a real,
// presented number rather than an empty value or a placeholder.
func presented(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld":
		return false
	}
	return true
}
