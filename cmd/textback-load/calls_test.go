package main

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/textback/textback/esl"
)

// TestTemplates_Instances: every replayed call has its own ids and caller,
// nothing of the recording's left, and event-socket frames stay readable
// (their Content-Length still right).
func TestTemplates_Instances(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	am, ao, err := loadARI(filepath.Join(root, "ari", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range append(am, ao...) {
		a := instanceText(tm, 7, "5552000007")
		b := instanceText(tm, 8, "5552000008")
		if a == b {
			t.Fatalf("%s: two calls replay identically", tm.name)
		}
		if strings.Contains(a, ariCaller) {
			t.Errorf("%s: the recorded caller is left in the replay", tm.name)
		}
		if !strings.Contains(a, `"L7-`) || strings.Contains(a, `"L8-`) {
			t.Errorf("%s: call 7 does not carry its own ids", tm.name)
		}
		if tm.missed && (tm.decide < 0 || !strings.Contains(string(tm.instance(nil, tm.decide, 7, []byte("5552000007"))), "ChannelDestroyed")) {
			t.Errorf("%s: the deciding message is not the trunk channel's ChannelDestroyed", tm.name)
		}
	}
	em, eo, err := loadESL(filepath.Join(root, "esl", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range append(em, eo...) {
		var all []byte
		for i := range tm.msgs {
			all = tm.instance(all, i, 0xabc, []byte("4152000007"))
		}
		if bytes.Contains(all, []byte(eslCaller)) {
			t.Errorf("%s: the recorded caller is left in the replay", tm.name)
		}
		r := esl.NewReader(bytes.NewReader(all))
		n := 0
		for {
			f, err := r.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil && !errors.Is(err, esl.ErrUnknownContentType) {
				t.Fatalf("%s: replayed frames do not read back: %v", tm.name, err)
			}
			e, err := esl.ParseEvent(f.Body)
			if err != nil {
				t.Fatalf("%s: %v", tm.name, err)
			}
			if id := e.Get("Unique-ID"); !strings.HasSuffix(id, "000000000abc") {
				t.Errorf("%s: Unique-ID %q is not the call's own", tm.name, id)
			}
			n++
		}
		if n != len(tm.msgs) {
			t.Errorf("%s: %d frames read back of %d", tm.name, n, len(tm.msgs))
		}
	}
}

func instanceText(tm *template, n uint64, digits string) string {
	var b []byte
	for i := range tm.msgs {
		b = tm.instance(b, i, n, []byte(digits))
		b = append(b, '\n')
	}
	return string(b)
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-pbx", "sip"}, `-pbx "sip"`},
		{[]string{"-mix", "1"}, "-mix"},
		{[]string{"-kills", "3", "-fault", "carrier-500"}, "separate runs"},
		{[]string{"-fault", "meteor"}, `-fault "meteor"`},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		if _, err := parseFlags(tc.args, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	o, err := parseFlags([]string{"-pbx", "freeswitch", "-rate", "0", "-kills", "5"}, io.Discard)
	if err != nil || o.pbx != "freeswitch" || o.rate != 0 || o.kills != 5 {
		t.Fatalf("parseFlags = %+v, %v", o, err)
	}
}
