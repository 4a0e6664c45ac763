package ledger

import (
	"errors"
	"strings"
	"testing"
	"text/template"
	"time"
)

func testTextData() TextData {
	return TextData{
		Business: "Acme Plumbing",
		Caller:   "+15557654321",
		Line:     "+15555551000",
		Link:     "https://x.example/i/abc",
		Time:     time.Date(2026, 11, 24, 18, 5, 0, 0, time.UTC),
	}
}

func TestParseText(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		want       string // rendered with testTextData
		err        string // substring of the error; "" means it parses
	}{
		{name: "Plain", text: "Sorry we missed your call.", want: "Sorry we missed your call."},
		{name: "Fields", text: "{{.Business}}: missed {{.Caller}} on {{.Line}}. {{.Link}}",
			want: "Acme Plumbing: missed +15557654321 on +15555551000. https://x.example/i/abc"},
		{name: "TimeFormat", text: `Called at {{.Time.Format "3:04 PM"}} ({{.Time.Hour}}h)`, want: "Called at 6:05 PM (18h)"},
		{name: "IfLink", text: "Hi.{{if .Link}} Tell us more: {{.Link}}{{end}}", want: "Hi. Tell us more: https://x.example/i/abc"},
		{name: "WithTime", text: "{{with .Time}}{{.Weekday}}{{end}}", want: "Tuesday"},
		{name: "RootVariable", text: "{{with .Time}}{{$.Business}}{{end}}", want: "Acme Plumbing"},
		{name: "Variable", text: "{{$b := .Business}}{{$b}}", want: "Acme Plumbing"},
		{name: "Functions", text: `{{printf "%s!" .Business | len}} {{if eq .Time.Hour 18}}evening{{end}}`, want: "14 evening"},
		{name: "TrimsSpace", text: "\n  Hello {{.Business}}  \n", want: "Hello Acme Plumbing"},
		{name: "Comment", text: "{{/* note */}}Hi", want: "Hi"},

		{name: "UnknownField", text: "Hi {{.Bussiness}}", err: `template "t": unknown field .Bussiness (the fields are .Business, .Caller, .Line, .Link, .Time)`},
		{name: "UnknownFieldInIf", text: "{{if .Link}}{{.Nmae}}{{end}}Hi", err: "unknown field .Nmae"},
		{name: "UnknownFieldInElse", text: "{{if .Link}}x{{else}}{{.Nmae}}{{end}}", err: "unknown field .Nmae"},
		{name: "UnknownFieldInArgument", text: `{{printf "%s" .Callr}}`, err: "unknown field .Callr"},
		{name: "UnknownFieldViaRoot", text: "{{$.Linkk}}", err: "unknown field $.Linkk"},
		{name: "UnknownTimeMethod", text: "{{.Time.Hourr}}", err: "unknown field .Time.Hourr (time.Time has no field or method Hourr)"},
		{name: "UnknownFieldInWith", text: "{{with .Time}}{{.Business}}{{end}}", err: "unknown field .Business (time.Time has no field or method Business)"},
		{name: "UnexportedField", text: "{{.Time.wall}}", err: "unknown field .Time.wall"},
		{name: "FieldOfString", text: "{{.Business.Name}}", err: "unknown field .Business.Name"},
		{name: "UnknownFunction", text: "{{shout .Business}}", err: `function "shout" not defined`},
		{name: "Syntax", text: "{{.Business", err: "unclosed action"},
		{name: "Range", text: "{{range .Business}}x{{end}}", err: "range is not supported"},
		{name: "Define", text: `{{define "x"}}hi{{end}}Hi`, err: "define and block are not supported"},
		{name: "Block", text: `{{block "x" .}}hi{{end}}`, err: "not supported"},
		{name: "Template", text: `{{template "x"}}`, err: "not supported"},
		{name: "Empty", text: "", err: "renders an empty text"},
		{name: "OnlySpace", text: "  {{/* */}} \n", err: "renders an empty text"},
		{name: "OnlyLink", text: "{{.Link}}", want: "https://x.example/i/abc"},
		{name: "ExecutionError", text: "{{index .Business 99}}", err: "with sample data"},
		{name: "BadMethodCall", text: "{{.Time.Format}}", err: "with sample data"},
		{name: "TooLong", text: `{{printf "%0900000d" 1}}{{printf "%0900000d" 1}}`, err: "text longer than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := ParseText("t", tt.text)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseText(%q): %v; want an error containing %q", tt.text, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseText(%q): %v", tt.text, err)
			}
			got, err := RenderText(tmpl, testTextData())
			if err != nil || got != tt.want {
				t.Fatalf("RenderText = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestRenderText(t *testing.T) {
	t.Run("EmptyIsAnError", func(t *testing.T) {
		tmpl, err := ParseText("t", "{{.Link}}")
		if err != nil {
			t.Fatal(err)
		}
		d := testTextData()
		d.Link = ""
		if got, err := RenderText(tmpl, d); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Fatalf("RenderText = %q, %v; want an empty-text error", got, err)
		}
	})
	t.Run("NilTemplate", func(t *testing.T) {
		if _, err := RenderText(nil, testTextData()); err == nil {
			t.Fatal("no error for a nil template")
		}
	})
	t.Run("UnparsedTemplate", func(t *testing.T) {
		if _, err := RenderText(template.New("x"), testTextData()); err == nil {
			t.Fatal("no error for an unparsed template")
		}
	})
	t.Run("PanicInFunctionIsAnError", func(t *testing.T) {
		tmpl := template.Must(template.New("x").Funcs(template.FuncMap{
			"boom": func() string { panic(testRuntimeError{}) },
		}).Parse("{{boom}}"))
		if _, err := RenderText(tmpl, testTextData()); err == nil {
			t.Fatal("no error from a panicking function")
		}
	})
	t.Run("PanicInExecutionIsAnError", func(t *testing.T) {
		tmpl := template.Must(template.New("x").Parse("Hi {{.Business}}"))
		err := execute(tmpl, panicWriter{}, testTextData())
		if err == nil || !strings.Contains(err.Error(), "panic") {
			t.Fatalf("execute with a panicking writer: %v; want a panic error", err)
		}
	})
	t.Run("ConcurrentUse", func(t *testing.T) {
		tmpl, err := ParseText("t", "{{.Business}} {{.Caller}}")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		for i := 0; i < 8; i++ {
			go func() {
				d := testTextData()
				d.Caller = strings.Repeat("9", i+1)
				got, err := RenderText(tmpl, d)
				if err == nil && got != "Acme Plumbing "+d.Caller {
					err = errors.New("wrong text " + got)
				}
				done <- err
			}()
		}
		for i := 0; i < 8; i++ {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	})
}

// panicWriter fails the way a runtime error inside text/template would.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) {
	panic(testRuntimeError{}) // a runtime.Error, which text/template re-panics
}

// testRuntimeError is a runtime.Error, as an index out of range would be.
type testRuntimeError struct{}

func (testRuntimeError) Error() string { return "runtime error: test" }
func (testRuntimeError) RuntimeError() {}

func TestSegments(t *testing.T) {
	for _, tt := range []struct {
		name string
		body string
		n    int
		enc  string
	}{
		{"Empty", "", 0, EncodingGSM7},
		{"Short", "Sorry we missed your call. Reply STOP to opt out.", 1, EncodingGSM7},
		{"GSM160", strings.Repeat("a", 160), 1, EncodingGSM7},
		{"GSM161", strings.Repeat("a", 161), 2, EncodingGSM7},
		{"GSM306", strings.Repeat("a", 306), 2, EncodingGSM7},
		{"GSM307", strings.Repeat("a", 307), 3, EncodingGSM7},
		{"GSMBasicSpecials", "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", 1, EncodingGSM7},
		{"Extension80Is160Septets", strings.Repeat("€", 80), 1, EncodingGSM7},
		{"Extension81Is162Septets", strings.Repeat("€", 81), 2, EncodingGSM7},
		{"ExtensionMix159Plus1", strings.Repeat("a", 159) + "^", 2, EncodingGSM7},
		{"ExtensionMix158Plus1", strings.Repeat("a", 158) + "{", 1, EncodingGSM7},
		{"AllExtension", "^{}\\[~]|€\f", 1, EncodingGSM7},
		// 152 septets then an escape pair: the pair does not fit in the
		// first part's 153 and moves whole to the second.
		{"EscapeNotSplit", strings.Repeat("a", 152) + "~" + strings.Repeat("a", 152), 3, EncodingGSM7},
		{"EscapeFits", strings.Repeat("a", 151) + "~" + strings.Repeat("a", 153), 2, EncodingGSM7},
		{"UCS70", strings.Repeat("ç", 70), 1, EncodingUCS2},
		{"UCS71", strings.Repeat("ç", 71), 2, EncodingUCS2},
		{"UCS134", strings.Repeat("ж", 134), 2, EncodingUCS2},
		{"UCS135", strings.Repeat("ж", 135), 3, EncodingUCS2},
		{"OneNonGSMCharMakesItUCS2", strings.Repeat("a", 69) + "’", 1, EncodingUCS2},
		{"SmartQuote71", strings.Repeat("a", 70) + "’", 2, EncodingUCS2},
		{"Emoji35Is70Units", strings.Repeat("😀", 35), 1, EncodingUCS2},
		{"Emoji36Is72Units", strings.Repeat("😀", 36), 2, EncodingUCS2},
		// 66 units then a surrogate pair: the pair moves whole to part 2.
		{"SurrogateNotSplit", strings.Repeat("ж", 66) + "😀" + strings.Repeat("ж", 66), 3, EncodingUCS2},
		{"SurrogateFits", strings.Repeat("ж", 65) + "😀" + strings.Repeat("ж", 67), 2, EncodingUCS2},
		{"InvalidUTF8", "\xff\xfe", 1, EncodingUCS2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, enc := Segments(tt.body)
			if n != tt.n || enc != tt.enc {
				t.Fatalf("Segments(%d runes) = %d, %s; want %d, %s", len([]rune(tt.body)), n, enc, tt.n, tt.enc)
			}
		})
	}
}

