package ari

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
)

// readView is what the translation reads of an event: the fields
// decodeEvent must agree on with ari.DecodeEvent.
type readView struct {
	Type       string
	At         time.Time
	Channels   []chanView
	App        string
	Variable   string
	Value      string
	Soft       bool
	Pres       string
	Dialstatus string
	Bridges    []bridgeView
}

type chanView struct {
	ID, Name, State   string
	Number, CIDName   string
	Exten, Context    string
	Vars              map[string]string
	HasCaller, HasDPL bool
}

type bridgeView struct {
	ID, Type string
	Channels []string
}

func viewChannel(d *ari.ChannelData) chanView {
	v := chanView{ID: d.ID, Name: d.Name, State: d.State, Vars: d.ChannelVars}
	if d.Caller != nil {
		v.HasCaller, v.Number, v.CIDName = true, d.Caller.Number, d.Caller.Name
	}
	if d.Dialplan != nil {
		v.HasDPL, v.Exten, v.Context = true, d.Dialplan.Exten, d.Dialplan.Context
	}
	return v
}

func viewBridge(b *ari.BridgeData) bridgeView {
	return bridgeView{ID: b.ID, Type: b.Type, Channels: b.ChannelIDs}
}

func viewOf(ev ari.Event) readView {
	var v readView
	at := func(d ari.EventData) { v.Type, v.At = d.Type, time.Time(d.Timestamp) }
	switch e := ev.(type) {
	case *ari.ChannelCreated:
		at(e.EventData)
		v.Channels = []chanView{viewChannel(&e.Channel)}
	case *ari.ChannelDestroyed:
		at(e.EventData)
		v.Channels = []chanView{viewChannel(&e.Channel)}
	case *ari.ChannelStateChange:
		at(e.EventData)
		v.Channels = []chanView{viewChannel(&e.Channel)}
	case *ari.ChannelDialplan:
		at(e.EventData)
		v.Channels, v.App = []chanView{viewChannel(&e.Channel)}, e.DialplanApp
	case *ari.ChannelVarset:
		at(e.EventData)
		v.Channels, v.Variable, v.Value = []chanView{viewChannel(&e.Channel)}, e.Variable, e.Value
	case *ari.ChannelHangupRequest:
		at(e.EventData)
		v.Channels, v.Soft = []chanView{viewChannel(&e.Channel)}, e.Soft
	case *ari.ChannelCallerID:
		at(e.EventData)
		v.Channels, v.Pres = []chanView{viewChannel(&e.Channel)}, e.CallerPresentationTxt
	case *ari.Dial:
		at(e.EventData)
		v.Channels, v.Dialstatus = []chanView{viewChannel(&e.Caller), viewChannel(&e.Peer)}, e.Dialstatus
	case *ari.ChannelEnteredBridge:
		at(e.EventData)
		v.Channels, v.Bridges = []chanView{viewChannel(&e.Channel)}, []bridgeView{viewBridge(&e.Bridge)}
	case *ari.ChannelLeftBridge:
		at(e.EventData)
		v.Channels, v.Bridges = []chanView{viewChannel(&e.Channel)}, []bridgeView{viewBridge(&e.Bridge)}
	case *ari.BridgeDestroyed:
		at(e.EventData)
		v.Bridges = []bridgeView{viewBridge(&e.Bridge)}
	case *ari.BridgeMerged:
		at(e.EventData)
		v.Bridges = []bridgeView{viewBridge(&e.Bridge), viewBridge(&e.BridgeFrom)}
	default:
		v.Type = "unexpected " + reflect.TypeOf(ev).String()
	}
	return v
}

// checkAgrees fails when decodeEvent reads msg differently from
// ari.DecodeEvent, for a message ari.DecodeEvent reads.
func checkAgrees(t *testing.T, msg []byte) {
	t.Helper()
	typ, ev, err := decodeEvent(msg)
	lib, libErr := ari.DecodeEvent(msg)
	if libErr != nil {
		return // decodeEvent may read what the library refuses (fields textback never reads)
	}
	if !handledSet[typ] {
		if err != nil || ev != nil {
			t.Fatalf("%.200s: type %q not handled, got event %T, error %v", msg, typ, ev, err)
		}
		if typ != lib.GetType() {
			t.Fatalf("%.200s: type %q, library says %q", msg, typ, lib.GetType())
		}
		return
	}
	if err != nil {
		t.Fatalf("%.200s: decodeEvent: %v; ari.DecodeEvent read it", msg, err)
	}
	if got, want := viewOf(ev), viewOf(lib); !reflect.DeepEqual(got, want) {
		t.Fatalf("%.200s:\n decodeEvent   %+v\n ari.DecodeEvent %+v", msg, got, want)
	}
}

func captureLines(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no traces: %v", err)
	}
	var lines [][]byte
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, MaxEventSize)
		for sc.Scan() {
			if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 && l[0] != '#' {
				lines = append(lines, bytes.Clone(l))
			}
		}
	}
	return lines
}

// TestDecodeEvent_AgreesWithLibrary reads every captured event both ways.
func TestDecodeEvent_AgreesWithLibrary(t *testing.T) {
	lines := captureLines(t)
	handled := 0
	for _, l := range lines {
		checkAgrees(t, l)
		if typ, ev, _ := decodeEvent(l); ev != nil && handledSet[typ] {
			handled++
		}
	}
	if handled < len(lines)/2 {
		t.Fatalf("only %d of %d captured events decoded as handled", handled, len(lines))
	}
}

func TestDecodeEvent_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, msg, typ string
		wantErr        bool
	}{
		{"NotJSON", `{"type": "Dial"`, "", true},
		{"NotObject", `[1,2]`, "", true},
		{"NoType", `{"channel": {"id": "1"}}`, "", true},
		{"HandledWrongShape", `{"type": "ChannelHangupRequest", "soft": "yes"}`, "ChannelHangupRequest", true},
		{"HandledBadTimestamp", `{"type": "ChannelCreated", "timestamp": "yesterday"}`, "ChannelCreated", true},
		{"OtherTypeFieldClash", `{"type": "ChannelUserevent", "value": {"x": 1}, "bridge": 7}`, "ChannelUserevent", false},
		{"UnknownType", `{"type": "SomethingNew", "channel": "x"}`, "SomethingNew", false},
		{"LenientCreationtime", `{"type": "ChannelCreated", "channel": {"id": "1", "creationtime": "never"}}`, "ChannelCreated", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ, _, err := decodeEvent([]byte(tc.msg))
			if typ != tc.typ || (err != nil) != tc.wantErr {
				t.Fatalf("decodeEvent(%s) = %q, %v; want %q, error %v", tc.msg, typ, err, tc.typ, tc.wantErr)
			}
			if err != nil {
				if _, ok := err.(*DecodeError); !ok {
					t.Fatalf("error %T, want *DecodeError", err)
				}
			}
		})
	}
}

// FuzzDecodeEvent: whatever ari.DecodeEvent reads, decodeEvent reads the
// same; nothing panics.
func FuzzDecodeEvent(f *testing.F) {
	for _, l := range captureLines(f) {
		f.Add(l)
	}
	f.Add([]byte(`{"type":"Dial","caller":null,"peer":{"id":"2","channelvars":{"a":"b"}},"dialstatus":"ANSWER"}`))
	f.Add([]byte(`{"type":"BridgeMerged","bridge":{"id":"a","channels":["1"]},"bridge_from":{"id":"b"}}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		checkAgrees(t, msg)
	})
}
