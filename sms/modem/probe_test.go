package modem

import (
	"context"
	"io"
	"testing"

	"github.com/rs/zerolog"
)

func TestProbe(t *testing.T) {
	fm := newFakeModem()
	fm.pin = "2468"
	d, err := New(Config{Device: "/dev/fake"}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	d.open = func(context.Context) (io.ReadWriteCloser, error) { return fm.open() }
	in, err := d.probe(t.Context())
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	if in.Manufacturer != "FakeCo" || in.IMEI != "356938035643809" || in.SIM != "SIM PIN" || in.Operator != "FakeNet" ||
		in.Registration != "home" || in.SignalDBm != -73 || !in.GSM || in.StorageTotal != 30 {
		t.Errorf("probe = %+v", in)
	}
	if len(fm.pinTries) != 0 || len(fm.sentTexts()) != 0 {
		t.Errorf("probe entered a PIN or sent a text")
	}
}
