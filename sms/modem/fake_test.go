package modem

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	wsms "github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/pdumode"

	"github.com/textback/textback/sms"
)

// fakeModem is a scripted GSM modem: bytes written (AT commands, SMS
// bodies) in, lines out, like warthog618/modem's own tests. It keeps its
// SIM (stored messages, PIN state) across opens; each open is a new link,
// and unplug ends the current one with EOF. Faults are queued per command.
type fakeModem struct {
	mu            sync.Mutex
	number        string
	pin           string // "" no PIN; otherwise the SIM asks for it until entered
	unlocked      bool
	pinTries      []string
	store         map[int]string // SIM storage: index → hex PDU (SMSC + TPDU)
	nextIdx       int
	sent          []sms.Message // texts received whole, decoded
	segments      []string      // every SMS-SUBMIT TPDU received, hex
	coll          *wsms.Collector
	faults        map[string][]fault // by command prefix ("AT+CMGS", "AT")
	cmds          []string           // every command line received
	cnma          int
	notRegistered bool
	cnmiTest      string // the answer to AT+CNMI=? ("": ERROR)
	link          *fakeLink
	opens         int
}

// fault is what the fake does with one command instead of its normal reply.
type fault struct {
	reply   []string // lines sent instead of the reply (nil with hang: nothing)
	hang    bool     // no reply at all
	late    bool     // with hang: the normal reply comes just before the next command's
	before  []string // lines sent before the normal reply (garbage, indications)
	unplug  bool     // EOF instead of a reply
	afterOK bool     // for AT+CMGS: fault at the PDU, after the prompt
}

type fakeLink struct {
	f      *fakeModem
	r      *io.PipeReader
	w      *io.PipeWriter
	out    chan []byte
	in     []byte
	prompt string // the AT+CMGS=n waiting for its PDU
	late   []string
	closed bool
	once   sync.Once
}

func newFakeModem() *fakeModem {
	return &fakeModem{number: "+15555551000", store: map[int]string{}, nextIdx: 1, coll: wsms.NewCollector(), faults: map[string][]fault{}}
}

// open returns a new link to the modem (the previous one, if any, ends).
func (f *fakeModem) open() (io.ReadWriteCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.link != nil {
		f.link.end()
	}
	r, w := io.Pipe()
	l := &fakeLink{f: f, r: r, w: w, out: make(chan []byte, 256)}
	go func() { // one writer: replies keep their order and Write never blocks
		for b := range l.out {
			if _, err := w.Write(b); err != nil {
				return
			}
		}
		w.Close()
	}()
	f.link = l
	f.opens++
	return l, nil
}

func (f *fakeModem) fault(prefix string, ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[prefix] = append(f.faults[prefix], ft)
}

// unplug ends the current link with EOF.
func (f *fakeModem) unplug() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.link != nil {
		f.link.end()
	}
}

// emitCMT sends a +CMT indication and its PDU line as a modem frames them.
func (f *fakeModem) emitCMT(p [2]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.link != nil && !f.link.closed {
		f.link.out <- []byte("\r\n" + p[0] + "\r\n" + p[1] + "\r\n")
	}
}

// emit sends an unsolicited line on the current link.
func (f *fakeModem) emit(lines ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.link != nil {
		f.link.send(lines...)
	}
}

// storeText stores body from sender as SMS-DELIVER PDUs and returns their
// indexes (several for a long text).
func (f *fakeModem) storeText(from, body string) []int {
	pdus, err := wsms.Encode([]byte(body), wsms.AsDeliver, wsms.From(from))
	if err != nil {
		panic(err) // test data
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var idxs []int
	for _, p := range pdus {
		b, err := p.MarshalBinary()
		if err != nil {
			panic(err)
		}
		f.store[f.nextIdx] = fmt.Sprintf("00%X", b)
		idxs = append(idxs, f.nextIdx)
		f.nextIdx++
	}
	return idxs
}

// deliverPDUs returns the +CMT lines of body from sender.
func deliverPDUs(from, body string) [][2]string {
	pdus, err := wsms.Encode([]byte(body), wsms.AsDeliver, wsms.From(from))
	if err != nil {
		panic(err)
	}
	var out [][2]string
	for _, p := range pdus {
		b, _ := p.MarshalBinary()
		out = append(out, [2]string{fmt.Sprintf("+CMT: ,%d", len(b)), fmt.Sprintf("00%X", b)})
	}
	return out
}

func (f *fakeModem) stored() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var idxs []int
	for i := range f.nextIdx {
		if _, ok := f.store[i]; ok {
			idxs = append(idxs, i)
		}
	}
	return idxs
}

func (f *fakeModem) sentTexts() []sms.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sms.Message(nil), f.sent...)
}

