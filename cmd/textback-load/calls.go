package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/textback/textback/esl"
)

// A template is one recorded call, ready to be replayed as new calls: its
// messages cut at every id and at the caller's number, so that a copy
// with fresh ids and a fresh caller costs a few appends.
type template struct {
	name   string
	missed bool // a textable missed call: textback must text it
	msgs   []tmplMsg
	decide int // index of the deciding message (the caller's channel gone)
}

// tmplMsg is a message as parts: literal bytes, then a hole (an id or the
// number) before each literal but the first.
type tmplMsg struct {
	parts [][]byte
	holes []hole
}

type hole struct {
	kind byte   // 'i' id, 'n' caller number digits
	orig []byte // the recorded id
}

// instance writes message i of the template for call n with caller
// number digits num (as many digits as the recording's).
func (t *template) instance(dst []byte, i int, n uint64, num []byte) []byte {
	m := &t.msgs[i]
	dst = append(dst, m.parts[0]...)
	for k, h := range m.holes {
		switch h.kind {
		case 'i':
			dst = t.id(dst, h.orig, n)
		case 'n':
			dst = append(dst, num...)
		}
		dst = append(dst, m.parts[k+1]...)
	}
	return dst
}

// id writes a fresh id in place of orig for call n. ARI ids are opaque
// strings: a prefix does. Event-socket UUIDs keep their length (the frame's
// Content-Length stays right): their last twelve hex digits become n.
func (t *template) id(dst, orig []byte, n uint64) []byte {
	if len(orig) == 36 && orig[8] == '-' {
		dst = append(dst, orig[:24]...)
		return fmt.Appendf(dst, "%012x", n&0xffffffffffff)
	}
	return fmt.Appendf(dst, "L%d-%s", n, orig)
}

// cut splits msg at each match of ids and at each occurrence of number.
func cut(msg []byte, ids *regexp.Regexp, number []byte) tmplMsg {
	type span struct {
		at, end int
		h       hole
	}
	var spans []span
	for _, m := range ids.FindAllIndex(msg, -1) {
		spans = append(spans, span{m[0], m[1], hole{'i', bytes.Clone(msg[m[0]:m[1]])}})
	}
	for off := 0; ; {
		i := bytes.Index(msg[off:], number)
		if i < 0 {
			break
		}
		at := off + i
		spans = append(spans, span{at, at + len(number), hole{kind: 'n'}})
		off = at + len(number)
	}
	// sort by position (few spans: insertion sort)
	for i := 1; i < len(spans); i++ {
		for j := i; j > 0 && spans[j].at < spans[j-1].at; j-- {
			spans[j], spans[j-1] = spans[j-1], spans[j]
		}
	}
	var m tmplMsg
	last := 0
	for _, s := range spans {
		if s.at < last {
			continue // overlapping: keep the first
		}
		m.parts = append(m.parts, bytes.Clone(msg[last:s.at]))
		m.holes = append(m.holes, s.h)
		last = s.end
	}
	m.parts = append(m.parts, bytes.Clone(msg[last:]))
	return m
}

