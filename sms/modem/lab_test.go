package modem

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/warthog618/modem/at"
	wsms "github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/pdumode"
	"github.com/warthog618/sms/encoding/tpdu"

	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/modem/modemtest"
)

// The real-peer tier: ofono-phonesim behind a socat pty, started by
// .ci/lab/phonesim/start.sh. It runs when TEXTBACK_LAB_PHONESIM names the
// tty, and fails (does not skip) when the tty does not answer.
func labDevice(t *testing.T) string {
	t.Helper()
	return modemtest.Phonesim(t)
}

func labState() string { return modemtest.State() }

// socatLog reads what the driver wrote to phonesim since offset, from
// socat's -x hex log.
func socatWritten(t *testing.T, offset int64) []byte {
	t.Helper()
	return parseSocatLog(t, filepath.Join(labState(), "phonesim", "socat.log"), offset)
}

func parseSocatLog(t *testing.T, path string, offset int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("socat byte log: %v", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		t.Fatal(err)
	}
	hdr := regexp.MustCompile(`^([<>]) \S+ \S+\s+length=\d+ from=\d+ to=\d+$`)
	var out []byte
	dir := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if m := hdr.FindStringSubmatch(l); m != nil {
			dir = m[1]
			continue
		}
		if dir == ">" && strings.HasPrefix(l, " ") {
			// " 41 54 0d  AT." : hex bytes, then two spaces and the text
			hexPart := l
			if i := strings.Index(l[1:], "  "); i >= 0 {
				hexPart = l[:i+1]
			}
			b, err := hex.DecodeString(strings.ReplaceAll(hexPart, " ", ""))
			if err != nil {
				t.Fatalf("socat log line %q: %v", l, err)
			}
			out = append(out, b...)
		}
	}
	return out
}

func logSize(t *testing.T) int64 {
	fi, err := os.Stat(filepath.Join(labState(), "phonesim", "socat.log"))
	if err != nil {
		t.Fatalf("socat byte log: %v", err)
	}
	return fi.Size()
}

// decodeSent decodes every AT+CMGS in what was written, checking the
// announced length, and reassembles the texts.
func decodeSent(t *testing.T, written []byte) (texts []sms.Message, refs []int) {
	t.Helper()
	coll := wsms.NewCollector()
	re := regexp.MustCompile(`(?s)AT\+CMGS=(\d+)\r(.*?)\x1a`)
	for _, m := range re.FindAllSubmatch(written, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		p, err := pdumode.UnmarshalHexString(strings.TrimSpace(string(m[2])))
		if err != nil {
			t.Fatalf("PDU %q: %v", m[2], err)
		}
		if len(p.TPDU) != n {
			t.Errorf("AT+CMGS=%d but the TPDU has %d octets", n, len(p.TPDU))
		}
		tp, err := wsms.Unmarshal(p.TPDU, wsms.AsMO)
		if err != nil {
			t.Fatalf("TPDU: %v", err)
		}
		if _, _, ref, ok := tp.ConcatInfo(); ok {
			refs = append(refs, ref)
		}
		segs, err := coll.Collect(*tp)
		if err != nil {
			t.Fatalf("reassembly: %v", err)
		}
		if segs != nil {
			b, err := wsms.Decode(segs)
			if err != nil {
				t.Fatal(err)
			}
			texts = append(texts, sms.Message{To: segs[0].DA.Number(), Body: string(b)})
		}
	}
	return texts, refs
}

func labConfig(dev string) Config {
	return Config{Device: dev, MinGap: -1, MaxPerHour: -1, MaxPerDay: -1, SendTimeout: 10 * time.Second, Number: "+15555551000"}
}

func labLog(t *testing.T) zerolog.Logger {
	if testing.Verbose() {
		return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	}
	return zerolog.Nop()
}

// startLab runs a Driver on phonesim (cfg changed by mod, if not nil) and
// waits until it is ready.
func startLab(t *testing.T, dev string, rcv sms.Receiver, mod ...func(*Config)) *Driver {
	t.Helper()
	cfg := labConfig(dev)
	for _, m := range mod {
		m(&cfg)
	}
	d, err := New(cfg, labLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, rcv) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatalf("phonesim not ready within 20s: %+v", d.Status())
	}
	return d
}

