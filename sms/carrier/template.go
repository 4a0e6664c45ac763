package carrier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/template"
)

// requestData is what request templates see (RequestConfig documents it).
type requestData struct {
	To, From, Body, Key string
	ID                  string
	StatusURL           string
	BaseURL             string
	Vars, Secrets       map[string]string
}

var templateFuncs = template.FuncMap{
	"pathescape": url.PathEscape,
	"json":       jsonString,
	"hasPrefix":  strings.HasPrefix,
	"trimPrefix": strings.TrimPrefix,
	"gsm7":       isGSM7,
}

// jsonString renders s as a JSON string literal, quotes included, without
// escaping <, > and & (carriers store what they get).
func jsonString(s string) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func parseTemplate(field, text string) (*template.Template, error) {
	t, err := template.New(field).Funcs(templateFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fieldErr(field, "%v", err)
	}
	return t, nil
}

func run(t *template.Template, data *requestData) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// requestTemplate is a compiled RequestConfig.
type requestTemplate struct {
	field   string // its place in the config, for errors
	method  string
	url     *template.Template
	headers []headerTemplate
	body    *template.Template // nil: no body
}

type headerTemplate struct {
	name string
	t    *template.Template
}

var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch}

func compileRequest(field string, rc RequestConfig) (*requestTemplate, error) {
	rt := &requestTemplate{field: field, method: strings.ToUpper(rc.Method)}
	if rt.method == "" {
		rt.method = http.MethodPost
	}
	if !slices.Contains(methods, rt.method) {
		return nil, fieldErr(field+".method", "%q is not one of %s", rc.Method, strings.Join(methods, ", "))
	}
	if strings.TrimSpace(rc.URL) == "" {
		return nil, fieldErr(field+".url", "required")
	}
	var err error
	if rt.url, err = parseTemplate(field+".url", rc.URL); err != nil {
		return nil, err
	}
	hasType := false
	names := make([]string, 0, len(rc.Headers))
	for name := range rc.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !reHeaderName.MatchString(name) {
			return nil, fieldErr(field+".headers", "%q is not a header name", name)
		}
		t, err := parseTemplate(field+".headers."+name, rc.Headers[name])
		if err != nil {
			return nil, err
		}
		rt.headers = append(rt.headers, headerTemplate{name: name, t: t})
		hasType = hasType || strings.EqualFold(name, "Content-Type")
	}
	if rc.Body != "" {
		if rt.body, err = parseTemplate(field+".body", rc.Body); err != nil {
			return nil, err
		}
		if !hasType {
			return nil, fieldErr(field+".headers", "a body needs a Content-Type header")
		}
	}
	return rt, nil
}

// render executes the templates: the URL, the headers and the body.
func (rt *requestTemplate) render(data *requestData) (string, http.Header, []byte, error) {
	raw, err := run(rt.url, data)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s.url: %w", rt.field, err)
	}
	raw = strings.TrimSpace(raw)
	if err := checkURL(raw, false); err != nil {
		return "", nil, nil, fmt.Errorf("%s.url: the template gives %w", rt.field, err)
	}
	h := http.Header{}
	for _, ht := range rt.headers {
		v, err := run(ht.t, data)
		if err != nil {
			return "", nil, nil, fmt.Errorf("%s.headers.%s: %w", rt.field, ht.name, err)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return "", nil, nil, fmt.Errorf("%s.headers.%s: the template gives a line break", rt.field, ht.name)
		}
		h.Set(ht.name, v)
	}
	var b []byte
	if rt.body != nil {
		s, err := run(rt.body, data)
		if err != nil {
			return "", nil, nil, fmt.Errorf("%s.body: %w", rt.field, err)
		}
		b = []byte(s)
	}
	return raw, h, b, nil
}

// request builds the HTTP request.
func (rt *requestTemplate) request(ctx context.Context, data *requestData, auth AuthConfig) (*http.Request, error) {
	raw, h, b, err := rt.render(data)
	if err != nil {
		return nil, err
	}
	var r io.Reader
	if b != nil {
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, rt.method, raw, r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rt.field, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "textback")
	switch auth.Type {
	case "basic":
		req.SetBasicAuth(auth.Username, auth.Password)
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+auth.Token)
	case "header":
		req.Header.Set(auth.Header, auth.Token)
	}
	return req, nil
}

// sampleData is a text for Validate to run the templates with.
func sampleData(s *spec) *requestData {
	return &requestData{
		To: "+15555550123", From: "+15555551000", Body: "Sample text, €100 😀", Key: "textback-1",
		ID: "0123456789abcdef0123", StatusURL: s.statusURL("0123456789abcdef0123"), BaseURL: s.cfg.URL,
		Vars: s.vars, Secrets: s.secretVars,
	}
}