var (
	ariIDs = regexp.MustCompile(`\b1[0-9]{9}\.[0-9]+\b|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	eslIDs = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
)

// ariTypes are the event types textback's event filter lets through; a
// real Asterisk sends it nothing else.
var ariTypes = map[string]bool{
	"ChannelCreated": true, "ChannelDestroyed": true, "ChannelStateChange": true, "ChannelDialplan": true,
	"ChannelVarset": true, "ChannelHangupRequest": true, "ChannelCallerId": true, "Dial": true,
	"ChannelEnteredBridge": true, "ChannelLeftBridge": true, "BridgeDestroyed": true, "BridgeMerged": true,
}

// ariCaller is the caller number of the Asterisk recordings (digits).
const ariCaller = "5557654321"

// The Asterisk recordings replayed: missed calls (textable) and the
// others, with channelvars as textback's shipped ari.conf sets them.
var (
	ariMissed = []string{"a_noanswer", "c_caller_cancel", "e_voicemail", "f_busy", "i_ivr_abandon",
		"j_queue_noanswer", "l_queue_abandon_channelvars", "m_all_dnd_channelvars", "o_local_ringgroup_noanswer_channelvars"}
	ariOther = []string{"b_answered_ext_hangup", "d2_second_answers_channelvars", "k_queue_answered",
		"n_local_ringgroup_answered_channelvars", "g2_internal_noanswer_channelvars"}
)

// loadARI reads the Asterisk recordings under dir (ari/testdata).
func loadARI(dir string) (missed, other []*template, err error) {
	return loadAll(dir, ".jsonl", ariMissed, ariOther, loadARITemplate)
}

// loadAll reads the recordings named missed and other under dir with load.
func loadAll(dir, ext string, missed, other []string, load func(path string, missed bool) (*template, error)) (m, o []*template, err error) {
	read := func(names []string, isMissed bool) ([]*template, error) {
		var out []*template
		for _, name := range names {
			t, err := load(filepath.Join(dir, name+ext), isMissed)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
		return out, nil
	}
	if m, err = read(missed, true); err != nil {
		return nil, nil, err
	}
	o, err = read(other, false)
	return m, o, err
}

func loadARITemplate(path string, missed bool) (*template, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	defer f.Close()
	t := &template{name: strings.TrimSuffix(filepath.Base(path), ".jsonl"), missed: missed, decide: -1}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var head struct {
			Type    string `json:"type"`
			Channel struct {
				Name string `json:"name"`
			} `json:"channel"`
		}
		if err := json.Unmarshal(line, &head); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if !ariTypes[head.Type] {
			continue
		}
		if head.Type == "ChannelDestroyed" && strings.HasPrefix(head.Channel.Name, "PJSIP/carrier") {
			t.decide = len(t.msgs)
		}
		t.msgs = append(t.msgs, cut(line, ariIDs, []byte(ariCaller)))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.decide < 0 && missed {
		return nil, fmt.Errorf("%s: no ChannelDestroyed of the trunk channel", path)
	}
	return t, nil
}

// eslCaller is the caller number of the FreeSWITCH recordings (digits).
const eslCaller = "4155550123"

var (
	eslMissed = []string{"a_noanswer", "c_caller_cancel", "d_busy", "g_voicemail_fallback"}
	eslOther  = []string{"b_answered", "e_internal"}
)

// eslSubscribed are the events textback subscribes to.
var eslSubscribed = map[string]bool{"CHANNEL_CREATE": true, "CHANNEL_BRIDGE": true, "CHANNEL_HANGUP_COMPLETE": true}

// loadESL reads the FreeSWITCH recordings under dir (esl/testdata). Each
// message of an ESL template is a whole event frame.
func loadESL(dir string) (missed, other []*template, err error) {
	return loadAll(dir, ".esl", eslMissed, eslOther, loadESLTemplate)
}

func loadESLTemplate(path string, missed bool) (*template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	t := &template{name: strings.TrimSuffix(filepath.Base(path), ".esl"), missed: missed, decide: -1}
	r := esl.NewReader(bytes.NewReader(data))
	for {
		f, err := r.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, esl.ErrUnknownContentType) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if f.ContentType() != esl.TypeEventPlain {
			continue
		}
		e, err := esl.ParseEvent(f.Body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if !eslSubscribed[e.Name()] {
			continue
		}
		if e.Name() == "CHANNEL_HANGUP_COMPLETE" && e.Get("Call-Direction") == "inbound" && e.Get("variable_sip_authorized") != "true" {
			t.decide = len(t.msgs)
		}
		t.msgs = append(t.msgs, cut(f.Append(nil), eslIDs, []byte(eslCaller)))
	}
	if t.decide < 0 && missed {
		return nil, fmt.Errorf("%s: no CHANNEL_HANGUP_COMPLETE of an inbound A-leg", path)
	}
	return t, nil
}
