package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf16"
)

// TextData is what a line's templates (the text, the after-hours text, the
// HELP answer) are executed with.
type TextData struct {
	// Business is the line's business name.
	Business string
	// Caller is the caller's number in E.164 form.
	Caller string
	// Line is the line's number in E.164 form.
	Line string
	// Link is the line's intake link with this call's token, or "".
	Link string
	// Time is the call's time in the line's time zone; the template formats
	// it as it likes: {{.Time.Format "Mon 3:04 PM"}}, {{.Time.Hour}}.
	Time time.Time
}

// textFields lists TextData's fields for error messages.
var textFields = func() string {
	t := reflect.TypeFor[TextData]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = "." + t.Field(i).Name
	}
	return strings.Join(names, ", ")
}()

// maxTextBytes bounds a rendered text. Carriers take at most about 1,600
// characters (10 segments); a template that writes more is broken.
const maxTextBytes = 8 << 10

// ParseText parses a line's text template (text/template syntax, with
// Option("missingkey=error")) and checks it before any call needs it:
//   - every field it names exists: .Business, .Caller, .Line, .Link, .Time
//     and the fields and methods of their types (.Time.Format); an unknown
//     one is an error naming it (`template "main.template": unknown field
//     .Bussiness`);
//   - it uses if, else, with, variables, comments and the built-in
//     functions only: range, define, block and template are refused, since
//     a text has nothing to loop over or include and refusing them rules out
//     runaway templates;
//   - it executes with sample data, with and without a link, and renders a
//     non-empty text with one.
func ParseText(name, text string) (t *template.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("template %q: parse: panic: %v", name, r)
		}
	}()
	t, err = template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	for _, other := range t.Templates() {
		if other.Name() != name {
			return nil, fmt.Errorf("template %q: define and block are not supported (found %q)", name, other.Name())
		}
	}
	if t.Tree == nil || t.Tree.Root == nil {
		return nil, fmt.Errorf("template %q: empty template", name)
	}
	c := textChecker{name: name}
	if err := c.list(t.Tree.Root, reflect.TypeFor[TextData]()); err != nil {
		return nil, err
	}
	sample := TextData{
		Business: "Acme Plumbing",
		Caller:   "+15557654321",
		Line:     "+15555551000",
		Link:     "https://intake.example.com/i/AQAAAABhc3Rlcmlzaw",
		Time:     time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
	}
	if _, err := RenderText(t, sample); err != nil {
		return nil, fmt.Errorf("template %q: with sample data: %w", name, err)
	}
	sample.Link = ""
	if _, err := render(t, sample); err != nil {
		return nil, fmt.Errorf("template %q: with sample data and no link: %w", name, err)
	}
	return t, nil
}

// RenderText executes a template from ParseText with d and returns the text
// with surrounding white space trimmed. An empty text, a text over 8 KiB
// and a panic inside text/template are errors.
func RenderText(t *template.Template, d TextData) (string, error) {
	s, err := render(t, d)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("template %q renders an empty text", t.Name())
	}
	return s, nil
}

func render(t *template.Template, d TextData) (string, error) {
	if t == nil {
		return "", errors.New("render text: no template")
	}
	d.Time = d.Time.Round(0) // no monotonic reading ("m=+1.5") in {{.Time}}
	w := &limitWriter{max: maxTextBytes}
	if err := execute(t, w, d); err != nil {
		return "", fmt.Errorf("render text: %w", err)
	}
	return strings.TrimSpace(w.buf.String()), nil
}

// execute runs t, turning a panic that text/template lets through (it
// re-panics runtime errors) into an error.
func execute(t *template.Template, w io.Writer, data any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("template %q: panic: %v", t.Name(), r)
		}
	}()
	return t.Execute(w, data)
}

// limitWriter collects at most max bytes and fails past them, which stops
// the template's execution.
type limitWriter struct {
	buf bytes.Buffer
	max int
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		return 0, fmt.Errorf("text longer than %d bytes", w.max)
	}
	return w.buf.Write(p)
}

// textChecker walks a parsed template and checks the fields it names
// against the type dot has where it names them (nil: not known statically,
// the sample execution checks those).
type textChecker struct {
	name string
}

func (c textChecker) list(l *parse.ListNode, dot reflect.Type) error {
	if l == nil {
		return nil
	}
	for _, n := range l.Nodes {
		if err := c.node(n, dot); err != nil {
			return err
		}
	}
	return nil
}

func (c textChecker) node(n parse.Node, dot reflect.Type) error {
	switch n := n.(type) {
	case *parse.TextNode, *parse.CommentNode:
		return nil
	case *parse.ActionNode:
		return c.pipe(n.Pipe, dot)
	case *parse.IfNode:
		if err := c.pipe(n.Pipe, dot); err != nil {
			return err
		}
		if err := c.list(n.List, dot); err != nil {
			return err
		}
		return c.list(n.ElseList, dot)
	case *parse.WithNode:
		if err := c.pipe(n.Pipe, dot); err != nil {
			return err
		}
		if err := c.list(n.List, c.pipeType(n.Pipe, dot)); err != nil {
			return err
		}
		return c.list(n.ElseList, dot)
	case *parse.RangeNode:
		return fmt.Errorf("template %q: range is not supported", c.name)
	case *parse.TemplateNode:
		return fmt.Errorf("template %q: template and block are not supported", c.name)
	}
	return fmt.Errorf("template %q: %s is not supported", c.name, n)
}