func (f *fakeModem) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...)
}

func (l *fakeLink) Read(p []byte) (int, error) { return l.r.Read(p) }

func (l *fakeLink) Close() error {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	l.end()
	return nil
}

// end closes the link: the reader sees EOF. Called with f.mu held.
func (l *fakeLink) end() {
	l.once.Do(func() {
		l.closed = true
		close(l.out)
	})
}

// send queues reply lines, each framed "\r\nLINE\r\n" like a modem.
func (l *fakeLink) send(lines ...string) {
	if l.closed {
		return
	}
	for _, s := range lines {
		if s == "> " {
			l.out <- []byte("\r\n> ")
			continue
		}
		l.out <- []byte("\r\n" + s + "\r\n")
	}
}

func (l *fakeLink) Write(p []byte) (int, error) {
	f := l.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if l.closed {
		return 0, io.ErrClosedPipe
	}
	l.in = append(l.in, p...)
	for {
		if l.prompt != "" { // waiting for an SMS body ended by Ctrl-Z, or ESC
			if i := strings.IndexByte(string(l.in), 0x1b); i >= 0 {
				l.in, l.prompt = l.in[i+1:], ""
				continue
			}
			i := strings.IndexByte(string(l.in), 0x1a)
			if i < 0 {
				return len(p), nil
			}
			body := strings.TrimSpace(string(l.in[:i]))
			l.in = l.in[i+1:]
			cmd := l.prompt
			l.prompt = ""
			l.pdu(cmd, body)
			continue
		}
		i := strings.IndexAny(string(l.in), "\r\x1b")
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimSpace(string(l.in[:i]))
		l.in = l.in[i+1:]
		if line == "" {
			continue
		}
		l.command(line)
	}
}

// takeFault returns the next fault queued for the longest prefix of line
// (a key ending in $ matches the whole line).
func (f *fakeModem) takeFault(line string, pdu bool) (fault, bool) {
	best := ""
	for p, q := range f.faults {
		match := strings.HasPrefix(line, p)
		if exact, ok := strings.CutSuffix(p, "$"); ok {
			match = line == exact
		}
		if len(q) > 0 && match && len(p) > len(best) && q[0].afterOK == pdu {
			best = p
		}
	}
	if best == "" {
		return fault{}, false
	}
	ft := f.faults[best][0]
	f.faults[best] = f.faults[best][1:]
	return ft, true
}

// reply sends lines for a command, applying a fault.
func (l *fakeLink) reply(ft fault, faulted bool, normal []string) {
	if len(l.late) > 0 { // a late reply lands before this command's own
		l.send(l.late...)
		l.late = nil
	}
	if !faulted {
		l.send(normal...)
		return
	}
	switch {
	case ft.unplug:
		l.end()
	case ft.hang:
		if ft.late {
			l.late = normal
		}
	case ft.reply != nil:
		l.send(ft.before...)
		l.send(ft.reply...)
	default:
		l.send(ft.before...)
		l.send(normal...)
	}
}

