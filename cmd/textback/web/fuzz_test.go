package web

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzReadFields: whatever a form post holds, the answers are valid UTF-8,
// within their limits, free of control characters (but line breaks in a
// text area), and an error names each bad field.
func FuzzReadFields(f *testing.F) {
	f.Add("name=Ann&need=Leak%0D%0Aunder+the+sink&callback=")
	f.Add("name=%00%FF%E2%80%A8&need=" + strings.Repeat("x", 1200))
	f.Add("need=&name=&name=two")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		specs := DefaultFields()
		fields, answers, errs := readFields(specs, form)
		if len(fields) != len(specs) || len(answers)+len(errs) != len(specs) {
			t.Fatalf("%d fields, %d answers, %d errors for %d questions", len(fields), len(answers), len(errs), len(specs))
		}
		for _, a := range answers {
			var spec FieldSpec
			for _, s := range specs {
				if s.Name == a.Name {
					spec = s
				}
			}
			if !utf8.ValidString(a.Value) || utf8.RuneCountInString(a.Value) > spec.Max || (spec.Required && a.Value == "") {
				t.Fatalf("answer %q breaks %+v", a.Value, spec)
			}
			for _, r := range a.Value {
				if unicode.IsControl(r) && !(spec.Multiline && (r == '\n' || r == '\t')) {
					t.Fatalf("control character %U in %q", r, a.Value)
				}
			}
		}
	})
}

// FuzzParseSessionID: only ids randomID could have made are looked up.
func FuzzParseSessionID(f *testing.F) {
	f.Add(randomID())
	f.Add("")
	f.Add(strings.Repeat("A", 52))
	f.Add(strings.Repeat("a", 52))
	f.Fuzz(func(t *testing.T, v string) {
		id, ok := ParseSessionID(v)
		if !ok {
			return
		}
		if id != v || len(id) != 52 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("accepted %q", v)
		}
		s := newSessions(0)
		if s.get(v, time.Time{}) != nil {
			t.Fatal("an unknown id has a session")
		}
	})
}

// FuzzParseUsers: the accounts file parser never panics and keeps only
// valid names with bcrypt hashes.
func FuzzParseUsers(f *testing.F) {
	f.Add("# c\nann:$2a$04$abcdefghijklmnopqrstuu5Ul3wfzW4NTgJmq5B8ZrPn8SwqDfyK\n")
	f.Add("ann\n:x\nbob:$2y$99$")
	f.Fuzz(func(t *testing.T, data string) {
		m, err := parseUsers([]byte(data))
		if err != nil {
			return
		}
		for name := range m {
			if ValidUserName(name) != nil {
				t.Fatalf("kept account %q", name)
			}
		}
	})
}
