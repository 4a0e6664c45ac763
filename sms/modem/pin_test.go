package modem

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestDriver_PIN(t *testing.T) {
	t.Run("RightPINUnlocks", func(t *testing.T) {
		fm := newFakeModem()
		fm.pin = "2468"
		cfg := testConfig()
		cfg.PIN = "2468"
		d, _ := startFake(t, fm, cfg, newRecorder())
		if _, err := send(t, d, "+15555550123", "After the PIN."); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(fm.pinTries, []string{"2468"}) {
			t.Errorf("PIN tries %q, want one", fm.pinTries)
		}
	})
	t.Run("WrongPINStopsAfterOneTry", func(t *testing.T) {
		fm := newFakeModem()
		fm.pin = "2468"
		cfg := testConfig()
		cfg.PIN = "1111"
		err := runUntilDone(t, fm, cfg)
		if err == nil || !strings.Contains(err.Error(), "rejected the PIN") {
			t.Errorf("Run: %v, want an error saying the SIM rejected the PIN", err)
		}
		if strings.Contains(err.Error(), "1111") {
			t.Errorf("Run's error shows the PIN: %v", err)
		}
		if len(fm.pinTries) != 1 {
			t.Errorf("PIN tried %d times, want exactly once", len(fm.pinTries))
		}
	})
	t.Run("NoPINConfigured", func(t *testing.T) {
		fm := newFakeModem()
		fm.pin = "2468"
		err := runUntilDone(t, fm, testConfig())
		if err == nil || !strings.Contains(err.Error(), "modem.pin") {
			t.Errorf("Run: %v, want an error naming modem.pin", err)
		}
		if len(fm.pinTries) != 0 {
			t.Errorf("PIN tried %d times with none configured", len(fm.pinTries))
		}
	})
}

func runUntilDone(t *testing.T, fm *fakeModem, cfg Config) error {
	t.Helper()
	d, err := New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	d.open = func(context.Context) (io.ReadWriteCloser, error) { return fm.open() }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = d.Run(ctx, newRecorder())
	if ctx.Err() != nil {
		t.Fatal("Run kept retrying; want it to stop")
	}
	if st := d.Status(); st.State != StateStopped {
		t.Errorf("State %s after Run returned", st.State)
	}
	return err
}

func TestConfig_Validate(t *testing.T) {
	err := Config{Device: "ttyUSB2", PIN: "12a4", SMSC: "123", SendTimeout: time.Millisecond}.Validate()
	for _, field := range []string{"modem.device", "modem.pin", "modem.smsc", "modem.send_timeout"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate: %v, want an error naming %s", err, field)
		}
	}
	if err != nil && strings.Contains(err.Error(), "12a4") {
		t.Errorf("Validate shows the PIN: %v", err)
	}
	if err := (Config{Device: "/dev/serial/by-id/usb-x-if02-port0", PIN: "2468"}).Validate(); err != nil {
		t.Errorf("Validate of a good config: %v", err)
	}
	c := Config{Device: "/dev/x"}.withDefaults()
	if c.SendTimeout != 60*time.Second || c.MinGap != 2*time.Second || c.MaxPerHour != 60 || c.MaxPerDay != 300 {
		t.Errorf("defaults: %+v", c)
	}
}