func (c textChecker) pipe(p *parse.PipeNode, dot reflect.Type) error {
	if p == nil {
		return nil
	}
	for _, cmd := range p.Cmds {
		for _, arg := range cmd.Args {
			if err := c.arg(arg, dot); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c textChecker) arg(n parse.Node, dot reflect.Type) error {
	switch n := n.(type) {
	case *parse.FieldNode:
		_, err := c.fields(dot, "", n.Ident)
		return err
	case *parse.VariableNode:
		if n.Ident[0] == "$" {
			_, err := c.fields(reflect.TypeFor[TextData](), "$", n.Ident[1:])
			return err
		}
	case *parse.ChainNode:
		return c.arg(n.Node, dot)
	case *parse.PipeNode:
		return c.pipe(n, dot)
	}
	return nil
}

// pipeType is the type of a pipeline's value when it is a plain field
// chain, dot or $; nil otherwise.
func (c textChecker) pipeType(p *parse.PipeNode, dot reflect.Type) reflect.Type {
	if p == nil || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return nil
	}
	switch n := p.Cmds[0].Args[0].(type) {
	case *parse.DotNode:
		return dot
	case *parse.FieldNode:
		t, _ := c.fields(dot, "", n.Ident)
		return t
	case *parse.VariableNode:
		if n.Ident[0] == "$" {
			t, _ := c.fields(reflect.TypeFor[TextData](), "$", n.Ident[1:])
			return t
		}
	}
	return nil
}

// fields follows a chain of field and method names from t and returns the
// resulting type (nil when it cannot tell), or an error naming the first
// name t does not have.
func (c textChecker) fields(t reflect.Type, prefix string, idents []string) (reflect.Type, error) {
	path := prefix
	for _, id := range idents {
		path += "." + id
		if t == nil {
			return nil, nil
		}
		if m, ok := t.MethodByName(id); ok {
			if m.Type.NumOut() == 0 {
				return nil, nil
			}
			t = m.Type.Out(0)
			continue
		}
		if t.Kind() != reflect.Pointer {
			if _, ok := reflect.PointerTo(t).MethodByName(id); ok {
				return nil, nil // execution says whether it is reachable
			}
		}
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			if f, ok := t.FieldByName(id); ok && f.IsExported() {
				t = f.Type
				continue
			}
		case reflect.Map, reflect.Interface:
			return nil, nil
		}
		if t == reflect.TypeFor[TextData]() {
			return nil, fmt.Errorf("template %q: unknown field %s (the fields are %s)", c.name, path, textFields)
		}
		return nil, fmt.Errorf("template %q: unknown field %s (%s has no field or method %s)", c.name, path, t, id)
	}
	return t, nil
}

// The SMS encodings Segments reports.
const (
	EncodingGSM7 = "gsm7"
	EncodingUCS2 = "ucs2"
)

// gsm7Basic is the GSM 03.38 default alphabet; each costs one septet.
const gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsm7Extension is the GSM 03.38 extension table; each costs two septets
// (escape and character).
const gsm7Extension = "\f^{}\\[~]|€"

// gsm7Septets is the cost in septets of each GSM-7 character; gsm7ASCII
// the same for ASCII, for speed (0: not in GSM-7).
var gsm7Septets, gsm7ASCII = gsm7Tables()

func gsm7Tables() (map[rune]int, [128]int8) {
	m := make(map[rune]int, 140)
	for _, r := range gsm7Basic {
		m[r] = 1
	}
	for _, r := range gsm7Extension {
		m[r] = 2
	}
	var ascii [128]int8
	for r, n := range m {
		if r < 128 {
			ascii[r] = int8(n)
		}
	}
	return m, ascii
}

// septets is the cost of r in GSM-7, 0 when GSM-7 cannot write it.
func septets(r rune) int {
	if r >= 0 && r < 128 {
		return int(gsm7ASCII[r])
	}
	return gsm7Septets[r]
}

// Segments reports how many SMS segments body needs and in which encoding
// (EncodingGSM7 or EncodingUCS2). GSM-7 is used when every character is
// in the GSM 03.38 alphabet: the basic set costs 1 septet, the extension
// table (^ { } \ [ ~ ] | € and form feed) 2; one segment holds 160
// septets, a part of a longer message 153, and an escape pair is never
// split across parts. Otherwise the text is UCS-2 (UTF-16): one segment
// holds 70 code units, a part 67, and a surrogate pair (an emoji, say) is
// never split. An empty body needs no segment.
func Segments(body string) (n int, encoding string) {
	if body == "" {
		return 0, EncodingGSM7
	}
	gsm := true
	for _, r := range body {
		if septets(r) == 0 {
			gsm = false
			break
		}
	}
	if gsm {
		return pack(body, 160, 153, septets), EncodingGSM7
	}
	return pack(body, 70, 67, utf16.RuneLen), EncodingUCS2
}

// pack counts the parts body needs when one part holds single units, and
// each part of a longer message holds part units, no character split.
func pack(body string, single, part int, cost func(rune) int) int {
	total := 0
	for _, r := range body {
		total += max(cost(r), 1)
	}
	if total <= single {
		return 1
	}
	n, used := 1, 0
	for _, r := range body {
		c := max(cost(r), 1)
		if used+c > part {
			n, used = n+1, 0
		}
		used += c
	}
	return n
}