func FuzzRenderText(f *testing.F) {
	for _, s := range []string{
		"Sorry we missed your call to {{.Business}}. Reply STOP to opt out.",
		`{{.Business}} {{.Time.Format "Mon 3:04 PM"}} {{if .Link}}{{.Link}}{{end}}`,
		"{{with .Time}}{{.Hour}}{{$.Caller}}{{end}}",
		`{{printf "%q" .Caller | len}}{{index .Line 0}}{{slice .Business 1 3}}`,
		"{{.Bussiness}}", "{{range .Business}}{{end}}", `{{define "a"}}{{template "a"}}{{end}}{{template "a"}}`,
		"{{call .Time.Add 1}}", "{{.Time.AddDate 1 2 3}}", "{{", "}}", "",
	} {
		f.Add(s, "Acme", "+15557654321", int64(1795711522))
	}
	f.Fuzz(func(t *testing.T, text, business, caller string, unix int64) {
		tmpl, err := ParseText("fuzz", text)
		if err != nil {
			if tmpl != nil {
				t.Fatalf("ParseText(%q): error %v and a template", text, err)
			}
			return
		}
		d := TextData{Business: business, Caller: caller, Line: "+15555551000", Time: time.Unix(unix, 0).UTC()}
		got, err := RenderText(tmpl, d)
		if err != nil {
			if got != "" {
				t.Fatalf("RenderText: error %v and text %q", err, got)
			}
			return
		}
		if got == "" || got != strings.TrimSpace(got) || len(got) > maxTextBytes {
			t.Fatalf("RenderText(%q) = %q: empty, untrimmed or too long", text, got)
		}
		if n, enc := Segments(got); n < 1 || (enc != EncodingGSM7 && enc != EncodingUCS2) {
			t.Fatalf("Segments(%q) = %d, %s", got, n, enc)
		}
	})
}

func BenchmarkRenderText(b *testing.B) {
	tmpl, err := ParseText("bench", `Sorry we missed your call to {{.Business}} at {{.Time.Format "3:04 PM"}}. {{if .Link}}Tell us what you need: {{.Link}} {{end}}Reply STOP to opt out.`)
	if err != nil {
		b.Fatal(err)
	}
	d := testTextData()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RenderText(tmpl, d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSegments(b *testing.B) {
	for _, bb := range []struct{ name, body string }{
		{"GSM", strings.Repeat("Sorry we missed your call. ", 10)},
		{"UCS2", strings.Repeat("Désolé 😀 ", 20)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				Segments(bb.body)
			}
		})
	}
}