func TestLab_Phonesim(t *testing.T) {
	dev := labDevice(t)
	off := logSize(t)
	rcv := newRecorder()
	d := startLab(t, dev, rcv)
	st := d.Status()
	if st.Manufacturer == "" || st.SIM != "READY" {
		t.Errorf("Status after init: %+v", st)
	}

	texts := []string{
		"Sorry we missed your call to Acme Plumbing. Reply STOP to opt out.",
		strings.Repeat("Three hundred characters of GSM-7 text, numbered 0123456789. ", 5),
		"Désolé, appel manqué ✓ — on vous rappelle! 😀 Ünïcödé",
	}
	for _, body := range texts {
		if _, err := send(t, d, "+15550001111", body); err != nil {
			t.Fatalf("Send %q: %v", body, err)
		}
	}
	// The refusal hook: phonesim answers +CMS ERROR: 500 for this number.
	_, err := send(t, d, "+15550000000", "This one is refused.")
	if o := sms.OutcomeOf(err); o != sms.Rejected {
		t.Errorf("Send to +15550000000: %v, outcome %s; want rejected", err, o)
	}
	// Latency: queued text → the modem's +CMGS answer, 10 sends.
	var lat []time.Duration
	for i := range 10 {
		t0 := time.Now()
		if _, err := send(t, d, "+15550001111", "Latency probe "+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	t.Logf("send latency on phonesim (Send → +CMGS answer), 10 sends: min %v median %v max %v", lat[0], lat[5], lat[9])

	got, refs := decodeSent(t, socatWritten(t, off))
	var want []string
	want = append(want, texts...)
	for i := range 10 {
		want = append(want, "Latency probe "+strconv.Itoa(i))
	}
	var bodies []string
	for _, m := range got {
		if m.To == "+15550001111" {
			bodies = append(bodies, m.Body)
		}
	}
	if !slices.Equal(bodies, want) {
		t.Errorf("phonesim received (decoded from the byte log):\n%q\nwant:\n%q", bodies, want)
	}
	if len(refs) >= 2 && slices.Min(refs) == slices.Max(refs) && len(refs) > 3 {
		t.Errorf("every segment used concatenation reference %d", refs[0])
	}
	// The same texts decoded independently by libgammu: bodies, segments,
	// coding, and the AT+CMGS lengths (each equal to its TPDU's octets and
	// to what the Go decode read).
	var gbodies []string
	var glens []int
	for _, g := range gammuDecode(t, off) {
		if g.Mode != "pdu" || g.To != "+15550001111" {
			continue
		}
		gbodies = append(gbodies, g.Text)
		glens = append(glens, g.CMGS...)
		if !g.Complete || !slices.Equal(g.CMGS, g.TPDUOctets) {
			t.Errorf("libgammu: %+v", g)
		}
		want := map[string]struct {
			segs int
			ucs2 bool
		}{texts[0]: {1, false}, texts[1]: {2, false}, texts[2]: {1, true}}
		if w, ok := want[g.Text]; ok {
			if g.Segments != w.segs || strings.HasPrefix(g.Coding, "Unicode") != w.ucs2 {
				t.Errorf("libgammu: %q in %d segments, coding %s; want %d segments, UCS-2 %v", g.Text, g.Segments, g.Coding, w.segs, w.ucs2)
			}
			if w.segs > 1 && (g.ConcatRef == nil || slices.Contains(g.CMGS, 0)) {
				t.Errorf("libgammu: %q has no concatenation reference", g.Text)
			}
		}
	}
	if !slices.Equal(gbodies, want) {
		t.Errorf("phonesim received (decoded by libgammu):\n%q\nwant:\n%q", gbodies, want)
	}
	var golens []int
	for _, c := range cmgsSent(t, socatWritten(t, off)) {
		if c.to == "+15550001111" {
			golens = append(golens, c.n)
		}
	}
	if !slices.Equal(glens, golens) {
		t.Errorf("AT+CMGS lengths: libgammu %v, Go decode %v", glens, golens)
	}

	// Inbound: phonesim stores the text and sends +CMTI; the driver reads,
	// hands it to the Receiver, then deletes it.
	inject := func(from, body string) { t.Helper(); labInject(t, from, body) }
	inject("+15551234567", "STOP")
	rcv.waitReceive(t)
	long := strings.Repeat("I called about the leaking tap. ", 7)
	inject("+15557654321", long)
	rcv.waitReceive(t)
	in := rcv.inbound()
	if len(in) != 2 || in[0].From != "+15551234567" || in[0].Body != "STOP" || in[1].From != "+15557654321" || in[1].Body != long {
		t.Fatalf("Receiver got %+v, want STOP and the long text whole", in)
	}
	for range 200 {
		if strings.Count(string(socatWritten(t, off)), "AT+CMGD=") >= 3 { // STOP + 2 segments
			break
		}
		sleepTick()
	}
	if n := strings.Count(string(socatWritten(t, off)), "AT+CMGD="); n < 3 {
		t.Errorf("driver deleted %d stored messages, want 3 (STOP and two segments)", n)
	}
}

// labInject has phonesim store a text from sender and indicate it with
// +CMTI (long texts: one stored segment each).
func labInject(t *testing.T, from, body string) {
	t.Helper()
	out, err := exec.Command("../../.ci/lab/phonesim/inject-sms.sh", from, body).CombinedOutput()
	if err != nil {
		t.Fatalf("inject-sms.sh: %v %s", err, out)
	}
}

// labStart (re)starts phonesim in a mode: "" plain, "--pin-locked".
func labStart(t *testing.T, mode string) {
	t.Helper()
	args := []string{}
	if mode != "" {
		args = append(args, mode)
	}
	out, err := labScript("start.sh", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("start.sh %s: %v\n%s", mode, err, out)
	}
	t.Logf("start.sh %s: %s", mode, strings.TrimSpace(string(out)))
}

// labScript runs a script of .ci/lab/phonesim as a test that holds the
// lab's lock (labDevice): start.sh does not wait for it.
func labScript(name string, args ...string) *exec.Cmd {
	c := exec.Command("../../.ci/lab/phonesim/"+name, args...)
	c.Env = append(os.Environ(), "PHONESIM_LOCK_HELD=1")
	return c
}

// labRestart stops phonesim and starts it afresh in a mode: its SIM state
// (a PIN entered) lasts across pty sessions while it runs.
func labRestart(t *testing.T, mode string) {
	t.Helper()
	if out, err := labScript("stop.sh").CombinedOutput(); err != nil {
		t.Fatalf("stop.sh: %v\n%s", err, out)
	}
	labStart(t, mode)
}

// logSizeNow is logSize for other goroutines (no t.Fatal): -1 on error.
func logSizeNow() int64 {
	fi, err := os.Stat(filepath.Join(labState(), "phonesim", "socat.log"))
	if err != nil {
		return -1
	}
	return fi.Size()
}

// writtenBetween is what the driver wrote to phonesim between two byte
// log offsets.
func writtenBetween(t *testing.T, from, to int64) string {
	t.Helper()
	f, err := os.Open(filepath.Join(labState(), "phonesim", "socat.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, to-from)
	if _, err := f.ReadAt(buf, from); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "prefix.log")
	if err := os.WriteFile(tmp, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return string(parseSocatLog(t, tmp, 0))
}

// The SIM needs PIN 2468: Run unlocks it with the right PIN; with a wrong
// one it sends AT+CPIN exactly once and stops with an error that shows
// no PIN. phonesim is put back in plain mode afterwards.
func TestLab_PINLocked(t *testing.T) {
	dev := labDevice(t)
	labStart(t, "--pin-locked")
	t.Cleanup(func() { // before labDevice's unlock: others find a plain SIM
		if out, err := labScript("start.sh").CombinedOutput(); err != nil {
			t.Errorf("restoring plain phonesim: start.sh: %v\n%s", err, out)
		}
	})
	t.Run("RightPIN", func(t *testing.T) {
		off := logSize(t)
		d := startLab(t, dev, newRecorder(), func(c *Config) { c.PIN = "2468" })
		if st := d.Status(); st.SIM != "READY" {
			t.Errorf("SIM %q after the PIN, want READY", st.SIM)
		}
		if _, err := send(t, d, "+15550001111", "Sent after the PIN."); err != nil {
			t.Fatalf("Send: %v", err)
		}
		w := string(socatWritten(t, off))
		if n := strings.Count(w, `AT+CPIN="`); n != 1 || !strings.Contains(w, `AT+CPIN="2468"`) {
			t.Errorf("driver wrote AT+CPIN=\"...\" %d times, want once with 2468:\n%q", n, w)
		}
		if got, _ := decodeSent(t, []byte(w)); len(got) != 1 || got[0].Body != "Sent after the PIN." {
			t.Errorf("phonesim received %+v", got)
		}
	})
	t.Run("WrongPIN", func(t *testing.T) {
		// phonesim keeps the SIM unlocked by RightPIN for later sessions:
		// a fresh phonesim, PIN-locked again.
		labRestart(t, "--pin-locked")
		off := logSize(t)
		cfg := labConfig(dev)
		cfg.PIN = "1357"
		d, err := New(cfg, labLog(t))
		if err != nil {
			t.Fatal(err)
		}
		// The tty comes back a moment after the previous driver closed it;
		// a missing tty is a reason to retry, not to stop, so wait for it.
		for i := 0; i < 100; i++ {
			if _, err := os.Stat(dev); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		err = d.Run(ctx, newRecorder())
		if ctx.Err() != nil {
			t.Fatal("Run kept going for 60s after a wrong PIN; want it to stop")
		}
		if err == nil || !strings.Contains(err.Error(), "rejected the PIN") {
			t.Errorf("Run: %v, want an error saying the SIM rejected the PIN", err)
		}
		for _, pin := range []string{"1357", "2468"} {
			if err != nil && strings.Contains(err.Error(), pin) {
				t.Errorf("Run's error shows a PIN: %v", err)
			}
		}
		w := string(socatWritten(t, off))
		if n := strings.Count(w, `AT+CPIN="`); n != 1 || !strings.Contains(w, `AT+CPIN="1357"`) {
			t.Errorf("driver wrote AT+CPIN=\"...\" %d times, want exactly once (1357):\n%q", n, w)
		}
		if strings.Contains(w, "AT+CMGS") || strings.Contains(w, "AT+CMGL") {
			t.Errorf("driver went on after the rejected PIN:\n%q", w)
		}
	})
}

// AT+XHANG never answers: the command times out, the driver resynchronises
// on the same connection (AT until the line is in step, no reopen), and
// the next text goes out once.
func TestLab_HangResync(t *testing.T) {
	dev := labDevice(t)
	d := startLab(t, dev, newRecorder(), func(c *Config) { c.CommandTimeout = 2 * time.Second })
	off := logSize(t)
	err := d.do(t, func(ctx context.Context, s *session) error {
		_, err := s.cmd(ctx, "+XHANG", 0)
		return err
	})
	if !errors.Is(err, at.ErrDeadlineExceeded) {
		t.Fatalf("AT+XHANG: %v, want a timeout", err)
	}
	if errors.Is(err, errBroken) {
		t.Fatalf("AT+XHANG: %v: the resynchronisation failed", err)
	}
	if st := d.Status(); st.State != StateReady {
		t.Errorf("state %s after the hang, want ready", st.State)
	}
	if _, err := send(t, d, "+15550001111", "After the hang."); err != nil {
		t.Fatalf("Send after the hang: %v", err)
	}
	w := string(socatWritten(t, off))
	i := strings.Index(w, "AT+XHANG\r")
	if i < 0 || !strings.Contains(w[i+len("AT+XHANG\r"):], "AT\r") {
		t.Errorf("no resynchronising AT after AT+XHANG:\n%q", w)
	}
	if strings.Contains(w, "ATZ") {
		t.Errorf("driver reopened the modem (ATZ) instead of resynchronising:\n%q", w)
	}
	if got, _ := decodeSent(t, []byte(w)); len(got) != 1 || got[0].Body != "After the hang." {
		t.Errorf("phonesim received %+v, want the text after the hang once", got)
	}
}

// An inbound +CMT (phonesim's AT+XCMTLEN/AT+XCMT hooks) reaches the
// Receiver and is acknowledged with AT+CNMA only after Receive returned
// nil: not while it fails, and not before it is called.
func TestLab_DirectCMT(t *testing.T) {
	dev := labDevice(t)
	rcv := newRecorder()
	rcv.setFail(errors.New("ledger down"))
	var sizes []int64 // byte log size at each Receive call
	rcv.onCall = func() { sizes = append(sizes, logSizeNow()) }
	off := logSize(t)
	d := startLab(t, dev, rcv)
	p := deliverPDUs("+15551234567", "STOP sent directly")[0]
	n := strings.TrimSpace(p[0][strings.LastIndexByte(p[0], ',')+1:])
	deliver := func() {
		t.Helper()
		err := d.do(t, func(ctx context.Context, s *session) error {
			if _, err := s.cmd(ctx, "+XCMTLEN="+n, 0); err != nil {
				return err
			}
			_, err := s.cmd(ctx, "+XCMT="+p[1], 0)
			return err
		})
		if err != nil {
			t.Fatalf("phonesim +CMT hook: %v", err)
		}
	}
	deliver()
	rcv.waitReceive(t) // fails
	_ = d.do(t, func(context.Context, *session) error { return nil })
	if w := string(socatWritten(t, off)); strings.Contains(w, "AT+CNMA") {
		t.Fatalf("+CMT acknowledged although Receive failed:\n%q", w)
	}
	rcv.setFail(nil)
	deliver() // the network delivers it again
	rcv.waitReceive(t)
	_ = d.do(t, func(context.Context, *session) error { return nil })
	if got := rcv.inbound(); len(got) != 1 || got[0].Body != "STOP sent directly" || got[0].From != "+15551234567" {
		t.Fatalf("Receiver got %+v", got)
	}
	w := string(socatWritten(t, off))
	if c := strings.Count(w, "AT+CNMA"); c != 1 {
		t.Errorf("AT+CNMA written %d times, want once (after the recorded delivery):\n%q", c, w)
	}
	rcv.mu.Lock()
	last := sizes[len(sizes)-1]
	rcv.mu.Unlock()
	if before := writtenBetween(t, off, last); strings.Contains(before, "AT+CNMA") {
		t.Errorf("AT+CNMA written before Receive was called:\n%q", before)
	}
}

// A text whose Receive fails stays on phonesim's SIM (no AT+CMGD, still
// listed by AT+CMGL) and is delivered at a later sweep, then deleted.
func TestLab_ReceiveFailureKeepsOnSIM(t *testing.T) {
	dev := labDevice(t)
	rcv := newRecorder()
	rcv.setFail(errors.New("ledger full"))
	off := logSize(t)
	d := startLab(t, dev, rcv, func(c *Config) { c.HealthInterval = 300 * time.Millisecond })
	labInject(t, "+15551112222", "HELP please")
	rcv.waitReceive(t) // failed, from the +CMTI
	rcv.waitReceive(t) // failed again, from a retry sweep
	list := func() []listed {
		t.Helper()
		var l []listed
		err := d.do(t, func(ctx context.Context, s *session) error {
			info, err := s.cmd(ctx, "+CMGL=4", 0)
			if emptyStore(err) { // phonesim's answer for an empty store
				return nil
			}
			l = parseCMGL(info)
			return err
		})
		if err != nil {
			t.Fatalf("AT+CMGL=4: %v", err)
		}
		return l
	}
	l := list()
	if len(l) != 1 {
		t.Fatalf("SIM holds %d messages after the failed Receive, want it kept", len(l))
	}
	if tp, err := decodePDU(l[0].pdu, 0); err != nil {
		t.Errorf("kept message: %v", err)
	} else if b, err := wsms.Decode([]*tpdu.TPDU{tp}); err != nil || string(b) != "HELP please" {
		t.Errorf("kept message %q %v, want HELP please", b, err)
	}
	if w := string(socatWritten(t, off)); strings.Contains(w, "AT+CMGD") {
		t.Fatalf("driver deleted a message whose Receive failed:\n%q", w)
	}
	rcv.setFail(nil)
	for len(rcv.inbound()) == 0 {
		rcv.waitReceive(t)
	}
	if got := rcv.inbound(); len(got) != 1 || got[0].Body != "HELP please" || got[0].From != "+15551112222" {
		t.Fatalf("Receiver got %+v", got)
	}
	if l := list(); len(l) != 0 {
		t.Errorf("SIM still holds %d messages after the recorded delivery", len(l))
	}
	if w := string(socatWritten(t, off)); !strings.Contains(w, "AT+CMGD="+strconv.Itoa(l[0].idx)+"\r") {
		t.Errorf("no AT+CMGD=%d after the delivery:\n%q", l[0].idx, w)
	}
}

// A two-part text sent directly (+CMT, phonesim's AT+XCMTLEN/AT+XCMT
// hooks) whose parts straddle a reconnect: the first part is acknowledged
// at once and kept by the Driver, the link is rebuilt, and the second
// part completes the text on the new one. Each part is acknowledged once.
func TestLab_MultipartAcrossReconnect(t *testing.T) {
	dev := labDevice(t)
	rcv := newRecorder()
	off := logSize(t)
	d := startLab(t, dev, rcv)
	body := strings.Repeat("Two parts sent directly, a reconnect between them. ", 4)
	pdus, _ := multipartOf(t, "+15559990000", body, 31)
	if len(pdus) != 2 {
		t.Fatalf("%d segments, want 2", len(pdus))
	}
	deliver := func(p string) {
		t.Helper()
		err := d.do(t, func(ctx context.Context, s *session) error {
			if _, err := s.cmd(ctx, "+XCMTLEN="+strconv.Itoa(len(p)/2-1), 0); err != nil {
				return err
			}
			_, err := s.cmd(ctx, "+XCMT="+p, 0)
			return err
		})
		if err != nil {
			t.Fatalf("phonesim +CMT hook: %v", err)
		}
	}
	cnmas := func() int { return strings.Count(string(socatWritten(t, off)), "AT+CNMA") }
	deliver(pdus[0])
	for i := 0; cnmas() == 0; i++ {
		if i == 400 {
			t.Fatal("first +CMT part not acknowledged")
		}
		sleepTick()
	}
	// Rebuild the link, as after a hang or an unplug.
	_ = d.do(t, func(context.Context, *session) error { return fmt.Errorf("%w: test reconnect", errBroken) })
	for i := 0; d.Status().State == StateReady; i++ {
		if i == 400 {
			t.Fatal("driver did not go down after the forced reconnect")
		}
		sleepTick()
	}
	for i := 0; d.Status().State != StateReady; i++ {
		if i == 800 {
			t.Fatalf("driver not ready again: %+v", d.Status())
		}
		sleepTick()
	}
	if got := rcv.inbound(); len(got) != 0 {
		t.Fatalf("Receiver got %+v before the second part", got)
	}
	deliver(pdus[1])
	rcv.waitReceive(t)
	if got := rcv.inbound(); len(got) != 1 || got[0].Body != body || got[0].From != "+15559990000" {
		t.Fatalf("Receiver got %+v, want the text whole after the reconnect", got)
	}
	barrier(t, d)
	if n := cnmas(); n != 2 {
		t.Errorf("AT+CNMA written %d times, want 2 (each part once)", n)
	}
}

// gammuText is one text as libgammu decoded it from the byte log
// (.ci/lab/phonesim/decode-sent.py): an independent decode of what was
// really written, not by the Go library the driver encodes with.
type gammuText struct {
	Mode      string `json:"mode"` // "pdu"; "cancelled": an AT+CMGS cut off (ESC, the pty closed)
	To        string `json:"to"`
	Text      string `json:"text"`
	Segments  int    `json:"segments"`
	Coding    string `json:"coding"`
	ConcatRef *int   `json:"concat_ref"`
	Complete  bool   `json:"complete"`
	// CMGS is the AT+CMGS=<n> length of each part, TPDUOctets the octets
	// of its TPDU, both in part order.
	CMGS       []int  `json:"cmgs"`
	TPDUOctets []int  `json:"tpdu_octets"`
	Session    int    `json:"session"` // pty session of the first part (0 = the first after the offset)
	Error      string `json:"error"`
}

// gammuDecode runs decode-sent.py (/usr/bin/python3 and libgammu, from
// bookworm's python3-gammu, which start.sh installs) on the byte log from
// offset. It fails the test on a malformed PDU or a wrong AT+CMGS length.
func gammuDecode(t *testing.T, offset int64) []gammuText {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "../../.ci/lab/phonesim/decode-sent.py",
		filepath.Join(labState(), "phonesim", "socat.log"), "--from-offset", strconv.FormatInt(offset, 10))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if strings.Contains(stderr.String(), "No module named 'gammu'") {
		t.Fatalf("decode-sent.py: python3-gammu is missing: .ci/lab/phonesim/start.sh installs it (apt-get install python3-gammu)")
	}
	if err != nil {
		t.Fatalf("decode-sent.py (libgammu): %v\n%s%s", err, stderr.String(), out)
	}
	var texts []gammuText
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		var g gammuText
		if err := json.Unmarshal([]byte(l), &g); err != nil {
			t.Fatalf("decode-sent.py line %q: %v", l, err)
		}
		texts = append(texts, g)
	}
	return texts
}

// cmgsSent lists every AT+CMGS=<n> whose PDU was sent (ended with
// Ctrl-Z), in the order written, with the recipient decoded by the Go
// library.
func cmgsSent(t *testing.T, written []byte) (out []struct {
	to string
	n  int
}) {
	t.Helper()
	for _, m := range regexp.MustCompile(`(?s)AT\+CMGS=(\d+)\r\n?([^\x1a\x1b]*)\x1a`).FindAllSubmatch(written, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		p, err := pdumode.UnmarshalHexString(strings.TrimSpace(string(m[2])))
		if err != nil {
			t.Fatalf("PDU %q: %v", m[2], err)
		}
		tp, err := wsms.Unmarshal(p.TPDU, wsms.AsMO)
		if err != nil {
			t.Fatalf("TPDU: %v", err)
		}
		out = append(out, struct {
			to string
			n  int
		}{tp.DA.Number(), n})
	}
	return out
}

// socatSessions is what the driver wrote to phonesim since offset, one
// entry per pty session (each open of the tty is a fresh modem; socat
// logs a session's first write from=0). A command cut off by a closing
// pty stays in its own session.
func socatSessions(t *testing.T, offset int64) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join(labState(), "phonesim", "socat.log"))
	if err != nil {
		t.Fatalf("socat byte log: %v", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		t.Fatal(err)
	}
	hdr := regexp.MustCompile(`^([<>]) \S+ \S+\s+length=\d+ from=(\d+) to=\d+$`)
	var out [][]byte
	dir := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if m := hdr.FindStringSubmatch(l); m != nil {
			dir = m[1]
			if dir == ">" && (m[2] == "0" || out == nil) {
				out = append(out, nil)
			}
			continue
		}
		if dir == ">" && strings.HasPrefix(l, " ") && out != nil {
			hexPart := strings.TrimSpace(l)
			if i := strings.Index(hexPart, "  "); i >= 0 {
				hexPart = hexPart[:i]
			}
			b, err := hex.DecodeString(strings.ReplaceAll(hexPart, " ", ""))
			if err != nil {
				t.Fatalf("socat log line %q: %v", l, err)
			}
			out[len(out)-1] = append(out[len(out)-1], b...)
		}
	}
	return out
}

// The pty closes mid-queue (socat killed: the modem "unplugged") and comes
// back as a fresh modem. A sender loop like the core's outbox (Temporary
// is retried, Unknown never is) sends every queued text; the byte log,
// decoded per pty session by the Go library and by libgammu, shows each
// text that Send reported Accepted written exactly once, each text that
// got Temporary first sent once after its retry, and each Unknown (if any)
// at most once and not resent.
func TestLab_ReopenMidQueue(t *testing.T) {
	dev := labDevice(t)
	off := logSize(t)
	d := startLab(t, dev, newRecorder(), func(c *Config) { c.CommandTimeout = 3 * time.Second })
	const to, n, killAfter = "+15550002222", 12, 4
	body := func(i int) string { return fmt.Sprintf("Queued text %02d of %d, the pty goes away mid-queue.", i, n) }

	type tally struct {
		calls     int
		temporary int
		final     sms.Outcome
	}
	res := make([]tally, n)
	killed := make(chan error, 1)
	for i := range n {
		if i == killAfter+1 {
			// Text killAfter raced the kill; the rest go after the old
			// pty is certainly gone.
			if err := <-killed; err != nil {
				t.Fatal(err)
			}
		}
		for {
			if res[i].calls == 400 {
				t.Fatalf("text %d: still Temporary after %d attempts; driver %+v", i, res[i].calls, d.Status())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			_, err := d.Send(ctx, sms.Message{Key: "k" + strconv.Itoa(i), To: to, Body: body(i)})
			cancel()
			res[i].calls++
			o := sms.OutcomeOf(err)
			res[i].final = o
			if o == sms.Temporary {
				res[i].temporary++
				// As the outbox does: wait, then retry; here until the
				// driver is ready again (a tick at least).
				for j := 0; j < 40 && d.Status().State != StateReady; j++ {
					sleepTick()
				}
				sleepTick()
				continue
			}
			if o != sms.Accepted && o != sms.Unknown {
				t.Fatalf("text %d: %v (outcome %s)", i, err, o)
			}
			break
		}
		if i == killAfter-1 {
			go func() { killed <- modemtest.KillSocat() }()
		}
	}

	var accepted, resent, unknown int
	for i, r := range res {
		switch {
		case r.final == sms.Unknown:
			unknown++
		case r.temporary > 0:
			resent++
		default:
			accepted++
		}
		if r.temporary > 0 || r.final != sms.Accepted {
			t.Logf("text %d: %d Send calls, %d Temporary, final %s", i, r.calls, r.temporary, r.final)
		}
	}
	t.Logf("%d texts: %d accepted at the first Send, %d accepted after Temporary, %d Unknown (not resent)", n, accepted, resent, unknown)
	if resent+unknown == 0 {
		t.Errorf("no Send saw the pty go away: every text accepted at once")
	}

	// What phonesim received, per pty session, decoded by the Go library.
	sessions := socatSessions(t, off)
	count := map[string]int{}
	firstSession := map[string]int{}
	var reopened bool
	for sn, w := range sessions {
		if sn > 0 && strings.Contains(string(w), "ATZ") {
			reopened = true
		}
		got, _ := decodeSent(t, w)
		for _, m := range got {
			if m.To != to {
				continue
			}
			if count[m.Body] == 0 {
				firstSession[m.Body] = sn
			}
			count[m.Body]++
		}
	}
	if !reopened {
		t.Errorf("no reopened session (ATZ on a fresh pty) in the byte log: %d sessions", len(sessions))
	}
	// The same, decoded by libgammu.
	gcount := map[string]int{}
	for _, g := range gammuDecode(t, off) {
		if g.Mode == "cancelled" {
			t.Logf("libgammu: an AT+CMGS=%v cut off in session %d (not sent)", g.CMGS, g.Session)
			continue
		}
		if g.To != to {
			continue
		}
		if !g.Complete || g.Segments != 1 || !slices.Equal(g.CMGS, g.TPDUOctets) {
			t.Errorf("libgammu decoded %+v", g)
		}
		gcount[g.Text]++
	}
	for i, r := range res {
		b := body(i)
		if count[b] != gcount[b] {
			t.Errorf("text %d: the Go decode finds it %d times, libgammu %d", i, count[b], gcount[b])
		}
		switch {
		case r.final == sms.Unknown:
			if count[b] > 1 {
				t.Errorf("text %d (Unknown, not resent) went out %d times", i, count[b])
			}
		case count[b] != 1:
			t.Errorf("text %d (Accepted after %d Send calls) went out %d times, want exactly once", i, r.calls, count[b])
		case i > killAfter && firstSession[b] == firstSession[body(0)]:
			t.Errorf("text %d went out on the pty that was closed before it was sent", i)
		}
	}
}
