package modem

import (
	"bufio"
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	wsms "github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/pdumode"

	"github.com/textback/textback/sms"
)

// The real-peer tier: ofono-phonesim behind a socat pty, started by
// .ci/lab/phonesim/start.sh. It runs when TEXTBACK_LAB_PHONESIM names the
// tty, and fails (does not skip) when that tty is missing.
func labDevice(t *testing.T) string {
	t.Helper()
	dev := os.Getenv("TEXTBACK_LAB_PHONESIM")
	if dev == "" {
		t.Skip("TEXTBACK_LAB_PHONESIM is not set (start .ci/lab/phonesim/start.sh and set it to its tty)")
	}
	if _, err := os.Stat(dev); err != nil {
		t.Fatalf("TEXTBACK_LAB_PHONESIM=%s: %v (is .ci/lab/phonesim/start.sh running?)", dev, err)
	}
	// go test ./... runs packages in parallel and cmd/textback's tier
	// uses the same simulated modem: one test at a time.
	lock, err := os.OpenFile(filepath.Join(labState(), "phonesim", "test.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("phonesim lab lock: %v", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("phonesim lab lock: %v", err)
	}
	t.Cleanup(func() { lock.Close() })
	return dev
}

func labState() string {
	if s := os.Getenv("LAB_STATE"); s != "" {
		return s
	}
	return "/var/tmp/textback-lab"
}

// socatLog reads what the driver wrote to phonesim since offset, from
// socat's -x hex log.
func socatWritten(t *testing.T, offset int64) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join(labState(), "phonesim", "socat.log"))
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

func startLab(t *testing.T, dev string, rcv sms.Receiver) *Driver {
	t.Helper()
	cfg := Config{Device: dev, MinGap: -1, MaxPerHour: -1, MaxPerDay: -1, SendTimeout: 10 * time.Second, Number: "+15555551000"}
	log := zerolog.Nop()
	if testing.Verbose() {
		log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	}
	d, err := New(cfg, log)
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

	// Inbound: phonesim stores the text and sends +CMTI; the driver reads,
	// hands it to the Receiver, then deletes it.
	inject := func(from, body string) {
		t.Helper()
		out, err := exec.Command("../../.ci/lab/phonesim/inject-sms.sh", from, body).CombinedOutput()
		if err != nil {
			t.Fatalf("inject-sms.sh: %v %s", err, out)
		}
	}
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