func (l *fakeLink) command(line string) {
	f := l.f
	f.cmds = append(f.cmds, line)
	ft, faulted := f.takeFault(line, false)
	up := strings.ToUpper(line)
	okReply := []string{"OK"}
	locked := f.pin != "" && !f.unlocked
	var normal []string
	switch {
	case up == "AT+CNMI=?":
		normal = []string{"ERROR"}
		if f.cnmiTest != "" {
			normal = []string{f.cnmiTest, "OK"}
		}
	case up == "AT", up == "ATZ", up == "ATE0", strings.HasPrefix(up, "AT+CMGF="), strings.HasPrefix(up, "AT+CMEE="),
		strings.HasPrefix(up, "AT+CNMI="), strings.HasPrefix(up, "AT+CSCA="):
		normal = okReply
	case up == "AT+CSMS=1":
		normal = []string{"+CSMS: 1,1,1", "OK"}
	case up == "AT+GCAP":
		normal = []string{"+GCAP: +CGSM,+FCLASS", "OK"}
	case up == "AT+CGMI":
		normal = []string{"FakeCo", "OK"}
	case up == "AT+CGMM":
		normal = []string{"Fake 3G", "OK"}
	case up == "AT+CGMR":
		normal = []string{"1.0", "OK"}
	case up == "AT+CGSN":
		normal = []string{"356938035643809", "OK"}
	case up == "AT+COPS?":
		normal = []string{`+COPS: 0,0,"FakeNet",2`, "OK"}
	case up == "AT+CREG?":
		st := "1"
		if f.notRegistered {
			st = "2"
		}
		normal = []string{"+CREG: 0," + st, "OK"}
	case up == "AT+CSQ":
		normal = []string{"+CSQ: 20,99", "OK"}
	case up == "AT+CSCA?":
		normal = []string{`+CSCA: "+15550009999",145`, "OK"}
	case up == "AT+CPMS?":
		normal = []string{fmt.Sprintf(`+CPMS: "SM",%d,30,"SM",%d,30,"SM",%d,30`, len(f.store), len(f.store), len(f.store)), "OK"}
	case up == "AT+CPIN?":
		if locked {
			normal = []string{"+CPIN: SIM PIN", "OK"}
		} else {
			normal = []string{"+CPIN: READY", "OK"}
		}
	case strings.HasPrefix(up, "AT+CPIN="):
		pin := strings.Trim(line[len("AT+CPIN="):], `"`)
		f.pinTries = append(f.pinTries, pin)
		if pin == f.pin {
			f.unlocked = true
			normal = okReply
		} else {
			normal = []string{"+CME ERROR: 16"}
		}
	case strings.HasPrefix(up, "AT+CMGL"):
		if locked {
			normal = []string{"+CMS ERROR: 311"}
			break
		}
		for i := range f.nextIdx {
			if p, ok := f.store[i]; ok {
				normal = append(normal, fmt.Sprintf("+CMGL: %d,0,,%d", i, len(p)/2-1), p)
			}
		}
		normal = append(normal, "OK")
	case strings.HasPrefix(up, "AT+CMGR="):
		n, _ := strconv.Atoi(line[len("AT+CMGR="):])
		if p, ok := f.store[n]; ok {
			normal = []string{fmt.Sprintf("+CMGR: 0,,%d", len(p)/2-1), p, "OK"}
		} else {
			normal = okReply // an empty slot
		}
	case strings.HasPrefix(up, "AT+CMGD="):
		n, _ := strconv.Atoi(line[len("AT+CMGD="):])
		delete(f.store, n)
		normal = okReply
	case up == "AT+CNMA":
		f.cnma++
		normal = okReply
	case strings.HasPrefix(up, "AT+CMGS="):
		if locked {
			normal = []string{"+CMS ERROR: 311"}
			break
		}
		if faulted && (ft.hang || ft.unplug || ft.reply != nil) {
			l.reply(ft, faulted, []string{"> "})
			if ft.hang && !ft.late {
				l.prompt = "" // never prompts
			}
			return
		}
		l.prompt = line
		l.reply(ft, faulted, []string{"> "})
		return
	default:
		normal = []string{"ERROR"}
	}
	l.reply(ft, faulted, normal)
}

// pdu takes the body of an AT+CMGS.
func (l *fakeLink) pdu(cmd, body string) {
	f := l.f
	ft, faulted := f.takeFault(cmd, true)
	if faulted && (ft.reply != nil || ft.unplug) {
		l.reply(ft, true, nil) // refused: not sent
		return
	}
	p, err := pdumode.UnmarshalHexString(body)
	n, _ := strconv.Atoi(strings.TrimPrefix(cmd, "AT+CMGS="))
	if err != nil || n != len(p.TPDU) {
		l.send("+CMS ERROR: 304")
		return
	}
	tp, err := wsms.Unmarshal(p.TPDU, wsms.AsMO)
	if err != nil {
		l.send("+CMS ERROR: 304")
		return
	}
	f.segments = append(f.segments, fmt.Sprintf("%X", p.TPDU))
	segs, err := f.coll.Collect(*tp)
	if err != nil {
		l.send("+CMS ERROR: 304")
		return
	}
	if segs != nil {
		b, err := wsms.Decode(segs)
		if err != nil {
			l.send("+CMS ERROR: 304")
			return
		}
		f.sent = append(f.sent, sms.Message{To: segs[0].DA.Number(), From: f.number, Body: string(b)})
	}
	mr := strconv.Itoa(len(f.segments) % 256)
	l.reply(ft, faulted, []string{"+CMGS: " + mr, "OK"})
}

// concatRefOf returns the concatenation reference of an SMS-SUBMIT TPDU
// (hex), failing t when it has none.
func concatRefOf(t interface {
	Helper()
	Fatalf(string, ...any)
}, hexTPDU string) int {
	t.Helper()
	b, err := hex.DecodeString(hexTPDU)
	if err != nil {
		t.Fatalf("segment %q: %v", hexTPDU, err)
	}
	tp, err := wsms.Unmarshal(b, wsms.AsMO)
	if err != nil {
		t.Fatalf("segment %q: %v", hexTPDU, err)
	}
	_, _, ref, ok := tp.ConcatInfo()
	if !ok {
		t.Fatalf("segment %q has no concatenation header", hexTPDU)
	}
	return ref
}

func itoa(i int) string { return strconv.Itoa(i) }

func sleepTick() { time.Sleep(25 * time.Millisecond) }
