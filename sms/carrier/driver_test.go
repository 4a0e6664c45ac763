package carrier_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"slices"
	"testing"

	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/carrier"
	"github.com/textback/textback/sms/smstest"
)

// testKey is the Telnyx webhook signing key of the tests.
var testKey = ed25519.NewKeyFromSeed([]byte("textback-telnyx-test-seed-32byte"))

func twilioConfig(base string) carrier.Config {
	return carrier.Config{Preset: "twilio", URL: base, PublicURL: "https://sms.example.com/textback/carrier",
		Twilio: carrier.TwilioConfig{AccountSID: twilioSID, AuthToken: twilioToken}}
}

func telnyxConfig(base string) carrier.Config {
	return carrier.Config{Preset: "telnyx", URL: base, PublicURL: "https://sms.example.com/textback/carrier",
		Telnyx: carrier.TelnyxConfig{APIKey: telnyxKey, MessagingProfileID: telnyxProfile,
			PublicKey: base64.StdEncoding.EncodeToString(testKey.Public().(ed25519.PublicKey))}}
}

func kannelConfig(base string) carrier.Config {
	return carrier.Config{Preset: "kannel", URL: base, PublicURL: "http://127.0.0.1:8080/carrier",
		Kannel: carrier.KannelConfig{Username: kannelUser, Password: kannelPass, WebhookToken: hookToken}}
}

// contribConfig loads one of the shipped example configs, pointed at base.
func contribConfig(t testing.TB, name, base string) carrier.Config {
	c := loadConfig(t, "../../contrib/carrier/"+name+".yaml")
	c.URL = base
	return c
}

// carriers are the fake carriers, with a config for each and the faults
// it can produce.
var carriers = []struct {
	name   string
	api    func(*peer, http.ResponseWriter, *http.Request)
	config func(t *testing.T, base string) carrier.Config
	faults []smstest.Fault
}{
	{"twilio", twilioAPI, func(_ *testing.T, b string) carrier.Config { return twilioConfig(b) }, allFaults},
	{"telnyx", telnyxAPI, func(_ *testing.T, b string) carrier.Config { return telnyxConfig(b) }, allFaults},
	{"kannel", kannelAPI, func(_ *testing.T, b string) carrier.Config { return kannelConfig(b) },
		[]smstest.Fault{smstest.FaultTemporary, smstest.FaultRejected, smstest.FaultHang}},
	{"vonage", vonageAPI, func(t *testing.T, b string) carrier.Config { return contribConfig(t, "vonage", b) },
		[]smstest.Fault{smstest.FaultTemporary, smstest.FaultRejected, smstest.FaultHang}},
	{"plivo", plivoAPI, func(t *testing.T, b string) carrier.Config { return contribConfig(t, "plivo", b) },
		[]smstest.Fault{smstest.FaultTemporary, smstest.FaultRejected, smstest.FaultHang}},
}

var allFaults = []smstest.Fault{smstest.FaultTemporary, smstest.FaultRejected, smstest.FaultOptedOut, smstest.FaultNotMobile, smstest.FaultHang}

// newDriver starts a fake carrier and a driver for it.
func newDriver(t *testing.T, name string) (*carrier.Driver, *peer) {
	t.Helper()
	for _, c := range carriers {
		if c.name == name {
			p := newPeer(t, c.api)
			d, err := carrier.New(c.config(t, p.URL()))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { _ = d.Close() })
			return d, p
		}
	}
	t.Fatalf("no carrier %q", name)
	return nil, nil
}

// Every preset, and the Vonage and Plivo http configs of contrib, pass the
// conformance suite against a fake of the carrier's API.
func TestDriver_Conformance(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			var p *peer
			smstest.Run(t, smstest.Harness{
				New: func(t *testing.T) sms.Driver {
					var d *carrier.Driver
					d, p = newDriver(t, c.name)
					return d
				},
				Sent: func(*testing.T) []sms.Message { return p.Sent() },
				Fault: func(_ *testing.T, f smstest.Fault) bool {
					if !slices.Contains(c.faults, f) {
						return false
					}
					p.setFault(f)
					return true
				},
			})
		})
	}
}
